//! Survey projects over the API, as a firm and the bureau use them: the bureau registers a
//! project; the firm submits packages (GeoPackage, zipped Shapefile, FlatGeobuf) and follows
//! each check to its report; errors block, warnings are signed off by the approver, and only
//! then do the results enter the one map; every firm's record counts what happened. Bad
//! packages are refused with why, and change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::OnceLock;

use axum::http::StatusCode;
use common::{call_json, demo, send, state};
use serde_json::{Value, json};
use tudi_access::accounts::{Accounts, AuthConfig, NewUser};
use tudi_access::{Binding, Jurisdiction, Role};
use tudi_store::Change;

const FIRM: &str = "鸿图地理信息测绘有限公司";

struct World {
    approver: String,
    handler: String,
    firm: String,
    other_firm: String,
    town: String,
    /// The demo's packages: passing, failing (five kinds of error), village plan.
    packages: Vec<Vec<u8>>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let store = &*demo().store;
        let change = Change::new("cli", "test.setup");
        let config = AuthConfig::for_tests();
        let acc = Accounts::new(store, &config);
        let login = |name: &str, role: Role, scope: &str, department: Option<&str>| {
            acc.create_user(
                &change,
                NewUser {
                    username: name.into(),
                    display_name: None,
                    password: "Test-password-1".into(),
                    roles: vec![Binding {
                        role,
                        scope: Jurisdiction::parse(scope).unwrap(),
                        department: department.map(str::to_owned),
                    }],
                    phone: None,
                    id_number: None,
                },
            )
            .unwrap();
            acc.login(&change, name, "Test-password-1").unwrap().0
        };
        let today = jiff::civil::date(2026, 12, 7);
        let made = tudi_quality::demo::fill(store, FIRM, today, &|t| {
            tudi_server::xlsx::workbook_of(t).map_err(|e| e.to_string())
        })
        .unwrap();
        let packages = made
            .submissions
            .iter()
            .map(|s| store.blob(&s.package).unwrap().unwrap().bytes)
            .collect();
        World {
            approver: login("sv.approver", Role::DistrictApprover, "440605", None),
            handler: login(
                "sv.handler",
                Role::DepartmentHandler,
                "440605",
                Some("自然资源"),
            ),
            firm: login("sv.firm", Role::SurveyFirm, "440605", Some(FIRM)),
            other_firm: login(
                "sv.other",
                Role::SurveyFirm,
                "440605",
                Some("乙测绘有限公司"),
            ),
            town: login("sv.town", Role::TownReviewer, "440605011", None),
            packages,
        }
    })
}

async fn register(layer: &str) -> String {
    let w = world();
    let (status, body, _) = call_json(
        &state(),
        Some(&w.approver),
        "POST",
        "/api/v1/survey/projects",
        Some(
            json!({"name": format!("测试项目 {layer}"), "kind": "cadastral",
            "client": "区自然资源局", "firm": FIRM, "layer": layer, "deadline": "2027-01-31"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn upload(token: &str, project: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let (status, _, body) = send(
        &state(),
        Some(token),
        "POST",
        &format!("/api/v1/survey/projects/{project}/submissions?name={name}"),
        Some("application/octet-stream"),
        Some(bytes),
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Submits as the firm and waits for the check to end; returns the submission.
async fn submit_checked(project: &str, name: &str, bytes: Vec<u8>) -> Value {
    let w = world();
    let (status, sub) = upload(&w.firm, project, name, bytes).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    assert_eq!(sub["status"], "queued");
    let id = sub["id"].as_str().unwrap().to_owned();
    for _ in 0..600 {
        let (status, now, _) = call_json(
            &state(),
            Some(&w.firm),
            "GET",
            &format!("/api/v1/survey/submissions/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{now}");
        if !["queued", "checking"].contains(&now["status"].as_str().unwrap()) {
            assert!(now["progress"].is_null(), "no progress once done: {now}");
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the check of {id} did not end");
}

async fn act(token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let (status, body, _) = call_json(
        &state(),
        Some(token),
        "POST",
        &format!("/api/v1/survey/submissions/{id}/actions"),
        Some(body),
    )
    .await;
    (status, body)
}

fn rules_found(sub: &Value) -> Vec<(String, String)> {
    sub["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn layer_count(layer: &str) -> usize {
    match demo().store.layer(layer) {
        Ok(info) => usize::try_from(info.feature_count).unwrap(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_block_warnings_are_signed_off_and_only_then_results_enter_the_one_map() {
    let w = world();
    let project = register("survey_api_parcels").await;
    // Another firm cannot see it; the town's reviewer may not read survey work.
    for token in [&w.other_firm, &w.town] {
        let (status, body, _) = call_json(
            &state(),
            Some(token),
            "GET",
            &format!("/api/v1/survey/projects/{project}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, seen, _) = call_json(
        &state(),
        Some(&w.firm),
        "GET",
        &format!("/api/v1/survey/projects/{project}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["may_submit"], true);
    // The bureau does not submit for the firm; another firm cannot.
    let (status, _) = upload(&w.approver, &project, "x.gpkg", w.packages[0].clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = upload(&w.other_firm, &project, "x.gpkg", w.packages[0].clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The failing package: every error a surveyor makes here is found, with its place.
    let failed = submit_checked(&project, "宗地成果.gpkg", w.packages[1].clone()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let found = rules_found(&failed);
    for (rule, severity) in [
        ("TOPO-OVERLAP", "error"),
        ("TOPO-GAP", "warning"),
        ("ATTR-CODE", "error"),
        ("ATTR-AREA", "warning"),
        ("LAYER-ONE-VILLAGE", "error"),
    ] {
        assert!(
            found.contains(&(rule.to_owned(), severity.to_owned())),
            "{rule} in {found:?}"
        );
    }
    assert_eq!(failed["errors"], 3);
    for f in failed["findings"].as_array().unwrap() {
        let [lon, lat] = [
            f["location"][0].as_f64().unwrap(),
            f["location"][1].as_f64().unwrap(),
        ];
        assert!(
            (112.0..114.0).contains(&lon) && (22.0..24.0).contains(&lat),
            "{f}"
        );
    }
    let area = failed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "ATTR-AREA")
        .unwrap();
    assert!(
        area["message"]["zh"].as_str().unwrap().contains("5%"),
        "{area}"
    );
    let failed_id = failed["id"].as_str().unwrap().to_owned();
    // Nothing with errors enters the one map, nor can its errors be signed away.
    let (status, body) = act(&w.approver, &failed_id, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = act(
        &w.approver,
        &failed_id,
        json!({"action": "sign_off", "findings": [1], "reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(layer_count("survey_api_parcels"), 0);
    // The reports: an Excel workbook, a GeoPackage of the error geometries, the package itself.
    for (file, magic) in [
        ("report.xlsx", b"PK".as_slice()),
        ("findings.gpkg", b"SQLite format 3".as_slice()),
        ("package", b"SQLite format 3".as_slice()),
    ] {
        let (status, _, bytes) = send(
            &state(),
            Some(&w.firm),
            "GET",
            &format!("/api/v1/survey/submissions/{failed_id}/files/{file}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert!(bytes.starts_with(magic), "{file}");
    }
    // The same package checked twice gives the same report.
    let again = submit_checked(&project, "宗地成果.gpkg", w.packages[1].clone()).await;
    assert_eq!(again["findings"], failed["findings"]);
    assert_eq!(again["summary"], failed["summary"]);
    // Returned with why: the firm sees it, the project is open for the next submission.
    let (status, body) = act(
        &w.handler,
        &failed_id,
        json!({"action": "return", "reason": " "}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["field"], "reason");
    let (status, body) = act(
        &w.handler,
        &failed_id,
        json!({"action": "return", "reason": "重叠、代码错误、跨村界，请修改后重新提交"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "returned");
    let project_status = || async {
        let (_, seen, _) = call_json(
            &state(),
            Some(&w.firm),
            "GET",
            &format!("/api/v1/survey/projects/{project}"),
            None,
        )
        .await;
        seen["status"].clone()
    };
    // The newer package still waits for its decision: the project is not returned yet.
    assert_eq!(project_status().await, "submitted");
    let (status, _) = act(
        &w.handler,
        again["id"].as_str().unwrap(),
        json!({"action": "return", "reason": "同上"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(project_status().await, "returned");

    // A corrected package with one warning left: a declared area 5 % off.
    let warned = with_declared_area_off(&w.packages[0]);
    let passed = submit_checked(&project, "宗地成果-修改.gpkg", warned).await;
    assert_eq!(passed["status"], "passed", "{passed}");
    assert_eq!(passed["errors"], 0);
    assert_eq!(passed["unsigned_warnings"], json!([1]));
    let id = passed["id"].as_str().unwrap().to_owned();
    // A second package of the same results, also passing, decided on later.
    let spare = submit_checked(&project, "宗地成果-再交.gpkg", w.packages[0].clone()).await;
    assert_eq!(spare["status"], "passed", "{spare}");
    // What each may do next: the approver signs off, the department may only return.
    let offered = |token: &str| {
        let id = id.clone();
        let token = token.to_owned();
        async move {
            let (_, sub, _) = call_json(
                &state(),
                Some(&token),
                "GET",
                &format!("/api/v1/survey/submissions/{id}"),
                None,
            )
            .await;
            sub["actions"].clone()
        }
    };
    assert_eq!(offered(&w.approver).await, json!(["sign_off", "return"]));
    assert_eq!(offered(&w.handler).await, json!(["return"]));
    assert_eq!(offered(&w.firm).await, json!([]));
    let (status, body) = act(&w.approver, &id, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("未签认"),
        "{body}"
    );
    assert_eq!(layer_count("survey_api_parcels"), 0);
    // Only the approver signs off; with a reason; only warnings of this check.
    let (status, _) = act(
        &w.handler,
        &id,
        json!({"action": "sign_off", "findings": [1], "reason": "经核实"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = act(
        &w.approver,
        &id,
        json!({"action": "sign_off", "findings": [1], "reason": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = act(
        &w.approver,
        &id,
        json!({"action": "sign_off", "findings": [99], "reason": "经核实"}),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("findings"))
    );
    let (status, body) = act(
        &w.approver,
        &id,
        json!({"action": "sign_off", "findings": [1], "reason": "经核实，面积以实测为准"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unsigned_warnings"], json!([]));
    assert_eq!(body["sign_offs"][0]["by"], "user:sv.approver");
    let (status, body) = act(&w.handler, &id, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["decision"]["imported"], 12);
    assert_eq!(layer_count("survey_api_parcels"), 12);
    // Accepted once: neither again, nor another submission of the project, nor a new one.
    let (status, _) = act(&w.handler, &id, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let spare_id = spare["id"].as_str().unwrap();
    let (status, body) = act(&w.handler, spare_id, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(layer_count("survey_api_parcels"), 12);
    let (_, seen, _) = call_json(
        &state(),
        Some(&w.firm),
        "GET",
        &format!("/api/v1/survey/projects/{project}"),
        None,
    )
    .await;
    assert_eq!(
        (seen["status"].clone(), seen["may_submit"].clone()),
        (json!("accepted"), json!(false))
    );
    assert_eq!(seen["latest"]["id"], spare["id"]);
    let (status, _) = upload(&w.firm, &project, "x.gpkg", w.packages[0].clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The check stays with the layer.
    let (status, kept, _) = call_json(
        &state(),
        Some(&demo().admin_token),
        "GET",
        "/api/v1/layers/survey_api_parcels/checks",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["checks"][0]["submission"], json!(id));

    // The same results as a zipped Shapefile and as a FlatGeobuf pass the same way.
    let dir = tempfile::tempdir().unwrap();
    for (format, file) in [
        (tudi_onemap::Format::Shapefile, "out.shp"),
        (tudi_onemap::Format::FlatGeobuf, "out.fgb"),
    ] {
        let path = dir.path().join(file);
        tudi_onemap::export::export_layer(
            &*demo().store,
            "survey_api_parcels",
            format,
            &path,
            None,
            None,
        )
        .unwrap();
        let bytes = if format == tudi_onemap::Format::Shapefile {
            zipped(&path, &["shp", "shx", "dbf", "prj", "cpg"])
        } else {
            std::fs::read(&path).unwrap()
        };
        let next = register(&format!("survey_api_{}", &file[4..])).await;
        let sub = submit_checked(&next, file, bytes).await;
        assert_eq!(sub["status"], "passed", "{file}: {sub}");
        assert_eq!(sub["summary"]["features"], 12, "{file}");
    }

    // The firms' record: what the firm did, counted; a firm sees only its own.
    let (status, firms, _) = call_json(
        &state(),
        Some(&w.approver),
        "GET",
        "/api/v1/survey/firms",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ours = firms["firms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["firm"] == FIRM)
        .unwrap();
    assert!(ours["failed"].as_u64().unwrap() >= 4, "{ours}");
    assert!(ours["passed"].as_u64().unwrap() >= 4, "{ours}");
    assert!(ours["returned"].as_u64().unwrap() >= 1, "{ours}");
    assert!(ours["accepted"].as_u64().unwrap() >= 1, "{ours}");
    let (_, theirs, _) = call_json(
        &state(),
        Some(&w.other_firm),
        "GET",
        "/api/v1/survey/firms",
        None,
    )
    .await;
    assert!(
        theirs["firms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["firm"] != FIRM)
    );
    let (status, _, _) =
        call_json(&state(), Some(&w.town), "GET", "/api/v1/survey/firms", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The passing package with its first parcel declaring 5 % more than it draws.
fn with_declared_area_off(package: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.gpkg");
    std::fs::write(&src, package).unwrap();
    let opts = tudi_onemap::import::ImportOptions::new("x", tudi_core::layer::LayerKind::Parcel);
    let (crs, features) = tudi_onemap::import::read_planar(&src, &opts).unwrap();
    let def = tudi_store::LayerDef {
        name: "results".into(),
        title: "成果".into(),
        kind: tudi_core::layer::LayerKind::Parcel,
        epsg: crs.epsg(),
        geometry_type: "POLYGON".into(),
        fields: tudi_onemap::schema::default_fields(tudi_core::layer::LayerKind::Parcel),
    };
    let mut rows = features.into_iter().enumerate().map(|(i, f)| {
        let mut props = f.properties;
        props.remove("feature_id");
        if i == 0 {
            let area = props["area_m2"].as_f64().unwrap() * 1.05;
            props.insert("area_m2".into(), json!(area));
        }
        (
            uuid::Uuid::from_u128(i as u128 + 1),
            f.geometry.unwrap().unwrap(),
            props,
        )
    });
    let out = dir.path().join("out.gpkg");
    tudi_store::gpkg::write_plain(&out, &def, &mut rows).unwrap();
    std::fs::read(out).unwrap()
}

/// The shapefile `shp` and its companions of `exts` (those present) in a zip, with what a
/// Mac and an untidy folder add: resource forks and a stray table of another name.
fn zipped(shp: &std::path::Path, exts: &[&str]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for clutter in [
        "__MACOSX/成果/._宗地.shp",
        "成果/._宗地.dbf",
        "旧/宗地备份.dbf",
    ] {
        out.start_file(clutter, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(b"not the data").unwrap();
    }
    for ext in exts {
        let path = shp.with_extension(ext);
        if let Ok(bytes) = std::fs::read(&path) {
            out.start_file(
                format!("成果/宗地.{ext}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            out.write_all(&bytes).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_packages_and_projects_are_refused_with_why_and_change_nothing() {
    let w = world();
    let project = register("survey_api_bad").await;
    let count = || {
        tudi_quality::survey::submissions(&*demo().store, Some(("project", project.as_str())))
            .unwrap()
            .len()
    };
    // Refused at the door: nothing kept.
    let mut no_shx = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    no_shx
        .start_file("a.shp", zip::write::SimpleFileOptions::default())
        .unwrap();
    no_shx.write_all(b"\0\0\x27\x0a").unwrap();
    let no_shx = no_shx.finish().unwrap().into_inner();
    let mut no_shp = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    no_shp
        .start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    no_shp.write_all(b"hello").unwrap();
    let no_shp = no_shp.finish().unwrap().into_inner();
    for (bytes, says) in [
        (Vec::new(), "为空"),
        (b"name,geometry\n".to_vec(), "无法识别"),
        (b"PK\x03\x04broken".to_vec(), "压缩包"),
        (no_shx, "a.shx"),
        (no_shp, "没有 Shapefile"),
    ] {
        let (status, body) = upload(&w.firm, &project, "x", bytes).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{says}: {body}"
        );
    }
    // Far too large: refused before it is read.
    let (status, body) = upload(
        &w.firm,
        &project,
        "big.gpkg",
        vec![0; tudi_server::MAX_BODY + 1],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(count(), 0);
    // An unknown project.
    let (status, _) = upload(&w.firm, "CH2026-9999", "x.gpkg", w.packages[0].clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Taken in, then found unreadable: a broken GeoPackage, a Shapefile without .prj.
    let mut broken = b"SQLite format 3\0".to_vec();
    broken.extend(std::iter::repeat_n(7u8, 4096));
    let sub = submit_checked(&project, "broken.gpkg", broken).await;
    assert_eq!(sub["status"], "unreadable", "{sub}");
    assert!(!sub["problem"]["zh"].as_str().unwrap().is_empty());
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("p.shp");
    tudi_onemap::export::export_layer(
        &*demo().store,
        "parcels",
        tudi_onemap::Format::Shapefile,
        &shp,
        None,
        None,
    )
    .unwrap();
    let sub = submit_checked(&project, "no-prj.zip", zipped(&shp, &["shp", "shx", "dbf"])).await;
    assert_eq!(sub["status"], "unreadable", "{sub}");
    assert!(
        sub["problem"]["zh"].as_str().unwrap().contains("坐标"),
        "{sub}"
    );
    assert_eq!(layer_count("survey_api_bad"), 0);
    // Projects: each wrong field named.
    for (body, field) in [
        (
            json!({"name": " ", "kind": "cadastral", "client": "x", "firm": "x", "deadline": "2027-01-01"}),
            "name",
        ),
        (
            json!({"name": "x", "kind": "cadastral", "client": "x", "firm": "x", "deadline": "2027-01-01", "layer": "Bad Name"}),
            "layer",
        ),
        (
            json!({"name": "x", "kind": "cadastral", "client": "x", "firm": "x", "deadline": "2027-01-01", "area": {"type": "Point", "coordinates": [113.0, 23.0]}}),
            "area",
        ),
    ] {
        let (status, problem, _) = call_json(
            &state(),
            Some(&w.approver),
            "POST",
            "/api/v1/survey/projects",
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let (status, _, _) = call_json(
        &state(),
        Some(&w.approver),
        "POST",
        "/api/v1/survey/projects",
        Some(json!({"name": "x", "kind": "mining", "client": "x", "firm": "x", "deadline": "2027-01-01"})),
    )
    .await;
    assert!(status.is_client_error());
    // Only the bureau registers projects.
    let (status, _, _) = call_json(
        &state(),
        Some(&w.firm),
        "POST",
        "/api/v1/survey/projects",
        Some(json!({"name": "x", "kind": "cadastral", "client": "x", "firm": FIRM, "deadline": "2027-01-01"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_a_stopped_server_left_unfinished_is_found_and_run_again() {
    let w = world();
    let store = &*demo().store;
    let project = register("survey_api_resumed").await;
    let other = register("survey_api_resumed_too").await;
    let change = Change::new("user:sv.firm", "survey.submit");
    // Taken in, then the server stops: one left queued, one left mid-check.
    let queued =
        tudi_quality::survey::submit(store, &change, &project, "a.gpkg", &w.packages[0]).unwrap();
    let mid =
        tudi_quality::survey::submit(store, &change, &other, "b.gpkg", &w.packages[0]).unwrap();
    let rec = store
        .record(tudi_quality::survey::SUBMISSIONS, &mid.id)
        .unwrap()
        .unwrap();
    let mut body = rec.body.clone();
    body["status"] = json!("checking");
    store
        .write_records(
            &change,
            &[tudi_store::RecordWrite {
                collection: tudi_quality::survey::SUBMISSIONS.into(),
                id: mid.id.clone(),
                expect: tudi_store::Expect::Version(rec.version),
                body: Some(body),
                keys: vec![("status".into(), "checking".into())],
                detail: None,
            }],
        )
        .unwrap();
    // A check running now is not taken for one left by a stopped server.
    let recent = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10);
    // One check at a time per project.
    let (status, body) = upload(&w.firm, &project, "c.gpkg", w.packages[0].clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let pending = tudi_quality::survey::pending(store, recent).unwrap();
    assert!(
        pending.contains(&queued.id) && !pending.contains(&mid.id),
        "{pending:?}"
    );
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let pending = tudi_quality::survey::pending(store, later).unwrap();
    assert!(
        pending.contains(&queued.id) && pending.contains(&mid.id),
        "{pending:?}"
    );
    // The server holding the lease checks both again, to the same report.
    let system = Change::new("system:quality-check", "survey.check");
    let excel = |t: &[&tudi_core::table::Table]| {
        tudi_server::xlsx::workbook_of(t).map_err(|e| e.to_string())
    };
    let a = tudi_quality::survey::check(store, &system, &queued.id, &excel, &|_| {}).unwrap();
    let b = tudi_quality::survey::check(store, &system, &mid.id, &excel, &|_| {}).unwrap();
    assert_eq!(a.status, tudi_quality::survey::SubmissionStatus::Passed);
    assert_eq!((a.summary, a.findings), (b.summary, b.findings));
    let pending = tudi_quality::survey::pending(store, later).unwrap();
    assert!(!pending.contains(&queued.id) && !pending.contains(&mid.id));
    // A check is not run twice over.
    assert!(tudi_quality::survey::check(store, &system, &mid.id, &excel, &|_| {}).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn results_are_checked_again_when_accepted_against_the_one_map_as_it_is_then() {
    let w = world();
    let store = &*demo().store;
    let change = Change::new("cli", "test.setup");
    // The demo's village plan puts a house plot on 永久基本农田. Take that farmland away for the
    // check, so the plan passes; put it back before the plan is accepted.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.gpkg");
    std::fs::write(&path, &w.packages[2]).unwrap();
    let opts = tudi_onemap::import::ImportOptions::new("x", tudi_core::layer::LayerKind::Planning);
    let (_, plots) = tudi_onemap::import::read_planar(&path, &opts).unwrap();
    let house = plots
        .iter()
        .find(|p| p.properties["land_use"] == "0703")
        .and_then(|p| p.geometry.clone().unwrap())
        .unwrap();
    let mut moved = Vec::new();
    store
        .for_each_feature("permanent_farmland", None, &mut |f| {
            if geo::Intersects::intersects(&f.geometry, &house) {
                moved.push(f);
            }
            Ok(())
        })
        .unwrap();
    assert!(!moved.is_empty());
    let far = geo::Translate::translate(&house, 50_000.0, 50_000.0);
    for f in &moved {
        store
            .update_feature(
                "permanent_farmland",
                f.id,
                far.clone(),
                f.attributes.clone(),
                &change,
            )
            .unwrap();
    }
    let (status, body, _) = call_json(
        &state(),
        Some(&w.approver),
        "POST",
        "/api/v1/survey/projects",
        Some(
            json!({"name": "村庄规划（重新检查）", "kind": "village_plan",
            "client": "镇人民政府", "firm": FIRM, "layer": "survey_api_plan",
            "deadline": "2027-01-31"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let project = body["id"].as_str().unwrap().to_owned();
    let sub = submit_checked(&project, "规划.gpkg", w.packages[2].clone()).await;
    assert_eq!(sub["status"], "passed", "{sub}");
    for f in &moved {
        store
            .update_feature(
                "permanent_farmland",
                f.id,
                f.geometry.clone(),
                f.attributes.clone(),
                &change,
            )
            .unwrap();
    }
    let id = sub["id"].as_str().unwrap().to_owned();
    let unsigned = sub["unsigned_warnings"].clone();
    if unsigned != json!([]) {
        let (status, body) = act(
            &w.approver,
            &id,
            json!({"action": "sign_off", "findings": unsigned, "reason": "已核实"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Accepting checks again: the plot is on permanent farmland now, so nothing goes in.
    let (status, body) = act(&w.handler, &id, json!({"action": "accept"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("重新检查"),
        "{body}"
    );
    assert_eq!(layer_count("survey_api_plan"), 0);
    let (_, now, _) = call_json(
        &state(),
        Some(&w.handler),
        "GET",
        &format!("/api/v1/survey/submissions/{id}"),
        None,
    )
    .await;
    assert_eq!(now["status"], "passed");
    assert!(now["problem"]["zh"].as_str().unwrap().contains("重新检查"));
    // The project is free again: the results can be returned for a new submission.
    let (status, _) = act(
        &w.handler,
        &id,
        json!({"action": "return", "reason": "占用永久基本农田"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
