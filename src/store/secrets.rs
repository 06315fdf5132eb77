//! Private files in the data directory (mode 0600, in a 0700 directory): the token file that
//! [`super::tokens::TokenStore`] uses where no Secret Service is on the bus, and the certificate
//! trusted for an account's server. Never SQL, never argv, never logs.
//!
//! Callers read and write tokens through [`super::tokens::TokenStore`], which picks the keyring
//! or these files and migrates files into the keyring.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::model::AccountId;

/// Create `dir` (and parents) if needed and make it 0700.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut perms = fs::metadata(dir)?.permissions();
    if perms.mode() & 0o777 != 0o700 {
        perms.set_mode(0o700);
        fs::set_permissions(dir, perms)?;
    }
    Ok(())
}

/// Create `path` empty with mode 0600 if it does not exist; tighten it to 0600 if it does.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut perms = fs::metadata(path)?.permissions();
            if perms.mode() & 0o777 != 0o600 {
                perms.set_mode(0o600);
                fs::set_permissions(path, perms)?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The token file of an account (only where no Secret Service is on the bus).
pub(crate) fn token_path(data_dir: &Path, account: AccountId) -> PathBuf {
    data_dir.join(format!("token-{account}"))
}

/// Store an account's token in its file (0600, written to a temp file and renamed).
pub(crate) fn save_token(data_dir: &Path, account: AccountId, token: &str) -> io::Result<()> {
    ensure_private_dir(data_dir)?;
    let path = token_path(data_dir, account);
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, &path)
}

/// The token in an account's file, if there is one.
pub(crate) fn load_token(data_dir: &Path, account: AccountId) -> io::Result<Option<String>> {
    match fs::read_to_string(token_path(data_dir, account)) {
        Ok(t) => Ok(Some(t.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove an account's token file.
pub(crate) fn delete_token(data_dir: &Path, account: AccountId) -> io::Result<()> {
    match fs::remove_file(token_path(data_dir, account)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn certificate_path(data_dir: &Path, account: AccountId) -> PathBuf {
    data_dir.join(format!("certificate-{account}.pem"))
}

/// Remember the certificate (PEM) the person chose to trust for an account's server (0600,
/// written to a temp file and renamed). Not a secret, but only this user's business.
pub fn save_certificate(data_dir: &Path, account: AccountId, pem: &[u8]) -> io::Result<()> {
    ensure_private_dir(data_dir)?;
    let path = certificate_path(data_dir, account);
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(pem)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)
}

/// The certificate trusted for an account's server, if the person chose one.
pub fn load_certificate(data_dir: &Path, account: AccountId) -> io::Result<Option<Vec<u8>>> {
    match fs::read(certificate_path(data_dir, account)) {
        Ok(pem) => Ok(Some(pem)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stop trusting an extra certificate for an account's server.
pub fn delete_certificate(data_dir: &Path, account: AccountId) -> io::Result<()> {
    match fs::remove_file(certificate_path(data_dir, account)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        save_token(dir.path(), 3, "secret-token").unwrap();
        let meta = fs::metadata(dir.path().join("token-3")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            load_token(dir.path(), 3).unwrap().as_deref(),
            Some("secret-token")
        );
        delete_token(dir.path(), 3).unwrap();
        assert_eq!(load_token(dir.path(), 3).unwrap(), None);
    }
}
