//! Definitions and cases in a real GeoPackage store: versions never replaced, cases on their
//! version, two reviewers at once, every action audited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tudi_core::calendar::WorkCalendar;
use tudi_flow::case::{CaseStatus, FlowError, Op};
use tudi_flow::definition::{ProcessDef, Signers, StepDef};
use tudi_flow::stored::{StoredError, Workflows};
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{AuditQuery, Change, Store};

fn step(id: &str, next: &[&str]) -> StepDef {
    StepDef {
        id: id.into(),
        name: id.into(),
        role: "town_reviewer".into(),
        level: None,
        department: None,
        signers: Signers::One,
        on_timeout: None,
        deadline: None,
        next: next.iter().map(|s| (*s).to_owned()).collect(),
        join: false,
        form: vec![],
    }
}

fn def(version: u32, steps: Vec<StepDef>) -> ProcessDef {
    ProcessDef {
        key: "p".into(),
        version,
        name: "p".into(),
        start: "a".into(),
        steps,
    }
}

fn assign(s: &StepDef) -> Vec<String> {
    vec![format!("user:{}", s.id)]
}

#[test]
fn cases_run_on_their_version_and_two_reviewers_cannot_both_act() {
    let dir = tempfile::tempdir().unwrap();
    let store = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    let flows = Workflows {
        store: &store,
        calendar: WorkCalendar::china(),
    };
    let admin = Change::new("user:admin", "flow.deploy");
    flows
        .deploy(
            &admin,
            &def(1, vec![step("a", &["b"]), step("b", &["end"])]),
        )
        .unwrap();
    // A version is never replaced; a broken definition is refused with the reason.
    let again = flows.deploy(&admin, &def(1, vec![step("a", &["end"])]));
    assert!(again.unwrap_err().message().zh.contains("已发布"));
    let broken = flows.deploy(&admin, &def(3, vec![step("a", &["zz"])]));
    assert!(broken.unwrap_err().message().zh.contains("未定义的步骤"));

    let case = flows
        .start(
            &Change::new("user:applicant", "case.start"),
            "p",
            "C1",
            &assign,
        )
        .unwrap();
    // Version 2 adds a step; the running case stays on version 1, a new one takes version 2.
    flows
        .deploy(
            &admin,
            &def(
                2,
                vec![step("a", &["b"]), step("b", &["c"]), step("c", &["end"])],
            ),
        )
        .unwrap();
    let newer = flows
        .start(
            &Change::new("user:applicant", "case.start"),
            "p",
            "C2",
            &assign,
        )
        .unwrap();
    assert_eq!((case.version, newer.version), (1, 2));

    // Two reviewers on the same revision from two threads: exactly one wins.
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let flows = &flows;
                s.spawn(move || {
                    flows.act(
                        &Change::new("user:a", "case.approve"),
                        "C1",
                        1,
                        Op::Approve {
                            task: 1,
                            comment: None,
                        },
                        &assign,
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StoredError::Flow(FlowError::Conflict { .. }))))
    );
    let c1 = flows.case("C1").unwrap();
    let b = c1.open_tasks().next().unwrap().id;
    let done = flows
        .act(
            &Change::new("user:b", "case.approve"),
            "C1",
            c1.revision,
            Op::Approve {
                task: b,
                comment: None,
            },
            &assign,
        )
        .unwrap();
    assert_eq!(
        done.status,
        CaseStatus::Completed,
        "finished on version 1's two steps"
    );
    assert!(matches!(flows.case("nope"), Err(StoredError::NotFound(_))));
    let trail = store
        .audit_trail(&AuditQuery {
            resource: Some("case:C1".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(trail.len(), 3, "start and two approvals");
    assert!(store.verify_audit().unwrap().is_intact());
}
