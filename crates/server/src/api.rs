//! The JSON API under `/api/v1`. For now: compliance analysis of a proposed site.

use schemars::JsonSchema;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tudi_core::msg::Bilingual;
use tudi_geo::crs::Crs;
use tudi_onemap::compliance::{self, ComplianceError};

use crate::AppState;
use crate::problem::Problem;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/compliance", post(analyse))
        .route("/api/v1/compliance/rule-sets", get(rule_sets))
        .route("/api/v1/search", get(search))
        .route("/api/v1/status", get(status))
        .route("/api/v1/layers/{id}/checks", get(checks))
}

/// Which kept checks to list.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct ChecksQuery {
    /// 每页条数（1–100，默认 20）/ at most this many (1–100, default 20).
    #[serde(default)]
    limit: Option<u64>,
    /// 跳过条数 / skip this many.
    #[serde(default)]
    offset: Option<u64>,
}

/// The quality checks kept with a layer (成果质检记录), newest first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CheckPage {
    layer: String,
    /// How many are kept in all.
    total: u64,
    /// Each: `id`, `file`, `rule_set`, `crs`, `checked_at`, `by`, `summary` (features,
    /// errors, warnings, each rule's count, the rules not run) and `findings` (at most 5,000).
    checks: Vec<Value>,
}

async fn checks(
    State(st): State<AppState>,
    axum::Extension(ctx): axum::Extension<crate::auth::Ctx>,
    axum::extract::Path(layer): axum::extract::Path<String>,
    crate::params::Params(q): crate::params::Params<ChecksQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let offset = q.offset.unwrap_or(0);
    let store = st.store.clone();
    let page = crate::spawn_store_work(move || -> Result<CheckPage, Problem> {
        let unknown = || {
            Problem::not_found(
                format!("没有名为 {layer} 的图层"),
                format!("no layer named {layer}"),
            )
        };
        match store.layer_def(&layer) {
            Ok(_) => {}
            Err(tudi_store::StoreError::UnknownLayer(_)) => return Err(unknown()),
            Err(e) => return Err(Problem::from_store(&e)),
        }
        // A layer the caller may not read is as good as absent.
        if !st.layer_reader(&ctx.principal)(&layer) {
            return Err(unknown());
        }
        let (checks, total) = tudi_quality::gate::kept(&*store, &layer, limit, offset)
            .map_err(|e| Problem::from_store(&e))?;
        Ok(CheckPage {
            layer,
            total,
            checks,
        })
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(Json(page).into_response())
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct ComplianceRequest {
    geometry: serde_json::Value,
    #[serde(default)]
    crs: Option<String>,
    rule_set: String,
    #[serde(default)]
    terrain: Option<String>,
}

async fn rule_sets(State(st): State<AppState>) -> Response {
    let rule_sets = st
        .rule_sets()
        .iter()
        .map(|r| RuleSetView {
            id: r.id.clone(),
            aliases: r.aliases.clone(),
            title: r.title.clone(),
            source: r.source.clone(),
            checks: r.checks.clone(),
        })
        .collect();
    Json(RuleSetList { rule_sets }).into_response()
}

async fn analyse(
    State(st): State<AppState>,
    body: Result<Json<ComplianceRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(req) = body.map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "请求内容无效",
            format!("请求体应为 JSON：{{\"geometry\": GeoJSON 面, \"crs\": \"EPSG:4490\", \"rule_set\": \"宅基地选址\", \"terrain\": \"plain\"}}（{}）", e.body_text()),
            e.body_text(),
        )
    })?;
    let crs = match req.crs.as_deref() {
        None => Crs::WGS84,
        Some(c) => Crs::parse(c).map_err(|e| {
            let m = e.msg();
            Problem::bad_parameter("crs", m.zh, m.en)
        })?,
    };
    let site = tudi_geo::io::geojson::parse_geometry(&req.geometry.to_string()).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-geometry",
            "图形无效",
            format!("geometry 不是有效的 GeoJSON 几何：{e}"),
            e.to_string(),
        )
    })?;
    let offered = st.rule_sets();
    let Some(rules) = offered
        .iter()
        .find(|r| r.answers_to(&req.rule_set))
        .cloned()
    else {
        let names: Vec<&str> = offered.iter().map(|r| r.id.as_str()).collect();
        return Err(Problem::bad_parameter(
            "rule_set",
            format!(
                "没有名为“{}”的规则集（可用：{}）",
                req.rule_set,
                names.join("、")
            ),
            format!(
                "no rule set named {:?} (available: {})",
                req.rule_set,
                names.join(", ")
            ),
        ));
    };
    // The analysis ends at its deadline, or as soon as the client has gone: dropping this
    // handler (hyper does when the connection closes) raises the flag the analysis watches.
    let gone = Arc::new(AtomicBool::new(false));
    let _raise_when_dropped = RaiseOnDrop(Arc::clone(&gone));
    // Counted from the request's arrival, so that a request run again after an unconfirmed
    // speculative run (see `auth::identify`) keeps the deadline it had.
    let stop = compliance::Stop::after(
        st.limits
            .analysis_timeout
            .saturating_sub(crate::since_arrival()),
    )
    .or_when(gone);
    let report = crate::spawn_store_work(move || {
        let _running = Running::start(&st.analyses);
        compliance::analyse_until(st.map(), &rules, &site, crs, req.terrain.as_deref(), &stop)
    })
    .await
    .map_err(|_| Problem::internal())?;
    match report {
        Ok(r) => Ok(Json(r).into_response()),
        Err(e) => {
            let m = e.msg();
            let (status, slug, title) = match e {
                ComplianceError::InvalidSite(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-geometry",
                    "图形无效",
                ),
                ComplianceError::TooManyVertices(..) => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-many-vertices",
                    "图形顶点过多",
                ),
                ComplianceError::SiteTooLarge { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "site-too-large",
                    "选址范围过大",
                ),
                ComplianceError::Stopped(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "analysis-stopped",
                    "分析超时",
                ),
                ComplianceError::UnknownTerrain(_) | ComplianceError::UnknownRuleSet(_) => {
                    (StatusCode::BAD_REQUEST, "invalid-parameter", "请求参数无效")
                }
                ComplianceError::OutsideZones(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "outside-zones",
                    "选址不在本系统的坐标范围内",
                ),
                ComplianceError::Crs(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-geometry",
                    "坐标无法转换",
                ),
                ComplianceError::Store(e) => return Err(Problem::from_store(&e)),
            };
            Err(Problem::new(status, slug, title, m.zh, m.en))
        }
    }
}

/// Sets its flag when dropped.
struct RaiseOnDrop(Arc<AtomicBool>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Counts a running analysis for as long as it lives.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The server's state: which layers are held in memory, how many analyses are running.
async fn status(State(st): State<AppState>) -> Response {
    let layers = st.snapshots().map(|s| s.status()).unwrap_or_default();
    Json(ServiceStatus {
        snapshots: st.snapshots().is_some(),
        layers,
        analyses_running: st.analyses.load(Ordering::Relaxed),
    })
    .into_response()
}

/// What to look for.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct SearchQuery {
    /// 不动产单元代码、区划代码或名称 / a real-estate unit code, a division code or a name.
    #[serde(default)]
    q: Option<String>,
    /// 最多返回条数（1–100，默认 20）/ at most this many results (1–100, default 20).
    #[serde(default)]
    limit: Option<u64>,
}

/// One thing found.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SearchHit {
    layer: String,
    layer_title: String,
    id: String,
    code: Option<Value>,
    name: Option<Value>,
    level: Option<Value>,
    /// 范围（WGS 84 经纬度）/ extent in WGS 84 longitude and latitude.
    bbox: Option<[f64; 4]>,
}

/// What a search found.
#[derive(Serialize, JsonSchema)]
pub(crate) struct SearchResults {
    results: Vec<SearchHit>,
}

/// A rule set as listed.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RuleSetView {
    id: String,
    aliases: Vec<String>,
    title: String,
    source: String,
    checks: Vec<compliance::Check>,
}

/// The rule sets.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RuleSetList {
    rule_sets: Vec<RuleSetView>,
}

/// What the server holds and does.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ServiceStatus {
    /// 图层是否保存在内存快照中 / whether layers are served from in-memory snapshots.
    snapshots: bool,
    layers: Vec<tudi_onemap::snapshot::LayerStatus>,
    analyses_running: usize,
}

/// Search by 不动产单元代码 (prefix, spaces allowed) or by place name (divisions and grid cells).
async fn search(
    State(st): State<AppState>,
    axum::Extension(ctx): axum::Extension<crate::auth::Ctx>,
    crate::params::Params(q): crate::params::Params<SearchQuery>,
) -> Result<Response, Problem> {
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    if text.is_empty() {
        return Err(Problem::bad_parameter(
            "q",
            "请输入不动产单元代码或村居名称",
            "give a real-estate unit code or a place name",
        ));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let store = st.store.clone();
    let results = crate::spawn_store_work(move || -> Result<Vec<SearchHit>, Problem> {
        use tudi_core::layer::LayerKind;
        use tudi_store::Match;
        let mut layers = store.layer_defs().map_err(|e| Problem::from_store(&e))?;
        let readable = st.layer_reader(&ctx.principal);
        layers.retain(|d| readable(&d.name));
        let compact = tudi_core::bdcdy::normalize(&text);
        let looks_like_code =
            compact.len() >= 6 && compact.chars().all(|c| c.is_ascii_alphanumeric());
        let mut out = Vec::new();
        for def in &layers {
            let (field, needle, mode) = match def.kind {
                LayerKind::Parcel if looks_like_code => ("code", compact.as_str(), Match::Prefix),
                LayerKind::Admin | LayerKind::Grid if !looks_like_code => {
                    ("name", text.as_str(), Match::Contains)
                }
                _ => continue,
            };
            if !def.fields.iter().any(|f| f.name == field) {
                continue;
            }
            let crs = Crs::from_epsg(def.epsg).map_err(|_| Problem::internal())?;
            let to = tudi_geo::crs::Transformer::new(crs, Crs::WGS84)
                .map_err(|_| Problem::internal())?;
            let found = store
                .search(&def.name, field, needle, mode, limit)
                .map_err(|_| Problem::internal())?;
            for mut f in found {
                let _ = to.apply_geometry(&mut f.geometry);
                let bbox = geo::BoundingRect::bounding_rect(&f.geometry)
                    .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]);
                out.push(SearchHit {
                    layer: def.name.clone(),
                    layer_title: def.title.clone(),
                    id: f.id.to_string(),
                    code: f.attributes.get("code").cloned(),
                    name: f.attributes.get("name").cloned(),
                    level: f.attributes.get("level").cloned(),
                    bbox,
                });
                if out.len() as u64 >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(Json(SearchResults { results }).into_response())
}
