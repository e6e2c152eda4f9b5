//! A work order as it is kept: what was reported, where it is in its life cycle, who has it,
//! when it is due, and its timeline. [`Order::apply`] is the pure step function the service
//! persists; it checks everything a step needs before anything is written.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tudi_core::calendar::WorkCalendar;
use tudi_core::msg::Msg;

use crate::category::{Category, Urgency};
use crate::lifecycle::{self, IllegalStep, Satisfaction, State, Step};
use crate::routing::{Route, Unit};

/// How an order came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 12345 热线 (an operator's form).
    Hotline,
    /// 市民 app / 新媒体.
    App,
    /// 网格员巡查上报 (主动发现).
    Patrol,
    /// Another system, by the API.
    Api,
    /// An Open311 client.
    Open311,
}

impl Channel {
    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Hotline => "12345热线",
            Self::App => "市民应用/新媒体",
            Self::Patrol => "网格巡查",
            Self::Api => "系统对接",
            Self::Open311 => "Open311",
        }
    }
}

/// Who reported an order (citizen or enterprise contact). Kept in full for those whose role
/// needs it; [`Reporter::masked`] for everyone else; `Debug` prints the masked form, so it never
/// reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Reporter {
    /// Name.
    pub name: Option<String>,
    /// Phone number, validated at intake.
    pub phone: Option<String>,
}

impl Reporter {
    /// The form shown to those who may not see personal data: the surname and the masked phone.
    #[must_use]
    pub fn masked(&self) -> Self {
        Self {
            name: self.name.as_deref().map(tudi_core::personal::mask_name),
            phone: self.phone.as_ref().map(|p| {
                tudi_core::personal::Phone::parse(p)
                    .map_or_else(|_| "****".to_owned(), |ph| ph.masked())
            }),
        }
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.masked();
        f.debug_struct("Reporter")
            .field("name", &m.name)
            .field("phone", &m.phone)
            .finish()
    }
}

/// One line of an order's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimelineEntry {
    /// When.
    pub at: Timestamp,
    /// Who (`user:NAME`).
    pub actor: String,
    /// The step taken (`None`: intake).
    pub step: Option<Step>,
    /// The state after it.
    pub state: State,
    /// Reason, feedback text or the route's explanation.
    pub note: Option<String>,
}

/// A work order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Order {
    /// Readable number, also its id: `GD440605-20261122-000123`.
    pub number: String,
    /// How it came in.
    pub channel: Channel,
    /// Who reported it (none for a patrol's own finding).
    #[serde(default)]
    pub reporter: Option<Reporter>,
    /// Category code.
    pub category: String,
    /// What was reported.
    pub description: String,
    /// Longitude, latitude (WGS 84 / CGCS2000), when pinned.
    pub location: Option<[f64; 2]>,
    /// Address as given.
    pub address: Option<String>,
    /// The grid cell the location falls in.
    pub grid: Option<String>,
    /// How urgent.
    pub urgency: Urgency,
    /// 企业诉求 (express lane).
    pub enterprise: bool,
    /// Where it is.
    pub state: State,
    /// The unit it was last sent to.
    pub unit: Option<Unit>,
    /// Why it went there.
    pub route: Option<Msg>,
    /// When handling is due (Asia/Shanghai, civil time).
    pub due: Option<DateTime>,
    /// When it came in.
    pub received_at: Timestamp,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// Times sent back for rework (返工).
    pub reworks: u32,
    /// The reporter's evaluation.
    pub satisfaction: Option<Satisfaction>,
    /// The order this one was merged into.
    pub merged_into: Option<String>,
    /// Orders merged into this one.
    pub merged: Vec<String>,
    /// Everything that happened, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// The latest extension request.
    #[serde(default)]
    pub extension: Option<Extension>,
    /// Reminders, overdue warnings and 督办 notices, oldest first.
    #[serde(default)]
    pub notices: Vec<Notice>,
    /// Photos and documents, oldest first (the files are in the store by SHA-256).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A file attached to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attachment {
    /// SHA-256 of the file (hex), its key in the store.
    pub sha256: String,
    /// The name it was given.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// Who attached it.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// What a step brings with it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StepInput {
    /// Reason (退回, 返工, 不予立案) or feedback text.
    pub note: Option<String>,
    /// For 派遣: the route (from the responsibility list, or a dispatcher's choice).
    #[serde(skip)]
    pub route: Option<Route>,
    /// For 回访评价.
    pub satisfaction: Option<Satisfaction>,
    /// For 并单: the surviving order.
    pub into: Option<String>,
    /// For 申请延期: working days asked for (1–30).
    pub days: Option<u32>,
    /// For 延期审批: granted or not.
    pub approve: Option<bool>,
}

/// A request for more time (延期申请) and the dispatcher's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Extension {
    /// Working days asked for.
    pub days: u32,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
    /// `None` while pending; then granted or refused.
    pub granted: Option<bool>,
}

/// What a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// 到期提醒: the last working day before the deadline has come.
    Reminder,
    /// 超期预警: past the deadline; raised to the next level and the leader on duty.
    Overdue,
    /// 督办: pressed by the supervision centre (by hand, or automatically when long overdue).
    Urge,
}

impl NoticeKind {
    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Reminder => "到期提醒",
            Self::Overdue => "超期预警",
            Self::Urge => "督办",
        }
    }
}

/// A notice sent about an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notice {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: NoticeKind,
    /// To whom (units, the leader on duty).
    pub to: Vec<String>,
    /// What it says.
    pub note: String,
    /// The deadline it was about (so each is sent once per deadline).
    #[serde(default)]
    pub for_due: Option<DateTime>,
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The state does not allow it.
    #[error(transparent)]
    Illegal(#[from] IllegalStep),
    /// Something the step needs is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field the caller sent is not acceptable.
    #[error("{field}: {}", message.en)]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: Msg,
    },
}

/// Longest note on a step (characters).
pub const MAX_NOTE: usize = 1000;

impl StepError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Illegal(e) => e.message(),
            Self::Missing(what) => {
                let zh = match *what {
                    "note" => "请填写原因或说明",
                    "route" => "派遣须指定责任单位",
                    "satisfaction" => "回访评价须选择满意度",
                    "days" => "申请延期须填写 1 至 30 个工作日",
                    "approve" => "审批延期须选择同意或不同意",
                    "extension" => "没有待审批的延期申请",
                    "pending" => "已有待审批的延期申请",
                    _ => "请指定合并到的工单",
                };
                Msg::new(zh, format!("the step needs its {what}"))
            }
            Self::Invalid { message, .. } => message.clone(),
        }
    }

    /// The input field at fault when the caller can correct it (a missing or bad value), or
    /// `None` when the order's state refuses the step.
    #[must_use]
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Illegal(_) | Self::Missing("extension" | "pending") => None,
            Self::Missing(f) | Self::Invalid { field: f, .. } => Some(f),
        }
    }
}

impl Order {
    /// The state after `step` applied at `at` by `actor`, with the deadline set on dispatch
    /// (working days of `category` at the order's urgency, from the dispatch day).
    ///
    /// # Errors
    /// [`StepError`]: the state does not allow the step, or what it needs is missing; the order
    /// is left as it was.
    pub fn apply(
        &mut self,
        step: Step,
        input: StepInput,
        category: &Category,
        calendar: &WorkCalendar,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), StepError> {
        let to = lifecycle::next(self.state, step)?;
        let note = match input.note.as_deref() {
            Some(n) => tudi_core::text::check_optional(n, MAX_NOTE, tudi_core::text::Lines::Many)
                .map_err(|f| StepError::Invalid {
                    field: "note",
                    message: f.message("说明", "note"),
                })
                .map(|n| (!n.is_empty()).then(|| n.to_owned()))?,
            None => None,
        };
        if step.needs_reason() && note.is_none() {
            return Err(StepError::Missing("note"));
        }
        let mut timeline_note = note.clone();
        match step {
            Step::Dispatch => {
                let route = input.route.ok_or(StepError::Missing("route"))?;
                let local = at.to_zoned(shanghai()).datetime();
                // 企业诉求马上办: an enterprise's order is handled within the urgent limit.
                let urgency = if self.enterprise && self.urgency == Urgency::Normal {
                    Urgency::Urgent
                } else {
                    self.urgency
                };
                self.due = Some(calendar.due_after(local, category.working_days(urgency)));
                timeline_note = Some(route.explanation.zh.clone());
                // A deadline in a year whose holiday notice is not in the data counts weekends
                // only: say so on the order rather than look exact.
                if let Some(due) = self.due
                    && !calendar.covers(due.date())
                {
                    timeline_note = Some(format!(
                        "{}（{} 年节假日安排尚未收录，期限仅按周末计算）",
                        route.explanation.zh,
                        due.date().year()
                    ));
                }
                self.unit = Some(route.unit);
                self.route = Some(route.explanation);
            }
            Step::Rework => self.reworks += 1,
            Step::Close => self.closed_at = Some(at),
            Step::Evaluate => {
                self.satisfaction = Some(
                    input
                        .satisfaction
                        .ok_or(StepError::Missing("satisfaction"))?,
                );
            }
            Step::Merge => {
                let into = input
                    .into
                    .filter(|i| !i.is_empty() && *i != self.number)
                    .ok_or(StepError::Missing("into"))?;
                timeline_note = Some(format!("并入 {into}"));
                self.merged_into = Some(into);
            }
            Step::RequestExtension => {
                if self.extension.as_ref().is_some_and(|e| e.granted.is_none()) {
                    return Err(StepError::Missing("pending"));
                }
                let days = input
                    .days
                    .filter(|d| (1..=30).contains(d))
                    .ok_or(StepError::Missing("days"))?;
                timeline_note = Some(format!(
                    "申请延期 {days} 个工作日：{}",
                    note.clone().unwrap_or_default()
                ));
                self.extension = Some(Extension {
                    days,
                    reason: note.clone().unwrap_or_default(),
                    requested_by: actor.to_owned(),
                    requested_at: at,
                    granted: None,
                });
            }
            Step::DecideExtension => {
                let Some(ext) = self.extension.as_mut().filter(|e| e.granted.is_none()) else {
                    return Err(StepError::Missing("extension"));
                };
                let granted = input.approve.ok_or(StepError::Missing("approve"))?;
                ext.granted = Some(granted);
                if granted && let Some(due) = self.due {
                    let later = calendar.add_working_days(due.date(), ext.days);
                    self.due = Some(later.to_datetime(due.time()));
                }
                timeline_note = Some(if granted {
                    format!("同意延期 {} 个工作日", ext.days)
                } else {
                    format!(
                        "不同意延期{}",
                        note.as_deref()
                            .map(|n| format!("：{n}"))
                            .unwrap_or_default()
                    )
                });
            }
            Step::Urge => {
                self.notices.push(Notice {
                    at,
                    kind: NoticeKind::Urge,
                    to: self.unit.iter().map(|u| u.name.clone()).collect(),
                    note: note.clone().unwrap_or_default(),
                    for_due: None,
                });
            }
            Step::File | Step::Reject | Step::Accept | Step::Return | Step::Feedback => {}
        }
        self.state = to;
        self.timeline.push(TimelineEntry {
            at,
            actor: actor.to_owned(),
            step: Some(step),
            state: to,
            note: timeline_note,
        });
        Ok(())
    }

    /// Whether handling is overdue at `now`.
    #[must_use]
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.state.is_running()
            && self
                .due
                .is_some_and(|due| now.to_zoned(shanghai()).datetime() > due)
    }
}

/// Asia/Shanghai, where deadlines are read: UTC+8 all year (no daylight saving since 1991), so a
/// fixed offset, which needs no time-zone database on the machine.
#[must_use]
pub fn shanghai() -> TimeZone {
    TimeZone::fixed(jiff::tz::offset(8))
}
