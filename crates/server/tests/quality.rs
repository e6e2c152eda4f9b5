//! The quality checks kept with a layer's imports, read back over the API: newest first, paged,
//! for signed-in staff only, a layer nobody has named answered as such.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{call_json, demo, state};
use serde_json::json;

#[tokio::test]
async fn a_kept_import_check_is_listed_with_its_totals_and_findings() {
    let store = &*demo().store;
    let dir = tempfile::tempdir().unwrap();
    // Two of the demo's own parcels, as a surveyor would hand them in, the second declaring
    // 5 % more than it draws.
    let parcels = store
        .features(
            "parcels",
            &tudi_store::FeatureQuery {
                limit: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    let epsg = store.layer_def("parcels").unwrap().epsg;
    let features: Vec<serde_json::Value> = parcels
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let area = geo::Area::unsigned_area(&p.geometry) * if k == 1 { 1.05 } else { 1.0 };
            json!({"type": "Feature",
                "properties": {"code": p.attributes["code"], "area_m2": area},
                "geometry": geojson::Geometry::from(&p.geometry)})
        })
        .collect();
    let file = dir.path().join("plots.geojson");
    std::fs::write(
        &file,
        json!({"type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": format!("urn:ogc:def:crs:EPSG::{epsg}")}},
            "features": features})
        .to_string(),
    )
    .unwrap();
    let set = tudi_quality::rules::RuleSet::find("parcels").unwrap();
    let opts =
        tudi_onemap::import::ImportOptions::new("parcels", tudi_core::layer::LayerKind::Parcel);
    let checked = tudi_quality::gate::check_file(store, &file, &opts, &set).unwrap();
    assert!(checked.passes(), "{:?}", checked.report);
    let change = tudi_store::Change::new("cli", "quality.import_check");
    let id = tudi_quality::gate::keep(store, &change, "parcels", "plots.geojson", &set, &checked)
        .unwrap();

    let token = demo().admin_token.clone();
    let (status, page, _) = call_json(
        &state(),
        Some(&token),
        "GET",
        "/api/v1/layers/parcels/checks?limit=5",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["total"].as_u64().unwrap() >= 1, "{page}");
    let kept = page["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(kept["file"], "plots.geojson");
    assert_eq!(kept["rule_set"], "parcels");
    assert_eq!(kept["summary"]["warnings"], 1, "{kept}");
    assert_eq!(kept["findings"][0]["rule"], "ATTR-AREA", "{kept}");
    assert_eq!(kept["findings"][0]["feature"], 2, "{kept}");

    let (status, _, _) =
        call_json(&state(), None, "GET", "/api/v1/layers/parcels/checks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body, _) = call_json(
        &state(),
        Some(&token),
        "GET",
        "/api/v1/layers/nowhere/checks",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
