//! Liveness and readiness, for load balancers, orchestrators and monitoring: answered without
//! signing in, and saying nothing of the district's data.
//!
//! `GET /healthz`: the process answers. `GET /readyz`: the store answers (a revisions reading,
//! which on PostgreSQL is a round trip to the primary) and the layer snapshots made at start-up
//! are built, so the server answers at its usual speed. Later rebuilds after an edit do not make
//! a server unready: it serves from the store meanwhile, and taking every server out of rotation
//! after each edit would stop the service.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
        .route("/metrics", get(crate::metrics::serve))
}

fn fresh(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

async fn alive() -> Response {
    fresh(StatusCode::OK, serde_json::json!({"status": "alive"}))
}

/// A problem that must not be cached either.
fn unready(problem: Problem) -> Response {
    let mut res = problem.into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

async fn ready(State(st): State<AppState>) -> Response {
    let store = std::sync::Arc::clone(&st.store);
    let failed = match crate::spawn_store_work(move || store.revisions()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = failed {
        // The cause (which may name the database's host) goes to the log, not the answer.
        tracing::warn!(error = %why, "not ready: the store does not answer");
        return unready(Problem::store_unavailable("checking readiness"));
    }
    if !st.warmed.load(Ordering::Relaxed) {
        let building = st
            .snapshots()
            .map(|s| s.status().iter().filter(|l| l.state != "ready").count())
            .unwrap_or(0);
        if building > 0 {
            return unready(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "snapshots-building",
                "服务未就绪",
                format!("{building} 个图层的内存快照仍在构建"),
                format!("{building} layer snapshots are still being built"),
            ));
        }
        st.warmed.store(true, Ordering::Relaxed);
    }
    fresh(StatusCode::OK, serde_json::json!({"status": "ready"}))
}
