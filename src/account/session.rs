//! A signed-in account's session: THE place that builds its server client (certificate
//! included), its playback client and its engine, for the command line and the app alike.
//! Typed errors ([`SessionError`]); no GTK, no printing, no exit codes.

use std::path::Path;
use std::sync::Arc;

use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::plex::PlexClient;
use crate::backend::session::PlaybackServer;
use crate::backend::{MediaServer, SyncError};
use crate::clock::SystemClock;
use crate::model::ServerKind;
use crate::store::tokens::{SecretError, TokenStore};
use crate::store::{secrets, Account, Store};

/// Why [`account_client`] could not build a client.
#[derive(Debug)]
pub enum SessionError {
    /// No token stored: the person signed out (the queue is kept).
    SignedOut,
    /// The token or the trusted certificate could not be read (a locked keyring included).
    Secret(SecretError),
    /// The stored address or certificate is not usable.
    Client(SyncError),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::SignedOut => f.write_str("signed out"),
            SessionError::Secret(e) => write!(f, "cannot read the stored sign-in: {e}"),
            SessionError::Client(e) => f.write_str(&e.detail),
        }
    }
}

impl std::error::Error for SessionError {}

/// One server client seen as both: for sync and for playback (one HTTP client).
pub type Clients = (Arc<dyn MediaServer>, Arc<dyn PlaybackServer>);

/// THE client of a signed-in `account`, used by the command line and the app alike: its kind
/// (a [`PlexClient`] for Plex, a [`JellyfinClient`] for Jellyfin and the demo), its address,
/// its token and the certificate trusted for it at sign-in (`--trust-certificate`), with this
/// install's device identity. `options` gives the timeouts; its certificate is replaced by the
/// account's.
pub async fn account_client(
    data_dir: &Path,
    account: &Account,
    options: ClientOptions,
) -> Result<Arc<dyn MediaServer>, SessionError> {
    Ok(account_playback_client(data_dir, account, options).await?.0)
}

/// The client of a signed-in `account` seen as both a [`MediaServer`] (for sync) and a
/// [`PlaybackServer`] (for the play session's reports): one HTTP client, built like
/// [`account_client`].
pub async fn account_playback_client(
    data_dir: &Path,
    account: &Account,
    options: ClientOptions,
) -> Result<Clients, SessionError> {
    let token = account_token(data_dir, account)
        .await
        .map_err(SessionError::Secret)?
        .ok_or(SessionError::SignedOut)?;
    let options = ClientOptions {
        trusted_certificate_pem: secrets::load_certificate(data_dir, account.id)
            .map_err(|e| SessionError::Secret(SecretError::File(e)))?,
        ..options
    };
    playback_client_for(account, token, options).map_err(SessionError::Client)
}

/// The stored token of `account` ([`TokenStore::open`] + [`TokenStore::load`]: from the keyring,
/// moving a token file into it first, or from the file where no Secret Service is on the bus).
pub async fn account_token(
    data_dir: &Path,
    account: &Account,
) -> Result<Option<String>, SecretError> {
    TokenStore::open(data_dir).await?.load(account).await
}

/// The client for a stored `account` with its `token` and exactly these `options` (see
/// [`account_client`], which also loads the token and the trusted certificate).
pub fn client_for(
    account: &Account,
    token: String,
    options: ClientOptions,
) -> Result<Arc<dyn MediaServer>, SyncError> {
    Ok(playback_client_for(account, token, options)?.0)
}

/// The one client of `account` (its kind, address, token and `options`), as both views.
fn playback_client_for(
    account: &Account,
    token: String,
    options: ClientOptions,
) -> Result<Clients, SyncError> {
    Ok(match account.kind {
        ServerKind::Plex => {
            let c = Arc::new(
                PlexClient::new(
                    &account.base_url,
                    PlexClient::device(account.device_id.clone()),
                    options,
                )?
                .with_token(token),
            );
            (c.clone(), c)
        }
        ServerKind::Jellyfin | ServerKind::Demo => {
            let c = Arc::new(
                JellyfinClient::new(
                    &account.base_url,
                    DeviceInfo::playmark(account.device_id.clone()),
                    options,
                )?
                .with_session(token, account.user_id.clone()),
            );
            (c.clone(), c)
        }
    })
}

/// THE engine of a signed-in `account` (CLI and app): its client from [`account_client`] and
/// `config` with [`EngineConfig::expected_server_id`](crate::sync::EngineConfig) set to the
/// account's server id, so that another server answering at the account's address gets no
/// write (the engine checks at every probe and read). An account stored without a server id
/// (an old database) is not checked.
pub async fn account_engine(
    store: Store,
    data_dir: &Path,
    account: &Account,
    options: ClientOptions,
    config: crate::sync::EngineConfig,
) -> Result<crate::sync::Engine, SessionError> {
    let server = account_client(data_dir, account, options).await?;
    Ok(engine_with(store, account, server, config))
}

/// The engine of `account` over a client already built for it (the play command's, which it
/// shares with the player's session reports): `config` with the account's server id expected,
/// as in [`account_engine`]. Every engine of a signed-in account is made here or there.
pub fn engine_with(
    store: Store,
    account: &Account,
    server: Arc<dyn MediaServer>,
    config: crate::sync::EngineConfig,
) -> crate::sync::Engine {
    let config = crate::sync::EngineConfig {
        expected_server_id: Some(account.server_id.clone()).filter(|id| !id.is_empty()),
        ..config
    };
    crate::sync::Engine::new(store, account.id, server, Arc::new(SystemClock), config)
}

/// The persisted form of the engine's account state (see `Store::set_account_state`).
pub fn account_status(state: crate::sync::AccountState) -> crate::store::AccountStatus {
    use crate::store::AccountStatus;
    use crate::sync::AccountState;
    match state {
        AccountState::Online => AccountStatus::Online,
        AccountState::Offline => AccountStatus::Offline,
        AccountState::SignInNeeded => AccountStatus::SignInNeeded,
        AccountState::ServerChanged => AccountStatus::ServerChanged,
    }
}
