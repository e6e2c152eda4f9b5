//! The approval ledger (审批台账) and the statistics the district reads: by town, by village and
//! by step — applications, approvals, refusals, registrations, days taken and overdue steps.
//!
//! Definitions (what each figure counts, over the applications submitted in the period):
//! - 申请数: applications submitted.
//! - 已批准: those given the 宅基地批准书 (whatever happened after).
//! - 不予批准: those refused at any step.
//! - 已登记: those registered with a certificate.
//! - 办理中: neither refused nor registered.
//! - 超期环节: steps finished after their deadline, or still open past it now (a timer such as the
//!   公示 period ends at its deadline and is never late).
//! - 平均审批用时: calendar days from submission to approval, over the approved ones.
//! - 平均办结用时: calendar days from submission to registration, over the registered ones.
//! - by step — 办理次数: times the step was opened (a returned step opens again); 已办结: of those,
//!   signed, refused or ended by its timer; 平均用时: calendar days from opening to that end;
//!   在办: open now; 超期: as above.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_core::table::{Cell, Table};
use tudi_flow::case::{Case, Task, TaskStatus};
use tudi_flow::definition::ProcessDef;

use crate::service::{Versioned, local_date};

/// How statistics are grouped.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[schemars(rename = "HomesteadGroupBy")]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By town (镇街).
    #[default]
    Town,
    /// By village (村居).
    Village,
    /// By step of the process.
    Step,
}

/// Figures for a town or village.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AreaRow {
    /// Division code, or `合计` for the total.
    pub code: String,
    /// Its name.
    pub name: String,
    /// 申请数.
    pub applications: usize,
    /// 已批准.
    pub approved: usize,
    /// 不予批准.
    pub refused: usize,
    /// 已登记.
    pub registered: usize,
    /// 办理中.
    pub running: usize,
    /// 超期环节.
    pub overdue_steps: usize,
    /// 平均审批用时, days.
    pub days_to_approval: Option<f64>,
    /// 平均办结用时, days.
    pub days_to_registration: Option<f64>,
    #[serde(skip)]
    approval_days: Vec<f64>,
    #[serde(skip)]
    registration_days: Vec<f64>,
}

/// Figures for a step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StepRow {
    /// Step id, or `合计`.
    pub step: String,
    /// Its name.
    pub name: String,
    /// 办理次数.
    pub opened: usize,
    /// 已办结.
    pub finished: usize,
    /// 在办.
    pub open: usize,
    /// 超期.
    pub overdue: usize,
    /// 平均用时, days.
    pub average_days: Option<f64>,
    /// 最长用时, days.
    pub longest_days: Option<f64>,
    #[serde(skip)]
    days: Vec<f64>,
}

/// Statistics, grouped one way or the other.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Stats {
    /// By town or village, the total last.
    Areas(Vec<AreaRow>),
    /// By step in process order, the total last.
    Steps(Vec<StepRow>),
}

fn days(from: Timestamp, to: Timestamp) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let secs = to.duration_since(from).as_secs() as f64;
    secs / 86_400.0
}

fn mean(v: &[f64]) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    (!v.is_empty()).then(|| (v.iter().sum::<f64>() / v.len() as f64 * 10.0).round() / 10.0)
}

/// When a task ended: its last decision, its timer, or the return or withdrawal that closed it.
#[must_use]
pub fn ended_at(case: &Case, task: &Task) -> Option<Timestamp> {
    if task.status == TaskStatus::Open {
        return None;
    }
    let by_event = case
        .events
        .iter()
        .filter(|e| e.task == Some(task.id))
        .filter(|e| {
            matches!(
                e.action.as_str(),
                "approve" | "reject" | "timeout" | "return" | "withdraw"
            )
        })
        .map(|e| e.at)
        .max();
    let by_signature = task.signatures.iter().map(|s| s.at).max();
    by_event.max(by_signature)
}

/// Whether a task ended after its deadline, or is open past it at `now`.
#[must_use]
pub fn overdue(case: &Case, task: &Task, now: Timestamp) -> bool {
    let Some(due) = task.due else { return false };
    // A timer (公示) ends at its deadline by definition, whenever the clock noticed.
    let timer = case
        .events
        .iter()
        .any(|e| e.task == Some(task.id) && e.action == "timeout");
    if timer {
        return false;
    }
    let end = match (task.status, ended_at(case, task)) {
        (TaskStatus::Open, _) => now,
        (_, Some(end)) => end,
        // Closed because its case ended elsewhere: it was never late on its own account.
        (_, None) => return false,
    };
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(8));
    end.to_zoned(tz).datetime() > due
}

fn in_period(v: &Versioned, from: Date, to: Date) -> bool {
    let day = local_date(v.application.submitted_at);
    day >= from && day <= to
}

fn division_name(code: &str) -> String {
    DivisionCode::parse(code)
        .ok()
        .and_then(|c| DivisionRegistry::bundled().get(&c).map(|d| d.name.clone()))
        .unwrap_or_default()
}

fn refused(v: &Versioned) -> bool {
    v.application.stage.iter().any(|s| s == "refused")
}

fn registered(v: &Versioned) -> bool {
    v.application.registration.is_some()
}

/// The statistics of `apps` submitted from `from` to `to` (both inclusive, Asia/Shanghai),
/// grouped by `by`, with the total last; steps follow `def`'s order.
#[must_use]
pub fn stats(
    apps: &[Versioned],
    def: &ProcessDef,
    from: Date,
    to: Date,
    by: GroupBy,
    now: Timestamp,
) -> Stats {
    let period: Vec<&Versioned> = apps.iter().filter(|v| in_period(v, from, to)).collect();
    match by {
        GroupBy::Town | GroupBy::Village => {
            let mut groups: BTreeMap<String, AreaRow> = BTreeMap::new();
            let mut total = AreaRow {
                code: "合计".into(),
                name: "合计".into(),
                ..AreaRow::default()
            };
            for v in period {
                let code = if by == GroupBy::Town {
                    v.application.town.clone()
                } else {
                    v.application.form.village.clone()
                };
                let row = groups.entry(code.clone()).or_insert_with(|| AreaRow {
                    name: division_name(&code),
                    code,
                    ..AreaRow::default()
                });
                for r in [&mut *row, &mut total] {
                    count_area(r, v, now);
                }
            }
            let mut rows: Vec<AreaRow> = groups.into_values().collect();
            rows.push(total);
            for r in &mut rows {
                r.days_to_approval = mean(&r.approval_days);
                r.days_to_registration = mean(&r.registration_days);
            }
            Stats::Areas(rows)
        }
        GroupBy::Step => {
            let mut rows: Vec<StepRow> = def
                .steps
                .iter()
                .map(|s| StepRow {
                    step: s.id.clone(),
                    name: s.name.clone(),
                    ..StepRow::default()
                })
                .collect();
            let mut total = StepRow {
                step: "合计".into(),
                name: "合计".into(),
                ..StepRow::default()
            };
            for v in period {
                for t in &v.case.tasks {
                    let Some(row) = rows.iter_mut().find(|r| r.step == t.step) else {
                        continue;
                    };
                    for r in [&mut *row, &mut total] {
                        r.opened += 1;
                        if t.status == TaskStatus::Open {
                            r.open += 1;
                        } else if t.status != TaskStatus::Cancelled {
                            r.finished += 1;
                            if let Some(end) = ended_at(&v.case, t) {
                                r.days.push(days(t.opened_at, end));
                            }
                        }
                        if overdue(&v.case, t, now) {
                            r.overdue += 1;
                        }
                    }
                }
            }
            rows.push(total);
            for r in &mut rows {
                r.average_days = mean(&r.days);
                r.longest_days = r
                    .days
                    .iter()
                    .copied()
                    .reduce(f64::max)
                    .map(|d| (d * 10.0).round() / 10.0);
            }
            Stats::Steps(rows)
        }
    }
}

fn count_area(r: &mut AreaRow, v: &Versioned, now: Timestamp) {
    let a = &v.application;
    r.applications += 1;
    if refused(v) {
        r.refused += 1;
    } else if registered(v) {
        r.registered += 1;
    } else {
        r.running += 1;
    }
    if a.approval.is_some() {
        r.approved += 1;
        // The approval records its day; its instant is the approval task's signature.
        let at = v
            .case
            .tasks
            .iter()
            .filter(|t| t.step == "approval" && t.status == TaskStatus::Approved)
            .filter_map(|t| ended_at(&v.case, t))
            .max();
        if let Some(at) = at {
            r.approval_days.push(days(a.submitted_at, at));
        }
    }
    if registered(v) {
        let at = v
            .case
            .tasks
            .iter()
            .filter(|t| t.step == "registration" && t.status == TaskStatus::Approved)
            .filter_map(|t| ended_at(&v.case, t))
            .max();
        if let Some(at) = at {
            r.registration_days.push(days(a.submitted_at, at));
        }
    }
    r.overdue_steps += v
        .case
        .tasks
        .iter()
        .filter(|t| overdue(&v.case, t, now))
        .count();
}

impl Stats {
    /// The statistics as a table for Excel.
    #[must_use]
    pub fn table(&self, from: Date, to: Date) -> Table {
        match self {
            Self::Areas(rows) => Table {
                sheet: "宅基地审批统计".into(),
                title: format!("宅基地审批统计（按申请日期 {from} 至 {to}）"),
                headings: vec![
                    "代码",
                    "名称",
                    "申请数",
                    "已批准",
                    "不予批准",
                    "已登记",
                    "办理中",
                    "超期环节",
                    "平均审批用时（天）",
                    "平均办结用时（天）",
                ],
                rows: rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.code.clone().into(),
                            r.name.clone().into(),
                            r.applications.into(),
                            r.approved.into(),
                            r.refused.into(),
                            r.registered.into(),
                            r.running.into(),
                            r.overdue_steps.into(),
                            r.days_to_approval.into(),
                            r.days_to_registration.into(),
                        ]
                    })
                    .collect(),
            },
            Self::Steps(rows) => Table {
                sheet: "环节统计".into(),
                title: format!("宅基地审批环节统计（按申请日期 {from} 至 {to}）"),
                headings: vec![
                    "环节",
                    "名称",
                    "办理次数",
                    "已办结",
                    "在办",
                    "超期",
                    "平均用时（天）",
                    "最长用时（天）",
                ],
                rows: rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.step.clone().into(),
                            r.name.clone().into(),
                            r.opened.into(),
                            r.finished.into(),
                            r.open.into(),
                            r.overdue.into(),
                            r.average_days.into(),
                            r.longest_days.into(),
                        ]
                    })
                    .collect(),
            },
        }
    }
}

/// The headings of the approval ledger.
pub const LEDGER_HEADINGS: [&str; 20] = [
    "申请编号",
    "申请人",
    "身份证号",
    "镇街",
    "村居",
    "申请日期",
    "建房类型",
    "宅基地面积（㎡）",
    "建筑面积（㎡）",
    "层数",
    "资格审定",
    "选址检查",
    "当前阶段",
    "宅基地批准书",
    "乡村建设规划许可证",
    "批准日期",
    "登记日期",
    "不动产权证书",
    "不动产单元代码",
    "已用天数",
];

/// The approval ledger of `apps` (already masked for the reader), one row per application in
/// the order given.
#[must_use]
pub fn ledger(apps: &[Versioned], now: Timestamp) -> Table {
    let rows = apps
        .iter()
        .map(|v| {
            let a = &v.application;
            let stage: Vec<&str> = a
                .stage
                .iter()
                .map(|s| crate::process::stage_name(s))
                .collect();
            let end = v
                .case
                .tasks
                .iter()
                .filter(|t| t.step == "registration")
                .filter_map(|t| ended_at(&v.case, t))
                .max()
                .or_else(|| {
                    refused(v)
                        .then(|| v.case.events.last().map(|e| e.at))
                        .flatten()
                })
                .unwrap_or(now);
            let approval = a.approval.as_ref();
            let registration = a.registration.as_ref();
            vec![
                Cell::from(a.id.as_str()),
                a.form.applicant.name.as_str().into(),
                a.form.applicant.id_number.as_str().into(),
                format!("{}（{}）", division_name(&a.town), a.town).into(),
                format!("{}（{}）", division_name(&a.form.village), a.form.village).into(),
                local_date(a.submitted_at).to_string().into(),
                a.form.build.name_zh().into(),
                a.site_area_m2.into(),
                a.form.floor_area_m2.into(),
                usize::try_from(a.form.storeys).unwrap_or(0).into(),
                if a.eligible { "符合" } else { "不符合" }.into(),
                a.site_verdict.as_str().into(),
                stage.join("、").into(),
                approval.map_or("", |x| x.homestead_permit.as_str()).into(),
                approval.map_or("", |x| x.planning_permit.as_str()).into(),
                approval
                    .map_or(String::new(), |x| x.approved_on.to_string())
                    .into(),
                registration
                    .map_or(String::new(), |x| x.registered_on.to_string())
                    .into(),
                registration.map_or("", |x| x.certificate.as_str()).into(),
                registration.map_or("", |x| x.unit_code.as_str()).into(),
                Cell::Number(Some((days(a.submitted_at, end) * 10.0).round() / 10.0)),
            ]
        })
        .collect();
    Table {
        sheet: "宅基地审批台账".into(),
        title: format!("农村宅基地审批台账（{} 件）", apps.len()),
        headings: LEDGER_HEADINGS.to_vec(),
        rows,
    }
}
