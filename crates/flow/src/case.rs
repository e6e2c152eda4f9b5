//! Running cases: tasks opened step by step, signatures, and the operations approval systems'
//! users ask for — approve, reject, return to the previous or a chosen step (驳回), withdraw
//! before the next step acts (撤回), transfer (转办), add a signer (加签), urge (催办), comment.
//!
//! [`Case::act`] is the only way a case changes. It takes the revision the caller read and
//! refuses anything else, so two reviewers acting on one task cannot both succeed; every refusal
//! leaves the case as it was. Storage and the audit log are the caller's (a capability writes the
//! case as a record, which audits it).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};
use tudi_core::calendar::WorkCalendar;
use tudi_core::msg::Msg;

use crate::definition::{END, ProcessDef, Signers, StepDef};

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Tasks are open.
    Running,
    /// Every branch reached the end.
    Completed,
    /// Refused (不予批准).
    Rejected,
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for signatures.
    Open,
    /// Approved; the case moved on.
    Approved,
    /// Refused.
    Rejected,
    /// Closed without a decision (returned, withdrawn, or its case ended).
    Cancelled,
}

/// A signer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 同意.
    Approve,
    /// 不同意.
    Reject,
}

/// One signature on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signature {
    /// Who.
    pub user: String,
    /// The assignee entry they signed for (themselves, or a group they belong to).
    #[serde(default)]
    pub slot: Option<String>,
    /// What.
    pub verdict: Verdict,
    /// When.
    pub at: Timestamp,
    /// Their words.
    pub comment: Option<String>,
}

/// One task: a step opened for its assignees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Id within the case, from 1.
    pub id: u32,
    /// The step.
    pub step: String,
    /// Who may sign.
    pub assignees: Vec<String>,
    /// Who signed, and how.
    pub signatures: Vec<Signature>,
    /// Where it is.
    pub status: TaskStatus,
    /// When it opened.
    pub opened_at: Timestamp,
    /// When it is due (Asia/Shanghai civil time).
    pub due: Option<DateTime>,
    /// The task whose approval opened it.
    pub from: Option<u32>,
}

/// Something that happened, for the case's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What (`start`, `approve`, `reject`, `return`, `withdraw`, `transfer`, `add_signer`,
    /// `urge`, `comment`, `open`, `complete`, and from the clock `remind`, `overdue`, `timeout`).
    pub action: String,
    /// On which task.
    pub task: Option<u32>,
    /// Reason, comment or detail.
    pub note: Option<String>,
}

/// A case of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Id (the capability's case number).
    pub id: String,
    /// Process key.
    pub process: String,
    /// The definition version it runs on, whatever is deployed later.
    pub version: u32,
    /// Increases with every change; actions must name the revision they read.
    pub revision: u64,
    /// Where it is.
    pub status: CaseStatus,
    /// Every task, oldest first.
    pub tasks: Vec<Task>,
    /// Branches arrived at a join step, by step.
    pub arrived: BTreeMap<String, u32>,
    /// What happened, oldest first.
    pub events: Vec<Event>,
}

/// What someone does on a case. As JSON it is tagged by `action`:
/// `{"action": "approve", "task": 3, "comment": "同意"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Op {
    /// 同意 (sign the task).
    Approve {
        /// Task.
        task: u32,
        /// Their words.
        comment: Option<String>,
    },
    /// 不同意: the case is refused when the step's rule can no longer be met.
    Reject {
        /// Task.
        task: u32,
        /// Why (required).
        reason: String,
    },
    /// 驳回: back to the step before (`to: None`) or to a chosen earlier step.
    Return {
        /// Task.
        task: u32,
        /// Target step, already passed.
        to: Option<String>,
        /// Why (required).
        reason: String,
    },
    /// 撤回: undo one's own approval while the next step has not acted.
    Withdraw {
        /// The approved task.
        task: u32,
    },
    /// 转办: hand one's place on a task to someone else.
    Transfer {
        /// Task.
        task: u32,
        /// The new assignee.
        to: String,
    },
    /// 加签: add a signer to a task.
    AddSigner {
        /// Task.
        task: u32,
        /// The added signer.
        user: String,
    },
    /// 催办.
    Urge {
        /// Task.
        task: u32,
        /// Message.
        note: String,
    },
    /// A comment.
    Comment {
        /// Task.
        task: u32,
        /// Text.
        text: String,
    },
}

impl Op {
    /// The task it acts on.
    #[must_use]
    pub fn task(&self) -> u32 {
        match self {
            Self::Approve { task, .. }
            | Self::Reject { task, .. }
            | Self::Return { task, .. }
            | Self::Withdraw { task }
            | Self::Transfer { task, .. }
            | Self::AddSigner { task, .. }
            | Self::Urge { task, .. }
            | Self::Comment { task, .. } => *task,
        }
    }

    /// Checks the free text it carries ([`tudi_core::text`]); an empty reason is left to the
    /// step's own rule ([`FlowError::NoReason`]).
    ///
    /// # Errors
    /// [`FlowError::Invalid`] naming the field.
    pub fn check_text(&self) -> Result<(), FlowError> {
        use tudi_core::text::{Lines, check_optional};
        let (field, label, value) = match self {
            Self::Approve {
                comment: Some(c), ..
            } => ("comment", "意见", c.as_str()),
            Self::Reject { reason, .. } | Self::Return { reason, .. } => {
                ("reason", "理由", reason.as_str())
            }
            Self::Urge { note, .. } => ("note", "催办内容", note.as_str()),
            Self::Comment { text, .. } => ("text", "意见", text.as_str()),
            _ => return Ok(()),
        };
        check_optional(value, MAX_TEXT, Lines::Many)
            .map(|_| ())
            .map_err(|f| FlowError::Invalid {
                field,
                message: f.message(label, field),
            })
    }

    /// Its name, as in JSON and audit entries.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Approve { .. } => "approve",
            Self::Reject { .. } => "reject",
            Self::Return { .. } => "return",
            Self::Withdraw { .. } => "withdraw",
            Self::Transfer { .. } => "transfer",
            Self::AddSigner { .. } => "add_signer",
            Self::Urge { .. } => "urge",
            Self::Comment { .. } => "comment",
        }
    }
}

/// Why an operation was refused; the case is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// Someone acted since the caller read the case.
    #[error("case changed: read revision {expected}, now {found}")]
    Conflict {
        /// Revision read.
        expected: u64,
        /// Revision now.
        found: u64,
    },
    /// The case has ended.
    #[error("the case has ended")]
    Ended,
    /// No such task.
    #[error("no task {0}")]
    UnknownTask(u32),
    /// The task is not open.
    #[error("task {0} is closed")]
    Closed(u32),
    /// The actor is not among the task's signers (or already signed).
    #[error("{0} may not act on this task")]
    NotAssignee(String),
    /// Nothing can be withdrawn: the next step has acted, or the actor did not approve.
    #[error("nothing to withdraw")]
    CannotWithdraw,
    /// The return target is not a step this case has passed.
    #[error("cannot return to {0}")]
    BadTarget(String),
    /// A reason is required.
    #[error("a reason is required")]
    NoReason,
    /// The definition does not match the case.
    #[error("definition mismatch: {0}")]
    Definition(String),
    /// A text the caller sent is not acceptable (control characters, too long …).
    #[error("{field}: {}", message.en)]
    Invalid {
        /// The field (`comment`, `reason`, `note`, `text`).
        field: &'static str,
        /// Why.
        message: Msg,
    },
}

/// Longest comment, reason or note on a task (characters).
pub const MAX_TEXT: usize = 1000;

impl FlowError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Conflict { found, .. } => Msg::new(
                format!("案件已被他人处理（当前第 {found} 版），请刷新后再操作"),
                format!(
                    "the case was changed by someone else (now revision {found}): reload and try again"
                ),
            ),
            Self::Ended => Msg::new("案件已办结，不能再操作", "the case has ended"),
            Self::UnknownTask(t) => Msg::new(format!("没有任务 {t}"), format!("no task {t}")),
            Self::Closed(t) => Msg::new(
                format!("任务 {t} 已办理完毕"),
                format!("task {t} is closed"),
            ),
            Self::NotAssignee(u) => Msg::new(
                format!("{u} 不是该任务的办理人，或已签署"),
                format!("{u} is not a signer of this task, or has signed"),
            ),
            Self::CannotWithdraw => Msg::new(
                "下一步已经办理，或您未办理该任务，不能撤回",
                "the next step has acted, or you did not approve this task: nothing to withdraw",
            ),
            Self::BadTarget(s) => Msg::new(
                format!("不能驳回到「{s}」：该步骤尚未经过"),
                format!("cannot return to {s}: not a step this case has passed"),
            ),
            Self::NoReason => Msg::new("请填写理由", "a reason is required"),
            Self::Definition(d) => Msg::new(
                format!("流程定义不符：{d}"),
                format!("definition mismatch: {d}"),
            ),
            Self::Invalid { message, .. } => message.clone(),
        }
    }
}

/// Who is assigned a step when it opens (the capability decides: by role and jurisdiction).
/// An entry is a user, or a group the capability understands (see [`Holds`]).
pub type Assign<'a> = &'a dyn Fn(&StepDef) -> Vec<String>;

/// Whether an actor fills an assignee entry that is not their own name — a candidate group such
/// as "the town reviewers of 桂城街道" (the capability decides, with its access policy).
pub type Holds<'a> = &'a dyn Fn(&str, &str) -> bool;

/// What a case runs with: its definition, who is assigned each step, and the calendar for
/// working-day deadlines.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    /// The definition (of the version the case runs on).
    pub def: &'a ProcessDef,
    /// Assignment of steps to people.
    pub assign: Assign<'a>,
    /// Working days.
    pub calendar: &'a WorkCalendar,
    /// Group membership for assignee entries (`None`: entries are user names only).
    pub holds: Option<Holds<'a>>,
}

impl Engine<'_> {
    /// Whether `actor` fills the assignee entry `entry`.
    #[must_use]
    pub fn fills(&self, entry: &str, actor: &str) -> bool {
        entry == actor || self.holds.is_some_and(|h| h(entry, actor))
    }
}

/// A day before a deadline, the reminder (催办提醒) is due.
const REMIND_AHEAD_HOURS: i64 = 24;

fn due(step: &StepDef, at: Timestamp, calendar: &WorkCalendar) -> Option<DateTime> {
    let d = step.deadline?;
    let local = at
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .datetime();
    if d.working {
        Some(calendar.due_after(local, d.days))
    } else {
        local
            .date()
            .checked_add(jiff::Span::new().days(i64::from(d.days)))
            .ok()
            .map(|date| date.at(23, 59, 59, 0))
    }
}

impl Case {
    /// Starts a case of `def` at its start step.
    ///
    /// # Errors
    /// [`FlowError::Definition`] when the definition does not check.
    pub fn start(
        engine: &Engine<'_>,
        id: &str,
        starter: &str,
        at: Timestamp,
    ) -> Result<Self, FlowError> {
        let (def, assign, calendar) = (engine.def, engine.assign, engine.calendar);
        def.check().map_err(|e| FlowError::Definition(e.reason))?;
        let mut case = Self {
            id: id.to_owned(),
            process: def.key.clone(),
            version: def.version,
            revision: 1,
            status: CaseStatus::Running,
            tasks: Vec::new(),
            arrived: BTreeMap::new(),
            events: vec![Event {
                at,
                actor: starter.to_owned(),
                action: "start".into(),
                task: None,
                note: None,
            }],
        };
        let start = def
            .step(&def.start)
            .ok_or_else(|| FlowError::Definition(def.start.clone()))?
            .clone();
        case.open(&start, None, at, assign(&start), calendar);
        Ok(case)
    }

    /// The open tasks.
    pub fn open_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.status == TaskStatus::Open)
    }

    fn open(
        &mut self,
        step: &StepDef,
        from: Option<u32>,
        at: Timestamp,
        assignees: Vec<String>,
        calendar: &WorkCalendar,
    ) -> u32 {
        let id = u32::try_from(self.tasks.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.tasks.push(Task {
            id,
            step: step.id.clone(),
            assignees,
            signatures: Vec::new(),
            status: TaskStatus::Open,
            opened_at: at,
            due: due(step, at, calendar),
            from,
        });
        self.events.push(Event {
            at,
            actor: "system".into(),
            action: "open".into(),
            task: Some(id),
            note: Some(step.name.clone()),
        });
        id
    }

    fn task_index(&self, id: u32) -> Result<usize, FlowError> {
        self.tasks
            .iter()
            .position(|t| t.id == id)
            .ok_or(FlowError::UnknownTask(id))
    }

    fn open_index(&self, id: u32) -> Result<usize, FlowError> {
        let i = self.task_index(id)?;
        if self.tasks[i].status != TaskStatus::Open {
            return Err(FlowError::Closed(id));
        }
        Ok(i)
    }

    /// Applies `op` by `actor` to the case as it was at `revision`.
    ///
    /// # Errors
    /// [`FlowError`]; the case is unchanged.
    pub fn act(
        &mut self,
        engine: &Engine<'_>,
        revision: u64,
        actor: &str,
        op: Op,
        at: Timestamp,
    ) -> Result<(), FlowError> {
        let def = engine.def;
        if revision != self.revision {
            return Err(FlowError::Conflict {
                expected: revision,
                found: self.revision,
            });
        }
        if def.key != self.process || def.version != self.version {
            return Err(FlowError::Definition(format!(
                "case runs {} v{}",
                self.process, self.version
            )));
        }
        if self.status != CaseStatus::Running {
            return Err(FlowError::Ended);
        }
        op.check_text()?;
        // Work on a copy: a refusal leaves the case exactly as it was.
        let mut next = self.clone();
        next.apply(engine, actor, op, at)?;
        next.revision += 1;
        *self = next;
        Ok(())
    }

    /// Applies what the clock has made due: a reminder a day before each deadline, an overdue
    /// notice once it passes, and steps that advance on timeout (a 公示 period) completed as
    /// approved by `system`. Returns whether anything changed (the revision then increases, so a
    /// person acting on the old revision is told the case moved).
    ///
    /// # Errors
    /// [`FlowError::Definition`] when the definition does not match the case.
    pub fn tick(&mut self, engine: &Engine<'_>, now: Timestamp) -> Result<bool, FlowError> {
        let def = engine.def;
        if self.status != CaseStatus::Running {
            return Ok(false);
        }
        if def.key != self.process || def.version != self.version {
            return Err(FlowError::Definition(format!(
                "case runs {} v{}",
                self.process, self.version
            )));
        }
        let local = now
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .datetime();
        let mut next = self.clone();
        let mut changed = false;
        let due_tasks: Vec<(usize, DateTime)> = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == TaskStatus::Open)
            .filter_map(|(i, t)| t.due.map(|d| (i, d)))
            .collect();
        for (i, due) in due_tasks {
            // An earlier timeout in this tick may have closed it (a return, a case end).
            if next.tasks[i].status != TaskStatus::Open {
                continue;
            }
            let id = next.tasks[i].id;
            let noted = |case: &Self, action: &str| {
                case.events
                    .iter()
                    .any(|e| e.task == Some(id) && e.action == action)
            };
            let remind_from = due
                .checked_sub(jiff::Span::new().hours(REMIND_AHEAD_HOURS))
                .unwrap_or(due);
            if local >= remind_from && !noted(&next, "remind") {
                next.event(
                    now,
                    "system",
                    "remind",
                    Some(id),
                    Some(format!("将于 {} 到期", due.strftime("%Y-%m-%d %H:%M"))),
                );
                changed = true;
            }
            if local <= due {
                continue;
            }
            let step = def
                .step(&next.tasks[i].step)
                .cloned()
                .ok_or_else(|| FlowError::Definition(next.tasks[i].step.clone()))?;
            if step.on_timeout == Some(crate::definition::OnTimeout::Advance) {
                next.tasks[i].signatures.push(Signature {
                    user: "system".into(),
                    slot: None,
                    verdict: Verdict::Approve,
                    at: now,
                    comment: Some("期限届满".into()),
                });
                next.event(
                    now,
                    "system",
                    "timeout",
                    Some(id),
                    Some(format!("「{}」期限届满，自动进入下一步", step.name)),
                );
                next.complete(engine, i, &step, now)?;
                changed = true;
            } else if !noted(&next, "overdue") {
                next.event(
                    now,
                    "system",
                    "overdue",
                    Some(id),
                    Some(format!("「{}」已超期", step.name)),
                );
                changed = true;
            }
        }
        if changed {
            next.revision += 1;
            *self = next;
        }
        Ok(changed)
    }

    fn event(
        &mut self,
        at: Timestamp,
        actor: &str,
        action: &str,
        task: Option<u32>,
        note: Option<String>,
    ) {
        self.events.push(Event {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            task,
            note,
        });
    }

    fn apply(
        &mut self,
        engine: &Engine<'_>,
        actor: &str,
        op: Op,
        at: Timestamp,
    ) -> Result<(), FlowError> {
        let (def, calendar) = (engine.def, engine.calendar);
        let step_of = |case: &Self, i: usize| {
            def.step(&case.tasks[i].step)
                .cloned()
                .ok_or_else(|| FlowError::Definition(case.tasks[i].step.clone()))
        };
        match op {
            Op::Approve { task, comment } => {
                let i = self.open_index(task)?;
                self.sign(engine, i, actor, Verdict::Approve, at, comment.clone())?;
                self.event(at, actor, "approve", Some(task), comment);
                let step = step_of(self, i)?;
                if self.rule_met(i, &step) {
                    self.complete(engine, i, &step, at)?;
                }
            }
            Op::Reject { task, reason } => {
                if reason.trim().is_empty() {
                    return Err(FlowError::NoReason);
                }
                let i = self.open_index(task)?;
                self.sign(engine, i, actor, Verdict::Reject, at, Some(reason.clone()))?;
                self.event(at, actor, "reject", Some(task), Some(reason));
                let step = step_of(self, i)?;
                if !self.rule_possible(i, &step) {
                    self.tasks[i].status = TaskStatus::Rejected;
                    self.end(CaseStatus::Rejected, at);
                }
            }
            Op::Return { task, to, reason } => {
                if reason.trim().is_empty() {
                    return Err(FlowError::NoReason);
                }
                let i = self.open_index(task)?;
                if !self.tasks[i]
                    .assignees
                    .iter()
                    .any(|a| engine.fills(a, actor))
                {
                    return Err(FlowError::NotAssignee(actor.to_owned()));
                }
                let target = match to {
                    Some(step) => step,
                    None => {
                        let from = self.tasks[i]
                            .from
                            .ok_or_else(|| FlowError::BadTarget(self.tasks[i].step.clone()))?;
                        self.tasks[self.task_index(from)?].step.clone()
                    }
                };
                // Only a step this case has passed (approved), so its signers are known.
                let passed = self
                    .tasks
                    .iter()
                    .rev()
                    .find(|t| t.step == target && t.status == TaskStatus::Approved)
                    .cloned()
                    .ok_or_else(|| FlowError::BadTarget(target.clone()))?;
                for t in &mut self.tasks {
                    if t.status == TaskStatus::Open {
                        t.status = TaskStatus::Cancelled;
                    }
                }
                self.arrived.clear();
                self.event(
                    at,
                    actor,
                    "return",
                    Some(task),
                    Some(format!("驳回至「{}」：{reason}", passed.step)),
                );
                let step = def
                    .step(&target)
                    .cloned()
                    .ok_or_else(|| FlowError::BadTarget(target.clone()))?;
                self.open(&step, passed.from, at, passed.assignees, calendar);
            }
            Op::Withdraw { task } => {
                let i = self.task_index(task)?;
                let t = &self.tasks[i];
                if t.status != TaskStatus::Approved
                    || !t
                        .signatures
                        .iter()
                        .any(|s| s.user == actor && s.verdict == Verdict::Approve)
                {
                    return Err(FlowError::CannotWithdraw);
                }
                // The tasks it opened must still be untouched.
                let opened: Vec<usize> = (0..self.tasks.len())
                    .filter(|j| self.tasks[*j].from == Some(task))
                    .collect();
                if opened.iter().any(|j| {
                    self.tasks[*j].status != TaskStatus::Open
                        || !self.tasks[*j].signatures.is_empty()
                }) {
                    return Err(FlowError::CannotWithdraw);
                }
                for j in opened {
                    self.tasks[j].status = TaskStatus::Cancelled;
                }
                // Joins it fed lose that branch.
                let step = step_of(self, i)?;
                for n in &step.next {
                    if let Some(c) = self.arrived.get_mut(n) {
                        *c = c.saturating_sub(1);
                    }
                }
                let t = &mut self.tasks[i];
                t.status = TaskStatus::Open;
                t.signatures.retain(|s| s.user != actor);
                self.event(at, actor, "withdraw", Some(task), None);
            }
            Op::Transfer { task, to } => {
                let i = self.open_index(task)?;
                let pos = self
                    .free_slot(engine, i, actor)
                    .ok_or_else(|| FlowError::NotAssignee(actor.to_owned()))?;
                let t = &mut self.tasks[i];
                if t.assignees.contains(&to) {
                    return Err(FlowError::NotAssignee(to));
                }
                t.assignees[pos] = to.clone();
                self.event(
                    at,
                    actor,
                    "transfer",
                    Some(task),
                    Some(format!("转办给 {to}")),
                );
            }
            Op::AddSigner { task, user } => {
                let i = self.open_index(task)?;
                let t = &mut self.tasks[i];
                if !t.assignees.iter().any(|a| engine.fills(a, actor)) {
                    return Err(FlowError::NotAssignee(actor.to_owned()));
                }
                if t.assignees.contains(&user) {
                    return Err(FlowError::NotAssignee(user));
                }
                t.assignees.push(user.clone());
                self.event(
                    at,
                    actor,
                    "add_signer",
                    Some(task),
                    Some(format!("加签 {user}")),
                );
            }
            Op::Urge { task, note } => {
                self.open_index(task)?;
                self.event(at, actor, "urge", Some(task), Some(note));
            }
            Op::Comment { task, text } => {
                self.task_index(task)?;
                self.event(at, actor, "comment", Some(task), Some(text));
            }
        }
        Ok(())
    }

    /// The first assignee entry `actor` fills that nobody has signed for, if they have not
    /// signed this task already.
    fn free_slot(&self, engine: &Engine<'_>, i: usize, actor: &str) -> Option<usize> {
        let t = &self.tasks[i];
        if t.signatures.iter().any(|s| s.user == actor) {
            return None;
        }
        let taken = |entry: &str| {
            t.signatures
                .iter()
                .any(|s| s.slot.as_deref().unwrap_or(s.user.as_str()) == entry)
        };
        // One's own name first, then a group.
        t.assignees
            .iter()
            .position(|a| a == actor && !taken(a))
            .or_else(|| {
                t.assignees
                    .iter()
                    .position(|a| engine.fills(a, actor) && !taken(a))
            })
    }

    fn sign(
        &mut self,
        engine: &Engine<'_>,
        i: usize,
        actor: &str,
        verdict: Verdict,
        at: Timestamp,
        comment: Option<String>,
    ) -> Result<(), FlowError> {
        let pos = self
            .free_slot(engine, i, actor)
            .ok_or_else(|| FlowError::NotAssignee(actor.to_owned()))?;
        let t = &mut self.tasks[i];
        let slot = t.assignees[pos].clone();
        t.signatures.push(Signature {
            user: actor.to_owned(),
            slot: (slot != actor).then_some(slot),
            verdict,
            at,
            comment,
        });
        Ok(())
    }

    fn count(&self, i: usize, verdict: Verdict) -> usize {
        self.tasks[i]
            .signatures
            .iter()
            .filter(|s| s.verdict == verdict)
            .count()
    }

    fn rule_met(&self, i: usize, step: &StepDef) -> bool {
        let approvals = self.count(i, Verdict::Approve);
        match step.signers {
            Signers::One | Signers::Any => approvals >= 1,
            Signers::All => approvals == self.tasks[i].assignees.len(),
            Signers::Threshold(n) => approvals >= n as usize,
        }
    }

    fn rule_possible(&self, i: usize, step: &StepDef) -> bool {
        let (approvals, rejections) = (
            self.count(i, Verdict::Approve),
            self.count(i, Verdict::Reject),
        );
        let remaining = self.tasks[i]
            .assignees
            .len()
            .saturating_sub(approvals + rejections);
        match step.signers {
            Signers::One | Signers::All => rejections == 0,
            Signers::Any => approvals + remaining >= 1,
            Signers::Threshold(n) => approvals + remaining >= n as usize,
        }
    }

    fn complete(
        &mut self,
        engine: &Engine<'_>,
        i: usize,
        step: &StepDef,
        at: Timestamp,
    ) -> Result<(), FlowError> {
        let (def, assign, calendar) = (engine.def, engine.assign, engine.calendar);
        self.tasks[i].status = TaskStatus::Approved;
        let from = self.tasks[i].id;
        for n in &step.next {
            if n == END {
                continue;
            }
            let next = def
                .step(n)
                .cloned()
                .ok_or_else(|| FlowError::Definition(n.clone()))?;
            if next.join {
                let need = u32::try_from(def.incoming(n).len()).unwrap_or(u32::MAX);
                let got = self.arrived.entry(n.clone()).or_default();
                *got += 1;
                if *got < need {
                    continue;
                }
                self.arrived.remove(n);
            }
            let who = assign(&next);
            self.open(&next, Some(from), at, who, calendar);
        }
        if self.open_tasks().next().is_none() && self.arrived.values().all(|v| *v == 0) {
            self.end(CaseStatus::Completed, at);
        }
        Ok(())
    }

    fn end(&mut self, status: CaseStatus, at: Timestamp) {
        for t in &mut self.tasks {
            if t.status == TaskStatus::Open {
                t.status = TaskStatus::Cancelled;
            }
        }
        self.status = status;
        self.event(
            at,
            "system",
            "complete",
            None,
            Some(match status {
                CaseStatus::Completed => "办结".to_owned(),
                CaseStatus::Rejected => "不予批准".to_owned(),
                CaseStatus::Running => String::new(),
            }),
        );
    }
}
