//! Who holds an `in_flight` lease, so a crashed process's rows come back at once.
//!
//! A lease names its owner as `pid:starttime` (Linux `/proc/<pid>/stat` field 22). When that
//! process no longer exists, or the pid now belongs to another process (different start time),
//! the rows it held are orphans and return to `pending` without waiting for the lease to
//! expire. Where `/proc` is not readable the owner counts as alive and the lease time decides.

use std::fs;

/// This process's lease-owner id.
pub fn current_owner() -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(t) => format!("{pid}:{t}"),
        None => format!("{pid}:?"),
    }
}

/// Is the process named by `owner` still running?
pub fn owner_alive(owner: &str) -> bool {
    let Some((pid, start)) = owner.split_once(':') else {
        return true;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return true;
    };
    if start == "?" || fs::metadata("/proc/self/stat").is_err() {
        return true;
    }
    match start_time(pid) {
        None => false,
        Some(t) => t.to_string() == start,
    }
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
        let me = current_owner();
        assert!(!me.ends_with(":?"));
        assert!(owner_alive(&me));
        let pid: u32 = me.split(':').next().unwrap().parse().unwrap();
        // Same pid, other start time: the pid was reused.
        assert!(!owner_alive(&format!("{pid}:1")));
        // A child that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let owner = format!("{}:{}", child.id(), start_time(child.id()).unwrap_or(0));
        child.wait().unwrap();
        assert!(!owner_alive(&owner));
        // Unknown formats are not declared dead.
        assert!(owner_alive("garbage"));
    }
}
