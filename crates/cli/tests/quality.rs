//! `tudi check` (成果质检) on a survey result with the errors surveyors make: each is found by
//! its rule at its feature, the exit code says whether the result passes, and the CSV report
//! lists every finding. A clean result passes; a bad rule file is named by file and line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ogr_count, s, text, tudi, validate_gpkg};
use serde_json::{Value, json};

/// A square parcel of `side` metres at (x, y) metres east and north of 113.1°E 23.0°N (small
/// enough for degrees per metre to be taken as constant).
fn square(x: f64, y: f64, side: f64) -> Vec<Vec<[f64; 2]>> {
    let (dx, dy) = (1.0 / 102_470.0, 1.0 / 110_760.0);
    let (x0, y0) = (113.1 + x * dx, 23.0 + y * dy);
    let (x1, y1) = (x0 + side * dx, y0 + side * dy);
    vec![vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]
}

fn parcel(n: u32, rings: Vec<Vec<[f64; 2]>>, area: f64) -> Value {
    json!({"type": "Feature",
        "properties": {"code": format!("440605005050JC{n:05}W00000000"), "area_m2": area},
        "geometry": {"type": "Polygon", "coordinates": rings}})
}

fn clean() -> Vec<Value> {
    // Twenty 20 m squares in a row, 25 m apart: no overlaps, areas as declared.
    (0..20u32)
        .map(|i| parcel(i + 1, square(f64::from(i) * 25.0, 0.0, 20.0), 400.0))
        .collect()
}

fn write(dir: &std::path::Path, name: &str, features: Vec<Value>) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    path
}

#[test]
fn a_clean_result_passes_and_one_with_the_usual_errors_is_refused_finding_each() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(tmp.path(), "good.geojson", clean());
    let o = tudi(&["check", "--rules", "parcels", s(&good)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("passed: 0 errors, 0 warnings"),
        "{}",
        text(&o)
    );

    let mut bad = clean();
    // Feature 2: the same code as feature 1.
    bad[1]["properties"]["code"] = json!("440605005050JC00001W00000000");
    // Feature 3: a code cut short.
    bad[2]["properties"]["code"] = json!("44060500505");
    // Feature 4: the declared area 5 % off.
    bad[3]["properties"]["area_m2"] = json!(420.0);
    // Feature 5: drawn over feature 6 by 5 m × 20 m.
    bad[4]["geometry"]["coordinates"] = json!(square(110.0, 0.0, 20.0));
    // Feature 7: a bow tie.
    let b = square(150.0, 0.0, 20.0);
    bad[6]["geometry"]["coordinates"] = json!([[b[0][0], b[0][2], b[0][1], b[0][3], b[0][0]]]);
    // Feature 8: no code.
    bad[7]["properties"].as_object_mut().unwrap().remove("code");
    // Feature 9: a sliver, 20 m × 0.3 m.
    let mut sliver = square(200.0, 0.0, 20.0);
    for c in &mut sliver[0] {
        c[1] = 23.0 + (c[1] - 23.0) * 0.3 / 20.0;
    }
    bad[8]["geometry"]["coordinates"] = json!(sliver);
    bad[8]["properties"]["area_m2"] = json!(6.0);
    // Feature 10: a vertex repeated.
    let mut repeated = square(225.0, 0.0, 20.0);
    let first = repeated[0][1];
    repeated[0].insert(1, first);
    bad[9]["geometry"]["coordinates"] = json!(repeated);
    let path = write(tmp.path(), "bad.geojson", bad);
    let report = tmp.path().join("report.csv");
    let shapes = tmp.path().join("findings.gpkg");
    let book = tmp.path().join("report.xlsx");
    let o = tudi(&[
        "check",
        "--rules",
        "parcels",
        "--report",
        s(&report),
        "--report",
        s(&shapes),
        "--report",
        s(&book),
        s(&path),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let said = text(&o);
    for (feature, rule) in [
        (2, "ATTR-UNIQUE"),
        (3, "ATTR-CODE"),
        (4, "ATTR-AREA"),
        (6, "TOPO-OVERLAP"),
        (7, "GEOM-VALID"),
        (8, "ATTR-REQUIRED"),
        (9, "GEOM-SLIVER"),
        (10, "GEOM-DUP-VERTEX"),
    ] {
        assert!(
            said.contains(&format!("feature {feature} [{rule}]")),
            "feature {feature} {rule} not found:\n{said}"
        );
    }
    assert!(said.contains("overlaps feature 5 by 100"), "{said}");
    assert!(
        said.contains("declared 420 m²") && said.contains("4.94 % apart"),
        "{said}"
    );
    // No gap: the row has none enclosed.
    assert!(!said.contains("[TOPO-GAP]"), "{said}");
    // Nothing found where there is nothing; an invalid shape is not measured.
    assert!(
        !said.contains("feature 7 [GEOM-MIN-AREA]") && !said.contains("feature 7 [ATTR-AREA]"),
        "{said}"
    );
    for clean_feature in [1, 5, 11, 12, 20] {
        assert!(
            !said.contains(&format!("feature {clean_feature} [")),
            "{clean_feature}: {said}"
        );
    }
    let csv = std::fs::read_to_string(&report).unwrap();
    assert!(csv.starts_with('\u{feff}'));
    // The Excel list, read back with calamine: the totals, then one row per finding.
    {
        use calamine::{DataType, Reader};
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&book).unwrap();
        assert_eq!(wb.sheet_names(), ["汇总 totals", "问题清单 findings"]);
        let totals = wb.worksheet_range("汇总 totals").unwrap();
        let overlap = totals
            .rows()
            .find(|r| {
                r.first()
                    .is_some_and(|c| c.as_string().as_deref() == Some("TOPO-OVERLAP"))
            })
            .unwrap();
        assert_eq!(overlap[2].as_f64(), Some(1.0));
        let findings = wb.worksheet_range("问题清单 findings").unwrap();
        // A title row, the headings, then the 8 findings.
        assert_eq!(findings.height(), 10);
        assert!(
            findings
                .rows()
                .any(|r| r[0].as_string().as_deref() == Some("TOPO-OVERLAP")
                    && r[2].as_f64() == Some(6.0)),
            "{findings:?}"
        );
    }
    // The error geometries, for QGIS: a valid GeoPackage with one row per finding drawn.
    validate_gpkg(&shapes);
    assert_eq!(ogr_count(&shapes, "findings"), 8);
    let o = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-where", "rule = 'TOPO-OVERLAP'", s(&shapes)])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("MULTIPOLYGON") && text(&o).contains("overlaps feature 5 by 100"),
        "{}",
        text(&o)
    );
    assert!(csv.contains("\"TOPO-OVERLAP\",error,6,"), "{csv}");
    // The same file checked twice gives the same report.
    let again = tmp.path().join("again.csv");
    let o = tudi(&[
        "check",
        "--rules",
        "parcels",
        "--report",
        s(&again),
        s(&path),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), csv);
}

#[test]
fn a_rule_file_with_an_unknown_kind_an_unknown_set_or_an_unreadable_file_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(tmp.path(), "good.geojson", clean());
    let rules = tmp.path().join("mine.json");
    std::fs::write(
        &rules,
        "{\"id\": \"mine\", \"title\": {\"zh\": \"我的\", \"en\": \"mine\"},\n\"rules\": [\n  {\"id\": \"G\", \"severity\": \"error\", \"check\": {\"kind\": \"holes\"}, \"message\": {\"zh\": \"缝隙\", \"en\": \"gap\"}}\n]}",
    )
    .unwrap();
    let o = tudi(&["check", "--rules", s(&rules), s(&good)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("mine.json line 3") && text(&o).contains("holes"),
        "{}",
        text(&o)
    );
    let o = tudi(&["check", "--rules", "nonesuch", s(&good)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("parcels"), "{}", text(&o));
    let broken = tmp.path().join("broken.geojson");
    std::fs::write(&broken, "{\"type\": \"FeatureCollection\", \"features\": [").unwrap();
    let o = tudi(&["check", "--rules", "parcels", s(&broken)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("broken.geojson"), "{}", text(&o));
    // An empty GeoPackage and a FlatGeobuf of noise: named, refused, nothing written.
    for (name, bytes) in [
        ("empty.gpkg", Vec::new()),
        (
            "noise.fgb",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let report = tmp.path().join(format!("{name}.csv"));
        let o = tudi(&[
            "check",
            "--rules",
            "parcels",
            "--report",
            s(&report),
            s(&path),
        ]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", text(&o));
        assert!(text(&o).contains(name), "{name}: {}", text(&o));
        assert!(!report.exists(), "{name}");
    }
    // A Shapefile without its .prj: the CRS cannot be told, and --src-crs is named.
    let shp = tmp.path().join("plots.shp");
    let o = std::process::Command::new("ogr2ogr")
        .args(["-f", "ESRI Shapefile", s(&shp), s(&good)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_file(tmp.path().join("plots.prj")).unwrap();
    let o = tudi(&["check", "--rules", "parcels", s(&shp)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains(".prj") && text(&o).contains("--src-crs"),
        "{}",
        text(&o)
    );
    let o = tudi(&[
        "check",
        "--rules",
        "parcels",
        "--src-crs",
        "EPSG:4490",
        s(&shp),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// `postgres://user@host:port/db` as GDAL's `PG:` keywords (GDAL adds to a URI and breaks it).
fn libpq_keywords(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('?').next().unwrap_or(rest);
    let (auth, place) = rest.split_once('@').unwrap_or(("", rest));
    let (hostport, db) = place.split_once('/').unwrap_or((place, "postgres"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let user = auth.split(':').next().unwrap_or("");
    format!(
        "host={host} port={port} dbname={db}{}",
        if user.is_empty() {
            String::new()
        } else {
            format!(" user={user}")
        }
    )
}

/// Runs SQL on the test database, one value per line.
fn psql(url: &str, sql: &str) -> Vec<String> {
    let o = std::process::Command::new("psql")
        .args(["-qAtX", url, "-c", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn invalid_shapes_and_overlaps_are_those_postgis_finds_on_the_same_file() {
    let tmp = tempfile::tempdir().unwrap();
    // A 12 × 12 grid of 20 m parcels; every seventh pushed into its neighbour by 0.5–3 m, every
    // eleventh made a bow tie, every thirteenth given a self-touching ring.
    let mut features = Vec::new();
    for i in 0..144u32 {
        let (col, row) = (f64::from(i % 12), f64::from(i / 12));
        let push = if i % 7 == 3 {
            0.5 + f64::from(i % 5) * 0.6
        } else {
            0.0
        };
        let mut rings = square(col * 20.0 + push, row * 20.0, 20.0);
        if i % 11 == 5 {
            let r = rings[0].clone();
            rings = vec![vec![r[0], r[2], r[1], r[3], r[0]]];
        } else if i % 13 == 6 {
            let r = rings[0].clone();
            let mid = [(r[0][0] + r[1][0]) / 2.0, r[0][1]];
            let inner = [mid[0], (r[0][1] + r[2][1]) / 2.0];
            rings = vec![vec![r[0], mid, inner, mid, r[1], r[2], r[3], r[0]]];
        }
        features.push(parcel(i + 1, rings, 400.0));
    }
    let path = write(tmp.path(), "grid.geojson", features);
    let report = tmp.path().join("r.csv");
    let o = tudi(&[
        "check",
        "--rules",
        "parcels",
        "--report",
        s(&report),
        s(&path),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let csv = std::fs::read_to_string(&report).unwrap();
    let mut ours_invalid = std::collections::BTreeSet::new();
    let mut ours_overlaps = std::collections::BTreeSet::new();
    for line in csv.lines().skip(1) {
        let cols: Vec<&str> = line.splitn(8, ',').collect();
        let feature: u32 = cols[2].parse().unwrap();
        match cols[0] {
            "\"GEOM-VALID\"" => {
                ours_invalid.insert(feature);
            }
            "\"TOPO-OVERLAP\"" => {
                let other: u32 = cols[7]
                    .split("overlaps feature ")
                    .nth(1)
                    .and_then(|t| t.split(' ').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                ours_overlaps.insert((other.min(feature), other.max(feature)));
            }
            _ => {}
        }
    }

    let db = std::env::var("TUDI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let table = format!("quality_grid_{}", std::process::id());
    let o = std::process::Command::new("ogr2ogr")
        .args([
            "-f",
            "PostgreSQL",
            &format!("PG:{}", libpq_keywords(&db)),
            s(&path),
            "-nln",
            &table,
            "-t_srs",
            "EPSG:4547",
            "-lco",
            "FID=fid",
            "-lco",
            "GEOMETRY_NAME=geom",
            "-overwrite",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let invalid: std::collections::BTreeSet<u32> = psql(
        &db,
        &format!("SELECT fid FROM {table} WHERE NOT ST_IsValid(geom) ORDER BY fid"),
    )
    .iter()
    .map(|v| v.parse().unwrap())
    .collect();
    let overlaps: std::collections::BTreeSet<(u32, u32)> = psql(
        &db,
        &format!(
            "SELECT a.fid || ',' || b.fid FROM {table} a JOIN {table} b ON a.fid < b.fid \
             AND ST_Intersects(a.geom, b.geom) WHERE ST_IsValid(a.geom) AND ST_IsValid(b.geom) \
             AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0.01"
        ),
    )
    .iter()
    .map(|v| {
        let (a, b) = v.split_once(',').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    })
    .collect();
    psql(&db, &format!("DROP TABLE {table}"));
    assert!(!invalid.is_empty() && !overlaps.is_empty());
    assert_eq!(ours_invalid, invalid, "invalid shapes: tudi vs PostGIS");
    assert_eq!(
        ours_overlaps, overlaps,
        "overlapping pairs: tudi vs PostGIS"
    );
}

#[test]
fn a_hole_enclosed_by_parcels_is_a_gap_and_parcels_sharing_edges_leave_none() {
    let tmp = tempfile::tempdir().unwrap();
    // A 3 × 3 block of 20 m parcels sharing their edges, then the same block without its middle.
    let block: Vec<Value> = (0..9u32)
        .map(|i| {
            parcel(
                i + 1,
                square(f64::from(i % 3) * 20.0, f64::from(i / 3) * 20.0, 20.0),
                400.0,
            )
        })
        .collect();
    let whole = write(tmp.path(), "whole.geojson", block.clone());
    let o = tudi(&["check", "--rules", "parcels", s(&whole)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("[TOPO-GAP]"), "{}", text(&o));
    let mut holed = block;
    holed.remove(4);
    let holed = write(tmp.path(), "holed.geojson", holed);
    let o = tudi(&["check", "--rules", "parcels", s(&holed)]);
    // A gap is a warning: the file still passes, and says so.
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("[TOPO-GAP]") && text(&o).contains("a gap of 400"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_layer_of_the_store_is_checked_with_its_feature_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let mut features = clean();
    // Feature 5 drawn over feature 6, as before; the layer keeps it (an import checks validity
    // and codes, not overlaps).
    features[4]["geometry"]["coordinates"] = json!(square(110.0, 0.0, 20.0));
    let path = write(tmp.path(), "plots.geojson", features);
    let data = tmp.path().join("d");
    let o = tudi(&["init", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "plots",
        "--kind",
        "custom",
        s(&path),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&[
        "check",
        "--rules",
        "parcels",
        "--data",
        s(&data),
        "--layer",
        "plots",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let said = text(&o);
    let line = said
        .lines()
        .find(|l| l.contains("[TOPO-OVERLAP]"))
        .unwrap_or_else(|| panic!("{said}"));
    // `feature N (<uuid>) [RULE]`: the id the layer knows the feature by.
    let id = line
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(id, _)| id)
        .unwrap();
    assert_eq!(id.len(), 36, "{line}");
    let o = tudi(&[
        "check",
        "--rules",
        "parcels",
        "--data",
        s(&data),
        "--layer",
        "nowhere",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("nowhere"), "{}", text(&o));
    let o = tudi(&["check", "--rules", "parcels"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A rectangle `[x0, x1] × [y0, y1]` in metres, placed as [`square`] places its squares.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Vec<[f64; 2]>> {
    let (dx, dy) = (1.0 / 102_470.0, 1.0 / 110_760.0);
    let (a, b) = (113.1 + x0 * dx, 23.0 + y0 * dy);
    let (c, d) = (113.1 + x1 * dx, 23.0 + y1 * dy);
    vec![vec![[a, b], [c, b], [c, d], [a, d], [a, b]]]
}

#[test]
fn an_import_runs_the_check_of_its_layer_kind_refusing_errors_and_keeping_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let o = tudi(&["init", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    // The district (0..600 m) and its two villages, split at x = 300 m.
    let division = |rings, level: &str, name: &str| {
        json!({"type": "Feature", "properties": {"level": level, "name": name},
            "geometry": {"type": "Polygon", "coordinates": rings}})
    };
    let divisions = write(
        tmp.path(),
        "divisions.geojson",
        vec![
            division(rect(0.0, -50.0, 600.0, 100.0), "区", "南海区"),
            division(rect(0.0, -50.0, 300.0, 100.0), "村居", "东村"),
            division(rect(300.0, -50.0, 600.0, 100.0), "村居", "西村"),
        ],
    );
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "divisions",
        "--kind",
        "custom",
        s(&divisions),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // Parcel 12 moved onto the village boundary (x = 290..310 m).
    let mut across = clean();
    across[11]["geometry"]["coordinates"] = json!(square(290.0, 0.0, 20.0));
    let path = write(tmp.path(), "across.geojson", across);
    let report = tmp.path().join("across.csv");
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "parcels",
        "--kind",
        "parcel",
        "--report",
        s(&report),
        s(&path),
    ]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(3), "{said}");
    assert!(
        said.contains("[LAYER-ONE-VILLAGE]") && said.contains("东村") && said.contains("西村"),
        "{said}"
    );
    assert!(said.contains("nothing was imported"), "{said}");
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("LAYER-ONE-VILLAGE")
    );
    let o = tudi(&["layers", "--data", s(&data)]);
    assert!(!text(&o).contains("parcels"), "{}", text(&o));

    // A clean file with one declared area 2 % off: imported, the warning kept with the layer.
    let mut warned = clean();
    warned[3]["properties"]["area_m2"] = json!(408.0);
    let path = write(tmp.path(), "warned.geojson", warned);
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "parcels",
        "--kind",
        "parcel",
        s(&path),
    ]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("[ATTR-AREA]") && said.contains("已导入 20 / 20"),
        "{said}"
    );
    assert!(
        said.contains("1 warnings kept with layer parcels"),
        "{said}"
    );

    // With --skip-invalid, a feature the import leaves out is not held against the rest.
    let mut broken = clean();
    // Feature 6, left out as invalid, shares feature 7's code: the repeat is not held against 7.
    broken[5]["properties"]["code"] = broken[6]["properties"]["code"].clone();
    broken[5]["geometry"]["coordinates"] = json!([[
        [113.1, 23.0],
        [113.1001, 23.0001],
        [113.1001, 23.0],
        [113.1, 23.0001],
        [113.1, 23.0]
    ]]);
    let path = write(tmp.path(), "broken.geojson", broken);
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "more",
        "--kind",
        "parcel",
        s(&path),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "more",
        "--kind",
        "parcel",
        "--skip-invalid",
        s(&path),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("已导入 19 / 20"), "{}", text(&o));
    assert!(!text(&o).contains("[ATTR-UNIQUE]"), "{}", text(&o));
    // A kind without a rule set has no report to write: asked for one, the import says so.
    let o = tudi(&[
        "import",
        "--data",
        s(&data),
        "--layer",
        "notes",
        "--kind",
        "custom",
        "--report",
        s(&tmp.path().join("notes.csv")),
        s(&path),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--rules"), "{}", text(&o));
}

#[test]
fn a_village_plan_is_held_to_the_binding_figures_of_the_level_above() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let o = tudi(&[
        "demo",
        "--data",
        s(&data),
        "--parcels",
        "300",
        "--seed",
        "7",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let export = |layer: &str| {
        let out = tmp.path().join(format!("{layer}.geojson"));
        let o = tudi(&[
            "export",
            "--data",
            s(&data),
            "--layer",
            layer,
            "--format",
            "geojson",
            "--crs",
            "EPSG:4490",
            "--out",
            s(&out),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_str::<Value>(&std::fs::read_to_string(&out).unwrap()).unwrap()
    };
    let plans = export("village_plan");
    let plan = plans["features"][0].clone();
    let village = plan["properties"]["village_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let farmland = export("permanent_farmland");
    let on_farmland = farmland["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["village_code"] == village.as_str())
        .unwrap()
        .clone();
    let indicators = tmp.path().join("indicators.csv");
    std::fs::write(&indicators, "指标,数值,单位\n建设用地规模,100,公顷\n").unwrap();
    let good = write(tmp.path(), "good.geojson", vec![plan.clone()]);
    let check = |plan: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "plan-check",
            "--data",
            s(&data),
            "--division",
            &village,
            "--indicators",
            s(&indicators),
        ];
        args.extend_from_slice(extra);
        args.push(s(plan));
        tudi(&args)
    };
    let o = check(&good, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("通过 / conforms"), "{}", text(&o));

    // Housing drawn over a basic-farmland patch of the village: both farmland figures fall.
    let mut housing = on_farmland;
    housing["properties"] = json!({"code": "X2", "land_use": "0703"});
    let bad = write(tmp.path(), "bad.geojson", vec![plan, housing]);
    let book = tmp.path().join("conformance.xlsx");
    let o = check(&bad, &["--report", s(&book)]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(3), "{said}");
    assert!(said.contains("✗ 永久基本农田保护面积"), "{said}");
    assert!(said.contains("planned construction occupies"), "{said}");
    assert!(said.contains("✓ 生态保护红线面积"), "{said}");
    {
        use calamine::{DataType, Reader};
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&book).unwrap();
        let sheet = wb.worksheet_range("规划传导 conformance").unwrap();
        let fails = sheet
            .rows()
            .filter(|r| r.get(4).and_then(DataType::as_string).as_deref() == Some("不符合 fails"))
            .count();
        assert_eq!(fails, 2, "{sheet:?}");
    }

    // A table naming an indicator that does not exist is refused with its line.
    std::fs::write(&indicators, "指标,数值\n耕地保有量,12\n林地保有量,5\n").unwrap();
    let o = check(&good, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("line 3") && text(&o).contains("林地保有量"),
        "{}",
        text(&o)
    );
    // A division the store does not have is named.
    std::fs::write(&indicators, "建设用地规模,100,公顷\n").unwrap();
    let o = tudi(&[
        "plan-check",
        "--data",
        s(&data),
        "--division",
        "440605999999",
        "--indicators",
        s(&indicators),
        s(&good),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("no valid division coded 440605999999"),
        "{}",
        text(&o)
    );
}
