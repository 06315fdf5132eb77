//! When a playing item's position is worth recording.
//!
//! A player reports the position about once a second. Recording each report would be 3,600
//! durable writes an hour and, even coalesced, a server write every debounce interval. The policy:
//! - while playing, record at most one checkpoint per item every `interval_ms` (default 15 s):
//!   a crash or a lost connection loses at most that much progress, which is what a user resumes
//!   from anyway (players rewind a few seconds on resume);
//! - record at once on pause, stop and seek (the user's explicit actions), and on the first report
//!   after playback starts, so other devices see "in progress" quickly;
//! - never record a position identical to the last recorded one.
//!
//! Pure: the caller passes the time.

use std::collections::HashMap;

use crate::model::Millis;

/// What the player just did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackEvent {
    /// Periodic progress report while playing.
    Tick,
    /// Playback paused.
    Pause,
    /// Playback stopped (closed, finished, switched item).
    Stop,
    /// The user jumped to another position.
    Seek,
}

/// Decides, per item, which position reports become recorded changes.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    interval_ms: i64,
    /// item → (time of last recorded checkpoint, position recorded).
    last: HashMap<String, (Millis, i64)>,
}

impl Default for Checkpointer {
    fn default() -> Checkpointer {
        Checkpointer::new(15_000)
    }
}

impl Checkpointer {
    pub fn new(interval_ms: i64) -> Checkpointer {
        Checkpointer {
            interval_ms: interval_ms.max(0),
            last: HashMap::new(),
        }
    }

    /// Should this report be recorded? Updates the state when it says yes.
    pub fn should_record(
        &mut self,
        item: &str,
        position_ms: i64,
        event: PlaybackEvent,
        now: Millis,
    ) -> bool {
        let record = match self.last.get(item) {
            Some(&(_, pos)) if pos == position_ms => false,
            None => true,
            Some(&(at, _)) => match event {
                PlaybackEvent::Tick => now - at >= self.interval_ms,
                PlaybackEvent::Pause | PlaybackEvent::Stop | PlaybackEvent::Seek => true,
            },
        };
        if record {
            self.last.insert(item.to_string(), (now, position_ms));
        }
        if event == PlaybackEvent::Stop {
            // The next play of this item starts a fresh session.
            self.last.remove(item);
            self.last.insert(item.to_string(), (now, position_ms));
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_of_ticks_records_every_interval_and_every_explicit_action() {
        let mut c = Checkpointer::new(15_000);
        let mut recorded = 0;
        for s in 0..3_600_i64 {
            if c.should_record("e", s * 1_000, PlaybackEvent::Tick, s * 1_000) {
                recorded += 1;
            }
        }
        // first report + one every 15 s
        assert_eq!(recorded, 240);
        assert!(c.should_record("e", 100_000, PlaybackEvent::Seek, 3_600_500));
        assert!(c.should_record("e", 100_400, PlaybackEvent::Pause, 3_600_900));
        assert!(
            !c.should_record("e", 100_400, PlaybackEvent::Pause, 3_601_000),
            "same position twice"
        );
        assert!(!c.should_record("e", 100_500, PlaybackEvent::Tick, 3_601_100));
    }

    #[test]
    fn items_are_independent() {
        let mut c = Checkpointer::new(15_000);
        assert!(c.should_record("a", 1_000, PlaybackEvent::Tick, 0));
        assert!(c.should_record("b", 1_000, PlaybackEvent::Tick, 1));
        assert!(!c.should_record("a", 2_000, PlaybackEvent::Tick, 2));
    }
}
