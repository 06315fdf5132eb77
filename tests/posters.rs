//! Posters from both demo servers over loopback (issue 12 §3): the client asks for the size it
//! shows, the answer is checked to be an image, and the disk cache means a poster is fetched
//! once.
#![allow(clippy::unwrap_used)]

mod common;

use common::{media_server, Harness};
use playmark::demo::Fault;
use playmark::model::ServerKind;
use playmark::posters::{PosterCache, ROW_HEIGHT};

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(bytes).read_info().unwrap();
    (reader.info().width, reader.info().height)
}

fn poster_requests(h: &Harness) -> usize {
    h.server
        .requests()
        .iter()
        .filter(|r| r.path.contains("/Images/Primary") || r.path == "/photo/:/transcode")
        .count()
}

async fn a_poster_is_fetched_once_at_the_size_shown(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let client = media_server(kind, &h.server.url(), "posters", &h.token, &h.user_id);
    let dir = tempfile::tempdir().unwrap();
    let cache = PosterCache::new(dir.path(), 10 * 1024 * 1024);
    let ep = h.episode(0);
    h.server.clear_requests();

    let bytes = cache
        .fetch(client.as_ref(), h.account, &ep, ROW_HEIGHT)
        .await
        .unwrap();
    assert_eq!(
        png_size(&bytes),
        (ROW_HEIGHT * 2 / 3, ROW_HEIGHT),
        "{kind:?}"
    );
    assert_eq!(poster_requests(&h), 1);
    let again = cache
        .fetch(client.as_ref(), h.account, &ep, ROW_HEIGHT)
        .await
        .unwrap();
    assert_eq!(again, bytes);
    assert_eq!(
        poster_requests(&h),
        1,
        "{kind:?}: the second comes from the cache"
    );
    // Another item, another poster.
    let other = cache
        .fetch(client.as_ref(), h.account, &h.episode(1), ROW_HEIGHT)
        .await
        .unwrap();
    assert_eq!(poster_requests(&h), 2);
    assert_eq!(png_size(&other), png_size(&bytes));

    // An HTML page answered instead: a clear error, nothing cached.
    h.server.fail_next(1, Fault::Html);
    let ep2 = h.episode(2);
    let err = cache
        .fetch(client.as_ref(), h.account, &ep2, ROW_HEIGHT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("poster"), "{err}");
    assert!(cache.get(h.account, &ep2, ROW_HEIGHT).is_none());
    // An unknown item: the server's 404, nothing cached.
    assert!(cache
        .fetch(client.as_ref(), h.account, "999999", ROW_HEIGHT)
        .await
        .is_err());
    assert!(cache.get(h.account, "999999", ROW_HEIGHT).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_a_poster_is_fetched_once_at_the_size_shown() {
    a_poster_is_fetched_once_at_the_size_shown(ServerKind::Jellyfin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_a_poster_is_fetched_once_at_the_size_shown() {
    a_poster_is_fetched_once_at_the_size_shown(ServerKind::Plex).await;
}
