//! Compliance analysis: a proposed polygon against the control layers, under a rule set.
//!
//! A rule set is configuration (JSON): a list of checks, each naming a layer kind and what must
//! hold — no overlap (with a tolerance), lying within features of a class, or an area limit by
//! terrain. tudi ships 宅基地选址 for Guangdong (`data/rules/homestead_site_gd.json`, after
//! 《广东省土地管理条例》 Article 42: 80 / 120 / 150 m² for plain / hill / mountain). Overlaps
//! are computed planar in each layer's Gauss–Krüger CRS after validating the input; the verdict is
//! 不通过 if any failing check fails, 需人工核查 if a check needs a person (or its layer is
//! missing), 通过 otherwise.

use std::collections::BTreeMap;

use geo::{Area, BoundingRect};
use geo_types::{Geometry, MultiPolygon};
use serde::{Deserialize, Serialize};
use tudi_core::layer::LayerKind;
use tudi_core::msg::{Bilingual, Msg};
use tudi_core::units::m2_to_mu;
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::{overlay, validity};
use tudi_store::{FeatureQuery, StoreError};
use uuid::Uuid;

use crate::snapshot::MapView;

/// What a failed check means for the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    /// The site is refused.
    Fail,
    /// A person must look.
    Manual,
}

/// One check of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Check {
    /// The site must not overlap features of a layer kind (beyond a tolerance in m²).
    NoOverlap {
        /// The layer kind.
        layer_kind: LayerKind,
        /// Overlaps up to this area are ignored (survey noise).
        tolerance_m2: f64,
        /// Effect of a failure.
        on_fail: OnFail,
        /// Reason shown on failure.
        reason_zh: String,
        /// Reason in English.
        reason_en: String,
    },
    /// At least `min_share` of the site must lie within features of a layer kind whose
    /// `land_use` starts with `land_use_prefix`.
    Within {
        /// The layer kind.
        layer_kind: LayerKind,
        /// Land-use code prefix of the qualifying features ("" for all).
        #[serde(default)]
        land_use_prefix: String,
        /// Share of the site that must be covered (0–1).
        min_share: f64,
        /// Effect of a failure.
        on_fail: OnFail,
        /// Reason shown on failure.
        reason_zh: String,
        /// Reason in English.
        reason_en: String,
    },
    /// The site's area must not exceed the limit for its terrain.
    MaxArea {
        /// Limit in m² by terrain (`plain`, `hill`, `mountain` …).
        limits_m2: BTreeMap<String, f64>,
        /// Terrain used when the request names none.
        default_terrain: String,
        /// What each terrain's limit is called where the law names it otherwise (Zhejiang:
        /// 使用其他土地); by default the terrain's own name.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        standard_names_zh: BTreeMap<String, String>,
        /// A lower limit where the site lies on some land (Zhejiang: 125 m² on cultivated land).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_land: Option<LandLimit>,
        /// Effect of a failure.
        on_fail: OnFail,
        /// Reason shown on failure.
        reason_zh: String,
        /// Reason in English.
        reason_en: String,
    },
}

/// A lower area limit that applies where the site lies on features of a layer kind with a
/// given land use (more than a tolerance in m²).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LandLimit {
    /// The layer kind (`land_survey`).
    pub layer_kind: LayerKind,
    /// Land-use code prefix of the qualifying features (`01`: 耕地).
    pub land_use_prefix: String,
    /// Overlaps up to this area are ignored (survey noise).
    pub tolerance_m2: f64,
    /// The limit on that land, m².
    pub limit_m2: f64,
    /// Name of the standard, e.g. 使用耕地.
    pub name_zh: String,
    /// In English.
    pub name_en: String,
}

/// A named rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    /// Name used in requests, e.g. 宅基地选址.
    pub id: String,
    /// Other names accepted.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Title shown to users.
    pub title: String,
    /// Legal or policy source.
    #[serde(default)]
    pub source: String,
    /// Provinces (2-digit codes) whose districts it serves; empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provinces: Vec<String>,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// The largest site it analyses.
    #[serde(default)]
    pub site_limits: SiteLimits,
}

/// The largest site a rule set analyses: a homestead's site is a few hundred square metres,
/// so its rule set refuses a polygon the size of a town before any work is done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteLimits {
    /// Largest area (m², planar in the site's Gauss–Krüger zone).
    pub max_area_m2: f64,
    /// Most vertices.
    pub max_vertices: usize,
}

impl Default for SiteLimits {
    fn default() -> Self {
        Self {
            max_area_m2: 10_000_000.0,
            max_vertices: MAX_VERTICES,
        }
    }
}

/// When an analysis must end: by a deadline, or when whoever asked for it has gone (the flag
/// set by the caller, e.g. when the HTTP client disconnects).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    deadline: Option<(std::time::Instant, std::time::Duration)>,
    cancelled: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Stop {
    /// No end but the work's own.
    #[must_use]
    pub fn never() -> Self {
        Self::default()
    }

    /// Ends `limit` from now.
    #[must_use]
    pub fn after(limit: std::time::Duration) -> Self {
        Self {
            deadline: Some((std::time::Instant::now() + limit, limit)),
            cancelled: None,
        }
    }

    /// Ends too when `flag` is set.
    #[must_use]
    pub fn or_when(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.cancelled = Some(flag);
        self
    }

    /// Why the work must end now, if it must.
    #[must_use]
    pub fn reached(&self) -> Option<Stopped> {
        if self
            .cancelled
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Some(Stopped::Cancelled);
        }
        match self.deadline {
            Some((at, limit)) if std::time::Instant::now() >= at => Some(Stopped::TimedOut(limit)),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), ComplianceError> {
        self.reached()
            .map_or(Ok(()), |s| Err(ComplianceError::Stopped(s)))
    }
}

/// Why an analysis was stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran past its time limit.
    TimedOut(std::time::Duration),
    /// Whoever asked for it has gone.
    Cancelled,
}

impl RuleSet {
    /// The rule sets that ship with tudi.
    #[must_use]
    pub fn builtin() -> Vec<RuleSet> {
        // Parsed by a unit test, so a broken file cannot ship.
        [
            include_str!("../data/rules/homestead_site_gd.json"),
            include_str!("../data/rules/homestead_site_zj.json"),
        ]
        .into_iter()
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect()
    }

    /// Whether it could serve a district of one of `provinces` (all provinces when empty):
    /// two rule sets that never serve the same district may share a name.
    #[must_use]
    pub fn serves_any_of(&self, provinces: &[String]) -> bool {
        self.provinces.is_empty()
            || provinces.is_empty()
            || self.provinces.iter().any(|p| provinces.contains(p))
    }

    /// Whether it serves `district` (a division code): its province is listed, or none is.
    #[must_use]
    pub fn serves(&self, district: &str) -> bool {
        self.provinces.is_empty()
            || self
                .provinces
                .iter()
                .any(|p| district.starts_with(p.as_str()))
    }

    /// Of `all`, the rule sets that serve `district` (all of them when it is unknown), so that a
    /// name such as 宅基地选址 means the district's own province's rules.
    #[must_use]
    pub fn for_district(all: Vec<RuleSet>, district: Option<&str>) -> Vec<RuleSet> {
        all.into_iter()
            .filter(|r| district.is_none_or(|d| r.serves(d)))
            .collect()
    }

    /// Reads one rule set from a JSON file, checking it.
    ///
    /// # Errors
    /// [`RuleSetError`] naming the file and what is wrong with it.
    pub fn load_file(path: &std::path::Path) -> Result<RuleSet, RuleSetError> {
        let file = path.display().to_string();
        let err = |problem: Msg| RuleSetError {
            file: file.clone(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(Msg::new(
                format!("无法读取：{e}"),
                format!("cannot read: {e}"),
            ))
        })?;
        let rules: RuleSet = serde_json::from_str(&text).map_err(|e| {
            err(Msg::new(
                format!(
                    "不是有效的规则集（第 {} 行第 {} 列）：{e}",
                    e.line(),
                    e.column()
                ),
                format!(
                    "not a valid rule set (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            ))
        })?;
        rules.check().map_err(&err)?;
        Ok(rules)
    }

    /// Reads every `*.json` rule set in `dir` (one rule set per file), checking each. Files are
    /// read in name order; a rule set whose id or alias repeats an earlier one is refused.
    ///
    /// # Errors
    /// [`RuleSetError`] naming the file and what is wrong with it.
    pub fn load_dir(dir: &std::path::Path) -> Result<Vec<RuleSet>, RuleSetError> {
        let read_dir = std::fs::read_dir(dir).map_err(|e| RuleSetError {
            file: dir.display().to_string(),
            problem: Msg::new(
                format!("无法读取规则目录：{e}"),
                format!("cannot read the directory: {e}"),
            ),
        })?;
        let mut files: Vec<std::path::PathBuf> = read_dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut out: Vec<RuleSet> = Vec::new();
        for path in files {
            let file = path.display().to_string();
            let err = |problem: Msg| RuleSetError {
                file: file.clone(),
                problem,
            };
            let rules = Self::load_file(&path)?;
            if let Some(name) = std::iter::once(&rules.id)
                .chain(&rules.aliases)
                .find(|n| out.iter().any(|r| r.answers_to(n)))
            {
                return Err(err(Msg::new(
                    format!("规则集名称“{name}”与其他文件重复"),
                    format!("rule set name {name:?} is used by another file"),
                )));
            }
            out.push(rules);
        }
        Ok(out)
    }

    /// Checks the values a rule set's JSON cannot constrain.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<(), Msg> {
        if self.id.trim().is_empty() {
            return Err(Msg::new("规则集 id 不能为空", "the rule set id is empty"));
        }
        if self.checks.is_empty() {
            return Err(Msg::new(
                "规则集没有任何检查项",
                "the rule set has no checks",
            ));
        }
        if let Some(p) = self
            .provinces
            .iter()
            .find(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Msg::new(
                format!("provinces：“{p}”不是两位省级代码（如 44、33）"),
                format!("provinces: {p:?} is not a 2-digit province code (e.g. 44, 33)"),
            ));
        }
        let l = self.site_limits;
        let sane = l.max_area_m2.is_finite()
            && l.max_area_m2 > 0.0
            && (4..=MAX_VERTICES).contains(&l.max_vertices);
        if !sane {
            return Err(Msg::new(
                format!("site_limits：面积上限应为正数，顶点上限应在 4 至 {MAX_VERTICES} 之间"),
                format!(
                    "site_limits: the area limit must be positive and the vertex limit 4 to {MAX_VERTICES}"
                ),
            ));
        }
        for (i, c) in self.checks.iter().enumerate() {
            let n = i + 1;
            match c {
                Check::NoOverlap { tolerance_m2, .. }
                    if tolerance_m2.is_nan() || *tolerance_m2 < 0.0 =>
                {
                    return Err(Msg::new(
                        format!("第 {n} 项检查：tolerance_m2 应为非负数"),
                        format!("check {n}: tolerance_m2 must not be negative"),
                    ));
                }
                Check::Within { min_share, .. } if !(0.0..=1.0).contains(min_share) => {
                    return Err(Msg::new(
                        format!("第 {n} 项检查：min_share 应在 0 与 1 之间"),
                        format!("check {n}: min_share must be between 0 and 1"),
                    ));
                }
                Check::MaxArea {
                    limits_m2,
                    default_terrain,
                    on_land,
                    ..
                } => {
                    let land_limit = on_land.as_ref().map(|l| (l.limit_m2, l.tolerance_m2));
                    if limits_m2.values().any(|v| v.is_nan() || *v <= 0.0)
                        || land_limit.is_some_and(|(l, t)| !(l > 0.0 && t >= 0.0))
                    {
                        return Err(Msg::new(
                            format!("第 {n} 项检查：面积上限应为正数"),
                            format!("check {n}: area limits must be positive"),
                        ));
                    }
                    if !limits_m2.contains_key(default_terrain) {
                        return Err(Msg::new(
                            format!("第 {n} 项检查：默认地形“{default_terrain}”没有面积上限"),
                            format!(
                                "check {n}: the default terrain {default_terrain:?} has no limit"
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The built-in rule sets, then those in `dir` (which may replace a built-in one of the same
    /// id).
    ///
    /// # Errors
    /// As [`RuleSet::load_dir`].
    pub fn builtin_and_dir(dir: Option<&std::path::Path>) -> Result<Vec<RuleSet>, RuleSetError> {
        let mut all = Self::builtin();
        if let Some(dir) = dir {
            for r in Self::load_dir(dir)? {
                all.retain(|b| b.id != r.id);
                all.push(r);
            }
        }
        Ok(all)
    }

    /// Whether `name` names this rule set.
    #[must_use]
    pub fn answers_to(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }
}

/// The record collection that holds the rule sets added to a store (`tudi rules add`), so every
/// server on the store offers the same ones.
pub const RULE_SET_COLLECTION: &str = "rule_set";

/// Why rule sets could not be saved in the store.
#[derive(Debug, thiserror::Error)]
pub enum SaveRulesError {
    /// A rule set is not valid, or its name is taken.
    #[error(transparent)]
    Invalid(#[from] RuleSetError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Bilingual for SaveRulesError {
    fn msg(&self) -> Msg {
        match self {
            Self::Invalid(e) => e.msg(),
            Self::Store(e) => Msg::new(format!("保存失败：{e}"), e.to_string()),
        }
    }
}

/// The rule sets added to `store`, in id order. One that no longer parses (written by a newer
/// tudi) is left out, with an error in the log.
///
/// # Errors
/// Store failures.
pub fn stored_rule_sets(store: &dyn tudi_store::Store) -> Result<Vec<RuleSet>, StoreError> {
    let page = store.find_records(RULE_SET_COLLECTION, &tudi_store::RecordQuery::default())?;
    Ok(page
        .records
        .into_iter()
        .filter_map(|r| match serde_json::from_value::<RuleSet>(r.body) {
            Ok(rules) => Some(rules),
            Err(e) => {
                tracing::error!(id = %r.id, error = %e, "a stored rule set cannot be read");
                None
            }
        })
        .collect())
}

/// `base` with the stored rule sets over it (a stored one replaces a base one of the same id).
///
/// # Errors
/// Store failures.
pub fn with_stored(
    store: &dyn tudi_store::Store,
    base: &[RuleSet],
) -> Result<Vec<RuleSet>, StoreError> {
    let stored = stored_rule_sets(store)?;
    let mut all: Vec<RuleSet> = base
        .iter()
        .filter(|b| !stored.iter().any(|s| s.id == b.id))
        .cloned()
        .collect();
    all.extend(stored);
    Ok(all)
}

/// Adds or replaces rule sets in `store`, all or none: each is checked, and none may take a
/// name (id or alias) that another rule set — built in, stored or in the batch — answers to,
/// unless it replaces that very rule set.
///
/// # Errors
/// [`SaveRulesError`] naming the rule set and what is wrong.
pub fn save_rule_sets(
    store: &dyn tudi_store::Store,
    rules: &[RuleSet],
    change: &tudi_store::Change,
) -> Result<(), SaveRulesError> {
    // Names must be unique among what the store's district is offered: the built-in rule sets
    // as the stored ones replace them, and the batch.
    let district = store.meta("district")?;
    let offered = RuleSet::for_district(
        with_stored(store, &RuleSet::builtin())?,
        district.as_deref(),
    );
    let stored = stored_rule_sets(store)?;
    let mut writes = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let err = |problem: Msg| RuleSetError {
            file: format!("rule_set/{}", r.id),
            problem,
        };
        r.check().map_err(err)?;
        let others = offered
            .iter()
            .filter(|o| o.id != r.id)
            .cloned()
            .chain(rules.iter().take(i).cloned());
        for o in others {
            if let Some(name) = std::iter::once(&r.id)
                .chain(&r.aliases)
                .find(|n| o.answers_to(n) && o.serves_any_of(&r.provinces))
            {
                return Err(err(Msg::new(
                    format!("规则集名称“{name}”已被规则集“{}”使用", o.id),
                    format!("the rule set name {name:?} is used by {:?}", o.id),
                ))
                .into());
            }
        }
        if stored.contains(r) {
            // Saved already as it is (a server restarted with the same `--rules`).
            continue;
        }
        let body = serde_json::to_value(r).map_err(|e| StoreError::Schema(e.to_string()))?;
        let found = store.record(RULE_SET_COLLECTION, &r.id)?;
        writes.push(tudi_store::RecordWrite {
            collection: RULE_SET_COLLECTION.into(),
            id: r.id.clone(),
            expect: found.map_or(tudi_store::Expect::Absent, |f| {
                tudi_store::Expect::Version(f.version)
            }),
            body: Some(body),
            keys: Vec::new(),
            detail: None,
        });
    }
    if !writes.is_empty() {
        store.write_records(change, &writes)?;
    }
    Ok(())
}

/// Removes a stored rule set; `false` when the store has none of that id (a built-in one cannot
/// be removed, only replaced).
///
/// # Errors
/// Store failures.
pub fn remove_rule_set(
    store: &dyn tudi_store::Store,
    id: &str,
    change: &tudi_store::Change,
) -> Result<bool, StoreError> {
    let Some(found) = store.record(RULE_SET_COLLECTION, id)? else {
        return Ok(false);
    };
    store.write_records(
        change,
        &[tudi_store::RecordWrite {
            collection: RULE_SET_COLLECTION.into(),
            id: id.to_owned(),
            expect: tudi_store::Expect::Version(found.version),
            body: None,
            keys: Vec::new(),
            detail: None,
        }],
    )?;
    Ok(true)
}

/// A rule-set file that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {}", problem.en)]
pub struct RuleSetError {
    /// The file (or directory).
    pub file: String,
    /// What is wrong.
    pub problem: Msg,
}

impl Bilingual for RuleSetError {
    fn msg(&self) -> Msg {
        Msg::new(
            format!("规则集文件 {}：{}", self.file, self.problem.zh),
            self.to_string(),
        )
    }
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Verdict {
    /// 通过.
    #[serde(rename = "通过")]
    Pass,
    /// 不通过.
    #[serde(rename = "不通过")]
    Fail,
    /// 需人工核查.
    #[serde(rename = "需人工核查")]
    Manual,
}

/// A feature the site meets.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Hit {
    /// Stable feature id.
    pub id: String,
    /// The feature's `code` attribute.
    pub code: Option<String>,
    /// Overlap in m² (planar, layer CRS).
    pub overlap_area_m2: f64,
}

/// The site against one layer.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LayerResult {
    /// Layer name.
    pub layer: String,
    /// Layer kind.
    pub kind: LayerKind,
    /// Total overlap in m².
    pub overlap_area_m2: f64,
    /// The same in 亩.
    pub overlap_area_mu: f64,
    /// Overlap as a share of the site (0–1).
    pub share: f64,
    /// Features met, largest overlap first.
    pub features: Vec<Hit>,
}

/// A reason on the report.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Reason {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
    /// Effect on the verdict.
    pub effect: OnFail,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// Rule set applied.
    pub rule_set: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Why (empty when it passes).
    pub reasons: Vec<Reason>,
    /// Site area in m², planar in the CRS named by `area_method`.
    pub input_area_m2: f64,
    /// The site area in 亩.
    pub input_area_mu: f64,
    /// How the areas were computed.
    pub area_method: String,
    /// Terrain used for the area limit.
    pub terrain: Option<String>,
    /// Per layer.
    pub layers: Vec<LayerResult>,
}

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    /// No rule set of that name.
    #[error("unknown rule set {0:?}")]
    UnknownRuleSet(String),
    /// The site is not a valid polygon.
    #[error("invalid site polygon")]
    InvalidSite(Vec<Msg>),
    /// The site has more vertices than the rule set takes.
    #[error("the site has {0} vertices, more than {1}")]
    TooManyVertices(usize, usize),
    /// The site is larger than the rule set takes.
    #[error("the site is {area_m2:.0} m², more than {max_m2:.0} m²")]
    SiteTooLarge {
        /// Its area (m²).
        area_m2: f64,
        /// The rule set's limit (m²).
        max_m2: f64,
    },
    /// The analysis was stopped.
    #[error("the analysis was stopped: {0:?}")]
    Stopped(Stopped),
    /// The terrain is not in the rule set's limits.
    #[error("unknown terrain {0:?}")]
    UnknownTerrain(String),
    /// A coordinate could not be transformed.
    #[error("{0}")]
    Crs(Msg),
    /// The site lies where no CGCS2000 3° zone measures it (abroad, or a wrong CRS).
    #[error("{}", .0.en)]
    OutsideZones(Msg),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Bilingual for ComplianceError {
    fn msg(&self) -> Msg {
        match self {
            Self::UnknownRuleSet(n) => Msg::new(format!("没有名为“{n}”的规则集"), self.to_string()),
            Self::InvalidSite(ps) => Msg::new(
                format!(
                    "拟选址图形无效：{}",
                    ps.iter()
                        .map(|m| m.zh.clone())
                        .collect::<Vec<_>>()
                        .join("；")
                ),
                format!(
                    "invalid site polygon: {}",
                    ps.iter()
                        .map(|m| m.en.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            Self::TooManyVertices(n, max) => Msg::new(
                format!("拟选址图形有 {n} 个顶点，超过本规则集的上限 {max}"),
                self.to_string(),
            ),
            Self::SiteTooLarge { area_m2, max_m2 } => Msg::new(
                format!(
                    "拟选址面积 {}，超过本规则集可分析的上限 {}，请缩小范围",
                    tudi_core::units::format_area_zh(*area_m2),
                    tudi_core::units::format_area_zh(*max_m2)
                ),
                format!(
                    "the site is {}, more than the {} this rule set analyses: make it smaller",
                    tudi_core::units::format_area_en(*area_m2),
                    tudi_core::units::format_area_en(*max_m2)
                ),
            ),
            Self::Stopped(Stopped::TimedOut(d)) => Msg::new(
                format!(
                    "分析超过 {} 秒仍未完成，已停止，请缩小范围或简化图形后重试",
                    d.as_secs()
                ),
                format!(
                    "the analysis took longer than {} s and was stopped: make the site smaller or simpler",
                    d.as_secs()
                ),
            ),
            Self::Stopped(Stopped::Cancelled) => Msg::new(
                "请求方已断开，分析已停止",
                "the client went away; the analysis was stopped",
            ),
            Self::UnknownTerrain(t) => Msg::new(
                format!("未知地形“{t}”（可用 plain 平原、hill 丘陵、mountain 山区）"),
                self.to_string(),
            ),
            Self::Crs(m) => m.clone(),
            Self::OutsideZones(m) => Msg::new(
                format!(
                    "{}：合规分析只对我国境内的选址进行，请检查坐标和坐标系（crs）",
                    m.zh
                ),
                format!(
                    "{}: analysis is for sites in China; check the coordinates and crs",
                    m.en
                ),
            ),
            Self::Store(e) => Msg::new(format!("读取图层失败：{e}"), e.to_string()),
        }
    }
}

/// Most vertices a site may have.
pub const MAX_VERTICES: usize = 10_000;

fn text_of<'a>(
    attrs: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a str> {
    attrs.get(name).and_then(|v| v.as_str())
}

/// Runs a rule set on a site given in `crs`, to the end.
///
/// # Errors
/// [`ComplianceError`].
pub fn analyse(
    map: MapView<'_>,
    rules: &RuleSet,
    site: &Geometry<f64>,
    crs: Crs,
    terrain: Option<&str>,
) -> Result<Report, ComplianceError> {
    analyse_until(map, rules, site, crs, terrain, &Stop::never())
}

/// Runs a rule set on a site given in `crs`, ending early with [`ComplianceError::Stopped`]
/// when `stop` says so. The site is first held to the rule set's [`SiteLimits`]; it is then
/// cut into [`tudi_geo::overlay::Pieces`] per layer CRS, so each control feature is overlaid
/// only with the part of the site near it.
///
/// # Errors
/// [`ComplianceError`].
#[allow(clippy::too_many_lines)]
pub fn analyse_until(
    map: MapView<'_>,
    rules: &RuleSet,
    site: &Geometry<f64>,
    crs: Crs,
    terrain: Option<&str>,
    stop: &Stop,
) -> Result<Report, ComplianceError> {
    let vertices = geo::CoordsIter::coords_count(site);
    let max_vertices = rules.site_limits.max_vertices.min(MAX_VERTICES);
    if vertices > max_vertices {
        return Err(ComplianceError::TooManyVertices(vertices, max_vertices));
    }
    if overlay::as_multipolygon(site).is_none() {
        return Err(ComplianceError::InvalidSite(vec![Msg::new(
            "拟选址必须是面（Polygon 或 MultiPolygon）",
            "the site must be a Polygon or MultiPolygon",
        )]));
    }
    // Coordinates outside what the CRS describes are a mistake (a wrong `crs`, swapped axes).
    if let Some(c) = geo::CoordsIter::coords_iter(site).find(|c| !crs.holds(c.x, c.y)) {
        let [a, b, x, y] = crs.bounds();
        return Err(ComplianceError::InvalidSite(vec![Msg::new(
            format!(
                "坐标 ({}, {}) 超出坐标系 {} 的有效范围（x {a}–{x}，y {b}–{y}）：请检查坐标和坐标系（crs）",
                c.x,
                c.y,
                crs.code_string()
            ),
            format!(
                "coordinate ({}, {}) lies outside {} (x {a}..{x}, y {b}..{y}): check the coordinates and crs",
                c.x,
                c.y,
                crs.code_string()
            ),
        )]));
    }
    // The site in a given CRS, projected once per CRS.
    let mut projected: BTreeMap<u32, MultiPolygon<f64>> = BTreeMap::new();
    let mut in_crs = |target: Crs| -> Result<MultiPolygon<f64>, ComplianceError> {
        site_in(&mut projected, site, crs, target)
    };
    // Area is planar in the site's own Gauss–Krüger zone (a site given in one is measured
    // there); a site larger than the rule set takes is refused before its validity (the
    // costliest check) is looked at.
    let zone = match crs.kind() {
        tudi_geo::crs::CrsKind::GaussKruger { .. } => crs,
        _ => {
            let lonlat = in_crs(Crs::CGCS2000)?;
            let r = lonlat.bounding_rect().ok_or_else(|| {
                ComplianceError::InvalidSite(vec![Msg::new("拟选址图形为空", "the site is empty")])
            })?;
            Crs::gk_zone_covering(r.min().x, r.max().x, false)
                .map_err(|e| ComplianceError::OutsideZones(e.msg()))?
        }
    };
    let site_zone = in_crs(zone)?;
    let input_area = site_zone.unsigned_area();
    if !input_area.is_finite() {
        return Err(ComplianceError::InvalidSite(vec![Msg::new(
            format!(
                "坐标超出坐标系 {} 的有效范围，无法计算面积",
                crs.code_string()
            ),
            format!(
                "coordinates outside what {} can hold: no area can be measured",
                crs.code_string()
            ),
        )]));
    }
    // NaN (an area that cannot be measured) is refused too.
    let within = input_area <= rules.site_limits.max_area_m2;
    if !within {
        return Err(ComplianceError::SiteTooLarge {
            area_m2: input_area,
            max_m2: rules.site_limits.max_area_m2,
        });
    }
    let problems = validity::problems(site);
    if !problems.is_empty() {
        return Err(ComplianceError::InvalidSite(
            problems.iter().map(Bilingual::msg).collect(),
        ));
    }
    stop.check()?;
    let pinned = map.pin()?;
    let mut measure = Measure {
        map,
        pinned: &pinned,
        site,
        crs,
        stop,
        projected,
        cut: BTreeMap::new(),
    };
    let mut reasons = Vec::new();
    let mut results: Vec<LayerResult> = Vec::new();
    let mut used_terrain = None;
    for check in &rules.checks {
        match check {
            // For NoOverlap the threshold is the tolerated overlap in m², for Within the share of
            // the site that must be covered.
            Check::NoOverlap {
                layer_kind,
                tolerance_m2: threshold,
                on_fail,
                reason_zh,
                reason_en,
            }
            | Check::Within {
                layer_kind,
                min_share: threshold,
                on_fail,
                reason_zh,
                reason_en,
                ..
            } => {
                let prefix = match check {
                    Check::Within {
                        land_use_prefix, ..
                    } => Some(land_use_prefix.as_str()),
                    _ => None,
                };
                let Some((total, found)) = measure.overlap(*layer_kind, prefix)? else {
                    reasons.push(Reason {
                        zh: format!("缺少{}图层，无法核查“{reason_zh}”", layer_kind.name_zh()),
                        en: format!("no {} layer to check {reason_en:?}", layer_kind.id()),
                        effect: OnFail::Manual,
                    });
                    continue;
                };
                results.extend(found);
                let failed = match check {
                    Check::NoOverlap { .. } => total * input_area > *threshold,
                    _ => total < *threshold,
                };
                if failed {
                    let detail = match check {
                        Check::NoOverlap { .. } => {
                            format!("（重叠 {:.2} 平方米）", total * input_area)
                        }
                        _ => format!("（仅 {:.1}% 在范围内）", total * 100.0),
                    };
                    reasons.push(Reason {
                        zh: format!("{reason_zh}{detail}"),
                        en: reason_en.clone(),
                        effect: *on_fail,
                    });
                }
            }
            Check::MaxArea {
                limits_m2,
                default_terrain,
                standard_names_zh,
                on_land,
                on_fail,
                reason_zh,
                reason_en,
            } => {
                let t = terrain.unwrap_or(default_terrain);
                let Some(&terrain_limit) = limits_m2.get(t) else {
                    return Err(ComplianceError::UnknownTerrain(t.to_owned()));
                };
                used_terrain = Some(t.to_owned());
                let (mut limit, mut standard_zh, mut standard_en) = (
                    terrain_limit,
                    standard_names_zh
                        .get(t)
                        .map_or_else(|| terrain_zh(t).to_owned(), Clone::clone),
                    t.to_owned(),
                );
                // Measured only when it could change the verdict: the lower limit is lower and
                // the site larger than it.
                if let Some(land) = on_land
                    .as_ref()
                    .filter(|l| l.limit_m2 < limit && input_area > l.limit_m2)
                {
                    match measure.overlap(land.layer_kind, Some(&land.land_use_prefix))? {
                        Some((share, _)) if share * input_area > land.tolerance_m2 => {
                            limit = land.limit_m2;
                            standard_zh.clone_from(&land.name_zh);
                            standard_en.clone_from(&land.name_en);
                        }
                        Some(_) => {}
                        None => reasons.push(Reason {
                            zh: format!(
                                "缺少{}图层，无法判断是否{}（其面积标准为 {} 平方米）",
                                land.layer_kind.name_zh(),
                                land.name_zh,
                                land.limit_m2
                            ),
                            en: format!(
                                "no {} layer to tell whether the site is {} (limit {} m²)",
                                land.layer_kind.id(),
                                land.name_en,
                                land.limit_m2
                            ),
                            effect: OnFail::Manual,
                        }),
                    }
                }
                if input_area > limit {
                    reasons.push(Reason {
                        zh: format!(
                            "{reason_zh}（{input_area:.2} 平方米，{standard_zh}标准 {limit} 平方米）"
                        ),
                        en: format!(
                            "{reason_en} ({input_area:.2} m², limit for {standard_en}: {limit} m²)"
                        ),
                        effect: *on_fail,
                    });
                }
            }
        }
    }
    let verdict = if reasons.iter().any(|r| r.effect == OnFail::Fail) {
        Verdict::Fail
    } else if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Manual
    };
    Ok(Report {
        rule_set: rules.id.clone(),
        verdict,
        reasons,
        input_area_m2: round2(input_area),
        input_area_mu: round4(m2_to_mu(input_area)),
        area_method: format!(
            "平面面积（{}）/ planar in {}",
            zone.code_string(),
            zone.code_string()
        ),
        terrain: used_terrain,
        layers: results,
    })
}

/// Measures the site against layers, keeping what is costly to redo: the site in each CRS and
/// cut into pieces once per layer CRS.
struct Measure<'a> {
    map: MapView<'a>,
    pinned: &'a crate::snapshot::Pinned,
    site: &'a Geometry<f64>,
    crs: Crs,
    stop: &'a Stop,
    projected: BTreeMap<u32, MultiPolygon<f64>>,
    cut: BTreeMap<u32, overlay::Pieces>,
}

impl Measure<'_> {
    fn in_crs(&mut self, target: Crs) -> Result<MultiPolygon<f64>, ComplianceError> {
        site_in(&mut self.projected, self.site, self.crs, target)
    }

    /// Every feature of every layer of `kind` (those whose `land_use` starts with `prefix`) the
    /// site meets, with the area they share (planar, layer CRS), layer by layer; `None` when the
    /// map has no layer of that kind.
    fn hits(
        &mut self,
        kind: LayerKind,
        prefix: Option<&str>,
    ) -> Result<Option<Vec<LayerHits>>, ComplianceError> {
        let kind_layers: Vec<tudi_store::LayerDef> = self
            .pinned
            .defs
            .iter()
            .filter(|l| l.kind == kind)
            .cloned()
            .collect();
        if kind_layers.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for def in kind_layers {
            let layer_crs = Crs::from_epsg(def.epsg).map_err(|e| ComplianceError::Crs(e.msg()))?;
            let site_here = self.in_crs(layer_crs)?;
            let site_area = site_here.unsigned_area();
            let Some(r) = site_here.bounding_rect() else {
                continue;
            };
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.cut.entry(layer_crs.epsg())
            {
                let pieces = overlay::Pieces::new(&site_here, &|| self.stop.reached().is_some());
                self.stop.check()?;
                if let Some(p) = pieces {
                    slot.insert(p);
                }
            }
            let Some(pieces) = self.cut.get(&layer_crs.epsg()) else {
                continue;
            };
            let mut stopped = None;
            let mut found = Vec::new();
            let mut meet = |id: Uuid,
                            geometry: &Geometry<f64>,
                            code: Option<&str>,
                            land_use: Option<&str>,
                            grade: Option<i64>| {
                if let Some(p) = prefix
                    && !land_use.unwrap_or("").starts_with(p)
                {
                    return;
                }
                if stopped.is_some() {
                    return;
                }
                stopped = self.stop.reached();
                let Some(fm) = overlay::as_multipolygon(geometry) else {
                    return;
                };
                let a = pieces.intersection_area(&fm);
                if a > 0.0 {
                    found.push(FeatureHit {
                        id,
                        code: code.map(str::to_owned),
                        land_use: land_use.map(str::to_owned),
                        quality_grade: grade,
                        area_m2: a,
                    });
                }
            };
            if let Some(snap) = self.pinned.snapshot(&def.name) {
                for i in snap.candidates(r) {
                    if let (Some(id), Some(g)) = (snap.id(i), snap.geometry(i)) {
                        let grade = match snap.attr(i, "quality_grade") {
                            Some(tudi_geo::mvt::TileAttr::Int(g)) => Some(*g),
                            _ => None,
                        };
                        meet(
                            id,
                            &g,
                            snap.text(i, "code"),
                            snap.text(i, "land_use"),
                            grade,
                        );
                    }
                }
            } else {
                let q = FeatureQuery {
                    bbox: Some([r.min().x, r.min().y, r.max().x, r.max().y]),
                    ..FeatureQuery::default()
                };
                for f in self.map.store().features(&def.name, &q)? {
                    meet(
                        f.id,
                        &f.geometry,
                        text_of(&f.attributes, "code"),
                        text_of(&f.attributes, "land_use"),
                        f.attributes
                            .get("quality_grade")
                            .and_then(serde_json::Value::as_i64),
                    );
                }
            }
            if let Some(why) = stopped {
                return Err(ComplianceError::Stopped(why));
            }
            out.push(LayerHits {
                def,
                site_area_m2: site_area,
                features: found,
            });
        }
        Ok(Some(out))
    }

    /// The share of the site covered by the features of every layer of `kind` (those whose
    /// `land_use` starts with `prefix`), with what each layer contributed; `None` when the map
    /// has no layer of that kind.
    fn overlap(
        &mut self,
        kind: LayerKind,
        prefix: Option<&str>,
    ) -> Result<Option<(f64, Vec<LayerResult>)>, ComplianceError> {
        let Some(layers) = self.hits(kind, prefix)? else {
            return Ok(None);
        };
        let mut total = 0.0;
        let mut results = Vec::new();
        for layer in layers {
            let sum: f64 = layer.features.iter().map(|f| f.area_m2).sum();
            let mut hits: Vec<Hit> = layer
                .features
                .into_iter()
                .map(|f| Hit {
                    id: f.id.to_string(),
                    code: f.code,
                    overlap_area_m2: round2(f.area_m2),
                })
                .collect();
            // Largest first; ties by id, so the store and a snapshot list them alike.
            hits.sort_by(|a, b| {
                b.overlap_area_m2
                    .total_cmp(&a.overlap_area_m2)
                    .then_with(|| a.id.cmp(&b.id))
            });
            let share = if layer.site_area_m2 > 0.0 {
                sum / layer.site_area_m2
            } else {
                0.0
            };
            total += share;
            results.push(LayerResult {
                layer: layer.def.name.clone(),
                kind: layer.def.kind,
                overlap_area_m2: round2(sum),
                overlap_area_mu: round4(m2_to_mu(sum)),
                share: round4(share),
                features: hits,
            });
        }
        Ok(Some((total, results)))
    }
}

/// The features of one layer a site meets.
#[derive(Debug, Clone)]
pub struct LayerHits {
    /// The layer.
    pub def: tudi_store::LayerDef,
    /// The site's area in the layer's CRS (m², planar).
    pub site_area_m2: f64,
    /// The features met.
    pub features: Vec<FeatureHit>,
}

/// A feature a site meets and the area they share.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureHit {
    /// The feature.
    pub id: Uuid,
    /// Its `code` attribute.
    pub code: Option<String>,
    /// Its `land_use` attribute.
    pub land_use: Option<String>,
    /// Its `quality_grade` attribute (耕地质量等别), when it has one.
    pub quality_grade: Option<i64>,
    /// The shared area, m² (planar, the layer's CRS).
    pub area_m2: f64,
}

/// The features of every layer of `kind` (those whose `land_use` starts with `prefix`) that a
/// site given in `crs` meets, with the area each shares with it: what an occupation measurement
/// (耕地占用) builds on. The site must be a valid polygon; `None` when the map has no layer of
/// that kind.
///
/// # Errors
/// [`ComplianceError`]: an invalid site, a CRS that cannot be used, the store, `stop`.
pub fn overlaps(
    map: MapView<'_>,
    site: &Geometry<f64>,
    crs: Crs,
    kind: LayerKind,
    prefix: Option<&str>,
    stop: &Stop,
) -> Result<Option<Vec<LayerHits>>, ComplianceError> {
    if overlay::as_multipolygon(site).is_none() {
        return Err(ComplianceError::InvalidSite(vec![Msg::new(
            "图形必须是面（Polygon 或 MultiPolygon）",
            "the geometry must be a Polygon or MultiPolygon",
        )]));
    }
    let problems = validity::problems(site);
    if !problems.is_empty() {
        return Err(ComplianceError::InvalidSite(
            problems.iter().map(Bilingual::msg).collect(),
        ));
    }
    let pinned = map.pin()?;
    let mut measure = Measure {
        map,
        pinned: &pinned,
        site,
        crs,
        stop,
        projected: BTreeMap::new(),
        cut: BTreeMap::new(),
    };
    measure.hits(kind, prefix)
}

/// The site in `target`, projected once per CRS.
fn site_in(
    projected: &mut BTreeMap<u32, MultiPolygon<f64>>,
    site: &Geometry<f64>,
    crs: Crs,
    target: Crs,
) -> Result<MultiPolygon<f64>, ComplianceError> {
    if let Some(mp) = projected.get(&target.epsg()) {
        return Ok(mp.clone());
    }
    let mut g = site.clone();
    Transformer::new(crs, target)
        .and_then(|t| t.apply_geometry(&mut g))
        .map_err(|e| ComplianceError::Crs(e.msg()))?;
    let mp = overlay::as_multipolygon(&g).unwrap_or(MultiPolygon(vec![]));
    projected.insert(target.epsg(), mp.clone());
    Ok(mp)
}

/// The Chinese name of a terrain class.
fn terrain_zh(t: &str) -> &str {
    match t {
        "plain" => "平原地区和城市郊区",
        "hill" => "丘陵地区",
        "mountain" => "山区",
        other => other,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rule_sets_parse_and_each_district_gets_its_provinces() {
        let r = RuleSet::builtin();
        assert_eq!(r.len(), 2, "a bundled rule set failed to parse");
        for rules in &r {
            assert!(rules.check().is_ok(), "{}", rules.id);
            assert_eq!(rules.checks.len(), 5);
        }
        let pick = |district: &str| {
            RuleSet::for_district(RuleSet::builtin(), Some(district))
                .into_iter()
                .find(|r| r.answers_to("宅基地选址"))
                .map(|r| r.title)
        };
        assert_eq!(pick("440605").as_deref(), Some("宅基地选址（广东）"));
        assert_eq!(pick("330402").as_deref(), Some("宅基地选址（浙江）"));
        assert_eq!(pick("110101"), None);
        assert!(r[0].answers_to("homestead_site_gd") && r[1].answers_to("homestead_site_zj"));
    }

    #[test]
    fn a_rule_set_directory_adds_and_replaces_rule_sets_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut strict = RuleSet::builtin().remove(0);
        strict.title = "更严格".into();
        let mut other = strict.clone();
        other.id = "村级自定".into();
        other.aliases = vec![];
        std::fs::write(
            dir.path().join("a.json"),
            serde_json::to_string(&strict).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            serde_json::to_string(&other).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rule set").unwrap();
        let all = RuleSet::builtin_and_dir(Some(dir.path())).unwrap();
        assert_eq!(all.len(), RuleSet::builtin().len() + 1);
        assert!(
            all.iter()
                .any(|r| r.id == "宅基地选址" && r.title == "更严格")
        );
        assert!(all.iter().any(|r| r.answers_to("村级自定")));

        std::fs::write(dir.path().join("c.json"), r#"{"id": "x", "title": "t", "checks": [{"type": "within", "layer_kind": "planning", "min_share": 2, "on_fail": "fail", "reason_zh": "", "reason_en": ""}]}"#).unwrap();
        let e = RuleSet::load_dir(dir.path()).unwrap_err();
        assert!(
            e.file.ends_with("c.json") && e.problem.zh.contains("min_share"),
            "{e}"
        );
        std::fs::write(dir.path().join("c.json"), "{\"id\": ").unwrap();
        let e = RuleSet::load_dir(dir.path()).unwrap_err();
        assert!(
            e.file.ends_with("c.json") && e.problem.zh.contains("第 1 行"),
            "{e}"
        );
        std::fs::write(
            dir.path().join("c.json"),
            serde_json::to_string(&other).unwrap(),
        )
        .unwrap();
        let e = RuleSet::load_dir(dir.path()).unwrap_err();
        assert!(e.problem.en.contains("used by another file"), "{e}");
    }
}
