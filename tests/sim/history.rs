//! What a history is made of: its parameters and steps (generated from a seed), and the
//! changes the devices reported as recorded.

use std::fmt;

use playmark::model::{Millis, ServerKind};
use playmark::sync::{EngineConfig, Policy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The visible part of a play state: what the user sees and what the checker compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value {
    pub position_ms: i64,
    pub played: bool,
}

impl Value {
    pub fn of(u: &playmark::model::UserData) -> Value {
        Value {
            position_ms: u.position_ms,
            played: u.played,
        }
    }

    /// Order of progress (as furthest-progress orders it): watched beats any position.
    pub fn progress(&self) -> (bool, i64) {
        (self.played, self.position_ms)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.played {
            f.write_str("watched")
        } else {
            write!(f, "{}s", self.position_ms / 1000)
        }
    }
}

/// A local change the scheduler makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Seek to this fraction (per mille) of the runtime: forward or back, whatever the item
    /// was at.
    Position {
        permille: u16,
    },
    /// Back to the beginning (position 0).
    Restart,
    Watched,
    Unwatched,
}

/// Which request an armed fault (or a crash's hold) waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The next request the server receives (most often a sync's batched read).
    Next,
    /// The first call that changes play state (`RequestMatch::user_data_writes`).
    Write,
    /// The first call on the season as a whole (a bulk sent as one group call).
    GroupWrite,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Next => Ok(()),
            Target::Write => f.write_str(" on the first write"),
            Target::GroupWrite => f.write_str(" on the first season write"),
        }
    }
}

/// A server fault armed for a request the server receives (see [`Target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Status5xx(u16),
    /// 429 with `Retry-After` seconds.
    TooMany(u64),
    /// Connection reset before any response.
    Reset,
    /// 200 whose body stops half way (the request was applied).
    ResetMidBody,
    /// 200 with a truncated JSON body (the request was not applied).
    TruncatedJson,
    /// The server never answers; the client times out; the request is dropped.
    Timeout,
    /// The server holds the request until the client gave up, then applies it.
    LateWrite,
    /// The server applies the request, then closes the connection without an answer.
    AppliedReset,
    /// The server applies the request at once, but its answer never comes: the client times
    /// out.
    AppliedTimeout,
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Status5xx(_) => "5xx",
            FaultKind::TooMany(_) => "429+Retry-After",
            FaultKind::Reset => "reset",
            FaultKind::ResetMidBody => "reset mid-body",
            FaultKind::TruncatedJson => "truncated JSON",
            FaultKind::Timeout => "timeout",
            FaultKind::LateWrite => "write applied after the client gave up",
            FaultKind::AppliedReset => "applied, then reset",
            FaultKind::AppliedTimeout => "applied, then timeout",
        }
    }

    /// The kinds only the write-targeted fault mix (`Params::write_faults`) arms.
    pub const WRITE_NAMES: [&'static str; 2] = ["applied, then reset", "applied, then timeout"];

    pub const NAMES: [&'static str; 7] = [
        "5xx",
        "429+Retry-After",
        "reset",
        "reset mid-body",
        "truncated JSON",
        "timeout",
        "write applied after the client gave up",
    ];
}

/// One step of a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Change {
        dev: usize,
        item: usize,
        change: Change,
    },
    /// Mark the season watched / not watched (one bulk action).
    Bulk {
        dev: usize,
        played: bool,
    },
    /// Let the device's engine send what it can now (`now`: "Sync now" first, skipping the
    /// debounce and backoff).
    Sync {
        dev: usize,
        now: bool,
    },
    /// A library scan (pull) on the device.
    Pull {
        dev: usize,
    },
    /// A pull whose answers are slow: each is computed when its request arrives and held while
    /// the same device sends what it can, then delivered (the app's pull and drain loops run
    /// side by side; the listing describes the server before the writes).
    PullDuringSync {
        dev: usize,
    },
    /// A live message about one item reaches the device (Jellyfin).
    Live {
        dev: usize,
        item: usize,
    },
    /// Time passes (for every device and the server).
    Advance {
        ms: i64,
    },
    Fault {
        kind: FaultKind,
        target: Target,
    },
    /// Cut or heal the device's network link.
    Partition {
        dev: usize,
    },
    /// The device's process dies: at rest, or in the middle of a request (the next one, or
    /// its first write: `target`), which the server then applies, or not, after the kill,
    /// leaving its leases behind; it starts again on the same file.
    Crash {
        dev: usize,
        mid_request: Option<bool>,
        target: Target,
    },
    /// The app switches accounts while its engine's write is held by the server: a new engine
    /// opens on the same data directory, the old one is shut down and its run task aborted
    /// (its future dropped, as `SyncQueue::stop_engine` does); the server then applies the
    /// write, or not.
    Abort {
        dev: usize,
        apply: bool,
    },
    /// Two engines on one data directory at once (the app and a CLI `sync`): while the app's
    /// engine waits on a write the server holds, a second engine on the same file syncs to
    /// the end; then the server applies and answers the held write.
    TwoEngines {
        dev: usize,
    },
    /// The server restarts: open connections and held requests die, it answers 503 once.
    ServerRestart,
    /// Another program holds the device's database (`BEGIN EXCLUSIVE`, the engine's busy
    /// timeout short) from the point `at` names while the device syncs; the lock is released
    /// once the sync ran into it (its `StoreTrouble`), and the sync goes on.
    StoreLocked {
        dev: usize,
        at: LockAt,
    },
    /// A live message computed `back` steps ago (the server's user data of the item then)
    /// reaches the device now: delayed, out of order with everything since. Delivered as the
    /// app's live loop takes it (`Engine::apply_live_hint`: the item is read again), or as it
    /// says it with `PLAYMARK_SIM_LIVE_AS_SENT=1` (`Engine::apply_live_user_data`).
    StaleLive {
        dev: usize,
        item: usize,
        back: usize,
    },
    /// The device plays an item while cut off from the server (it partitions, unless it is
    /// already): `checkpoints` player checkpoints (`LocalChange::Playback`, 15 s of play
    /// apart, from where the device shows the item), the last one at the end (`finish`: the
    /// item watched) or not; then the link comes back and the device syncs. What a play
    /// records follows the server (src/player/session.rs): Jellyfin counts the play and
    /// un-watches the item at the first checkpoint, Plex counts it when it is finished.
    OfflinePlay {
        dev: usize,
        item: usize,
        checkpoints: u8,
        finish: bool,
    },
}

/// Where another program takes the database lock in [`Op::StoreLocked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAt {
    /// Before the sync starts: its first transaction fails.
    Start,
    /// While the answer of its read (what the server holds for the batch) is on its way: the
    /// transaction that merges the read and plans the writes fails.
    Read,
    /// While the answer of its first write is on its way (the server applied it): the
    /// transaction that records the outcome fails.
    Write,
}

impl Op {
    /// The device the step acts on, if it acts on one.
    pub fn device(&self) -> Option<usize> {
        match *self {
            Op::Change { dev, .. }
            | Op::Bulk { dev, .. }
            | Op::Sync { dev, .. }
            | Op::Pull { dev }
            | Op::PullDuringSync { dev }
            | Op::Live { dev, .. }
            | Op::Partition { dev }
            | Op::Crash { dev, .. }
            | Op::Abort { dev, .. }
            | Op::TwoEngines { dev }
            | Op::StoreLocked { dev, .. }
            | Op::StaleLive { dev, .. }
            | Op::OfflinePlay { dev, .. } => Some(dev),
            Op::Advance { .. } | Op::Fault { .. } | Op::ServerRestart => None,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Change { dev, item, change } => write!(f, "d{dev} change item {item} {change:?}"),
            Op::Bulk { dev, played } => write!(f, "d{dev} bulk season played={played}"),
            Op::Sync { dev, now } => write!(f, "d{dev} sync{}", if *now { " now" } else { "" }),
            Op::Pull { dev } => write!(f, "d{dev} pull"),
            Op::PullDuringSync { dev } => write!(f, "d{dev} pull, sending meanwhile"),
            Op::Live { dev, item } => write!(f, "d{dev} live message item {item}"),
            Op::Advance { ms } => write!(f, "advance {ms}ms"),
            Op::Fault { kind, target } => write!(f, "server fault {kind:?}{target}"),
            Op::Partition { dev } => write!(f, "d{dev} partition toggle"),
            Op::Crash {
                dev,
                mid_request,
                target,
            } => match mid_request {
                None => write!(f, "d{dev} crash"),
                Some(apply) => {
                    write!(
                        f,
                        "d{dev} crash mid-request{target} (server applies: {apply})"
                    )
                }
            },
            Op::Abort { dev, apply } => write!(
                f,
                "d{dev} engine aborted mid-write (server applies: {apply})"
            ),
            Op::TwoEngines { dev } => write!(f, "d{dev} second engine syncs while a write is held"),
            Op::ServerRestart => write!(f, "server restart"),
            Op::StoreLocked { dev, at } => {
                write!(f, "d{dev} database locked by another program at {at:?}")
            }
            Op::OfflinePlay {
                dev,
                item,
                checkpoints,
                finish,
            } => write!(
                f,
                "d{dev} plays item {item} offline, {checkpoints} checkpoints{}",
                if *finish { ", to the end" } else { "" }
            ),
            Op::StaleLive { dev, item, back } => write!(
                f,
                "d{dev} live message item {item}, computed {back} steps ago"
            ),
        }
    }
}

/// The policies of a history: one for every device, or (the mixed run) one per device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policies {
    One(Policy),
    Mixed(Vec<Policy>),
}

/// Everything about a history except its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub seed: u64,
    pub kind: ServerKind,
    pub devices: usize,
    pub policies: Policies,
    /// Each device's clock skew (ms), within ±10 minutes.
    pub skews: Vec<i64>,
    /// The engine reads what the server holds before writing (the fix of the lost update).
    pub read_before_write: bool,
    /// Faults also target writes (the first write, a season write), with the kinds where the
    /// server applied the write and the answer was lost, crashes while a write is held,
    /// engines aborted mid-write and two engines on one data directory
    /// (`PLAYMARK_SIM_WRITE_FAULTS=1`). Off: the histories of before, draw for draw.
    pub write_faults: bool,
    /// Delayed live messages ([`Op::StaleLive`]) are merged as they say it
    /// (`Engine::apply_live_user_data`), not read again (`PLAYMARK_SIM_LIVE_AS_SENT=1`): the
    /// variant that shows why the app's live loop reads again.
    pub live_as_sent: bool,
}

impl Params {
    pub fn policy_of(&self, d: usize) -> Policy {
        match &self.policies {
            Policies::One(p) => *p,
            Policies::Mixed(ps) => ps[d % ps.len()],
        }
    }

    pub fn engine_config(&self, d: usize) -> EngineConfig {
        EngineConfig {
            debounce_ms: 500,
            // One request at a time, so the order requests reach the server (and which one an
            // armed fault hits) is the same on every run.
            concurrency: 1,
            seed: Some(self.seed.wrapping_mul(31).wrapping_add(d as u64)),
            read_before_write: self.read_before_write,
            ..EngineConfig::default()
        }
    }

    /// Do the device clocks agree (no skew)?
    pub fn clocks_in_order(&self) -> bool {
        self.skews.iter().all(|s| *s == 0)
    }

    pub fn describe(&self) -> String {
        let policies = match &self.policies {
            Policies::One(p) => p.to_string(),
            Policies::Mixed(ps) => format!(
                "mixed [{}]",
                ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            ),
        };
        format!(
            "seed {} on {}: {} devices, policy {policies}, clock skews {:?} ms, read-before-write {}{}",
            self.seed,
            self.kind.as_str(),
            self.devices,
            self.skews,
            self.read_before_write,
            if self.write_faults {
                ", write-targeted faults"
            } else {
                ""
            }
        ) + if self.live_as_sent {
            ", delayed live messages merged as sent"
        } else {
            ""
        }
    }
}

/// A seed's history: parameters and steps. `kind` and `mixed` are chosen by the caller (runs
/// alternate them); everything else comes from the seed.
pub fn generate(
    seed: u64,
    kind: ServerKind,
    mixed: bool,
    read_before_write: bool,
    write_faults: bool,
) -> (Params, Vec<Op>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let devices = rng.gen_range(2..=4);
    let policies = if mixed {
        Policies::Mixed(
            (0..devices)
                .map(|_| Policy::ALL[rng.gen_range(0..4)])
                .collect(),
        )
    } else {
        Policies::One(Policy::ALL[rng.gen_range(0..4)])
    };
    // Half of the histories keep the clocks in order (the only ones where last-writer-wins
    // promises anything about resurrection); the others skew each device by up to ±10 min.
    let skewed = rng.gen_bool(0.5);
    let skews = (0..devices)
        .map(|_| {
            if skewed {
                rng.gen_range(-600_000..=600_000)
            } else {
                0
            }
        })
        .collect();
    let params = Params {
        seed,
        kind,
        devices,
        policies,
        skews,
        read_before_write,
        write_faults,
        live_as_sent: false,
    };
    let steps = rng.gen_range(40..=60);
    let items = 6;
    let ops = (0..steps)
        .map(|_| {
            let dev = rng.gen_range(0..devices);
            match rng.gen_range(0..100) {
                0..=27 => Op::Change {
                    dev,
                    item: rng.gen_range(0..items),
                    change: match rng.gen_range(0..10) {
                        0..=5 => Change::Position {
                            permille: rng.gen_range(1..1000),
                        },
                        6 => Change::Restart,
                        7 | 8 => Change::Watched,
                        _ => Change::Unwatched,
                    },
                },
                28..=30 => Op::Bulk {
                    dev,
                    played: rng.gen_bool(0.6),
                },
                31..=50 => Op::Sync {
                    dev,
                    now: rng.gen_bool(0.4),
                },
                51..=56 => Op::Pull { dev },
                57..=59 => Op::PullDuringSync { dev },
                60..=63 => Op::Live {
                    dev,
                    item: rng.gen_range(0..items),
                },
                64..=75 => Op::Advance {
                    ms: *[200, 1_000, 5_000, 30_000, 120_000, 600_000]
                        .get(rng.gen_range(0..6))
                        .unwrap_or(&1_000),
                },
                76..=88 => {
                    let kind = match rng.gen_range(0..8) {
                        0 => FaultKind::Status5xx(500),
                        1 => FaultKind::Status5xx(503),
                        2 => FaultKind::TooMany(rng.gen_range(1..=120)),
                        3 => FaultKind::Reset,
                        4 => FaultKind::ResetMidBody,
                        5 => FaultKind::TruncatedJson,
                        6 => FaultKind::Timeout,
                        _ => FaultKind::LateWrite,
                    };
                    if write_faults {
                        write_fault(&mut rng, kind)
                    } else {
                        Op::Fault {
                            kind,
                            target: Target::Next,
                        }
                    }
                }
                89..=92 => Op::Partition { dev },
                93..=97 => {
                    let mid_request = match rng.gen_range(0..3) {
                        0 => None,
                        1 => Some(false),
                        _ => Some(true),
                    };
                    if write_faults {
                        // Half the crashes hit a held write; a few are account switches
                        // (the run aborted) or a second engine syncing beside a held write.
                        match rng.gen_range(0..10) {
                            0 | 1 => Op::Abort {
                                dev,
                                apply: rng.gen_bool(0.5),
                            },
                            2 | 3 => Op::TwoEngines { dev },
                            4..=7 => Op::Crash {
                                dev,
                                mid_request: Some(mid_request.unwrap_or(true)),
                                target: Target::Write,
                            },
                            _ => Op::Crash {
                                dev,
                                mid_request,
                                target: Target::Next,
                            },
                        }
                    } else {
                        Op::Crash {
                            dev,
                            mid_request,
                            target: Target::Next,
                        }
                    }
                }
                _ => Op::ServerRestart,
            }
        })
        .collect();
    let ops = if write_faults {
        with_extra_steps(seed, devices, items, ops)
    } else {
        ops
    };
    (params, ops)
}

/// The steps only the write-targeted mix has beside its faults (a locked database, a delayed
/// live message, a play while offline), drawn from their own generator and inserted among the steps drawn above, so
/// those stay as they were.
fn with_extra_steps(seed: u64, devices: usize, items: usize, mut ops: Vec<Op>) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5354_4550);
    let extra = rng.gen_range(3..=8);
    for _ in 0..extra {
        let at = rng.gen_range(0..=ops.len());
        let dev = rng.gen_range(0..devices);
        let op = match rng.gen_range(0..3) {
            0 => Op::StoreLocked {
                dev,
                at: [LockAt::Start, LockAt::Read, LockAt::Write][rng.gen_range(0..3)],
            },
            1 => Op::StaleLive {
                dev,
                item: rng.gen_range(0..items),
                back: rng.gen_range(1..=12),
            },
            _ => Op::OfflinePlay {
                dev,
                item: rng.gen_range(0..items),
                checkpoints: rng.gen_range(1..=4),
                finish: rng.gen_bool(0.4),
            },
        };
        ops.insert(at, op);
    }
    ops
}

/// The write-targeted fault mix: a quarter of the faults stay on the next request (`kind` as
/// drawn); the others wait for the first write (or, one in four, the first season write) and
/// are, two times in three, a kind where the server applied the write and the answer was lost.
fn write_fault(rng: &mut StdRng, kind: FaultKind) -> Op {
    match rng.gen_range(0..4) {
        0 => Op::Fault {
            kind,
            target: Target::Next,
        },
        _ => {
            let target = if rng.gen_range(0..4) == 0 {
                Target::GroupWrite
            } else {
                Target::Write
            };
            let kind = if rng.gen_range(0..3) == 0 {
                kind
            } else {
                match rng.gen_range(0..4) {
                    0 => FaultKind::ResetMidBody,
                    1 => FaultKind::LateWrite,
                    2 => FaultKind::AppliedReset,
                    _ => FaultKind::AppliedTimeout,
                }
            };
            Op::Fault { kind, target }
        }
    }
}

/// A change a device reported as recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: usize,
    pub device: usize,
    /// Index into the world's playable items.
    pub item: usize,
    /// Position of the step in the history's log.
    pub step: usize,
    /// The state the device reported.
    pub value: Value,
    /// What the device showed for the item just before.
    pub before: Value,
    /// The device's base (the server's value as it last saw it) just before.
    pub base: Value,
    /// The device's clock when it was made.
    pub at: Millis,
    /// Log position of the device's last contact with the server about this item before it
    /// (a pull, a live message about it, a sync that read it); `None` when it had none.
    pub contact: Option<usize>,
    /// It carries a last-played date (an unwatch does not).
    pub dated: bool,
    /// It counts a play: it marked the item watched (a completed play), or it is the player's
    /// checkpoint that counts the play (`LocalChange::Playback { add_play: true, .. }`:
    /// Jellyfin at the start of a play, Plex when it is finished).
    pub watched: bool,
}

impl Recorded {
    /// An explicit unwatch or restart: the item goes back, relative to what the device showed
    /// and to its base.
    /// A play started over a watched item on Jellyfin (its start un-watches the item and dates
    /// it): its own device's merge takes it for progress, not an unwatch the person chose
    /// (`merge::is_play_over_watched`); another device's merge sees only the server's state,
    /// which an unwatch through the user-data endpoint leaves dated too, and takes it for a
    /// reset.
    pub fn is_play_over_watched(&self, from: &Value, kind: ServerKind) -> bool {
        kind != ServerKind::Plex && self.dated && from.played && !self.value.played
    }

    pub fn is_reset(&self, from: &Value) -> bool {
        let unwatch = from.played && !self.value.played;
        let restart = !self.value.played && self.value.position_ms == 0 && from.position_ms > 0;
        unwatch || restart
    }
}
