//! Vector tiles of the demo district, decoded by GDAL's MVT driver and by the protobuf schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{demo, get};
use geo::{BoundingRect, Centroid};
use geo_types::Geometry;
use geozero::mvt::{Message, Tile};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::mvt::{TileId, WORLD_HALF};
use tudi_server::{AppState, router};
use tudi_store::{FeatureQuery, Store};

async fn tile_bytes(uri: &str) -> (StatusCode, String, Vec<u8>) {
    common::request_bytes("GET", uri, None).await
}

/// A parcel in EPSG:3857 and the z-level tile that contains its centroid.
fn parcel_tile(z: u8) -> (String, Geometry<f64>, TileId) {
    let f = demo()
        .store
        .features(
            "parcels",
            &FeatureQuery {
                limit: Some(1),
                ..FeatureQuery::default()
            },
        )
        .unwrap()
        .remove(0);
    let mut g = f.geometry;
    Transformer::new(Crs::from_epsg(4547).unwrap(), Crs::WEB_MERCATOR)
        .unwrap()
        .apply_geometry(&mut g)
        .unwrap();
    let c = g.centroid().unwrap();
    let size = 2.0 * WORLD_HALF / f64::from(1u32 << z);
    let x = ((c.x() + WORLD_HALF) / size) as u32;
    let y = ((WORLD_HALF - c.y()) / size) as u32;
    (f.id.to_string(), g, TileId::new(z, x, y).unwrap())
}

#[tokio::test]
async fn tileset_metadata_links_the_tile_template_with_its_media_type() {
    let (s, _, v) = get("/ogc/collections/parcels/tiles").await;
    assert_eq!(s, StatusCode::OK);
    let links = v["tilesets"][0]["links"].as_array().unwrap();
    let item = links.iter().find(|l| l["rel"] == "item").unwrap();
    assert_eq!(item["type"], "application/vnd.mapbox-vector-tile");
    assert!(
        item["href"]
            .as_str()
            .unwrap()
            .ends_with("/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}")
    );
    let (_, _, c) = get("/ogc/conformance").await;
    assert!(
        c["conformsTo"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().ends_with("ogcapi-tiles-1/1.0/conf/mvt"))
    );
}

/// The tiling-scheme link leads to a WebMercatorQuad definition whose matrices place every
/// tile where the tile endpoint renders it.
#[tokio::test]
async fn the_tiling_scheme_link_leads_to_the_tile_matrix_set_in_use() {
    let (_, _, v) = get("/ogc/collections/parcels/tiles/WebMercatorQuad").await;
    let href = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = href.split("example.test").nth(1).unwrap().to_owned();
    let (s, _, tms) = get(&path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(tms["id"], "WebMercatorQuad");
    assert_eq!(tms["crs"], "http://www.opengis.net/def/crs/EPSG/0/3857");
    let matrices = tms["tileMatrices"].as_array().unwrap();
    assert_eq!(matrices.len(), 25);
    for (z, x, y) in [(0u8, 0u32, 0u32), (14, 13342, 7133), (16, 53370, 28535)] {
        let m = &matrices[usize::from(z)];
        assert_eq!(m["id"], z.to_string());
        assert_eq!(m["matrixWidth"], 1u64 << z);
        let cell = m["cellSize"].as_f64().unwrap();
        let origin = m["pointOfOrigin"].as_array().unwrap();
        let (ox, oy) = (origin[0].as_f64().unwrap(), origin[1].as_f64().unwrap());
        let b = TileId::new(z, x, y).unwrap().bounds();
        let size = cell * m["tileWidth"].as_f64().unwrap();
        assert!(
            (ox + f64::from(x) * size - b.min().x).abs() < 1e-3,
            "column {x} at z{z}"
        );
        assert!(
            (oy - f64::from(y) * size - b.max().y).abs() < 1e-3,
            "row {y} at z{z}"
        );
    }
    let (s, _, list) = get("/ogc/tileMatrixSets").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["tileMatrixSets"][0]["id"], "WebMercatorQuad");
    let (_, _, landing) = get("/ogc").await;
    assert!(
        landing["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes")
    );
}

#[tokio::test]
async fn tiles_decode_and_carry_the_chosen_attributes() {
    let (id, _, t) = parcel_tile(15);
    let (s, ctype, bytes) = tile_bytes(&format!(
        "/ogc/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}",
        t.z, t.y, t.x
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype, "application/vnd.mapbox-vector-tile");
    let tile = Tile::decode(bytes.as_slice()).unwrap();
    let layer = &tile.layers[0];
    assert_eq!(layer.name, "parcels");
    assert_eq!(layer.extent, Some(4096));
    for key in ["id", "code", "land_use"] {
        assert!(
            layer.keys.iter().any(|k| k == key),
            "{key} in {:?}",
            layer.keys
        );
    }
    assert!(
        !layer.keys.iter().any(|k| k == "area_m2"),
        "only the chosen attributes"
    );
    assert!(
        layer
            .values
            .iter()
            .any(|v| v.string_value.as_deref() == Some(id.as_str())),
        "the parcel is in its tile"
    );
    // Outside WebMercatorQuad, and over the sea: a clear 404 and an empty 204.
    let (s, _, _) = tile_bytes("/ogc/collections/parcels/tiles/WebMercatorQuad/3/9/1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, body) =
        tile_bytes("/ogc/collections/parcels/tiles/WebMercatorQuad/10/600/100").await;
    assert_eq!((s, body.len()), (StatusCode::NO_CONTENT, 0));
    let (s, _, _) = tile_bytes("/ogc/collections/roads/tiles/WebMercatorQuad/0/0/0").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// GDAL reads the tile from a z/x/y path, georeferences it, and the parcel comes back within a
/// pixel of the source.
#[tokio::test]
async fn gdal_decodes_tiles_within_a_pixel_of_the_source() {
    for z in [14u8, 16] {
        let (id, g, t) = parcel_tile(z);
        let (_, _, bytes) = tile_bytes(&format!(
            "/ogc/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}",
            t.z, t.y, t.x
        ))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{}/{}/{}.pbf", t.z, t.x, t.y));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let out = dir.path().join("out.geojson");
        let o = std::process::Command::new("ogr2ogr")
            .args([
                "-f",
                "GeoJSON",
                "-t_srs",
                "EPSG:3857",
                "-where",
                &format!("id = '{id}'"),
            ])
            .arg(&out)
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let f = &v["features"][0];
        assert_eq!(f["properties"]["id"], id.as_str(), "z{z}");
        let decoded = tudi_geo::io::geojson::parse_geometry(&f["geometry"].to_string()).unwrap();
        let (a, b) = (decoded.bounding_rect().unwrap(), g.bounding_rect().unwrap());
        let px = t.resolution();
        for (p, q) in [(a.min(), b.min()), (a.max(), b.max())] {
            assert!(
                (p.x - q.x).abs() <= px && (p.y - q.y).abs() <= px,
                "z{z}: {p:?} vs {q:?}, pixel {px} m"
            );
        }
    }
}

/// An edit shows in the very next tile request: tiles are never served stale.
#[tokio::test]
async fn an_edit_shows_in_the_next_tile() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(tudi_store::gpkg::GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap());
    store
        .create_layer(
            &tudi_store::contract::parcel_def("p"),
            &tudi_store::Change::new("cli", "test.edit"),
        )
        .unwrap();
    // Anonymous reads: this test is about staleness, access has its own tests.
    tudi_onemap::access::set_public(&*store, "p", true, &tudi_store::Change::new("cli", "test"))
        .unwrap();
    // Reads through read-only connections must still see every committed edit.
    store.enable_readers(2).unwrap();
    let attrs = serde_json::json!({"code": "A"})
        .as_object()
        .cloned()
        .unwrap();
    let square = tudi_store::contract::square(450_000.0, 2_550_000.0, 30.0);
    let ids = store
        .insert_features(
            "p",
            &mut std::iter::once(tudi_store::NewFeature {
                id: None,
                geometry: square,
                attributes: attrs.clone(),
            }),
            &tudi_store::Change::new("cli", "test.edit"),
            &mut |_| true,
        )
        .unwrap();
    let mut g = tudi_store::contract::square(450_000.0, 2_550_000.0, 30.0);
    Transformer::new(Crs::from_epsg(4547).unwrap(), Crs::WEB_MERCATOR)
        .unwrap()
        .apply_geometry(&mut g)
        .unwrap();
    let c = g.centroid().unwrap();
    let size = 2.0 * WORLD_HALF / f64::from(1u32 << 16);
    let (x, y) = (
        ((c.x() + WORLD_HALF) / size) as u32,
        ((WORLD_HALF - c.y()) / size) as u32,
    );
    let uri = format!("/ogc/collections/p/tiles/WebMercatorQuad/16/{y}/{x}");
    // One server state throughout, with the layer's snapshot built before the edit, so the
    // test shows that a snapshot never outlives a change.
    let state = AppState::new(store.clone());
    let snapshots = state.snapshots().unwrap().clone();
    snapshots.warm_all().unwrap();
    snapshots.build_now().unwrap();
    assert!(snapshots.get("p").is_some());
    let fetch = |uri: String| {
        let app = router(state.clone());
        async move {
            let res = app
                .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            res.into_body().collect().await.unwrap().to_bytes().to_vec()
        }
    };
    let before = Tile::decode(fetch(uri.clone()).await.as_slice()).unwrap();
    let code = |t: &Tile| {
        t.layers[0]
            .values
            .iter()
            .filter_map(|v| v.string_value.clone())
            .find(|s| s.len() == 1)
    };
    assert_eq!(code(&before).as_deref(), Some("A"));
    let mut edited = attrs;
    edited.insert("code".into(), serde_json::json!("B"));
    store
        .update_feature(
            "p",
            ids[0],
            tudi_store::contract::square(450_000.0, 2_550_000.0, 30.0),
            edited,
            &tudi_store::Change::new("cli", "test.edit"),
        )
        .unwrap();
    let after = Tile::decode(fetch(uri).await.as_slice()).unwrap();
    assert_eq!(code(&after).as_deref(), Some("B"));
}

/// Tiles over the demo district: every layer with polygons, from the whole world at zoom 0 to
/// single parcels at 15 — the zooms where issue 15 found wrong orientation, collapsed rings and
/// invalid polygons.
fn district_tiles() -> Vec<String> {
    let (west, south, east, north) = (112.95, 22.85, 113.25, 23.25);
    let col = |lon: f64, z: u8| ((lon + 180.0) / 360.0 * f64::from(1u32 << z)) as u32;
    let row = |lat: f64, z: u8| {
        let r = lat.to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * f64::from(1u32 << z))
            as u32
    };
    let mut out = Vec::new();
    for layer in [
        "divisions",
        "land_survey",
        "parcels",
        "permanent_farmland",
        "village_plan",
    ] {
        for z in [0u8, 7, 10, 12, 14, 15] {
            let (x0, x1) = (col(west, z), col(east, z));
            let (y0, y1) = (row(north, z), row(south, z));
            // At most a few tiles a zoom: the corners and the middle.
            let mut picks = vec![(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)];
            picks.dedup();
            for (x, y) in picks {
                out.push(format!(
                    "/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}"
                ));
            }
        }
    }
    out
}

/// A strict decoder's reading (mapbox-vector-tile and shapely, from PyPI): exteriors positive in
/// tile coordinates, no ring of zero area, every decoded polygon valid.
#[test]
fn a_strict_decoder_finds_every_polygon_oriented_and_valid() {
    let (runtime, addr) = common::spawn_server();
    let paths = district_tiles();
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tile_check.py"))
        .arg(format!("http://{addr}"))
        .arg(&demo().admin_token)
        .args(&paths)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mapbox-vector-tile and shapely (pip, see .ci/run): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert!(seen["features"].as_u64().unwrap() > 300, "{seen}");
    for key in ["zero_area", "first_not_positive", "invalid"] {
        assert_eq!(seen[key], 0, "{key}: {seen}");
    }
    drop(runtime);
}

/// GDAL's MVT driver opens a tile by its URL (it asks HEAD first, and knows a tile by its
/// extension).
#[test]
fn gdal_opens_a_tile_by_its_url() {
    let (runtime, addr) = common::spawn_server();
    let (_, _, t) = parcel_tile(15);
    let url = format!(
        "MVT:http://{addr}/ogc/collections/parcels/tiles/WebMercatorQuad/{}/{}/{}.mvt",
        t.z, t.y, t.x
    );
    let o = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .args([
            "-oo",
            &format!("Z={}", t.z),
            "-oo",
            &format!("X={}", t.x),
            "-oo",
            &format!("Y={}", t.y),
        ])
        .arg(&url)
        .env(
            "GDAL_HTTP_HEADERS",
            format!("Authorization: Bearer {}", demo().admin_token),
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && text.contains("Layer name: parcels"),
        "{text}"
    );
    assert!(!text.contains("Feature Count: 0"), "{text}");
    drop(runtime);
}
