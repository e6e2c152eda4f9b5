//! Liveness and readiness for load balancers: answered without signing in, never cached, saying
//! nothing of the district's data; ready once the start-up snapshots are built, and staying ready
//! while a snapshot is rebuilt after an edit. (The database away: `database_away.rs`.)
//!
//! Runs on the backend `TUDI_TEST_BACKEND` chooses (CI runs both).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tudi_server::AppState;
use tudi_store::Change;

async fn get(st: &AppState, uri: &str) -> (StatusCode, Option<String>, Value) {
    let req = Request::builder()
        .uri(uri)
        .header("host", "example.test")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(tudi_server::router(st.clone()), req)
        .await
        .unwrap();
    let status = res.status();
    let cache = res
        .headers()
        .get(header::CACHE_CONTROL)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, cache, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_anyone_and_say_nothing_of_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    tudi_onemap::demo::build(
        &*store,
        tudi_onemap::demo::DemoOptions {
            seed: 7,
            parcels: 3000,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let st = AppState::new(store.clone());

    let (status, cache, body) = get(&st, "/healthz").await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({"status": "alive"}))
    );
    assert_eq!(cache.as_deref(), Some("no-store"));

    // Start-up: every layer's snapshot is built in the background; until then the server is
    // alive but not ready, and says why in both languages.
    st.warm_up();
    let started = std::time::Instant::now();
    loop {
        let (status, cache, body) = get(&st, "/readyz").await;
        assert_eq!(cache.as_deref(), Some("no-store"));
        if status == StatusCode::OK {
            assert_eq!(body, json!({"status": "ready"}));
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/snapshots-building")),
            "{body}"
        );
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("快照")));
        assert!(
            body["detail_en"]
                .as_str()
                .is_some_and(|d| d.contains("snapshot"))
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "ready within a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        st.snapshots()
            .unwrap()
            .status()
            .iter()
            .all(|l| l.state == "ready"),
        "ready means the snapshots are built"
    );

    // An edit drops the parcels' snapshot, rebuilt on the next use: the server stays ready.
    let (parcel, _) = common::first_parcel(&*store);
    store
        .update_feature(
            "parcels",
            parcel.id,
            parcel.geometry.clone(),
            parcel.attributes.clone(),
            &Change::new("user:test", "parcel.edit"),
        )
        .unwrap();
    let (status, _, body) = get(&st, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Neither answer names a layer, a place or a count of anything stored.
    for uri in ["/healthz", "/readyz"] {
        let (_, _, body) = get(&st, uri).await;
        let text = body.to_string();
        assert!(
            !text.contains("parcels") && !text.contains("440605"),
            "{text}"
        );
    }
}
