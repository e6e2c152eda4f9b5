//! 耕地保护补偿: the yearly compensation paid to the collectives that keep farmland, per 亩 by
//! quality grade, with an extra per 亩 of 永久基本农田, computed from the one map (the land
//! survey's 耕地 patches and the permanent-farmland layer, by village) and listed for the finance
//! office. The rates are the district's: no published Guangdong or Foshan amount could be
//! confirmed, so none is assumed — without rates nothing is computed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_core::msg::Msg;
use tudi_core::table::{Cell, Table};
use tudi_core::units::M2_PER_MU;
use tudi_store::{Change, FeatureQuery, Store, StoreError};

use crate::ledger::LedgerError;
use crate::occupation::{CapacityTable, FARMLAND_PREFIX};

/// The setting holding the [`Rates`].
pub const RATES_SETTING: &str = "farmland.compensation_rates";

/// The district's compensation rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Yuan per 亩 a year, by quality grade.
    pub yuan_per_mu: BTreeMap<u8, f64>,
    /// Yuan per 亩 a year on top for 永久基本农田.
    #[serde(default)]
    pub basic_farmland_extra: f64,
    /// The document that sets them.
    pub document: String,
}

/// One collective's compensation.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Payee {
    /// The village (its collective), 12 digits.
    pub village: String,
    /// Its name.
    pub name: String,
    /// Its town's name.
    pub town: String,
    /// Farmland by grade, 亩.
    pub mu_by_grade: BTreeMap<u8, f64>,
    /// 永久基本农田, 亩.
    pub basic_farmland_mu: f64,
    /// The amount, yuan.
    pub amount_yuan: f64,
}

/// The year's payment list.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PaymentList {
    /// The year.
    pub year: i16,
    /// The rates' document.
    pub document: String,
    /// By collective.
    pub payees: Vec<Payee>,
    /// Farmland in all, 亩.
    pub farmland_mu: f64,
    /// The sum, yuan.
    pub total_yuan: f64,
}

fn invalid(field: &str, zh: String, en: String) -> LedgerError {
    LedgerError::Invalid {
        field: field.into(),
        msg: Msg::new(zh, en),
    }
}

/// Sets the rates.
///
/// # Errors
/// A negative or absurd rate, an empty table (named); store failures.
pub fn set_rates(store: &dyn Store, change: &Change, rates: &Rates) -> Result<(), LedgerError> {
    tudi_core::text::check(&rates.document, 80, tudi_core::text::Lines::One).map_err(|f| {
        LedgerError::Invalid {
            field: "document".into(),
            msg: f.message("依据文号", "document"),
        }
    })?;
    if rates.yuan_per_mu.is_empty() {
        return Err(invalid(
            "yuan_per_mu",
            "请按质量等别填写每亩补偿标准".into(),
            "give the yuan per mu by grade".into(),
        ));
    }
    let bad = |x: f64| !x.is_finite() || !(0.0..=100_000.0).contains(&x);
    if let Some((g, y)) = rates.yuan_per_mu.iter().find(|(_, y)| bad(**y)) {
        return Err(invalid(
            "yuan_per_mu",
            format!("第 {g} 等的标准 {y} 元/亩不合理（应在 0—100000 之间）"),
            format!("grade {g}: {y} yuan/mu is out of range"),
        ));
    }
    if bad(rates.basic_farmland_extra) {
        return Err(invalid(
            "basic_farmland_extra",
            "永久基本农田加补标准应在 0—100000 元/亩之间".into(),
            "the basic-farmland extra is out of range".into(),
        ));
    }
    let text = serde_json::to_string(rates).map_err(|e| StoreError::Schema(e.to_string()))?;
    store.set_meta(RATES_SETTING, &text, change)?;
    Ok(())
}

/// The rates, if set.
///
/// # Errors
/// Store failures.
pub fn rates(store: &dyn Store) -> Result<Option<Rates>, LedgerError> {
    store
        .meta(RATES_SETTING)?
        .map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Schema(e.to_string()).into()))
        .transpose()
}

fn grade_of(v: Option<&Value>) -> Option<u8> {
    v.and_then(Value::as_u64).and_then(|g| u8::try_from(g).ok())
}

/// The year's payment list from the map as it stands: each village's farmland (the land survey's
/// 耕地 patches, by their `village_code` and grade — the district's default grade where a patch
/// has none) and its 永久基本农田, at the rates set.
///
/// # Errors
/// No rates set (said so); store failures.
pub fn payments(store: &dyn Store, year: i16) -> Result<PaymentList, LedgerError> {
    let Some(rates) = rates(store)? else {
        return Err(LedgerError::Refused(Msg::new(
            "尚未设置耕地保护补偿标准（按质量等别每亩元数）",
            "no compensation rates are set (yuan per mu by grade)",
        )));
    };
    let table = CapacityTable::of(store)?;
    let mut by_village: BTreeMap<String, (BTreeMap<u8, f64>, f64)> = BTreeMap::new();
    for f in store.features("land_survey", &FeatureQuery::default())? {
        let use_code = f
            .attributes
            .get("land_use")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !use_code.starts_with(FARMLAND_PREFIX) {
            continue;
        }
        let Some(village) = f.attributes.get("village_code").and_then(Value::as_str) else {
            continue;
        };
        let grade = grade_of(f.attributes.get("quality_grade")).unwrap_or(table.default_grade);
        let mu = geo::Area::unsigned_area(&f.geometry) / M2_PER_MU;
        *by_village
            .entry(village.to_owned())
            .or_default()
            .0
            .entry(grade)
            .or_default() += mu;
    }
    if let Ok(layer) = store.layer_def("permanent_farmland") {
        for f in store.features(&layer.name, &FeatureQuery::default())? {
            if let Some(village) = f.attributes.get("village_code").and_then(Value::as_str) {
                by_village.entry(village.to_owned()).or_default().1 +=
                    geo::Area::unsigned_area(&f.geometry) / M2_PER_MU;
            }
        }
    }
    let registry = DivisionRegistry::bundled();
    let name = |code: &str| {
        DivisionCode::parse(code)
            .ok()
            .and_then(|c| registry.get(&c).map(|d| d.name.clone()))
            .unwrap_or_default()
    };
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut payees = Vec::new();
    for (village, (grades, basic)) in by_village {
        let mut amount = basic * rates.basic_farmland_extra;
        for (g, mu) in &grades {
            amount += mu * rates.yuan_per_mu.get(g).copied().unwrap_or(0.0);
        }
        payees.push(Payee {
            name: name(&village),
            town: name(village.get(..9).unwrap_or("")),
            mu_by_grade: grades.into_iter().map(|(g, m)| (g, round2(m))).collect(),
            basic_farmland_mu: round2(basic),
            amount_yuan: round2(amount),
            village,
        });
    }
    let farmland_mu = round2(payees.iter().flat_map(|p| p.mu_by_grade.values()).sum());
    let total_yuan = round2(payees.iter().map(|p| p.amount_yuan).sum());
    Ok(PaymentList {
        year,
        document: rates.document,
        payees,
        farmland_mu,
        total_yuan,
    })
}

/// The payment list as a ledger table for the finance office.
#[must_use]
pub fn table(list: &PaymentList) -> Table {
    let mut rows: Vec<Vec<Cell>> = list
        .payees
        .iter()
        .map(|p| {
            let grades: Vec<String> = p
                .mu_by_grade
                .iter()
                .map(|(g, m)| format!("{g}等 {m:.2}"))
                .collect();
            vec![
                p.village.clone().into(),
                p.name.clone().into(),
                p.town.clone().into(),
                p.mu_by_grade.values().sum::<f64>().into(),
                grades.join("；").into(),
                p.basic_farmland_mu.into(),
                p.amount_yuan.into(),
            ]
        })
        .collect();
    rows.push(vec![
        "".into(),
        "合计".into(),
        "".into(),
        list.farmland_mu.into(),
        "".into(),
        list.payees
            .iter()
            .map(|p| p.basic_farmland_mu)
            .sum::<f64>()
            .into(),
        list.total_yuan.into(),
    ]);
    Table {
        sheet: format!("{}耕地保护补偿", list.year),
        title: format!(
            "{} 年度耕地保护补偿发放清单（{}）",
            list.year, list.document
        ),
        headings: vec![
            "村居代码（集体经济组织）",
            "村居",
            "镇街",
            "耕地（亩）",
            "按质量等别（亩）",
            "永久基本农田（亩）",
            "补偿金额（元）",
        ],
        rows,
    }
}
