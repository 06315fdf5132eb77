//! The demo library: invented series, seasons, episodes and movies with stable ids.

use std::collections::HashMap;

use crate::model::{ItemKind, Provider, ProviderId, RemoteItem, UserData};

/// 100-ns ticks per millisecond (Jellyfin's `RunTimeTicks` unit).
pub(crate) const TICKS_PER_MS: i64 = 10_000;

/// A stable 32-hex-digit id (the Jellyfin JSON "N" form of a GUID) derived from a name.
///
/// FNV-1a, 128 bit: simple, stable across Rust releases and platforms (unlike `DefaultHasher`).
pub(crate) fn stable_id(name: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in b"playmark-demo:".iter().chain(name.as_bytes()) {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    // Make it look like a version-4 style GUID so strict parsers are happy.
    h &= !(0xF_u128 << 76);
    h |= 0x4_u128 << 76;
    h &= !(0x3_u128 << 62);
    h |= 0x2_u128 << 62;
    format!("{h:032x}")
}

/// One entry of the demo library (no user data: that lives in the server state).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LibItem {
    pub id: String,
    pub kind: ItemKind,
    pub name: String,
    pub sort_name: String,
    pub parent_id: Option<String>,
    pub series_id: Option<String>,
    pub series_name: Option<String>,
    pub season_id: Option<String>,
    pub season_name: Option<String>,
    /// Season number for seasons and episodes.
    pub season_number: Option<i64>,
    /// Episode number for episodes.
    pub episode_number: Option<i64>,
    pub runtime_ms: Option<i64>,
    pub year: Option<i64>,
    /// Path of the (imaginary) media file or folder.
    pub path: String,
    /// IMDb/TMDB/TVDB ids (invented, stable): series and episodes carry TVDB and IMDb ids,
    /// series and movies TMDB ids; seasons none.
    pub provider_ids: Vec<ProviderId>,
}

/// A library for the demo server: a tree of series → seasons → episodes plus movies.
///
/// Ids are 32 lowercase hex digits derived from a hash of a stable name, so the same library
/// always has the same ids. Items are kept in tree order (each series followed by its seasons
/// and their episodes, then the movies); that order is also the server's default sort order.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoLibrary {
    pub(crate) items: Vec<LibItem>,
    /// Initial user data of playable items, keyed by id.
    pub(crate) initial: HashMap<String, UserData>,
}

/// Episode titles used by the seeded library (invented).
const TITLES: &[&str] = &[
    "The Long Way Round",
    "Static on the Line",
    "Low Tide",
    "A Map Without Edges",
    "Borrowed Light",
    "The Night Shift",
    "Paper Boats",
    "Signal Fire",
    "Quiet Machines",
    "The Second Door",
    "Salt and Iron",
    "Under the Overpass",
    "Small Hours",
    "Weather Report",
    "Glass Harbor",
    "The Archive",
    "Open Water",
    "Last Orders",
    "Copper Wire",
    "Homecoming",
    "North by Nowhere",
    "The Inventory",
    "Afterglow",
    "Fault Lines",
];

impl DemoLibrary {
    /// The bundled demo library: three invented series (2–3 seasons of 6–10 episodes) and three
    /// movies, with varied runtimes.
    ///
    /// A little progress is pre-seeded so the demo looks lived-in: season 1 of "The Lighthouse
    /// Keepers" is watched, its S2E1 is half-way, and the movie "A Quiet Harbor" is watched.
    /// Use [`DemoLibrary::without_progress`] for a clean slate.
    pub fn seeded() -> DemoLibrary {
        let mut b = Builder::default();
        let series: [(&str, i64, &[i64], i64); 3] = [
            ("The Lighthouse Keepers", 2019, &[8, 8], 44),
            ("Orbital Kitchen", 2021, &[6, 6, 6], 24),
            ("Paper Cities", 2017, &[10, 9], 52),
        ];
        let mut title = 0usize;
        for (name, year, seasons, minutes) in series {
            let key = format!("series/{name}");
            let sid = b.series(&key, name, year);
            for (si, count) in seasons.iter().enumerate() {
                let snum = si as i64 + 1;
                let skey = format!("{key}/season/{snum}");
                let season = b.season(&skey, &sid, snum, year + si as i64);
                for e in 1..=*count {
                    let ename = TITLES[title % TITLES.len()];
                    title += 1;
                    let runtime = (minutes * 60 + (e * 97 % 300) - 150) * 1000;
                    b.episode(&format!("{skey}/episode/{e}"), &season, e, ename, runtime);
                }
            }
        }
        for (name, year, minutes) in [
            ("A Quiet Harbor", 2016, 112),
            ("The Last Tram Home", 2020, 97),
            ("Northern Static", 2022, 128),
        ] {
            b.movie(
                &format!("movie/{name}"),
                name,
                year,
                minutes * 60_000 + 17_000,
            );
        }
        let mut lib = b.finish();

        // Pre-seeded progress.
        let watched_at = 1_704_164_645_000; // 2024-01-02T03:04:05Z
        let mut progress = Vec::new();
        for i in &lib.items {
            let first = i.series_name.as_deref() == Some("The Lighthouse Keepers");
            if i.kind != ItemKind::Episode || !first {
                continue;
            }
            if i.season_number == Some(1) {
                progress.push((
                    i.id.clone(),
                    UserData {
                        position_ms: 0,
                        played: true,
                        play_count: 1,
                        last_played: Some(watched_at + i.episode_number.unwrap_or(0) * 3_600_000),
                    },
                ));
            } else if i.season_number == Some(2) && i.episode_number == Some(1) {
                progress.push((
                    i.id.clone(),
                    UserData {
                        position_ms: 22 * 60_000,
                        played: false,
                        play_count: 0,
                        last_played: Some(watched_at + 86_400_000),
                    },
                ));
            }
        }
        lib.initial.extend(progress);
        if let Some(m) = lib.items.iter().find(|i| i.name == "A Quiet Harbor") {
            lib.initial.insert(
                m.id.clone(),
                UserData {
                    position_ms: 0,
                    played: true,
                    play_count: 2,
                    last_played: Some(watched_at - 86_400_000),
                },
            );
        }
        lib
    }

    /// A large synthetic library for tests: `series` series with `seasons_per_series` seasons
    /// of `episodes_per_season` episodes each, plus `movies` movies. No progress; names are
    /// "Series 1", "Season 1", "Episode 1", "Movie 1"; ids are stable.
    pub fn generated(
        series: usize,
        seasons_per_series: usize,
        episodes_per_season: usize,
        movies: usize,
    ) -> DemoLibrary {
        let mut b = Builder::default();
        for s in 1..=series {
            let key = format!("generated/series/{s}");
            let sid = b.series(&key, &format!("Series {s}"), 2000 + (s % 25) as i64);
            for n in 1..=seasons_per_series {
                let skey = format!("{key}/season/{n}");
                let season = b.season(&skey, &sid, n as i64, 2000 + n as i64);
                for e in 1..=episodes_per_season {
                    let runtime = (20 * 60 + (e as i64 * 53 % 1800)) * 1000;
                    b.episode(
                        &format!("{skey}/episode/{e}"),
                        &season,
                        e as i64,
                        &format!("Episode {e}"),
                        runtime,
                    );
                }
            }
        }
        for m in 1..=movies {
            b.movie(
                &format!("generated/movie/{m}"),
                &format!("Movie {m}"),
                1990 + (m % 30) as i64,
                (80 + (m as i64 * 7 % 60)) * 60_000,
            );
        }
        b.finish()
    }

    /// A generated library of about `items` items (for `demo-server --library-size N` and the
    /// scale measurements): a fifth movies, the rest series of 4 seasons × 24 episodes (101
    /// items per series). Small sizes give at least one series or movie.
    pub fn sized(items: usize) -> DemoLibrary {
        const PER_SERIES: usize = 1 + 4 * (1 + 24);
        let movies = (items / 5).max(1);
        let series = (items.saturating_sub(movies) / PER_SERIES).max(1);
        let movies = items
            .saturating_sub(series * PER_SERIES)
            .max(movies.min(items));
        DemoLibrary::generated(series, 4, 24, movies)
    }

    /// The same library without the item with this id (and without its children): a title
    /// one server has and another has not (mirror tests).
    pub fn without_item(mut self, id: &str) -> DemoLibrary {
        self.items.retain(|i| {
            i.id != id
                && i.parent_id.as_deref() != Some(id)
                && i.series_id.as_deref() != Some(id)
                && i.season_id.as_deref() != Some(id)
        });
        let ids: std::collections::HashSet<&str> =
            self.items.iter().map(|i| i.id.as_str()).collect();
        self.initial.retain(|k, _| ids.contains(k.as_str()));
        self
    }

    /// The same library with these provider ids (`tmdb:65`, …; unknown forms are skipped) on
    /// the item with this id (mirror tests: duplicated or conflicting ids).
    pub fn with_provider_ids(mut self, id: &str, ids: &[&str]) -> DemoLibrary {
        if let Some(item) = self.items.iter_mut().find(|i| i.id == id) {
            item.provider_ids = ids.iter().filter_map(|s| ProviderId::parse(s)).collect();
            item.provider_ids.sort();
        }
        self
    }

    /// The provider ids of the item with this id (empty when unknown).
    pub fn provider_ids_of(&self, id: &str) -> Vec<ProviderId> {
        self.items
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.provider_ids.clone())
            .unwrap_or_default()
    }

    /// What the demo Plex lists differently from the demo Jellyfin, so that a mirror of the two
    /// has a health list to show (README, "Mirror"): the movie "Northern Static" has no ids on
    /// Plex (unmatched on both sides); "Paper Cities" S2E9 carries S2E8's ids on Plex (two
    /// candidates: ambiguous); "Orbital Kitchen" S3E6 has another IMDb id on Plex (the ids
    /// disagree: ambiguous); "Orbital Kitchen" S1E2 has no ids of its own on Plex (matched by
    /// its series' ids and its numbers). A library without these titles is left as it is.
    pub(crate) fn with_plex_quirks(mut self) -> DemoLibrary {
        let find = |lib: &DemoLibrary, series: Option<&str>, name: &str, s: i64, e: i64| {
            lib.items.iter().position(|i| match series {
                Some(series) => {
                    i.kind == ItemKind::Episode
                        && i.series_name.as_deref() == Some(series)
                        && i.season_number == Some(s)
                        && i.episode_number == Some(e)
                }
                None => i.kind == ItemKind::Movie && i.name == name,
            })
        };
        if let Some(m) = find(&self, None, "Northern Static", 0, 0) {
            self.items[m].provider_ids.clear();
        }
        if let (Some(e8), Some(e9)) = (
            find(&self, Some("Paper Cities"), "", 2, 8),
            find(&self, Some("Paper Cities"), "", 2, 9),
        ) {
            self.items[e9].provider_ids = self.items[e8].provider_ids.clone();
        }
        if let Some(e) = find(&self, Some("Orbital Kitchen"), "", 3, 6) {
            for p in &mut self.items[e].provider_ids {
                if p.provider == Provider::Imdb {
                    p.value = "tt9999901".to_string();
                }
            }
        }
        if let Some(e) = find(&self, Some("Orbital Kitchen"), "", 1, 2) {
            self.items[e].provider_ids.clear();
        }
        self
    }

    /// The same library with every item unplayed (no pre-seeded progress).
    pub fn without_progress(mut self) -> DemoLibrary {
        self.initial.clear();
        self
    }

    /// Number of items (series, seasons, episodes and movies).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the library has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All items in tree order, with their initial user data.
    pub fn items(&self) -> Vec<RemoteItem> {
        self.items
            .iter()
            .map(|i| i.to_remote(self.initial.get(&i.id).copied().unwrap_or_default()))
            .collect()
    }

    /// The id of the first item with this exact name, if any (handy in tests).
    pub fn id_of(&self, name: &str) -> Option<String> {
        self.items
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.id.clone())
    }
}

impl LibItem {
    pub(crate) fn to_remote(&self, user_data: UserData) -> RemoteItem {
        RemoteItem {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            parent_id: self.parent_id.clone(),
            series_id: self.series_id.clone(),
            season_id: self.season_id.clone(),
            series_name: self.series_name.clone(),
            season_number: self.season_number,
            episode_number: self.episode_number,
            runtime_ms: self.runtime_ms,
            user_data,
            provider_ids: self.provider_ids.clone(),
        }
    }
}

/// The invented provider ids of an item with this (Jellyfin-form) id and kind.
pub(crate) fn invented_ids(id: &str, kind: ItemKind) -> Vec<ProviderId> {
    // FNV-1a, 64 bit, of "id:salt": its low digits differ between neighbouring ids.
    let n = |salt: usize| {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in format!("{id}:{salt}").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        h % 9_000_000 + 100_000
    };
    let providers: &[Provider] = match kind {
        ItemKind::Series => &[Provider::Imdb, Provider::Tmdb, Provider::Tvdb],
        ItemKind::Episode => &[Provider::Imdb, Provider::Tvdb],
        ItemKind::Movie => &[Provider::Imdb, Provider::Tmdb],
        ItemKind::Season => &[],
    };
    providers
        .iter()
        .enumerate()
        .filter_map(|(salt, p)| {
            let value = match p {
                Provider::Imdb => format!("tt{:07}", n(salt)),
                _ => n(salt).to_string(),
            };
            ProviderId::new(*p, &value)
        })
        .collect()
}

/// A season being built: what its episodes inherit.
struct SeasonRef {
    id: String,
    series_id: String,
    series_name: String,
    name: String,
    number: i64,
    year: i64,
    path: String,
}

#[derive(Default)]
struct Builder {
    items: Vec<LibItem>,
}

impl Builder {
    fn series(&mut self, key: &str, name: &str, year: i64) -> String {
        let id = stable_id(key);
        self.items.push(LibItem {
            id: id.clone(),
            kind: ItemKind::Series,
            name: name.to_string(),
            sort_name: name.to_lowercase(),
            parent_id: None,
            series_id: None,
            series_name: None,
            season_id: None,
            season_name: None,
            season_number: None,
            episode_number: None,
            runtime_ms: None,
            year: Some(year),
            path: format!("/media/shows/{name}"),
            provider_ids: Vec::new(),
        });
        id
    }

    fn season(&mut self, key: &str, series_id: &str, number: i64, year: i64) -> SeasonRef {
        let id = stable_id(key);
        let series = self.items.iter().find(|i| i.id == series_id);
        let series_name = series.map(|s| s.name.clone()).unwrap_or_default();
        let path = format!(
            "{}/Season {number:02}",
            series.map(|s| s.path.as_str()).unwrap_or("/media/shows")
        );
        let name = format!("Season {number}");
        self.items.push(LibItem {
            id: id.clone(),
            kind: ItemKind::Season,
            name: name.clone(),
            sort_name: format!("season {number:04}"),
            parent_id: Some(series_id.to_string()),
            series_id: Some(series_id.to_string()),
            series_name: Some(series_name.clone()),
            season_id: None,
            season_name: None,
            season_number: Some(number),
            episode_number: None,
            runtime_ms: None,
            year: Some(year),
            path: path.clone(),
            provider_ids: Vec::new(),
        });
        SeasonRef {
            id,
            series_id: series_id.to_string(),
            series_name,
            name,
            number,
            year,
            path,
        }
    }

    fn episode(&mut self, key: &str, season: &SeasonRef, number: i64, name: &str, runtime: i64) {
        self.items.push(LibItem {
            id: stable_id(key),
            kind: ItemKind::Episode,
            name: name.to_string(),
            sort_name: format!(
                "{:03} - {number:04} - {}",
                season.number,
                name.to_lowercase()
            ),
            parent_id: Some(season.id.clone()),
            series_id: Some(season.series_id.clone()),
            series_name: Some(season.series_name.clone()),
            season_id: Some(season.id.clone()),
            season_name: Some(season.name.clone()),
            season_number: Some(season.number),
            episode_number: Some(number),
            runtime_ms: Some(runtime),
            year: Some(season.year),
            path: format!(
                "{}/{} S{:02}E{number:02}.mkv",
                season.path, season.series_name, season.number
            ),
            provider_ids: Vec::new(),
        });
    }

    fn movie(&mut self, key: &str, name: &str, year: i64, runtime: i64) {
        self.items.push(LibItem {
            id: stable_id(key),
            kind: ItemKind::Movie,
            name: name.to_string(),
            sort_name: name.to_lowercase(),
            parent_id: None,
            series_id: None,
            series_name: None,
            season_id: None,
            season_name: None,
            season_number: None,
            episode_number: None,
            runtime_ms: Some(runtime),
            year: Some(year),
            path: format!("/media/movies/{name} ({year})/{name}.mkv"),
            provider_ids: Vec::new(),
        });
    }

    fn finish(mut self) -> DemoLibrary {
        for i in &mut self.items {
            i.provider_ids = invented_ids(&i.id, i.kind);
        }
        DemoLibrary {
            items: self.items,
            initial: HashMap::new(),
        }
    }
}

impl DemoLibrary {
    /// The same library with Plex-style ids: every id becomes a numeric `ratingKey` string
    /// ("1001", "1002", … in tree order), consistently in parent/series/season links and in the
    /// initial user data. Plex documents `ratingKey` as opaque; the client never parses it.
    pub(crate) fn with_rating_keys(mut self) -> DemoLibrary {
        let map: HashMap<String, String> = self
            .items
            .iter()
            .enumerate()
            .map(|(n, i)| (i.id.clone(), (1001 + n).to_string()))
            .collect();
        let re = |id: &mut Option<String>| {
            if let Some(v) = id.as_mut() {
                if let Some(k) = map.get(v.as_str()) {
                    *v = k.clone();
                }
            }
        };
        for item in &mut self.items {
            if let Some(k) = map.get(&item.id) {
                item.id = k.clone();
            }
            re(&mut item.parent_id);
            re(&mut item.series_id);
            re(&mut item.season_id);
        }
        self.initial = self
            .initial
            .into_iter()
            .filter_map(|(k, v)| map.get(&k).map(|n| (n.clone(), v)))
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_well_formed() {
        let a = DemoLibrary::seeded();
        let b = DemoLibrary::seeded();
        assert_eq!(a, b);
        // Pinned: ids must never change between releases.
        assert_eq!(
            stable_id("series/The Lighthouse Keepers"),
            "1c42b7ccbb464c53b70019e48a46c444"
        );
        assert_eq!(stable_id("user/demo"), "6c98179bc7d640409e77b9dae12d87b3");
        let mut seen = std::collections::HashSet::new();
        for i in &a.items {
            assert_eq!(i.id.len(), 32);
            assert!(i
                .id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert!(seen.insert(i.id.clone()), "duplicate id");
        }
    }

    #[test]
    fn seeded_shape() {
        let lib = DemoLibrary::seeded();
        let count = |k| lib.items.iter().filter(|i| i.kind == k).count();
        assert_eq!(count(ItemKind::Series), 3);
        assert_eq!(count(ItemKind::Season), 7);
        assert_eq!(count(ItemKind::Movie), 3);
        assert_eq!(count(ItemKind::Episode), 16 + 18 + 19);
        assert!(lib
            .items
            .iter()
            .filter(|i| i.kind.is_playable())
            .all(|i| i.runtime_ms.unwrap_or(0) > 60_000));
        assert!(!lib.initial.is_empty());
        assert!(lib.clone().without_progress().initial.is_empty());
    }

    #[test]
    fn sized_library_has_about_that_many_items() {
        for n in [1, 50, 1_000, 100_000] {
            let lib = DemoLibrary::sized(n);
            let movies = lib
                .items
                .iter()
                .filter(|i| i.kind == ItemKind::Movie)
                .count();
            assert!(movies >= 1, "{n}: movies");
            let len = lib.len();
            assert!(len.abs_diff(n) <= 101.max(n / 100) + 1, "{n} → {len}");
        }
    }

    #[test]
    fn generated_shape() {
        let lib = DemoLibrary::generated(4, 3, 10, 5);
        assert_eq!(lib.len(), 4 + 12 + 120 + 5);
        let ep = lib
            .items
            .iter()
            .find(|i| i.kind == ItemKind::Episode)
            .cloned()
            .unwrap_or_else(|| panic!("no episode"));
        let season = lib
            .items
            .iter()
            .find(|i| Some(&i.id) == ep.parent_id.as_ref())
            .unwrap_or_else(|| panic!("no season"));
        assert_eq!(season.kind, ItemKind::Season);
        assert_eq!(ep.series_id, season.parent_id);
    }
}
