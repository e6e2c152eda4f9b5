//! Intake-and-dispatch throughput on the embedded store, every step a durable commit:
//! `cargo bench -p tudi-orders --bench throughput`.
//!
//! One iteration is one order taken in, filed and dispatched by the responsibility list:
//! `intake_and_dispatch_one_write` as the operator's 一键派单 (a number and one record write:
//! two commits), `intake_file_dispatch_three_writes` step by step (four commits). Each commit
//! is durable and carries its audit entry. Criterion reports orders per second; results go to
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tudi_access::Jurisdiction;
use tudi_core::calendar::WorkCalendar;
use tudi_orders::category::{Taxonomy, Urgency};
use tudi_orders::lifecycle::Step;
use tudi_orders::order::{Channel, Reporter, StepInput};
use tudi_orders::routing::{Responsibility, ResponsibilityList, Unit, UnitKind};
use tudi_orders::service::{NewOrder, Orders};
use tudi_store::Change;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let taxonomy = Taxonomy::defaults().unwrap();
    let list = ResponsibilityList {
        entries: vec![Responsibility {
            category: "SJ04".into(),
            area: Jurisdiction::parse("440605011").unwrap(),
            unit: Unit {
                kind: UnitKind::Town,
                code: "440605011".into(),
                name: "桂城街道".into(),
            },
            valid_from: jiff::civil::date(2026, 1, 1),
            valid_to: None,
        }],
    };
    let district = Jurisdiction::parse("440605").unwrap();
    let orders = Orders {
        store: &store,
        taxonomy: &taxonomy,
        responsibilities: &list,
        calendar: WorkCalendar::china(),
        district: &district,
    };
    let grid = Jurisdiction::parse("440605011001003").unwrap();
    let mut g = c.benchmark_group("orders");
    g.throughput(Throughput::Elements(1));
    let new_order = || NewOrder {
        channel: Channel::Hotline,
        reporter: Some(Reporter {
            name: Some("王小明".into()),
            phone: Some("13800138000".into()),
        }),
        category: "SJ0401".into(),
        description: "桂澜路与海八路交界处有流动摊贩占道经营，影响通行".into(),
        location: Some([113.15, 23.04]),
        address: None,
        urgency: Urgency::Normal,
        enterprise: false,
    };
    g.bench_function("intake_and_dispatch_one_write", |b| {
        b.iter(|| {
            orders
                .intake_and_dispatch(
                    &Change::new("user:rexian.zuoxi", "order.intake"),
                    new_order(),
                    Some(&grid),
                )
                .unwrap()
        });
    });
    g.bench_function("intake_file_dispatch_three_writes", |b| {
        b.iter(|| {
            let t = orders
                .intake(
                    &Change::new("user:rexian.zuoxi", "order.intake"),
                    new_order(),
                    Some(&grid),
                )
                .unwrap();
            let f = orders
                .step(
                    &Change::new("user:rexian.zuoxi", "order.file"),
                    &t.order.number,
                    t.version,
                    Step::File,
                    StepInput::default(),
                )
                .unwrap();
            orders
                .step(
                    &Change::new("user:rexian.zuoxi", "order.dispatch"),
                    &f.order.number,
                    f.version,
                    Step::Dispatch,
                    StepInput::default(),
                )
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
