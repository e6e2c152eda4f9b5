//! Access over HTTP: every route × every role × a resource inside and outside the caller's
//! jurisdiction, sign-in, sessions, CSRF, tokens, lockout and the audit trail of refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tudi_access::accounts::{Accounts, AuthConfig, NewUser};
use tudi_access::{Binding, Jurisdiction, Role};
use tudi_server::routes::{Guard, ROUTES};
use tudi_server::{AppState, router};
use tudi_store::{AuditQuery, Change, Store};

const TOWN: &str = "440605011";
const VILLAGE_IN: &str = "440605011001";
const VILLAGE_OUT: &str = "440605012001";

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    state: AppState,
    /// (label, role, bearer token, password) per caller; role `None` is anonymous.
    callers: Vec<(String, Option<Role>, Option<String>, String)>,
    parcel: String,
    tokens: [String; 2],
    /// A work order in the grid cell of the demo grid inspector (inside), one in another town.
    orders: [String; 2],
    /// Longitude/latitude inside those two grid cells.
    points: [[f64; 2]; 2],
    /// A homestead application in the demo clerk's village, one in another town.
    applications: [String; 2],
    /// A certificate in each of those villages, and the proof its QR code carries.
    certificates: [String; 2],
    proofs: [String; 2],
    /// An attachment of each order and a document of each application (SHA-256).
    attachments: [String; 2],
    documents: [String; 2],
    /// A registered right (the house's unit code) in each, and a later event on it.
    rights: [String; 2],
    events: [String; 2],
    /// A survey project of the demo firm (inside), one of another firm; a submission to each.
    survey_projects: [String; 2],
    submissions: [String; 2],
    /// An accepted compensation project of the district's farmland ledger (its intake is
    /// posting 1).
    farmland_project: String,
    /// A field chief of the inside village.
    farmland_chief: String,
}

/// The village of the other town's homestead application and certificate (not the village
/// clerk `target.out`'s).
const HOMESTEAD_OUT: &str = "440605121001";

/// An application form with an 8 m square around `p` in `village`.
fn homestead_form(village: &str, p: [f64; 2]) -> Value {
    let d = 0.00004;
    let [x, y] = p;
    json!({
        "applicant": {"name": "梁志明", "id_number": "44060519800101001X"},
        "phone": "13800138000",
        "village": village, "terrain": "plain", "build": "new_household", "current": "none",
        "site": {"type": "Polygon", "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]]},
        "address": "矩阵测试", "footprint_m2": 30.0, "storeys": 2, "height_m": 7.0, "floor_area_m2": 60.0,
        "neighbours": [
            {"side": "east", "name": "甲", "agrees": true}, {"side": "south", "name": "乙", "agrees": true},
            {"side": "west", "name": "丙", "agrees": true}, {"side": "north", "name": "丁", "agrees": true}
        ],
        "reason": "矩阵测试"
    })
}

/// A point inside the first grid cell whose code starts with `prefix`, and that code.
fn point_in_cell(store: &dyn Store, prefix: &str) -> ([f64; 2], String) {
    use geo::InteriorPoint;
    let cells = store
        .features("grid", &tudi_store::FeatureQuery::default())
        .unwrap();
    let cell = cells
        .iter()
        .find(|f| f.attributes["code"].as_str().unwrap().starts_with(prefix))
        .unwrap();
    let p = cell.geometry.interior_point().unwrap();
    let def = store.layer_def("grid").unwrap();
    let to = tudi_geo::crs::Transformer::new(
        tudi_geo::crs::Crs::from_epsg(def.epsg).unwrap(),
        tudi_geo::crs::Crs::CGCS2000,
    )
    .unwrap();
    let (lon, lat) = to.apply(p.x(), p.y()).unwrap();
    (
        [lon, lat],
        cell.attributes["code"].as_str().unwrap().to_owned(),
    )
}

fn binding(role: Role, scope: &str) -> Binding {
    Binding {
        role,
        scope: Jurisdiction::parse(scope).unwrap(),
        department: None,
    }
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = tudi_store_pg::testing::fresh_served_store(dir.path());
        tudi_onemap::demo::build(
            &*store,
            tudi_onemap::demo::DemoOptions {
                seed: 5,
                parcels: 60,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        let c = Change::new("cli", "test.setup");
        tudi_onemap::access::set_public(&*store, "divisions", true, &c).unwrap();
        let config = AuthConfig::for_tests();
        let demo = tudi_access::demo::create_accounts(&*store, &config, "440605").unwrap();
        let acc = Accounts::new(&*store, &config);
        let extra = |name: &str, role, scope: &str| {
            acc.create_user(
                &c,
                NewUser {
                    username: name.into(),
                    display_name: None,
                    password: "Test-password-1".into(),
                    roles: vec![binding(role, scope)],
                    phone: None,
                    id_number: None,
                },
            )
            .unwrap();
        };
        extra("town.admin", Role::Admin, TOWN);
        extra("target.in", Role::VillageClerk, VILLAGE_IN);
        extra("target.out", Role::VillageClerk, VILLAGE_OUT);
        let t_in = acc
            .issue_token(&c, "target.in", "对接", vec![], None)
            .unwrap()
            .1
            .id;
        let t_out = acc
            .issue_token(&c, "target.out", "对接", vec![], None)
            .unwrap()
            .1
            .id;
        let mut callers = vec![("anonymous".to_owned(), None, None, String::new())];
        for a in &demo {
            let (tok, _, _) = acc.login(&c, &a.username, &a.password).unwrap();
            callers.push((
                a.username.clone(),
                Role::parse(a.role),
                Some(tok),
                a.password.clone(),
            ));
        }
        let (tok, _, _) = acc.login(&c, "town.admin", "Test-password-1").unwrap();
        callers.push((
            "town.admin".into(),
            Some(Role::Admin),
            Some(tok),
            "Test-password-1".into(),
        ));
        let parcel = store
            .features(
                "parcels",
                &tudi_store::FeatureQuery {
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .unwrap()[0]
            .id
            .to_string();
        let (p_in, cell_in) = point_in_cell(&*store, &format!("{VILLAGE_IN}001"));
        // A cell of a sibling town (the demo's towns other than 桂城 are 440605121…).
        let (p_out, cell_out) = point_in_cell(&*store, "440605121001");
        let taxonomy = tudi_orders::category::Taxonomy::defaults().unwrap();
        // Orders inside go to the town's office, those outside to a department.
        let list: tudi_orders::routing::ResponsibilityList = serde_json::from_value(json!({"entries": [
            {"category": "SJ04", "area": TOWN, "unit": {"kind": "town", "code": TOWN, "name": "桂城街道"}, "valid_from": "2024-01-01", "valid_to": null},
            {"category": "SJ04", "area": "440605121", "unit": {"kind": "department", "code": "自然资源", "name": "区自然资源局"}, "valid_from": "2024-01-01", "valid_to": null}
        ]}))
        .unwrap();
        let district = Jurisdiction::parse("440605").unwrap();
        let centre = tudi_orders::service::Orders {
            store: &*store,
            taxonomy: &taxonomy,
            responsibilities: &list,
            calendar: tudi_core::calendar::WorkCalendar::china(),
            district: &district,
        };
        let photo = |seed: u8| {
            let img = image::RgbImage::from_pixel(4, 4, image::Rgb([seed, 1, 2]));
            let mut out = std::io::Cursor::new(Vec::new());
            img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
            out.into_inner()
        };
        // Each order dispatched to its unit, with a photo attached.
        let order_in = |cell: &str, seed: u8| {
            let v = centre
                .intake_and_dispatch(
                    &c,
                    serde_json::from_value(json!({"channel": "hotline", "category": "SJ0401", "description": "矩阵测试", "address": "测试地址"}))
                        .unwrap(),
                    Some(&Jurisdiction::parse(cell).unwrap()),
                )
                .unwrap();
            let number = v.order.number.clone();
            let v = centre
                .attach(&c, &number, v.version, "x.jpg", "image/jpeg", &photo(seed))
                .unwrap();
            let sha = v.order.attachments[0].sha256.clone();
            (number, sha)
        };
        let (o_in, a_in) = order_in(&cell_in, 1);
        let (o_out, a_out) = order_in(&cell_out, 2);
        let orders = [o_in, o_out];
        let rules = tudi_onemap::compliance::RuleSet::builtin();
        let homesteads = tudi_homestead::service::Homesteads {
            store: &*store,
            map: tudi_onemap::snapshot::MapView::new(&*store, None),
            calendar: tudi_core::calendar::WorkCalendar::china(),
            district: &district,
            site_rules: &rules[0],
            keys: None,
        };
        let clerk = tudi_access::Principal {
            user: Some("cli".into()),
            bindings: vec![],
            via: tudi_access::policy::Via::Session,
        };
        let apply = |village: &str, p: [f64; 2]| {
            homesteads
                .submit(
                    &clerk,
                    serde_json::from_value(homestead_form(village, p)).unwrap(),
                    jiff::Timestamp::now(),
                )
                .unwrap()
                .application
                .id
        };
        let applications = [apply(VILLAGE_IN, p_in), apply(HOMESTEAD_OUT, p_out)];
        let document = |id: &str, seed: u8| {
            let v = homesteads.read(id).unwrap();
            homesteads
                .attach(&c, id, v.case.revision, "x.jpg", "其他", "image/jpeg", &photo(seed + 10))
                .unwrap()
                .application
                .documents[0]
                .sha256
                .clone()
        };
        let documents = [
            document(&applications[0], 1),
            document(&applications[1], 2),
        ];
        // Certificates written as registration would (the matrix is about who may reach them).
        let mut ring = tudi_sign::KeyRing::default();
        ring.rotate(jiff::Timestamp::now()).unwrap();
        let certify = |n: usize, village: &str| {
            let id = format!("ZS440605-2026-{n:07}");
            let cert = tudi_homestead::registry::Certificate {
                id: id.clone(),
                number: format!("粤（2026）佛山市南海区不动产权第{n:07}号"),
                signed: ring.sign(json!({"number": id, "holder": "梁志明", "holder_id": "44060519800101001X"})).unwrap(),
                status: tudi_homestead::registry::CertificateStatus::Valid,
                revoked_at: None,
                revoke_reason: None,
                village: village.into(),
                town: village[..9].into(),
                application: "matrix".into(),
                issued_at: jiff::Timestamp::now(),
            };
            store
                .write_records(
                    &c,
                    &[tudi_store::RecordWrite {
                        collection: "certificate".into(),
                        id: id.clone(),
                        expect: tudi_store::Expect::Absent,
                        body: Some(serde_json::to_value(&cert).unwrap()),
                        keys: vec![("village".into(), village.into()), ("status".into(), "valid".into())],
                        detail: None,
                    }],
                )
                .unwrap();
            id
        };
        let certificates = [certify(1, VILLAGE_IN), certify(2, HOMESTEAD_OUT)];
        let proof = |id: &str| {
            let rec = store.record("certificate", id).unwrap().unwrap();
            rec.body["signed"]["signature"].as_str().unwrap()[..16].to_owned()
        };
        let proofs = [proof(&certificates[0]), proof(&certificates[1])];
        // Registered rights, written as registration would, each with a lease under way.
        let register = |n: usize, village: &str| {
            let code = format!("{village}JC{n:05}F00010001");
            let right = json!({
                "unit_code": code, "parcel_code": format!("{village}JC{n:05}W00000000"),
                "holder": "梁志明", "household": ["44060519800101001X"], "village": village,
                "application": "matrix", "certificate": certificates[n - 1], "land_area_m2": 72.0,
                "floor_area_m2": 175.0, "site": null, "registered_at": jiff::Timestamp::now(),
                "status": "held", "on_map": true,
            });
            store
                .write_records(
                    &c,
                    &[tudi_store::RecordWrite {
                        collection: "homestead_right".into(),
                        id: code.clone(),
                        expect: tudi_store::Expect::Absent,
                        body: Some(right),
                        keys: vec![("village".into(), village.into())],
                        detail: None,
                    }],
                )
                .unwrap();
            let lease = serde_json::from_value(json!({"kind": "lease", "right": code,
                "lessee": "陈某", "lessee_id": "440605198203020021", "from": "2027-01-01",
                "to": "2029-12-31", "rent_yuan_per_year": 24000, "purpose": "居住"}))
            .unwrap();
            let event = homesteads
                .submit_event(&clerk, lease, jiff::Timestamp::now())
                .unwrap()
                .event
                .id;
            (code, event)
        };
        let (r_in, e_in) = register(1, VILLAGE_IN);
        let (r_out, e_out) = register(2, HOMESTEAD_OUT);
        let state = AppState::new(store.clone()).with_auth(AuthConfig::for_tests());
        // Survey projects: the demo firm's own (inside) and another firm's; a package submitted
        // to each (left queued: no check runs here).
        let (survey_projects, submissions) = {
            let mut projects = Vec::new();
            let mut subs = Vec::new();
            for firm in [tudi_access::demo::DEMO_FIRM, "乙测绘有限公司"] {
                let p = tudi_quality::survey::register(
                    &*store,
                    &c,
                    &serde_json::from_value(json!({"name": format!("{firm} 项目"),
                        "kind": "cadastral", "client": "区自然资源局", "firm": firm,
                        "deadline": "2027-01-31"}))
                    .unwrap(),
                )
                .unwrap();
                let sub = tudi_quality::survey::submit(
                    &*store,
                    &c,
                    &p.id,
                    "p.gpkg",
                    b"SQLite format 3\0not really",
                )
                .unwrap();
                projects.push(p.id);
                subs.push(sub.id);
            }
            (
                [projects[0].clone(), projects[1].clone()],
                [subs[0].clone(), subs[1].clone()],
            )
        };
        let farmland_project = {
            let p = tudi_farmland::project::register(
                &*store,
                &c,
                serde_json::from_value(json!({"name": "矩阵垦造项目", "kind": "reclamation",
                    "grade": 6, "new_paddy_m2": 100,
                    "geometry": {"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.001, 23.0], [113.001, 23.001], [113.0, 23.001], [113.0, 23.0]]]}}))
                .unwrap(),
            )
            .unwrap();
            let ledger = tudi_farmland::ledger::Ledger::new(&*store, "440605");
            tudi_farmland::project::accept(&ledger, &c, &p.id, "2026-01-05".parse().unwrap(), "验〔2026〕1号")
                .unwrap();
            p.id
        };
        let farmland_chief = tudi_farmland::chief::appoint(
            &*store,
            "440605",
            &c,
            serde_json::from_value(json!({"name": "矩阵田长", "level": "village",
                "area": VILLAGE_IN, "appointed_on": "2026-01-05"}))
            .unwrap(),
        )
        .unwrap()
        .id;
        World {
            farmland_chief,
            farmland_project,
            survey_projects,
            submissions,
            _dir: dir,
            store,
            state,
            callers,
            parcel,
            tokens: [t_in, t_out],
            orders,
            points: [p_in, p_out],
            applications,
            certificates,
            proofs,
            attachments: [a_in, a_out],
            documents,
            rights: [r_in, r_out],
            events: [e_in, e_out],
        }
    })
}

async fn call(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, axum::http::HeaderMap) {
    call_on(&world().state, method, uri, token, body, headers).await
}

async fn call_on(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "example.test");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // A JSON string body is sent as an HTML form (Open311 posts forms).
    let body = match body {
        Some(Value::String(form)) => {
            req = req.header("content-type", "application/x-www-form-urlencoded");
            Body::from(form)
        }
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let res = router(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        // Not JSON (an XML answer): the text itself.
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        headers,
    )
}

/// Every `.route(…)` registered in the server's sources, as (method, path).
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + 7..];
            let mut depth = 1;
            let end = rest.char_indices().find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            });
            let call = &rest[..end.map_or(rest.len(), |(i, _)| i)];
            let path = call.split('"').nth(1).unwrap().to_owned();
            for m in ["get", "post", "put", "patch", "delete"] {
                let mut s = call;
                while let Some(j) = s.find(&format!("{m}(")) {
                    let before = s[..j].chars().last();
                    if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
                        out.insert((m.to_uppercase(), path.clone()));
                    }
                    s = &s[j + 1..];
                }
            }
        }
    }
    out
}

#[test]
fn every_route_has_an_access_rule_and_every_rule_a_route() {
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "no route is listed twice");
    let sources = routes_in_sources();
    let missing: Vec<_> = sources.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes without an access rule in routes.rs: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&sources).collect();
    assert!(
        stale.is_empty(),
        "rules for routes that do not exist: {stale:?}"
    );
}

/// Who may call each route: the product's rules, stated here independently of the policy.
fn allowed(method: &str, path: &str, caller: &str, role: Option<Role>, inside: bool) -> bool {
    use Role::*;
    // The bureau and the villages; a survey firm sees only its own projects and public layers.
    let staff = role.is_some_and(|r| r != Public && r != SurveyFirm);
    let district_admin = caller == "admin";
    let any_admin = role == Some(Admin);
    let scoped_admin = district_admin || (any_admin && inside);
    let guard = ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap()
        .guard;
    match (method, path) {
        // The operator's addresses or metrics token only, never an account (these calls come
        // from no address): crates/cli/tests/serving.rs tests whom it answers.
        (_, "/metrics") => false,
        (_, "/api/v1/compliance") => {
            role.is_some_and(|r| ![Public, HotlineAgent, SurveyFirm].contains(&r))
        }
        (_, "/api/v1/status") => any_admin,
        // Staff; the layer's own reading rule then applies (parcels: every staff role).
        (_, "/api/v1/layers/{id}/checks") => staff,
        ("PUT", "/api/v1/layers/{id}/access") | (_, "/api/v1/audit/verify") => district_admin,
        ("POST", "/api/v1/tokens") => staff,
        (_, "/api/v1/users") if method == "GET" => any_admin,
        (_, p) if p.starts_with("/api/v1/users") || p == "/api/v1/tokens/{id}" => scoped_admin,
        // Work orders: the district-level staff cover every cell; the others only their own.
        ("POST", "/api/v1/orders" | "/open311/v2/requests.json" | "/open311/v2/requests.xml") => {
            [Some(HotlineAgent)].contains(&role)
                || district_admin
                || (inside && [Some(Admin), Some(GridInspector)].contains(&role))
        }
        (
            "GET",
            "/api/v1/orders"
            | "/api/v1/orders/stats"
            | "/api/v1/orders/responsibilities"
            | "/api/v1/orders/roster",
        ) => staff,
        (
            "PUT",
            "/api/v1/orders/responsibilities"
            | "/api/v1/orders/roster"
            | "/api/v1/orders/categories"
            | "/api/v1/calendar/holidays",
        ) => district_admin,
        // Supervision of the whole district's deadlines: the district-level supervisors.
        ("POST", "/api/v1/orders/supervise") => {
            district_admin || ["rexian.zuoxi", "zhiban.lingdao"].contains(&caller)
        }
        ("POST", "/api/v1/orders/duplicates") => {
            [Some(Admin), Some(HotlineAgent), Some(GridInspector)].contains(&role)
        }
        // Those taking part in the order: intake, supervision and dispatch where it lies, and
        // the unit it was sent to (inside: the town's office; outside: 自然资源).
        ("POST", "/api/v1/orders/{number}/attachments") => {
            ["admin", "rexian.zuoxi", "zhiban.lingdao"].contains(&caller)
                || inside && ["town.admin", "zhenjie.shenhe", "wangge.xunjian"].contains(&caller)
                || !inside && caller == "bumen.zrzy"
        }
        ("GET", "/api/v1/orders/{number}" | "/api/v1/orders/{number}/attachments/{sha256}") => {
            staff && (inside || district_level(caller))
        }
        // 签收 is for the unit the order was sent to, exactly.
        ("POST", "/api/v1/orders/{number}/steps") => {
            if inside {
                caller == "zhenjie.shenhe"
            } else {
                caller == "bumen.zrzy"
            }
        }
        // Homesteads: district-level readers everywhere; the town and village of the application
        // (the demo's, and `target.in` in the same village) inside only.
        (
            "GET",
            "/api/v1/homestead/applications"
            | "/api/v1/certificates"
            | "/api/v1/homestead/ledger"
            | "/api/v1/homestead/stats"
            | "/api/v1/homestead/events",
        ) => [
            Some(Admin),
            Some(DistrictApprover),
            Some(DepartmentHandler),
            Some(TownReviewer),
            Some(VillageClerk),
        ]
        .contains(&role),
        (
            "GET",
            "/api/v1/homestead/applications/{id}"
            | "/api/v1/homestead/applications/{id}/documents/{sha256}"
            | "/api/v1/homestead/events/{id}"
            | "/api/v1/homestead/rights/{code}"
            | "/api/v1/certificates/{id}"
            | "/api/v1/certificates/{id}/pdf",
        ) => {
            ["admin", "quju.shenpi", "bumen.zrzy"].contains(&caller)
                || inside
                    && ["town.admin", "zhenjie.shenhe", "cunju.jingban", "target.in"]
                        .contains(&caller)
        }
        ("POST", "/api/v1/homestead/applications" | "/api/v1/homestead/events") => {
            caller == "admin"
                || inside
                    && ["town.admin", "zhenjie.shenhe", "cunju.jingban", "target.in"]
                        .contains(&caller)
        }
        (
            "POST",
            "/api/v1/homestead/applications/{id}/actions" | "/api/v1/homestead/events/{id}/actions",
        ) => {
            ["quju.shenpi", "bumen.zrzy"].contains(&caller)
                || inside && ["zhenjie.shenhe", "cunju.jingban", "target.in"].contains(&caller)
        }
        // Documents: those who take applications in or review them there.
        ("POST", "/api/v1/homestead/applications/{id}/documents") => {
            ["admin", "quju.shenpi", "bumen.zrzy"].contains(&caller)
                || inside
                    && ["town.admin", "zhenjie.shenhe", "cunju.jingban", "target.in"]
                        .contains(&caller)
        }
        (_, "/api/v1/homestead/collectives/{village}") => {
            caller == "admin"
                || inside && ["town.admin", "cunju.jingban", "target.in"].contains(&caller)
        }
        ("POST", "/api/v1/certificates/{id}/revoke") => caller == "quju.shenpi",
        // Survey work: the bureau's district-level staff read it all; the firm its own projects
        // (inside) only; the approver and the department manage; only the firm submits.
        ("GET", "/api/v1/survey/projects" | "/api/v1/survey/firms") => [
            "admin",
            "quju.shenpi",
            "bumen.zrzy",
            "zhiban.lingdao",
            "cehui.danwei",
        ]
        .contains(&caller),
        ("POST", "/api/v1/survey/projects") => ["quju.shenpi", "bumen.zrzy"].contains(&caller),
        (
            "GET",
            "/api/v1/survey/projects/{id}"
            | "/api/v1/survey/submissions/{id}"
            | "/api/v1/survey/submissions/{id}/files/{file}",
        ) => {
            ["admin", "quju.shenpi", "bumen.zrzy", "zhiban.lingdao"].contains(&caller)
                || inside && caller == "cehui.danwei"
        }
        ("POST", "/api/v1/survey/projects/{id}/submissions") => inside && caller == "cehui.danwei",
        ("POST", "/api/v1/survey/submissions/{id}/actions") => {
            ["quju.shenpi", "bumen.zrzy"].contains(&caller)
        }
        // The farmland ledger is the district's: its district-level staff read it; the approver
        // and the departments post.
        (
            "GET",
            "/api/v1/farmland/balances"
            | "/api/v1/farmland/journal"
            | "/api/v1/farmland/postings/{no}"
            | "/api/v1/farmland/projects"
            | "/api/v1/farmland/projects/{id}"
            | "/api/v1/farmland/inout"
            | "/api/v1/farmland/chiefs"
            | "/api/v1/farmland/chiefs/{id}"
            | "/api/v1/farmland/patrols"
            | "/api/v1/farmland/patrols/report"
            | "/api/v1/farmland/compensation",
        ) => ["admin", "quju.shenpi", "bumen.zrzy", "zhiban.lingdao"].contains(&caller),
        // Patrols are recorded by the village's cadres and grid inspectors in their own cells
        // (whether they are its chief, the roster says: 409 when not).
        ("POST", "/api/v1/farmland/patrols") => {
            inside && ["cunju.jingban", "wangge.xunjian", "target.in"].contains(&caller)
        }
        ("POST" | "PUT", p) if p.starts_with("/api/v1/farmland/") => {
            ["quju.shenpi", "bumen.zrzy"].contains(&caller)
        }
        (_, "/api/v1/audit") => {
            [Some(Admin), Some(DistrictApprover), Some(DutyLeader)].contains(&role)
                && (caller != "town.admin" || inside)
                || role == Some(TownReviewer) && inside
        }
        _ => match guard {
            Guard::Public => true,
            Guard::SignedIn => role.is_some(),
            Guard::Layer => staff,
            Guard::InHandler(tudi_access::Action::MapRead) => true,
            other => panic!("no expectation for {method} {path} ({other:?})"),
        },
    }
}

/// The demo accounts whose roles are bound to the whole district.
fn district_level(caller: &str) -> bool {
    [
        "admin",
        "quju.shenpi",
        "bumen.zrzy",
        "rexian.zuoxi",
        "zhiban.lingdao",
    ]
    .contains(&caller)
}

fn concrete(path: &str, inside: bool, n: usize) -> (String, Option<Value>) {
    let w = world();
    let i = usize::from(!inside);
    let (village, p) = if inside {
        (VILLAGE_IN, w.points[0])
    } else {
        (HOMESTEAD_OUT, w.points[1])
    };
    let homestead = match path {
        "/api/v1/homestead/applications" => {
            Some((path.to_owned(), Some(homestead_form(village, p))))
        }
        "/api/v1/homestead/applications/{id}" => Some((
            format!("/api/v1/homestead/applications/{}", w.applications[i]),
            None,
        )),
        // A comment: anyone the policy admits may comment (200, or 409 once the revision moved).
        "/api/v1/homestead/applications/{id}/actions" => Some((
            format!(
                "/api/v1/homestead/applications/{}/actions",
                w.applications[i]
            ),
            Some(json!({"revision": 1, "action": "comment", "task": 1, "text": "矩阵"})),
        )),
        // Not a photo: callers the policy admits get 400, others 403.
        "/api/v1/homestead/applications/{id}/documents" => Some((
            format!(
                "/api/v1/homestead/applications/{}/documents?revision=1&name=x.jpg",
                w.applications[i]
            ),
            Some(Value::String("not a photo".into())),
        )),
        "/api/v1/homestead/applications/{id}/documents/{sha256}" => Some((
            format!(
                "/api/v1/homestead/applications/{}/documents/{}",
                w.applications[i], w.documents[i]
            ),
            None,
        )),
        // A lease ending before it starts: callers the policy admits get 400, others 403.
        "/api/v1/homestead/events" => Some((
            path.to_owned(),
            Some(json!({"kind": "lease", "right": w.rights[i], "lessee": "x",
                "lessee_id": "440605198203020021", "from": "2027-01-01", "to": "2026-01-01",
                "rent_yuan_per_year": 1, "purpose": "居住"})),
        )),
        "/api/v1/homestead/events/{id}" => Some((path.replace("{id}", &w.events[i]), None)),
        "/api/v1/homestead/events/{id}/actions" => Some((
            path.replace("{id}", &w.events[i]),
            Some(json!({"revision": 1, "action": "comment", "task": 1, "text": "矩阵"})),
        )),
        "/api/v1/homestead/rights/{code}" => Some((path.replace("{code}", &w.rights[i]), None)),
        "/api/v1/survey/projects/{id}" => Some((path.replace("{id}", &w.survey_projects[i]), None)),
        // Not a package: the firm gets 422, others 403 or 404.
        "/api/v1/survey/projects/{id}/submissions" => Some((
            format!(
                "{}?name=x.gpkg",
                path.replace("{id}", &w.survey_projects[i])
            ),
            Some(Value::String("not a package".into())),
        )),
        "/api/v1/survey/submissions/{id}" => Some((path.replace("{id}", &w.submissions[i]), None)),
        "/api/v1/survey/submissions/{id}/files/{file}" => Some((
            path.replace("{id}", &w.submissions[i])
                .replace("{file}", "package"),
            None,
        )),
        // A queued submission cannot be returned yet: those who decide get 409, others 403.
        "/api/v1/survey/submissions/{id}/actions" => Some((
            path.replace("{id}", &w.submissions[i]),
            Some(json!({"action": "return", "reason": "矩阵"})),
        )),
        "/api/v1/farmland/postings/{no}" => Some((path.replace("{no}", "1"), None)),
        "/api/v1/farmland/chiefs/{id}" => Some((path.replace("{id}", &w.farmland_chief), None)),
        // A period ending before it starts: the ledger's posters get 400, others 403.
        "/api/v1/farmland/chiefs/{id}/pledge" => Some((
            path.replace("{id}", &w.farmland_chief),
            Some(
                json!({"document": "x", "signed_on": "2026-01-01", "from": "2026-12-31", "to": "2026-01-01"}),
            ),
        )),
        // The village's cadres get 409 (they are not its chief), others 403.
        "/api/v1/farmland/patrols" => Some((
            path.to_owned(),
            Some(
                json!({"cell": format!("{village}001"), "started_at": "2026-11-03T01:00:00Z",
                "ended_at": "2026-11-03T02:00:00Z",
                "track": {"type": "LineString", "coordinates": [[113.1, 23.0], [113.1001, 23.0]]}}),
            ),
        )),
        // No reason: the ledger's posters get 400, others 403; nothing is reversed.
        "/api/v1/farmland/postings/{no}/reversal" => {
            Some((path.replace("{no}", "1"), Some(json!({"reason": " "}))))
        }
        "/api/v1/farmland/projects/{id}" => Some((path.replace("{id}", &w.farmland_project), None)),
        // Accepted already: the ledger's posters get 409, others 403.
        "/api/v1/farmland/projects/{id}/acceptance" => Some((
            path.replace("{id}", &w.farmland_project),
            Some(json!({"accepted_on": "2026-01-05", "document": "验〔2026〕1号"})),
        )),
        "/api/v1/homestead/collectives/{village}" => Some((
            format!("/api/v1/homestead/collectives/{village}"),
            Some(json!({"members": []})),
        )),
        "/api/v1/certificates/{id}/verify" | "/verify/{id}" => Some((
            format!(
                "{}?s={}",
                path.replace("{id}", &w.certificates[i]),
                w.proofs[i]
            ),
            None,
        )),
        "/api/v1/certificates/{id}" | "/api/v1/certificates/{id}/pdf" => {
            Some((path.replace("{id}", &w.certificates[i]), None))
        }
        // No reason: the district's approver gets 400, others 403; the certificate stays valid.
        "/api/v1/certificates/{id}/revoke" => Some((
            path.replace("{id}", &w.certificates[i]),
            Some(json!({"reason": " "})),
        )),
        _ => None,
    };
    if let Some(found) = homestead {
        return found;
    }
    let target = if inside { "target.in" } else { "target.out" };
    let village = if inside { VILLAGE_IN } else { VILLAGE_OUT };
    let uri = path
        .replace("{id}/access", "parcels/access")
        .replace(
            "tokens/{id}",
            &format!("tokens/{}", w.tokens[usize::from(!inside)]),
        )
        .replace("{id}", "parcels")
        .replace("{fid}", &w.parcel)
        .replace("{z}/{y}/{x}", "14/7138/13344")
        .replace("maplibre-gl/{file}", "maplibre-gl/maplibre-gl.js")
        .replace("{name}", target)
        .replace("{sha256}", &w.attachments[usize::from(!inside)])
        .replace("{number}", &w.orders[usize::from(!inside)])
        .replace(
            "{file}",
            &format!("{}.json", w.orders[usize::from(!inside)]),
        );
    let uri = match path {
        "/api/v1/orders/{number}/attachments" => format!("{uri}?version=1&name=x.jpg"),
        _ => uri,
    };
    let uri = match uri.as_str() {
        "/api/v1/audit" => format!("/api/v1/audit?resource=user:{target}"),
        "/api/v1/search" => "/api/v1/search?q=村".into(),
        "/api/v1/orders/stats" => "/api/v1/orders/stats?from=2026-01-01&to=2026-12-31".into(),
        _ => uri,
    };
    let body = match path {
        "/api/v1/compliance" => Some(
            json!({"geometry": {"type": "Polygon", "coordinates": [[[113.1, 23.0], [113.1001, 23.0], [113.1001, 23.0001], [113.1, 23.0]]]}, "rule_set": "宅基地选址"}),
        ),
        "/api/v1/users" => Some(
            json!({"username": format!("new.{n}"), "password": "Test-password-1", "roles": [{"role": "village_clerk", "scope": village}]}),
        ),
        "/api/v1/users/{name}" => Some(json!({"display_name": format!("改名{n}")})),
        "/api/v1/users/{name}/password" => Some(json!({"password": "Reset-password-2"})),
        // No name: the bureau's managers get 400, others 403.
        "/api/v1/survey/projects" => Some(
            json!({"name": " ", "kind": "cadastral", "client": "x", "firm": "x", "deadline": "2027-01-01"}),
        ),
        "/api/v1/tokens" => Some(json!({"name": "矩阵测试"})),
        // Negative amounts, no name: the ledger's posters get 400, others 403.
        "/api/v1/farmland/postings" => Some(
            json!({"movement": "freeze", "amounts": {"farmland_m2": -1}, "document": "x", "reason": "x"}),
        ),
        "/api/v1/farmland/chiefs" => Some(
            json!({"name": "错", "level": "village", "area": "440605", "appointed_on": "2026-01-05"}),
        ),
        "/api/v1/farmland/patrol-rule" => Some(json!({"village_per_cell": 99, "grid_per_cell": 1})),
        // No rates: the ledger's posters get 400, others 403.
        "/api/v1/farmland/compensation/rates" => {
            Some(json!({"yuan_per_mu": {}, "document": "矩阵"}))
        }
        // A town of another district: the ledger's posters get 400, others 403.
        "/api/v1/farmland/inout/plan" => {
            Some(json!({"year": 2026, "towns": [{"town": "440606101"}]}))
        }
        "/api/v1/farmland/projects" => Some(
            json!({"name": " ", "kind": "reclamation", "grade": 6, "geometry": {"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.001, 23.0], [113.001, 23.001], [113.0, 23.0]]]}}),
        ),
        "/api/v1/layers/{id}/access" => Some(json!({"public": false})),
        "/api/v1/auth/login" => Some(json!({"username": "nobody", "password": "x"})),
        "/api/v1/orders" => Some(
            json!({"channel": "hotline", "category": "SJ0401", "description": format!("矩阵测试 {n}"), "location": w.points[usize::from(!inside)]}),
        ),
        "/open311/v2/requests.json" | "/open311/v2/requests.xml" => {
            let [lon, lat] = w.points[usize::from(!inside)];
            Some(Value::String(format!(
                "service_code=SJ0401&description=open311-{n}&lat={lat}&long={lon}"
            )))
        }
        "/api/v1/orders/duplicates" => Some(
            json!({"category": "SJ0401", "location": w.points[usize::from(!inside)], "description": "矩阵测试"}),
        ),
        // An invalid list and roster: the district administrator gets 400, others 403; the
        // demo's own stay as they are.
        "/api/v1/orders/responsibilities" => Some(
            json!({"entries": [{"category": "ZZ99", "area": "440605", "unit": {"kind": "town", "code": "x", "name": "x"}, "valid_from": "2026-01-01", "valid_to": null}]}),
        ),
        "/api/v1/calendar/holidays" => Some(Value::String("2026-10-01\tholiday\tx".into())),
        "/api/v1/orders/categories" => Some(Value::String("01\t-\tthing\tx\tx\t1\t1".into())),
        "/api/v1/orders/roster" => Some(
            json!({"entries": [{"from": "2026-11-30", "to": "2026-11-01", "leader": "x", "name": "x"}]}),
        ),
        // Not a photo: callers the policy admits get 400, others 403.
        "/api/v1/orders/{number}/attachments" => Some(Value::String("not a photo".into())),
        // Not allowed in the order's state: callers the policy admits get 409, others 403.
        "/api/v1/orders/{number}/steps" => Some(json!({"step": "accept", "version": 1})),
        _ => None,
    };
    (uri, body)
}

#[tokio::test]
async fn every_route_every_role_inside_and_outside_their_jurisdiction() {
    let w = world();
    let denied_before = w
        .store
        .audit_trail(&AuditQuery::default())
        .unwrap()
        .iter()
        .filter(|e| e.outcome == tudi_store::audit::Outcome::Denied)
        .count();
    let mut n = 0;
    let mut checked = 0;
    // Routes that end or change the caller's own session go last.
    let mut routes: Vec<_> = ROUTES.iter().collect();
    routes.sort_by_key(|r| match r.path {
        "/api/v1/auth/password" => 1,
        "/api/v1/auth/logout" => 2,
        _ => 0,
    });
    for route in routes {
        for (label, role, token, password) in &w.callers {
            for inside in [true, false] {
                n += 1;
                let (uri, mut body) = concrete(route.path, inside, n);
                if route.path == "/api/v1/auth/password" {
                    if !inside {
                        continue;
                    }
                    body = Some(
                        json!({"current_password": password, "new_password": format!("{password}-new")}),
                    );
                }
                if route.path == "/api/v1/auth/logout" && inside {
                    continue;
                }
                let (status, problem, _) =
                    call(route.method, &uri, token.as_deref(), body, &[]).await;
                // Open311 answers with GeoReport error lists instead of problem+json.
                let open311 = route.path.starts_with("/open311/");
                // Every resource here exists: a 404 is a refusal that does not tell a caller
                // who may not read it that it exists.
                let refused = status == StatusCode::FORBIDDEN
                    || (status == StatusCode::NOT_FOUND
                        && problem["type"]
                            .as_str()
                            .is_some_and(|t| t.ends_with("/not-found")))
                    || (status == StatusCode::UNAUTHORIZED
                        && (open311
                            || problem["type"]
                                .as_str()
                                .is_some_and(|t| t.ends_with("/unauthenticated"))));
                let want = allowed(route.method, route.path, label, *role, inside);
                assert_eq!(
                    !refused, want,
                    "{} {uri} as {label} (inside: {inside}): {status} {problem}",
                    route.method
                );
                if refused {
                    if role.is_none() {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {uri}", route.method);
                    } else {
                        assert!(
                            [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&status),
                            "{} {uri} as {label}: {status}",
                            route.method
                        );
                    }
                    // Reading something by its id outside one's reach: as if it did not exist.
                    let by_id = route.method == "GET"
                        && [
                            "/api/v1/orders/{number}",
                            "/api/v1/homestead/applications/{id}",
                            "/api/v1/homestead/events/{id}",
                            "/api/v1/homestead/rights/{code}",
                            "/api/v1/certificates/{id}",
                            "/api/v1/survey/projects/{id}",
                            "/api/v1/survey/submissions/{id}",
                        ]
                        .contains(&route.path);
                    if by_id && role.is_some() {
                        assert_eq!(status, StatusCode::NOT_FOUND, "GET {uri} as {label}");
                    }
                    let why = match &problem {
                        Value::String(xml) if open311 => &Value::String(
                            xml.split("<description>").nth(1).unwrap_or("").to_owned(),
                        ),
                        _ if open311 => &problem[0]["description"],
                        _ => &problem["detail"],
                    };
                    assert!(
                        why.as_str().is_some_and(|d| !d.is_empty()),
                        "a refusal says why in Chinese: {} {uri} as {label}: {problem}",
                        route.method
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > ROUTES.len() * w.callers.len());
    let denied_after = w
        .store
        .audit_trail(&AuditQuery::default())
        .unwrap()
        .iter()
        .filter(|e| e.outcome == tudi_store::audit::Outcome::Denied)
        .count();
    assert!(
        denied_after > denied_before,
        "refusals of sensitive actions are audited"
    );
    assert!(w.store.verify_audit().unwrap().is_intact());
}

/// A town reviewer of `TOWN` with the password `Test-password-1`.
fn add_town_reviewer(w: &World, config: &AuthConfig, name: &str) {
    Accounts::new(&*w.store, config)
        .create_user(
            &Change::new("cli", "test.setup"),
            NewUser {
                username: name.into(),
                display_name: None,
                password: "Test-password-1".into(),
                roles: vec![binding(Role::TownReviewer, TOWN)],
                phone: None,
                id_number: None,
            },
        )
        .unwrap();
}

/// Sign-in, the session cookie and its anti-CSRF token, stale cookies, bad bearer tokens, the
/// lockout and the sign-in rate limit, over HTTP. A state of its own, so that its rate limiter
/// starts empty.
#[tokio::test]
async fn sessions_cookies_csrf_and_rate_limits_over_http() {
    let w = world();
    let config = AuthConfig::for_tests();
    for name in ["session.tester", "lock.tester"] {
        add_town_reviewer(w, &config, name);
    }
    let state = AppState::new(w.store.clone()).with_auth(config);
    let login = |cookie: Option<String>, password: &str| {
        let state = state.clone();
        let body = json!({"username": "session.tester", "password": password});
        async move {
            let headers: Vec<(&str, String)> = cookie.into_iter().map(|c| ("cookie", c)).collect();
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call_on(&state, "POST", "/api/v1/auth/login", None, Some(body), &h).await
        }
    };

    // A stale cookie neither blocks public pages nor signing in again; `me` says who is not signed in.
    let stale = "tudi_session=tds_0000".to_owned();
    assert_eq!(
        call_on(
            &state,
            "GET",
            "/ogc/collections",
            None,
            None,
            &[("cookie", &stale)]
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call_on(
            &state,
            "GET",
            "/api/v1/auth/me",
            None,
            None,
            &[("cookie", &stale)]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body, headers) = login(Some(stale.clone()), "Test-password-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && set_cookie.contains("Secure")
    );
    let token = body["token"].as_str().unwrap().to_owned();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let cookie = format!("tudi_session={token}");

    // A bad bearer token is an error even on a public page.
    let (status, problem, _) = call_on(
        &state,
        "GET",
        "/ogc/collections",
        Some("tds_forged"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");

    // Cookie writes need the session's anti-CSRF token, from this origin.
    let new_token = || Some(json!({"name": "对接"}));
    let (status, problem, _) = call_on(
        &state,
        "POST",
        "/api/v1/tokens",
        None,
        new_token(),
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(
        (
            status,
            problem["type"].as_str().unwrap().ends_with("/csrf-failed")
        ),
        (StatusCode::FORBIDDEN, true)
    );
    let (status, _, _) = call_on(
        &state,
        "POST",
        "/api/v1/tokens",
        None,
        new_token(),
        &[("cookie", &cookie), ("x-csrf-token", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call_on(
        &state,
        "POST",
        "/api/v1/tokens",
        None,
        new_token(),
        &[
            ("cookie", &cookie),
            ("x-csrf-token", &csrf),
            ("origin", "https://evil.test"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call_on(
        &state,
        "POST",
        "/api/v1/tokens",
        None,
        new_token(),
        &[
            ("cookie", &cookie),
            ("x-csrf-token", &csrf),
            ("origin", "http://example.test"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // After signing out and in again, the old anti-CSRF token is refused (replayed).
    let (status, _, _) = call_on(
        &state,
        "POST",
        "/api/v1/auth/logout",
        None,
        None,
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body, _) = login(None, "Test-password-1").await;
    let cookie2 = format!("tudi_session={}", body["token"].as_str().unwrap());
    let (status, _, _) = call_on(
        &state,
        "POST",
        "/api/v1/tokens",
        None,
        new_token(),
        &[("cookie", &cookie2), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let denials = w
        .store
        .audit_trail(&AuditQuery {
            resource: Some("user:session.tester".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(
        denials.iter().any(|e| e.action == "denied.csrf"),
        "refused CSRF attempts are audited"
    );

    // Wrong passwords: 401 four times, then the account is locked (429); after ten failed
    // attempts in a minute from one address the sign-in itself is rate-limited (429 with
    // Retry-After). The two successful sign-ins above do not count.
    let mut kinds = Vec::new();
    for _ in 0..11 {
        let (status, problem, headers) = call_on(
            &state,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "lock.tester", "password": "wrong-password-9"})),
            &[],
        )
        .await;
        let kind = problem["type"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        if kind == "login-rate-limited" {
            assert!(headers.contains_key("retry-after"));
        }
        kinds.push((status.as_u16(), kind));
    }
    let expect: Vec<(u16, String)> = [(401, "bad-credentials"); 4]
        .into_iter()
        .chain([(429, "account-locked"); 6])
        .chain([(429, "login-rate-limited"); 1])
        .map(|(s, k)| (s, k.to_owned()))
        .collect();
    assert_eq!(kinds, expect);
}

/// A session past its lifetime: the bearer form gets 401 "登录已过期" (so a script knows to sign in
/// again), the cookie form is treated as signed out, and neither can write.
#[tokio::test]
async fn an_expired_session_is_refused_over_http() {
    let w = world();
    let config = AuthConfig {
        session_ttl: jiff::SignedDuration::from_millis(400),
        ..AuthConfig::for_tests()
    };
    add_town_reviewer(w, &config, "expiry.tester");
    let state = AppState::new(w.store.clone()).with_auth(config);
    let (status, body, _) = call_on(
        &state,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "expiry.tester", "password": "Test-password-1"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let cookie = format!("tudi_session={token}");
    let (status, _, _) = call_on(&state, "GET", "/api/v1/auth/me", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "fresh session works");

    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    let (status, problem, _) =
        call_on(&state, "GET", "/api/v1/auth/me", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/session-expired"),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("过期"),
        "{problem}"
    );
    let (status, _, _) = call_on(
        &state,
        "GET",
        "/api/v1/auth/me",
        None,
        None,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call_on(
        &state,
        "POST",
        "/api/v1/tokens",
        None,
        Some(json!({"name": "过期后"})),
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no write on an expired session"
    );
    let issued = w
        .store
        .audit_trail(&AuditQuery {
            actor: Some("user:expiry.tester".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(
        !issued.iter().any(|e| e.action == "token.issue"),
        "nothing was issued: {issued:?}"
    );
}
