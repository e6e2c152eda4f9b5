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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
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
            name: self.name.as_ref().map(|n| {
                let mut chars = n.chars();
                let first: String = chars.next().into_iter().collect();
                format!("{first}{}", "*".repeat(chars.count()))
            }),
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

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
                    _ => "请指定合并到的工单",
                };
                Msg::new(zh, format!("the step needs its {what}"))
            }
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
        let note = input.note.filter(|n| !n.trim().is_empty());
        if step.needs_reason() && note.is_none() {
            return Err(StepError::Missing("note"));
        }
        let mut timeline_note = note.clone();
        match step {
            Step::Dispatch => {
                let route = input.route.ok_or(StepError::Missing("route"))?;
                let local = at.to_zoned(shanghai()).datetime();
                self.due = Some(calendar.due_after(local, category.working_days(self.urgency)));
                timeline_note = Some(route.explanation.zh.clone());
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
