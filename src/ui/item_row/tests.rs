//! Unit tests of the row store.

use super::*;
use crate::model::ItemKind;

fn movie(id: &str, name: &str) -> ItemView {
    ItemView {
        item_id: id.into(),
        kind: ItemKind::Movie,
        name: name.into(),
        parent_id: None,
        series_id: None,
        season_id: None,
        series_name: None,
        season_number: None,
        episode_number: None,
        runtime_ms: Some(1_000),
        position_ms: 0,
        played: false,
        play_count: 0,
        last_played: None,
        sync_state: None,
        unwatched: None,
    }
}

#[test]
fn a_load_in_parts_keeps_states_that_came_first_and_drops_items_it_did_not_bring() {
    let (tx, _rx) = relm4::channel::<ItemRowOutput>();
    let store = RowStore::new(tx);
    store.load(vec![movie("old", "Old"), movie("a", "A")]);
    store.set_state("a", ItemSyncState::Queued);

    let load = store.begin_load();
    store.load_part(load, vec![movie("a", "A again")]);
    // The state of an item whose part has not come yet is kept for it.
    store.set_state("b", ItemSyncState::Queued);
    assert!(store.get("b").is_none());
    store.load_part(load, vec![movie("b", "B")]);
    store.finish_load(load);

    assert_eq!(store.len(), 2, "the item the load did not bring is gone");
    assert!(store.get("old").is_none());
    let a = store.get("a").unwrap();
    assert_eq!(a.item.name, "A again");
    assert_eq!(a.state, Some(ItemSyncState::Queued), "kept across the load");
    let b = store.get("b").unwrap();
    assert_eq!(b.state, Some(ItemSyncState::Queued), "the early state");
    assert!(b.badge_visible);
    // Once the load is over, a state for an unknown item is not kept for a later one.
    store.set_state("c", ItemSyncState::Queued);
    store.load(vec![movie("a", "A"), movie("b", "B"), movie("c", "C")]);
    assert_eq!(store.get("c").unwrap().state, None);
}
