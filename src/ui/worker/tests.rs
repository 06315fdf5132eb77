use super::lifecycle::reset_demo_dir;
use super::*;

#[test]
fn the_app_pulls_at_the_pull_interval_setting() {
    use crate::store::SettingKey;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&database_path(dir.path())).unwrap();
    let pull = |store: &Store| engine_config(store).pull.unwrap();
    assert_eq!(pull(&store).interval_ms, 5 * 60_000, "default");
    store.set_setting(SettingKey::PullIntervalS, "120").unwrap();
    assert_eq!(pull(&store).interval_ms, 120_000);
    assert_eq!(pull(&store).max_interval_ms, 60 * 60_000);
    store
        .set_setting(SettingKey::PullIntervalS, "86400")
        .unwrap();
    // Longer than the usual cap: the setting wins, no doubling past it.
    assert_eq!(pull(&store).interval_ms, 86_400_000);
    assert_eq!(pull(&store).max_interval_ms, 86_400_000);
}

#[test]
fn demo_reset_removes_only_the_database_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "playmark.db",
        "playmark.db-wal",
        "token-1",
        "window-state",
        "notes.txt",
    ] {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    reset_demo_dir(dir.path()).unwrap();
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt", "window-state"]);
    // A missing directory is fine (first start).
    reset_demo_dir(&dir.path().join("missing")).unwrap();
}

#[test]
fn passwords_never_print() {
    let input = SyncQueueInput::SignIn {
        url: "https://media.local".into(),
        user: "ann".into(),
        password: Password("hunter2".into()),
    };
    let shown = format!("{input:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("ann"));
}
