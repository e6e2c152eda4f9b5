//! Work orders in a real GeoPackage store: intake checks, the whole life cycle with deadlines,
//! refused steps that change nothing, two dispatchers at once, merging, and the audit chain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use jiff::Timestamp;
use tudi_access::Jurisdiction;
use tudi_core::calendar::WorkCalendar;
use tudi_orders::category::{Taxonomy, Urgency};
use tudi_orders::lifecycle::{Satisfaction, State, Step};
use tudi_orders::order::{Channel, Reporter, StepInput};
use tudi_orders::routing::{Responsibility, ResponsibilityList, Unit, UnitKind};
use tudi_orders::service::{NewOrder, OrderError, Orders};
use tudi_store::{AuditQuery, Change, Store};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    taxonomy: Taxonomy,
    list: ResponsibilityList,
    district: Jurisdiction,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_served_store(dir.path());
    let town = Unit {
        kind: UnitKind::Town,
        code: "440605011".into(),
        name: "桂城街道".into(),
    };
    Fixture {
        _dir: dir,
        store,
        taxonomy: Taxonomy::defaults().unwrap(),
        list: ResponsibilityList {
            entries: vec![Responsibility {
                category: "SJ04".into(),
                area: Jurisdiction::parse("440605011").unwrap(),
                unit: town,
                valid_from: jiff::civil::date(2026, 1, 1),
                valid_to: None,
            }],
        },
        district: Jurisdiction::parse("440605").unwrap(),
    }
}

impl Fixture {
    fn orders(&self) -> Orders<'_> {
        Orders {
            store: &*self.store,
            taxonomy: &self.taxonomy,
            responsibilities: &self.list,
            calendar: WorkCalendar::china(),
            district: &self.district,
        }
    }
}

/// Friday 2026-09-18, 10:00 in Shanghai.
fn friday() -> Timestamp {
    "2026-09-18T02:00:00Z".parse().unwrap()
}

fn change(actor: &str, action: &str) -> Change {
    Change::new(actor, action).at(friday())
}

fn stall(description: &str) -> NewOrder {
    NewOrder {
        channel: Channel::Hotline,
        reporter: Some(Reporter {
            name: Some("王小明".into()),
            phone: Some("138 0013 8000".into()),
        }),
        category: "SJ0401".into(),
        description: description.into(),
        location: Some([113.15, 23.04]),
        address: None,
        urgency: Urgency::Normal,
        enterprise: false,
    }
}

fn grid() -> Jurisdiction {
    Jurisdiction::parse("440605011001003").unwrap()
}

#[test]
fn an_order_runs_from_intake_to_evaluation_with_its_deadline() {
    let f = fixture();
    let o = f.orders();
    let taken = o
        .intake(
            &change("user:rexian.zuoxi", "order.intake"),
            stall("桂澜路口占道经营"),
            Some(&grid()),
        )
        .unwrap();
    assert_eq!(taken.order.number, "GD440605-20260918-000001");
    assert_eq!(taken.order.state, State::Received);
    let reporter = taken.order.reporter.clone().unwrap();
    assert_eq!(reporter.phone.as_deref(), Some("13800138000"));
    assert_eq!(
        (
            reporter.masked().name.unwrap(),
            reporter.masked().phone.unwrap()
        ),
        ("王**".to_owned(), "138****8000".to_owned())
    );
    assert!(
        !format!("{:?}", taken.order).contains("13800138000"),
        "Debug masks the reporter"
    );

    let filed = o
        .step(
            &change("user:zhiban", "order.file"),
            &taken.order.number,
            taken.version,
            Step::File,
            StepInput::default(),
        )
        .unwrap();
    let sent = o
        .step(
            &change("user:zhiban", "order.dispatch"),
            &filed.order.number,
            filed.version,
            Step::Dispatch,
            StepInput::default(),
        )
        .unwrap();
    // Routed by the responsibility list, with the reason kept on the order.
    assert_eq!(sent.order.unit.as_ref().unwrap().name, "桂城街道");
    assert!(sent.order.route.as_ref().unwrap().zh.contains("先属地"));
    // 占道经营: 2 working days from Friday 18 September: Sunday 20 (worked) and Monday 21.
    assert_eq!(
        sent.order.due.unwrap(),
        jiff::civil::date(2026, 9, 21).at(23, 59, 59, 0)
    );

    let mut v = sent;
    for (step, input) in [
        (Step::Accept, StepInput::default()),
        (
            Step::Feedback,
            StepInput {
                note: Some("已劝离".into()),
                ..StepInput::default()
            },
        ),
        (
            Step::Rework,
            StepInput {
                note: Some("现场仍有摊位".into()),
                ..StepInput::default()
            },
        ),
        (
            Step::Feedback,
            StepInput {
                note: Some("已清理".into()),
                ..StepInput::default()
            },
        ),
        (Step::Close, StepInput::default()),
        (
            Step::Evaluate,
            StepInput {
                satisfaction: Some(Satisfaction::FairlySatisfied),
                ..StepInput::default()
            },
        ),
    ] {
        v = o
            .step(
                &change("user:x", "order.step"),
                &v.order.number,
                v.version,
                step,
                input,
            )
            .unwrap();
    }
    assert_eq!(v.order.state, State::Evaluated);
    assert_eq!(v.order.reworks, 1);
    assert_eq!(v.order.timeline.len(), 9, "intake and eight steps");
    assert_eq!(
        o.get(&v.order.number).unwrap(),
        v,
        "what was returned is what was stored"
    );

    // The audit log has one entry per write and never the description.
    let trail = f
        .store
        .audit_trail(&AuditQuery {
            resource: Some(format!("order:{}", v.order.number)),
            ..AuditQuery::default()
        })
        .unwrap();
    assert_eq!(trail.len(), 9);
    assert!(
        trail
            .iter()
            .all(|e| !format!("{:?}", e.detail).contains("占道"))
    );
    assert!(f.store.verify_audit().unwrap().is_intact());
}

#[test]
fn bad_intake_is_refused_by_field_and_uses_no_number() {
    let f = fixture();
    let o = f.orders();
    let c = change("user:rexian.zuoxi", "order.intake");
    let field = |r: Result<_, OrderError>| match r.unwrap_err() {
        OrderError::Invalid { field, message } => (field, message.zh),
        OrderError::Category(e) => ("category", e.message().zh),
        other => panic!("{other:?}"),
    };
    let mut unknown = stall("x");
    unknown.category = "ZZ99".into();
    assert_eq!(field(o.intake(&c, unknown, Some(&grid()))).0, "category");
    assert_eq!(
        field(o.intake(&c, stall("  "), Some(&grid()))).0,
        "description"
    );
    assert_eq!(
        field(o.intake(&c, stall(&"长".repeat(2001)), Some(&grid()))).0,
        "description"
    );
    // A pin that fell in no grid cell of the district, or in another district's cell.
    let (f1, m1) = field(o.intake(&c, stall("x"), None));
    assert_eq!(f1, "location");
    assert!(m1.contains("不在本区"), "{m1}");
    let other = Jurisdiction::parse("440606001001001").unwrap();
    assert_eq!(field(o.intake(&c, stall("x"), Some(&other))).0, "location");
    let mut bad_phone = stall("x");
    bad_phone.reporter = Some(Reporter {
        name: None,
        phone: Some("12345".into()),
    });
    assert_eq!(
        field(o.intake(&c, bad_phone, Some(&grid()))).0,
        "reporter.phone"
    );
    let mut nowhere = stall("x");
    nowhere.location = None;
    assert_eq!(field(o.intake(&c, nowhere, None)).0, "location");
    // Nothing stored; the first accepted order still gets number 1.
    assert_eq!(o.list(None, 10, 0).unwrap().1, 0);
    let ok = o.intake(&c, stall("x"), Some(&grid())).unwrap();
    assert!(ok.order.number.ends_with("-000001"), "{}", ok.order.number);
}

#[test]
fn refused_steps_change_nothing_and_say_why() {
    let f = fixture();
    let o = f.orders();
    let t = o
        .intake(&change("user:a", "order.intake"), stall("x"), Some(&grid()))
        .unwrap();
    let n = t.order.number.clone();
    // Closing an order that was never handled; returning without a reason.
    let err = o
        .step(
            &change("user:a", "s"),
            &n,
            t.version,
            Step::Close,
            StepInput::default(),
        )
        .unwrap_err();
    assert_eq!(err.message().zh, "工单当前状态为「已受理」，不能结案");
    let filed = o
        .step(
            &change("user:a", "s"),
            &n,
            t.version,
            Step::File,
            StepInput::default(),
        )
        .unwrap();
    let sent = o
        .step(
            &change("user:a", "s"),
            &n,
            filed.version,
            Step::Dispatch,
            StepInput::default(),
        )
        .unwrap();
    let err = o
        .step(
            &change("user:b", "s"),
            &n,
            sent.version,
            Step::Return,
            StepInput::default(),
        )
        .unwrap_err();
    assert_eq!(err.message().zh, "请填写原因或说明");
    assert_eq!(o.get(&n).unwrap(), sent, "unchanged");
    // A double click: the second 签收 with the same version is told the order moved on.
    o.step(
        &change("user:b", "s"),
        &n,
        sent.version,
        Step::Accept,
        StepInput::default(),
    )
    .unwrap();
    let err = o
        .step(
            &change("user:b", "s"),
            &n,
            sent.version,
            Step::Accept,
            StepInput::default(),
        )
        .unwrap_err();
    assert!(matches!(err, OrderError::Conflict { .. }), "{err:?}");
    assert!(err.message().zh.contains("已被他人处理"));
    // An order outside the responsibility list cannot be dispatched automatically.
    let mut enquiry = stall("咨询办事流程");
    enquiry.category = "RX01".into();
    let e = o
        .intake(&change("user:a", "order.intake"), enquiry, Some(&grid()))
        .unwrap();
    let e = o
        .step(
            &change("user:a", "s"),
            &e.order.number,
            e.version,
            Step::File,
            StepInput::default(),
        )
        .unwrap();
    let err = o
        .step(
            &change("user:a", "s"),
            &e.order.number,
            e.version,
            Step::Dispatch,
            StepInput::default(),
        )
        .unwrap_err();
    assert!(
        err.message().zh.contains("人工派遣"),
        "{}",
        err.message().zh
    );
    assert_eq!(o.get(&e.order.number).unwrap(), e);
}

#[test]
fn two_dispatchers_at_once_one_wins() {
    let f = fixture();
    let t = f
        .orders()
        .intake(&change("user:a", "order.intake"), stall("x"), Some(&grid()))
        .unwrap();
    let filed = f
        .orders()
        .step(
            &change("user:a", "s"),
            &t.order.number,
            t.version,
            Step::File,
            StepInput::default(),
        )
        .unwrap();
    let results: Vec<Result<_, OrderError>> = std::thread::scope(|s| {
        let handles: Vec<_> = ["user:d1", "user:d2"]
            .into_iter()
            .map(|who| {
                let (f, filed) = (&f, &filed);
                s.spawn(move || {
                    f.orders().step(
                        &change(who, "order.dispatch"),
                        &filed.order.number,
                        filed.version,
                        Step::Dispatch,
                        StepInput::default(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(OrderError::Conflict { .. })))
    );
    let now = f.orders().get(&t.order.number).unwrap();
    assert_eq!(now.order.timeline.len(), 3, "one dispatch recorded");
}

#[test]
fn a_duplicate_is_merged_with_links_both_ways() {
    let f = fixture();
    let o = f.orders();
    let first = o
        .intake(
            &change("user:a", "order.intake"),
            stall("占道经营"),
            Some(&grid()),
        )
        .unwrap();
    let dup = o
        .intake(
            &change("user:a", "order.intake"),
            stall("又见占道经营"),
            Some(&grid()),
        )
        .unwrap();
    let merged = o
        .step(
            &change("user:a", "order.merge"),
            &dup.order.number,
            dup.version,
            Step::Merge,
            StepInput {
                into: Some(first.order.number.clone()),
                ..StepInput::default()
            },
        )
        .unwrap();
    assert_eq!(merged.order.state, State::Merged);
    assert_eq!(
        merged.order.merged_into.as_deref(),
        Some(first.order.number.as_str())
    );
    let survivor = o.get(&first.order.number).unwrap();
    assert_eq!(survivor.order.merged, vec![dup.order.number.clone()]);
    assert_eq!(survivor.order.state.public().open311(), "open");
    assert_eq!(merged.order.state.public().open311(), "closed");
    // Merging into itself or into an unknown order is refused.
    let third = o
        .intake(&change("user:a", "order.intake"), stall("x"), Some(&grid()))
        .unwrap();
    let n = third.order.number.clone();
    let into_self = StepInput {
        into: Some(n.clone()),
        ..StepInput::default()
    };
    assert!(
        o.step(
            &change("user:a", "m"),
            &n,
            third.version,
            Step::Merge,
            into_self
        )
        .is_err()
    );
    let unknown = StepInput {
        into: Some("GD440605-20000101-000001".into()),
        ..StepInput::default()
    };
    assert!(matches!(
        o.step(
            &change("user:a", "m"),
            &n,
            third.version,
            Step::Merge,
            unknown
        ),
        Err(OrderError::NotFound(_))
    ));
    assert_eq!(o.list(Some(State::Merged), 10, 0).unwrap().1, 1);
}

#[test]
fn one_click_dispatch_at_intake_is_one_write() {
    let f = fixture();
    let o = f.orders();
    let v = o
        .intake_and_dispatch(
            &change("user:rexian.zuoxi", "order.intake"),
            stall("占道经营"),
            Some(&grid()),
        )
        .unwrap();
    assert_eq!((v.order.state, v.version), (State::Dispatched, 1));
    assert_eq!(v.order.timeline.len(), 3, "intake, file, dispatch");
    assert!(v.order.due.is_some());
    assert_eq!(o.get(&v.order.number).unwrap(), v);
    // No unit in the list: refused, nothing stored.
    let mut enquiry = stall("咨询");
    enquiry.category = "RX01".into();
    let err = o
        .intake_and_dispatch(
            &change("user:rexian.zuoxi", "order.intake"),
            enquiry,
            Some(&grid()),
        )
        .unwrap_err();
    assert!(err.message().zh.contains("人工派遣"));
    assert_eq!(o.list(None, 10, 0).unwrap().1, 1);
}

#[test]
fn the_demo_fills_every_state_through_the_service() {
    let f = fixture();
    let list = tudi_orders::demo::responsibility_list(&f.district);
    let o = Orders {
        store: &*f.store,
        taxonomy: &f.taxonomy,
        responsibilities: &list,
        calendar: WorkCalendar::china(),
        district: &f.district,
    };
    let cells = vec![
        ("440605011001001".to_owned(), [113.15, 23.04]),
        ("440605121001002".to_owned(), [113.10, 23.10]),
    ];
    let now: Timestamp = "2026-11-20T02:00:00Z".parse().unwrap();
    let made = tudi_orders::demo::fill_orders(&o, &cells, 300, 42, now).unwrap();
    assert_eq!(made.values().sum::<usize>(), 300);
    for s in State::ALL {
        assert!(
            made.contains_key(s.name_zh()),
            "{} missing from {made:?}",
            s.name_zh()
        );
    }
    assert_eq!(o.list(None, 1, 0).unwrap().1, 300);
    let again = tudi_orders::demo::fill_orders(&o, &cells, 300, 42, now).unwrap();
    assert_eq!(again, made, "the same seed gives the same demo");
    assert!(f.store.verify_audit().unwrap().is_intact());
}

#[test]
fn indicators_count_what_the_standard_counts() {
    use tudi_orders::stats::{GroupBy, compute};
    let f = fixture();
    let o = f.orders();
    let at = |h: i64| {
        friday()
            .checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    let run = |steps: &[(Step, StepInput)], hours: &[i64]| {
        let mut v = o
            .intake_and_dispatch(
                &change("user:a", "order.intake"),
                stall("占道经营"),
                Some(&grid()),
            )
            .unwrap();
        for ((step, input), h) in steps.iter().zip(hours) {
            v = o
                .step(
                    &Change::new("user:a", "s").at(at(*h)),
                    &v.order.number,
                    v.version,
                    *step,
                    input.clone(),
                )
                .unwrap();
        }
        v
    };
    let note = |n: &str| StepInput {
        note: Some(n.into()),
        ..StepInput::default()
    };
    // On time (due Monday 21 September, end of day), reworked once, satisfied.
    run(
        &[
            (Step::Accept, StepInput::default()),
            (Step::Feedback, note("ok")),
            (Step::Rework, note("again")),
            (Step::Feedback, note("ok")),
            (Step::Close, StepInput::default()),
            (
                Step::Evaluate,
                StepInput {
                    satisfaction: Some(Satisfaction::Satisfied),
                    ..StepInput::default()
                },
            ),
        ],
        &[1, 2, 3, 4, 6, 7],
    );
    // Closed late (Wednesday 23rd), dissatisfied.
    run(
        &[
            (Step::Accept, StepInput::default()),
            (Step::Feedback, note("ok")),
            (Step::Close, StepInput::default()),
            (
                Step::Evaluate,
                StepInput {
                    satisfaction: Some(Satisfaction::Dissatisfied),
                    ..StepInput::default()
                },
            ),
        ],
        &[1, 100, 120, 121],
    );
    // Still being handled, overdue by "now".
    run(&[(Step::Accept, StepInput::default())], &[1]);
    let from: Timestamp = "2026-09-01T00:00:00Z".parse().unwrap();
    let to: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let now: Timestamp = "2026-09-30T00:00:00Z".parse().unwrap();
    let orders: Vec<_> = o
        .list(None, 100, 0)
        .unwrap()
        .0
        .into_iter()
        .map(|v| v.order)
        .collect();
    let rows = compute(&orders, from, to, GroupBy::Unit, now);
    let total = rows.last().unwrap();
    assert_eq!(total.key, "合计");
    assert_eq!(
        (
            total.received,
            total.due,
            total.closed,
            total.closed_on_time
        ),
        (3, 3, 2, 1)
    );
    assert_eq!(total.closure_rate(), Some(0.6667));
    assert_eq!(total.on_time_rate(), Some(0.3333));
    assert_eq!(total.rework_rate(), Some(0.5));
    assert_eq!(total.satisfaction_rate(), Some(0.5));
    assert_eq!(total.duplicate_rate(), Some(0.0));
    // Handling from dispatch (at intake) to closure: 6 h and 120 h.
    assert_eq!(total.average_hours(), Some(63.0));
    assert_eq!(rows[0].key, "桂城街道");
    // Before "now" passes the deadline, the open order is not yet due.
    let early: Timestamp = "2026-09-19T00:00:00Z".parse().unwrap();
    let rows = compute(&orders, from, to, GroupBy::Town, early);
    assert_eq!(rows.last().unwrap().due, 2);
    assert!(
        compute(&orders, to, to, GroupBy::Town, now)
            .last()
            .unwrap()
            .closure_rate()
            .is_none()
    );
}

#[test]
fn deadlines_are_reminded_raised_urged_and_extended() {
    use tudi_orders::order::NoticeKind;
    use tudi_orders::supervision::{Roster, RosterEntry};
    let f = fixture();
    let o = f.orders();
    // Dispatched Friday 18 September: due Monday 21st, 23:59:59.
    let v = o
        .intake_and_dispatch(
            &change("user:a", "order.intake"),
            stall("占道经营"),
            Some(&grid()),
        )
        .unwrap();
    let roster = Roster {
        entries: vec![RosterEntry {
            from: jiff::civil::date(2026, 9, 14),
            to: jiff::civil::date(2026, 9, 30),
            leader: "zhiban.lingdao".into(),
            name: "潘副区长".into(),
        }],
    };
    let at = |s: &str| Change::new("system:supervision", "order.notice").at(s.parse().unwrap());
    // Saturday: nothing yet (two working days left: Sunday 20th is worked, then Monday).
    assert_eq!(
        o.supervise(&at("2026-09-19T02:00:00Z"), &roster).unwrap(),
        0
    );
    // Monday: the reminder, once.
    assert_eq!(
        o.supervise(&at("2026-09-21T01:00:00Z"), &roster).unwrap(),
        1
    );
    assert_eq!(
        o.supervise(&at("2026-09-21T05:00:00Z"), &roster).unwrap(),
        0
    );
    // Tuesday: overdue, raised to the command centre and the leader on duty.
    assert_eq!(
        o.supervise(&at("2026-09-22T01:00:00Z"), &roster).unwrap(),
        1
    );
    let now = o.get(&v.order.number).unwrap();
    let overdue = now.order.notices.last().unwrap();
    assert_eq!(overdue.kind, NoticeKind::Overdue);
    assert!(
        overdue.to.contains(&"区指挥中心".to_owned())
            && overdue.to.contains(&"值班领导 潘副区长".to_owned()),
        "{:?}",
        overdue.to
    );
    assert!(
        now.order
            .is_overdue("2026-09-22T01:00:00Z".parse().unwrap())
    );
    // Three working days late (Friday 25th, itself 中秋: 22, 23 and 24 count): 督办, once.
    assert_eq!(
        o.supervise(&at("2026-09-25T01:00:00Z"), &roster).unwrap(),
        1
    );
    assert_eq!(
        o.supervise(&at("2026-09-25T02:00:00Z"), &roster).unwrap(),
        0
    );
    assert_eq!(
        o.get(&v.order.number)
            .unwrap()
            .order
            .notices
            .last()
            .unwrap()
            .kind,
        NoticeKind::Urge
    );

    // The town asks for five more working days; a second request waits for the first.
    let v = o.get(&v.order.number).unwrap();
    let ask = |days| StepInput {
        note: Some("需协调多个部门".into()),
        days: Some(days),
        ..StepInput::default()
    };
    let v = o
        .step(
            &Change::new("user:t", "order.request_extension")
                .at("2026-09-25T03:00:00Z".parse().unwrap()),
            &v.order.number,
            v.version,
            Step::RequestExtension,
            ask(5),
        )
        .unwrap();
    let err = o
        .step(
            &Change::new("user:t", "x").at("2026-09-25T03:00:00Z".parse().unwrap()),
            &v.order.number,
            v.version,
            Step::RequestExtension,
            ask(2),
        )
        .unwrap_err();
    assert_eq!(err.message().zh, "已有待审批的延期申请");
    assert!(
        o.step(
            &Change::new("user:t", "x").at("2026-09-25T03:00:00Z".parse().unwrap()),
            &v.order.number,
            v.version,
            Step::RequestExtension,
            ask(0)
        )
        .is_err()
    );
    // Granted: the deadline moves five working days — 22, 23, 24, then 中秋 (25–27 September
    // off), 28 and 29.
    let decide = StepInput {
        approve: Some(true),
        ..StepInput::default()
    };
    let v = o
        .step(
            &Change::new("user:d", "order.decide_extension")
                .at("2026-09-25T04:00:00Z".parse().unwrap()),
            &v.order.number,
            v.version,
            Step::DecideExtension,
            decide,
        )
        .unwrap();
    assert_eq!(v.order.due.unwrap().date(), jiff::civil::date(2026, 9, 29));
    assert_eq!(
        v.order.state,
        State::Dispatched,
        "extensions leave the state as it was"
    );
    // The new deadline gets its own reminder.
    assert_eq!(
        o.supervise(&at("2026-09-28T01:00:00Z"), &roster).unwrap(),
        1
    );
}

#[test]
fn an_enterprise_order_is_due_within_the_urgent_limit() {
    let f = fixture();
    let o = f.orders();
    let mut new = stall("商铺门前长期占道，影响企业经营");
    new.enterprise = true;
    let v = o
        .intake_and_dispatch(&change("user:a", "order.intake"), new, Some(&grid()))
        .unwrap();
    // 占道经营: urgent limit 1 working day from Friday 18 September — Sunday 20th, worked.
    assert_eq!(v.order.due.unwrap().date(), jiff::civil::date(2026, 9, 20));
    let ordinary = o
        .intake_and_dispatch(&change("user:a", "order.intake"), stall("x"), Some(&grid()))
        .unwrap();
    assert_eq!(
        ordinary.order.due.unwrap().date(),
        jiff::civil::date(2026, 9, 21)
    );
}

#[test]
fn a_deadline_in_a_year_without_holiday_data_says_so() {
    let f = fixture();
    let o = f.orders();
    let at: Timestamp = "2027-03-01T02:00:00Z".parse().unwrap();
    let v = o
        .intake_and_dispatch(
            &Change::new("user:a", "order.intake").at(at),
            stall("x"),
            Some(&grid()),
        )
        .unwrap();
    let note = v.order.timeline.last().unwrap().note.clone().unwrap();
    assert!(note.contains("2027 年节假日安排尚未收录"), "{note}");
}
