//! Compensation projects (补充耕地项目): farmland created by reclamation, quality upgrading or
//! restoration, drawn on the map. Once accepted (验收), a project's new farmland, paddy and the
//! capacity its grade gives enter the county's pool (入库) in the same transaction as the
//! acceptance.

use jiff::Timestamp;
use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_core::msg::Msg;
use tudi_core::text::{self, Lines};
use tudi_core::units::M2_PER_MU;
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::account::Account;
use crate::amount::{Amounts, Centi};
use crate::journal::{Leg, Movement, Reference};
use crate::ledger::{Draft, Ledger, LedgerError};
use crate::occupation::CapacityTable;

/// Where projects are kept.
pub const PROJECTS: &str = "farmland_project";

/// How a project creates farmland.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectKind {
    /// 垦造: new farmland from other land.
    Reclamation,
    /// 提质改造: dry land made paddy, or a grade raised.
    Upgrade,
    /// 恢复: farmland restored (e.g. from orchards or ponds).
    Restoration,
}

impl ProjectKind {
    /// Its Chinese name.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::Reclamation => "垦造",
            Self::Upgrade => "提质改造",
            Self::Restoration => "恢复",
        }
    }
}

/// A project as registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Name.
    pub name: String,
    /// How it creates farmland.
    pub kind: ProjectKind,
    /// The town (9-digit code) it lies in, when one.
    #[serde(default)]
    pub town: Option<String>,
    /// Its area on the map: a GeoJSON Polygon or MultiPolygon in longitude and latitude.
    pub geometry: Value,
    /// New farmland, m² (default: the area drawn).
    #[serde(default)]
    pub new_farmland_m2: Option<Centi>,
    /// New paddy among it, m².
    #[serde(default)]
    pub new_paddy_m2: Centi,
    /// Quality grade after the works.
    pub grade: u8,
    /// For an upgrade (提质改造): the grade before the works; the capacity gained is the
    /// difference of their yields over the area drawn.
    #[serde(default)]
    pub grade_before: Option<u8>,
    /// Years of aftercare (后期管护) after acceptance.
    #[serde(default = "default_aftercare")]
    pub aftercare_years: u8,
}

const fn default_aftercare() -> u8 {
    3
}

/// A project as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Project {
    /// Number, `BC2026-0001`.
    pub id: String,
    /// As registered.
    #[serde(flatten)]
    pub spec: NewProject,
    /// The area drawn, m² (ellipsoidal).
    pub drawn_m2: f64,
    /// What it adds: farmland, paddy and the capacity of its grade.
    pub adds: Amounts,
    /// How capacity was computed.
    pub scheme: String,
    /// 登记 or 已验收入库.
    pub status: String,
    /// The acceptance: date, document and the intake posting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<Acceptance>,
    /// When registered.
    pub registered_at: Timestamp,
    /// By whom.
    pub registered_by: String,
}

/// A project's acceptance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Acceptance {
    /// The day it was accepted.
    pub accepted_on: Date,
    /// The acceptance document's number.
    pub document: String,
    /// Aftercare runs until this day.
    pub aftercare_until: Date,
    /// The 入库 posting.
    pub posting: u64,
}

fn invalid(field: &str, zh: String, en: String) -> LedgerError {
    LedgerError::Invalid {
        field: field.into(),
        msg: Msg::new(zh, en),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Value, LedgerError> {
    serde_json::to_value(value).map_err(|e| LedgerError::Store(StoreError::Schema(e.to_string())))
}

/// A project's account in the ledger.
#[must_use]
pub fn account(id: &str) -> Account {
    Account::Project(id.to_owned())
}

/// Registers a project: its area checked and measured, its capacity computed from its grade.
///
/// # Errors
/// A field wrong (named); store failures.
pub fn register(
    store: &dyn Store,
    change: &Change,
    spec: NewProject,
) -> Result<Project, LedgerError> {
    text::check(&spec.name, 100, Lines::One).map_err(|f| LedgerError::Invalid {
        field: "name".into(),
        msg: f.message("项目名称", "name"),
    })?;
    let (_, drawn) = tudi_geo::io::geojson::lonlat_area(&spec.geometry).map_err(|(zh, en)| {
        invalid(
            "geometry",
            format!("项目范围应为经纬度的 GeoJSON 面：{zh}"),
            format!("the geometry must be a GeoJSON polygon in longitude and latitude: {en}"),
        )
    })?;
    let table = CapacityTable::of(store)?;
    let Some(yield_kg) = table.kg_per_mu.get(&spec.grade).copied() else {
        return Err(invalid(
            "grade",
            format!("等别 {} 不在本区的产能表（{}）中", spec.grade, table.scheme),
            format!(
                "grade {} is not in the district's capacity table",
                spec.grade
            ),
        ));
    };
    let upgrade = spec.kind == ProjectKind::Upgrade;
    if upgrade && spec.new_farmland_m2.is_some_and(|f| f != Centi::ZERO) {
        return Err(invalid(
            "new_farmland_m2",
            "提质改造不新增耕地数量（只增加水田规模和产能）".into(),
            "an upgrade adds no farmland quantity (only paddy and capacity)".into(),
        ));
    }
    if let Some(t) = &spec.town {
        let known = t.len() == 9
            && tudi_core::division::DivisionCode::parse(t)
                .ok()
                .is_some_and(|c| {
                    tudi_core::division::DivisionRegistry::bundled()
                        .get(&c)
                        .is_some()
                });
        if !known {
            return Err(invalid(
                "town",
                format!("“{t}”不是镇街代码"),
                format!("{t:?} is not a town code"),
            ));
        }
    }
    // An upgrade adds paddy and capacity on farmland there already; the others add the farmland
    // drawn unless told otherwise.
    let farmland = spec.new_farmland_m2.unwrap_or_else(|| {
        if upgrade {
            Centi::ZERO
        } else {
            Centi::rounded(drawn)
        }
    });
    // The area drawn bounds what a project can add (1 % for the drawing's precision): a figure
    // beyond it is in the wrong unit or for another area.
    for (field, value, what) in [
        ("new_farmland_m2", farmland, "新增耕地"),
        ("new_paddy_m2", spec.new_paddy_m2, "新增水田"),
    ] {
        if value.is_negative() {
            return Err(invalid(
                field,
                format!("{what}不能为负数"),
                format!("{field} must not be negative"),
            ));
        }
        if value.units() > drawn * 1.01 + 1.0 {
            return Err(invalid(
                field,
                format!(
                    "{what} {value} 平方米大于项目范围面积 {drawn:.2} 平方米：请检查单位（平方米）和范围"
                ),
                format!(
                    "{field} {value} m² exceeds the area drawn ({drawn:.2} m²): check the units (m²)"
                ),
            ));
        }
    }
    if !upgrade && spec.new_paddy_m2 > farmland {
        return Err(invalid(
            "new_paddy_m2",
            format!(
                "新增水田 {} 平方米大于新增耕地 {farmland} 平方米：垦造和恢复的水田是新增耕地的一部分",
                spec.new_paddy_m2
            ),
            "new paddy exceeds new farmland: it is part of it".into(),
        ));
    }
    let capacity_kg = if upgrade {
        let Some(before) = spec.grade_before else {
            return Err(invalid(
                "grade_before",
                "提质改造项目须填写改造前的质量等别".into(),
                "an upgrade needs the grade before the works".into(),
            ));
        };
        let Some(yield_before) = table.kg_per_mu.get(&before).copied() else {
            return Err(invalid(
                "grade_before",
                format!("等别 {before} 不在本区的产能表（{}）中", table.scheme),
                format!("grade {before} is not in the district's capacity table"),
            ));
        };
        if yield_before > yield_kg {
            return Err(invalid(
                "grade",
                format!(
                    "改造后等别 {} 低于改造前 {before}：提质改造须提高质量",
                    spec.grade
                ),
                "an upgrade must raise the grade".into(),
            ));
        }
        Centi::rounded(drawn / M2_PER_MU * (yield_kg - yield_before))
    } else {
        Centi::rounded(farmland.units() / M2_PER_MU * yield_kg)
    };
    let adds = Amounts {
        farmland_m2: farmland,
        paddy_m2: spec.new_paddy_m2,
        capacity_kg,
    };
    if adds.is_zero() {
        return Err(invalid(
            "new_farmland_m2",
            "项目没有新增耕地、水田或产能".into(),
            "the project adds no farmland, paddy or capacity".into(),
        ));
    }
    if spec.aftercare_years == 0 || spec.aftercare_years > 10 {
        return Err(invalid(
            "aftercare_years",
            "后期管护年限应为 1—10 年".into(),
            "aftercare lasts 1 to 10 years".into(),
        ));
    }
    let year = change
        .at
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .year();
    let mut made = None;
    store.write_numbered(change, &format!("farmland-project:{year}"), &mut |n| {
        let project = Project {
            id: format!("BC{year}-{n:04}"),
            spec: spec.clone(),
            drawn_m2: (drawn * 100.0).round() / 100.0,
            adds,
            scheme: table.scheme.clone(),
            status: "登记".into(),
            acceptance: None,
            registered_at: change.at,
            registered_by: change.actor.clone(),
        };
        let body = serde_json::to_value(&project).map_err(|e| StoreError::Schema(e.to_string()))?;
        made = Some(project.clone());
        Ok(vec![RecordWrite {
            collection: PROJECTS.into(),
            id: project.id.clone(),
            expect: Expect::Absent,
            body: Some(body),
            keys: vec![("status".into(), "registered".into())],
            detail: Some(json!({"kind": project.spec.kind})),
        }])
    })?;
    made.ok_or_else(|| LedgerError::Store(StoreError::Schema("no project was made".into())))
}

/// One project.
///
/// # Errors
/// [`LedgerError::NotFound`]; store failures.
pub fn read(store: &dyn Store, id: &str) -> Result<(Project, u64), LedgerError> {
    let r = store.record(PROJECTS, id)?.ok_or_else(|| {
        LedgerError::NotFound(Msg::new(
            format!("没有编号为 {id} 的补充耕地项目"),
            format!("no compensation project {id}"),
        ))
    })?;
    let p = serde_json::from_value(r.body)
        .map_err(|e| LedgerError::Store(StoreError::Schema(e.to_string())))?;
    Ok((p, r.version))
}

/// Projects, oldest first, with how many there are.
///
/// # Errors
/// Store failures.
pub fn list(
    store: &dyn Store,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Project>, u64), LedgerError> {
    let page = store.find_records(
        PROJECTS,
        &RecordQuery {
            key: None,
            limit: Some(limit),
            offset,
            descending: false,
        },
    )?;
    let projects = page
        .records
        .into_iter()
        .map(|r| {
            serde_json::from_value(r.body)
                .map_err(|e| LedgerError::Store(StoreError::Schema(e.to_string())))
        })
        .collect::<Result<Vec<Project>, _>>()?;
    Ok((projects, page.total))
}

/// Accepts a project and takes what it adds into the pool (入库), in one transaction.
///
/// # Errors
/// Not found, accepted before, a date in the future, a document missing; store failures.
pub fn accept(
    ledger: &Ledger<'_>,
    change: &Change,
    id: &str,
    accepted_on: Date,
    document: &str,
) -> Result<Project, LedgerError> {
    let document = text::check(document, 80, Lines::One).map_err(|f| LedgerError::Invalid {
        field: "document".into(),
        msg: f.message("验收文号", "document"),
    })?;
    let today = change
        .at
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date();
    if accepted_on > today {
        return Err(invalid(
            "accepted_on",
            format!("验收日期 {accepted_on} 晚于今天"),
            format!("the acceptance date {accepted_on} is in the future"),
        ));
    }
    for _ in 0..8 {
        let (mut project, version) = read(ledger.store, id)?;
        if let Some(a) = &project.acceptance {
            return Err(LedgerError::Refused(Msg::new(
                format!(
                    "项目 {id} 已于 {} 验收入库（第 {} 号记账）",
                    a.accepted_on, a.posting
                ),
                format!(
                    "project {id} was accepted on {} (posting {})",
                    a.accepted_on, a.posting
                ),
            )));
        }
        let draft = Draft {
            movement: Movement::Intake,
            summary: format!(
                "补充耕地项目 {id}（{}，{}）验收入库",
                project.spec.name,
                project.spec.kind.name_zh()
            ),
            reason: None,
            reference: Some(Reference {
                kind: "project".into(),
                id: id.to_owned(),
            }),
            legs: vec![
                Leg {
                    account: account(id),
                    amounts: -project.adds,
                },
                Leg {
                    account: ledger.pool(),
                    amounts: project.adds,
                },
            ],
            reverses: None,
            detail: json!({"grade": project.spec.grade, "document": document, "accepted_on": accepted_on}),
            request: Some(format!("intake:project:{id}")),
        };
        let prepared = ledger.prepare(draft, &change.actor, change.at)?;
        let aftercare_until = accepted_on
            .checked_add(jiff::Span::new().years(i64::from(project.spec.aftercare_years)))
            .unwrap_or(accepted_on);
        project.acceptance = Some(Acceptance {
            accepted_on,
            document: document.to_owned(),
            aftercare_until,
            posting: prepared.posting.no,
        });
        project.status = "已验收入库".into();
        let mut writes = prepared.writes;
        writes.push(RecordWrite {
            collection: PROJECTS.into(),
            id: id.to_owned(),
            expect: Expect::Version(version),
            body: Some(encode(&project)?),
            keys: vec![("status".into(), "accepted".into())],
            detail: Some(json!({"posting": prepared.posting.no})),
        });
        match ledger.store.write_records(change, &writes) {
            Ok(_) => return Ok(project),
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(LedgerError::Busy(Msg::new(
        "同时记账的人太多，请稍后重试",
        "others kept posting first; try again",
    )))
}
