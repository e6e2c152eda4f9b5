//! Who is asking, and whether the route lets them in.
//!
//! [`identify`] runs on every request: it gives the request an id, reads a bearer token or the
//! console's session cookie, checks the anti-CSRF token of cookie-authenticated writes, and puts
//! a [`Ctx`] in the request. [`guard`] runs after routing: it looks the route up in
//! [`crate::routes::ROUTES`] — a route without an entry is refused, so none can slip in without
//! a policy decision — and applies the route's [`Guard`]. Decisions on a particular resource
//! (an account in a jurisdiction, a layer) are taken by the handler through the same policy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tudi_access::accounts::{AccessError, Accounts, AuthConfig, Authenticated};
use tudi_access::policy::{Principal, Reason};
use tudi_access::{Action, Decision, Resource, decide};
use tudi_core::msg::Bilingual;
use tudi_store::{Change, Store};

use crate::AppState;
use crate::problem::Problem;
use crate::routes::{Guard, ROUTES};

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "tudi_session";
/// Header carrying the anti-CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What every handler knows about the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Who.
    pub principal: Principal,
    /// The request id (echoed in `x-request-id`, recorded in audit entries).
    pub request_id: String,
    /// The credential presented (for logout).
    pub credential: Option<String>,
    /// The session's anti-CSRF token.
    pub csrf: Option<String>,
    /// The account must choose a new password.
    pub must_change_password: bool,
    /// The client's address, when the connection is known.
    pub client_ip: Option<IpAddr>,
}

impl Ctx {
    /// A change by this request's principal.
    #[must_use]
    pub fn change(&self, action: &str) -> Change {
        Change::new(self.principal.actor(), action).in_request(self.request_id.clone())
    }
}

/// Maps an authentication error to its response.
pub fn access_problem(e: &AccessError) -> Problem {
    let m = e.msg();
    let (status, slug, title) = match e {
        AccessError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad-credentials", "登录失败"),
        AccessError::Locked(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "account-locked",
            "账户已锁定",
        ),
        AccessError::Disabled => (StatusCode::FORBIDDEN, "account-disabled", "账户已停用"),
        AccessError::InvalidToken => (StatusCode::UNAUTHORIZED, "unauthenticated", "未登录"),
        AccessError::Expired => (StatusCode::UNAUTHORIZED, "session-expired", "登录已过期"),
        AccessError::Revoked => (StatusCode::UNAUTHORIZED, "token-revoked", "令牌已吊销"),
        AccessError::Invalid { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "输入有误",
        ),
        AccessError::UnknownUser(_) | AccessError::UnknownToken(_) => {
            (StatusCode::NOT_FOUND, "not-found", "未找到")
        }
        AccessError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "冲突"),
        AccessError::Store(store) => return Problem::from_store(store),
        AccessError::Internal(_) => {
            tracing::error!(error = %e, "access failed");
            return Problem::internal();
        }
    };
    let mut p = Problem::new(status, slug, title, m.zh, m.en);
    if let AccessError::Invalid { field, .. } = e {
        p.field = Some((*field).into());
    }
    p
}

/// The response for a refusal by the policy: 401 when not signed in, else 403.
#[must_use]
pub fn denied(d: &Decision) -> Problem {
    let m = d.message();
    match d.reason {
        Reason::NotSignedIn => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "未登录",
            m.zh,
            m.en,
        ),
        Reason::OutOfScope => Problem::new(
            StatusCode::FORBIDDEN,
            "out-of-scope",
            "超出管辖范围",
            m.zh,
            m.en,
        ),
        _ => Problem::new(StatusCode::FORBIDDEN, "forbidden", "无权操作", m.zh, m.en),
    }
}

/// Asks the policy; on a refusal of a sensitive action, records it in the audit log.
///
/// # Errors
/// The refusal as a problem response.
pub fn authorize(
    st: &AppState,
    ctx: &Ctx,
    action: Action,
    resource: &Resource<'_>,
    audit_resource: &str,
) -> Result<(), Problem> {
    let d = decide(&ctx.principal, action, resource);
    if d.allowed {
        return Ok(());
    }
    if action.is_sensitive()
        && let Err(e) = crate::blocking_here(|| {
            st.store.record_denial(
                &ctx.change(&format!("denied.{}", action.id())),
                audit_resource,
                Some(serde_json::json!({"reason": format!("{:?}", d.reason)})),
            )
        })
    {
        crate::refusal_not_recorded(&e);
    }
    Err(denied(&d))
}

/// As [`authorize`], for a resource looked up by an id the caller sent: a caller who may not
/// even read it (`readable` false) learns nothing of it — the refusal is `not_found()`, the
/// answer an unknown id gets, so ids cannot be probed for existence — while one who may read it
/// but not take `action` is told why (403). Refusals are audited either way.
///
/// # Errors
/// The refusal as a problem response.
pub fn authorize_found(
    st: &AppState,
    ctx: &Ctx,
    action: Action,
    resource: &Resource<'_>,
    readable: bool,
    audit_resource: &str,
    not_found: impl FnOnce() -> Problem,
) -> Result<(), Problem> {
    authorize(st, ctx, action, resource, audit_resource).map_err(|p| {
        if p.status == StatusCode::FORBIDDEN && !readable {
            not_found()
        } else {
            p
        }
    })
}

/// Refuses (as [`authorize`] does) unless the caller may take `action` somewhere; the handler
/// then decides on each resource.
///
/// # Errors
/// The refusal as a problem response.
pub fn authorize_somewhere(
    st: &AppState,
    ctx: &Ctx,
    action: Action,
    audit_resource: &str,
) -> Result<(), Problem> {
    if tudi_access::policy::allowed_somewhere(&ctx.principal, action) {
        return Ok(());
    }
    authorize(st, ctx, action, &Resource::default(), audit_resource)
}

/// The request's id: our own (a UUIDv7), or one a client or proxy sent to trace its request —
/// at most 64 letters, digits, `-`, `_` or `.` — kept under the prefix `client-`, so the audit
/// chain never takes an id from outside for one of ours.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(
            || uuid::Uuid::now_v7().to_string(),
            |v| format!("client-{v}"),
        )
}

/// The session cookie's value, if sent.
#[must_use]
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| v.to_owned())
        })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Constant-time comparison, so the anti-CSRF token cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Credentials recognised since their records last changed. Sessions end, accounts are disabled
/// or changed and tokens revoked only by writes to those collections, and each moves their
/// revision ([`tudi_store::Revisions::of_collections`]): while it stands still, a credential
/// recognised once is recognised again without reading its records (two round trips on a
/// networked store), however many other writes (work orders) are made. Expiry is checked on
/// every use.
#[derive(Debug, Default)]
pub(crate) struct Recognised {
    known: Mutex<(Option<u64>, HashMap<String, Authenticated>)>,
}

/// Credentials kept at most; past it, the cache starts again.
const RECOGNISED_MAX: usize = 10_000;

impl Recognised {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<u64>, HashMap<String, Authenticated>)> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who `credential` belongs to now, as [`Accounts::authenticate`] says.
    pub(crate) fn authenticate(
        &self,
        store: &dyn Store,
        auth: &AuthConfig,
        credential: &str,
        now: jiff::Timestamp,
    ) -> Result<Authenticated, AccessError> {
        // Read before the records: a write after this reading moves the revision again.
        let counter = store
            .revisions()
            .ok()
            .map(|r| r.of_collections(&tudi_access::accounts::CREDENTIAL_COLLECTIONS));
        if counter.is_none() {
            // The store failed (a failover, say): what comes back may have a counter that once
            // meant something else, so nothing recognised before is kept.
            *self.lock() = (None, HashMap::new());
        }
        // Kept under a digest, so that the cache holds no usable secret.
        let key = tudi_store::audit::sha256_hex(credential.as_bytes());
        if let Some(c) = counter {
            let known = self.lock();
            if known.0 == Some(c)
                && let Some(who) = known.1.get(&key)
                && who.expires_at.is_none_or(|e| e > now)
            {
                return Ok(who.clone());
            }
        }
        let who = Accounts::new(store, auth).authenticate(credential, now)?;
        if let Some(c) = counter {
            let mut known = self.lock();
            if known.0 != Some(c) || known.1.len() >= RECOGNISED_MAX {
                *known = (Some(c), HashMap::new());
            }
            known.1.insert(key, who.clone());
        }
        Ok(who)
    }
}

/// Identifies the caller and checks the anti-CSRF token; see the module documentation. The
/// request's store work may use change-counter readings begun after it arrived
/// ([`tudi_store::horizon`]).
///
/// A read-only request to a store whose reading is a round trip (PostgreSQL) runs
/// speculatively on the last reading while its own is under way, and is confirmed by that reading
/// before its answer leaves — or run again, the careful way ([`tudi_store::horizon`]).
pub async fn identify(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    // One id for the request, however many times it runs.
    let rid = request_id(req.headers());
    if !speculable(&req) || !st.odds.worth_trying() || !st.store.begin_revisions_reading() {
        return crate::ARRIVED
            .scope(arrived, identified(st, req, next, rid))
            .await;
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, SPECULATIVE_BODY_MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "request body unreadable");
            let problem = Problem::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                "请求体无法读取",
                "请求体未能完整读取，请重试",
                "the request body could not be read in full; try again",
            );
            return with_id(problem.into_response(), &rid);
        }
    };
    let again = || Request::from_parts(parts.clone(), axum::body::Body::from(body.clone()));
    let speculation = std::sync::Arc::new(tudi_store::horizon::Speculation::default());
    let answer = crate::ARRIVED
        .scope(
            arrived,
            crate::SPECULATING.scope(
                std::sync::Arc::clone(&speculation),
                identified(st.clone(), again(), next.clone(), rid.clone()),
            ),
        )
        .await;
    // The request's own reading (begun after it arrived; usually done by now).
    let store = std::sync::Arc::clone(&st.store);
    let fresh = tokio::task::spawn_blocking(move || {
        tudi_store::horizon::reading_since(arrived, || store.revisions())
    })
    .await;
    if let Ok(Ok(fresh)) = fresh
        && speculation.confirmed_by(&fresh)
    {
        st.odds.confirmed();
        return answer;
    }
    st.odds.missed();
    tracing::debug!("speculative answer not confirmed; the request runs again");
    crate::ARRIVED
        .scope(arrived, identified(st, again(), next, rid))
        .await
}

/// How often speculative answers were recently not confirmed. Under a stream of writes (work
/// orders, sign-ins) most are not, and running each request twice would cost more than the round
/// trip it hides; so speculation pauses while misses are frequent (more than about one in five),
/// and each request run the careful way meanwhile brings the next try closer.
#[derive(Debug, Default)]
pub(crate) struct SpeculationOdds {
    misses: std::sync::atomic::AtomicU32,
}

impl SpeculationOdds {
    /// Score at which speculation pauses.
    const PAUSE_AT: u32 = 16;
    /// What a miss adds (a confirmation takes one off).
    const MISS: u32 = 4;
    /// Highest score: a pause lasts at most this many requests.
    const CAP: u32 = 32;

    fn step(&self, f: impl Fn(u32) -> u32) -> u32 {
        use std::sync::atomic::Ordering::Relaxed;
        self.misses
            .fetch_update(Relaxed, Relaxed, |m| Some(f(m)))
            .unwrap_or_else(|m| m)
    }

    /// Whether to speculate now (if not, the pause shortens by one request).
    pub(crate) fn worth_trying(&self) -> bool {
        let before = self.step(|m| if m >= Self::PAUSE_AT { m - 1 } else { m });
        before < Self::PAUSE_AT
    }

    pub(crate) fn confirmed(&self) {
        self.step(|m| m.saturating_sub(1));
    }

    pub(crate) fn missed(&self) {
        self.step(|m| (m + Self::MISS).min(Self::CAP));
    }
}

/// Largest body of a request run speculatively (it is kept, to run the request again).
const SPECULATIVE_BODY_MAX: usize = 256 << 10;

/// Whether a request may run speculatively: it reads the store, changes nothing by its method
/// (a write it tries anyway is refused and the request runs again), and its body is small.
fn speculable(req: &Request) -> bool {
    let path = req.uri().path();
    let reads_store = path.starts_with("/api/") || path.starts_with("/ogc");
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let read_only = match *req.method() {
        Method::GET | Method::HEAD => length.unwrap_or(0) == 0 && !chunked,
        // Compliance is a question asked with a body, answered without a change.
        Method::POST => {
            path == "/api/v1/compliance"
                && !chunked
                && length.is_some_and(|n| n <= SPECULATIVE_BODY_MAX)
        }
        _ => false,
    };
    reads_store && read_only
}

async fn identified(st: AppState, mut req: Request, next: Next, rid: String) -> Response {
    // `/metrics` reads its own bearer token (Prometheus's), which is no account's credential.
    let own_token = req.uri().path() == crate::metrics::PATH;
    let bearer_token = bearer(req.headers()).filter(|_| !own_token);
    let from_cookie = bearer_token.is_none();
    let credential = bearer_token.or_else(|| session_cookie(req.headers()).filter(|_| !own_token));
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let client_ip = client_address(peer, req.headers(), &st.trusted_proxies);
    let mut ctx = Ctx {
        principal: Principal::anonymous(),
        request_id: rid.clone(),
        credential: None,
        csrf: None,
        must_change_password: false,
        client_ip,
    };
    if let Some(cred) = credential {
        let (st2, cred2) = (st.clone(), cred.clone());
        let who = crate::spawn_store_work(move || {
            st2.recognised
                .authenticate(&*st2.store, &st2.auth, &cred2, jiff::Timestamp::now())
        })
        .await;
        let Ok(who) = who else {
            return with_id(Problem::internal().into_response(), &rid);
        };
        match who {
            Ok(who) => {
                ctx.principal = who.principal;
                ctx.csrf = who.csrf;
                ctx.must_change_password = who.must_change_password;
                ctx.credential = Some(cred);
            }
            // The database away is said as such, for cookies too (not taken for signed out).
            Err(AccessError::Store(e)) => {
                return with_id(Problem::from_store(&e).into_response(), &rid);
            }
            // A stale cookie (ended or expired session) is simply no session, so the caller can
            // still read public pages and sign in again; a bad bearer token is an error.
            Err(_) if from_cookie => {}
            Err(e) => return with_id(access_problem(&e).into_response(), &rid),
        }
        if from_cookie
            && ctx.principal.user.is_some()
            && is_write(req.method())
            && let Err(p) = check_csrf(&st, &ctx, req.headers())
        {
            return with_id(p.into_response(), &rid);
        }
    }
    req.extensions_mut().insert(ctx);
    with_id(next.run(req).await, &rid)
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn check_csrf(st: &AppState, ctx: &Ctx, headers: &HeaderMap) -> Result<(), Problem> {
    // Browsers send Origin on cross-site writes; it must name this host.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let cross_origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| o.split("://").nth(1).is_none_or(|rest| rest != host));
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    let ok =
        !cross_origin && matches!((sent, ctx.csrf.as_deref()), (Some(s), Some(c)) if same(s, c));
    if ok {
        return Ok(());
    }
    if let Err(e) = crate::blocking_here(|| {
        st.store.record_denial(
            &ctx.change("denied.csrf"),
            &format!("user:{}", ctx.principal.user.as_deref().unwrap_or("")),
            Some(serde_json::json!({"cross_origin": cross_origin, "token_sent": sent.is_some()})),
        )
    }) {
        crate::refusal_not_recorded(&e);
    }
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "csrf-failed",
        "请求校验失败",
        "页面校验码缺失、无效或已过期（可能来自其他网站或旧的登录会话），请刷新页面后重试",
        "the anti-CSRF token is missing, wrong or from an old session (or the request came from another site): reload the page and try again",
    ))
}

fn with_id(mut res: Response, rid: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(rid) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// The answer to a method a path does not take: OPTIONS lists the ones it does (no body);
/// anything else is 405 with `Allow`. A client's mistake, logged as such.
fn other_method(method: &Method, allowed: &[&str]) -> Response {
    let mut methods: Vec<&str> = allowed.to_vec();
    if methods.contains(&"GET") {
        methods.push("HEAD");
    }
    methods.push("OPTIONS");
    let allow = methods.join(", ");
    let mut res = if *method == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        tracing::debug!(%method, "method not allowed");
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "不支持该请求方法",
            format!("该地址不支持 {method} 请求，可用：{allow}"),
            format!("{method} is not allowed here; allowed: {allow}"),
        )
        .into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// What an account whose password was reset may still do.
const PASSWORD_CHANGE_ROUTES: [(&str, &str); 3] = [
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
];

/// Applies the route's guard; see the module documentation.
pub async fn guard(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let path = matched.as_str();
    // HEAD is GET without the body (axum answers it with the GET handler).
    let looked_up = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let Some(spec) = ROUTES
        .iter()
        .find(|r| r.path == path && r.method == looked_up)
    else {
        let allowed: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method)
            .collect();
        if allowed.is_empty() {
            // A route the router has and the table lacks: a mistake of ours, refused.
            tracing::error!(%method, path, "route has no access rule; refused");
            return Problem::new(
                StatusCode::FORBIDDEN,
                "no-policy",
                "无权操作",
                "该接口未配置访问规则，已拒绝",
                "this route has no access rule and is refused",
            )
            .into_response();
        }
        return other_method(&method, &allowed);
    };
    let Some(mut ctx) = req.extensions().get::<Ctx>().cloned() else {
        return Problem::internal().into_response();
    };
    // After an administrator's reset, the account holder must choose a new password before
    // anything else: only changing it, signing out and `me` (which says so) answer; public
    // routes answer as to someone signed out.
    if ctx.must_change_password && !PASSWORD_CHANGE_ROUTES.contains(&(method.as_str(), path)) {
        if spec.guard != Guard::Public {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "password-change-required",
                "请先修改密码",
                "管理员已重置您的密码，请先修改密码后再使用系统",
                "an administrator reset your password: choose a new one before anything else",
            )
            .into_response();
        }
        ctx = Ctx {
            principal: Principal::anonymous(),
            credential: None,
            csrf: None,
            must_change_password: false,
            ..ctx
        };
        req.extensions_mut().insert(ctx.clone());
    }
    let verdict = match spec.guard {
        Guard::Public => Ok(()),
        Guard::SignedIn => {
            if ctx.principal.user.is_some() {
                Ok(())
            } else {
                Err(denied(&decide(
                    &ctx.principal,
                    Action::OwnAccount,
                    &Resource::default(),
                )))
            }
        }
        Guard::Action(action) => authorize(&st, &ctx, action, &Resource::default(), path),
        Guard::InHandler(action) => {
            // The handler decides on the resource; here only sign-in is required, unless the
            // action may be taken anonymously on public resources.
            if ctx.principal.user.is_some() || tudi_access::policy::rule(action).public {
                Ok(())
            } else {
                Err(denied(&decide(
                    &ctx.principal,
                    action,
                    &Resource::default(),
                )))
            }
        }
        Guard::Layer => {
            // Every layer route is `/ogc/collections/{id}/…`: the id is the third segment.
            let layer = req
                .uri()
                .path()
                .split('/')
                .nth(3)
                .unwrap_or_default()
                .to_owned();
            let public = st.is_public(&layer);
            authorize(
                &st,
                &ctx,
                Action::MapRead,
                &Resource {
                    public,
                    ..Resource::default()
                },
                &format!("layer:{layer}"),
            )
        }
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(p) => p.into_response(),
    }
}

/// Counts failed sign-ins (and wrong current passwords) per client address and per account
/// name in a sliding minute. An attempt is counted when it starts, so parallel guesses are held
/// to the limit too, and forgiven when it succeeds: an office of colleagues behind one address
/// can all sign in. Its memory is bounded: at most [`LoginLimiter::MAX_KEYS`] keys, each at most
/// [`LoginLimiter::PER_WINDOW`] instants; the keys idle longest go first when it is full.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    seen: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// Attempts allowed per key per window.
    pub const PER_WINDOW: usize = 10;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(60);
    /// Most keys kept.
    pub const MAX_KEYS: usize = 50_000;

    /// Counts an attempt for each key; `Err(seconds)` when any key is over the limit (nothing
    /// is counted then). On success the instant counted, to [`LoginLimiter::forgive`] it.
    ///
    /// # Errors
    /// The seconds to wait.
    pub fn attempt(&self, keys: &[String]) -> Result<Instant, u64> {
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= Self::MAX_KEYS {
            seen.retain(|_, v| {
                v.last()
                    .is_some_and(|t| now.duration_since(*t) < Self::WINDOW)
            });
        }
        if seen.len() >= Self::MAX_KEYS {
            // Still full of live keys: drop the quarter idle longest.
            let mut last: Vec<(Instant, String)> = seen
                .iter()
                .map(|(k, v)| (v.last().copied().unwrap_or(now), k.clone()))
                .collect();
            last.sort();
            for (_, k) in last.into_iter().take(Self::MAX_KEYS / 4) {
                seen.remove(&k);
            }
        }
        let mut wait = 0;
        for k in keys {
            if let Some(v) = seen.get_mut(k) {
                v.retain(|t| now.duration_since(*t) < Self::WINDOW);
                if v.len() >= Self::PER_WINDOW {
                    let oldest = v.first().copied().unwrap_or(now);
                    wait = wait.max(
                        Self::WINDOW
                            .saturating_sub(now.duration_since(oldest))
                            .as_secs()
                            + 1,
                    );
                }
            }
        }
        if wait > 0 {
            return Err(wait);
        }
        for k in keys {
            seen.entry(k.clone()).or_default().push(now);
        }
        Ok(now)
    }

    /// Takes back the attempt counted at `at` for each key (it succeeded).
    pub fn forgive(&self, keys: &[String], at: Instant) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for k in keys {
            if let Some(v) = seen.get_mut(k) {
                if let Some(i) = v.iter().position(|t| *t == at) {
                    v.remove(i);
                }
                if v.is_empty() {
                    seen.remove(k);
                }
            }
        }
    }

    /// How many keys are kept (for tests of its bound).
    #[must_use]
    pub fn keys(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Where the sign-in limit is counted across servers: one record per key holding the attempts
/// of the last window, Unix milliseconds. Its id is a digest of the key under the store's own
/// secret ([`SHARED_SALT`]), so the audit trail, which names each record written, cannot be
/// turned back into addresses or names by hashing every address.
pub const SHARED_LIMIT_COLLECTION: &str = "login_rate";

/// The record (collection, id) holding that secret, made by the first server that needs it.
pub const SHARED_SALT: (&str, &str) = ("secret", "login-rate-salt");

/// An attempt counted in the store: when, to [`forgive_shared`] it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedAttempt(i64);

fn shared_id(salt: &str, key: &str) -> String {
    tudi_store::audit::sha256_hex(format!("{salt}\n{key}").as_bytes())[..32].to_owned()
}

/// The store's secret for the counts' ids, made at first use (two servers making it at once:
/// the first write wins and the other reads it).
fn shared_salt(store: &dyn tudi_store::Store) -> Result<String, tudi_store::StoreError> {
    let (collection, id) = SHARED_SALT;
    for _ in 0..3 {
        if let Some(r) = store.record(collection, id)?
            && let Some(salt) = r.body["salt"].as_str()
        {
            return Ok(salt.to_owned());
        }
        let salt = tudi_access::accounts::random_hex()
            .map_err(|e| tudi_store::StoreError::Schema(e.to_string()))?;
        let made = store.write_records(
            &Change::new("system", "auth.rate.secret"),
            &[tudi_store::RecordWrite {
                collection: collection.into(),
                id: id.into(),
                expect: tudi_store::Expect::Absent,
                body: Some(serde_json::json!({ "salt": salt })),
                keys: Vec::new(),
                detail: None,
            }],
        );
        match made {
            Ok(_) => return Ok(salt),
            Err(tudi_store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Err(tudi_store::StoreError::Schema(
        "the sign-in limit's secret could not be made".into(),
    ))
}

fn shared_attempts(body: &serde_json::Value) -> Vec<i64> {
    body["at"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
        .unwrap_or_default()
}

/// As [`LoginLimiter::attempt`], counted in the store, so the limit holds however the attempts
/// are spread over servers. Concurrent counts of one key are serialised by the records'
/// versions (a conflict recounts); under a storm of them the caller is asked to wait a second.
///
/// # Errors
/// Store failures; `Ok(Err(seconds))` when a key is over the limit (nothing counted then).
pub fn attempt_shared(
    store: &dyn tudi_store::Store,
    keys: &[String],
    now: jiff::Timestamp,
) -> Result<Result<SharedAttempt, u64>, tudi_store::StoreError> {
    let now_ms = now.as_millisecond();
    let window_ms = i64::try_from(LoginLimiter::WINDOW.as_millis()).unwrap_or(60_000);
    let salt = shared_salt(store)?;
    for _ in 0..8 {
        let mut writes = Vec::with_capacity(keys.len());
        let mut wait: i64 = 0;
        for key in keys {
            let id = shared_id(&salt, key);
            let (expect, mut at) = match store.record(SHARED_LIMIT_COLLECTION, &id)? {
                Some(r) => (
                    tudi_store::Expect::Version(r.version),
                    shared_attempts(&r.body),
                ),
                None => (tudi_store::Expect::Absent, Vec::new()),
            };
            at.retain(|t| now_ms - t < window_ms);
            if at.len() >= LoginLimiter::PER_WINDOW {
                let oldest = at.iter().min().copied().unwrap_or(now_ms);
                wait = wait.max((window_ms - (now_ms - oldest)) / 1000 + 1);
            }
            at.push(now_ms);
            writes.push(tudi_store::RecordWrite {
                collection: SHARED_LIMIT_COLLECTION.into(),
                id,
                expect,
                body: Some(serde_json::json!({ "at": at })),
                keys: Vec::new(),
                detail: None,
            });
        }
        if wait > 0 {
            // Another server's clock may run ahead: never ask for more than a window.
            return Ok(Err(
                u64::try_from(wait.clamp(1, window_ms / 1000)).unwrap_or(1)
            ));
        }
        match store.write_records(&Change::new("system", "auth.rate"), &writes) {
            Ok(_) => {
                // Now and then, the records of keys whose window has passed go (a key that
                // never returns would otherwise stay).
                if now_ms % 32 == 0
                    && let Err(e) = sweep_shared(store, now, 500)
                {
                    tracing::warn!(error = %e, "sweeping the sign-in counts failed");
                }
                return Ok(Ok(SharedAttempt(now_ms)));
            }
            Err(tudi_store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Err(1))
}

/// Deletes up to `at_most` of the shared records whose attempts are all older than the window;
/// returns how many went.
///
/// # Errors
/// Store failures (a record changed meanwhile is left for the next sweep).
pub fn sweep_shared(
    store: &dyn tudi_store::Store,
    now: jiff::Timestamp,
    at_most: u64,
) -> Result<usize, tudi_store::StoreError> {
    const PAGE: u64 = 200;
    let window_ms = i64::try_from(LoginLimiter::WINDOW.as_millis()).unwrap_or(60_000);
    let (mut offset, mut gone) = (0, 0);
    while offset < at_most {
        let page = store.find_records(
            SHARED_LIMIT_COLLECTION,
            &tudi_store::RecordQuery {
                limit: Some(PAGE.min(at_most - offset)),
                offset,
                ..Default::default()
            },
        )?;
        let seen = page.records.len() as u64;
        let mut gone_here: u64 = 0;
        for r in page.records {
            let stale = shared_attempts(&r.body)
                .iter()
                .all(|t| now.as_millisecond() - t >= window_ms);
            if !stale {
                continue;
            }
            // One at a time: a count that changed meanwhile is live again and stays.
            let deleted = store.write_records(
                &Change::new("system", "auth.rate.sweep"),
                &[tudi_store::RecordWrite {
                    collection: SHARED_LIMIT_COLLECTION.into(),
                    id: r.id.clone(),
                    expect: tudi_store::Expect::Version(r.version),
                    body: None,
                    keys: Vec::new(),
                    detail: None,
                }],
            );
            match deleted {
                Ok(_) => gone_here += 1,
                Err(tudi_store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        gone += usize::try_from(gone_here).unwrap_or(0);
        if seen < PAGE {
            break;
        }
        // The deleted records no longer take places in the id order.
        offset += seen - gone_here;
    }
    Ok(gone)
}

/// Takes back an attempt counted by [`attempt_shared`] (it succeeded); a key left with none
/// loses its record.
///
/// # Errors
/// Store failures.
pub fn forgive_shared(
    store: &dyn tudi_store::Store,
    keys: &[String],
    attempt: SharedAttempt,
) -> Result<(), tudi_store::StoreError> {
    let salt = shared_salt(store)?;
    for _ in 0..8 {
        let mut writes = Vec::with_capacity(keys.len());
        for key in keys {
            let id = shared_id(&salt, key);
            let Some(r) = store.record(SHARED_LIMIT_COLLECTION, &id)? else {
                continue;
            };
            let mut at = shared_attempts(&r.body);
            let Some(i) = at.iter().position(|t| *t == attempt.0) else {
                continue;
            };
            at.remove(i);
            writes.push(tudi_store::RecordWrite {
                collection: SHARED_LIMIT_COLLECTION.into(),
                id,
                expect: tudi_store::Expect::Version(r.version),
                body: (!at.is_empty()).then(|| serde_json::json!({ "at": at })),
                keys: Vec::new(),
                detail: None,
            });
        }
        if writes.is_empty() {
            return Ok(());
        }
        match store.write_records(&Change::new("system", "auth.rate"), &writes) {
            Ok(_) => return Ok(()),
            Err(tudi_store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The keys an attempt for `username` from `ip` is counted under: the address, and the account
/// name when it can be one (a longer or stranger name is counted by address only, and not kept).
#[must_use]
pub fn attempt_keys(ip: Option<IpAddr>, username: &str) -> Vec<String> {
    let mut keys = vec![client_key(ip)];
    if tudi_access::accounts::is_username(username) {
        keys.push(format!("user:{username}"));
    }
    keys
}

/// The refusal when too many attempts were made, with `Retry-After`.
#[must_use]
pub fn rate_limited(wait: u64) -> Response {
    let mut res = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "login-rate-limited",
        "尝试过于频繁",
        format!("密码尝试过于频繁，请 {wait} 秒后再试"),
        format!("too many password attempts: try again in {wait} s"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// The client's address: the connection's peer, or — only when the peer is one of the
/// configured proxies — the last address in `X-Forwarded-For` that is not itself a proxy. A
/// client cannot choose its address by sending the header to a server that trusts no proxy.
#[must_use]
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
}

/// The address key of a client (the socket's peer when known).
#[must_use]
pub fn client_key(req_ip: Option<IpAddr>) -> String {
    req_ip.map_or_else(|| "ip:local".to_owned(), |ip| format!("ip:{ip}"))
}

#[cfg(test)]
mod tests {
    use super::SpeculationOdds;

    #[test]
    fn speculation_pauses_while_misses_are_frequent_and_resumes() {
        let odds = SpeculationOdds::default();
        assert!(odds.worth_trying());
        // One miss in ten goes on being tried.
        for i in 0..200 {
            assert!(odds.worth_trying(), "request {i}");
            if i % 10 == 0 {
                odds.missed();
            } else {
                odds.confirmed();
            }
        }
        // Every answer missed (a stream of writes): a pause, then a new try.
        let mut tried = 0;
        for _ in 0..200 {
            if odds.worth_trying() {
                tried += 1;
                odds.missed();
            }
        }
        assert!((5..=50).contains(&tried), "tried {tried} of 200");
        // Quiet again: after the pause, every request is tried.
        for _ in 0..SpeculationOdds::CAP {
            odds.worth_trying();
        }
        assert!((0..50).all(|_| {
            let t = odds.worth_trying();
            odds.confirmed();
            t
        }));
    }
}
