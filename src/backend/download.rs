//! Where an item's media file can be downloaded from: what a server client hands the download
//! queue (`src/download/`). The token travels in [`DownloadSource::headers`] (marked
//! sensitive), never in the URL.

use std::fmt;

use reqwest::header::HeaderMap;

use crate::model::ServerKind;

/// One item's download: the URL, the headers that sign it, the client to send it with (the
/// account's, with its trusted certificate), and what the server announced about the file.
#[derive(Clone)]
pub struct DownloadSource {
    /// The server's download URL (Jellyfin `/Items/{id}/Download`, Plex the part key with
    /// `download=1`). Never contains the token.
    pub url: url::Url,
    /// Headers to send with it (the token among them, marked sensitive).
    pub headers: HeaderMap,
    /// The account's HTTP client (keep-alive, trusted certificate).
    pub http: reqwest::Client,
    /// The file size the server announced (Jellyfin `MediaSources[0].Size`, Plex
    /// `Media[0].Part[0].size`), if any.
    pub expected_size: Option<u64>,
    /// The container (file extension) the server announced, e.g. "mkv".
    pub container: Option<String>,
    /// Which server this is (for the "who can allow downloads" wording).
    pub kind: ServerKind,
}

impl fmt::Debug for DownloadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadSource")
            .field("url", &crate::backend::error::url_without_query(&self.url))
            .field("expected_size", &self.expected_size)
            .field("container", &self.container)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A container name safe as a file extension (letters and digits, at most 8), else `None`.
pub fn safe_container(container: Option<&str>) -> Option<String> {
    let c = container?.split(',').next()?.trim().to_ascii_lowercase();
    (!c.is_empty() && c.len() <= 8 && c.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(c)
}
