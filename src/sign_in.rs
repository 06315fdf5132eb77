//! Sign-in steps shared by the command line (`playmark login plex`) and the app's sign-in
//! dialog, so both store an account the same way.
//!
//! No GTK here and no printing: callers word the errors for their audience.

use std::path::Path;
use std::sync::Arc;

use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::plex::PlexClient;
use crate::backend::{MediaServer, ServerInfo, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::model::{AccountId, ServerKind};
use crate::store::{secrets, Account, NewAccount, Store, StoreError};

/// A Plex sign-in that worked: the stored account and the server it is on.
#[derive(Debug, Clone)]
pub struct PlexSignedIn {
    /// The account row (kind [`ServerKind::Plex`]); its token is in the secret store.
    pub account: AccountId,
    /// What the server said about itself.
    pub info: ServerInfo,
}

/// Why a Plex sign-in failed, by step, so each caller can word it.
#[derive(Debug)]
pub enum PlexSignInError {
    /// The address is not a usable URL (nothing was sent).
    Address(SyncError),
    /// The server could not be reached, refused the token, or answered badly.
    Server(SyncError),
    /// The local database failed.
    Store(StoreError),
    /// The token could not be written to its private file.
    Secret(std::io::Error),
}

impl std::fmt::Display for PlexSignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlexSignInError::Address(e) | PlexSignInError::Server(e) => f.write_str(&e.detail),
            PlexSignInError::Store(e) => write!(f, "{e}"),
            PlexSignInError::Secret(e) => write!(f, "cannot store the sign-in: {e}"),
        }
    }
}

impl std::error::Error for PlexSignInError {}

impl From<StoreError> for PlexSignInError {
    fn from(e: StoreError) -> PlexSignInError {
        PlexSignInError::Store(e)
    }
}

/// Sign in to the Plex server at `server` with `token`: check the address, ask the server who
/// it is (`/identity`) and whether it accepts the token (`/library/sections/all`), then store
/// the account and the token (a private file, mode 0600, under `data_dir`).
///
/// A server token does not name its user, so the account is "the token's owner on this
/// server" (user id `token`). The token is never logged; callers must keep it out of argv.
pub async fn sign_in_plex(
    store: &mut Store,
    data_dir: &Path,
    server: &str,
    token: &str,
) -> Result<PlexSignedIn, PlexSignInError> {
    let device_id = store.device_id()?;
    let client = PlexClient::new(
        server,
        PlexClient::device(device_id.clone()),
        ClientOptions::default(),
    )
    .map_err(PlexSignInError::Address)?
    .with_token(token.to_string());
    let info = client
        .sign_in_check()
        .await
        .map_err(PlexSignInError::Server)?;
    let account = store.upsert_account(
        &NewAccount {
            kind: ServerKind::Plex,
            base_url: client.base_url(),
            server_id: &info.server_id,
            server_name: &info.server_name,
            user_id: "token",
            user_name: "Plex user",
            device_id: &device_id,
        },
        SystemClock.now(),
    )?;
    secrets::save_token(data_dir, account, token).map_err(PlexSignInError::Secret)?;
    Ok(PlexSignedIn { account, info })
}

/// The client for a stored `account` with its `token`: a [`PlexClient`] for Plex accounts, a
/// [`JellyfinClient`] for Jellyfin and demo accounts.
pub fn client_for(
    account: &Account,
    token: String,
    options: ClientOptions,
) -> Result<Arc<dyn MediaServer>, SyncError> {
    Ok(match account.kind {
        ServerKind::Plex => Arc::new(
            PlexClient::new(
                &account.base_url,
                PlexClient::device(account.device_id.clone()),
                options,
            )?
            .with_token(token),
        ),
        ServerKind::Jellyfin | ServerKind::Demo => Arc::new(
            JellyfinClient::new(
                &account.base_url,
                DeviceInfo::playmark(account.device_id.clone()),
                options,
            )?
            .with_session(token, account.user_id.clone()),
        ),
    })
}
