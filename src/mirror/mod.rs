//! Mirroring: one person's play state kept in step between their accounts on several servers
//! (issue 21; README "Mirror"). Core: no GTK, no `ui`, no `cli`.
//!
//! - [`groups`]: making and removing groups (the CLI and the app's Mirror page alike).
//! - [`matching`]: which items are one title (provider ids only, never a guess).
//! - [`fold`]: per title, the changes since each side's base folded by the group's policy.
//! - [`pass`]: one pass of a group: refresh every member through its engine, match, fold, and
//!   queue the writes as ordinary local changes of each account (its outbox delivers them).
//! - [`watch`]: passes when a live socket reports a change and at every pull interval.

pub mod fold;
pub mod groups;
pub mod matching;
pub mod pass;
pub mod watch;
