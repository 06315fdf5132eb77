//! The request path both server clients share (Jellyfin and Plex): client identity and
//! options, address validation, the same-origin redirect rule, one `execute` that sends a
//! request and reads its body through a size cap with every failure classified, JSON parsing;
//! plus the transport safety checks on a server address, shared by the CLI and the app.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Response;
use url::Url;

use crate::backend::error::{classify_status, classify_transport, url_without_query};
use crate::backend::SyncError;

/// Most redirects followed (all within the same origin).
pub const MAX_REDIRECTS: usize = 5;

/// How much of an error response body is read for the detail.
const ERROR_BODY_PREFIX: usize = 4096;

/// How this installation identifies itself to the server (the `Authorization` header fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Client name, "Playmark".
    pub client: String,
    /// Human device name, e.g. the host name.
    pub device: String,
    /// Stable per installation: the server ties the access token to it.
    pub device_id: String,
    /// Client version.
    pub version: String,
}

impl DeviceInfo {
    /// Playmark's own identity: client "Playmark", this crate's version, the host name as
    /// device name, and the given stable `device_id`.
    pub fn playmark(device_id: impl Into<String>) -> DeviceInfo {
        DeviceInfo {
            client: "Playmark".to_string(),
            device: host_name(),
            device_id: device_id.into(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The host name, best effort; "Desktop" when unknown.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "Desktop".to_string())
}

/// Timeouts and limits of a server client (Jellyfin or Plex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Whole request, from connecting to the end of the body. Default 30 s.
    pub timeout: Duration,
    /// Connecting (TCP + TLS). Default 5 s; running out means Offline.
    pub connect_timeout: Duration,
    /// Largest response body accepted. Default 32 MiB.
    pub max_body_bytes: usize,
    /// A certificate (PEM) trusted in addition to the system's roots: the explicit opt-in for
    /// a server with a self-signed certificate. Certificate verification itself is never
    /// turned off; only this one certificate (or what it signed) is added. Default none.
    pub trusted_certificate_pem: Option<Vec<u8>>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 32 * 1024 * 1024,
            trusted_certificate_pem: None,
        }
    }
}

/// Check a server address typed by the user and normalize it: scheme http or https required,
/// no spaces, no credentials, query or fragment; the trailing '/' is removed and a path prefix
/// (`https://host/jellyfin`) is kept. Failures are Rejected with a detail saying what to fix.
pub fn validate_base_url(input: &str) -> Result<String, SyncError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(SyncError::rejected("the server address is empty"));
    }
    if input.chars().any(char::is_whitespace) {
        return Err(SyncError::rejected(format!(
            "the server address \"{input}\" contains spaces"
        )));
    }
    if !input.contains("://") {
        // Plain words: "scheme" is jargon, and the example must not suggest https only (a
        // server on the local network often speaks http).
        return Err(SyncError::rejected(format!(
            "add http:// or https:// to the start of \"{input}\""
        )));
    }
    let url = Url::parse(input).map_err(|e| {
        SyncError::rejected(format!("the server address \"{input}\" is not valid: {e}"))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(SyncError::rejected(format!(
            "the server address must start with http:// or https://, not {}://",
            url.scheme()
        )));
    }
    if url.host_str().unwrap_or_default().is_empty() {
        return Err(SyncError::rejected(format!(
            "the server address \"{input}\" has no host name"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SyncError::rejected(
            "the server address must not contain a user name or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SyncError::rejected(
            "the server address must not contain '?' or '#'",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Parse a certificate the user chose to trust; anything but PEM certificates is Rejected.
pub(crate) fn trusted_certificate(pem: &[u8]) -> Result<reqwest::Certificate, SyncError> {
    let not_pem = || {
        SyncError::rejected(
            "the certificate to trust is not a PEM certificate \
             (a file starting with -----BEGIN CERTIFICATE-----)",
        )
    };
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(not_pem());
    }
    reqwest::Certificate::from_pem(pem).map_err(|_| not_pem())
}

pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Read a whole body, failing (Transient "response too large") as soon as it exceeds `max`.
/// Send a request and read its body (capped): transport failures and non-2xx answers are
/// classified here, for every server kind.
pub(crate) async fn execute(
    request: reqwest::RequestBuilder,
    max_body_bytes: usize,
) -> Result<Vec<u8>, SyncError> {
    let response = request.send().await.map_err(|e| classify_transport(&e))?;
    if !response.status().is_success() {
        return Err(error_from_response(response).await);
    }
    read_capped(response, max_body_bytes).await
}

/// [`execute`], also returning the server's clock when it answered (its `Date` header, RFC
/// 9110), in ms since the epoch; `None` when absent or unreadable.
pub(crate) async fn execute_dated(
    request: reqwest::RequestBuilder,
    max_body_bytes: usize,
) -> Result<(Vec<u8>, Option<crate::model::Millis>), SyncError> {
    let response = request.send().await.map_err(|e| classify_transport(&e))?;
    if !response.status().is_success() {
        return Err(error_from_response(response).await);
    }
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.timestamp_millis());
    Ok((read_capped(response, max_body_bytes).await?, date))
}

pub(crate) async fn read_capped(mut response: Response, max: usize) -> Result<Vec<u8>, SyncError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(SyncError::too_large(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify_transport(&e))? {
        if body.len() + chunk.len() > max {
            return Err(SyncError::too_large(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Classify a non-2xx response, reading at most a small prefix of its body.
pub(crate) async fn error_from_response(mut response: Response) -> SyncError {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after");
    let message = header("message");
    let location = header("location");
    let text = if (300..400).contains(&status) {
        let target = location
            .as_deref()
            .and_then(|l| response.url().join(l).ok())
            .map(|u| url_without_query(&u))
            .unwrap_or_else(|| "an unknown address".to_string());
        format!("the server redirected to {target}; redirects to another address are not followed, use that address instead")
    } else {
        let mut prefix = Vec::new();
        while prefix.len() < ERROR_BODY_PREFIX {
            match response.chunk().await {
                Ok(Some(chunk)) => prefix.extend_from_slice(&chunk),
                _ => break,
            }
        }
        prefix.truncate(ERROR_BODY_PREFIX);
        let body = String::from_utf8_lossy(&prefix).trim().to_string();
        if body.is_empty() {
            message.unwrap_or_default()
        } else {
            body
        }
    };
    classify_status(status, retry_after.as_deref(), &text)
}

/// Parse a 2xx JSON body; anything unparsable is Transient "unexpected response". The error
/// names what was wrong, never the body itself (an auth response carries a token).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SyncError> {
    serde_json::from_slice(body).map_err(|e| {
        let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
        let what = match trimmed.map(|i| body[i]) {
            None => "empty body".to_string(),
            Some(b'<') => "HTML instead of JSON".to_string(),
            _ if e.is_eof() => format!("truncated JSON ({e})"),
            _ => format!("invalid JSON ({e})"),
        };
        SyncError::unexpected_response(what)
    })
}

/// True when `host` names this machine: `localhost` (and `*.localhost`), any 127.0.0.0/8
/// address, `::1`, or an IPv4-mapped loopback address.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The warning to show before signing in to `base_url`, if any: plain `http://` to a host
/// other than this machine sends the password and then the access token unencrypted, readable
/// by anyone on the network path. Loopback addresses and `https://` get no warning; an
/// address that does not parse gets none either (validation reports it).
///
/// Decision: a LAN address (192.168.x.y, `media.local`) is warned about too. It is the common
/// setup and Playmark still allows it, but the person should know.
pub fn plaintext_warning(base_url: &str) -> Option<String> {
    let url = Url::parse(base_url.trim()).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let host = url.host()?;
    if is_loopback_host(&host) {
        return None;
    }
    let shown = match host {
        url::Host::Ipv6(ip) => format!("[{}]", IpAddr::V6(ip)),
        other => other.to_string(),
    };
    Some(format!(
        "Warning: {shown} is reached over plain http://, so your password and access token \
         travel unencrypted and anyone on the network between here and the server can read \
         them. Use https:// unless this is a network you trust."
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_to_another_host_warns() {
        for url in [
            "http://192.0.2.1:8096",
            "http://media.local:8096",
            "http://192.168.1.20",
            "http://[2001:db8::1]:8096",
            "http://localhost.example.com",
            "HTTP://Media.Example.COM/jellyfin",
        ] {
            let w = plaintext_warning(url).unwrap_or_else(|| panic!("no warning for {url}"));
            assert!(w.contains("plain http://"), "{w}");
            assert!(w.contains("unencrypted"), "{w}");
        }
        let w = plaintext_warning("http://[2001:db8::1]:8096").unwrap();
        assert!(w.starts_with("Warning: [2001:db8::1] is reached"), "{w}");
        let w = plaintext_warning("http://media.local:8096").unwrap();
        assert!(w.starts_with("Warning: media.local is reached"), "{w}");
    }

    #[test]
    fn https_and_loopback_do_not_warn() {
        for url in [
            "https://media.example.com",
            "https://192.0.2.1:8920",
            "http://127.0.0.1:8096",
            "http://127.1.2.3:8096",
            "http://localhost:8096",
            "http://LOCALHOST.:8096",
            "http://jellyfin.localhost",
            "http://[::1]:8096",
            "http://[::ffff:127.0.0.1]:8096",
            "not a url",
        ] {
            assert_eq!(plaintext_warning(url), None, "{url}");
        }
    }
}
