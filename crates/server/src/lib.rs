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
use tudi_store::Store;

pub use problem::Problem;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    web_dir: std::path::PathBuf,
}

impl AppState {
    /// State over a store; the console's map library is looked for in `./web`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            web_dir: std::path::PathBuf::from("web"),
        }
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
