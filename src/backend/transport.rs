//! Transport safety checks on a server address, shared by the CLI and the app.

use std::net::IpAddr;

use url::Url;

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
