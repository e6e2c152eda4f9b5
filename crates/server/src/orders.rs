//! The work-order centre under `/api/v1/orders`: categories, intake (with one-click dispatch),
//! lists and one order for those whose jurisdiction covers it, and the life-cycle steps, each
//! decided by the policy for the duty the step needs (supervise, dispatch, handle).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tudi_access::policy::may_see_phone;
use tudi_access::{Action, Jurisdiction, Principal, Resource, Unit, decide};
use tudi_orders::category::Taxonomy;
use tudi_orders::lifecycle::{self, Duty, State as OrderState, Step};
use tudi_orders::order::{Order, StepInput};
use tudi_orders::routing::{ResponsibilityList, UnitKind};
use tudi_orders::service::{NewOrder, OrderError, Orders, Versioned, load_responsibilities};
use tudi_store::Store;

use crate::AppState;
use crate::accounts::body_problem;
use crate::auth::{Ctx, authorize, authorize_found, authorize_somewhere};
use crate::ogc::{blocking, store_failed};
use crate::params::Params;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/orders/categories",
            get(categories).put(write_categories),
        )
        .route("/api/v1/orders", get(list).post(intake))
        .route("/api/v1/orders/duplicates", post(duplicates))
        .route("/api/v1/orders/stats", get(stats))
        .route("/api/v1/orders/supervise", post(supervise))
        .route(
            "/api/v1/orders/responsibilities",
            get(read_responsibilities).put(write_responsibilities),
        )
        .route("/api/v1/orders/roster", get(read_roster).put(write_roster))
        .route(
            "/api/v1/calendar/holidays",
            get(read_holidays).put(write_holidays),
        )
        .route("/api/v1/orders/{number}", get(read))
        .route("/api/v1/orders/{number}/steps", post(step))
        .route(
            "/api/v1/orders/{number}/attachments",
            // Files up to the server's request limit reach the handler, which says what is
            // too large (axum's own default would cut them at 2 MB).
            post(attach).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY)),
        )
        .route(
            "/api/v1/orders/{number}/attachments/{sha256}",
            get(attachment),
        )
}

pub(crate) fn order_problem(e: &OrderError) -> Problem {
    let m = e.message();
    match e {
        OrderError::Category(_) | OrderError::Invalid { .. } => {
            let field = match e {
                OrderError::Invalid { field, .. } => field,
                _ => "category",
            };
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-order",
                "工单内容无效",
                m.zh,
                m.en,
            );
            p.field = Some(field.into());
            p
        }
        OrderError::NotFound(_) => Problem::not_found(m.zh, m.en),
        // What the caller left out or got wrong is theirs to correct (400, naming the field);
        // what the order's state refuses is a conflict.
        OrderError::Step(step) => match step.field() {
            Some(field) => {
                let mut p = Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-step",
                    "操作内容不完整或无效",
                    m.zh,
                    m.en,
                );
                p.field = Some(field.into());
                p
            }
            None => Problem::new(
                StatusCode::CONFLICT,
                "illegal-step",
                "当前状态不能执行此操作",
                m.zh,
                m.en,
            ),
        },
        OrderError::Conflict { .. } => Problem::new(
            StatusCode::CONFLICT,
            "version-conflict",
            "工单已被他人处理",
            m.zh,
            m.en,
        ),
        OrderError::Store(s) => store_failed(s),
    }
}

/// The district, or a clear refusal when the store has none configured.
pub(crate) fn district(st: &AppState) -> Result<Jurisdiction, Problem> {
    st.district.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-district",
            "未配置辖区",
            "数据库未设置本区代码（tudi init --district），无法受理工单",
            "the store has no district set (tudi init --district): work orders are unavailable",
        )
    })
}

/// The work-order centre's settings: what filing, routing and deadlines follow.
pub(crate) struct OrderRules {
    taxonomy: Taxonomy,
    responsibilities: ResponsibilityList,
    calendar: tudi_core::calendar::WorkCalendar,
}

impl OrderRules {
    fn read(store: &dyn Store) -> Result<Self, OrderError> {
        Ok(Self {
            taxonomy: tudi_orders::service::load_taxonomy(store)?,
            responsibilities: load_responsibilities(store)?,
            calendar: tudi_orders::service::load_calendar(store)?,
        })
    }
}

/// Runs order work on a blocking thread with the centre's current rules (read again only when
/// a setting has changed).
pub(crate) async fn with_orders<T: Send + 'static>(
    st: &AppState,
    work: impl FnOnce(&Orders<'_>) -> Result<T, OrderError> + Send + 'static,
) -> Result<T, Problem> {
    let district = district(st)?;
    let st = st.clone();
    blocking(move || {
        let store = &*st.store;
        let settings = store.revisions().ok().map(|r| r.settings);
        let rules = st
            .order_rules
            .try_get(settings, || OrderRules::read(store))
            .map_err(|e| order_problem(&e))?;
        let orders = Orders {
            store,
            taxonomy: &rules.taxonomy,
            responsibilities: &rules.responsibilities,
            calendar: &rules.calendar,
            district: &district,
        };
        work(&orders).map_err(|e| order_problem(&e))
    })
    .await
}

/// The jurisdiction an order lies in: its grid cell, else the district.
fn order_scope(order: &Order, district: &Jurisdiction) -> Vec<Jurisdiction> {
    vec![
        order
            .grid
            .as_deref()
            .and_then(|g| Jurisdiction::parse(g).ok())
            .unwrap_or_else(|| district.clone()),
    ]
}

/// An order as `who` may see it: the reporter masked unless their role needs the number here.
/// An order as its reader may see it, with what can be done next.
#[derive(Serialize, JsonSchema)]
pub(crate) struct OrderView {
    order: Order,
    /// 版本号：办理下一步时带上 / the version to send with the next step.
    version: u64,
    state_name: &'static str,
    public_status: lifecycle::PublicStatus,
    public_status_name: &'static str,
    /// 当前可办的环节 / the steps the order's state allows.
    steps: Vec<&'static str>,
}

/// A page of orders.
#[derive(Serialize, JsonSchema)]
pub(crate) struct OrderPage {
    orders: Vec<OrderView>,
    /// 符合条件的总数 / how many meet the filter.
    total: usize,
    limit: u64,
    offset: u64,
}

/// A category as listed.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CategoryView {
    code: String,
    parent: Option<String>,
    class: tudi_orders::category::Class,
    class_name: &'static str,
    name: String,
    name_en: String,
    normal_days: u32,
    urgent_days: u32,
}

/// The categories in force.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CategoryList {
    categories: Vec<CategoryView>,
}

/// Possible duplicates of an order being taken in, most likely first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Suggestions {
    suggestions: Vec<tudi_orders::duplicates::Suggestion>,
}

/// Indicators by group over a period.
#[derive(Serialize, JsonSchema)]
pub(crate) struct OrderStats {
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    by: tudi_orders::stats::GroupBy,
    rows: Vec<tudi_orders::stats::Indicators>,
    headings: [&'static str; 11],
}

/// How many notices a supervision round sent.
#[derive(Serialize, JsonSchema)]
pub(crate) struct NoticesSent {
    notices: usize,
}

/// How many entries a replaced list holds.
#[derive(Serialize, JsonSchema)]
pub(crate) struct EntriesSaved {
    entries: usize,
}

/// How many categories are now in force.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CategoriesSaved {
    categories: usize,
}

/// The years the working-day calendar covers (first and last) and the lines a district added.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Holidays {
    years: Option<[i16; 2]>,
    /// 本区新增的节假日 TSV 行 / the TSV lines the district added.
    #[serde(skip_serializing_if = "Option::is_none")]
    added: Option<String>,
}

fn view(v: &Versioned, who: &Principal, district: &Jurisdiction) -> OrderView {
    let scope = order_scope(&v.order, district);
    let res = Resource {
        scope: &scope,
        ..Resource::default()
    };
    let mut order = v.order.clone();
    if !may_see_phone(who, &res) {
        order.reporter = order.reporter.map(|r| r.masked());
    }
    let public = order.state.public();
    let steps: Vec<&str> = lifecycle::allowed(order.state)
        .into_iter()
        .map(Step::id)
        .collect();
    OrderView {
        state_name: order.state.name_zh(),
        public_status: public,
        public_status_name: public.name_zh(),
        order,
        version: v.version,
        steps,
    }
}

/// The categories in force (the district's own, else the defaults).
pub(crate) async fn taxonomy(st: &AppState) -> Result<Taxonomy, Problem> {
    let store = st.store.clone();
    blocking(move || tudi_orders::service::load_taxonomy(&*store).map_err(|e| order_problem(&e)))
        .await
}

async fn categories(State(st): State<AppState>) -> Result<Response, Problem> {
    let t = taxonomy(&st).await?;
    let categories = t
        .iter()
        .map(|c| CategoryView {
            code: c.code.clone(),
            parent: c.parent.clone(),
            class: c.class,
            class_name: c.class.name_zh(),
            name: c.name_zh.clone(),
            name_en: c.name_en.clone(),
            normal_days: c.normal_days,
            urgent_days: c.urgent_days,
        })
        .collect();
    Ok(Json(CategoryList { categories }).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct Intake {
    #[serde(flatten)]
    order: NewOrder,
    /// 一键派单: file and dispatch by the responsibility list at once.
    #[serde(default)]
    dispatch: bool,
}

async fn intake(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<Intake>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| {
        body_problem(&e, r#"{"channel": "hotline", "category": "SJ0401", "description": "…", "location": [113.15, 23.04]}"#)
    })?;
    let d = district(&st)?;
    let v = take_in(&st, &ctx, req.order, req.dispatch).await?;
    Ok((StatusCode::CREATED, Json(view(&v, &ctx.principal, &d))).into_response())
}

/// Locates, authorizes and takes in an order for `ctx`'s principal (and dispatches it at once
/// when asked and allowed). Shared by the API and Open311.
pub(crate) async fn take_in(
    st: &AppState,
    ctx: &Ctx,
    new: NewOrder,
    dispatch: bool,
) -> Result<Versioned, Problem> {
    let d = district(st)?;
    // Where the pin falls decides the grid cell, and so whose jurisdiction the order is in.
    let grid = match new.location {
        Some([lon, lat]) if lon.is_finite() && lat.is_finite() => {
            let st = st.clone();
            blocking(move || {
                tudi_onemap::locate::grid_cell(&st.map(), tudi_onemap::locate::GRID_LAYER, lon, lat)
                    .map_err(|e| store_failed(&e))
            })
            .await?
            .and_then(|g| Jurisdiction::parse(&g).ok())
        }
        _ => None,
    };
    let scope = vec![grid.clone().unwrap_or_else(|| d.clone())];
    let res = Resource {
        scope: &scope,
        ..Resource::default()
    };
    authorize(st, ctx, Action::OrderIntake, &res, "order:new")?;
    if dispatch {
        authorize(st, ctx, Action::OrderDispatch, &res, "order:new")?;
    }
    let change = ctx.change("order.intake");
    with_orders(st, move |o| {
        if dispatch {
            o.intake_and_dispatch(&change, new, grid.as_ref())
        } else {
            o.intake(&change, new, grid.as_ref())
        }
    })
    .await
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct ListQuery {
    state: Option<OrderState>,
    /// Only enterprises' orders (企业诉求马上办 board) or only others.
    enterprise: Option<bool>,
    /// Only orders past their deadline.
    overdue: Option<bool>,
    /// Only orders waiting for a step the caller may take (their to-do list: the dispatcher's
    /// board, the handler's inbox, the supervisor's checks).
    todo: Option<bool>,
    limit: Option<u64>,
    offset: Option<u64>,
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<ListQuery>,
) -> Result<Response, Problem> {
    authorize_somewhere(&st, &ctx, Action::OrderRead, "order:*")?;
    let d = district(&st)?;
    let (limit, offset) = (q.limit.unwrap_or(20).clamp(1, 200), q.offset.unwrap_or(0));
    let all = readable_orders(&st, &ctx, &d, q.state).await?;
    let now = jiff::Timestamp::now();
    let visible: Vec<&Versioned> = all
        .iter()
        .filter(|v| q.enterprise.is_none_or(|e| v.order.enterprise == e))
        .filter(|v| q.overdue.is_none_or(|o| v.order.is_overdue(now) == o))
        .filter(|v| {
            q.todo
                .is_none_or(|t| has_work(&ctx.principal, &v.order, &d) == t)
        })
        .collect();
    let total = visible.len();
    let orders = visible
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(20))
        .map(|v| view(v, &ctx.principal, &d))
        .collect();
    Ok(Json(OrderPage {
        orders,
        total,
        limit,
        offset,
    })
    .into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct DuplicateProbe {
    category: String,
    location: [f64; 2],
    #[serde(default)]
    description: String,
}

/// Open orders that may be the same matter as one being taken in (same category, within 300 m
/// and 7 days, alike in text), most likely first, among those the caller may read.
async fn duplicates(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<DuplicateProbe>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(probe) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"category": "SJ0401", "location": [113.15, 23.04], "description": "…"}"#,
        )
    })?;
    authorize_somewhere(&st, &ctx, Action::OrderIntake, "order:new")?;
    let d = district(&st)?;
    let readable: Vec<Order> = readable_orders(&st, &ctx, &d, None)
        .await?
        .into_iter()
        .map(|v| v.order)
        .collect();
    let found = tudi_orders::duplicates::suggest(
        &readable,
        &tudi_orders::duplicates::Probe {
            category: &probe.category,
            location: probe.location,
            description: &probe.description,
            at: jiff::Timestamp::now(),
        },
        &tudi_orders::duplicates::Window::default(),
    );
    Ok(Json(Suggestions { suggestions: found }).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct StatsQuery {
    /// First day (Asia/Shanghai), e.g. `2026-11-01`.
    from: jiff::civil::Date,
    /// Last day, inclusive.
    to: jiff::civil::Date,
    #[serde(default = "by_town")]
    by: tudi_orders::stats::GroupBy,
    /// `xlsx` for an Excel workbook; JSON otherwise.
    format: Option<String>,
}

fn by_town() -> tudi_orders::stats::GroupBy {
    tudi_orders::stats::GroupBy::Town
}

/// The indicators of the orders the caller may read, taken in between two days, as JSON or an
/// Excel workbook (台账).
async fn stats(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<StatsQuery>,
) -> Result<Response, Problem> {
    if q.to < q.from {
        return Err(Problem::bad_parameter(
            "to",
            "结束日期早于开始日期",
            "to is before from",
        ));
    }
    authorize_somewhere(&st, &ctx, Action::OrderRead, "order:*")?;
    let d = district(&st)?;
    let tz = tudi_orders::order::shanghai();
    let bound = |day: jiff::civil::Date| {
        day.to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|e| Problem::bad_parameter("from/to", e.to_string(), e.to_string()))
    };
    let from = bound(q.from)?;
    let to = bound(
        q.to.tomorrow()
            .map_err(|e| Problem::bad_parameter("to", e.to_string(), e.to_string()))?,
    )?;
    let readable: Vec<Order> = readable_orders(&st, &ctx, &d, None)
        .await?
        .into_iter()
        .map(|v| v.order)
        .collect();
    let mut rows = tudi_orders::stats::compute(&readable, from, to, q.by, jiff::Timestamp::now());
    // Towns by name as well as code (`桂城街道（440605011）`).
    if q.by == tudi_orders::stats::GroupBy::Town {
        let reg = tudi_core::division::DivisionRegistry::bundled();
        for r in &mut rows {
            let name = tudi_core::division::DivisionCode::parse(&r.key)
                .ok()
                .and_then(|c| reg.get(&c).map(|d| d.name.clone()));
            if let Some(name) = name {
                r.key = format!("{name}（{}）", r.key);
            }
        }
    }
    if q.format.as_deref() == Some("xlsx") {
        let name = format!("orders-{}-{}.xlsx", q.from, q.to);
        return crate::xlsx::download(&tudi_orders::stats::table(&rows, q.from, q.to), &name);
    }
    Ok(Json(OrderStats {
        from: q.from,
        to: q.to,
        by: q.by,
        rows: rows
            .iter()
            .map(tudi_orders::stats::Row::indicators)
            .collect(),
        headings: tudi_orders::stats::HEADINGS,
    })
    .into_response())
}

/// Sends the reminders, overdue warnings and automatic 督办 now due (the server also does this
/// every five minutes).
async fn supervise(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    let scope = st.district_scope();
    authorize(
        &st,
        &ctx,
        Action::OrderSupervise,
        &Resource {
            scope: &scope,
            ..Resource::default()
        },
        "order:*",
    )?;
    let round = supervise_now(&st, ctx.change("order.notice")).await?;
    Ok(Json(NoticesSent {
        notices: round.notices,
    })
    .into_response())
}

/// One round of deadline supervision, as `change`'s actor.
pub(crate) async fn supervise_now(
    st: &AppState,
    change: tudi_store::Change,
) -> Result<tudi_orders::service::SupervisionRound, Problem> {
    let store = st.store.clone();
    let roster =
        blocking(move || tudi_orders::service::load_roster(&*store).map_err(|e| order_problem(&e)))
            .await?;
    with_orders(st, move |o| o.supervision_round(&change, &roster)).await
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct AttachQuery {
    version: u64,
    name: String,
}

/// Attaches the request body (a JPEG, PNG, WebP or PDF of at most 5 MiB) to an order. Anyone who
/// takes part in the order's handling may: intake, supervision, dispatch or the handling unit.
async fn attach(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(number): Path<String>,
    Params(q): Params<AttachQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    let current = load(&st, number.clone()).await?;
    let scope = order_scope(&current.order, &d);
    let res = Resource {
        scope: &scope,
        ..Resource::default()
    };
    // Those who take part in the order: intake, supervision and dispatch on its grid cell, and
    // the unit it was sent to (on the same resource its handling steps are decided on).
    let takes_part = [
        Action::OrderIntake,
        Action::OrderSupervise,
        Action::OrderDispatch,
    ]
    .into_iter()
    .any(|a| decide(&ctx.principal, a, &res).allowed)
        || with_step_resource(&current.order, Step::Feedback, &d, |a, r| {
            decide(&ctx.principal, a, r).allowed
        });
    if !takes_part {
        authorize_on(&st, &ctx, &current.order, Step::Feedback, &d)?;
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let change = ctx.change("order.attach");
    let v = with_orders(&st, move |o| {
        o.attach(&change, &number, q.version, &q.name, &content_type, &body)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&v, &ctx.principal, &d))).into_response())
}

/// One attachment's bytes, for those who may read the order.
async fn attachment(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((number, sha256)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    let current = load(&st, number.clone()).await?;
    authorize_read(&st, &ctx, &current.order, &d)?;
    let not_found = || {
        Problem::not_found(
            format!("工单 {number} 没有附件 {sha256}"),
            format!("order {number} has no attachment {sha256}"),
        )
    };
    let Some(meta) = current
        .order
        .attachments
        .iter()
        .find(|a| a.sha256 == sha256)
    else {
        return Err(not_found());
    };
    let (store, key) = (st.store.clone(), sha256.clone());
    let blob = blocking(move || store.blob(&key).map_err(|e| store_failed(&e)))
        .await?
        .ok_or_else(not_found)?;
    Ok(crate::files::download(
        &blob.content_type,
        blob.bytes,
        &meta.name,
    ))
}

async fn read_responsibilities(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    authorize_somewhere(&st, &ctx, Action::OrderRead, "order:responsibilities")?;
    let store = st.store.clone();
    let list =
        blocking(move || load_responsibilities(&*store).map_err(|e| order_problem(&e))).await?;
    Ok(Json(list).into_response())
}

/// Replaces the responsibility list (district administrators), checked entry by entry first.
async fn write_responsibilities(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<tudi_orders::routing::ResponsibilityList>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(list) = body.map_err(|e| {
        body_problem(&e, r#"{"entries": [{"category": "SJ04", "area": "440605011", "unit": {"kind": "town", "code": "440605011", "name": "桂城街道"}, "valid_from": "2026-01-01", "valid_to": null}]}"#)
    })?;
    let d = configure(&st, &ctx, "order:responsibilities")?;
    let taxonomy = taxonomy(&st).await?;
    list.check(&taxonomy, &d).map_err(|m| {
        let mut p = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-responsibilities",
            "权责清单无效",
            m.zh,
            m.en,
        );
        p.field = Some("entries".into());
        p
    })?;
    let (store, change) = (st.store.clone(), ctx.change("order.responsibilities"));
    let n = list.entries.len();
    blocking(move || {
        tudi_orders::service::save_responsibilities(&*store, &list, &change)
            .map_err(|e| order_problem(&e))
    })
    .await?;
    Ok(Json(EntriesSaved { entries: n }).into_response())
}

/// Replaces the categories with a TSV body in the form of `crates/orders/data/categories.tsv`
/// (district administrators); bad lines and removed codes are refused by line or code.
async fn write_categories(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: String,
) -> Result<Response, Problem> {
    configure(&st, &ctx, "order:categories")?;
    let (store, change) = (st.store.clone(), ctx.change("order.categories"));
    let t = blocking(move || {
        tudi_orders::service::save_taxonomy(&*store, &body, &change).map_err(|e| {
            let mut p = order_problem(&e);
            p.field = Some("categories".into());
            p
        })
    })
    .await?;
    Ok(Json(CategoriesSaved {
        categories: t.iter().count(),
    })
    .into_response())
}

/// The years the working-day calendar covers and the lines a district added.
async fn read_holidays(State(st): State<AppState>) -> Result<Response, Problem> {
    let store = st.store.clone();
    let (cal, extra) = blocking(move || {
        let cal = tudi_orders::service::load_calendar(&*store).map_err(|e| order_problem(&e))?;
        let extra = store
            .meta(tudi_orders::service::HOLIDAYS_KEY)
            .map_err(|e| store_failed(&e))?
            .unwrap_or_default();
        Ok((cal, extra))
    })
    .await?;
    Ok(Json(Holidays {
        years: cal.years().map(|(a, b)| [a, b]),
        added: Some(extra),
    })
    .into_response())
}

/// Adds the holiday lines of years published after this release (TSV body, the format of
/// `crates/core/data/holidays-cn.tsv`; district administrators).
async fn write_holidays(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: String,
) -> Result<Response, Problem> {
    configure(&st, &ctx, "calendar:holidays")?;
    // An empty upload adds nothing; it is almost always the wrong file or a lost body.
    if body.trim().is_empty() {
        let mut p = Problem::new(
            StatusCode::BAD_REQUEST,
            "empty-body",
            "请求内容为空",
            "请求体应为节假日 TSV：每行日期、类型（休/班）、节日名称，以制表符分隔",
            "the body should be holiday TSV: a date, a kind and a festival a line, tab-separated",
        );
        p.field = Some("holidays".into());
        return Err(p);
    }
    let (store, change) = (st.store.clone(), ctx.change("calendar.holidays"));
    let cal = blocking(move || {
        tudi_orders::service::save_holidays(&*store, &body, &change).map_err(|e| order_problem(&e))
    })
    .await?;
    Ok(Json(Holidays {
        years: cal.years().map(|(a, b)| [a, b]),
        added: None,
    })
    .into_response())
}

async fn read_roster(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    authorize_somewhere(&st, &ctx, Action::OrderRead, "order:roster")?;
    let store = st.store.clone();
    let roster =
        blocking(move || tudi_orders::service::load_roster(&*store).map_err(|e| order_problem(&e)))
            .await?;
    Ok(Json(roster).into_response())
}

/// Replaces the on-duty roster (district administrators), checked first.
async fn write_roster(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<tudi_orders::supervision::Roster>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(roster) = body.map_err(|e| {
        body_problem(&e, r#"{"entries": [{"from": "2026-11-23", "to": "2026-11-29", "leader": "zhiban.lingdao", "name": "潘副区长"}]}"#)
    })?;
    configure(&st, &ctx, "order:roster")?;
    roster.check().map_err(|m| {
        let mut p = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-roster",
            "值班表无效",
            m.zh,
            m.en,
        );
        p.field = Some("entries".into());
        p
    })?;
    let (store, change) = (st.store.clone(), ctx.change("order.roster"));
    let n = roster.entries.len();
    blocking(move || {
        tudi_orders::service::save_roster(&*store, &roster, &change).map_err(|e| order_problem(&e))
    })
    .await?;
    Ok(Json(EntriesSaved { entries: n }).into_response())
}

/// The district, once the caller may configure the work-order centre for all of it.
fn configure(st: &AppState, ctx: &Ctx, label: &str) -> Result<Jurisdiction, Problem> {
    let d = district(st)?;
    let scope = vec![d.clone()];
    authorize(
        st,
        ctx,
        Action::OrderConfigure,
        &Resource {
            scope: &scope,
            ..Resource::default()
        },
        label,
    )?;
    Ok(d)
}

/// Reads orders from the store without loading the centre's rules (categories, responsibility
/// list, calendar), which only writes need.
pub(crate) async fn read_orders<T: Send + 'static>(
    st: &AppState,
    work: impl FnOnce(&dyn tudi_store::Store) -> Result<T, OrderError> + Send + 'static,
) -> Result<T, Problem> {
    let store = st.store.clone();
    blocking(move || work(&*store).map_err(|e| order_problem(&e))).await
}

async fn load(st: &AppState, number: String) -> Result<Versioned, Problem> {
    read_orders(st, move |s| tudi_orders::service::read_order(s, &number)).await
}

/// Every order (of `state`, if given) that the caller may read: a district's orders fit in
/// memory, and filtering by jurisdiction here keeps totals to what the caller may see.
async fn readable_orders(
    st: &AppState,
    ctx: &Ctx,
    district: &Jurisdiction,
    state: Option<OrderState>,
) -> Result<Vec<Versioned>, Problem> {
    let all = read_orders(st, move |s| {
        tudi_orders::service::list_orders(s, state, u64::MAX >> 1, 0).map(|(v, _)| v)
    })
    .await?;
    Ok(all
        .into_iter()
        .filter(|v| may_read(&ctx.principal, &v.order, district))
        .collect())
}

async fn read(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    let v = load(&st, number.clone()).await?;
    authorize_read(&st, &ctx, &v.order, &d)?;
    Ok(Json(view(&v, &ctx.principal, &d)).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepBody {
    step: Step,
    version: u64,
    note: Option<String>,
    satisfaction: Option<lifecycle::Satisfaction>,
    into: Option<String>,
    days: Option<u32>,
    approve: Option<bool>,
}

/// Calls `f` with the action a step needs and the resource it is decided on: handling steps
/// on the unit the order was sent to (its department, or exactly its town or village office;
/// an order sent nowhere has no handler); the other duties on the order's grid cell.
fn with_step_resource<R>(
    order: &Order,
    step: Step,
    district: &Jurisdiction,
    f: impl FnOnce(Action, &Resource<'_>) -> R,
) -> R {
    let scope = order_scope(order, district);
    let action = match step.duty() {
        Duty::Supervise => Action::OrderSupervise,
        Duty::Dispatch => Action::OrderDispatch,
        Duty::Handle => Action::OrderHandle,
    };
    let office = order
        .unit
        .as_ref()
        .filter(|u| u.kind != UnitKind::Department)
        .and_then(|u| Jurisdiction::parse(&u.code).ok());
    let unit = match (&order.unit, &office) {
        (Some(u), _) if u.kind == UnitKind::Department => Some(Unit::Department(&u.code)),
        (Some(_), Some(j)) => Some(Unit::Office(j)),
        _ => None,
    };
    f(
        action,
        &Resource {
            scope: &scope,
            unit: if step.duty() == Duty::Handle {
                unit
            } else {
                None
            },
            ..Resource::default()
        },
    )
}

/// Whether `who` may read `order` (its grid cell lies in their jurisdiction).
fn may_read(who: &Principal, order: &Order, district: &Jurisdiction) -> bool {
    let scope = order_scope(order, district);
    decide(
        who,
        Action::OrderRead,
        &Resource {
            scope: &scope,
            ..Resource::default()
        },
    )
    .allowed
}

/// Refuses (and audits) a caller who may not read `order`, as if it did not exist.
fn authorize_read(
    st: &AppState,
    ctx: &Ctx,
    order: &Order,
    district: &Jurisdiction,
) -> Result<(), Problem> {
    let scope = order_scope(order, district);
    authorize_found(
        st,
        ctx,
        Action::OrderRead,
        &Resource {
            scope: &scope,
            ..Resource::default()
        },
        false,
        &format!("order:{}", order.number),
        || not_found(&order.number),
    )
}

/// The answer for an order that does not exist, or that the caller may not read.
fn not_found(number: &str) -> Problem {
    order_problem(&OrderError::NotFound(number.to_owned()))
}

/// Refuses (and audits) a step or attachment on `order`: as unknown to a caller who may not
/// read it, with the reason to one who may.
fn authorize_on(
    st: &AppState,
    ctx: &Ctx,
    order: &Order,
    step: Step,
    district: &Jurisdiction,
) -> Result<(), Problem> {
    let readable = may_read(&ctx.principal, order, district);
    with_step_resource(order, step, district, |action, res| {
        authorize_found(
            st,
            ctx,
            action,
            res,
            readable,
            &format!("order:{}", order.number),
            || not_found(&order.number),
        )
    })
}

/// Whether `who` may take some step the order's state allows now (their to-do list).
fn has_work(who: &Principal, order: &Order, district: &Jurisdiction) -> bool {
    lifecycle::allowed(order.state)
        .into_iter()
        // Reminding and merging are not what makes an order someone's work.
        .filter(|s| !matches!(s, Step::Urge | Step::Merge | Step::RequestExtension))
        .filter(|s| {
            *s != Step::DecideExtension
                || order
                    .extension
                    .as_ref()
                    .is_some_and(|e| e.granted.is_none())
        })
        .any(|s| with_step_resource(order, s, district, |a, r| decide(who, a, r).allowed))
}

async fn step(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(number): Path<String>,
    body: Result<Json<StepBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| body_problem(&e, r#"{"step": "accept", "version": 3}"#))?;
    let d = district(&st)?;
    let current = load(&st, number.clone()).await?;
    authorize_on(&st, &ctx, &current.order, req.step, &d)?;
    // A merge changes the order merged into as well: the caller must be able to dispatch there.
    if req.step == Step::Merge
        && let Some(into) = req.into.clone()
    {
        let target = load(&st, into).await?;
        authorize_on(&st, &ctx, &target.order, Step::Merge, &d)?;
    }
    let change = ctx.change(&format!("order.{}", req.step.id()));
    let input = StepInput {
        note: req.note,
        route: None,
        satisfaction: req.satisfaction,
        into: req.into,
        days: req.days,
        approve: req.approve,
    };
    let (s, version) = (req.step, req.version);
    let v = with_orders(&st, move |o| o.step(&change, &number, version, s, input)).await?;
    Ok(Json(view(&v, &ctx.principal, &d)).into_response())
}
