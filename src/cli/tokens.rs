//! What the command line says about where tokens live ([`TokenStore`]): the one line after a
//! sign-in, and the failures of a keyring (locked, prompt dismissed) or a token file.
//!
//! These sentences are marked for translation (`po/`); the rest of the CLI is English.

use std::path::Path;

use super::{exit, Failure};
use crate::store::tokens::{SecretError, TokenLocation, TokenStore};
use crate::store::Account;

/// gettext with `{name}` placeholders (English in a build without the `gui` feature, which has
/// no gettext).
fn tr(msgid: &str, args: &[(&str, &str)]) -> String {
    #[cfg(feature = "gui")]
    {
        crate::ui::i18n::tr(msgid, args)
    }
    #[cfg(not(feature = "gui"))]
    {
        crate::backend::error::fill(msgid, args)
    }
}

/// The line after a sign-in: which store took the token.
pub(super) fn saved_note(location: &TokenLocation) -> String {
    match location {
        TokenLocation::Keyring => tr("Token saved in the keyring.", &[]),
        TokenLocation::File(path) => tr(
            "No keyring found: token saved in {path} (readable only by you).",
            &[("path", &path.display().to_string())],
        ),
    }
}

/// Why the keyring (or file) did not take or give the token, in words.
fn reason(e: &SecretError) -> String {
    match e {
        SecretError::Locked => tr(
            "The keyring is locked: unlock it (for example in Passwords and Keys, or by logging in to the desktop) and try again. Nothing was written to a file instead.",
            &[],
        ),
        SecretError::Keyring(detail) => tr(
            "The keyring did not answer as expected ({detail}).",
            &[("detail", detail)],
        ),
        SecretError::File(e) => tr(
            "The token file could not be used ({detail}).",
            &[("detail", &e.to_string())],
        ),
    }
}

/// The token of a sign-in could not be stored (exit 1).
pub(super) fn save_failure(e: &SecretError) -> Failure {
    Failure::usage(format!(
        "{} {}",
        tr("Signed in, but the token could not be saved.", &[]),
        reason(e)
    ))
}

/// A stored token could not be read (exit 2: the person must unlock or sign in again).
pub(crate) fn read_failure(e: &SecretError) -> Failure {
    Failure {
        code: exit::SIGN_IN,
        message: format!(
            "{} {}",
            tr("Cannot read the saved sign-in.", &[]),
            reason(e)
        ),
    }
}

/// `logout`: forget the account's token wherever it is.
pub(super) async fn forget(data_dir: &Path, account: &Account) -> Result<(), Failure> {
    let remove = async { TokenStore::open(data_dir).await?.delete(account).await };
    remove.await.map_err(|e| {
        Failure::usage(format!(
            "{} {}",
            tr("Cannot remove the sign-in.", &[]),
            reason(&e)
        ))
    })
}
