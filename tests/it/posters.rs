//! Posters from both demo servers over loopback (issue 12 §3): the client asks for the size it
//! shows, the answer is checked to be an image, and the disk cache means a poster is fetched
//! once.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{media_server, Harness};
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

    // Injected faults are for the sync's requests: a poster fetched meanwhile takes none.
    h.server.fail_next(
        1,
        playmark::demo::Fault::Status {
            code: 500,
            retry_after: None,
        },
    );
    let ep2 = h.episode(2);
    cache
        .fetch(client.as_ref(), h.account, &ep2, ROW_HEIGHT)
        .await
        .unwrap();
    assert!(client.probe().await.is_err(), "the fault is still queued");
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

/// An answer that is not an image (an HTML page from a proxy, a JSON error with 200) is an
/// error, not a poster.
#[test]
fn only_images_are_taken_for_posters() {
    use playmark::backend::check_image;
    assert!(check_image(b"<!DOCTYPE html><html>502 Bad Gateway</html>".to_vec()).is_err());
    assert!(check_image(b"{\"error\": \"nope\"}".to_vec()).is_err());
    assert!(check_image(Vec::new()).is_err());
    assert!(check_image(b"\x89PNG\r\n\x1a\n....".to_vec()).is_ok());
    assert!(check_image(vec![0xFF, 0xD8, 0xFF, 0xE0]).is_ok());
    assert!(check_image(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()).is_ok());
}
