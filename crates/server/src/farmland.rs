//! The farmland quota ledger under `/api/v1/farmland` (耕地占补平衡): balances now or as of an
//! instant, the journal, compensation projects and their acceptance into the pool (入库), a
//! higher level's orders, transfers and credit quota, reversals. The rules are
//! `tudi_farmland`'s; this module reads requests and answers.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tudi_access::{Action, Jurisdiction, Resource};
use tudi_farmland::account::Account;
use tudi_farmland::amount::Amounts;
use tudi_farmland::chief;
use tudi_farmland::journal::{Movement, Posting};
use tudi_farmland::ledger::{JournalQuery, Ledger, LedgerError};
use tudi_farmland::order::Order;
use tudi_farmland::project::{self, NewProject, Project};

use crate::AppState;
use crate::accounts::body_problem;
use crate::auth::{Ctx, authorize};
use crate::ogc::blocking;
use crate::params::Params;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/farmland/balances", get(balances))
        .route("/api/v1/farmland/journal", get(journal))
        .route("/api/v1/farmland/postings", post(post_order))
        .route("/api/v1/farmland/postings/{no}", get(read_posting))
        .route("/api/v1/farmland/postings/{no}/reversal", post(reverse))
        .route("/api/v1/farmland/projects", get(projects).post(register))
        .route("/api/v1/farmland/projects/{id}", get(read_project))
        .route("/api/v1/farmland/projects/{id}/acceptance", post(accept))
        .route("/api/v1/farmland/inout", get(inout))
        .route("/api/v1/farmland/inout/plan", axum::routing::put(set_plan))
        .route("/api/v1/farmland/chiefs", get(chiefs).post(appoint))
        .route("/api/v1/farmland/chiefs/{id}", get(read_chief))
        .route(
            "/api/v1/farmland/chiefs/{id}/pledge",
            axum::routing::put(sign_pledge),
        )
        .route("/api/v1/farmland/patrols", get(patrols).post(patrol))
        .route("/api/v1/farmland/patrols/report", get(patrol_report))
        .route(
            "/api/v1/farmland/patrol-rule",
            axum::routing::put(set_patrol_rule),
        )
        .route("/api/v1/farmland/compensation", get(compensation))
        .route(
            "/api/v1/farmland/compensation/rates",
            axum::routing::put(set_compensation_rates),
        )
}

fn ledger_problem(e: &LedgerError) -> Problem {
    let m = e.message();
    match e {
        LedgerError::Invalid { field, .. } => {
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-field",
                "输入有误",
                m.zh,
                m.en,
            );
            p.field = Some(field.clone().into());
            p
        }
        LedgerError::NotFound(_) => Problem::not_found(m.zh, m.en),
        LedgerError::Refused(_) => Problem::new(
            StatusCode::CONFLICT,
            "ledger-refused",
            "台账规则不允许",
            m.zh,
            m.en,
        ),
        LedgerError::Duplicate { .. } => Problem::new(
            StatusCode::CONFLICT,
            "duplicate-request",
            "重复提交",
            m.zh,
            m.en,
        ),
        LedgerError::Busy(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ledger-busy",
            "台账繁忙",
            m.zh,
            m.en,
        ),
        LedgerError::Store(s) => Problem::from_store(s),
    }
}

/// The district, and the caller allowed `action` on its ledger.
fn allow(st: &AppState, ctx: &Ctx, action: Action) -> Result<Jurisdiction, Problem> {
    let d = crate::orders::district(st)?;
    authorize(
        st,
        ctx,
        action,
        &Resource {
            scope: std::slice::from_ref(&d),
            ..Resource::default()
        },
        "farmland",
    )?;
    Ok(d)
}

async fn with_ledger<T: Send + 'static>(
    st: &AppState,
    county: Jurisdiction,
    work: impl FnOnce(&Ledger<'_>) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Problem> {
    let store = st.store.clone();
    blocking(move || {
        let ledger = Ledger::new(&*store, county.as_str());
        work(&ledger).map_err(|e| ledger_problem(&e))
    })
    .await
}

fn created<T: Serialize>(location: &str, body: &T) -> Response {
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(location) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    res
}

/// Balances as of when.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct BalanceQuery {
    /// 截至时刻（RFC 3339，缺省为现在）/ as of this instant (RFC 3339; now by default).
    #[serde(default)]
    as_of: Option<Timestamp>,
    /// `json`（默认）或 `xlsx` / `json` (default) or `xlsx` for an Excel download.
    #[serde(default)]
    format: Option<String>,
}

fn today() -> jiff::civil::Date {
    Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

/// One account's balance.
#[derive(Serialize, JsonSchema)]
pub(crate) struct AccountBalance {
    /// `kind:key`.
    account: Account,
    /// 名称 / its name.
    name: String,
    /// The three amounts (m², kg).
    amounts: Amounts,
    /// The same in 亩 and 公顷 for people.
    shown: tudi_farmland::amount::Shown,
}

/// Every account's balance after a posting.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Balances {
    /// 截至第几号记账 / after this posting.
    upto: u64,
    /// The county's quota pool: what approvals may use now.
    pool: AccountBalance,
    /// Every account with postings.
    accounts: Vec<AccountBalance>,
}

fn account_balance(account: Account, amounts: Amounts) -> AccountBalance {
    AccountBalance {
        name: account.name_zh(),
        shown: amounts.report(),
        account,
        amounts,
    }
}

async fn balances(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<BalanceQuery>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let as_of = q.as_of;
    if crate::xlsx::wants(q.format.as_deref())? {
        let table = with_ledger(&st, d, move |l| {
            let (upto, b) = match as_of {
                Some(at) => l.balances_at(at)?,
                None => l.balances()?,
            };
            Ok(tudi_farmland::report::balances(&b, upto, as_of))
        })
        .await?;
        return crate::xlsx::download(&table, &format!("farmland-balances-{}.xlsx", today()));
    }
    with_ledger(&st, d, move |l| {
        let (upto, b) = match as_of {
            Some(at) => l.balances_at(at)?,
            None => l.balances()?,
        };
        let pool = account_balance(l.pool(), b.of(&l.pool()));
        Ok(Balances {
            upto,
            pool,
            accounts: b
                .0
                .into_iter()
                .map(|(a, v)| account_balance(a, v))
                .collect(),
        })
    })
    .await
    .map(|b| Json(b).into_response())
}

/// Which postings.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct JournalParams {
    /// 账户（如 pool:440605）/ only postings on this account.
    #[serde(default)]
    account: Option<String>,
    /// 类型 / only this movement.
    #[serde(default)]
    movement: Option<Movement>,
    /// 关联（如 homestead:申请编号、project:BC2026-0001）/ only those of this reference.
    #[serde(default)]
    reference: Option<String>,
    /// 每页条数（1–200，默认 50）/ at most this many (1–200, default 50).
    #[serde(default)]
    limit: Option<u64>,
    /// 跳过条数 / skip this many (newest first).
    #[serde(default)]
    offset: Option<u64>,
    /// `json`（默认，一页）或 `xlsx`（全部，最多 100,000 笔）/ `json` (a page) or `xlsx` (every
    /// matching posting, at most 100,000).
    #[serde(default)]
    format: Option<String>,
}

/// A page of the journal, newest first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct JournalPage {
    /// 符合条件的总数 / how many match.
    total: u64,
    postings: Vec<Posting>,
}

async fn journal(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<JournalParams>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let xlsx = crate::xlsx::wants(q.format.as_deref())?;
    let account = q
        .account
        .as_deref()
        .map(Account::parse)
        .transpose()
        .map_err(|m| {
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "参数有误",
                m.zh,
                m.en,
            );
            p.field = Some("account".into());
            p
        })?;
    let query = JournalQuery {
        account,
        movement: q.movement,
        reference: q.reference,
        offset: if xlsx { 0 } else { q.offset.unwrap_or(0) },
        limit: if xlsx {
            100_000
        } else {
            q.limit.unwrap_or(50).clamp(1, 200)
        },
    };
    let (postings, total) = with_ledger(&st, d, move |l| l.journal(&query)).await?;
    if xlsx {
        let table = tudi_farmland::report::journal(&postings);
        return crate::xlsx::download(&table, &format!("farmland-journal-{}.xlsx", today()));
    }
    Ok(Json(JournalPage { total, postings }).into_response())
}

/// A posting and the one that reversed it, if any.
#[derive(Serialize, JsonSchema)]
pub(crate) struct PostingView {
    #[serde(flatten)]
    posting: Posting,
    /// 被第几号冲正 / reversed by this posting.
    reversed_by: Option<u64>,
}

fn posting_no(text: &str) -> Result<u64, Problem> {
    text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        Problem::not_found(
            format!("没有第 {text} 号记账"),
            format!("no posting {text}"),
        )
    })
}

async fn read_posting(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(no): Path<String>,
) -> Result<Json<PostingView>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let no = posting_no(&no)?;
    with_ledger(&st, d, move |l| {
        Ok(PostingView {
            posting: l.posting(no)?,
            reversed_by: l.reversal_of(no)?,
        })
    })
    .await
    .map(Json)
}

/// A movement posted by hand, with the caller's key for it.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct OrderBody {
    /// 请求标识：同一标识只记账一次 / the caller's key: one posting per key.
    #[serde(default)]
    request_id: Option<String>,
    #[serde(flatten)]
    order: Order,
}

const ORDER_EXAMPLE: &str = r#"{"movement": "freeze", "amounts": {"farmland_m2": 6666.67, "paddy_m2": 0, "capacity_kg": 5000}, "document": "粤自然资冻〔2026〕7号", "reason": "卫片图斑未整改", "request_id": "freeze-2026-7"}"#;

async fn post_order(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<OrderBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(body) = body.map_err(|e| body_problem(&e, ORDER_EXAMPLE))?;
    let change = ctx.change("farmland.post");
    let posting = with_ledger(&st, d, move |l| {
        // A caller's keys never meet the keys approvals and acceptances post under.
        let draft = body
            .order
            .draft(l, body.request_id.map(|r| format!("client:{r}")))?;
        l.post(&change, &draft)
    })
    .await?;
    Ok(created(
        &format!("/api/v1/farmland/postings/{}", posting.no),
        &posting,
    ))
}

/// Why a posting is reversed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReversalBody {
    /// 冲正原因 / why.
    reason: String,
    /// 请求标识 / the caller's key: one reversal per key.
    #[serde(default)]
    request_id: Option<String>,
}

async fn reverse(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(no): Path<String>,
    body: Result<Json<ReversalBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let no = posting_no(&no)?;
    let Json(body) = body.map_err(|e| body_problem(&e, r#"{"reason": "协议撤销"}"#))?;
    let change = ctx.change("farmland.reverse");
    let posting = with_ledger(&st, d, move |l| {
        l.reverse(
            &change,
            no,
            &body.reason,
            body.request_id.map(|r| format!("client:{r}")),
        )
    })
    .await?;
    Ok(created(
        &format!("/api/v1/farmland/postings/{}", posting.no),
        &posting,
    ))
}

/// A page of projects.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct PageQuery {
    /// 每页条数（1–200，默认 50）/ at most this many.
    #[serde(default)]
    limit: Option<u64>,
    /// 跳过条数 / skip this many.
    #[serde(default)]
    offset: Option<u64>,
}

/// Compensation projects, oldest first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProjectPage {
    /// 总数 / how many there are.
    total: u64,
    projects: Vec<Project>,
}

async fn projects(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<PageQuery>,
) -> Result<Json<ProjectPage>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let (offset, limit) = (q.offset.unwrap_or(0), q.limit.unwrap_or(50).clamp(1, 200));
    with_ledger(&st, d, move |l| {
        let (projects, total) = project::list(l.store, offset, limit)?;
        Ok(ProjectPage { total, projects })
    })
    .await
    .map(Json)
}

async fn register(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<NewProject>, JsonRejection>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(spec) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"name": "丹灶镇垦造水田项目", "kind": "reclamation", "grade": 6, "new_paddy_m2": 12000, "geometry": {"type": "Polygon", "coordinates": [[[112.90, 23.03], [112.902, 23.03], [112.902, 23.032], [112.90, 23.032], [112.90, 23.03]]]}}"#,
        )
    })?;
    let change = ctx.change("farmland.project.register");
    let p = with_ledger(&st, d, move |l| project::register(l.store, &change, spec)).await?;
    Ok(created(&format!("/api/v1/farmland/projects/{}", p.id), &p))
}

async fn read_project(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<Project>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    with_ledger(&st, d, move |l| Ok(project::read(l.store, &id)?.0))
        .await
        .map(Json)
}

/// A project's acceptance.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptanceBody {
    /// 验收日期 / the day it was accepted (YYYY-MM-DD).
    accepted_on: jiff::civil::Date,
    /// 验收文号 / the acceptance document.
    document: String,
}

async fn accept(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Result<Json<AcceptanceBody>, JsonRejection>,
) -> Result<Json<Project>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(body) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"accepted_on": "2026-09-30", "document": "南自然资验〔2026〕1号"}"#,
        )
    })?;
    let change = ctx.change("farmland.project.accept");
    with_ledger(&st, d, move |l| {
        project::accept(l, &change, &id, body.accepted_on, &body.document)
    })
    .await
    .map(Json)
}

/// Which year's 进出平衡.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct YearQuery {
    /// 年度（缺省为今年）/ the year (this year by default).
    #[serde(default)]
    year: Option<i16>,
    /// `json`（默认）或 `xlsx` / `json` (default) or `xlsx`.
    #[serde(default)]
    format: Option<String>,
}

impl YearQuery {
    /// The year asked for (this year by default), refused outside 2000–2100.
    fn year(&self) -> Result<i16, Problem> {
        let year = self.year.unwrap_or_else(|| today().year());
        if (2000..=2100).contains(&year) {
            Ok(year)
        } else {
            Err(Problem::bad_parameter(
                "year",
                "年份应在 2000—2100 之间",
                "the year must be 2000–2100",
            ))
        }
    }
}

async fn inout(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<YearQuery>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let xlsx = crate::xlsx::wants(q.format.as_deref())?;
    let year = q.year()?;
    let report = with_ledger(&st, d, move |l| tudi_farmland::inout::report(l, year)).await?;
    if xlsx {
        let table = tudi_farmland::report::inout(&report);
        return crate::xlsx::download(&table, &format!("farmland-inout-{year}.xlsx"));
    }
    Ok(Json(tudi_farmland::inout::shown(&report)).into_response())
}

async fn set_plan(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<tudi_farmland::inout::Plan>, JsonRejection>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(plan) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"year": 2026, "document": "南府〔2026〕12号", "towns": [{"town": "440605121", "planned_out": {"farmland_m2": 20000}, "planned_in": {"farmland_m2": 20000}}]}"#,
        )
    })?;
    let change = ctx.change("farmland.inout.plan");
    let year = plan.year;
    let report = with_ledger(&st, d, move |l| {
        tudi_farmland::inout::set_plan(l, &change, &plan)?;
        tudi_farmland::inout::report(l, year)
    })
    .await?;
    Ok(Json(tudi_farmland::inout::shown(&report)).into_response())
}

/// A chief with the chief one level up.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChiefView {
    #[serde(flatten)]
    chief: chief::Chief,
    /// 级别名称 / the level's name.
    level_name: &'static str,
    /// 上级田长 / the chief one level up.
    superior: Option<String>,
}

/// The roster.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChiefList {
    chiefs: Vec<ChiefView>,
}

fn chief_view(all: &[chief::Chief], c: chief::Chief) -> ChiefView {
    ChiefView {
        level_name: c.spec.level.name_zh(),
        superior: chief::superior(all, &c).map(|s| format!("{}（{}）", s.spec.name, s.id)),
        chief: c,
    }
}

async fn chiefs(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Json<ChiefList>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    with_ledger(&st, d, move |l| {
        let all = chief::all(l.store)?;
        Ok(ChiefList {
            chiefs: all.iter().cloned().map(|c| chief_view(&all, c)).collect(),
        })
    })
    .await
    .map(Json)
}

async fn appoint(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<chief::NewChief>, JsonRejection>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(spec) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"name": "梁田长", "level": "village", "area": "440605121201", "username": "cunju.jingban", "appointed_on": "2026-01-05"}"#,
        )
    })?;
    let change = ctx.change("farmland.chief.appoint");
    let made = with_ledger(&st, d, move |l| {
        let c = chief::appoint(l.store, l.county, &change, spec)?;
        let all = chief::all(l.store)?;
        Ok(chief_view(&all, c))
    })
    .await?;
    Ok(created(
        &format!("/api/v1/farmland/chiefs/{}", made.chief.id),
        &made,
    ))
}

/// A chief with the cells and farmland patches it answers for.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChiefDetail {
    #[serde(flatten)]
    chief: ChiefView,
    /// 责任网格和地块 / its cells and their farmland patches.
    responsibility: chief::Responsibility,
}

async fn read_chief(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<ChiefDetail>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let st2 = st.clone();
    with_ledger(&st, d, move |l| {
        let (c, _) = chief::read(l.store, &id)?;
        let all = chief::all(l.store)?;
        let responsibility = chief::responsibility(st2.map(), &c)?;
        Ok(ChiefDetail {
            chief: chief_view(&all, c),
            responsibility,
        })
    })
    .await
    .map(Json)
}

async fn sign_pledge(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Result<Json<chief::Pledge>, JsonRejection>,
) -> Result<Json<ChiefView>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(pledge) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"document": "耕地保护责任书 2026-018", "signed_on": "2026-01-10", "from": "2026-01-01", "to": "2026-12-31"}"#,
        )
    })?;
    let change = ctx.change("farmland.chief.pledge");
    with_ledger(&st, d, move |l| {
        let c = chief::sign_pledge(l.store, &change, &id, pledge)?;
        let all = chief::all(l.store)?;
        Ok(chief_view(&all, c))
    })
    .await
    .map(Json)
}

/// Which patrols.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct PatrolQuery {
    /// 月份（YYYY-MM，缺省为本月）/ the month (YYYY-MM; this month by default).
    #[serde(default)]
    month: Option<String>,
    /// 工单编号：由该工单对应的巡田 / the patrol an order came from.
    #[serde(default)]
    order: Option<String>,
}

/// Patrols.
#[derive(Serialize, JsonSchema)]
pub(crate) struct PatrolList {
    patrols: Vec<chief::Patrol>,
}

fn this_month() -> String {
    Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m")
        .to_string()
}

async fn patrols(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<PatrolQuery>,
) -> Result<Json<PatrolList>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    with_ledger(&st, d, move |l| {
        let patrols = match &q.order {
            Some(o) => chief::patrols(l.store, ("order", o))?,
            None => chief::patrols(l.store, ("month", &q.month.unwrap_or_else(this_month)))?,
        };
        Ok(PatrolList { patrols })
    })
    .await
    .map(Json)
}

/// The month's patrol figures by chief.
#[derive(Serialize, JsonSchema)]
pub(crate) struct PatrolReport {
    /// 月份 / the month.
    month: String,
    chiefs: Vec<chief::ChiefMonth>,
}

async fn patrol_report(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<PatrolQuery>,
) -> Result<Json<PatrolReport>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let month = q.month.unwrap_or_else(this_month);
    with_ledger(&st, d, move |l| {
        let chiefs = chief::month_report(l.store, &month)?;
        Ok(PatrolReport { month, chiefs })
    })
    .await
    .map(Json)
}

async fn set_patrol_rule(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<chief::PatrolRule>, JsonRejection>,
) -> Result<Json<chief::PatrolRule>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(rule) =
        body.map_err(|e| body_problem(&e, r#"{"village_per_cell": 1, "grid_per_cell": 2}"#))?;
    let change = ctx.change("farmland.patrol_rule");
    with_ledger(&st, d, move |l| {
        chief::set_rule(l.store, &change, &rule)?;
        Ok(rule)
    })
    .await
    .map(Json)
}

/// A patrol reported from the phone by the cell's chief. A problem found becomes a work order
/// in the 一网统管 centre (违法占用耕地, reported by patrol), opened first so the patrol names it;
/// the order's description names the chief and cell, and the patrol is found by its order.
async fn patrol(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<chief::NewPatrol>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(report) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"cell": "440605121201001", "started_at": "2026-11-03T01:00:00Z", "ended_at": "2026-11-03T02:00:00Z", "track": {"type": "LineString", "coordinates": [[113.03, 22.84], [113.031, 22.841]]}}"#,
        )
    })?;
    let district = crate::orders::district(&st)?;
    // The cell decides whose patrol it may be: its village's cadres and its grid inspector.
    let village = Jurisdiction::parse(&report.cell)
        .ok()
        .filter(|v| district.contains(v))
        .ok_or_else(|| {
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-field",
                "输入有误",
                format!("“{}”不是本区的网格代码", report.cell),
                format!("{:?} is not a grid cell of the district", report.cell),
            );
            p.field = Some("cell".into());
            p
        })?;
    authorize(
        &st,
        &ctx,
        Action::FarmlandPatrol,
        &Resource {
            scope: std::slice::from_ref(&village),
            ..Resource::default()
        },
        "farmland:patrol",
    )?;
    let user = ctx.principal.user.clone().unwrap_or_default();
    let st2 = st.clone();
    let checked = report.clone();
    let (chief, length) = with_ledger(&st, district.clone(), move |l| {
        let c = chief::chief_of(l.store, &user, &checked.cell)?;
        let length = chief::check_patrol(st2.map(), &c, &checked)?;
        Ok((c, length))
    })
    .await?;
    let order = match &report.problem {
        Some(found) => {
            let new = tudi_orders::service::NewOrder {
                channel: tudi_orders::order::Channel::Patrol,
                reporter: None,
                category: "SJ0601".into(),
                description: format!(
                    "巡田发现（{} {}，网格 {}）：{}",
                    chief.spec.level.name_zh(),
                    chief.spec.name,
                    report.cell,
                    found.description.trim()
                ),
                location: Some(found.location),
                address: None,
                urgency: tudi_orders::category::Urgency::Normal,
                enterprise: false,
            };
            let change = ctx.change("order.intake");
            let cell = Jurisdiction::parse(&report.cell).ok();
            let made =
                crate::orders::with_orders(&st, move |o| o.intake(&change, new, cell.as_ref()))
                    .await?;
            Some(made.order.number)
        }
        None => None,
    };
    let change = ctx.change("farmland.patrol");
    let made = with_ledger(&st, district, move |l| {
        chief::record(l.store, &change, &chief, report, length, order)
    })
    .await?;
    Ok(created("/api/v1/farmland/patrols", &made))
}

/// Which year's compensation.
/// The year's 耕地保护补偿 by collective, from the map as it stands.
async fn compensation(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<YearQuery>,
) -> Result<Response, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandRead)?;
    let xlsx = crate::xlsx::wants(q.format.as_deref())?;
    let year = q.year()?;
    let list = with_ledger(&st, d, move |l| {
        tudi_farmland::compensation::payments(l.store, year)
    })
    .await?;
    if xlsx {
        let table = tudi_farmland::compensation::table(&list);
        return crate::xlsx::download(&table, &format!("farmland-compensation-{year}.xlsx"));
    }
    Ok(Json(list).into_response())
}

async fn set_compensation_rates(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<tudi_farmland::compensation::Rates>, JsonRejection>,
) -> Result<Json<tudi_farmland::compensation::Rates>, Problem> {
    let d = allow(&st, &ctx, Action::FarmlandPost)?;
    let Json(rates) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"yuan_per_mu": {"8": 350, "9": 320, "10": 300}, "basic_farmland_extra": 200, "document": "南府〔2026〕耕保补偿标准"}"#,
        )
    })?;
    let change = ctx.change("farmland.compensation.rates");
    with_ledger(&st, d, move |l| {
        tudi_farmland::compensation::set_rates(l.store, &change, &rates)?;
        Ok(rates)
    })
    .await
    .map(Json)
}
