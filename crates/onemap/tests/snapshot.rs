//! Layer snapshots answer exactly as the store does, and never outlive a change to the layer —
//! whether it was made through the same store or by another process on the same file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use geo::{BoundingRect, Centroid};
use geo_types::{Coord, Geometry, Rect};
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::mvt::TileId;
use tudi_onemap::compliance::{RuleSet, analyse};
use tudi_onemap::snapshot::{MapView, Snapshots};
use tudi_onemap::tiles::render;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{FeatureQuery, Store};

fn demo_store(dir: &std::path::Path) -> Arc<GeoPackageStore> {
    let store = GeoPackageStore::create(&dir.join("tudi.gpkg")).unwrap();
    tudi_onemap::demo::build(
        &store,
        tudi_onemap::demo::DemoOptions {
            seed: 5,
            parcels: 400,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    Arc::new(store)
}

/// Snapshots of every layer, built before returning.
fn built(store: &Arc<GeoPackageStore>) -> Arc<Snapshots> {
    let snapshots = Snapshots::start(store.clone());
    snapshots.warm_all().unwrap();
    snapshots.build_now().unwrap();
    snapshots
}

/// The first parcel in id order.
fn first_parcel(store: &dyn Store) -> tudi_store::FeatureRecord {
    store
        .features(
            "parcels",
            &FeatureQuery {
                limit: Some(1),
                ..FeatureQuery::default()
            },
        )
        .unwrap()
        .remove(0)
}

/// Sites of about 1,000 m² around parcel centroids (so they meet parcels, plans and farmland).
fn sites(store: &dyn Store, n: usize) -> Vec<Geometry<f64>> {
    store
        .features(
            "parcels",
            &FeatureQuery {
                limit: Some(n as u64),
                ..FeatureQuery::default()
            },
        )
        .unwrap()
        .iter()
        .map(|f| {
            let c = f.geometry.centroid().unwrap().0;
            Rect::new(
                Coord {
                    x: c.x - 16.0,
                    y: c.y - 16.0,
                },
                Coord {
                    x: c.x + 16.0,
                    y: c.y + 16.0,
                },
            )
            .to_polygon()
            .into()
        })
        .collect()
}

fn parcel_tiles(store: &dyn Store, z: u8, n: usize) -> Vec<TileId> {
    let to_merc = Transformer::new(Crs::from_epsg(4547).unwrap(), Crs::WEB_MERCATOR).unwrap();
    let mut tiles = Vec::new();
    for f in store.features("parcels", &FeatureQuery::default()).unwrap() {
        let mut g = f.geometry.clone();
        to_merc.apply_geometry(&mut g).unwrap();
        let c = g.bounding_rect().unwrap().center();
        let size = 2.0 * tudi_geo::mvt::WORLD_HALF / f64::from(1u32 << z);
        let x = ((c.x + tudi_geo::mvt::WORLD_HALF) / size) as u32;
        let y = ((tudi_geo::mvt::WORLD_HALF - c.y) / size) as u32;
        let t = TileId::new(z, x, y).unwrap();
        if !tiles.contains(&t) {
            tiles.push(t);
        }
        if tiles.len() == n {
            break;
        }
    }
    tiles
}

#[test]
fn snapshots_answer_exactly_as_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let snapshots = built(&store);
    let direct = MapView::new(&*store, None);
    let cached = MapView::new(&*store, Some(&snapshots));
    assert!(cached.snapshot("parcels").is_some(), "built on warm-up");
    let rules = &RuleSet::builtin()[0];
    let mut compared = 0;
    for site in sites(&*store, 60) {
        let crs = Crs::from_epsg(4547).unwrap();
        let a = analyse(direct, rules, &site, crs, None).unwrap();
        let b = analyse(cached, rules, &site, crs, None).unwrap();
        assert_eq!(a, b, "the same report from the store and from snapshots");
        compared += a.layers.iter().map(|l| l.features.len()).sum::<usize>();
    }
    assert!(compared > 60, "the sites met features ({compared})");
    let mut tiles_compared = 0;
    for z in [12, 14, 16] {
        for t in parcel_tiles(&*store, z, 12) {
            for layer in ["parcels", "village_plan", "grid"] {
                let a = decoded(&render(direct, layer, t).unwrap());
                let b = decoded(&render(cached, layer, t).unwrap());
                assert!(a == b, "tile {layer} {t:?}: the same features from both");
                tiles_compared += usize::from(!a.is_empty());
            }
        }
    }
    assert!(
        tiles_compared > 10,
        "tiles held features ({tiles_compared})"
    );
}

/// Geometry commands and (key, value) attributes of one tile feature.
type TileFeature = (Vec<u32>, Vec<(String, String)>);

/// A tile's features as (geometry commands, attributes), in order; the numeric ids are left out
/// (they number the candidates, which the two paths find by different envelopes).
fn decoded(bytes: &[u8]) -> Vec<TileFeature> {
    use geozero::mvt::{Message, Tile};
    let tile = Tile::decode(bytes).unwrap();
    let mut out = Vec::new();
    for layer in &tile.layers {
        for f in &layer.features {
            let tags = f
                .tags
                .chunks(2)
                .map(|kv| {
                    (
                        layer.keys[kv[0] as usize].clone(),
                        format!("{:?}", layer.values[kv[1] as usize]),
                    )
                })
                .collect();
            out.push((f.geometry.clone(), tags));
        }
    }
    out
}

#[test]
fn an_edit_retires_the_snapshot_and_the_rebuild_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let snapshots = built(&store);
    let before = snapshots.get("parcels").unwrap();
    let f = &first_parcel(&*store);
    let mut moved = f.geometry.clone();
    geo::Translate::translate_mut(&mut moved, 5_000.0, 0.0);
    store
        .update_feature(
            "parcels",
            f.id,
            moved.clone(),
            f.attributes.clone(),
            &tudi_store::Change::new("cli", "test.edit"),
        )
        .unwrap();
    assert!(
        snapshots.get("parcels").is_none(),
        "a changed layer's snapshot is not handed out"
    );
    assert!(
        snapshots.get("village_plan").is_some(),
        "other layers keep theirs"
    );
    snapshots.build_now().unwrap();
    let after = snapshots.get("parcels").unwrap();
    assert_ne!(after.revision, before.revision);
    let i = (0..after.len())
        .find(|&i| after.id(i) == Some(f.id))
        .unwrap();
    assert_eq!(
        after.geometry(i).unwrap(),
        moved,
        "the rebuilt snapshot has the edit"
    );
}

#[test]
fn a_write_by_another_process_retires_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    store.enable_readers(2).unwrap();
    let snapshots = built(&store);
    assert!(snapshots.get("parcels").is_some());
    // Another connection to the same file, as `tudi import` run beside `tudi serve` would be.
    let other = GeoPackageStore::open(&dir.path().join("tudi.gpkg")).unwrap();
    let f = &first_parcel(&other);
    other
        .delete_feature(
            "parcels",
            f.id,
            &tudi_store::Change::new("cli", "test.edit"),
        )
        .unwrap();
    assert!(
        snapshots.get("parcels").is_none(),
        "a commit by another connection retires the snapshot"
    );
    snapshots.build_now().unwrap();
    let after = snapshots.get("parcels").unwrap();
    assert!((0..after.len()).all(|i| after.id(i) != Some(f.id)));
}
