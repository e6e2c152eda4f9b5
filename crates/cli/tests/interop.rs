//! Files as GIS users bring them (issue 15), with GDAL as the independent reader: GeoJSON that is
//! a single Feature or a bare Geometry, data wider than one Gauss–Krüger zone or from abroad,
//! and official codes checked as `tudi code check` checks them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn tudi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An empty store for 南海区 in a fresh directory.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = tudi(&[
        "init",
        "--data",
        dir.path().to_str().unwrap(),
        "--district",
        "440605",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    dir
}

/// What GDAL counts in a file.
fn gdal_count(path: &Path) -> u64 {
    let o = Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(path)
        .output()
        .expect("ogrinfo (gdal-bin, see .ci/run)");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .filter_map(|l| l.strip_prefix("Feature Count: "))
        .map(|n| n.trim().parse::<u64>().unwrap())
        .sum()
}

fn square(x: f64, y: f64, d: f64) -> String {
    format!(
        "[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]",
        x + d,
        x + d,
        y + d,
        y + d
    )
}

fn import(dir: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        "--data",
        dir.to_str().unwrap(),
        "--layer",
        "incoming",
        "--kind",
        "custom",
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    tudi(&args)
}

/// Amap/DataV boundary files are a single Feature; web tools write bare Geometries. GDAL reads
/// each as one feature, and so does tudi.
#[test]
fn a_single_feature_and_a_bare_geometry_import_as_gdal_reads_them() {
    let dir = store();
    let files = tempfile::tempdir().unwrap();
    let feature = files.path().join("feature.geojson");
    std::fs::write(
        &feature,
        format!(
            r#"{{"type":"Feature","properties":{{"name":"南海区","adcode":440605}},"geometry":{{"type":"Polygon","coordinates":{}}}}}"#,
            square(113.0, 23.0, 0.01)
        ),
    )
    .unwrap();
    let geometry = files.path().join("geometry.json");
    std::fs::write(
        &geometry,
        format!(
            r#"{{"type":"MultiPolygon","coordinates":[{}]}}"#,
            square(113.1, 23.1, 0.01)
        ),
    )
    .unwrap();
    for (file, layer) in [(&feature, "feature"), (&geometry, "geometry")] {
        assert_eq!(gdal_count(file), 1, "GDAL reads {layer} as one feature");
        let o = tudi(&[
            "import",
            "--data",
            dir.path().to_str().unwrap(),
            "--layer",
            layer,
            "--kind",
            "custom",
            file.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{layer}: {}", text(&o));
        assert!(text(&o).contains("已导入 1 / 1"), "{}", text(&o));
    }
    // Still refused: JSON that is no GeoJSON at all.
    let other = files.path().join("other.json");
    std::fs::write(&other, r#"{"type":"Topology","objects":{}}"#).unwrap();
    let o = import(dir.path(), &other, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("不是 GeoJSON"), "{}", text(&o));
}

/// A new layer's zone covers the data's whole extent, and the summary says which zone and how
/// areas are measured; data wider than a zone is refused, naming its extent and `--layer-crs`.
#[test]
fn the_zone_of_a_new_layer_covers_the_whole_extent() {
    let dir = store();
    let files = tempfile::tempdir().unwrap();
    let collection = |parts: &[(f64, f64)]| {
        let features: Vec<String> = parts
            .iter()
            .map(|(x, y)| {
                format!(
                    r#"{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":{}}}}}"#,
                    square(*x, *y, 0.01)
                )
            })
            .collect();
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        )
    };
    // A province reaching 121.7°E, its first feature in 南海 (the old way chose 114°E from it).
    let province = files.path().join("province.geojson");
    std::fs::write(
        &province,
        collection(&[(113.0, 23.0), (109.7, 21.5), (121.6, 29.9)]),
    )
    .unwrap();
    assert_eq!(gdal_count(&province), 3);
    let o = import(dir.path(), &province, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("109.7") && t.contains("121.61") && t.contains("--layer-crs"),
        "{t}"
    );
    let o = import(dir.path(), &province, &["--layer-crs", "EPSG:4490"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("椭球"), "{}", text(&o));

    let district = files.path().join("district.geojson");
    std::fs::write(&district, collection(&[(112.9, 22.9), (113.3, 23.2)])).unwrap();
    let o = tudi(&[
        "import",
        "--data",
        dir.path().to_str().unwrap(),
        "--layer",
        "district",
        "--kind",
        "custom",
        district.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("112.9000°E–113.3100°E")
            && t.contains("中央经线 114°E")
            && t.contains("平面计算"),
        "{t}"
    );
}

/// Data from abroad has no CGCS2000 zone: the refusal says so and what to do, even when the
/// source CRS is given.
#[test]
fn data_outside_every_zone_is_refused_with_the_reason() {
    let dir = store();
    let files = tempfile::tempdir().unwrap();
    let helsinki = files.path().join("helsinki.geojson");
    std::fs::write(
        &helsinki,
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{}},"geometry":{{"type":"Polygon","coordinates":{}}}}}]}}"#,
            square(24.93, 60.16, 0.01)
        ),
    )
    .unwrap();
    let o = import(dir.path(), &helsinki, &["--src-crs", "EPSG:4326"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("不在任何 CGCS2000 三度带内")
            && t.contains("--layer-crs")
            && !t.contains("EPSG:0"),
        "{t}"
    );
    let o = import(
        dir.path(),
        &helsinki,
        &["--src-crs", "EPSG:4326", "--layer-crs", "EPSG:4326"],
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// Codes are checked on import as `tudi code check` checks them.
#[test]
fn official_codes_are_checked_on_import() {
    let dir = store();
    let files = tempfile::tempdir().unwrap();
    let one = |props: &str| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{props},"geometry":{{"type":"Polygon","coordinates":{}}}}}]}}"#,
            square(113.0, 23.0, 0.001)
        )
    };
    let parcels = files.path().join("parcels.geojson");
    std::fs::write(&parcels, one(r#"{"ID_2": "2402108101"}"#)).unwrap();
    let divisions = files.path().join("divisions.geojson");
    std::fs::write(&divisions, one(r#"{"gb": "156440785", "name": "南海"}"#)).unwrap();
    let good = files.path().join("good.geojson");
    std::fs::write(&good, one(r#"{"gb": "440605", "name": "南海区"}"#)).unwrap();
    for code in ["2402108101", "156440785"] {
        let o = tudi(&["code", "check", code]);
        assert_eq!(o.status.code(), Some(3), "tudi code check refuses {code}");
    }
    let run = |file: &Path, layer: &str, kind: &str, map: &str| {
        tudi(&[
            "import",
            "--data",
            dir.path().to_str().unwrap(),
            "--layer",
            layer,
            "--kind",
            kind,
            "--map",
            map,
            file.to_str().unwrap(),
        ])
    };
    let o = run(&parcels, "parcels", "parcel", "ID_2=code");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("不动产单元代码"), "{}", text(&o));
    let o = run(&divisions, "divisions", "admin", "gb=code");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("区划代码"), "{}", text(&o));
    let o = run(&good, "divisions", "admin", "gb=code");
    assert!(o.status.success(), "{}", text(&o));
}
