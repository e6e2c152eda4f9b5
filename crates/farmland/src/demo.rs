//! The demo district's farmland ledger: compensation projects on the map — ponds and woodland
//! reclaimed as paddy, dry land turned paddy, an orchard restored — most of them accepted into
//! the pool; a transfer to a neighbouring district at Guangdong-like prices; a province's
//! freeze after satellite patches, part of it deducted and the rest released. Deterministic.

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::snapshot::MapView;
use tudi_store::{Change, FeatureQuery, Store, StoreError};

use crate::amount::{Amounts, Centi};
use crate::ledger::{Ledger, LedgerError};
use crate::order::Order;
use crate::project::{self, NewProject, ProjectKind};

/// What the demo made.
#[derive(Debug, Clone, Default)]
pub struct Made {
    /// Projects registered (and accepted).
    pub projects: usize,
    /// Of them accepted.
    pub accepted: usize,
    /// Postings in the journal.
    pub postings: u64,
}

fn schema(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Store(StoreError::Schema(e.to_string()))
}

/// Land-survey patches of `land_use`, every `step`th, in longitude/latitude, with their town.
fn patches(
    store: &dyn Store,
    land_use: &str,
    step: usize,
    count: usize,
) -> Result<Vec<(Value, String)>, LedgerError> {
    let def = store.layer_def("land_survey")?;
    let to_lonlat = Crs::from_epsg(def.epsg)
        .and_then(|c| Transformer::new(c, Crs::CGCS2000))
        .map_err(schema)?;
    let mut out = Vec::new();
    let registry = DivisionRegistry::bundled();
    let features = store.features("land_survey", &FeatureQuery::default())?;
    for f in features
        .iter()
        .filter(|f| f.attributes.get("land_use").and_then(Value::as_str) == Some(land_use))
        // Whole cells only: a square, not a piece cut by the district's outline.
        .filter(|f| geo::Area::unsigned_area(&f.geometry) > 62_000.0)
        .step_by(step.max(1))
        .take(count)
    {
        let mut g = f.geometry.clone();
        to_lonlat.apply_geometry(&mut g).map_err(schema)?;
        let village = f
            .attributes
            .get("village_code")
            .and_then(Value::as_str)
            .unwrap_or("");
        let town = village
            .get(..9)
            .and_then(|t| DivisionCode::parse(t).ok())
            .and_then(|c| registry.get(&c).map(|d| d.name.clone()))
            .unwrap_or_default();
        out.push((tudi_geo::io::geojson::geometry_to_value(&g), town));
    }
    Ok(out)
}

/// A project the demo registers.
struct Planned {
    name: String,
    kind: ProjectKind,
    geometry: Value,
    grade: u8,
    grade_before: Option<u8>,
    /// Share of the area that becomes paddy.
    paddy_share: f64,
    /// Accepted this many days ago (or not yet).
    accepted: Option<i64>,
}

fn at(date: Date) -> Timestamp {
    date.at(10, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .map_or(Timestamp::UNIX_EPOCH, |z| z.timestamp())
}

/// Fills the ledger of `county` in a demo store, dated before `today`.
///
/// # Errors
/// Store failures; a demo map without a land survey.
pub fn fill(store: &dyn Store, county: &str, today: Date) -> Result<Made, LedgerError> {
    let ledger = Ledger::new(store, county);
    let mut made = Made::default();
    let ponds = patches(store, "1104", 97, 3)?;
    let woods = patches(store, "0301", 131, 2)?;
    let dry = patches(store, "0103", 151, 2)?;
    let days_ago = |d: i64| {
        today
            .checked_sub(jiff::Span::new().days(d))
            .unwrap_or(today)
    };
    let mut plan: Vec<Planned> = Vec::new();
    for (i, (geometry, town)) in ponds.into_iter().enumerate() {
        plan.push(Planned {
            name: format!("{town}坑塘垦造水田项目（{}）", i + 1),
            kind: ProjectKind::Reclamation,
            geometry,
            grade: 6,
            grade_before: None,
            paddy_share: 0.9,
            accepted: Some(400 - 90 * i64::try_from(i).unwrap_or(0)),
        });
    }
    for (i, (geometry, town)) in woods.into_iter().enumerate() {
        plan.push(Planned {
            name: format!("{town}园地恢复耕地项目（{}）", i + 1),
            kind: ProjectKind::Restoration,
            geometry,
            grade: 8,
            grade_before: None,
            paddy_share: 0.0,
            accepted: Some(200 - 60 * i64::try_from(i).unwrap_or(0)),
        });
    }
    for (i, (geometry, town)) in dry.into_iter().enumerate() {
        // The last one is still being built: registered, not yet accepted.
        plan.push(Planned {
            name: format!("{town}旱地改水田提质改造项目（{}）", i + 1),
            kind: ProjectKind::Upgrade,
            geometry,
            grade: 7,
            grade_before: Some(9),
            paddy_share: 1.0,
            accepted: (i == 0).then_some(120),
        });
    }
    for p in plan {
        let (_, drawn) =
            tudi_geo::io::geojson::lonlat_area(&p.geometry).map_err(|(_, en)| schema(en))?;
        let registered = days_ago(p.accepted.unwrap_or(30) + 200);
        let change =
            Change::new("demo:quju.shenpi", "farmland.project.register").at(at(registered));
        let project = project::register(
            store,
            &change,
            NewProject {
                name: p.name,
                kind: p.kind,
                town: None,
                geometry: p.geometry,
                new_farmland_m2: None,
                new_paddy_m2: Centi::rounded((drawn * p.paddy_share * 0.95).floor()),
                grade: p.grade,
                grade_before: p.grade_before,
                aftercare_years: 3,
            },
        )?;
        made.projects += 1;
        if let Some(ago) = p.accepted {
            let on = days_ago(ago);
            let change = Change::new("demo:quju.shenpi", "farmland.project.accept").at(at(on));
            let document = format!("南自然资验〔{}〕{}号", on.year(), made.accepted + 11);
            project::accept(&ledger, &change, &project.id, on, &document)?;
            made.accepted += 1;
        }
    }
    let (_, balances) = ledger.balances()?;
    let pool = balances.of(&ledger.pool());
    let part = |share: f64| Amounts {
        farmland_m2: Centi::rounded((pool.farmland_m2.units() * share).floor()),
        paddy_m2: Centi::rounded((pool.paddy_m2.units() * share).floor()),
        capacity_kg: Centi::rounded((pool.capacity_kg.units() * share).floor()),
    };
    let transfer = part(0.15);
    let mu = |c: Centi| c.units() / tudi_core::units::M2_PER_MU;
    let orders: Vec<(i64, Value)> = vec![
        (
            100,
            json!({"movement": "transfer", "direction": "out", "county": "440606",
            "amounts": transfer,
            "prices": {"farmland_wan_per_mu": 20.0, "paddy_wan_per_mu": 15.0, "capacity_yuan_per_kg": 0.0},
            "amount_wan": ((20.0 * mu(transfer.farmland_m2) + 15.0 * mu(transfer.paddy_m2)) * 100.0).round() / 100.0,
            "document": format!("佛自然资调〔{}〕3号", days_ago(100).year())}),
        ),
        (
            60,
            json!({"movement": "freeze", "amounts": part(0.1),
            "document": format!("粤自然资冻〔{}〕21号", days_ago(60).year()),
            "reason": "卫片执法图斑未按期整改，冻结相应补充耕地指标"}),
        ),
        (
            20,
            json!({"movement": "deduct", "amounts": part(0.03),
            "document": format!("粤自然资扣〔{}〕5号", days_ago(20).year()),
            "reason": "两宗图斑经核查属违法占用耕地，减扣指标"}),
        ),
    ];
    for (ago, body) in orders {
        let order: Order = serde_json::from_value(body).map_err(schema)?;
        let change = Change::new("demo:quju.shenpi", "farmland.post").at(at(days_ago(ago)));
        ledger.post(&change, &order.draft(&ledger, None)?)?;
    }
    // What remains frozen is released once the patches are put right.
    let frozen = ledger
        .balances()?
        .1
        .of(&crate::account::Account::Frozen(county.to_owned()));
    if !frozen.is_zero() {
        let order: Order = serde_json::from_value(json!({"movement": "unfreeze", "amounts": frozen,
            "document": format!("粤自然资解〔{}〕8号", days_ago(10).year()), "reason": "图斑已整改到位，解冻剩余指标"}))
        .map_err(schema)?;
        let change = Change::new("demo:quju.shenpi", "farmland.post").at(at(days_ago(10)));
        ledger.post(&change, &order.draft(&ledger, None)?)?;
    }
    made.postings = ledger.count()?;
    Ok(made)
}

/// Marks the site of the first application waiting for approval as paddy on the land survey —
/// new homestead land a village plan puts on a field still farmed, the case 以补定占 is about —
/// so its approval measures farmland and debits the pool. The survey cells under the site give up
/// a square around it, which becomes a patch of its own: the patches still tile the district.
/// Returns the application's id, or `None` when none waits for approval.
///
/// # Errors
/// Store failures; geometry that cannot be projected.
pub fn paddy_under_an_approval(store: &dyn Store) -> Result<Option<String>, LedgerError> {
    use geo::{BooleanOps, BoundingRect};
    let waiting = store
        .find_records("homestead", &tudi_store::RecordQuery::default())?
        .records
        .into_iter()
        .find(|r| r.body["stage"] == json!(["approval"]));
    let Some(record) = waiting else {
        return Ok(None);
    };
    let site = tudi_geo::io::geojson::parse_geometry(&record.body["form"]["site"].to_string())
        .map_err(schema)?;
    let def = store.layer_def("land_survey")?;
    let to_layer = Crs::from_epsg(def.epsg)
        .and_then(|c| Transformer::new(Crs::CGCS2000, c))
        .map_err(schema)?;
    let mut site = site;
    to_layer.apply_geometry(&mut site).map_err(schema)?;
    let Some(r) = site.bounding_rect() else {
        return Ok(None);
    };
    let square = geo_types::Rect::new(
        (r.min().x - 10.0, r.min().y - 10.0),
        (r.max().x + 10.0, r.max().y + 10.0),
    )
    .to_polygon();
    let square = geo_types::MultiPolygon(vec![square]);
    let change = Change::new("demo", "land_survey.change");
    let mut paddy = geo_types::MultiPolygon(vec![]);
    let mut village = Value::Null;
    let query = FeatureQuery {
        bbox: Some([
            r.min().x - 10.0,
            r.min().y - 10.0,
            r.max().x + 10.0,
            r.max().y + 10.0,
        ]),
        ..FeatureQuery::default()
    };
    for f in store.features("land_survey", &query)? {
        let Some(cell) = tudi_geo::overlay::as_multipolygon(&f.geometry) else {
            continue;
        };
        let inside = cell.intersection(&square);
        if geo::Area::unsigned_area(&inside) <= 0.0 {
            continue;
        }
        let rest = cell.difference(&square);
        let mut attributes = f.attributes.clone();
        attributes.insert("area_m2".into(), json!(geo::Area::unsigned_area(&rest)));
        store.update_feature("land_survey", f.id, rest.into(), attributes, &change)?;
        village = f
            .attributes
            .get("village_code")
            .cloned()
            .unwrap_or(Value::Null);
        paddy = paddy.union(&inside);
    }
    let mut attributes = serde_json::Map::new();
    attributes.insert("code".into(), json!(format!("TB-ZJD-{}", record.id)));
    attributes.insert("land_use".into(), json!("0101"));
    attributes.insert("land_use_name".into(), json!("水田"));
    attributes.insert("village_code".into(), village);
    attributes.insert("area_m2".into(), json!(geo::Area::unsigned_area(&paddy)));
    attributes.insert("quality_grade".into(), json!(7));
    store.insert_features(
        "land_survey",
        &mut std::iter::once(tudi_store::NewFeature {
            id: None,
            geometry: paddy.into(),
            attributes,
        }),
        &change,
        &mut |_| true,
    )?;
    Ok(Some(record.id))
}

/// What the demo's roster holds.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// Chiefs appointed.
    pub chiefs: usize,
    /// Patrols recorded.
    pub patrols: usize,
}

/// The demo's field chiefs: the district's, each town's, the first village of each town and
/// three whole grid cells of the demo accounts' village — the village's clerk
/// (`cunju.jingban`) its chief, the grid inspector (`wangge.xunjian`) the chief of the village's
/// first cell when it is among them — with their 责任书, and a month of patrols before `today`
/// (one grid chief behind).
///
/// # Errors
/// Store failures; a demo map without its grid.
pub fn roster(store: &dyn Store, county: &str, today: Date) -> Result<Roster, LedgerError> {
    use crate::chief::{self, Level, NewChief, NewPatrol, Pledge};
    use geo::Centroid;
    let registry = DivisionRegistry::bundled();
    let code = DivisionCode::parse(county).map_err(schema)?;
    let year_start = Date::new(today.year(), 1, 1).map_err(schema)?;
    let change = Change::new("demo:quju.shenpi", "farmland.chief").at(at(year_start));
    let mut made = Roster::default();
    let surnames = [
        "梁", "陈", "何", "黄", "李", "张", "冯", "罗", "邓", "潘", "关", "麦",
    ];
    let mut next_name = {
        let mut i = 0;
        move || {
            i += 1;
            surnames[i % surnames.len()]
        }
    };
    let mut appoint = |level: Level, area: &str, username: Option<&str>, title: &str| {
        let c = chief::appoint(
            store,
            county,
            &change,
            NewChief {
                name: format!("{}{title}", next_name()),
                level,
                area: area.to_owned(),
                username: username.map(str::to_owned),
                appointed_on: year_start,
            },
        )?;
        made.chiefs += 1;
        if matches!(level, Level::Village | Level::Grid) {
            chief::sign_pledge(
                store,
                &change,
                &c.id,
                Pledge {
                    document: format!("南海耕保责〔{}〕{}号", today.year(), made.chiefs),
                    signed_on: year_start,
                    from: year_start,
                    to: Date::new(today.year(), 12, 31).map_err(schema)?,
                },
            )?;
        }
        Ok::<_, LedgerError>(c)
    };
    appoint(Level::County, county, None, "区长（总田长）")?;
    let towns = registry.children(&code);
    let mut first_village = None;
    for town in &towns {
        appoint(Level::Town, town.code.as_str(), None, "镇街田长")?;
        if let Some(v) = registry.children(&town.code).into_iter().next() {
            let account = first_village.is_none().then_some("cunju.jingban");
            let c = appoint(Level::Village, v.code.as_str(), account, "村田长")?;
            first_village.get_or_insert((v.code.as_str().to_owned(), c));
        }
    }
    let Some((village, village_chief)) = first_village else {
        return Ok(made);
    };
    let grid = store.layer_def(chief::GRID)?;
    let back = Crs::from_epsg(grid.epsg)
        .and_then(|c| Transformer::new(c, Crs::CGCS2000))
        .map_err(schema)?;
    let cells: Vec<(String, [f64; 2])> = store
        .features(chief::GRID, &FeatureQuery::default())?
        .into_iter()
        .filter(|f| f.attributes.get("level").and_then(Value::as_str) == Some("微网格"))
        // Whole cells, so a short walk around the centre stays inside.
        .filter(|f| geo::Area::unsigned_area(&f.geometry) > 62_000.0)
        .filter_map(|f| {
            let code = f.attributes.get("code")?.as_str()?.to_owned();
            let c = f.geometry.centroid()?;
            let (lon, lat) = back.apply(c.x(), c.y()).ok()?;
            code.starts_with(&village).then_some((code, [lon, lat]))
        })
        .take(3)
        .collect();
    let map = MapView::new(store, None);
    let d = 0.0004;
    for (i, (cell, [lon, lat])) in cells.iter().enumerate() {
        // The demo's grid inspector is bound to the village's first cell.
        let account = (*cell == format!("{village}001")).then_some("wangge.xunjian");
        let grid_chief = appoint(Level::Grid, cell, account, "网格田长")?;
        // The first grid chief is behind: one patrol of the two a month asks.
        let times = if i == 0 { 1 } else { 2 };
        for (k, who) in (0..times)
            .map(|k| (k, &grid_chief))
            .chain(std::iter::once((2, &village_chief)))
        {
            let day = today
                .checked_sub(
                    jiff::Span::new().days(3 + 9 * i64::from(k) + i64::try_from(i).unwrap_or(0)),
                )
                .unwrap_or(today);
            let started = at(day);
            let report = NewPatrol {
                cell: cell.clone(),
                started_at: started,
                ended_at: started
                    .checked_add(jiff::SignedDuration::from_mins(50))
                    .unwrap_or(started),
                track: json!({"type": "LineString", "coordinates": [
                    [lon - d, lat - d], [lon - d, lat + d], [lon + d, lat + d], [lon + d, lat - d]]}),
                problem: None,
                note: Some("田块耕种正常，未发现撂荒和违法占用".into()),
            };
            let length = chief::check_patrol(map, who, &report)?;
            let change = Change::new("demo", "farmland.patrol").at(started);
            chief::record(store, &change, who, report, length, None)?;
            made.patrols += 1;
        }
    }
    Ok(made)
}
