//! A write request end to end, to put the audit append in proportion:
//! `cargo bench -p tudi-server --bench write`.
//!
//! `patch_user` is `PATCH /api/v1/users/{name}` with a bearer token, through the whole router
//! (sign-in check, policy, optimistic version, store write with its audit entry, durable commit,
//! JSON answer). The audit append's own cost is measured side by side in
//! `cargo bench -p tudi-store --bench audit`; docs/benchmarks.md sets the two against each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tudi_access::accounts::{Accounts, AuthConfig, NewUser};
use tudi_access::{Binding, Jurisdiction, Role};
use tudi_server::{AppState, router};
use tudi_store::{Change, Store};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let setup = Change::new("cli", "bench.setup");
    store.set_meta("district", "440605", &setup).unwrap();
    let config = AuthConfig::for_tests();
    let accounts = Accounts::new(&*store, &config);
    for (name, role, scope) in [
        ("bench.admin", Role::Admin, "440605"),
        ("bench.target", Role::TownReviewer, "440605011"),
    ] {
        accounts
            .create_user(
                &setup,
                NewUser {
                    username: name.into(),
                    display_name: None,
                    password: "Bench-password-1".into(),
                    roles: vec![Binding {
                        role,
                        scope: Jurisdiction::parse(scope).unwrap(),
                        department: None,
                    }],
                    phone: None,
                    id_number: None,
                },
            )
            .unwrap();
    }
    let (token, _, _) = accounts
        .login(&setup, "bench.admin", "Bench-password-1")
        .unwrap();
    let app = router(AppState::new(store.clone()).with_auth(config.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut version = accounts.user("bench.target").unwrap().unwrap().1;
    let mut g = c.benchmark_group("api");
    g.bench_function("patch_user", |b| {
        b.iter(|| {
            version += 1;
            let body = json!({"display_name": format!("测试{version}"), "version": version - 1});
            let req = Request::builder()
                .method("PATCH")
                .uri("/api/v1/users/bench.target")
                .header("host", "bench.test")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            rt.block_on(async {
                let res = app.clone().oneshot(req).await.unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                let bytes = res.into_body().collect().await.unwrap().to_bytes();
                serde_json::from_slice::<Value>(&bytes).unwrap()
            })
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
