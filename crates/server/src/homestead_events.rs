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
use serde::Deserialize;
use serde_json::{Value, json};
use tudi_access::policy::may_see_id_number;
use tudi_access::{Action, Jurisdiction, Principal};
use tudi_homestead::events::{EventCase, EventQuery, EventRequest};
use tudi_homestead::registry::Right;

use crate::AppState;
use crate::accounts::body_problem;
use crate::auth::{Ctx, authorize_somewhere};
use crate::homestead::{authorize_in_village, covers, in_village, village_scope, with_homesteads};
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

fn view(e: &EventCase, who: &Principal) -> Value {
    let request = if sees_ids(who, &e.event.village) {
        e.event.request.clone()
    } else {
        e.event.request.masked()
    };
    let tasks = crate::homestead::tasks_view(&e.case, who);
    json!({
        "event": {
            "id": e.event.id, "kind": request.kind(), "kind_name": request.kind().name_zh(),
            "request": request, "village": e.event.village, "town": e.event.town,
            "holder": e.event.holder, "submitted_at": e.event.submitted_at,
            "submitted_by": e.event.submitted_by, "stage": e.event.stage, "outcome": e.event.outcome,
        },
        "case": {
            "revision": e.case.revision, "status": e.case.status, "process": e.case.process,
            "version": e.case.version, "tasks": tasks, "events": e.case.events,
        },
    })
}

fn right_view(r: &Right, who: &Principal) -> Value {
    let full = sees_ids(who, &r.village);
    let ids = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|s| if full { s.clone() } else { mask(s) })
            .collect()
    };
    let mut leases = serde_json::to_value(&r.leases).unwrap_or(Value::Null);
    if !full && let Some(list) = leases.as_array_mut() {
        for l in list {
            if let Some(id) = l.get("lessee_id").and_then(Value::as_str) {
                let masked = mask(id);
                l["lessee_id"] = json!(masked);
            }
        }
    }
    json!({
        "unit_code": r.unit_code, "parcel_code": r.parcel_code, "holder": r.holder,
        "household": ids(&r.household), "village": r.village, "application": r.application,
        "certificate": r.certificate, "land_area_m2": r.land_area_m2,
        "floor_area_m2": r.floor_area_m2, "site": r.site, "registered_at": r.registered_at,
        "status": r.status, "on_map": r.on_map,
        "previous": r.previous.iter().map(|p| json!({
            "holder": p.holder, "household": ids(&p.household), "certificate": p.certificate,
            "event": p.event, "until": p.until,
        })).collect::<Vec<_>>(),
        "leases": leases, "mortgages": r.mortgages, "mortgaged": r.mortgaged().is_some(),
        "ended": r.ended,
    })
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
    let items: Vec<Value> = page.iter().map(|e| view(e, &ctx.principal)).collect();
    Ok(
        Json(json!({"events": items, "total": total, "limit": limit, "offset": offset}))
            .into_response(),
    )
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
