//! A small demo district shared by the server's tests, and request helpers.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use tudi_server::{AppState, router};
use tudi_store::Store;

pub struct Demo {
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    /// A signed-in administrator's bearer token, sent by the request helpers.
    pub admin_token: String,
}

pub fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = tudi_store_pg::testing::fresh_served_store(dir.path());
        tudi_onemap::demo::build(
            &*store,
            tudi_onemap::demo::DemoOptions {
                seed: 3,
                parcels: 600,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        // These tests exercise the map services; access rules have their own tests
        // (access.rs). Every layer is public, as OGC clients read anonymously.
        let change = tudi_store::Change::new("cli", "test.setup");
        for l in store.layer_defs().unwrap() {
            tudi_onemap::access::set_public(&*store, &l.name, true, &change).unwrap();
        }
        let config = tudi_access::accounts::AuthConfig::for_tests();
        let accounts = tudi_access::demo::create_accounts(&*store, &config, "440605").unwrap();
        let admin = accounts.iter().find(|a| a.role == "admin").unwrap();
        let (admin_token, _, _) = tudi_access::accounts::Accounts::new(&*store, &config)
            .login(&change, &admin.username, &admin.password)
            .unwrap();
        Demo {
            _dir: dir,
            store,
            admin_token,
        }
    })
}

/// One application state for all requests of a test binary, as one server would have.
pub fn state() -> AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            AppState::new(demo().store.clone())
                .with_auth(tudi_access::accounts::AuthConfig::for_tests())
        })
        .clone()
}

/// A request to `state`'s application as the holder of `token` (anonymous without one):
/// status, content type and raw body.
pub async fn send(
    state: &AppState,
    token: Option<&str>,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, String, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "example.test");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = router(state.clone())
        .oneshot(req.body(body.map_or_else(Body::empty, Body::from)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, bytes.to_vec())
}

/// The first parcel of `store` and its OGC API item path.
pub fn first_parcel(store: &dyn Store) -> (tudi_store::FeatureRecord, String) {
    let parcel = store
        .features(
            "parcels",
            &tudi_store::FeatureQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .unwrap()
        .remove(0);
    let item = format!("/ogc/collections/parcels/items/{}", parcel.id);
    (parcel, item)
}

/// A JSON request to `state`'s application as the holder of `token`: status, the answer as
/// JSON (`Null` when it is not) and its raw bytes.
pub async fn call_json(
    state: &AppState,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value, Vec<u8>) {
    let content_type = body.is_some().then_some("application/json");
    let (status, _, bytes) = send(
        state,
        token,
        method,
        uri,
        content_type,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bytes,
    )
}

/// A request to the demo's application as its administrator: status, content type and raw body.
pub async fn request_bytes(
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, String, Vec<u8>) {
    let json = body.is_some().then_some("application/json");
    send(
        &state(),
        Some(&demo().admin_token),
        method,
        uri,
        json,
        body.map(String::into_bytes),
    )
    .await
}

/// A request to the demo's application, with the body read as JSON (`Null` when it is not).
pub async fn request(method: &str, uri: &str, body: Option<String>) -> (StatusCode, String, Value) {
    let (status, ctype, bytes) = request_bytes(method, uri, body).await;
    (
        status,
        ctype,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub async fn get(uri: &str) -> (StatusCode, String, Value) {
    request("GET", uri, None).await
}

/// Serves the demo on a free loopback port; the runtime must outlive the client.
pub fn spawn_server() -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let state = state();
    runtime.spawn(async move { tudi_server::serve_on(listener, state).await });
    (runtime, addr)
}
