//! Later events on a registered homestead (宅基地和农房的后续事项), each a process on the shared
//! engine (`data/process-events.json`): transfer within the collective (转让, with a new
//! certificate for the transferee), farmhouse lease (农房出租备案), mortgage (抵押登记, with a
//! 不动产登记证明) and its discharge (注销抵押), and voluntary paid exit (自愿有偿退出, the right
//! ended and its certificate revoked).
//!
//! The checks when an event is requested: the right is held; no other event on it is under
//! way; a mortgaged house can be neither transferred nor given up, nor mortgaged twice; a
//! transferee must be a member of the same collective and pass 资格审定 (一户一宅, no earlier
//! sale or lease — 土地管理法第六十二条); a lease runs at most 20 years (民法典第七百零五条).
//! The effects, when the last step is signed, are written with the case in one transaction: the
//! right changes holder, records the lease or mortgage, or ends; the former holder's household is
//! recorded as having sold or leased out its house, which later applications of theirs meet.

use crate::form::text;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_access::{Jurisdiction, Principal};
use tudi_core::msg::Msg;
use tudi_core::personal::IdNumber;
use tudi_core::text::Lines;
use tudi_flow::case::{Case, CaseStatus, Engine, FlowError, Op};
use tudi_flow::definition::{DefinitionError, ProcessDef};
use tudi_flow::stored::{StoredError, Workflows};
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, StoreError};

use crate::eligibility::{self, BuildType, CurrentHomestead, Disposal};
use crate::form::{FieldError, Person};
use crate::registry::{Certificate, CertificateStatus, PreviousHolder, Right, RightStatus};
use crate::service::{HomesteadError, Homesteads, decode, encode, local_date, person_key};

/// The kinds of later event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// 转让 within the collective.
    Transfer,
    /// 农房出租备案.
    Lease,
    /// 抵押登记.
    Mortgage,
    /// 注销抵押.
    Discharge,
    /// 自愿有偿退出.
    Exit,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Transfer,
        Self::Lease,
        Self::Mortgage,
        Self::Discharge,
        Self::Exit,
    ];

    /// Its process key.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Transfer => "homestead.transfer",
            Self::Lease => "homestead.lease",
            Self::Mortgage => "homestead.mortgage",
            Self::Discharge => "homestead.discharge",
            Self::Exit => "homestead.exit",
        }
    }

    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Transfer => "宅基地使用权及房屋转让",
            Self::Lease => "农房出租备案",
            Self::Mortgage => "农房抵押登记",
            Self::Discharge => "注销抵押登记",
            Self::Exit => "宅基地自愿有偿退出",
        }
    }

    /// The kind of a process key.
    #[must_use]
    pub fn of_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// What is asked for, by kind (`"kind": "transfer"` …); every kind names the right by the
/// house's 不动产单元代码.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventRequest {
    /// 转让 to another household of the same collective.
    Transfer {
        /// The house's 不动产单元代码.
        right: String,
        /// The transferee (户主).
        to: Person,
        /// The transferee's household.
        #[serde(default)]
        family: Vec<Person>,
        /// The price, yuan.
        price_yuan: f64,
        /// Why.
        reason: String,
    },
    /// 出租.
    Lease {
        /// The house's 不动产单元代码.
        right: String,
        /// The lessee: a person or an organisation.
        lessee: String,
        /// Their 身份证号 or 统一社会信用代码.
        lessee_id: String,
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
        /// Rent a year, yuan.
        rent_yuan_per_year: f64,
        /// What the house is used for (居住, 民宿 …).
        purpose: String,
    },
    /// 抵押.
    Mortgage {
        /// The house's 不动产单元代码.
        right: String,
        /// The lender (抵押权人).
        mortgagee: String,
        /// The secured amount, yuan.
        amount_yuan: f64,
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
    },
    /// 注销抵押: the loan is repaid.
    Discharge {
        /// The house's 不动产单元代码.
        right: String,
        /// Why (还清贷款 …).
        reason: String,
    },
    /// 自愿有偿退出.
    Exit {
        /// The house's 不动产单元代码.
        right: String,
        /// What the collective pays, yuan.
        compensation_yuan: f64,
        /// Why.
        reason: String,
    },
}

impl EventRequest {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Transfer { .. } => EventKind::Transfer,
            Self::Lease { .. } => EventKind::Lease,
            Self::Mortgage { .. } => EventKind::Mortgage,
            Self::Discharge { .. } => EventKind::Discharge,
            Self::Exit { .. } => EventKind::Exit,
        }
    }

    /// The right it is about.
    #[must_use]
    pub fn right(&self) -> &str {
        match self {
            Self::Transfer { right, .. }
            | Self::Lease { right, .. }
            | Self::Mortgage { right, .. }
            | Self::Discharge { right, .. }
            | Self::Exit { right, .. } => right,
        }
    }

    /// The same with identity numbers masked.
    #[must_use]
    pub fn masked(&self) -> Self {
        let mask = |s: &str| IdNumber::parse(s).map_or_else(|_| s.to_owned(), |i| i.masked());
        let mut out = self.clone();
        match &mut out {
            Self::Transfer { to, family, .. } => {
                to.id_number = mask(&to.id_number);
                for p in family {
                    p.id_number = mask(&p.id_number);
                }
            }
            Self::Lease { lessee_id, .. } => *lessee_id = mask(lessee_id),
            _ => {}
        }
        out
    }
}

/// A lease recorded on a right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Lease {
    /// The event that recorded it.
    pub event: String,
    /// The lessee.
    pub lessee: String,
    /// Their identity number or credit code.
    pub lessee_id: String,
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
    /// Rent a year, yuan.
    pub rent_yuan_per_year: f64,
    /// Use.
    pub purpose: String,
    /// When recorded.
    pub recorded_at: Timestamp,
}

/// A mortgage registered on a right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Mortgage {
    /// The event that registered it.
    pub event: String,
    /// The lender.
    pub mortgagee: String,
    /// The secured amount, yuan.
    pub amount_yuan: f64,
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
    /// The 不动产登记证明 number.
    pub proof: String,
    /// When registered.
    pub registered_at: Timestamp,
    /// When discharged (注销抵押), if it was.
    #[serde(default)]
    pub discharged_at: Option<Timestamp>,
}

/// How a right ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ending {
    /// The event.
    pub event: String,
    /// Why.
    pub reason: String,
    /// What the collective paid, yuan.
    pub compensation_yuan: f64,
    /// When.
    pub at: Timestamp,
}

/// A later event as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// 事项编号, `BG440605-2026-000001`.
    pub id: String,
    /// What is asked for.
    pub request: EventRequest,
    /// Village code.
    pub village: String,
    /// Town code.
    pub town: String,
    /// The holder when it was asked for.
    pub holder: String,
    /// When.
    pub submitted_at: Timestamp,
    /// Who took it in.
    pub submitted_by: String,
    /// The open steps, or `completed` / `refused`.
    pub stage: Vec<String>,
    /// What it produced (a new certificate, a proof number), once completed.
    #[serde(default)]
    pub outcome: Option<Value>,
}

/// An event with its case.
#[derive(Debug, Clone, Serialize)]
pub struct EventCase {
    /// The event.
    pub event: Event,
    /// Its case.
    pub case: Case,
}

/// Filters of the event list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EventQuery {
    /// Village code.
    #[serde(default)]
    pub village: Option<String>,
    /// Town code.
    #[serde(default)]
    pub town: Option<String>,
    /// Kind.
    #[serde(default)]
    pub kind: Option<EventKind>,
    /// The house's 不动产单元代码.
    #[serde(default)]
    pub right: Option<String>,
}

/// The shipped processes of the later events.
///
/// # Errors
/// When the shipped file does not parse or check (a unit test keeps that from shipping).
pub fn processes() -> Result<Vec<ProcessDef>, DefinitionError> {
    let defs: Vec<ProcessDef> = serde_json::from_str(include_str!("../data/process-events.json"))
        .map_err(|e| DefinitionError {
        key: "homestead.events".into(),
        reason: e.to_string(),
        reason_zh: format!("内置流程定义无法解析：{e}"),
    })?;
    for d in &defs {
        d.check()?;
    }
    Ok(defs)
}

fn stages(case: &Case) -> Vec<String> {
    match case.status {
        CaseStatus::Completed => vec!["completed".into()],
        CaseStatus::Rejected => vec!["refused".into()],
        CaseStatus::Running => case.open_tasks().map(|t| t.step.clone()).collect(),
    }
}

fn event_write(e: &Event, expect: Expect) -> Result<RecordWrite, StoreError> {
    let kind = encode(&e.request.kind())?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut keys = vec![
        ("village".to_owned(), e.village.clone()),
        ("town".to_owned(), e.town.clone()),
        ("right".to_owned(), e.request.right().to_owned()),
        ("kind".to_owned(), kind),
    ];
    for s in &e.stage {
        keys.push(("stage".into(), s.clone()));
    }
    Ok(RecordWrite {
        collection: "homestead_event".into(),
        id: e.id.clone(),
        expect,
        body: Some(encode(e)?),
        keys,
        detail: Some(
            json!({"kind": e.request.kind(), "right": e.request.right(), "stage": e.stage}),
        ),
    })
}

fn refused(zh: impl Into<String>, en: impl Into<String>) -> HomesteadError {
    HomesteadError::Refused(Msg::new(zh, en))
}

fn money(field: &str, label: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && (0.0..1e10).contains(&v) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{label}应为不小于 0 的金额（元）"),
            format!("{field} must be an amount of at least 0 yuan"),
        ))
    }
}

fn period(from: Date, to: Date, most_years: Option<i16>) -> Result<(), FieldError> {
    if to < from {
        return Err(FieldError::new(
            "to",
            "结束日期早于开始日期",
            "to is before from",
        ));
    }
    if let Some(years) = most_years
        && from.saturating_add(jiff::Span::new().years(years)) < to
    {
        return Err(FieldError::new(
            "to",
            format!("租赁期限不得超过 {years} 年（民法典第七百零五条）"),
            format!("a lease runs at most {years} years"),
        ));
    }
    Ok(())
}

/// A 身份证号, or a 统一社会信用代码 (18 digits and capital letters).
fn party_id(field: &str, v: &str) -> Result<(), FieldError> {
    let credit_code = v.len() == 18
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if IdNumber::parse(v).is_ok() || credit_code {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "应为有效的身份证号或 18 位统一社会信用代码",
            "a valid identity number or an 18-character unified social credit code",
        ))
    }
}

impl Homesteads<'_> {
    /// A registered right (by the house's 不动产单元代码) and its record version.
    ///
    /// # Errors
    /// [`HomesteadError::NotFound`].
    pub fn right(&self, unit_code: &str) -> Result<(Right, u64), HomesteadError> {
        let rec = self
            .store
            .record("homestead_right", unit_code)?
            .ok_or_else(|| HomesteadError::NotFound(unit_code.to_owned()))?;
        Ok((decode(rec.body)?, rec.version))
    }

    /// The deployed process of a kind (the shipped one on first use).
    fn event_process(&self, kind: EventKind) -> Result<ProcessDef, HomesteadError> {
        let wf = self.workflows();
        match wf.latest(kind.key()) {
            Ok(def) => Ok(def),
            Err(StoredError::NotFound(_)) => {
                let def = processes()
                    .map_err(|e| HomesteadError::Refused(e.message()))?
                    .into_iter()
                    .find(|d| d.key == kind.key())
                    .ok_or_else(|| HomesteadError::NotFound(kind.key().into()))?;
                match wf.deploy(&Change::new("system", "process.deploy"), &def) {
                    Ok(()) | Err(StoredError::Definition(..)) => Ok(wf.latest(kind.key())?),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The checks of a request against the right as it stands.
    fn check_request(
        &self,
        req: &EventRequest,
        right: &Right,
        this: Option<&str>,
    ) -> Result<(), HomesteadError> {
        if right.status != RightStatus::Held {
            return Err(refused(
                format!("不动产 {} 的宅基地使用权已注销，不能办理", right.unit_code),
                "the right has ended",
            ));
        }
        let open = self.store.find_records(
            "homestead_event",
            &RecordQuery {
                key: Some(("right".into(), right.unit_code.clone())),
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        for rec in open.records {
            if Some(rec.id.as_str()) == this {
                continue;
            }
            let e: Event = decode(rec.body)?;
            if !e.stage.iter().any(|s| s == "completed" || s == "refused") {
                return Err(refused(
                    format!(
                        "该不动产已有办理中的事项 {}（{}），请办结后再申请",
                        e.id,
                        e.request.kind().name_zh()
                    ),
                    format!("{} is under way on this right", e.id),
                ));
            }
        }
        let mortgaged = right.mortgaged();
        let free = |doing: &str| match mortgaged {
            Some(m) => Err(refused(
                format!("已抵押给{}（{}），{doing}", m.mortgagee, m.proof),
                "mortgaged: discharge the mortgage first",
            )),
            None => Ok(()),
        };
        match req {
            EventRequest::Transfer {
                to,
                family,
                price_yuan,
                reason,
                ..
            } => {
                free("须先注销抵押才能转让")?;
                money("price_yuan", "转让价款", *price_yuan)?;
                text("reason", "转让原因", reason, 500, Lines::Many)?;
                text("to.name", "受让人姓名", &to.name, 50, Lines::One)?;
                let mut household = vec![to.id_number.as_str()];
                household.extend(family.iter().map(|p| p.id_number.as_str()));
                for (i, id) in household.iter().enumerate() {
                    if IdNumber::parse(id).is_err() {
                        let field = if i == 0 {
                            "to.id_number".to_owned()
                        } else {
                            format!("family[{}].id_number", i - 1)
                        };
                        return Err(FieldError::new(
                            field,
                            "身份证号无效",
                            "invalid identity number",
                        )
                        .into());
                    }
                    if right.household.iter().any(|h| h == id) {
                        return Err(FieldError::new(
                            "to.id_number",
                            "受让方不能是本户成员",
                            "the transferee belongs to the holder's household",
                        )
                        .into());
                    }
                }
                let terrain = self
                    .store
                    .record("homestead", &right.application)?
                    .and_then(|r| r.body.get("form").and_then(|f| f.get("terrain")).cloned())
                    .and_then(|t| serde_json::from_value(t).ok())
                    .unwrap_or(eligibility::Terrain::Plain);
                let facts = self.facts_of(&right.village, &household, None)?;
                let verdict = eligibility::check(
                    &eligibility::Application {
                        applicant: to.id_number.clone(),
                        family: family.iter().map(|p| p.id_number.clone()).collect(),
                        terrain,
                        area_m2: right.land_area_m2,
                        build: BuildType::NewSite,
                        current: CurrentHomestead::None,
                    },
                    &facts,
                    eligibility::AreaStandard::for_district(self.district.as_str()),
                );
                if !verdict.eligible {
                    let why: Vec<String> = verdict
                        .findings
                        .iter()
                        .filter(|f| !f.passed)
                        .map(|f| f.message.zh.clone())
                        .collect();
                    return Err(refused(
                        format!(
                            "宅基地使用权只能转让给本集体经济组织内符合申请条件的农户：{}",
                            why.join("；")
                        ),
                        "the transferee is not an eligible household of the same collective",
                    ));
                }
            }
            EventRequest::Lease {
                lessee,
                lessee_id,
                from,
                to,
                rent_yuan_per_year,
                purpose,
                ..
            } => {
                text("lessee", "承租人", lessee, 100, Lines::One)?;
                party_id("lessee_id", lessee_id)?;
                period(*from, *to, Some(20))?;
                money("rent_yuan_per_year", "年租金", *rent_yuan_per_year)?;
                text("purpose", "用途", purpose, 100, Lines::One)?;
            }
            EventRequest::Mortgage {
                mortgagee,
                amount_yuan,
                from,
                to,
                ..
            } => {
                free("不能重复抵押")?;
                text("mortgagee", "抵押权人", mortgagee, 100, Lines::One)?;
                money("amount_yuan", "被担保债权数额", *amount_yuan)?;
                period(*from, *to, None)?;
            }
            EventRequest::Discharge { reason, .. } => {
                if mortgaged.is_none() {
                    return Err(refused(
                        "该不动产没有在押的抵押",
                        "there is no mortgage to discharge",
                    ));
                }
                text("reason", "注销原因", reason, 500, Lines::Many)?;
            }
            EventRequest::Exit {
                compensation_yuan,
                reason,
                ..
            } => {
                free("须先注销抵押才能退出")?;
                money("compensation_yuan", "退出补偿", *compensation_yuan)?;
                text("reason", "退出原因", reason, 500, Lines::Many)?;
            }
        }
        Ok(())
    }

    /// Takes in a later event on a right: checked, numbered and its case started in one
    /// transaction.
    ///
    /// # Errors
    /// [`HomesteadError`] naming what is wrong; nothing is written.
    pub fn submit_event(
        &self,
        who: &Principal,
        req: EventRequest,
        now: Timestamp,
    ) -> Result<EventCase, HomesteadError> {
        let (right, _) = self.right(req.right())?;
        self.check_request(&req, &right, None)?;
        let kind = req.kind();
        let def = self.event_process(kind)?;
        let user = who.user.clone().unwrap_or_else(|| who.actor());
        let (assign, holds) = self.engine_parts(&right.village, Some(who));
        let engine = Engine {
            def: &def,
            assign: &assign,
            calendar: self.calendar,
            holds: Some(&holds),
        };
        let year = local_date(now).year();
        let district = self.district.as_str().to_owned();
        let change = Change {
            at: now,
            ..Change::new(who.actor(), format!("homestead.{}", kind.key()))
        };
        let mut made = None;
        let req_ref = &req;
        self.store.write_numbered(
            &change,
            &format!("homestead-event:{district}:{year}"),
            &mut |n| {
                let id = format!("BG{district}-{year}-{n:06}");
                let case =
                    Case::start(&engine, &id, &user, now).map_err(|e| StoreError::Database {
                        doing: "starting a homestead event",
                        source: Box::new(e),
                    })?;
                let event = Event {
                    id,
                    request: req_ref.clone(),
                    village: right.village.clone(),
                    town: right.village.get(..9).unwrap_or_default().to_owned(),
                    holder: right.holder.clone(),
                    submitted_at: now,
                    submitted_by: user.clone(),
                    stage: stages(&case),
                    outcome: None,
                };
                let writes = vec![
                    Workflows::case_write(&case, Expect::Absent, "start").map_err(|e| match e {
                        StoredError::Store(s) => s,
                        other => StoreError::Schema(other.to_string()),
                    })?,
                    event_write(&event, Expect::Absent)?,
                ];
                made = Some(EventCase { event, case });
                Ok(writes)
            },
        )?;
        made.ok_or_else(|| HomesteadError::NotFound("event".into()))
    }

    fn load_event(&self, id: &str) -> Result<(EventCase, u64), HomesteadError> {
        let rec = self
            .store
            .record("homestead_event", id)?
            .ok_or_else(|| HomesteadError::NotFound(id.to_owned()))?;
        let event: Event = decode(rec.body)?;
        let case = self.workflows().case(id)?;
        Ok((EventCase { event, case }, rec.version))
    }

    /// An event with its case.
    ///
    /// # Errors
    /// [`HomesteadError::NotFound`].
    pub fn read_event(&self, id: &str) -> Result<EventCase, HomesteadError> {
        Ok(self.load_event(id)?.0)
    }

    /// Applies a person's action to an event's case at `revision`; when the last step is signed
    /// the event takes effect on the right in the same transaction.
    ///
    /// # Errors
    /// [`HomesteadError`]; nothing is written.
    pub fn act_event(
        &self,
        who: &Principal,
        id: &str,
        revision: u64,
        op: Op,
        now: Timestamp,
    ) -> Result<EventCase, HomesteadError> {
        let (
            EventCase {
                mut event,
                mut case,
            },
            version,
        ) = self.load_event(id)?;
        if case.revision != revision {
            return Err(HomesteadError::Flow(FlowError::Conflict {
                expected: revision,
                found: case.revision,
            }));
        }
        let def = self.workflows().definition(&case.process, case.version)?;
        let user = who.user.clone().unwrap_or_else(|| who.actor());
        let village = event.village.clone();
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
        crate::service::may_act(&engine, &task, &user, &op)?;
        if matches!(op, Op::Withdraw { .. }) && task.step == "registration" {
            return Err(refused(
                "登记已生效，不能撤回；如有错误请走更正或注销",
                "a registration has taken effect and cannot be withdrawn",
            ));
        }
        let name = op.name();
        case.act(&engine, revision, &user, op, now)?;
        event.stage = stages(&case);
        let change = Change {
            at: now,
            ..Change::new(who.actor(), format!("homestead.event.{name}"))
        };
        let mut writes = vec![Workflows::case_write(
            &case,
            Expect::Version(revision),
            name,
        )?];
        if case.status == CaseStatus::Completed {
            // The right or the transferee may have changed since the request: the same checks
            // again before the event takes effect (nothing has been written yet).
            let (right, right_version) = self.right(event.request.right())?;
            self.check_request(&event.request, &right, Some(&event.id))?;
            if event.request.kind() == EventKind::Transfer {
                self.signing_keys()?;
            }
            let (more, outcome) = self.take_effect(&event, right, right_version, now)?;
            event.outcome = Some(outcome);
            writes.extend(more);
        }
        writes.push(event_write(&event, Expect::Version(version))?);
        self.store.write_records(&change, &writes)?;
        Ok(EventCase { event, case })
    }

    /// The writes that make a completed event take effect, and what it produced.
    fn take_effect(
        &self,
        event: &Event,
        mut right: Right,
        right_version: u64,
        now: Timestamp,
    ) -> Result<(Vec<RecordWrite>, Value), HomesteadError> {
        let mut writes = Vec::new();
        let disposal = |kind: &str, household: &[String]| -> Result<RecordWrite, StoreError> {
            Ok(RecordWrite {
                collection: "house_disposal".into(),
                id: event.id.clone(),
                expect: Expect::Absent,
                body: Some(encode(&Disposal {
                    owner: household.first().cloned().unwrap_or_default(),
                    kind: kind.to_owned(),
                    date: local_date(now),
                })?),
                keys: household
                    .iter()
                    .map(|m| ("person".to_owned(), person_key(m)))
                    .collect(),
                detail: Some(json!({"event": event.id, "kind": kind})),
            })
        };
        let outcome = match &event.request {
            EventRequest::Transfer { to, family, .. } => {
                let keys = self.signing_keys()?;
                let (old, old_version) = self.certificate(&right.certificate)?;
                let (cert_id, number) = crate::registry::next_certificate(self, "不动产权", now)?;
                let mut payload = old.signed.payload.clone();
                payload["id"] = json!(cert_id);
                payload["number"] = json!(number);
                payload["holder"] = json!(to.name);
                payload["holder_id"] = json!(to.id_number);
                payload["issued_on"] = json!(local_date(now).to_string());
                payload["event"] = json!(event.id);
                let signed = keys.sign(payload)?;
                let cert = Certificate {
                    id: cert_id.clone(),
                    number: number.clone(),
                    signed,
                    status: CertificateStatus::Valid,
                    revoked_at: None,
                    revoke_reason: None,
                    village: old.village.clone(),
                    town: old.town.clone(),
                    application: old.application.clone(),
                    issued_at: now,
                };
                let mut revoked = old.clone();
                revoked.status = CertificateStatus::Revoked;
                revoked.revoked_at = Some(now);
                revoked.revoke_reason = Some(format!("转移登记（{}），换发 {number}", event.id));
                writes.push(crate::registry::cert_write(
                    &revoked,
                    Expect::Version(old_version),
                )?);
                writes.push(crate::registry::cert_write(&cert, Expect::Absent)?);
                writes.push(disposal("出卖", &right.household)?);
                right.previous.push(PreviousHolder {
                    holder: right.holder.clone(),
                    household: right.household.clone(),
                    certificate: right.certificate.clone(),
                    event: event.id.clone(),
                    until: now,
                });
                right.holder = to.name.clone();
                right.household = std::iter::once(&to.id_number)
                    .chain(family.iter().map(|p| &p.id_number))
                    .cloned()
                    .collect();
                right.certificate = cert_id.clone();
                json!({"certificate": cert_id, "number": number, "revoked": old.id})
            }
            EventRequest::Lease {
                lessee,
                lessee_id,
                from,
                to,
                rent_yuan_per_year,
                purpose,
                ..
            } => {
                writes.push(disposal("出租", &right.household)?);
                right.leases.push(Lease {
                    event: event.id.clone(),
                    lessee: lessee.clone(),
                    lessee_id: lessee_id.clone(),
                    from: *from,
                    to: *to,
                    rent_yuan_per_year: *rent_yuan_per_year,
                    purpose: purpose.clone(),
                    recorded_at: now,
                });
                json!({"lease": event.id})
            }
            EventRequest::Mortgage {
                mortgagee,
                amount_yuan,
                from,
                to,
                ..
            } => {
                let (_, proof) = crate::registry::next_certificate(self, "不动产证明", now)?;
                right.mortgages.push(Mortgage {
                    event: event.id.clone(),
                    mortgagee: mortgagee.clone(),
                    amount_yuan: *amount_yuan,
                    from: *from,
                    to: *to,
                    proof: proof.clone(),
                    registered_at: now,
                    discharged_at: None,
                });
                json!({"proof": proof})
            }
            EventRequest::Discharge { .. } => {
                let Some(m) = right
                    .mortgages
                    .iter_mut()
                    .find(|m| m.discharged_at.is_none())
                else {
                    return Err(refused(
                        "该不动产没有在押的抵押",
                        "there is no mortgage to discharge",
                    ));
                };
                m.discharged_at = Some(now);
                json!({"discharged": m.proof})
            }
            EventRequest::Exit {
                compensation_yuan,
                reason,
                ..
            } => {
                let (mut cert, cert_version) = self.certificate(&right.certificate)?;
                cert.status = CertificateStatus::Revoked;
                cert.revoked_at = Some(now);
                cert.revoke_reason = Some(format!("宅基地自愿有偿退出（{}），注销登记", event.id));
                writes.push(crate::registry::cert_write(
                    &cert,
                    Expect::Version(cert_version),
                )?);
                right.status = RightStatus::Ended;
                right.ended = Some(Ending {
                    event: event.id.clone(),
                    reason: reason.clone(),
                    compensation_yuan: *compensation_yuan,
                    at: now,
                });
                json!({"revoked": cert.id})
            }
        };
        writes.push(crate::registry::right_write(
            &right,
            Expect::Version(right_version),
        )?);
        Ok((writes, outcome))
    }

    /// Events matching `q` that `visible` lets the caller see (by village), newest first: a
    /// page and the total.
    ///
    /// # Errors
    /// Store failures.
    pub fn events(
        &self,
        q: &EventQuery,
        visible: &dyn Fn(&Event) -> bool,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<EventCase>, usize), HomesteadError> {
        self.events_where(q, visible, None, limit, offset)
    }

    /// As [`Homesteads::events`], keeping only events whose case `wanted` accepts (a work queue).
    ///
    /// # Errors
    /// Store failures.
    pub fn events_where(
        &self,
        q: &EventQuery,
        visible: &dyn Fn(&Event) -> bool,
        wanted: Option<&dyn Fn(&Case) -> bool>,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<EventCase>, usize), HomesteadError> {
        let key = q
            .right
            .as_ref()
            .map(|r| ("right".to_owned(), r.clone()))
            .or_else(|| {
                q.village
                    .as_ref()
                    .map(|v| ("village".to_owned(), v.clone()))
            })
            .or_else(|| q.town.as_ref().map(|t| ("town".to_owned(), t.clone())));
        let page = self.store.find_records(
            "homestead_event",
            &RecordQuery {
                key,
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        let mut found: Vec<Event> = Vec::new();
        for rec in page.records {
            let e: Event = decode(rec.body)?;
            if q.village.as_ref().is_none_or(|v| &e.village == v)
                && q.town.as_ref().is_none_or(|t| &e.town == t)
                && q.right.as_ref().is_none_or(|r| e.request.right() == r)
                && q.kind.is_none_or(|k| e.request.kind() == k)
                && visible(&e)
            {
                found.push(e);
            }
        }
        found.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at).then(b.id.cmp(&a.id)));
        let (page, total) = self.page_with_cases(found, |e| &e.id, wanted, limit, offset)?;
        Ok((
            page.into_iter()
                .map(|(event, case)| EventCase { event, case })
                .collect(),
            total,
        ))
    }
}

/// The village of a right, for authorizing requests about it.
///
/// # Errors
/// The code is not a right's.
pub fn village_of(h: &Homesteads<'_>, unit_code: &str) -> Result<Jurisdiction, HomesteadError> {
    let (right, _) = h.right(unit_code)?;
    Jurisdiction::parse(&right.village).map_err(HomesteadError::Refused)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_shipped_event_processes_check_and_cover_every_kind() {
        let defs = processes().unwrap();
        for kind in EventKind::ALL {
            let def = defs.iter().find(|d| d.key == kind.key());
            assert!(def.is_some(), "{kind:?} has a process");
            for s in &def.unwrap().steps {
                assert!(s.level.is_some(), "{} has a level", s.id);
            }
        }
    }

    #[test]
    fn a_lease_runs_at_most_twenty_years() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert!(period(d("2026-01-01"), d("2046-01-01"), Some(20)).is_ok());
        assert_eq!(
            period(d("2026-01-01"), d("2046-01-02"), Some(20))
                .unwrap_err()
                .field,
            "to"
        );
        assert!(period(d("2026-02-01"), d("2026-01-01"), None).is_err());
        assert!(party_id("x", "91440605MA4UXXXX0X").is_ok());
        assert!(party_id("x", "44060519800101001X").is_ok());
        assert!(party_id("x", "someone").is_err());
    }
}
