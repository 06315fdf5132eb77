//! The demo server's responses fit the Jellyfin 10.11.11 OpenAPI document: the fake must not
//! drift from the real API that our client is written against.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::contract::Spec;
use playmark::demo::{DemoConfig, DemoServer, DEMO_PASSWORD, DEMO_USER};
use playmark::model::ItemKind;
use serde_json::{json, Value};

const AUTH: &str =
    r#"MediaBrowser Client="Playmark Tests", Device="ci", DeviceId="conf-1", Version="0.1""#;

async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    auth: &str,
    body: Option<Value>,
) -> (u16, Option<Value>) {
    let mut req = c.request(method, url).header("Authorization", auth);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).ok())
}

/// `method` on the user's `path` (`?userId=`) at `base` with the signed-in `auth`, its answer
/// checked against the spec; returns the status.
#[allow(clippy::too_many_arguments)]
async fn user_call(
    c: &reqwest::Client,
    spec: &Spec,
    base: &str,
    user: &str,
    auth: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    let name = method.as_str().to_string();
    let (st, answer) = call(c, method, format!("{base}{path}?userId={user}"), auth, body).await;
    spec.assert_response(&name, path, st, answer.as_ref());
    st
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_of_the_fake_fits_the_spec() {
    let spec = Spec::jellyfin();
    let server = DemoServer::start(DemoConfig::default()).await.unwrap();
    let c = reqwest::Client::new();
    let base = server.url();
    use reqwest::Method;

    let (st, body) = call(
        &c,
        Method::GET,
        format!("{base}/System/Info/Public"),
        AUTH,
        None,
    )
    .await;
    spec.assert_response("GET", "/System/Info/Public", st, body.as_ref());

    let (st, body) = call(
        &c,
        Method::POST,
        format!("{base}/Users/AuthenticateByName"),
        AUTH,
        Some(json!({"Username": DEMO_USER, "Pw": DEMO_PASSWORD})),
    )
    .await;
    spec.assert_response("POST", "/Users/AuthenticateByName", st, body.as_ref());
    let token = body.unwrap()["AccessToken"].as_str().unwrap().to_string();
    let auth = format!(r#"{AUTH}, Token="{token}""#);
    let user = server.user_id();

    let (st, body) = call(&c, Method::GET, format!("{base}/Users/Me"), &auth, None).await;
    spec.assert_response("GET", "/Users/Me", st, body.as_ref());

    let (st, body) = call(
        &c,
        Method::GET,
        format!("{base}/Items?userId={user}&recursive=true&includeItemTypes=Series,Season,Episode,Movie&enableUserData=true&startIndex=0&limit=500"),
        &auth,
        None,
    )
    .await;
    spec.assert_response("GET", "/Items", st, body.as_ref());
    assert!(body.unwrap()["Items"].as_array().unwrap().len() > 10);

    let items = server.items();
    let episode = common::first_id(&items, ItemKind::Episode);
    let season = common::first_id(&items, ItemKind::Season);

    let path = format!("/Items/{episode}");
    user_call(&c, &spec, &base, &user, &auth, Method::GET, &path, None).await;

    let path = format!("/UserItems/{episode}/UserData");
    user_call(&c, &spec, &base, &user, &auth, Method::GET, &path, None).await;
    let update = json!({"PlaybackPositionTicks": 120_000_000_i64, "Played": false});
    user_call(
        &c,
        &spec,
        &base,
        &user,
        &auth,
        Method::POST,
        &path,
        Some(update),
    )
    .await;

    let path = format!("/UserPlayedItems/{season}");
    user_call(&c, &spec, &base, &user, &auth, Method::POST, &path, None).await;
    user_call(&c, &spec, &base, &user, &auth, Method::DELETE, &path, None).await;

    // Error answers: 401 without a token, 404 for an unknown item where the operation declares it.
    let (st, _) = call(&c, Method::GET, format!("{base}/Users/Me"), AUTH, None).await;
    assert_eq!(st, 401);
    spec.assert_response("GET", "/Users/Me", st, None);
    let missing = "0123456789abcdef0123456789abcdef";
    let path = format!("/UserItems/{missing}/UserData");
    let st = user_call(&c, &spec, &base, &user, &auth, Method::GET, &path, None).await;
    assert_eq!(st, 404);
}

/// The endpoints general client libraries call (tests/it/real_clients.rs): requests as they send
/// them and the fake's answers fit the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_client_libraries_call_fits_the_spec() {
    let spec = Spec::jellyfin();
    let server = DemoServer::start(DemoConfig::default()).await.unwrap();
    let c = reqwest::Client::new();
    let base = server.url();
    use reqwest::Method;
    let device = AUTH.replace("conf-1", "conf-2");
    let (_, body) = call(
        &c,
        Method::POST,
        format!("{base}/Users/AuthenticateByName"),
        &device,
        Some(json!({"Username": DEMO_USER, "Pw": DEMO_PASSWORD})),
    )
    .await;
    let token = body.unwrap()["AccessToken"].as_str().unwrap().to_string();
    let auth = format!(r#"{device}, Token="{token}""#);
    let user = server.user_id();
    let episode = server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode && !i.user_data.played)
        .unwrap()
        .id;
    let (st, _) = call(
        &c,
        Method::POST,
        format!("{base}/Sessions/Playing"),
        &auth,
        Some(json!({"ItemId": episode, "PositionTicks": 600_000_000_i64})),
    )
    .await;
    assert_eq!(st, 204);

    let missing = "0123456789abcdef0123456789abcdef";
    for (target, listed) in [
        (format!("/Users/{user}"), None),
        (format!("/Users/{missing}"), None),
        (
            format!("/Shows/NextUp?userId={user}&limit=20&enableResumable=true&enableUserData=true"),
            Some("Items"),
        ),
        (
            format!("/UserItems/Resume?userId={user}&limit=10&includeItemTypes=Episode,Movie&mediaTypes=Video"),
            Some("Items"),
        ),
        ("/Sessions".to_string(), Some("")),
        (
            "/Sessions?deviceId=conf-2&activeWithinSeconds=960".to_string(),
            Some(""),
        ),
        (format!("/Sessions?controllableByUserId={user}"), None),
    ] {
        spec.assert_request("GET", &target, None);
        let (st, body) = call(&c, Method::GET, format!("{base}{target}"), &auth, None).await;
        let path = target.split('?').next().unwrap();
        spec.assert_response("GET", path, st, body.as_ref());
        // Lists that must not be empty here, so their items were checked too.
        match listed {
            Some("") => assert!(!body.unwrap().as_array().unwrap().is_empty(), "{target}"),
            Some(key) => assert!(!body.unwrap()[key].as_array().unwrap().is_empty(), "{target}"),
            None => {}
        }
    }
}
