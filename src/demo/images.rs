//! Generated posters, so the app has images to show against the demo servers: a card in a
//! colour taken from the item's title, a darker band across its lower third, at the size asked.
//!
//! - Jellyfin: `GET /Items/{id}/Images/Primary` with `fillHeight`/`maxHeight`/`height` (and the
//!   `…Width` forms); like Jellyfin it answers without a token (images are public there).
//! - Plex: `GET /photo/:/transcode?url=/library/metadata/{id}/thumb/{stamp}&width=&height=`
//!   with the token, as Plex's own clients ask for resized thumbnails.
//!
//! An item without a poster (none here: every item gets one) would be a 404 on both.
//!
//! Injected faults (`fail_next`, `--faults`) do not apply to posters: they are not part of
//! the sync, and a test that fails "the next N requests" means N sync requests, whatever the
//! rows on screen fetch meanwhile. Offline still means offline for them too.

use axum::http::Method;

use super::routes::{Reply, Req};
use super::state::State;

/// The largest side served (a client asking for more gets this).
const MAX_SIDE: u32 = 1_000;

/// Width : height of a poster.
const ASPECT: (u32, u32) = (2, 3);

/// Whether `path` asks for a poster (see the module doc on faults).
pub(crate) fn is_image_path(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    matches!(segs.as_slice(), [items, _, images, _]
        if items.eq_ignore_ascii_case("items") && images.eq_ignore_ascii_case("images"))
        || path.trim_end_matches('/') == "/photo/:/transcode"
}

fn query<'a>(req: &'a Req<'_>, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn side(req: &Req<'_>, names: &[&str]) -> Option<u32> {
    names
        .iter()
        .find_map(|n| query(req, n))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 1.0)
        .map(|v| (v.round() as u32).clamp(1, MAX_SIDE))
}

/// The size to draw: the height asked (or derived from the width), 2:3.
fn size(height: Option<u32>, width: Option<u32>) -> (u32, u32) {
    let h = height
        .or_else(|| width.map(|w| w * ASPECT.1 / ASPECT.0))
        .unwrap_or(300)
        .clamp(3, MAX_SIDE);
    ((h * ASPECT.0 / ASPECT.1).max(1), h)
}

fn png_reply(title: &str, (w, h): (u32, u32)) -> Reply {
    match poster_png(title, w, h) {
        Some(body) => Reply {
            status: 200,
            content_type: Some("image/png"),
            body,
        },
        None => Reply {
            status: 500,
            content_type: None,
            body: Vec::new(),
        },
    }
}

/// Jellyfin's image route (`None`: not an image path).
pub(crate) fn jellyfin(state: &State, req: &Req<'_>) -> Option<Reply> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let [items, raw_id, images, kind] = segs.as_slice() else {
        return None;
    };
    if !items.eq_ignore_ascii_case("items") || !images.eq_ignore_ascii_case("images") {
        return None;
    }
    if *req.method != Method::GET && *req.method != Method::HEAD {
        return Some(empty(405));
    }
    let found = super::routes::normalize_id(raw_id)
        .and_then(|id| state.get(&id))
        .filter(|_| kind.eq_ignore_ascii_case("primary"));
    let Some(item) = found else {
        return Some(empty(404));
    };
    let height = side(req, &["fillHeight", "maxHeight", "height"]);
    let width = side(req, &["fillWidth", "maxWidth", "width"]);
    Some(png_reply(&item.name, size(height, width)))
}

/// Plex's photo transcoder (`None`: not its path).
pub(crate) fn plex(state: &State, req: &Req<'_>) -> Option<Reply> {
    if req.path.trim_end_matches('/') != "/photo/:/transcode" {
        return None;
    }
    if let Err(r) = super::plex::check_access(state, req) {
        return Some(r);
    }
    if *req.method != Method::GET {
        return Some(empty(405));
    }
    let id = query(req, "url")
        .and_then(|u| u.split_once("/library/metadata/"))
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|id| !id.is_empty());
    let Some(item) = id.and_then(|id| state.get(id)) else {
        return Some(empty(404));
    };
    let height = side(req, &["height"]);
    let width = side(req, &["width"]);
    Some(png_reply(&item.name, size(height, width)))
}

fn empty(status: u16) -> Reply {
    Reply {
        status,
        content_type: None,
        body: Vec::new(),
    }
}

/// A colour from the title (FNV-1a), bright enough for a card.
fn colour(title: &str) -> [u8; 3] {
    let mut h: u32 = 0x811c_9dc5;
    for b in title.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [a, b, c, _] = h.to_le_bytes();
    [64 + a / 2, 64 + b / 2, 64 + c / 2]
}

/// The PNG of a `w`×`h` card for `title`.
fn poster_png(title: &str, w: u32, h: u32) -> Option<Vec<u8>> {
    let base = colour(title);
    let band = base.map(|c| c / 2);
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        let c = if y >= h * 2 / 3 { band } else { base };
        for _ in 0..w {
            pixels.extend_from_slice(&c);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_poster_shape_and_stay_bounded() {
        assert_eq!(size(Some(90), None), (60, 90));
        assert_eq!(size(None, Some(60)), (60, 90));
        assert_eq!(size(Some(50_000), None), (666, 1000));
        assert_eq!(size(None, None), (200, 300));
    }

    #[test]
    fn the_card_is_a_png_of_the_asked_size() {
        let png = poster_png("Episode 1", 60, 90).unwrap();
        let decoder = png::Decoder::new(png.as_slice());
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (60, 90));
        assert_ne!(colour("Episode 1"), colour("Episode 2"));
    }
}
