//! Survey projects (综合测绘) and what their firms submit: a register of projects, packages
//! submitted by the survey or planning firm and checked by the project's rule set, each returned
//! with its report or accepted into the one map, and every firm's record of checks passed and
//! failed (质量诚信).
//!
//! Nothing a firm submits enters the one map until its check found no error and an authorised
//! person signed off each remaining warning ([`accept`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_core::layer::LayerKind;
use tudi_core::msg::{Bilingual, Msg};
use tudi_core::table::Table;
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::import::{self, ImportOptions};
use tudi_store::{BlobWrite, Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::gate::{self, Checked};
use crate::rules::RuleSet;

/// Where projects are kept.
pub const PROJECTS: &str = "survey_project";
/// Where submissions are kept.
pub const SUBMISSIONS: &str = "survey_submission";
/// Where a checked submission's findings are kept (by the submission's id).
pub const FINDINGS: &str = "survey_findings";

/// Bytes a zipped package may unpack to at most: a zip bomb stops here.
const MAX_UNPACKED: u64 = 512 << 20;

/// What a project surveys or plans, which decides its layer and rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectKind {
    /// 地籍测量: parcels (宗地).
    Cadastral,
    /// 国土调查: land-survey patches (三调图斑).
    LandSurvey,
    /// 村庄规划: a village plan's land use.
    VillagePlan,
    /// 详细规划: a detailed plan's plots.
    DetailedPlan,
}

impl ProjectKind {
    /// The kind of layer its results go to.
    #[must_use]
    pub const fn layer_kind(self) -> LayerKind {
        match self {
            Self::Cadastral => LayerKind::Parcel,
            Self::LandSurvey => LayerKind::LandSurvey,
            Self::VillagePlan | Self::DetailedPlan => LayerKind::Planning,
        }
    }

    /// The layer its results go to unless the project names another.
    #[must_use]
    pub const fn default_layer(self) -> &'static str {
        match self {
            Self::Cadastral => "parcels",
            Self::LandSurvey => "land_survey",
            Self::VillagePlan => "village_plan",
            Self::DetailedPlan => "detailed_plan",
        }
    }

    /// The shipped rule set its results are checked by.
    #[must_use]
    pub const fn rule_set(self) -> &'static str {
        match self {
            Self::Cadastral => "parcels",
            Self::LandSurvey => "land_survey",
            Self::VillagePlan => "village_plan",
            Self::DetailedPlan => "detailed_plan",
        }
    }
}

impl Bilingual for ProjectKind {
    fn msg(&self) -> Msg {
        match self {
            Self::Cadastral => Msg::new("地籍测量", "cadastral survey"),
            Self::LandSurvey => Msg::new("国土调查", "land survey"),
            Self::VillagePlan => Msg::new("村庄规划", "village plan"),
            Self::DetailedPlan => Msg::new("详细规划", "detailed plan"),
        }
    }
}

/// Where a project stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// 已登记: registered, nothing submitted yet.
    Registered,
    /// 已提交: results submitted, being checked or awaiting a decision.
    Submitted,
    /// 已退回: results returned to the firm with their report.
    Returned,
    /// 已入库: results accepted into the one map.
    Accepted,
}

impl Bilingual for ProjectStatus {
    fn msg(&self) -> Msg {
        match self {
            Self::Registered => Msg::new("已登记", "registered"),
            Self::Submitted => Msg::new("已提交", "submitted"),
            Self::Returned => Msg::new("已退回", "returned"),
            Self::Accepted => Msg::new("已入库", "accepted"),
        }
    }
}

impl ProjectStatus {
    fn id(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Submitted => "submitted",
            Self::Returned => "returned",
            Self::Accepted => "accepted",
        }
    }
}

/// A project to register.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// 项目名称.
    pub name: String,
    /// 项目类型.
    pub kind: ProjectKind,
    /// 委托单位: who commissioned it.
    pub client: String,
    /// 测绘单位 or 规划编制单位: the firm doing it (its accounts carry this name as their
    /// department).
    pub firm: String,
    /// The one-map layer its results go to (the kind's layer by default).
    #[serde(default)]
    pub layer: Option<String>,
    /// 项目范围: a GeoJSON polygon or multipolygon in longitude and latitude.
    #[serde(default)]
    pub area: Option<Value>,
    /// 完成期限.
    #[schemars(with = "String")]
    pub deadline: Date,
}

/// A registered project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Project {
    /// Its number (`CH2026-0001`).
    pub id: String,
    /// 项目名称.
    pub name: String,
    /// 项目类型.
    pub kind: ProjectKind,
    /// 委托单位.
    pub client: String,
    /// 测绘单位.
    pub firm: String,
    /// The layer its results go to.
    pub layer: String,
    /// 项目范围 (GeoJSON, longitude and latitude).
    pub area: Option<Value>,
    /// 项目面积 in m² (ellipsoidal), when an area is drawn.
    pub area_m2: Option<f64>,
    /// 完成期限.
    #[schemars(with = "String")]
    pub deadline: Date,
    /// 状态.
    pub status: ProjectStatus,
    /// When it was registered.
    #[schemars(with = "String")]
    pub registered_at: Timestamp,
    /// Who registered it.
    pub registered_by: String,
    /// Its submissions, oldest first.
    #[serde(default)]
    pub submissions: Vec<String>,
    /// The submission being imported into the one map now, if any: the project takes nothing
    /// else meanwhile.
    #[serde(default)]
    pub importing: Option<String>,
}

/// The format of a submitted package, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackageFormat {
    /// A GeoPackage.
    GeoPackage,
    /// A zip holding one Shapefile (`.shp`, `.shx`, `.dbf`, and `.prj`, `.cpg` where given).
    ZippedShapefile,
    /// A FlatGeobuf file.
    FlatGeobuf,
}

impl PackageFormat {
    /// Tells the format of a package from its first bytes.
    ///
    /// # Errors
    /// An empty package, or one of no supported format.
    pub fn of(bytes: &[u8]) -> Result<Self, SurveyError> {
        if bytes.is_empty() {
            return Err(SurveyError::Package(Msg::new(
                "提交的成果包为空",
                "the package submitted is empty",
            )));
        }
        if bytes.starts_with(b"SQLite format 3\0") {
            Ok(Self::GeoPackage)
        } else if bytes.starts_with(b"PK\x03\x04") {
            Ok(Self::ZippedShapefile)
        } else if bytes.starts_with(b"fgb\x03") {
            Ok(Self::FlatGeobuf)
        } else {
            Err(SurveyError::Package(Msg::new(
                "无法识别成果包的格式：应为 GeoPackage（.gpkg）、压缩的 Shapefile（.zip）或 FlatGeobuf（.fgb）",
                "the package is of no known format: send a GeoPackage (.gpkg), a zipped Shapefile (.zip) or a FlatGeobuf (.fgb)",
            )))
        }
    }
}

/// Where a submission stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// 排队: waiting for its check.
    Queued,
    /// 质检中: being checked.
    Checking,
    /// 质检通过: no error (warnings may remain to sign off).
    Passed,
    /// 质检未通过: errors found.
    Failed,
    /// 无法读取: the package could not be read (no CRS, a broken file …).
    Unreadable,
    /// 入库中: being imported into the one map.
    Importing,
    /// 已退回.
    Returned,
    /// 已入库.
    Accepted,
}

impl SubmissionStatus {
    fn id(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Checking => "checking",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Unreadable => "unreadable",
            Self::Importing => "importing",
            Self::Returned => "returned",
            Self::Accepted => "accepted",
        }
    }
}

impl Bilingual for SubmissionStatus {
    fn msg(&self) -> Msg {
        match self {
            Self::Queued => Msg::new("排队等待质检", "queued"),
            Self::Checking => Msg::new("质检中", "checking"),
            Self::Passed => Msg::new("质检通过", "passed"),
            Self::Failed => Msg::new("质检未通过", "failed"),
            Self::Unreadable => Msg::new("无法读取", "unreadable"),
            Self::Importing => Msg::new("入库中", "importing"),
            Self::Returned => Msg::new("已退回", "returned"),
            Self::Accepted => Msg::new("已入库", "accepted"),
        }
    }
}

/// One finding as a submission keeps it: numbered, placed in longitude and latitude.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FindingView {
    /// Its number in the report (from 1): sign-offs name it.
    pub number: usize,
    /// The rule's id.
    pub rule: String,
    /// `error` or `warning`.
    pub severity: String,
    /// The feature's position in the package (from 1); 0 when it concerns no feature (a rule
    /// that could not run).
    pub feature: usize,
    /// What was found, with the measured value against the limit.
    pub message: Msg,
    /// Where, as `[longitude, latitude]`.
    pub location: Option<[f64; 2]>,
    /// Where, in the checked CRS (metres).
    pub planar: Option<[f64; 2]>,
    /// The error's shape (GeoJSON, longitude and latitude).
    pub geometry: Option<Value>,
}

/// A warning signed off by an authorised person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignOff {
    /// The finding's number.
    pub finding: usize,
    /// Who signed it off.
    pub by: String,
    /// When.
    #[schemars(with = "String")]
    pub at: Timestamp,
    /// Why it may stand.
    pub reason: String,
}

/// The report files of a checked submission, by SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportFiles {
    /// The Excel workbook (汇总, 问题清单).
    pub excel: String,
    /// The GeoPackage of error geometries.
    pub geopackage: String,
}

/// A decision on a submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// `return` or `accept`.
    pub action: String,
    /// Who decided.
    pub by: String,
    /// When.
    #[schemars(with = "String")]
    pub at: Timestamp,
    /// Why (a return's reason).
    pub reason: Option<String>,
    /// Features imported into the one map (accepted).
    pub imported: Option<u64>,
}

/// A package submitted to a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Submission {
    /// Its id.
    pub id: String,
    /// The project's number.
    pub project: String,
    /// The firm that submitted it.
    pub firm: String,
    /// The file's name as submitted.
    pub file_name: String,
    /// Its format.
    pub format: PackageFormat,
    /// The package's SHA-256 (kept as submitted).
    pub package: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The rule set it is checked by.
    pub rule_set: String,
    /// Where it stands.
    pub status: SubmissionStatus,
    /// When it was submitted.
    #[schemars(with = "String")]
    pub submitted_at: Timestamp,
    /// Who submitted it.
    pub submitted_by: String,
    /// When its check finished.
    #[schemars(with = "Option<String>")]
    pub checked_at: Option<Timestamp>,
    /// The CRS it was checked in.
    pub crs: Option<String>,
    /// Totals: features, errors, warnings, each rule's count, the rules not run.
    pub summary: Option<Value>,
    /// The findings (the first [`gate::KEPT_FINDINGS`]; the report files hold them all).
    #[serde(default)]
    pub findings: Vec<FindingView>,
    /// The report files.
    pub reports: Option<ReportFiles>,
    /// Why the package could not be read or imported.
    pub problem: Option<Msg>,
    /// Warnings signed off.
    #[serde(default)]
    pub sign_offs: Vec<SignOff>,
    /// The decision, once made.
    pub decision: Option<Decision>,
    /// Times its check was started (a check a server could not finish is started again, a few
    /// times at most).
    #[serde(default)]
    pub attempts: u32,
}

impl Submission {
    /// Errors found.
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.total("errors")
    }

    /// Warnings found.
    #[must_use]
    pub fn warnings(&self) -> u64 {
        self.total("warnings")
    }

    fn total(&self, what: &str) -> u64 {
        self.summary
            .as_ref()
            .and_then(|s| s[what].as_u64())
            .unwrap_or(0)
    }

    /// The warnings not yet signed off, by number.
    #[must_use]
    pub fn unsigned_warnings(&self) -> Vec<usize> {
        let signed: BTreeSet<usize> = self.sign_offs.iter().map(|s| s.finding).collect();
        self.findings
            .iter()
            .filter(|f| f.severity == "warning" && !signed.contains(&f.number))
            .map(|f| f.number)
            .collect()
    }
}

/// What a survey step could not do.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    /// A field of the request is wrong.
    #[error("{field}: {}", msg.en)]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why, in both languages.
        msg: Msg,
    },
    /// No such project or submission.
    #[error("{}", .0.en)]
    NotFound(Msg),
    /// The step does not fit where the project or submission stands.
    #[error("{}", .0.en)]
    State(Msg),
    /// The package cannot be used.
    #[error("{}", .0.en)]
    Package(Msg),
    /// The accepted package could not be imported.
    #[error("{}", .0.en)]
    Import(Msg),
    /// The store failed (or someone else changed the record first: a conflict).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something of this server failed (a temporary file, a report that cannot be made).
    #[error("{0}")]
    Internal(String),
}

impl SurveyError {
    /// The message in both languages.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Invalid { msg, .. }
            | Self::NotFound(msg)
            | Self::State(msg)
            | Self::Package(msg)
            | Self::Import(msg) => msg.clone(),
            Self::Store(StoreError::Conflict { .. }) => Msg::new(
                "记录已被他人修改，请刷新后重试",
                "someone else changed this first: reload and try again",
            ),
            Self::Store(e) => Msg::new(format!("数据库错误：{e}"), format!("store error: {e}")),
            Self::Internal(e) => Msg::new(
                format!("服务器内部错误：{e}"),
                format!("internal error: {e}"),
            ),
        }
    }
}

fn invalid(field: &'static str, zh: impl Into<String>, en: impl Into<String>) -> SurveyError {
    SurveyError::Invalid {
        field,
        msg: Msg::new(zh, en),
    }
}

fn text_field(field: &'static str, label: &str, value: &str) -> Result<String, SurveyError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 200 {
        return Err(invalid(
            field,
            format!("{label}不能为空，且不超过 200 字"),
            format!("{field} must be given, at most 200 characters"),
        ));
    }
    Ok(v.to_owned())
}

/// The area of a project: a polygonal GeoJSON geometry in longitude and latitude, kept as
/// parsed (nothing else of what was sent), and its ellipsoidal area in m².
fn project_area(area: &Value) -> Result<(Value, f64), SurveyError> {
    let bad = |why: String| {
        invalid(
            "area",
            format!("项目范围应为经纬度的 GeoJSON 面：{why}"),
            format!("the area must be a GeoJSON polygon in longitude and latitude: {why}"),
        )
    };
    let (geom, m2) = tudi_geo::io::geojson::lonlat_area(area).map_err(|(_, en)| bad(en))?;
    Ok((tudi_geo::io::geojson::geometry_to_value(&geom), m2))
}

/// Registers a project; returns it with its new number.
///
/// # Errors
/// A field missing or wrong (named); the store fails.
pub fn register(
    store: &dyn Store,
    change: &Change,
    new: &NewProject,
) -> Result<Project, SurveyError> {
    let name = text_field("name", "项目名称", &new.name)?;
    let client = text_field("client", "委托单位", &new.client)?;
    let firm = text_field("firm", "测绘单位", &new.firm)?;
    let layer = new
        .layer
        .as_deref()
        .map_or(new.kind.default_layer(), str::trim)
        .to_owned();
    let named_well = layer.len() <= 63
        && layer.starts_with(|c: char| c.is_ascii_lowercase())
        && layer
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !named_well {
        return Err(invalid(
            "layer",
            format!("图层名“{layer}”无效：须以小写英文字母开头，只含小写字母、数字和下划线"),
            format!(
                "layer name {layer:?} is not valid: a lowercase letter, then lowercase letters, digits and _"
            ),
        ));
    }
    let area = new.area.as_ref().map(project_area).transpose()?;
    let (area, area_m2) = match area {
        Some((shape, m2)) => (Some(shape), Some(m2)),
        None => (None, None),
    };
    let now = Timestamp::now();
    let year = now
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .year();
    let mut made = None;
    store.write_numbered(change, &format!("survey_project:{year}"), &mut |n| {
        let project = Project {
            id: format!("CH{year}-{n:04}"),
            name: name.clone(),
            kind: new.kind,
            client: client.clone(),
            firm: firm.clone(),
            layer: layer.clone(),
            area: area.clone(),
            area_m2,
            deadline: new.deadline,
            status: ProjectStatus::Registered,
            registered_at: now,
            registered_by: change.actor.clone(),
            submissions: Vec::new(),
            importing: None,
        };
        let write = project_write(&project, Expect::Absent).map_err(|e| StoreError::Database {
            doing: "writing a survey project",
            source: e.to_string().into(),
        })?;
        made = Some(project);
        Ok(vec![write])
    })?;
    made.ok_or_else(|| SurveyError::Internal("no project number was taken".into()))
}

fn to_body<T: Serialize>(value: &T) -> Result<Value, SurveyError> {
    serde_json::to_value(value).map_err(|e| SurveyError::Internal(e.to_string()))
}

fn project_write(project: &Project, expect: Expect) -> Result<RecordWrite, SurveyError> {
    Ok(RecordWrite {
        collection: PROJECTS.into(),
        id: project.id.clone(),
        expect,
        body: Some(to_body(project)?),
        keys: vec![
            ("firm".into(), project.firm.clone()),
            ("status".into(), project.status.id().into()),
        ],
        detail: Some(json!({"status": project.status.id(), "firm": project.firm})),
    })
}

/// A submission's record: without its findings, which have a record of their own (written once,
/// with its check's outcome), so that lists and firms' records read little.
fn submission_write(sub: &Submission, expect: Expect) -> Result<RecordWrite, SurveyError> {
    let mut body = to_body(sub)?;
    if let Some(o) = body.as_object_mut() {
        o.insert("findings".into(), Value::Array(Vec::new()));
    }
    Ok(RecordWrite {
        collection: SUBMISSIONS.into(),
        id: sub.id.clone(),
        expect,
        body: Some(body),
        keys: vec![
            ("project".into(), sub.project.clone()),
            ("firm".into(), sub.firm.clone()),
            ("status".into(), sub.status.id().into()),
        ],
        detail: Some(json!({"status": sub.status.id(), "project": sub.project})),
    })
}

/// The record of a checked submission's findings.
fn findings_write(sub: &Submission) -> Result<RecordWrite, SurveyError> {
    Ok(RecordWrite {
        collection: FINDINGS.into(),
        id: sub.id.clone(),
        expect: Expect::Absent,
        body: Some(json!({"findings": to_body(&sub.findings)?})),
        keys: Vec::new(),
        detail: None,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(body: Value) -> Result<T, SurveyError> {
    serde_json::from_value(body).map_err(|e| SurveyError::Internal(format!("a stored record: {e}")))
}

/// What an unknown project number is told (and a project the caller may not read).
#[must_use]
pub fn no_project(id: &str) -> Msg {
    Msg::new(
        format!("没有编号为 {id} 的测绘项目"),
        format!("no survey project numbered {id}"),
    )
}

/// What an unknown submission is told (and one the caller may not read).
#[must_use]
pub fn no_submission(id: &str) -> Msg {
    Msg::new(
        format!("没有编号为 {id} 的成果提交"),
        format!("no submission {id}"),
    )
}

/// A project and its record's version.
///
/// # Errors
/// No such project; the store fails.
pub fn project(store: &dyn Store, id: &str) -> Result<(Project, u64), SurveyError> {
    let rec = store
        .record(PROJECTS, id)?
        .ok_or_else(|| SurveyError::NotFound(no_project(id)))?;
    Ok((parse(rec.body)?, rec.version))
}

/// A submission and its record's version.
///
/// # Errors
/// No such submission; the store fails.
pub fn submission(store: &dyn Store, id: &str) -> Result<(Submission, u64), SurveyError> {
    let rec = store
        .record(SUBMISSIONS, id)?
        .ok_or_else(|| SurveyError::NotFound(no_submission(id)))?;
    let mut sub: Submission = parse(rec.body)?;
    if let Some(found) = store.record(FINDINGS, id)? {
        sub.findings = parse(found.body["findings"].clone())?;
    }
    Ok((sub, rec.version))
}

/// Every project (of `firm`, when given), oldest first.
///
/// # Errors
/// The store fails.
pub fn projects(store: &dyn Store, firm: Option<&str>) -> Result<Vec<Project>, SurveyError> {
    let page = store.find_records(
        PROJECTS,
        &RecordQuery {
            key: firm.map(|f| ("firm".to_owned(), f.to_owned())),
            limit: None,
            offset: 0,
            descending: false,
        },
    )?;
    page.records.into_iter().map(|r| parse(r.body)).collect()
}

/// Every submission (of `key`, e.g. `("project", id)`), oldest first, without their findings
/// ([`submission`] reads one with them).
///
/// # Errors
/// The store fails.
pub fn submissions(
    store: &dyn Store,
    key: Option<(&str, &str)>,
) -> Result<Vec<Submission>, SurveyError> {
    let page = store.find_records(
        SUBMISSIONS,
        &RecordQuery {
            key: key.map(|(k, v)| (k.to_owned(), v.to_owned())),
            limit: None,
            offset: 0,
            descending: false,
        },
    )?;
    page.records.into_iter().map(|r| parse(r.body)).collect()
}

/// Names of a zip that are not the package's own: macOS's resource forks.
fn is_clutter(name: &str) -> bool {
    name.starts_with("__MACOSX/") || name.rsplit('/').next().is_some_and(|f| f.starts_with("._"))
}

/// Lists at most a few names, and how many more there are.
fn some_of(names: &[&str], sep: &str) -> String {
    let mut out = names.iter().take(5).copied().collect::<Vec<_>>().join(sep);
    if names.len() > 5 {
        out.push_str(&format!("{sep}… (+{})", names.len() - 5));
    }
    out
}

/// A zipped package, read from memory.
type Zipped<'a> = zip::ZipArchive<std::io::Cursor<&'a [u8]>>;

/// A zipped package opened, refused unless it holds one Shapefile with its `.shx` and `.dbf`;
/// with the Shapefile's path in the zip without `.shp`.
fn zipped_shapefile(bytes: &[u8]) -> Result<(Zipped<'_>, String), SurveyError> {
    let bad = |zh: String, en: String| SurveyError::Package(Msg::new(zh, en));
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        bad(
            "压缩包已损坏，无法打开".into(),
            format!("the zip is corrupt: {e}"),
        )
    })?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(std::borrow::Cow::into_owned)
        .filter(|n| !is_clutter(n))
        .collect();
    let shapefiles: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.to_ascii_lowercase().ends_with(".shp"))
        .collect();
    let stem = match shapefiles.as_slice() {
        [one] => one[..one.len() - 4].to_owned(),
        [] => {
            return Err(bad(
                "压缩包中没有 Shapefile（.shp）".into(),
                "the zip holds no Shapefile (.shp)".into(),
            ));
        }
        many => {
            return Err(bad(
                format!(
                    "压缩包中有多个 Shapefile（{}），请每次提交一个图层",
                    some_of(many, "、")
                ),
                format!(
                    "the zip holds several Shapefiles ({}): submit one layer at a time",
                    some_of(many, ", ")
                ),
            ));
        }
    };
    for ext in ["shx", "dbf"] {
        let wanted = format!("{}.{ext}", stem.to_ascii_lowercase());
        if !names.iter().any(|n| n.to_ascii_lowercase() == wanted) {
            return Err(bad(
                format!("压缩包中缺少 {stem}.{ext}"),
                format!("the zip lacks {stem}.{ext}"),
            ));
        }
    }
    Ok((archive, stem))
}

/// Writes a package where the import reads it: the file itself, or a zip's Shapefile with its
/// companions of the same name (as `package.*` in `dir`). Returns the file to read.
///
/// # Errors
/// A zip that is corrupt, not one Shapefile, or unpacks to more than 512 MiB; a write failing.
pub fn unpack(bytes: &[u8], format: PackageFormat, dir: &Path) -> Result<PathBuf, SurveyError> {
    let io = |e: std::io::Error| SurveyError::Internal(format!("cannot unpack a package: {e}"));
    match format {
        PackageFormat::GeoPackage | PackageFormat::FlatGeobuf => {
            let ext = if format == PackageFormat::GeoPackage {
                "gpkg"
            } else {
                "fgb"
            };
            let path = dir.join(format!("package.{ext}"));
            std::fs::write(&path, bytes).map_err(io)?;
            Ok(path)
        }
        PackageFormat::ZippedShapefile => {
            let (mut archive, stem) = zipped_shapefile(bytes)?;
            let stem = stem.to_ascii_lowercase();
            let mut budget = MAX_UNPACKED;
            for i in 0..archive.len() {
                let mut entry = archive.by_index(i).map_err(|e| {
                    SurveyError::Package(Msg::new(
                        "压缩包已损坏，无法展开",
                        format!("the zip is corrupt: {e}"),
                    ))
                })?;
                let lower = entry
                    .name()
                    .map(|n| n.to_ascii_lowercase())
                    .unwrap_or_default();
                // Only the Shapefile's own companions: a stray `.dbf` elsewhere is not its.
                let Some(ext) = ["shp", "shx", "dbf", "prj", "cpg"]
                    .into_iter()
                    .find(|ext| lower == format!("{stem}.{ext}"))
                else {
                    continue;
                };
                let mut out =
                    std::fs::File::create(dir.join(format!("package.{ext}"))).map_err(io)?;
                let written =
                    std::io::copy(&mut (&mut entry).take(budget + 1), &mut out).map_err(|e| {
                        SurveyError::Package(Msg::new(
                            "压缩包已损坏，无法展开",
                            format!("the zip is corrupt: {e}"),
                        ))
                    })?;
                if written > budget {
                    return Err(SurveyError::Package(Msg::new(
                        "压缩包展开后超过 512 MiB，拒绝处理",
                        "the zip unpacks to more than 512 MiB: refused",
                    )));
                }
                budget -= written;
            }
            Ok(dir.join("package.shp"))
        }
    }
}

/// Takes in a package for `project_id`: kept as submitted, queued for its check. The project
/// is then `submitted`.
///
/// # Errors
/// No such project; a project already accepted; an empty package or one of no known format; a
/// zip that is not one Shapefile; the store fails.
pub fn submit(
    store: &dyn Store,
    change: &Change,
    project_id: &str,
    file_name: &str,
    bytes: &[u8],
) -> Result<Submission, SurveyError> {
    let (mut project, version) = project(store, project_id)?;
    if project.status == ProjectStatus::Accepted {
        return Err(SurveyError::State(Msg::new(
            format!("项目 {project_id} 的成果已入库，不再接收提交"),
            format!("project {project_id} is accepted: it takes no more submissions"),
        )));
    }
    if project.importing.is_some() {
        return Err(importing(&project));
    }
    // One check at a time per project: a firm cannot queue a flood of them.
    let waiting = submissions(store, Some(("project", project_id)))?
        .into_iter()
        .any(|s| {
            matches!(
                s.status,
                SubmissionStatus::Queued | SubmissionStatus::Checking
            )
        });
    if waiting {
        return Err(SurveyError::State(Msg::new(
            format!("项目 {project_id} 已有成果在质检中，请等其完成后再提交"),
            format!(
                "a package of project {project_id} is being checked: submit again once it is done"
            ),
        )));
    }
    let format = PackageFormat::of(bytes)?;
    if format == PackageFormat::ZippedShapefile {
        zipped_shapefile(bytes)?;
    }
    let file_name = file_name.trim();
    let file_name = if file_name.is_empty() {
        "package"
    } else {
        file_name
    };
    let id = uuid::Uuid::now_v7().to_string();
    let sub = Submission {
        id: id.clone(),
        project: project.id.clone(),
        firm: project.firm.clone(),
        file_name: file_name.chars().take(200).collect(),
        format,
        package: tudi_store::audit::sha256_hex(bytes),
        bytes: bytes.len() as u64,
        rule_set: project.kind.rule_set().to_owned(),
        status: SubmissionStatus::Queued,
        submitted_at: Timestamp::now(),
        submitted_by: change.actor.clone(),
        checked_at: None,
        crs: None,
        summary: None,
        findings: Vec::new(),
        reports: None,
        problem: None,
        sign_offs: Vec::new(),
        decision: None,
        attempts: 0,
    };
    project.status = ProjectStatus::Submitted;
    project.submissions.push(id.clone());
    store.write_blob_with_records(
        change,
        &BlobWrite {
            content_type: "application/octet-stream",
            bytes,
            resource: &format!("{SUBMISSIONS}:{id}"),
        },
        &[
            submission_write(&sub, Expect::Absent)?,
            project_write(&project, Expect::Version(version))?,
        ],
    )?;
    Ok(sub)
}

fn importing(project: &Project) -> SurveyError {
    SurveyError::State(Msg::new(
        format!("项目 {} 的成果正在入库，请稍后再试", project.id),
        format!(
            "results of project {} are being accepted into the one map: try again shortly",
            project.id
        ),
    ))
}

/// The submissions waiting for a check, and those left mid-check since before
/// `checking_before` (by a server that stopped: a running check is at most minutes old), oldest
/// first.
///
/// # Errors
/// The store fails.
pub fn pending(store: &dyn Store, checking_before: Timestamp) -> Result<Vec<String>, SurveyError> {
    let mut ids = Vec::new();
    for status in [SubmissionStatus::Queued, SubmissionStatus::Checking] {
        let page = store.find_records(
            SUBMISSIONS,
            &RecordQuery {
                key: Some(("status".into(), status.id().into())),
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        ids.extend(
            page.records
                .into_iter()
                .filter(|r| status == SubmissionStatus::Queued || r.updated_at < checking_before)
                .map(|r| r.id),
        );
    }
    ids.sort();
    Ok(ids)
}

/// Times a check is started before its submission is given up as one the server cannot check.
pub const MAX_ATTEMPTS: u32 = 3;

/// Makes an Excel workbook of tables (the server's writer), or says why it cannot.
pub type ExcelWriter = dyn Fn(&[&Table]) -> Result<Vec<u8>, String>;

/// How far a check has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Progress {
    /// `unpacking`, `checking` (rules done of all) or `reporting`.
    pub stage: &'static str,
    /// Steps done.
    pub done: u64,
    /// Steps in all.
    pub total: u64,
}

/// Checks submission `id` with its project's rule set against the store's other layers, writes
/// its report files (the Excel workbook that `excel` makes of the tables, the GeoPackage of
/// error geometries) and keeps the outcome: `passed`, `failed`, or `unreadable` with why.
/// `observe` hears how far it has come. The same package checked twice gives the same report.
///
/// # Errors
/// No such submission, or one not waiting for its check; the store fails. (A package that
/// cannot be read is an outcome, not an error.)
pub fn check(
    store: &dyn Store,
    change: &Change,
    id: &str,
    excel: &ExcelWriter,
    observe: &(dyn Fn(Progress) + Sync),
) -> Result<Submission, SurveyError> {
    let (mut sub, version) = submission(store, id)?;
    if !matches!(
        sub.status,
        SubmissionStatus::Queued | SubmissionStatus::Checking
    ) {
        return Err(SurveyError::State(Msg::new(
            format!("成果提交 {id} 不在等待质检"),
            format!("submission {id} is not waiting for its check"),
        )));
    }
    // Claimed, counted: of two servers starting it at once one goes on; a package that stops
    // every server that checks it is given up after a few tries, with why.
    sub.status = SubmissionStatus::Checking;
    sub.attempts += 1;
    if sub.attempts > MAX_ATTEMPTS {
        sub.status = SubmissionStatus::Unreadable;
        sub.checked_at = Some(Timestamp::now());
        sub.problem = Some(Msg::new(
            format!("质检 {MAX_ATTEMPTS} 次均未能完成（服务器故障），请联系管理员或重新提交"),
            format!(
                "the check could not be finished in {MAX_ATTEMPTS} tries (a server fault): ask the administrator or submit again"
            ),
        ));
    }
    let version =
        store.write_records(change, &[submission_write(&sub, Expect::Version(version))?])?[0];
    if sub.status == SubmissionStatus::Unreadable {
        return Ok(sub);
    }
    let (project, _) = project(store, &sub.project)?;
    observe(Progress {
        stage: "unpacking",
        done: 0,
        total: 1,
    });
    let outcome = read_and_check(store, &sub, &project, observe);
    sub.checked_at = Some(Timestamp::now());
    match outcome {
        Err(SurveyError::Package(why)) => {
            sub.status = SubmissionStatus::Unreadable;
            sub.problem = Some(why);
            store.write_records(change, &[submission_write(&sub, Expect::Version(version))?])?;
        }
        Err(e) => return Err(e),
        Ok((set, checked)) => {
            observe(Progress {
                stage: "reporting",
                done: 0,
                total: 1,
            });
            let report = &checked.report;
            let crs = checked.crs;
            let workbook = excel(&[
                &report.totals_table(&set),
                &report.findings_table(&crs.code_string()),
            ])
            .map_err(|e| SurveyError::Internal(format!("the Excel report: {e}")))?;
            let dir = tempfile::tempdir().map_err(|e| SurveyError::Internal(e.to_string()))?;
            let gpkg = dir.path().join("findings.gpkg");
            crate::export::findings_geopackage(&gpkg, report, crs.epsg())?;
            let gpkg = std::fs::read(&gpkg).map_err(|e| SurveyError::Internal(e.to_string()))?;
            let resource = format!("{SUBMISSIONS}:{id}");
            let blob = |content_type: &str, bytes: &[u8]| {
                store
                    .write_blob_with_records(
                        change,
                        &BlobWrite {
                            content_type,
                            bytes,
                            resource: &resource,
                        },
                        &[],
                    )
                    .map(|(sha, _)| sha)
            };
            let reports = ReportFiles {
                excel: blob(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    &workbook,
                )?,
                geopackage: blob("application/geopackage+sqlite3", &gpkg)?,
            };
            sub.status = if checked.passes() {
                SubmissionStatus::Passed
            } else {
                SubmissionStatus::Failed
            };
            sub.crs = Some(crs.code_string());
            sub.summary = Some(gate::summary(&set, report));
            sub.findings = findings_view(report, crs);
            sub.reports = Some(reports);
            store.write_records(
                change,
                &[
                    submission_write(&sub, Expect::Version(version))?,
                    findings_write(&sub)?,
                ],
            )?;
        }
    }
    Ok(sub)
}

fn read_and_check(
    store: &dyn Store,
    sub: &Submission,
    project: &Project,
    observe: &(dyn Fn(Progress) + Sync),
) -> Result<(RuleSet, Checked), SurveyError> {
    let package = store.blob(&sub.package)?.ok_or_else(|| {
        SurveyError::Internal(format!("the package of submission {} is missing", sub.id))
    })?;
    let set = RuleSet::find(&sub.rule_set)
        .map_err(|e| SurveyError::Internal(format!("rule set {}: {}", sub.rule_set, e.msg().en)))?;
    let dir = tempfile::tempdir().map_err(|e| SurveyError::Internal(e.to_string()))?;
    let path = unpack(&package.bytes, sub.format, dir.path())?;
    let opts = ImportOptions::new(&project.layer, project.kind.layer_kind());
    let checked = gate::check_file_observed(store, &path, &opts, &set, &|done, total| {
        observe(Progress {
            stage: "checking",
            done: done as u64,
            total: total as u64,
        });
    })
    .map_err(|e| match e {
        import::ImportError::Store(s) => SurveyError::Store(s),
        other => SurveyError::Package(other.msg()),
    })?;
    Ok((set, checked))
}

/// The kept findings, numbered, placed in longitude and latitude as well as in `crs`.
fn findings_view(report: &crate::check::Report, crs: Crs) -> Vec<FindingView> {
    let to_lonlat = Transformer::new(crs, Crs::WGS84).ok();
    let mut shown: Vec<FindingView> = report
        .findings
        .iter()
        .take(gate::KEPT_FINDINGS)
        .enumerate()
        .map(|(n, f)| {
            // What concerns a feature whole is placed inside its shape, for the map to go to.
            let place = f.location.or_else(|| {
                f.geometry
                    .as_ref()
                    .and_then(geo::InteriorPoint::interior_point)
                    .map(|p| p.0)
            });
            let location = place.and_then(|c| {
                let (x, y) = to_lonlat.as_ref()?.apply(c.x, c.y).ok()?;
                Some([x, y])
            });
            let geometry = f.geometry.clone().and_then(|mut g| {
                to_lonlat.as_ref()?.apply_geometry(&mut g).ok()?;
                Some(tudi_geo::io::geojson::geometry_to_value(&g))
            });
            FindingView {
                number: n + 1,
                rule: f.rule.clone(),
                severity: f.severity.msg().en,
                feature: f.feature + 1,
                message: f.message.clone(),
                location,
                planar: place.map(|c| [c.x, c.y]),
                geometry,
            }
        })
        .collect();
    // A rule that could not run (its layer absent) leaves the check incomplete: it stands as a
    // warning of its own, which someone must sign off before the results enter the one map.
    let first = shown.len();
    shown.extend(report.skipped.iter().enumerate().map(|(k, missing)| {
        let why = missing.msg();
        FindingView {
            number: first + k + 1,
            rule: missing.rule.clone(),
            severity: "warning".into(),
            feature: 0,
            message: Msg::new(
                format!("{}，须签认后方可入库", why.zh),
                format!(
                    "{}: to be signed off before the results are accepted",
                    why.en
                ),
            ),
            location: None,
            planar: None,
            geometry: None,
        }
    }));
    shown
}

fn decidable(sub: &Submission, allowed: &[SubmissionStatus], what: Msg) -> Result<(), SurveyError> {
    if allowed.contains(&sub.status) {
        return Ok(());
    }
    let now = sub.status.msg();
    Err(SurveyError::State(Msg::new(
        format!("成果提交当前为“{}”，不能{}", now.zh, what.zh),
        format!("the submission is {}: it cannot be {}", now.en, what.en),
    )))
}

/// Signs off warnings `findings` (their numbers) of a passed submission, with why they may
/// stand.
///
/// # Errors
/// A submission not passed; no reason; a number that is no warning of it; a conflict.
pub fn sign_off(
    store: &dyn Store,
    change: &Change,
    id: &str,
    findings: &[usize],
    reason: &str,
) -> Result<Submission, SurveyError> {
    let (mut sub, version) = submission(store, id)?;
    decidable(
        &sub,
        &[SubmissionStatus::Passed],
        Msg::new("签认警告", "signed off"),
    )?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(invalid(
            "reason",
            "请写明签认理由（不超过 500 字）",
            "give the reason the warnings may stand (at most 500 characters)",
        ));
    }
    if findings.is_empty() || findings.len() > gate::KEPT_FINDINGS {
        return Err(invalid(
            "findings",
            format!("请列出要签认的警告编号（1 至 {} 条）", gate::KEPT_FINDINGS),
            format!(
                "list the numbers of the warnings to sign off (1 to {})",
                gate::KEPT_FINDINGS
            ),
        ));
    }
    let signed: BTreeSet<usize> = sub.sign_offs.iter().map(|s| s.finding).collect();
    let warnings: BTreeSet<usize> = sub
        .findings
        .iter()
        .filter(|f| f.severity == "warning")
        .map(|f| f.number)
        .collect();
    let now = Timestamp::now();
    for &n in findings {
        let is_warning = warnings.contains(&n);
        if !is_warning {
            return Err(invalid(
                "findings",
                format!("第 {n} 条不是本次质检的警告，不能签认（错误须修改后重新提交）"),
                format!(
                    "finding {n} is not a warning of this check: it cannot be signed off (errors must be corrected and submitted again)"
                ),
            ));
        }
        if !signed.contains(&n) {
            sub.sign_offs.push(SignOff {
                finding: n,
                by: change.actor.clone(),
                at: now,
                reason: reason.to_owned(),
            });
        }
    }
    sub.sign_offs.sort_by_key(|s| s.finding);
    sub.sign_offs.dedup_by_key(|s| s.finding);
    store.write_records(change, &[submission_write(&sub, Expect::Version(version))?])?;
    Ok(sub)
}

/// Returns a checked submission to its firm with the report and why; the project is then
/// `returned` (the firm may submit again).
///
/// # Errors
/// A submission not checked yet or decided already; no reason; a conflict.
pub fn return_to_firm(
    store: &dyn Store,
    change: &Change,
    id: &str,
    reason: &str,
) -> Result<Submission, SurveyError> {
    let (mut sub, version) = submission(store, id)?;
    decidable(
        &sub,
        &[
            SubmissionStatus::Passed,
            SubmissionStatus::Failed,
            SubmissionStatus::Unreadable,
        ],
        Msg::new("退回", "returned"),
    )?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(invalid(
            "reason",
            "请写明退回理由（不超过 500 字）",
            "give the reason for returning it (at most 500 characters)",
        ));
    }
    let (mut project, pv) = project(store, &sub.project)?;
    sub.status = SubmissionStatus::Returned;
    sub.decision = Some(Decision {
        action: "return".into(),
        by: change.actor.clone(),
        at: Timestamp::now(),
        reason: Some(reason.to_owned()),
        imported: None,
    });
    // The project is returned only when this was its latest submission: a newer one may be
    // waiting for its own decision.
    if project.status != ProjectStatus::Accepted
        && project
            .submissions
            .last()
            .is_some_and(|last| *last == sub.id)
    {
        project.status = ProjectStatus::Returned;
    }
    store.write_records(
        change,
        &[
            submission_write(&sub, Expect::Version(version))?,
            project_write(&project, Expect::Version(pv))?,
        ],
    )?;
    Ok(sub)
}

/// Accepts a submission into the one map: only when its check found no error and every
/// warning has been signed off. The package is imported into the project's layer, the check
/// kept with the layer, the project `accepted`.
///
/// # Errors
/// A submission not passed, or with warnings not signed off; the import failing (the
/// submission stays `passed`, with why); a conflict (someone else decided first).
pub fn accept(store: &dyn Store, change: &Change, id: &str) -> Result<Submission, SurveyError> {
    let (mut sub, version) = submission(store, id)?;
    decidable(
        &sub,
        &[SubmissionStatus::Passed],
        Msg::new("入库", "accepted"),
    )?;
    if sub.warnings() > sub.findings.len() as u64 {
        return Err(SurveyError::State(Msg::new(
            format!(
                "警告共 {} 条，超过可逐条签认的 {} 条：请退回成果",
                sub.warnings(),
                gate::KEPT_FINDINGS
            ),
            format!(
                "{} warnings are more than the {} that can be signed off one by one: return the results",
                sub.warnings(),
                gate::KEPT_FINDINGS
            ),
        )));
    }
    let unsigned = sub.unsigned_warnings();
    if !unsigned.is_empty() {
        let list: Vec<String> = unsigned.iter().map(ToString::to_string).collect();
        return Err(SurveyError::State(Msg::new(
            format!(
                "尚有 {} 条警告未签认（第 {} 条），不能入库",
                unsigned.len(),
                list.join("、")
            ),
            format!(
                "{} warnings are not signed off (numbers {}): nothing can enter the one map yet",
                unsigned.len(),
                list.join(", ")
            ),
        )));
    }
    let (mut project, pv) = project(store, &sub.project)?;
    if project.status == ProjectStatus::Accepted {
        return Err(SurveyError::State(Msg::new(
            format!("项目 {} 已有成果入库，不能再次入库", project.id),
            format!(
                "project {} has results accepted already: no more can be",
                project.id
            ),
        )));
    }
    if project.importing.is_some() {
        return Err(importing(&project));
    }
    // The submission and its project claimed together: of two accepting at once (the same
    // submission or two of one project) exactly one imports, and nothing else is written to
    // the project until it is done.
    sub.status = SubmissionStatus::Importing;
    project.importing = Some(sub.id.clone());
    let versions = store.write_records(
        change,
        &[
            submission_write(&sub, Expect::Version(version))?,
            project_write(&project, Expect::Version(pv))?,
        ],
    )?;
    let (version, pv) = (versions[0], versions[1]);
    let imported = match import_package(store, change, &sub, &project) {
        Ok(n) => n,
        Err(e) => {
            sub.status = SubmissionStatus::Passed;
            project.importing = None;
            if let SurveyError::Import(why) = &e {
                sub.problem = Some(why.clone());
            }
            store.write_records(
                change,
                &[
                    submission_write(&sub, Expect::Version(version))?,
                    project_write(&project, Expect::Version(pv))?,
                ],
            )?;
            return Err(e);
        }
    };
    let now = Timestamp::now();
    sub.status = SubmissionStatus::Accepted;
    sub.problem = None;
    sub.decision = Some(Decision {
        action: "accept".into(),
        by: change.actor.clone(),
        at: now,
        reason: None,
        imported: Some(imported),
    });
    project.status = ProjectStatus::Accepted;
    project.importing = None;
    let kept = RecordWrite {
        collection: gate::COLLECTION.into(),
        id: uuid::Uuid::now_v7().to_string(),
        expect: Expect::Absent,
        body: Some(json!({
            "layer": project.layer,
            "file": sub.file_name,
            "rule_set": sub.rule_set,
            "crs": sub.crs,
            "checked_at": sub.checked_at,
            "by": change.actor,
            "submission": sub.id,
            "project": project.id,
            "summary": sub.summary,
            "findings": sub.findings.iter().map(|f| json!({
                "rule": f.rule, "severity": f.severity, "feature": f.feature,
                "location": f.planar, "message": f.message,
            })).collect::<Vec<_>>(),
            "sign_offs": sub.sign_offs,
        })),
        keys: vec![("layer".into(), project.layer.clone())],
        detail: Some(json!({"layer": project.layer, "rule_set": sub.rule_set})),
    };
    store.write_records(
        change,
        &[
            submission_write(&sub, Expect::Version(version))?,
            project_write(&project, Expect::Version(pv))?,
            kept,
        ],
    )?;
    Ok(sub)
}

/// Imports a passed package into its project's layer, checked once more just before against
/// the store as it is now (other results may have been accepted since): a new error, or a
/// warning that was not signed off, refuses it. Returns the features imported.
fn import_package(
    store: &dyn Store,
    change: &Change,
    sub: &Submission,
    project: &Project,
) -> Result<u64, SurveyError> {
    let package = store.blob(&sub.package)?.ok_or_else(|| {
        SurveyError::Internal(format!("the package of submission {} is missing", sub.id))
    })?;
    let set = RuleSet::find(&sub.rule_set)
        .map_err(|e| SurveyError::Internal(format!("rule set {}: {}", sub.rule_set, e.msg().en)))?;
    let dir = tempfile::tempdir().map_err(|e| SurveyError::Internal(e.to_string()))?;
    let path = unpack(&package.bytes, sub.format, dir.path())?;
    let mut opts = ImportOptions::new(&project.layer, project.kind.layer_kind());
    opts.actor.clone_from(&change.actor);
    let checked = gate::check_file(store, &path, &opts, &set).map_err(|e| match e {
        import::ImportError::Store(s) => SurveyError::Store(s),
        other => SurveyError::Import(other.msg()),
    })?;
    let signed: BTreeSet<usize> = sub.sign_offs.iter().map(|s| s.finding).collect();
    // Findings are compared as (rule, feature) pairs: numbers differ between two checks.
    let allowed: BTreeSet<(String, usize)> = sub
        .findings
        .iter()
        .filter(|f| signed.contains(&f.number))
        .map(|f| (f.rule.clone(), f.feature))
        .collect();
    let now_errors = checked.report.count(crate::rules::Severity::Error);
    let unsigned_now: BTreeSet<(String, usize)> = checked
        .report
        .findings
        .iter()
        .filter(|f| f.severity == crate::rules::Severity::Warning)
        .map(|f| (f.rule.clone(), f.feature + 1))
        .chain(checked.report.skipped.iter().map(|m| (m.rule.clone(), 0)))
        .filter(|pair| !allowed.contains(pair))
        .collect();
    if now_errors > 0 || !unsigned_now.is_empty() {
        return Err(SurveyError::Import(Msg::new(
            format!(
                "一张图已有变化，重新检查发现错误 {now_errors} 条、未签认的警告 {} 条：请退回后重新提交",
                unsigned_now.len()
            ),
            format!(
                "the one map has changed since the check: checked again, {now_errors} errors and {} warnings not signed off — return the results for a new submission",
                unsigned_now.len()
            ),
        )));
    }
    import::import_file(store, &path, &opts, &mut |_| {})
        .map(|r| r.imported)
        .map_err(|e| match e {
            import::ImportError::Store(s) => SurveyError::Store(s),
            other => SurveyError::Import(other.msg()),
        })
}

/// A firm's record (质量诚信): its projects and how their checks went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct FirmRecord {
    /// The firm.
    pub firm: String,
    /// Projects registered to it.
    pub projects: u64,
    /// Packages it submitted.
    pub submissions: u64,
    /// Checks passed (no error).
    pub passed: u64,
    /// Checks failed (errors found).
    pub failed: u64,
    /// Packages that could not be read.
    pub unreadable: u64,
    /// Submissions returned to it.
    pub returned: u64,
    /// Submissions accepted into the one map.
    pub accepted: u64,
    /// Errors found in all its checks.
    pub errors: u64,
    /// Warnings found in all its checks.
    pub warnings: u64,
    /// Projects whose first checked package passed (一次通过).
    pub first_pass: u64,
    /// Projects with a checked package.
    pub checked_projects: u64,
    /// Projects past their deadline and not accepted.
    pub overdue: u64,
}

/// Every firm's record, by firm name. `today` decides which projects are overdue.
///
/// # Errors
/// The store fails.
pub fn firm_records(store: &dyn Store, today: Date) -> Result<Vec<FirmRecord>, SurveyError> {
    let mut firms: BTreeMap<String, FirmRecord> = BTreeMap::new();
    let subs = submissions(store, None)?;
    let by_id: BTreeMap<&str, &Submission> = subs.iter().map(|s| (s.id.as_str(), s)).collect();
    for p in projects(store, None)? {
        let r = firms.entry(p.firm.clone()).or_insert_with(|| FirmRecord {
            firm: p.firm.clone(),
            ..FirmRecord::default()
        });
        r.projects += 1;
        if p.status != ProjectStatus::Accepted && p.deadline < today {
            r.overdue += 1;
        }
        let first_checked = p
            .submissions
            .iter()
            .filter_map(|id| by_id.get(id.as_str()))
            .find(|s| s.checked_at.is_some());
        if let Some(first) = first_checked {
            r.checked_projects += 1;
            if first.summary.is_some() && first.errors() == 0 {
                r.first_pass += 1;
            }
        }
    }
    for s in &subs {
        let r = firms.entry(s.firm.clone()).or_insert_with(|| FirmRecord {
            firm: s.firm.clone(),
            ..FirmRecord::default()
        });
        r.submissions += 1;
        r.errors += s.errors();
        r.warnings += s.warnings();
        if s.status == SubmissionStatus::Unreadable || (s.summary.is_none() && s.problem.is_some())
        {
            r.unreadable += 1;
        } else if s.summary.is_some() {
            if s.errors() == 0 {
                r.passed += 1;
            } else {
                r.failed += 1;
            }
        }
        match s.status {
            SubmissionStatus::Returned => r.returned += 1,
            SubmissionStatus::Accepted => r.accepted += 1,
            _ => {}
        }
    }
    Ok(firms.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{MissingLayer, Report};

    #[test]
    fn a_rule_that_could_not_run_is_a_warning_to_sign_off() {
        let report = Report {
            features: 3,
            findings: Vec::new(),
            skipped: vec![MissingLayer {
                rule: "CTRL-JBNT".into(),
                layer: "permanent_farmland".into(),
                empty: false,
            }],
        };
        let shown = findings_view(&report, Crs::CGCS2000);
        assert_eq!(shown.len(), 1);
        assert_eq!(
            (
                shown[0].number,
                shown[0].rule.as_str(),
                shown[0].severity.as_str()
            ),
            (1, "CTRL-JBNT", "warning")
        );
        assert!(shown[0].message.zh.contains("permanent_farmland"));
        assert!(shown[0].message.zh.contains("签认"));
        let sub = Submission {
            id: "s".into(),
            project: "p".into(),
            firm: "f".into(),
            file_name: "x.gpkg".into(),
            format: PackageFormat::GeoPackage,
            package: String::new(),
            bytes: 0,
            rule_set: "village_plan".into(),
            status: SubmissionStatus::Passed,
            submitted_at: Timestamp::UNIX_EPOCH,
            submitted_by: "user:x".into(),
            checked_at: None,
            crs: None,
            summary: None,
            findings: shown,
            reports: None,
            problem: None,
            sign_offs: Vec::new(),
            decision: None,
            attempts: 1,
        };
        // Not accepted until someone signs it off.
        assert_eq!(sub.unsigned_warnings(), vec![1]);
    }

    #[test]
    fn a_package_is_told_by_its_first_bytes() {
        assert_eq!(
            PackageFormat::of(b"SQLite format 3\0rest").ok(),
            Some(PackageFormat::GeoPackage)
        );
        assert_eq!(
            PackageFormat::of(b"fgb\x03\x00").ok(),
            Some(PackageFormat::FlatGeobuf)
        );
        assert!(PackageFormat::of(b"").is_err());
        assert!(PackageFormat::of(b"{\"type\":\"FeatureCollection\"}").is_err());
    }
}
