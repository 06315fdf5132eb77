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
    /// The ids other databases give this item (IMDb, TMDB, TVDB), as the server lists them;
    /// empty when it lists none (or was not asked: Jellyfin `Fields=ProviderIds`, Plex
    /// `includeGuids=1`).
    #[serde(default)]
    pub provider_ids: Vec<ProviderId>,
}

/// A database that names titles: the ids Jellyfin (`ProviderIds`) and Plex (`Guid`) carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Imdb,
    Tmdb,
    Tvdb,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Imdb => "imdb",
            Provider::Tmdb => "tmdb",
            Provider::Tvdb => "tvdb",
        }
    }

    /// `imdb`, `tmdb`, `tvdb` in any case (Jellyfin's keys are `Imdb`, `Tmdb`, `Tvdb`), plus
    /// the names legacy Plex agents use (`themoviedb`, `thetvdb`).
    pub fn parse(s: &str) -> Option<Provider> {
        match s.to_ascii_lowercase().as_str() {
            "imdb" => Some(Provider::Imdb),
            "tmdb" | "themoviedb" => Some(Provider::Tmdb),
            "tvdb" | "thetvdb" => Some(Provider::Tvdb),
            _ => None,
        }
    }
}

/// One id of a title in one provider's database. Ids are compared **with** their provider:
/// `tmdb:65` is not `tvdb:65`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProviderId {
    pub provider: Provider,
    pub value: String,
}

impl ProviderId {
    /// An id, trimmed; `None` when the value is empty.
    pub fn new(provider: Provider, value: &str) -> Option<ProviderId> {
        let value = value.trim();
        (!value.is_empty()).then(|| ProviderId {
            provider,
            value: value.to_string(),
        })
    }

    /// `tmdb:65` (the form [`std::fmt::Display`] writes).
    pub fn parse(s: &str) -> Option<ProviderId> {
        let (p, v) = s.split_once(':')?;
        ProviderId::new(Provider::parse(p)?, v)
    }

    /// A Plex guid: `imdb://tt0959621`, `tmdb://65`, `tvdb://349232`, or a legacy agent's
    /// `com.plexapp.agents.thetvdb://81189/1/3?lang=en` (the first path segment is the id;
    /// an episode's legacy guid names the series, season and episode, so it is not an id of
    /// the episode itself and is refused). `plex://…` and unknown agents give `None`.
    pub fn from_plex_guid(guid: &str) -> Option<ProviderId> {
        let (scheme, rest) = guid.split_once("://")?;
        let name = scheme.strip_prefix("com.plexapp.agents.").unwrap_or(scheme);
        let provider = Provider::parse(name)?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let mut parts = rest.split('/');
        let id = parts.next().unwrap_or_default();
        if parts.next().is_some() {
            return None;
        }
        ProviderId::new(provider, id)
    }
}

impl std::fmt::Display for ProviderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.provider.as_str(), self.value)
    }
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

    #[test]
    fn provider_ids_keep_their_provider_and_read_plex_guids() {
        let tmdb = ProviderId::parse("tmdb:65");
        assert!(tmdb.is_some());
        assert_ne!(tmdb, ProviderId::parse("tvdb:65"));
        assert_eq!(ProviderId::parse("Tvdb:65"), ProviderId::parse("tvdb:65"));
        assert_eq!(ProviderId::parse("tmdb:"), None);
        assert_eq!(ProviderId::parse("anidb:1"), None);
        let g = |s: &str| ProviderId::from_plex_guid(s).map(|p| p.to_string());
        assert_eq!(g("imdb://tt0959621").as_deref(), Some("imdb:tt0959621"));
        assert_eq!(g("tmdb://65").as_deref(), Some("tmdb:65"));
        assert_eq!(g("tvdb://349232").as_deref(), Some("tvdb:349232"));
        assert_eq!(
            g("com.plexapp.agents.thetvdb://81189?lang=en").as_deref(),
            Some("tvdb:81189")
        );
        assert_eq!(
            g("com.plexapp.agents.imdb://tt0111161?lang=en").as_deref(),
            Some("imdb:tt0111161")
        );
        // A legacy episode guid names the series and the numbers, not the episode.
        assert_eq!(g("com.plexapp.agents.thetvdb://81189/1/3?lang=en"), None);
        assert_eq!(g("plex://movie/5d776825880197001ec967c8"), None);
        assert_eq!(g("local://12"), None);
    }
}
