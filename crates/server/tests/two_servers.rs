//! Two servers on one store — two `AppState`s, each with its own handle, snapshots, limiter and
//! lease holder, as two `tudi serve` processes behind a load balancer have — behave as one: a
//! write through one is read at once through the other (no stale feature or tile), a session
//! begun on one is honoured and ended on the other, wrong passwords spread over both still lock
//! the account, and a background job's lease is held by one server at a time.
//!
//! Runs on the backend `TUDI_TEST_BACKEND` chooses (CI runs both).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use geo::Centroid;
use serde_json::{Value, json};
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::mvt::WORLD_HALF;
use tudi_server::AppState;
use tudi_server::lease::Lease;
use tudi_store::Change;

use common::call_json as call;

fn problem(v: &Value) -> &str {
    v["type"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_store_behave_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store_a, store_b) = tudi_store_pg::testing::fresh_store_pair(dir.path());
    tudi_onemap::demo::build(
        &*store_a,
        tudi_onemap::demo::DemoOptions {
            seed: 5,
            parcels: 300,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let config = tudi_access::accounts::AuthConfig::for_tests();
    let accounts = tudi_access::demo::create_accounts(&*store_a, &config, "440605").unwrap();
    let admin = accounts.iter().find(|a| a.role == "admin").unwrap();
    let a = AppState::new(store_a.clone()).with_auth(config.clone());
    let b = AppState::new(store_b.clone()).with_auth(config.clone());

    // Sign in on A, act on B, sign out on B: refused on A.
    let (status, signed, _) = call(
        &a,
        None,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"username": admin.username, "password": admin.password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let token = signed["token"].as_str().unwrap().to_owned();
    let (status, me, _) = call(&b, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a session begun on A is honoured on B: {me}"
    );

    // A write through one server is read at once through the other: attributes and tiles.
    let (parcel, item) = common::first_parcel(&*store_a);
    let field = parcel
        .attributes
        .iter()
        .find(|(k, v)| v.is_string() && k.as_str() != "code")
        .map(|(k, _)| k.clone())
        .expect("a text field besides the code");
    for round in 0..25 {
        let (writer, reader) = if round % 2 == 0 {
            (&store_a, &b)
        } else {
            (&store_b, &a)
        };
        let mut attributes = parcel.attributes.clone();
        let owner = format!("第{round}次修改");
        attributes.insert(field.clone(), json!(owner));
        writer
            .update_feature(
                "parcels",
                parcel.id,
                parcel.geometry.clone(),
                attributes,
                &Change::new("user:test", "parcel.edit"),
            )
            .unwrap();
        let (status, body, _) = call(reader, Some(&token), "GET", &item, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["properties"][&field],
            json!(owner),
            "round {round}: the other server answers with the write, not a stale copy"
        );
    }
    // A deleted parcel is gone from the other server at once, from its items and its tiles.
    let epsg = store_a.layer_def("parcels").unwrap().epsg;
    let mut g = parcel.geometry.clone();
    Transformer::new(Crs::from_epsg(epsg).unwrap(), Crs::WEB_MERCATOR)
        .unwrap()
        .apply_geometry(&mut g)
        .unwrap();
    let c = g.centroid().unwrap();
    let size = 2.0 * WORLD_HALF / f64::from(1u32 << 17);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (x, y) = (
        ((c.x() + WORLD_HALF) / size) as u32,
        ((WORLD_HALF - c.y()) / size) as u32,
    );
    let tile = format!("/ogc/collections/parcels/tiles/WebMercatorQuad/17/{y}/{x}");
    let (status, _, before) = call(&b, Some(&token), "GET", &tile, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!before.is_empty(), "the parcel is in its tile");
    store_a
        .delete_feature(
            "parcels",
            parcel.id,
            &Change::new("user:test", "parcel.delete"),
        )
        .unwrap();
    let (status, _, _) = call(&b, Some(&token), "GET", &item, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "deleted through A, gone on B"
    );
    let (_, _, after) = call(&b, Some(&token), "GET", &tile, None).await;
    assert_ne!(
        before, after,
        "B's tile no longer draws the parcel deleted through A"
    );

    // A has recognised the session (and may keep it in mind while the store stands still).
    let (status, _, _) = call(&a, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&a, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&b, Some(&token), "POST", "/api/v1/auth/logout", None).await;
    assert!(status.is_success(), "{status}");
    let (status, _, _) = call(&a, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed out on B, refused on A"
    );

    // Wrong passwords spread over both servers lock the account on both.
    let victim = accounts.iter().find(|x| x.role != "admin").unwrap();
    let mut locked = false;
    for attempt in 0..12 {
        let server = if attempt % 2 == 0 { &a } else { &b };
        let (status, body, _) = call(
            server,
            None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": victim.username, "password": "not-the-password"})),
        )
        .await;
        if problem(&body) == "account-locked" {
            locked = true;
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert!(
        locked,
        "alternating servers, the wrong passwords still lock the account"
    );
    for server in [&a, &b] {
        let (_, body, _) = call(
            server,
            None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": victim.username, "password": victim.password})),
        )
        .await;
        assert_eq!(problem(&body), "account-locked", "locked on both: {body}");
    }

    // A background job's lease: one holder at a time; another takes over once it has ended.
    assert!(
        a.holds_lease("test-job", std::time::Duration::from_secs(60))
            .await
    );
    assert!(
        !b.holds_lease("test-job", std::time::Duration::from_secs(60))
            .await
    );
    assert!(
        a.holds_lease("test-job", std::time::Duration::from_secs(60))
            .await,
        "renewed"
    );
    let t0 = jiff::Timestamp::now();
    let later = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
    let one = Lease::new("clock", "server-1", std::time::Duration::from_secs(90));
    let two = Lease::new("clock", "server-2", std::time::Duration::from_secs(90));
    assert!(one.hold(&*store_a, t0).unwrap());
    assert!(!two.hold(&*store_b, later(60)).unwrap(), "held by server 1");
    let entries = store_a.verify_audit().unwrap().entries;
    assert!(one.hold(&*store_a, later(30)).unwrap(), "still held");
    assert_eq!(
        store_a.verify_audit().unwrap().entries,
        entries,
        "a lease with most of its time left is not rewritten"
    );
    assert!(one.hold(&*store_a, later(60)).unwrap(), "server 1 renews");
    assert_eq!(
        store_a.verify_audit().unwrap().entries,
        entries + 1,
        "in its second half"
    );
    assert!(
        !two.hold(&*store_b, later(149)).unwrap(),
        "renewed until 150 s"
    );
    assert!(
        two.hold(&*store_b, later(151)).unwrap(),
        "server 1 died: server 2 takes over"
    );
    assert!(!one.hold(&*store_a, later(152)).unwrap(), "and keeps it");
    assert!(store_a.verify_audit().unwrap().is_intact());
}

/// The sign-in rate limit is counted in the store: ten failed attempts from one address spread
/// over two servers hold the eleventh back on both (each server alone has seen only five), and
/// the counts of a passed window are swept away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_rate_limit_is_shared_by_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let (store_a, store_b) = tudi_store_pg::testing::fresh_store_pair(dir.path());
    let config = tudi_access::accounts::AuthConfig::for_tests();
    let a = AppState::new(store_a.clone()).with_auth(config.clone());
    let b = AppState::new(store_b.clone()).with_auth(config);
    let attempt = |on: &AppState, i: usize| {
        let on = on.clone();
        async move {
            call(
                &on,
                None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": format!("nobody{i}"), "password": "wrong-pass-1"})),
            )
            .await
        }
    };
    for i in 0..tudi_server::auth::LoginLimiter::PER_WINDOW {
        let (status, body, _) = attempt(if i % 2 == 0 { &a } else { &b }, i).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
    }
    for on in [&a, &b] {
        let (status, body, _) = attempt(on, 99).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(problem(&body), "login-rate-limited", "{body}");
    }
    // The counts' ids are digests under the store's secret: hashing a name does not find it.
    let counts = store_a
        .find_records(
            tudi_server::auth::SHARED_LIMIT_COLLECTION,
            &tudi_store::RecordQuery::default(),
        )
        .unwrap();
    assert!(counts.total > 1, "one count per address and per name");
    let plain = tudi_store::audit::sha256_hex(b"user:nobody0")[..32].to_owned();
    assert!(counts.records.iter().all(|r| r.id != plain));
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(61);
    let swept = tudi_server::auth::sweep_shared(&*store_a, later, 500).unwrap();
    assert!(
        swept >= 1,
        "the address's count is swept once its window has passed"
    );
    let left = store_b
        .find_records(
            tudi_server::auth::SHARED_LIMIT_COLLECTION,
            &tudi_store::RecordQuery::default(),
        )
        .unwrap();
    assert_eq!(left.total, 0, "{:?}", left.records);
}

/// A ring made (`tudi keys new`) after the server started is used from then on, a ring rotated
/// on disk (`tudi keys rotate`) signs the next certificate without a restart; a file caught
/// half-written leaves the ring in use; a server does not start on a broken one.
#[test]
fn the_signing_key_file_is_reloaded_when_made_or_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let file = dir.path().join("signing-keys.json");
    let state = AppState::new(store.clone())
        .with_signing_key_file(file.clone())
        .unwrap();
    assert!(state.signing_keys().is_none(), "no ring made yet");
    let mut ring = tudi_sign::KeyRing::default();
    let first = ring.rotate(jiff::Timestamp::now()).unwrap();
    std::fs::write(&file, serde_json::to_vec(&ring).unwrap()).unwrap();
    let signer = |state: &AppState| {
        state
            .signing_keys()
            .unwrap()
            .sign(json!({"n": 1}))
            .unwrap()
            .key
    };
    assert_eq!(signer(&state), first);
    let second = ring.rotate(jiff::Timestamp::now()).unwrap();
    std::fs::write(&file, serde_json::to_vec(&ring).unwrap()).unwrap();
    assert_eq!(signer(&state), second, "the rotated key signs at once");
    std::fs::write(&file, b"{\"keys\": [").unwrap();
    assert_eq!(
        signer(&state),
        second,
        "a broken file leaves the ring in use"
    );
    let refused = AppState::new(store).with_signing_key_file(file);
    assert!(refused.is_err_and(|why| why.contains("not a key ring")));
}

/// A rule set saved in the store (`tudi rules add`) is offered by every server on it at once,
/// and gone from all of them when removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_sets_saved_in_the_store_are_offered_by_every_server() {
    let dir = tempfile::tempdir().unwrap();
    let (store_a, store_b) = tudi_store_pg::testing::fresh_store_pair(dir.path());
    store_a
        .set_meta("district", "440605", &Change::new("cli", "init"))
        .unwrap();
    let a = AppState::new(store_a.clone());
    let b = AppState::new(store_b.clone());
    let ids = |v: &Value| -> Vec<String> {
        v["rule_sets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, before, _) = call(&b, None, "GET", "/api/v1/compliance/rule-sets", None).await;
    assert_eq!(
        ids(&before),
        ["宅基地选址"],
        "南海 is offered Guangdong's rules only"
    );
    let mut village = tudi_onemap::compliance::RuleSet::builtin().remove(0);
    village.id = "村级自定选址".into();
    village.aliases = vec![];
    let change = Change::new("cli", "rules.add");
    tudi_onemap::compliance::save_rule_sets(&*store_a, &[village.clone()], &change).unwrap();
    for on in [&a, &b] {
        let (_, now, _) = call(on, None, "GET", "/api/v1/compliance/rule-sets", None).await;
        assert_eq!(ids(&now), ["宅基地选址", "村级自定选址"], "{now}");
    }
    // A name another rule set answers to in the same province is refused, nothing saved.
    let mut clash = village.clone();
    clash.id = "另一个".into();
    clash.aliases = vec!["homestead_site_gd".into()];
    let refused = tudi_onemap::compliance::save_rule_sets(&*store_b, &[clash], &change);
    assert!(
        refused.is_err_and(|e| e.to_string().contains("homestead_site_gd")),
        "a taken name is refused"
    );
    assert!(tudi_onemap::compliance::remove_rule_set(&*store_b, "村级自定选址", &change).unwrap());
    for on in [&a, &b] {
        let (_, now, _) = call(on, None, "GET", "/api/v1/compliance/rule-sets", None).await;
        assert_eq!(ids(&now), ["宅基地选址"], "{now}");
    }
}

/// A read refused for a sensitive action is audited exactly once. (On PostgreSQL such a read
/// runs speculatively on the last revisions reading: its audit entry is refused there, and the
/// request runs again, the careful way, before it is answered.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_read_is_audited_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store_a, store_b) = tudi_store_pg::testing::fresh_store_pair(dir.path());
    let config = tudi_access::accounts::AuthConfig::for_tests();
    let accounts = tudi_access::demo::create_accounts(&*store_a, &config, "440605").unwrap();
    let agent = accounts.iter().find(|a| a.role == "hotline_agent").unwrap();
    let a = AppState::new(store_a.clone()).with_auth(config.clone());
    let b = AppState::new(store_b.clone()).with_auth(config);
    let (status, signed, _) = call(
        &a,
        None,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"username": agent.username, "password": agent.password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let token = signed["token"].as_str().unwrap().to_owned();
    let denials = || {
        store_a
            .audit_trail(&tudi_store::AuditQuery::default())
            .unwrap()
            .iter()
            .filter(|e| e.action == "denied.audit_read")
            .count()
    };
    for (round, server) in [&a, &b, &b, &a].into_iter().enumerate() {
        let (status, body, _) = call(server, Some(&token), "GET", "/api/v1/audit", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(denials(), round + 1, "round {round}: one entry per refusal");
    }
    assert!(store_a.verify_audit().unwrap().is_intact());
}
