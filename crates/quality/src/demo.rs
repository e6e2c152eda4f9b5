//! The demo's survey work: a firm with two cadastral projects — one whose results pass, one
//! with the errors surveyors really make (an overlap, a gap, a wrong code, a declared area 5 %
//! off, a parcel across a village boundary) — and a village plan submission with one binding
//! conflict (a house plot on 永久基本农田). Each package is a GeoPackage, submitted and checked
//! as a firm's would be.

use geo::{Area, BoundingRect, Contains, InteriorPoint, Intersects};
use geo_types::{Coord, Geometry, MultiPolygon, Polygon, Rect};
use jiff::civil::Date;
use serde_json::{Map, Value, json};
use tudi_core::layer::LayerKind;
use tudi_core::msg::Bilingual;
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::import::{self, PlanarFeature};
use tudi_store::{Change, Store};

use crate::survey::{self, NewProject, ProjectKind, Submission, SurveyError};

/// What the demo made: each submission with its project.
#[derive(Debug)]
pub struct DemoSurvey {
    /// The submissions, checked.
    pub submissions: Vec<Submission>,
}

fn internal(what: &str) -> SurveyError {
    SurveyError::Internal(format!("survey demo: {what}"))
}

fn polygons(f: &PlanarFeature) -> Option<MultiPolygon<f64>> {
    match f.geometry.as_ref().ok()?.as_ref()? {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p.clone()])),
        Geometry::MultiPolygon(m) => Some(m.clone()),
        _ => None,
    }
}

fn square(x: f64, y: f64, w: f64, h: f64) -> Polygon<f64> {
    Rect::new(Coord { x, y }, Coord { x: x + w, y: y + h }).to_polygon()
}

/// A `cols` × `rows` block of `size`-metre cells with its lower-left corner at `origin`.
fn block(origin: Coord<f64>, cols: usize, rows: usize, size: f64) -> Vec<Polygon<f64>> {
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            out.push(square(
                origin.x + c as f64 * size,
                origin.y + r as f64 * size,
                size,
                size,
            ));
        }
    }
    out
}

/// Where a block of `w` × `h` metres fits wholly inside `area`: around its interior point, or
/// nowhere.
fn place(area: &MultiPolygon<f64>, w: f64, h: f64) -> Option<Coord<f64>> {
    let p = area.interior_point()?;
    let bbox = area.bounding_rect()?;
    // Try the interior point, then a walk over the box, for a spot the block fits in.
    let mut tries = vec![Coord {
        x: p.x() - w / 2.0,
        y: p.y() - h / 2.0,
    }];
    for i in 1..20 {
        for j in 1..20 {
            tries.push(Coord {
                x: bbox.min().x + bbox.width() * f64::from(i) / 20.0 - w / 2.0,
                y: bbox.min().y + bbox.height() * f64::from(j) / 20.0 - h / 2.0,
            });
        }
    }
    tries
        .into_iter()
        .find(|o| area.contains(&square(o.x, o.y, w, h)))
}

/// The demo's packages and their projects, made from the store's divisions, parcels and
/// control lines, submitted as `firm` and checked (`excel` makes the reports' workbooks).
///
/// # Errors
/// A demo store without the layers the demo builds; the store fails.
pub fn fill(
    store: &dyn Store,
    firm: &str,
    today: Date,
    excel: &crate::survey::ExcelWriter,
) -> Result<DemoSurvey, SurveyError> {
    let read = |layer: &str| {
        import::read_layer_planar(store, layer, None).map_err(|e| internal(&e.msg().en))
    };
    let (crs, divisions) = read("divisions")?;
    let level = |f: &PlanarFeature, l: &str| f.properties.get("level") == Some(&json!(l));
    let district: MultiPolygon<f64> = MultiPolygon(
        divisions
            .iter()
            .filter(|f| level(f, "区"))
            .filter_map(polygons)
            .flat_map(|m| m.0)
            .collect(),
    );
    let mut villages: Vec<(String, MultiPolygon<f64>)> = divisions
        .iter()
        .filter(|f| level(f, "村居"))
        .filter_map(|f| {
            let code = f.properties.get("code")?.as_str()?.to_owned();
            Some((code, polygons(f)?))
        })
        .collect();
    villages.sort_by(|a, b| b.1.unsigned_area().total_cmp(&a.1.unsigned_area()));
    let zone = {
        let (_, parcels) = read("parcels")?;
        parcels
            .iter()
            .find_map(|f| {
                let code = f.properties.get("code")?.as_str()?;
                tudi_core::bdcdy::UnitCode::parse(code, None).ok()
            })
            .map(|c| c.zone())
            .ok_or_else(|| internal("no parcel with a valid code"))?
    };
    let code = |n: u32| {
        tudi_core::bdcdy::UnitCode::from_parts(&zone, "JC", 90_000 + n, 'W', 0)
            .map(|c| c.as_str().to_owned())
            .map_err(|_| internal("cannot make a parcel code"))
    };
    let change = Change::new("cli", "demo.survey");
    let firm_change = Change::new("user:cehui.danwei", "demo.survey");
    let mut submissions = Vec::new();
    let to_lonlat = Transformer::new(crs, Crs::WGS84).map_err(|e| internal(&e.to_string()))?;
    let area_of = |cells: &[Polygon<f64>]| -> Option<Value> {
        let rect = MultiPolygon(cells.to_vec()).bounding_rect()?;
        let mut g = Geometry::Polygon(rect.to_polygon());
        to_lonlat.apply_geometry(&mut g).ok()?;
        Some(tudi_geo::io::geojson::geometry_to_value(&g))
    };
    let mut seq = 0;
    // Two cadastral projects, each a block of 4 × 3 parcels of 20 m in one of the two largest
    // villages.
    for (n, (village, outline)) in villages.iter().take(2).enumerate() {
        let origin = place(outline, 80.0, 60.0).ok_or_else(|| internal("no room in a village"))?;
        let mut cells = block(origin, 4, 3, 20.0);
        let mut rows: Vec<(Polygon<f64>, Map<String, Value>)> = Vec::new();
        for cell in &cells {
            seq += 1;
            let mut a = Map::new();
            a.insert("code".into(), code(seq)?.into());
            a.insert("land_use".into(), "0702".into());
            a.insert("land_use_name".into(), "农村宅基地".into());
            a.insert("village_code".into(), village.clone().into());
            a.insert("owner".into(), "（演示）".into());
            a.insert("area_m2".into(), json!(cell.unsigned_area()));
            rows.push((cell.clone(), a));
        }
        let failing = n == 1;
        if failing {
            // An overlap and the gap it leaves: the middle row's second parcel drawn 4 m to the
            // east, over its neighbour.
            let moved = square(origin.x + 24.0, origin.y + 20.0, 20.0, 20.0);
            rows[5].0 = moved.clone();
            rows[5]
                .1
                .insert("area_m2".into(), json!(moved.unsigned_area()));
            cells[5] = moved;
            // A wrong code: a digit left out.
            let good = rows[0].1["code"].as_str().unwrap_or_default().to_owned();
            let bad: String = good.chars().take(good.len() - 1).collect();
            rows[0].1.insert("code".into(), bad.into());
            // A declared area 5 % more than drawn.
            let off = rows[10].0.unsigned_area() * 1.05;
            rows[10].1.insert("area_m2".into(), json!(off));
            // A parcel across the village boundary (and inside the district).
            let across = outline
                .0
                .iter()
                .flat_map(|p| p.exterior().coords())
                .map(|c| square(c.x - 10.0, c.y - 10.0, 20.0, 20.0))
                .find(|s| district.contains(s) && !outline.contains(s) && outline.intersects(s))
                .ok_or_else(|| internal("no village boundary inside the district"))?;
            seq += 1;
            let mut a = rows[1].1.clone();
            a.insert("code".into(), code(seq)?.into());
            a.insert("area_m2".into(), json!(across.unsigned_area()));
            rows.push((across, a));
        }
        let project = survey::register(
            store,
            &change,
            &NewProject {
                name: format!(
                    "{village} 村地籍调查（演示{}）",
                    if failing { "，含错误" } else { "" }
                ),
                kind: ProjectKind::Cadastral,
                client: "区自然资源局".into(),
                firm: firm.into(),
                layer: Some("cadastral_updates".into()),
                area: area_of(&cells),
                deadline: if failing {
                    today.saturating_sub(jiff::Span::new().days(10))
                } else {
                    today.saturating_add(jiff::Span::new().days(60))
                },
            },
        )?;
        let package = geopackage(crs, LayerKind::Parcel, &rows)?;
        let name = format!("{}-宗地成果.gpkg", project.id);
        let sub = survey::submit(store, &firm_change, &project.id, &name, &package)?;
        submissions.push(survey::check(store, &change, &sub.id, excel, &|_| {})?);
    }
    // A village plan with one house plot on permanent basic farmland.
    let (_, farmland) = read("permanent_farmland")?;
    let (spot, village) = farmland
        .iter()
        .filter_map(|f| Some((polygons(f)?, f)))
        .find_map(|(m, f)| {
            let p = m.interior_point()?;
            let village = f
                .properties
                .get("village_code")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            district
                .contains(&square(p.x() - 45.0, p.y() - 30.0, 90.0, 60.0))
                .then_some((p, village))
        })
        .ok_or_else(|| internal("no permanent farmland inside the district"))?;
    // The house plot's corner lies on the farmland; the rest of the plan keeps it farmland.
    let cells = block(
        Coord {
            x: spot.x() - 15.0,
            y: spot.y() - 15.0,
        },
        3,
        2,
        30.0,
    );
    let rows: Vec<(Polygon<f64>, Map<String, Value>)> = cells
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let (class, name) = if i == 0 {
                ("0703", "农村宅基地")
            } else {
                ("0101", "水田")
            };
            let mut a = Map::new();
            a.insert("code".into(), format!("DK{:02}", i + 1).into());
            a.insert("land_use".into(), class.into());
            a.insert("land_use_name".into(), name.into());
            a.insert("village_code".into(), village.clone().into());
            a.insert("plan".into(), "村庄规划（2021—2035年）修改（演示）".into());
            (cell.clone(), a)
        })
        .collect();
    let project = survey::register(
        store,
        &change,
        &NewProject {
            name: "村庄规划修改成果审查（演示，含永久基本农田冲突）".into(),
            kind: ProjectKind::VillagePlan,
            client: "镇人民政府".into(),
            firm: firm.into(),
            layer: Some("village_plan_updates".into()),
            area: area_of(&cells),
            deadline: today.saturating_add(jiff::Span::new().days(30)),
        },
    )?;
    let package = geopackage(crs, LayerKind::Planning, &rows)?;
    let name = format!("{}-村庄规划数据库.gpkg", project.id);
    let sub = survey::submit(store, &firm_change, &project.id, &name, &package)?;
    submissions.push(survey::check(store, &change, &sub.id, excel, &|_| {})?);
    Ok(DemoSurvey { submissions })
}

/// The rows as a GeoPackage of the kind's fields, in `crs`.
fn geopackage(
    crs: Crs,
    kind: LayerKind,
    rows: &[(Polygon<f64>, Map<String, Value>)],
) -> Result<Vec<u8>, SurveyError> {
    let def = tudi_store::LayerDef {
        name: "results".into(),
        title: "成果".into(),
        kind,
        epsg: crs.epsg(),
        geometry_type: "POLYGON".into(),
        fields: tudi_onemap::schema::default_fields(kind),
    };
    let dir = tempfile::tempdir().map_err(|e| internal(&e.to_string()))?;
    let path = dir.path().join("results.gpkg");
    let mut features = rows.iter().enumerate().map(|(i, (p, a))| {
        (
            uuid::Uuid::from_u128(i as u128 + 1),
            Geometry::Polygon(p.clone()),
            a.clone(),
        )
    });
    tudi_store::gpkg::write_plain(&path, &def, &mut features)?;
    std::fs::read(&path).map_err(|e| internal(&e.to_string()))
}
