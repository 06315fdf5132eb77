//! Signing in, shared by the command line and the app's sign-in dialog, so both select and
//! store an account the same way. A signed-in account's client is built in one place,
//! [`super::session::account_client`] (certificate included).
//!
//! An account is one user on one server, keyed by (kind, server id, user id) — never by the
//! address (see `Store::upsert_account`). Signing in selects that account, or creates it, and
//! makes it the current one.
//!
//! No GTK here and no printing: callers word the errors for their audience.

use std::path::Path;

use crate::backend::error::{fill, n_};
use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::plex::{PlexClient, PLEX_TV};
use crate::backend::{ErrorKind, ServerInfo, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::model::{AccountId, ServerKind};
use crate::store::tokens::{SecretError, TokenLocation, TokenStore};
use crate::store::{secrets, Account, NewAccount, Store, StoreError};

/// A sign-in that worked: the account (now the current one) and the server it is on.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account row; its token is in the secret store.
    pub account: AccountId,
    /// What the server said about itself.
    pub info: ServerInfo,
    /// The user, as the server (or plex.tv) names them.
    pub user_name: String,
    /// True when this user on this server had signed in before (its queue is there again).
    pub existing: bool,
    /// Where the token went: the keyring, or a 0600 file where no Secret Service answers.
    pub token_location: TokenLocation,
}

/// Backwards-compatible name of [`SignedIn`] for Plex.
pub type PlexSignedIn = SignedIn;

/// Why a sign-in failed, by step, so each caller can word it.
#[derive(Debug)]
pub enum SignInError {
    /// The address is not a usable URL (nothing was sent).
    Address(SyncError),
    /// The server could not be reached, or answered badly, before credentials were sent.
    Reach(SyncError),
    /// Jellyfin older than 10.9.
    Version(SyncError),
    /// The server refused the credentials (or the Plex token), or failed on them.
    Server(SyncError),
    /// Plex: the token's user could not be established and this server already has an account:
    /// the person must say whether it is the same user (`--same-user`) or not (`--new-user`).
    UnknownUser {
        /// The server's name.
        server_name: String,
        /// Why plex.tv could not name the user (in words).
        reason: String,
    },
    /// The local database failed.
    Store(StoreError),
    /// The token could not be stored (a locked keyring included), or the certificate could
    /// not be written to its private file.
    Secret(SecretError),
}

/// Backwards-compatible name of [`SignInError`] for Plex.
pub type PlexSignInError = SignInError;

/// The step of signing in that failed (it decides the words, see [`sign_in_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInStep {
    /// Checking the address.
    Address,
    /// Reaching the Jellyfin server (`/System/Info/Public`).
    Reach,
    /// The server's version.
    Version,
    /// User name and password.
    Credentials,
    /// A Plex server: reaching it (`/identity`) and checking the token.
    Token,
}

impl SignInError {
    /// The step this failure belongs to (`plex`: a Plex sign-in, whose server and token are
    /// checked in one step), or None for the failures that are not the server's (store,
    /// secret, unknown Plex user).
    pub fn step(&self, plex: bool) -> Option<(SignInStep, &SyncError)> {
        Some(match self {
            SignInError::Address(e) => (SignInStep::Address, e),
            SignInError::Reach(e) | SignInError::Version(e) | SignInError::Server(e) if plex => {
                (SignInStep::Token, e)
            }
            SignInError::Reach(e) => (SignInStep::Reach, e),
            SignInError::Version(e) => (SignInStep::Version, e),
            SignInError::Server(e) => (SignInStep::Credentials, e),
            _ => return None,
        })
    }
}

/// A clear sentence for a failed sign-in (wrong address, wrong password, a server that is not
/// the kind asked for, unsupported version, TLS): the one wording of the app's sign-in dialog
/// and of `playmark login`. `detail` parts are the backend's classified detail, never a raw
/// body. The templates are marked with [`n_`]; `translate` is gettext in the app and the
/// identity on the command line.
pub fn sign_in_message(
    error: &SyncError,
    step: SignInStep,
    url: &str,
    translate: impl Fn(&str) -> String,
) -> String {
    let detail = error.detail.as_str();
    let tr = |template: &str, args: &[(&str, &str)]| fill(&translate(template), args);
    // A 2xx whose body is not the API's (an HTML page, a directory listing).
    let foreign_body = error.kind == ErrorKind::Transient
        && error.status.is_none()
        && detail.starts_with("unexpected response from server");
    match (step, error.kind) {
        (SignInStep::Address, _) => tr(
            n_("That server address doesn't look right: {detail}"),
            &[("detail", detail)],
        ),
        (_, ErrorKind::Rejected) if detail.contains("certificate") => tr(
            n_("The server's security certificate is not trusted ({detail}). Use a certificate your system trusts, or check the address."),
            &[("detail", detail)],
        ),
        (SignInStep::Reach | SignInStep::Token, ErrorKind::Offline) => tr(
            n_("Can't reach a server at {url}. Check the address and your connection."),
            &[("url", url)],
        ),
        (SignInStep::Version, _) => tr(
            n_("This server is not supported: {detail}"),
            &[("detail", detail)],
        ),
        (SignInStep::Credentials, ErrorKind::Auth) => translate(n_("Wrong user name or password.")),
        (SignInStep::Token, ErrorKind::Auth) => translate(n_(
            "The server refused this token. Check that you copied all of it, and that it belongs to this server.",
        )),
        // Something answers, but not as Plex does (`/identity` is missing or is not Plex's).
        (SignInStep::Token, ErrorKind::NotFound | ErrorKind::Rejected) => tr(
            n_("The server at {url} is not a Plex server. Check the address and the server type."),
            &[("url", url)],
        ),
        (SignInStep::Token, _) if foreign_body => tr(
            n_("The server at {url} is not a Plex server. Check the address and the server type."),
            &[("url", url)],
        ),
        // Something answers, but not as Jellyfin does: its public information is missing,
        // needs a sign-in (Plex answers 401), or is not Jellyfin's.
        (SignInStep::Reach, ErrorKind::NotFound | ErrorKind::Auth | ErrorKind::Rejected) => tr(
            n_("The server at {url} is not a Jellyfin server. Check the address and the server type."),
            &[("url", url)],
        ),
        (SignInStep::Reach, _) if foreign_body => tr(
            n_("The server at {url} is not a Jellyfin server. Check the address and the server type."),
            &[("url", url)],
        ),
        (_, ErrorKind::Transient) => tr(
            n_("The server had trouble ({detail}). Try again in a moment."),
            &[("detail", &short_detail(error))],
        ),
        (_, ErrorKind::NotFound) => tr(
            n_("The server at {url} is not a Jellyfin server. Check the address and the server type."),
            &[("url", url)],
        ),
        _ => tr(
            n_("Sign-in failed: {detail}"),
            &[("detail", &short_detail(error))],
        ),
    }
}

/// The detail without a response body: "HTTP 500 Internal Server Error", not the page after it.
fn short_detail(error: &SyncError) -> String {
    match error.status {
        Some(_) => error
            .detail
            .split_once(": ")
            .map_or(error.detail.clone(), |(head, _)| head.to_string()),
        None => error.detail.clone(),
    }
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInError::Address(e)
            | SignInError::Reach(e)
            | SignInError::Version(e)
            | SignInError::Server(e) => f.write_str(&e.detail),
            SignInError::UnknownUser {
                server_name,
                reason,
            } => write!(
                f,
                "Playmark cannot tell which Plex user this token belongs to ({reason}), and \
                 {server_name} already has an account here. Sign in again with --same-user if it \
                 is the same person (their queued changes are kept), or --new-user for someone \
                 else."
            ),
            SignInError::Store(e) => write!(f, "{e}"),
            SignInError::Secret(e) => write!(f, "cannot store the sign-in: {e}"),
        }
    }
}

impl std::error::Error for SignInError {}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> SignInError {
        SignInError::Store(e)
    }
}

/// Whose account a Plex token is for when plex.tv cannot say (a server-local or transient
/// token, or plex.tv unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlexUserChoice {
    /// Refuse ([`SignInError::UnknownUser`]) when the server already has an account; the
    /// first account on a server needs no answer.
    #[default]
    Ask,
    /// The same person as the server's last signed-in account (its queue and library are kept).
    /// With a user plex.tv does know, an account of an unknown user on that server is adopted.
    Same,
    /// Someone else: a new account.
    New,
}

/// The plex.tv address: `PLAYMARK_PLEX_TV_URL` (tests point it at the demo server), else
/// <https://plex.tv>.
pub fn plex_tv_url() -> String {
    std::env::var("PLAYMARK_PLEX_TV_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| PLEX_TV.to_string())
}

/// Sign in to the Jellyfin server at `server` as `user`: check the address, the server
/// (`/System/Info/Public`) and its version, authenticate, then select or create the account of
/// (server id, user id), make it current, and store the token ([`TokenStore`]: the keyring, or
/// a 0600 file under `data_dir`) and the trusted certificate (a private file; `certificate`
/// `None` stops trusting an earlier one).
pub async fn sign_in_jellyfin(
    store: &mut Store,
    data_dir: &Path,
    server: &str,
    user: &str,
    password: &str,
    certificate: Option<Vec<u8>>,
) -> Result<SignedIn, SignInError> {
    let device_id = store.device_id()?;
    let client = JellyfinClient::new(
        server,
        DeviceInfo::playmark(device_id.clone()),
        ClientOptions {
            trusted_certificate_pem: certificate.clone(),
            ..ClientOptions::default()
        },
    )
    .map_err(SignInError::Address)?;
    let info = client.public_info().await.map_err(SignInError::Reach)?;
    JellyfinClient::check_version(&info.version).map_err(SignInError::Version)?;
    let session = client
        .authenticate(user, password)
        .await
        .map_err(SignInError::Server)?;
    // The server that answered the sign-in is the account's server (the session names it too).
    let server_id = if session.server_id.is_empty() {
        info.server_id.clone()
    } else {
        session.server_id.clone()
    };
    let existing = store
        .accounts_on_server(ServerKind::Jellyfin, &server_id)?
        .iter()
        .any(|a| a.user_id == session.user_id);
    let account = store.upsert_account(
        &NewAccount {
            kind: ServerKind::Jellyfin,
            base_url: client.base_url(),
            server_id: &server_id,
            server_name: &info.server_name,
            user_id: &session.user_id,
            user_name: &session.user_name,
            device_id: &device_id,
        },
        SystemClock.now(),
    )?;
    let token_location = save_token(store, data_dir, account, &session.access_token).await?;
    match &certificate {
        Some(pem) => secrets::save_certificate(data_dir, account, pem),
        None => secrets::delete_certificate(data_dir, account),
    }
    .map_err(|e| SignInError::Secret(SecretError::File(e)))?;
    Ok(SignedIn {
        account,
        info,
        user_name: session.user_name,
        existing,
        token_location,
    })
}

/// Sign in to the Plex server at `server` with `token`: check the address, ask the server who
/// it is (`/identity`) and whether it accepts the token (`/library/sections/all`), ask plex.tv
/// ([`plex_tv_url`]) whose token it is, then select or create the account of (server id, user)
/// and store the token ([`TokenStore`]: the keyring, or a 0600 file under `data_dir`).
///
/// When plex.tv cannot name the user, `who` decides (see [`PlexUserChoice`]). The token is never
/// logged; callers must keep it out of argv.
pub async fn sign_in_plex(
    store: &mut Store,
    data_dir: &Path,
    server: &str,
    token: &str,
    who: PlexUserChoice,
) -> Result<SignedIn, SignInError> {
    let device_id = store.device_id()?;
    let client = PlexClient::new(
        server,
        PlexClient::device(device_id.clone()),
        ClientOptions::default(),
    )
    .map_err(SignInError::Address)?
    .with_token(token.to_string());
    let info = client.sign_in_check().await.map_err(SignInError::Server)?;
    let owner = client.token_owner(&plex_tv_url()).await;
    let on_server = store.accounts_on_server(ServerKind::Plex, &info.server_id)?;
    let unverified = |a: &&Account| a.user_id.starts_with("unverified-");
    let (user_id, user_name) = match owner {
        Ok(user) => {
            if who == PlexUserChoice::Same && !on_server.iter().any(|a| a.user_id == user.id) {
                // The person says this is the user of the earlier, unidentified account.
                if let Some(old) = on_server.iter().find(unverified) {
                    store.set_account_user(old.id, &user.id, &user.name)?;
                }
            }
            (user.id, user.name)
        }
        Err(e) => {
            let reason = match e.kind {
                ErrorKind::Offline => "plex.tv cannot be reached".to_string(),
                ErrorKind::Auth => "plex.tv does not know this token".to_string(),
                _ => format!("plex.tv answered: {}", e.detail),
            };
            tracing::info!(%reason, "Plex user not established");
            match (who, on_server.first()) {
                (PlexUserChoice::Same, Some(last)) => {
                    (last.user_id.clone(), last.user_name.clone())
                }
                (PlexUserChoice::Ask, Some(_)) => {
                    return Err(SignInError::UnknownUser {
                        server_name: info.server_name.clone(),
                        reason,
                    })
                }
                _ => (
                    format!("unverified-{}", uuid::Uuid::new_v4().simple()),
                    "Plex user".to_string(),
                ),
            }
        }
    };
    let existing = on_server.iter().any(|a| a.user_id == user_id)
        || (who == PlexUserChoice::Same && on_server.iter().any(|a| unverified(&a)));
    let account = store.upsert_account(
        &NewAccount {
            kind: ServerKind::Plex,
            base_url: client.base_url(),
            server_id: &info.server_id,
            server_name: &info.server_name,
            user_id: &user_id,
            user_name: &user_name,
            device_id: &device_id,
        },
        SystemClock.now(),
    )?;
    let token_location = save_token(store, data_dir, account, token).await?;
    Ok(SignedIn {
        account,
        info,
        user_name,
        existing,
        token_location,
    })
}

/// Store the token of the account just signed in ([`TokenStore`]: the keyring, or a 0600 file
/// where no Secret Service is on the bus).
async fn save_token(
    store: &Store,
    data_dir: &Path,
    account: AccountId,
    token: &str,
) -> Result<TokenLocation, SignInError> {
    let row = store
        .account_by_id(account)?
        .ok_or(SignInError::Store(StoreError::NoAccount))?;
    let tokens = TokenStore::open(data_dir)
        .await
        .map_err(SignInError::Secret)?;
    tokens.save(&row, token).await.map_err(SignInError::Secret)
}
