//! OGC API – Features over the demo district: in-process requests for the rules, and GDAL's OAPIF
//! driver as an independent client over a real socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{demo, get};
use serde_json::Value;
use tudi_store::Store;

fn first_coord(f: &Value) -> (f64, f64) {
    let c = &f["geometry"]["coordinates"][0][0][0];
    (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
}

#[tokio::test]
async fn landing_conformance_and_collections_describe_the_one_map() {
    let (s, _, v) = get("/ogc").await;
    assert_eq!(s, StatusCode::OK);
    let rels: Vec<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    for rel in ["self", "service-desc", "conformance", "data"] {
        assert!(rels.contains(&rel), "{rel} in {rels:?}");
    }
    let (_, _, v) = get("/ogc/conformance").await;
    assert!(v["conformsTo"].as_array().unwrap().iter().any(|c| {
        c.as_str()
            .unwrap()
            .ends_with("ogcapi-features-2/1.0/conf/crs")
    }));
    let (s, ctype, v) = get("/ogc/api").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.starts_with("application/vnd.oai.openapi+json"));
    assert!(
        !v.to_string().contains("\"$ref\":\"http"),
        "the API document refers to nothing remote"
    );
    let (_, _, v) = get("/ogc/collections").await;
    let ids: Vec<&str> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"parcels") && ids.contains(&"eco_redline"),
        "{ids:?}"
    );
    let (_, _, c) = get("/ogc/collections/parcels").await;
    assert_eq!(
        c["storageCrs"],
        "http://www.opengis.net/def/crs/EPSG/0/4547"
    );
    let bbox = c["extent"]["spatial"]["bbox"][0].as_array().unwrap();
    let lon = bbox[0].as_f64().unwrap();
    assert!(
        (112.5..113.5).contains(&lon),
        "extent in CRS84 longitude first: {bbox:?}"
    );
}

#[tokio::test]
async fn items_page_through_every_feature_exactly_once() {
    let total = demo().store.layer("parcels").unwrap().feature_count;
    let mut seen = std::collections::BTreeSet::new();
    let mut uri = "/ogc/collections/parcels/items?limit=250".to_owned();
    loop {
        let (s, ctype, v) = get(&uri).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(ctype, "application/geo+json");
        for f in v["features"].as_array().unwrap() {
            assert!(
                seen.insert(f["id"].as_str().unwrap().to_owned()),
                "a feature on two pages"
            );
        }
        match v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(next) => {
                uri = next["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://example.test")
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
}

#[tokio::test]
async fn crs_parameters_follow_the_axis_order_of_each_crs() {
    let (_, _, v) = get("/ogc/collections/parcels/items?limit=1").await;
    let (lon, lat) = first_coord(&v["features"][0]);
    assert!(
        (112.5..113.5).contains(&lon) && (22.5..23.5).contains(&lat),
        "CRS84 is lon,lat"
    );
    let id = v["features"][0]["id"].as_str().unwrap().to_owned();
    let (_, _, f) = get(&format!(
        "/ogc/collections/parcels/items/{id}?crs=http://www.opengis.net/def/crs/EPSG/0/4490"
    ))
    .await;
    let (a, b) = first_coord(&f);
    assert!(
        (a - lat).abs() < 1e-9 && (b - lon).abs() < 1e-9,
        "EPSG:4490 is lat,lon"
    );
    let (s, _, f) = get(&format!(
        "/ogc/collections/parcels/items/{id}?crs=http://www.opengis.net/def/crs/EPSG/0/4547"
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    let (north, east) = first_coord(&f);
    assert!(
        north > 2_000_000.0 && east < 1_000_000.0,
        "EPSG:4547 is northing,easting: {north}, {east}"
    );
    // A bbox given in EPSG:4490 axis order selects the same features as the CRS84 one.
    let b84 = format!(
        "{},{},{},{}",
        lon - 0.002,
        lat - 0.002,
        lon + 0.002,
        lat + 0.002
    );
    let b4490 = format!(
        "{},{},{},{}",
        lat - 0.002,
        lon - 0.002,
        lat + 0.002,
        lon + 0.002
    );
    let (_, _, x) = get(&format!(
        "/ogc/collections/parcels/items?limit=1000&bbox={b84}"
    ))
    .await;
    let (_, _, y) = get(&format!("/ogc/collections/parcels/items?limit=1000&bbox={b4490}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490")).await;
    let n = x["numberReturned"].as_u64().unwrap();
    assert!(n >= 1, "the bbox around a feature finds it");
    assert_eq!(n, y["numberReturned"].as_u64().unwrap());
    assert!(
        n < demo().store.layer("parcels").unwrap().feature_count,
        "the bbox filters"
    );
}

#[tokio::test]
async fn datetime_reads_the_map_as_it_was() {
    let (_, _, v) = get("/ogc/collections/parcels/items?datetime=2000-01-01T00:00:00Z").await;
    assert_eq!(v["numberReturned"], 0, "nothing existed in 2000");
    let (_, _, v) =
        get("/ogc/collections/parcels/items?datetime=2999-01-01T00:00:00Z&limit=5").await;
    assert_eq!(v["numberReturned"], 5);
    let (s, ctype, v) =
        get("/ogc/collections/parcels/items?datetime=2020-01-01T00:00:00Z/..").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(ctype, "application/problem+json");
    assert!(v["detail"].as_str().unwrap().contains("时间点"));
}

#[tokio::test]
async fn bad_requests_get_problem_details_in_chinese_and_english() {
    for (uri, status) in [
        ("/ogc/collections/roads", StatusCode::NOT_FOUND),
        ("/ogc/collections/roads/items", StatusCode::NOT_FOUND),
        (
            "/ogc/collections/parcels/items/not-a-uuid",
            StatusCode::NOT_FOUND,
        ),
        (
            "/ogc/collections/parcels/items/0190f5a0-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
        (
            "/ogc/collections/parcels/items?limit=abc",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/parcels/items?bbox=1,2,3",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/parcels/items?bbox=3,2,1,0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/parcels/items?colour=red",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ogc/collections/parcels/items?crs=EPSG:2383",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, ctype, v) = get(uri).await;
        assert_eq!(s, status, "{uri}");
        assert_eq!(ctype, "application/problem+json", "{uri}");
        assert!(
            v["type"]
                .as_str()
                .unwrap()
                .starts_with("https://tudi.dev/problems/"),
            "{uri}"
        );
        assert!(
            !v["title"].as_str().unwrap().is_ascii(),
            "Chinese title for {uri}"
        );
        assert!(v["detail_en"].is_string(), "{uri}");
    }
}

/// GDAL's OAPIF driver, a real OGC API client, lists every collection and reads every feature.
#[test]
fn gdal_reads_every_collection_over_http() {
    let store = demo().store.clone();
    let (runtime, addr) = common::spawn_server();
    let url = format!("OAPIF:http://{addr}/ogc");
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-q", &url])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{listing}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for layer in store.layers().unwrap() {
        assert!(
            listing.contains(&layer.def.name),
            "{} missing from {listing}",
            layer.def.name
        );
    }
    for layer in ["parcels", "divisions", "eco_redline"] {
        let expected = store.layer(layer).unwrap().feature_count;
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("copy.geojson");
        let o = std::process::Command::new("ogr2ogr")
            .arg(&dst)
            .arg(&url)
            .arg(layer)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let copied: Value = serde_json::from_str(&std::fs::read_to_string(&dst).unwrap()).unwrap();
        assert_eq!(
            copied["features"].as_array().unwrap().len() as u64,
            expected,
            "{layer}"
        );
    }
    runtime.shutdown_background();
}

/// OWSLib (PyPI, installed by `.ci/run`), another independent client, reads every collection by
/// paging and every count matches the store.
#[test]
fn the_independent_ogc_api_features_core_suite_passes() {
    let (runtime, addr) = common::spawn_server();
    // ogctests (PyPI) implements the abstract test suite of OGC API – Features Part 1 (17-069r4
    // Annex A) as pytest tests; installed by .ci/run.
    // Run from the package's directory: pytest then finds the suite's root conftest.py.
    let package = std::process::Command::new("python3")
        .args([
            "-c",
            "import ogctests, os; print(os.path.dirname(ogctests.__file__))",
        ])
        .output()
        .unwrap();
    assert!(
        package.status.success(),
        "ogctests is required (pip install ogctests==0.1.15, see .ci/run)"
    );
    let package = String::from_utf8_lossy(&package.stdout).trim().to_owned();
    let out = std::process::Command::new("python3")
        .current_dir(package)
        .args(["-m", "ogctests", "features/core", "-i"])
        .arg(format!("http://{addr}/ogc"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    runtime.shutdown_background();
    assert!(
        out.status.success(),
        "ogctests (pip install ogctests, see .ci/run): {text}"
    );
    // pytest's last line: "===== 29 passed in 2.98s =====" (or "… failed …", "… errors …").
    let summary = text
        .lines()
        .rev()
        .find(|l| l.starts_with('=') && l.contains(" in "))
        .unwrap_or_default();
    assert!(
        !summary.contains("failed") && !summary.contains("error"),
        "{summary}\n{text}"
    );
    let passed: u32 = summary
        .split_whitespace()
        .zip(summary.split_whitespace().skip(1))
        .find(|(_, w)| w.starts_with("passed"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 25, "the core tests ran: {summary}");
}

#[test]
fn owslib_reads_every_collection() {
    let store = demo().store.clone();
    let (runtime, addr) = common::spawn_server();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/owslib_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("http://{addr}/ogc"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "OWSLib (pip install OWSLib, see .ci/run): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for layer in store.layers().unwrap() {
        let line = format!("{} {}", layer.def.name, layer.feature_count);
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    runtime.shutdown_background();
}

/// Issue 15: GDAL counts a collection from `numberMatched` instead of paging through it, a bbox
/// query says how many it matches, deep pages are right, and an empty layer shows no null box.
#[test]
fn collections_say_how_many_features_match() {
    let store = demo().store.clone();
    let (runtime, addr) = common::spawn_server();
    let grid = store.layer("grid").unwrap().feature_count;
    let o = std::process::Command::new("ogrinfo")
        .args(["-ro", "-so"])
        .arg(format!("OAPIF:http://{addr}/ogc"))
        .arg("grid")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains(&format!("Feature Count: {grid}")), "{text}");
    runtime.block_on(async {
        let (_, _, page) = get("/ogc/collections/grid/items?limit=5").await;
        assert_eq!(page["numberMatched"], grid);
        // The last page: its features are the last ones, and there is no next.
        let (_, _, last) = get(&format!(
            "/ogc/collections/grid/items?limit=5&offset={}",
            grid - 3
        ))
        .await;
        assert_eq!(last["numberReturned"], 3);
        assert!(
            !last["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["rel"] == "next")
        );
        let (_, _, past) = get(&format!("/ogc/collections/grid/items?offset={}", grid + 10)).await;
        assert_eq!(past["numberReturned"], 0);
        let (_, _, boxed) =
            get("/ogc/collections/grid/items?bbox=113.0,23.0,113.05,23.05&limit=10000").await;
        assert_eq!(boxed["numberMatched"], boxed["numberReturned"]);
        assert!(boxed["numberReturned"].as_u64().unwrap() > 0);
    });
    drop(runtime);

    let dir = tempfile::tempdir().unwrap();
    let empty = tudi_store::gpkg::GeoPackageStore::create(&dir.path().join("e.gpkg")).unwrap();
    let c = tudi_store::Change::new("cli", "test.setup");
    empty
        .create_layer(
            &tudi_store::LayerDef {
                name: "nothing".into(),
                title: "空图层".into(),
                kind: tudi_core::layer::LayerKind::Custom,
                epsg: 4547,
                geometry_type: "GEOMETRY".into(),
                fields: vec![],
            },
            &c,
        )
        .unwrap();
    tudi_onemap::access::set_public(&empty, "nothing", true, &c).unwrap();
    let state = tudi_server::AppState::new(std::sync::Arc::new(empty));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, _, bytes) = rt.block_on(common::send(
        &state,
        None,
        "GET",
        "/ogc/collections/nothing",
        None,
        None,
    ));
    assert_eq!(status, axum::http::StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        v.get("extent").is_none(),
        "no extent for an empty layer: {v}"
    );
    assert!(!String::from_utf8_lossy(&bytes).contains("[null]"));
}
