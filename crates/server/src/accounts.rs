//! Sign-in, one's own account, API tokens, account administration, the audit log and layer
//! access settings under `/api/v1`. Each handler asks the policy (through
//! [`crate::auth::authorize`]) about the resource it acts on.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_access::accounts::{
    AccessError, Accounts, BindingView, NewUser, TokenInfo, UserPatch, UserView, binding_view, view,
};
use tudi_access::policy::{Binding, Via, allowed_somewhere};
use tudi_access::{Action, Jurisdiction, Resource, Role, decide};
use tudi_store::AuditQuery;

use crate::AppState;
use crate::auth::{
    Ctx, SESSION_COOKIE, access_problem, attempt_keys, authorize, authorize_found,
    authorize_somewhere, rate_limited,
};
use crate::ogc::{blocking, store_failed};
use crate::params::Params;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/roles", get(roles))
        .route("/api/v1/tokens", get(list_tokens).post(issue_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}", get(read_user).patch(update_user))
        .route("/api/v1/users/{name}/password", post(reset_password))
        .route("/api/v1/audit", get(audit_trail))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/layers/{id}/access", put(layer_access))
}

/// Whether a body was refused because it came too slowly.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

pub(crate) fn body_problem(e: &JsonRejection, example: &str) -> Problem {
    if timed_out(e) {
        return Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "请求超时",
            "请求内容发送过慢，已超时，请重试",
            e.body_text(),
        );
    }
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "请求内容过大",
            format!(
                "请求体超过了允许的大小（最多 {} KB）",
                crate::MAX_JSON_BODY >> 10
            ),
            e.body_text(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "不支持的内容类型",
            format!("请求体应为 JSON（Content-Type: application/json），如 {example}"),
            e.body_text(),
        ),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "请求内容无效",
            format!("请求体应为 JSON，如 {example}（{}）", e.body_text()),
            e.body_text(),
        ),
    }
}

/// Runs account work on a blocking thread (Argon2 and SQLite are CPU and disk work).
async fn run<T: Send + 'static>(
    st: &AppState,
    work: impl FnOnce(&Accounts<'_>) -> Result<T, AccessError> + Send + 'static,
) -> Result<T, Problem> {
    let st = st.clone();
    crate::spawn_store_work(move || {
        let accounts = Accounts::new(&*st.store, &st.auth);
        work(&accounts).map_err(|e| access_problem(&e))
    })
    .await
    .unwrap_or_else(|_| Err(Problem::internal()))
}

/// A password attempt counted by this server and in the store.
struct Counted {
    here: std::time::Instant,
    shared: crate::auth::SharedAttempt,
}

/// Counts a password attempt under `keys`: first by this server (cheap, and it spares the store
/// a flood from one address), then in the store, where every server's attempts add up.
async fn count_attempt(st: &AppState, keys: &[String]) -> Result<Result<Counted, u64>, Problem> {
    let here = match st.limiter.attempt(keys) {
        Ok(at) => at,
        Err(wait) => return Ok(Err(wait)),
    };
    let (store, shared_keys) = (st.store.clone(), keys.to_vec());
    let shared = crate::spawn_store_work(move || {
        crate::auth::attempt_shared(&*store, &shared_keys, jiff::Timestamp::now())
    })
    .await
    .map_err(|_| Problem::internal())?
    .map_err(|e| crate::ogc::store_failed(&e))?;
    Ok(shared.map(|shared| Counted { here, shared }))
}

/// Takes back an attempt that succeeded, here and in the store. The attempt has succeeded
/// already (a session made, a password changed): a store failure here is logged, not answered.
async fn forgive_attempt(st: &AppState, keys: Vec<String>, counted: Counted) {
    st.limiter.forgive(&keys, counted.here);
    let store = st.store.clone();
    let done = crate::spawn_store_work(move || {
        crate::auth::forgive_shared(&*store, &keys, counted.shared)
    })
    .await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "taking back a sign-in count failed"),
        Err(e) => tracing::warn!(error = %e, "taking back a sign-in count failed"),
    }
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct Login {
    username: String,
    password: String,
}

async fn login(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| body_problem(&e, r#"{"username": "…", "password": "…"}"#))?;
    let username = req.username.trim().to_lowercase();
    let keys = attempt_keys(ctx.client_ip, &username);
    let counted = match count_attempt(&st, &keys).await? {
        Ok(counted) => counted,
        Err(wait) => {
            crate::metrics::sign_in_failed("rate_limited");
            return Ok(rate_limited(wait));
        }
    };
    // The actor is named only when the name can be an account's (an unbounded name is never kept).
    let actor = if tudi_access::accounts::is_username(&username) {
        format!("user:{username}")
    } else {
        "user:?".to_owned()
    };
    let change = tudi_store::Change::new(actor, "auth.login").in_request(ctx.request_id.clone());
    let (token, session, user) = run(&st, move |a| a.login(&change, &username, &req.password))
        .await
        .inspect_err(|p| {
            if p.status.is_client_error() {
                crate::metrics::sign_in_failed("credentials");
            }
        })?;
    forgive_attempt(&st, keys, counted).await;
    let who = tudi_access::Principal {
        user: Some(user.username.clone()),
        bindings: user.bindings.clone(),
        via: Via::Session,
    };
    let max_age = session
        .expires_at
        .duration_since(session.created_at)
        .as_secs()
        .max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if st.cookie_secure { "; Secure" } else { "" }
    );
    let mut res = Json(SignedIn {
        token,
        csrf_token: session.csrf,
        expires_at: session.expires_at,
        must_change_password: user.must_change_password,
        user: view(&user, 0, &who),
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn logout(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    if ctx.principal.via == Via::Session
        && let Some(token) = ctx.credential.clone()
    {
        let change = ctx.change("auth.logout");
        run(&st, move |a| a.logout(&change, &token)).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// A new session.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SignedIn {
    /// 令牌：以 `Authorization: Bearer` 发送 / the bearer token.
    token: String,
    /// 会话写操作须在 `x-csrf-token` 中带上 / send in `x-csrf-token` with a session's writes.
    csrf_token: String,
    expires_at: jiff::Timestamp,
    must_change_password: bool,
    user: UserView,
}

/// How the caller is signed in.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SignedInVia {
    /// `"session"`.
    Session(&'static str),
    /// An API token, by its public id.
    Token {
        /// The token's public id.
        token: String,
    },
}

/// Who the caller is and what the policy lets them do.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Me {
    user: UserView,
    roles_in_force: Vec<BindingView>,
    via: SignedInVia,
    csrf_token: Option<String>,
    must_change_password: bool,
    /// 每个操作是否在某处被允许 / each action: whether the policy grants it somewhere.
    can: BTreeMap<&'static str, bool>,
}

/// What the console may offer this principal: the actions the policy grants somewhere.
fn abilities(ctx: &Ctx) -> BTreeMap<&'static str, bool> {
    Action::ALL
        .into_iter()
        .map(|a| (a.id(), allowed_somewhere(&ctx.principal, a)))
        .collect()
}

async fn me(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    let name = ctx.principal.user.clone().unwrap_or_default();
    let (user, version) = run(&st, move |a| {
        a.user(&name)?.ok_or(AccessError::InvalidToken)
    })
    .await?;
    Ok(Json(Me {
        user: view(&user, version, &ctx.principal),
        roles_in_force: ctx.principal.bindings.iter().map(binding_view).collect(),
        via: match &ctx.principal.via {
            Via::Token(id) => SignedInVia::Token { token: id.clone() },
            _ => SignedInVia::Session("session"),
        },
        csrf_token: ctx.csrf.clone(),
        must_change_password: ctx.must_change_password,
        can: abilities(&ctx),
    })
    .into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) =
        body.map_err(|e| body_problem(&e, r#"{"current_password": "…", "new_password": "…"}"#))?;
    let name = ctx.principal.user.clone().unwrap_or_default();
    // Guesses of the current password are counted as sign-in attempts are.
    let keys = attempt_keys(ctx.client_ip, &name);
    let counted = match count_attempt(&st, &keys).await? {
        Ok(counted) => counted,
        Err(wait) => return Ok(rate_limited(wait)),
    };
    let change = ctx.change("user.change_password");
    let keep = ctx.credential.clone();
    let done = run(&st, move |a| {
        a.change_password(
            &change,
            &name,
            &req.current_password,
            &req.new_password,
            keep.as_deref(),
        )
    })
    .await;
    if done
        .as_ref()
        .is_err_and(|p| p.slug == "bad-credentials" || p.slug == "account-locked")
    {
        return done.map(|()| StatusCode::NO_CONTENT.into_response());
    }
    forgive_attempt(&st, keys, counted).await;
    done?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A role as listed.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RoleView {
    id: &'static str,
    name: &'static str,
    name_en: &'static str,
    /// 可授予的辖区层级 / the levels it may be held at.
    levels: Vec<tudi_access::policy::Level>,
    needs_department: bool,
}

/// The roles.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RoleList {
    roles: Vec<RoleView>,
}

async fn roles() -> Response {
    let roles = Role::ALL
        .iter()
        .map(|r| RoleView {
            id: r.id(),
            name: r.name_zh(),
            name_en: r.name_en(),
            levels: r.levels().to_vec(),
            needs_department: r.needs_department(),
        })
        .collect();
    Json(RoleList { roles }).into_response()
}

/// One's API tokens.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenList {
    tokens: Vec<TokenInfo>,
}

/// A token just issued: its secret, shown this once.
#[derive(Serialize, JsonSchema)]
pub(crate) struct IssuedToken {
    /// 令牌（仅此一次显示）/ the secret, shown this once.
    token: String,
    info: TokenInfo,
}

/// A token as it now stands.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenState {
    info: TokenInfo,
}

async fn list_tokens(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    let name = ctx.principal.user.clone().unwrap_or_default();
    let tokens = run(&st, move |a| a.tokens(&name)).await?;
    Ok(Json(TokenList { tokens }).into_response())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    name: String,
    #[serde(default)]
    roles: Vec<Binding>,
    #[serde(default)]
    days: Option<u32>,
}

async fn issue_token(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) =
        body.map_err(|e| body_problem(&e, r#"{"name": "规划系统对接", "days": 90}"#))?;
    if matches!(ctx.principal.via, Via::Token(_)) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "无权操作",
            "接口令牌不能再签发令牌，请登录后操作",
            "an API token cannot issue tokens: sign in to do this",
        ));
    }
    let name = ctx.principal.user.clone().unwrap_or_default();
    let change = ctx.change("token.issue");
    let (secret, info) = run(&st, move |a| {
        a.issue_token(&change, &name, &req.name, req.roles, req.days)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: secret,
            info,
        }),
    )
        .into_response())
}

async fn revoke_token(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let lookup = id.clone();
    let (_, info, _) = run(&st, move |a| a.token(&lookup)).await?;
    if ctx.principal.user.as_deref() != Some(info.user.as_str()) {
        // Someone else's token: an administrator of its account may revoke it.
        let owner = info.user.clone();
        let (user, _) = run(&st, move |a| {
            a.user(&owner)?.ok_or(AccessError::UnknownUser(owner))
        })
        .await?;
        let scopes = user.scopes();
        authorize(
            &st,
            &ctx,
            Action::UserUpdate,
            &Resource {
                scope: &scopes,
                ..Resource::default()
            },
            &format!("user:{}", info.user),
        )?;
    }
    let change = ctx.change("token.revoke");
    let info = run(&st, move |a| a.revoke_token(&change, &id)).await?;
    Ok(Json(TokenState { info }).into_response())
}

/// A page of accounts.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct UserQuery {
    /// 每页条数（1–500，默认 50）/ accounts a page (1–500, default 50).
    #[serde(default)]
    limit: Option<u64>,
    /// 跳过的条数 / accounts skipped.
    #[serde(default)]
    offset: Option<u64>,
    /// 用户名或姓名包含 / in the username or the display name.
    #[serde(default)]
    q: Option<String>,
}

/// A page of one resource's audit history.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct AuditParams {
    /// 对象，如 `user:wangxm`、`order:GD440605-20260929-000003`；不填为全部 / the resource (all when absent).
    #[serde(default)]
    resource: Option<String>,
    /// 每页条数（1–500，默认 50）/ entries a page (1–500, default 50).
    #[serde(default)]
    limit: Option<u64>,
    /// 跳过的条数 / entries skipped.
    #[serde(default)]
    offset: Option<u64>,
}

async fn list_users(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(p): Params<UserQuery>,
) -> Result<Response, Problem> {
    // Only administrators list accounts; each sees those wholly within their jurisdiction.
    authorize_somewhere(&st, &ctx, Action::UserList, "user:*")?;
    let users = run(&st, |a| a.users()).await?;
    let q = p.q.unwrap_or_default();
    let visible: Vec<UserView> = users
        .iter()
        .filter(|(u, _)| {
            let scopes = u.scopes();
            decide(
                &ctx.principal,
                Action::UserList,
                &Resource {
                    scope: &scopes,
                    ..Resource::default()
                },
            )
            .allowed
        })
        .filter(|(u, _)| q.is_empty() || u.username.contains(&q) || u.display_name.contains(&q))
        .map(|(u, v)| view(u, *v, &ctx.principal))
        .collect();
    let total = visible.len();
    let (limit, offset) = (
        p.limit.unwrap_or(50).clamp(1, 500) as usize,
        p.offset.unwrap_or(0) as usize,
    );
    let users = visible.into_iter().skip(offset).take(limit).collect();
    Ok(Json(UserPage {
        users,
        total,
        limit,
        offset,
    })
    .into_response())
}

async fn create_user(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(new) = body.map_err(|e| body_problem(&e, r#"{"username": "wangxm", "password": "…", "roles": [{"role": "village_clerk", "scope": "440605011001"}]}"#))?;
    let scopes: Vec<Jurisdiction> = new.roles.iter().map(|b| b.scope.clone()).collect();
    authorize(
        &st,
        &ctx,
        Action::UserCreate,
        &Resource {
            scope: &scopes,
            ..Resource::default()
        },
        &format!("user:{}", new.username),
    )?;
    let change = ctx.change("user.create");
    let user = run(&st, move |a| a.create_user(&change, new)).await?;
    Ok((StatusCode::CREATED, Json(view(&user, 1, &ctx.principal))).into_response())
}

/// Loads an account and checks `action` on it.
async fn account_for(
    st: &AppState,
    ctx: &Ctx,
    name: &str,
    action: Action,
) -> Result<(tudi_access::accounts::User, u64), Problem> {
    // Only those who may take the action somewhere learn anything of a name; to them an
    // account outside their jurisdiction is as unknown as one that does not exist, so names
    // cannot be probed.
    authorize_somewhere(st, ctx, action, &format!("user:{name}"))?;
    let lookup = name.to_owned();
    let found = run(st, move |a| a.user(&lookup)).await?;
    let unknown = || access_problem(&AccessError::UnknownUser(name.to_owned()));
    let Some((user, version)) = found else {
        return Err(unknown());
    };
    let scopes = user.scopes();
    let res = Resource {
        scope: &scopes,
        ..Resource::default()
    };
    let readable = decide(&ctx.principal, Action::UserRead, &res).allowed;
    authorize_found(
        st,
        ctx,
        action,
        &res,
        readable,
        &format!("user:{name}"),
        unknown,
    )?;
    Ok((user, version))
}

async fn read_user(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let (user, version) = account_for(&st, &ctx, &name, Action::UserRead).await?;
    let tokens = run(&st, move |a| a.tokens(&name)).await?;
    let mut body =
        serde_json::to_value(view(&user, version, &ctx.principal)).unwrap_or(Value::Null);
    body["tokens"] = json!(tokens);
    Ok(Json(body).into_response())
}

async fn update_user(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Result<Json<UserPatch>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(patch) =
        body.map_err(|e| body_problem(&e, r#"{"roles": […], "disabled": false, "version": 3}"#))?;
    account_for(&st, &ctx, &name, Action::UserUpdate).await?;
    if let Some(roles) = &patch.roles {
        // The new roles must lie within the administrator's jurisdiction too.
        let scopes: Vec<Jurisdiction> = roles.iter().map(|b| b.scope.clone()).collect();
        authorize(
            &st,
            &ctx,
            Action::UserUpdate,
            &Resource {
                scope: &scopes,
                ..Resource::default()
            },
            &format!("user:{name}"),
        )?;
    }
    if ctx.principal.user.as_deref() == Some(name.as_str()) && patch.disabled == Some(true) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "冲突",
            "不能停用自己的账户",
            "you cannot disable your own account",
        ));
    }
    let change = ctx.change("user.update");
    let (user, version) = run(&st, move |a| a.update_user(&change, &name, patch)).await?;
    Ok(Json(view(&user, version, &ctx.principal)).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct Reset {
    password: String,
}

async fn reset_password(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Result<Json<Reset>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| body_problem(&e, r#"{"password": "临时密码"}"#))?;
    account_for(&st, &ctx, &name, Action::UserResetPassword).await?;
    let change = ctx.change("user.reset_password");
    run(&st, move |a| {
        a.reset_password(&change, &name, &req.password)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn audit_trail(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Params(p): Params<AuditParams>,
) -> Result<Response, Problem> {
    let resource = p.resource.clone().filter(|r| !r.is_empty());
    // Whose the resource is decides who may read its history.
    let (scopes, owner) = match resource.as_deref().and_then(|r| r.strip_prefix("user:")) {
        Some(name) => {
            let lookup = name.to_owned();
            let found = run(&st, move |a| a.user(&lookup)).await?;
            (
                found
                    .map(|(u, _)| u.scopes())
                    .unwrap_or_else(|| st.district_scope()),
                Some(name.to_owned()),
            )
        }
        None => (st.district_scope(), None),
    };
    let label = resource.clone().unwrap_or_else(|| "audit:*".into());
    authorize(
        &st,
        &ctx,
        Action::AuditRead,
        &Resource {
            scope: &scopes,
            owner: owner.as_deref(),
            ..Resource::default()
        },
        &label,
    )?;
    let (limit, offset) = (p.limit.unwrap_or(50).clamp(1, 500), p.offset.unwrap_or(0));
    let store = st.store.clone();
    let query = AuditQuery {
        resource,
        actor: None,
        limit: Some(limit),
        offset,
    };
    let entries = blocking(move || store.audit_trail(&query).map_err(|e| store_failed(&e))).await?;
    Ok(Json(AuditPage {
        entries,
        limit,
        offset,
    })
    .into_response())
}

async fn audit_verify(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Response, Problem> {
    let scopes = st.district_scope();
    authorize(
        &st,
        &ctx,
        Action::AuditVerify,
        &Resource {
            scope: &scopes,
            ..Resource::default()
        },
        "audit:*",
    )?;
    let store = st.store.clone();
    let report = blocking(move || store.verify_audit().map_err(|e| store_failed(&e))).await?;
    let faults = report
        .faults
        .iter()
        .map(|f| {
            let m = f.message();
            FaultView {
                fault: f.clone(),
                message: m.zh,
                message_en: m.en,
            }
        })
        .collect();
    Ok(Json(ChainCheck {
        intact: report.is_intact(),
        entries: report.entries,
        head: report.head,
        faults,
    })
    .into_response())
}

/// A page of audit entries.
#[derive(Serialize, JsonSchema)]
pub(crate) struct AuditPage {
    entries: Vec<tudi_store::audit::AuditEntry>,
    limit: u64,
    offset: u64,
}

/// What a check of the whole audit chain found.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChainCheck {
    /// 审计链完整 / no entry was changed, removed or inserted.
    intact: bool,
    /// 检查的条数 / entries read.
    entries: u64,
    head: Option<String>,
    faults: Vec<FaultView>,
}

/// A fault in the chain, explained.
#[derive(Serialize, JsonSchema)]
pub(crate) struct FaultView {
    fault: tudi_store::audit::ChainFault,
    message: String,
    message_en: String,
}

/// A layer's access as set.
#[derive(Serialize, JsonSchema)]
pub(crate) struct LayerAccessSet {
    layer: String,
    public: bool,
    /// 现在公开的图层 / the layers now public.
    public_layers: Vec<String>,
}

/// A page of accounts.
#[derive(Serialize, JsonSchema)]
pub(crate) struct UserPage {
    users: Vec<UserView>,
    total: usize,
    limit: usize,
    offset: usize,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LayerAccess {
    public: bool,
}

async fn layer_access(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Result<Json<LayerAccess>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| body_problem(&e, r#"{"public": true}"#))?;
    let scopes = st.district_scope();
    authorize(
        &st,
        &ctx,
        Action::LayerConfigure,
        &Resource {
            scope: &scopes,
            ..Resource::default()
        },
        &format!("layer:{id}"),
    )?;
    let store = st.store.clone();
    let change = ctx.change("layer.access");
    let layer = id.clone();
    let public = blocking(move || {
        tudi_onemap::access::set_public(&*store, &layer, req.public, &change)
            .map_err(|e| store_failed(&e))
    })
    .await?;
    Ok(Json(LayerAccessSet {
        layer: id,
        public: req.public,
        public_layers: public,
    })
    .into_response())
}
