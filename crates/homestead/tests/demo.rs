//! The demo district's homesteads: applications in every stage, made by the people whose duty
//! each step is, with registered homesteads and signed certificates (one revoked), the same for
//! the same seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use tudi_store::Store;

use jiff::Timestamp;
use tudi_access::policy::{Binding, Via};
use tudi_access::{Jurisdiction, Principal, Role};
use tudi_core::calendar::WorkCalendar;
use tudi_homestead::demo::{Cast, fill_applications, rural_villages};
use tudi_homestead::process::STAGES;
use tudi_homestead::service::{Homesteads, ListQuery};
use tudi_onemap::compliance::RuleSet;
use tudi_onemap::snapshot::MapView;
use tudi_sign::KeyRing;

fn who(user: &str, role: Role, scope: &str, department: Option<&str>) -> Principal {
    Principal {
        user: Some(user.into()),
        bindings: vec![Binding {
            role,
            scope: Jurisdiction::parse(scope).unwrap(),
            department: department.map(str::to_owned),
        }],
        via: Via::Session,
    }
}

struct Demo {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    villages: Vec<String>,
    keys: KeyRing,
}

/// Monday 30 November 2026, 10:00 in Foshan.
fn now() -> Timestamp {
    "2026-11-30T02:00:00Z".parse().unwrap()
}

fn demo(seed: u64) -> (Demo, std::collections::BTreeMap<String, usize>) {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_served_store(dir.path());
    tudi_onemap::demo::build(
        &*store,
        tudi_onemap::demo::DemoOptions {
            seed,
            parcels: 20,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let (town, villages) = rural_villages(&*store, "440605", 3).unwrap().unwrap();
    let mut keys = KeyRing::default();
    keys.rotate(now()).unwrap();
    let rules = RuleSet::builtin()
        .into_iter()
        .find(|r| r.id == "宅基地选址")
        .unwrap();
    let district = Jurisdiction::parse("440605").unwrap();
    let cast = Cast {
        clerks: villages
            .iter()
            .enumerate()
            .map(|(i, v)| who(&format!("cunju.zjd{i}"), Role::VillageClerk, v, None))
            .collect(),
        town: who("zhenjie.zjd", Role::TownReviewer, &town, None),
        agri: who(
            "bumen.nync",
            Role::DepartmentHandler,
            "440605",
            Some("农业农村"),
        ),
        natural_resources: who(
            "bumen.zrzy",
            Role::DepartmentHandler,
            "440605",
            Some("自然资源"),
        ),
        housing: who("bumen.zj", Role::DepartmentHandler, "440605", Some("住建")),
        registrar: who("quju.shenpi", Role::DistrictApprover, "440605", None),
    };
    let made = {
        let h = Homesteads {
            store: &*store,
            map: MapView::new(&*store, None),
            calendar: WorkCalendar::china(),
            district: &district,
            site_rules: &rules,
            keys: Some(&keys),
        };
        fill_applications(&h, &cast, seed, now()).unwrap()
    };
    (
        Demo {
            _dir: dir,
            store,
            villages,
            keys,
        },
        made,
    )
}

#[test]
fn the_demo_has_applications_in_every_stage_and_signed_certificates() {
    let (d, made) = demo(7);
    for stage in STAGES {
        assert!(
            made.get(stage).is_some_and(|n| *n > 0),
            "no application at {stage}: {made:?}"
        );
    }
    assert!(
        d.villages.len() >= 2,
        "spread over villages: {:?}",
        d.villages
    );
    let rules = RuleSet::builtin()
        .into_iter()
        .find(|r| r.id == "宅基地选址")
        .unwrap();
    let district = Jurisdiction::parse("440605").unwrap();
    let h = Homesteads {
        store: &d.store,
        map: MapView::new(&d.store, None),
        calendar: WorkCalendar::china(),
        district: &district,
        site_rules: &rules,
        keys: Some(&d.keys),
    };
    let (apps, total) = h.list(&ListQuery::default(), &|_| true, 1000, 0).unwrap();
    // An application in the joint review sits in one stage however many reviews are open.
    assert_eq!(total, made.values().sum::<usize>());
    let villages: BTreeSet<&str> = apps
        .iter()
        .map(|v| v.application.form.village.as_str())
        .collect();
    assert_eq!(
        villages.len(),
        d.villages.len(),
        "every village has applications"
    );
    // Registered homesteads carry certificates that verify with the public ring; one is revoked.
    let ring = d.keys.public();
    let registered: Vec<_> = apps
        .iter()
        .filter(|v| v.application.registration.is_some())
        .collect();
    assert_eq!(registered.len(), made["registered"]);
    let mut statuses = Vec::new();
    for v in &registered {
        let reg = v.application.registration.as_ref().unwrap();
        statuses.push(h.verify(&reg.certificate, &ring).unwrap().status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == "revoked").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "valid").count(),
        registered.len() - 1
    );
    // Refusals carry their reason on the case; one was refused for eligibility.
    let refused: Vec<_> = apps
        .iter()
        .filter(|v| v.application.stage == ["refused"])
        .collect();
    assert!(refused.iter().any(|v| !v.application.eligible));
    assert!(refused.iter().all(|v| {
        v.case
            .events
            .iter()
            .any(|e| e.action == "reject" && e.note.is_some())
    }));
    // Every step was signed by the duty's demo account, never by the system except the 公示 timer.
    for v in &apps {
        for t in v.case.tasks.iter().filter(|t| t.step != "publicity") {
            for s in &t.signatures {
                assert!(s.user.contains('.'), "{} signed by {}", t.step, s.user);
            }
        }
    }
    // Later events on registered homesteads: a lease and a mortgage done, two under way.
    let (events, total) = h
        .events(
            &tudi_homestead::events::EventQuery::default(),
            &|_| true,
            20,
            0,
        )
        .unwrap();
    assert_eq!(total, 4);
    let done = events
        .iter()
        .filter(|e| e.event.stage == ["completed"])
        .count();
    assert_eq!(done, 2);
    let mortgaged = events
        .iter()
        .filter_map(|e| h.right(e.event.request.right()).ok())
        .filter(|(r, _)| r.mortgaged().is_some())
        .count();
    assert_eq!(mortgaged, 1);
    assert!(
        tudi_store::Store::verify_audit(&d.store)
            .unwrap()
            .is_intact()
    );
}

#[test]
fn the_demo_is_the_same_for_the_same_seed() {
    let (a, made_a) = demo(11);
    let (b, made_b) = demo(11);
    assert_eq!(made_a, made_b);
    let list = |d: &Demo| {
        let page = tudi_store::Store::find_records(
            &d.store,
            "homestead",
            &tudi_store::RecordQuery::default(),
        )
        .unwrap();
        page.records
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    r.body["form"]["applicant"]["name"].clone(),
                    r.body["stage"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(list(&a), list(&b));
}

/// The demo's farmland ledger and the application it puts on a paddy field: the approver sees
/// the occupation covered by the pool, and the approval debits it.
#[test]
fn the_demo_approval_on_paddy_draws_on_the_demo_quota() {
    let (d, _) = demo(7);
    tudi_farmland::demo::fill(&*d.store, "440605", jiff::civil::date(2026, 11, 30)).unwrap();
    let id = tudi_farmland::demo::paddy_under_an_approval(&*d.store)
        .unwrap()
        .expect("an application waiting for approval");
    let rules = RuleSet::builtin()
        .into_iter()
        .find(|r| r.id == "宅基地选址")
        .unwrap();
    let district = Jurisdiction::parse("440605").unwrap();
    let h = Homesteads {
        store: &*d.store,
        map: MapView::new(&*d.store, None),
        calendar: WorkCalendar::china(),
        district: &district,
        site_rules: &rules,
        keys: Some(&d.keys),
    };
    let v = h.read(&id).unwrap();
    let check = h.farmland_check(&v.application, &v.case).unwrap().unwrap();
    assert!(check.covered, "{check:?}");
    let site = v.application.site_area_m2;
    let paddy = check.occupation.total.paddy_m2.units();
    assert!(
        (paddy - site).abs() < 0.5,
        "the whole site is paddy: {paddy} of {site}"
    );
    assert_eq!(check.occupation.patches[0].grade, 7);
    let task = v
        .case
        .open_tasks()
        .find(|t| t.step == "approval")
        .unwrap()
        .id;
    let approver = who("zhenjie.zjd", Role::TownReviewer, &v.application.town, None);
    let done = h
        .act(
            &approver,
            &id,
            v.case.revision,
            tudi_flow::case::Op::Approve {
                task,
                comment: None,
            },
            &serde_json::Value::Null,
            now(),
        )
        .unwrap();
    let check = h
        .farmland_check(&done.application, &done.case)
        .unwrap()
        .unwrap();
    assert!(check.posting.is_some(), "{check:?}");
    let ledger = tudi_farmland::ledger::Ledger::new(&*d.store, "440605");
    assert!(ledger.verify().unwrap().problems.is_empty());
}
