//! Mirroring while something runs (issue 21, item 5): a pass when a member's live socket
//! reports a change (Jellyfin: watched changes and stops, not progress saves), and one at
//! every pull interval for what no socket reports (Plex's, progress saves, a socket that is
//! down). `playmark mirror watch` runs it until Ctrl-C; the app can run the same loop.
//!
//! Each member with a live channel gets a listening engine of its own (the same live loop as
//! the app's, [`Engine::run_live`]); a live message that changes what the store knows
//! ([`SyncEvent::Merged`]) asks for a pass. Messages arriving close together (a season marked
//! watched is one message per episode) are gathered for [`WatchOptions::settle`] first, so
//! they make one pass. The passes themselves are [`super::pass::run_pass_with`]'s.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::pass::{run_pass_with, MemberEngines, PassError, PassOptions, PassReport};
use crate::clock::Clock;
use crate::store::Store;
use crate::sync::{Engine, SyncEvent};

/// How the watch loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// A pass at least this often, whatever the sockets say.
    pub interval: Duration,
    /// After a live change, wait this long for more before the pass.
    pub settle: Duration,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            interval: Duration::from_secs(15 * 60),
            settle: Duration::from_millis(300),
        }
    }
}

/// Why a pass ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The first pass, when the loop starts.
    Start,
    /// A member's live socket reported a change.
    Live,
    /// The pull interval came round.
    Interval,
}

/// Run passes of `groups` (each by its id) when a member's live socket reports a change and at
/// every `options.interval`, until `stop` completes. `report` hears of every pass. The
/// listening engines are built by `engines` (over their own stores on `db`).
pub async fn watch(
    db: &Path,
    groups: &[i64],
    options: WatchOptions,
    clock: Arc<dyn Clock>,
    engines: &dyn MemberEngines,
    stop: impl Future<Output = ()>,
    mut report: impl FnMut(Trigger, i64, Result<PassReport, PassError>),
) -> Result<(), PassError> {
    let store = Store::open(db)?;
    let mut members = Vec::new();
    for g in store.mirror_groups()? {
        if groups.contains(&g.id) {
            for m in g.members {
                if !members.contains(&m) {
                    members.push(m);
                }
            }
        }
    }
    let changed = Arc::new(Notify::new());
    let mut listeners: Vec<Engine> = Vec::new();
    let mut tasks = Vec::new();
    for id in members {
        let Some(account) = store.account_by_id(id)? else {
            continue;
        };
        let Ok(engine) = engines.engine(db, &account).await else {
            continue;
        };
        let mut events = engine.subscribe();
        let notify = changed.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(SyncEvent::Merged { .. }) => notify.notify_one(),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => notify.notify_one(),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }));
        let live = engine.clone();
        tasks.push(tokio::spawn(async move { live.run_live().await }));
        listeners.push(engine);
    }
    drop(store);

    let run = |trigger: Trigger| {
        let clock = clock.clone();
        async move {
            let mut out = Vec::new();
            for g in groups {
                let options = PassOptions {
                    sync: true,
                    ..PassOptions::default()
                };
                out.push((
                    trigger,
                    *g,
                    run_pass_with(db, *g, options, clock.clone(), engines).await,
                ));
            }
            out
        }
    };

    tokio::pin!(stop);
    let mut trigger = Some(Trigger::Start);
    loop {
        if let Some(t) = trigger.take() {
            let passes = tokio::select! {
                r = run(t) => r,
                _ = &mut stop => break,
            };
            for (t, g, r) in passes {
                report(t, g, r);
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = changed.notified() => {
                tokio::select! {
                    _ = tokio::time::sleep(options.settle) => {}
                    _ = &mut stop => break,
                }
                trigger = Some(Trigger::Live);
            }
            _ = tokio::time::sleep(options.interval) => trigger = Some(Trigger::Interval),
        }
    }
    for e in &listeners {
        e.shutdown();
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}
