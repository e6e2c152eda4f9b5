//! 耕地进出平衡 (自然资发〔2021〕166号): farmland a town turns into forest, grass, orchard or other
//! agricultural land is booked out; farmland restored from such land is booked in; what remains
//! is owed by the town until restored or covered from the county's pool (since the 2024 reform
//! every kind of occupation is under one balance). The county's yearly plan sets what each town
//! expects to book out and in; the report shows plan, out, in, covered and what is still owed,
//! by town, for a year.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_core::msg::Msg;
use tudi_store::{Change, Store, StoreError};

use crate::account::Account;
use crate::amount::{Amounts, Shown};
use crate::ledger::{JournalQuery, Ledger, LedgerError};

/// The setting prefix of a year's plan (`farmland.inout_plan.2026`).
pub const PLAN_SETTING: &str = "farmland.inout_plan";

/// What a town expects to book out and in during a year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TownPlan {
    /// The town (9 digits).
    pub town: String,
    /// Farmland expected to turn into other agricultural land.
    #[serde(default)]
    pub planned_out: Amounts,
    /// Farmland expected to be restored.
    #[serde(default)]
    pub planned_in: Amounts,
}

/// A county's yearly 进出平衡 plan (年度进出平衡总体方案).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The year.
    pub year: i16,
    /// The plan's document number.
    #[serde(default)]
    pub document: String,
    /// By town.
    pub towns: Vec<TownPlan>,
}

/// One town's year.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TownYear {
    /// The town.
    pub town: String,
    /// Its name.
    pub name: String,
    /// Planned out and in.
    pub planned_out: Amounts,
    /// Planned in.
    pub planned_in: Amounts,
    /// Booked out during the year.
    pub out: Amounts,
    /// Restored during the year.
    pub restored: Amounts,
    /// Covered from the county's pool during the year.
    pub covered: Amounts,
    /// Still owed at the year's end (all years so far).
    pub owed: Amounts,
}

/// The year's report.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Report {
    /// The year.
    pub year: i16,
    /// The plan's document, if a plan is set.
    pub plan_document: Option<String>,
    /// By town.
    pub towns: Vec<TownYear>,
    /// The county's totals.
    pub total: TownYear,
}

fn shanghai() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::fixed(jiff::tz::offset(8))
}

fn year_of(at: Timestamp) -> i16 {
    at.to_zoned(shanghai()).year()
}

/// The district's towns (9-digit codes) with their names.
fn towns(county: &str) -> Vec<(String, String)> {
    let registry = DivisionRegistry::bundled();
    DivisionCode::parse(county)
        .map(|c| {
            registry
                .children(&c)
                .into_iter()
                .map(|d| (d.code.as_str().to_owned(), d.name.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets a year's plan.
///
/// # Errors
/// A town not of the county or a negative amount (named by its place); store failures.
pub fn set_plan(ledger: &Ledger<'_>, change: &Change, plan: &Plan) -> Result<(), LedgerError> {
    if !(2000..=2100).contains(&plan.year) {
        return Err(LedgerError::Invalid {
            field: "year".into(),
            msg: Msg::new("年份应在 2000—2100 之间", "the year must be 2000–2100"),
        });
    }
    tudi_core::text::check_optional(&plan.document, 80, tudi_core::text::Lines::One).map_err(
        |f| LedgerError::Invalid {
            field: "document".into(),
            msg: f.message("方案文号", "document"),
        },
    )?;
    let known: BTreeMap<String, String> = towns(ledger.county).into_iter().collect();
    let mut seen = std::collections::BTreeSet::new();
    for (i, t) in plan.towns.iter().enumerate() {
        if !known.contains_key(&t.town) || !seen.insert(&t.town) {
            return Err(LedgerError::Invalid {
                field: format!("towns[{i}].town"),
                msg: Msg::new(
                    format!("“{}”不是本区的镇街，或在计划中重复", t.town),
                    format!(
                        "{:?} is not a town of the district, or is listed twice",
                        t.town
                    ),
                ),
            });
        }
        for (field, a) in [
            ("planned_out", &t.planned_out),
            ("planned_in", &t.planned_in),
        ] {
            if let Some(m) = a.problem() {
                return Err(LedgerError::Invalid {
                    field: format!("towns[{i}].{field}"),
                    msg: m,
                });
            }
        }
    }
    let text = serde_json::to_string(plan).map_err(|e| StoreError::Schema(e.to_string()))?;
    ledger
        .store
        .set_meta(&format!("{PLAN_SETTING}.{}", plan.year), &text, change)?;
    Ok(())
}

/// A year's plan, if set.
///
/// # Errors
/// Store failures.
pub fn plan(store: &dyn Store, year: i16) -> Result<Option<Plan>, LedgerError> {
    store
        .meta(&format!("{PLAN_SETTING}.{year}"))?
        .map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Schema(e.to_string()).into()))
        .transpose()
}

/// The year's report: by town, what was planned, booked out, restored, covered from the pool,
/// and what is still owed at the year's end. Reversals count against what they reverse.
///
/// # Errors
/// Store failures.
pub fn report(ledger: &Ledger<'_>, year: i16) -> Result<Report, LedgerError> {
    let plan = plan(ledger.store, year)?;
    let planned: BTreeMap<&str, &TownPlan> = plan
        .as_ref()
        .map(|p| p.towns.iter().map(|t| (t.town.as_str(), t)).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (town, name) in towns(ledger.county) {
        let mut row = TownYear {
            planned_out: planned
                .get(town.as_str())
                .map(|p| p.planned_out)
                .unwrap_or_default(),
            planned_in: planned
                .get(town.as_str())
                .map(|p| p.planned_in)
                .unwrap_or_default(),
            town: town.clone(),
            name,
            out: Amounts::ZERO,
            restored: Amounts::ZERO,
            covered: Amounts::ZERO,
            owed: Amounts::ZERO,
        };
        let owed = Account::Owed(town.clone());
        let (postings, _) = ledger.journal(&JournalQuery {
            account: Some(owed.clone()),
            limit: u64::MAX,
            ..JournalQuery::default()
        })?;
        for p in postings {
            let y = year_of(p.at);
            if y > year {
                continue;
            }
            if let Some(leg) = p.legs.iter().find(|l| l.account == owed) {
                row.owed += -leg.amounts;
            }
            if y < year {
                continue;
            }
            for leg in &p.legs {
                match &leg.account {
                    Account::Converted(_) => row.out += leg.amounts,
                    Account::Restored(_) => row.restored += -leg.amounts,
                    Account::Pool(_) => row.covered += -leg.amounts,
                    _ => {}
                }
            }
        }
        rows.push(row);
    }
    let total = rows.iter().fold(
        TownYear {
            town: ledger.county.to_owned(),
            name: "合计".into(),
            planned_out: Amounts::ZERO,
            planned_in: Amounts::ZERO,
            out: Amounts::ZERO,
            restored: Amounts::ZERO,
            covered: Amounts::ZERO,
            owed: Amounts::ZERO,
        },
        |mut t, r| {
            t.planned_out += r.planned_out;
            t.planned_in += r.planned_in;
            t.out += r.out;
            t.restored += r.restored;
            t.covered += r.covered;
            t.owed += r.owed;
            t
        },
    );
    Ok(Report {
        year,
        plan_document: plan.map(|p| p.document),
        towns: rows,
        total,
    })
}

/// One town's year as people read it: every amount also in 亩 and 公顷.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TownYearShown {
    /// The town (the county for the total).
    pub town: String,
    /// Its name.
    pub name: String,
    /// Planned out.
    pub planned_out: Shown,
    /// Planned in.
    pub planned_in: Shown,
    /// Booked out during the year.
    pub out: Shown,
    /// Restored during the year.
    pub restored: Shown,
    /// Covered from the county's pool during the year.
    pub covered: Shown,
    /// Still owed at the year's end.
    pub owed: Shown,
}

/// The year's report as people read it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ReportShown {
    /// The year.
    pub year: i16,
    /// The plan's document, if a plan is set.
    pub plan_document: Option<String>,
    /// By town.
    pub towns: Vec<TownYearShown>,
    /// The county's totals.
    pub total: TownYearShown,
}

/// The report with every amount also in 亩 and 公顷, for the API.
#[must_use]
pub fn shown(report: &Report) -> ReportShown {
    let row = |t: &TownYear| TownYearShown {
        town: t.town.clone(),
        name: t.name.clone(),
        planned_out: t.planned_out.report(),
        planned_in: t.planned_in.report(),
        out: t.out.report(),
        restored: t.restored.report(),
        covered: t.covered.report(),
        owed: t.owed.report(),
    };
    ReportShown {
        year: report.year,
        plan_document: report.plan_document.clone(),
        towns: report.towns.iter().map(row).collect(),
        total: row(&report.total),
    }
}
