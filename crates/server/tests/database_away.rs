//! The database going away under a running server (a restart, a failover, a cut network): every
//! request that needs it is answered 503 `store-unavailable` in words — not a bare 500 — nothing
//! is half written, and once the database is back the server carries on by itself.
//!
//! The server's store reaches PostgreSQL (`TUDI_TEST_PG`) through a TCP relay in this test that
//! can be cut: open connections are closed and new ones refused, as when the database stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::json;
use tudi_server::AppState;
use tudi_store::Store;
use tudi_store_pg::PgStore;

use common::call_json as call;

/// Relays 127.0.0.1:<port> to the database until cut.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut2, open2) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut list = open2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Self { port, cut, open }
    }

    /// The database is away: open connections closed, new ones refused.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_away_requests_are_refused_in_words_and_recover() {
    // postgres://user@host:port/db: the same, through the relay.
    let database = tudi_store_pg::testing::database();
    let (head, rest) = database.split_once("://").unwrap();
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
    let upstream = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let relay = Relay::to(upstream);
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let through = format!("{head}://{at}127.0.0.1:{}/{path}", relay.port);
    let store: Arc<dyn Store> = Arc::new(PgStore::scratch(&through).unwrap());
    let config = tudi_access::accounts::AuthConfig::for_tests();
    let accounts = tudi_access::demo::create_accounts(&*store, &config, "440605").unwrap();
    let admin = accounts.iter().find(|a| a.role == "admin").unwrap();
    let st = AppState::new(Arc::clone(&store)).with_auth(config);
    let (status, signed, _) = call(
        &st,
        None,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"username": admin.username, "password": admin.password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let token = signed["token"].as_str().unwrap().to_owned();
    let entries = store.verify_audit().unwrap().entries;

    relay.cut();
    for (method, path, body) in [
        ("GET", "/api/v1/auth/me", None),
        (
            "PATCH",
            "/api/v1/users/admin",
            Some(json!({"display_name": "不会保存", "version": 1})),
        ),
        ("GET", "/api/v1/users", None),
    ] {
        let (status, problem, _) = call(&st, Some(&token), method, path, body).await;
        said_the_database_is_away(status, &problem, &format!("{method} {path}"));
    }

    // Readiness says so, without signing in and without naming where the database is; the
    // process itself is alive.
    let (status, problem, _) = call(&st, None, "GET", "/readyz", None).await;
    said_the_database_is_away(status, &problem, "GET /readyz");
    assert!(
        !problem.to_string().contains(&relay.port.to_string()),
        "the answer does not say where the database is: {problem}"
    );
    let (status, _, _) = call(&st, None, "GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);

    // The console's session cookie meets the same answer (not taken for signed out).
    let with_cookie = axum::http::Request::builder()
        .uri("/api/v1/auth/me")
        .header("host", "example.test")
        .header(
            "cookie",
            format!("{}={token}", tudi_server::auth::SESSION_COOKIE),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(tudi_server::router(st.clone()), with_cookie)
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a cookie session with the database away"
    );

    relay.restore();
    let (status, me, _) = call(&st, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(status, StatusCode::OK, "back by itself: {me}");
    let (status, ready, _) = call(&st, None, "GET", "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "ready again: {ready}");
    assert_ne!(
        me["display_name"], "不会保存",
        "the refused edit was not saved"
    );
    let report = store.verify_audit().unwrap();
    assert!(report.is_intact());
    assert_eq!(
        report.entries, entries,
        "nothing was written while the database was away"
    );
}

/// A 503 `store-unavailable`, said in Chinese and in English.
fn said_the_database_is_away(status: StatusCode, problem: &serde_json::Value, what: &str) {
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what} with the database away: {problem}"
    );
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("store-unavailable")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("数据库暂时无法访问")),
        "in Chinese: {problem}"
    );
    assert!(
        problem["detail_en"]
            .as_str()
            .is_some_and(|d| d.contains("database could not be reached")),
        "and in English: {problem}"
    );
}
