//! Open311 GeoReport v2 under `/open311/v2`, in JSON and XML: discovery, the service list (the
//! work-order categories), service definitions, requests (read by anyone, public fields only;
//! created with an API key), one request, and tokens.
//!
//! The rich internal states map onto `open` / `closed`, with the plain public status as
//! `status_notes`. Reporters are never shown. A request's id and token are its order number.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use jiff::Timestamp;
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tudi_orders::category::{Taxonomy, Urgency};
use tudi_orders::order::{Channel, Order, Reporter, shanghai};
use tudi_orders::service::NewOrder;

use crate::AppState;
use crate::auth::{Ctx, access_problem};
use crate::orders::{read_orders, take_in, taxonomy};
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/discovery.json", get(discovery_json))
        .route("/open311/v2/discovery.xml", get(discovery_xml))
        .route("/open311/v2/services.json", get(services_json))
        .route("/open311/v2/services.xml", get(services_xml))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route(
            "/open311/v2/requests.json",
            get(requests_json).post(create_json),
        )
        .route(
            "/open311/v2/requests.xml",
            get(requests_xml).post(create_xml),
        )
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// `CODE.json` / `CODE.xml` → (CODE, format), or the 404 for any other ending.
fn split_file(file: &str) -> Result<(&str, Format), Box<Response>> {
    if let Some(stem) = file.strip_suffix(".json") {
        Ok((stem, Format::Json))
    } else if let Some(stem) = file.strip_suffix(".xml") {
        Ok((stem, Format::Xml))
    } else {
        Err(Box::new(error(
            Format::Json,
            StatusCode::NOT_FOUND,
            "请以 .json 或 .xml 结尾",
            "end the path in .json or .xml",
        )))
    }
}

/// A value as GeoReport XML: `root` holding one `item` element per array member, each with one
/// child per field (arrays of strings repeat the child's name).
fn to_xml(root: &str, item: &str, items: &[Value]) -> String {
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("utf-8"),
        None,
    )));
    let _ = w.write_event(Event::Start(BytesStart::new(root)));
    for it in items {
        let _ = w.write_event(Event::Start(BytesStart::new(item)));
        if let Value::Object(map) = it {
            for (k, v) in map {
                write_field(&mut w, k, v);
            }
        }
        let _ = w.write_event(Event::End(BytesEnd::new(item)));
    }
    let _ = w.write_event(Event::End(BytesEnd::new(root)));
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn write_field(w: &mut Writer<Vec<u8>>, name: &str, v: &Value) {
    match v {
        // GeoReport nests an endpoint's formats: `<formats><format>…</format></formats>`.
        Value::Array(items) if name == "formats" => {
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            for i in items {
                write_field(w, "format", i);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
        Value::Array(items) => {
            for i in items {
                write_field(w, name, i);
            }
        }
        Value::Object(map) => {
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            for (k, v) in map {
                write_field(w, k, v);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
        other => {
            let text = match other {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            // Text kept before control characters were refused must not break the feed.
            let _ = w.write_event(Event::Text(BytesText::new(&tudi_core::text::xml_safe(
                &text,
            ))));
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
    }
}

/// A list of `items` in the format asked for: JSON as it is, XML by walking each item's fields.
fn respond<T: Serialize>(
    format: Format,
    status: StatusCode,
    root: &str,
    item: &str,
    items: &[T],
) -> Response {
    match format {
        Format::Json => (status, axum::Json(items)).into_response(),
        Format::Xml => {
            let mut res = (status, to_xml(root, item, &values(items))).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            );
            res
        }
    }
}

/// One error of a GeoReport error list.
#[derive(Serialize, JsonSchema)]
pub(crate) struct GeoReportError {
    /// The HTTP status.
    code: u16,
    /// 中文在前 / Chinese first, then English.
    description: String,
}

/// A GeoReport error list (`[{"code", "description"}]`), with the Chinese text first.
fn error(format: Format, status: StatusCode, zh: &str, en: &str) -> Response {
    respond(
        format,
        status,
        "errors",
        "error",
        &[GeoReportError {
            code: status.as_u16(),
            description: format!("{zh} / {en}"),
        }],
    )
}

fn from_problem(format: Format, p: &Problem) -> Response {
    error(format, p.status, &p.detail, &p.detail_en)
}

/// GeoReport v2 service discovery.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Discovery {
    changeset: &'static str,
    contact: &'static str,
    key_service: &'static str,
    endpoints: Vec<Endpoint>,
    jurisdiction_id: String,
}

/// One endpoint in discovery.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Endpoint {
    specification: &'static str,
    /// 绝对地址 / an absolute URL.
    url: String,
    changeset: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    formats: [&'static str; 2],
}

/// A service (a work-order category citizens may report under).
#[derive(Serialize, JsonSchema)]
pub(crate) struct Service {
    service_code: String,
    service_name: String,
    description: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    keywords: String,
    group: String,
}

/// A service's definition: no service takes extra attributes.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceDefinition {
    service_code: String,
    attributes: [(); 0],
}

/// A request as the public sees it: no reporter, the plain status.
#[derive(Serialize, JsonSchema)]
pub(crate) struct PublicRequest {
    service_request_id: String,
    /// `open` 或 `closed`.
    status: &'static str,
    status_notes: &'static str,
    service_name: String,
    service_code: String,
    description: String,
    agency_responsible: Option<String>,
    service_notice: Option<String>,
    requested_datetime: String,
    updated_datetime: String,
    expected_datetime: Option<String>,
    merged_into: Option<String>,
    address: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
}

/// The id (and token) of a request.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RequestId {
    service_request_id: String,
    token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_notice: Option<&'static str>,
}

/// Each item as the value the XML writer walks.
fn values<T: Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
        .collect()
}

fn discovery(st: &AppState) -> Discovery {
    const CHANGESET: &str = "2026-11-22T00:00:00+08:00";
    let district = st.district.as_ref().map_or("", |d| d.as_str()).to_owned();
    // Clients resolve the endpoint from discovery alone: an absolute URL.
    let url = format!("{}/open311/v2", st.public_url.trim_end_matches('/'));
    Discovery {
        changeset: CHANGESET,
        contact: "区 12345 政务服务便民热线 / the district's 12345 hotline",
        key_service: "API keys are tudi API tokens (POST /api/v1/tokens) of accounts allowed to take in work orders",
        endpoints: vec![Endpoint {
            specification: "http://wiki.open311.org/GeoReport_v2",
            url,
            changeset: CHANGESET,
            kind: "production",
            formats: ["application/json", "text/xml"],
        }],
        jurisdiction_id: district,
    }
}

async fn discovery_json(State(st): State<AppState>) -> Response {
    axum::Json(discovery(&st)).into_response()
}

async fn discovery_xml(State(st): State<AppState>) -> Response {
    let d = serde_json::to_value(discovery(&st)).unwrap_or(Value::Null);
    let mut res = to_xml_single("discovery", &d).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    res
}

fn to_xml_single(root: &str, v: &Value) -> String {
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("utf-8"),
        None,
    )));
    let _ = w.write_event(Event::Start(BytesStart::new(root)));
    if let Value::Object(map) = v {
        for (k, val) in map {
            if k == "endpoints" {
                let _ = w.write_event(Event::Start(BytesStart::new("endpoints")));
                if let Value::Array(eps) = val {
                    for e in eps {
                        write_field(&mut w, "endpoint", e);
                    }
                }
                let _ = w.write_event(Event::End(BytesEnd::new("endpoints")));
            } else {
                write_field(&mut w, k, val);
            }
        }
    }
    let _ = w.write_event(Event::End(BytesEnd::new(root)));
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn services(t: &Taxonomy) -> Vec<Service> {
    t.iter()
        .filter(|c| c.parent.is_some() || !t.iter().any(|x| x.parent.as_deref() == Some(&c.code)))
        .map(|c| {
            let group = c
                .parent
                .as_deref()
                .and_then(|p| t.get(p).ok())
                .map_or_else(|| c.class.name_zh().to_owned(), |p| p.name_zh.clone());
            Service {
                service_code: c.code.clone(),
                service_name: c.name_zh.clone(),
                description: format!(
                    "{}（{}；{} 个工作日内办理）/ {}",
                    c.name_zh,
                    c.class.name_zh(),
                    c.normal_days,
                    c.name_en
                ),
                metadata: false,
                kind: "realtime",
                keywords: c.name_en.clone(),
                group,
            }
        })
        .collect()
}

async fn services_in(format: Format, st: &AppState) -> Response {
    match taxonomy(st).await {
        Ok(t) => respond(format, StatusCode::OK, "services", "service", &services(&t)),
        Err(p) => from_problem(format, &p),
    }
}

async fn services_json(State(st): State<AppState>) -> Response {
    services_in(Format::Json, &st).await
}

async fn services_xml(State(st): State<AppState>) -> Response {
    services_in(Format::Xml, &st).await
}

async fn service_definition(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let (code, format) = match split_file(&file) {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let t = match taxonomy(&st).await {
        Ok(t) => t,
        Err(p) => return from_problem(format, &p),
    };
    if !services(&t).iter().any(|s| s.service_code == code) {
        return error(
            format,
            StatusCode::NOT_FOUND,
            &format!("没有服务代码 {code}"),
            &format!("no service code {code}"),
        );
    }
    // No service takes extra attributes: the definition is the code with an empty list.
    let def = ServiceDefinition {
        service_code: code.to_owned(),
        attributes: [],
    };
    match format {
        Format::Json => axum::Json(def).into_response(),
        Format::Xml => {
            let def = serde_json::to_value(def).unwrap_or(Value::Null);
            let mut res = to_xml_single("service_definition", &def).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            );
            res
        }
    }
}

fn iso(ts: Timestamp) -> String {
    ts.to_zoned(shanghai())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The public face of an order: no reporter, the plain status. A merged order follows the order
/// it was merged into (`survivor`): its reporter sees that order's status, unit and outcome.
/// The public status of `o` as a request shows it: a merged request follows the order it was
/// merged into.
fn shown_status(o: &Order, survivor: Option<&Order>) -> tudi_orders::lifecycle::PublicStatus {
    survivor.unwrap_or(o).state.public()
}

fn public_request(o: &Order, taxonomy: &Taxonomy, survivor: Option<&Order>) -> PublicRequest {
    let followed = survivor.unwrap_or(o);
    let status = shown_status(o, survivor);
    // Last changed: by its own steps or by those of the order it follows, never before it came.
    let updated = [o, followed]
        .iter()
        .filter_map(|x| x.timeline.last().map(|e| e.at))
        .max()
        .unwrap_or(o.received_at)
        .max(o.received_at);
    let service_name = taxonomy
        .get(&o.category)
        .map(|c| c.name_zh.clone())
        .unwrap_or_default();
    let expected = followed
        .due
        .and_then(|d| d.to_zoned(shanghai()).ok())
        .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
    PublicRequest {
        service_request_id: o.number.clone(),
        status: status.open311(),
        status_notes: status.name_zh(),
        service_name,
        service_code: o.category.clone(),
        description: o.description.clone(),
        agency_responsible: followed.unit.as_ref().map(|u| u.name.clone()),
        service_notice: o
            .merged_into
            .as_ref()
            .map(|n| format!("已合并至 {n}，随其办理 / merged into {n} and handled with it")),
        requested_datetime: iso(o.received_at),
        updated_datetime: iso(updated),
        expected_datetime: expected,
        merged_into: o.merged_into.clone(),
        address: o.address.clone(),
        lat: o.location.map(|l| l[1]),
        long: o.location.map(|l| l[0]),
    }
}

#[derive(Deserialize, Default, JsonSchema)]
pub(crate) struct RequestsQuery {
    service_request_id: Option<String>,
    service_code: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    status: Option<String>,
}

async fn requests(st: AppState, q: RequestsQuery, format: Format) -> Response {
    // Which date parameter is not an ISO 8601 date-time, if any.
    let parse =
        |s: &Option<String>, name: &'static str| -> Result<Option<Timestamp>, &'static str> {
            s.as_deref()
                .filter(|s| !s.is_empty())
                .map(|t| t.parse::<Timestamp>().map_err(|_| name))
                .transpose()
        };
    let (start, end) = match (
        parse(&q.start_date, "start_date"),
        parse(&q.end_date, "end_date"),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(name), _) | (_, Err(name)) => {
            return error(
                format,
                StatusCode::BAD_REQUEST,
                &format!("{name} 应为 ISO 8601 时间（如 2026-11-22T00:00:00+08:00）"),
                &format!("{name} must be an ISO 8601 date-time"),
            );
        }
    };
    // Filters take comma-separated lists (`status=open,closed`, `service_code=SJ0401,0101`).
    let list = |v: &Option<String>| -> Option<Vec<String>> {
        v.as_deref().filter(|s| !s.is_empty()).map(|s| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
    };
    let statuses = list(&q.status);
    let codes = list(&q.service_code);
    if let Some(s) = statuses
        .iter()
        .flatten()
        .find(|s| s.as_str() != "open" && s.as_str() != "closed")
    {
        let _ = s;
        return error(
            format,
            StatusCode::BAD_REQUEST,
            "status 应为 open 或 closed",
            "status must be open or closed",
        );
    }
    let ids = list(&q.service_request_id);
    let all = match read_orders(&st, |s| {
        tudi_orders::service::list_orders(s, None, u64::MAX >> 1, 0).map(|(v, _)| v)
    })
    .await
    {
        Ok(v) => v,
        Err(p) => return from_problem(format, &p),
    };
    let taxonomy = match taxonomy(&st).await {
        Ok(t) => t,
        Err(p) => return from_problem(format, &p),
    };
    // GeoReport's defaults: without ids or dates, the last 90 days; at most 1,000 requests.
    let since = start.or_else(|| {
        ids.is_none()
            .then(|| {
                Timestamp::now()
                    .checked_sub(jiff::SignedDuration::from_hours(24 * 90))
                    .ok()
            })
            .flatten()
    });
    let mut out: Vec<PublicRequest> = all
        .iter()
        .map(|v| &v.order)
        .filter(|o| ids.as_ref().is_none_or(|ids| ids.contains(&o.number)))
        .filter(|o| ids.is_some() || since.is_none_or(|s| o.received_at >= s))
        .filter(|o| ids.is_some() || end.is_none_or(|e| o.received_at <= e))
        .filter(|o| codes.as_ref().is_none_or(|c| c.contains(&o.category)))
        .filter_map(|o| {
            let survivor = o
                .merged_into
                .as_ref()
                .and_then(|n| all.iter().find(|v| &v.order.number == n))
                .map(|v| &v.order);
            // The status filter sees what the request shows.
            let shown = shown_status(o, survivor).open311();
            statuses
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == shown))
                .then(|| public_request(o, &taxonomy, survivor))
        })
        .collect();
    out.reverse();
    out.truncate(1000);
    respond(format, StatusCode::OK, "service_requests", "request", &out)
}

type QueryResult = Result<Query<RequestsQuery>, axum::extract::rejection::QueryRejection>;

async fn requests_in(format: Format, st: AppState, q: QueryResult) -> Response {
    match q {
        Ok(Query(q)) => requests(st, q, format).await,
        Err(e) => error(
            format,
            StatusCode::BAD_REQUEST,
            &format!("查询参数无效：{}", e.body_text()),
            &e.body_text(),
        ),
    }
}

async fn requests_json(State(st): State<AppState>, q: QueryResult) -> Response {
    requests_in(Format::Json, st, q).await
}

async fn requests_xml(State(st): State<AppState>, q: QueryResult) -> Response {
    requests_in(Format::Xml, st, q).await
}

async fn one_request(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let (id, format) = match split_file(&file) {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let number = id.to_owned();
    let found = read_orders(&st, move |s| {
        let v = tudi_orders::service::read_order(s, &number)?;
        let survivor = match &v.order.merged_into {
            Some(n) => Some(tudi_orders::service::read_order(s, n)?.order),
            None => None,
        };
        Ok((v, survivor))
    })
    .await;
    match found {
        Ok((v, survivor)) => {
            let taxonomy = match taxonomy(&st).await {
                Ok(t) => t,
                Err(p) => return from_problem(format, &p),
            };
            respond(
                format,
                StatusCode::OK,
                "service_requests",
                "request",
                &[public_request(&v.order, &taxonomy, survivor.as_ref())],
            )
        }
        Err(p) => from_problem(format, &p),
    }
}

async fn token(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let (id, format) = match split_file(&file) {
        Ok(x) => x,
        Err(res) => return *res,
    };
    let number = id.to_owned();
    match read_orders(&st, move |s| tudi_orders::service::read_order(s, &number)).await {
        Ok(v) => respond(
            format,
            StatusCode::OK,
            "service_requests",
            "request",
            &[RequestId {
                service_request_id: v.order.number.clone(),
                token: v.order.number,
                service_notice: None,
            }],
        ),
        Err(p) => from_problem(format, &p),
    }
}

/// The form of `POST requests` (GeoReport v2); other fields are ignored.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct CreateForm {
    api_key: Option<String>,
    service_code: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
    address_string: Option<String>,
    description: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
}

/// A GeoReport v2 `POST requests` form, read: the API key it carries (if any) and the order it
/// asks for. What is in the order is checked by intake, as for every other channel.
#[derive(Debug)]
pub struct RequestForm {
    /// `api_key`: a tudi API token.
    pub api_key: Option<String>,
    /// The order to take in.
    pub order: NewOrder,
}

/// Reads the body of a GeoReport v2 `POST requests` (`application/x-www-form-urlencoded`).
///
/// # Errors
/// What is wrong with the form, in Chinese and English.
pub fn parse_request_form(body: &[u8]) -> Result<RequestForm, (String, String)> {
    let form: CreateForm = serde_urlencoded::from_bytes(body)
        .map_err(|e| (format!("表单无效：{e}"), format!("invalid form: {e}")))?;
    let Some(code) = form.service_code.filter(|c| !c.is_empty()) else {
        return Err((
            "缺少 service_code".into(),
            "service_code is required".into(),
        ));
    };
    let location = match (form.lat, form.long) {
        (Some(lat), Some(lon)) => Some([lon, lat]),
        _ => None,
    };
    let name = [form.last_name, form.first_name]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("");
    let reporter = (!name.is_empty() || form.phone.is_some()).then(|| Reporter {
        name: (!name.is_empty()).then_some(name),
        phone: form.phone,
    });
    Ok(RequestForm {
        api_key: form.api_key.filter(|k| !k.is_empty()),
        order: NewOrder {
            channel: Channel::Open311,
            reporter,
            category: code,
            description: form.description.unwrap_or_default(),
            location,
            address: form.address_string,
            urgency: Urgency::Normal,
            enterprise: false,
        },
    })
}

async fn create(st: AppState, ctx: Ctx, form: RequestForm, format: Format) -> Response {
    // The API key is a tudi API token; without one, a bearer token or session works too.
    let mut ctx = ctx;
    if let Some(key) = form.api_key {
        let st2 = st.clone();
        let who = crate::spawn_store_work(move || {
            st2.recognised
                .authenticate(&*st2.store, &st2.auth, &key, Timestamp::now())
        })
        .await;
        match who {
            Ok(Ok(a)) => ctx.principal = a.principal,
            Ok(Err(e)) => return from_problem(format, &access_problem(&e)),
            Err(_) => return from_problem(format, &Problem::internal()),
        }
    }
    match take_in(&st, &ctx, form.order, false).await {
        Ok(v) => respond(
            format,
            StatusCode::CREATED,
            "service_requests",
            "request",
            &[RequestId {
                service_request_id: v.order.number.clone(),
                token: v.order.number,
                service_notice: Some("已受理 / received"),
            }],
        ),
        Err(p) => from_problem(format, &p),
    }
}

async fn create_in(
    format: Format,
    st: AppState,
    ctx: Ctx,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return error(
            format,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "请求体应为表单（application/x-www-form-urlencoded）",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    match parse_request_form(body) {
        Ok(f) => create(st, ctx, f, format).await,
        Err((zh, en)) => error(format, StatusCode::BAD_REQUEST, &zh, &en),
    }
}

async fn create_json(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    create_in(Format::Json, st, ctx, &headers, &body).await
}

async fn create_xml(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    create_in(Format::Xml, st, ctx, &headers, &body).await
}
