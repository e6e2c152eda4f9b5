//! 田长制: the field chiefs of a district — 县区、镇街、村居 and 网格田长, the levels a district
//! keeps of Guangdong's "5+1" (省、市、县、镇、村 plus 网格田长, complete since March 2024) — each
//! bound to an area of the one map's grid, responsible for the farmland patches in its cells,
//! with the 耕地保护责任书 signed for a period; and their patrols (巡田): the track walked, what was
//! found, a problem turned into a work order. A duty rule (so many patrols per cell a month, by
//! level) gives each chief's 巡田率; a chief behind at the month's end is flagged to the chief
//! one level up.

use std::collections::BTreeMap;

use geo::Contains;
use geo_types::{Geometry, Point};
use jiff::Timestamp;
use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_core::msg::Msg;
use tudi_core::text::{self, Lines};
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::snapshot::MapView;
use tudi_store::{Change, Expect, FeatureQuery, RecordQuery, RecordWrite, Store, StoreError};

use crate::ledger::LedgerError;

/// Where chiefs are kept.
pub const CHIEFS: &str = "farmland_chief";
/// Where patrols are kept.
pub const PATROLS: &str = "farmland_patrol";
/// The setting holding the [`PatrolRule`].
pub const RULE_SETTING: &str = "farmland.patrol_rule";
/// The grid layer.
pub const GRID: &str = "grid";

/// A chief's level.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 县区田长: the district (6 digits).
    County,
    /// 镇街田长: a town (9 digits).
    Town,
    /// 村居田长: a village (12 digits).
    Village,
    /// 网格田长: a grid cell (15 digits).
    Grid,
}

impl Level {
    /// Its Chinese name.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::County => "县区田长",
            Self::Town => "镇街田长",
            Self::Village => "村居田长",
            Self::Grid => "网格田长",
        }
    }

    const fn code_len(self) -> usize {
        match self {
            Self::County => 6,
            Self::Town => 9,
            Self::Village => 12,
            Self::Grid => 15,
        }
    }

    const fn above(self) -> Option<Self> {
        match self {
            Self::County => None,
            Self::Town => Some(Self::County),
            Self::Village => Some(Self::Town),
            Self::Grid => Some(Self::Village),
        }
    }
}

/// A chief as appointed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChief {
    /// Name.
    pub name: String,
    /// Level.
    pub level: Level,
    /// The area: the district, a town, a village or a grid cell, by its code.
    pub area: String,
    /// The account that records the chief's patrols.
    #[serde(default)]
    pub username: Option<String>,
    /// Appointed on.
    pub appointed_on: Date,
}

/// The 耕地保护责任书 a chief signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pledge {
    /// Its number.
    pub document: String,
    /// Signed on.
    pub signed_on: Date,
    /// The period it covers, from.
    pub from: Date,
    /// To.
    pub to: Date,
}

/// A chief as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Chief {
    /// Number, `TZ00001`.
    pub id: String,
    /// As appointed.
    #[serde(flatten)]
    pub spec: NewChief,
    /// The area's name.
    pub area_name: String,
    /// The 责任书, once signed.
    #[serde(default)]
    pub pledge: Option<Pledge>,
}

/// How often each cell must be patrolled a month, by level (a village chief patrols each of
/// the village's cells, a grid chief their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatrolRule {
    /// Patrols per cell a month of a village chief.
    pub village_per_cell: u32,
    /// Patrols per cell a month of a grid chief.
    pub grid_per_cell: u32,
}

impl Default for PatrolRule {
    /// One per cell a month for village chiefs, two for grid chiefs: a default a district sets
    /// to its own rule (no published Guangdong figure was found).
    fn default() -> Self {
        Self {
            village_per_cell: 1,
            grid_per_cell: 2,
        }
    }
}

fn invalid(field: &str, zh: String, en: String) -> LedgerError {
    LedgerError::Invalid {
        field: field.into(),
        msg: Msg::new(zh, en),
    }
}

fn schema(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Store(StoreError::Schema(e.to_string()))
}

/// The grid's features of `level` (`区`, `镇街`, `村居`, `微网格`) whose code starts with
/// `prefix`: (code, name, geometry in the layer's CRS).
fn grid_areas(
    store: &dyn Store,
    level: &str,
    prefix: &str,
) -> Result<Vec<(String, String, Geometry<f64>)>, LedgerError> {
    let mut out: Vec<(String, String, Geometry<f64>)> = store
        .features(GRID, &FeatureQuery::default())?
        .into_iter()
        .filter(|f| f.attributes.get("level").and_then(Value::as_str) == Some(level))
        .filter_map(|f| {
            let code = f.attributes.get("code").and_then(Value::as_str)?.to_owned();
            let name = f
                .attributes
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            code.starts_with(prefix).then_some((code, name, f.geometry))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

const fn grid_level(level: Level) -> &'static str {
    match level {
        Level::County => "区",
        Level::Town => "镇街",
        Level::Village => "村居",
        Level::Grid => "微网格",
    }
}

/// Appoints a chief: the area must be a grid area of the chief's level in the district.
///
/// # Errors
/// A field wrong (named); store failures.
pub fn appoint(
    store: &dyn Store,
    county: &str,
    change: &Change,
    spec: NewChief,
) -> Result<Chief, LedgerError> {
    text::check(&spec.name, 40, Lines::One).map_err(|f| LedgerError::Invalid {
        field: "name".into(),
        msg: f.message("姓名", "name"),
    })?;
    if spec.area.len() != spec.level.code_len() || !spec.area.starts_with(county) {
        return Err(invalid(
            "area",
            format!(
                "{}的责任区应为本区的 {} 位代码，收到“{}”",
                spec.level.name_zh(),
                spec.level.code_len(),
                spec.area
            ),
            format!(
                "a {:?} chief's area is a {}-digit code of the district, got {:?}",
                spec.level,
                spec.level.code_len(),
                spec.area
            ),
        ));
    }
    let found = grid_areas(store, grid_level(spec.level), &spec.area)?
        .into_iter()
        .find(|(code, _, _)| *code == spec.area);
    let Some((_, area_name, _)) = found else {
        return Err(invalid(
            "area",
            format!("一张图的网格中没有“{}”", spec.area),
            format!("the grid has no {:?}", spec.area),
        ));
    };
    if let Some(u) = &spec.username {
        text::check(u, 64, Lines::One).map_err(|f| LedgerError::Invalid {
            field: "username".into(),
            msg: f.message("账户", "username"),
        })?;
    }
    let mut made = None;
    store.write_numbered(change, "farmland-chief", &mut |n| {
        let chief = Chief {
            id: format!("TZ{n:05}"),
            spec: spec.clone(),
            area_name: area_name.clone(),
            pledge: None,
        };
        let keys = chief_keys(&chief);
        let body = serde_json::to_value(&chief).map_err(|e| StoreError::Schema(e.to_string()))?;
        made = Some(chief.clone());
        Ok(vec![RecordWrite {
            collection: CHIEFS.into(),
            id: chief.id.clone(),
            expect: Expect::Absent,
            body: Some(body),
            keys,
            detail: Some(json!({"level": chief.spec.level})),
        }])
    })?;
    made.ok_or_else(|| schema("no chief was made"))
}

/// What a chief is found by: its area, level and account.
fn chief_keys(chief: &Chief) -> Vec<(String, String)> {
    let mut keys = vec![
        ("area".to_owned(), chief.spec.area.clone()),
        ("level".to_owned(), format!("{:?}", chief.spec.level)),
    ];
    if let Some(u) = &chief.spec.username {
        keys.push(("username".into(), u.clone()));
    }
    keys
}

/// One chief and its record's version.
///
/// # Errors
/// [`LedgerError::NotFound`]; store failures.
pub fn read(store: &dyn Store, id: &str) -> Result<(Chief, u64), LedgerError> {
    let r = store.record(CHIEFS, id)?.ok_or_else(|| {
        LedgerError::NotFound(Msg::new(
            format!("没有编号为 {id} 的田长"),
            format!("no field chief {id}"),
        ))
    })?;
    Ok((serde_json::from_value(r.body).map_err(schema)?, r.version))
}

/// Every chief, by number.
///
/// # Errors
/// Store failures.
pub fn all(store: &dyn Store) -> Result<Vec<Chief>, LedgerError> {
    store
        .find_records(CHIEFS, &RecordQuery::default())?
        .records
        .into_iter()
        .map(|r| serde_json::from_value(r.body).map_err(schema))
        .collect()
}

/// Records the 责任书 a chief signed.
///
/// # Errors
/// A period that ends before it starts; not found; store failures.
pub fn sign_pledge(
    store: &dyn Store,
    change: &Change,
    id: &str,
    pledge: Pledge,
) -> Result<Chief, LedgerError> {
    text::check(&pledge.document, 80, Lines::One).map_err(|f| LedgerError::Invalid {
        field: "document".into(),
        msg: f.message("责任书编号", "document"),
    })?;
    if pledge.to < pledge.from {
        return Err(invalid(
            "to",
            format!("责任期止 {} 早于起 {}", pledge.to, pledge.from),
            "the period ends before it starts".into(),
        ));
    }
    let (mut chief, version) = read(store, id)?;
    chief.pledge = Some(pledge);
    store.write_records(
        change,
        &[RecordWrite {
            collection: CHIEFS.into(),
            id: id.to_owned(),
            expect: Expect::Version(version),
            body: Some(serde_json::to_value(&chief).map_err(schema)?),
            keys: chief_keys(&chief),
            detail: Some(json!({"pledge": true})),
        }],
    )?;
    Ok(chief)
}

/// The chief one level up whose area holds `chief`'s, if one is appointed.
#[must_use]
pub fn superior<'c>(chiefs: &'c [Chief], chief: &Chief) -> Option<&'c Chief> {
    let mut level = chief.spec.level.above();
    while let Some(l) = level {
        if let Some(s) = chiefs
            .iter()
            .find(|c| c.spec.level == l && chief.spec.area.starts_with(&c.spec.area))
        {
            return Some(s);
        }
        level = l.above();
    }
    None
}

/// A chief's responsibility: the grid cells of its area and the farmland patches in each.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Responsibility {
    /// The cells.
    pub cells: Vec<Cell>,
    /// Farmland in all of them, 亩.
    pub farmland_mu: f64,
}

/// One cell and its farmland.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Cell {
    /// The cell's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The farmland patches (their codes) and the area of each in the cell, m².
    pub patches: Vec<(String, f64)>,
    /// Farmland in the cell, m².
    pub farmland_m2: f64,
}

/// The cells of a chief's area and the 耕地 patches in each (责任地块).
///
/// # Errors
/// Store failures; a grid in a CRS that cannot be used.
pub fn responsibility(map: MapView<'_>, chief: &Chief) -> Result<Responsibility, LedgerError> {
    let store = map.store();
    let crs = Crs::from_epsg(store.layer_def(GRID)?.epsg).map_err(schema)?;
    let mut cells = Vec::new();
    for (code, name, geometry) in grid_areas(store, "微网格", &chief.spec.area)? {
        let layers = tudi_onemap::compliance::overlaps(
            map,
            &geometry,
            crs,
            tudi_core::layer::LayerKind::LandSurvey,
            Some(crate::occupation::FARMLAND_PREFIX),
            &tudi_onemap::compliance::Stop::after(std::time::Duration::from_secs(20)),
        )
        .map_err(|e| schema(tudi_core::msg::Bilingual::msg(&e).en))?
        .unwrap_or_default();
        let patches: Vec<(String, f64)> = layers
            .iter()
            .flat_map(|l| l.features.iter())
            .map(|h| {
                (
                    h.code.clone().unwrap_or_default(),
                    (h.area_m2 * 100.0).round() / 100.0,
                )
            })
            .collect();
        let farmland_m2 = patches.iter().map(|p| p.1).sum();
        cells.push(Cell {
            code,
            name,
            patches,
            farmland_m2,
        });
    }
    let total: f64 = cells.iter().map(|c| c.farmland_m2).sum();
    Ok(Responsibility {
        farmland_mu: (total / tudi_core::units::M2_PER_MU * 100.0).round() / 100.0,
        cells,
    })
}

/// What a patrol found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// What is on the ground.
    pub description: String,
    /// Where: longitude, latitude.
    pub location: [f64; 2],
}

/// A patrol as reported from the phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatrol {
    /// The cell patrolled.
    pub cell: String,
    /// Started.
    pub started_at: Timestamp,
    /// Ended.
    pub ended_at: Timestamp,
    /// The track: a GeoJSON LineString in longitude/latitude.
    pub track: Value,
    /// A problem found, if any: it becomes a work order (违法占用耕地).
    #[serde(default)]
    pub problem: Option<Finding>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A patrol as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Patrol {
    /// Number, `XT2026-000001`.
    pub id: String,
    /// The chief.
    pub chief: String,
    /// As reported.
    #[serde(flatten)]
    pub report: NewPatrol,
    /// The track's length, m.
    pub length_m: f64,
    /// The work order the problem became.
    #[serde(default)]
    pub order: Option<String>,
}

/// The cell a patrol is for must be one of the chief's, and its track must run there: at least
/// half of its points in the cell. Returns the track's length in metres.
///
/// # Errors
/// The field at fault, named.
pub fn check_patrol(
    map: MapView<'_>,
    chief: &Chief,
    patrol: &NewPatrol,
) -> Result<f64, LedgerError> {
    if !matches!(chief.spec.level, Level::Village | Level::Grid) {
        return Err(invalid(
            "cell",
            format!(
                "{}不直接巡田：巡田由村居和网格田长记录",
                chief.spec.level.name_zh()
            ),
            "patrols are recorded by village and grid chiefs".into(),
        ));
    }
    if patrol.cell.len() != 15 || !patrol.cell.starts_with(&chief.spec.area) {
        return Err(invalid(
            "cell",
            format!(
                "网格“{}”不在田长 {} 的责任区（{}）内",
                patrol.cell, chief.spec.name, chief.area_name
            ),
            format!("cell {:?} is outside the chief's area", patrol.cell),
        ));
    }
    if patrol.ended_at <= patrol.started_at
        || patrol.ended_at.duration_since(patrol.started_at).as_hours() > 12
    {
        return Err(invalid(
            "ended_at",
            "巡田结束时间应晚于开始时间，且一次不超过 12 小时".into(),
            "a patrol ends after it starts and lasts at most 12 hours".into(),
        ));
    }
    if let Some(note) = &patrol.note {
        text::check_optional(note, 500, Lines::Many).map_err(|f| LedgerError::Invalid {
            field: "note".into(),
            msg: f.message("备注", "note"),
        })?;
    }
    if let Some(p) = &patrol.problem {
        text::check(&p.description, 500, Lines::Many).map_err(|f| LedgerError::Invalid {
            field: "problem.description".into(),
            msg: f.message("问题描述", "description"),
        })?;
    }
    let track = tudi_geo::io::geojson::parse_geometry(&patrol.track.to_string()).map_err(|e| {
        invalid(
            "track",
            format!("轨迹应为经纬度的 GeoJSON 线：{e}"),
            format!("the track must be a GeoJSON LineString: {e}"),
        )
    })?;
    let Geometry::LineString(line) = &track else {
        return Err(invalid(
            "track",
            "轨迹应为 LineString".into(),
            "the track must be a LineString".into(),
        ));
    };
    if line.0.len() < 2 || line.0.len() > 20_000 {
        return Err(invalid(
            "track",
            format!("轨迹应有 2—20000 个点，收到 {} 个", line.0.len()),
            format!("a track has 2 to 20,000 points, got {}", line.0.len()),
        ));
    }
    let store = map.store();
    let epsg = store.layer_def(GRID)?.epsg;
    let to = Crs::from_epsg(epsg)
        .and_then(|c| Transformer::new(Crs::CGCS2000, c))
        .map_err(schema)?;
    let cell = grid_areas(store, "微网格", &patrol.cell)?
        .into_iter()
        .find(|(code, _, _)| *code == patrol.cell)
        .ok_or_else(|| {
            invalid(
                "cell",
                format!("一张图的网格中没有“{}”", patrol.cell),
                format!("the grid has no cell {:?}", patrol.cell),
            )
        })?
        .2;
    let mut projected = Vec::with_capacity(line.0.len());
    for c in &line.0 {
        let (x, y) = to.apply(c.x, c.y).map_err(|_| {
            invalid(
                "track",
                format!("轨迹点 ({}, {}) 不是有效的经纬度", c.x, c.y),
                format!(
                    "track point ({}, {}) is not a valid longitude/latitude",
                    c.x, c.y
                ),
            )
        })?;
        projected.push(Point::new(x, y));
    }
    let inside = projected.iter().filter(|p| cell.contains(*p)).count();
    if inside * 2 < projected.len() {
        return Err(invalid(
            "track",
            format!(
                "轨迹只有 {inside}/{} 个点在网格 {} 内：巡田轨迹应主要在所报网格内",
                projected.len(),
                patrol.cell
            ),
            format!(
                "only {inside} of {} track points lie in the cell",
                projected.len()
            ),
        ));
    }
    Ok(projected
        .windows(2)
        .map(|w| ((w[1].x() - w[0].x()).powi(2) + (w[1].y() - w[0].y()).powi(2)).sqrt())
        .sum())
}

/// The chief whose patrols `username` records, for `cell` (a person may be chief of several).
///
/// # Errors
/// Not a chief, or not of that cell; store failures.
pub fn chief_of(store: &dyn Store, username: &str, cell: &str) -> Result<Chief, LedgerError> {
    let mine: Vec<Chief> = store
        .find_records(
            CHIEFS,
            &RecordQuery {
                key: Some(("username".into(), username.to_owned())),
                ..RecordQuery::default()
            },
        )?
        .records
        .into_iter()
        .map(|r| serde_json::from_value(r.body).map_err(schema))
        .collect::<Result<_, _>>()?;
    if mine.is_empty() {
        return Err(LedgerError::Refused(Msg::new(
            "您不是田长，不能记录巡田",
            "you are not a field chief: patrols are recorded by chiefs",
        )));
    }
    mine.iter()
        .filter(|c| cell.starts_with(&c.spec.area))
        .max_by_key(|c| c.spec.level)
        .cloned()
        .ok_or_else(|| {
            invalid(
                "cell",
                format!("网格“{cell}”不在您的责任区内"),
                format!("cell {cell:?} is outside your area"),
            )
        })
}

/// Records a patrol (the order its problem became, if any, already opened).
///
/// # Errors
/// Store failures.
pub fn record(
    store: &dyn Store,
    change: &Change,
    chief: &Chief,
    report: NewPatrol,
    length_m: f64,
    order: Option<String>,
) -> Result<Patrol, LedgerError> {
    let year = report
        .started_at
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .year();
    let mut made = None;
    store.write_numbered(change, &format!("farmland-patrol:{year}"), &mut |n| {
        let patrol = Patrol {
            id: format!("XT{year}-{n:06}"),
            chief: chief.id.clone(),
            report: report.clone(),
            length_m: (length_m * 10.0).round() / 10.0,
            order: order.clone(),
        };
        let month = report
            .started_at
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .strftime("%Y-%m")
            .to_string();
        let mut keys = vec![
            ("chief".to_owned(), patrol.chief.clone()),
            ("month".to_owned(), month),
            ("cell".to_owned(), report.cell.clone()),
        ];
        if let Some(o) = &order {
            keys.push(("order".into(), o.clone()));
        }
        let body = serde_json::to_value(&patrol).map_err(|e| StoreError::Schema(e.to_string()))?;
        made = Some(patrol.clone());
        Ok(vec![RecordWrite {
            collection: PATROLS.into(),
            id: patrol.id.clone(),
            expect: Expect::Absent,
            body: Some(body),
            keys,
            detail: Some(json!({"chief": patrol.chief, "problem": order.is_some()})),
        }])
    })?;
    made.ok_or_else(|| schema("no patrol was made"))
}

/// Patrols of a month (`2026-11`), or those that became `order`.
///
/// # Errors
/// Store failures.
pub fn patrols(store: &dyn Store, key: (&str, &str)) -> Result<Vec<Patrol>, LedgerError> {
    store
        .find_records(
            PATROLS,
            &RecordQuery {
                key: Some((key.0.to_owned(), key.1.to_owned())),
                ..RecordQuery::default()
            },
        )?
        .records
        .into_iter()
        .map(|r| serde_json::from_value(r.body).map_err(schema))
        .collect()
}

/// The district's patrol rule.
///
/// # Errors
/// Store failures.
pub fn rule(store: &dyn Store) -> Result<PatrolRule, LedgerError> {
    match store.meta(RULE_SETTING)? {
        Some(t) => serde_json::from_str(&t).map_err(schema),
        None => Ok(PatrolRule::default()),
    }
}

/// Sets the patrol rule.
///
/// # Errors
/// More than 31 a month; store failures.
pub fn set_rule(store: &dyn Store, change: &Change, rule: &PatrolRule) -> Result<(), LedgerError> {
    if rule.village_per_cell > 31 || rule.grid_per_cell > 31 {
        return Err(invalid(
            "village_per_cell",
            "每格每月巡田次数应为 0—31".into(),
            "patrols per cell a month are 0 to 31".into(),
        ));
    }
    store.set_meta(
        RULE_SETTING,
        &serde_json::to_string(rule).map_err(schema)?,
        change,
    )?;
    Ok(())
}

/// One chief's month.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChiefMonth {
    /// The chief.
    pub chief: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: Level,
    /// Area and its name.
    pub area: String,
    /// The area's name.
    pub area_name: String,
    /// Cells in the area.
    pub cells: usize,
    /// Patrols the rule asks for.
    pub required: u32,
    /// Patrols made (each cell counted up to the rule).
    pub made: u32,
    /// 巡田率 (made / required; none when nothing is required).
    pub rate: Option<f64>,
    /// Problems found.
    pub problems: usize,
    /// Behind at the month's end (or as of now).
    pub behind: bool,
    /// The chief one level up, to whom a chief behind is flagged.
    pub superior: Option<String>,
}

/// The month's patrol figures by chief: cells, patrols required and made (each cell counted up
/// to the rule), 巡田率, problems found, and who is behind — flagged to the chief above.
///
/// # Errors
/// Store failures.
pub fn month_report(store: &dyn Store, month: &str) -> Result<Vec<ChiefMonth>, LedgerError> {
    let ok = month.len() == 7
        && month.as_bytes()[4] == b'-'
        && format!("{month}-01").parse::<Date>().is_ok();
    if !ok {
        return Err(invalid(
            "month",
            format!("月份应为 YYYY-MM，收到“{month}”"),
            format!("a month is YYYY-MM, got {month:?}"),
        ));
    }
    let rule = rule(store)?;
    let chiefs = all(store)?;
    let made = patrols(store, ("month", month))?;
    let cells_by_prefix = grid_areas(store, "微网格", "")?;
    let mut by_chief: BTreeMap<&str, Vec<&Patrol>> = BTreeMap::new();
    for p in &made {
        by_chief.entry(p.chief.as_str()).or_default().push(p);
    }
    let mut out = Vec::new();
    for c in &chiefs {
        let per_cell = match c.spec.level {
            Level::Village => rule.village_per_cell,
            Level::Grid => rule.grid_per_cell,
            Level::County | Level::Town => 0,
        };
        let cells: Vec<&str> = cells_by_prefix
            .iter()
            .filter(|(code, _, _)| code.starts_with(&c.spec.area))
            .map(|(code, _, _)| code.as_str())
            .collect();
        let mine = by_chief.get(c.id.as_str()).cloned().unwrap_or_default();
        let mut per: BTreeMap<&str, u32> = BTreeMap::new();
        for p in &mine {
            *per.entry(p.report.cell.as_str()).or_default() += 1;
        }
        let required = per_cell.saturating_mul(u32::try_from(cells.len()).unwrap_or(u32::MAX));
        let done: u32 = cells
            .iter()
            .map(|cell| per.get(cell).copied().unwrap_or(0).min(per_cell))
            .sum();
        out.push(ChiefMonth {
            chief: c.id.clone(),
            name: c.spec.name.clone(),
            level: c.spec.level,
            area: c.spec.area.clone(),
            area_name: c.area_name.clone(),
            cells: cells.len(),
            required,
            made: done,
            rate: (required > 0)
                .then(|| (f64::from(done) / f64::from(required) * 1000.0).round() / 1000.0),
            problems: mine.iter().filter(|p| p.order.is_some()).count(),
            behind: done < required,
            superior: superior(&chiefs, c).map(|s| format!("{}（{}）", s.spec.name, s.id)),
        });
    }
    Ok(out)
}
