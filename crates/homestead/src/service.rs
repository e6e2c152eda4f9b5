//! The homestead life cycle over the store: an application is a record (`homestead`) and a case
//! of the shared engine (`case`), always written together in one transaction, so the stage shown
//! in lists never disagrees with the case.
//!
//! Tasks are assigned to duties — "the village clerks of 沙涌村", "the 自然资源 handlers of the
//! district" — written `role@jurisdiction[#department]`; whether a person fills one is the access
//! policy's answer ([`tudi_access::policy::fills_duty`]). Eligibility is re-judged on fresh facts
//! when 农业农村 signs and at approval; the site check is re-run when 自然资源 signs; the staked and
//! built polygons are measured against the approved site; registration allocates the 不动产单元代码
//! and issues the signed certificate (see [`crate::registry`]).

use std::collections::BTreeMap;

use geo::{Area, BooleanOps};
use geo_types::{Geometry, MultiPolygon};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use tudi_access::policy::fills_duty;
use tudi_access::{Jurisdiction, Principal, Role};
use tudi_core::calendar::WorkCalendar;
use tudi_core::msg::Msg;
use tudi_farmland as farmland;
use tudi_farmland::journal::Reference;
use tudi_farmland::ledger::{Ledger, LedgerError};
use tudi_farmland::occupation::{CapacityTable, MeasureError, Occupation};
use tudi_flow::case::{Case, CaseStatus, Engine, FlowError, Op, TaskStatus};
use tudi_flow::definition::{ProcessDef, StepDef};
use tudi_flow::stored::{StoredError, Workflows};
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::compliance::{self, ComplianceError, RuleSet, Verdict as SiteVerdict};
use tudi_onemap::snapshot::MapView;
use tudi_sign::{KeyRing, SignError};
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::eligibility::{self, Disposal, Facts, Holding};
use crate::form::{ApplicationForm, FieldError, parse_site};
use crate::process::{self, KEY};

/// The grid layer whose cells name villages and towns.
pub const GRID_LAYER: &str = tudi_onemap::locate::GRID_LAYER;

/// How far a staked or built outline may stray outside the approved site: the larger of 1 m² and
/// 2 % of the approved area (tudi's default survey tolerance).
#[must_use]
pub fn tolerance_m2(approved_m2: f64) -> f64 {
    (approved_m2 * 0.02).max(1.0)
}

/// How much higher than approved a house may be built, metres (tudi's default).
pub const HEIGHT_TOLERANCE_M: f64 = 0.3;

/// The approval: 《农村宅基地批准书》 and 乡村建设规划许可证.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Approval {
    /// 农村宅基地批准书 number.
    pub homestead_permit: String,
    /// 乡村建设规划许可证 number.
    pub planning_permit: String,
    /// Approved homestead area, m².
    pub area_m2: f64,
    /// When.
    pub approved_on: Date,
}

/// What site visit 3 found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Built {
    /// The built outline (GeoJSON, CGCS2000).
    pub site: Value,
    /// Its area, m².
    pub area_m2: f64,
    /// Area outside the approved site, m².
    pub outside_m2: f64,
    /// Storeys built.
    pub storeys: u32,
    /// Height built, m.
    pub height_m: f64,
}

/// The registration: unit codes and the certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Registration {
    /// 不动产单元代码 of the house (…JC…F…).
    pub unit_code: String,
    /// Of the homestead parcel alone (…JC…W00000000).
    pub parcel_code: String,
    /// The certificate's id.
    pub certificate: String,
    /// When.
    pub registered_on: Date,
}

/// An application and everything its case has recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Application {
    /// 申请编号, `ZJD440605-2026-000001`.
    pub id: String,
    /// The form as submitted.
    pub form: ApplicationForm,
    /// The town (镇街) code.
    pub town: String,
    /// The site's area, m² (planar, Gauss–Krüger).
    pub site_area_m2: f64,
    /// When it was submitted.
    pub submitted_at: Timestamp,
    /// Who took it in.
    pub submitted_by: String,
    /// The stages it is at (several during the joint review), or `registered` / `refused`.
    pub stage: Vec<String>,
    /// 资格审定: the verdict, with every rule's finding.
    pub eligibility: Value,
    /// Whether every eligibility rule passed.
    pub eligible: bool,
    /// The one-map compliance report of the site.
    pub site_check: Value,
    /// Its verdict (通过 / 不通过 / 需人工核查).
    pub site_verdict: String,
    /// What each step recorded (minutes, opinions, visit findings), by step.
    #[serde(default)]
    pub records: BTreeMap<String, Value>,
    /// The approval, once given.
    #[serde(default)]
    pub approval: Option<Approval>,
    /// The farmland the site occupies, measured at approval and debited from the county's
    /// quota pool with it (以补定占).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation: Option<Value>,
    /// The staked outline (放线), GeoJSON.
    #[serde(default)]
    pub staked_site: Option<Value>,
    /// Construction dates.
    #[serde(default)]
    pub construction: Option<Value>,
    /// What the completion check found.
    #[serde(default)]
    pub built: Option<Built>,
    /// The registration.
    #[serde(default)]
    pub registration: Option<Registration>,
    /// Documents attached (scanned forms, identity papers, site photos).
    #[serde(default)]
    pub documents: Vec<Document>,
}

/// A document attached to an application, kept by its SHA-256 in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Document {
    /// The file's SHA-256 (hex), its address.
    pub sha256: String,
    /// Its name as given.
    pub name: String,
    /// What it is ([`DOCUMENT_KINDS`]).
    pub kind: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Who attached it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// What an attached document may be (申请材料 of 农经发〔2019〕6号 and the site visits).
pub const DOCUMENT_KINDS: [&str; 7] = [
    "申请表",
    "身份证明",
    "户口簿",
    "村民小组会议记录",
    "公示材料",
    "现场照片",
    "其他",
];

/// Largest document accepted (bytes).
pub const MAX_DOCUMENT: usize = 5 << 20;

/// Most documents on one application.
pub const MAX_DOCUMENTS: usize = 30;

impl Application {
    /// The form with identity numbers and the phone masked, for those the policy does not allow
    /// to see them.
    #[must_use]
    pub fn masked(&self, ids: bool, phone: bool) -> Self {
        let mut out = self.clone();
        let mask_id = |s: &mut String| {
            *s = tudi_core::personal::IdNumber::parse(s)
                .map_or_else(|_| "******".to_owned(), |i| i.masked());
        };
        if !ids {
            mask_id(&mut out.form.applicant.id_number);
            for p in &mut out.form.family {
                mask_id(&mut p.id_number);
            }
            // Findings name holdings by masked numbers already; nothing else carries an id.
        }
        if !phone {
            out.form.phone = tudi_core::personal::Phone::parse(&out.form.phone)
                .map_or_else(|_| "****".to_owned(), |p| p.masked());
        }
        out
    }
}

/// Why an operation was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum HomesteadError {
    /// A field is wrong.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// No such application or certificate.
    #[error("not found: {0}")]
    NotFound(String),
    /// The engine refused (not the caller's task, closed, changed meanwhile …).
    #[error(transparent)]
    Flow(FlowError),
    /// A rule of the process refuses it (eligibility failed, outline outside the approval …).
    #[error("{}", .0.en)]
    Refused(Msg),
    /// Signing failed (no key).
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl HomesteadError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Invalid(e) => e.message.clone(),
            Self::NotFound(what) => {
                Msg::new(format!("未找到 {what}"), format!("not found: {what}"))
            }
            Self::Flow(e) => e.message(),
            Self::Refused(m) => m.clone(),
            Self::Sign(e) => e.message(),
            Self::Store(e) => Msg::new(format!("存储出错：{e}"), format!("store error: {e}")),
        }
    }
}

impl From<StoreError> for HomesteadError {
    fn from(e: StoreError) -> Self {
        match StoredError::from(e) {
            StoredError::Flow(f) => Self::Flow(f),
            StoredError::Store(s) => Self::Store(s),
            other => Self::Refused(other.message()),
        }
    }
}

impl From<FlowError> for HomesteadError {
    fn from(e: FlowError) -> Self {
        Self::Flow(e)
    }
}

impl From<StoredError> for HomesteadError {
    fn from(e: StoredError) -> Self {
        match e {
            StoredError::Flow(f) => Self::Flow(f),
            StoredError::NotFound(what) => Self::NotFound(what),
            StoredError::Store(s) => Self::Store(s),
            StoredError::Definition(_, m) => Self::Refused(m),
        }
    }
}

fn ledger_error(e: LedgerError) -> HomesteadError {
    match e {
        LedgerError::Store(s) => HomesteadError::Store(s),
        other => HomesteadError::Refused(other.message()),
    }
}

impl From<ComplianceError> for HomesteadError {
    fn from(e: ComplianceError) -> Self {
        use tudi_core::msg::Bilingual;
        match e {
            ComplianceError::Store(s) => Self::Store(s),
            other => Self::Invalid(FieldError {
                field: "site".into(),
                message: other.msg(),
            }),
        }
    }
}

/// The farmland an application occupies against the county's quota pool (以补定占).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FarmlandCheck {
    /// What the site occupies.
    pub occupation: Occupation,
    /// What the pool holds now.
    pub pool: tudi_farmland::amount::Amounts,
    /// Whether the pool covers it (always, once approved).
    pub covered: bool,
    /// The debit posted with the approval.
    pub posting: Option<u64>,
    /// Why the approval would be refused now.
    pub message: Option<Msg>,
}

/// An application with its case.
#[derive(Debug, Clone, Serialize)]
pub struct Versioned {
    /// The application.
    pub application: Application,
    /// Its case (tasks, signatures, timeline).
    pub case: Case,
}

/// Filters of the application list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ListQuery {
    /// Town code.
    #[serde(default)]
    pub town: Option<String>,
    /// Village code.
    #[serde(default)]
    pub village: Option<String>,
    /// Stage (a step id, `joint_review`, `registered`, `refused`).
    #[serde(default)]
    pub stage: Option<String>,
    /// Submitted on or after.
    #[serde(default)]
    pub from: Option<Date>,
    /// Submitted on or before.
    #[serde(default)]
    pub to: Option<Date>,
}

/// What the clock did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Cases changed (reminders, overdue notices, timers advanced).
    pub changed: usize,
    /// Cases someone changed meanwhile (picked up on the next tick).
    pub skipped: usize,
    /// Registered homesteads added to the parcel layer.
    pub mapped: usize,
    /// Open steps past their deadline (for monitoring).
    pub overdue: usize,
}

/// The homestead service.
pub struct Homesteads<'a> {
    /// Records, cases, rights, certificates.
    pub store: &'a dyn Store,
    /// The one map, for the site check.
    pub map: MapView<'a>,
    /// Working days.
    pub calendar: &'a WorkCalendar,
    /// The district.
    pub district: &'a Jurisdiction,
    /// The site rule set (宅基地选址).
    pub site_rules: &'a RuleSet,
    /// The district's signing keys (registration issues certificates).
    pub keys: Option<&'a KeyRing>,
}

pub(crate) fn person_key(id_number: &str) -> String {
    let digest = sha2::Sha256::digest(format!("tudi-person:{id_number}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Database {
        doing: "encoding a homestead record",
        source: Box::new(e),
    })
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Database {
        doing: "decoding a homestead record",
        source: Box::new(e),
    })
}

/// The duty a step is assigned to for a case in `village`.
#[must_use]
pub fn duty(step: &StepDef, village: &str, district: &Jurisdiction) -> String {
    let place = match step.level.as_deref() {
        Some("village") => village.to_owned(),
        Some("town") => village.get(..9).unwrap_or(village).to_owned(),
        _ => district.as_str().to_owned(),
    };
    match &step.department {
        Some(d) => format!("{}@{place}#{d}", step.role),
        None => format!("{}@{place}", step.role),
    }
}

/// A duty's parts: role, place and department.
#[must_use]
pub fn parse_duty(entry: &str) -> Option<(Role, Jurisdiction, Option<&str>)> {
    let (role, rest) = entry.split_once('@')?;
    let (place, department) = match rest.split_once('#') {
        Some((p, d)) => (p, Some(d)),
        None => (rest, None),
    };
    Some((
        Role::parse(role)?,
        Jurisdiction::parse(place).ok()?,
        department,
    ))
}

/// Only those a task is assigned to may act on it; urging, commenting and withdrawing one's own
/// approval are open to anyone the caller's authorization already admitted (the engine refuses a
/// withdrawal by someone who did not sign).
pub(crate) fn may_act(
    engine: &Engine<'_>,
    task: &tudi_flow::case::Task,
    user: &str,
    op: &Op,
) -> Result<(), HomesteadError> {
    let mine = task.assignees.iter().any(|a| engine.fills(a, user));
    if !mine
        && !matches!(
            op,
            Op::Urge { .. } | Op::Comment { .. } | Op::Withdraw { .. }
        )
    {
        return Err(HomesteadError::Flow(FlowError::NotAssignee(
            user.to_owned(),
        )));
    }
    Ok(())
}

/// Whether `who` may sign an open task of `case` (one of its duties is theirs, or it names
/// them).
#[must_use]
pub fn awaits(case: &Case, who: &Principal) -> bool {
    case.open_tasks().any(|t| may_sign(t, who))
}

/// Whether `who` may sign `task` now: it is open, one of its duties is theirs (or it names
/// them), and they have not signed it already.
#[must_use]
pub fn may_sign(task: &tudi_flow::case::Task, who: &Principal) -> bool {
    task.status == TaskStatus::Open
        && task.assignees.iter().any(|a| {
            who.user.as_deref() == Some(a.as_str())
                || parse_duty(a)
                    .is_some_and(|(role, place, dept)| fills_duty(who, role, &place, dept))
        })
        && !task
            .signatures
            .iter()
            .any(|s| who.user.as_deref() == Some(s.user.as_str()))
}

/// A duty in words: 镇街审核人（440605011）, 部门处置人·自然资源（440605）.
#[must_use]
pub fn duty_name(entry: &str) -> String {
    match parse_duty(entry) {
        Some((role, place, Some(d))) => format!("{}·{d}（{}）", role.name_zh(), place.as_str()),
        Some((role, place, None)) => format!("{}（{}）", role.name_zh(), place.as_str()),
        None => entry.to_owned(),
    }
}

/// The civil date in Asia/Shanghai (UTC+8) of an instant.
pub fn local_date(at: Timestamp) -> Date {
    at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

/// The site in the Gauss–Krüger zone of its centre, for planar areas.
pub(crate) fn planar(site: &Geometry<f64>) -> Result<MultiPolygon<f64>, HomesteadError> {
    let lon = geo::Centroid::centroid(site).map_or(113.0, |p| p.x());
    let bad = |e: tudi_geo::crs::CrsError| {
        HomesteadError::Invalid(FieldError::new(
            "site",
            format!("坐标无法投影：{e}"),
            format!("coordinates cannot be projected: {e}"),
        ))
    };
    let zone = Crs::gk_zone_for(lon, false).map_err(bad)?;
    let mut g = site.clone();
    Transformer::new(Crs::CGCS2000, zone)
        .and_then(|t| t.apply_geometry(&mut g))
        .map_err(bad)?;
    Ok(tudi_geo::overlay::as_multipolygon(&g).unwrap_or(MultiPolygon(vec![])))
}

/// Area of `outline` outside `approved`, and `outline`'s own area, m².
fn outside(
    outline: &Geometry<f64>,
    approved: &Geometry<f64>,
) -> Result<(f64, f64), HomesteadError> {
    let (o, a) = (planar(outline)?, planar(approved)?);
    Ok((o.difference(&a).unsigned_area(), o.unsigned_area()))
}

fn stages(case: &Case) -> Vec<String> {
    match case.status {
        CaseStatus::Completed => vec!["registered".into()],
        CaseStatus::Rejected => vec!["refused".into()],
        CaseStatus::Running => {
            let mut out: Vec<String> = case
                .open_tasks()
                .map(|t| process::stage_of(&t.step).to_owned())
                .collect();
            out.dedup();
            out
        }
    }
}

fn form_text<'v>(form: &'v Value, name: &str) -> Option<&'v str> {
    form.get(name).and_then(Value::as_str)
}

fn form_date(form: &Value, name: &str) -> Result<Date, HomesteadError> {
    let field = format!("form.{name}");
    let text = form_text(form, name).ok_or_else(|| {
        FieldError::new(
            &field,
            format!("请填写 {name}（YYYY-MM-DD）"),
            format!("{name} is required (YYYY-MM-DD)"),
        )
    })?;
    text.parse::<Date>().map_err(|_| {
        HomesteadError::Invalid(FieldError::new(
            &field,
            format!("日期格式应为 YYYY-MM-DD，收到“{text}”"),
            format!("dates are YYYY-MM-DD, got {text:?}"),
        ))
    })
}

impl Homesteads<'_> {
    pub(crate) fn workflows(&self) -> Workflows<'_> {
        Workflows {
            store: self.store,
            calendar: self.calendar,
        }
    }

    /// The district's keys, when they can sign (registration and transfer need them before
    /// anything is numbered).
    pub(crate) fn signing_keys(&self) -> Result<&KeyRing, HomesteadError> {
        self.keys
            .filter(|k| k.can_sign())
            .ok_or(HomesteadError::Sign(SignError::NoActiveKey))
    }

    /// The deployed process (the shipped version is deployed on first use).
    ///
    /// # Errors
    /// Store failures.
    pub fn process(&self) -> Result<ProcessDef, HomesteadError> {
        let wf = self.workflows();
        match wf.latest(KEY) {
            Ok(def) => Ok(def),
            Err(StoredError::NotFound(_)) => {
                let def = process::shipped().map_err(|e| HomesteadError::Refused(e.message()))?;
                match wf.deploy(&Change::new("system", "process.deploy"), &def) {
                    // Deployed by someone else at the same moment: theirs is the same file.
                    Ok(()) | Err(StoredError::Definition(..)) => Ok(wf.latest(KEY)?),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn roll(&self, village: &str) -> Result<Vec<String>, HomesteadError> {
        Ok(match self.store.record("collective", village)? {
            Some(r) => decode::<CollectiveRoll>(r.body)?.members,
            None => Vec::new(),
        })
    }

    /// The facts eligibility judges, for `form`'s household, leaving out application `skip`.
    ///
    /// # Errors
    /// Store failures.
    pub fn facts(
        &self,
        form: &ApplicationForm,
        skip: Option<&str>,
    ) -> Result<Facts, HomesteadError> {
        let household: Vec<&str> = form.household().collect();
        self.facts_of(&form.village, &household, skip)
    }

    /// The facts eligibility judges for a household (identity numbers) in `village`, leaving
    /// out application `skip`.
    ///
    /// # Errors
    /// Store failures.
    pub fn facts_of(
        &self,
        village: &str,
        household: &[&str],
        skip: Option<&str>,
    ) -> Result<Facts, HomesteadError> {
        let mut facts = Facts {
            collective_members: self.roll(village)?,
            ..Facts::default()
        };
        for &member in household {
            let by = RecordQuery {
                key: Some(("person".into(), person_key(member))),
                limit: None,
                offset: 0,
                descending: false,
            };
            for rec in self.store.find_records("homestead_right", &by)?.records {
                let right: crate::registry::Right = decode(rec.body)?;
                if right.status == crate::registry::RightStatus::Held {
                    facts.holdings.push(Holding {
                        holder: member.to_owned(),
                        reference: right.unit_code,
                        approval: false,
                    });
                }
            }
            for rec in self.store.find_records("homestead", &by)?.records {
                if Some(rec.id.as_str()) == skip {
                    continue;
                }
                let app: Application = decode(rec.body)?;
                let open = !app
                    .stage
                    .iter()
                    .any(|s| s == "registered" || s == "refused");
                if let (Some(a), true) = (&app.approval, open) {
                    facts.holdings.push(Holding {
                        holder: member.to_owned(),
                        reference: a.homestead_permit.clone(),
                        approval: true,
                    });
                }
            }
            for rec in self.store.find_records("house_disposal", &by)?.records {
                let d: Disposal = decode(rec.body)?;
                facts.disposals.push(Disposal {
                    owner: member.to_owned(),
                    ..d
                });
            }
        }
        Ok(facts)
    }

    fn judge(
        &self,
        form: &ApplicationForm,
        area_m2: f64,
        skip: Option<&str>,
    ) -> Result<eligibility::Verdict, HomesteadError> {
        let facts = self.facts(form, skip)?;
        let app = eligibility::Application {
            applicant: form.applicant.id_number.clone(),
            family: form.family.iter().map(|p| p.id_number.clone()).collect(),
            terrain: form.terrain,
            area_m2,
            build: form.build,
            current: form.current,
        };
        Ok(eligibility::check(
            &app,
            &facts,
            eligibility::AreaStandard::for_district(self.district.as_str()),
        ))
    }

    fn in_village(
        &self,
        field: &str,
        village: &str,
        site: &Geometry<f64>,
    ) -> Result<(), HomesteadError> {
        match tudi_onemap::locate::within_cell(self.store, GRID_LAYER, village, site)? {
            Some(true) => Ok(()),
            Some(false) => Err(FieldError::new(
                field,
                format!("图形不在村居 {village} 范围内"),
                format!("the outline is not inside village {village}"),
            )
            .into()),
            None => Err(FieldError::new(
                "village",
                format!("一张图网格中没有村居 {village}"),
                format!("the grid has no village {village}"),
            )
            .into()),
        }
    }

    fn site_check(
        &self,
        site: &Geometry<f64>,
        terrain: eligibility::Terrain,
    ) -> Result<compliance::Report, HomesteadError> {
        let terrain = serde_json::to_value(terrain)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        Ok(compliance::analyse(
            self.map,
            self.site_rules,
            site,
            Crs::CGCS2000,
            terrain.as_deref(),
        )?)
    }

    pub(crate) fn engine_parts<'p>(
        &'p self,
        village: &'p str,
        who: Option<&'p Principal>,
    ) -> (
        impl Fn(&StepDef) -> Vec<String> + 'p,
        impl Fn(&str, &str) -> bool + 'p,
    ) {
        let district = self.district;
        let assign = move |s: &StepDef| vec![duty(s, village, district)];
        let holds = move |entry: &str, actor: &str| {
            let Some(p) = who else { return false };
            p.user.as_deref() == Some(actor)
                && parse_duty(entry)
                    .is_some_and(|(role, place, dept)| fills_duty(p, role, &place, dept))
        };
        (assign, holds)
    }

    /// Takes in an application: the form checked, the site inside the village, the site check
    /// and eligibility attached, a number given and the case started, in one transaction.
    ///
    /// # Errors
    /// [`HomesteadError::Invalid`] naming the field; nothing is written.
    pub fn submit(
        &self,
        who: &Principal,
        form: ApplicationForm,
        now: Timestamp,
    ) -> Result<Versioned, HomesteadError> {
        let site = form.check()?;
        let village = Jurisdiction::parse(&form.village).map_err(|m| FieldError {
            field: "village".into(),
            message: m,
        })?;
        if village.level() != tudi_access::policy::Level::Village
            || !self.district.contains(&village)
        {
            return Err(FieldError::new(
                "village",
                format!("{} 不是本区的村居", form.village),
                format!("{} is not a village of the district", form.village),
            )
            .into());
        }
        self.in_village("site", &form.village, &site)?;
        let report = self.site_check(&site, form.terrain)?;
        let area = report.input_area_m2;
        if form.footprint_m2 > area * 1.001 {
            return Err(FieldError::new(
                "footprint_m2",
                format!(
                    "建筑占地面积 {:.2} 平方米大于宅基地面积 {area:.2} 平方米",
                    form.footprint_m2
                ),
                format!(
                    "the footprint {:.2} m² exceeds the site's {area:.2} m²",
                    form.footprint_m2
                ),
            )
            .into());
        }
        let verdict = self.judge(&form, area, None)?;
        let def = self.process()?;
        let user = who.user.clone().unwrap_or_else(|| who.actor());
        let (assign, holds) = self.engine_parts(&form.village, Some(who));
        let engine = Engine {
            def: &def,
            assign: &assign,
            calendar: self.calendar,
            holds: Some(&holds),
        };
        let year = local_date(now).year();
        let change = Change {
            at: now,
            ..Change::new(who.actor(), "homestead.apply")
        };
        let town = form.village[..9].to_owned();
        let mut made: Option<Versioned> = None;
        let form_ref = &form;
        self.store.write_numbered(
            &change,
            &format!("homestead:{}:{year}", self.district.as_str()),
            &mut |n| {
                let id = format!("ZJD{}-{year}-{n:06}", self.district.as_str());
                let case =
                    Case::start(&engine, &id, &user, now).map_err(|e| StoreError::Database {
                        doing: "starting a homestead case",
                        source: Box::new(e),
                    })?;
                let app = Application {
                    id: id.clone(),
                    form: form_ref.clone(),
                    town: town.clone(),
                    site_area_m2: (area * 100.0).round() / 100.0,
                    submitted_at: now,
                    submitted_by: user.clone(),
                    stage: stages(&case),
                    eligibility: encode(&verdict)?,
                    eligible: verdict.eligible,
                    site_check: encode(&report)?,
                    site_verdict: encode(&report.verdict)?
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    records: BTreeMap::new(),
                    approval: None,
                    occupation: None,
                    staked_site: None,
                    construction: None,
                    built: None,
                    registration: None,
                    documents: Vec::new(),
                };
                let writes = vec![
                    Workflows::case_write(&case, Expect::Absent, "start").map_err(|e| match e {
                        StoredError::Store(s) => s,
                        other => StoreError::Schema(other.to_string()),
                    })?,
                    app_write(&app, Expect::Absent)?,
                ];
                made = Some(Versioned {
                    application: app,
                    case,
                });
                Ok(writes)
            },
        )?;
        made.ok_or_else(|| HomesteadError::NotFound("application".into()))
    }

    /// An application with its case.
    ///
    /// # Errors
    /// [`HomesteadError::NotFound`].
    pub fn read(&self, id: &str) -> Result<Versioned, HomesteadError> {
        Ok(self.load(id)?.0)
    }

    /// An application with its case, and the application record's version.
    fn load(&self, id: &str) -> Result<(Versioned, u64), HomesteadError> {
        let rec = self
            .store
            .record("homestead", id)?
            .ok_or_else(|| HomesteadError::NotFound(id.to_owned()))?;
        let application: Application = decode(rec.body)?;
        let case = self.workflows().case(id)?;
        Ok((Versioned { application, case }, rec.version))
    }

    /// Applies a person's action to the case at `revision`, with the step's own rules and
    /// records (`form`: what an approved step records, e.g. the staked outline); the
    /// application and the case are written together.
    ///
    /// # Errors
    /// [`HomesteadError`]; nothing is written.
    pub fn act(
        &self,
        who: &Principal,
        id: &str,
        revision: u64,
        op: Op,
        form: &Value,
        now: Timestamp,
    ) -> Result<Versioned, HomesteadError> {
        let (
            Versioned {
                application: mut app,
                mut case,
            },
            app_version,
        ) = self.load(id)?;
        let def = self.workflows().definition(&case.process, case.version)?;
        if case.revision != revision {
            return Err(HomesteadError::Flow(FlowError::Conflict {
                expected: revision,
                found: case.revision,
            }));
        }
        let user = who.user.clone().unwrap_or_else(|| who.actor());
        let village = app.form.village.clone();
        let (assign, holds) = self.engine_parts(&village, Some(who));
        let engine = Engine {
            def: &def,
            assign: &assign,
            calendar: self.calendar,
            holds: Some(&holds),
        };
        let task = case
            .tasks
            .iter()
            .find(|t| t.id == op.task())
            .cloned()
            .ok_or(HomesteadError::Flow(FlowError::UnknownTask(op.task())))?;
        may_act(&engine, &task, &user, &op)?;
        // A timer step (公示) ends by itself; people may object (reject or return) meanwhile,
        // but not cut it short.
        if let (Op::Approve { .. }, Some(step), Some(due)) = (&op, def.step(&task.step), task.due)
            && step.on_timeout == Some(tudi_flow::definition::OnTimeout::Advance)
            && task.status == TaskStatus::Open
        {
            return Err(HomesteadError::Refused(Msg::new(
                format!(
                    "「{}」期限未满（至 {}），届满后自动进入下一步；如有异议请驳回或不予通过",
                    step.name,
                    due.strftime("%Y-%m-%d")
                ),
                format!("{} runs until {due}: it ends by itself", step.id),
            )));
        }
        let name = op.name();
        let mut numbering: Option<Numbering> = None;
        match &op {
            Op::Approve { .. } if task.status == TaskStatus::Open => {
                numbering = self.before_approve(&mut app, &task.step, form, now)?;
            }
            // Numbers and certificates given at approval cannot be taken back by 撤回.
            Op::Withdraw { .. } if matches!(task.step.as_str(), "approval" | "registration") => {
                return Err(HomesteadError::Refused(Msg::new(
                    "审批和登记已出具证书，不能撤回；如有错误请走更正或注销",
                    "approval and registration issued documents and cannot be withdrawn",
                )));
            }
            _ => {}
        }
        case.act(&engine, revision, &user, op, now)?;
        app.stage = stages(&case);
        let change = Change {
            at: now,
            ..Change::new(who.actor(), format!("homestead.{name}"))
        };
        let case_write = Workflows::case_write(&case, Expect::Version(revision), name)?;
        match numbering {
            None => {
                self.store.write_records(
                    &change,
                    &[case_write, app_write(&app, Expect::Version(app_version))?],
                )?;
            }
            Some(Numbering::Permit) => {
                app = self.grant(&change, app, app_version, &case_write, &user, now)?;
            }
            Some(Numbering::Registration) => {
                app = crate::registry::register(self, &change, app, app_version, case_write, now)?;
                // The parcel joins the one map after the registration is safe; a failure here
                // is retried by the clock (`tick`), so nothing is lost.
                if let Err(e) = crate::registry::map_pending(self, now) {
                    tracing::warn!(error = %e, "registered homestead not yet on the parcel layer");
                }
            }
        }
        Ok(Versioned {
            application: app,
            case,
        })
    }

    /// Grants the approval: the permit numbered, the farmland the site occupies measured and
    /// debited from the county's quota pool (以补定占), the case and the application written in
    /// one transaction. When others post to the ledger meanwhile the debit is checked again
    /// against theirs, so of two approvals racing for the last quota exactly one is granted and
    /// the other is told what it lacks.
    fn grant(
        &self,
        change: &Change,
        mut app: Application,
        app_version: u64,
        case_write: &RecordWrite,
        user: &str,
        now: Timestamp,
    ) -> Result<Application, HomesteadError> {
        let site = parse_site("site", &app.form.site)?;
        let occupation = self.occupation_of(&site)?;
        app.occupation = Some(encode(&occupation)?);
        let ledger = Ledger::new(self.store, self.district.as_str());
        let year = local_date(now).year();
        let district = self.district.as_str().to_owned();
        for _ in 0..8 {
            let debit = if occupation.total.is_zero() {
                None
            } else {
                let draft = ledger.occupation_draft(
                    Reference {
                        kind: "homestead".into(),
                        id: app.id.clone(),
                    },
                    format!("宅基地审批占用耕地（申请 {}）", app.id),
                    occupation.total,
                );
                Some(ledger.prepare(draft, user, now).map_err(ledger_error)?)
            };
            let mut granted = app.clone();
            let made = self.store.write_numbered(
                change,
                &format!("homestead-permit:{district}:{year}"),
                &mut |n| {
                    granted = app.clone();
                    granted.approval = Some(Approval {
                        homestead_permit: format!("{district}宅批〔{year}〕{n:06}号"),
                        planning_permit: format!("乡字第{district}{year}{n:06}号"),
                        area_m2: app.site_area_m2,
                        approved_on: local_date(now),
                    });
                    let mut writes = vec![
                        case_write.clone(),
                        app_write(&granted, Expect::Version(app_version))?,
                    ];
                    if let Some(d) = &debit {
                        writes.extend(d.writes.iter().cloned());
                    }
                    Ok(writes)
                },
            );
            match made {
                Ok(_) => return Ok(granted),
                // Someone posted to the ledger first: measure the pool again.
                Err(StoreError::Conflict { collection, .. })
                    if debit.is_some() && collection.starts_with("farmland_") => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ledger_error(LedgerError::Busy(Msg::new(
            "同时记账的人太多，请稍后重试",
            "others kept posting first; try again",
        ))))
    }

    /// The farmland `site` occupies, measured on the one map with the district's capacity table.
    fn occupation_of(&self, site: &Geometry<f64>) -> Result<Occupation, HomesteadError> {
        let table = CapacityTable::of(self.store)?;
        farmland::occupation::measure(self.map, site, Crs::CGCS2000, &table).map_err(|e| match e {
            MeasureError::Store(s) => HomesteadError::Store(s),
            other => HomesteadError::Refused(other.message()),
        })
    }

    /// The farmland an application's site occupies and whether the county's pool covers it
    /// (以补定占): measured now while the approval step is open, as recorded once approved (with
    /// the debit's posting); `None` before the approval step.
    ///
    /// # Errors
    /// Store failures; a site that cannot be measured.
    pub fn farmland_check(
        &self,
        app: &Application,
        case: &Case,
    ) -> Result<Option<FarmlandCheck>, HomesteadError> {
        let ledger = Ledger::new(self.store, self.district.as_str());
        let pool = ledger
            .balances()
            .map_err(ledger_error)?
            .1
            .of(&ledger.pool());
        if app.approval.is_some() {
            let Some(recorded) = &app.occupation else {
                return Ok(None);
            };
            let occupation: Occupation = decode(recorded.clone())?;
            // The debit is the posting its request key made (a later reversal shares its
            // reference).
            let posting = ledger
                .posted_by_request(&format!("occupation:homestead:{}", app.id))
                .map_err(ledger_error)?;
            return Ok(Some(FarmlandCheck {
                occupation,
                pool,
                covered: true,
                posting,
                message: None,
            }));
        }
        if !case.open_tasks().any(|t| t.step == "approval") {
            return Ok(None);
        }
        let site = parse_site("site", &app.form.site)?;
        let occupation = self.occupation_of(&site)?;
        let covered = pool.short_of(&occupation.total).is_empty();
        Ok(Some(FarmlandCheck {
            message: (!covered).then(|| farmland::ledger::quota_short(&pool, &occupation.total)),
            occupation,
            pool,
            covered,
            posting: None,
        }))
    }

    /// Attaches a document to an application whose case is at `revision`: the file and the
    /// application are written in one transaction. Closed applications take no more.
    ///
    /// # Errors
    /// [`HomesteadError::Invalid`] on `file`, `name` or `kind`; a conflict when the case moved
    /// on or someone attached meanwhile; nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub fn attach(
        &self,
        change: &Change,
        id: &str,
        revision: u64,
        name: &str,
        kind: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<Versioned, HomesteadError> {
        let name = tudi_core::upload::check(name, content_type, bytes, MAX_DOCUMENT)
            .map_err(|p| FieldError::new(p.field, p.message.zh, p.message.en))?;
        if !DOCUMENT_KINDS.contains(&kind) {
            return Err(FieldError::new(
                "kind",
                format!(
                    "材料类型“{kind}”无效（可用：{}）",
                    DOCUMENT_KINDS.join("、")
                ),
                format!("unknown document kind {kind:?}"),
            )
            .into());
        }
        let (
            Versioned {
                application: mut app,
                case,
            },
            version,
        ) = self.load(id)?;
        if case.revision != revision {
            return Err(HomesteadError::Flow(FlowError::Conflict {
                expected: revision,
                found: case.revision,
            }));
        }
        if case.status != CaseStatus::Running {
            return Err(HomesteadError::Refused(Msg::new(
                format!("申请 {id} 已办结，不能再添加材料"),
                format!("{id} is closed and takes no more documents"),
            )));
        }
        if app.documents.len() >= MAX_DOCUMENTS {
            return Err(FieldError::new(
                "file",
                format!("每件申请最多 {MAX_DOCUMENTS} 份材料"),
                "too many documents on this application",
            )
            .into());
        }
        let sha256 = tudi_store::audit::sha256_hex(bytes);
        if let Some(same) = app.documents.iter().find(|d| d.sha256 == sha256) {
            return Err(FieldError::new(
                "file",
                format!("同一文件已作为材料“{}”上传过", same.name),
                format!("the same file is already attached as {:?}", same.name),
            )
            .into());
        }
        app.documents.push(Document {
            sha256,
            name: name.to_owned(),
            kind: kind.to_owned(),
            content_type: content_type.to_owned(),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            by: change.actor.clone(),
            at: change.at,
        });
        let resource = format!("homestead:{id}");
        self.store.write_blob_with_records(
            change,
            &tudi_store::BlobWrite {
                content_type,
                bytes,
                resource: &resource,
            },
            &[app_write(&app, Expect::Version(version))?],
        )?;
        Ok(Versioned {
            application: app,
            case,
        })
    }

    /// The rules and records of a step before it is approved.
    fn before_approve(
        &self,
        app: &mut Application,
        step: &str,
        form: &Value,
        now: Timestamp,
    ) -> Result<Option<Numbering>, HomesteadError> {
        if !(form.is_null() || form.is_object()) || form.to_string().len() > 16 * 1024 {
            return Err(FieldError::new(
                "form",
                "表单应为 JSON 对象，且不超过 16 KB",
                "form must be a JSON object of at most 16 KB",
            )
            .into());
        }
        let site = parse_site("site", &app.form.site)?;
        let record = |app: &mut Application| {
            if form.is_object() {
                app.records.insert(step.to_owned(), form.clone());
            }
        };
        match step {
            "review_agri" | "approval" => {
                let verdict = self.judge(&app.form, app.site_area_m2, Some(&app.id))?;
                app.eligibility = encode(&verdict)?;
                app.eligible = verdict.eligible;
                if !verdict.eligible {
                    let why: Vec<String> = verdict
                        .findings
                        .iter()
                        .filter(|f| !f.passed)
                        .map(|f| f.message.zh.clone())
                        .collect();
                    return Err(HomesteadError::Refused(Msg::new(
                        format!(
                            "资格审定未通过，不能同意：{}。请不予批准或驳回",
                            why.join("；")
                        ),
                        "eligibility failed: reject or return the application instead",
                    )));
                }
                if step == "approval" && app.site_verdict == "不通过" {
                    return Err(HomesteadError::Refused(Msg::new(
                        "选址合规性检查未通过，不能批准",
                        "the site check failed: the application cannot be approved",
                    )));
                }
                record(app);
                Ok((step == "approval").then_some(Numbering::Permit))
            }
            "review_nr" => {
                let report = self.site_check(&site, app.form.terrain)?;
                app.site_verdict = encode(&report.verdict)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                app.site_check = encode(&report)?;
                if report.verdict == SiteVerdict::Fail {
                    let why: Vec<String> = report.reasons.iter().map(|r| r.zh.clone()).collect();
                    return Err(HomesteadError::Refused(Msg::new(
                        format!(
                            "选址合规性检查未通过，不能同意：{}。请不予批准或驳回",
                            why.join("；")
                        ),
                        "the site check failed: reject or return the application instead",
                    )));
                }
                record(app);
                Ok(None)
            }
            "staking" => {
                let value = form.get("staked_site").cloned().unwrap_or(Value::Null);
                let staked = parse_site("form.staked_site", &value)?;
                self.in_village("form.staked_site", &app.form.village, &staked)?;
                let (out, _) = outside(&staked, &site)?;
                let limit = tolerance_m2(app.site_area_m2);
                if out > limit {
                    return Err(HomesteadError::Refused(Msg::new(
                        format!("放线范围超出批准范围 {out:.2} 平方米（允许 {limit:.2} 平方米）"),
                        format!(
                            "the staked outline lies {out:.2} m² outside the approval (tolerance {limit:.2} m²)"
                        ),
                    )));
                }
                app.staked_site = Some(value);
                record(app);
                Ok(None)
            }
            "construction" => {
                let start = form_date(form, "started_on")?;
                let finish = form_date(form, "finished_on")?;
                let approved = app.approval.as_ref().map(|a| a.approved_on);
                if start > finish || finish > local_date(now) || approved.is_some_and(|a| start < a)
                {
                    return Err(FieldError::new(
                        "form.finished_on",
                        "开工日期应在批准之后、竣工日期之前，竣工日期不能晚于今天",
                        "construction must start after approval and finish after it starts, not in the future",
                    )
                    .into());
                }
                app.construction = Some(json!({
                    "started_on": start.to_string(),
                    "finished_on": finish.to_string(),
                    "builder": form_text(form, "builder"),
                }));
                record(app);
                Ok(None)
            }
            "acceptance" => {
                let value = form.get("built_site").cloned().unwrap_or(Value::Null);
                let built = parse_site("form.built_site", &value)?;
                let storeys = form
                    .get("storeys")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        FieldError::new(
                            "form.storeys",
                            "请填写实测层数",
                            "storeys built is required",
                        )
                    })?;
                let height = form
                    .get("height_m")
                    .and_then(Value::as_f64)
                    .filter(|h| h.is_finite() && *h > 0.0)
                    .ok_or_else(|| {
                        FieldError::new(
                            "form.height_m",
                            "请填写实测高度（米）",
                            "height built is required",
                        )
                    })?;
                let (out, area) = outside(&built, &site)?;
                let limit = tolerance_m2(app.site_area_m2);
                let mut faults = Vec::new();
                if out > limit {
                    faults.push(format!("超出批准范围 {out:.2} 平方米（允许 {limit:.2}）"));
                }
                if storeys > app.form.storeys {
                    faults.push(format!("层数 {storeys} 超过批准的 {}", app.form.storeys));
                }
                if height > app.form.height_m + HEIGHT_TOLERANCE_M {
                    faults.push(format!(
                        "高度 {height:.2} 米超过批准的 {:.2} 米",
                        app.form.height_m
                    ));
                }
                if !faults.is_empty() {
                    return Err(HomesteadError::Refused(Msg::new(
                        format!(
                            "竣工验收不合格：{}。请驳回整改或不予通过",
                            faults.join("；")
                        ),
                        "the completion check failed: return for correction or reject",
                    )));
                }
                app.built = Some(Built {
                    site: value,
                    area_m2: (area * 100.0).round() / 100.0,
                    outside_m2: (out * 100.0).round() / 100.0,
                    storeys,
                    height_m: height,
                });
                record(app);
                Ok(None)
            }
            "registration" => {
                if app.built.is_none() {
                    return Err(HomesteadError::Refused(Msg::new(
                        "尚未竣工验收，不能登记",
                        "no completion check yet: cannot register",
                    )));
                }
                // Fail before anything is numbered when no key can sign.
                self.signing_keys()?;
                record(app);
                Ok(Some(Numbering::Registration))
            }
            _ => {
                record(app);
                Ok(None)
            }
        }
    }

    /// Applies the clock to every running homestead case: reminders, overdue notices, the 公示
    /// period ending; and puts registered homesteads not yet on the parcel layer there.
    ///
    /// # Errors
    /// Store failures (a case changed meanwhile is skipped, not an error).
    pub fn tick(&self, now: Timestamp) -> Result<TickReport, HomesteadError> {
        let mut report = TickReport::default();
        let running = self.store.find_records(
            "case",
            &RecordQuery {
                key: Some(("status".into(), "running".into())),
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        let mut defs: BTreeMap<(String, u32), ProcessDef> = BTreeMap::new();
        for rec in running.records {
            let mut case: Case = decode(rec.body)?;
            // Applications, and the later events (which have deadlines but no timers).
            let event = crate::events::EventKind::of_key(&case.process).is_some();
            if case.process != KEY && !event {
                continue;
            }
            report.overdue += case
                .open_tasks()
                .filter(|t| crate::ledger::overdue(&case, t, now))
                .count();
            let slot = (case.process.clone(), case.version);
            if let std::collections::btree_map::Entry::Vacant(vacant) = defs.entry(slot.clone()) {
                vacant.insert(self.workflows().definition(&slot.0, slot.1)?);
            }
            let Some(def) = defs.get(&slot) else {
                continue;
            };
            let collection = if event {
                "homestead_event"
            } else {
                "homestead"
            };
            let Some(owner) = self.store.record(collection, &case.id)? else {
                continue;
            };
            let Some(village) = owner
                .body
                .get("village")
                .or_else(|| owner.body.get("form").and_then(|f| f.get("village")))
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            let (assign, holds) = self.engine_parts(&village, None);
            let engine = Engine {
                def,
                assign: &assign,
                calendar: self.calendar,
                holds: Some(&holds),
            };
            let before = case.revision;
            if !case.tick(&engine, now)? {
                continue;
            }
            let mut writes = vec![Workflows::case_write(
                &case,
                Expect::Version(before),
                "tick",
            )?];
            if !event {
                let mut app: Application = decode(owner.body)?;
                app.stage = stages(&case);
                writes.push(app_write(&app, Expect::Version(owner.version))?);
            }
            let change = Change {
                at: now,
                ..Change::new("system", "homestead.tick")
            };
            match self.store.write_records(&change, &writes) {
                Ok(_) => report.changed += 1,
                Err(StoreError::Conflict { .. }) => report.skipped += 1,
                Err(e) => return Err(e.into()),
            }
        }
        report.mapped = crate::registry::map_pending(self, now)?;
        Ok(report)
    }

    /// Applications matching `q` that `visible` lets the caller see, newest first, a page of
    /// them and how many match in all.
    ///
    /// # Errors
    /// Store failures.
    pub fn list(
        &self,
        q: &ListQuery,
        visible: &dyn Fn(&Application) -> bool,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Versioned>, usize), HomesteadError> {
        self.list_where(q, visible, None, limit, offset)
    }

    /// As [`Homesteads::list`], keeping only applications whose case `wanted` accepts (a work
    /// queue: cases with a task the caller's duty may sign).
    ///
    /// # Errors
    /// Store failures.
    pub fn list_where(
        &self,
        q: &ListQuery,
        visible: &dyn Fn(&Application) -> bool,
        wanted: Option<&dyn Fn(&Case) -> bool>,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Versioned>, usize), HomesteadError> {
        let key = if let Some(v) = &q.village {
            Some(("village".to_owned(), v.clone()))
        } else if let Some(t) = &q.town {
            Some(("town".to_owned(), t.clone()))
        } else {
            q.stage.as_ref().map(|s| ("stage".to_owned(), s.clone()))
        };
        let page = self.store.find_records(
            "homestead",
            &RecordQuery {
                key,
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        let mut apps: Vec<Application> = Vec::new();
        for rec in page.records {
            let app: Application = decode(rec.body)?;
            let day = local_date(app.submitted_at);
            let keep = q.village.as_ref().is_none_or(|v| &app.form.village == v)
                && q.town.as_ref().is_none_or(|t| &app.town == t)
                && q.stage.as_ref().is_none_or(|s| app.stage.contains(s))
                && q.from.is_none_or(|d| day >= d)
                && q.to.is_none_or(|d| day <= d)
                && visible(&app);
            if keep {
                apps.push(app);
            }
        }
        apps.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at).then(b.id.cmp(&a.id)));
        let (page, total) = self.page_with_cases(apps, |a| &a.id, wanted, limit, offset)?;
        Ok((
            page.into_iter()
                .map(|(application, case)| Versioned { application, case })
                .collect(),
            total,
        ))
    }

    /// A page of `items` (in their order) with their cases, and how many there are in all; with
    /// `wanted`, only the items whose case it accepts (every case is then read, else only the
    /// page's).
    pub(crate) fn page_with_cases<T>(
        &self,
        items: Vec<T>,
        id: impl Fn(&T) -> &str,
        wanted: Option<&dyn Fn(&Case) -> bool>,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<(T, Case)>, usize), HomesteadError> {
        let mut out = Vec::new();
        let mut total = 0;
        for item in items {
            let in_page = total >= offset && out.len() < limit;
            if wanted.is_none() && !in_page {
                total += 1;
                continue;
            }
            let case = self.workflows().case(id(&item))?;
            if wanted.is_some_and(|w| !w(&case)) {
                continue;
            }
            if in_page {
                out.push((item, case));
            }
            total += 1;
        }
        Ok((out, total))
    }

    /// Replaces a village's collective member roll (集体经济组织成员名册): identity numbers,
    /// each checked.
    ///
    /// # Errors
    /// [`HomesteadError::Invalid`] naming the first bad entry.
    pub fn set_roll(
        &self,
        change: &Change,
        village: &str,
        members: Vec<String>,
    ) -> Result<usize, HomesteadError> {
        for (i, m) in members.iter().enumerate() {
            tudi_core::personal::IdNumber::parse(m).map_err(|e| {
                use tudi_core::msg::Bilingual;
                let msg = e.msg();
                FieldError::new(
                    format!("members[{i}]"),
                    format!("第 {} 个身份证号无效：{}", i + 1, msg.zh),
                    format!(
                        "member {} is not a valid identity number: {}",
                        i + 1,
                        msg.en
                    ),
                )
            })?;
        }
        let mut members = members;
        members.sort();
        members.dedup();
        let n = members.len();
        let roll = CollectiveRoll {
            village: village.to_owned(),
            members,
        };
        let expect = match self.store.record("collective", village)? {
            Some(r) => Expect::Version(r.version),
            None => Expect::Absent,
        };
        self.store.write_records(
            change,
            &[RecordWrite {
                collection: "collective".into(),
                id: village.to_owned(),
                expect,
                body: Some(encode(&roll)?),
                keys: vec![(
                    "town".into(),
                    village.get(..9).unwrap_or(village).to_owned(),
                )],
                detail: Some(json!({"members": n})),
            }],
        )?;
        Ok(n)
    }

    /// How many members a village's roll has.
    ///
    /// # Errors
    /// Store failures.
    pub fn roll_size(&self, village: &str) -> Result<usize, HomesteadError> {
        Ok(self.roll(village)?.len())
    }

    /// A village's collective member roll (identity numbers, sorted; empty when none is kept).
    ///
    /// # Errors
    /// Store failures.
    pub fn members(&self, village: &str) -> Result<Vec<String>, HomesteadError> {
        self.roll(village)
    }
}

/// What an approval must number in its transaction.
enum Numbering {
    /// The 批准书 and the 规划许可证.
    Permit,
    /// The unit codes and the certificate.
    Registration,
}

/// A village's collective member roll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CollectiveRoll {
    village: String,
    members: Vec<String>,
}

pub(crate) fn app_write(app: &Application, expect: Expect) -> Result<RecordWrite, StoreError> {
    let mut keys = vec![
        ("village".to_owned(), app.form.village.clone()),
        ("town".to_owned(), app.town.clone()),
    ];
    for s in &app.stage {
        keys.push(("stage".into(), s.clone()));
    }
    for m in app.form.household() {
        keys.push(("person".into(), person_key(m)));
    }
    Ok(RecordWrite {
        collection: "homestead".into(),
        id: app.id.clone(),
        expect,
        body: Some(encode(app)?),
        keys,
        detail: Some(json!({"stage": app.stage})),
    })
}
