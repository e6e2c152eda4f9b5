//! The work-order centre over HTTP with the demo district and its accounts: a hotline intake with
//! one-click dispatch routed by the responsibility list, the town signing for and handling it,
//! the supervision centre closing and calling back; masking, bad input and conflicts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tudi_access::accounts::{Accounts, AuthConfig};
use tudi_server::{AppState, router};
use tudi_store::Change;

struct World {
    _dir: tempfile::TempDir,
    state: AppState,
    tokens: HashMap<String, String>,
    /// A point in the grid cell 440605011001001 (桂城街道), and one outside the district.
    inside: [f64; 2],
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
    let c = Change::new("cli", "test.setup");
    let list = json!({"entries": [
        {"category": "SJ04", "area": "440605011", "unit": {"kind": "town", "code": "440605011", "name": "桂城街道"}, "valid_from": "2024-01-01", "valid_to": null}
    ]});
    store
        .set_meta("orders:responsibilities", &list.to_string(), &c)
        .unwrap();
    let config = AuthConfig::for_tests();
    let demo = tudi_access::demo::create_accounts(&*store, &config, "440605").unwrap();
    let acc = Accounts::new(&*store, &config);
    let tokens = demo
        .iter()
        .map(|a| {
            let (t, _, _) = acc.login(&c, &a.username, &a.password).unwrap();
            (a.username.clone(), t)
        })
        .collect();
    let cells = store
        .features("grid", &tudi_store::FeatureQuery::default())
        .unwrap();
    let cell = cells
        .iter()
        .find(|f| f.attributes["code"] == "440605011001001")
        .unwrap();
    let p = geo::InteriorPoint::interior_point(&cell.geometry).unwrap();
    let to = tudi_geo::crs::Transformer::new(
        tudi_geo::crs::Crs::from_epsg(store.layer_def("grid").unwrap().epsg).unwrap(),
        tudi_geo::crs::Crs::CGCS2000,
    )
    .unwrap();
    let (lon, lat) = to.apply(p.x(), p.y()).unwrap();
    let state = AppState::new(store).with_auth(config);
    World {
        _dir: dir,
        state,
        tokens,
        inside: [lon, lat],
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
        let json = body.is_some().then_some("application/json");
        let token = self.tokens.get(who).map(String::as_str);
        let body = body.map(|b| b.to_string().into_bytes());
        let (status, _, bytes) = common::send(&self.state, token, method, uri, json, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A raw request (files), answering status, body bytes and content type.
    async fn call_bytes(
        &self,
        who: &str,
        method: &str,
        uri: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Vec<u8>, String) {
        let token = self.tokens.get(who).map(String::as_str);
        let (status, ct, body) = common::send(
            &self.state,
            token,
            method,
            uri,
            Some(content_type),
            Some(bytes),
        )
        .await;
        (status, body, ct)
    }

    /// A request as an anonymous Open311 client sees it.
    async fn open311_request(&self, number: &str) -> Value {
        self.call(
            "nobody",
            "GET",
            &format!("/open311/v2/requests/{number}.json"),
            None,
        )
        .await
        .1[0]
            .clone()
    }

    async fn step(
        &self,
        who: &str,
        number: &str,
        version: u64,
        step: Value,
    ) -> (StatusCode, Value) {
        let mut body = step;
        body["version"] = json!(version);
        self.call(
            who,
            "POST",
            &format!("/api/v1/orders/{number}/steps"),
            Some(body),
        )
        .await
    }
}

fn stall(w: &World) -> Value {
    json!({
        "channel": "hotline",
        "reporter": {"name": "王小明", "phone": "13800138000"},
        "category": "SJ0401",
        "description": "桂澜路口流动摊贩占道经营",
        "location": w.inside,
        "dispatch": true
    })
}

#[tokio::test]
async fn a_hotline_order_from_intake_to_evaluation() {
    let w = world();
    // The hotline operator takes the call and dispatches at once.
    let (status, body) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(stall(&w)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let number = body["order"]["number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("GD440605-"), "{number}");
    assert_eq!(
        body["order"]["grid"], "440605011001001",
        "located in its grid cell"
    );
    assert_eq!(body["order"]["state"], "dispatched");
    assert_eq!(body["order"]["unit"]["name"], "桂城街道");
    assert!(
        body["order"]["route"]["zh"]
            .as_str()
            .unwrap()
            .contains("先属地")
    );
    assert_eq!(body["public_status"], "accepted");
    // The operator needs the caller's number; an administrator does not see it.
    assert_eq!(body["order"]["reporter"]["phone"], "13800138000");
    let (_, as_admin) = w
        .call("admin", "GET", &format!("/api/v1/orders/{number}"), None)
        .await;
    assert_eq!(as_admin["order"]["reporter"]["phone"], "138****8000");
    assert_eq!(as_admin["order"]["reporter"]["name"], "王**");

    // It is in the town's to-do list, not in the hotline's (nothing for the hotline to do now).
    let (_, todo) = w
        .call("zhenjie.shenhe", "GET", "/api/v1/orders?todo=true", None)
        .await;
    assert_eq!(
        todo["orders"][0]["order"]["number"],
        number.as_str(),
        "{todo}"
    );
    let (_, none) = w
        .call("rexian.zuoxi", "GET", "/api/v1/orders?todo=true", None)
        .await;
    assert_eq!(none["total"], 0, "{none}");
    // The town signs for it; a village clerk of another unit's order may read but not sign.
    let v = body["version"].as_u64().unwrap();
    let (status, body) = w
        .step("zhenjie.shenhe", &number, v, json!({"step": "accept"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A double click on 签收: the second is told the order moved on; nothing changes.
    let (status, again) = w
        .step("zhenjie.shenhe", &number, v, json!({"step": "accept"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        again["detail"].as_str().unwrap().contains("已被他人处理"),
        "{again}"
    );
    let v = body["version"].as_u64().unwrap();
    let (status, body) = w
        .step(
            "zhenjie.shenhe",
            &number,
            v,
            json!({"step": "feedback", "note": "已劝离并清理"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The town may not close its own work: that is the supervision centre's.
    let v = body["version"].as_u64().unwrap();
    let (status, refused) = w
        .step("zhenjie.shenhe", &number, v, json!({"step": "close"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, body) = w
        .step("rexian.zuoxi", &number, v, json!({"step": "close"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["public_status"], "done");
    // Closing twice: refused with the state named.
    let v = body["version"].as_u64().unwrap();
    let (status, twice) = w
        .step("rexian.zuoxi", &number, v, json!({"step": "close"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(twice["detail"], "工单当前状态为「已结案」，不能结案");
    let (status, body) = w
        .step(
            "rexian.zuoxi",
            &number,
            v,
            json!({"step": "evaluate", "satisfaction": "satisfied"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["state"], "evaluated");
    assert_eq!(body["order"]["timeline"].as_array().unwrap().len(), 7);

    // Lists: the town sees it, a town outside would not; pages count only what one may see.
    let (_, list) = w
        .call(
            "zhenjie.shenhe",
            "GET",
            "/api/v1/orders?state=evaluated",
            None,
        )
        .await;
    assert_eq!(list["total"], 1);
    let (status, _) = w.call("gongzhong", "GET", "/api/v1/orders", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_orders_are_refused_by_field_and_change_nothing() {
    let w = world();
    let mut unknown = stall(&w);
    unknown["category"] = json!("ZZ99");
    let (status, p) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(unknown))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(p["errors"][0]["field"], "category", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("未知的工单分类"));
    // A pin in Beijing is outside the district's grid.
    let mut far = stall(&w);
    far["location"] = json!([116.39, 39.9]);
    let (status, p) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(far))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(p["errors"][0]["field"], "location", "{p}");
    // An oversized description, a malformed body.
    let mut long = stall(&w);
    long["description"] = json!("长".repeat(2001));
    let (status, _) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(long))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = w
        .call(
            "rexian.zuoxi",
            "POST",
            "/api/v1/orders",
            Some(json!({"channel": "fax"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An unknown order.
    let (status, _) = w
        .call(
            "rexian.zuoxi",
            "GET",
            "/api/v1/orders/GD440605-20000101-000001",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = w.call("rexian.zuoxi", "GET", "/api/v1/orders", None).await;
    assert_eq!(list["total"], 0, "nothing was stored");
    // Categories are public, for forms and Open311 clients.
    let (status, cats) = w
        .call("nobody", "GET", "/api/v1/orders/categories", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        cats["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "占道经营")
    );
}

/// `georeport` (PyPI), an independent Open311 GeoReport v2 client, reads services, a service
/// definition and requests in JSON and XML; a form post with an API key creates a request.
#[test]
fn an_open311_client_reads_and_creates_requests() {
    let w = world();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    // An API key for the hotline's Open311 intake: a token of the hotline agent's account.
    let (key, _) = runtime.block_on(async {
        let (status, body) = w
            .call(
                "rexian.zuoxi",
                "POST",
                "/api/v1/tokens",
                Some(json!({"name": "Open311"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["token"].as_str().unwrap().to_owned(), ())
    });
    // A request merged into another that is still open: it shows (and is listed as) open.
    let (merged, survivor) = runtime.block_on(async {
        let (_, a) = w
            .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(stall(&w)))
            .await;
        let mut second = stall(&w);
        second["dispatch"] = json!(false);
        let (_, b) = w
            .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(second))
            .await;
        let v = b["version"].as_u64().unwrap();
        let (a, b) = (
            a["order"]["number"].as_str().unwrap().to_owned(),
            b["order"]["number"].as_str().unwrap().to_owned(),
        );
        let (status, body) = w
            .step("zhiban.lingdao", &b, v, json!({"step": "merge", "into": a}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (b, a)
    });
    let state = w.state.clone().with_public_url(format!("http://{addr}"));
    runtime.spawn(async move { tudi_server::serve_on(listener, state).await });
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/georeport_client.py"
        ))
        .arg(format!("http://{addr}/open311/v2"))
        .arg(&key)
        .arg(w.inside[0].to_string())
        .arg(w.inside[1].to_string())
        .arg(&merged)
        .arg(&survivor)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "georeport (pip install georeport==0.3.1, see .ci/run): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(seen["create_status"], 201, "{seen}");
    let number = seen["created"][0]["service_request_id"].as_str().unwrap();
    assert!(number.starts_with("GD440605-"));
    // A wrong service code: a GeoReport error list in XML, nothing created.
    assert_eq!(seen["bad_status"], 400);
    assert!(
        seen["bad_body"]
            .as_str()
            .unwrap()
            .contains("<errors><error><code>400</code>"),
        "{seen}"
    );
    for fmt in ["json", "xml"] {
        let services = seen[format!("services_{fmt}")].as_array().unwrap();
        assert!(services.iter().any(|s| s == "SJ0401") && services.iter().any(|s| s == "RX03"));
        assert_eq!(seen[format!("definition_{fmt}")]["service_code"], "SJ0401");
        assert!(
            seen[format!("requests_{fmt}")]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == number)
        );
        let one = &seen[format!("one_{fmt}")];
        assert_eq!(one["service_request_id"], number);
        assert_eq!(one["status"], "open");
        assert_eq!(one["status_notes"], "已受理");
        assert_eq!(one["service_code"], "SJ0401");
        assert_eq!(
            seen[format!("one_{fmt}_has_phone")],
            false,
            "the reporter is never public"
        );
        assert_eq!(
            seen[format!("closed_{fmt}")].as_array().map_or(0, Vec::len),
            0
        );
        let has = |key: &str, n: &str| {
            seen[format!("{key}_{fmt}")]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == n)
        };
        assert!(
            !has("closed_ids", &merged),
            "the merged request shows open: {seen}"
        );
        assert!(has("open_ids", &merged) && has("open_ids", &survivor));
        // Comma-separated filters.
        assert!(has("both_ids", &merged) && has("both_ids", number));
        assert!(has("codes_ids", number));
        assert!(has("many_ids", &merged) && has("many_ids", &survivor));
        let m = &seen[format!("merged_{fmt}")];
        assert_eq!(m["status"], "open");
        let at = |k: &str| m[k].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
        assert!(at("updated_datetime") >= at("requested_datetime"), "{m}");
    }
    let d = &seen["discovery_xml"];
    assert_eq!(
        d["formats"],
        json!(["application/json", "text/xml"]),
        "{seen}"
    );
    assert_eq!(d["url"], format!("http://{addr}/open311/v2"));
    assert_eq!(seen["discovery_json"]["url"], d["url"]);
    drop(runtime);
}

/// A second report of the same stall is suggested as a duplicate, merged, and its reporter
/// follows the surviving order over Open311 until it is done.
#[tokio::test]
async fn duplicates_are_suggested_and_a_merged_report_follows_the_survivor() {
    let w = world();
    let (_, first) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(stall(&w)))
        .await;
    let survivor = first["order"]["number"].as_str().unwrap().to_owned();
    let probe = |category: &str| json!({"category": category, "location": w.inside, "description": "桂澜路口又有摊贩占道经营"});
    let (status, found) = w
        .call(
            "rexian.zuoxi",
            "POST",
            "/api/v1/orders/duplicates",
            Some(probe("SJ0401")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["suggestions"][0]["number"],
        survivor.as_str(),
        "{found}"
    );
    let (_, other) = w
        .call(
            "rexian.zuoxi",
            "POST",
            "/api/v1/orders/duplicates",
            Some(probe("SJ0301")),
        )
        .await;
    assert_eq!(other["suggestions"].as_array().unwrap().len(), 0);

    // The operator takes the second call in and merges it into the first.
    let mut second = stall(&w);
    second["dispatch"] = json!(false);
    second["description"] = json!("桂澜路口又有摊贩占道经营");
    let (_, dup) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(second))
        .await;
    let dup_number = dup["order"]["number"].as_str().unwrap().to_owned();
    let (status, merged) = w
        .step(
            "zhiban.lingdao",
            &dup_number,
            dup["version"].as_u64().unwrap(),
            json!({"step": "merge", "into": survivor}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    let (_, s) = w
        .call("admin", "GET", &format!("/api/v1/orders/{survivor}"), None)
        .await;
    assert_eq!(s["order"]["merged"][0], dup_number.as_str());

    // Over Open311 the merged report shows the survivor's status and unit …
    let seen = w.open311_request(&dup_number).await;
    assert_eq!(
        (seen["status"].as_str(), seen["agency_responsible"].as_str()),
        (Some("open"), Some("桂城街道"))
    );
    assert!(seen["service_notice"].as_str().unwrap().contains(&survivor));
    // … and its outcome once the survivor is done.
    let mut v = s["version"].as_u64().unwrap();
    for (who, step) in [
        ("zhenjie.shenhe", json!({"step": "accept"})),
        (
            "zhenjie.shenhe",
            json!({"step": "feedback", "note": "已清理"}),
        ),
        ("rexian.zuoxi", json!({"step": "close"})),
    ] {
        let (status, body) = w.step(who, &survivor, v, step).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        v = body["version"].as_u64().unwrap();
    }
    let seen = w.open311_request(&dup_number).await;
    assert_eq!(
        (seen["status"].as_str(), seen["status_notes"].as_str()),
        (Some("closed"), Some("已办结"))
    );
}

/// Indicators by town as JSON and as an Excel ledger that a spreadsheet reader opens.
#[tokio::test]
async fn statistics_as_json_and_excel() {
    let w = world();
    let (_, a) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(stall(&w)))
        .await;
    let mut second = stall(&w);
    second["category"] = json!("SJ0301");
    second["dispatch"] = json!(false);
    let (status, _) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(second))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let number = a["order"]["number"].as_str().unwrap().to_owned();
    let mut v = a["version"].as_u64().unwrap();
    for (who, step) in [
        ("zhenjie.shenhe", json!({"step": "accept"})),
        (
            "zhenjie.shenhe",
            json!({"step": "feedback", "note": "已清理"}),
        ),
        ("rexian.zuoxi", json!({"step": "close"})),
    ] {
        let (_, body) = w.step(who, &number, v, step).await;
        v = body["version"].as_u64().unwrap();
    }
    // The day as the district counts it (orders are dated in China Standard Time).
    let today = jiff::Zoned::now()
        .with_time_zone(tudi_orders::order::shanghai())
        .date();
    let uri = format!("/api/v1/orders/stats?from={today}&to={today}&by=town");
    let (status, stats) = w.call("zhiban.lingdao", "GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let total = stats["rows"].as_array().unwrap().last().unwrap().clone();

    assert_eq!(
        (
            total["key"].as_str(),
            total["received"].as_u64(),
            total["closed"].as_u64()
        ),
        (Some("合计"), Some(2), Some(1))
    );
    assert_eq!(stats["rows"][0]["key"], "桂城街道（440605011）");
    // A bad period is refused by parameter.
    let (status, _) = w
        .call(
            "zhiban.lingdao",
            "GET",
            "/api/v1/orders/stats?from=2026-12-01&to=2026-11-01",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The Excel ledger, read back with calamine.
    let mut req = axum::http::Request::builder()
        .uri(format!("{uri}&format=xlsx"))
        .header("host", "example.test");
    req = req.header(
        "authorization",
        format!("Bearer {}", w.tokens["zhiban.lingdao"]),
    );
    let res = router(w.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range("工单统计").unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    assert!(cells[1].contains(&"结案率".to_owned()), "{cells:?}");
    let last = cells.last().unwrap();
    assert_eq!(
        (last[0].as_str(), last[1].as_str(), last[3].as_str()),
        ("合计", "2", "1")
    );
}

/// The town asks for more time, the duty leader grants it, and supervision runs on demand.
#[tokio::test]
async fn extensions_and_supervision_over_http() {
    let w = world();
    let (_, a) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(stall(&w)))
        .await;
    let number = a["order"]["number"].as_str().unwrap().to_owned();
    let due_before = a["order"]["due"].as_str().unwrap().to_owned();
    let v = a["version"].as_u64().unwrap();
    let (status, p) = w
        .step(
            "zhenjie.shenhe",
            &number,
            v,
            json!({"step": "request_extension", "days": 50, "note": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("1 至 30"));
    let (status, body) = w
        .step(
            "zhenjie.shenhe",
            &number,
            v,
            json!({"step": "request_extension", "days": 3, "note": "需协调城管"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = body["version"].as_u64().unwrap();
    // The town's sub-centre dispatches within the town, so it decides on its own units' requests.
    let (status, _) = w
        .step(
            "zhenjie.shenhe",
            &number,
            v,
            json!({"step": "decide_extension", "approve": true}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the town dispatches within its town, so it may decide"
    );
    let (_, after) = w
        .call("admin", "GET", &format!("/api/v1/orders/{number}"), None)
        .await;
    assert_eq!(after["order"]["extension"]["granted"], true);
    assert_ne!(after["order"]["due"].as_str().unwrap(), due_before);
    // The enterprise board lists only enterprises' orders.
    let mut firm = stall(&w);
    firm["enterprise"] = json!(true);
    w.call("rexian.zuoxi", "POST", "/api/v1/orders", Some(firm))
        .await;
    let (_, board) = w
        .call(
            "zhiban.lingdao",
            "GET",
            "/api/v1/orders?enterprise=true",
            None,
        )
        .await;
    assert_eq!(board["total"], 1);
    assert_eq!(board["orders"][0]["order"]["enterprise"], true);
    let (_, overdue) = w
        .call("zhiban.lingdao", "GET", "/api/v1/orders?overdue=true", None)
        .await;
    assert_eq!(overdue["total"], 0, "nothing is late yet");
    // Supervision on demand: the hotline may, a village clerk may not.
    let (status, sent) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders/supervise", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert!(sent["notices"].as_u64().is_some());
    let (status, _) = w
        .call("cunju.jingban", "POST", "/api/v1/orders/supervise", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A patrol photo is attached and read back; oversized, mislabelled and unknown files are
/// refused by field and leave the order as it was.
#[tokio::test]
async fn photos_are_attached_and_bad_files_refused() {
    let w = world();
    let (_, a) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(stall(&w)))
        .await;
    let number = a["order"]["number"].as_str().unwrap().to_owned();
    let v = a["version"].as_u64().unwrap();
    let photo = {
        let img = image::RgbImage::from_pixel(16, 12, image::Rgb([120, 90, 60]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    let uri = |v: u64| format!("/api/v1/orders/{number}/attachments?version={v}&name=现场照片.jpg");
    // Oversized (5 MiB and one byte), a PNG labelled as JPEG, a text file, a stale version.
    let mut big = photo.clone();
    big.resize((5 << 20) + 1, 0);
    let (status, body, _) = w
        .call_bytes("zhenjie.shenhe", "POST", &uri(v), "image/jpeg", big)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let p: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(p["errors"][0]["field"], "file");
    assert!(
        p["detail"].as_str().unwrap().contains("不能超过 5 MB"),
        "{p}"
    );
    let png = b"\x89PNG\r\n\x1a\n....".to_vec();
    let (status, body, _) = w
        .call_bytes("zhenjie.shenhe", "POST", &uri(v), "image/jpeg", png)
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, _) = w
        .call_bytes(
            "zhenjie.shenhe",
            "POST",
            &uri(v),
            "text/plain",
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = w
        .call_bytes(
            "zhenjie.shenhe",
            "POST",
            &uri(v + 7),
            "image/jpeg",
            photo.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Beyond the server's 8 MiB request limit.
    let (status, _, _) = w
        .call_bytes(
            "zhenjie.shenhe",
            "POST",
            &uri(v),
            "image/jpeg",
            vec![0xff; 9 << 20],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, unchanged) = w
        .call("admin", "GET", &format!("/api/v1/orders/{number}"), None)
        .await;
    assert_eq!(unchanged["version"].as_u64(), Some(v), "nothing changed");

    // The town attaches the photo; anyone who may read the order gets it back.
    let (status, body, _) = w
        .call_bytes(
            "zhenjie.shenhe",
            "POST",
            &uri(v),
            "image/jpeg",
            photo.clone(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let after: Value = serde_json::from_slice(&body).unwrap();
    let att = &after["order"]["attachments"][0];
    assert_eq!(
        (att["name"].as_str(), att["size"].as_u64()),
        (Some("现场照片.jpg"), Some(photo.len() as u64))
    );
    let sha = att["sha256"].as_str().unwrap();
    let (status, bytes, ct) = w
        .call_bytes(
            "wangge.xunjian",
            "GET",
            &format!("/api/v1/orders/{number}/attachments/{sha}"),
            "",
            vec![],
        )
        .await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/jpeg"));
    assert_eq!(bytes, photo);
    let (status, _, _) = w
        .call_bytes(
            "gongzhong",
            "GET",
            &format!("/api/v1/orders/{number}/attachments/{sha}"),
            "",
            vec![],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the public does not see the files, nor learn the order exists"
    );
}

/// The district administrator sets the responsibility list and the roster; both are checked
/// before they are saved, and dispatch follows the new list at once.
#[tokio::test]
async fn the_responsibility_list_and_roster_are_configured_and_checked() {
    let w = world();
    let entry = |category: &str, area: &str| json!({"category": category, "area": area, "unit": {"kind": "town", "code": "440605011", "name": "桂城街道"}, "valid_from": "2024-01-01", "valid_to": null});
    // Unknown category, an area outside the district: refused, naming the entry.
    let (status, p) = w
        .call(
            "admin",
            "PUT",
            "/api/v1/orders/responsibilities",
            Some(json!({"entries": [entry("SJ04", "440605011"), entry("ZZ99", "440605011")]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("第 2 条"), "{p}");
    let (status, _) = w
        .call(
            "admin",
            "PUT",
            "/api/v1/orders/responsibilities",
            Some(json!({"entries": [entry("SJ04", "440606001")]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The hotline may read the list but not change it.
    let (status, _) = w
        .call(
            "rexian.zuoxi",
            "PUT",
            "/api/v1/orders/responsibilities",
            Some(json!({"entries": []})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // 施工扰民 (SJ0301) had no unit; with the new list it is dispatched to the town.
    let mut noise = stall(&w);
    noise["category"] = json!("SJ0301");
    let (status, _) = w
        .call(
            "rexian.zuoxi",
            "POST",
            "/api/v1/orders",
            Some(noise.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no unit yet");
    let (status, _) = w
        .call(
            "admin",
            "PUT",
            "/api/v1/orders/responsibilities",
            Some(json!({"entries": [entry("SJ04", "440605011"), entry("SJ03", "440605011")]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = w
        .call(
            "rexian.zuoxi",
            "GET",
            "/api/v1/orders/responsibilities",
            None,
        )
        .await;
    assert_eq!(list["entries"].as_array().unwrap().len(), 2);
    let (status, body) = w
        .call("rexian.zuoxi", "POST", "/api/v1/orders", Some(noise))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["order"]["unit"]["name"], "桂城街道");

    // The roster: overlapping turns are refused; a valid one is saved and read back.
    let turn = |from: &str, to: &str| json!({"from": from, "to": to, "leader": "zhiban.lingdao", "name": "潘副区长"});
    let (status, p) = w
        .call("admin", "PUT", "/api/v1/orders/roster", Some(json!({"entries": [turn("2026-11-23", "2026-11-29"), turn("2026-11-29", "2026-12-06")]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("重叠"), "{p}");
    let (status, _) = w
        .call("admin", "PUT", "/api/v1/orders/roster", Some(json!({"entries": [turn("2026-11-23", "2026-11-29"), turn("2026-11-30", "2026-12-06")]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, roster) = w
        .call("zhiban.lingdao", "GET", "/api/v1/orders/roster", None)
        .await;
    assert_eq!(roster["entries"][1]["from"], "2026-11-30");
}

/// A district adds a category of its own; removing one in use, or a bad line, is refused.
#[tokio::test]
async fn the_district_configures_its_categories() {
    let w = world();
    let defaults = include_str!("../../orders/data/categories.tsv");
    let put = |tsv: String| {
        let w = &w;
        async move {
            let mut req = axum::http::Request::builder()
                .method("PUT")
                .uri("/api/v1/orders/categories")
                .header("host", "example.test")
                .header("content-type", "text/tab-separated-values");
            req = req.header("authorization", format!("Bearer {}", w.tokens["admin"]));
            let res = router(w.state.clone())
                .oneshot(req.body(Body::from(tsv)).unwrap())
                .await
                .unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let added = format!("{defaults}SJ0402\tSJ04\tevent\t占道堆物\tObstruction by goods\t2\t1\n");
    let (status, body) = put(added).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, cats) = w
        .call("nobody", "GET", "/api/v1/orders/categories", None)
        .await;
    assert!(
        cats["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "SJ0402")
    );
    let (_, services) = w
        .call("nobody", "GET", "/open311/v2/services.json", None)
        .await;
    assert!(
        services
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["service_code"] == "SJ0402")
    );
    // Removing a code: refused, naming it.
    let without: String = defaults
        .lines()
        .filter(|l| !l.starts_with("RX05"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (status, p) = put(without).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("RX05"), "{p}");
    // A bad line: refused with its number.
    let (status, p) = put(format!("{defaults}ZZ\t-\tthing\tx\tx\t1\t1\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("行"), "{p}");
    // Only district administrators.
    let (status, _) = w
        .call(
            "rexian.zuoxi",
            "PUT",
            "/api/v1/orders/categories",
            Some(json!("x")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Next year's holiday notice is added as data; deadlines count it at once.
#[tokio::test]
async fn the_next_years_holidays_are_added_as_data() {
    let w = world();
    let put = |tsv: &str| {
        let (w, tsv) = (&w, tsv.to_owned());
        async move {
            let req = axum::http::Request::builder()
                .method("PUT")
                .uri("/api/v1/calendar/holidays")
                .header("host", "example.test")
                .header("authorization", format!("Bearer {}", w.tokens["admin"]))
                .body(Body::from(tsv))
                .unwrap();
            let res = router(w.state.clone()).oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let (_, before) = w
        .call("nobody", "GET", "/api/v1/calendar/holidays", None)
        .await;
    assert_eq!(before["years"], json!([2024, 2026]));
    // A line the shipped data already has, and a make-up day on a weekday: refused by line.
    let (status, p) = put("2026-10-01\tholiday\t国庆节\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = put("2027-01-01\tholiday\t元旦\n2027-01-04\tworkday\t元旦\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An empty body (a lost upload) is refused, not answered 200 with nothing added.
    let (status, p_empty) = put(" \n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p_empty}");
    assert_eq!(p_empty["type"], "https://tudi.dev/problems/empty-body");
    assert!(p["detail"].as_str().unwrap().contains("第 2 行"), "{p}");
    let (status, body) = put("2027-01-01\tholiday\t元旦\n").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["years"], json!([2024, 2027]));
    let (_, after) = w
        .call("nobody", "GET", "/api/v1/calendar/holidays", None)
        .await;
    assert!(after["added"].as_str().unwrap().contains("2027-01-01"));
}

/// The OpenAPI document lists every `/api/v1` and Open311 route with its access rule, and an
/// independent validator (openapi-spec-validator, PyPI) accepts it.
#[tokio::test]
async fn the_api_is_described_by_a_valid_openapi_document() {
    let w = world();
    let (status, doc) = w.call("nobody", "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for r in tudi_server::routes::ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/api/v1") || r.path.starts_with("/open311"))
    {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(
            op["x-tudi-access"].is_string(),
            "{} {} missing",
            r.method,
            r.path
        );
    }
    // Issue 15: the documented statuses are those the routes answer with.
    let documented = |method: &str, path: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert!(documented("post", "/api/v1/auth/login").contains(&"200".to_owned()));
    assert!(documented("post", "/api/v1/auth/logout").contains(&"204".to_owned()));
    assert!(!documented("post", "/api/v1/compliance").contains(&"201".to_owned()));
    assert!(documented("post", "/api/v1/compliance").contains(&"422".to_owned()));
    assert!(documented("post", "/api/v1/orders").contains(&"201".to_owned()));
    // Every route that reads a body describes it, and every query parameter a handler reads
    // is listed with its type (both derived from the Rust types the handlers read).
    let bodiless = [
        "/api/v1/auth/logout",
        "/api/v1/orders/supervise",
        "/api/v1/tokens/{id}",
    ];
    for r in tudi_server::routes::ROUTES.iter().filter(|r| {
        (r.path.starts_with("/api/v1") || r.path.starts_with("/open311"))
            && matches!(r.method, "POST" | "PUT" | "PATCH")
            && !bodiless.contains(&r.path)
    }) {
        let body = &doc["paths"][r.path][r.method.to_lowercase()]["requestBody"]["content"];
        assert!(
            body.as_object().is_some_and(|c| !c.is_empty()),
            "{} {} has no documented body",
            r.method,
            r.path
        );
    }
    // Every JSON answer has the schema of the type its handler answers with (the document
    // itself aside).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                if let Some(json) = answer["content"].get("application/json") {
                    assert!(
                        json.get("schema").is_some() || path == "/api/v1/openapi.json",
                        "{method} {path} {status} answers JSON without a schema"
                    );
                }
            }
        }
    }
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
            None => schema.clone(),
        }
    };
    let intake = resolve(
        &doc["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    for field in ["channel", "category", "description"] {
        assert!(
            intake["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "{intake}"
        );
    }
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        param("/api/v1/orders", "limit")["schema"]["type"],
        "integer"
    );
    assert_eq!(param("/api/v1/orders", "state")["in"], "query");
    assert_eq!(param("/api/v1/orders/stats", "from")["required"], true);
    assert_eq!(
        param("/api/v1/orders/stats", "from")["schema"]["format"],
        "date"
    );
    assert_eq!(param("/api/v1/search", "q")["in"], "query");
    assert_eq!(param("/open311/v2/requests.json", "status")["in"], "query");
    let open311 = &doc["paths"]["/open311/v2/requests.json"]["post"]["responses"]["400"]["content"];
    assert!(
        open311.get("application/problem+json").is_none()
            && open311.get("application/json").is_some()
    );
    for (who, method, uri, path, body) in [
        (
            "nobody",
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(json!({"username": "nobody.here", "password": "x"})),
        ),
        (
            "rexian.zuoxi",
            "POST",
            "/api/v1/orders",
            "/api/v1/orders",
            Some(stall(&w)),
        ),
        (
            "rexian.zuoxi",
            "POST",
            "/api/v1/orders",
            "/api/v1/orders",
            Some(json!({"channel": "hotline"})),
        ),
        (
            "rexian.zuoxi",
            "GET",
            "/api/v1/orders?limit=abc",
            "/api/v1/orders",
            None,
        ),
        (
            "rexian.zuoxi",
            "GET",
            "/api/v1/orders/GD440605-20200101-999999",
            "/api/v1/orders/{number}",
            None,
        ),
        (
            "admin",
            "POST",
            "/api/v1/compliance",
            "/api/v1/compliance",
            Some(
                json!({"geometry": {"type": "Point", "coordinates": [113.0, 23.0]}, "rule_set": "宅基地选址"}),
            ),
        ),
        (
            "admin",
            "DELETE",
            "/api/v1/orders/stats",
            "/api/v1/orders/stats",
            None,
        ),
    ] {
        let (status, body) = w.call(who, method, uri, body).await;
        let lower = if method == "DELETE" {
            "get"
        } else {
            &method.to_lowercase()
        };
        assert!(
            documented(lower, path).contains(&status.as_u16().to_string()),
            "{method} {uri} answered {status}, documented {:?}: {body}",
            documented(lower, path)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator (pip install openapi-spec-validator==0.7.1, see .ci/run): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
