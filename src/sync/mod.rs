//! The sync engine: drains the outbox to the server, event-driven, with backoff, leases and
//! connectivity handling. No GTK here; the UI talks to it through [`Engine`] and [`SyncEvent`].

pub mod backoff;
mod engine;
mod events;

pub use backoff::Backoff;
pub use engine::{Engine, EngineConfig, EngineStats, RunMode, RunOutcome};
pub use events::{AccountState, ItemSyncState, SyncEvent};
