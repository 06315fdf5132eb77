//! The library's index: the children of each series and season, built off the GTK thread.

use super::*;

/// The library's lists, computed from every item: series and movies in title order, and each
/// series' seasons and each season's episodes in season/episode order. The SyncQueue worker
/// builds it off the GTK thread ([`LibraryIndex::of`] is plain data work, no GTK), so a
/// 100,000-item library costs the GTK thread no sorting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryIndex {
    /// Every series, by title.
    pub series: Vec<String>,
    /// Every movie, by title.
    pub movies: Vec<String>,
    /// Children by parent id: a series' seasons, a season's episodes.
    pub children: HashMap<String, Vec<String>>,
}

impl LibraryIndex {
    /// Index `items`.
    pub fn of(items: &[ItemView]) -> LibraryIndex {
        let mut series: Vec<(String, &str)> = Vec::new();
        let mut movies: Vec<(String, &str)> = Vec::new();
        let mut children: HashMap<&str, Vec<ChildKey<'_>>> = HashMap::new();
        for i in items {
            match i.kind {
                ItemKind::Series => series.push((i.name.to_lowercase(), &i.item_id)),
                ItemKind::Movie => movies.push((i.name.to_lowercase(), &i.item_id)),
                ItemKind::Season => {
                    if let Some(p) = i.parent_id.as_ref().or(i.series_id.as_ref()) {
                        children
                            .entry(p)
                            .or_default()
                            .push((i.season_number, None, &i.item_id));
                    }
                }
                ItemKind::Episode => {
                    if let Some(p) = i.parent_id.as_ref().or(i.season_id.as_ref()) {
                        children.entry(p).or_default().push((
                            i.season_number,
                            i.episode_number,
                            &i.item_id,
                        ));
                    }
                }
            }
        }
        series.sort_unstable();
        movies.sort_unstable();
        let ids = |v: Vec<(String, &str)>| v.into_iter().map(|(_, id)| id.to_string()).collect();
        LibraryIndex {
            series: ids(series),
            movies: ids(movies),
            children: children
                .into_iter()
                .map(|(parent, mut kids)| {
                    kids.sort_unstable();
                    (
                        parent.to_string(),
                        kids.into_iter().map(|(_, _, id)| id.to_string()).collect(),
                    )
                })
                .collect(),
        }
    }
}
