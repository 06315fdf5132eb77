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

/// The relay's only re-read: a receiver that lagged (the engine's event buffer overflowed
/// while it was busy) takes a fresh snapshot, so every queued change's badge, the list and the
/// counts are right again. Fails when the `Lagged` arm re-reads nothing.
#[test]
fn a_relay_that_lagged_shows_a_fresh_snapshot() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = DemoServer::start(DemoConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&database_path(dir.path())).unwrap();
        let device_id = store.device_id().unwrap();
        let client = JellyfinClient::new(
            &server.url(),
            DeviceInfo::playmark(device_id.clone()),
            ClientOptions::default(),
        )
        .unwrap();
        let session = client.authenticate(DEMO_USER, DEMO_PASSWORD).await.unwrap();
        let account = store
            .upsert_account(
                &NewAccount {
                    kind: ServerKind::Jellyfin,
                    base_url: &server.url(),
                    server_id: &session.server_id,
                    server_name: "Demo",
                    user_id: &session.user_id,
                    user_name: DEMO_USER,
                    device_id: &device_id,
                },
                SystemClock.now(),
            )
            .unwrap();
        let client = client.with_session(session.access_token, session.user_id);
        // Room for two events: recording four changes (a badge and the counts each) overflows.
        let config = EngineConfig {
            event_capacity: 2,
            ..EngineConfig::default()
        };
        let engine = Engine::new(
            store,
            account,
            Arc::new(client),
            Arc::new(SystemClock),
            config,
        );
        engine.refresh(DEFAULT_PAGE_SIZE).await.unwrap();
        let items: Vec<String> = engine
            .with_store(|s| s.items(account))
            .unwrap()
            .into_iter()
            .filter(|i| i.kind.is_playable())
            .map(|i| i.item_id)
            .take(4)
            .collect();
        assert_eq!(items.len(), 4);
        let (snapshot, events) = engine.subscribe_with_snapshot().unwrap();
        assert!(snapshot.items.is_empty(), "nothing queued yet");
        for (n, id) in items.iter().enumerate() {
            let position_ms = 61_000 + 1_000 * n as i64;
            engine
                .record_change(id, LocalChange::Position { position_ms })
                .unwrap();
        }
        let (out, shown) = relm4::channel::<SyncQueueOutput>();
        let relay = Relay::new(engine.clone(), out, "Demo".into());
        let task = tokio::spawn(forward_events(relay, events));
        let mut states = None;
        let mut counts = None;
        while states.is_none() || counts.is_none() {
            let next = tokio::time::timeout(Duration::from_secs(10), shown.recv()).await;
            match next.expect("the relay shows a snapshot after lagging") {
                Some(SyncQueueOutput::Snapshot { states: s }) => states = Some(s),
                Some(SyncQueueOutput::Counts { counts: c }) if states.is_some() => counts = Some(c),
                Some(_) => {}
                None => panic!("the relay stopped"),
            }
        }
        task.abort();
        let mut states = states.unwrap_or_default();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected: Vec<(String, ItemSyncState)> = items
            .iter()
            .map(|id| (id.clone(), ItemSyncState::Queued))
            .collect();
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(states, expected, "every queued change's badge");
        assert_eq!(counts.map(|c| c.total()), Some(4), "the counts after it");
    });
}
