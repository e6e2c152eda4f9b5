//! Later events on registered homesteads over HTTP: requests (transfer, lease, mortgage, its
//! discharge, exit) taken in by the village or town of the right, lists and cases for those whose
//! jurisdiction covers it, step actions by duty, and the right itself with what was recorded on it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tudi_access::policy::may_see_id_number;
use tudi_access::{Action, Jurisdiction, Principal};
use tudi_homestead::events::{EventCase, EventKind, EventQuery, EventRequest};
use tudi_homestead::registry::Right;

use crate::AppState;
use crate::accounts::body_problem;
use crate::auth::{Ctx, authorize_somewhere};
use crate::homestead::{
    CaseView, authorize_in_village, covers, in_village, village_scope, with_homesteads,
};
use crate::params::Params;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/homestead/events", get(list).post(submit))
        .route("/api/v1/homestead/events/{id}", get(read))
        .route("/api/v1/homestead/events/{id}/actions", post(act))
        .route("/api/v1/homestead/rights/{code}", get(right))
}

fn sees_ids(who: &Principal, village: &str) -> bool {
    let scope = Jurisdiction::parse(village)
        .map(|j| vec![j])
        .unwrap_or_default();
    may_see_id_number(who, &in_village(&scope))
}

fn mask(id: &str) -> String {
    tudi_core::personal::IdNumber::parse(id).map_or_else(|_| "******".to_owned(), |i| i.masked())
}

/// A later event as the caller may see it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct EventView {
    event: EventSummary,
    case: CaseView,
}

/// The event itself.
#[derive(Serialize, JsonSchema)]
pub(crate) struct EventSummary {
    id: String,
    kind: EventKind,
    kind_name: &'static str,
    request: EventRequest,
    village: String,
    town: String,
    holder: String,
    submitted_at: jiff::Timestamp,
    submitted_by: String,
    stage: Vec<String>,
    outcome: Option<Value>,
}

/// A page of events.
#[derive(Serialize, JsonSchema)]
pub(crate) struct EventPage {
    events: Vec<EventView>,
    total: usize,
    limit: usize,
    offset: usize,
}

/// A registered right as the caller may see it (identity numbers masked unless allowed).
#[derive(Serialize, JsonSchema)]
pub(crate) struct RightView {
    unit_code: String,
    parcel_code: String,
    holder: String,
    household: Vec<String>,
    village: String,
    application: String,
    certificate: String,
    land_area_m2: f64,
    floor_area_m2: f64,
    /// 宗地图形（GeoJSON）/ the site as GeoJSON.
    site: Value,
    registered_at: jiff::Timestamp,
    status: tudi_homestead::registry::RightStatus,
    on_map: bool,
    previous: Vec<tudi_homestead::registry::PreviousHolder>,
    leases: Vec<tudi_homestead::events::Lease>,
    mortgages: Vec<tudi_homestead::events::Mortgage>,
    /// 是否在抵押中 / whether a mortgage is in force.
    mortgaged: bool,
    ended: Option<tudi_homestead::events::Ending>,
}

fn view(e: &EventCase, who: &Principal) -> EventView {
    let request = if sees_ids(who, &e.event.village) {
        e.event.request.clone()
    } else {
        e.event.request.masked()
    };
    EventView {
        event: EventSummary {
            id: e.event.id.clone(),
            kind: request.kind(),
            kind_name: request.kind().name_zh(),
            request,
            village: e.event.village.clone(),
            town: e.event.town.clone(),
            holder: e.event.holder.clone(),
            submitted_at: e.event.submitted_at,
            submitted_by: e.event.submitted_by.clone(),
            stage: e.event.stage.clone(),
            outcome: e.event.outcome.clone(),
        },
        case: CaseView::of(&e.case, who),
    }
}

fn right_view(r: &Right, who: &Principal) -> RightView {
    let full = sees_ids(who, &r.village);
    let id = |s: &String| if full { s.clone() } else { mask(s) };
    RightView {
        unit_code: r.unit_code.clone(),
        parcel_code: r.parcel_code.clone(),
        holder: r.holder.clone(),
        household: r.household.iter().map(id).collect(),
        village: r.village.clone(),
        application: r.application.clone(),
        certificate: r.certificate.clone(),
        land_area_m2: r.land_area_m2,
        floor_area_m2: r.floor_area_m2,
        site: r.site.clone(),
        registered_at: r.registered_at,
        status: r.status,
        on_map: r.on_map,
        previous: r
            .previous
            .iter()
            .map(|p| tudi_homestead::registry::PreviousHolder {
                household: p.household.iter().map(id).collect(),
                ..p.clone()
            })
            .collect(),
        leases: r
            .leases
            .iter()
            .map(|l| tudi_homestead::events::Lease {
                lessee_id: id(&l.lessee_id),
                ..l.clone()
            })
            .collect(),
        mortgages: r.mortgages.clone(),
        mortgaged: r.mortgaged().is_some(),
        ended: r.ended.clone(),
    }
}

/// The right's village, for authorizing; 404 for an unknown right.
async fn right_scope(st: &AppState, code: String) -> Result<(Right, Vec<Jurisdiction>), Problem> {
    let (right, _) = with_homesteads(st, move |h| h.right(&code)).await?;
    let scope = village_scope(&right.village)?;
    Ok((right, scope))
}

async fn submit(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"kind": "lease", "right": "440605…F00010001", "lessee": "…", "lessee_id": "…", "from": "2027-01-01", "to": "2031-12-31", "rent_yuan_per_year": 36000, "purpose": "居住"}"#,
        )
    })?;
    let req: EventRequest = serde_json::from_value(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-event",
            "申请内容无效",
            format!("事项字段不完整或类型不对（kind 可为 transfer、lease、mortgage、discharge、exit）：{e}"),
            format!("the request is incomplete or mistyped: {e}"),
        )
    })?;
    let (_, scope) = right_scope(&st, req.right().to_owned()).await?;
    authorize_in_village(
        &st,
        &ctx,
        Action::HomesteadApply,
        &scope,
        &format!("homestead_right:{}", req.right()),
        req.right(),
    )?;
    let who = ctx.principal.clone();
    let e = with_homesteads(&st, move |h| {
        h.submit_event(&who, req, jiff::Timestamp::now())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&e, &ctx.principal))).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct ListParams {
    #[serde(default)]
    village: Option<String>,
    #[serde(default)]
    town: Option<String>,
    #[serde(default)]
    kind: Option<tudi_homestead::events::EventKind>,
    #[serde(default)]
    right: Option<String>,
    /// Only events waiting for a step the caller may sign.
    #[serde(default)]
    todo: bool,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<ListParams>,
) -> Result<Response, Problem> {
    authorize_somewhere(&st, &ctx, Action::HomesteadRead, "homestead_event:*")?;
    let (limit, offset) = (q.limit.unwrap_or(20).clamp(1, 200), q.offset.unwrap_or(0));
    let query = EventQuery {
        village: q.village,
        town: q.town,
        kind: q.kind,
        right: q.right,
    };
    let (who, todo) = (ctx.principal.clone(), q.todo);
    let (page, total) = with_homesteads(&st, move |h| {
        let mine = |c: &tudi_flow::case::Case| tudi_homestead::service::awaits(c, &who);
        h.events_where(
            &query,
            &|e| covers(&who, Action::HomesteadRead, &e.village),
            todo.then_some(&mine as &dyn Fn(&tudi_flow::case::Case) -> bool),
            limit,
            offset,
        )
    })
    .await?;
    let events = page.iter().map(|e| view(e, &ctx.principal)).collect();
    Ok(Json(EventPage {
        events,
        total,
        limit,
        offset,
    })
    .into_response())
}

async fn load(st: &AppState, ctx: &Ctx, id: String, action: Action) -> Result<EventCase, Problem> {
    let probe = id.clone();
    let e = with_homesteads(st, move |h| h.read_event(&probe)).await?;
    let scope = village_scope(&e.event.village)?;
    authorize_in_village(
        st,
        ctx,
        action,
        &scope,
        &format!("homestead_event:{id}"),
        &id,
    )?;
    Ok(e)
}

async fn read(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let e = load(&st, &ctx, id, Action::HomesteadRead).await?;
    Ok(Json(view(&e, &ctx.principal)).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "EventAction")]
pub(crate) struct ActionBody {
    revision: u64,
    #[serde(flatten)]
    #[schemars(with = "tudi_flow::case::Op")]
    action: Value,
}

async fn act(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"revision": 2, "action": "approve", "task": 1, "comment": "同意"}"#,
        )
    })?;
    let op = crate::homestead::op_from(body.action)?;
    load(&st, &ctx, id.clone(), Action::HomesteadReview).await?;
    let who = ctx.principal.clone();
    let revision = body.revision;
    let e = with_homesteads(&st, move |h| {
        h.act_event(&who, &id, revision, op, jiff::Timestamp::now())
    })
    .await?;
    Ok(Json(view(&e, &ctx.principal)).into_response())
}

async fn right(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    let (right, scope) = right_scope(&st, code.clone()).await?;
    authorize_in_village(
        &st,
        &ctx,
        Action::HomesteadRead,
        &scope,
        &format!("homestead_right:{code}"),
        &code,
    )?;
    Ok(Json(right_view(&right, &ctx.principal)).into_response())
}
