//! Starting, switching and stopping the account the worker runs: the demo library, a
//! signed-in account, sign-in and sign-out.

use super::*;

/// Remove the demo's previous database and token: the demo server starts from its seeded
/// library every time, so local state from an earlier run would not match it.
pub(super) fn reset_demo_dir(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("playmark.db") || name.starts_with("token-") {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

impl SyncQueue {
    pub(super) fn simulate(&self, fault: DevFault) {
        let Some(demo) = &self.demo else { return };
        match fault {
            DevFault::Offline { offline } => demo.set_offline(offline),
            // Replaces what an earlier button left armed (404s after "fail (500)" were wrong).
            DevFault::FailNext { count, status } => demo.replace_next(
                count,
                Fault::Status {
                    code: status,
                    retry_after: None,
                },
            ),
            DevFault::Random { fraction } if fraction > 0.0 => {
                demo.fail_fraction(fraction, Fault::random_mix(), rand::random())
            }
            DevFault::Random { .. } => demo.clear_faults(),
        }
    }

    pub(super) fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, String> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("playmark-sync")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the sync runtime: {e}"))?;
            self.runtime = Some(runtime);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| "no sync runtime".to_string())
    }

    /// The data directory of real accounts.
    pub(super) fn base_dir(&self) -> PathBuf {
        match &self.init {
            SyncQueueInit::Demo { data_dir, .. } | SyncQueueInit::DataDir { data_dir } => {
                data_dir.clone()
            }
        }
    }

    /// [`SyncQueue::start`], saying what stopped it.
    pub(super) fn start_or_say(&mut self, sender: &ComponentSender<Self>) {
        match self.start(sender) {
            Ok(()) => {}
            Err(StartError::Said(message)) => {
                tracing::error!(%message, "start-up failed");
                let _ = sender.output(SyncQueueOutput::Failed { message });
            }
            Err(StartError::NoDatabase { message, recovery }) => {
                tracing::error!(%message, ?recovery, "no database");
                let _ = sender.output(SyncQueueOutput::NoDatabase { message, recovery });
            }
        }
    }

    pub(super) fn start(&mut self, sender: &ComponentSender<Self>) -> Result<(), StartError> {
        // Playmark writes its database, tokens and settings in its data folder: one that
        // cannot be written is said as such (root ignores permission bits, so the folder is
        // asked by writing to it).
        let base = self.base_dir();
        if let Err(e) =
            std::fs::create_dir_all(&base).and_then(|()| crate::store::writable_probe(&base))
        {
            tracing::warn!(error = %e, folder = %base.display(), "data folder not writable");
            return Err(StartError::NoDatabase {
                message: crate::ui::i18n::tr(
                    "Playmark can't write to its data folder, {folder}. It keeps your library and the changes waiting to be sent there, so it needs to write to that folder: make it writable (or free space on its disk), then try again.",
                    &[("folder", &base.display().to_string())],
                ),
                recovery: Recovery::TryAgain,
            });
        }
        let mut given_server = None;
        let (data_dir, demo) = match &self.init {
            SyncQueueInit::Demo { data_dir, server } => {
                given_server = server.clone();
                (data_dir.clone(), true)
            }
            SyncQueueInit::DataDir { data_dir } => {
                let data_dir = data_dir.clone();
                // No database yet: a new user, the demo library. A database that cannot be
                // opened or read (damaged, from a newer Playmark, a full disk) is said, never
                // hidden behind the demo library as if the person were signed out.
                let db = database_path(&data_dir);
                let account = if db.exists() {
                    Store::open(&db)
                        .and_then(|s| s.account())
                        .map_err(|e| unusable_database(&db, e))?
                } else {
                    None
                };
                let has_account = match account {
                    // A locked keyring is said, not hidden behind the demo library.
                    Some(a) => self
                        .runtime()?
                        .block_on(crate::account::session::account_token(&data_dir, &a))
                        .map_err(|e| secret_failed(&e))?
                        .is_some(),
                    None => false,
                };
                if has_account {
                    (data_dir, false)
                } else {
                    (data_dir.join("demo"), true)
                }
            }
        };
        if demo {
            Ok(self.start_demo(&data_dir, given_server, sender)?)
        } else {
            let (engine, source) = self.runtime()?.block_on(account_engine(&data_dir))?;
            Ok(self.launch(engine, &data_dir, source, sender)?)
        }
    }

    pub(super) fn start_demo(
        &mut self,
        data_dir: &Path,
        given_server: Option<DemoServer>,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        self.prepare_demo(data_dir)?;
        let server = given_server.or_else(|| self.demo.clone());
        let (engine, server) = self.runtime()?.block_on(build_demo(data_dir, server))?;
        let url = server.url();
        self.demo = Some(server);
        self.launch(engine, data_dir, LibrarySource::Demo { url }, sender)
    }

    /// The demo's folder from its seeded start, with the person's settings.
    fn prepare_demo(&self, data_dir: &Path) -> Result<(), String> {
        reset_demo_dir(data_dir)
            .map_err(|e| format!("cannot reset the demo data in {}: {e}", data_dir.display()))?;
        self.copy_settings_to(data_dir)
    }

    /// Stop the current engine and its tasks.
    pub(super) fn stop_engine(&mut self) {
        self.stop_play_and_downloads();
        self.posters = None;
        self.relay = None;
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// Run `engine`: show what is stored at once, refresh from the server in the background,
    /// forward its events.
    pub(super) fn launch(
        &mut self,
        engine: Engine,
        data_dir: &Path,
        source: LibrarySource,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        self.stop_engine();
        let server_name = source.server_name();
        self.data_dir = Some(data_dir.to_path_buf());
        // The account state shown is the engine's own, never one left from the engine before
        // (an engine that starts signed in sends no event for it).
        let _ = sender.output(SyncQueueOutput::Launched {
            state: engine.account_state(),
        });
        // Home first: its rows are two queries away, the whole library (100,000 items) is not.
        send_home(&engine, sender.output_sender());
        let items = engine
            .with_store(|s| s.items(engine.account()))
            .map_err(|e| e.to_string())?;
        let index = LibraryIndex::of(&items);
        let _ = sender.output(SyncQueueOutput::Library {
            source: source.clone(),
            items,
            index,
        });
        let out = sender.output_sender().clone();
        let runtime = self.runtime()?;
        let relay = Relay::new(engine.clone(), out.clone(), server_name);
        // Subscribed with the snapshot before anything runs, so no event is missed: what is
        // queued from before (every badge and the list, the counts, the account's state; the
        // override notices of the last 7 days go to their rows, not toasted again).
        let (snapshot, events) = engine
            .subscribe_with_snapshot()
            .map_err(|e| e.to_string())?;
        relay.show(snapshot, false);
        let forward = runtime.spawn(forward_events(relay.clone(), events));
        let refresher = engine.clone();
        let run = runtime.spawn(async move {
            match refresher.pull(DEFAULT_PAGE_SIZE).await {
                Ok(_) => send_library(&refresher, source, &out),
                Err(e) => tracing::warn!(error = %e, "library refresh failed"),
            }
            // Send, pull and listen: the periodic pull counts the refresh above as its first
            // scan; the live socket (Jellyfin) brings other devices' changes within seconds.
            let (sent, (), ()) = tokio::join!(
                refresher.run(RunMode::Forever),
                refresher.run_pull(),
                refresher.run_live(),
            );
            if let Err(e) = sent {
                tracing::error!(error = %e, "sync engine stopped");
            }
        });
        self.tasks = vec![forward, run];
        let _ = sender.output(SyncQueueOutput::Player {
            available: crate::player::mpv::find_mpv().is_some(),
        });
        self.start_downloads(&engine, data_dir, sender.output_sender());
        self.posters = self
            .runtime()
            .and_then(|rt| posters::Posters::of(rt, &engine, data_dir))
            .map_err(|e| tracing::warn!(error = %e, "no posters"))
            .ok();
        self.relay = Some(relay);
        engine.set_foreground_pull(foreground_pull(self.foreground));
        self.engine = Some(engine);
        self.follow_mirrors(sender);
        Ok(())
    }

    /// Run `work` as a task of the worker's runtime: its result comes back to the worker as
    /// [`SyncQueueInput::Finished`], so the worker goes on answering meanwhile (it never waits
    /// on the network).
    ///
    /// The step runs on a blocking thread of the runtime, which drives its future: the store
    /// it holds across the server's answers is not `Sync`.
    fn spawn_step<F>(
        &mut self,
        sender: &ComponentSender<Self>,
        work: impl FnOnce() -> F + Send + 'static,
    ) -> Result<(), String>
    where
        F: std::future::Future<Output = Step>,
    {
        let input = sender.input_sender().clone();
        let runtime = self.runtime()?;
        let handle = runtime.handle().clone();
        runtime.spawn_blocking(move || {
            let step = handle.block_on(work());
            let _ = input.send(SyncQueueInput::Finished(Finished(step)));
        });
        Ok(())
    }

    /// A step spawned by [`SyncQueue::spawn_step`] is done.
    pub(super) fn finished(&mut self, step: Step, sender: &ComponentSender<Self>) {
        match step {
            Step::SignIn(result) => {
                let error = match result {
                    Ok(Switch {
                        engine,
                        source,
                        data_dir,
                    }) => {
                        engine.signed_in();
                        self.launch(engine, &data_dir, source, sender).err()
                    }
                    Err(error) => Some(error),
                };
                let _ = sender.output(SyncQueueOutput::SignInFinished { error });
            }
            Step::TokenForgotten(result) => {
                if let Err(message) = result.and_then(|()| self.switch_to_demo(sender)) {
                    let _ = sender.output(SyncQueueOutput::Failed { message });
                }
            }
            Step::Demo(result) => {
                self.switching = false;
                let launched = result.and_then(|(engine, server, data_dir)| {
                    let url = server.url();
                    self.demo = Some(server);
                    self.launch(engine, &data_dir, LibrarySource::Demo { url }, sender)
                });
                if let Err(message) = launched {
                    let _ = sender.output(SyncQueueOutput::Failed { message });
                }
                // What came while the engines switched goes to the new one, in order.
                for message in std::mem::take(&mut self.waiting) {
                    self.update(message, sender.clone());
                }
            }
        }
    }

    /// Sign in (address check, version check, credentials), store the account and its token,
    /// and switch to it, as a task ([`SyncQueueOutput::SignInFinished`] says how it went; the
    /// error is a sentence for the user).
    pub(super) fn sign_in(
        &mut self,
        url: String,
        user: String,
        password: Password,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        use crate::sign_in::{sign_in_jellyfin, SignInError};
        use crate::ui::format::{sign_in_error, SignInStep};
        let data_dir = self.base_dir();
        let work = move || async move {
            let mut store = Store::open(&database_path(&data_dir)).map_err(store_failed)?;
            sign_in_jellyfin(&mut store, &data_dir, &url, &user, &password.0, None)
                .await
                .map_err(|e| match e {
                    SignInError::Address(e) => sign_in_error(&e, SignInStep::Address, &url),
                    SignInError::Reach(e) => sign_in_error(&e, SignInStep::Reach, &url),
                    SignInError::Version(e) => sign_in_error(&e, SignInStep::Version, &url),
                    SignInError::Server(e) => sign_in_error(&e, SignInStep::Credentials, &url),
                    SignInError::Store(e) => store_failed(e),
                    SignInError::Secret(e) => secret_failed(&e),
                    SignInError::UnknownUser { .. } => unknown_plex_user(),
                })?;
            drop(store);
            Switch::to_account(data_dir).await
        };
        self.spawn_step(sender, move || async move { Step::SignIn(work().await) })
    }

    /// Sign in to a Plex server with a server token (the same steps as `playmark login plex`),
    /// and switch to it, as a task like [`SyncQueue::sign_in`].
    pub(super) fn sign_in_plex(
        &mut self,
        url: String,
        token: Password,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        use crate::sign_in::{sign_in_plex, PlexUserChoice, SignInError};
        use crate::ui::format::{sign_in_error, SignInStep};
        let token = token.0.trim().to_string();
        if token.is_empty() {
            return Err(crate::ui::i18n::gettext("Enter the server's Plex token."));
        }
        let data_dir = self.base_dir();
        let work = move || async move {
            let mut store = Store::open(&database_path(&data_dir)).map_err(store_failed)?;
            sign_in_plex(&mut store, &data_dir, &url, &token, PlexUserChoice::Ask)
                .await
                .map_err(|e| match e {
                    SignInError::Address(e) => sign_in_error(&e, SignInStep::Address, &url),
                    SignInError::Server(e) | SignInError::Reach(e) | SignInError::Version(e) => {
                        sign_in_error(&e, SignInStep::Token, &url)
                    }
                    SignInError::UnknownUser { .. } => unknown_plex_user(),
                    SignInError::Store(e) => store_failed(e),
                    SignInError::Secret(e) => secret_failed(&e),
                })?;
            drop(store);
            Switch::to_account(data_dir).await
        };
        self.spawn_step(sender, move || async move { Step::SignIn(work().await) })
    }

    /// Forget the token of the signed-in account (a task: the keyring is a bus call away) and
    /// show the demo library again.
    pub(super) fn sign_out(&mut self, sender: &ComponentSender<Self>) -> Result<(), String> {
        let data_dir = self.base_dir();
        let store = Store::open(&database_path(&data_dir)).map_err(store_failed)?;
        let account = store.account().map_err(store_failed)?;
        drop(store);
        let Some(account) = account.filter(|a| a.kind != ServerKind::Demo) else {
            return self.switch_to_demo(sender);
        };
        let forget = move || async move {
            let forgotten = async { TokenStore::open(&data_dir).await?.delete(&account).await };
            forgotten.await.map_err(|e| {
                tracing::warn!(error = %e, "token not removed");
                match e {
                    SecretError::Locked => secret_failed(&e),
                    _ => crate::ui::i18n::gettext(
                        "Could not sign out: the saved sign-in could not be removed from this computer.",
                    ),
                }
            })
        };
        self.spawn_step(sender, move || async move {
            Step::TokenForgotten(forget().await)
        })
    }

    /// Stop the running engine and start the demo's (its sign-in a task; what comes meanwhile
    /// waits for it, as it waited behind the switch before).
    fn switch_to_demo(&mut self, sender: &ComponentSender<Self>) -> Result<(), String> {
        self.stop_engine();
        let data_dir = self.base_dir().join("demo");
        self.prepare_demo(&data_dir)?;
        let server = self.demo.clone();
        self.spawn_step(sender, move || async move {
            Step::Demo(
                build_demo(&data_dir, server)
                    .await
                    .map(|(engine, server)| (engine, server, data_dir)),
            )
        })?;
        self.switching = true;
        Ok(())
    }
}

/// The demo server (`server`, or one started now) and its engine on `data_dir`.
async fn build_demo(
    data_dir: &Path,
    server: Option<DemoServer>,
) -> Result<(Engine, DemoServer), String> {
    let server = match server {
        Some(server) => server,
        None => DemoServer::start(DemoConfig::default())
            .await
            .map_err(|e| format!("cannot start the demo server: {e}"))?,
    };
    let engine = demo_engine(data_dir, &server.url()).await?;
    Ok((engine, server))
}

/// An account's engine, ready to run.
pub(super) struct Switch {
    engine: Engine,
    source: LibrarySource,
    data_dir: PathBuf,
}

impl Switch {
    /// The engine of the account signed in under `data_dir`.
    async fn to_account(data_dir: PathBuf) -> Result<Switch, String> {
        let (engine, source) = account_engine(&data_dir).await?;
        Ok(Switch {
            engine,
            source,
            data_dir,
        })
    }
}

/// A network step of the worker, done (see [`SyncQueue::spawn_step`]).
pub(super) enum Step {
    /// A sign-in, and the engine of its account.
    SignIn(Result<Switch, String>),
    /// The token of a sign-out was forgotten (or not).
    TokenForgotten(Result<(), String>),
    /// The demo's engine after a sign-out.
    Demo(Result<(Engine, DemoServer, PathBuf), String>),
}

/// A network step of the worker, done: sent by the worker to itself
/// ([`SyncQueueInput::Finished`]); nothing else makes one.
pub struct Finished(pub(super) Step);

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let step = match &self.0 {
            Step::SignIn(r) => ("SignIn", r.is_ok()),
            Step::TokenForgotten(r) => ("TokenForgotten", r.is_ok()),
            Step::Demo(r) => ("Demo", r.is_ok()),
        };
        f.debug_tuple("Finished").field(&step).finish()
    }
}
