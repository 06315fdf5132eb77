//! Self-tests of the contract checker (`tests/common/contract.rs`) and of the trimmed
//! Jellyfin document it loads. Accepting correct traffic is only half the job: each rule also
//! gets a test that it rejects a request or response breaking it, for the right reason.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::contract::{split_target, Spec};
use serde_json::{json, Value};

const USER: &str = "5f0c7a1e2b3d4c5e8f9a0b1c2d3e4f50";
const ITEM: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const ITEM_DASHED: &str = "a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90";

/// The operations the trimmed file keeps; must agree with KEEP in tests/contract/trim-spec.sh.
const KEPT_OPERATIONS: &[(&str, &[&str])] = &[
    ("/System/Info/Public", &["get"]),
    ("/Users/AuthenticateByName", &["post"]),
    ("/Users/Me", &["get"]),
    ("/Items", &["get"]),
    ("/Items/{itemId}", &["get"]),
    ("/UserItems/{itemId}/UserData", &["get", "post"]),
    ("/UserPlayedItems/{itemId}", &["post", "delete"]),
    ("/Items/{itemId}/Download", &["get"]),
    ("/Videos/{itemId}/stream", &["get", "head"]),
    ("/Sessions/Playing", &["post"]),
    ("/Sessions/Playing/Progress", &["post"]),
    ("/Sessions/Playing/Stopped", &["post"]),
    // What general client libraries call (tests/it/real_clients.rs, docs/SERVERS.md).
    ("/Users/{userId}", &["get"]),
    ("/Shows/NextUp", &["get"]),
    ("/UserItems/Resume", &["get"]),
    ("/Sessions", &["get"]),
];

/// The findings of a check that must fail, joined for `contains` assertions.
fn rejected<T: std::fmt::Debug>(result: Result<T, Vec<String>>) -> String {
    let errs = result.expect_err("expected the contract check to fail");
    assert!(!errs.is_empty());
    errs.join("\n")
}

fn request(
    spec: &Spec,
    method: &str,
    target: &str,
    body: Option<&Value>,
) -> Result<String, Vec<String>> {
    spec.check_request_uri(method, target, body)
        .map(|op| op.id.clone())
}

fn typical_items_query() -> String {
    format!(
        "/Items?userId={USER}&recursive=true&includeItemTypes=Series,Season,Episode,Movie\
         &enableUserData=true&enableImages=false&startIndex=0&limit=200\
         &enableTotalRecordCount=true&sortBy=SortName"
    )
}

fn user_item_data(item: &str) -> Value {
    json!({
        "PlaybackPositionTicks": 12345670000_i64,
        "PlayCount": 1,
        "IsFavorite": false,
        "Likes": null,
        "LastPlayedDate": "2026-11-24T10:00:00.0000000Z",
        "Played": false,
        "Key": "362341001",
        "ItemId": item,
        "PlayedPercentage": 45.2,
        "Rating": null,
        "UnplayedItemCount": null
    })
}

fn episode(id: &str) -> Value {
    json!({
        "Name": "Pilot",
        "ServerId": "4f1c3e0a9b8d4e2f8a7b6c5d4e3f2a1b",
        "Id": id,
        "Etag": "a9d4f1e2c3b4a5d6",
        "DateCreated": "2025-03-01T18:22:41.1234567Z",
        "SortName": "0001 - 0001 - Pilot",
        "PremiereDate": "2008-01-20T00:00:00.0000000Z",
        "Path": "/media/tv/Breaking Bad/Season 01/S01E01.mkv",
        "ChannelId": null,
        "ProviderIds": { "Tvdb": "349232", "Imdb": "tt0959621", "Tmdb": null },
        "IsFolder": false,
        "ParentId": "0b1c2d3e4f5061728394a5b6c7d8e9f0",
        "Type": "Episode",
        "ParentIndexNumber": 1,
        "IndexNumber": 1,
        "SeriesName": "Breaking Bad",
        "SeriesId": "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",
        "SeasonId": "0b1c2d3e4f5061728394a5b6c7d8e9f0",
        "RunTimeTicks": 34937600000_i64,
        "ProductionYear": 2008,
        "UserData": user_item_data(id),
        "LocationType": "FileSystem",
        "MediaType": "Video",
        "ImageTags": { "Primary": "c1d2e3f4" },
        "BackdropImageTags": [],
        "ImageBlurHashes": { "Primary": { "c1d2e3f4": "WJD+y?00" } }
    })
}

fn series(id: &str) -> Value {
    json!({
        "Name": "Breaking Bad",
        "Id": id,
        "Type": "Series",
        "IsFolder": true,
        "CollectionType": null,
        "RunTimeTicks": null,
        "UserData": {
            "PlaybackPositionTicks": 0, "PlayCount": 0, "IsFavorite": true, "Played": false,
            "UnplayedItemCount": 62, "Key": "81189", "ItemId": id
        }
    })
}

// ---------------------------------------------------------------- accepted requests

#[test]
fn accepts_authenticate_by_name() {
    let spec = Spec::jellyfin();
    let body = json!({ "Username": "alice", "Pw": "correct horse" });
    assert_eq!(
        request(&spec, "POST", "/Users/AuthenticateByName", Some(&body)).unwrap(),
        "AuthenticateUserByName"
    );
}

#[test]
fn accepts_typical_items_query() {
    let spec = Spec::jellyfin();
    assert_eq!(
        request(&spec, "GET", &typical_items_query(), None).unwrap(),
        "GetItems"
    );

    let q = format!(
        "/Items?ids={ITEM},{ITEM_DASHED}&fields=ProviderIds,Path,DateLastSaved&filters=IsPlayed\
         &sortBy=DatePlayed&sortOrder=Descending&minDateLastSaved=2026-11-24T10%3A00%3A00.000Z\
         &enableUserData=true&parentId={ITEM_DASHED}"
    );
    assert_eq!(request(&spec, "GET", &q, None).unwrap(), "GetItems");
}

#[test]
fn query_names_are_case_insensitive_and_arrays_may_repeat() {
    let spec = Spec::jellyfin();
    let q = format!("/Items?UserId={USER}&IncludeItemTypes=Movie&includeItemTypes=Episode&LIMIT=5");
    assert_eq!(request(&spec, "GET", &q, None).unwrap(), "GetItems");
    // …but a scalar parameter given twice is ambiguous.
    let err = rejected(request(&spec, "GET", "/Items?limit=5&Limit=6", None));
    assert!(err.contains("`limit`: given 2 times"), "{err}");
}

#[test]
fn accepts_update_user_data() {
    let spec = Spec::jellyfin();
    let body = json!({
        "PlaybackPositionTicks": 12345670000_i64,
        "Played": false,
        "PlayCount": 0,
        "LastPlayedDate": "2026-11-24T10:00:00.000Z"
    });
    let target = format!("/UserItems/{ITEM}/UserData?userId={USER}");
    assert_eq!(
        request(&spec, "POST", &target, Some(&body)).unwrap(),
        "UpdateItemUserData"
    );
    // All fields of UpdateUserItemDataDto are nullable.
    let nulls = json!({ "PlaybackPositionTicks": null, "Played": true, "LastPlayedDate": null });
    assert!(request(&spec, "POST", &target, Some(&nulls)).is_ok());
}

#[test]
fn accepts_the_other_sync_requests() {
    let spec = Spec::jellyfin();
    let cases = [
        (
            "GET",
            "/System/Info/Public".to_owned(),
            "GetPublicSystemInfo",
        ),
        ("GET", "/Users/Me".to_owned(), "GetCurrentUser"),
        (
            "GET",
            format!("/Items/{ITEM_DASHED}?userId={USER}"),
            "GetItem",
        ),
        (
            "GET",
            format!("/UserItems/{ITEM}/UserData"),
            "GetItemUserData",
        ),
        (
            "POST",
            format!("/UserPlayedItems/{ITEM}?userId={USER}&datePlayed=2026-11-24T10:00:00Z"),
            "MarkPlayedItem",
        ),
        (
            "DELETE",
            format!("/UserPlayedItems/{ITEM}?userId={USER}"),
            "MarkUnplayedItem",
        ),
    ];
    for (method, target, id) in cases {
        assert_eq!(
            request(&spec, method, &target, None).as_deref(),
            Ok(id),
            "{method} {target}"
        );
    }
}

// ---------------------------------------------------------------- accepted responses

#[test]
fn accepts_user_item_data_response() {
    let spec = Spec::jellyfin();
    let path = format!("/UserItems/{ITEM}/UserData");
    spec.check_response("POST", &path, 200, Some(&user_item_data(ITEM)))
        .unwrap();
    spec.check_response("GET", &path, 200, Some(&json!({})))
        .unwrap(); // no `required` list
    spec.check_response(
        "POST",
        &format!("/UserPlayedItems/{ITEM}"),
        200,
        Some(&user_item_data(ITEM)),
    )
    .unwrap();
}

#[test]
fn accepts_items_response() {
    let spec = Spec::jellyfin();
    let body = json!({
        "Items": [series(ITEM_DASHED), episode(ITEM)],
        "TotalRecordCount": 2,
        "StartIndex": 0
    });
    spec.check_response("GET", "/Items", 200, Some(&body))
        .unwrap();
    spec.check_response("GET", &format!("/Items/{ITEM}"), 200, Some(&episode(ITEM)))
        .unwrap();
    spec.assert_response("GET", &typical_items_query(), 200, Some(&body));
}

#[test]
fn accepts_auth_and_system_responses() {
    let spec = Spec::jellyfin();
    let user = json!({
        "Name": "alice", "ServerId": "4f1c3e0a9b8d4e2f8a7b6c5d4e3f2a1b", "Id": USER,
        "HasPassword": true, "HasConfiguredPassword": true, "HasConfiguredEasyPassword": false,
        "EnableAutoLogin": false, "LastLoginDate": "2026-11-24T09:59:58.1234567Z",
        "Policy": {
            "IsAdministrator": false,
            "AuthenticationProviderId": "Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider",
            "PasswordResetProviderId": "Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider"
        }
    });
    let auth = json!({
        "User": user, "SessionInfo": null,
        "AccessToken": "0123456789abcdef0123456789abcdef", "ServerId": "4f1c3e0a9b8d4e2f8a7b6c5d4e3f2a1b"
    });
    spec.check_response("POST", "/Users/AuthenticateByName", 200, Some(&auth))
        .unwrap();
    spec.check_response("GET", "/Users/Me", 200, Some(&user))
        .unwrap();
    let info = json!({
        "LocalAddress": "http://127.0.0.1:8096", "ServerName": "playmark-demo", "Version": "10.11.11",
        "ProductName": "Jellyfin Server", "Id": "4f1c3e0a9b8d4e2f8a7b6c5d4e3f2a1b",
        "StartupWizardCompleted": true
    });
    spec.check_response("GET", "/System/Info/Public", 200, Some(&info))
        .unwrap();
}

#[test]
fn accepts_declared_error_responses() {
    let spec = Spec::jellyfin();
    let path = format!("/UserItems/{ITEM}/UserData");
    let problem = json!({ "type": "https://tools.ietf.org/html/rfc9110#section-15.5.5",
                          "title": "Not Found", "status": 404, "traceId": "00-abc-def-00" });
    spec.check_response("GET", &path, 404, Some(&problem))
        .unwrap();
    spec.check_response("GET", &path, 401, None).unwrap();
    spec.check_response("GET", &path, 503, None).unwrap(); // text/html, no JSON
}

// ---------------------------------------------------------------- rejected requests

#[test]
fn rejects_unknown_path() {
    let spec = Spec::jellyfin();
    let err = rejected(request(&spec, "GET", "/Users/Me/Myself", None));
    assert!(err.contains("no such path"), "{err}");
    // Literal segments are matched with the document's spelling.
    let err = rejected(request(&spec, "GET", "/items", None));
    assert!(err.contains("no such path"), "{err}");
}

#[test]
fn rejects_wrong_verb() {
    let spec = Spec::jellyfin();
    let err = rejected(request(&spec, "PUT", "/UserPlayedItems/x", None));
    assert!(
        err.contains("method not allowed") && err.contains("DELETE, POST"),
        "{err}"
    );
}

#[test]
fn rejects_unknown_query_name() {
    let spec = Spec::jellyfin();
    let err = rejected(request(&spec, "GET", "/Items?foo=1", None));
    assert!(err.contains("query `foo`: not a parameter"), "{err}");
}

#[test]
fn rejects_bad_enum() {
    let spec = Spec::jellyfin();
    let err = rejected(request(
        &spec,
        "GET",
        "/Items?includeItemTypes=Series,Banana",
        None,
    ));
    assert!(
        err.contains("query `includeItemTypes`[1]: \"Banana\" is not one of"),
        "{err}"
    );
    let err = rejected(request(
        &spec,
        "GET",
        "/Items?fields=ProviderIds,,Path",
        None,
    ));
    assert!(err.contains("`fields`[1]: \"\" is not one of"), "{err}");
}

#[test]
fn rejects_non_boolean() {
    let spec = Spec::jellyfin();
    let err = rejected(request(&spec, "GET", "/Items?enableUserData=yes", None));
    assert!(
        err.contains("query `enableUserData`: expected boolean, got \"yes\""),
        "{err}"
    );
}

#[test]
fn rejects_bad_scalar_query_values() {
    let spec = Spec::jellyfin();
    let err = rejected(request(&spec, "GET", "/Items?limit=3000000000", None));
    assert!(err.contains("`limit`: expected integer (int32)"), "{err}");
    let err = rejected(request(&spec, "GET", "/Items?userId=alice", None));
    assert!(
        err.contains("`userId`: \"alice\" is not a valid uuid"),
        "{err}"
    );
    let err = rejected(request(
        &spec,
        "GET",
        "/Items?minDateLastSaved=2026-11-24",
        None,
    ));
    assert!(err.contains("is not a valid date-time"), "{err}");
}

#[test]
fn rejects_bad_path_parameter() {
    let spec = Spec::jellyfin();
    let err = rejected(request(&spec, "GET", "/UserItems/not-an-id/UserData", None));
    assert!(
        err.contains("path `itemId`: \"not-an-id\" is not a valid uuid"),
        "{err}"
    );
}

#[test]
fn rejects_unknown_body_property() {
    let spec = Spec::jellyfin();
    let target = format!("/UserItems/{ITEM}/UserData");
    let err = rejected(request(
        &spec,
        "POST",
        &target,
        Some(&json!({ "Position": 1 })),
    ));
    assert!(err.contains("body.Position: unknown property"), "{err}");
    let err = rejected(request(
        &spec,
        "POST",
        &target,
        Some(&json!({ "played": true })),
    ));
    assert!(err.contains("did you mean `Played`?"), "{err}");
}

#[test]
fn rejects_wrong_body_type() {
    let spec = Spec::jellyfin();
    let target = format!("/UserItems/{ITEM}/UserData");
    let err = rejected(request(
        &spec,
        "POST",
        &target,
        Some(&json!({ "Played": "yes" })),
    ));
    assert!(
        err.contains("body.Played: expected boolean, got \"yes\""),
        "{err}"
    );
    let err = rejected(request(
        &spec,
        "POST",
        &target,
        Some(&json!({ "PlayCount": 1.5 })),
    ));
    assert!(err.contains("body.PlayCount: expected integer"), "{err}");
    let err = rejected(request(&spec, "POST", &target, Some(&json!([]))));
    assert!(err.contains("body: expected object"), "{err}");
}

#[test]
fn rejects_missing_required_body() {
    let spec = Spec::jellyfin();
    let err = rejected(request(
        &spec,
        "POST",
        &format!("/UserItems/{ITEM}/UserData"),
        None,
    ));
    assert!(err.contains("body: required but missing"), "{err}");
    let err = rejected(request(&spec, "POST", "/Users/AuthenticateByName", None));
    assert!(err.contains("body: required but missing"), "{err}");
}

#[test]
fn rejects_body_on_bodiless_operation() {
    let spec = Spec::jellyfin();
    let err = rejected(request(
        &spec,
        "POST",
        &format!("/UserPlayedItems/{ITEM}"),
        Some(&json!({})),
    ));
    assert!(err.contains("takes no request body"), "{err}");
}

// ---------------------------------------------------------------- rejected responses

#[test]
fn rejects_bad_ticks_in_response() {
    let spec = Spec::jellyfin();
    let mut data = user_item_data(ITEM);
    data["PlaybackPositionTicks"] = json!("x");
    let err = rejected(spec.check_response(
        "GET",
        &format!("/UserItems/{ITEM}/UserData"),
        200,
        Some(&data),
    ));
    assert!(
        err.contains("body.PlaybackPositionTicks: expected integer (int64), got \"x\""),
        "{err}"
    );
}

#[test]
fn rejects_bad_nested_items_response() {
    let spec = Spec::jellyfin();
    let mut ep = episode(ITEM);
    ep["UserData"]["Played"] = Value::Null; // not nullable in UserItemDataDto
    ep["Type"] = json!("Show");
    ep["Bogus"] = json!(1);
    let body = json!({ "Items": [series(ITEM), ep], "TotalRecordCount": 2, "StartIndex": 0 });
    let err = rejected(spec.check_response("GET", "/Items", 200, Some(&body)));
    assert!(
        err.contains("body.Items[1].UserData.Played: expected boolean, got null"),
        "{err}"
    );
    assert!(
        err.contains("body.Items[1].Type: \"Show\" is not one of"),
        "{err}"
    );
    assert!(
        err.contains("body.Items[1].Bogus: unknown property"),
        "{err}"
    );
}

#[test]
fn rejects_missing_required_property_in_response() {
    let spec = Spec::jellyfin();
    let user = json!({ "Id": USER, "HasPassword": true, "HasConfiguredPassword": true,
                       "HasConfiguredEasyPassword": false, "Policy": { "IsAdministrator": true } });
    let err = rejected(spec.check_response("GET", "/Users/Me", 200, Some(&user)));
    assert!(
        err.contains("body.Policy.AuthenticationProviderId: required property missing"),
        "{err}"
    );
}

#[test]
fn rejects_undeclared_status_and_body_mismatch() {
    let spec = Spec::jellyfin();
    let err = rejected(spec.check_response("GET", "/Items", 418, None));
    assert!(err.contains("status 418 is not declared"), "{err}");
    // GET /Items/{itemId} declares no 404 in 10.11.11; a fake answering 404 is off-contract.
    let err = rejected(spec.check_response("GET", &format!("/Items/{ITEM}"), 404, None));
    assert!(err.contains("status 404 is not declared"), "{err}");
    let path = format!("/UserItems/{ITEM}/UserData");
    let err = rejected(spec.check_response("GET", &path, 200, None));
    assert!(err.contains("declares a JSON body, none given"), "{err}");
    let err = rejected(spec.check_response("GET", &path, 401, Some(&json!({}))));
    assert!(err.contains("declares no JSON body, one given"), "{err}");
}

#[test]
#[should_panic(expected = "breaks the contract")]
fn assert_request_panics_with_findings() {
    Spec::jellyfin().assert_request("GET", "/Items?foo=1", None);
}

// ---------------------------------------------------------------- checker details

#[test]
fn one_of_uses_discriminator_mapping_or_exactly_one_match() {
    let doc = json!({
        "paths": {},
        "components": { "schemas": {
            "Msg": { "oneOf": [ { "$ref": "#/components/schemas/A" }, { "$ref": "#/components/schemas/B" } ],
                     "discriminator": { "propertyName": "Kind",
                                        "mapping": { "A": "#/components/schemas/A", "B": "#/components/schemas/B" } } },
            "Loose": { "oneOf": [ { "type": "integer" }, { "type": "number" } ] },
            "A": { "type": "object", "properties": { "Kind": { "type": "string" }, "N": { "type": "integer" } },
                   "additionalProperties": false },
            "B": { "type": "object", "properties": { "Kind": { "type": "string" }, "S": { "type": "string" } },
                   "additionalProperties": false }
        } }
    });
    let spec = Spec::from_value(doc);
    spec.check_schema("Msg", &json!({ "Kind": "A", "N": 1 }))
        .unwrap();
    let err = rejected(spec.check_schema("Msg", &json!({ "Kind": "B", "N": 1 })));
    assert!(err.contains("Msg.N: unknown property"), "{err}");
    spec.check_schema("Loose", &json!(1.5)).unwrap();
    let err = rejected(spec.check_schema("Loose", &json!(1))); // fits both
    assert!(err.contains("fits 2 of 2 oneOf alternatives"), "{err}");
}

#[test]
fn split_target_decodes_query() {
    let (path, query) =
        split_target("/Items?searchTerm=Breaking%20Bad&fields=Path%2CProviderIds&x");
    assert_eq!(path, "/Items");
    assert_eq!(
        query,
        [
            ("searchTerm", "Breaking Bad"),
            ("fields", "Path,ProviderIds"),
            ("x", "")
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

// ---------------------------------------------------------------- the trimmed document

/// Names of `components.schemas` referenced anywhere inside `v`.
fn schema_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.insert(name.to_owned());
            }
            map.values().for_each(|x| schema_refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| schema_refs(x, out)),
        _ => {}
    }
}

/// The subset of `full` that trim-spec.sh should produce (paths and schemas only).
fn expected_subset(full: &Value, extra_schemas: &[String]) -> (Value, Value) {
    let mut paths = serde_json::Map::new();
    for (path, methods) in KEPT_OPERATIONS {
        let item = full["paths"][*path].as_object().unwrap();
        let kept = item.iter().filter(|(m, _)| methods.contains(&m.as_str()));
        paths.insert(
            (*path).to_owned(),
            Value::Object(kept.map(|(m, op)| (m.clone(), op.clone())).collect()),
        );
    }
    let paths = Value::Object(paths);

    let mut reach = BTreeSet::new();
    schema_refs(&paths, &mut reach);
    reach.extend(extra_schemas.iter().cloned());
    loop {
        let mut next = reach.clone();
        for name in &reach {
            schema_refs(&full["components"]["schemas"][name], &mut next);
        }
        if next == reach {
            break;
        }
        reach = next;
    }
    let schemas = reach
        .into_iter()
        .map(|name| {
            let schema = full["components"]["schemas"][&name].clone();
            assert!(
                !schema.is_null(),
                "schema {name} missing from the full document"
            );
            (name, schema)
        })
        .collect();
    (paths, Value::Object(schemas))
}

fn trimmed_on_disk() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract/jellyfin-10.11.11-trimmed.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn trimmed_spec_is_self_contained_and_attributed() {
    let trimmed = trimmed_on_disk();
    let extra: Vec<String> =
        serde_json::from_value(trimmed["x-playmark-source"]["extraSchemas"].clone()).unwrap();
    // Trimming the trimmed file again is a no-op: every kept $ref resolves inside it.
    let (paths, schemas) = expected_subset(&trimmed, &extra);
    assert_eq!(paths, trimmed["paths"]);
    assert_eq!(schemas, trimmed["components"]["schemas"]);

    let source = &trimmed["x-playmark-source"];
    assert!(source["license"].as_str().unwrap().contains("GPL-2.0"));
    assert!(source["copiedFrom"]
        .as_str()
        .unwrap()
        .contains("sj14/jellyfin-go"));
    let kept: Vec<(String, Vec<String>)> = source["keptOperations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, m)| (p.clone(), serde_json::from_value(m.clone()).unwrap()))
        .collect();
    let mut expected: Vec<(String, Vec<String>)> = KEPT_OPERATIONS
        .iter()
        .map(|(p, m)| ((*p).to_owned(), m.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    let mut kept_sorted = kept;
    kept_sorted.sort();
    expected.sort();
    assert_eq!(
        kept_sorted, expected,
        "KEPT_OPERATIONS and trim-spec.sh disagree"
    );

    let ops: usize = KEPT_OPERATIONS.iter().map(|(_, m)| m.len()).sum();
    assert_eq!(Spec::jellyfin().operations().len(), ops);
}

#[test]
fn trimmed_spec_is_up_to_date_with_full_spec() {
    let full_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/specs/jellyfin-openapi-10.11.11.json");
    let Ok(text) = std::fs::read_to_string(&full_path) else {
        println!(
            "note: {} not found; skipping the up-to-date check",
            full_path.display()
        );
        return;
    };
    let full: Value = serde_json::from_str(&text).unwrap();
    let trimmed = trimmed_on_disk();
    let extra: Vec<String> =
        serde_json::from_value(trimmed["x-playmark-source"]["extraSchemas"].clone()).unwrap();
    let (paths, schemas) = expected_subset(&full, &extra);
    let stale = "stale: run tests/contract/trim-spec.sh";
    assert_eq!(trimmed["openapi"], full["openapi"], "{stale}");
    assert_eq!(trimmed["info"], full["info"], "{stale}");
    assert_eq!(trimmed["paths"], paths, "{stale}");
    assert_eq!(trimmed["components"]["schemas"], schemas, "{stale}");
    assert_eq!(
        trimmed["components"]["securitySchemes"], full["components"]["securitySchemes"],
        "{stale}"
    );
}
