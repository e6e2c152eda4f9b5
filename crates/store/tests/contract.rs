//! The store contract on the GeoPackage backend, plus what only a file can show: GDAL reads it,
//! `kill -9` loses nothing committed, and concurrent allocation never repeats a number.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use tudi_store::contract;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{Change, NewFeature, Store};

fn fresh(dir: &Path, name: &str) -> GeoPackageStore {
    GeoPackageStore::create(&dir.join(name)).unwrap()
}

#[test]
fn geopackage_backend_meets_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU32::new(0);
    contract::run_all(&|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::new(fresh(dir.path(), &format!("s{n}.gpkg")))
    });
}

#[test]
fn two_handles_on_one_file_meet_the_concurrent_contract() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU32::new(0);
    contract::run_concurrent(&|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("c{n}.gpkg"));
        let first = GeoPackageStore::create(&path).unwrap();
        let second = GeoPackageStore::open(&path).unwrap();
        (Box::new(first), Box::new(second))
    });
}

fn debian_python() -> &'static str {
    "/usr/bin/python3"
}

fn validate_gpkg_script() -> Option<std::path::PathBuf> {
    let out = Command::new(debian_python())
        .args([
            "-c",
            "import osgeo_utils.samples.validate_gpkg as m; print(m.__file__)",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().into())
}

/// GDAL's own validator and ogrinfo accept the file, with its layer and CRS, after writes,
/// updates and deletes (GDAL is installed by `.ci/run`).
#[test]
fn gdal_validates_and_reads_the_store_after_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.gpkg");
    let s = GeoPackageStore::create(&path).unwrap();
    s.create_layer(
        &contract::parcel_def("parcels"),
        &Change::new("cli", "test.write"),
    )
    .unwrap();
    let ids = s
        .insert_features(
            "parcels",
            &mut (0..50).map(|i| NewFeature {
                id: None,
                geometry: contract::square(500_000.0 + f64::from(i) * 20.0, 2_550_000.0, 10.0),
                attributes: serde_json::json!({"code": format!("宗地{i}")})
                    .as_object()
                    .cloned()
                    .unwrap(),
            }),
            &Change::new("cli", "test.write"),
            &mut |_| true,
        )
        .unwrap();
    s.delete_feature("parcels", ids[0], &Change::new("cli", "test.write"))
        .unwrap();
    drop(s);
    let script =
        validate_gpkg_script().expect("GDAL's python3-gdal must be installed (see .ci/run)");
    let out = Command::new(debian_python())
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "validate_gpkg.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("ogrinfo")
        .args(["-so", "-al"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Layer name: parcels"), "{text}");
    assert!(text.contains("Feature Count: 49"), "{text}");
    assert!(text.contains("CM 114E"), "{text}");
    let out = Command::new("ogrinfo")
        .args([
            "-q",
            "-sql",
            "SELECT code FROM parcels WHERE code = '宗地7'",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("宗地7"),
        "Chinese attributes read back through GDAL"
    );
}

/// Allocation from many threads at once never hands out the same number twice.
#[test]
fn concurrent_sequence_allocation_never_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(fresh(dir.path(), "seq.gpkg"));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                (0..200)
                    .map(|_| s.next_in_sequence("zone", 0).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n);
    assert_eq!(all, (1..=1600).collect::<Vec<_>>());
}

/// Two processes allocating from the same file (two `tudi` commands at once) never collide.
#[test]
fn allocation_from_two_connections_never_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.gpkg");
    drop(GeoPackageStore::create(&path).unwrap());
    let a = Arc::new(GeoPackageStore::open(&path).unwrap());
    let b = Arc::new(GeoPackageStore::open(&path).unwrap());
    let ha = {
        let a = Arc::clone(&a);
        std::thread::spawn(move || {
            (0..300)
                .map(|_| a.next_in_sequence("z", 0).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let hb = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || {
            (0..300)
                .map(|_| b.next_in_sequence("z", 0).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let mut all: Vec<u64> = ha
        .join()
        .unwrap()
        .into_iter()
        .chain(hb.join().unwrap())
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 600);
}

/// A file that is not a GeoPackage is refused with a reason, and nothing is written to it.
#[test]
fn refuses_files_that_are_not_geopackages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.gpkg");
    std::fs::write(&path, "这不是数据库").unwrap();
    let err = GeoPackageStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("notes.gpkg"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "这不是数据库");
    assert!(
        GeoPackageStore::create(&path).is_err(),
        "create never overwrites"
    );
}

/// 不动产单元代码 allocation through the store from several threads: every code is distinct and
/// the numbers run without gaps.
#[test]
fn concurrent_code_allocation_never_repeats_a_code() {
    use tudi_core::bdcdy::{ZoneKey, allocate_building, allocate_parcel};
    use tudi_core::division::DivisionCode;
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(fresh(dir.path(), "codes.gpkg"));
    let zone = ZoneKey::new(&DivisionCode::parse("440605").unwrap(), 11, 1).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (s, zone) = (Arc::clone(&s), zone.clone());
            std::thread::spawn(move || {
                let seq = tudi_store::Sequences(&*s);
                (0..100)
                    .map(|_| {
                        let parcel = allocate_parcel(&seq, &zone, "JC").unwrap();
                        let house = allocate_building(&seq, &parcel).unwrap();
                        (parcel.to_string(), house.to_string())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut parcels: Vec<String> = Vec::new();
    for h in handles {
        for (p, house) in h.join().unwrap() {
            assert_eq!(&house[..19], &p[..19], "the house is on its parcel");
            assert!(
                house.ends_with("F00010001"),
                "first building, first unit: {house}"
            );
            parcels.push(p);
        }
    }
    parcels.sort();
    parcels.dedup();
    assert_eq!(parcels.len(), 400);
    assert_eq!(parcels.first().unwrap(), "440605011001JC00001W00000000");
    assert_eq!(parcels.last().unwrap(), "440605011001JC00400W00000000");
}
