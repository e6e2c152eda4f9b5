//! The HTTP face of tudi: OGC API – Features (Part 1 Core and Part 2 CRS) over the one map and the
//! compliance analysis under `/api/v1`, with errors as RFC 9457 problem+json.
//!
//! Handlers stay thin: they parse the request, call the store on a blocking thread, and render.
//! [`router`] builds the whole application so tests can call it without a socket.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod console;
mod ogc;
mod problem;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tudi_onemap::compliance::RuleSet;
use tudi_onemap::snapshot::{MapView, Snapshots};
use tudi_store::Store;

pub use problem::Problem;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    snapshots: Option<Arc<Snapshots>>,
    rule_sets: Arc<Vec<RuleSet>>,
    web_dir: std::path::PathBuf,
}

impl AppState {
    /// State over a store, with layer snapshots for the request paths (built on first use);
    /// the console's map library is looked for in `./web`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            snapshots: Some(Snapshots::start(Arc::clone(&store))),
            rule_sets: Arc::new(RuleSet::builtin()),
            store,
            web_dir: std::path::PathBuf::from("web"),
        }
    }

    /// The compliance rule sets offered (the built-in ones by default).
    #[must_use]
    pub fn with_rule_sets(mut self, rule_sets: Vec<RuleSet>) -> Self {
        self.rule_sets = Arc::new(rule_sets);
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

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 8 << 20;

/// The application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ogc::routes())
        .merge(api::routes())
        .merge(console::routes())
        .with_state(state)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            problem::panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
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
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
