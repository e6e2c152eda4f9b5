//! The farmland quota ledger over the API, as the bureau uses it: a compensation project
//! registered and accepted into the pool, a higher level's freeze posted once however often it
//! is sent, a reversal, the journal filtered and paged, balances now and as of an instant, and
//! bad requests refused by field with nothing posted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{call_json, demo, state};
use serde_json::json;
use tudi_access::accounts::{Accounts, AuthConfig, NewUser};
use tudi_access::{Binding, Jurisdiction, Role};
use tudi_store::Change;

fn login(name: &str, role: Role, scope: &str) -> String {
    let store = &*demo().store;
    let change = Change::new("cli", "test.setup");
    let config = AuthConfig::for_tests();
    let acc = Accounts::new(store, &config);
    acc.create_user(
        &change,
        NewUser {
            username: name.into(),
            display_name: None,
            password: "Test-password-1".into(),
            roles: vec![Binding {
                role,
                scope: Jurisdiction::parse(scope).unwrap(),
                department: (role == Role::DepartmentHandler).then(|| "自然资源".to_owned()),
            }],
            phone: None,
            id_number: None,
        },
    )
    .unwrap();
    acc.login(&change, name, "Test-password-1").unwrap().0
}

#[tokio::test]
async fn the_bureau_keeps_its_quota_ledger_over_the_api() {
    let st = state();
    let bureau = login("fl.approver", Role::DistrictApprover, "440605");
    let leader = login("fl.leader", Role::DutyLeader, "440605");
    let call =
        |token: String, method: &'static str, uri: String, body: Option<serde_json::Value>| {
            let st = st.clone();
            async move { call_json(&st, Some(&token), method, &uri, body).await }
        };

    let (status, project, _) = call(
        bureau.clone(),
        "POST",
        "/api/v1/farmland/projects".into(),
        Some(json!({"name": "里水镇垦造水田项目", "kind": "reclamation", "grade": 5,
            "new_paddy_m2": 10000, "aftercare_years": 3,
            "geometry": {"type": "Polygon", "coordinates": [[[113.16, 23.20], [113.162, 23.20], [113.162, 23.202], [113.16, 23.202], [113.16, 23.20]]]}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let id = project["id"].as_str().unwrap().to_owned();
    assert_eq!(project["status"], "登记");
    // The area drawn is the new farmland: about 4.3 ha at 23°N.
    let farmland = project["adds"]["farmland_m2"].as_f64().unwrap();
    assert!((40_000.0..48_000.0).contains(&farmland), "{project}");

    let before_intake = jiff::Timestamp::now();
    let (status, accepted, _) = call(
        bureau.clone(),
        "POST",
        format!("/api/v1/farmland/projects/{id}/acceptance"),
        Some(json!({"accepted_on": "2026-11-30", "document": "南自然资验〔2026〕9号"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["acceptance"]["aftercare_until"], "2029-11-30");
    let (status, again, _) = call(
        bureau.clone(),
        "POST",
        format!("/api/v1/farmland/projects/{id}/acceptance"),
        Some(json!({"accepted_on": "2026-11-30", "document": "南自然资验〔2026〕9号"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // A freeze, sent twice with one request id: posted once.
    let freeze = json!({"movement": "freeze", "request_id": "粤冻-2026-12",
        "amounts": {"farmland_m2": 3333.33, "paddy_m2": 1000, "capacity_kg": 2500},
        "document": "粤自然资冻〔2026〕12号", "reason": "卫片图斑未整改"});
    let (status, posted, _) = call(
        bureau.clone(),
        "POST",
        "/api/v1/farmland/postings".into(),
        Some(freeze.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let no = posted["no"].as_u64().unwrap();
    let (status, replay, _) = call(
        bureau.clone(),
        "POST",
        "/api/v1/farmland/postings".into(),
        Some(freeze),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{replay}");
    assert!(
        replay["detail"].as_str().unwrap().contains("未重复记账"),
        "{replay}"
    );

    // Bad requests: by field, nothing posted.
    for (body, field) in [
        (
            json!({"movement": "freeze", "amounts": {"farmland_m2": 1, "paddy_m2": -5}, "document": "x", "reason": "x"}),
            "amounts",
        ),
        (
            json!({"movement": "transfer", "direction": "out", "county": "44060", "amounts": {"farmland_m2": 1}, "prices": {}, "amount_wan": 1, "document": "x"}),
            "county",
        ),
        (
            json!({"movement": "unfreeze", "amounts": {"farmland_m2": 99999999}, "document": "x", "reason": "x"}),
            "",
        ),
    ] {
        let (status, problem, _) = call(
            bureau.clone(),
            "POST",
            "/api/v1/farmland/postings".into(),
            Some(body.clone()),
        )
        .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT,
            "{body}: {status} {problem}"
        );
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
    }
    let (status, problem, _) = call(bureau.clone(), "POST", "/api/v1/farmland/postings".into(), Some(json!({"movement": "freeze", "amounts": {"farmland_mu": 1}, "document": "x", "reason": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");

    // The duty leader reads; the journal by account, newest first.
    let (status, page, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/journal?account=frozen:440605".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["postings"][0]["no"], no);
    let (status, problem, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/journal?account=bank:1".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    // The leader may not post.
    let (status, _, _) = call(
        leader.clone(),
        "POST",
        format!("/api/v1/farmland/postings/{no}/reversal"),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, balances, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/balances".into(),
        None,
    )
    .await;
    let pool = balances["pool"]["amounts"]["farmland_m2"].as_f64().unwrap();
    assert!((pool - (farmland - 3333.33)).abs() < 0.005, "{balances}");
    assert!(
        balances["pool"]["shown"]["farmland"]["mu"]
            .as_f64()
            .unwrap()
            > 60.0
    );

    // The ledger as Excel: balances and the journal, opened by calamine.
    for uri in [
        "/api/v1/farmland/balances?format=xlsx",
        "/api/v1/farmland/journal?format=xlsx",
    ] {
        let (status, _, bytes) = call(leader.clone(), "GET", uri.into(), None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        use calamine::Reader;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        let text: Vec<String> = sheet
            .rows()
            .flat_map(|r| r.iter().map(ToString::to_string))
            .collect();
        assert!(
            text.iter().any(|t| t.contains("pool:440605")),
            "{uri}: {text:?}"
        );
    }
    let (status, problem, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/journal?format=pdf".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    // 进出平衡: a town's conversion out, its plan, the year's report by town, and Excel.
    let (status, out, _) = call(bureau.clone(), "POST", "/api/v1/farmland/postings".into(), Some(json!({
        "movement": "conversion_out", "town": "440605121", "amounts": {"farmland_m2": 2000, "capacity_kg": 1500},
        "to_use": "0201", "source": "survey_change", "document": "变更调查 JJ-1"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let year = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .year();
    let (status, report, _) = call(bureau.clone(), "PUT", "/api/v1/farmland/inout/plan".into(), Some(json!({
        "year": year, "document": "南府进出平衡方案",
        "towns": [{"town": "440605121", "planned_out": {"farmland_m2": 3000}, "planned_in": {"farmland_m2": 3000}}]}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (_, report, _) = call(
        leader.clone(),
        "GET",
        format!("/api/v1/farmland/inout?year={year}"),
        None,
    )
    .await;
    let jiujiang = report["towns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["town"] == "440605121")
        .unwrap();
    assert_eq!(jiujiang["out"]["farmland"]["m2"], 2000.0, "{report}");
    assert_eq!(jiujiang["owed"]["farmland"]["m2"], 2000.0, "{report}");
    assert_eq!(jiujiang["planned_in"]["farmland"]["m2"], 3000.0, "{report}");
    let (status, _, bytes) = call(
        leader.clone(),
        "GET",
        format!("/api/v1/farmland/inout?year={year}&format=xlsx"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.starts_with(b"PK"), "an xlsx is a zip");
    let (status, _, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/inout?year=1900".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // 耕地保护补偿: refused until rates are set; then the payment list by collective, and Excel.
    let (status, _, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/compensation".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, rates, _) = call(
        bureau.clone(),
        "PUT",
        "/api/v1/farmland/compensation/rates".into(),
        Some(json!({
        "yuan_per_mu": {"10": 300}, "basic_farmland_extra": 200, "document": "南府耕保补偿标准"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rates}");
    let (status, list, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/compensation?year=2026".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list["total_yuan"].as_f64().unwrap() > 0.0, "{list}");
    assert!(list["payees"].as_array().unwrap().len() > 10);
    let (status, _, bytes) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/compensation?format=xlsx".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.starts_with(b"PK"));
    // Reversed, with the reason; then the pool is whole again.
    let (status, reversal, _) = call(
        bureau.clone(),
        "POST",
        format!("/api/v1/farmland/postings/{no}/reversal"),
        Some(json!({"reason": "省厅撤销冻结"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reversal}");
    let (_, seen, _) = call(
        leader.clone(),
        "GET",
        format!("/api/v1/farmland/postings/{no}"),
        None,
    )
    .await;
    assert_eq!(seen["reversed_by"], reversal["no"]);
    let (_, balances, _) = call(
        leader.clone(),
        "GET",
        "/api/v1/farmland/balances".into(),
        None,
    )
    .await;
    assert!(
        (balances["pool"]["amounts"]["farmland_m2"].as_f64().unwrap() - farmland).abs() < 0.005
    );
    // As of before the intake: nothing of it.
    let at = before_intake.to_string();
    let (_, then, _) = call(
        leader,
        "GET",
        format!("/api/v1/farmland/balances?as_of={at}"),
        None,
    )
    .await;
    let then_pool = then["pool"]["amounts"]["farmland_m2"].as_f64().unwrap();
    assert!(then_pool < pool, "{then}");
}

/// A grid chief's patrol from the phone: a problem found becomes a work order in the 一网统管
/// centre (违法占用耕地, by patrol) and the patrol is found from the order; the month's figures
/// count it; a patrol of someone else's cell is refused.
#[tokio::test]
async fn a_patrol_that_finds_a_problem_opens_a_work_order() {
    use geo::Centroid;
    let st = state();
    let store = &*demo().store;
    let def = store.layer_def("grid").unwrap();
    let back = tudi_geo::crs::Transformer::new(
        tudi_geo::crs::Crs::from_epsg(def.epsg).unwrap(),
        tudi_geo::crs::Crs::CGCS2000,
    )
    .unwrap();
    let cells: Vec<_> = store
        .features("grid", &tudi_store::FeatureQuery::default())
        .unwrap()
        .into_iter()
        .filter(|f| f.attributes["level"] == "微网格")
        .collect();
    let (cell, other) = (&cells[0], &cells[1]);
    let code = cell.attributes["code"].as_str().unwrap().to_owned();
    let c = cell.geometry.centroid().unwrap();
    let (lon, lat) = back.apply(c.x(), c.y()).unwrap();
    let inspector = login("fl.wangge", Role::GridInspector, &code);
    let bureau = login("fl.bureau2", Role::DistrictApprover, "440605");
    let call =
        |token: String, method: &'static str, uri: String, body: Option<serde_json::Value>| {
            let st = st.clone();
            async move { call_json(&st, Some(&token), method, &uri, body).await }
        };
    let (status, chief, _) = call(bureau.clone(), "POST", "/api/v1/farmland/chiefs".into(), Some(json!({
        "name": "何田长", "level": "grid", "area": code, "username": "fl.wangge", "appointed_on": "2026-01-05"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{chief}");
    let id = chief["id"].as_str().unwrap().to_owned();
    let (status, pledged, _) = call(bureau.clone(), "PUT", format!("/api/v1/farmland/chiefs/{id}/pledge"), Some(json!({
        "document": "责任书 2026-1", "signed_on": "2026-01-10", "from": "2026-01-01", "to": "2026-12-31"}))).await;
    assert_eq!(status, StatusCode::OK, "{pledged}");
    let now = jiff::Timestamp::now();
    let started = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let d = 0.0004;
    let patrol = json!({"cell": code, "started_at": started.to_string(), "ended_at": now.to_string(),
        "track": {"type": "LineString", "coordinates": [[lon - d, lat], [lon, lat + d], [lon + d, lat]]},
        "problem": {"description": "田块被倾倒建筑垃圾并硬底化约 200 平方米", "location": [lon, lat]}});
    let (status, made, _) = call(
        inspector.clone(),
        "POST",
        "/api/v1/farmland/patrols".into(),
        Some(patrol.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let number = made["order"].as_str().unwrap().to_owned();
    // The order is in the centre, of the right category, naming the chief and the cell.
    let (status, order, _) = call_json(
        &st,
        Some(&demo().admin_token),
        "GET",
        &format!("/api/v1/orders/{number}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["order"]["category"], "SJ0601", "{order}");
    assert_eq!(order["order"]["channel"], "patrol", "{order}");
    assert!(
        order["order"]["description"]
            .as_str()
            .unwrap()
            .contains("何田长"),
        "{order}"
    );
    // And the patrol is found from the order.
    let (_, found, _) = call(
        bureau.clone(),
        "GET",
        format!("/api/v1/farmland/patrols?order={number}"),
        None,
    )
    .await;
    assert_eq!(found["patrols"][0]["id"], made["id"], "{found}");
    // Someone else's cell: refused, nothing recorded.
    let other_code = other.attributes["code"].as_str().unwrap();
    let mut elsewhere = patrol.clone();
    elsewhere["cell"] = json!(other_code);
    let (status, _, _) = call(
        inspector.clone(),
        "POST",
        "/api/v1/farmland/patrols".into(),
        Some(elsewhere),
    )
    .await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    // The month's figures: one patrol of the two the rule asks of a grid chief.
    let (_, report, _) = call(
        bureau,
        "GET",
        "/api/v1/farmland/patrols/report".into(),
        None,
    )
    .await;
    let row = report["chiefs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["chief"] == id.as_str())
        .unwrap();
    assert_eq!(
        (row["made"].as_u64(), row["required"].as_u64()),
        (Some(1), Some(2)),
        "{row}"
    );
    assert_eq!(row["problems"], 1);
}
