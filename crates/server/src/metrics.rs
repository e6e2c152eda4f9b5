//! Monitoring: `GET /metrics` in Prometheus's text format.
//!
//! Things are counted where they happen, through the `metrics` facade: requests here (by route
//! pattern, method and status, with latency histograms), store commits in the store crates,
//! snapshot builds in the one map, sign-in failures in the accounts routes, background jobs in
//! the server's clocks (with the overdue work orders and homestead steps they find). The
//! exporter of `metrics-exporter-prometheus` renders them; it is installed once per process.
//!
//! `/metrics` needs no account — Prometheus does not sign in — but answers only the clients the
//! operator allows ([`MetricsAccess`]): addresses (by default the loopback only) or a bearer
//! token. Nothing in it names a person or a parcel: labels are route patterns, never paths.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::problem::Problem;

/// Latency buckets (seconds): from a cached tile to a long analysis or a slow commit.
const BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Where the metrics are read.
pub(crate) const PATH: &str = "/metrics";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once); `None` when another recorder was installed first.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "tudi_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by route pattern, method and status"
    );
    describe_histogram!(
        "tudi_store_commit_seconds",
        Unit::Seconds,
        "Time to commit a write transaction (made durable), by backend"
    );
    describe_counter!(
        "tudi_snapshot_builds_total",
        "Layer snapshots built (at start and after edits), by layer"
    );
    describe_histogram!(
        "tudi_snapshot_build_seconds",
        Unit::Seconds,
        "Time to build a layer snapshot"
    );
    describe_counter!(
        "tudi_sign_in_failures_total",
        "Sign-ins refused, by reason (credentials, rate_limited)"
    );
    describe_counter!(
        "tudi_job_runs_total",
        "Background-job runs on this server, by job and outcome"
    );
    describe_histogram!(
        "tudi_job_duration_seconds",
        Unit::Seconds,
        "Time a background-job run took, by job"
    );
    describe_gauge!(
        "tudi_job_last_success_timestamp_seconds",
        Unit::Seconds,
        "When a background job last succeeded on this server (Unix time), by job"
    );
    describe_gauge!(
        "tudi_orders_overdue",
        "Work orders past their handling deadline (as of the last supervision run)"
    );
    describe_gauge!(
        "tudi_homestead_steps_overdue",
        "Open homestead steps past their deadline (as of the last clock run)"
    );
}

/// Records a background job's run.
pub fn job_ran(job: &'static str, ok: bool, took: Duration) {
    let outcome = if ok { "success" } else { "failure" };
    metrics::counter!("tudi_job_runs_total", "job" => job, "outcome" => outcome).increment(1);
    metrics::histogram!("tudi_job_duration_seconds", "job" => job).record(took);
    if ok {
        let now = jiff::Timestamp::now().as_millisecond();
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("tudi_job_last_success_timestamp_seconds", "job" => job)
            .set(now as f64 / 1000.0);
    }
}

/// Records a refused sign-in.
pub(crate) fn sign_in_failed(reason: &'static str) {
    metrics::counter!("tudi_sign_in_failures_total", "reason" => reason).increment(1);
}

/// Sets a count found by a background job.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn found(gauge: &'static str, n: usize) {
    metrics::gauge!(gauge).set(n as f64);
}

/// Counts and times every request by its route pattern, and logs it (target `tudi::access`, at
/// info) with its request id, route, status and duration. The path itself is never used: it may
/// hold ids, and a query string may hold a name searched for.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = method_label(req.method());
    let res = next.run(req).await;
    let took = started.elapsed();
    let status = res.status().as_u16();
    tracing::info!(
        target: "tudi::access",
        request_id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        method,
        route = %route,
        status,
        millis = took.as_secs_f64() * 1000.0,
        "request"
    );
    metrics::histogram!(
        "tudi_http_request_duration_seconds",
        "route" => route,
        "method" => method,
        "status" => status.to_string(),
    )
    .record(took);
    res
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Who may read `/metrics`: clients whose address is in `allow`, or who send
/// `Authorization: Bearer <token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsAccess {
    /// Address ranges answered without a token.
    pub allow: Vec<ipnet::IpNet>,
    /// A token that opens `/metrics` from anywhere.
    pub token: Option<String>,
}

impl Default for MetricsAccess {
    /// The loopback only (a Prometheus on the same machine, or a tunnel to it).
    fn default() -> Self {
        Self {
            allow: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            token: None,
        }
    }
}

impl std::fmt::Debug for MetricsAccess {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("allow", &self.allow)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl MetricsAccess {
    fn lets_in(&self, client: Option<IpAddr>, bearer: Option<&str>) -> bool {
        let by_address = client.is_some_and(|ip| {
            // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 @ IpAddr::V4(_) => v4,
            };
            self.allow.iter().any(|net| net.contains(&ip))
        });
        let by_token = matches!((&self.token, bearer), (Some(t), Some(b)) if constant_time_eq(t.as_bytes(), b.as_bytes()));
        by_address || by_token
    }
}

/// Compares in time that depends on the longer length only, not on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let differ = (0..n).fold(u8::from(a.len() != b.len()), |acc, i| {
        acc | (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0))
    });
    differ == 0
}

/// `GET /metrics`.
pub(crate) async fn serve(State(st): State<AppState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // A request forwarded by a proxy the server was not told to trust (one on this machine would
    // make every client look local) earns nothing by its address: only the token opens it.
    let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let untrusted_proxy = forwarded && peer.is_none_or(|p| !st.trusted_proxies.contains(&p));
    let client = crate::auth::client_address(peer, req.headers(), &st.trusted_proxies)
        .filter(|_| !untrusted_proxy);
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    if !st.metrics_access.lets_in(client, bearer) {
        // No token from an address not allowed: say which credential would do; a token that is
        // not the metrics token (an account's, a guess): refused.
        if bearer.is_none() {
            let mut res = Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "无权读取监控指标",
                "本地址不在监控白名单中；请以 Authorization: Bearer 发送监控令牌",
                "this address may not read metrics; send the metrics token as Authorization: Bearer",
            )
            .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tudi metrics\""),
            );
            return res;
        }
        return Problem::new(
            StatusCode::FORBIDDEN,
            "metrics-forbidden",
            "无权读取监控指标",
            "监控令牌无效",
            "this is not the metrics token",
        )
        .into_response();
    }
    let Some(handle) = handle() else {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics-unavailable",
            "监控指标不可用",
            "本进程未能安装指标记录器",
            "this process could not install its metrics recorder",
        )
        .into_response();
    };
    let mut res = handle.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::{MetricsAccess, constant_time_eq};

    #[test]
    fn the_loopback_by_default_and_the_token_from_anywhere() {
        let local: std::net::IpAddr = "127.0.0.1"
            .parse()
            .unwrap_or(std::net::IpAddr::from([0; 4]));
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap_or(local);
        let far: std::net::IpAddr = "203.0.113.9".parse().unwrap_or(local);
        let open = MetricsAccess::default();
        assert!(open.lets_in(Some(local), None));
        assert!(open.lets_in(Some(mapped), None));
        assert!(!open.lets_in(Some(far), None));
        assert!(!open.lets_in(None, None));
        let token = MetricsAccess {
            allow: vec![],
            token: Some("0123456789abcdef".into()),
        };
        assert!(token.lets_in(Some(far), Some("0123456789abcdef")));
        assert!(!token.lets_in(Some(far), Some("0123456789abcdeF")));
        assert!(!token.lets_in(Some(far), Some("0123456789abcdef0")));
        assert!(!token.lets_in(Some(local), None));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }
}
