//! Accounts, below both front ends (no GTK, no printing, no exit codes): signing in
//! ([`sign_in`], shared by `playmark login` and the app's dialog) and a signed-in account's
//! session ([`session`]: its client, playback client and engine, built in one place).
//! The CLI (`cli/`) and the app (`ui/`) both go through here; nothing here imports either.

pub mod session;
pub mod sign_in;

pub use session::{account_client, account_engine, SessionError};
