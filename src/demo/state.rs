//! The server's mutable state: library, per-item user data, issued tokens.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::library::{stable_id, DemoLibrary, LibItem, TICKS_PER_MS};
use crate::clock::{Clock, SystemClock};
use crate::model::{RemoteItem, UserData};

/// One item's user data as the server stores it (Jellyfin `UserItemData`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stored {
    pub position_ticks: i64,
    pub play_count: i64,
    pub played: bool,
    pub is_favorite: bool,
    pub likes: Option<bool>,
    pub rating: Option<f64>,
    pub last_played: Option<DateTime<Utc>>,
}

impl Stored {
    fn from_model(u: &UserData) -> Stored {
        Stored {
            position_ticks: u.position_ms.saturating_mul(TICKS_PER_MS),
            play_count: u.play_count,
            played: u.played,
            last_played: u
                .last_played
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
            ..Stored::default()
        }
    }

    fn to_model(&self) -> UserData {
        UserData {
            position_ms: self.position_ticks / TICKS_PER_MS,
            played: self.played,
            play_count: self.play_count,
            last_played: self.last_played.map(|d| d.timestamp_millis()),
        }
    }
}

/// A signed-in device.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user_id: String,
    pub client: String,
    pub device: String,
    pub device_id: String,
    pub version: String,
}

/// User data of an item as reported: stored values, plus aggregates for folders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reported {
    pub stored: Stored,
    /// For folders: (unplayed playable descendants, total playable descendants).
    pub folder: Option<(usize, usize)>,
    pub runtime_ticks: Option<i64>,
}

pub(crate) struct State {
    items: Vec<LibItem>,
    index: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
    data: HashMap<String, Stored>,
    pub tokens: HashMap<String, Session>,
    /// Items whose user data changed since the last [`State::take_changed`] (for the
    /// WebSocket's `UserDataChanged`).
    changed: Vec<String>,
    /// A change was recorded since the last [`State::take_fresh`] (Jellyfin's debounce
    /// restarts on it).
    fresh: bool,
    /// Jellyfin's folder rules (`Folder.FillUserDataDtoValues`: a folder with no unplayed
    /// episode is played, even with none; its last played date is its own); `false` for Plex.
    pub(crate) jellyfin_rules: bool,
    pub server_id: String,
    pub user_id: String,
    pub version: String,
    /// Where the server's dates come from (the wall clock, or a simulation's fake clock).
    pub clock: Arc<dyn Clock>,
    /// The Plex kind's server rules.
    pub plex: super::plex::PlexRules,
    /// The demo user may download media (Jellyfin's `EnableContentDownloading` policy, Plex's
    /// "Allow Downloads" sharing setting).
    pub downloads_allowed: bool,
    /// Live playback sessions (`sessions.rs`).
    pub(crate) sessions: super::sessions::Sessions,
}

impl State {
    pub(crate) fn new(library: DemoLibrary, version: String) -> State {
        let data = library
            .initial
            .iter()
            .map(|(k, v)| (k.clone(), Stored::from_model(v)))
            .collect();
        let mut s = State {
            items: library.items,
            index: HashMap::new(),
            children: HashMap::new(),
            data,
            tokens: HashMap::new(),
            changed: Vec::new(),
            fresh: false,
            jellyfin_rules: true,
            server_id: stable_id("server"),
            user_id: stable_id("user/demo"),
            version,
            clock: Arc::new(SystemClock),
            plex: Default::default(),
            downloads_allowed: true,
            sessions: Default::default(),
        };
        s.reindex();
        s
    }

    fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
        self.children.clear();
        for (i, it) in self.items.iter().enumerate() {
            if let Some(p) = &it.parent_id {
                self.children.entry(p.clone()).or_default().push(i);
            }
        }
    }

    /// Now, on the server's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.clock.now())
            .single()
            .unwrap_or_else(Utc::now)
    }

    /// The library, to change in unit tests.
    #[cfg(test)]
    pub(crate) fn items_mut(&mut self) -> &mut Vec<LibItem> {
        &mut self.items
    }

    pub(crate) fn items(&self) -> &[LibItem] {
        &self.items
    }

    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&LibItem> {
        self.position(id).and_then(|i| self.items.get(i))
    }

    /// Direct children (library order).
    pub(crate) fn children(&self, id: &str) -> Vec<usize> {
        self.children.get(id).cloned().unwrap_or_default()
    }

    /// All descendants, depth-first in library order.
    pub(crate) fn descendants(&self, id: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![id.to_string()];
        while let Some(p) = stack.pop() {
            for &c in self.children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
                out.push(c);
                if let Some(it) = self.items.get(c) {
                    stack.push(it.id.clone());
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Ids of the playable items an operation on `id` applies to: the item itself, or for a
    /// folder every playable descendant.
    pub(crate) fn playable_targets(&self, id: &str) -> Vec<String> {
        match self.get(id) {
            Some(it) if it.kind.is_playable() => vec![it.id.clone()],
            Some(_) => self
                .descendants(id)
                .into_iter()
                .filter_map(|i| self.items.get(i))
                .filter(|i| i.kind.is_playable())
                .map(|i| i.id.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    pub(crate) fn stored(&self, id: &str) -> Stored {
        self.data.get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn stored_mut(&mut self, id: &str) -> &mut Stored {
        self.changed.push(id.to_string());
        self.fresh = true;
        self.data.entry(id.to_string()).or_default()
    }

    /// An item's user data for a save that is not announced (Jellyfin's
    /// `UserDataSaveReason.PlaybackProgress`, dropped by `UserDataChangeNotifier`).
    pub(crate) fn stored_mut_quiet(&mut self, id: &str) -> &mut Stored {
        self.data.entry(id.to_string()).or_default()
    }

    /// Whether a change was recorded since the last call.
    pub(crate) fn take_fresh(&mut self) -> bool {
        std::mem::take(&mut self.fresh)
    }

    /// The items whose user data changed since the last call, each once, in order.
    pub(crate) fn take_changed(&mut self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        std::mem::take(&mut self.changed)
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    /// What the server reports for `id` (aggregated for folders, like Jellyfin's
    /// `Folder.FillUserDataDtoValues`).
    pub(crate) fn reported(&self, id: &str) -> Option<Reported> {
        let item = self.get(id)?;
        if item.kind.is_playable() {
            return Some(Reported {
                stored: self.stored(id),
                folder: None,
                runtime_ticks: item.runtime_ms.map(|m| m * TICKS_PER_MS),
            });
        }
        let mut stored = self.stored(id);
        let targets = self.playable_targets(id);
        let mut unplayed = 0;
        let mut last: Option<DateTime<Utc>> = None;
        for t in &targets {
            let s = self.stored(t);
            if !s.played {
                unplayed += 1;
            }
            last = last.max(s.last_played);
        }
        if self.jellyfin_rules {
            // `Folder.FillUserDataDtoValues`: `Played = UnplayedItemCount == 0` (an empty
            // season is played); `LastPlayedDate` is the folder's own user data.
            stored.played = unplayed == 0;
        } else {
            stored.played = !targets.is_empty() && unplayed == 0;
            stored.last_played = last;
        }
        stored.position_ticks = 0;
        Some(Reported {
            stored,
            folder: Some((unplayed, targets.len())),
            runtime_ticks: None,
        })
    }

    pub(crate) fn user_data(&self, id: &str) -> Option<UserData> {
        let r = self.reported(id)?;
        let mut u = r.stored.to_model();
        if r.folder.is_some() {
            u.play_count = 0;
        }
        Some(u)
    }

    pub(crate) fn set_user_data(&mut self, id: &str, data: &UserData) {
        for t in self.playable_targets(id) {
            let keep = self.stored(&t);
            let mut s = Stored::from_model(data);
            s.is_favorite = keep.is_favorite;
            s.likes = keep.likes;
            s.rating = keep.rating;
            self.changed.push(t.clone());
            self.fresh = true;
            self.data.insert(t, s);
        }
    }

    /// Add an episode at the end of `season_id` (as a library scan that found a new file):
    /// `numeric_ids` gives it the next Plex-style `ratingKey`, otherwise a GUID. Its user data
    /// is `data`. `None` when `season_id` is not a season.
    pub(crate) fn add_episode(
        &mut self,
        season_id: &str,
        name: &str,
        runtime_ms: i64,
        data: &UserData,
        numeric_ids: bool,
    ) -> Option<String> {
        let season = self.get(season_id)?.clone();
        if season.kind != crate::model::ItemKind::Season {
            return None;
        }
        let siblings = self.children(season_id);
        let number = siblings.len() as i64 + 1;
        let id = if numeric_ids {
            let max = self
                .items
                .iter()
                .filter_map(|i| i.id.parse::<u64>().ok())
                .max()
                .unwrap_or(1000);
            (max + 1).to_string()
        } else {
            let mut n = number;
            loop {
                let id = stable_id(&format!("added/{season_id}/{n}"));
                if self.get(&id).is_none() {
                    break id;
                }
                n += 1;
            }
        };
        let series_name = season.series_name.clone().unwrap_or_default();
        let sn = season.season_number.unwrap_or(1);
        let item = LibItem {
            id: id.clone(),
            kind: crate::model::ItemKind::Episode,
            name: name.to_string(),
            sort_name: format!("{sn:03} - {number:04} - {}", name.to_lowercase()),
            parent_id: Some(season.id.clone()),
            series_id: season.series_id.clone(),
            series_name: season.series_name.clone(),
            season_id: Some(season.id.clone()),
            season_name: Some(season.name.clone()),
            season_number: Some(sn),
            episode_number: Some(number),
            runtime_ms: Some(runtime_ms),
            year: season.year,
            path: format!("{}/{series_name} S{sn:02}E{number:02}.mkv", season.path),
            provider_ids: super::library::invented_ids(
                &stable_id(&format!("added/{id}")),
                crate::model::ItemKind::Episode,
            ),
        };
        // Tree order: after the season's last episode (or the season itself).
        let at = siblings
            .iter()
            .copied()
            .max()
            .or_else(|| self.position(season_id))
            .map_or(self.items.len(), |i| i + 1);
        self.items.insert(at, item);
        self.data.insert(id.clone(), Stored::from_model(data));
        self.reindex();
        Some(id)
    }

    /// Remove an item and everything under it.
    pub(crate) fn remove_item(&mut self, id: &str) {
        if self.get(id).is_none() {
            return;
        }
        let mut gone: std::collections::HashSet<String> = self
            .descendants(id)
            .into_iter()
            .filter_map(|i| self.items.get(i))
            .map(|i| i.id.clone())
            .collect();
        gone.insert(id.to_string());
        self.items.retain(|i| !gone.contains(&i.id));
        self.data.retain(|k, _| !gone.contains(k));
        self.reindex();
    }

    pub(crate) fn remote_items(&self) -> Vec<RemoteItem> {
        self.items
            .iter()
            .map(|i| i.to_remote(self.user_data(&i.id).unwrap_or_default()))
            .collect()
    }

    /// Jellyfin `BaseItem.MarkPlayed`, applied to the item or every playable descendant.
    pub(crate) fn mark_played(&mut self, id: &str, date_played: Option<DateTime<Utc>>) {
        let now = self.now();
        for t in self.playable_targets(id) {
            let s = self.stored_mut(&t);
            if date_played.is_some() {
                s.play_count += 1;
            }
            s.play_count = s.play_count.max(1);
            s.position_ticks = 0;
            s.last_played = date_played.or(s.last_played).or(Some(now));
            s.played = true;
        }
    }

    /// Jellyfin `BaseItem.MarkUnplayed`, applied to the item or every playable descendant.
    pub(crate) fn mark_unplayed(&mut self, id: &str) {
        for t in self.playable_targets(id) {
            let s = self.stored_mut(&t);
            s.play_count = 0;
            s.position_ticks = 0;
            s.last_played = None;
            s.played = false;
        }
    }
}
