//! One classification of every failure, and the one place that turns it into words.

use std::time::Duration;

/// The class of a failure decides what the engine does with the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// DNS failure, connection refused, no route: pause the account, count no attempt, resume on
    /// connectivity.
    Offline,
    /// Timeout, reset, 5xx, 429, truncated or malformed body: retry with backoff.
    Transient,
    /// 401 / revoked token: pause the account, keep the queue, ask to sign in again.
    Auth,
    /// 404: the item is gone from the server. Needs the user: Retry or Discard.
    NotFound,
    /// 400 / 422 / other 4xx: the server refused this change. Needs the user.
    Rejected,
}

impl ErrorKind {
    /// Stable name, as stored in the outbox (`error_kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Offline => "offline",
            ErrorKind::Transient => "transient",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Rejected => "rejected",
        }
    }

    /// Inverse of [`ErrorKind::as_str`].
    pub fn parse(s: &str) -> Option<ErrorKind> {
        match s {
            "offline" => Some(ErrorKind::Offline),
            "transient" => Some(ErrorKind::Transient),
            "auth" => Some(ErrorKind::Auth),
            "not_found" => Some(ErrorKind::NotFound),
            "rejected" => Some(ErrorKind::Rejected),
            _ => None,
        }
    }

    /// Permanent for this change: the user must decide (Retry / Discard).
    pub fn needs_attention(self) -> bool {
        matches!(self, ErrorKind::NotFound | ErrorKind::Rejected)
    }
}

/// A classified failure. `detail` is the raw, technical text (never containing a token) that a
/// user can copy; the human wording comes from [`SyncError::message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct SyncError {
    pub kind: ErrorKind,
    pub detail: String,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// `Retry-After` from the server: no retry before it expires.
    pub retry_after: Option<Duration>,
    /// The failing request was not the first call of a write made of several (a Plex
    /// unscrobble then timeline): the calls before it were applied.
    pub after_first_call: bool,
}

impl SyncError {
    /// A failure of `kind` with a raw `detail`, no status and no `Retry-After`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> SyncError {
        SyncError {
            kind,
            detail: detail.into(),
            status: None,
            retry_after: None,
            after_first_call: false,
        }
    }

    /// The same failure, of a later call of a write made of several.
    pub fn after_first_call(mut self) -> SyncError {
        self.after_first_call = true;
        self
    }

    /// Whether this failure of a write proves that the server applied nothing of it: the
    /// connection could not be made, or the server refused the write's first call (a 4xx).
    /// A timeout, a reset, a truncated answer or a 5xx prove nothing (DESIGN.md invariant 8).
    pub fn proves_nothing_applied(&self) -> bool {
        !self.after_first_call
            && match self.kind {
                ErrorKind::Offline => true,
                ErrorKind::Auth | ErrorKind::NotFound | ErrorKind::Rejected => {
                    self.status.is_some_and(|s| (400..500).contains(&s))
                }
                ErrorKind::Transient => false,
            }
    }
}

impl SyncError {
    /// A failure that is worth retrying with backoff.
    pub fn transient(detail: impl Into<String>) -> SyncError {
        SyncError::new(ErrorKind::Transient, detail)
    }

    /// The server can't be reached at all.
    pub fn offline(detail: impl Into<String>) -> SyncError {
        SyncError::new(ErrorKind::Offline, detail)
    }

    /// The server (or Playmark itself, before sending) refused the request.
    pub fn rejected(detail: impl Into<String>) -> SyncError {
        SyncError::new(ErrorKind::Rejected, detail)
    }

    /// The credentials are missing, wrong or revoked.
    pub fn auth(detail: impl Into<String>) -> SyncError {
        SyncError::new(ErrorKind::Auth, detail)
    }

    /// A 2xx response whose body is not what the API promises (malformed or truncated JSON,
    /// wrong types, HTML). Transient: a half-started or misbehaving server usually recovers.
    pub fn unexpected_response(what: impl std::fmt::Display) -> SyncError {
        SyncError::transient(format!("unexpected response from server: {what}"))
    }

    /// A response body over the size cap.
    pub fn too_large(max_bytes: usize) -> SyncError {
        SyncError::transient(format!("response too large (more than {max_bytes} bytes)"))
    }

    /// The human wording of this failure, for `server` (a display name such as "Jellyfin at
    /// media.local") with `pending` changes still waiting to be sent.
    ///
    /// The templates use named placeholders only (see [`fill`]), so they can go through gettext
    /// unchanged; the plural forms are chosen from `pending` as `ngettext` would.
    pub fn message(&self, server: &str, pending: usize) -> HumanMessage {
        self.message_translated(server, pending, |t| t.to_string())
    }

    /// [`SyncError::message`] with each template passed through `translate` first (the app
    /// passes gettext; the templates are marked with [`n_`] for xgettext).
    pub fn message_translated(
        &self,
        server: &str,
        pending: usize,
        translate: impl Fn(&str) -> String,
    ) -> HumanMessage {
        let count = pending.to_string();
        let args: &[(&str, &str)] = &[("server", server), ("count", &count)];
        let (template, action) = match self.kind {
            ErrorKind::Offline => (
                match pending {
                    0 => n_("{server} can't be reached"),
                    1 => n_(
                        "{server} can't be reached — {count} change will be sent when it's back",
                    ),
                    _ => n_(
                        "{server} can't be reached — {count} changes will be sent when it's back",
                    ),
                },
                Action::Retry,
            ),
            ErrorKind::Transient => (
                n_("{server} is having trouble — retrying automatically"),
                Action::Retry,
            ),
            ErrorKind::Auth => (
                n_("Sign in to {server} again — your changes are kept"),
                Action::SignIn,
            ),
            ErrorKind::NotFound => (n_("This item is no longer on {server}"), Action::Discard),
            ErrorKind::Rejected => (n_("{server} refused this change"), Action::Discard),
        };
        HumanMessage {
            title: fill(&translate(template), args),
            detail: self.detail.clone(),
            action,
        }
    }
}

/// Marks a template for translation (`xgettext --keyword=n_`) without translating it here:
/// the backend knows no gettext; the app translates through [`SyncError::message_translated`].
pub const fn n_(template: &'static str) -> &'static str {
    template
}

/// What the user can do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Offer "Retry" (the engine retries on its own too).
    Retry,
    /// Offer "Retry" and "Discard": the change won't go through without the user.
    Discard,
    /// Offer "Sign in".
    SignIn,
    /// Nothing to offer.
    None,
}

/// A failure in words: a human title, the raw detail for copying, and the action to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HumanMessage {
    /// One human sentence, never a raw error string.
    pub title: String,
    /// The raw technical detail (never containing a token), for "Copy details".
    pub detail: String,
    /// What to offer the user.
    pub action: Action,
}

/// Replace each `{name}` in `template` by its value from `args`, in one pass (a value that
/// itself contains `{name}` is not substituted again). Unknown placeholders are left as they are.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(k, _)| *k == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Longest body excerpt kept in a detail, in characters.
const SNIPPET_CHARS: usize = 200;

/// Longest `Retry-After` honoured; a larger value is clamped to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Classify an HTTP error status.
///
/// 401 → Auth; 403 → Rejected; 404 → NotFound; 408, 425, 429 and 5xx → Transient; anything
/// else → Rejected. `retry_after` is the raw `Retry-After` header (delta-seconds or HTTP-date);
/// `body_snippet` is the start of the body, which is shortened and cleaned here.
pub fn classify_status(status: u16, retry_after: Option<&str>, body_snippet: &str) -> SyncError {
    let kind = match status {
        401 => ErrorKind::Auth,
        404 | 410 => ErrorKind::NotFound,
        408 | 425 | 429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Rejected,
    };
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut detail = format!("HTTP {status}");
    if !reason.is_empty() {
        detail.push(' ');
        detail.push_str(reason);
    }
    if status == 403 {
        detail.push_str(" (not allowed for this user)");
    }
    let snippet = clean_snippet(body_snippet);
    if !snippet.is_empty() {
        detail.push_str(": ");
        detail.push_str(&snippet);
    }
    SyncError {
        kind,
        detail,
        status: Some(status),
        retry_after: retry_after.and_then(|v| parse_retry_after(v, chrono::Utc::now())),
        after_first_call: false,
    }
}

/// The first `SNIPPET_CHARS` characters of `body`, with line breaks and tabs turned into
/// spaces, other control characters dropped, and runs of spaces collapsed.
pub fn clean_snippet(body: &str) -> String {
    let mut out = String::new();
    let mut taken = 0;
    let mut last_space = true;
    for c in body.chars() {
        if taken >= SNIPPET_CHARS {
            out.push('…');
            break;
        }
        let c = if c.is_whitespace() { ' ' } else { c };
        if c.is_control() {
            continue;
        }
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
        taken += 1;
    }
    out.trim_end().to_string()
}

/// Parse a `Retry-After` value: delta-seconds, or an HTTP-date (IMF-fixdate / RFC 2822, or
/// asctime) taken relative to `now`. A date in the past gives zero. Clamped to
/// [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let wait = if value.bytes().all(|b| b.is_ascii_digit()) {
        // Very long digit strings overflow u64: that is "a very long time".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value)
            .map(|d| d.with_timezone(&chrono::Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y")
                    .map(|n| n.and_utc())
            })
            .ok()?;
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Classify a transport failure (no HTTP response, or the body could not be read).
///
/// Failing to connect (refused, DNS, no route, connect timeout, TLS handshake) → Offline, except
/// an untrusted TLS certificate → Rejected (retrying won't help; the user must act). Request
/// timeout, reset or closed connection, body read or decode errors → Transient. The detail
/// names the URL without its query string.
pub fn classify_transport(err: &reqwest::Error) -> SyncError {
    let chain = source_chain(err);
    let io_kinds: Vec<std::io::ErrorKind> = io_errors(err).iter().map(|e| e.kind()).collect();
    let what;
    let kind = if err.is_builder() {
        what = "invalid request";
        ErrorKind::Rejected
    } else if err.is_redirect() {
        what = "too many redirects";
        ErrorKind::Rejected
    } else if is_certificate_error(err) {
        what = "the server's TLS certificate is not trusted";
        ErrorKind::Rejected
    } else if err.is_connect() {
        what = if err.is_timeout() {
            "connection timed out"
        } else {
            "can't connect"
        };
        ErrorKind::Offline
    } else if io_kinds.iter().any(|k| {
        matches!(
            k,
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
        )
    }) {
        what = "can't connect";
        ErrorKind::Offline
    } else if err.is_timeout() {
        what = "request timed out";
        ErrorKind::Transient
    } else if err.is_body() || err.is_decode() {
        what = "error reading the response";
        ErrorKind::Transient
    } else {
        what = "connection failed during the request";
        ErrorKind::Transient
    };
    let mut detail = what.to_string();
    if let Some(url) = err.url() {
        detail.push_str(" (");
        detail.push_str(&url_without_query(url));
        detail.push(')');
    }
    for cause in chain.into_iter().filter(|c| c != what) {
        detail.push_str(": ");
        detail.push_str(&cause);
    }
    SyncError::new(kind, detail)
}

/// Classify a WebSocket failure (Jellyfin's `/socket`): refused / unreachable → Offline; an
/// HTTP status on the upgrade → as [`classify_status`] (401 → Auth…); anything else (reset,
/// protocol error, closed) → Transient. The detail never holds the URL (its query carries the
/// token).
pub fn classify_websocket(err: &tokio_tungstenite::tungstenite::Error) -> SyncError {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            let mut e = classify_status(status, None, "");
            e.detail = format!("live connection refused: {}", e.detail);
            e
        }
        WsError::Io(io) => {
            let kind = match io.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::NotFound
                | std::io::ErrorKind::TimedOut => ErrorKind::Offline,
                _ => ErrorKind::Transient,
            };
            SyncError::new(kind, format!("live connection: {}", io.kind()))
        }
        WsError::Tls(_) => SyncError::rejected("live connection: TLS failure"),
        WsError::Url(_) => SyncError::rejected("live connection: invalid server address"),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            SyncError::transient("live connection closed")
        }
        other => SyncError::transient(format!("live connection failed: {}", ws_kind(other))),
    }
}

/// A short, URL-free name of a WebSocket error.
fn ws_kind(err: &tokio_tungstenite::tungstenite::Error) -> &'static str {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err {
        WsError::Protocol(_) => "protocol error",
        WsError::Capacity(_) => "message too large",
        WsError::Utf8(_) => "invalid text",
        WsError::WriteBufferFull(_) => "write buffer full",
        WsError::AttackAttempt => "rejected frame",
        _ => "unexpected error",
    }
}

/// `url` without user info, query string and fragment: safe to show and log.
pub fn url_without_query(url: &url::Url) -> String {
    let mut clean = url.clone();
    clean.set_query(None);
    clean.set_fragment(None);
    // Only fails for URLs that cannot have credentials, which then have none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

/// The Display of every error under `err`, outermost first, without repeats.
fn source_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.iter().any(|seen| seen.contains(&text)) {
            out.push(text);
        }
        source = cause.source();
    }
    out
}

/// Every `io::Error` in the source chain of `err`.
fn io_errors<'a>(err: &'a (dyn std::error::Error + 'static)) -> Vec<&'a std::io::Error> {
    let mut out = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            out.push(io);
        }
        source = cause.source();
    }
    out
}

/// rustls reports a certificate it does not trust as "invalid peer certificate: …" (wrapped in
/// an `io::Error`, whose kind depends on the layer that wrapped it).
fn is_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    source_chain(err).iter().any(|text| {
        let text = text.to_ascii_lowercase();
        text.contains("invalid peer certificate") || text.contains("certificate verify failed")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn kind(status: u16) -> ErrorKind {
        classify_status(status, None, "").kind
    }

    #[test]
    fn status_classes() {
        assert_eq!(kind(401), ErrorKind::Auth);
        assert_eq!(kind(403), ErrorKind::Rejected);
        assert_eq!(kind(404), ErrorKind::NotFound);
        for s in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert_eq!(kind(s), ErrorKind::Transient, "{s}");
        }
        for s in [400, 405, 409, 413, 415, 422, 451, 302, 304] {
            assert_eq!(kind(s), ErrorKind::Rejected, "{s}");
        }
    }

    #[test]
    fn status_detail_has_reason_and_clean_snippet() {
        let e = classify_status(503, None, "<html>\r\n\tServer is\x07 starting\n</html>");
        assert_eq!(e.status, Some(503));
        assert_eq!(
            e.detail,
            "HTTP 503 Service Unavailable: <html> Server is starting </html>"
        );
        let e = classify_status(404, None, "");
        assert_eq!(e.detail, "HTTP 404 Not Found");
        let e = classify_status(403, None, "");
        assert!(
            e.detail.contains("not allowed for this user"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn snippet_is_capped_at_200_chars() {
        let body = "é".repeat(500);
        let e = classify_status(500, None, &body);
        let snippet = e.detail.split_once(": ").unwrap().1;
        assert_eq!(snippet.chars().count(), 201); // 200 + ellipsis
        assert!(snippet.ends_with('…'));
    }

    #[test]
    fn retry_after_delta_seconds() {
        let e = classify_status(503, Some(" 120 "), "");
        assert_eq!(e.retry_after, Some(Duration::from_secs(120)));
        let e = classify_status(429, Some("0"), "");
        assert_eq!(e.retry_after, Some(Duration::ZERO));
        let e = classify_status(503, Some("soon"), "");
        assert_eq!(e.retry_after, None);
        let e = classify_status(503, None, "");
        assert_eq!(e.retry_after, None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", chrono::Utc::now()),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_http_date() {
        let now = chrono::Utc
            .with_ymd_and_hms(2015, 10, 21, 7, 27, 0)
            .unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:29:00 2015", now),
            Some(Duration::from_secs(120))
        );
        // In the past: no wait.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Relative to the real clock through classify_status.
        let later = (chrono::Utc::now() + chrono::Duration::seconds(300)).to_rfc2822();
        let got = classify_status(503, Some(&later), "").retry_after.unwrap();
        assert!(
            got > Duration::from_secs(290) && got <= Duration::from_secs(300),
            "{got:?}"
        );
    }

    #[test]
    fn fill_substitutes_named_placeholders_once() {
        assert_eq!(
            fill("{a} and {b} and {a}", &[("a", "x"), ("b", "{a}")]),
            "x and {a} and x"
        );
        assert_eq!(fill("{unknown} {", &[("a", "x")]), "{unknown} {");
        assert_eq!(fill("plain", &[]), "plain");
    }

    #[test]
    fn messages() {
        let s = "Jellyfin at media.local";
        let off = SyncError::offline("tcp connect error");
        let m = off.message(s, 12);
        assert_eq!(
            m.title,
            "Jellyfin at media.local can't be reached — 12 changes will be sent when it's back"
        );
        assert_eq!(m.detail, "tcp connect error");
        assert_eq!(m.action, Action::Retry);
        assert_eq!(
            off.message(s, 1).title,
            "Jellyfin at media.local can't be reached — 1 change will be sent when it's back"
        );
        assert_eq!(
            off.message(s, 0).title,
            "Jellyfin at media.local can't be reached"
        );

        let m = SyncError::transient("HTTP 503").message(s, 3);
        assert_eq!(
            m.title,
            "Jellyfin at media.local is having trouble — retrying automatically"
        );
        assert_eq!(m.action, Action::Retry);

        let m = SyncError::auth("HTTP 401").message(s, 3);
        assert_eq!(
            m.title,
            "Sign in to Jellyfin at media.local again — your changes are kept"
        );
        assert_eq!(m.action, Action::SignIn);

        let m = SyncError::new(ErrorKind::NotFound, "HTTP 404").message(s, 3);
        assert_eq!(m.title, "This item is no longer on Jellyfin at media.local");
        assert_eq!(m.action, Action::Discard);

        let m = SyncError::rejected("HTTP 400").message(s, 3);
        assert_eq!(m.title, "Jellyfin at media.local refused this change");
        assert_eq!(m.action, Action::Discard);
        assert_eq!(m.detail, "HTTP 400");
    }

    #[test]
    fn url_detail_drops_query_and_credentials() {
        let u = url::Url::parse("https://bob:pw@h.example:8920/jf/Items?api_key=SECRET#x").unwrap();
        assert_eq!(url_without_query(&u), "https://h.example:8920/jf/Items");
    }

    #[tokio::test]
    async fn refused_connection_is_offline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/x?api_key=SECRET"))
            .send()
            .await
            .unwrap_err();
        let e = classify_transport(&err);
        assert_eq!(e.kind, ErrorKind::Offline, "{}", e.detail);
        assert!(!e.detail.contains("SECRET"), "{}", e.detail);
        assert!(e.detail.contains("127.0.0.1"), "{}", e.detail);
    }

    #[derive(Debug)]
    struct Wrap(&'static str, Option<std::io::Error>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn untrusted_certificate_is_detected_in_the_chain() {
        let io = |msg: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string());
        let bad = Wrap(
            "client error (Connect)",
            Some(io("invalid peer certificate: UnknownIssuer")),
        );
        assert!(is_certificate_error(&bad));
        let refused = Wrap("client error (Connect)", Some(io("connection refused")));
        assert!(!is_certificate_error(&refused));
    }

    #[tokio::test]
    async fn builder_error_is_rejected() {
        let err = reqwest::Client::new()
            .get("not a url")
            .send()
            .await
            .unwrap_err();
        assert_eq!(classify_transport(&err).kind, ErrorKind::Rejected);
    }
}
