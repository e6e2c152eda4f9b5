//! The web console: a page, a script and a style sheet compiled into the binary, and the map
//! library served from the npm install in `web/node_modules` (never copied into the repository).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::AppState;
use crate::problem::Problem;

const INDEX: &str = include_str!("../../../web/console/index.html");
const APP: &str = include_str!("../../../web/console/app.js");
const ADMIN: &str = include_str!("../../../web/console/admin.js");
const STYLE: &str = include_str!("../../../web/console/style.css");
const VERIFY_STYLE: &str = include_str!("../../../web/console/verify.css");
const ORDERS: &str = include_str!("../../../web/console/orders.html");
const ORDERS_JS: &str = include_str!("../../../web/console/orders.js");
const HOMESTEAD: &str = include_str!("../../../web/console/homestead.html");
const HOMESTEAD_JS: &str = include_str!("../../../web/console/homestead.js");
const SURVEY: &str = include_str!("../../../web/console/survey.html");
const SURVEY_JS: &str = include_str!("../../../web/console/survey.js");
const FARMLAND: &str = include_str!("../../../web/console/farmland.html");
const FARMLAND_JS: &str = include_str!("../../../web/console/farmland.js");

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/app.js",
            get(|| async { page(APP, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/admin.js",
            get(|| async { page(ADMIN, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/orders",
            get(|| async { page(ORDERS, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/orders.js",
            get(|| async { page(ORDERS_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/homestead",
            get(|| async { page(HOMESTEAD, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/homestead.js",
            get(|| async { page(HOMESTEAD_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/survey",
            get(|| async { page(SURVEY, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/survey.js",
            get(|| async { page(SURVEY_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/farmland",
            get(|| async { page(FARMLAND, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/farmland.js",
            get(|| async { page(FARMLAND_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/style.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route(
            "/console/verify.css",
            get(|| async { page(VERIFY_STYLE, "text/css; charset=utf-8") }),
        )
        .route("/console/vendor/maplibre-gl/{file}", get(vendor))
}

fn page(body: &'static str, ctype: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    res
}

async fn vendor(State(st): State<AppState>, Path(file): Path<String>) -> Result<Response, Problem> {
    let ctype = match file.rsplit_once('.').map(|(_, e)| e) {
        Some("mjs" | "js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("map") => "application/json",
        _ => {
            return Err(Problem::not_found(
                format!("没有文件 {file}"),
                format!("no file {file}"),
            ));
        }
    };
    if file.contains('/') || file.contains("..") || file.contains('\\') {
        return Err(Problem::not_found(
            format!("没有文件 {file}"),
            format!("no file {file}"),
        ));
    }
    let path = st.web_dir.join("node_modules/maplibre-gl/dist").join(&file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut res = bytes.into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            Ok(res)
        }
        Err(_) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "console-not-installed",
            "地图组件未安装",
            format!("找不到 {}：请先运行 npm ci --prefix web", path.display()),
            format!(
                "{} is missing: run `npm ci --prefix web` first",
                path.display()
            ),
        )),
    }
}
