//! One application through the whole Nanhai process on the demo map — submission with the site
//! check and eligibility, the group discussion, a 公示 period that ends by itself, the village
//! and town, the three departments in parallel, the site visits with staked and built outlines,
//! approval and registration with unit codes and a signed certificate — and the refusals the
//! issue names, each leaving everything as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use geo_types::Point;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};
use tudi_access::policy::{Binding, Via};
use tudi_access::{Jurisdiction, Principal, Role};
use tudi_core::calendar::WorkCalendar;
use tudi_flow::case::Op;
use tudi_homestead::form::ApplicationForm;
use tudi_homestead::registry::PARCEL_LAYER;
use tudi_homestead::service::{HomesteadError, Homesteads, Versioned};
use tudi_onemap::compliance::RuleSet;
use tudi_onemap::snapshot::MapView;
use tudi_sign::KeyRing;
use tudi_store::{Change, FeatureQuery, Store};

const VILLAGE: &str = "440605121208";
const TOWN: &str = "440605121";
// Valid GB 11643 numbers for made-up people.
const A: &str = "44060519800101001X";
const B: &str = "440605198203020021";
const C: &str = "440605200501010016";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    rules: RuleSet,
    district: Jurisdiction,
    keys: KeyRing,
}

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

fn clerk() -> Principal {
    who("clerk", Role::VillageClerk, VILLAGE, None)
}
fn town() -> Principal {
    who("town", Role::TownReviewer, TOWN, None)
}
fn dept(d: &str) -> Principal {
    who(
        &format!("dept-{d}"),
        Role::DepartmentHandler,
        "440605",
        Some(d),
    )
}
fn registrar() -> Principal {
    who("registrar", Role::DistrictApprover, "440605", None)
}

/// Friday 18 September 2026, 10:00 in Foshan, plus `h` hours.
fn at(h: i64) -> Timestamp {
    "2026-09-18T02:00:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .checked_add(jiff::SignedDuration::from_hours(h))
        .unwrap()
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_served_store(dir.path());
    tudi_onemap::demo::build(
        &*store,
        tudi_onemap::demo::DemoOptions {
            seed: 7,
            parcels: 20,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let mut keys = KeyRing::default();
    keys.rotate(at(0)).unwrap();
    World {
        _dir: dir,
        store,
        rules: RuleSet::builtin()
            .into_iter()
            .find(|r| r.id == "宅基地选址")
            .unwrap(),
        district: Jurisdiction::parse("440605").unwrap(),
        keys,
    }
}

impl World {
    fn service(&self) -> Homesteads<'_> {
        Homesteads {
            store: &self.store,
            map: MapView::new(&self.store, None),
            calendar: WorkCalendar::china(),
            district: &self.district,
            site_rules: &self.rules,
            keys: Some(&self.keys),
        }
    }

    fn site(&self, skip: usize) -> Value {
        tudi_homestead::demo::clear_site(&self.store, &self.rules, VILLAGE, skip)
            .unwrap()
            .expect("a clear site in the demo village")
    }

    fn form(&self, site: Value) -> ApplicationForm {
        serde_json::from_value(json!({
            "applicant": {"name": "梁志明", "id_number": A},
            "phone": "13800138000",
            "family": [
                {"name": "陈丽", "id_number": B, "relation": "配偶"},
                {"name": "梁小明", "id_number": C, "relation": "子"}
            ],
            "village": VILLAGE,
            "terrain": "plain",
            "build": "new_household",
            "current": "none",
            "site": site,
            "address": "某村三巷 8 号",
            "footprint_m2": 60.0,
            "storeys": 3,
            "height_m": 10.5,
            "floor_area_m2": 175.0,
            "neighbours": [
                {"side": "east", "name": "梁某", "agrees": true},
                {"side": "south", "name": "村道", "agrees": true},
                {"side": "west", "name": "陈某", "agrees": true},
                {"side": "north", "name": "空地", "agrees": true}
            ],
            "reason": "分户后无宅基地"
        }))
        .unwrap()
    }
}

fn open(v: &Versioned, step: &str) -> u32 {
    v.case
        .open_tasks()
        .find(|t| t.step == step)
        .unwrap_or_else(|| panic!("{step} is not open: {:?}", v.application.stage))
        .id
}

/// An operation with the form it carries.
type Action = (Op, Value);

fn approve(task: u32, form: Value) -> Action {
    (
        Op::Approve {
            task,
            comment: Some("同意".into()),
        },
        form,
    )
}

fn step(
    h: &Homesteads<'_>,
    v: &Versioned,
    p: &Principal,
    (op, form): Action,
    when: Timestamp,
) -> Result<Versioned, HomesteadError> {
    h.act(p, &v.application.id, v.case.revision, op, &form, when)
}

#[test]
#[allow(clippy::too_many_lines)]
fn an_application_runs_from_submission_to_a_verified_certificate() {
    let w = world();
    let h = w.service();
    let c = Change::new("user:clerk", "homestead.roll").at(at(0));
    h.set_roll(&c, VILLAGE, vec![A.into(), B.into()]).unwrap();
    let site = w.site(0);
    let parcels_before = w
        .store
        .features(PARCEL_LAYER, &FeatureQuery::default())
        .unwrap()
        .len();

    let v = h.submit(&clerk(), w.form(site.clone()), at(0)).unwrap();
    assert!(
        v.application.id.starts_with("ZJD440605-2026-"),
        "{}",
        v.application.id
    );
    assert!(v.application.eligible, "{:?}", v.application.eligibility);
    assert_eq!(v.application.site_verdict, "通过");
    assert_eq!(v.application.stage, ["group_discussion"]);
    assert!(v.application.site_area_m2 > 70.0 && v.application.site_area_m2 < 74.0);
    assert_eq!(
        v.case.tasks[0].assignees,
        [format!("village_clerk@{VILLAGE}")],
        "assigned to the village's clerks, not a person"
    );

    // The group discussed it; the 公示 runs five working days and ends by itself.
    let v = step(
        &h,
        &v,
        &clerk(),
        approve(
            open(&v, "group_discussion"),
            json!({"meeting_date": "2026-09-18", "votes_for": 9}),
        ),
        at(1),
    )
    .unwrap();
    assert_eq!(v.application.stage, ["publicity"]);
    let err = step(
        &h,
        &v,
        &clerk(),
        approve(open(&v, "publicity"), Value::Null),
        at(2),
    )
    .unwrap_err();
    assert!(
        err.message().zh.contains("期限未满"),
        "the notice period cannot be cut short"
    );
    assert_eq!(h.tick(at(2)).unwrap().changed, 0, "nothing due yet");
    // Five working days from Friday 18: Sunday 20 (make-up), 21, 22, 23, 24; due end of the 24th.
    let report = h.tick(at(24 * 7)).unwrap();
    assert_eq!(report.changed, 1);
    let v = h.read(&v.application.id).unwrap();
    assert_eq!(v.application.stage, ["village_review"]);
    assert!(v.case.events.iter().any(|e| e.action == "timeout"));

    let t0 = at(24 * 7 + 1);
    let v = step(
        &h,
        &v,
        &clerk(),
        approve(open(&v, "village_review"), json!({"opinion": "属实"})),
        t0,
    )
    .unwrap();
    // A reviewer of another town cannot take the town's intake.
    let stranger = who("other-town", Role::TownReviewer, "440605122", None);
    let before = h.read(&v.application.id).unwrap();
    let err = step(
        &h,
        &v,
        &stranger,
        approve(open(&v, "town_intake"), Value::Null),
        t0,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            HomesteadError::Flow(tudi_flow::case::FlowError::NotAssignee(_))
        ),
        "{err:?}"
    );
    assert_eq!(
        h.read(&v.application.id).unwrap().case,
        before.case,
        "a refusal changes nothing"
    );
    let v = step(
        &h,
        &v,
        &town(),
        approve(open(&v, "town_intake"), Value::Null),
        t0,
    )
    .unwrap();
    assert_eq!(v.application.stage, ["joint_review"]);
    assert_eq!(
        v.case.open_tasks().count(),
        3,
        "three departments in parallel"
    );
    // The natural-resources handler cannot sign the agriculture review.
    let err = step(
        &h,
        &v,
        &dept("自然资源"),
        approve(open(&v, "review_agri"), Value::Null),
        t0,
    )
    .unwrap_err();
    assert!(matches!(err, HomesteadError::Flow(_)), "{err:?}");
    let v = step(
        &h,
        &v,
        &dept("自然资源"),
        approve(open(&v, "review_nr"), Value::Null),
        t0,
    )
    .unwrap();
    let v = step(
        &h,
        &v,
        &dept("农业农村"),
        approve(open(&v, "review_agri"), Value::Null),
        t0,
    )
    .unwrap();
    // Two reviewers acting on one revision: the second is told the case moved on.
    let stale = v.clone();
    let v = step(
        &h,
        &v,
        &dept("住建"),
        approve(open(&v, "review_housing"), Value::Null),
        t0,
    )
    .unwrap();
    let err = step(
        &h,
        &stale,
        &town(),
        (
            Op::Comment {
                task: 1,
                text: "?".into(),
            },
            Value::Null,
        ),
        t0,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            HomesteadError::Flow(tudi_flow::case::FlowError::Conflict { .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        v.application.stage,
        ["site_visit_1"],
        "the join waited for all three"
    );

    let v = step(
        &h,
        &v,
        &town(),
        approve(
            open(&v, "site_visit_1"),
            json!({"visited_on": "2026-09-28", "findings": "四至清楚"}),
        ),
        t0,
    )
    .unwrap();
    let approval_task = open(&v, "approval");
    let v = step(&h, &v, &town(), approve(approval_task, Value::Null), t0).unwrap();
    let approval = v.application.approval.clone().unwrap();
    assert!(
        approval.homestead_permit.contains("宅批〔2026〕"),
        "{approval:?}"
    );
    assert!(
        approval.planning_permit.starts_with("乡字第"),
        "{approval:?}"
    );
    // A double approval is refused and changes nothing.
    let err = step(&h, &v, &town(), approve(approval_task, Value::Null), t0).unwrap_err();
    assert!(
        matches!(
            err,
            HomesteadError::Flow(tudi_flow::case::FlowError::Closed(_))
        ),
        "{err:?}"
    );
    // Approval issued documents: it cannot be withdrawn.
    let err = step(
        &h,
        &v,
        &town(),
        (
            Op::Withdraw {
                task: approval_task,
            },
            Value::Null,
        ),
        t0,
    )
    .unwrap_err();
    assert!(matches!(err, HomesteadError::Refused(_)), "{err:?}");

    // Site visit 2: an outline far outside the approval is refused; the approved one is staked.
    let elsewhere = w.site(3);
    let err = step(
        &h,
        &v,
        &town(),
        approve(open(&v, "staking"), json!({"staked_site": elsewhere})),
        t0,
    )
    .unwrap_err();
    assert!(
        err.message().zh.contains("超出批准范围"),
        "{}",
        err.message().zh
    );
    let bowtie = json!({"type": "Polygon", "coordinates": [[[113.1, 23.0], [113.1001, 23.0001], [113.1001, 23.0], [113.1, 23.0001], [113.1, 23.0]]]});
    let err = step(
        &h,
        &v,
        &town(),
        approve(open(&v, "staking"), json!({"staked_site": bowtie})),
        t0,
    )
    .unwrap_err();
    match &err {
        HomesteadError::Invalid(f) => assert_eq!(f.field, "form.staked_site"),
        other => panic!("{other:?}"),
    }
    let v = step(
        &h,
        &v,
        &town(),
        approve(open(&v, "staking"), json!({"staked_site": site})),
        t0,
    )
    .unwrap();
    let err = step(
        &h,
        &v,
        &clerk(),
        approve(
            open(&v, "construction"),
            json!({"started_on": "2026-10-08", "finished_on": "2027-03-01"}),
        ),
        t0,
    )
    .unwrap_err();
    assert!(
        matches!(err, HomesteadError::Invalid(_)),
        "finishing in the future: {err:?}"
    );
    let later = at(24 * 200);
    let v = step(
        &h,
        &v,
        &clerk(),
        approve(
            open(&v, "construction"),
            json!({"started_on": "2026-10-08", "finished_on": "2027-03-01", "builder": "某建筑队"}),
        ),
        later,
    )
    .unwrap();
    // Site visit 3: one storey too many is refused with the reason; as approved it passes.
    let err = step(
        &h,
        &v,
        &town(),
        approve(
            open(&v, "acceptance"),
            json!({"built_site": site, "storeys": 4, "height_m": 10.5}),
        ),
        later,
    )
    .unwrap_err();
    assert!(
        err.message().zh.contains("层数 4 超过批准的 3"),
        "{}",
        err.message().zh
    );
    let v = step(
        &h,
        &v,
        &town(),
        approve(
            open(&v, "acceptance"),
            json!({"built_site": site, "storeys": 3, "height_m": 10.4}),
        ),
        later,
    )
    .unwrap();

    // Registration: unit codes, the certificate, the parcel on the map.
    let v = step(
        &h,
        &v,
        &registrar(),
        approve(open(&v, "registration"), Value::Null),
        later,
    )
    .unwrap();
    assert_eq!(v.application.stage, ["registered"]);
    let reg = v.application.registration.clone().unwrap();
    let unit = tudi_core::bdcdy::UnitCode::parse(&reg.unit_code, None).unwrap();
    assert_eq!(unit.fields().parcel_type, "JC");
    assert!(reg.unit_code.ends_with("F00010001") && reg.parcel_code.ends_with("W00000000"));
    assert_eq!(
        &reg.unit_code[..19],
        &reg.parcel_code[..19],
        "house and parcel share the parcel"
    );
    let (cert, _) = h.certificate(&reg.certificate).unwrap();
    assert!(
        cert.number.starts_with("粤（2027）佛山市南海区不动产权第"),
        "{}",
        cert.number
    );
    // Anyone with the public ring verifies it; a changed payload does not verify.
    let public = w.keys.public();
    let ok = h.verify(&cert.id, &public).unwrap();
    assert!(ok.valid, "{ok:?}");
    assert_eq!(ok.summary["holder"], "梁**");
    assert!(
        !ok.summary.to_string().contains(A),
        "the public summary masks the number"
    );
    public.verify(&cert.signed).unwrap();
    let mut forged = cert.signed.clone();
    forged.payload["land_area_m2"] = json!(150.0);
    assert!(public.verify(&forged).is_err());
    let parcels = w
        .store
        .features(PARCEL_LAYER, &FeatureQuery::default())
        .unwrap();
    assert_eq!(
        parcels.len(),
        parcels_before + 1,
        "the homestead joined the parcel layer"
    );
    assert!(
        parcels
            .iter()
            .any(|f| f.attributes["code"] == reg.parcel_code.as_str())
    );
    let point: Point<f64> = geo::Centroid::centroid(
        &parcels
            .iter()
            .find(|f| f.attributes["code"] == reg.parcel_code.as_str())
            .unwrap()
            .geometry,
    )
    .unwrap();
    assert!(point.x() > 0.0);

    // Revocation: then it verifies as revoked.
    let c = Change::new("user:registrar", "certificate.revoke").at(later);
    h.revoke(&c, &cert.id, "登记错误，依法注销").unwrap();
    let revoked = h.verify(&cert.id, &public).unwrap();
    assert!(!revoked.valid);
    assert_eq!(revoked.status, "revoked");
    assert!(
        h.revoke(&c, &cert.id, "再次").is_err(),
        "a revoked certificate stays revoked"
    );

    // One household, one homestead: the same household applying again is not eligible, and the
    // agriculture review cannot approve it.
    let again = h.submit(&clerk(), w.form(w.site(1)), later).unwrap();
    assert!(!again.application.eligible);
    assert!(
        again
            .application
            .eligibility
            .to_string()
            .contains("一户一宅")
    );
}

#[test]
fn bad_applications_are_refused_by_field_and_nothing_is_written() {
    let w = world();
    let h = w.service();
    let count = || {
        w.store
            .find_records("homestead", &tudi_store::RecordQuery::default())
            .unwrap()
            .total
    };
    let site = w.site(0);
    let field = |form: ApplicationForm| match h.submit(&clerk(), form, at(0)) {
        Err(HomesteadError::Invalid(f)) => f.field,
        other => panic!("expected a field error, got {other:?}"),
    };
    let mut f = w.form(site.clone());
    f.family[0].id_number = "440605198203020022".into();
    assert_eq!(field(f), "family[0].id_number");
    let mut f = w.form(site.clone());
    f.neighbours.pop();
    assert_eq!(field(f), "neighbours");
    let mut f = w.form(site.clone());
    f.footprint_m2 = 95.0;
    assert_eq!(field(f), "footprint_m2", "larger than the drawn site");
    // A site in another village of the same town.
    let mut f = w.form(site.clone());
    f.village = "440605121211".into();
    assert_eq!(field(f), "site");
    let mut f = w.form(json!({"type": "Polygon", "coordinates": [[[113.1, 23.0], [113.1001, 23.0001], [113.1001, 23.0], [113.1, 23.0001], [113.1, 23.0]]]}));
    f.village = VILLAGE.into();
    assert_eq!(field(f), "site", "a self-intersecting outline");
    let mut f = w.form(site);
    f.village = "440606001001".into();
    assert_eq!(field(f), "village", "not a village of this district");
    assert_eq!(count(), 0, "nothing was written");
}

#[test]
#[allow(clippy::too_many_lines)]
fn the_ledger_and_statistics_count_what_happened() {
    use tudi_homestead::ledger::{self, GroupBy, Stats};
    let w = world();
    let h = w.service();
    let c = Change::new("user:clerk", "homestead.roll").at(at(0));
    h.set_roll(&c, VILLAGE, vec![A.into(), B.into(), C.into()])
        .unwrap();
    // One application goes as far as approval, its town intake signed late (over 国庆).
    let v = h.submit(&clerk(), w.form(w.site(0)), at(0)).unwrap();
    let v = step(
        &h,
        &v,
        &clerk(),
        approve(open(&v, "group_discussion"), Value::Null),
        at(1),
    )
    .unwrap();
    h.tick(at(24 * 7)).unwrap();
    let v = h.read(&v.application.id).unwrap();
    let v = step(
        &h,
        &v,
        &clerk(),
        approve(open(&v, "village_review"), Value::Null),
        at(24 * 7 + 1),
    )
    .unwrap();
    // Opened Friday 25 September, due at the end of Wednesday 30th; signed Friday 9 October.
    let late = at(24 * 21);
    let v = step(
        &h,
        &v,
        &town(),
        approve(open(&v, "town_intake"), Value::Null),
        late,
    )
    .unwrap();
    let mut v = v;
    for (step_id, p) in [
        ("review_agri", dept("农业农村")),
        ("review_nr", dept("自然资源")),
        ("review_housing", dept("住建")),
        ("site_visit_1", town()),
        ("approval", town()),
    ] {
        v = step(
            &h,
            &v,
            &p,
            approve(open(&v, step_id), Value::Null),
            at(24 * 21 + 2),
        )
        .unwrap();
    }
    assert_eq!(v.application.stage, ["staking"]);
    // Another household's application is refused at the group discussion.
    let mut other = w.form(w.site(1));
    other.applicant = serde_json::from_value(json!({"name": "陈志强", "id_number": C})).unwrap();
    other.family.clear();
    let r = h.submit(&clerk(), other, at(0)).unwrap();
    let r = step(
        &h,
        &r,
        &clerk(),
        (
            Op::Reject {
                task: open(&r, "group_discussion"),
                reason: "小组会议未通过".into(),
            },
            Value::Null,
        ),
        at(2),
    )
    .unwrap();
    assert_eq!(r.application.stage, ["refused"]);

    let now = at(24 * 21 + 3);
    let apps = [v.clone(), r.clone()];
    let day = jiff::civil::date(2026, 9, 18);
    let def = h.process().unwrap();
    let Stats::Areas(rows) = ledger::stats(&apps, &def, day, day, GroupBy::Village, now) else {
        panic!("by village gives areas");
    };
    assert_eq!(rows.len(), 2, "the village and the total: {rows:?}");
    let total = &rows[1];
    assert_eq!(rows[0].code, VILLAGE);
    assert_eq!(rows[0].name, "海寿村委会");
    assert_eq!(total.code, "合计");
    assert_eq!(
        (
            total.applications,
            total.approved,
            total.refused,
            total.registered,
            total.running
        ),
        (2, 1, 1, 0, 1)
    );
    assert_eq!(
        total.overdue_steps, 1,
        "only the late intake (the 公示 timer is never late)"
    );
    // Approved 21 days and 2 hours after submission.
    assert_eq!(total.days_to_approval, Some(21.1));
    assert_eq!(total.days_to_registration, None);
    let Stats::Areas(by_town) = ledger::stats(&apps, &def, day, day, GroupBy::Town, now) else {
        panic!()
    };
    assert_eq!(by_town[0].code, TOWN);
    assert_eq!(by_town[0].name, "九江镇");
    let next_day = jiff::civil::date(2026, 9, 19);
    let Stats::Areas(none) = ledger::stats(&apps, &def, next_day, next_day, GroupBy::Town, now)
    else {
        panic!()
    };
    assert_eq!(
        none.len(),
        1,
        "the period counts submissions only: just the empty total"
    );
    assert_eq!(none[0].applications, 0);

    let Stats::Steps(steps) = ledger::stats(&apps, &def, day, day, GroupBy::Step, now) else {
        panic!("by step gives steps");
    };
    let row = |id: &str| steps.iter().find(|s| s.step == id).unwrap();
    assert_eq!(steps.last().unwrap().step, "合计");
    assert_eq!(steps[0].step, "group_discussion", "process order");
    let g = row("group_discussion");
    assert_eq!((g.opened, g.finished, g.open, g.overdue), (2, 2, 0, 0));
    // One hour and two hours: 0.0625 days, shown to a tenth.
    assert_eq!(g.average_days, Some(0.1));
    let t = row("town_intake");
    assert_eq!((t.opened, t.finished, t.overdue), (1, 1, 1));
    // From Friday 25 September 11:00 to Friday 9 October 10:00.
    assert_eq!(t.average_days, Some(14.0));
    let s = row("staking");
    assert_eq!((s.opened, s.finished, s.open, s.overdue), (1, 0, 1, 0));
    assert_eq!(row("registration").opened, 0);
    let sum: usize = steps[..steps.len() - 1].iter().map(|s| s.opened).sum();
    assert_eq!(steps.last().unwrap().opened, sum);

    // The ledger: one row per application, with the approval's numbers and the stage in words.
    let table = ledger::ledger(&apps, now);
    assert_eq!(table.rows.len(), 2);
    assert_eq!(table.headings.len(), table.rows[0].len());
    let col = |name: &str| table.headings.iter().position(|h| *h == name).unwrap();
    let text = |r: usize, name: &str| match &table.rows[r][col(name)] {
        tudi_core::table::Cell::Text(s) => s.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(text(0, "申请编号"), v.application.id);
    assert_eq!(text(0, "当前阶段"), "到场二：丈量批放");
    assert!(text(0, "宅基地批准书").contains("宅批〔2026〕"));
    assert_eq!(text(0, "村居"), format!("海寿村委会（{VILLAGE}）"));
    assert_eq!(text(1, "当前阶段"), "不予批准");
    assert_eq!(text(1, "宅基地批准书"), "");
}

/// Takes an application in and through every step to registration, each step by its duty.
fn register_one(h: &Homesteads<'_>, form: ApplicationForm) -> Versioned {
    let site = form.site.clone();
    let v = h.submit(&clerk(), form, at(0)).unwrap();
    let v = step(
        h,
        &v,
        &clerk(),
        approve(open(&v, "group_discussion"), Value::Null),
        at(1),
    )
    .unwrap();
    h.tick(at(24 * 7)).unwrap();
    let mut v = h.read(&v.application.id).unwrap();
    let t = at(24 * 7 + 1);
    for (s, p, form) in [
        ("village_review", clerk(), Value::Null),
        ("town_intake", town(), Value::Null),
        ("review_agri", dept("农业农村"), Value::Null),
        ("review_nr", dept("自然资源"), Value::Null),
        ("review_housing", dept("住建"), Value::Null),
        ("site_visit_1", town(), Value::Null),
        ("approval", town(), Value::Null),
        ("staking", town(), json!({"staked_site": site})),
    ] {
        v = step(h, &v, &p, approve(open(&v, s), form), t).unwrap();
    }
    let later = at(24 * 200);
    v = step(
        h,
        &v,
        &clerk(),
        approve(
            open(&v, "construction"),
            json!({"started_on": "2026-10-08", "finished_on": "2027-03-01"}),
        ),
        later,
    )
    .unwrap();
    v = step(
        h,
        &v,
        &town(),
        approve(
            open(&v, "acceptance"),
            json!({"built_site": site, "storeys": 3, "height_m": 10.4}),
        ),
        later,
    )
    .unwrap();
    v = step(
        h,
        &v,
        &registrar(),
        approve(open(&v, "registration"), Value::Null),
        later,
    )
    .unwrap();
    assert_eq!(v.application.stage, ["registered"]);
    v
}

#[test]
#[allow(clippy::too_many_lines)]
fn later_events_lease_mortgage_discharge_transfer_and_exit() {
    use tudi_homestead::events::{EventCase, EventRequest};
    use tudi_homestead::registry::RightStatus;
    let w = world();
    let h = w.service();
    let d = tudi_core::personal::IdNumber::complete("44060519900303003")
        .unwrap()
        .expose()
        .to_owned();
    let outsider = tudi_core::personal::IdNumber::complete("44060519910404004")
        .unwrap()
        .expose()
        .to_owned();
    let c = Change::new("user:clerk", "homestead.roll").at(at(0));
    h.set_roll(&c, VILLAGE, vec![A.into(), B.into(), C.into(), d.clone()])
        .unwrap();
    let v = register_one(&h, w.form(w.site(0)));
    let reg = v.application.registration.clone().unwrap();
    let code = reg.unit_code.clone();
    let public = w.keys.public();
    let t = |k: i64| at(24 * 200 + k);
    // Signs every open step of an event in turn, each by the given person.
    let run = |e: EventCase, people: &[Principal], k: i64| -> EventCase {
        let mut e = e;
        for p in people {
            let task = e.case.open_tasks().next().unwrap().id;
            e = h
                .act_event(
                    p,
                    &e.event.id,
                    e.case.revision,
                    Op::Approve {
                        task,
                        comment: Some("同意".into()),
                    },
                    t(k),
                )
                .unwrap();
        }
        e
    };
    let refusal = |r: Result<EventCase, HomesteadError>| match r {
        Err(HomesteadError::Refused(m)) => m.zh,
        Err(HomesteadError::Invalid(f)) => format!("field {}", f.field),
        other => panic!("expected a refusal, got {other:?}"),
    };

    // A lease: at most 20 years; recorded by the village and the town.
    let lease = |to: &str| EventRequest::Lease {
        right: code.clone(),
        lessee: "佛山某民宿有限公司".into(),
        lessee_id: "91440605MA4UXXXX0X".into(),
        from: "2027-05-01".parse().unwrap(),
        to: to.parse().unwrap(),
        rent_yuan_per_year: 36_000.0,
        purpose: "民宿".into(),
    };
    assert_eq!(
        refusal(h.submit_event(&clerk(), lease("2047-05-02"), t(1))),
        "field to"
    );
    let e = h.submit_event(&clerk(), lease("2031-12-31"), t(1)).unwrap();
    assert!(e.event.id.starts_with("BG440605-2027-"), "{}", e.event.id);
    assert_eq!(e.event.stage, ["village_record"]);
    // The town cannot sign the village's record.
    let task = e.case.open_tasks().next().unwrap().id;
    let err = h
        .act_event(
            &town(),
            &e.event.id,
            e.case.revision,
            Op::Approve {
                task,
                comment: None,
            },
            t(2),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            HomesteadError::Flow(tudi_flow::case::FlowError::NotAssignee(_))
        ),
        "{err:?}"
    );
    let e = run(e, &[clerk(), town()], 2);
    assert_eq!(e.event.stage, ["completed"]);
    let (right, _) = h.right(&code).unwrap();
    assert_eq!(right.leases.len(), 1);
    let facts = h.facts_of(VILLAGE, &[A], None).unwrap();
    assert!(
        facts.disposals.iter().any(|x| x.kind == "出租"),
        "the holder's household has leased out its house: {facts:?}"
    );

    // A mortgage with its 登记证明; no second one, no transfer or exit while it stands.
    let mortgage = EventRequest::Mortgage {
        right: code.clone(),
        mortgagee: "广东南海农村商业银行".into(),
        amount_yuan: 300_000.0,
        from: "2027-05-01".parse().unwrap(),
        to: "2030-04-30".parse().unwrap(),
    };
    let e = h.submit_event(&town(), mortgage.clone(), t(3)).unwrap();
    assert!(
        refusal(h.submit_event(&town(), mortgage.clone(), t(3))).contains("办理中的事项"),
        "one event at a time on a right"
    );
    let e = run(e, &[town(), registrar()], 4);
    let proof = e.event.outcome.clone().unwrap()["proof"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        proof.starts_with("粤（2027）佛山市南海区不动产证明第"),
        "{proof}"
    );
    assert!(h.right(&code).unwrap().0.mortgaged().is_some());
    assert!(refusal(h.submit_event(&town(), mortgage, t(5))).contains("不能重复抵押"));
    let transfer = |to: &str| EventRequest::Transfer {
        right: code.clone(),
        to: serde_json::from_value(json!({"name": "何志强", "id_number": to})).unwrap(),
        family: vec![],
        price_yuan: 450_000.0,
        reason: "举家迁居城镇".into(),
    };
    assert!(refusal(h.submit_event(&clerk(), transfer(&d), t(5))).contains("须先注销抵押"));

    // The loan is repaid: the mortgage is discharged by the registrar.
    let e = h
        .submit_event(
            &clerk(),
            EventRequest::Discharge {
                right: code.clone(),
                reason: "贷款已还清".into(),
            },
            t(6),
        )
        .unwrap();
    run(e, &[registrar()], 6);
    assert!(h.right(&code).unwrap().0.mortgaged().is_none());

    // A transfer: only to an eligible household of the same collective.
    let why = refusal(h.submit_event(&clerk(), transfer(&outsider), t(7)));
    assert!(why.contains("本集体经济组织"), "{why}");
    assert_eq!(
        refusal(h.submit_event(&clerk(), transfer(B), t(7))),
        "field to.id_number"
    );
    let e = h.submit_event(&clerk(), transfer(&d), t(7)).unwrap();
    let e = run(e, &[clerk(), town(), registrar()], 8);
    let outcome = e.event.outcome.clone().unwrap();
    let new_cert = outcome["certificate"].as_str().unwrap().to_owned();
    assert_eq!(outcome["revoked"], reg.certificate.as_str());
    assert_eq!(
        h.verify(&reg.certificate, &public).unwrap().status,
        "revoked"
    );
    let fresh = h.verify(&new_cert, &public).unwrap();
    assert!(fresh.valid, "{fresh:?}");
    assert_eq!(fresh.summary["holder"], "何**");
    assert_eq!(
        fresh.summary["unit_code"],
        code.as_str(),
        "the same unit, a new holder"
    );
    let (right, _) = h.right(&code).unwrap();
    assert_eq!(
        (right.holder.as_str(), right.household.clone()),
        ("何志强", vec![d.clone()])
    );
    assert_eq!(right.previous[0].holder, "梁志明");
    // The seller's household holds nothing now and has sold a house; the buyer holds it.
    let seller = h.facts_of(VILLAGE, &[A], None).unwrap();
    assert!(seller.holdings.is_empty(), "{seller:?}");
    assert!(seller.disposals.iter().any(|x| x.kind == "出卖"));
    assert_eq!(h.facts_of(VILLAGE, &[&d], None).unwrap().holdings.len(), 1);

    // Voluntary paid exit: the right ends and the certificate is revoked; nothing more on it.
    let e = h
        .submit_event(
            &clerk(),
            EventRequest::Exit {
                right: code.clone(),
                compensation_yuan: 120_000.0,
                reason: "进城落户，自愿有偿退出".into(),
            },
            t(9),
        )
        .unwrap();
    let before = h.read_event(&e.event.id).unwrap();
    let err = h
        .act_event(
            &clerk(),
            &e.event.id,
            e.case.revision + 1,
            Op::Approve {
                task: 1,
                comment: None,
            },
            t(9),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        HomesteadError::Flow(tudi_flow::case::FlowError::Conflict { .. })
    ));
    assert_eq!(
        h.read_event(&e.event.id).unwrap().case,
        before.case,
        "a refusal changes nothing"
    );
    run(e, &[clerk(), town(), registrar()], 10);
    let (right, _) = h.right(&code).unwrap();
    assert_eq!(right.status, RightStatus::Ended);
    assert_eq!(right.ended.unwrap().compensation_yuan, 120_000.0);
    assert_eq!(h.verify(&new_cert, &public).unwrap().status, "revoked");
    assert!(refusal(h.submit_event(&clerk(), lease("2031-12-31"), t(11))).contains("已注销"));
    let (events, total) = h
        .events(
            &tudi_homestead::events::EventQuery::default(),
            &|_| true,
            20,
            0,
        )
        .unwrap();
    assert_eq!(total, 5);
    assert!(events.iter().all(|e| e.event.stage == ["completed"]));
    assert!(w.store.verify_audit().unwrap().is_intact());
}

/// Takes a fresh application through every step before approval.
fn up_to_approval(h: &Homesteads<'_>, v: Versioned) -> Versioned {
    let v = step(
        h,
        &v,
        &clerk(),
        approve(
            open(&v, "group_discussion"),
            json!({"meeting_date": "2026-09-18", "votes_for": 9}),
        ),
        at(1),
    )
    .unwrap();
    h.tick(at(24 * 7)).unwrap();
    let mut v = h.read(&v.application.id).unwrap();
    let steps = [
        (clerk(), "village_review", json!({"opinion": "属实"})),
        (town(), "town_intake", Value::Null),
        (dept("自然资源"), "review_nr", Value::Null),
        (dept("农业农村"), "review_agri", Value::Null),
        (dept("住建"), "review_housing", Value::Null),
        (
            town(),
            "site_visit_1",
            json!({"visited_on": "2026-09-28", "findings": "四至清楚"}),
        ),
    ];
    for (who, name, form) in steps {
        v = step(h, &v, &who, approve(open(&v, name), form), at(24 * 7 + 1)).unwrap();
    }
    v
}

#[test]
fn an_approval_on_farmland_draws_on_the_quota_and_is_refused_without_it() {
    use tudi_farmland::ledger::Ledger;
    use tudi_farmland::project::{self, NewProject};
    let w = world();
    let h = w.service();
    let c = Change::new("user:clerk", "homestead.roll").at(at(0));
    h.set_roll(&c, VILLAGE, vec![A.into(), B.into()]).unwrap();
    let site = w.site(0);
    // The village plan puts the site on land the survey still shows as paddy of grade 6: the
    // approval takes farmland and must be covered by quota (以补定占).
    let geom = tudi_geo::io::geojson::parse_geometry(&site.to_string()).unwrap();
    let layers = tudi_onemap::compliance::overlaps(
        MapView::new(&w.store, None),
        &geom,
        tudi_geo::crs::Crs::CGCS2000,
        tudi_core::layer::LayerKind::LandSurvey,
        None,
        &tudi_onemap::compliance::Stop::never(),
    )
    .unwrap()
    .unwrap();
    for layer in &layers {
        for hit in &layer.features {
            let f = w.store.feature(&layer.def.name, hit.id).unwrap();
            let mut attrs = f.attributes.clone();
            attrs.insert("land_use".into(), json!("0101"));
            attrs.insert("quality_grade".into(), json!(6));
            w.store
                .update_feature(
                    &layer.def.name,
                    hit.id,
                    f.geometry,
                    attrs,
                    &Change::new("test", "survey"),
                )
                .unwrap();
        }
    }
    let v = h.submit(&clerk(), w.form(site), at(0)).unwrap();
    let v = up_to_approval(&h, v);
    let ledger = Ledger::new(&*w.store, "440605");
    let before = w
        .store
        .record("homestead", &v.application.id)
        .unwrap()
        .unwrap();

    // The approver sees the occupation and that the pool cannot cover it.
    let check = h.farmland_check(&v.application, &v.case).unwrap().unwrap();
    assert!(!check.covered);
    assert!(check.message.unwrap().zh.contains("以补定占"));
    assert!(check.occupation.total.paddy_m2.units() > 60.0);
    // No quota: refused with what it needs and what the pool holds; nothing written.
    let task = open(&v, "approval");
    let err = step(&h, &v, &town(), approve(task, Value::Null), at(200)).unwrap_err();
    let msg = err.message().zh;
    assert!(msg.contains("以补定占") && msg.contains("耕地"), "{msg}");
    assert_eq!(ledger.count().unwrap(), 0);
    assert_eq!(
        w.store
            .record("homestead", &v.application.id)
            .unwrap()
            .unwrap(),
        before
    );

    // A reclamation project is accepted: its quota enters the pool.
    let change = Change::new("user:bureau", "farmland.project").at(at(200));
    let p = project::register(
        &*w.store,
        &change,
        serde_json::from_value::<NewProject>(json!({
            "name": "西樵镇垦造水田项目", "kind": "reclamation", "grade": 5, "new_paddy_m2": 5000,
            "geometry": {"type": "Polygon", "coordinates": [[[112.95, 22.92], [112.952, 22.92], [112.952, 22.922], [112.95, 22.922], [112.95, 22.92]]]}
        }))
        .unwrap(),
    )
    .unwrap();
    project::accept(
        &ledger,
        &change,
        &p.id,
        "2026-09-25".parse().unwrap(),
        "南自然资验〔2026〕3号",
    )
    .unwrap();

    let v = step(&h, &v, &town(), approve(task, Value::Null), at(201)).unwrap();
    assert!(v.application.approval.is_some());
    let occupation = v.application.occupation.clone().unwrap();
    let farmland = occupation["total"]["farmland_m2"].as_f64().unwrap();
    assert!(farmland > 60.0, "{occupation}");
    assert_eq!(
        occupation["total"]["paddy_m2"],
        occupation["total"]["farmland_m2"]
    );
    assert_eq!(occupation["patches"][0]["grade"], 6);
    // The debit was posted with the approval, under its reference, once.
    let (postings, total) = ledger
        .journal(&tudi_farmland::ledger::JournalQuery {
            reference: Some(format!("homestead:{}", v.application.id)),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(postings[0].legs[1].amounts.farmland_m2.units(), farmland);
    let (_, balances) = ledger.balances().unwrap();
    assert_eq!(
        balances.of(&ledger.pool()).farmland_m2,
        p.adds.farmland_m2 - postings[0].legs[1].amounts.farmland_m2
    );
    assert!(ledger.verify().unwrap().problems.is_empty());
    let check = h.farmland_check(&v.application, &v.case).unwrap().unwrap();
    assert_eq!(check.posting, Some(postings[0].no));
    assert!(check.covered && check.message.is_none());
}
