//! The SyncQueue worker: owns the engine handle and the tokio runtime it runs on.
//!
//! The worker runs on its own thread (relm4 `Worker`), so SQLite writes never block the GTK
//! main thread; network work runs on the worker's tokio runtime. The engine's [`SyncEvent`]s come
//! back to the UI as [`SyncQueueOutput`] messages, with failures gathered for a moment so a burst
//! becomes one notice.

mod lifecycle;
mod media;
mod messages;
pub mod mirror;
mod posters;
mod relay;
mod session;
mod settings;
mod undo;
use relay::*;
use session::*;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relm4::{ComponentSender, Worker};
use tokio::sync::broadcast::error::RecvError;

use crate::account::SessionError;
use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::{ErrorKind, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::demo::{DemoConfig, DemoServer, Fault, DEMO_PASSWORD, DEMO_USER};
use crate::download::Downloader;
use crate::merge::{Decision, Outcome, Side};
use crate::model::{LocalChange, Millis, ServerKind};
use crate::store::tokens::{SecretError, TokenStore};
pub use lifecycle::Finished;
use media::PlayHandle;
pub use media::{mpv_args, MPV_ARGS_ENV};
pub use messages::*;

use super::library::LibraryIndex;
use crate::store::ItemView;
use crate::store::{database_path, Counts, NewAccount, OutboxRow, Store, VIEW_LIMIT};
use crate::sync::{
    AccountState, Engine, EngineConfig, ItemSyncState, PullSchedule, RunMode, SyncEvent,
    DEFAULT_PAGE_SIZE,
};

/// How long failures are gathered into one notice.
const FAILURE_WINDOW: Duration = Duration::from_millis(400);

/// How long merges are gathered before the override notices are read again (a pull that
/// decides many items reads them once, and their toast is one).
const OVERRIDDEN_WINDOW: Duration = Duration::from_millis(300);

/// How often the library is pulled while the window is in front (the engine's idle schedule,
/// 5 to 60 minutes, applies otherwise).
pub const FOREGROUND_PULL_MS: i64 = 60_000;

/// The worker's state.
pub struct SyncQueue {
    init: SyncQueueInit,
    runtime: Option<tokio::runtime::Runtime>,
    engine: Option<Engine>,
    demo: Option<DemoServer>,
    /// The engine's tasks (event forwarding, refresh + run), stopped on an account switch.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The window is in front (pull every [`FOREGROUND_PULL_MS`]).
    foreground: bool,
    /// What the UI was told, for the running engine.
    relay: Option<Relay>,
    /// The data directory of the running engine's account (its token, downloads).
    data_dir: Option<PathBuf>,
    /// The play under way (one at a time).
    play: Option<PlayHandle>,
    /// The running account's download queue.
    downloader: Option<Arc<Downloader>>,
    /// The running account's posters.
    posters: Option<posters::Posters>,
    /// Bulk changes held while their Undo is offered, by batch number.
    held: undo::HeldBatches,
    /// A sign-out stopped the account's engine and the demo's is on its way: what needs an
    /// engine waits in `waiting` for it.
    switching: bool,
    waiting: Vec<SyncQueueInput>,
    /// The mirror groups' engines and passes.
    mirrors: mirror::Mirrors,
}

impl std::fmt::Debug for SyncQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncQueue")
            .field("engine", &self.engine)
            .finish()
    }
}

impl Drop for SyncQueue {
    fn drop(&mut self) {
        self.stop_play_and_downloads();
        self.mirrors.stop();
        if let Some(engine) = &self.engine {
            engine.shutdown();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Worker for SyncQueue {
    type Init = SyncQueueInit;
    type Input = SyncQueueInput;
    type Output = SyncQueueOutput;

    fn init(init: SyncQueueInit, _sender: ComponentSender<Self>) -> SyncQueue {
        SyncQueue {
            init,
            runtime: None,
            engine: None,
            demo: None,
            tasks: Vec::new(),
            foreground: false,
            relay: None,
            data_dir: None,
            play: None,
            downloader: None,
            posters: None,
            held: undo::HeldBatches::default(),
            switching: false,
            waiting: Vec::new(),
            mirrors: mirror::Mirrors::default(),
        }
    }

    fn update(&mut self, message: SyncQueueInput, sender: ComponentSender<Self>) {
        match message {
            SyncQueueInput::Start => {
                self.start_or_say(&sender);
                return;
            }
            SyncQueueInput::ResetDatabase => {
                let path = database_path(&self.base_dir());
                match crate::store::reset_database(&path, SystemClock.now()) {
                    Ok(outcome) => {
                        tracing::warn!(?outcome, "database reset");
                        self.start_or_say(&sender);
                    }
                    Err(e) => {
                        let _ = sender.output(SyncQueueOutput::NoDatabase {
                            message: store_failed(e),
                            recovery: Recovery::TryAgain,
                        });
                    }
                }
                return;
            }
            SyncQueueInput::SignIn {
                url,
                user,
                password,
            } => {
                // A task: the worker goes on answering while the server is asked.
                if let Err(error) = self.sign_in(url, user, password, &sender) {
                    let error = Some(error);
                    let _ = sender.output(SyncQueueOutput::SignInFinished { error });
                }
                return;
            }
            SyncQueueInput::SignInPlex { url, token } => {
                if let Err(error) = self.sign_in_plex(url, token, &sender) {
                    let error = Some(error);
                    let _ = sender.output(SyncQueueOutput::SignInFinished { error });
                }
                return;
            }
            SyncQueueInput::Finished(Finished(step)) => {
                self.finished(step, &sender);
                return;
            }
            SyncQueueInput::TokenStorage => {
                use super::sign_in::TokenStorage;
                // Asking the bus for a keyring can take a while: a task answers.
                let out = sender.output_sender().clone();
                let ask = async move {
                    let storage = if crate::store::tokens::keyring_on_bus().await {
                        TokenStorage::Keyring
                    } else {
                        TokenStorage::File
                    };
                    let _ = out.send(SyncQueueOutput::TokenStorage { storage });
                };
                if let Err(message) = self.runtime().map(|rt| rt.spawn(ask)) {
                    tracing::warn!(%message, "token storage unknown");
                }
                return;
            }
            SyncQueueInput::SignOut => {
                if let Err(message) = self.sign_out(&sender) {
                    let _ = sender.output(SyncQueueOutput::Failed { message });
                }
                return;
            }
            SyncQueueInput::Foreground { active } => {
                self.foreground = active;
                if let Some(engine) = &self.engine {
                    engine.set_foreground_pull(foreground_pull(active));
                }
                return;
            }
            SyncQueueInput::LoadSettings => {
                self.send_settings(sender.output_sender());
                return;
            }
            SyncQueueInput::SetSetting { key, value } => {
                self.set_setting(key, &value, sender.output_sender());
                return;
            }
            SyncQueueInput::SetPolicy { policy } => {
                self.set_policy(policy, sender.output_sender());
                return;
            }
            SyncQueueInput::Mirror(request) => {
                self.mirror_request(request, &sender);
                return;
            }
            _ => {}
        }
        let (Some(engine), Some(relay)) = (self.engine.clone(), self.relay.clone()) else {
            if self.switching {
                self.waiting.push(message);
            } else {
                tracing::warn!(?message, "not started yet");
            }
            return;
        };
        // The item a failed store write leaves showing a change that was not stored.
        let item = match &message {
            SyncQueueInput::Enqueue { item, .. } | SyncQueueInput::Discard { item } => {
                Some(item.clone())
            }
            _ => None,
        };
        let result = match message {
            SyncQueueInput::Home => {
                send_home(&engine, sender.output_sender());
                return;
            }
            SyncQueueInput::Search { query } => {
                send_search(&engine, sender.output_sender(), query);
                return;
            }
            SyncQueueInput::Play { item } => {
                self.play(engine, item, sender.output_sender());
                return;
            }
            SyncQueueInput::Poster { item } => {
                if let (Some(p), Some(rt)) = (&self.posters, &self.runtime) {
                    p.request(rt.handle(), item, sender.output_sender());
                }
                return;
            }
            SyncQueueInput::Download { item } => {
                self.download(&item, sender.output_sender());
                return;
            }
            SyncQueueInput::DownloadControl { item, action } => {
                self.download_control(&item, action, sender.output_sender());
                return;
            }
            // "Use mine for all" is a bulk change: held while its Undo is offered.
            SyncQueueInput::UseMine { items } if items.len() > 1 => {
                self.held
                    .use_mine(&engine, &relay, &items, sender.output_sender())
            }
            SyncQueueInput::UseMine { items } => {
                let mut result = Ok(());
                for item in &items {
                    match engine.use_mine(item) {
                        Ok(_) => send_item(&engine, sender.output_sender(), item),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                relay.overridden(false);
                result
            }
            SyncQueueInput::Start
            | SyncQueueInput::ResetDatabase
            | SyncQueueInput::SignIn { .. }
            | SyncQueueInput::TokenStorage
            | SyncQueueInput::SignInPlex { .. }
            | SyncQueueInput::Finished(_)
            | SyncQueueInput::SignOut
            | SyncQueueInput::Foreground { .. }
            | SyncQueueInput::LoadSettings
            | SyncQueueInput::SetSetting { .. }
            | SyncQueueInput::SetPolicy { .. }
            | SyncQueueInput::Mirror(_) => Ok(()),
            SyncQueueInput::Enqueue { item, change } => {
                engine.record_change(&item, change).map(|_| {
                    send_item(&engine, sender.output_sender(), &item);
                    // A new change of the person's replaces an override notice of the item.
                    if relay.has_notice(&item) {
                        relay.overridden(false);
                    }
                })
            }
            SyncQueueInput::EnqueueBulk { parent, played } => {
                engine.record_bulk_held(&parent, played).map(|batch| {
                    self.held.announce(&engine, batch, sender.output_sender());
                    let account = engine.account();
                    let items = engine.with_store(|s| s.items(account)).unwrap_or_default();
                    let under = |id: &Option<String>| id.as_deref() == Some(parent.as_str());
                    for item in items.into_iter().filter(|i| {
                        i.kind.is_playable()
                            && (under(&i.parent_id) || under(&i.season_id) || under(&i.series_id))
                    }) {
                        let account = engine.account_state();
                        let state = item.sync_state.map(|_| ItemSyncState::waiting(account));
                        let id = item.item_id.clone();
                        let _ = sender.output(SyncQueueOutput::ItemData { item });
                        if let Some(state) = state {
                            relay.item_state(id, state);
                        }
                    }
                    if relay.has_notices() {
                        relay.overridden(false);
                    }
                })
            }
            // The engine badges the retried changes (queued, off the list).
            SyncQueueInput::Retry { item } => engine.retry(Some(&[item])).map(|_| ()),
            SyncQueueInput::RetryAll => engine.retry(None).map(|_| ()),
            SyncQueueInput::Discard { item } => {
                engine.discard(std::slice::from_ref(&item)).map(|_| {
                    send_item(&engine, sender.output_sender(), &item);
                })
            }
            SyncQueueInput::Undo { batch } => {
                self.held
                    .undo(&engine, batch, sender.output_sender())
                    .map(|_| {
                        // An undone "Use mine for all" brings its override notices back.
                        relay.overridden(false);
                    })
            }
            SyncQueueInput::ReleaseHold { batch } => self.held.release(&engine, batch),
            // Both directions: send what is queued (held bulk changes too: the person asked for
            // a send), then bring what other devices changed.
            SyncQueueInput::SyncNow => self
                .held
                .release_all(&engine)
                .and_then(|_| engine.sync_now())
                .map(|_| engine.pull_soon()),
            SyncQueueInput::ConnectivityChanged { online } => {
                engine.connectivity_changed(online);
                self.mirrors.connectivity_changed(online);
                Ok(())
            }
            SyncQueueInput::Simulate { fault } => {
                self.simulate(fault);
                if fault == (DevFault::Offline { offline: false }) {
                    engine.connectivity_changed(true);
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => relay.store_trouble(Trouble::Worker, None),
            Err(e) => {
                tracing::error!(error = %e, "store operation failed");
                // The row showed the change at once; it was not stored: show what is.
                if let Some(item) = item {
                    send_item(&engine, sender.output_sender(), &item);
                }
                relay.store_trouble(Trouble::Worker, Some(&e.to_string()));
            }
        }
    }
}

/// Home's lists and their rows' data (three queries, off the GTK thread).
fn send_home(engine: &Engine, sender: &relm4::Sender<SyncQueueOutput>) {
    let account = engine.account();
    let lists = engine.with_store(|s| {
        let continue_watching = s.continue_watching(account, VIEW_LIMIT)?;
        let next_up = s.next_up(account, VIEW_LIMIT)?;
        let ids: Vec<String> = continue_watching.iter().chain(&next_up).cloned().collect();
        let items = s.items_by_ids(account, &ids)?;
        Ok::<_, crate::store::StoreError>((continue_watching, next_up, items))
    });
    match lists {
        Ok((continue_watching, next_up, items)) => {
            let _ = sender.send(SyncQueueOutput::Home {
                continue_watching,
                next_up,
                items,
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot compute Home"),
    }
}

/// The whole library of the running account, indexed for the lists (off the GTK thread).
fn send_library(engine: &Engine, source: LibrarySource, out: &relm4::Sender<SyncQueueOutput>) {
    match engine.with_store(|s| s.items(engine.account())) {
        Ok(items) => {
            let index = LibraryIndex::of(&items);
            let _ = out.send(SyncQueueOutput::Library {
                source,
                items,
                index,
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the library"),
    }
}

fn send_search(engine: &Engine, sender: &relm4::Sender<SyncQueueOutput>, query: String) {
    let account = engine.account();
    match engine.with_store(|s| s.search(account, &query, VIEW_LIMIT)) {
        Ok(items) => {
            let _ = sender.send(SyncQueueOutput::SearchResults { query, items });
        }
        Err(e) => tracing::warn!(error = %e, "search failed"),
    }
}

fn send_item(engine: &Engine, sender: &relm4::Sender<SyncQueueOutput>, item: &str) {
    let account = engine.account();
    if let Ok(Some(view)) = engine.with_store(|s| s.item(account, item)) {
        // An episode's season and series count its watched state: their rows follow.
        let parents: Vec<String> = [view.season_id.clone(), view.series_id.clone()]
            .into_iter()
            .flatten()
            .filter(|_| view.kind == crate::model::ItemKind::Episode)
            .collect();
        let _ = sender.send(SyncQueueOutput::ItemData { item: view });
        if !parents.is_empty() {
            if let Ok(views) = engine.with_store(|s| s.items_by_ids(account, &parents)) {
                for view in views {
                    let _ = sender.send(SyncQueueOutput::ItemData { item: view });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
