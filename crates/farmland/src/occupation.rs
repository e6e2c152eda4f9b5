//! How much farmland a site occupies, measured on the one map: its overlap with the 耕地
//! patches of the land survey (三调 codes 0101 水田, 0102 水浇地, 0103 旱地), the paddy among them,
//! and the grain capacity their quality grades give. Any approval that takes land — a homestead,
//! later a 农转用 batch — is measured here and debited through [`crate::ledger`].

use std::collections::BTreeMap;

use geo_types::Geometry;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tudi_core::layer::LayerKind;
use tudi_core::msg::Msg;
use tudi_core::units::M2_PER_MU;
use tudi_geo::crs::Crs;
use tudi_onemap::compliance::{self, ComplianceError, Stop};
use tudi_onemap::snapshot::MapView;
use tudi_store::Store;

use crate::amount::{Amounts, Centi};

/// The setting holding the district's [`CapacityTable`].
pub const CAPACITY_SETTING: &str = "farmland.capacity";

/// Land-survey code prefix of 耕地.
pub const FARMLAND_PREFIX: &str = "01";
/// Land-survey code of 水田.
pub const PADDY: &str = "0101";

/// How quality grades turn into grain capacity: standard grain yield per 亩 by grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityTable {
    /// The grading the table uses (e.g. 国家利用等别 1–15).
    pub scheme: String,
    /// Standard grain yield, kg per 亩, by grade.
    pub kg_per_mu: BTreeMap<u8, f64>,
    /// The grade assumed where a patch has none (said so in the measurement).
    pub default_grade: u8,
    /// Where the figures come from.
    pub source: String,
}

impl Default for CapacityTable {
    /// National utilisation grades 1 (best) to 15, 1,500 kg/亩 at grade 1 and 100 kg/亩 less for
    /// each grade below; grade 10 where a patch has none (the national mean was 9.96 in the 2016
    /// update). The linear yields are an assumption a district replaces with its province's
    /// table (see docs/farmland.md).
    fn default() -> Self {
        Self {
            scheme: "国家利用等别（1—15 等）".into(),
            kg_per_mu: (1u8..=15)
                .map(|g| (g, 1600.0 - 100.0 * f64::from(g)))
                .collect(),
            default_grade: 10,
            source: "默认值（按等别线性递减的假设值，须由区县按本省标准粮食单产表配置）".into(),
        }
    }
}

impl CapacityTable {
    /// The district's table (the default when none is set).
    ///
    /// # Errors
    /// Store failures; a stored table that is not one.
    pub fn of(store: &dyn Store) -> Result<Self, tudi_store::StoreError> {
        match store.meta(CAPACITY_SETTING)? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| tudi_store::StoreError::Schema(format!("{CAPACITY_SETTING}: {e}"))),
            None => Ok(Self::default()),
        }
    }

    /// Why the table cannot be used.
    ///
    /// # Errors
    /// The first problem.
    pub fn check(&self) -> Result<(), Msg> {
        if !self.kg_per_mu.contains_key(&self.default_grade) {
            return Err(Msg::new(
                format!("默认等别 {} 不在单产表中", self.default_grade),
                format!(
                    "the default grade {} is not in the table",
                    self.default_grade
                ),
            ));
        }
        if let Some((g, y)) = self
            .kg_per_mu
            .iter()
            .find(|(_, y)| !y.is_finite() || **y < 0.0 || **y > 5_000.0)
        {
            return Err(Msg::new(
                format!("第 {g} 等的单产 {y} 公斤/亩不合理（应在 0—5000 之间）"),
                format!("grade {g}: {y} kg/mu is out of range (0–5000)"),
            ));
        }
        Ok(())
    }
}

/// A land-survey patch a site occupies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OccupiedPatch {
    /// The patch's code (图斑编号).
    pub code: Option<String>,
    /// Its land use (0101 水田 …).
    pub land_use: String,
    /// Its quality grade.
    pub grade: u8,
    /// Whether the grade is the patch's own (or the table's default).
    pub grade_surveyed: bool,
    /// The occupied amounts.
    pub amounts: Amounts,
}

/// What a site occupies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Occupation {
    /// The patches, largest first.
    pub patches: Vec<OccupiedPatch>,
    /// The sum, which an approval debits.
    pub total: Amounts,
    /// The survey layers measured.
    pub layers: Vec<String>,
    /// How capacity was computed.
    pub scheme: String,
    /// 亩 occupied, for people.
    pub farmland_mu: f64,
}

/// Why a site could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The map has no land survey.
    #[error("no land-survey layer")]
    NoSurvey,
    /// The site, a CRS or the store.
    #[error(transparent)]
    Compliance(#[from] ComplianceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] tudi_store::StoreError),
}

impl MeasureError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::NoSurvey => Msg::new(
                "一张图上没有三调图斑图层，无法测算占用耕地",
                "the one map has no land-survey layer: farmland occupation cannot be measured",
            ),
            Self::Compliance(e) => tudi_core::msg::Bilingual::msg(e),
            Self::Store(e) => Msg::new(format!("存储出错：{e}"), format!("store error: {e}")),
        }
    }
}

/// Measures the farmland `site` (in `crs`) occupies.
///
/// # Errors
/// [`MeasureError`].
pub fn measure(
    map: MapView<'_>,
    site: &Geometry<f64>,
    crs: Crs,
    table: &CapacityTable,
) -> Result<Occupation, MeasureError> {
    let layers = compliance::overlaps(
        map,
        site,
        crs,
        LayerKind::LandSurvey,
        Some(FARMLAND_PREFIX),
        &Stop::after(std::time::Duration::from_secs(20)),
    )?
    .ok_or(MeasureError::NoSurvey)?;
    // One survey is measured: the layer named `land_survey` when there is one, else the first.
    // Two surveys of the same ground (三调 and a yearly update) would count its farmland twice.
    let chosen = layers
        .iter()
        .position(|l| l.def.name == "land_survey")
        .unwrap_or(0);
    let mut patches = Vec::new();
    let mut names = Vec::new();
    for layer in layers.into_iter().skip(chosen).take(1) {
        names.push(layer.def.name.clone());
        for hit in layer.features {
            let surveyed = hit
                .quality_grade
                .and_then(|g| u8::try_from(g).ok())
                .filter(|g| table.kg_per_mu.contains_key(g));
            let grade = surveyed.unwrap_or(table.default_grade);
            let yield_kg = table.kg_per_mu.get(&grade).copied().unwrap_or(0.0);
            let land_use = hit.land_use.unwrap_or_default();
            let area = Centi::rounded(hit.area_m2);
            patches.push(OccupiedPatch {
                code: hit.code,
                grade,
                grade_surveyed: surveyed.is_some(),
                amounts: Amounts {
                    farmland_m2: area,
                    paddy_m2: if land_use == PADDY { area } else { Centi::ZERO },
                    capacity_kg: Centi::rounded(hit.area_m2 / M2_PER_MU * yield_kg),
                },
                land_use,
            });
        }
    }
    patches.sort_by(|a, b| {
        b.amounts
            .farmland_m2
            .cmp(&a.amounts.farmland_m2)
            .then_with(|| a.code.cmp(&b.code))
    });
    let total = patches.iter().fold(Amounts::ZERO, |sum, p| sum + p.amounts);
    Ok(Occupation {
        farmland_mu: (total.farmland_m2.units() / M2_PER_MU * 10_000.0).round() / 10_000.0,
        patches,
        total,
        layers: names,
        scheme: table.scheme.clone(),
    })
}
