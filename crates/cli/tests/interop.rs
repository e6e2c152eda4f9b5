//! Files as GIS users bring them (issue 15), with GDAL as the independent reader: GeoJSON that is
//! a single Feature or a bare Geometry, data wider than one Gauss–Krüger zone or from abroad,
//! and official codes checked as `tudi code check` checks them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, tudi};
use std::path::Path;
use std::process::{Command, Output};

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

/// GDAL's reading of an export: feature count, geometry type, and the text of `ogrinfo -al`.
fn gdal_read(path: &Path) -> (u64, String) {
    let o = Command::new("ogrinfo")
        .args(["-ro", "-al"])
        .arg(path)
        .output()
        .expect("ogrinfo");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (gdal_count(path), out)
}

/// Line layers export to Shapefile and FlatGeobuf that GDAL reads; text longer than a DBF field
/// holds is cut at a character with a warning naming the field.
#[test]
fn line_layers_and_long_text_export_as_gdal_reads_them() {
    let dir = store();
    let files = tempfile::tempdir().unwrap();
    let long = "村道沿线排水沟渠整治工程".repeat(8); // 96 characters, 288 bytes in UTF-8
    let roads = files.path().join("roads.geojson");
    std::fs::write(
        &roads,
        format!(
            r#"{{"type":"FeatureCollection","features":[
{{"type":"Feature","properties":{{"name":"一号路","note":"{long}"}},"geometry":{{"type":"LineString","coordinates":[[113.0,23.0],[113.01,23.01]]}}}},
{{"type":"Feature","properties":{{"name":"二号路","note":"短"}},"geometry":{{"type":"LineString","coordinates":[[113.02,23.0],[113.03,23.02],[113.04,23.0]]}}}},
{{"type":"Feature","properties":{{"name":"三号路","note":null}},"geometry":{{"type":"MultiLineString","coordinates":[[[113.05,23.0],[113.06,23.01]],[[113.07,23.0],[113.08,23.01]]]}}}}
]}}"#
        ),
    )
    .unwrap();
    let o = import(dir.path(), &roads, &[]);
    assert!(o.status.success(), "{}", text(&o));
    for format in ["shp", "fgb"] {
        let out = files.path().join(format!("roads.{format}"));
        let o = tudi(&[
            "export",
            "--data",
            dir.path().to_str().unwrap(),
            "--layer",
            "incoming",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{format}: {}", text(&o));
        let (n, read) = gdal_read(&out);
        assert_eq!(n, 3, "GDAL reads every line of the {format} export: {read}");
        assert!(
            read.contains("LINESTRING") && read.contains("二号路"),
            "{read}"
        );
        assert!(!read.contains("ERROR"), "{read}");
        if format == "shp" {
            let t = text(&o);
            assert!(
                t.contains("note") && t.contains("254"),
                "the cut is said: {t}"
            );
            assert!(out.with_extension("cpg").is_file());
            assert!(read.contains("村道沿线排水沟渠整治工程"), "{read}");
        } else {
            assert!(
                read.contains(&long),
                "FlatGeobuf keeps the whole text: {read}"
            );
        }
    }
}

/// Runs ogr2ogr with `args`.
fn ogr2ogr(args: &[&str]) {
    let o = Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("ogr2ogr");
    assert!(o.status.success(), "ogr2ogr {args:?}: {}", text(&o));
}

/// GDAL's types come back as GDAL wrote them where tudi has them (Boolean), and the summary
/// says what tudi keeps otherwise (narrow numbers, Z); curved geometries are refused by name.
#[test]
fn types_and_dimensions_are_kept_or_said_and_curves_refused_by_name() {
    let dir = store();
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("wells.csv");
    std::fs::write(
        &csv,
        "x,y,z,ok,floors,ratio,name\n113.01,23.01,12.5,true,3,0.25,一号井\n113.02,23.02,8.0,false,2,0.5,二号井\n",
    )
    .unwrap();
    std::fs::write(
        csv.with_extension("csvt"),
        "Real,Real,Real,Integer(Boolean),Integer(Int16),Real(Float32),String\n",
    )
    .unwrap();
    let gpkg = files.path().join("wells.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        gpkg.to_str().unwrap(),
        csv.to_str().unwrap(),
        "-oo",
        "X_POSSIBLE_NAMES=x",
        "-oo",
        "Y_POSSIBLE_NAMES=y",
        "-oo",
        "Z_POSSIBLE_NAMES=z",
        "-a_srs",
        "EPSG:4490",
        "-nln",
        "wells",
    ]);
    let (_, read) = gdal_read(&gpkg);
    assert!(
        read.contains("3D Point") && read.contains("ok: Integer(Boolean)"),
        "{read}"
    );
    let o = import(dir.path(), &gpkg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("floors（SMALLINT）") && t.contains("ratio（FLOAT）") && t.contains("Z（高程）"),
        "the summary says what changed: {t}"
    );
    // Exported again, GDAL sees the Boolean as a Boolean.
    let back = files.path().join("back.gpkg");
    let o = tudi(&[
        "export",
        "--data",
        dir.path().to_str().unwrap(),
        "--layer",
        "incoming",
        "--format",
        "gpkg",
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (n, read) = gdal_read(&back);
    assert_eq!(n, 2);
    assert!(
        read.contains("ok: Integer(Boolean)") && read.contains("ok (Integer(Boolean)) = 1"),
        "{read}"
    );

    // A curve polygon, as GDAL and ArcGIS write them.
    let wkt = files.path().join("curve.csv");
    std::fs::write(
        &wkt,
        "WKT,name\n\"CURVEPOLYGON(CIRCULARSTRING(113.0 23.0,113.001 23.001,113.002 23.0,113.001 22.999,113.0 23.0))\",弧形地块\n",
    )
    .unwrap();
    let curved = files.path().join("curve.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        curved.to_str().unwrap(),
        wkt.to_str().unwrap(),
        "-a_srs",
        "EPSG:4490",
        "-nlt",
        "CURVEPOLYGON",
        "-nln",
        "curve",
    ]);
    let o = import(dir.path(), &curved, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("CurvePolygon") && t.contains("CONVERT_TO_LINEAR"),
        "{t}"
    );
}
