//! Engine throughput on the embedded store, every action a durable commit with its audit entry:
//! `cargo bench -p tudi-flow --bench engine`.
//!
//! `start_case` starts a case of a four-step process (village → town → two departments in
//! parallel with a join → approval); `complete_task` approves one open task (each iteration
//! takes the next open task, starting a new case when one ends). Criterion reports operations
//! per second; compare with the figures in reference/anchor-systems.md §2.2. Results go to
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tudi_core::calendar::WorkCalendar;
use tudi_flow::case::Op;
use tudi_flow::definition::{Deadline, ProcessDef, Signers, StepDef};
use tudi_flow::stored::Workflows;
use tudi_store::Change;

fn step(id: &str, next: &[&str], join: bool) -> StepDef {
    StepDef {
        id: id.into(),
        name: id.into(),
        role: "town_reviewer".into(),
        level: None,
        department: None,
        signers: Signers::One,
        on_timeout: None,
        deadline: Some(Deadline {
            days: 5,
            working: true,
        }),
        next: next.iter().map(|s| (*s).to_owned()).collect(),
        join,
        form: vec![],
    }
}

fn assign(s: &StepDef) -> Vec<String> {
    vec![format!("user:{}", s.id)]
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let flows = Workflows {
        store: &store,
        calendar: WorkCalendar::china(),
    };
    let def = ProcessDef {
        key: "bench".into(),
        version: 1,
        name: "bench".into(),
        start: "village".into(),
        steps: vec![
            step("village", &["town"], false),
            step("town", &["land", "agri"], false),
            step("land", &["approve"], false),
            step("agri", &["approve"], false),
            step("approve", &["end"], true),
        ],
    };
    flows
        .deploy(&Change::new("cli", "flow.deploy"), &def)
        .unwrap();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    g.bench_function("start_case", |b| {
        b.iter(|| {
            n += 1;
            flows
                .start(
                    &Change::new("user:applicant", "case.start"),
                    "bench",
                    &format!("S{n}"),
                    &assign,
                )
                .unwrap()
        });
    });
    let mut m = 0u64;
    let mut current = flows
        .start(
            &Change::new("user:applicant", "case.start"),
            "bench",
            "T0",
            &assign,
        )
        .unwrap();
    g.bench_function("complete_task", |b| {
        b.iter(|| {
            if current.open_tasks().next().is_none() {
                m += 1;
                current = flows
                    .start(
                        &Change::new("user:applicant", "case.start"),
                        "bench",
                        &format!("T{m}"),
                        &assign,
                    )
                    .unwrap();
            }
            let task = current.open_tasks().next().unwrap();
            let (id, who) = (task.id, task.assignees[0].clone());
            current = flows
                .act(
                    &Change::new(who, "case.approve"),
                    &current.id.clone(),
                    current.revision,
                    Op::Approve {
                        task: id,
                        comment: None,
                    },
                    &assign,
                )
                .unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
