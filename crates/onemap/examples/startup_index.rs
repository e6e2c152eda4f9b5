//! Start-up cost of the spatial index: read every parcel of a store and bulk-load the R-tree.
//!
//! `cargo run --release -p tudi-onemap --example startup_index -- DIR/tudi.gpkg [layer]`
//! prints, for the envelopes alone and for full features, the time to read, the time to build,
//! and the entries indexed; run it under
//! `/usr/bin/time -v` for peak memory. Figures are in docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use geo::BoundingRect;
use tudi_geo::index::SpatialIndex;
use tudi_store::Store;
use tudi_store::gpkg::GeoPackageStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: startup_index STORE.gpkg [layer]")?,
    );
    let layer = args.next().unwrap_or_else(|| "parcels".into());
    let store = GeoPackageStore::open(&path)?;
    let started = Instant::now();
    let envelopes = store.envelopes(&layer)?;
    let read_env = started.elapsed();
    let started = Instant::now();
    let index = SpatialIndex::from_envelopes(envelopes.iter().map(|(_, e)| {
        Some(geo_types::Rect::new(
            geo_types::Coord { x: e[0], y: e[1] },
            geo_types::Coord { x: e[2], y: e[3] },
        ))
    }));
    let built_env = started.elapsed();
    println!(
        "{} envelopes from the R-tree table: read {:.2} s, index built {:.2} s, {} entries",
        envelopes.len(),
        read_env.as_secs_f64(),
        built_env.as_secs_f64(),
        index.len()
    );
    drop(index);
    let started = Instant::now();
    let mut geoms = Vec::new();
    store.for_each_feature(&layer, None, &mut |f| {
        geoms.push(f.geometry);
        Ok(())
    })?;
    let read = started.elapsed();
    let started = Instant::now();
    let index = SpatialIndex::from_envelopes(geoms.iter().map(BoundingRect::bounding_rect));
    let built = started.elapsed();
    println!(
        "{} features: read {:.2} s, index built {:.2} s, {} entries",
        geoms.len(),
        read.as_secs_f64(),
        built.as_secs_f64(),
        index.len()
    );
    Ok(())
}
