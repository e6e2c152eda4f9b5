//! The OpenAPI 3.1 document of `/api/v1` and `/open311/v2`, built from the route table so that it
//! lists every route with the access rule it runs under (`x-tudi-access`). Served at
//! `GET /api/v1/openapi.json`; needs no network.

use axum::Json;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::routes::{Guard, ROUTES};
use crate::{accounts, api, farmland, homestead, homestead_events, open311, orders, survey};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// What uploads may be (decoded in full on arrival).
const UPLOADS: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "application/pdf"];

/// What a survey package is sent as: a GeoPackage, a zipped Shapefile or a FlatGeobuf.
const PACKAGES: [&str; 4] = [
    "application/geopackage+sqlite3",
    "application/zip",
    "application/flatgeobuf",
    "application/octet-stream",
];

/// What a route reads besides its path: the query string and the body, as the schemas of the
/// Rust types its handler reads them into.
#[derive(Default)]
struct Reads {
    query: Option<Value>,
    body: Option<(Vec<&'static str>, Value)>,
}

impl Reads {
    fn query<T: JsonSchema>(g: &mut SchemaGenerator) -> Self {
        Self {
            query: Some(definition_of::<T>(g)),
            body: None,
        }
    }

    fn json<T: JsonSchema>(g: &mut SchemaGenerator) -> Self {
        Self {
            query: None,
            body: Some((vec!["application/json"], g.subschema_for::<T>().to_value())),
        }
    }

    fn text(media: &'static str) -> Self {
        Self {
            query: None,
            body: Some((vec![media, "text/plain"], json!({"type": "string"}))),
        }
    }

    /// A survey package as the body, named by the query string.
    fn package<Q: JsonSchema>(g: &mut SchemaGenerator) -> Self {
        Self {
            query: Some(definition_of::<Q>(g)),
            body: Some((
                PACKAGES.to_vec(),
                json!({"type": "string", "contentMediaType": "application/octet-stream"}),
            )),
        }
    }

    /// A file as the body, described by the query string.
    fn upload<Q: JsonSchema>(g: &mut SchemaGenerator) -> Self {
        Self {
            query: Some(definition_of::<Q>(g)),
            body: Some((
                UPLOADS.to_vec(),
                json!({"type": "string", "contentMediaType": "application/octet-stream"}),
            )),
        }
    }
}

/// The object schema of `T` itself (its properties), not a reference to it.
fn definition_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    let reference = g.subschema_for::<T>().to_value();
    match reference.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default().to_owned();
            g.definitions_mut().remove(&name).unwrap_or(reference)
        }
        None => reference,
    }
}

fn reads(method: &str, path: &str, g: &mut SchemaGenerator) -> Reads {
    match (method, path) {
        ("POST", "/api/v1/auth/login") => Reads::json::<accounts::Login>(g),
        ("POST", "/api/v1/auth/password") => Reads::json::<accounts::PasswordChange>(g),
        ("POST", "/api/v1/tokens") => Reads::json::<accounts::TokenRequest>(g),
        ("GET", "/api/v1/users") => Reads::query::<accounts::UserQuery>(g),
        ("POST", "/api/v1/users") => Reads::json::<tudi_access::accounts::NewUser>(g),
        ("PATCH", "/api/v1/users/{name}") => Reads::json::<tudi_access::accounts::UserPatch>(g),
        ("POST", "/api/v1/users/{name}/password") => Reads::json::<accounts::Reset>(g),
        ("GET", "/api/v1/audit") => Reads::query::<accounts::AuditParams>(g),
        ("PUT", "/api/v1/layers/{id}/access") => Reads::json::<accounts::LayerAccess>(g),
        ("POST", "/api/v1/compliance") => Reads::json::<api::ComplianceRequest>(g),
        ("GET", "/api/v1/search") => Reads::query::<api::SearchQuery>(g),
        ("GET", "/api/v1/layers/{id}/checks") => Reads::query::<api::ChecksQuery>(g),
        ("GET", "/api/v1/survey/projects") => Reads::query::<survey::ListQuery>(g),
        ("POST", "/api/v1/survey/projects") => Reads::json::<tudi_quality::survey::NewProject>(g),
        ("POST", "/api/v1/survey/projects/{id}/submissions") => {
            Reads::package::<survey::SubmitQuery>(g)
        }
        ("POST", "/api/v1/survey/submissions/{id}/actions") => Reads::json::<survey::ActionBody>(g),
        ("GET", "/api/v1/farmland/balances") => Reads::query::<farmland::BalanceQuery>(g),
        ("GET", "/api/v1/farmland/journal") => Reads::query::<farmland::JournalParams>(g),
        ("POST", "/api/v1/farmland/postings") => Reads::json::<farmland::OrderBody>(g),
        ("POST", "/api/v1/farmland/postings/{no}/reversal") => {
            Reads::json::<farmland::ReversalBody>(g)
        }
        ("GET", "/api/v1/farmland/projects") => Reads::query::<farmland::PageQuery>(g),
        ("POST", "/api/v1/farmland/projects") => {
            Reads::json::<tudi_farmland::project::NewProject>(g)
        }
        ("POST", "/api/v1/farmland/projects/{id}/acceptance") => {
            Reads::json::<farmland::AcceptanceBody>(g)
        }
        ("GET", "/api/v1/farmland/inout") => Reads::query::<farmland::YearQuery>(g),
        ("PUT", "/api/v1/farmland/inout/plan") => Reads::json::<tudi_farmland::inout::Plan>(g),
        ("POST", "/api/v1/farmland/chiefs") => Reads::json::<tudi_farmland::chief::NewChief>(g),
        ("PUT", "/api/v1/farmland/chiefs/{id}/pledge") => {
            Reads::json::<tudi_farmland::chief::Pledge>(g)
        }
        ("GET", "/api/v1/farmland/patrols" | "/api/v1/farmland/patrols/report") => {
            Reads::query::<farmland::PatrolQuery>(g)
        }
        ("POST", "/api/v1/farmland/patrols") => Reads::json::<tudi_farmland::chief::NewPatrol>(g),
        ("PUT", "/api/v1/farmland/patrol-rule") => {
            Reads::json::<tudi_farmland::chief::PatrolRule>(g)
        }
        ("GET", "/api/v1/farmland/compensation") => Reads::query::<farmland::YearQuery>(g),
        ("PUT", "/api/v1/farmland/compensation/rates") => {
            Reads::json::<tudi_farmland::compensation::Rates>(g)
        }
        ("PUT", "/api/v1/orders/categories" | "/api/v1/calendar/holidays") => {
            Reads::text("text/tab-separated-values")
        }
        ("GET", "/api/v1/orders") => Reads::query::<orders::ListQuery>(g),
        ("POST", "/api/v1/orders") => Reads::json::<orders::Intake>(g),
        ("POST", "/api/v1/orders/duplicates") => Reads::json::<orders::DuplicateProbe>(g),
        ("GET", "/api/v1/orders/stats") => Reads::query::<orders::StatsQuery>(g),
        ("PUT", "/api/v1/orders/responsibilities") => {
            Reads::json::<tudi_orders::routing::ResponsibilityList>(g)
        }
        ("PUT", "/api/v1/orders/roster") => Reads::json::<tudi_orders::supervision::Roster>(g),
        ("POST", "/api/v1/orders/{number}/steps") => Reads::json::<orders::StepBody>(g),
        ("POST", "/api/v1/orders/{number}/attachments") => Reads::upload::<orders::AttachQuery>(g),
        (
            "GET",
            "/api/v1/homestead/applications" | "/api/v1/homestead/ledger" | "/api/v1/certificates",
        ) => Reads::query::<homestead::ListParams>(g),
        ("POST", "/api/v1/homestead/applications") => {
            Reads::json::<tudi_homestead::form::ApplicationForm>(g)
        }
        ("POST", "/api/v1/homestead/applications/{id}/actions") => {
            Reads::json::<homestead::ActionBody>(g)
        }
        ("POST", "/api/v1/homestead/applications/{id}/documents") => {
            Reads::upload::<homestead::AttachParams>(g)
        }
        ("PUT", "/api/v1/homestead/collectives/{village}") => Reads::json::<homestead::RollBody>(g),
        ("GET", "/api/v1/homestead/stats") => Reads::query::<homestead::StatsParams>(g),
        ("GET", "/api/v1/homestead/events") => Reads::query::<homestead_events::ListParams>(g),
        ("POST", "/api/v1/homestead/events") => {
            Reads::json::<tudi_homestead::events::EventRequest>(g)
        }
        ("POST", "/api/v1/homestead/events/{id}/actions") => {
            Reads::json::<homestead_events::ActionBody>(g)
        }
        ("GET", "/api/v1/certificates/{id}/verify") => Reads::query::<homestead::Proof>(g),
        ("POST", "/api/v1/certificates/{id}/revoke") => Reads::json::<homestead::RevokeBody>(g),
        ("GET", "/open311/v2/requests.json" | "/open311/v2/requests.xml") => {
            Reads::query::<open311::RequestsQuery>(g)
        }
        ("POST", "/open311/v2/requests.json" | "/open311/v2/requests.xml") => Reads {
            query: None,
            body: Some((
                vec!["application/x-www-form-urlencoded"],
                definition_of::<open311::CreateForm>(g),
            )),
        },
        _ => Reads::default(),
    }
}

/// The query parameters of an object schema: one per property, `null` dropped (a query string
/// has no null; an absent parameter is how a value is left out).
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let mut prop = without_null(prop.clone());
            let description = prop
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            let mut p = json!({
                "name": name, "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": prop,
            });
            if !description.is_null() {
                p["description"] = description;
            }
            p
        })
        .collect()
}

fn without_null(mut schema: Value) -> Value {
    if schema.get("default").is_some_and(Value::is_null)
        && let Some(obj) = schema.as_object_mut()
    {
        obj.remove("default");
    }
    if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            schema["type"] = only;
        }
    }
    let any = schema.get("anyOf").and_then(Value::as_array).map(|alts| {
        alts.iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect::<Vec<_>>()
    });
    if let (Some(mut alts), Some(obj)) = (any, schema.as_object_mut()) {
        if alts.len() == 1 {
            obj.remove("anyOf");
            if let Some(Value::Object(only)) = alts.pop() {
                obj.extend(only);
            }
        } else {
            obj.insert("anyOf".into(), Value::Array(alts));
        }
    }
    schema
}

/// The schema of a route's JSON success answer: the Rust type its handler answers with.
fn returns(method: &str, path: &str, g: &mut SchemaGenerator) -> Option<Value> {
    fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Option<Value> {
        Some(g.subschema_for::<T>().to_value())
    }
    match (method, path) {
        ("POST", "/api/v1/auth/login") => of::<accounts::SignedIn>(g),
        ("GET", "/api/v1/auth/me") => of::<accounts::Me>(g),
        ("GET", "/api/v1/roles") => of::<accounts::RoleList>(g),
        ("GET", "/api/v1/tokens") => of::<accounts::TokenList>(g),
        ("POST", "/api/v1/tokens") => of::<accounts::IssuedToken>(g),
        ("DELETE", "/api/v1/tokens/{id}") => of::<accounts::TokenState>(g),
        ("GET", "/api/v1/users") => of::<accounts::UserPage>(g),
        ("POST", "/api/v1/users") | ("GET" | "PATCH", "/api/v1/users/{name}") => {
            of::<tudi_access::accounts::UserView>(g)
        }
        ("GET", "/api/v1/audit") => of::<accounts::AuditPage>(g),
        ("GET", "/api/v1/audit/verify") => of::<accounts::ChainCheck>(g),
        ("PUT", "/api/v1/layers/{id}/access") => of::<accounts::LayerAccessSet>(g),
        ("GET", "/api/v1/compliance/rule-sets") => of::<api::RuleSetList>(g),
        ("POST", "/api/v1/compliance") => of::<tudi_onemap::compliance::Report>(g),
        ("GET", "/api/v1/search") => of::<api::SearchResults>(g),
        ("GET", "/api/v1/layers/{id}/checks") => of::<api::CheckPage>(g),
        ("GET", "/api/v1/survey/projects") => of::<survey::ProjectPage>(g),
        ("POST", "/api/v1/survey/projects") => of::<survey::ProjectView>(g),
        ("GET", "/api/v1/survey/projects/{id}") => of::<survey::ProjectDetail>(g),
        (
            "POST",
            "/api/v1/survey/projects/{id}/submissions" | "/api/v1/survey/submissions/{id}/actions",
        )
        | ("GET", "/api/v1/survey/submissions/{id}") => of::<survey::SubmissionView>(g),
        ("GET", "/api/v1/survey/firms") => of::<survey::FirmList>(g),
        ("GET", "/api/v1/farmland/balances") => of::<farmland::Balances>(g),
        ("GET", "/api/v1/farmland/journal") => of::<farmland::JournalPage>(g),
        ("POST", "/api/v1/farmland/postings" | "/api/v1/farmland/postings/{no}/reversal") => {
            of::<tudi_farmland::journal::Posting>(g)
        }
        ("GET", "/api/v1/farmland/postings/{no}") => of::<farmland::PostingView>(g),
        ("GET", "/api/v1/farmland/inout") | ("PUT", "/api/v1/farmland/inout/plan") => {
            of::<tudi_farmland::inout::ReportShown>(g)
        }
        ("GET", "/api/v1/farmland/chiefs") => of::<farmland::ChiefList>(g),
        ("POST", "/api/v1/farmland/chiefs") | ("PUT", "/api/v1/farmland/chiefs/{id}/pledge") => {
            of::<farmland::ChiefView>(g)
        }
        ("GET", "/api/v1/farmland/chiefs/{id}") => of::<farmland::ChiefDetail>(g),
        ("GET", "/api/v1/farmland/patrols") => of::<farmland::PatrolList>(g),
        ("POST", "/api/v1/farmland/patrols") => of::<tudi_farmland::chief::Patrol>(g),
        ("GET", "/api/v1/farmland/patrols/report") => of::<farmland::PatrolReport>(g),
        ("PUT", "/api/v1/farmland/patrol-rule") => of::<tudi_farmland::chief::PatrolRule>(g),
        ("GET", "/api/v1/farmland/compensation") => {
            of::<tudi_farmland::compensation::PaymentList>(g)
        }
        ("PUT", "/api/v1/farmland/compensation/rates") => {
            of::<tudi_farmland::compensation::Rates>(g)
        }
        ("GET", "/api/v1/farmland/projects") => of::<farmland::ProjectPage>(g),
        ("POST", "/api/v1/farmland/projects" | "/api/v1/farmland/projects/{id}/acceptance")
        | ("GET", "/api/v1/farmland/projects/{id}") => of::<tudi_farmland::project::Project>(g),
        ("GET", "/api/v1/status") => of::<api::ServiceStatus>(g),
        ("GET", "/api/v1/homestead/applications") => of::<homestead::ApplicationPage>(g),
        (
            "POST",
            "/api/v1/homestead/applications"
            | "/api/v1/homestead/applications/{id}/actions"
            | "/api/v1/homestead/applications/{id}/documents",
        )
        | ("GET", "/api/v1/homestead/applications/{id}") => of::<homestead::ApplicationView>(g),
        ("GET", "/api/v1/homestead/collectives/{village}") => of::<homestead::Roll>(g),
        ("PUT", "/api/v1/homestead/collectives/{village}") => of::<homestead::RollSaved>(g),
        ("GET", "/api/v1/homestead/ledger") => of::<homestead::LedgerPage>(g),
        ("GET", "/api/v1/homestead/stats") => of::<homestead::HomesteadStats>(g),
        ("GET", "/api/v1/homestead/events") => of::<homestead_events::EventPage>(g),
        ("POST", "/api/v1/homestead/events" | "/api/v1/homestead/events/{id}/actions")
        | ("GET", "/api/v1/homestead/events/{id}") => of::<homestead_events::EventView>(g),
        ("GET", "/api/v1/homestead/rights/{code}") => of::<homestead_events::RightView>(g),
        ("GET", "/api/v1/certificates") => of::<homestead::CertificatePage>(g),
        ("GET", "/api/v1/certificates/{id}") | ("POST", "/api/v1/certificates/{id}/revoke") => {
            of::<homestead::CertificateView>(g)
        }
        ("GET", "/api/v1/certificates/{id}/verify") => {
            of::<tudi_homestead::registry::Verification>(g)
        }
        ("GET", "/open311/v2/discovery.json") => of::<open311::Discovery>(g),
        ("GET", "/open311/v2/services.json") => of::<Vec<open311::Service>>(g),
        ("GET", "/open311/v2/services/{file}") => of::<open311::ServiceDefinition>(g),
        ("GET", "/open311/v2/requests.json" | "/open311/v2/requests/{file}") => {
            of::<Vec<open311::PublicRequest>>(g)
        }
        ("POST", "/open311/v2/requests.json") | ("GET", "/open311/v2/tokens/{file}") => {
            of::<Vec<open311::RequestId>>(g)
        }
        ("GET", "/api/v1/orders/categories") => of::<orders::CategoryList>(g),
        ("PUT", "/api/v1/orders/categories") => of::<orders::CategoriesSaved>(g),
        ("GET", "/api/v1/orders") => of::<orders::OrderPage>(g),
        (
            "POST",
            "/api/v1/orders"
            | "/api/v1/orders/{number}/steps"
            | "/api/v1/orders/{number}/attachments",
        )
        | ("GET", "/api/v1/orders/{number}") => of::<orders::OrderView>(g),
        ("POST", "/api/v1/orders/duplicates") => of::<orders::Suggestions>(g),
        ("GET", "/api/v1/orders/stats") => of::<orders::OrderStats>(g),
        ("POST", "/api/v1/orders/supervise") => of::<orders::NoticesSent>(g),
        ("GET", "/api/v1/orders/responsibilities") => {
            of::<tudi_orders::routing::ResponsibilityList>(g)
        }
        ("PUT", "/api/v1/orders/responsibilities" | "/api/v1/orders/roster") => {
            of::<orders::EntriesSaved>(g)
        }
        ("GET", "/api/v1/orders/roster") => of::<tudi_orders::supervision::Roster>(g),
        (_, "/api/v1/calendar/holidays") => of::<orders::Holidays>(g),
        _ => None,
    }
}

/// The media types of a route's success answer.
fn answers(method: &str, path: &str) -> Vec<&'static str> {
    match (method, path) {
        (_, p) if p.starts_with("/open311/") && p.ends_with(".xml") => vec!["text/xml"],
        (
            "GET",
            "/open311/v2/services/{file}"
            | "/open311/v2/requests/{file}"
            | "/open311/v2/tokens/{file}",
        ) => {
            vec!["application/json", "text/xml"]
        }
        (
            "GET",
            "/api/v1/orders/stats"
            | "/api/v1/homestead/ledger"
            | "/api/v1/homestead/stats"
            | "/api/v1/farmland/balances"
            | "/api/v1/farmland/journal"
            | "/api/v1/farmland/inout"
            | "/api/v1/farmland/compensation",
        ) => {
            vec!["application/json", XLSX]
        }
        ("GET", "/api/v1/certificates/{id}/pdf") => vec!["application/pdf"],
        ("GET", "/api/v1/survey/submissions/{id}/files/{file}") => vec![
            XLSX,
            "application/geopackage+sqlite3",
            "application/octet-stream",
        ],
        (
            "GET",
            "/api/v1/orders/{number}/attachments/{sha256}"
            | "/api/v1/homestead/applications/{id}/documents/{sha256}",
        ) => UPLOADS.to_vec(),
        _ => vec!["application/json"],
    }
}

/// What a route does, in Chinese and English (routes not listed get their method and path).
fn summary(method: &str, path: &str) -> (&'static str, &'static str) {
    match (method, path) {
        ("POST", "/api/v1/auth/login") => ("登录，返回令牌", "sign in; returns a bearer token"),
        ("POST", "/api/v1/auth/logout") => ("退出登录", "sign out"),
        ("GET", "/api/v1/auth/me") => (
            "当前用户、角色与可执行的操作",
            "who am I, my roles and abilities",
        ),
        ("POST", "/api/v1/auth/password") => ("修改本人密码", "change my password"),
        ("GET", "/api/v1/roles") => ("角色列表", "the roles"),
        ("GET", "/api/v1/tokens") => ("本人的接口令牌", "my API tokens"),
        ("POST", "/api/v1/tokens") => ("签发接口令牌", "issue an API token"),
        ("DELETE", "/api/v1/tokens/{id}") => ("吊销接口令牌", "revoke an API token"),
        ("GET", "/api/v1/users") => ("用户列表（辖区内）", "accounts in my jurisdiction"),
        ("POST", "/api/v1/users") => ("创建用户", "create an account"),
        ("GET", "/api/v1/users/{name}") => ("查看用户", "read an account"),
        ("PATCH", "/api/v1/users/{name}") => (
            "修改用户（带版本号）",
            "change an account (with its version)",
        ),
        ("POST", "/api/v1/users/{name}/password") => ("重置密码", "reset a password"),
        ("GET", "/api/v1/audit") => ("某对象的审计记录", "a resource's audit history"),
        ("GET", "/api/v1/audit/verify") => ("校验审计链", "verify the audit chain"),
        ("PUT", "/api/v1/layers/{id}/access") => ("设置图层是否公开", "make a layer public or not"),
        ("POST", "/api/v1/compliance") => ("选址合规性分析", "compliance analysis of a site"),
        ("GET", "/api/v1/compliance/rule-sets") => ("合规规则集", "compliance rule sets"),
        ("GET", "/api/v1/search") => ("搜索代码与名称", "search codes and names"),
        ("GET", "/api/v1/layers/{id}/checks") => (
            "图层的导入质检记录（新者在前）",
            "the quality checks kept with a layer's imports (newest first)",
        ),
        ("GET", "/api/v1/status") => ("服务状态", "service status"),
        ("GET", "/api/v1/openapi.json") => ("本文档", "this document"),
        ("GET", "/api/v1/orders/categories") => ("工单分类", "work-order categories"),
        ("PUT", "/api/v1/orders/categories") => {
            ("替换工单分类（TSV）", "replace the categories (TSV)")
        }
        ("GET", "/api/v1/orders") => (
            "工单列表（辖区内，可筛选）",
            "orders in my jurisdiction, filtered",
        ),
        ("POST", "/api/v1/orders") => (
            "受理工单（可一键派遣）",
            "take an order in (optionally dispatching it)",
        ),
        ("POST", "/api/v1/orders/duplicates") => ("疑似重复工单", "possible duplicates"),
        ("GET", "/api/v1/orders/stats") => {
            ("工单统计（JSON 或 Excel）", "indicators (JSON or Excel)")
        }
        ("GET", "/api/v1/homestead/applications") => (
            "宅基地申请列表（辖区内，可筛选）",
            "homestead applications in my jurisdiction, filtered",
        ),
        ("POST", "/api/v1/homestead/applications") => ("提交宅基地申请", "submit an application"),
        ("GET", "/api/v1/homestead/applications/{id}") => {
            ("宅基地申请及其办理过程", "an application and its case")
        }
        ("POST", "/api/v1/homestead/applications/{id}/actions") => (
            "办理环节（同意、驳回、不予批准等）",
            "act on a step (approve, return, reject …)",
        ),
        ("POST", "/api/v1/homestead/applications/{id}/documents") => (
            "上传申请材料（请求体为文件）",
            "attach a document (the body is the file)",
        ),
        ("GET", "/api/v1/homestead/applications/{id}/documents/{sha256}") => {
            ("下载申请材料", "a document's bytes")
        }
        ("GET", "/api/v1/homestead/collectives/{village}") => {
            ("查看集体经济组织成员名册", "a collective's member roll")
        }
        ("PUT", "/api/v1/homestead/collectives/{village}") => (
            "替换集体经济组织成员名册",
            "replace a collective's member roll",
        ),
        ("GET", "/api/v1/homestead/events") => (
            "后续事项列表（转让、出租、抵押、注销抵押、退出）",
            "later events (transfer, lease, mortgage, discharge, exit)",
        ),
        ("POST", "/api/v1/homestead/events") => (
            "申请后续事项（kind 为 transfer、lease、mortgage、discharge、exit）",
            "request a later event on a registered homestead",
        ),
        ("GET", "/api/v1/homestead/events/{id}") => {
            ("后续事项及其办理过程", "an event and its case")
        }
        ("POST", "/api/v1/homestead/events/{id}/actions") => {
            ("办理后续事项的环节", "act on an event's step")
        }
        ("GET", "/api/v1/homestead/rights/{code}") => (
            "宅基地使用权及房屋所有权（含出租、抵押、转让记录）",
            "a registered right with its leases, mortgages and transfers",
        ),
        ("GET", "/api/v1/homestead/ledger") => (
            "宅基地审批台账（JSON 或 Excel）",
            "the approval ledger (JSON or Excel)",
        ),
        ("GET", "/api/v1/homestead/stats") => (
            "宅基地审批统计：按镇街、村居或环节（JSON 或 Excel）",
            "statistics by town, village or step (JSON or Excel)",
        ),
        ("GET", "/api/v1/certificates") => ("电子证照列表", "certificates"),
        ("GET", "/api/v1/certificates/{id}") => (
            "查看电子证照（含二维码验证地址）",
            "a certificate, with its QR code's verification path",
        ),
        ("GET", "/api/v1/certificates/{id}/verify") => (
            "验证电子证照（须带二维码中的 s 参数）",
            "verify a presented certificate (with the QR code's s parameter)",
        ),
        ("GET", "/api/v1/certificates/{id}/pdf") => ("证照 PDF", "a certificate as PDF"),
        ("POST", "/api/v1/certificates/{id}/revoke") => ("注销证照", "revoke a certificate"),
        ("GET", "/api/v1/farmland/balances") => (
            "耕地占补平衡指标台账余额（耕地、水田、产能；可指定截至时刻）",
            "the quota ledger's balances in three units (now or as of an instant)",
        ),
        ("GET", "/api/v1/farmland/journal") => (
            "指标记账流水（最新在前，可按账户、类型、关联筛选）",
            "the journal, newest first, by account, movement or reference",
        ),
        ("POST", "/api/v1/farmland/postings") => (
            "记账：调剂、冻结、解冻、减扣、信用指标借用和归还",
            "post a transfer, freeze, release, deduction, borrowing or repayment",
        ),
        ("GET", "/api/v1/farmland/postings/{no}") => ("一笔记账", "a posting"),
        ("POST", "/api/v1/farmland/postings/{no}/reversal") => (
            "冲正一笔记账（须写明原因）",
            "reverse a posting, with the reason",
        ),
        ("GET", "/api/v1/farmland/projects") => ("补充耕地项目", "compensation projects"),
        ("POST", "/api/v1/farmland/projects") => (
            "登记补充耕地项目（范围、新增耕地和水田、质量等别）",
            "register a compensation project",
        ),
        ("GET", "/api/v1/farmland/projects/{id}") => ("补充耕地项目", "a compensation project"),
        ("POST", "/api/v1/farmland/projects/{id}/acceptance") => (
            "补充耕地项目验收入库",
            "accept a project: its quota enters the pool",
        ),
        ("GET", "/api/v1/farmland/inout") => (
            "年度耕地进出平衡：按镇街的计划、流出、恢复、指标补足和待补足（JSON 或 Excel）",
            "the year's in-out balance by town (JSON or Excel)",
        ),
        ("PUT", "/api/v1/farmland/inout/plan") => (
            "设置年度进出平衡方案（按镇街的计划流出和恢复）",
            "set the year's in-out plan by town",
        ),
        ("GET", "/api/v1/farmland/chiefs") => ("田长名册（含上级田长）", "the field chiefs"),
        ("POST", "/api/v1/farmland/chiefs") => (
            "任命田长（县区、镇街、村居、网格，责任区为一张图的网格）",
            "appoint a field chief to an area of the grid",
        ),
        ("GET", "/api/v1/farmland/chiefs/{id}") => (
            "田长及其责任网格和耕地地块",
            "a chief with its cells and farmland patches",
        ),
        ("PUT", "/api/v1/farmland/chiefs/{id}/pledge") => {
            ("登记耕地保护责任书", "record the chief's signed pledge")
        }
        ("GET", "/api/v1/farmland/patrols") => (
            "巡田记录（按月份或工单）",
            "patrols of a month, or the one an order came from",
        ),
        ("POST", "/api/v1/farmland/patrols") => (
            "记录巡田（轨迹、发现问题即生成工单）",
            "record a patrol; a problem found becomes a work order",
        ),
        ("GET", "/api/v1/farmland/patrols/report") => (
            "月度巡田率（落后者报上级田长）",
            "the month's patrol rate by chief, those behind flagged upwards",
        ),
        ("PUT", "/api/v1/farmland/patrol-rule") => {
            ("设置巡田规则（每格每月次数）", "set the patrol rule")
        }
        ("GET", "/api/v1/farmland/compensation") => (
            "年度耕地保护补偿发放清单（按集体经济组织；JSON 或 Excel）",
            "the year's farmland-protection compensation by collective (JSON or Excel)",
        ),
        ("PUT", "/api/v1/farmland/compensation/rates") => (
            "设置耕地保护补偿标准（按质量等别每亩元数、永久基本农田加补）",
            "set the compensation rates",
        ),
        ("GET", "/api/v1/survey/projects") => (
            "测绘项目列表（测绘单位只见本单位项目）",
            "survey projects (a firm sees its own)",
        ),
        ("POST", "/api/v1/survey/projects") => ("登记测绘项目", "register a survey project"),
        ("GET", "/api/v1/survey/projects/{id}") => (
            "测绘项目及其成果提交",
            "a survey project with its submissions",
        ),
        ("POST", "/api/v1/survey/projects/{id}/submissions") => (
            "提交成果包（GeoPackage、压缩的 Shapefile 或 FlatGeobuf），自动质检",
            "submit a package (GeoPackage, zipped Shapefile or FlatGeobuf) for its automatic check",
        ),
        ("GET", "/api/v1/survey/submissions/{id}") => (
            "成果提交：质检进度、汇总与问题清单",
            "a submission: its check's progress, totals and findings",
        ),
        ("GET", "/api/v1/survey/submissions/{id}/files/{file}") => (
            "质检报告文件：report.xlsx、findings.gpkg 或原成果包 package",
            "a report file: report.xlsx, findings.gpkg or the package as submitted",
        ),
        ("POST", "/api/v1/survey/submissions/{id}/actions") => (
            "签认警告、退回或入库",
            "sign off warnings, return the results or accept them into the one map",
        ),
        ("GET", "/api/v1/survey/firms") => (
            "测绘单位质量诚信记录（质检通过与未通过）",
            "each firm's record of checks passed and failed",
        ),
        ("POST", "/api/v1/orders/supervise") => (
            "发送到期提醒、超期预警和督办",
            "send reminders, warnings and 督办 now due",
        ),
        ("GET", "/api/v1/orders/responsibilities") => ("权责清单", "the responsibility list"),
        ("PUT", "/api/v1/orders/responsibilities") => {
            ("替换权责清单", "replace the responsibility list")
        }
        ("GET", "/api/v1/orders/roster") => ("值班表", "the on-duty roster"),
        ("PUT", "/api/v1/orders/roster") => ("替换值班表", "replace the roster"),
        ("GET", "/api/v1/calendar/holidays") => (
            "节假日数据覆盖的年份与新增行",
            "holiday years covered and lines added",
        ),
        ("PUT", "/api/v1/calendar/holidays") => (
            "新增年份的节假日安排（TSV）",
            "add later years' holidays (TSV)",
        ),
        ("GET", "/api/v1/orders/{number}") => ("查看工单", "read an order"),
        ("POST", "/api/v1/orders/{number}/steps") => (
            "办理一步（带版本号）",
            "take a step (with the version read)",
        ),
        ("POST", "/api/v1/orders/{number}/attachments") => {
            ("上传附件（请求体为文件）", "attach a file (the body)")
        }
        ("GET", "/api/v1/orders/{number}/attachments/{sha256}") => {
            ("下载附件", "download an attachment")
        }
        ("POST", p) if p.starts_with("/open311/v2/requests") => (
            "Open311：提交诉求（表单，api_key）",
            "Open311: create a request (form with api_key)",
        ),
        (_, p) if p.starts_with("/open311/v2/") => ("Open311 GeoReport v2", "Open311 GeoReport v2"),
        _ => ("", ""),
    }
}

fn access(guard: Guard) -> String {
    match guard {
        Guard::Public => "public".into(),
        Guard::SignedIn => "signed-in".into(),
        Guard::Action(a) => format!("policy: {}", a.id()),
        Guard::InHandler(a) => format!("policy: {} (decided on the resource)", a.id()),
        Guard::Layer => "the layer's setting (public layers: anyone)".into(),
    }
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_lowercase();
    for part in path
        .split(['/', '.', '-', '{', '}'])
        .filter(|p| !p.is_empty())
    {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            id.extend(c.to_uppercase());
            id.push_str(chars.as_str());
        }
    }
    id
}

/// The status of a route's success and what it holds.
fn success(method: &str, path: &str) -> (&'static str, &'static str) {
    match (method, path) {
        (
            "POST",
            "/api/v1/auth/logout" | "/api/v1/auth/password" | "/api/v1/users/{name}/password",
        ) => ("204", "完成，无内容 / done, no content"),
        (
            "POST",
            "/api/v1/orders"
            | "/api/v1/tokens"
            | "/api/v1/users"
            | "/api/v1/homestead/applications"
            | "/api/v1/homestead/events"
            | "/api/v1/orders/{number}/attachments"
            | "/api/v1/homestead/applications/{id}/documents"
            | "/api/v1/survey/projects"
            | "/api/v1/farmland/postings"
            | "/api/v1/farmland/postings/{no}/reversal"
            | "/api/v1/farmland/projects"
            | "/api/v1/farmland/chiefs"
            | "/api/v1/farmland/patrols"
            | "/open311/v2/requests.json"
            | "/open311/v2/requests.xml",
        ) => ("201", "已创建 / created"),
        ("POST", "/api/v1/survey/projects/{id}/submissions") => (
            "202",
            "已受理，质检在后台进行 / taken in: the check runs in the background",
        ),
        ("GET", "/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}") => {
            ("200", "瓦片（空瓦片为 204）/ the tile (204 when empty)")
        }
        _ => ("200", "成功 / success"),
    }
}

/// The error statuses a route can answer with.
fn errors(method: &str, path: &str, guard: Guard) -> Vec<&'static str> {
    let mut out = vec!["400"];
    if guard != Guard::Public {
        out.extend(["401", "403"]);
    }
    if path.contains('{')
        || path.starts_with("/api/v1/homestead")
        || path.starts_with("/api/v1/orders")
    {
        out.push("404");
    }
    if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
        // 422: a well-formed body whose values the domain refuses (a missing name, a bad code).
        out.extend(["409", "413", "415", "422"]);
    }
    // A payment list needs the district's rates: 409 until they are set.
    if (method, path) == ("GET", "/api/v1/farmland/compensation") {
        out.push("409");
    }
    match path {
        "/api/v1/compliance" => out.extend(["413", "422", "503"]),
        "/api/v1/homestead/applications" | "/api/v1/homestead/applications/{id}/actions" => {
            out.push("503");
        }
        // Wrong credentials (401), a disabled account (403), too many attempts or a lock (429).
        "/api/v1/auth/login" | "/api/v1/auth/password" => out.extend(["401", "403", "429"]),
        _ => {}
    }
    if path.starts_with("/open311/") && method == "POST" {
        out.extend(["401", "403"]);
    }
    out.push("405");
    // The database away (a restart, a failover): every route may meet it, if only in the
    // session check.
    out.push("503");
    out.sort_unstable();
    out.dedup();
    out
}

/// The document.
#[must_use]
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let problem_body = generator
        .subschema_for::<crate::problem::ProblemBody>()
        .to_value();
    let problem = json!({"description": "problem+json", "content": {"application/problem+json": {"schema": problem_body}}});
    // Open311 answers errors as GeoReport error lists, in the format the path asks for.
    let error_list = generator
        .subschema_for::<Vec<open311::GeoReportError>>()
        .to_value();
    let georeport = json!({"description": "GeoReport v2 错误列表 / error list", "content": {
        "application/json": {"schema": error_list},
        "text/xml": {}
    }});
    let mut paths = Map::new();
    for r in ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/api/v1") || r.path.starts_with("/open311"))
    {
        let (zh, en) = summary(r.method, r.path);
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let reads = reads(r.method, r.path, &mut generator);
        if let Some(q) = &reads.query {
            params.extend(query_parameters(q));
        }
        let open311 = r.path.starts_with("/open311/");
        let (ok, ok_what) = success(r.method, r.path);
        let mut responses = Map::new();
        let mut answer = json!({"description": ok_what});
        if ok != "204" {
            let schema = returns(r.method, r.path, &mut generator);
            let content: Map<String, Value> = answers(r.method, r.path)
                .into_iter()
                .map(|m| {
                    let described = match &schema {
                        Some(s) if m == "application/json" => json!({"schema": s}),
                        _ => json!({}),
                    };
                    (m.to_owned(), described)
                })
                .collect();
            answer["content"] = Value::Object(content);
        }
        responses.insert(ok.into(), answer);
        for code in errors(r.method, r.path, r.guard) {
            let doc = if open311 {
                georeport.clone()
            } else {
                problem.clone()
            };
            responses.insert(code.into(), doc);
        }
        let mut op = json!({
            "summary": if zh.is_empty() { format!("{} {}", r.method, r.path) } else { format!("{zh} / {en}") },
            "operationId": operation_id(r.method, r.path),
            "x-tudi-access": access(r.guard),
            "responses": responses,
        });
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if r.guard == Guard::Public {
            op["security"] = json!([]);
        }
        if let Some((media, schema)) = reads.body {
            let content: Map<String, Value> = media
                .into_iter()
                .map(|m| (m.to_owned(), json!({"schema": schema})))
                .collect();
            op["requestBody"] = json!({"required": true, "content": content});
        }
        let entry = paths
            .entry(r.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_lowercase()] = op;
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tudi 区县国土空间治理平台 API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "错误为 RFC 9457 problem+json（中文 detail，英文 detail_en）。/ Errors are RFC 9457 problem+json."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/login 或 /api/v1/tokens 的令牌"},
                "session": {"type": "apiKey", "in": "cookie", "name": "tudi_session", "description": "控制台会话；写操作须带 x-csrf-token"}
            },
            "schemas": schemas
        }
    })
}

/// The document is the same for the life of the process (it is built from the route table and
/// the types): derived once, on the first request.
pub(crate) async fn serve() -> Response {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(document)).into_response()
}
