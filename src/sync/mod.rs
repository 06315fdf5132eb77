//! The sync engine: drains the outbox to the server, event-driven, with backoff, leases and
//! connectivity handling. No GTK here; the UI talks to it through [`Engine`] and [`SyncEvent`].

pub mod backoff;
pub mod checkpoint;
mod engine;
mod events;
/// The pure merge lives at [`crate::merge`] (the store uses it too); re-exported here.
pub use crate::merge;

pub use backoff::Backoff;
pub use engine::{
    Engine, EngineConfig, EngineError, EngineStats, OpenPlayGuard, PullSchedule, RunMode,
    RunOutcome, ServerEffect, DEFAULT_PAGE_SIZE, SESSION_SLACK_MS,
};
pub use events::{AccountState, ItemSyncState, SyncEvent, SyncSnapshot};
pub use merge::{merge, Decision, LocalSide, Outcome, Policy, Side};
