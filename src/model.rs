//! Plain data shared by every layer: items, play states, local changes.
//!
//! Positions are kept in **milliseconds** everywhere inside Playmark; the backends convert
//! (Jellyfin ticks of 100 ns, Plex milliseconds). Times are epoch milliseconds (UTC).

use serde::{Deserialize, Serialize};

/// Row id of an account in the local database.
pub type AccountId = i64;

/// Epoch milliseconds, UTC.
pub type Millis = i64;

/// Which server an account talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Jellyfin,
    Plex,
    Demo,
}

impl ServerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Jellyfin => "jellyfin",
            ServerKind::Plex => "plex",
            ServerKind::Demo => "demo",
        }
    }

    pub fn parse(s: &str) -> Option<ServerKind> {
        match s {
            "jellyfin" => Some(ServerKind::Jellyfin),
            "plex" => Some(ServerKind::Plex),
            "demo" => Some(ServerKind::Demo),
            _ => None,
        }
    }

    /// A "mark watched" on a season or series adds a view to every episode, those already
    /// watched included (Plex: a scrobble on the parent scrobbles each child, and a scrobble
    /// always bumps `viewCount`). Such a bulk must not go as one parent call while one of its
    /// episodes is already watched there, or that episode's play count grows by a play nobody
    /// made (simulation seed 5027). Jellyfin's `/UserPlayedItems` on a parent adds a play only
    /// to episodes not yet played.
    pub fn parent_mark_watched_recounts(self) -> bool {
        self == ServerKind::Plex
    }
}

/// What kind of library entry an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemKind {
    Series,
    Season,
    Episode,
    Movie,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Series => "Series",
            ItemKind::Season => "Season",
            ItemKind::Episode => "Episode",
            ItemKind::Movie => "Movie",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "Series" => Some(ItemKind::Series),
            "Season" => Some(ItemKind::Season),
            "Episode" => Some(ItemKind::Episode),
            "Movie" => Some(ItemKind::Movie),
            _ => None,
        }
    }

    /// Items that carry a play state of their own (folders aggregate their children).
    pub fn is_playable(self) -> bool {
        matches!(self, ItemKind::Episode | ItemKind::Movie)
    }
}

/// The user data of one item as the server reports it (or as we last saw it: the base).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserData {
    pub position_ms: i64,
    pub played: bool,
    pub play_count: i64,
    pub last_played: Option<Millis>,
}

/// One library entry as listed by a server, with its user data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteItem {
    pub id: String,
    pub kind: ItemKind,
    pub name: String,
    /// Direct parent (season for an episode, series for a season).
    pub parent_id: Option<String>,
    pub series_id: Option<String>,
    pub season_id: Option<String>,
    pub series_name: Option<String>,
    /// Season number (`ParentIndexNumber`) for episodes; the season's own number for seasons.
    pub season_number: Option<i64>,
    /// Episode number (`IndexNumber`) for episodes.
    pub episode_number: Option<i64>,
    pub runtime_ms: Option<i64>,
    pub user_data: UserData,
}

/// One page of a library listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemsPage {
    pub items: Vec<RemoteItem>,
    pub total: u64,
    pub start: u64,
}

/// A change the user made locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalChange {
    /// Set the resume position (the watched flag is left as it is).
    Position { position_ms: i64 },
    /// Mark as watched (position goes back to 0, as servers do).
    MarkWatched,
    /// Mark as not watched (position 0, play count 0).
    MarkUnwatched,
    /// A player checkpoint, already through the watched thresholds (`crate::player::thresholds`)
    /// and the server's session rules, so the local state becomes what a live session report
    /// makes the server hold.
    Playback {
        /// The resume point (ignored when `watched`); 0 = none.
        position_ms: i64,
        /// Finished: position 0, watched.
        watched: bool,
        /// One more play (Jellyfin counts a play at the start, Plex when it is finished).
        add_play: bool,
        /// The play un-watches the item first (Jellyfin's start does, for resumable items).
        unwatch: bool,
    },
}

/// The state an outbox row wants the server to hold: absolute values, so sending it twice is
/// harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    pub position_ms: i64,
    pub played: bool,
    pub play_count: i64,
    pub last_played: Option<Millis>,
}

impl DesiredState {
    /// The user-visible part equals the base: nothing to send.
    ///
    /// Only the position and the watched flag are compared: those are what the user sees and
    /// changes. Play count and last-played date follow from them and are not worth a call alone.
    pub fn same_as(&self, base: &UserData) -> bool {
        self.position_ms == base.position_ms && self.played == base.played
    }

    pub fn from_user_data(u: &UserData) -> DesiredState {
        DesiredState {
            position_ms: u.position_ms,
            played: u.played,
            play_count: u.play_count,
            last_played: u.last_played,
        }
    }

    pub fn to_user_data(self) -> UserData {
        UserData {
            position_ms: self.position_ms,
            played: self.played,
            play_count: self.play_count,
            last_played: self.last_played,
        }
    }
}

/// Apply a local change to the current local state, at time `now`.
pub fn apply_change(current: &UserData, change: LocalChange, now: Millis) -> UserData {
    match change {
        LocalChange::Position { position_ms } => UserData {
            position_ms: position_ms.max(0),
            played: current.played,
            play_count: current.play_count,
            last_played: Some(now),
        },
        LocalChange::MarkWatched => UserData {
            position_ms: 0,
            played: true,
            play_count: current.play_count.max(1),
            last_played: Some(now),
        },
        LocalChange::MarkUnwatched => UserData {
            position_ms: 0,
            played: false,
            play_count: 0,
            last_played: None,
        },
        LocalChange::Playback {
            position_ms,
            watched,
            add_play,
            unwatch,
        } => {
            let mut next = *current;
            if add_play {
                next.play_count = next.play_count.saturating_add(1);
            }
            if unwatch {
                next.played = false;
            }
            if watched {
                next.position_ms = 0;
                next.played = true;
            } else {
                next.position_ms = position_ms.max(0);
            }
            next.last_played = Some(now);
            next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_resets_position_and_keeps_count() {
        let cur = UserData {
            position_ms: 5_000,
            played: false,
            play_count: 2,
            last_played: None,
        };
        let next = apply_change(&cur, LocalChange::MarkWatched, 10);
        assert_eq!(
            next,
            UserData {
                position_ms: 0,
                played: true,
                play_count: 2,
                last_played: Some(10)
            }
        );
    }

    #[test]
    fn negative_position_is_clamped() {
        let next = apply_change(
            &UserData::default(),
            LocalChange::Position { position_ms: -5 },
            1,
        );
        assert_eq!(next.position_ms, 0);
    }

    #[test]
    fn unwatch_clears_everything() {
        let cur = UserData {
            position_ms: 5_000,
            played: true,
            play_count: 2,
            last_played: Some(3),
        };
        assert_eq!(
            apply_change(&cur, LocalChange::MarkUnwatched, 9),
            UserData::default()
        );
    }

    #[test]
    fn playback_checkpoints_follow_the_session_rules() {
        let watched = UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(3),
        };
        // Jellyfin's start: one more play, no longer watched; then a resume point.
        let started = apply_change(
            &watched,
            LocalChange::Playback {
                position_ms: 60_000,
                watched: false,
                add_play: true,
                unwatch: true,
            },
            9,
        );
        assert_eq!(
            started,
            UserData {
                position_ms: 60_000,
                played: false,
                play_count: 2,
                last_played: Some(9)
            }
        );
        // A resume point alone keeps the watched flag (Jellyfin's UpdatePlayState).
        let resumed = apply_change(
            &watched,
            LocalChange::Playback {
                position_ms: 5_000,
                watched: false,
                add_play: false,
                unwatch: false,
            },
            10,
        );
        assert!(resumed.played);
        assert_eq!(resumed.position_ms, 5_000);
        let finished = apply_change(
            &started,
            LocalChange::Playback {
                position_ms: 1_000_000,
                watched: true,
                add_play: false,
                unwatch: false,
            },
            11,
        );
        assert_eq!(
            (finished.position_ms, finished.played, finished.play_count),
            (0, true, 2)
        );
    }

    #[test]
    fn same_as_compares_visible_fields() {
        let base = UserData {
            position_ms: 7,
            played: false,
            play_count: 1,
            last_played: Some(1),
        };
        let d = DesiredState {
            position_ms: 7,
            played: false,
            play_count: 4,
            last_played: None,
        };
        assert!(d.same_as(&base));
        assert!(!DesiredState { played: true, ..d }.same_as(&base));
    }
}
