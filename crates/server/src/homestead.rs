//! Homestead applications and certificates over HTTP: intake by the village (or town), lists and
//! cases for those whose jurisdiction covers the village, step actions (the step's duty decides
//! who), the collective member roll, certificate lists, PDFs, revocation, and the public
//! verification endpoint and page the QR code opens.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tudi_access::policy::{may_see_id_number, may_see_phone};
use tudi_access::{Action, Jurisdiction, Principal, Resource};
use tudi_flow::case::Op;
use tudi_homestead::form::ApplicationForm;
use tudi_homestead::registry::Certificate;
use tudi_homestead::service::{
    Application, HomesteadError, Homesteads, ListQuery, Versioned, duty_name,
};
use tudi_sign::KeyRing;

use crate::AppState;
use crate::accounts::body_problem;
use crate::auth::{Ctx, authorize, authorize_found, authorize_somewhere};
use crate::ogc::{blocking, store_failed};
use crate::orders::district;
use crate::params::Params;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/homestead/applications", get(list).post(submit))
        .route("/api/v1/homestead/applications/{id}", get(read))
        .route("/api/v1/homestead/applications/{id}/actions", post(act))
        .route(
            "/api/v1/homestead/applications/{id}/documents",
            // Files up to the server's request limit reach the handler, which says what is
            // too large.
            post(attach).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY)),
        )
        .route(
            "/api/v1/homestead/applications/{id}/documents/{sha256}",
            get(document),
        )
        .route(
            "/api/v1/homestead/collectives/{village}",
            get(roll).put(set_roll),
        )
        .route("/api/v1/homestead/ledger", get(ledger))
        .route("/api/v1/homestead/stats", get(stats))
        .route("/api/v1/certificates", get(certificates))
        .route("/api/v1/certificates/{id}/verify", get(verify))
        .route("/api/v1/certificates/{id}", get(certificate))
        .route("/api/v1/certificates/{id}/pdf", get(pdf))
        .route("/api/v1/certificates/{id}/revoke", post(revoke))
        .route("/verify/{id}", get(verify_page))
}

fn invalid_action(field: &'static str, m: &tudi_core::msg::Msg) -> Problem {
    let mut p = Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-action",
        "操作内容不完整或无效",
        m.zh.clone(),
        m.en.clone(),
    );
    p.field = Some(field.into());
    p
}

pub(crate) fn homestead_problem(e: &HomesteadError) -> Problem {
    let m = e.message();
    match e {
        HomesteadError::Invalid(f) => {
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-application",
                "申请内容无效",
                m.zh,
                m.en,
            );
            p.field = Some(f.field.clone().into());
            p
        }
        HomesteadError::NotFound(_) => Problem::not_found(m.zh, m.en),
        HomesteadError::Flow(tudi_flow::case::FlowError::Conflict { .. }) => Problem::new(
            StatusCode::CONFLICT,
            "version-conflict",
            "案件已被他人处理",
            m.zh,
            m.en,
        ),
        HomesteadError::Flow(tudi_flow::case::FlowError::NotAssignee(_)) => Problem::new(
            StatusCode::FORBIDDEN,
            "not-your-task",
            "不是您的待办",
            format!("{}：该步骤不由您所在的岗位办理", m.zh),
            m.en,
        ),
        // What the caller left out or got wrong is theirs to correct: 400 naming the field.
        HomesteadError::Flow(tudi_flow::case::FlowError::Invalid { field, .. }) => {
            invalid_action(field, &m)
        }
        HomesteadError::Flow(tudi_flow::case::FlowError::NoReason) => invalid_action("reason", &m),
        HomesteadError::Flow(_) | HomesteadError::Refused(_) => Problem::new(
            StatusCode::CONFLICT,
            "refused",
            "不能执行此操作",
            m.zh,
            m.en,
        ),
        HomesteadError::Sign(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-signing-key",
            "无法签发证照",
            m.zh,
            m.en,
        ),
        HomesteadError::Store(s) => store_failed(s),
    }
}

/// Runs homestead work on a blocking thread.
pub(crate) async fn with_homesteads<T: Send + 'static>(
    st: &AppState,
    work: impl FnOnce(&Homesteads<'_>) -> Result<T, HomesteadError> + Send + 'static,
) -> Result<T, Problem> {
    let d = district(st)?;
    let st2 = st.clone();
    blocking(move || {
        let calendar = tudi_orders::service::load_calendar(&*st2.store).map_err(|e| {
            let m = e.message();
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "calendar",
                "日历读取失败",
                m.zh,
                m.en,
            )
        })?;
        let offered = st2.rule_sets();
        let rules = offered
            .iter()
            .find(|r| r.answers_to("宅基地选址"))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no-site-rules",
                    "缺少宅基地选址规则集",
                    "本辖区所在省份没有内置的宅基地选址规则集：请用 tudi rules add 存入一个名为“宅基地选址”的规则集",
                    "no built-in homestead site rule set serves this district's province: save one named 宅基地选址 with `tudi rules add`",
                )
            })?;
        let ring = st2.signing_keys();
        let h = Homesteads {
            store: &*st2.store,
            map: st2.map(),
            calendar: &calendar,
            district: &d,
            site_rules: rules,
            keys: ring.as_deref(),
        };
        work(&h).map_err(|e| homestead_problem(&e))
    })
    .await
}

pub(crate) async fn tick(st: &AppState) -> Result<tudi_homestead::service::TickReport, Problem> {
    if st.district.is_none() {
        return Ok(tudi_homestead::service::TickReport::default());
    }
    with_homesteads(st, |h| h.tick(jiff::Timestamp::now())).await
}

pub(crate) fn village_scope(village: &str) -> Result<Vec<Jurisdiction>, Problem> {
    Jurisdiction::parse(village)
        .map(|j| vec![j])
        .map_err(|m| Problem::bad_parameter("village", m.zh, m.en))
}

/// Refuses (and audits) `action` on something of a village found by `id`: as unknown to a
/// caller who may not read the village's homesteads, with the reason to one who may.
pub(crate) fn authorize_in_village(
    st: &AppState,
    ctx: &Ctx,
    action: Action,
    scope: &[Jurisdiction],
    label: &str,
    id: &str,
) -> Result<(), Problem> {
    let res = in_village(scope);
    let readable = tudi_access::decide(&ctx.principal, Action::HomesteadRead, &res).allowed;
    authorize_found(st, ctx, action, &res, readable, label, || {
        homestead_problem(&HomesteadError::NotFound(id.to_owned()))
    })
}

pub(crate) fn in_village(scope: &[Jurisdiction]) -> Resource<'_> {
    Resource {
        scope,
        ..Resource::default()
    }
}

/// A task of a case, with who it waits for in words and whether the caller may sign it now.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TaskView {
    id: u32,
    step: String,
    status: tudi_flow::case::TaskStatus,
    due: Option<jiff::civil::DateTime>,
    /// 待办职责 / the duties it waits for.
    assignees: Vec<String>,
    assignee_names: Vec<String>,
    signatures: Vec<tudi_flow::case::Signature>,
    opened_at: jiff::Timestamp,
    /// 当前用户可否签署 / whether the caller may sign it now.
    yours: bool,
}

/// A case as shown with its application or event.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CaseView {
    /// 修订号：办理下一步时带上 / the revision to send with the next action.
    revision: u64,
    status: tudi_flow::case::CaseStatus,
    /// 流程 / the process it runs.
    process: String,
    /// 流程版本 / the process version it runs under.
    version: u32,
    tasks: Vec<TaskView>,
    events: Vec<tudi_flow::case::Event>,
}

impl CaseView {
    pub(crate) fn of(case: &tudi_flow::case::Case, who: &Principal) -> Self {
        Self {
            revision: case.revision,
            status: case.status,
            process: case.process.clone(),
            version: case.version,
            tasks: tasks_view(case, who),
            events: case.events.clone(),
        }
    }
}

/// An application as the caller may see it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ApplicationView {
    application: Application,
    /// 当前环节名称 / the names of the steps it is at.
    stage_names: Vec<&'static str>,
    case: CaseView,
    /// 耕地占用与指标（以补定占）：审批环节起 / the farmland it occupies against the quota
    /// pool, from the approval step on (read one application to see it).
    #[serde(skip_serializing_if = "Option::is_none")]
    farmland: Option<tudi_homestead::service::FarmlandCheck>,
}

/// A page of applications.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ApplicationPage {
    applications: Vec<ApplicationView>,
    total: usize,
    limit: usize,
    offset: usize,
}

/// A page of the approval ledger.
#[derive(Serialize, JsonSchema)]
pub(crate) struct LedgerPage {
    title: String,
    headings: Vec<&'static str>,
    rows: Vec<Vec<tudi_core::table::Cell>>,
    total: usize,
    limit: usize,
    offset: usize,
}

/// Statistics over a period.
#[derive(Serialize, JsonSchema)]
pub(crate) struct HomesteadStats {
    from: jiff::civil::Date,
    to: jiff::civil::Date,
    by: tudi_homestead::ledger::GroupBy,
    headings: Vec<&'static str>,
    rows: tudi_homestead::ledger::Stats,
}

/// A collective's member roll (身份证号).
#[derive(Serialize, JsonSchema)]
pub(crate) struct Roll {
    village: String,
    members: Vec<String>,
}

/// How many members a replaced roll holds.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RollSaved {
    village: String,
    members: usize,
}

/// A certificate as the caller may see it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CertificateView {
    id: String,
    number: String,
    status: tudi_homestead::registry::CertificateStatus,
    village: String,
    town: String,
    application: String,
    issued_at: jiff::Timestamp,
    revoked_at: Option<jiff::Timestamp>,
    revoke_reason: Option<String>,
    /// 签名密钥编号 / the signing key's id.
    key: String,
    /// 二维码打开的验证页 / the page its QR code opens.
    verify_path: String,
    summary: Value,
    /// 签名内容（仅可查看证件号者可见）/ the signed payload, for those who may see the holder's
    /// identity number.
    signed: Option<tudi_sign::Signed>,
}

/// A page of certificates.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CertificatePage {
    certificates: Vec<CertificateView>,
    total: usize,
    limit: usize,
    offset: usize,
}

/// A case's tasks, with who each waits for in words and whether the caller may sign it now.
pub(crate) fn tasks_view(case: &tudi_flow::case::Case, who: &Principal) -> Vec<TaskView> {
    case.tasks
        .iter()
        .map(|t| TaskView {
            id: t.id,
            step: t.step.clone(),
            status: t.status,
            due: t.due,
            assignees: t.assignees.clone(),
            assignee_names: t.assignees.iter().map(|a| duty_name(a)).collect(),
            signatures: t.signatures.clone(),
            opened_at: t.opened_at,
            yours: tudi_homestead::service::may_sign(t, who),
        })
        .collect()
}

/// An application as the caller may see it, with who each open task waits for in words.
fn view(v: &Versioned, who: &Principal) -> ApplicationView {
    let application = masked_for(&v.application, who);
    let stage_names = application
        .stage
        .iter()
        .map(|s| tudi_homestead::process::stage_name(s))
        .collect();
    ApplicationView {
        application,
        stage_names,
        case: CaseView::of(&v.case, who),
        farmland: None,
    }
}

async fn submit(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"applicant": {"name": "…", "id_number": "…"}, "phone": "…", "village": "440605121208", "site": {GeoJSON Polygon}, …}"#,
        )
    })?;
    let form: ApplicationForm = serde_json::from_value(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-application",
            "申请内容无效",
            format!("申请表字段不完整或类型不对：{e}"),
            format!("the form is incomplete or mistyped: {e}"),
        )
    })?;
    let scope = village_scope(&form.village)?;
    authorize(
        &st,
        &ctx,
        Action::HomesteadApply,
        &in_village(&scope),
        &format!("homestead:new@{}", form.village),
    )?;
    let who = ctx.principal.clone();
    let v = with_homesteads(&st, move |h| h.submit(&who, form, jiff::Timestamp::now())).await?;
    Ok((StatusCode::CREATED, Json(view(&v, &ctx.principal))).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct ListParams {
    #[serde(default)]
    town: Option<String>,
    #[serde(default)]
    village: Option<String>,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    from: Option<jiff::civil::Date>,
    #[serde(default)]
    to: Option<jiff::civil::Date>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
    /// `xlsx` for an Excel download (the ledger).
    #[serde(default)]
    format: Option<String>,
    /// Only applications waiting for a step the caller may sign (their work queue).
    #[serde(default)]
    todo: bool,
}

fn list_params(q: ListParams) -> Result<(ListQuery, Option<String>, usize, usize), Problem> {
    if let Some(s) = &q.stage
        && !tudi_homestead::process::STAGES.contains(&s.as_str())
    {
        return Err(Problem::bad_parameter(
            "stage",
            format!(
                "未知阶段“{s}”（可用：{}）",
                tudi_homestead::process::STAGES.join("、")
            ),
            format!("unknown stage {s:?}"),
        ));
    }
    Ok((
        ListQuery {
            town: q.town,
            village: q.village,
            stage: q.stage,
            from: q.from,
            to: q.to,
        },
        q.status,
        q.limit.unwrap_or(20).clamp(1, 200),
        q.offset.unwrap_or(0),
    ))
}

pub(crate) fn covers(who: &Principal, action: Action, village: &str) -> bool {
    Jurisdiction::parse(village).is_ok_and(|j| {
        let scope = [j];
        tudi_access::decide(who, action, &in_village(&scope)).allowed
    })
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<ListParams>,
) -> Result<Response, Problem> {
    let todo = q.todo;
    let (q, _, limit, offset) = list_params(q)?;
    authorize_somewhere(&st, &ctx, Action::HomesteadRead, "homestead:*")?;
    let who = ctx.principal.clone();
    let (page, total) = with_homesteads(&st, move |h| {
        let mine = |c: &tudi_flow::case::Case| tudi_homestead::service::awaits(c, &who);
        h.list_where(
            &q,
            &|a| covers(&who, Action::HomesteadRead, &a.form.village),
            todo.then_some(&mine as &dyn Fn(&tudi_flow::case::Case) -> bool),
            limit,
            offset,
        )
    })
    .await?;
    let applications = page.iter().map(|v| view(v, &ctx.principal)).collect();
    Ok(Json(ApplicationPage {
        applications,
        total,
        limit,
        offset,
    })
    .into_response())
}

async fn load_authorized(
    st: &AppState,
    ctx: &Ctx,
    id: String,
    action: Action,
) -> Result<Versioned, Problem> {
    let probe = id.clone();
    let v = with_homesteads(st, move |h| h.read(&probe)).await?;
    let scope = village_scope(&v.application.form.village)?;
    authorize_in_village(st, ctx, action, &scope, &format!("homestead:{id}"), &id)?;
    Ok(v)
}

async fn read(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let v = load_authorized(&st, &ctx, id, Action::HomesteadRead).await?;
    let mut shown = view(&v, &ctx.principal);
    let (application, case) = (v.application.clone(), v.case.clone());
    // The measurement is a help to the approver: a map it cannot be made on leaves it out.
    shown.farmland =
        match with_homesteads(&st, move |h| h.farmland_check(&application, &case)).await {
            Ok(check) => check,
            Err(p) => {
                tracing::warn!(status = %p.status, "farmland check of an application not shown");
                None
            }
        };
    Ok(Json(shown).into_response())
}

/// The engine's operation from an action body's fields (`action`, `task`, …).
pub(crate) fn op_from(fields: Value) -> Result<Op, Problem> {
    serde_json::from_value(fields).map_err(|e| {
        Problem::bad_parameter(
            "action",
            format!("操作无效：{e}（action 可为 approve、reject、return、withdraw、transfer、add_signer、urge、comment）"),
            format!("invalid action: {e}"),
        )
    })
}

/// An action on an application's case: the revision read, what the step records, and the
/// engine's operation.
#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "ApplicationAction")]
pub(crate) struct ActionBody {
    /// 读取时的修订号 / the case revision read.
    revision: u64,
    /// 本环节记录的内容（如踏勘结果）/ what the step records (a site visit's findings …).
    #[serde(default)]
    form: Value,
    /// The rest: the engine's operation (`action`, `task`, …).
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
            r#"{"revision": 3, "action": "approve", "task": 2, "comment": "同意", "form": {…}}"#,
        )
    })?;
    let action = op_from(body.action)?;
    load_authorized(&st, &ctx, id.clone(), Action::HomesteadReview).await?;
    let who = ctx.principal.clone();
    let (revision, form) = (body.revision, body.form);
    let v = with_homesteads(&st, move |h| {
        h.act(&who, &id, revision, action, &form, jiff::Timestamp::now())
    })
    .await?;
    Ok(Json(view(&v, &ctx.principal)).into_response())
}

/// The applications the caller may read that `q` selects, newest first: a page of them (every
/// one with `limit` = `usize::MAX`) and how many there are.
async fn readable(
    st: &AppState,
    ctx: &Ctx,
    q: ListQuery,
    limit: usize,
    offset: usize,
) -> Result<(Vec<Versioned>, usize), Problem> {
    let who = ctx.principal.clone();
    with_homesteads(st, move |h| {
        h.list(
            &q,
            &|a| covers(&who, Action::HomesteadRead, &a.form.village),
            limit,
            offset,
        )
    })
    .await
}

/// An application with identity numbers and the phone masked unless `who`'s role needs them in
/// its village.
fn masked_for(app: &Application, who: &Principal) -> Application {
    let scope = Jurisdiction::parse(&app.form.village)
        .map(|j| vec![j])
        .unwrap_or_default();
    let res = in_village(&scope);
    app.masked(may_see_id_number(who, &res), may_see_phone(who, &res))
}

/// The approval ledger (审批台账) of the applications the caller may read, filtered like the
/// list: a page as JSON, or every row as an Excel workbook.
async fn ledger(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(params): Params<ListParams>,
) -> Result<Response, Problem> {
    let format = params.format.clone();
    let xlsx = crate::xlsx::wants(format.as_deref())?;
    let (q, _, limit, offset) = list_params(params)?;
    authorize_somewhere(&st, &ctx, Action::HomesteadRead, "homestead:*")?;
    // Excel takes every row; JSON a page (only its cases are read).
    let (limit, offset) = if xlsx {
        (usize::MAX, 0)
    } else {
        (limit, offset)
    };
    let (mut page, total) = readable(&st, &ctx, q, limit, offset).await?;
    for v in &mut page {
        v.application = masked_for(&v.application, &ctx.principal);
    }
    let now = jiff::Timestamp::now();
    let table = tudi_homestead::ledger::ledger(&page, now);
    if xlsx {
        let day = tudi_homestead::service::local_date(now);
        return crate::xlsx::download(&table, &format!("homestead-ledger-{day}.xlsx"));
    }
    Ok(Json(LedgerPage {
        title: table.title,
        headings: table.headings,
        rows: table.rows,
        total,
        limit,
        offset,
    })
    .into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct StatsParams {
    #[serde(default)]
    from: Option<jiff::civil::Date>,
    #[serde(default)]
    to: Option<jiff::civil::Date>,
    #[serde(default)]
    by: Option<tudi_homestead::ledger::GroupBy>,
    #[serde(default)]
    format: Option<String>,
}

/// Statistics by town, village or step over the applications the caller may read submitted in
/// the period (default: this year to today), as JSON or Excel.
async fn stats(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(p): Params<StatsParams>,
) -> Result<Response, Problem> {
    let xlsx = crate::xlsx::wants(p.format.as_deref())?;
    let now = jiff::Timestamp::now();
    let today = tudi_homestead::service::local_date(now);
    let to = p.to.unwrap_or(today);
    let from = match p.from {
        Some(d) => d,
        None => jiff::civil::date(to.year(), 1, 1),
    };
    if to < from {
        return Err(Problem::bad_parameter(
            "to",
            "结束日期早于开始日期",
            "to is before from",
        ));
    }
    let by = p.by.unwrap_or_default();
    authorize_somewhere(&st, &ctx, Action::HomesteadRead, "homestead:*")?;
    // The figures name no one: nothing to mask.
    let (apps, _) = readable(&st, &ctx, ListQuery::default(), usize::MAX, 0).await?;
    let def = with_homesteads(&st, |h| h.process()).await?;
    let stats = tudi_homestead::ledger::stats(&apps, &def, from, to, by, now);
    if xlsx {
        return crate::xlsx::download(
            &stats.table(from, to),
            &format!("homestead-stats-{from}-{to}.xlsx"),
        );
    }
    let headings = stats.table(from, to).headings;
    Ok(Json(HomesteadStats {
        from,
        to,
        by,
        headings,
        rows: stats,
    })
    .into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct AttachParams {
    revision: u64,
    name: String,
    #[serde(default = "other_kind")]
    kind: String,
}

fn other_kind() -> String {
    "其他".into()
}

/// Attaches the request body (a JPEG, PNG, WebP or PDF of at most 5 MiB) to an application:
/// those who take it in or review it in the village may.
async fn attach(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Params(q): Params<AttachParams>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let probe = id.clone();
    let current = with_homesteads(&st, move |h| h.read(&probe)).await?;
    let scope = village_scope(&current.application.form.village)?;
    let res = in_village(&scope);
    let takes_part = [Action::HomesteadApply, Action::HomesteadReview]
        .into_iter()
        .any(|a| tudi_access::decide(&ctx.principal, a, &res).allowed);
    if !takes_part {
        authorize_in_village(
            &st,
            &ctx,
            Action::HomesteadReview,
            &scope,
            &format!("homestead:{id}"),
            &id,
        )?;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let change = ctx.change("homestead.attach");
    let v = with_homesteads(&st, move |h| {
        h.attach(
            &change,
            &id,
            q.revision,
            &q.name,
            &q.kind,
            &content_type,
            &body,
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view(&v, &ctx.principal))).into_response())
}

/// One document's bytes, for those who may read the application.
async fn document(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let v = load_authorized(&st, &ctx, id.clone(), Action::HomesteadRead).await?;
    let not_found = || {
        Problem::not_found(
            format!("申请 {id} 没有材料 {sha256}"),
            format!("application {id} has no document {sha256}"),
        )
    };
    let Some(meta) = v.application.documents.iter().find(|d| d.sha256 == sha256) else {
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

/// A village's member roll, for those who keep it.
async fn roll(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(village): Path<String>,
) -> Result<Response, Problem> {
    let scope = village_scope(&village)?;
    authorize(
        &st,
        &ctx,
        Action::HomesteadConfigure,
        &in_village(&scope),
        &format!("collective:{village}"),
    )?;
    let v = village.clone();
    let members = with_homesteads(&st, move |h| h.members(&v)).await?;
    Ok(Json(Roll { village, members }).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct RollBody {
    members: Vec<String>,
}

async fn set_roll(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(village): Path<String>,
    body: Result<Json<RollBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) =
        body.map_err(|e| body_problem(&e, r#"{"members": ["44060519800101001X", …]}"#))?;
    let scope = village_scope(&village)?;
    authorize(
        &st,
        &ctx,
        Action::HomesteadConfigure,
        &in_village(&scope),
        &format!("collective:{village}"),
    )?;
    let change = ctx.change("homestead.roll");
    let v = village.clone();
    let n = with_homesteads(&st, move |h| h.set_roll(&change, &v, body.members)).await?;
    Ok(Json(RollSaved {
        village,
        members: n,
    })
    .into_response())
}

fn certificate_view(c: &Certificate, who: &Principal) -> CertificateView {
    let scope = Jurisdiction::parse(&c.village)
        .map(|j| vec![j])
        .unwrap_or_default();
    let full = may_see_id_number(who, &in_village(&scope));
    CertificateView {
        id: c.id.clone(),
        number: c.number.clone(),
        status: c.status,
        village: c.village.clone(),
        town: c.town.clone(),
        application: c.application.clone(),
        issued_at: c.issued_at,
        revoked_at: c.revoked_at,
        revoke_reason: c.revoke_reason.clone(),
        key: c.signed.key.clone(),
        // The page its QR code opens, for those who may read the certificate anyway.
        verify_path: tudi_homestead::certificate::qr_target("", c),
        summary: tudi_homestead::registry::summary(&c.signed.payload),
        // The signed payload itself (for offline verification) goes to those who may see the
        // holder's identity number.
        signed: full.then(|| c.signed.clone()),
    }
}

async fn certificates(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<ListParams>,
) -> Result<Response, Problem> {
    let (q, status, limit, offset) = list_params(q)?;
    if let Some(s) = &status
        && s != "valid"
        && s != "revoked"
    {
        return Err(Problem::bad_parameter(
            "status",
            format!("未知状态“{s}”（可用：valid 有效、revoked 已注销）"),
            format!("unknown status {s:?} (valid, revoked)"),
        ));
    }
    authorize_somewhere(&st, &ctx, Action::HomesteadRead, "certificate:*")?;
    let who = ctx.principal.clone();
    let (page, total) = with_homesteads(&st, move |h| {
        h.certificates(
            &q,
            status.as_deref(),
            &|c| covers(&who, Action::HomesteadRead, &c.village),
            limit,
            offset,
        )
    })
    .await?;
    let certificates = page
        .iter()
        .map(|c| certificate_view(c, &ctx.principal))
        .collect();
    Ok(Json(CertificatePage {
        certificates,
        total,
        limit,
        offset,
    })
    .into_response())
}

/// The ring verification uses: the published one in the store, else the server's own.
fn public_ring(st: &AppState) -> KeyRing {
    crate::blocking_here(|| {
        st.store
            .meta("sign:public")
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str::<KeyRing>(&t).ok())
            .or_else(|| st.signing_keys().map(|k| k.public()))
            .unwrap_or_default()
    })
}

async fn verify_json(
    st: &AppState,
    id: String,
    proof: String,
) -> Result<tudi_homestead::registry::Verification, Problem> {
    let ring = public_ring(st);
    with_homesteads(st, move |h| h.verify_presented(&id, &proof, &ring)).await
}

/// `?s=`: the start of the certificate's signature, as its QR code carries it.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Proof {
    #[serde(default)]
    s: Option<String>,
}

fn proof_of(q: Result<Params<Proof>, Problem>) -> String {
    q.ok().and_then(|Params(p)| p.s).unwrap_or_default()
}

/// The public verification of a presented certificate (its id and the proof from its QR code).
async fn verify(
    State(st): State<AppState>,
    Path(id): Path<String>,
    q: Result<Params<Proof>, Problem>,
) -> Result<Response, Problem> {
    let v = verify_json(&st, id, proof_of(q)).await?;
    Ok(Json(v).into_response())
}

async fn load_certificate(
    st: &AppState,
    ctx: &Ctx,
    id: String,
    action: Action,
) -> Result<Certificate, Problem> {
    let probe = id.clone();
    let (c, _) = with_homesteads(st, move |h| h.certificate(&probe)).await?;
    let scope = village_scope(&c.village)?;
    authorize_in_village(st, ctx, action, &scope, &format!("certificate:{id}"), &id)?;
    Ok(c)
}

/// One certificate, for those who may read its village's homesteads.
async fn certificate(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let c = load_certificate(&st, &ctx, id, Action::HomesteadRead).await?;
    Ok(Json(certificate_view(&c, &ctx.principal)).into_response())
}

async fn pdf(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let c = load_certificate(&st, &ctx, id, Action::HomesteadRead).await?;
    let url = tudi_homestead::certificate::qr_target(&st.public_url, &c);
    let bytes = blocking(move || {
        tudi_homestead::certificate::render_pdf(&c, &url).map_err(|e| {
            let m = e.message();
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "pdf-unavailable",
                "无法生成证照 PDF",
                m.zh,
                m.en,
            )
        })
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"certificate.pdf\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct RevokeBody {
    reason: String,
}

async fn revoke(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Result<Json<RevokeBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) = body.map_err(|e| body_problem(&e, r#"{"reason": "登记错误"}"#))?;
    load_certificate(&st, &ctx, id.clone(), Action::CertificateRevoke).await?;
    let change = ctx.change("certificate.revoke");
    let c = with_homesteads(&st, move |h| h.revoke(&change, &id, &body.reason)).await?;
    Ok(Json(certificate_view(&c, &ctx.principal)).into_response())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page the QR code opens (扫码亮证): validity and a masked summary, readable on a phone.
async fn verify_page(
    State(st): State<AppState>,
    Path(id): Path<String>,
    q: Result<Params<Proof>, Problem>,
) -> Response {
    let (status, body) = match verify_json(&st, id.clone(), proof_of(q)).await {
        Ok(v) => {
            let (class, headline) = if v.valid {
                ("ok", "证照有效".to_owned())
            } else {
                ("bad", v.message.zh.clone())
            };
            let row = |k: &str, label: &str| {
                let val = v.summary.get(k).map_or(String::new(), |x| match x {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                });
                format!("<tr><th>{label}</th><td>{}</td></tr>", escape(&val))
            };
            let rows = [
                row("number", "证书号"),
                row("holder", "权利人"),
                row("holder_id", "证件号码"),
                row("unit_code", "不动产单元号"),
                row("right", "权利类型"),
                row("land_area_m2", "宅基地面积（㎡）"),
                row("floor_area_m2", "房屋建筑面积（㎡）"),
                row("issued_on", "登记日期"),
                row("issuer", "登记机构"),
            ]
            .join("");
            (
                StatusCode::OK,
                format!(
                    "<p class=\"verdict {class}\">{}</p><p class=\"en\">{}</p><table>{rows}</table><p class=\"note\">签名密钥 {} · 验证依据本区公开密钥，可离线复核</p>",
                    escape(&headline),
                    escape(&v.message.en),
                    escape(&v.key)
                ),
            )
        }
        Err(p) if p.status == StatusCode::NOT_FOUND => (
            StatusCode::NOT_FOUND,
            format!(
                "<p class=\"verdict bad\">查无此证照</p><p>请扫描证照上的二维码核验：二维码不完整、与证照不符或证照不存在时均无法查到。</p><p class=\"en\">no certificate {} for this QR code</p>",
                escape(&id)
            ),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "<p class=\"verdict bad\">暂时无法验证，请稍后再试</p>".to_owned(),
        ),
    };
    let page = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>证照验证</title><link rel=\"stylesheet\" href=\"/console/verify.css\"></head><body><h1>不动产权电子证照验证</h1>{body}</body></html>"
    );
    (status, Html(page)).into_response()
}
