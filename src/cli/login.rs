//! `playmark login jellyfin|plex`, `logout` and `policy`: signing in through
//! [`crate::account::sign_in`] (the app's dialog uses the same functions), worded for a terminal.

use super::*;

/// A failed sign-in, in the words of the app's sign-in dialog
/// ([`crate::sign_in::sign_in_message`], one classification for both): unreachable exits 4,
/// refused credentials 2, anything else (another kind of server, an unsupported version, an
/// untrusted certificate) 1.
pub(super) fn login_failure(e: crate::sign_in::SignInError, server: &str, plex: bool) -> Failure {
    use crate::sign_in::{sign_in_message, SignInError, SignInStep};
    let Some((step, error)) = e.step(plex) else {
        return match e {
            SignInError::Store(e) => Failure::from(e),
            SignInError::Secret(e) => tokens::save_failure(&e),
            e => Failure::usage(e.to_string()),
        };
    };
    let mut sentence = sign_in_message(error, step, server, |t| t.to_string());
    if error.kind == ErrorKind::Rejected && error.detail.contains("certificate is not trusted") {
        sentence.push_str(
            "\nIf this server uses a self-signed certificate, sign in with \
             --trust-certificate FILE (the server's certificate, PEM).",
        );
    }
    let code = match (step, error.kind) {
        (_, ErrorKind::Offline) => exit::UNREACHABLE,
        (SignInStep::Credentials | SignInStep::Token, ErrorKind::Auth) => exit::SIGN_IN,
        _ => exit::USAGE,
    };
    Failure {
        code,
        message: with_detail(sentence, &error.detail),
    }
}

/// The Plex token: `PLAYMARK_TOKEN`, else stdin (never argv). Surrounding white space is
/// dropped; an empty token is refused.
pub(super) fn read_token() -> Result<String, Failure> {
    let token = match std::env::var("PLAYMARK_TOKEN") {
        Ok(t) => t,
        Err(_) => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                // Typed at a terminal: not echoed.
                return rpassword::prompt_password("Plex token: ")
                    .map_err(|e| {
                        Failure::usage(format!("cannot read the token from the terminal: {e}"))
                    })
                    .and_then(|t| {
                        let t = t.trim().to_string();
                        if t.is_empty() {
                            Err(Failure::usage(
                                "no Plex token: type it, pipe it on stdin or set PLAYMARK_TOKEN",
                            ))
                        } else {
                            Ok(t)
                        }
                    });
            }
            let mut buf = String::new();
            stdin
                .read_to_string(&mut buf)
                .map_err(|e| Failure::usage(format!("cannot read the token from stdin: {e}")))?;
            buf
        }
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(Failure::usage(
            "no Plex token: pipe it on stdin or set PLAYMARK_TOKEN",
        ));
    }
    Ok(token)
}

pub(super) async fn login_plex(
    data_dir: &Path,
    server: &str,
    who: crate::sign_in::PlexUserChoice,
) -> Result<u8, Failure> {
    use crate::sign_in::sign_in_plex;
    let token = read_token()?;
    let mut store = open_store(data_dir)?;
    let signed_in = sign_in_plex(&mut store, data_dir, server, &token, who)
        .await
        .map_err(|e| login_failure(e, server, true))?;
    println!(
        "Signed in to {} (Plex {}) as {}{}.",
        signed_in.info.server_name,
        signed_in.info.version,
        signed_in.user_name,
        crate::cli::accounts::account_note(&store, signed_in.account, signed_in.existing)?
    );
    println!("{}", tokens::saved_note(&signed_in.token_location));
    Ok(exit::OK)
}

/// The certificate the person chose to trust for this account's server, if any.
pub(super) fn trusted_certificate(
    data_dir: &Path,
    account: &Account,
) -> Result<Option<Vec<u8>>, Failure> {
    secrets::load_certificate(data_dir, account.id)
        .map_err(|e| Failure::usage(format!("cannot read the trusted certificate: {e}")))
}

pub(super) fn read_password() -> Result<String, Failure> {
    if let Ok(p) = std::env::var("PLAYMARK_PASSWORD") {
        return Ok(p);
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Typed at a terminal: not echoed.
        return rpassword::prompt_password("Password: ").map_err(|e| {
            Failure::usage(format!("cannot read the password from the terminal: {e}"))
        });
    }
    let mut buf = String::new();
    stdin
        .read_to_string(&mut buf)
        .map_err(|e| Failure::usage(format!("cannot read the password from stdin: {e}")))?;
    Ok(buf.trim_end_matches(['\r', '\n']).to_string())
}

pub(super) async fn login(
    data_dir: &Path,
    server: &str,
    user: &str,
    trust_certificate: Option<&Path>,
    policy: Option<Policy>,
) -> Result<u8, Failure> {
    let certificate = match trust_certificate {
        Some(file) => {
            if !server.trim().to_ascii_lowercase().starts_with("https://") {
                return Err(Failure::usage(
                    "--trust-certificate is for https:// addresses only",
                ));
            }
            let pem = std::fs::read(file).map_err(|e| {
                Failure::usage(format!(
                    "cannot read the certificate {}: {e}",
                    file.display()
                ))
            })?;
            eprintln!(
                "Trusting the certificate in {} for {server}: Playmark accepts this server only \
                 with that certificate (or one it signed). Check it came from the server's owner.",
                file.display()
            );
            Some(pem)
        }
        None => None,
    };
    let password = read_password()?;
    let mut store = open_store(data_dir)?;
    if let Some(warning) = crate::backend::transport::plaintext_warning(server) {
        eprintln!("{warning}");
    }
    let signed_in = crate::sign_in::sign_in_jellyfin(
        &mut store,
        data_dir,
        server,
        user,
        &password,
        certificate,
    )
    .await
    .map_err(|e| login_failure(e, server, false))?;
    let account = signed_in.account;
    if let Some(p) = policy {
        store.set_policy(account, p)?;
    }
    let policy = store.policy(account)?;
    println!(
        "Signed in to {} (Jellyfin {}) as {}{}. Conflict policy: {policy}.",
        signed_in.info.server_name,
        signed_in.info.version,
        signed_in.user_name,
        crate::cli::accounts::account_note(&store, account, signed_in.existing)?
    );
    println!("{}", tokens::saved_note(&signed_in.token_location));
    Ok(exit::OK)
}

pub(super) fn set_or_show_policy(data_dir: &Path, policy: Option<Policy>) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    match policy {
        Some(p) => {
            store.set_policy(account.id, p)?;
            println!("Conflict policy: {p} (from the next refresh on).");
        }
        None => println!("Conflict policy: {}", store.policy(account.id)?),
    }
    Ok(exit::OK)
}

pub(super) async fn logout(data_dir: &Path) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let account = require_account(&store)?;
    tokens::forget(data_dir, &account).await?;
    let pending = store.counts(account.id)?.total();
    println!(
        "Signed out of {}. {} kept until you sign in again.",
        account.server_name,
        crate::words::count(pending, "queued change", "queued changes")
    );
    Ok(exit::OK)
}
