//! Building the running account's engine and wording what can go wrong on the way.

use super::*;

/// The app's engine: the default tunables plus the periodic pull (the CLI has none), every
/// `pull_interval_s` (`playmark settings`) while nothing changes, doubling up to an hour.
pub(super) fn engine_config(store: &Store) -> EngineConfig {
    let default = PullSchedule::default();
    let interval_ms = match store.settings() {
        Ok(settings) => i64::try_from(settings.pull_interval.as_millis())
            .unwrap_or(default.interval_ms)
            .max(1),
        Err(e) => {
            tracing::warn!(error = %e, "settings not read; default pull interval");
            default.interval_ms
        }
    };
    EngineConfig {
        pull: Some(PullSchedule {
            interval_ms,
            max_interval_ms: default.max_interval_ms.max(interval_ms),
            ..default
        }),
        ..EngineConfig::default()
    }
}

/// The engine's pull interval for a window in front or in the back.
pub(super) fn foreground_pull(active: bool) -> Option<i64> {
    active.then_some(FOREGROUND_PULL_MS)
}

/// Sign in to the demo server with its demo user and build the engine.
pub(super) async fn demo_engine(data_dir: &Path, url: &str) -> Result<Engine, String> {
    let mut store = Store::open(&database_path(data_dir)).map_err(|e| e.to_string())?;
    let device_id = store.device_id().map_err(|e| e.to_string())?;
    let client = JellyfinClient::new(
        url,
        DeviceInfo::playmark(device_id.clone()),
        ClientOptions::default(),
    )
    .map_err(|e| e.detail)?;
    let session = client
        .authenticate(DEMO_USER, DEMO_PASSWORD)
        .await
        .map_err(|e| e.detail)?;
    let account = store
        .upsert_account(
            &NewAccount {
                kind: ServerKind::Demo,
                base_url: url,
                server_id: &session.server_id,
                server_name: "Demo",
                user_id: &session.user_id,
                user_name: DEMO_USER,
                device_id: &device_id,
            },
            SystemClock.now(),
        )
        .map_err(|e| e.to_string())?;
    // The demo's throwaway token stays in a file of the demo folder, never in the keyring.
    let row = store
        .account_by_id(account)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the demo account was not stored".to_string())?;
    TokenStore::files(data_dir)
        .save(&row, &session.access_token)
        .await
        .map_err(|e| format!("cannot store the demo sign-in: {e}"))?;
    let client = client.with_session(session.access_token, session.user_id);
    let config = engine_config(&store);
    Ok(Engine::new(
        store,
        account,
        Arc::new(client),
        Arc::new(SystemClock),
        config,
    ))
}

/// The database failed during a worker action: the one sentence the app shows for store
/// trouble (the raw error goes to the log).
pub(super) fn store_failed(e: impl std::fmt::Display) -> String {
    tracing::warn!(error = %e, "store error");
    crate::ui::format::store_trouble(&e.to_string())
}

/// The database at `db` cannot be opened: damaged or from a newer Playmark (set aside and
/// start empty), or in trouble for another reason (said; try again).
pub(super) fn unusable_database(db: &Path, e: crate::store::StoreError) -> StartError {
    use crate::ui::i18n::{gettext, tr};
    tracing::warn!(error = %e, "database not usable");
    let reason = match &e {
        crate::store::StoreError::TooNew { .. } => {
            gettext("it was written by a newer version of Playmark")
        }
        e if e.is_corrupt() => gettext("the file is damaged"),
        _ => {
            return StartError::NoDatabase {
                message: store_failed(e),
                recovery: Recovery::TryAgain,
            }
        }
    };
    StartError::NoDatabase {
        message: tr(
            "Playmark can't use its database, {file}: {reason}. Playmark can set the file aside (renamed, never deleted) and start with an empty database; changes still waiting in it will not be sent, and you sign in again.",
            &[("file", &db.display().to_string()), ("reason", &reason)],
        ),
        recovery: Recovery::SetAside,
    }
}

/// A Plex token whose user cannot be established, on a server that already has an account.
pub(super) fn unknown_plex_user() -> String {
    crate::ui::i18n::gettext(
        "Playmark cannot tell which Plex user this token belongs to, and this server already has an account here. Sign in with `playmark login plex --same-user` (the same person) or `--new-user` (someone else).",
    )
}

/// The account's saved sign-in (token, certificate) could not be read or written.
pub(super) fn secret_failed(e: &SecretError) -> String {
    tracing::warn!(error = %e, "sign-in store error");
    if let SecretError::Locked = e {
        return crate::ui::i18n::gettext(
            "The keyring is locked, so Playmark cannot use the saved sign-in. Unlock it (in Passwords and Keys, or by logging in again) and restart Playmark.",
        );
    }
    crate::ui::i18n::gettext(
        "Playmark could not read or save the sign-in on this computer. Check that its data folder can be written, then sign in again.",
    )
}

/// The engine of the account signed in under `data_dir` (token from the secret store).
pub(super) async fn account_engine(data_dir: &Path) -> Result<(Engine, LibrarySource), String> {
    let store = Store::open(&database_path(data_dir)).map_err(store_failed)?;
    let account = store
        .account()
        .map_err(store_failed)?
        .ok_or_else(|| crate::ui::i18n::gettext("No account is signed in. Sign in again."))?;
    // The same engine the command line builds: the account's client (kind, address, token,
    // trusted certificate) and its server id checked at every probe.
    let config = engine_config(&store);
    let engine = crate::account::session::account_engine(
        store,
        data_dir,
        &account,
        ClientOptions::default(),
        config,
    )
    .await
    .map_err(|e| match e {
        SessionError::SignedOut => {
            crate::ui::i18n::gettext("No account is signed in. Sign in again.")
        }
        SessionError::Secret(e) => secret_failed(&e),
        SessionError::Client(e) => {
            tracing::warn!(detail = %e.detail, "stored account not usable");
            crate::ui::i18n::gettext(
                "The saved server address or certificate can no longer be used. Sign in again.",
            )
        }
    })?;
    let source = LibrarySource::Account {
        again: SignInAgain {
            kind: account.kind,
            url: account.base_url,
            user: account.user_name,
        },
        server_name: account.server_name,
    };
    Ok((engine, source))
}
