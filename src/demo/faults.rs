//! Fault injection: what a request can be answered with instead of the real response, the
//! plan that decides which requests get a fault, and the `--faults` spec grammar.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A fault the demo server can answer a request with.
///
/// Each variant says whether the server **applies** the request (a write changes the server's
/// state) before the fault takes effect: the difference between "the write failed" and "the
/// write landed, then the answer was lost", which a client cannot tell apart and must treat
/// alike (DESIGN.md, invariant 8).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status (empty body for 401/403, a short text otherwise), with a
    /// `Retry-After: <seconds>` header when given. **Not applied**: the request is never
    /// processed.
    Status {
        /// The HTTP status code.
        code: u16,
        /// Seconds for the `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// 503 with a `text/html` body, like a Jellyfin server that is still starting. **Not
    /// applied.**
    Starting,
    /// Close the connection without sending any response. **Not applied**: the connection
    /// dies before the request is processed.
    Reset,
    /// **Applied**, then the connection is closed without a response: the write landed and
    /// its answer was lost (a proxy or the network dropped it).
    AppliedReset,
    /// 200 with a `Content-Length` larger than the bytes sent, then close the connection.
    /// **Applied**: the request is processed and its real answer is cut mid-body (media
    /// bodies are cut the same way).
    Truncated,
    /// 200 `application/json` whose body is not valid JSON. **Not applied**: the answer
    /// replaces the request's processing.
    Malformed,
    /// Wait this long, then answer normally. **Applied** after the wait (a client that gave
    /// up meanwhile never sees the answer).
    Delay(Duration),
    /// 200 `text/html` error page (a captive portal or a proxy's error page). **Not
    /// applied.**
    Html,
    /// Hold the request, unanswered and **not yet applied**, until
    /// [`DemoServer::release_held`] says whether the server applies it then (a write that
    /// lands after the client gave up; whoever still listens gets the answer) or drops it
    /// (never applied; the connection is reset: a request that timed out). For tests that
    /// drive time themselves; not in the `--faults` grammar (nothing would ever release it).
    ///
    /// [`DemoServer::release_held`]: super::DemoServer::release_held
    Hold,
    /// **Applied at once** (the answer is computed when the request arrives), but the answer
    /// is held until [`DemoServer::release_held`]: released with `apply` the answer goes out
    /// (an answer slow to come back, which describes the server as it was when the request
    /// arrived); otherwise the connection is reset (the write landed, its answer was lost).
    /// Like [`Fault::Hold`], for tests that drive time themselves.
    ///
    /// [`DemoServer::release_held`]: super::DemoServer::release_held
    HoldAnswer,
    /// 200 with an empty body, and **not applied**: the server accepts the call and does
    /// nothing, as a real Plex server does with a timeline it does not take (docs/SERVERS.md).
    /// A client learns it only by reading the item again (DESIGN.md invariant 10).
    Ignored,
}

impl Fault {
    /// Whether a request that meets this fault is processed (a write lands) before, or
    /// instead of, its answer being lost: `Some(true)` applied, `Some(false)` never applied,
    /// `None` when the test decides on release ([`Fault::Hold`]).
    pub fn applies(&self) -> Option<bool> {
        match self {
            Fault::AppliedReset | Fault::Truncated | Fault::Delay(_) | Fault::HoldAnswer => {
                Some(true)
            }
            Fault::Status { .. }
            | Fault::Starting
            | Fault::Reset
            | Fault::Malformed
            | Fault::Html
            | Fault::Ignored => Some(false),
            Fault::Hold => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status {
                code,
                retry_after: Some(s),
            } => write!(f, "{code}:{s}"),
            Fault::Status { code, .. } => write!(f, "{code}"),
            Fault::Starting => f.write_str("starting"),
            Fault::Reset => f.write_str("reset"),
            Fault::AppliedReset => f.write_str("applied-reset"),
            Fault::Truncated => f.write_str("truncated"),
            Fault::Malformed => f.write_str("malformed"),
            Fault::Delay(d) => write!(f, "delay={}ms", d.as_millis()),
            Fault::Html => f.write_str("html"),
            Fault::Hold => f.write_str("hold"),
            Fault::HoldAnswer => f.write_str("hold-answer"),
            Fault::Ignored => f.write_str("ignored"),
        }
    }
}

impl Fault {
    /// The mix used by `random=`: 500, 502, 503, 429 with `Retry-After: 1`, reset, truncated
    /// and malformed.
    pub fn random_mix() -> Vec<Fault> {
        vec![
            Fault::Status {
                code: 500,
                retry_after: None,
            },
            Fault::Status {
                code: 502,
                retry_after: None,
            },
            Fault::Status {
                code: 503,
                retry_after: None,
            },
            Fault::Status {
                code: 429,
                retry_after: Some(1),
            },
            Fault::Reset,
            Fault::Truncated,
            Fault::Malformed,
        ]
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `CODE`, `CODE:RETRY_AFTER_SECS`, `starting`, `reset`, `applied-reset`, `truncated`,
    /// `malformed`, `html`, `ignored` or `delay=DURATION`.
    fn from_str(s: &str) -> Result<Fault, String> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "starting" => return Ok(Fault::Starting),
            "reset" => return Ok(Fault::Reset),
            "applied-reset" => return Ok(Fault::AppliedReset),
            "truncated" => return Ok(Fault::Truncated),
            "malformed" => return Ok(Fault::Malformed),
            "html" => return Ok(Fault::Html),
            "ignored" => return Ok(Fault::Ignored),
            _ => {}
        }
        if let Some(d) = lower
            .strip_prefix("delay=")
            .or_else(|| lower.strip_prefix("delay:"))
        {
            return parse_duration(d).map(Fault::Delay);
        }
        let (code, retry) = match lower.split_once(':') {
            Some((c, r)) => (c, Some(r)),
            None => (lower.as_str(), None),
        };
        let code: u16 = code.parse().map_err(|_| {
            format!(
                "unknown fault {s:?}: expected an HTTP status (e.g. 503 or 429:7), starting, \
                 reset, applied-reset, truncated, malformed, html or delay=DURATION"
            )
        })?;
        if !(100..=599).contains(&code) {
            return Err(format!("HTTP status {code} is out of range 100..=599"));
        }
        let retry_after = match retry {
            Some(r) => Some(
                r.parse::<u64>()
                    .map_err(|_| format!("bad Retry-After seconds {r:?} in fault {s:?}"))?,
            ),
            None => None,
        };
        Ok(Fault::Status { code, retry_after })
    }
}

/// Parse `200ms`, `2s`, `1.5s`, `1m` or a bare number of milliseconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 0.001)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 200ms, 2s, 1.5s or 1m"))?;
    if !v.is_finite() || v < 0.0 || v * scale > 86_400.0 {
        return Err(format!("duration {s:?} out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// Random faults on a fraction of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    /// Fraction of requests (0.0 to 1.0) that get a fault.
    pub fraction: f64,
    /// The faults to pick from, uniformly.
    pub faults: Vec<Fault>,
    /// Seed of the deterministic random generator.
    pub seed: u64,
}

/// A set of faults to apply to a demo server, parsed from the CLI's `--faults SPEC`.
///
/// Grammar (comma-separated items, case-insensitive, spaces around items ignored, an empty
/// spec means no faults):
///
/// ```text
/// SPEC   := ITEM ("," ITEM)*
/// ITEM   := "offline"                      start offline (connection refused)
///         | "latency=" DURATION            delay every response
///         | "media-rate=" BYTES            send media bodies at BYTES per second
///         | "random=" FRACTION [":" SEED]  that fraction (0..1) of requests gets a random fault
///                                          of 500/502/503/429+Retry-After:1/reset/truncated/
///                                          malformed (SEED defaults to 0)
///         | "next=" N ":" FAULT            the next N requests get FAULT (items queue in order)
/// FAULT  := CODE [":" RETRY_AFTER_SECS]    e.g. 503, 429:7
///         | "starting" | "reset" | "applied-reset" | "truncated" | "malformed" | "html"
///         | "delay=" DURATION
/// DURATION := NUMBER ("ms" | "s" | "m")?    bare numbers are milliseconds
/// ```
///
/// Examples: `offline`, `latency=200ms,random=0.3`, `next=3:503,next=2:429:7,next=1:reset`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    /// Start (or go) offline.
    pub offline: bool,
    /// Latency added to every response.
    pub latency: Option<Duration>,
    /// Random faults on a fraction of the requests.
    pub random: Option<RandomFaults>,
    /// Faults for the next requests, in order: (count, fault).
    pub next: Vec<(usize, Fault)>,
    /// Media bodies are sent at this many bytes per second (a slow server).
    pub media_rate: Option<u64>,
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<FaultSpec, String> {
        let mut out = FaultSpec::default();
        for raw in spec.split(',') {
            let item = raw.trim();
            if item.is_empty() {
                if spec.trim().is_empty() {
                    continue;
                }
                return Err(format!("empty item in fault spec {spec:?}"));
            }
            let lower = item.to_ascii_lowercase();
            let (key, value) = match lower.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (lower.as_str(), None),
            };
            match (key, value) {
                ("offline", None) => out.offline = true,
                ("latency", Some(v)) => out.latency = Some(parse_duration(v)?),
                ("media-rate", Some(v)) => {
                    let rate: u64 = v.parse().ok().filter(|r| *r > 0).ok_or_else(|| {
                        format!("bad {item:?}: expected media-rate=BYTES_PER_SECOND, e.g. 200000")
                    })?;
                    out.media_rate = Some(rate);
                }
                ("random", Some(v)) => {
                    let (f, seed) = match v.split_once(':') {
                        Some((f, s)) => (
                            f,
                            s.trim()
                                .parse::<u64>()
                                .map_err(|_| format!("bad random seed {s:?} in {item:?}"))?,
                        ),
                        None => (v, 0),
                    };
                    let fraction: f64 = f
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad fraction {f:?} in {item:?}: expected 0..1"))?;
                    if !(0.0..=1.0).contains(&fraction) {
                        return Err(format!("fraction {fraction} in {item:?} is not in 0..1"));
                    }
                    out.random = Some(RandomFaults {
                        fraction,
                        faults: Fault::random_mix(),
                        seed,
                    });
                }
                ("next", Some(v)) => {
                    let (n, fault) = v.split_once(':').ok_or_else(|| {
                        format!("bad {item:?}: expected next=N:FAULT, e.g. next=3:503")
                    })?;
                    let n: usize = n
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad count {n:?} in {item:?}"))?;
                    out.next.push((n, fault.parse()?));
                }
                _ => {
                    return Err(format!(
                        "unknown fault spec item {item:?}: expected offline, latency=DURATION, \
                         media-rate=BYTES, random=FRACTION[:SEED] or next=N:FAULT"
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// How a [`RequestMatch`] rule compares the request's path (as sent, not decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// Any path.
    Any,
    /// Exactly this path.
    Exact(String),
    /// Paths that start with this text, e.g. `/UserItems/`.
    Prefix(String),
    /// Paths that contain this text, e.g. `/UserData`.
    Contains(String),
}

impl PathPattern {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Any => true,
            PathPattern::Exact(p) => path == p,
            PathPattern::Prefix(p) => path.starts_with(p.as_str()),
            PathPattern::Contains(p) => path.contains(p.as_str()),
        }
    }
}

/// One rule of a [`RequestMatch`]: a method (or any), a path pattern and query parameters
/// that must all be present.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MatchRule {
    /// Compared case-insensitively; `None`: any method.
    method: Option<String>,
    path: PathPattern,
    /// (name, value) pairs: the name compared case-insensitively, the value (URL-decoded)
    /// exactly.
    query: Vec<(String, String)>,
}

/// Which requests an armed fault waits for ([`super::DemoServer::fail_matching`]): a request
/// matches when any of the rules matches it; with no rules, every request matches.
///
/// ```
/// use playmark::demo::{PathPattern, RequestMatch};
/// // The first POST whose path starts with /UserItems/, or any Plex scrobble of item 7.
/// let m = RequestMatch::request(Some("POST"), PathPattern::Prefix("/UserItems/".into()))
///     .or(RequestMatch::request(None, PathPattern::Exact("/:/scrobble".into())).with_query("key", "7"));
/// assert!(m.matches("POST", "/UserItems/abc/UserData", &[]));
/// assert!(m.matches("GET", "/:/scrobble", &[("key".into(), "7".into())]));
/// assert!(!m.matches("GET", "/Items", &[]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestMatch {
    rules: Vec<MatchRule>,
}

impl RequestMatch {
    /// Every request.
    pub fn any() -> RequestMatch {
        RequestMatch::default()
    }

    /// Requests with this method (`None`: any) whose path fits `path`.
    pub fn request(method: Option<&str>, path: PathPattern) -> RequestMatch {
        RequestMatch {
            rules: vec![MatchRule {
                method: method.map(str::to_string),
                path,
                query: Vec::new(),
            }],
        }
    }

    /// Also require the query parameter `name` to be `value` (on every rule so far).
    pub fn with_query(mut self, name: &str, value: &str) -> RequestMatch {
        for r in &mut self.rules {
            r.query.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Requests that match `self` or `other`.
    pub fn or(mut self, other: RequestMatch) -> RequestMatch {
        if self.rules.is_empty() || other.rules.is_empty() {
            // "any" or anything is any.
            return RequestMatch::any();
        }
        self.rules.extend(other.rules);
        self
    }

    /// Every call that changes a user's play state, as Playmark's clients send them:
    /// Jellyfin `POST /UserItems/{id}/UserData` and `POST`/`DELETE /UserPlayedItems/{id}`
    /// (also the legacy `/Users/{user}/PlayedItems/{id}`), Plex `/:/scrobble`,
    /// `/:/unscrobble` and `/:/timeline` (any method: real servers take GET, the API document
    /// asks for PUT/POST). Session reports (`/Sessions/Playing*`) are not included.
    pub fn user_data_writes() -> RequestMatch {
        RequestMatch::request(Some("POST"), PathPattern::Contains("/UserData".into()))
            .or(RequestMatch::request(
                None,
                PathPattern::Prefix("/UserPlayedItems/".into()),
            ))
            .or(RequestMatch::request(
                None,
                PathPattern::Contains("/PlayedItems/".into()),
            ))
            .or(RequestMatch::request(
                None,
                PathPattern::Exact("/:/scrobble".into()),
            ))
            .or(RequestMatch::request(
                None,
                PathPattern::Exact("/:/unscrobble".into()),
            ))
            .or(RequestMatch::request(
                None,
                PathPattern::Exact("/:/timeline".into()),
            ))
    }

    /// A call that marks a whole parent (season, series) watched or not watched: Jellyfin
    /// `/UserPlayedItems/{parent}`, Plex `/:/scrobble` or `/:/unscrobble` with `key={parent}`.
    pub fn group_writes(parent_id: &str) -> RequestMatch {
        RequestMatch::request(
            None,
            PathPattern::Exact(format!("/UserPlayedItems/{parent_id}")),
        )
        .or(
            RequestMatch::request(None, PathPattern::Exact("/:/scrobble".into()))
                .or(RequestMatch::request(
                    None,
                    PathPattern::Exact("/:/unscrobble".into()),
                ))
                .with_query("key", parent_id),
        )
    }

    /// Does a request with this method, path (as sent) and query (decoded) match?
    pub fn matches(&self, method: &str, path: &str, query: &[(String, String)]) -> bool {
        self.rules.is_empty()
            || self.rules.iter().any(|r| {
                r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                    && r.path.matches(path)
                    && r.query.iter().all(|(k, v)| {
                        query
                            .iter()
                            .any(|(qk, qv)| qk.eq_ignore_ascii_case(k) && qv == v)
                    })
            })
    }
}

/// A fault waiting for its request.
#[derive(Debug)]
struct Armed {
    when: RequestMatch,
    fault: Fault,
    id: u64,
}

/// Which requests get which fault.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    /// Armed faults, in the order they were armed: a request takes the first one that matches
    /// it (`fail_next` arms faults that match any request).
    armed: VecDeque<Armed>,
    next_id: u64,
    random: Option<(f64, Vec<Fault>, SmallRng)>,
}

impl FaultPlan {
    pub(crate) fn push_next(&mut self, n: usize, fault: Fault) {
        for _ in 0..n {
            self.push_matching(RequestMatch::any(), fault.clone());
        }
    }

    /// Drop the faults armed for any request (by [`FaultPlan::push_next`]) that no request met
    /// yet, then arm `n` of `fault`: the new count replaces the leftover one. Faults armed for
    /// particular requests ([`FaultPlan::push_matching`]) stay.
    pub(crate) fn replace_next(&mut self, n: usize, fault: Fault) {
        self.armed.retain(|a| a.when != RequestMatch::any());
        self.push_next(n, fault);
    }

    /// Arm `fault` for the first request matching `when`; returns its id.
    pub(crate) fn push_matching(&mut self, when: RequestMatch, fault: Fault) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.armed.push_back(Armed { when, fault, id });
        id
    }

    pub(crate) fn armed(&self) -> usize {
        self.armed.len()
    }

    pub(crate) fn set_random(&mut self, fraction: f64, faults: Vec<Fault>, seed: u64) {
        self.random = if faults.is_empty() || fraction <= 0.0 {
            None
        } else {
            Some((fraction, faults, SmallRng::seed_from_u64(seed)))
        };
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
        self.random = None;
    }

    /// The fault for the request arriving now, if any, with the id it was armed under
    /// (`None` for a random fault).
    pub(crate) fn take(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Option<(Fault, Option<u64>)> {
        if let Some(i) = self
            .armed
            .iter()
            .position(|a| a.when.matches(method, path, query))
        {
            return self.armed.remove(i).map(|a| (a.fault, Some(a.id)));
        }
        let (fraction, faults, rng) = self.random.as_mut()?;
        if rng.gen::<f64>() < *fraction {
            let i = rng.gen_range(0..faults.len());
            faults.get(i).cloned().map(|f| (f, None))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_specs() {
        let s: FaultSpec =
            "offline, latency=200ms,random=0.3:42,next=3:503,next=2:429:7,next=1:reset"
                .parse()
                .unwrap();
        assert!(s.offline);
        assert_eq!(s.latency, Some(Duration::from_millis(200)));
        let r = s.random.clone().unwrap();
        assert_eq!((r.fraction, r.seed), (0.3, 42));
        assert_eq!(r.faults, Fault::random_mix());
        assert_eq!(
            s.next,
            vec![
                (
                    3,
                    Fault::Status {
                        code: 503,
                        retry_after: None
                    }
                ),
                (
                    2,
                    Fault::Status {
                        code: 429,
                        retry_after: Some(7)
                    }
                ),
                (1, Fault::Reset),
            ]
        );
        let s: FaultSpec = "next=1:truncated,next=2:Malformed,next=1:html,next=1:starting,next=1:delay=1.5s,latency=2"
            .parse()
            .unwrap();
        assert_eq!(s.next[0], (1, Fault::Truncated));
        assert_eq!(s.next[1], (2, Fault::Malformed));
        assert_eq!(s.next[2], (1, Fault::Html));
        assert_eq!(s.next[3], (1, Fault::Starting));
        assert_eq!(s.next[4], (1, Fault::Delay(Duration::from_millis(1500))));
        assert_eq!(s.latency, Some(Duration::from_millis(2)));
        assert_eq!(
            "media-rate=5000".parse::<FaultSpec>().unwrap().media_rate,
            Some(5000)
        );
        assert_eq!("".parse::<FaultSpec>().unwrap(), FaultSpec::default());
        assert_eq!(
            "random=1"
                .parse::<FaultSpec>()
                .unwrap()
                .random
                .unwrap()
                .seed,
            0
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "offlin",
            "latency=fast",
            "latency=-5ms",
            "random=1.5",
            "random=abc",
            "random=0.5:x",
            "next=3",
            "next=x:503",
            "next=1:999",
            "next=1:boom",
            "next=1:429:soon",
            "offline,,latency=1s",
            "offline=1",
            "latency",
            "media-rate=0",
            "media-rate=fast",
        ] {
            let e = bad.parse::<FaultSpec>();
            assert!(e.is_err(), "{bad:?} should be rejected, got {e:?}");
            assert!(!e.unwrap_err().is_empty());
        }
    }

    #[test]
    fn plan_is_deterministic_and_next_first() {
        let run = |seed| {
            let mut p = FaultPlan::default();
            p.set_random(0.5, Fault::random_mix(), seed);
            (0..200)
                .map(|_| p.take("GET", "/Items", &[]).map(|f| f.0))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|f| f.is_some()).count();
        assert!((60..140).contains(&hits), "{hits}");

        let mut p = FaultPlan::default();
        p.set_random(1.0, vec![Fault::Html], 1);
        p.push_next(2, Fault::Reset);
        let take = |p: &mut FaultPlan| p.take("GET", "/Items", &[]).map(|f| f.0);
        assert_eq!(take(&mut p), Some(Fault::Reset));
        assert_eq!(take(&mut p), Some(Fault::Reset));
        assert_eq!(take(&mut p), Some(Fault::Html));
        p.clear();
        assert_eq!(take(&mut p), None);
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn request_match_compares_method_path_and_query() {
        let any = RequestMatch::any();
        assert!(any.matches("GET", "/Items", &[]));
        assert!(any.matches("DELETE", "/UserPlayedItems/s1", &[]));

        let post = RequestMatch::request(Some("post"), PathPattern::Prefix("/UserItems/".into()));
        assert!(post.matches("POST", "/UserItems/abc/UserData", &[]));
        assert!(!post.matches("GET", "/UserItems/abc/UserData", &[]));
        assert!(!post.matches("POST", "/Items/abc", &[]));
        let contains = RequestMatch::request(None, PathPattern::Contains("/UserData".into()));
        assert!(contains.matches("GET", "/UserItems/abc/UserData", &[]));
        let exact = RequestMatch::request(None, PathPattern::Exact("/:/scrobble".into()));
        assert!(exact.matches("GET", "/:/scrobble", &[]));
        assert!(!exact.matches("GET", "/:/scrobble2", &[]));

        let writes = RequestMatch::user_data_writes();
        for (m, path) in [
            ("POST", "/UserItems/abc/UserData"),
            ("POST", "/UserPlayedItems/s1"),
            ("DELETE", "/UserPlayedItems/s1"),
            ("POST", "/Users/u1/PlayedItems/i1"),
            ("GET", "/:/scrobble"),
            ("PUT", "/:/unscrobble"),
            ("GET", "/:/timeline"),
            ("POST", "/:/timeline"),
        ] {
            assert!(writes.matches(m, path, &[]), "{m} {path} is a write");
        }
        for (m, path) in [
            ("GET", "/Items"),
            ("GET", "/UserItems/abc/UserData"),
            ("GET", "/library/metadata/1,2"),
            ("GET", "/library/sections/1/all"),
            ("POST", "/Sessions/Playing/Progress"),
            ("GET", "/System/Info/Public"),
            ("GET", "/identity"),
        ] {
            assert!(!writes.matches(m, path, &[]), "{m} {path} is no write");
        }

        let group = RequestMatch::group_writes("s1");
        assert!(group.matches("POST", "/UserPlayedItems/s1", &[]));
        assert!(group.matches("DELETE", "/UserPlayedItems/s1", &[]));
        assert!(!group.matches("POST", "/UserPlayedItems/e1", &[]));
        assert!(group.matches(
            "GET",
            "/:/scrobble",
            &q(&[("identifier", "x"), ("KEY", "s1")])
        ));
        assert!(group.matches("PUT", "/:/unscrobble", &q(&[("key", "s1")])));
        assert!(!group.matches("GET", "/:/scrobble", &q(&[("key", "e1")])));
        assert!(!group.matches("GET", "/:/scrobble", &[]));
        assert!(!group.matches("GET", "/:/timeline", &q(&[("key", "s1")])));
        assert_eq!(RequestMatch::any().or(group.clone()), RequestMatch::any());
    }

    #[test]
    fn a_request_takes_the_first_armed_fault_that_matches_it() {
        let mut p = FaultPlan::default();
        let write = p.push_matching(RequestMatch::user_data_writes(), Fault::AppliedReset);
        p.push_next(1, Fault::Reset);
        let group = p.push_matching(RequestMatch::group_writes("s1"), Fault::Truncated);
        assert_eq!(p.armed(), 3);
        // A read skips the write faults and takes the one for any request.
        assert_eq!(
            p.take("GET", "/Items", &[]),
            Some((Fault::Reset, Some(write + 1)))
        );
        assert_eq!(p.take("GET", "/Items", &[]), None);
        // A group write takes the earliest fault it matches: the one for any write.
        assert_eq!(
            p.take("POST", "/UserPlayedItems/s1", &[]),
            Some((Fault::AppliedReset, Some(write)))
        );
        assert_eq!(p.take("POST", "/UserItems/e1/UserData", &[]), None);
        assert_eq!(
            p.take("DELETE", "/UserPlayedItems/s1", &[]),
            Some((Fault::Truncated, Some(group)))
        );
        assert_eq!(p.armed(), 0);
        // Random faults come after armed ones and carry no id.
        p.set_random(1.0, vec![Fault::Html], 3);
        p.push_matching(RequestMatch::user_data_writes(), Fault::Reset);
        assert_eq!(p.take("GET", "/Items", &[]), Some((Fault::Html, None)));
        assert_eq!(
            p.take("GET", "/:/scrobble", &[]).map(|f| f.0),
            Some(Fault::Reset)
        );
    }

    #[test]
    fn each_fault_says_whether_the_request_is_applied() {
        assert_eq!(Fault::Reset.applies(), Some(false));
        assert_eq!(Fault::AppliedReset.applies(), Some(true));
        assert_eq!(Fault::Truncated.applies(), Some(true));
        assert_eq!(Fault::HoldAnswer.applies(), Some(true));
        assert_eq!(Fault::Malformed.applies(), Some(false));
        assert_eq!(Fault::Hold.applies(), None);
        assert_eq!("applied-reset".parse::<Fault>(), Ok(Fault::AppliedReset));
        assert_eq!(Fault::AppliedReset.to_string(), "applied-reset");
    }
}
