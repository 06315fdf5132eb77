//! Who holds an `in_flight` lease, so a crashed process's — or a dropped engine's — rows come
//! back at once.
//!
//! A lease names its owner as `pid:starttime:instance`: the process (Linux `/proc/<pid>/stat`
//! field 22) and the [`Store`](super::Store) connection inside it that took the lease. When that
//! process no longer exists, or the pid now belongs to another process (different start time),
//! the rows it held are orphans and return to `pending` without waiting for the lease to expire.
//! Inside this process an owner is also dead once its connection was dropped (an engine that
//! was dropped mid-request, as the simulation's in-process "crash" does): live connections
//! register their instance number in a process-wide set. Another process's instances cannot be
//! seen, so a live process counts as alive whatever the instance. Where `/proc` is not readable
//! the owner counts as alive and the lease time decides. The older form `pid:starttime` (no
//! instance) is still understood.

use std::collections::HashSet;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Instance numbers of the connections of this process that are open.
fn live_instances() -> &'static Mutex<HashSet<u64>> {
    static LIVE: OnceLock<Mutex<HashSet<u64>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

fn live() -> std::sync::MutexGuard<'static, HashSet<u64>> {
    live_instances().lock().unwrap_or_else(|p| p.into_inner())
}

/// A lease owner of this process, registered as alive until dropped.
#[derive(Debug)]
pub struct LeaseOwner {
    id: String,
    instance: u64,
}

impl LeaseOwner {
    /// A new owner: this process, a fresh instance number.
    pub fn register() -> LeaseOwner {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let instance = NEXT.fetch_add(1, Ordering::Relaxed);
        live().insert(instance);
        LeaseOwner {
            id: format!("{}:{instance}", process_owner()),
            instance,
        }
    }

    /// The id written into `lease_owner`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for LeaseOwner {
    fn drop(&mut self) {
        live().remove(&self.instance);
    }
}

/// This process's id (`pid:starttime`, or `pid:?` when `/proc` cannot tell).
pub fn process_owner() -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(t) => format!("{pid}:{t}"),
        None => format!("{pid}:?"),
    }
}

/// Is the owner named `owner` still alive (its process running and, when it is this process,
/// its connection still open)?
pub fn owner_alive(owner: &str) -> bool {
    let mut parts = owner.splitn(3, ':');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return true;
    };
    let instance = parts.next();
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    if pid == std::process::id() && start == process_start() {
        return match instance.map(str::parse::<u64>) {
            Some(Ok(n)) => live().contains(&n),
            // This process, no (readable) instance: alive as long as the process is.
            _ => true,
        };
    }
    if start == "?" || fs::metadata("/proc/self/stat").is_err() {
        return true;
    }
    match start_time(pid) {
        None => false,
        Some(t) => t.to_string() == start,
    }
}

/// This process's start-time field as written in owner ids.
fn process_start() -> &'static str {
    static START: OnceLock<String> = OnceLock::new();
    START.get_or_init(|| match start_time(std::process::id()) {
        Some(t) => t.to_string(),
        None => "?".to_string(),
    })
}

/// Field 22 (starttime) of `/proc/<pid>/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted after its closing parenthesis.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = process_owner();
        assert!(!me.ends_with(":?"));
        assert!(owner_alive(&me));
        let pid: u32 = me.split(':').next().unwrap().parse().unwrap();
        // Same pid, other start time: the pid was reused.
        assert!(!owner_alive(&format!("{pid}:1")));
        assert!(!owner_alive(&format!("{pid}:1:7")));
        // A child that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let owner = format!("{}:{}", child.id(), start_time(child.id()).unwrap_or(0));
        child.wait().unwrap();
        assert!(!owner_alive(&owner));
        assert!(!owner_alive(&format!("{owner}:3")));
        // Unknown formats are not declared dead.
        assert!(owner_alive("garbage"));
    }

    #[test]
    fn an_instance_of_this_process_dies_with_its_owner() {
        let a = LeaseOwner::register();
        let b = LeaseOwner::register();
        assert_ne!(a.id(), b.id());
        assert!(a.id().starts_with(&process_owner()));
        assert!(owner_alive(a.id()) && owner_alive(b.id()));
        let dead = a.id().to_string();
        drop(a);
        assert!(
            !owner_alive(&dead),
            "a dropped connection's leases are orphans"
        );
        assert!(owner_alive(b.id()));
        // An instance number this process never handed out is not alive either.
        assert!(!owner_alive(&format!("{}:{}", process_owner(), u64::MAX)));
    }
}
