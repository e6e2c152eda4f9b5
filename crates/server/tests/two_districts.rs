//! Two districts side by side — 佛山市南海区 (440605) and 嘉兴市南湖区 (330402), two schemas of one
//! PostgreSQL database (or two GeoPackage files) — each served with its own jurisdiction: its own
//! outline and Gauss–Krüger zone, accounts, province's rules; nothing of one is readable through
//! the other's server.
//!
//! Runs on the backend `TUDI_TEST_BACKEND` chooses (CI runs both).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use geo::Centroid;
use serde_json::{Value, json};
use tudi_onemap::demo::{DemoOptions, District, NANHAI, NANHU};
use tudi_server::AppState;
use tudi_store::{FeatureQuery, Store};

async fn call(
    state: &AppState,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, answer, _) = common::call_json(state, token, method, uri, body).await;
    (status, answer)
}

struct Served {
    store: Arc<dyn Store>,
    state: AppState,
    admin: tudi_access::demo::DemoAccount,
}

fn serve(dir: &std::path::Path, district: &'static District, seed: u64) -> Served {
    let store = tudi_store_pg::testing::fresh_store(dir);
    tudi_onemap::demo::build(
        &*store,
        DemoOptions {
            seed,
            parcels: 120,
            district,
        },
        &mut |_| {},
    )
    .unwrap();
    tudi_onemap::access::set_public(
        &*store,
        "divisions",
        true,
        &tudi_store::Change::new("cli", "demo.build"),
    )
    .unwrap();
    let config = tudi_access::accounts::AuthConfig::for_tests();
    let admin = tudi_access::demo::create_accounts(&*store, &config, district.code)
        .unwrap()
        .into_iter()
        .find(|a| a.role == "admin")
        .unwrap();
    let state = AppState::new(store.clone()).with_auth(config);
    Served {
        store,
        state,
        admin,
    }
}

async fn sign_in(on: &AppState, who: &tudi_access::demo::DemoAccount) -> (StatusCode, Value) {
    call(
        on,
        None,
        "POST",
        "/api/v1/auth/login",
        Some(json!({"username": who.username, "password": who.password})),
    )
    .await
}

/// An 11.5 m × 11.5 m site (132.25 m²) at the centre of the first land-survey patch of `land_use`,
/// in the layer's own CRS.
fn site_on(store: &dyn Store, land_use: &str) -> Value {
    let patch = store
        .features("land_survey", &FeatureQuery::default())
        .unwrap()
        .into_iter()
        .find(|f| f.attributes.get("land_use") == Some(&json!(land_use)))
        .unwrap();
    let c = patch.geometry.centroid().unwrap();
    let (x, y) = (c.x(), c.y());
    let h = 5.75;
    json!({"type": "Polygon", "coordinates": [[[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h], [x - h, y - h]]]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_districts_are_served_apart() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let nanhai = serve(dir_a.path(), &NANHAI, 5);
    let nanhu = serve(dir_b.path(), &NANHU, 6);

    // Each map is its own district, in its own zone.
    for (served, district, west, east) in [
        (&nanhai, &NANHAI, 112.8, 113.4),
        (&nanhu, &NANHU, 120.6, 121.0),
    ] {
        let (s, c) = call(
            &served.state,
            None,
            "GET",
            "/ogc/collections/divisions",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        let bbox = &c["extent"]["spatial"]["bbox"][0];
        let (w, e) = (bbox[0].as_f64().unwrap(), bbox[2].as_f64().unwrap());
        assert!(
            west < w && e < east,
            "{}: the divisions lie at {w}..{e}°E",
            district.code
        );
        assert_eq!(
            c["storageCrs"],
            format!("http://www.opengis.net/def/crs/EPSG/0/{}", district.epsg),
            "{c}"
        );
        let divisions = served
            .store
            .features("divisions", &FeatureQuery::default())
            .unwrap();
        assert!(
            divisions.iter().all(|f| f.attributes["code"]
                .as_str()
                .unwrap()
                .starts_with(district.code)),
            "{}: every division is the district's own",
            district.code
        );
    }

    // Accounts are the district's own: 南海's administrator is a stranger to 南湖's server, and
    // a session begun on one is not honoured by the other.
    let (s, signed) = sign_in(&nanhai.state, &nanhai.admin).await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    let token = signed["token"].as_str().unwrap().to_owned();
    let (s, me) = call(&nanhai.state, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert!(me.to_string().contains("440605"), "{me}");
    let (s, r) = sign_in(&nanhu.state, &nanhai.admin).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{r}");
    let (s, r) = call(&nanhu.state, Some(&token), "GET", "/api/v1/auth/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{r}");
    let (s, signed_b) = sign_in(&nanhu.state, &nanhu.admin).await;
    assert_eq!(s, StatusCode::OK, "{signed_b}");
    let token_b = signed_b["token"].as_str().unwrap().to_owned();

    // A feature of one district is not found through the other's server, even by an
    // administrator there.
    let (_, item) = common::first_parcel(&*nanhai.store);
    let (s, _) = call(&nanhai.state, Some(&token), "GET", &item, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = call(&nanhu.state, Some(&token_b), "GET", &item, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{r}");

    // Each server offers its province's homestead rules under the one name 宅基地选址: the
    // same 132 m² site on paddy is over Guangdong's 80 m² on the plain, and over Zhejiang's
    // 125 m² on cultivated land; on a pond (other land) it is within Zhejiang's 140 m².
    for (served, token, rule_set, words) in [
        (&nanhai, &token, "宅基地选址", "平原地区和城市郊区标准 80"),
        (&nanhu, &token_b, "homestead_site_zj", "使用耕地标准 125"),
    ] {
        let (s, r) = call(
            &served.state,
            None,
            "GET",
            "/api/v1/compliance/rule-sets",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let ids: Vec<&str> = r["rule_sets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["id"].as_str())
            .collect();
        assert_eq!(ids, [rule_set], "{r}");
        let epsg = served.store.layer("land_survey").unwrap().def.epsg;
        let body = json!({"geometry": site_on(&*served.store, "0101"), "crs": format!("EPSG:{epsg}"), "rule_set": "宅基地选址", "terrain": "plain"});
        let (s, r) = call(
            &served.state,
            Some(token),
            "POST",
            "/api/v1/compliance",
            Some(body),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rule_set"], rule_set, "{r}");
        assert!(r.to_string().contains(words), "{rule_set}: {r}");
    }
    let epsg = nanhu.store.layer("land_survey").unwrap().def.epsg;
    let on_other_land = json!({"geometry": site_on(&*nanhu.store, "1104"), "crs": format!("EPSG:{epsg}"), "rule_set": "宅基地选址", "terrain": "plain"});
    let (s, r) = call(
        &nanhu.state,
        Some(&token_b),
        "POST",
        "/api/v1/compliance",
        Some(on_other_land),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(
        !r.to_string().contains("面积超过"),
        "132 m² off cultivated land is within Zhejiang's 140 m²: {r}"
    );
}
