//! Process figures read from `/proc` (Linux): CPU time, peak resident memory, context switches.
//!
//! Hand-written on purpose: the crate forbids `unsafe`, so `getrusage` through `libc` is out,
//! and the three numbers needed here are one line of `/proc` each (a `procfs`-style dependency
//! would be larger than this file). On other systems every reader returns `None`.

use std::time::Duration;

/// `/proc` reports CPU times in USER_HZ ticks, which the kernel fixes at 100 per second for
/// user space on every architecture Linux supports.
const USER_HZ: u64 = 100;

/// User + system CPU time of the whole process (every thread) so far (10 ms resolution).
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; the fields after its ')' are plain.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// A `kB` value from `/proc/self/status` (e.g. "VmHWM", "VmRSS"), in bytes.
fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Peak resident set size of the process (VmHWM), in bytes.
pub fn peak_rss() -> Option<u64> {
    status_kb("VmHWM")
}

/// Current resident set size (VmRSS), in bytes.
pub fn rss() -> Option<u64> {
    status_kb("VmRSS")
}

/// Reset the peak RSS to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux 4.0+), so a
/// scenario can measure its own peak. Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Voluntary + involuntary context switches summed over every thread of the process: each one is
/// a thread going to sleep or being woken, so an idle process should add (almost) none.
pub fn context_switches() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            let value = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"));
            if let Some(n) = value.and_then(|v| v.trim().parse::<u64>().ok()) {
                total += n;
            }
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readers_see_this_process() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        // Burn a little CPU so the reading is above zero even with 10 ms ticks.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert!(x != 1);
        assert!(cpu_time().is_some_and(|t| t >= Duration::from_millis(10)));
        let peak = peak_rss().expect("VmHWM");
        let now = rss().expect("VmRSS");
        // (VmHWM may trail VmRSS by the kernel's per-thread counter caching; compare loosely.)
        assert!(now > 1024 * 1024 && peak > 1024 * 1024);
        assert!(context_switches().is_some());
    }
}
