//! The command line's account handling: `playmark accounts [--json]`, the global
//! `--account ID`, the server-identity check before a command talks to the server, and output
//! that survives a closed pipe.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use serde_json::json;

use crate::backend::ServerInfo;
use crate::model::AccountId;
use crate::store::tokens::TokenStore;
use crate::store::{Account, AccountStatus, Store};

use super::{exit, Failure};

/// Set once stdout's reader went away (`playmark items | head -1`): later lines are dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Print one line on stdout. A closed pipe ends the output quietly: the command still finishes
/// (and exits 0 when it worked), with no panic and nothing on stderr.
pub fn line(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        // Another write error (a full disk behind a redirect) has nowhere better to go.
    }
}

/// No account chosen with `--account`.
const NONE: i64 = i64::MIN;
static SELECTED: AtomicI64 = AtomicI64::new(NONE);

/// Remember the global `--account ID`.
pub fn select(id: AccountId) {
    SELECTED.store(id, Ordering::Relaxed);
}

/// The account a command works on: the one chosen with `--account ID` (an unknown id is an
/// error), else the last signed in (`None` before any sign-in).
pub(crate) fn chosen_account(store: &Store) -> Result<Option<Account>, Failure> {
    let id = SELECTED.load(Ordering::Relaxed);
    if id == NONE {
        return Ok(store.account()?);
    }
    match store.account_by_id(id)? {
        Some(account) => Ok(Some(account)),
        None => Err(Failure::usage(format!(
            "There is no account {id}: `playmark accounts` lists them."
        ))),
    }
}

/// " (account N, new)" or " (account N, its queue is back)" for the sign-in line.
pub(crate) fn account_note(
    store: &Store,
    account: AccountId,
    existing: bool,
) -> Result<String, Failure> {
    if !existing {
        return Ok(format!(" (account {account}, new)"));
    }
    let queued = store.counts(account)?.total();
    Ok(format!(
        " (account {account}; {} of this account)",
        crate::words::count(queued, "queued change", "queued changes")
    ))
}

/// What `status` and `accounts` report as `account_state`.
pub fn state_name(state: AccountStatus) -> &'static str {
    state.as_str()
}

/// `playmark accounts [--json]`: id, kind, server, user, state and queued changes of every
/// account; the current one (what commands use without `--account`) is marked.
pub(crate) async fn accounts(data_dir: &Path, as_json: bool) -> Result<u8, Failure> {
    let store = crate::cli::open_store(data_dir)?;
    let current = chosen_account(&store)?.map(|a| a.id);
    let mut rows = Vec::new();
    // One token store for all of them (its keyring moves any token files in).
    let tokens = TokenStore::open(data_dir)
        .await
        .map_err(|e| crate::cli::token_read_failure(&e))?;
    for a in store.accounts()? {
        let signed_in = tokens
            .load(&a)
            .await
            .map_err(|e| crate::cli::token_read_failure(&e))?
            .is_some();
        let state = if signed_in || a.state == AccountStatus::ServerChanged {
            a.state
        } else {
            AccountStatus::SignInNeeded
        };
        rows.push((a.clone(), state, store.counts(a.id)?.total()));
    }
    if as_json {
        let doc: Vec<serde_json::Value> = rows
            .iter()
            .map(|(a, state, queued)| {
                json!({
                    "id": a.id,
                    "kind": a.kind.as_str(),
                    "server": a.server_name,
                    "server_id": a.server_id,
                    "url": a.base_url,
                    "user": a.user_name,
                    "user_id": a.user_id,
                    "state": state_name(*state),
                    "queued": queued,
                    "current": Some(a.id) == current,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(doc));
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        line(format_args!(
            "No accounts yet: run `playmark login jellyfin …` or `playmark login plex …`."
        ));
    }
    for (a, state, queued) in &rows {
        line(format_args!(
            "{} {:>3}  {:<8} {} ({}) — {} — {} — {queued} queued",
            if Some(a.id) == current { "*" } else { " " },
            a.id,
            a.kind.as_str(),
            a.server_name,
            a.base_url,
            a.user_name,
            state_name(*state).replace('_', " "),
        ));
    }
    Ok(exit::OK)
}

/// Is `info` (what answers at the account's address now) the account's server? An account
/// stored without a server id (an old database) cannot be checked and passes.
pub fn same_server(account: &Account, info: &ServerInfo) -> bool {
    account.server_id.is_empty() || info.server_id == account.server_id
}

/// The words for "another server answers at this account's address" (exit 5).
pub fn server_changed_message(
    account: &Account,
    info: Option<&ServerInfo>,
    queued: usize,
) -> String {
    let who = match info {
        Some(info) if !info.server_name.is_empty() => format!(" ({})", info.server_name),
        Some(info) => format!(" ({})", info.server_id),
        None => String::new(),
    };
    format!(
        "Another server{who} now answers at {}, not {}: nothing was sent to it. {} of account \
         {} {} kept. Sign in there to use it as a new account, or \
         `playmark --account {} discard ID…` the old changes.",
        account.base_url,
        account.server_name,
        crate::words::count(queued, "change", "changes"),
        account.id,
        crate::words::agree(queued, "is", "are"),
        account.id
    )
}
