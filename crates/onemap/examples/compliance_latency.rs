//! In-process latency and throughput of the compliance analysis (no HTTP), from layer snapshots
//! and straight from the store.
//!
//! `cargo run --release -p tudi-onemap --example compliance_latency -- DIR/tudi.gpkg [sites] [seconds]`
//!
//! The sites are those of `bench/onemap.sh`: octagons of radius 17.9 m (about 906 m²) around
//! the centroids of randomly chosen parcels, given in EPSG:4490 as the HTTP clients send them.
//! Prints p50/p99 of one caller and the throughput of one caller per core. Figures are in
//! docs/benchmarks.md.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use geo::Centroid;
use geo_types::{Coord, Geometry, LineString, Polygon};
use rand::{Rng, SeedableRng};
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::compliance::{RuleSet, analyse};
use tudi_onemap::snapshot::{MapView, Snapshots};
use tudi_store::Store;
use tudi_store::gpkg::GeoPackageStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: compliance_latency STORE.gpkg [sites] [seconds]")?,
    );
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let secs: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let store = GeoPackageStore::open(&path)?;
    store.enable_readers(4)?;
    let store: Arc<dyn Store> = Arc::new(store);
    let started = Instant::now();
    let snapshots = Snapshots::start(Arc::clone(&store));
    snapshots.warm_all()?;
    snapshots.build_now()?;
    println!(
        "snapshots built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let parcels = snapshots.get("parcels").ok_or("no parcels layer")?;
    let layer_crs = Crs::from_epsg(parcels.def.epsg)?;
    let to_4490 = Transformer::new(layer_crs, Crs::CGCS2000)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4547);
    let mut sites = Vec::with_capacity(n);
    while sites.len() < n && !parcels.is_empty() {
        let i = rng.random_range(0..parcels.len());
        let Some(c) = parcels.geometry(i).and_then(|g| g.centroid()) else {
            continue;
        };
        let ring: Vec<Coord<f64>> = (0..=8)
            .map(|k| {
                let a = std::f64::consts::TAU * f64::from(k % 8) / 8.0;
                Coord {
                    x: c.x() + 17.9 * a.cos(),
                    y: c.y() + 17.9 * a.sin(),
                }
            })
            .collect();
        let mut g: Geometry<f64> = Polygon::new(LineString(ring), vec![]).into();
        to_4490.apply_geometry(&mut g)?;
        sites.push(g);
    }
    let rules = RuleSet::builtin().into_iter().next().ok_or("no rule set")?;
    let sites = Arc::new(sites);
    let rules = Arc::new(rules);
    println!("| path | p50 | p99 | 1 thread | 2 threads |");
    println!("|---|---|---|---|---|");
    for (name, cached) in [("snapshots", true), ("store", false)] {
        let view = MapView::new(&*store, cached.then_some(&*snapshots));
        let mut lat = Vec::with_capacity(sites.len());
        for s in sites.iter() {
            let t = Instant::now();
            analyse(view, &rules, s, Crs::CGCS2000, None)?;
            lat.push(t.elapsed());
        }
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        let mut rates = Vec::new();
        for threads in [1, 2] {
            let done = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..threads)
                .map(|k| {
                    let (store, snapshots, sites, rules, done, stop) = (
                        Arc::clone(&store),
                        Arc::clone(&snapshots),
                        Arc::clone(&sites),
                        Arc::clone(&rules),
                        Arc::clone(&done),
                        Arc::clone(&stop),
                    );
                    std::thread::spawn(move || {
                        let view = MapView::new(&*store, cached.then_some(&*snapshots));
                        let mut i = k * 7919;
                        while !stop.load(Ordering::Relaxed) {
                            let _ =
                                analyse(view, &rules, &sites[i % sites.len()], Crs::CGCS2000, None);
                            done.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_secs(secs));
            stop.store(true, Ordering::Relaxed);
            for h in handles {
                let _ = h.join();
            }
            rates.push(done.load(Ordering::Relaxed) as f64 / secs as f64);
        }
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.0}/s | {:.0}/s |",
            pct(0.5).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
            rates[0],
            rates[1]
        );
    }
    Ok(())
}
