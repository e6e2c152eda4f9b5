//! Survey projects and submissions under `/api/v1/survey` (综合测绘, 成果质检): the bureau
//! registers projects; a firm submits a package to its own project and follows its check's
//! progress; the report comes back as findings on the map, an Excel list and a GeoPackage of
//! error geometries; the bureau returns the results or, once nothing blocks them, accepts them
//! into the one map; every firm's record of checks passed and failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tudi_access::{Action, Jurisdiction, Resource, decide};
use tudi_core::msg::Bilingual;
use tudi_quality::survey::{
    self, FirmRecord, NewProject, Progress, Project, Submission, SubmissionStatus, SurveyError,
};

use crate::AppState;
use crate::accounts::body_problem;
use crate::auth::{Ctx, authorize, authorize_found};
use crate::ogc::blocking;
use crate::params::Params;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/survey/projects", get(list).post(register))
        .route("/api/v1/survey/projects/{id}", get(read_project))
        .route(
            "/api/v1/survey/projects/{id}/submissions",
            // Packages up to the server's request limit reach the handler (axum's own default
            // would cut them at 2 MB).
            post(submit).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY)),
        )
        .route("/api/v1/survey/submissions/{id}", get(read_submission))
        .route(
            "/api/v1/survey/submissions/{id}/files/{file}",
            get(submission_file),
        )
        .route("/api/v1/survey/submissions/{id}/actions", post(act))
        .route("/api/v1/survey/firms", get(firms))
}

/// Checks this server runs at once: each reads a whole package and the layers it is compared
/// with, so a flood of submissions waits its turn instead of taking every core and the memory.
const CONCURRENT_CHECKS: usize = 2;

/// Checks running (or waiting to run) on this server, with how far each has come.
pub(crate) struct Checks {
    running: Mutex<HashMap<String, Progress>>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            running: Mutex::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CHECKS)),
        }
    }
}

impl Checks {
    fn progress(&self, id: &str) -> Option<Progress> {
        self.running.lock().ok()?.get(id).copied()
    }

    /// Marks `id` as running here; false when it already is.
    fn start(&self, id: &str) -> bool {
        let Ok(mut running) = self.running.lock() else {
            return false;
        };
        if running.contains_key(id) {
            return false;
        }
        running.insert(
            id.to_owned(),
            Progress {
                stage: "queued",
                done: 0,
                total: 1,
            },
        );
        true
    }

    fn set(&self, id: &str, p: Progress) {
        if let Ok(mut running) = self.running.lock() {
            running.insert(id.to_owned(), p);
        }
    }

    fn end(&self, id: &str) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(id);
        }
    }
}

/// Ends a check's entry however its work ends (a panic included), so it can be started again.
struct Running {
    checks: Arc<Checks>,
    id: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.checks.end(&self.id);
    }
}

fn survey_problem(e: &SurveyError) -> Problem {
    let m = e.message();
    match e {
        SurveyError::Invalid { field, .. } => {
            let mut p = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-field",
                "输入有误",
                m.zh,
                m.en,
            );
            p.field = Some((*field).into());
            p
        }
        SurveyError::NotFound(_) => Problem::not_found(m.zh, m.en),
        SurveyError::State(_) => Problem::new(
            StatusCode::CONFLICT,
            "illegal-step",
            "当前状态不能执行此操作",
            m.zh,
            m.en,
        ),
        SurveyError::Package(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-package",
            "成果包无法使用",
            m.zh,
            m.en,
        ),
        SurveyError::Import(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "import-failed",
            "成果入库失败",
            m.zh,
            m.en,
        ),
        SurveyError::Store(tudi_store::StoreError::Conflict { .. }) => Problem::new(
            StatusCode::CONFLICT,
            "version-conflict",
            "已被他人处理",
            m.zh,
            m.en,
        ),
        SurveyError::Store(s) => Problem::from_store(s),
        SurveyError::Internal(_) => {
            tracing::error!(error = %e, "survey step failed");
            Problem::internal()
        }
    }
}

async fn with_store<T: Send + 'static>(
    st: &AppState,
    work: impl FnOnce(&dyn tudi_store::Store) -> Result<T, SurveyError> + Send + 'static,
) -> Result<T, Problem> {
    let store = st.store.clone();
    blocking(move || work(&*store).map_err(|e| survey_problem(&e))).await
}

fn district(st: &AppState) -> Result<Jurisdiction, Problem> {
    crate::orders::district(st)
}

/// What the caller may do with a project of `firm`.
struct Reach {
    /// Read it (the bureau, or the firm itself).
    read: bool,
    /// Submit to it (the firm).
    submit: bool,
}

fn reach(ctx: &Ctx, district: &Jurisdiction, firm: &str) -> Reach {
    let scope = [district.clone()];
    let bureau = Resource {
        scope: &scope,
        ..Resource::default()
    };
    let of_firm = Resource {
        scope: &scope,
        department: Some(firm),
        ..Resource::default()
    };
    let submit = decide(&ctx.principal, Action::SurveySubmit, &of_firm).allowed;
    Reach {
        read: submit || decide(&ctx.principal, Action::SurveyRead, &bureau).allowed,
        submit,
    }
}

/// Refuses a caller who may read no survey work at all: neither the bureau's nor a firm's own.
fn authorize_listing(st: &AppState, ctx: &Ctx, district: &Jurisdiction) -> Result<(), Problem> {
    if tudi_access::policy::allowed_somewhere(&ctx.principal, Action::SurveySubmit) {
        return Ok(());
    }
    authorize(
        st,
        ctx,
        Action::SurveyRead,
        &Resource {
            scope: std::slice::from_ref(district),
            ..Resource::default()
        },
        "survey",
    )
}

/// Refuses a caller who may not read a project of `firm` (as if it did not exist).
fn authorize_read(
    st: &AppState,
    ctx: &Ctx,
    district: &Jurisdiction,
    firm: &str,
    what: &str,
    not_found: impl FnOnce() -> Problem,
) -> Result<Reach, Problem> {
    let r = reach(ctx, district, firm);
    if !r.read {
        let scope = [district.clone()];
        authorize_found(
            st,
            ctx,
            Action::SurveyRead,
            &Resource {
                scope: &scope,
                ..Resource::default()
            },
            false,
            what,
            not_found,
        )?;
    }
    Ok(r)
}

/// Which projects to list.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct ListQuery {
    /// 测绘单位 / only this firm's.
    #[serde(default)]
    firm: Option<String>,
    /// 状态 / only in this status (`registered`, `submitted`, `returned`, `accepted`).
    #[serde(default)]
    status: Option<survey::ProjectStatus>,
    /// 每页条数（1–200，默认 50）/ at most this many (1–200, default 50).
    #[serde(default)]
    limit: Option<usize>,
    /// 跳过条数 / skip this many.
    #[serde(default)]
    offset: Option<usize>,
}

/// A project with its status's name and what the caller may do.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProjectView {
    #[serde(flatten)]
    project: Project,
    kind_name: tudi_core::msg::Msg,
    status_name: tudi_core::msg::Msg,
    /// 逾期：期限已过且未入库 / past its deadline and not accepted.
    overdue: bool,
    /// The caller may submit results to it.
    may_submit: bool,
    /// 最近一次提交 / its latest submission, if any.
    latest: Option<SubmissionBrief>,
}

/// Today in China (deadlines are dates there).
fn today() -> jiff::civil::Date {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

fn project_view(p: Project, may_submit: bool, latest: Option<&Submission>) -> ProjectView {
    let today = today();
    ProjectView {
        kind_name: p.kind.msg(),
        status_name: p.status.msg(),
        overdue: p.status != survey::ProjectStatus::Accepted && p.deadline < today,
        may_submit: may_submit && p.status != survey::ProjectStatus::Accepted,
        latest: latest.map(brief),
        project: p,
    }
}

fn brief(s: &Submission) -> SubmissionBrief {
    SubmissionBrief {
        errors: s.errors(),
        warnings: s.warnings(),
        status_name: s.status.msg(),
        id: s.id.clone(),
        file_name: s.file_name.clone(),
        status: s.status,
        submitted_at: s.submitted_at,
        submitted_by: s.submitted_by.clone(),
    }
}

/// A page of projects, newest first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProjectPage {
    /// 符合条件的总数 / how many meet the filter.
    total: usize,
    projects: Vec<ProjectView>,
}

async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(q): Params<ListQuery>,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    authorize_listing(&st, &ctx, &d)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let offset = q.offset.unwrap_or(0);
    let firm = q.firm.clone();
    let (all, subs) = with_store(&st, move |s| {
        let key = firm.as_deref().map(|f| ("firm", f));
        Ok((
            survey::projects(s, firm.as_deref())?,
            survey::submissions(s, key)?,
        ))
    })
    .await?;
    // Ids are UUIDv7: the last of a project's is its latest.
    let latest: HashMap<&str, &Submission> = subs.iter().map(|s| (s.project.as_str(), s)).collect();
    let mut shown: Vec<ProjectView> = all
        .into_iter()
        .filter(|p| q.status.is_none_or(|s| p.status == s))
        .filter_map(|p| {
            let r = reach(&ctx, &d, &p.firm);
            let last = latest.get(p.id.as_str()).copied();
            r.read.then(|| project_view(p, r.submit, last))
        })
        .collect();
    shown.reverse();
    let total = shown.len();
    let projects = shown.into_iter().skip(offset).take(limit).collect();
    Ok(Json(ProjectPage { total, projects }).into_response())
}

async fn register(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<NewProject>, JsonRejection>,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    authorize(
        &st,
        &ctx,
        Action::SurveyManage,
        &Resource {
            scope: std::slice::from_ref(&d),
            ..Resource::default()
        },
        "survey",
    )?;
    let Json(new) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"name": "桂城街道夏北社区地籍调查", "kind": "cadastral", "client": "区自然资源局", "firm": "某测绘公司", "deadline": "2027-03-31"}"#,
        )
    })?;
    let change = ctx.change("survey.register");
    let project = with_store(&st, move |s| survey::register(s, &change, &new)).await?;
    let location = format!("/api/v1/survey/projects/{}", project.id);
    let mut res = (
        StatusCode::CREATED,
        Json(project_view(project, false, None)),
    )
        .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(res)
}

/// A project with its submissions (newest first).
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProjectDetail {
    #[serde(flatten)]
    project: ProjectView,
    submissions: Vec<SubmissionBrief>,
}

/// A submission in a list: no findings.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SubmissionBrief {
    id: String,
    file_name: String,
    status: SubmissionStatus,
    status_name: tudi_core::msg::Msg,
    #[schemars(with = "String")]
    submitted_at: jiff::Timestamp,
    submitted_by: String,
    errors: u64,
    warnings: u64,
}

fn not_found_project(id: &str) -> impl FnOnce() -> Problem + '_ {
    move || {
        let m = survey::no_project(id);
        Problem::not_found(m.zh, m.en)
    }
}

async fn read_project(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    let key = id.clone();
    let (project, subs) = with_store(&st, move |s| {
        let (p, _) = survey::project(s, &key)?;
        let subs = survey::submissions(s, Some(("project", &key)))?;
        Ok((p, subs))
    })
    .await?;
    let r = authorize_read(
        &st,
        &ctx,
        &d,
        &project.firm,
        &format!("survey_project:{id}"),
        not_found_project(&id),
    )?;
    Ok(Json(ProjectDetail {
        project: project_view(project, r.submit, subs.last()),
        submissions: subs.iter().rev().map(brief).collect(),
    })
    .into_response())
}

/// The package's name.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct SubmitQuery {
    /// 文件名 / the file's name (`宗地成果.gpkg`).
    #[serde(default)]
    name: Option<String>,
}

async fn submit(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    Params(q): Params<SubmitQuery>,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    let key = id.clone();
    let (project, _) = with_store(&st, move |s| survey::project(s, &key)).await?;
    let r = authorize_read(
        &st,
        &ctx,
        &d,
        &project.firm,
        &format!("survey_project:{id}"),
        not_found_project(&id),
    )?;
    if !r.submit {
        let scope = [d.clone()];
        authorize(
            &st,
            &ctx,
            Action::SurveySubmit,
            &Resource {
                scope: &scope,
                department: Some(&project.firm),
                ..Resource::default()
            },
            &format!("survey_project:{id}"),
        )?;
    }
    let change = ctx.change("survey.submit");
    let name = q.name.unwrap_or_default();
    let sub = with_store(&st, move |s| survey::submit(s, &change, &id, &name, &body)).await?;
    start_check(&st, sub.id.clone());
    let location = format!("/api/v1/survey/submissions/{}", sub.id);
    let mut res = (
        StatusCode::ACCEPTED,
        Json(submission_view(
            &st,
            sub,
            &May {
                manage: false,
                sign_off: false,
                project_open: true,
            },
        )),
    )
        .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(res)
}

/// Runs the check of submission `id` in the background (when one of this server's slots is
/// free), unless it runs here already.
pub(crate) fn start_check(st: &AppState, id: String) {
    if !st.survey_checks.start(&id) {
        return;
    }
    let st = st.clone();
    tokio::spawn(async move {
        let running = Running {
            checks: Arc::clone(&st.survey_checks),
            id: id.clone(),
        };
        let Ok(_slot) = Arc::clone(&st.survey_checks.slots).acquire_owned().await else {
            return;
        };
        let work = tokio::task::spawn_blocking(move || {
            let change = tudi_store::Change::new("system:quality-check", "survey.check");
            let checks = Arc::clone(&running.checks);
            let observe = |p: Progress| checks.set(&running.id, p);
            let started = std::time::Instant::now();
            let outcome = survey::check(
                &*st.store,
                &change,
                &running.id,
                &|tables| crate::xlsx::workbook_of(tables).map_err(|e| e.to_string()),
                &observe,
            );
            crate::metrics::job_ran("survey-check", outcome.is_ok(), started.elapsed());
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "a submission's check failed");
            }
        });
        if let Err(e) = work.await {
            tracing::error!(error = %e, "a submission's check stopped");
        }
    });
}

/// Checks the submissions left queued, or mid-check for ten minutes (by a server that
/// stopped).
pub(crate) async fn resume_checks(st: &AppState) {
    let store = st.store.clone();
    let stale = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10);
    let pending = tokio::task::spawn_blocking(move || survey::pending(&*store, stale)).await;
    match pending {
        Ok(Ok(ids)) => {
            for id in ids {
                start_check(st, id);
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "could not list the submissions to check"),
        Err(e) => tracing::warn!(error = %e, "listing the submissions to check failed"),
    }
}

/// A submission as its reader sees it: its check's progress while it runs, what the caller
/// may do next.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SubmissionView {
    #[serde(flatten)]
    submission: Submission,
    status_name: tudi_core::msg::Msg,
    /// 质检进度（质检中时）/ how far the check has come, while it runs on this server.
    progress: Option<Progress>,
    errors: u64,
    warnings: u64,
    /// 未签认的警告编号 / the warnings not signed off yet.
    unsigned_warnings: Vec<usize>,
    /// 可执行的操作 / what the caller may do now (`sign_off`, `return`, `accept`).
    actions: Vec<&'static str>,
}

/// What the caller may decide on a submission, and whether its project still takes results.
struct May {
    manage: bool,
    sign_off: bool,
    project_open: bool,
}

impl May {
    fn new(ctx: &Ctx, district: Jurisdiction, project_open: bool) -> Self {
        let scope = [district];
        let res = Resource {
            scope: &scope,
            ..Resource::default()
        };
        Self {
            manage: decide(&ctx.principal, Action::SurveyManage, &res).allowed,
            sign_off: decide(&ctx.principal, Action::SurveySignOff, &res).allowed,
            project_open,
        }
    }
}

fn submission_view(st: &AppState, sub: Submission, may: &May) -> SubmissionView {
    let mut actions = Vec::new();
    let unsigned = sub.unsigned_warnings();
    if sub.status == SubmissionStatus::Passed && may.project_open {
        if may.sign_off && !unsigned.is_empty() {
            actions.push("sign_off");
        }
        if may.manage && unsigned.is_empty() {
            actions.push("accept");
        }
    }
    if may.manage
        && matches!(
            sub.status,
            SubmissionStatus::Passed | SubmissionStatus::Failed | SubmissionStatus::Unreadable
        )
    {
        actions.push("return");
    }
    SubmissionView {
        // Only while it runs: a check's entry ends a moment after its outcome is written.
        progress: matches!(
            sub.status,
            SubmissionStatus::Queued | SubmissionStatus::Checking
        )
        .then(|| st.survey_checks.progress(&sub.id))
        .flatten(),
        status_name: sub.status.msg(),
        errors: sub.errors(),
        warnings: sub.warnings(),
        unsigned_warnings: unsigned,
        actions,
        submission: sub,
    }
}

fn not_found_submission(id: &str) -> impl FnOnce() -> Problem + '_ {
    move || {
        let m = survey::no_submission(id);
        Problem::not_found(m.zh, m.en)
    }
}

async fn load_submission(st: &AppState, ctx: &Ctx, id: &str) -> Result<(Submission, May), Problem> {
    let d = district(st)?;
    let key = id.to_owned();
    let (sub, project) = with_store(st, move |s| {
        let (sub, _) = survey::submission(s, &key)?;
        let (project, _) = survey::project(s, &sub.project)?;
        Ok((sub, project))
    })
    .await?;
    authorize_read(
        st,
        ctx,
        &d,
        &sub.firm,
        &format!("survey_submission:{id}"),
        not_found_submission(id),
    )?;
    let open = project.status != survey::ProjectStatus::Accepted;
    Ok((sub, May::new(ctx, d, open)))
}

async fn read_submission(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (sub, may) = load_submission(&st, &ctx, &id).await?;
    Ok(Json(submission_view(&st, sub, &may)).into_response())
}

async fn submission_file(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (sub, _) = load_submission(&st, &ctx, &id).await?;
    let stem: String = sub
        .file_name
        .rsplit_once('.')
        .map_or(sub.file_name.as_str(), |(s, _)| s)
        .to_owned();
    let (sha, name) = match (file.as_str(), &sub.reports) {
        ("report.xlsx", Some(r)) => (r.excel.clone(), format!("{stem}-质检报告.xlsx")),
        ("findings.gpkg", Some(r)) => (r.geopackage.clone(), format!("{stem}-质检问题.gpkg")),
        ("package", _) => (sub.package.clone(), sub.file_name.clone()),
        ("report.xlsx" | "findings.gpkg", None) => {
            return Err(Problem::not_found(
                "该成果尚未完成质检，没有报告",
                "this submission has no report: its check has not finished",
            ));
        }
        _ => {
            return Err(Problem::not_found(
                format!("没有文件 {file}（可用：report.xlsx、findings.gpkg、package）"),
                format!("no file {file} (there are report.xlsx, findings.gpkg and package)"),
            ));
        }
    };
    let store = st.store.clone();
    let blob = blocking(move || store.blob(&sha).map_err(|e| Problem::from_store(&e)))
        .await?
        .ok_or_else(|| Problem::not_found("文件已丢失", "the file is missing"))?;
    Ok(crate::files::download(
        &blob.content_type,
        blob.bytes,
        &name,
    ))
}

/// A decision on a submission.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    /// `sign_off`（签认警告）、`return`（退回）or `accept`（入库）.
    action: String,
    /// 签认的警告编号 / the warnings signed off (`sign_off`).
    #[serde(default)]
    findings: Vec<usize>,
    /// 理由 / why (`sign_off`, `return`).
    #[serde(default)]
    reason: String,
}

async fn act(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Response, Problem> {
    let (sub, _) = load_submission(&st, &ctx, &id).await?;
    let Json(body) = body.map_err(|e| {
        body_problem(
            &e,
            r#"{"action": "sign_off", "findings": [3], "reason": "经核实，界址点位置正确"}"#,
        )
    })?;
    let action = match body.action.as_str() {
        "sign_off" => Action::SurveySignOff,
        "return" | "accept" => Action::SurveyManage,
        other => {
            return Err(Problem::bad_parameter(
                "action",
                format!("未知操作“{other}”（可用：sign_off、return、accept）"),
                format!("unknown action {other:?} (there are sign_off, return and accept)"),
            ));
        }
    };
    let d = district(&st)?;
    authorize(
        &st,
        &ctx,
        action,
        &Resource {
            scope: &[d],
            ..Resource::default()
        },
        &format!("survey_submission:{}", sub.id),
    )?;
    let change = ctx.change(&format!("survey.{}", body.action));
    let (done, project) = with_store(&st, move |s| {
        let done = match body.action.as_str() {
            "sign_off" => survey::sign_off(s, &change, &id, &body.findings, &body.reason),
            "return" => survey::return_to_firm(s, &change, &id, &body.reason),
            _ => survey::accept(s, &change, &id),
        }?;
        let (project, _) = survey::project(s, &done.project)?;
        Ok((done, project))
    })
    .await?;
    let may = May::new(
        &ctx,
        district(&st)?,
        project.status != survey::ProjectStatus::Accepted,
    );
    Ok(Json(submission_view(&st, done, &may)).into_response())
}

/// Every firm's record (质量诚信).
#[derive(Serialize, JsonSchema)]
pub(crate) struct FirmList {
    firms: Vec<FirmRecord>,
}

async fn firms(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    let d = district(&st)?;
    authorize_listing(&st, &ctx, &d)?;
    let today = today();
    let all = with_store(&st, move |s| survey::firm_records(s, today)).await?;
    let firms = all
        .into_iter()
        .filter(|f| reach(&ctx, &d, &f.firm).read)
        .collect();
    Ok(Json(FirmList { firms }).into_response())
}
