//! Compliance analysis over HTTP on the demo district: 宅基地选址 verdicts, reasons, overlaps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{demo, request};
use geo::{BoundingRect, InteriorPoint, Intersects};
use geo_types::{Coord, Geometry, Rect};
use serde_json::{Value, json};
use tudi_geo::crs::{Crs, Transformer};
use tudi_store::FeatureQuery;

/// A w × h rectangle (metres, EPSG:4547) centred at `c`, as GeoJSON in CGCS2000 lon/lat.
fn site(c: Coord<f64>, w: f64, h: f64) -> Value {
    let mut g: Geometry<f64> = Rect::new(
        Coord {
            x: c.x - w / 2.0,
            y: c.y - h / 2.0,
        },
        Coord {
            x: c.x + w / 2.0,
            y: c.y + h / 2.0,
        },
    )
    .to_polygon()
    .into();
    Transformer::new(Crs::from_epsg(4547).unwrap(), Crs::CGCS2000)
        .unwrap()
        .apply_geometry(&mut g)
        .unwrap();
    tudi_geo::io::geojson::geometry_to_value(&g)
}

fn parcels_near(c: Coord<f64>, r: f64) -> usize {
    let q = FeatureQuery {
        bbox: Some([c.x - r, c.y - r, c.x + r, c.y + r]),
        ..FeatureQuery::default()
    };
    demo().store.features("parcels", &q).unwrap().len()
}

/// A point in village construction land with no parcel within 20 m.
fn free_village_land() -> Coord<f64> {
    for f in demo()
        .store
        .features("village_plan", &FeatureQuery::default())
        .unwrap()
    {
        let Geometry::MultiPolygon(mp) = &f.geometry else {
            continue;
        };
        for p in &mp.0 {
            // A cell-sized plan polygon: its interior point is at least tens of metres from the edge.
            let c = p.interior_point().unwrap().0;
            let inner = Rect::new(
                Coord {
                    x: c.x - 12.0,
                    y: c.y - 12.0,
                },
                Coord {
                    x: c.x + 12.0,
                    y: c.y + 12.0,
                },
            )
            .to_polygon();
            if geo::Contains::contains(p, &inner) && parcels_near(c, 20.0) == 0 {
                return c;
            }
        }
    }
    panic!("no free village construction land in the demo");
}

async fn check(body: Value) -> (StatusCode, Value) {
    let (s, _, v) = request("POST", "/api/v1/compliance", Some(body.to_string())).await;
    (s, v)
}

#[tokio::test]
async fn a_small_site_on_free_village_land_passes() {
    let c = free_village_land();
    let (s, r) =
        check(json!({"geometry": site(c, 9.0, 8.0), "crs": "EPSG:4490", "rule_set": "宅基地选址"}))
            .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["verdict"], "通过", "{r}");
    assert!(
        (r["input_area_m2"].as_f64().unwrap() - 72.0).abs() < 0.05,
        "{r}"
    );
    assert!((r["input_area_mu"].as_f64().unwrap() - 0.108).abs() < 0.001);
    let plan = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "village_plan")
        .unwrap();
    assert!(
        (plan["share"].as_f64().unwrap() - 1.0).abs() < 1e-3,
        "{plan}"
    );
    for key in [
        "layer",
        "overlap_area_m2",
        "overlap_area_mu",
        "share",
        "features",
    ] {
        assert!(plan.get(key).is_some(), "{key} in {plan}");
    }
}

#[tokio::test]
async fn the_area_limit_follows_the_terrain() {
    let c = free_village_land();
    let (_, r) = check(
        json!({"geometry": site(c, 11.0, 10.0), "crs": "EPSG:4490", "rule_set": "宅基地选址"}),
    )
    .await;
    assert_eq!(
        r["verdict"], "不通过",
        "110 m² is over the plain limit of 80: {r}"
    );
    assert!(
        r["reasons"][0]["zh"].as_str().unwrap().contains("面积"),
        "{r}"
    );
    let (_, r) = check(json!({"geometry": site(c, 11.0, 10.0), "crs": "EPSG:4490", "rule_set": "homestead_site_gd", "terrain": "hill"})).await;
    assert_eq!(
        r["verdict"], "通过",
        "110 m² is within the hill limit of 120: {r}"
    );
    let (s, r) =
        check(json!({"geometry": site(c, 9.0, 8.0), "rule_set": "宅基地选址", "terrain": "沙漠"}))
            .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
}

#[tokio::test]
async fn sites_on_farmland_or_parcels_fail_with_the_features_named() {
    let farm = demo()
        .store
        .features(
            "permanent_farmland",
            &FeatureQuery {
                limit: Some(1),
                ..FeatureQuery::default()
            },
        )
        .unwrap();
    let c = farm[0].geometry.bounding_rect().unwrap().center();
    let (_, r) =
        check(json!({"geometry": site(c, 8.0, 8.0), "crs": "EPSG:4490", "rule_set": "宅基地选址"}))
            .await;
    assert_eq!(r["verdict"], "不通过");
    let reasons: Vec<&str> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["zh"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|x| x.contains("永久基本农田")),
        "{reasons:?}"
    );
    let layer = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "permanent_farmland")
        .unwrap();
    assert!(
        (layer["overlap_area_m2"].as_f64().unwrap() - 64.0).abs() < 0.05,
        "{layer}"
    );
    assert_eq!(layer["features"][0]["code"], farm[0].attributes["code"]);

    let parcel = demo()
        .store
        .features(
            "parcels",
            &FeatureQuery {
                limit: Some(1),
                ..FeatureQuery::default()
            },
        )
        .unwrap();
    let c = parcel[0].geometry.bounding_rect().unwrap().center();
    let (_, r) =
        check(json!({"geometry": site(c, 6.0, 6.0), "crs": "EPSG:4490", "rule_set": "宅基地选址"}))
            .await;
    assert_eq!(r["verdict"], "不通过");
    let layer = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "parcels")
        .unwrap();
    let codes: Vec<&str> = layer["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&parcel[0].attributes["code"].as_str().unwrap()),
        "{codes:?}"
    );
    // Sites given in the layer's own plane give the same answer.
    let mut g: Geometry<f64> = Rect::new(
        Coord {
            x: c.x - 3.0,
            y: c.y - 3.0,
        },
        Coord {
            x: c.x + 3.0,
            y: c.y + 3.0,
        },
    )
    .to_polygon()
    .into();
    assert!(g.intersects(&parcel[0].geometry));
    let (_, r2) = check(json!({"geometry": tudi_geo::io::geojson::geometry_to_value(&g), "crs": "EPSG:4547", "rule_set": "宅基地选址"})).await;
    assert_eq!(r2["verdict"], "不通过");
    g = Geometry::Point(geo_types::Point(c));
    let (s, _) = check(json!({"geometry": tudi_geo::io::geojson::geometry_to_value(&g), "crs": "EPSG:4547", "rule_set": "宅基地选址"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a point is not a site");
}

#[tokio::test]
async fn bad_requests_are_refused_with_reasons() {
    let bowtie = json!({"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.001, 23.001], [113.001, 23.0], [113.0, 23.001], [113.0, 23.0]]]});
    let (s, r) = check(json!({"geometry": bowtie, "rule_set": "宅基地选址"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("自相交"), "{r}");
    let (s, r) = check(json!({"geometry": bowtie, "rule_set": "采矿"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    assert!(
        r["detail"].as_str().unwrap().contains("宅基地选址"),
        "the error lists the rule sets: {r}"
    );
    let ring: Vec<Value> = (0..=20_000)
        .map(|i| {
            let a = f64::from(i % 20_000) / 20_000.0 * std::f64::consts::TAU;
            json!([113.1 + 0.001 * a.cos(), 23.0 + 0.001 * a.sin()])
        })
        .collect();
    let (s, r) = check(
        json!({"geometry": {"type": "Polygon", "coordinates": [ring]}, "rule_set": "宅基地选址"}),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{r}");
    let (s, _, r) = request("POST", "/api/v1/compliance", Some("{not json".into())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    // Issue 15: sites where nothing can be measured say why, never "EPSG:0" or "inf 平方米".
    let square = |x: f64, y: f64, d: f64| json!({"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]});
    for (body, slug, words) in [
        (
            json!({"geometry": square(10.0, 50.0, 0.001), "crs": "EPSG:4490", "rule_set": "宅基地选址"}),
            "outside-zones",
            "不在任何 CGCS2000 三度带内",
        ),
        (
            json!({"geometry": square(500.0, 23.0, 0.001), "crs": "EPSG:4490", "rule_set": "宅基地选址"}),
            "invalid-geometry",
            "超出坐标系 EPSG:4490 的有效范围",
        ),
        (
            json!({"geometry": {"type": "Polygon", "coordinates": []}, "rule_set": "宅基地选址"}),
            "invalid-geometry",
            "为空",
        ),
        (
            json!({"geometry": square(1e300, 1e300, 1e299), "crs": "EPSG:3857", "rule_set": "宅基地选址"}),
            "invalid-geometry",
            "超出坐标系 EPSG:3857 的有效范围",
        ),
    ] {
        let (s, r) = check(body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r}");
        assert!(r["type"].as_str().unwrap().ends_with(slug), "{body}: {r}");
        let detail = r["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{body}: {r}");
        assert!(!detail.contains("EPSG:0") && !detail.contains("inf"), "{r}");
    }
    let (s, r) = check(json!({"geometry": square(113.0, 23.0, 0.0001), "crs": "EPSG:4490abc", "rule_set": "宅基地选址"})).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "trailing garbage is not a CRS: {r}"
    );
    let (s, _, r) = request("GET", "/api/v1/compliance/rule-sets", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["rule_sets"][0]["id"], "宅基地选址");
}
