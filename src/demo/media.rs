//! Playable media for the demo servers, generated on the fly (nothing is stored).
//!
//! Every episode and movie is an uncompressed YUV4MPEG2 video (`.y4m`): a 32×24 frame at one
//! frame per second, as many frames as the item's runtime has seconds. mpv plays it over HTTP.
//! Every frame has the same size, so the byte at any offset is computable and any `Range` can
//! be served without generating what comes before it. Each frame shows a bar that grows with
//! the position and carries per-frame noise derived from the item, so two different offsets of
//! the same file (or the same offset of two items) never hold the same bytes: a download
//! resumed at the wrong offset fails its hash.
//!
//! The routes (both kinds, answered before the JSON routes in `mod.rs`):
//! - Jellyfin: `GET|HEAD /Items/{id}/Download` (token required; 403 when the user's policy
//!   forbids downloads, as Jellyfin's `Download` authorization policy does), and
//!   `GET|HEAD /Videos/{id}/stream[.{container}]` (the streaming endpoint a player uses;
//!   anonymous, as in the API document).
//! - Plex: `GET|HEAD /library/parts/{partId}/{changestamp}/{filename}` (token and client id
//!   required); with `download=1` and downloads forbidden: 403 "server owner has forbidden
//!   download of media". The part's `key` and `size` are in the item's `Media[].Part[]`.
//!
//! Responses carry `Accept-Ranges: bytes` and `Content-Length`; a single `Range: bytes=…`
//! gives 206 with `Content-Range`, an unsatisfiable one 416 with `Content-Range: bytes */LEN`.
//! A server switch ([`super::DemoServer::set_media_ranges`]) ignores `Range` (200 with the
//! whole file, as some proxies do), another one ([`super::DemoServer::set_media_rate`])
//! throttles media bodies.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use bytes::Bytes;
use futures::StreamExt;

use super::library::LibItem;
use super::routes::{Reply, Req};
use super::state::State;

/// Frame width and height in pixels.
pub(crate) const WIDTH: u64 = 32;
/// Frame height in pixels.
pub(crate) const HEIGHT: u64 = 24;
/// `FRAME\n` plus Y (W×H) plus U and V (each W/2×H/2, 4:2:0).
pub(crate) const FRAME_LEN: u64 = 6 + WIDTH * HEIGHT * 3 / 2;
/// The stream header (1 fps, progressive, square pixels, JPEG 4:2:0).
const HEADER: &[u8] = b"YUV4MPEG2 W32 H24 F1:1 Ip A1:1 C420jpeg\n";
/// The container name the servers report.
pub(crate) const CONTAINER: &str = "y4m";
/// The MIME type of the media responses.
const MIME: &str = "video/x-yuv4mpeg";
/// Plex part ids are the item's ratingKey plus this (so they differ from ratingKeys).
pub(crate) const PLEX_PART_OFFSET: u64 = 100_000;
/// Bytes per chunk of a response body.
const CHUNK: usize = 64 * 1024;

/// One generated video.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Media {
    seed: u64,
    frames: u64,
}

/// FNV-1a 64 of a name: the per-item seed (the same for both kinds: it hashes the path).
fn seed_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64: per-frame noise.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Media {
    /// The media of a playable item with a runtime; `None` for folders and items without one.
    pub(crate) fn of(item: &LibItem) -> Option<Media> {
        if !item.kind.is_playable() {
            return None;
        }
        let ms = u64::try_from(item.runtime_ms?).ok().filter(|ms| *ms > 0)?;
        Some(Media {
            seed: seed_of(&item.path),
            frames: ms.div_ceil(1000),
        })
    }

    /// Total size in bytes.
    pub(crate) fn len(&self) -> u64 {
        HEADER.len() as u64 + self.frames * FRAME_LEN
    }

    /// Duration in milliseconds (whole seconds: one frame each).
    pub(crate) fn duration_ms(&self) -> u64 {
        self.frames * 1000
    }

    /// Frame `n` (with its `FRAME\n` marker).
    fn frame(&self, n: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAME_LEN as usize);
        out.extend_from_slice(b"FRAME\n");
        let bar = ((n + 1) * WIDTH).checked_div(self.frames).unwrap_or(0);
        let noise = mix(self.seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let base: u8 = if x < bar && y >= HEIGHT - 4 { 200 } else { 40 };
                let bits = noise.rotate_left(((y * WIDTH + x) % 64) as u32) & 0x1f;
                out.push(base + bits as u8);
            }
        }
        let chroma = (WIDTH / 2) * (HEIGHT / 2);
        let tint = 112 + (self.seed % 32) as u8;
        out.extend(std::iter::repeat_n(tint, chroma as usize));
        out.extend(std::iter::repeat_n(128u8, chroma as usize));
        out
    }

    /// The bytes `start..end` (end exclusive, clamped to the length).
    pub(crate) fn read(&self, start: u64, end: u64) -> Vec<u8> {
        let end = end.min(self.len());
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        let mut pos = start;
        let header = HEADER.len() as u64;
        while pos < end {
            if pos < header {
                let stop = end.min(header);
                out.extend_from_slice(&HEADER[pos as usize..stop as usize]);
                pos = stop;
                continue;
            }
            let n = (pos - header) / FRAME_LEN;
            let frame_start = header + n * FRAME_LEN;
            let frame = self.frame(n);
            let from = (pos - frame_start) as usize;
            let to = ((end - frame_start).min(FRAME_LEN)) as usize;
            out.extend_from_slice(&frame[from..to]);
            pos = frame_start + to as u64;
        }
        out
    }
}

/// What a `Range` header asks for, against a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// No (usable) range: the whole file, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parse a `Range` header (RFC 9110 §14.1.2) for a single range; several ranges or a syntax
/// error are ignored (the whole file is sent, which the RFC allows).
pub(crate) fn parse_range(value: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeAsk::Whole,
        // Suffix: the last N bytes.
        (true, false) => match num(b) {
            None => RangeAsk::Whole,
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if len == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(len.saturating_sub(n), len - 1),
        },
        (false, open) => {
            let Some(start) = num(a) else {
                return RangeAsk::Whole;
            };
            let end = if open {
                len.saturating_sub(1)
            } else {
                match num(b) {
                    Some(e) if e >= start => e.min(len.saturating_sub(1)),
                    _ => return RangeAsk::Whole,
                }
            };
            if start >= len {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part(start, end)
            }
        }
    }
}

/// A media request the router accepted: what to send.
#[derive(Debug)]
pub(crate) struct Served {
    media: Media,
    filename: String,
    head: bool,
    /// `Content-Disposition: attachment` (a download).
    attachment: bool,
}

/// Server-wide media switches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MediaSettings {
    /// Honour `Range` (default); `false` answers 200 with the whole file.
    pub ranges: bool,
    /// Throttle media bodies to this many bytes per second.
    pub rate: Option<u64>,
}

impl Default for MediaSettings {
    fn default() -> MediaSettings {
        MediaSettings {
            ranges: true,
            rate: None,
        }
    }
}

fn html(status: u16, title: &str) -> Reply {
    Reply {
        status,
        content_type: Some("text/html"),
        body: format!(
            "<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>"
        )
        .into_bytes(),
    }
}

fn empty(status: u16) -> Reply {
    Reply {
        status,
        content_type: None,
        body: Vec::new(),
    }
}

fn file_name(item: &LibItem) -> String {
    let clean: String = item
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{clean}.{CONTAINER}")
}

/// The server-side path of an item's media file (its library path with the `.y4m` extension).
pub(crate) fn file_path(item: &LibItem) -> String {
    let stem = match item.path.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => stem,
        _ => item.path.as_str(),
    };
    format!("{stem}.{CONTAINER}")
}

/// Jellyfin media routes: `None` when the path is not one.
pub(crate) fn jellyfin(state: &State, req: &Req<'_>) -> Option<Result<Served, Reply>> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let (raw_id, download) = match l.as_slice() {
        ["items", _, "download"] => (segs.get(1)?, true),
        ["videos", _, s] if *s == "stream" || s.starts_with("stream.") => (segs.get(1)?, false),
        _ => return None,
    };
    Some(jellyfin_inner(state, req, raw_id, download))
}

fn jellyfin_inner(
    state: &State,
    req: &Req<'_>,
    raw_id: &str,
    download: bool,
) -> Result<Served, Reply> {
    let head = *req.method == Method::HEAD;
    if *req.method != Method::GET && !head {
        return Err(empty(405));
    }
    if download {
        let token = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(super::routes::parse_authorization)
            .and_then(|a| a.get("token").cloned())
            .unwrap_or_default();
        if !state.tokens.contains_key(&token) {
            return Err(empty(401));
        }
        if !state.downloads_allowed {
            // The `Download` policy fails: Forbid() without a body.
            return Err(empty(403));
        }
    }
    let id = super::routes::normalize_id(raw_id).ok_or_else(|| {
        super::routes::Reply::bad_request(&format!("The value '{raw_id}' is not valid."))
    })?;
    let item = state.get(&id).ok_or_else(super::routes::Reply::not_found)?;
    let media = Media::of(item).ok_or_else(super::routes::Reply::not_found)?;
    Ok(Served {
        filename: file_name(item),
        media,
        head,
        attachment: download,
    })
}

/// The Plex part id of an item (its ratingKey plus [`PLEX_PART_OFFSET`]).
pub(crate) fn plex_part_id(rating_key: &str) -> Option<u64> {
    rating_key.parse::<u64>().ok().map(|k| k + PLEX_PART_OFFSET)
}

/// The Plex `Media` array of a playable item (one media, one part), or `None`.
pub(crate) fn plex_media(item: &LibItem, changestamp: i64) -> Option<serde_json::Value> {
    let media = Media::of(item)?;
    let part = plex_part_id(&item.id)?;
    let duration = media.duration_ms();
    Some(serde_json::json!([{
        "id": part,
        "duration": duration,
        "bitrate": (FRAME_LEN * 8).div_ceil(1000),
        "width": WIDTH,
        "height": HEIGHT,
        "aspectRatio": 1.33,
        "container": CONTAINER,
        "videoCodec": "rawvideo",
        "videoResolution": "sd",
        "videoFrameRate": "PAL",
        "Part": [{
            "id": part,
            "key": format!("/library/parts/{part}/{changestamp}/file.{CONTAINER}"),
            "duration": duration,
            "file": file_path(item),
            "size": media.len(),
            "container": CONTAINER,
        }],
    }]))
}

/// Plex media routes: `None` when the path is not one; token and client id are required.
pub(crate) fn plex(state: &State, req: &Req<'_>) -> Option<Result<Served, Reply>> {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["library", "parts", part, _stamp, _file] = segs.as_slice() else {
        return None;
    };
    if let Err(r) = super::plex::check_access(state, req) {
        return Some(Err(r));
    }
    let download = req
        .query
        .iter()
        .any(|(k, v)| k == "download" && (v == "1" || v.eq_ignore_ascii_case("true")));
    Some(plex_inner(state, req, part, download))
}

fn plex_inner(state: &State, req: &Req<'_>, part: &str, download: bool) -> Result<Served, Reply> {
    let head = *req.method == Method::HEAD;
    if *req.method != Method::GET && !head {
        return Err(html(405, "Method Not Allowed"));
    }
    let key = part
        .parse::<u64>()
        .ok()
        .and_then(|p| p.checked_sub(PLEX_PART_OFFSET))
        .map(|k| k.to_string())
        .ok_or_else(|| html(404, "Not Found"))?;
    let item = state.get(&key).ok_or_else(|| html(404, "Not Found"))?;
    let media = Media::of(item).ok_or_else(|| html(404, "Not Found"))?;
    if download && !state.downloads_allowed {
        return Err(html(
            403,
            "Forbidden: the server owner has forbidden download of media",
        ));
    }
    Ok(Served {
        filename: file_name(item),
        media,
        head,
        attachment: download,
    })
}

/// The HTTP response for a served media request. `truncate`: send about half the body, then
/// fail it (the connection closes short of `Content-Length`).
pub(crate) fn respond(
    served: Served,
    range: Option<&str>,
    settings: MediaSettings,
    truncate: bool,
) -> (u16, Response<Body>) {
    let len = served.media.len();
    let ask = if settings.ranges {
        parse_range(range, len)
    } else {
        RangeAsk::Whole
    };
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MIME));
    if served.attachment {
        if let Ok(v) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}\"", served.filename))
        {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    let (status, start, end) = match ask {
        RangeAsk::Whole => (200, 0, len),
        RangeAsk::Part(a, b) => (206, a, b + 1),
        RangeAsk::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            h.remove(header::CONTENT_TYPE);
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            return (416, r);
        }
    };
    if status == 206 {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if served.head {
        return (status, r);
    }
    let stop = if truncate {
        start + (end - start) / 2
    } else {
        end
    };
    *r.body_mut() = Body::from_stream(body(served.media, start, stop, truncate, settings.rate));
    (status, r)
}

/// The body bytes `start..stop` in chunks, throttled to `rate` bytes/s; with `fail`, an error
/// after the last chunk (so hyper closes the connection short of the announced length).
fn body(
    media: Media,
    start: u64,
    stop: u64,
    fail: bool,
    rate: Option<u64>,
) -> impl futures::Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let chunk = match rate {
        // About ten chunks a second when throttled.
        Some(r) => (r / 10).clamp(1, CHUNK as u64),
        None => CHUNK as u64,
    };
    let chunks = futures::stream::unfold(start, move |pos| {
        let media = media.clone();
        async move {
            if pos >= stop {
                return None;
            }
            let next = (pos + chunk).min(stop);
            if let Some(r) = rate.filter(|r| *r > 0) {
                tokio::time::sleep(Duration::from_secs_f64((next - pos) as f64 / r as f64)).await;
            }
            Some((Ok(Bytes::from(media.read(pos, next))), next))
        }
    });
    let tail = futures::stream::iter(fail.then_some(())).then(|()| async {
        // Give the bytes sent so far time to leave before the connection is dropped.
        tokio::time::sleep(Duration::from_millis(30)).await;
        Err(io::Error::other(
            "demo server: injected reset in the middle of the body",
        ))
    });
    chunks.chain(tail)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::ItemKind;

    fn media(runtime_ms: i64) -> Media {
        let item = LibItem {
            provider_ids: Vec::new(),
            id: "x".into(),
            kind: ItemKind::Movie,
            name: "M".into(),
            sort_name: "m".into(),
            parent_id: None,
            series_id: None,
            series_name: None,
            season_id: None,
            season_name: None,
            season_number: None,
            episode_number: None,
            runtime_ms: Some(runtime_ms),
            year: None,
            path: "/movies/m".into(),
        };
        Media::of(&item).unwrap()
    }

    #[test]
    fn any_range_equals_the_same_slice_of_the_whole() {
        let m = media(61_500);
        assert_eq!(m.duration_ms(), 62_000);
        let whole = m.read(0, m.len());
        assert_eq!(whole.len() as u64, m.len());
        assert!(whole.starts_with(HEADER));
        for (a, b) in [
            (0, 1),
            (3, 100),
            (39, 41),
            (40, 1198),
            (1000, 5000),
            (0, m.len()),
        ] {
            assert_eq!(m.read(a, b), whole[a as usize..b as usize], "{a}..{b}");
        }
        // Every frame starts with its marker, and no two frames are equal.
        let frames: Vec<&[u8]> = whole[HEADER.len()..].chunks(FRAME_LEN as usize).collect();
        assert_eq!(frames.len(), 62);
        assert!(frames.iter().all(|f| f.starts_with(b"FRAME\n")));
        for (i, f) in frames.iter().enumerate() {
            assert!(frames[i + 1..].iter().all(|g| g != f), "frame {i} repeats");
        }
    }

    #[test]
    fn ranges() {
        use RangeAsk::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 100), Part(0, 99));
        assert_eq!(parse_range(Some("bytes=10-19"), 100), Part(10, 19));
        assert_eq!(parse_range(Some("bytes=10-1000"), 100), Part(10, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-1000"), 100), Part(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=x-"), 100), Whole);
    }
}
