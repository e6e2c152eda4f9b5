//! The life cycle of a work order: 受理 → 立案 → 派遣 → 签收 or 退回 → 处置 → 反馈 → 核查 → 结案 or
//! 返工 → 回访评价, with 不予立案 and 并单 as other ends. The rich internal states map onto a plain
//! public status and onto Open311's open/closed.
//!
//! [`next`] is the only place a state changes; it refuses every step the current state does not
//! allow, so a second click on 结案 or a handler acting on an order sent elsewhere is an error
//! that names both the state and the step.

use serde::{Deserialize, Serialize};
use tudi_core::msg::Msg;

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "OrderState")]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// 已受理: taken in, not yet filed.
    Received,
    /// 已立案: filed, waiting for dispatch.
    Filed,
    /// 已派遣: sent to a unit, waiting for it to sign for it.
    Dispatched,
    /// 已退回: the unit sent it back with a reason; waiting for re-dispatch.
    Returned,
    /// 处置中: signed for and being handled (also after 返工).
    Handling,
    /// 已反馈: the unit reported it done; waiting for the check.
    FedBack,
    /// 已结案: checked and closed.
    Closed,
    /// 已回访: the reporter's evaluation is recorded.
    Evaluated,
    /// 不予立案: not a matter for the centre (reason recorded).
    Rejected,
    /// 已并单: a duplicate, merged into another order that carries it on.
    Merged,
}

impl State {
    /// Every state.
    pub const ALL: [Self; 10] = [
        Self::Received,
        Self::Filed,
        Self::Dispatched,
        Self::Returned,
        Self::Handling,
        Self::FedBack,
        Self::Closed,
        Self::Evaluated,
        Self::Rejected,
        Self::Merged,
    ];

    /// Chinese name of the internal state.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Received => "已受理",
            Self::Filed => "已立案",
            Self::Dispatched => "已派遣",
            Self::Returned => "已退回",
            Self::Handling => "处置中",
            Self::FedBack => "已反馈",
            Self::Closed => "已结案",
            Self::Evaluated => "已回访",
            Self::Rejected => "不予立案",
            Self::Merged => "已并单",
        }
    }

    /// What the public sees.
    #[must_use]
    pub fn public(self) -> PublicStatus {
        match self {
            Self::Received | Self::Filed | Self::Dispatched | Self::Returned => {
                PublicStatus::Accepted
            }
            Self::Handling | Self::FedBack => PublicStatus::InProgress,
            Self::Closed | Self::Evaluated => PublicStatus::Done,
            Self::Rejected => PublicStatus::NotAccepted,
            Self::Merged => PublicStatus::Merged,
        }
    }

    /// Whether the order's handling clock is running (deadline and overdue apply).
    #[must_use]
    pub fn is_running(self) -> bool {
        matches!(
            self,
            Self::Dispatched | Self::Returned | Self::Handling | Self::FedBack
        )
    }
}

/// The plain status shown to reporters and over Open311.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    /// 已受理.
    Accepted,
    /// 办理中.
    InProgress,
    /// 已办结.
    Done,
    /// 不予受理.
    NotAccepted,
    /// 已合并: follow the surviving order.
    Merged,
}

impl PublicStatus {
    /// Chinese label.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Accepted => "已受理",
            Self::InProgress => "办理中",
            Self::Done => "已办结",
            Self::NotAccepted => "不予受理",
            Self::Merged => "已合并",
        }
    }

    /// Open311 GeoReport v2 `status`: `open` or `closed`.
    #[must_use]
    pub fn open311(self) -> &'static str {
        match self {
            Self::Accepted | Self::InProgress => "open",
            Self::Done | Self::NotAccepted | Self::Merged => "closed",
        }
    }
}

/// A step someone takes on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "OrderStep")]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 立案.
    File,
    /// 不予立案.
    Reject,
    /// 派遣 (also re-dispatch after 退回).
    Dispatch,
    /// 签收.
    Accept,
    /// 退回 (reason required).
    Return,
    /// 反馈: report the matter handled.
    Feedback,
    /// 核查通过，结案.
    Close,
    /// 核查不通过，返工 (reason required).
    Rework,
    /// 回访评价.
    Evaluate,
    /// 并单 into another order.
    Merge,
    /// 申请延期: the handling unit asks for more working days (reason required).
    RequestExtension,
    /// 延期审批: the dispatcher grants or refuses the pending request.
    DecideExtension,
    /// 督办: the supervision centre presses the unit on a running order (note required).
    Urge,
}

impl Step {
    /// Every step.
    pub const ALL: [Self; 13] = [
        Self::File,
        Self::Reject,
        Self::Dispatch,
        Self::Accept,
        Self::Return,
        Self::Feedback,
        Self::Close,
        Self::Rework,
        Self::Evaluate,
        Self::Merge,
        Self::RequestExtension,
        Self::DecideExtension,
        Self::Urge,
    ];

    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::File => "立案",
            Self::Reject => "不予立案",
            Self::Dispatch => "派遣",
            Self::Accept => "签收",
            Self::Return => "退回",
            Self::Feedback => "反馈",
            Self::Close => "结案",
            Self::Rework => "返工",
            Self::Evaluate => "回访评价",
            Self::Merge => "并单",
            Self::RequestExtension => "申请延期",
            Self::DecideExtension => "审批延期",
            Self::Urge => "督办",
        }
    }

    /// Identifier used in the API and the audit log (`order.<id>`).
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Reject => "reject",
            Self::Dispatch => "dispatch",
            Self::Accept => "accept",
            Self::Return => "return",
            Self::Feedback => "feedback",
            Self::Close => "close",
            Self::Rework => "rework",
            Self::Evaluate => "evaluate",
            Self::Merge => "merge",
            Self::RequestExtension => "request_extension",
            Self::DecideExtension => "decide_extension",
            Self::Urge => "urge",
        }
    }

    /// Who takes the step.
    #[must_use]
    pub fn duty(self) -> Duty {
        match self {
            Self::File
            | Self::Reject
            | Self::Close
            | Self::Rework
            | Self::Evaluate
            | Self::Urge => Duty::Supervise,
            Self::Dispatch | Self::Merge | Self::DecideExtension => Duty::Dispatch,
            Self::Accept | Self::Return | Self::Feedback | Self::RequestExtension => Duty::Handle,
        }
    }

    /// Whether the step must carry a reason.
    #[must_use]
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            Self::Reject | Self::Return | Self::Rework | Self::RequestExtension | Self::Urge
        )
    }
}

/// The two centres and the handling unit of digital urban management: the supervision centre
/// files, checks and closes; the command centre dispatches; the unit handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Duty {
    /// 监督: intake, filing, checking, closing, callback.
    Supervise,
    /// 指挥调度: dispatch, merge.
    Dispatch,
    /// 处置: the unit the order was sent to.
    Handle,
}

/// A step the order's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("step {step:?} is not allowed while the order is {state:?}")]
pub struct IllegalStep {
    /// Where the order is.
    pub state: State,
    /// What was tried.
    pub step: Step,
}

impl IllegalStep {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        Msg::new(
            format!(
                "工单当前状态为「{}」，不能{}",
                self.state.name_zh(),
                self.step.name_zh()
            ),
            format!(
                "the order is {:?}: it cannot be given the step {:?}",
                self.state, self.step
            ),
        )
    }
}

/// The state after `step`, or why `step` is not allowed now.
///
/// # Errors
/// [`IllegalStep`] when the current state does not allow the step.
pub fn next(state: State, step: Step) -> Result<State, IllegalStep> {
    use State as S;
    use Step as T;
    let to = match (state, step) {
        (S::Received, T::File) => S::Filed,
        (S::Received, T::Reject) => S::Rejected,
        (S::Filed | S::Returned, T::Dispatch) => S::Dispatched,
        (S::Dispatched, T::Accept) => S::Handling,
        (S::Dispatched, T::Return) => S::Returned,
        (S::Handling, T::Feedback) => S::FedBack,
        (S::FedBack, T::Close) => S::Closed,
        (S::FedBack, T::Rework) => S::Handling,
        (S::Closed, T::Evaluate) => S::Evaluated,
        (S::Received | S::Filed | S::Dispatched | S::Returned, T::Merge) => S::Merged,
        // Extensions and 督办 leave the order where it is, while its clock runs.
        (S::Dispatched | S::Handling, T::RequestExtension | T::DecideExtension) => state,
        (S::Dispatched | S::Returned | S::Handling | S::FedBack, T::Urge) => state,
        _ => return Err(IllegalStep { state, step }),
    };
    Ok(to)
}

/// The steps allowed from `state` (for the console's buttons).
#[must_use]
pub fn allowed(state: State) -> Vec<Step> {
    Step::ALL
        .into_iter()
        .filter(|s| next(state, *s).is_ok())
        .collect()
}

/// The reporter's evaluation at callback (回访评价).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意.
    Satisfied,
    /// 基本满意.
    FairlySatisfied,
    /// 不满意.
    Dissatisfied,
}

impl Satisfaction {
    /// Chinese label.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Satisfied => "满意",
            Self::FairlySatisfied => "基本满意",
            Self::Dissatisfied => "不满意",
        }
    }

    /// Counted as satisfied in 满意率 (满意 and 基本满意).
    #[must_use]
    pub fn counts_as_satisfied(self) -> bool {
        !matches!(self, Self::Dissatisfied)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_main_path_runs_from_intake_to_evaluation() {
        let path = [
            Step::File,
            Step::Dispatch,
            Step::Return,
            Step::Dispatch,
            Step::Accept,
            Step::Feedback,
            Step::Rework,
            Step::Feedback,
            Step::Close,
            Step::Evaluate,
        ];
        let mut s = State::Received;
        let mut seen = vec![s];
        for step in path {
            s = next(s, step).unwrap();
            seen.push(s);
        }
        assert_eq!(s, State::Evaluated);
        assert!(seen.contains(&State::Returned) && seen.contains(&State::FedBack));
        assert_eq!(s.public().open311(), "closed");
        assert_eq!(State::Handling.public().open311(), "open");
    }

    #[test]
    fn a_second_close_is_refused_with_the_state_named() {
        let err = next(State::Closed, Step::Close).unwrap_err();
        assert_eq!(err.message().zh, "工单当前状态为「已结案」，不能结案");
    }

    #[test]
    fn every_state_and_step_has_exactly_the_documented_transitions() {
        // Written out independently of `next`: (state, allowed steps).
        let expected: [(State, &[Step]); 10] = [
            (State::Received, &[Step::File, Step::Reject, Step::Merge]),
            (State::Filed, &[Step::Dispatch, Step::Merge]),
            (
                State::Dispatched,
                &[
                    Step::Accept,
                    Step::Return,
                    Step::Merge,
                    Step::RequestExtension,
                    Step::DecideExtension,
                    Step::Urge,
                ],
            ),
            (State::Returned, &[Step::Dispatch, Step::Merge, Step::Urge]),
            (
                State::Handling,
                &[
                    Step::Feedback,
                    Step::RequestExtension,
                    Step::DecideExtension,
                    Step::Urge,
                ],
            ),
            (State::FedBack, &[Step::Close, Step::Rework, Step::Urge]),
            (State::Closed, &[Step::Evaluate]),
            (State::Evaluated, &[]),
            (State::Rejected, &[]),
            (State::Merged, &[]),
        ];
        for (state, steps) in expected {
            assert_eq!(allowed(state), steps.to_vec(), "{state:?}");
        }
        // Ends are closed to the public; running states are open.
        for s in State::ALL {
            assert_eq!(
                s.public().open311() == "open",
                !matches!(
                    s,
                    State::Closed | State::Evaluated | State::Rejected | State::Merged
                ),
                "{s:?}"
            );
        }
    }
}
