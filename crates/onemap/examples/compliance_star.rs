//! What a pathological compliance site costs: star polygons (the shape an attacker sent in
//! issue 14: points alternating between radii of 0.15° and 0.05° around 113.05, 23.05) of a
//! growing number of vertices, analysed with a rule set for large sites — the analysis as
//! built (the site cut into pieces) beside the same overlays done with the whole site against
//! every candidate feature, as the analysis did before (only up to 1,000 vertices: beyond, that
//! takes minutes).
//!
//! `cargo run --release -p tudi-onemap --example compliance_star -- DIR/tudi.gpkg [vertices…]`
//!
//! Figures are in docs/benchmarks.md; `bench/compliance_star.sh` runs it beside PostGIS.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use geo::{Area, BooleanOps, BoundingRect};
use geo_types::{Coord, Geometry, LineString, Polygon};
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::overlay;
use tudi_onemap::compliance::{RuleSet, SiteLimits, Stop, analyse_until};
use tudi_onemap::snapshot::{MapView, Snapshots};
use tudi_store::Store;
use tudi_store::gpkg::GeoPackageStore;

/// The star of `n` points, in CGCS2000 longitude and latitude.
fn star(n: usize) -> Geometry<f64> {
    let mut ring: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let a = std::f64::consts::TAU * i as f64 / n as f64;
            let r = if i % 2 == 0 { 0.15 } else { 0.05 };
            Coord {
                x: 113.05 + r * a.cos(),
                y: 23.05 + r * a.sin(),
            }
        })
        .collect();
    ring.push(ring[0]);
    Polygon::new(LineString(ring), vec![]).into()
}

/// The overlays the analysis did before: the whole site against each candidate feature of the
/// rule set's control layers. Returns the summed overlap (m²) as a check.
fn whole_site(map: &MapView<'_>, rules: &RuleSet, site: &Geometry<f64>) -> f64 {
    let Ok(pinned) = map.pin() else {
        return 0.0;
    };
    let kinds: Vec<_> = rules
        .checks
        .iter()
        .filter_map(|c| match c {
            tudi_onemap::compliance::Check::NoOverlap { layer_kind, .. }
            | tudi_onemap::compliance::Check::Within { layer_kind, .. } => Some(*layer_kind),
            tudi_onemap::compliance::Check::MaxArea { .. } => None,
        })
        .collect();
    let mut total = 0.0;
    for def in pinned.defs.iter().filter(|d| kinds.contains(&d.kind)) {
        let (Ok(to), Some(snap)) = (
            Crs::from_epsg(def.epsg).and_then(|c| Transformer::new(Crs::CGCS2000, c)),
            pinned.snapshot(&def.name),
        ) else {
            continue;
        };
        let mut here = site.clone();
        if to.apply_geometry(&mut here).is_err() {
            continue;
        }
        let Some(mp) = overlay::as_multipolygon(&here) else {
            continue;
        };
        let Some(r) = mp.bounding_rect() else {
            continue;
        };
        for i in snap.candidates(r) {
            if let Some(f) = snap.geometry(i).as_ref().and_then(overlay::as_multipolygon) {
                total += mp.intersection(&f).unsigned_area();
            }
        }
    }
    total
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: compliance_star STORE.gpkg [vertices…]")?,
    );
    let sizes: Vec<usize> = {
        let given: Vec<usize> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
        if given.is_empty() {
            vec![100, 400, 1000]
        } else {
            given
        }
    };
    let store = GeoPackageStore::open(&path)?;
    store.enable_readers(2)?;
    let store: Arc<dyn Store> = Arc::new(store);
    let snapshots = Snapshots::start(Arc::clone(&store));
    snapshots.warm_all()?;
    snapshots.build_now()?;
    let map = MapView::new(&*store, Some(&snapshots));
    let mut rules = RuleSet::builtin().remove(0);
    rules.site_limits = SiteLimits {
        max_area_m2: 1e10,
        max_vertices: 10_000,
    };
    println!("vertices\tpieces_s\twhole_site_s\tfarmland_m2");
    for n in sizes {
        let site = star(n);
        let t = Instant::now();
        let report = analyse_until(map, &rules, &site, Crs::CGCS2000, None, &Stop::never())?;
        let pieces = t.elapsed().as_secs_f64();
        // The whole-site way takes minutes beyond a thousand vertices: not run there.
        let whole = if n <= 1000 {
            let t = Instant::now();
            let _ = whole_site(&map, &rules, &site);
            format!("{:.3}", t.elapsed().as_secs_f64())
        } else {
            "-".to_owned()
        };
        let farmland: f64 = report
            .layers
            .iter()
            .filter(|l| l.layer == "permanent_farmland")
            .map(|l| l.overlap_area_m2)
            .sum();
        println!("{n}\t{pieces:.3}\t{whole}\t{farmland:.2}");
    }
    Ok(())
}
