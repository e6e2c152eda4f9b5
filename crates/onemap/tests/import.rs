//! Import rules that only show on files larger than one processing chunk (50,000 features).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;

use tudi_core::layer::LayerKind;
use tudi_onemap::import::{ImportError, ImportOptions, import_file};
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{Store, StoreError};

/// Squares in EPSG:4547; the feature at `bad` is a bow-tie.
fn write_squares(path: &Path, n: usize, bad: Option<usize>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(w, r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::4547"}}}},"features":["#).unwrap();
    for i in 0..n {
        let x = 500_000.0 + (i % 1000) as f64 * 20.0;
        let y = 2_550_000.0 + (i / 1000) as f64 * 20.0;
        let ring = if Some(i) == bad {
            format!(
                "[[{x},{y}],[{},{}],[{},{y}],[{x},{}],[{x},{y}]]",
                x + 10.0,
                y + 10.0,
                x + 10.0,
                y + 10.0
            )
        } else {
            format!(
                "[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]",
                x + 10.0,
                x + 10.0,
                y + 10.0,
                y + 10.0
            )
        };
        let sep = if i > 0 { "," } else { "" };
        write!(w, r#"{sep}{{"type":"Feature","properties":{{"code":"P{i}"}},"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}"#).unwrap();
    }
    write!(w, "]}}").unwrap();
}

#[test]
fn a_bad_feature_after_the_first_chunk_still_rejects_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    let src = dir.path().join("big.geojson");
    write_squares(&src, 120_000, Some(100_123));
    // A custom layer: the squares' codes are not 不动产单元代码 (a parcel layer checks them).
    let opts = ImportOptions::new("parcels", LayerKind::Custom);
    match import_file(&store, &src, &opts, &mut |_| {}) {
        Err(ImportError::Rejected { bad, total, read }) => {
            assert_eq!((total, read), (1, 120_000));
            assert_eq!(bad[0].index, 100_123);
            assert!(bad[0].reason.zh.contains("自相交"), "{:?}", bad[0].reason);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(
        matches!(store.layer("parcels"), Err(StoreError::UnknownLayer(_))),
        "nothing was written"
    );

    let mut skip = ImportOptions::new("parcels", LayerKind::Custom);
    skip.skip_invalid = true;
    let report = import_file(&store, &src, &skip, &mut |_| {}).unwrap();
    assert_eq!(report.imported, 119_999);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(store.layer("parcels").unwrap().feature_count, 119_999);

    // Appending to the existing layer follows the same rule: rejected, and the layer unchanged.
    let more = dir.path().join("more.geojson");
    write_squares(&more, 60_000, Some(55_000));
    assert!(matches!(
        import_file(&store, &more, &opts, &mut |_| {}),
        Err(ImportError::Rejected { .. })
    ));
    assert_eq!(store.layer("parcels").unwrap().feature_count, 119_999);
}
