//! Homesteads and certificates over HTTP: the village takes an application in, the roll and the
//! first steps, lists scoped by jurisdiction, refusals by field and by duty; then (the 公示 and
//! construction take months, so the service runs them on a later clock) the certificate: listed,
//! verified publicly as JSON and on the QR code's page, rendered as a PDF that poppler reads and
//! whose QR code zbar decodes, and revoked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tudi_access::accounts::{Accounts, AuthConfig, NewUser};
use tudi_access::policy::{Binding, Via};
use tudi_access::{Jurisdiction, Principal, Role};
use tudi_flow::case::Op;
use tudi_homestead::service::Homesteads;
use tudi_onemap::compliance::RuleSet;
use tudi_onemap::snapshot::MapView;
use tudi_server::AppState;
use tudi_sign::KeyRing;
use tudi_store::{Change, Store};

const VILLAGE: &str = "440605121208";
const A: &str = "44060519800101001X";
const B: &str = "440605198203020021";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    state: AppState,
    tokens: HashMap<&'static str, String>,
    keys: KeyRing,
}

fn binding(role: Role, scope: &str, dept: Option<&str>) -> Binding {
    Binding {
        role,
        scope: Jurisdiction::parse(scope).unwrap(),
        department: dept.map(str::to_owned),
    }
}

const PEOPLE: [(&str, Role, &str, Option<&str>); 7] = [
    ("clerk", Role::VillageClerk, VILLAGE, None),
    ("town", Role::TownReviewer, "440605121", None),
    ("other-town", Role::TownReviewer, "440605122", None),
    ("agri", Role::DepartmentHandler, "440605", Some("农业农村")),
    ("land", Role::DepartmentHandler, "440605", Some("自然资源")),
    ("housing", Role::DepartmentHandler, "440605", Some("住建")),
    ("registrar", Role::DistrictApprover, "440605", None),
];

fn principal(name: &str) -> Principal {
    let (_, role, scope, dept) = PEOPLE.iter().find(|p| p.0 == name).unwrap();
    Principal {
        user: Some(name.into()),
        bindings: vec![binding(*role, scope, *dept)],
        via: Via::Session,
    }
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
    let config = AuthConfig::for_tests();
    let acc = Accounts::new(&*store, &config);
    let c = Change::new("cli", "test.setup");
    let mut tokens = HashMap::new();
    for (name, role, scope, dept) in PEOPLE {
        let password = "Pass-word-123!".to_owned();
        acc.create_user(
            &c,
            NewUser {
                username: name.into(),
                display_name: None,
                password: password.clone(),
                roles: vec![binding(role, scope, dept)],
                phone: None,
                id_number: None,
            },
        )
        .unwrap();
        let (t, _, _) = acc.login(&c, name, &password).unwrap();
        tokens.insert(name, t);
    }
    let mut keys = KeyRing::default();
    keys.rotate(jiff::Timestamp::now()).unwrap();
    store
        .set_meta(
            "sign:public",
            &serde_json::to_string(&keys.public()).unwrap(),
            &c,
        )
        .unwrap();
    let state = AppState::new(store.clone())
        .with_auth(config)
        .with_signing_keys(keys.clone())
        .with_public_url("https://tudi.example.test");
    World {
        _dir: dir,
        store,
        state,
        tokens,
        keys,
    }
}

impl World {
    async fn call(
        &self,
        who: &str,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes, _) = self.raw(who, method, uri, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn raw(
        &self,
        who: &str,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Vec<u8>, String) {
        let json = body.is_some().then_some("application/json");
        let token = self.tokens.get(who).map(String::as_str);
        let body = body.map(|b| b.to_string().into_bytes());
        let (status, ct, bytes) = common::send(&self.state, token, method, uri, json, body).await;
        (status, bytes, ct)
    }

    /// A 9 × 8 m square on the village's planned homestead land that passes the site check.
    fn site(&self) -> Value {
        let rules = RuleSet::builtin()
            .into_iter()
            .find(|r| r.id == "宅基地选址")
            .unwrap();
        tudi_homestead::demo::clear_site(&*self.store, &rules, VILLAGE, 0)
            .unwrap()
            .expect("a clear site")
    }
}

fn form(site: &Value) -> Value {
    json!({
        "applicant": {"name": "梁志明", "id_number": A},
        "phone": "13800138000",
        "family": [{"name": "陈丽", "id_number": B, "relation": "配偶"}],
        "village": VILLAGE, "terrain": "plain", "build": "new_household", "current": "none",
        "site": site, "address": "某村三巷 8 号",
        "footprint_m2": 60.0, "storeys": 3, "height_m": 10.5, "floor_area_m2": 175.0,
        "neighbours": [
            {"side": "east", "name": "梁某", "agrees": true}, {"side": "south", "name": "村道", "agrees": true},
            {"side": "west", "name": "陈某", "agrees": true}, {"side": "north", "name": "空地", "agrees": true}
        ],
        "reason": "分户后无宅基地"
    })
}

fn task(app: &Value, step: &str) -> u64 {
    app["case"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["step"] == step && t["status"] == "open")
        .unwrap_or_else(|| panic!("{step} not open"))["id"]
        .as_u64()
        .unwrap()
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("-v").output().is_ok()
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::too_many_lines)]
async fn an_application_over_http_and_its_certificate_verified_by_anyone() {
    let w = world();
    let site = w.site();

    // The roll: the village's clerk keeps it; another town's reviewer may not.
    let roll = json!({"members": [A, B]});
    let (s, _) = w
        .call(
            "other-town",
            "PUT",
            &format!("/api/v1/homestead/collectives/{VILLAGE}"),
            Some(roll.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = w
        .call(
            "clerk",
            "PUT",
            &format!("/api/v1/homestead/collectives/{VILLAGE}"),
            Some(json!({"members": [A, "440605198203020022"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["field"], "members[1]");
    let (s, body) = w
        .call(
            "clerk",
            "PUT",
            &format!("/api/v1/homestead/collectives/{VILLAGE}"),
            Some(roll),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = w
        .call(
            "clerk",
            "GET",
            &format!("/api/v1/homestead/collectives/{VILLAGE}"),
            None,
        )
        .await;
    assert_eq!(
        (s, &body["members"]),
        (StatusCode::OK, &json!([A, B])),
        "{body}"
    );
    let (s, _) = w
        .call(
            "other-town",
            "GET",
            &format!("/api/v1/homestead/collectives/{VILLAGE}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Bad input by field; another town's reviewer cannot take in this village's application.
    let mut bad = form(&site);
    bad["neighbours"] = json!([]);
    let (s, body) = w
        .call("clerk", "POST", "/api/v1/homestead/applications", Some(bad))
        .await;
    assert_eq!(
        (s, body["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("neighbours")),
        "{body}"
    );
    let mut bad = form(&site);
    bad["site"] = json!({"type": "Point", "coordinates": [113.1, 23.0]});
    let (s, body) = w
        .call("clerk", "POST", "/api/v1/homestead/applications", Some(bad))
        .await;
    assert_eq!(
        (s, body["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("site")),
        "{body}"
    );
    let (s, _) = w
        .call(
            "other-town",
            "POST",
            "/api/v1/homestead/applications",
            Some(form(&site)),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, list) = w
        .call("town", "GET", "/api/v1/homestead/applications", None)
        .await;
    assert_eq!(
        (s, list["total"].as_u64()),
        (StatusCode::OK, Some(0)),
        "refusals wrote nothing"
    );

    let (s, app) = w
        .call(
            "clerk",
            "POST",
            "/api/v1/homestead/applications",
            Some(form(&site)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    let id = app["application"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app["application"]["stage"], json!(["group_discussion"]));
    assert_eq!(app["stage_names"], json!(["村民小组讨论"]));
    assert_eq!(app["application"]["eligible"], true);
    assert_eq!(
        app["case"]["tasks"][0]["assignee_names"][0],
        format!("村居经办人（{VILLAGE}）")
    );

    // The department handler reads it masked (no identity numbers for that role).
    let (s, seen) = w
        .call(
            "land",
            "GET",
            &format!("/api/v1/homestead/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(seen["application"]["form"]["applicant"]["id_number"], A);
    assert!(
        seen["application"]["form"]["applicant"]["id_number"]
            .as_str()
            .unwrap()
            .contains("****")
    );
    // Lists: the town and the district see it, filtered by stage; another town does not.
    let (_, l) = w
        .call(
            "town",
            "GET",
            "/api/v1/homestead/applications?stage=group_discussion",
            None,
        )
        .await;
    assert_eq!(l["total"], 1);
    let (_, l) = w
        .call(
            "town",
            "GET",
            "/api/v1/homestead/applications?stage=approval",
            None,
        )
        .await;
    assert_eq!(l["total"], 0);
    let (_, l) = w
        .call("other-town", "GET", "/api/v1/homestead/applications", None)
        .await;
    assert_eq!(l["total"], 0);
    let (s, _) = w
        .call(
            "town",
            "GET",
            "/api/v1/homestead/applications?stage=nonsense",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = w
        .call(
            "other-town",
            "GET",
            &format!("/api/v1/homestead/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "outside the town, as if unknown");

    // The group discussion over HTTP; the town may not take the village's step.
    let rev = app["case"]["revision"].as_u64().unwrap();
    let t = task(&app, "group_discussion");
    let (s, body) = w
        .call(
            "town",
            "POST",
            &format!("/api/v1/homestead/applications/{id}/actions"),
            Some(json!({"revision": rev, "action": "approve", "task": t})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["type"].as_str().unwrap().rsplit('/').next(),
        Some("not-your-task")
    );
    let (s, app) = w.call("clerk", "POST", &format!("/api/v1/homestead/applications/{id}/actions"), Some(json!({"revision": rev, "action": "approve", "task": t, "form": {"meeting_date": "2026-11-20"}}))).await;
    assert_eq!(s, StatusCode::OK, "{app}");
    assert_eq!(app["application"]["stage"], json!(["publicity"]));
    // A stale revision is a conflict.
    let (s, _) = w
        .call(
            "clerk",
            "POST",
            &format!("/api/v1/homestead/applications/{id}/actions"),
            Some(json!({"revision": rev, "action": "comment", "task": t, "text": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The 公示 period and construction take months: the service runs the rest on a later clock.
    let cal = tudi_core::calendar::WorkCalendar::china();
    let rules = RuleSet::builtin()
        .into_iter()
        .find(|r| r.id == "宅基地选址")
        .unwrap();
    let district = Jurisdiction::parse("440605").unwrap();
    let h = Homesteads {
        store: &*w.store,
        map: MapView::new(&*w.store, None),
        calendar: cal,
        district: &district,
        site_rules: &rules,
        keys: Some(&w.keys),
    };
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 40))
        .unwrap();
    h.tick(later).unwrap();
    let approve = |v: &tudi_homestead::service::Versioned, who: &str, step: &str, form: Value| {
        let task = v.case.open_tasks().find(|t| t.step == step).unwrap().id;
        h.act(
            &principal(who),
            &v.application.id,
            v.case.revision,
            Op::Approve {
                task,
                comment: None,
            },
            &form,
            later,
        )
        .unwrap()
    };
    let v = h.read(&id).unwrap();
    let v = approve(&v, "clerk", "village_review", Value::Null);
    let v = approve(&v, "town", "town_intake", Value::Null);
    let v = approve(&v, "agri", "review_agri", Value::Null);
    let v = approve(&v, "land", "review_nr", Value::Null);
    let v = approve(&v, "housing", "review_housing", Value::Null);
    let v = approve(&v, "town", "site_visit_1", Value::Null);
    let v = approve(&v, "town", "approval", Value::Null);
    let v = approve(&v, "town", "staking", json!({"staked_site": site}));
    let today = later
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
        .to_string();
    let v = approve(
        &v,
        "clerk",
        "construction",
        json!({"started_on": today, "finished_on": today}),
    );
    let v = approve(
        &v,
        "town",
        "acceptance",
        json!({"built_site": site, "storeys": 3, "height_m": 10.0}),
    );
    let v = approve(&v, "registrar", "registration", Value::Null);
    let registration = v.application.registration.unwrap();
    let (cert_id, code) = (registration.certificate, registration.unit_code);

    // A later event over HTTP: the farmhouse is leased out, recorded by the village and the town.
    let (s, right) = w
        .call(
            "town",
            "GET",
            &format!("/api/v1/homestead/rights/{code}"),
            None,
        )
        .await;
    assert_eq!(
        (s, right["holder"].as_str()),
        (StatusCode::OK, Some("梁志明")),
        "{right}"
    );
    let (s, _) = w
        .call(
            "other-town",
            "GET",
            &format!("/api/v1/homestead/rights/{code}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "outside the town, as if unknown");
    let (s, _) = w
        .call(
            "town",
            "GET",
            "/api/v1/homestead/rights/440605000000JC99999F00010001",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let lease = json!({"kind": "lease", "right": code, "lessee": "陈某", "lessee_id": B,
        "from": "2027-01-01", "to": "2029-12-31", "rent_yuan_per_year": 24000, "purpose": "居住"});
    let (s, _) = w
        .call(
            "other-town",
            "POST",
            "/api/v1/homestead/events",
            Some(lease.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "outside the town, as if unknown");
    let mut bad = lease.clone();
    bad["kind"] = json!("gift");
    let (s, _) = w
        .call("clerk", "POST", "/api/v1/homestead/events", Some(bad))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut bad = lease.clone();
    bad["to"] = json!("2026-01-01");
    let (s, body) = w
        .call("clerk", "POST", "/api/v1/homestead/events", Some(bad))
        .await;
    assert_eq!(
        (s, body["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("to")),
        "{body}"
    );
    let (s, e) = w
        .call("clerk", "POST", "/api/v1/homestead/events", Some(lease))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let event_id = e["event"]["id"].as_str().unwrap().to_owned();
    assert_eq!(e["event"]["kind_name"], "农房出租备案");
    let act = |e: &Value| {
        json!({"revision": e["case"]["revision"], "action": "approve",
            "task": e["case"]["tasks"].as_array().unwrap().iter().find(|t| t["status"] == "open").unwrap()["id"]})
    };
    let uri = format!("/api/v1/homestead/events/{event_id}/actions");
    let (s, body) = w.call("town", "POST", &uri, Some(act(&e))).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the village records first: {body}"
    );
    let (s, e) = w.call("clerk", "POST", &uri, Some(act(&e))).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, e) = w.call("town", "POST", &uri, Some(act(&e))).await;
    assert_eq!(
        (s, &e["event"]["stage"]),
        (StatusCode::OK, &json!(["completed"])),
        "{e}"
    );
    let (_, right) = w
        .call(
            "town",
            "GET",
            &format!("/api/v1/homestead/rights/{code}"),
            None,
        )
        .await;
    assert_eq!(right["leases"][0]["lessee"], "陈某");
    let (_, list) = w
        .call("town", "GET", "/api/v1/homestead/events?kind=lease", None)
        .await;
    assert_eq!(list["total"], 1);
    let (_, list) = w
        .call("other-town", "GET", "/api/v1/homestead/events", None)
        .await;
    assert_eq!(list["total"], 0);
    let (s, _) = w
        .call(
            "other-town",
            "GET",
            &format!("/api/v1/homestead/events/{event_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "outside the town, as if unknown");

    // Certificates: listed for the district and the town, not another town.
    let (s, l) = w
        .call(
            "registrar",
            "GET",
            "/api/v1/certificates?status=valid",
            None,
        )
        .await;
    assert_eq!((s, l["total"].as_u64()), (StatusCode::OK, Some(1)), "{l}");
    assert_eq!(l["certificates"][0]["summary"]["holder"], "梁**");
    assert!(
        l["certificates"][0]["signed"]["payload"]["holder_id"] == A,
        "the registrar gets the signed payload"
    );
    let (_, l) = w
        .call("other-town", "GET", "/api/v1/certificates", None)
        .await;
    assert_eq!(l["total"], 0);
    let (s, _) = w
        .call("registrar", "GET", "/api/v1/certificates?status=lost", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Those who may read it see the path its QR code opens, with the proof (`?s=`) verification
    // asks for.
    let (s, one) = w
        .call(
            "town",
            "GET",
            &format!("/api/v1/certificates/{cert_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    let verify_path = one["verify_path"].as_str().unwrap().to_owned();
    let proof = verify_path.split("?s=").nth(1).unwrap().to_owned();
    assert_eq!(proof.len(), tudi_homestead::registry::PROOF_CHARS);
    let (s, _) = w
        .call(
            "other-town",
            "GET",
            &format!("/api/v1/certificates/{cert_id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "outside its scope, as if unknown");
    // Anyone holding it verifies it: JSON and the QR code's page, no sign-in.
    let (s, verdict) = w
        .call(
            "nobody",
            "GET",
            &format!("/api/v1/certificates/{cert_id}/verify?s={proof}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert!(
        !verdict.to_string().contains(A),
        "the public sees the number masked"
    );
    // Without the proof, or with another, a real certificate is as unknown as a made-up id:
    // its ids cannot be counted through.
    for uri in [
        "/api/v1/certificates/ZS440605-2026-9999999/verify".to_owned(),
        format!("/api/v1/certificates/{cert_id}/verify"),
        format!("/api/v1/certificates/{cert_id}/verify?s=AAAAAAAAAAAAAAAA"),
        format!("/api/v1/certificates/{cert_id}/verify?s={}", &proof[..8]),
    ] {
        let (s, body) = w.call("nobody", "GET", &uri, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
        assert!(!body.to_string().contains("梁"), "{body}");
    }

    // The PDF: poppler finds the Chinese text and an embedded subset font; zbar reads the QR code.
    let (s, pdf, ct) = w
        .raw(
            "town",
            "GET",
            &format!("/api/v1/certificates/{cert_id}/pdf"),
            None,
        )
        .await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "application/pdf"));
    let (s, _, _) = w
        .raw(
            "other-town",
            "GET",
            &format!("/api/v1/certificates/{cert_id}/pdf"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.pdf");
    std::fs::write(&file, &pdf).unwrap();
    assert!(tool("pdftotext"), "poppler-utils is installed by .ci/run");
    let text = Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("不动产权证书") && text.contains("梁志明") && text.contains("宅基地使用权"),
        "{text}"
    );
    let fonts =
        String::from_utf8(Command::new("pdffonts").arg(&file).output().unwrap().stdout).unwrap();
    assert!(
        fonts.contains("NotoSansCJK") && fonts.contains("yes"),
        "embedded: {fonts}"
    );
    let png = dir.path().join("c");
    assert!(
        Command::new("pdftoppm")
            .args(["-png", "-r", "150", "-singlefile"])
            .arg(&file)
            .arg(&png)
            .status()
            .unwrap()
            .success()
    );
    let qr = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(dir.path().join("c.png"))
        .output()
        .unwrap();
    let url = String::from_utf8(qr.stdout).unwrap().trim().to_owned();
    assert!(
        url.starts_with(&format!("https://tudi.example.test/verify/{cert_id}?s=")),
        "QR code reads {url:?}"
    );

    // The page the QR code opens.
    let path = url.trim_start_matches("https://tudi.example.test");
    let (s, page, ct) = w.raw("nobody", "GET", path, None).await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/html"));
    assert!(
        page.contains("证照有效") && page.contains("梁**") && !page.contains(A),
        "{page}"
    );
    let (_, page, _) = w
        .raw(
            "nobody",
            "GET",
            &format!("/verify/{cert_id}?s=AAAAAAAAAAAAAAAA"),
            None,
        )
        .await;
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("查无此证照") && !page.contains("梁"),
        "{page}"
    );
    assert_eq!(
        path, verify_path,
        "the console links to the page the QR code opens"
    );

    // Revocation: the town may not, the district's approver may; then it verifies as revoked.
    let (s, _) = w
        .call(
            "town",
            "POST",
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            Some(json!({"reason": "错误"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = w
        .call(
            "registrar",
            "POST",
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            Some(json!({"reason": " "})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, body) = w
        .call(
            "registrar",
            "POST",
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            Some(json!({"reason": "登记错误，依法注销"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, verdict) = w
        .call(
            "nobody",
            "GET",
            &format!("/api/v1/certificates/{cert_id}/verify?s={proof}"),
            None,
        )
        .await;
    assert_eq!(
        (verdict["valid"].as_bool(), verdict["status"].as_str()),
        (Some(false), Some("revoked"))
    );
    let (_, page, _) = w.raw("nobody", "GET", path, None).await;
    assert!(String::from_utf8(page).unwrap().contains("已注销"));
    let (s, _) = w
        .call(
            "registrar",
            "POST",
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            Some(json!({"reason": "再次"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

/// The cells of a workbook's sheet as text.
fn sheet(bytes: Vec<u8>, name: &str) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range(name).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect()
}

/// Documents attached to an application and read back; the approval ledger and the statistics
/// as JSON and as Excel, each for whoever may read the applications in it.
#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::too_many_lines)]
async fn documents_the_ledger_and_statistics_over_http() {
    let w = world();
    let (s, _) = w
        .call(
            "clerk",
            "PUT",
            &format!("/api/v1/homestead/collectives/{VILLAGE}"),
            Some(json!({"members": [A, B]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, app) = w
        .call(
            "clerk",
            "POST",
            "/api/v1/homestead/applications",
            Some(form(&w.site())),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{app}");
    let id = app["application"]["id"].as_str().unwrap().to_owned();
    let revision = app["case"]["revision"].as_u64().unwrap();

    // Work queues: the group discussion waits for the village's clerk, nobody else.
    for (who, n) in [("clerk", 1), ("town", 0), ("registrar", 0)] {
        let (s, q) = w
            .call(who, "GET", "/api/v1/homestead/applications?todo=true", None)
            .await;
        assert_eq!(
            (s, q["total"].as_u64()),
            (StatusCode::OK, Some(n)),
            "{who}: {q}"
        );
    }
    let (_, q) = w
        .call(
            "clerk",
            "GET",
            "/api/v1/homestead/applications?todo=true",
            None,
        )
        .await;
    let yours: Vec<bool> = q["applications"][0]["case"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["yours"].as_bool().unwrap())
        .collect();
    assert_eq!(yours, [true], "the open task is marked as the clerk's");

    // A scanned form as PNG: attached by the clerk, read back byte for byte by the town.
    let png = {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([7, 7, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let attach = |who: &'static str, query: String, ct: &'static str, bytes: Vec<u8>| {
        let w = &w;
        let id = id.clone();
        async move {
            let token = w.tokens.get(who).map(String::as_str);
            let uri = format!("/api/v1/homestead/applications/{id}/documents?{query}");
            let (s, _, body) =
                common::send(&w.state, token, "POST", &uri, Some(ct), Some(bytes)).await;
            (
                s,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    let q = |name: &str, kind: &str, rev: u64| format!("revision={rev}&name={name}&kind={kind}");
    let (s, body) = attach(
        "clerk",
        q("申请表.png", "申请表", revision),
        "image/png",
        png.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let doc = &body["application"]["documents"][0];
    assert_eq!(
        (doc["kind"].as_str(), doc["name"].as_str()),
        (Some("申请表"), Some("申请表.png"))
    );
    let sha = doc["sha256"].as_str().unwrap().to_owned();
    // Refusals name the field and change nothing.
    for (who, query, ct, bytes, status, field) in [
        (
            "clerk",
            q("a.jpg", "申请表", revision),
            "image/jpeg",
            png.clone(),
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            "clerk",
            q("a.png", "照片", revision),
            "image/png",
            png.clone(),
            StatusCode::BAD_REQUEST,
            "kind",
        ),
        (
            "clerk",
            q("a.png", "其他", revision),
            "image/png",
            [png.clone(), vec![0u8; 6 << 20]].concat(),
            StatusCode::BAD_REQUEST,
            "file",
        ),
        (
            "clerk",
            q("a.png", "其他", revision + 1),
            "image/png",
            png.clone(),
            StatusCode::CONFLICT,
            "",
        ),
        (
            "other-town",
            q("a.png", "其他", revision),
            "image/png",
            png.clone(),
            StatusCode::NOT_FOUND,
            "",
        ),
    ] {
        let (s, body) = attach(who, query, ct, bytes).await;
        assert_eq!(s, status, "{body}");
        if !field.is_empty() {
            assert_eq!(body["errors"][0]["field"], field, "{body}");
        }
    }
    let (_, now) = w
        .call(
            "town",
            "GET",
            &format!("/api/v1/homestead/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(
        now["application"]["documents"].as_array().unwrap().len(),
        1,
        "nothing else was kept"
    );
    let (s, bytes, ct) = w
        .raw(
            "town",
            "GET",
            &format!("/api/v1/homestead/applications/{id}/documents/{sha}"),
            None,
        )
        .await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "image/png"));
    assert_eq!(bytes, png);
    let (s, _, _) = w
        .raw(
            "other-town",
            "GET",
            &format!("/api/v1/homestead/applications/{id}/documents/{sha}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = w
        .raw(
            "town",
            "GET",
            &format!("/api/v1/homestead/applications/{id}/documents/00ff"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The approval ledger: the town's reader sees the application; another town's sees none.
    let (s, l) = w
        .call("town", "GET", "/api/v1/homestead/ledger", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(l["total"], 1);
    let headings: Vec<&str> = l["headings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let col = |name: &str| headings.iter().position(|h| *h == name).unwrap();
    assert_eq!(l["rows"][0][col("申请编号")], id.as_str());
    assert_eq!(l["rows"][0][col("当前阶段")], "村民小组讨论");
    let (_, l) = w
        .call("other-town", "GET", "/api/v1/homestead/ledger", None)
        .await;
    assert_eq!(l["total"], 0);
    // A department handler's ledger shows identity numbers masked, as everywhere for that role.
    let (_, l) = w
        .call("land", "GET", "/api/v1/homestead/ledger", None)
        .await;
    assert_eq!(l["rows"][0][col("身份证号")], "440605********001X");
    let (s, _) = w
        .call("town", "GET", "/api/v1/homestead/ledger?format=pdf", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, xlsx, ct) = w
        .raw("town", "GET", "/api/v1/homestead/ledger?format=xlsx", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("application/vnd.openxmlformats"), "{ct}");
    let cells = sheet(xlsx, "宅基地审批台账");
    assert!(cells[0][0].contains("审批台账"), "{cells:?}");
    assert_eq!(cells[1][0], "申请编号");
    assert_eq!(cells[2][0], id);
    assert_eq!(cells.len(), 3, "title, headings, one application");

    // Statistics: by village and by step, JSON and Excel; bad parameters are named.
    let (s, st) = w
        .call(
            "registrar",
            "GET",
            "/api/v1/homestead/stats?by=village",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["rows"][0]["code"], VILLAGE);
    assert_eq!(st["rows"][0]["applications"], 1);
    assert_eq!(st["rows"][0]["running"], 1);
    let (_, st) = w
        .call("registrar", "GET", "/api/v1/homestead/stats?by=step", None)
        .await;
    assert_eq!(st["rows"][0]["step"], "group_discussion");
    assert_eq!(st["rows"][0]["open"], 1);
    let (_, st) = w
        .call("other-town", "GET", "/api/v1/homestead/stats", None)
        .await;
    assert_eq!(
        st["rows"].as_array().unwrap().len(),
        1,
        "only the empty total"
    );
    assert_eq!(st["rows"][0]["applications"], 0);
    for bad in [
        "by=household",
        "from=2026-12-01&to=2026-11-01",
        "from=yesterday",
    ] {
        let (s, p) = w
            .call(
                "registrar",
                "GET",
                &format!("/api/v1/homestead/stats?{bad}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {p}");
    }
    let (s, xlsx, _) = w
        .raw(
            "registrar",
            "GET",
            "/api/v1/homestead/stats?by=town&format=xlsx",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let cells = sheet(xlsx, "宅基地审批统计");
    assert_eq!(cells[1][2], "申请数");
    assert_eq!(
        (
            cells[2][0].as_str(),
            cells[2][1].as_str(),
            cells[2][2].as_str()
        ),
        ("440605121", "九江镇", "1")
    );
    assert_eq!(cells.last().unwrap()[0], "合计");
    let (s, _) = w
        .call("nobody", "GET", "/api/v1/homestead/stats", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
