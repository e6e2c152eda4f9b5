//! The engine on a homestead-like process: village review, then three departments in parallel
//! (会签 joined), then approval by a committee on a threshold (票签). Every operation, and every
//! refusal leaving the case as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;
use tudi_core::calendar::WorkCalendar;
use tudi_flow::case::{Case, CaseStatus, Engine, FlowError, Op, TaskStatus};
use tudi_flow::definition::{Deadline, ProcessDef, Signers, StepDef};

fn step(id: &str, role: &str, signers: Signers, next: &[&str]) -> StepDef {
    StepDef {
        id: id.into(),
        name: id.into(),
        role: role.into(),
        level: None,
        department: None,
        signers,
        deadline: Some(Deadline {
            days: 5,
            working: true,
        }),
        on_timeout: None,
        next: next.iter().map(|s| (*s).to_owned()).collect(),
        join: false,
        form: vec![],
    }
}

fn process() -> ProcessDef {
    let mut joint = step("joint", "town_reviewer", Signers::One, &["approve"]);
    joint.join = true;
    ProcessDef {
        key: "homestead.application".into(),
        version: 1,
        name: "宅基地申请".into(),
        start: "village".into(),
        steps: vec![
            step(
                "village",
                "village_clerk",
                Signers::One,
                &["agri", "land", "housing"],
            ),
            step("agri", "department_handler", Signers::Any, &["joint"]),
            step("land", "department_handler", Signers::One, &["joint"]),
            step("housing", "department_handler", Signers::One, &["joint"]),
            joint,
            step(
                "approve",
                "district_approver",
                Signers::Threshold(2),
                &["end"],
            ),
        ],
    }
}

/// Who is assigned each step (a capability would ask the accounts by role and jurisdiction).
fn assign(s: &StepDef) -> Vec<String> {
    match s.id.as_str() {
        "village" => vec!["clerk".into()],
        "agri" => vec!["agri1".into(), "agri2".into()],
        "land" => vec!["land".into()],
        "housing" => vec!["housing".into()],
        "joint" => vec!["town".into()],
        _ => vec!["a1".into(), "a2".into(), "a3".into()],
    }
}

fn engine(def: &ProcessDef) -> Engine<'_> {
    Engine {
        def,
        assign: &assign,
        calendar: WorkCalendar::china(),
        holds: None,
    }
}

fn at(h: i64) -> Timestamp {
    "2026-09-18T02:00:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .checked_add(jiff::SignedDuration::from_hours(h))
        .unwrap()
}

fn start() -> (ProcessDef, Case) {
    let def = process();
    let case = Case::start(&engine(&def), "ZJD-1", "applicant", at(0)).unwrap();
    (def, case)
}

/// `act!(def, case, actor, op)`: the operation is built first (it may read the case), then
/// applied to the revision the case is at.
macro_rules! act {
    ($def:expr, $case:expr, $actor:expr, $op:expr $(,)?) => {{
        let op = $op;
        act_now($def, $case, $actor, op)
    }};
}

fn act_now(def: &ProcessDef, case: &mut Case, actor: &str, op: Op) -> Result<(), FlowError> {
    let rev = case.revision;
    case.act(&engine(def), rev, actor, op, at(1))
}

fn open_task(case: &Case, step: &str) -> u32 {
    case.open_tasks().find(|t| t.step == step).unwrap().id
}

fn approve(task: u32) -> Op {
    Op::Approve {
        task,
        comment: None,
    }
}

#[test]
fn a_case_runs_through_parallel_branches_a_join_and_a_threshold() {
    let (def, mut case) = start();
    let village = open_task(&case, "village");
    // Due five working days after Friday 18 September: 20 (worked), 21, 22, 23, 24.
    assert_eq!(
        case.tasks[0].due.unwrap().date(),
        jiff::civil::date(2026, 9, 24)
    );
    act!(&def, &mut case, "clerk", approve(village)).unwrap();
    let steps: Vec<_> = case.open_tasks().map(|t| t.step.clone()).collect();
    assert_eq!(
        steps,
        ["agri", "land", "housing"],
        "three departments in parallel"
    );
    // 或签: one of the two agriculture signers is enough.
    act!(&def, &mut case, "agri2", approve(open_task(&case, "agri"))).unwrap();
    act!(&def, &mut case, "land", approve(open_task(&case, "land"))).unwrap();
    assert!(
        case.open_tasks().all(|t| t.step != "joint"),
        "the join waits for every branch"
    );
    act!(
        &def,
        &mut case,
        "housing",
        approve(open_task(&case, "housing")),
    )
    .unwrap();
    act!(&def, &mut case, "town", approve(open_task(&case, "joint"))).unwrap();
    // 票签: two of three.
    let approval = open_task(&case, "approve");
    act!(&def, &mut case, "a1", approve(approval)).unwrap();
    assert_eq!(case.status, CaseStatus::Running);
    act!(&def, &mut case, "a3", approve(approval)).unwrap();
    assert_eq!(case.status, CaseStatus::Completed);
    assert!(matches!(
        act!(&def, &mut case, "a2", approve(approval)),
        Err(FlowError::Ended)
    ));
}

#[test]
fn two_reviewers_cannot_both_act_on_one_revision_and_refusals_change_nothing() {
    let (def, mut case) = start();
    let village = open_task(&case, "village");
    let read = case.revision;
    case.act(&engine(&def), read, "clerk", approve(village), at(1))
        .unwrap();
    // A second reviewer acting on the revision they read is told the case moved on.
    let err = case.act(&engine(&def), read, "clerk", approve(village), at(1));
    assert!(matches!(err, Err(FlowError::Conflict { .. })), "{err:?}");
    assert!(err.unwrap_err().message().zh.contains("已被他人处理"));
    // Someone not assigned; a double approval; a rejection without reason: nothing changes.
    let before = case.clone();
    let land = open_task(&case, "land");
    assert!(matches!(
        act!(&def, &mut case, "intruder", approve(land)),
        Err(FlowError::NotAssignee(_))
    ));
    act!(&def, &mut case, "land", approve(land)).unwrap();
    let after_land = case.clone();
    assert!(matches!(
        act!(&def, &mut case, "land", approve(land)),
        Err(FlowError::Closed(_))
    ));
    assert!(matches!(
        act!(
            &def,
            &mut case,
            "housing",
            Op::Reject {
                task: open_task(&case, "housing"),
                reason: " ".into()
            }
        ),
        Err(FlowError::NoReason)
    ));
    assert_eq!(case, after_land);
    assert_ne!(before, after_land);
}

#[test]
fn return_withdraw_transfer_add_signer_urge_and_reject() {
    let (def, mut case) = start();
    act!(
        &def,
        &mut case,
        "clerk",
        approve(open_task(&case, "village")),
    )
    .unwrap();
    // 撤回: the clerk takes the approval back while no department has acted.
    let land_before = open_task(&case, "land");
    act!(&def, &mut case, "clerk", Op::Withdraw { task: 1 }).unwrap();
    assert_eq!(
        case.open_tasks()
            .map(|t| t.step.as_str())
            .collect::<Vec<_>>(),
        ["village"]
    );
    // An approval after the withdrawal, on the task it closed, is refused and changes nothing.
    let withdrawn = case.clone();
    assert!(act!(&def, &mut case, "land", approve(land_before)).is_err());
    assert_eq!(case, withdrawn);
    act!(&def, &mut case, "clerk", approve(1)).unwrap();
    // Once a department has acted, withdrawing is refused.
    act!(&def, &mut case, "land", approve(open_task(&case, "land"))).unwrap();
    assert!(matches!(
        act!(&def, &mut case, "clerk", Op::Withdraw { task: 1 }),
        Err(FlowError::CannotWithdraw)
    ));
    // 转办 and 加签 on housing (a single-signer step: the first approval completes it), 催办 and a
    // comment.
    let housing = open_task(&case, "housing");
    act!(
        &def,
        &mut case,
        "housing",
        Op::Transfer {
            task: housing,
            to: "housing2".into(),
        },
    )
    .unwrap();
    assert!(matches!(
        act!(&def, &mut case, "housing", approve(housing)),
        Err(FlowError::NotAssignee(_))
    ));
    act!(
        &def,
        &mut case,
        "housing2",
        Op::AddSigner {
            task: housing,
            user: "expert".into(),
        },
    )
    .unwrap();
    act!(
        &def,
        &mut case,
        "town",
        Op::Urge {
            task: housing,
            note: "请于本周内办结".into(),
        },
    )
    .unwrap();
    act!(
        &def,
        &mut case,
        "expert",
        Op::Comment {
            task: housing,
            text: "现场已核实".into(),
        },
    )
    .unwrap();
    act!(&def, &mut case, "expert", approve(housing)).unwrap();
    act!(&def, &mut case, "agri1", approve(open_task(&case, "agri"))).unwrap();
    // 驳回 from the joint review to the village step: every open task closes, the village reopens
    // with its signer.
    let joint = open_task(&case, "joint");
    assert!(matches!(
        act!(
            &def,
            &mut case,
            "town",
            Op::Return {
                task: joint,
                to: Some("approve".into()),
                reason: "x".into()
            }
        ),
        Err(FlowError::BadTarget(_))
    ));
    act!(
        &def,
        &mut case,
        "town",
        Op::Return {
            task: joint,
            to: Some("village".into()),
            reason: "四至意见缺签字".into(),
        },
    )
    .unwrap();
    let reopened: Vec<_> = case.open_tasks().collect();
    assert_eq!(
        (
            reopened.len(),
            reopened[0].step.as_str(),
            reopened[0].assignees[0].as_str()
        ),
        (1, "village", "clerk")
    );
    assert_eq!(
        case.tasks.iter().find(|t| t.id == joint).unwrap().status,
        TaskStatus::Cancelled
    );
    // Through again, then refused at approval: two of three reject, the threshold cannot be met.
    act!(
        &def,
        &mut case,
        "clerk",
        approve(open_task(&case, "village")),
    )
    .unwrap();
    for (who, s) in [("agri1", "agri"), ("land", "land"), ("housing", "housing")] {
        act!(&def, &mut case, who, approve(open_task(&case, s))).unwrap();
    }
    act!(&def, &mut case, "town", approve(open_task(&case, "joint"))).unwrap();
    let approval = open_task(&case, "approve");
    act!(
        &def,
        &mut case,
        "a1",
        Op::Reject {
            task: approval,
            reason: "超出面积标准".into(),
        },
    )
    .unwrap();
    assert_eq!(
        case.status,
        CaseStatus::Running,
        "one rejection of three still allows two approvals"
    );
    act!(
        &def,
        &mut case,
        "a2",
        Op::Reject {
            task: approval,
            reason: "同意 a1 意见".into(),
        },
    )
    .unwrap();
    assert_eq!(case.status, CaseStatus::Rejected);
    let actions: Vec<&str> = case.events.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "start",
        "approve",
        "withdraw",
        "transfer",
        "add_signer",
        "urge",
        "comment",
        "return",
        "reject",
        "complete",
    ] {
        assert!(actions.contains(&a), "{a} in the timeline");
    }
}

#[test]
fn a_case_stays_on_the_version_it_started_with() {
    let (mut def, mut case) = start();
    def.version = 2;
    let err = act!(&def, &mut case, "clerk", approve(1)).unwrap_err();
    assert!(matches!(err, FlowError::Definition(_)));
    def.version = 1;
    act!(&def, &mut case, "clerk", approve(1)).unwrap();
}

#[test]
fn a_group_entry_is_filled_by_any_member_and_only_once() {
    let def = process();
    let group = |s: &StepDef| match s.id.as_str() {
        "village" => vec!["clerks@v1".to_owned()],
        _ => assign(s),
    };
    let members = |entry: &str, actor: &str| entry == "clerks@v1" && actor.starts_with("clerk");
    let engine = Engine {
        def: &def,
        assign: &group,
        calendar: WorkCalendar::china(),
        holds: Some(&members),
    };
    let mut case = Case::start(&engine, "ZJD-2", "applicant", at(0)).unwrap();
    let village = open_task(&case, "village");
    let before = case.clone();
    let err = case.act(&engine, case.revision, "outsider", approve(village), at(1));
    assert!(matches!(err, Err(FlowError::NotAssignee(_))), "{err:?}");
    assert_eq!(case, before, "a refusal changes nothing");
    case.act(&engine, case.revision, "clerk-b", approve(village), at(1))
        .unwrap();
    let signed = &case.tasks[0].signatures[0];
    assert_eq!(
        (signed.user.as_str(), signed.slot.as_deref()),
        ("clerk-b", Some("clerks@v1")),
        "the signature names the person and the group they signed for"
    );
}

#[test]
fn the_clock_reminds_then_marks_overdue_and_a_timer_step_advances_by_itself() {
    // A 公示 period of 2 working days that ends on its own, then a review that only gets notices.
    let mut notice = step("notice", "village_clerk", Signers::One, &["review"]);
    notice.deadline = Some(Deadline {
        days: 2,
        working: true,
    });
    notice.on_timeout = Some(tudi_flow::definition::OnTimeout::Advance);
    let review = step("review", "town_reviewer", Signers::One, &["end"]);
    let def = ProcessDef {
        key: "notice".into(),
        version: 1,
        name: "公示".into(),
        start: "notice".into(),
        steps: vec![notice, review],
    };
    let who = |_: &StepDef| vec!["someone".to_owned()];
    let engine = Engine {
        def: &def,
        assign: &who,
        calendar: WorkCalendar::china(),
        holds: None,
    };
    // Opened Friday 18 September 2026, 10:00; two working days: Sunday 20 (a make-up working
    // day) and Monday 21, so due at the end of Monday.
    let mut case = Case::start(&engine, "GS-1", "clerk", at(0)).unwrap();
    assert_eq!(
        case.tasks[0].due.unwrap().date(),
        jiff::civil::date(2026, 9, 21)
    );
    let rev = case.revision;
    assert!(
        !case.tick(&engine, at(24)).unwrap(),
        "nothing due on Saturday"
    );
    assert_eq!(case.revision, rev);
    // Monday morning: within a day of the deadline.
    assert!(case.tick(&engine, at(72)).unwrap());
    assert_eq!(case.events.last().unwrap().action, "remind");
    assert!(
        !case.tick(&engine, at(73)).unwrap(),
        "one reminder, not one per tick"
    );
    // Tuesday: the notice period is over, the review opens without anyone acting.
    assert!(case.tick(&engine, at(96)).unwrap());
    assert!(case.events.iter().any(|e| e.action == "timeout"));
    let review = open_task(&case, "review");
    assert_eq!(case.tasks[0].status, TaskStatus::Approved);
    assert_eq!(case.tasks[0].signatures[0].user, "system");
    // The review is due Friday 25 September (5 working days from Tuesday 22); a week later it is
    // overdue: one reminder and one overdue notice, and it stays open for a person.
    assert!(case.tick(&engine, at(96 + 24 * 9)).unwrap());
    let notes: Vec<&str> = case
        .events
        .iter()
        .filter(|e| e.task == Some(review))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(notes, ["open", "remind", "overdue"]);
    assert!(!case.tick(&engine, at(96 + 24 * 10)).unwrap());
    assert_eq!(open_task(&case, "review"), review);
}
