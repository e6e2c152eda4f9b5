//! The HTTP face of tudi: OGC API – Features (Part 1 Core and Part 2 CRS) over the one map and the
//! compliance analysis under `/api/v1`, with errors as RFC 9457 problem+json.
//!
//! Handlers stay thin: they parse the request, ask the access policy, call the store or a
//! capability on a blocking thread, and render. Every request first passes [`auth::identify`]
//! (who is asking; anti-CSRF for the console's cookie session) and, after routing,
//! [`auth::guard`], which applies the rule [`routes::ROUTES`] lists for the route.
//! [`router`] builds the whole application so tests can call it without a socket.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts;
mod api;
pub mod auth;
mod console;
mod farmland;
mod files;
mod health;
mod homestead;
mod homestead_events;
pub mod lease;
pub mod metrics;
mod ogc;
mod open311;
mod openapi;
mod orders;
mod params;
mod problem;
pub mod routes;
mod secure;
mod serve;
mod survey;
pub mod xlsx;

use std::net::SocketAddr;
use std::sync::Arc;

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::Router;
use tudi_access::Jurisdiction;
use tudi_access::accounts::AuthConfig;
use tudi_onemap::compliance::RuleSet;
use tudi_onemap::snapshot::{MapView, Snapshots};
use tudi_store::Store;

pub use open311::{RequestForm, parse_request_form};
pub use problem::Problem;
pub use serve::{redirect_to_https, tls_acceptor};

/// A value read from the store, kept while the revision it depends on stands still (one part of
/// [`Store::revisions`]); an unknown revision reads it again every time.
#[derive(Debug)]
struct UntilChanged<T> {
    cached: Mutex<Option<(Option<u64>, Arc<T>)>>,
}

impl<T> UntilChanged<T> {
    fn new() -> Self {
        Self {
            cached: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Option<u64>, Arc<T>)>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value as of `revision`, read with `read` when it is not known.
    fn try_get<E>(
        &self,
        revision: Option<u64>,
        read: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        if let Some((at, value)) = &*self.lock()
            && revision.is_some()
            && *at == revision
        {
            return Ok(Arc::clone(value));
        }
        // Read without the lock, so requests do not queue behind a store round trip; of two
        // reads at once, the one of the later revision stays.
        let value = Arc::new(read()?);
        let mut cache = self.lock();
        let newer = match &*cache {
            None => true,
            Some((at, _)) => {
                revision.is_none() || at.is_none_or(|c| revision.is_some_and(|n| n >= c))
            }
        };
        if newer {
            *cache = Some((revision, Arc::clone(&value)));
        }
        Ok(value)
    }

    /// As [`UntilChanged::try_get`]; a failed read keeps what there was (with the error logged),
    /// `None` if nothing was ever read.
    fn get<E: std::fmt::Display>(
        &self,
        revision: Option<u64>,
        read: impl FnOnce() -> Result<T, E>,
        what: &str,
    ) -> Option<Arc<T>> {
        match self.try_get(revision, read) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(error = %e, "reading {what} failed");
                self.lock().as_ref().map(|(_, v)| Arc::clone(v))
            }
        }
    }
}

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    snapshots: Option<Arc<Snapshots>>,
    rule_sets: Arc<Vec<RuleSet>>,
    /// The rule sets offered: `rule_sets` with the store's over them, kept while the stored
    /// ones are unchanged.
    offered_rules: Arc<UntilChanged<Vec<RuleSet>>>,
    web_dir: std::path::PathBuf,
    auth: Arc<AuthConfig>,
    limiter: Arc<auth::LoginLimiter>,
    cookie_secure: bool,
    district: Option<Jurisdiction>,
    /// The public layers, kept while the settings are unchanged.
    public_layers: Arc<UntilChanged<BTreeSet<String>>>,
    /// The district's certificate signing keys (registration issues certificates).
    keys: Option<Arc<SigningKeys>>,
    /// The address the public reaches this server at (QR codes on certificates point there).
    public_url: String,
    /// Proxies (load balancers) whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// Bounds on requests and connections.
    limits: Limits,
    /// Compliance analyses running now (shown by `/api/v1/status`).
    analyses: Arc<std::sync::atomic::AtomicUsize>,
    /// This server, as background-job leases name their holder.
    server_id: Arc<str>,
    /// Credentials recognised since the store last changed.
    recognised: Arc<auth::Recognised>,
    /// The work-order centre's settings (categories, responsibility list, calendar), kept while
    /// the settings are unchanged.
    order_rules: Arc<UntilChanged<orders::OrderRules>>,
    /// Whether read-only requests run speculatively now ([`auth::identify`]).
    odds: Arc<auth::SpeculationOdds>,
    /// Whether the snapshots made at start-up have all been built (`/readyz`).
    warmed: Arc<std::sync::atomic::AtomicBool>,
    /// Who may read `/metrics`.
    metrics_access: Arc<metrics::MetricsAccess>,
    /// HTTPS served directly (rustls), when configured.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Submissions being checked on this server, with their progress.
    survey_checks: Arc<survey::Checks>,
}

/// Bounds that keep one client from holding the server: time allowed for a request's headers
/// and body, for an idle kept-alive connection and for an analysis, and how many connections
/// are served at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a request's headers, counted from when the connection is idle (just opened,
    /// or its last response sent): so it also closes kept-alive connections left idle.
    pub header_timeout: std::time::Duration,
    /// Time to send a request's body.
    pub body_timeout: std::time::Duration,
    /// Connections served at once; further ones wait in the kernel's queue.
    pub max_connections: usize,
    /// Longest a compliance analysis may run before it is stopped.
    pub analysis_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(60),
            max_connections: 1024,
            analysis_timeout: std::time::Duration::from_secs(20),
        }
    }
}

tokio::task_local! {
    /// When the request being served arrived ([`auth::identify`] sets it).
    static ARRIVED: std::time::Instant;
    /// The request's speculation, when it runs speculatively ([`auth::identify`]).
    static SPECULATING: Arc<tudi_store::horizon::Speculation>;
}

/// How long ago the request being served arrived (zero outside a request).
pub(crate) fn since_arrival() -> std::time::Duration {
    ARRIVED
        .try_with(std::time::Instant::elapsed)
        .unwrap_or_default()
}

/// A refusal's audit entry could not be written: an error, unless the request runs
/// speculatively — its writes are refused until it runs again, when the entry is written.
pub(crate) fn refusal_not_recorded(e: &tudi_store::StoreError) {
    if SPECULATING.try_with(|_| ()).is_ok() {
        tracing::debug!(error = %e, "refusal to be recorded when the request runs again");
    } else {
        tracing::error!(error = %e, "could not record a refusal");
    }
}

/// `work`, run where the request's arrival is known to the store: it may then use any
/// change-counter reading begun after the request arrived, or, for a request running
/// speculatively, the last reading ([`tudi_store::horizon`]).
fn as_of_arrival<T>(work: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let arrived = ARRIVED.try_with(|t| *t).ok();
    // On a blocking thread (store work nested in store work) the task-local is absent; the
    // speculation this thread works for, if any, still holds.
    let speculation = SPECULATING
        .try_with(Arc::clone)
        .ok()
        .or_else(tudi_store::horizon::speculation);
    move || {
        tudi_store::horizon::speculating(speculation, || match arrived {
            Some(t) => tudi_store::horizon::reading_since(t, work),
            None => work(),
        })
    }
}

/// Hands a request's store work to a blocking thread (with the request's arrival, see
/// [`as_of_arrival`]).
pub(crate) fn spawn_store_work<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(as_of_arrival(work))
}

/// Runs store work on a synchronous path that cannot hand it to `spawn_blocking` (a policy
/// decision's audit entry, the public-layer cache): on the multi-threaded runtime the worker's
/// other tasks move to other threads while this one waits (`block_in_place`); elsewhere (a
/// blocking thread, a current-thread runtime in tests, no runtime) it simply runs.
pub(crate) fn blocking_here<T>(work: impl FnOnce() -> T) -> T {
    let work = as_of_arrival(work);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Where the signing keys come from: given once, or a file re-read when it changes.
#[derive(Debug)]
enum SigningKeys {
    Fixed(Arc<tudi_sign::KeyRing>),
    File {
        file: std::path::PathBuf,
        /// The file's bytes when last read, and the ring they held; `None` while there is no
        /// file yet (`tudi keys new` after the server started is picked up).
        current: Mutex<Option<(Vec<u8>, Arc<tudi_sign::KeyRing>)>>,
    },
}

impl SigningKeys {
    fn current(&self) -> Option<Arc<tudi_sign::KeyRing>> {
        match self {
            Self::Fixed(ring) => Some(Arc::clone(ring)),
            Self::File { current, .. } => current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .map(|(_, ring)| Arc::clone(ring)),
        }
    }

    /// Re-reads the file; a small file, read whole, so a rotation within the same second (or on
    /// a file system with coarse times) is not missed.
    fn reload(&self) -> Result<(), String> {
        let Self::File { file, current } = self else {
            return Ok(());
        };
        // Read under the lock: a slow reader holding the bytes from before a rotation must not
        // put the retired ring back after a quicker one installed the new.
        let mut current = current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            // No ring made yet: none to sign with, and no error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && current.is_none() => {
                return Ok(());
            }
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        if current.as_ref().is_none_or(|(read, _)| *read != bytes) {
            let ring: tudi_sign::KeyRing = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: not a key ring: {e}", file.display()))?;
            *current = Some((bytes, Arc::new(ring)));
        }
        Ok(())
    }
}

impl AppState {
    /// State over a store, with layer snapshots for the request paths (built on first use);
    /// the console's map library is looked for in `./web`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        let district = store
            .meta("district")
            .ok()
            .flatten()
            .and_then(|d| Jurisdiction::parse(&d).ok());
        Self {
            snapshots: Some(Snapshots::start(Arc::clone(&store))),
            rule_sets: Arc::new(RuleSet::for_district(
                RuleSet::builtin(),
                district.as_ref().map(Jurisdiction::as_str),
            )),
            offered_rules: Arc::new(UntilChanged::new()),
            order_rules: Arc::new(UntilChanged::new()),
            survey_checks: Arc::default(),
            store,
            web_dir: std::path::PathBuf::from("web"),
            auth: Arc::new(AuthConfig::default()),
            limiter: Arc::new(auth::LoginLimiter::default()),
            cookie_secure: true,
            district,
            public_layers: Arc::new(UntilChanged::new()),
            recognised: Arc::new(auth::Recognised::default()),
            keys: None,
            public_url: "http://127.0.0.1:8080".into(),
            trusted_proxies: Arc::new(Vec::new()),
            limits: Limits::default(),
            analyses: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            odds: Arc::default(),
            warmed: Arc::default(),
            metrics_access: Arc::default(),
            tls: None,
            server_id: Arc::from(lease::this_server()),
        }
    }

    /// Whether this server holds (after taking or renewing it) the lease of background job
    /// `job`, lasting `length`: only the holder runs the job, so servers sharing a store never
    /// both run it. A store that cannot be reached counts as not holding it.
    pub async fn holds_lease(&self, job: &'static str, length: std::time::Duration) -> bool {
        let lease = lease::Lease::new(job, &self.server_id, length);
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || lease.hold(&*store, jiff::Timestamp::now())).await
        {
            Ok(Ok(held)) => held,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, job, "could not take a background-job lease");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, job, "lease task failed");
                false
            }
        }
    }

    /// Trusts `X-Forwarded-For` from these proxies (the load balancer in front), so sign-in
    /// limits count the client behind them rather than the proxy.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// Serves HTTPS with this acceptor ([`tls_acceptor`]); answers then carry HSTS.
    #[must_use]
    pub fn with_tls(mut self, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Who may read `/metrics` (by default the loopback only).
    #[must_use]
    pub fn with_metrics_access(mut self, access: metrics::MetricsAccess) -> Self {
        self.metrics_access = Arc::new(access);
        self
    }

    /// The sign-in limiter (its size is bounded; tests look at it).
    #[must_use]
    pub fn login_limiter(&self) -> &auth::LoginLimiter {
        &self.limiter
    }

    /// Request, connection and analysis bounds.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The signing keys certificates are issued with (private halves included).
    #[must_use]
    pub fn with_signing_keys(mut self, keys: tudi_sign::KeyRing) -> Self {
        self.keys = Some(Arc::new(SigningKeys::Fixed(Arc::new(keys))));
        self
    }

    /// The signing keys, read from `file` (`tudi keys new` writes it) whenever it has changed:
    /// a ring rotated with `tudi keys rotate` signs the next certificate without a restart, and
    /// a ring made after the server started is used from then on (until then there is none).
    ///
    /// # Errors
    /// The file is there but cannot be read or is not a key ring (the server should not start
    /// so).
    pub fn with_signing_key_file(mut self, file: std::path::PathBuf) -> Result<Self, String> {
        let keys = SigningKeys::File {
            file,
            current: Mutex::new(None),
        };
        keys.reload()?;
        self.keys = Some(Arc::new(keys));
        Ok(self)
    }

    /// The signing keys as they are now (re-read when their file has changed).
    #[must_use]
    pub fn signing_keys(&self) -> Option<Arc<tudi_sign::KeyRing>> {
        let keys = self.keys.as_deref()?;
        if let Err(why) = keys.reload() {
            // The ring in use stays until the file is whole again (an editor mid-write, a copy
            // under way).
            tracing::error!(error = %why, "the signing key file cannot be read; the previous ring stays in use");
        }
        keys.current()
    }

    /// The public base URL, for QR codes (`https://tudi.example.gov.cn`).
    #[must_use]
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self
    }

    /// Runs the homestead clock once: reminders, overdue notices, 公示 periods ending, and
    /// registered homesteads not yet on the parcel layer. The server calls it every minute.
    ///
    /// # Errors
    /// What the homestead service reports.
    pub async fn homestead_tick(&self) -> Result<tudi_homestead::service::TickReport, String> {
        let started = std::time::Instant::now();
        let report = homestead::tick(self).await.map_err(|p| p.detail_en);
        metrics::job_ran("homestead-clock", report.is_ok(), started.elapsed());
        if let Ok(r) = &report {
            metrics::found("tudi_homestead_steps_overdue", r.overdue);
        }
        report
    }

    /// Authentication settings (session length, lockout, hashing cost).
    #[must_use]
    pub fn with_auth(mut self, config: AuthConfig) -> Self {
        self.auth = Arc::new(config);
        self
    }

    /// Session cookies without the `Secure` flag, for plain-HTTP deployments behind no proxy.
    /// Browsers accept `Secure` cookies from `localhost` and `127.0.0.1`, so the default suits
    /// local use too.
    #[must_use]
    pub fn with_insecure_cookies(mut self) -> Self {
        self.cookie_secure = false;
        self
    }

    /// The district this deployment serves (from the store's `district` setting): the
    /// jurisdiction of district-wide resources (layers, the audit log).
    pub(crate) fn district_scope(&self) -> Vec<Jurisdiction> {
        self.district.iter().cloned().collect()
    }

    /// Whether a layer is configured public; re-read only after the store changed.
    pub(crate) fn is_public(&self, layer: &str) -> bool {
        self.public_set().contains(layer)
    }

    /// Which layers `who` may read (staff: any; others: public layers only), for listing many:
    /// the public layers are looked up once.
    pub(crate) fn layer_reader<'a>(
        &self,
        who: &'a tudi_access::Principal,
    ) -> impl Fn(&str) -> bool + 'a {
        let public = self.public_set();
        move |layer| {
            let res = tudi_access::Resource {
                public: public.contains(layer),
                ..tudi_access::Resource::default()
            };
            tudi_access::decide(who, tudi_access::Action::MapRead, &res).allowed
        }
    }

    /// The compliance rule sets offered now: the server's own (built in, or given with
    /// [`AppState::with_rule_sets`]) with those added to the store (`tudi rules add`) over them,
    /// as far as they serve the district; re-read whenever the stored ones change, so every
    /// server on a store offers the same ones at once.
    #[must_use]
    pub fn rule_sets(&self) -> Arc<Vec<RuleSet>> {
        blocking_here(|| {
            let district = self.district.as_ref().map(Jurisdiction::as_str);
            let revision = self
                .revisions()
                .map(|r| r.of_collections(&[tudi_onemap::compliance::RULE_SET_COLLECTION]));
            let offered = self.offered_rules.get(
                revision,
                || {
                    tudi_onemap::compliance::with_stored(&*self.store, &self.rule_sets)
                        .map(|all| RuleSet::for_district(all, district))
                },
                "stored rule sets",
            );
            // Never read yet (the store failing from the start): the server's own.
            offered
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| Arc::clone(&self.rule_sets))
        })
    }

    /// The store's revisions now (`None` when the store cannot say: caches then read again).
    fn revisions(&self) -> Option<tudi_store::Revisions> {
        self.store.revisions().ok()
    }

    fn public_set(&self) -> Arc<BTreeSet<String>> {
        blocking_here(|| self.public_set_now())
    }

    fn public_set_now(&self) -> Arc<BTreeSet<String>> {
        self.public_layers
            .get(
                self.revisions().map(|r| r.settings),
                || tudi_onemap::access::public_layers(&*self.store),
                "public layers",
            )
            .unwrap_or_default()
    }

    /// The compliance rule sets offered (the built-in ones by default): those of them that serve
    /// the store's district.
    #[must_use]
    pub fn with_rule_sets(mut self, rule_sets: Vec<RuleSet>) -> Self {
        self.offered_rules = Arc::new(UntilChanged::new());
        self.rule_sets = Arc::new(RuleSet::for_district(
            rule_sets,
            self.district.as_ref().map(Jurisdiction::as_str),
        ));
        self
    }

    /// Without layer snapshots: every request reads the store (saves memory; slower).
    #[must_use]
    pub fn without_snapshots(mut self) -> Self {
        self.snapshots = None;
        self
    }

    /// Starts building every layer's snapshot in the background, so the first requests after
    /// start-up need not wait for them.
    pub fn warm_up(&self) {
        if let Some(s) = &self.snapshots
            && let Err(e) = s.warm_all()
        {
            tracing::warn!(error = %e, "snapshot warm-up failed; requests read the store");
        }
    }

    /// The snapshots, if kept.
    #[must_use]
    pub fn snapshots(&self) -> Option<&Arc<Snapshots>> {
        self.snapshots.as_ref()
    }

    /// How request paths read the map.
    pub(crate) fn map(&self) -> MapView<'_> {
        MapView::new(&*self.store, self.snapshots.as_deref())
    }

    /// Where `npm ci` installed the console's packages (`…/web`).
    #[must_use]
    pub fn with_web_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.web_dir = dir;
        self
    }
}

/// Largest request body accepted (bytes): files go up to this.
pub const MAX_BODY: usize = 8 << 20;

/// Largest JSON or text body accepted (bytes).
pub const MAX_JSON_BODY: usize = 2 << 20;

/// The application.
pub fn router(state: AppState) -> Router {
    let body_timeout = state.limits.body_timeout;
    let transport_state = state.clone();
    // Installed before the first request, so every count starts with the process.
    metrics::handle();
    unguarded_routes()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ))
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            problem::panic_response,
        ))
        .layer(axum::middleware::map_response(problem::as_problem))
        .layer(axum::middleware::from_fn(secure::headers))
        .layer(axum::middleware::from_fn_with_state(
            transport_state,
            secure::transport,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(log_failure))
}

/// How a failed answer is logged: 503 (the database away, not ready yet, an analysis stopped)
/// says "try again later" and its cause is logged where it is known, so it is a warning; any
/// other failure is an error. (A load balancer polls `/readyz` during start-up: each 503 there
/// logged as an error would bury the real ones.)
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    let millis = latency.as_millis();
    match class {
        tower_http::classify::ServerErrorsFailureClass::StatusCode(s)
            if s == axum::http::StatusCode::SERVICE_UNAVAILABLE =>
        {
            tracing::warn!(status = %s, millis, "answered 503");
        }
        other => tracing::error!(classification = %other, millis, "response failed"),
    }
}

/// Every route, before the access layers are applied.
fn unguarded_routes() -> Router<AppState> {
    Router::new()
        .merge(ogc::routes())
        .merge(api::routes())
        .merge(accounts::routes())
        .merge(orders::routes())
        .merge(homestead::routes())
        .merge(homestead_events::routes())
        .merge(open311::routes())
        .merge(survey::routes())
        .merge(farmland::routes())
        .merge(health::routes())
        .route("/api/v1/openapi.json", axum::routing::get(openapi::serve))
        .merge(console::routes())
}

/// Serves until Ctrl-C.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(addr: SocketAddr, state: AppState) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, state).await
}

/// Serves on a bound listener until Ctrl-C.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve_on(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    // Deadline supervision: reminders, overdue warnings and automatic 督办, every five minutes.
    if state.district.is_some() {
        let st = state.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(300);
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                // One server supervises. A lease of three periods, renewed in its second half
                // (every other run), passes to another server within three periods of a crash.
                if !st.holds_lease("order-supervision", period * 3).await {
                    continue;
                }
                let change = tudi_store::Change::new("system:supervision", "order.notice");
                let started = std::time::Instant::now();
                let outcome = orders::supervise_now(&st, change).await;
                metrics::job_ran("order-supervision", outcome.is_ok(), started.elapsed());
                match outcome {
                    Ok(done) => {
                        metrics::found("tudi_orders_overdue", done.overdue);
                        if done.notices > 0 {
                            tracing::info!(notices = done.notices, "deadline supervision");
                        }
                    }
                    Err(p) => tracing::warn!(detail = %p.detail_en, "deadline supervision failed"),
                }
            }
        });
    }
    // Submissions left queued or mid-check by a server that stopped: checked again, by the
    // server holding the lease (at start, then every five minutes).
    {
        let st = state.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(300);
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                if st.holds_lease("survey-checks", period * 3).await {
                    survey::resume_checks(&st).await;
                }
            }
        });
    }
    let tls = state.tls.clone();
    serve::run(listener, router(state.clone()), state.limits, tls).await
}
