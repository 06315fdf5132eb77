//! Property-based fuzzing of everything that reads untrusted input: server response parsers,
//! error classification, the server address check and the CLI position parser. No input may
//! panic; failures must be the documented error kinds; a token inside a broken sign-in answer
//! never reaches the error text.
//!
//! Bounded so it runs in seconds in CI (`cargo test --test it fuzz_parsers::`); for a longer local
//! run set `PROPTEST_CASES`, e.g. `PROPTEST_CASES=200000 cargo test --release --test
//! fuzz_parsers`.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use playmark::backend::error::{classify_status, MAX_RETRY_AFTER};
use playmark::backend::jellyfin::dto::{
    parse_items_page, parse_json, AuthenticationResult, PublicSystemInfo, UserDto, UserItemDataDto,
};
use playmark::backend::jellyfin::validate_base_url;
use playmark::backend::transport::plaintext_warning;
use playmark::backend::ErrorKind;
use playmark::player::position::parse as parse_position;

/// Cases per property: the default unless `PROPTEST_CASES` says otherwise.
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON values, a few levels deep, with Jellyfin's field names likely.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("Id".to_string()),
        Just("Type".to_string()),
        Just("Name".to_string()),
        Just("UserData".to_string()),
        Just("PlaybackPositionTicks".to_string()),
        Just("Played".to_string()),
        Just("PlayCount".to_string()),
        Just("LastPlayedDate".to_string()),
        Just("RunTimeTicks".to_string()),
        Just("IndexNumber".to_string()),
        Just("ParentIndexNumber".to_string()),
        Just("SeasonId".to_string()),
        Just("SeriesId".to_string()),
        Just("ParentId".to_string()),
        "[A-Za-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)),
        prop_oneof![
            Just("Episode".to_string()),
            Just("Movie".to_string()),
            Just("Season".to_string()),
            Just("Series".to_string()),
            Just("2024-01-01T10:00:00.0000000Z".to_string()),
            ".{0,12}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Any bytes into every response parser: Ok, or Transient "unexpected response".
    #[test]
    fn arbitrary_bytes_never_panic_the_response_parsers(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8),
            prop::collection::vec(any::<u8>(), 0..2048),
            // Mostly-JSON bytes reach deeper into the parser than noise does.
            prop::collection::vec(prop::sample::select(b"{}[]\":,0123456789.-eEtrufalsn IdType".to_vec()), 0..256),
        ],
        start in any::<u64>(),
    ) {
        if let Err(e) = parse_items_page(&body, start) {
            prop_assert_eq!(e.kind, ErrorKind::Transient);
            prop_assert!(e.detail.starts_with("unexpected response from server"), "{}", e.detail);
        }
        for result in [
            parse_json::<PublicSystemInfo>(&body).map(|_| ()),
            parse_json::<AuthenticationResult>(&body).map(|_| ()),
            parse_json::<UserItemDataDto>(&body).map(|_| ()),
            parse_json::<UserDto>(&body).map(|_| ()),
        ] {
            if let Err(e) = result {
                prop_assert_eq!(e.kind, ErrorKind::Transient);
            }
        }
        if let Ok(info) = parse_json::<PublicSystemInfo>(&body) {
            // Converting never panics either; without Id/Version it is refused.
            let _ = info.into_server_info();
        }
    }

    /// A sign-in answer cut short or with one byte changed never echoes its token in the error.
    #[test]
    fn broken_sign_in_answers_never_echo_the_token(
        cut in 0usize..120,
        flip_at in 0usize..120,
        flip_to in any::<u8>(),
    ) {
        let token = "4f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let good = format!(
            r#"{{"AccessToken":"{token}","ServerId":"s1","User":{{"Id":"u1","Name":"anna"}}}}"#
        );
        let mut truncated = good.as_bytes().to_vec();
        truncated.truncate(cut.min(truncated.len()));
        let mut flipped = good.as_bytes().to_vec();
        let at = flip_at % flipped.len();
        flipped[at] = flip_to;
        for body in [truncated, flipped] {
            if let Err(e) = parse_json::<AuthenticationResult>(&body) {
                prop_assert!(!e.detail.contains(token), "{}", e.detail);
                prop_assert!(!e.detail.contains(&token[..12]), "{}", e.detail);
            }
        }
    }

    /// Any status, Retry-After and body: a classification, a bounded detail, a bounded wait.
    #[test]
    fn arbitrary_error_responses_are_classified(
        status in 0u16..1000,
        retry_after in proptest::option::of(".{0,40}"),
        body in ".{0,600}",
    ) {
        let e = classify_status(status, retry_after.as_deref(), &body);
        let prefix = format!("HTTP {}", status);
        prop_assert!(e.detail.starts_with(&prefix), "{}", e.detail);
        prop_assert!(e.detail.chars().count() < 300, "{}", e.detail);
        prop_assert!(!e.detail.chars().any(|c| c.is_control()), "{:?}", e.detail);
        if let Some(wait) = e.retry_after {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
        if status == 401 {
            prop_assert_eq!(e.kind, ErrorKind::Auth);
        }
    }

    /// Any typed server address: refused with words, or a clean http(s) URL.
    #[test]
    fn arbitrary_server_addresses_are_validated(input in "\\PC{0,60}|(https?|ftp)://\\PC{0,40}") {
        match validate_base_url(&input) {
            Ok(url) => {
                prop_assert!(url.starts_with("http://") || url.starts_with("https://"), "{}", url);
                prop_assert!(!url.chars().any(char::is_whitespace));
                prop_assert!(!url.contains('?') && !url.contains('#'));
            }
            Err(e) => {
                prop_assert_eq!(e.kind, ErrorKind::Rejected);
                prop_assert!(!e.detail.is_empty());
            }
        }
        let _ = plaintext_warning(&input);
    }

    /// Any text as a position: refused, or a non-negative, plausible number of milliseconds.
    #[test]
    fn arbitrary_positions_are_refused_or_plausible(
        input in prop_oneof![
            "\\PC{0,24}",
            "[0-9:.eE+-]{0,16}",
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            (any::<u32>(), 0u32..99, 0u32..99).prop_map(|(h, m, s)| format!("{h}:{m:02}:{s:02}")),
        ]
    ) {
        match parse_position(&input) {
            Ok(ms) => {
                prop_assert!(ms >= 0);
                prop_assert!(ms <= 3_200_000_000_000, "{}", ms);
            }
            Err(message) => prop_assert!(message.contains(input.trim())),
        }
    }

    /// Positions written the documented ways parse to what they say.
    #[test]
    fn documented_position_forms_round_trip(h in 0i64..100, m in 0i64..60, s in 0i64..60, tenth in 0i64..10) {
        let total_ms = ((h * 60 + m) * 60 + s) * 1000;
        prop_assert_eq!(parse_position(&format!("{h}:{m:02}:{s:02}")), Ok(total_ms));
        prop_assert_eq!(parse_position(&format!("{}:{s:02}", h * 60 + m)), Ok(total_ms));
        prop_assert_eq!(
            parse_position(&format!("{}.{tenth}", total_ms / 1000)),
            Ok(total_ms + tenth * 100)
        );
    }
}

proptest! {
    // Generating deep JSON trees is the slow part: fewer cases keep CI at a few seconds.
    #![proptest_config(config(300))]

    /// Well-formed JSON of any shape as library pages: every item kept has an id, and never more
    /// items come out than went in.
    #[test]
    fn arbitrary_json_pages_keep_only_sound_items(
        items in prop::collection::vec(json_value(), 0..12),
        total in any::<i64>(),
        start in any::<i64>(),
        requested in 0u64..10_000,
    ) {
        let n = items.len();
        let body = serde_json::to_vec(&serde_json::json!({
            "Items": items, "TotalRecordCount": total, "StartIndex": start
        })).unwrap();
        let page = parse_items_page(&body, requested).unwrap();
        prop_assert!(page.items.len() <= n);
        for item in &page.items {
            prop_assert!(!item.id.is_empty());
            // Negative or absurd numbers from the server never become negative local values.
            prop_assert!(item.user_data.position_ms >= 0);
            prop_assert!(item.user_data.play_count >= 0);
            prop_assert!(item.runtime_ms.unwrap_or(0) >= 0);
        }
        prop_assert_eq!(page.total, u64::try_from(total).unwrap_or(0));
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Well-formed items whose numbers are anything an i64 can hold (negative, huge): kept, and
    /// stored as non-negative positions, play counts and runtimes.
    #[test]
    fn absurd_numbers_in_sound_items_become_non_negative(
        ticks in any::<i64>(),
        play_count in any::<i64>(),
        runtime in any::<i64>(),
        kind in prop_oneof![Just("Episode"), Just("Movie")],
    ) {
        let body = serde_json::to_vec(&serde_json::json!({
            "Items": [{
                "Id": "item-1", "Type": kind, "Name": "x", "RunTimeTicks": runtime,
                "UserData": {"PlaybackPositionTicks": ticks, "PlayCount": play_count, "Played": false}
            }],
            "TotalRecordCount": 1, "StartIndex": 0
        })).unwrap();
        let page = parse_items_page(&body, 0).unwrap();
        prop_assert_eq!(page.items.len(), 1);
        let item = &page.items[0];
        prop_assert!(item.user_data.position_ms >= 0);
        prop_assert!(item.user_data.play_count >= 0);
        prop_assert!(item.runtime_ms.unwrap_or(0) >= 0);
        if ticks >= 0 {
            prop_assert_eq!(item.user_data.position_ms, ticks / 10_000);
        }
    }
}
