//! The worker's player and download queue: ▶ plays through mpv with the same play path as
//! `playmark play` ([`crate::player::play::play_with`]), and the download button, "Download
//! season" and the Downloads view drive the same persisted queue as `playmark download`
//! ([`crate::download::Downloader`]). Both run on the worker's tokio runtime; the UI gets plain
//! data back ([`SyncQueueOutput::Playing`], [`SyncQueueOutput::Downloads`],
//! [`SyncQueueOutput::Message`]).
//!
//! **One play at a time.** ▶ on the item that plays stops it; ▶ on another item stops the one
//! playing (its stop is recorded like any stop: a checkpoint, a live report) and then plays the
//! new one. A person watches one thing at a time, and two mpv windows reporting two sessions for
//! one device would confuse the server's "Now playing".

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::download::{DownloadConfig, DownloadEvent, Downloader};
use crate::player::mpv::MpvPlayer;
use crate::player::play::{play_with, playback_clients, start_position, PlayArgs, PlayError};
use crate::player::PlaybackControl;
use crate::store::DownloadRow;
use crate::ui::downloads::DownloadAction;
use crate::ui::i18n::{gettext, tr};

/// Extra mpv options for every play from the app, whitespace-separated, options only (e.g.
/// `PLAYMARK_MPV_ARGS="--vo=null --ao=null --speed=50"` for the tests and the measurements
/// in `docs/PERFORMANCE.md`). People set their options in their own `mpv.conf`; this is for
/// headless runs.
pub const MPV_ARGS_ENV: &str = "PLAYMARK_MPV_ARGS";

/// Progress updates reach the Downloads view at most this often.
const DOWNLOADS_REFRESH: Duration = Duration::from_millis(250);

/// The extra mpv options from [`MPV_ARGS_ENV`].
pub fn mpv_args() -> Vec<String> {
    std::env::var(MPV_ARGS_ENV)
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The play under way.
pub(super) struct PlayHandle {
    item: String,
    control: Arc<Mutex<Option<Arc<dyn PlaybackControl>>>>,
    /// Stop asked before the player ran: it is stopped as soon as it does.
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PlayHandle {
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(control) = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            control.stop();
        }
    }
}

/// The sentence for a play that failed, chosen from the failure's type.
fn play_failure(e: PlayError, server: &str, title: &str) -> String {
    match e {
        PlayError::Unreachable => tr(
            "{server} can't be reached and “{title}” is not downloaded. Download it while online to watch it offline.",
            &[("server", server), ("title", title)],
        ),
        PlayError::SignedOut | PlayError::SignInRefused => tr(
            "{server} did not accept the sign-in. Sign in again to play “{title}”.",
            &[("server", server), ("title", title)],
        ),
        PlayError::PlayerMissing(_) => player_missing(),
        PlayError::PlayerFailed(m) => tr("mpv could not be started: {reason}", &[("reason", &m)]),
        PlayError::NotOnServer(_) => tr(
            "“{title}” is no longer on {server}.",
            &[("server", server), ("title", title)],
        ),
        PlayError::NotOffered(_) => tr(
            "{server} did not offer “{title}” for playing.",
            &[("server", server), ("title", title)],
        ),
        PlayError::BadAnswer(_) => tr(
            "{server} did not answer as expected: “{title}” was not played.",
            &[("server", server), ("title", title)],
        ),
        PlayError::NothingPlayed(reason) => tr(
            "mpv could not play “{title}”: {reason}",
            &[("title", title), ("reason", &reason)],
        ),
        e => {
            tracing::warn!(error = %e, "play failed");
            tr(
                "“{title}” could not be played: {reason}",
                &[("title", title), ("reason", &e.to_string())],
            )
        }
    }
}

fn player_missing() -> String {
    gettext("Playing needs mpv, which is not installed. Install it with your package manager (Debian, Ubuntu: sudo apt install mpv; Fedora: sudo dnf install mpv; Arch: sudo pacman -S mpv), then start Playmark again.")
}

/// One play of `item_id`, from its resume point, through the engine (which runs meanwhile and
/// sends what the live reports do not deliver). The row follows each recorded checkpoint.
async fn play_one(
    engine: &Engine,
    data_dir: &Path,
    item_id: &str,
    control_slot: &Mutex<Option<Arc<dyn PlaybackControl>>>,
    stop: &AtomicBool,
    out: &relm4::Sender<SyncQueueOutput>,
) -> Result<(), String> {
    let account_id = engine.account();
    let (account, item) = engine
        .with_store(|s| {
            Ok::<_, crate::store::StoreError>((
                s.account_by_id(account_id)?,
                s.item(account_id, item_id)?,
            ))
        })
        .map_err(store_failed)?;
    let (Some(account), Some(item)) = (account, item) else {
        return Err(gettext("This item is no longer in the library."));
    };
    let fail = |e| play_failure(e, &account.server_name, &item.name);
    let player = MpvPlayer::find(mpv_args(), true).map_err(|e| fail(e.into()))?;
    let clients = playback_clients(data_dir, &account).await.map_err(fail)?;
    let args = PlayArgs {
        id: item.item_id.clone(),
        from_start: false,
        start: None,
        mpv_args: Vec::new(),
    };
    let start_ms = start_position(&args, &item).map_err(fail)?;
    play_with(
        engine,
        &clients,
        &account,
        &item,
        start_ms,
        &player,
        |_, control| {
            let pid = control.pid();
            *control_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(control.clone());
            if stop.load(Ordering::SeqCst) {
                control.stop();
            }
            let _ = out.send(SyncQueueOutput::Playing {
                item: Some(item_id.to_string()),
                pid,
            });
        },
        |_, _| send_item(engine, out, item_id),
    )
    .await
    .map_err(fail)?;
    Ok(())
}

/// The `keep_downloading_when_closed` setting, from the database `playmark settings` changes
/// (the data directory's, also while the demo library runs from its `demo/` folder). Read again
/// whenever a download starts or ends, so a change applies without a restart.
fn keep_running(settings_db: &Path) -> bool {
    match Store::open(settings_db).and_then(|s| s.settings()) {
        Ok(s) => s.keep_downloading_when_closed,
        Err(e) => {
            tracing::warn!(error = %e, "settings not read; downloads stop with the window");
            false
        }
    }
}

fn send_downloads(d: &Downloader, out: &relm4::Sender<SyncQueueOutput>, keep_running: bool) {
    match d.list() {
        Ok(rows) => {
            let _ = out.send(SyncQueueOutput::Downloads { rows, keep_running });
        }
        Err(e) => tracing::warn!(error = %e, "cannot list the downloads"),
    }
}

/// Tell the UI where the downloads stand: at once for a start, an end or a failure (with a
/// message), progress at most every [`DOWNLOADS_REFRESH`].
async fn forward_downloads(
    d: Arc<Downloader>,
    out: relm4::Sender<SyncQueueOutput>,
    settings_db: PathBuf,
) {
    let mut events = d.subscribe();
    let mut keep = keep_running(&settings_db);
    send_downloads(&d, &out, keep);
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let deadline = due;
        let event = tokio::select! {
            e = events.recv() => e,
            _ = until(deadline) => {
                due = None;
                send_downloads(&d, &out, keep);
                continue;
            }
        };
        match event {
            Ok(DownloadEvent::Progress { .. }) => {
                due.get_or_insert_with(|| tokio::time::Instant::now() + DOWNLOADS_REFRESH);
            }
            Ok(DownloadEvent::Failed {
                item_id, message, ..
            }) => {
                keep = keep_running(&settings_db);
                send_downloads(&d, &out, keep);
                let title = d
                    .list()
                    .ok()
                    .and_then(|rows| rows.into_iter().find(|r| r.item_id == item_id))
                    .map(|r| r.name)
                    .unwrap_or(item_id);
                let _ = out.send(SyncQueueOutput::Message {
                    text: tr(
                        "“{title}” could not be downloaded: {reason}",
                        &[("title", &title), ("reason", &message)],
                    ),
                });
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {
                keep = keep_running(&settings_db);
                send_downloads(&d, &out, keep);
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// The download queue of the running account: its own store connection (the engine keeps
/// its own), the account's server client, the download folder setting.
fn account_downloader(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    data_dir: &Path,
) -> Result<Arc<Downloader>, String> {
    let mut store = Store::open(&database_path(data_dir)).map_err(store_failed)?;
    let account = store
        .account_by_id(engine.account())
        .map_err(store_failed)?
        .ok_or_else(|| gettext("No account is signed in. Sign in again."))?;
    let server = runtime
        .block_on(crate::account::session::account_client(
            data_dir,
            &account,
            ClientOptions::default(),
        ))
        .map_err(|e| {
            tracing::warn!(error = ?e, "no client for downloads");
            gettext("Downloads need the sign-in, which could not be read. Sign in again.")
        })?;
    let settings = store.settings().map_err(store_failed)?;
    let mut config = DownloadConfig::new(settings.download_folder_in(data_dir));
    config.user_name = account.user_name.clone();
    // Downloads left running by an earlier run (closed window, crash) go on from their `.part`.
    store
        .recover_download_leases(SystemClock.now())
        .map_err(store_failed)?;
    Ok(Arc::new(Downloader::new(
        store,
        account.id,
        Some(server),
        Arc::new(SystemClock),
        config,
    )))
}

impl SyncQueue {
    /// ▶ on `item`: see the module doc for one play at a time.
    pub(super) fn play(
        &mut self,
        engine: Engine,
        item: String,
        out: &relm4::Sender<SyncQueueOutput>,
    ) {
        let Some(data_dir) = self.data_dir.clone() else {
            return;
        };
        let previous = self.play.take().filter(|p| !p.task.is_finished());
        if let Some(p) = &previous {
            p.stop();
            if p.item == item {
                // ▶ on the item that plays: stopped; its task records the stop and ends.
                self.play = previous;
                return;
            }
        }
        let previous = previous.map(|p| p.task);
        let runtime = match self.runtime() {
            Ok(rt) => rt.handle().clone(),
            Err(text) => {
                let _ = out.send(SyncQueueOutput::Message { text });
                return;
            }
        };
        let control: Arc<Mutex<Option<Arc<dyn PlaybackControl>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (control, stop, out, item) =
                (control.clone(), stop.clone(), out.clone(), item.clone());
            runtime.spawn(async move {
                if let Some(previous) = previous {
                    // The one playing records its stop first.
                    let _ = previous.await;
                }
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let result = play_one(&engine, &data_dir, &item, &control, &stop, &out).await;
                let _ = out.send(SyncQueueOutput::Playing {
                    item: None,
                    pid: None,
                });
                if let Err(text) = result {
                    let _ = out.send(SyncQueueOutput::Message { text });
                    // The server may be down: a pull finds out, and the header says so.
                    engine.pull_soon();
                }
                send_item(&engine, &out, &item);
                // What the live reports did not deliver goes through the outbox now.
                if let Err(e) = engine.sync_now() {
                    tracing::warn!(error = %e, "queued changes not made due");
                }
            })
        };
        self.play = Some(PlayHandle {
            item,
            control,
            stop,
            task,
        });
    }

    /// Start the download queue of the running account (it runs until the engine stops).
    pub(super) fn start_downloads(
        &mut self,
        engine: &Engine,
        data_dir: &Path,
        out: &relm4::Sender<SyncQueueOutput>,
    ) {
        let settings_db = database_path(&self.base_dir());
        let Ok(runtime) = self.runtime() else {
            return;
        };
        let d = match account_downloader(runtime, engine, data_dir) {
            Ok(d) => d,
            Err(text) => {
                tracing::warn!(%text, "downloads not available");
                return;
            }
        };
        let run = {
            let d = d.clone();
            runtime.spawn(async move {
                // Until the engine stops (the task is aborted then): `Some(never)` keeps the
                // queue waiting for new downloads instead of returning when it is empty.
                let never = |_: &[DownloadRow]| false;
                if let Err(e) = d.run(Some(&never)).await {
                    tracing::error!(error = %e, "the download queue stopped");
                }
            })
        };
        let forward = runtime.spawn(forward_downloads(d.clone(), out.clone(), settings_db));
        self.tasks.push(run);
        self.tasks.push(forward);
        self.downloader = Some(d);
    }

    /// Queue a download of `item` (an episode or movie, or every episode of a season or
    /// series); a paused or failed one asked for again is queued again.
    pub(super) fn download(&self, item: &str, out: &relm4::Sender<SyncQueueOutput>) {
        let Some(d) = &self.downloader else {
            let _ = out.send(SyncQueueOutput::Message {
                text: gettext("Downloads are not available for this library."),
            });
            return;
        };
        let queued = d.enqueue(&[item.to_string()]).and_then(|targets| {
            let ids: Vec<String> = targets.into_iter().map(|t| t.item_id).collect();
            d.resume(&ids)
        });
        if let Err(e) = queued {
            let _ = out.send(SyncQueueOutput::Message {
                text: store_failed(e),
            });
        }
        send_downloads(d, out, keep_running(&database_path(&self.base_dir())));
    }

    /// Pause, resume or remove one download.
    pub(super) fn download_control(
        &self,
        item: &str,
        action: DownloadAction,
        out: &relm4::Sender<SyncQueueOutput>,
    ) {
        let Some(d) = &self.downloader else {
            return;
        };
        let ids = [item.to_string()];
        let done = match action {
            DownloadAction::Pause => d.pause(&ids),
            DownloadAction::Resume => d.resume(&ids),
            DownloadAction::Remove => d.remove(&ids),
        };
        if let Err(e) = done {
            let _ = out.send(SyncQueueOutput::Message {
                text: store_failed(e),
            });
        }
        send_downloads(d, out, keep_running(&database_path(&self.base_dir())));
    }

    /// Stop the play (its stop is recorded, waiting a few seconds for it) and the downloads
    /// (back to the queue with their `.part` files: they go on at the next start).
    pub(super) fn stop_play_and_downloads(&mut self) {
        if let Some(p) = self.play.take().filter(|p| !p.task.is_finished()) {
            p.stop();
            if let Some(rt) = &self.runtime {
                // The timer is made inside the runtime (it needs its clock).
                let _ = rt
                    .block_on(async { tokio::time::timeout(Duration::from_secs(5), p.task).await });
            }
        }
        if let Some(d) = self.downloader.take() {
            if let Err(e) = d.with_store(|s| s.release_own_downloads()) {
                tracing::warn!(error = %e, "running downloads not released");
            }
        }
    }
}
