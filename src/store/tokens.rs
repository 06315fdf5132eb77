//! Where access tokens live: the Secret Service (the keyring, through `oo7`'s D-Bus API) when
//! one is on the session bus, else a file with mode 0600 in the data directory (a CLI over SSH,
//! a container). Never in SQL, argv, URLs or logs.
//!
//! - **Keyring**: one item per account, labelled `Playmark: <server> (<user>)`, found by the
//!   attributes `application` ([`APPLICATION`]), `server-kind`, `server-id` and `user-id` —
//!   never by the local account id, which a reset database hands out again.
//! - **File**: `token-<account id>` in the data directory, used only when no Secret Service is
//!   on the bus: no session bus at all, or no `org.freedesktop.secrets` name owned or
//!   activatable there. A keyring that is there but locked, or whose unlock prompt is dismissed,
//!   is an error ([`SecretError::Locked`]), never a reason to write a file.
//! - **Migration**: whenever a keyring answers, a token file of the account (left by an older
//!   Playmark, or written later over SSH) is moved into the keyring and the file removed. Never
//!   the other way round.
//! - The bundled demo library's account ([`ServerKind::Demo`], a throwaway token for a loopback
//!   server) always uses the file in its own reset-on-start folder: it would only litter the
//!   keyring.
//!
//! No GTK here; callers word the errors for their audience.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oo7::dbus::{Collection, Service, ServiceError};
use oo7::zbus;

use super::{secrets, Account};
use crate::model::ServerKind;

/// The `application` attribute of Playmark's keyring items (the app id).
pub const APPLICATION: &str = "org.playmark.Playmark";

/// The Secret Service's well-known bus name.
const SECRETS_NAME: &str = "org.freedesktop.secrets";

/// Where a token went (or would go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    /// The Secret Service (login keyring).
    Keyring,
    /// This file, mode 0600 (no Secret Service on the bus).
    File(PathBuf),
}

/// Why a token could not be stored, read or removed.
#[derive(Debug)]
pub enum SecretError {
    /// The keyring is locked and was not unlocked: the unlock prompt was dismissed or could not
    /// be shown. Nothing was written anywhere else.
    Locked,
    /// The Secret Service answered with an error (the detail, never a token).
    Keyring(String),
    /// The token file could not be read, written or removed.
    File(std::io::Error),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Locked => f.write_str(
                "the keyring is locked and was not unlocked (the unlock prompt was dismissed or \
                 could not be shown)",
            ),
            SecretError::Keyring(detail) => write!(f, "the keyring failed: {detail}"),
            SecretError::File(e) => write!(f, "the token file failed: {e}"),
        }
    }
}

impl std::error::Error for SecretError {}

impl From<std::io::Error> for SecretError {
    fn from(e: std::io::Error) -> SecretError {
        SecretError::File(e)
    }
}

/// A Secret Service error in our terms: a dismissed prompt or a locked item is [`Locked`].
///
/// [`Locked`]: SecretError::Locked
fn keyring_error(e: oo7::dbus::Error) -> SecretError {
    match e {
        oo7::dbus::Error::Dismissed | oo7::dbus::Error::Service(ServiceError::IsLocked(_)) => {
            SecretError::Locked
        }
        e => SecretError::Keyring(e.to_string()),
    }
}

/// The token store of a data directory: the keyring when a Secret Service is on the session
/// bus ([`TokenStore::open`]), else token files.
#[derive(Debug)]
pub struct TokenStore {
    data_dir: PathBuf,
    keyring: Option<Service>,
}

impl TokenStore {
    /// The keyring if a Secret Service is on the session bus, else the token files in
    /// `data_dir`. Errs when a Secret Service is there but its session cannot be opened (that
    /// is never a reason to fall back to a file).
    pub async fn open(data_dir: &Path) -> Result<TokenStore, SecretError> {
        if !secret_service_on_bus().await {
            return Ok(TokenStore::files(data_dir));
        }
        let service = Service::new().await.map_err(keyring_error)?;
        Ok(TokenStore {
            data_dir: data_dir.to_path_buf(),
            keyring: Some(service),
        })
    }

    /// Token files only (tests, and where the caller knows there is no keyring).
    pub fn files(data_dir: &Path) -> TokenStore {
        TokenStore {
            data_dir: data_dir.to_path_buf(),
            keyring: None,
        }
    }

    /// Where a (non-demo) account's token goes with this store.
    pub fn location(&self, account: &Account) -> TokenLocation {
        match self.keyring_for(account) {
            Some(_) => TokenLocation::Keyring,
            None => TokenLocation::File(secrets::token_path(&self.data_dir, account.id)),
        }
    }

    /// The keyring, unless there is none or the account is the demo's.
    fn keyring_for(&self, account: &Account) -> Option<&Service> {
        self.keyring
            .as_ref()
            .filter(|_| account.kind != ServerKind::Demo)
    }

    /// Store `account`'s token (replacing an earlier one). In the keyring any token file of the
    /// account is removed afterwards.
    pub async fn save(&self, account: &Account, token: &str) -> Result<TokenLocation, SecretError> {
        let Some(service) = self.keyring_for(account) else {
            secrets::save_token(&self.data_dir, account.id, token)?;
            return Ok(self.location(account));
        };
        let collection = unlocked_collection(service).await?;
        collection
            .create_item(
                &label(account),
                &attributes(account),
                oo7::Secret::text(token),
                true,
                None,
            )
            .await
            .map_err(keyring_error)?;
        secrets::delete_token(&self.data_dir, account.id)?;
        Ok(TokenLocation::Keyring)
    }

    /// `account`'s token, if one is stored. With a keyring, a token file of the account is
    /// migrated into it first (and removed): a file is only ever newer than the keyring's item
    /// (written where no keyring answered).
    pub async fn load(&self, account: &Account) -> Result<Option<String>, SecretError> {
        let file_token = secrets::load_token(&self.data_dir, account.id)?;
        let Some(service) = self.keyring_for(account) else {
            return Ok(file_token);
        };
        if let Some(token) = file_token {
            self.save(account, &token).await?;
            tracing::info!(account = account.id, "token file moved into the keyring");
            return Ok(Some(token));
        }
        let collection = unlocked_collection(service).await?;
        let items = collection
            .search_items(&attributes(account))
            .await
            .map_err(keyring_error)?;
        let Some(item) = items.first() else {
            return Ok(None);
        };
        if item.is_locked().await.map_err(keyring_error)? {
            item.unlock(None).await.map_err(keyring_error)?;
        }
        let secret = item.secret().await.map_err(keyring_error)?;
        let token = String::from_utf8(secret.as_bytes().to_vec())
            .map_err(|_| SecretError::Keyring("the stored token is not text".into()))?;
        Ok(Some(token.trim().to_string()).filter(|t| !t.is_empty()))
    }

    /// Forget `account`'s token: its keyring items and its token file.
    pub async fn delete(&self, account: &Account) -> Result<(), SecretError> {
        if let Some(service) = self.keyring_for(account) {
            let collection = unlocked_collection(service).await?;
            let items = collection
                .search_items(&attributes(account))
                .await
                .map_err(keyring_error)?;
            for item in items {
                item.delete(None).await.map_err(keyring_error)?;
            }
        }
        secrets::delete_token(&self.data_dir, account.id)?;
        Ok(())
    }
}

/// Whether tokens signed in now go to the keyring (`true`: a Secret Service is on the session
/// bus) or to token files (`false`): what [`TokenStore::open`] decides, for callers that say it
/// before a sign-in (the app's sign-in dialog). The demo account always uses a file.
pub async fn keyring_on_bus() -> bool {
    secret_service_on_bus().await
}

/// Is a Secret Service on the session bus: a bus to connect to, and `org.freedesktop.secrets`
/// owned or activatable there?
async fn secret_service_on_bus() -> bool {
    let Ok(connection) = zbus::Connection::session().await else {
        return false;
    };
    let Ok(bus) = zbus::fdo::DBusProxy::new(&connection).await else {
        return false;
    };
    let Ok(name) = zbus::names::BusName::try_from(SECRETS_NAME) else {
        return false;
    };
    if bus.name_has_owner(name).await.unwrap_or(false) {
        return true;
    }
    bus.list_activatable_names()
        .await
        .is_ok_and(|names| names.iter().any(|n| n.as_str() == SECRETS_NAME))
}

/// The default collection (the login keyring), unlocked (which may show the unlock prompt).
async fn unlocked_collection(service: &Service) -> Result<Collection, SecretError> {
    let collection = service.default_collection().await.map_err(keyring_error)?;
    if collection.is_locked().await.map_err(keyring_error)? {
        collection.unlock(None).await.map_err(keyring_error)?;
        if collection.is_locked().await.map_err(keyring_error)? {
            return Err(SecretError::Locked);
        }
    }
    Ok(collection)
}

/// The keyring item's label, as Passwords and Keys (Seahorse) shows it.
pub fn label(account: &Account) -> String {
    format!("Playmark: {} ({})", account.server_name, account.user_name)
}

/// The attributes that find an account's item: the app, the server and the user (not the
/// local account id).
pub fn attributes(account: &Account) -> HashMap<&'static str, String> {
    HashMap::from([
        ("application", APPLICATION.to_string()),
        ("server-kind", account.kind.as_str().to_string()),
        ("server-id", account.server_id.clone()),
        ("user-id", account.user_id.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AccountStatus;

    fn account(kind: ServerKind) -> Account {
        Account {
            id: 7,
            kind,
            base_url: "http://127.0.0.1:1".into(),
            server_id: "srv".into(),
            server_name: "Media".into(),
            user_id: "u1".into(),
            user_name: "Ann".into(),
            device_id: "dev".into(),
            display_name: "Ann".into(),
            state: AccountStatus::Online,
        }
    }

    #[tokio::test]
    async fn the_file_store_keeps_a_0600_file_per_account() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::files(dir.path());
        let a = account(ServerKind::Jellyfin);
        let at = store.save(&a, "tok").await.unwrap();
        assert_eq!(at, TokenLocation::File(dir.path().join("token-7")));
        let mode = std::fs::metadata(dir.path().join("token-7"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.load(&a).await.unwrap().as_deref(), Some("tok"));
        store.delete(&a).await.unwrap();
        assert_eq!(store.load(&a).await.unwrap(), None);
    }

    #[test]
    fn items_are_found_by_server_and_user_not_the_account_id() {
        let a = account(ServerKind::Plex);
        let attrs = attributes(&a);
        assert_eq!(attrs["application"], APPLICATION);
        assert_eq!(attrs["server-id"], "srv");
        assert_eq!(attrs["user-id"], "u1");
        assert_eq!(attrs["server-kind"], "plex");
        assert!(!attrs.values().any(|v| v == "7"));
        assert_eq!(label(&a), "Playmark: Media (Ann)");
    }
}
