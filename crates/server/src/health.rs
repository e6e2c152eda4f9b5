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

async fn ready(State(st): State<AppState>) -> Response {
    let store = std::sync::Arc::clone(&st.store);
    let reading = crate::spawn_store_work(move || store.revisions()).await;
    let unready = |slug: &'static str, zh: String, en: String| {
        let mut res = Problem::new(StatusCode::SERVICE_UNAVAILABLE, slug, "服务未就绪", zh, en)
            .into_response();
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        res
    };
    match reading {
        Ok(Ok(_)) => {}
        failed => {
            // The cause (which may name the database's host) goes to the log, not the answer.
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "the reading stopped".to_owned(),
            };
            tracing::warn!(error = %why, "not ready: the store does not answer");
            return unready(
                "store-unavailable",
                "数据库或数据文件暂时无法访问".to_owned(),
                "the database or data file could not be reached".to_owned(),
            );
        }
    }
    if !st.warmed.load(Ordering::Relaxed) {
        let building = st
            .snapshots()
            .map(|s| s.status().iter().filter(|l| l.state != "ready").count())
            .unwrap_or(0);
        if building > 0 {
            return unready(
                "snapshots-building",
                format!("{building} 个图层的内存快照仍在构建"),
                format!("{building} layer snapshots are still being built"),
            );
        }
        st.warmed.store(true, Ordering::Relaxed);
    }
    fresh(StatusCode::OK, serde_json::json!({"status": "ready"}))
}
