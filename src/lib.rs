//! Playmark: reliable sync of playback position and watched status with Jellyfin and Plex.
//!
//! Layers (see DESIGN.md): `store` (SQLite), `sync` (engine), `backend` (server clients),
//! `demo` (bundled test server), `cli`. None of them imports GTK.

pub mod account;
pub mod backend;
#[cfg(feature = "demo")]
pub mod bench;
pub mod cli;
pub mod clock;
#[cfg(feature = "demo")]
pub mod demo;
pub mod download;
pub mod merge;
pub mod mirror;
pub mod model;
pub mod player;
pub mod posters;
pub mod store;
pub mod sync;
#[cfg(feature = "gui")]
pub mod ui;
pub mod words;
pub use account::session::account_client;
pub use account::sign_in;
