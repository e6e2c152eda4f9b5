//! OGC API – Features, Part 1 (Core, GeoJSON, OpenAPI 3.0) and Part 2 (CRS by reference) under
//! `/ogc`. Every one-map layer is a collection; feature ids are the stable UUIDs of the store.
//!
//! Axis order follows the standards: the default CRS84 is longitude/latitude; with `crs` or
//! `bbox-crs` naming an EPSG CRS, coordinates are in that CRS's axis order (latitude first for
//! EPSG:4326 and 4490, northing first for the Gauss–Krüger zones 4513–4554).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use geo_types::{Coord, Geometry, LineString, Polygon};
use jiff::Timestamp;
use serde_json::{Value, json};
use tudi_geo::crs::{Crs, CrsKind, Transformer, for_each_coord_mut};
use tudi_store::{FeatureQuery, FeatureRecord, LayerInfo, StoreError};
use uuid::Uuid;

use crate::AppState;
use crate::problem::Problem;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 10_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ogc", get(landing))
        .route("/ogc/", get(landing))
        .route("/ogc/conformance", get(conformance))
        .route("/ogc/api", get(api))
        .route("/ogc/collections", get(collections))
        .route("/ogc/collections/{id}", get(collection))
        .route("/ogc/collections/{id}/items", get(items))
        .route("/ogc/collections/{id}/items/{fid}", get(item))
        .route("/ogc/tileMatrixSets", get(tile_matrix_sets))
        .route(
            "/ogc/tileMatrixSets/WebMercatorQuad",
            get(web_mercator_quad),
        )
        .route("/ogc/collections/{id}/tiles", get(tilesets))
        .route("/ogc/collections/{id}/tiles/WebMercatorQuad", get(tileset))
        .route(
            "/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}",
            get(tile),
        )
}

/// A CRS as OGC API names it, with its axis order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiCrs {
    /// OGC CRS84: longitude, latitude (WGS 84, treated as CGCS2000 at this accuracy).
    Crs84,
    /// An EPSG CRS in its own axis order.
    Epsg(Crs),
}

impl ApiCrs {
    fn parse(text: &str, param: &str) -> Result<Self, Problem> {
        let t = text.trim().trim_start_matches('[').trim_end_matches(']');
        if t.ends_with("CRS84") {
            return Ok(Self::Crs84);
        }
        let crs_bad = || {
            Problem::bad_parameter(
                param,
                format!("不支持的坐标系“{t}”，可用 CRS84、EPSG:4490、4326、3857 及 4513–4554"),
                format!("unsupported CRS {t:?}; use CRS84 or EPSG 4490, 4326, 3857, 4513-4554"),
            )
        };
        if !t.contains("/EPSG/") && !t.to_ascii_uppercase().starts_with("EPSG:") {
            return Err(crs_bad());
        }
        Crs::parse(t).map(Self::Epsg).map_err(|_| crs_bad())
    }

    fn uri(self) -> String {
        match self {
            Self::Crs84 => CRS84.to_owned(),
            Self::Epsg(c) => format!("http://www.opengis.net/def/crs/EPSG/0/{}", c.epsg()),
        }
    }

    fn crs(self) -> Crs {
        match self {
            Self::Crs84 => Crs::WGS84,
            Self::Epsg(c) => c,
        }
    }

    /// Whether the first axis is latitude or northing (EPSG geographic and Gauss–Krüger CRSs).
    fn swapped(self) -> bool {
        match self {
            Self::Crs84 => false,
            Self::Epsg(c) => matches!(c.kind(), CrsKind::Geographic | CrsKind::GaussKruger { .. }),
        }
    }
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/ogc")
}

pub(crate) fn store_failed(e: &StoreError) -> Problem {
    match e {
        StoreError::UnknownLayer(name) => Problem::not_found(
            format!("没有名为“{name}”的图层"),
            format!("no collection named {name:?}"),
        ),
        StoreError::UnknownFeature { layer, id } => Problem::not_found(
            format!("图层 {layer} 中没有要素 {id}"),
            format!("collection {layer} has no feature {id}"),
        ),
        other => Problem::from_store(other),
    }
}

/// A layer's description, or 404.
async fn layer_info(st: &AppState, id: &str) -> Result<LayerInfo, Problem> {
    let store = st.store.clone();
    let id = id.to_owned();
    blocking(move || store.layer(&id).map_err(|e| store_failed(&e))).await
}

/// A layer's definition, or 404; cheap (no feature count), for request paths.
async fn layer_def(st: &AppState, id: &str) -> Result<tudi_store::LayerDef, Problem> {
    let store = st.store.clone();
    let id = id.to_owned();
    blocking(move || store.layer_def(&id).map_err(|e| store_failed(&e))).await
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    crate::spawn_store_work(f)
        .await
        .unwrap_or_else(|_| Err(Problem::internal()))
}

async fn landing(headers: HeaderMap) -> Response {
    let b = base(&headers);
    Json(json!({
        "title": "tudi 一张图 OGC API",
        "description": "区县国土空间一张图：行政区、网格、宗地、三区三线等图层 / the district's one map",
        "links": [
            {"href": b, "rel": "self", "type": "application/json", "title": "本页 / this document"},
            {"href": format!("{b}/api"), "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "API 定义 / API definition"},
            {"href": format!("{b}/conformance"), "rel": "conformance", "type": "application/json", "title": "符合的标准 / conformance"},
            {"href": format!("{b}/collections"), "rel": "data", "type": "application/json", "title": "图层 / collections"},
            {"href": format!("{b}/tileMatrixSets"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "type": "application/json", "title": "瓦片矩阵集 / tile matrix sets"}
        ]
    }))
    .into_response()
}

async fn conformance() -> Response {
    Json(json!({
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
            "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
            "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt"
        ]
    }))
    .into_response()
}

async fn api() -> Response {
    let mut res = Json(openapi()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.oai.openapi+json;version=3.0"),
    );
    res
}

fn extent_crs84(info: &LayerInfo) -> Option<[f64; 4]> {
    let [minx, miny, maxx, maxy] = info.extent?;
    let crs = Crs::from_epsg(info.def.epsg).ok()?;
    let t = Transformer::new(crs, Crs::WGS84).ok()?;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for (x, y) in [(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)] {
        let (a, b) = t.apply(x, y).ok()?;
        xs.push(a);
        ys.push(b);
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some([min(&xs), min(&ys), max(&xs), max(&ys)])
}

fn collection_json(info: &LayerInfo, b: &str) -> Value {
    let id = &info.def.name;
    let storage = ApiCrs::Epsg(Crs::from_epsg(info.def.epsg).unwrap_or(Crs::CGCS2000));
    let mut crs = vec![
        CRS84.to_owned(),
        ApiCrs::Epsg(Crs::CGCS2000).uri(),
        ApiCrs::Epsg(Crs::WGS84).uri(),
        ApiCrs::Epsg(Crs::WEB_MERCATOR).uri(),
    ];
    if !crs.contains(&storage.uri()) {
        crs.push(storage.uri());
    }
    let mut c = json!({
        "id": id,
        "title": info.def.title,
        "description": format!("{}（{}），{} 个要素 / {} layer", info.def.kind.name_zh(), info.def.kind.id(), info.feature_count, info.def.kind.id()),
        "itemType": "feature",
        "crs": crs,
        "storageCrs": storage.uri(),
        "links": [
            {"href": format!("{b}/collections/{id}"), "rel": "self", "type": "application/json"},
            {"href": format!("{b}/collections/{id}/items"), "rel": "items", "type": "application/geo+json", "title": "要素 / features"},
            {"href": format!("{b}/collections/{id}/tiles"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": "application/json", "title": "矢量瓦片 / vector tiles"}
        ]
    });
    // An empty layer has no extent: the member is left out rather than holding a null box.
    if let Some(e) = extent_crs84(info) {
        c["extent"] = json!({"spatial": {"bbox": [e], "crs": CRS84}});
    }
    c
}

async fn collections(
    State(st): State<AppState>,
    axum::Extension(ctx): axum::Extension<crate::auth::Ctx>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let b = base(&headers);
    let store = st.store.clone();
    let mut layers = blocking(move || store.layers().map_err(|e| store_failed(&e))).await?;
    let readable = st.layer_reader(&ctx.principal);
    layers.retain(|l| readable(&l.def.name));
    Ok(Json(json!({
        "links": [{"href": format!("{b}/collections"), "rel": "self", "type": "application/json"}],
        "collections": layers.iter().map(|l| collection_json(l, &b)).collect::<Vec<_>>()
    }))
    .into_response())
}

async fn collection(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let b = base(&headers);
    let info = layer_info(&st, &id).await?;
    Ok(Json(collection_json(&info, &b)).into_response())
}

/// Parsed `items` query.
struct ItemsQuery {
    limit: u64,
    offset: u64,
    bbox: Option<[f64; 4]>,
    bbox_crs: ApiCrs,
    crs: ApiCrs,
    as_of: Option<Timestamp>,
}

fn parse_items_query(q: &HashMap<String, String>) -> Result<ItemsQuery, Problem> {
    const KNOWN: [&str; 7] = [
        "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f",
    ];
    if let Some(unknown) = q.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Problem::bad_parameter(
            unknown,
            format!("不支持此参数（可用：{}）", KNOWN.join("、")),
            format!("unknown parameter (known: {})", KNOWN.join(", ")),
        ));
    }
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(0) | Err(_) => {
                return Err(Problem::bad_parameter(
                    "limit",
                    format!("“{v}”应为 1–{MAX_LIMIT} 的整数"),
                    format!("{v:?} must be an integer 1-{MAX_LIMIT}"),
                ));
            }
            Ok(n) => n.min(MAX_LIMIT),
        },
    };
    let offset = match q.get("offset") {
        None => 0,
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            Problem::bad_parameter(
                "offset",
                format!("“{v}”应为非负整数"),
                format!("{v:?} must be a non-negative integer"),
            )
        })?,
    };
    let bbox_crs = q
        .get("bbox-crs")
        .map_or(Ok(ApiCrs::Crs84), |v| ApiCrs::parse(v, "bbox-crs"))?;
    let crs = q
        .get("crs")
        .map_or(Ok(ApiCrs::Crs84), |v| ApiCrs::parse(v, "crs"))?;
    let bbox = match q.get("bbox") {
        None => None,
        Some(v) => {
            let nums: Result<Vec<f64>, _> = v.split(',').map(|p| p.trim().parse::<f64>()).collect();
            match nums {
                Ok(n) if n.len() == 4 && n.iter().all(|x| x.is_finite()) => {
                    let (mut a, mut b, mut c, mut d) = (n[0], n[1], n[2], n[3]);
                    if bbox_crs.swapped() {
                        (a, b, c, d) = (b, a, d, c);
                    }
                    if a > c || b > d {
                        return Err(Problem::bad_parameter(
                            "bbox",
                            "左下角应小于右上角",
                            "the lower corner must not exceed the upper corner",
                        ));
                    }
                    Some([a, b, c, d])
                }
                Ok(n) if n.len() == 6 => {
                    return Err(Problem::bad_parameter(
                        "bbox",
                        "不支持三维范围",
                        "3D bounding boxes are not supported",
                    ));
                }
                _ => {
                    return Err(Problem::bad_parameter(
                        "bbox",
                        format!("“{v}”应为四个数 minx,miny,maxx,maxy"),
                        format!("{v:?} must be four numbers"),
                    ));
                }
            }
        }
    };
    let as_of = match q.get("datetime") {
        None => None,
        Some(v) if v.contains('/') => {
            return Err(Problem::bad_parameter(
                "datetime",
                "目前只支持时间点（查询当时的一张图），不支持时间段",
                "only an instant is supported (the map as it was then), not an interval",
            ));
        }
        Some(v) => Some(v.trim().parse::<Timestamp>().map_err(|_| {
            Problem::bad_parameter(
                "datetime",
                format!("“{v}”应为 RFC 3339 时间，如 2026-01-01T00:00:00Z"),
                format!("{v:?} is not an RFC 3339 instant"),
            )
        })?),
    };
    Ok(ItemsQuery {
        limit,
        offset,
        bbox,
        bbox_crs,
        crs,
        as_of,
    })
}

/// The bbox as a densified polygon in the layer's CRS (edges bend under projection).
fn bbox_in_layer(bbox: [f64; 4], from: Crs, layer: Crs) -> Result<Polygon<f64>, Problem> {
    let [a, b, c, d] = bbox;
    let steps = 16;
    let mut ring = Vec::new();
    for (x0, y0, x1, y1) in [(a, b, c, b), (c, b, c, d), (c, d, a, d), (a, d, a, b)] {
        for k in 0..steps {
            let t = f64::from(k) / f64::from(steps);
            ring.push(Coord {
                x: x0 + (x1 - x0) * t,
                y: y0 + (y1 - y0) * t,
            });
        }
    }
    ring.push(Coord { x: a, y: b });
    let mut g: Geometry<f64> = Polygon::new(LineString(ring), vec![]).into();
    Transformer::new(from, layer)
        .and_then(|t| t.apply_geometry(&mut g))
        .map_err(|e| {
            Problem::bad_parameter("bbox", format!("无法转换到图层坐标系：{e}"), e.to_string())
        })?;
    match g {
        Geometry::Polygon(p) => Ok(p),
        _ => Err(Problem::internal()),
    }
}

fn feature_json(
    f: FeatureRecord,
    layer: &str,
    to: &Transformer,
    swap: bool,
    b: &str,
) -> Result<Value, Problem> {
    let mut g = f.geometry;
    to.apply_geometry(&mut g).map_err(|_| Problem::internal())?;
    if swap {
        let _ = for_each_coord_mut(&mut g, &mut |c| {
            *c = Coord { x: c.y, y: c.x };
            Ok::<(), ()>(())
        });
    }
    let mut props = f.attributes;
    props.retain(|_, v| !v.is_null());
    let id = f.id.to_string();
    Ok(json!({
        "type": "Feature",
        "id": id,
        "geometry": serde_json::to_value(geojson::Geometry::from(&g)).unwrap_or(Value::Null),
        "properties": props,
        "links": [{"href": format!("{b}/collections/{layer}/items/{id}"), "rel": "self", "type": "application/geo+json"}]
    }))
}

fn geo_json(body: &Value, crs: ApiCrs) -> Response {
    let mut res = Json(body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs.uri())) {
        h.insert("Content-Crs", v);
    }
    res
}

async fn items(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let b = base(&headers);
    let query = parse_items_query(&q)?;
    let store = st.store.clone();
    let layer = id.clone();
    let (def, records, more, matched) = blocking(move || {
        let def = store.layer_def(&layer).map_err(|e| store_failed(&e))?;
        let layer_crs = Crs::from_epsg(def.epsg).map_err(|_| Problem::internal())?;
        let area = query
            .bbox
            .map(|bb| bbox_in_layer(bb, query.bbox_crs.crs(), layer_crs))
            .transpose()?;
        let envelope = area
            .as_ref()
            .and_then(geo::BoundingRect::bounding_rect)
            .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]);
        let want = query.limit + 1;
        // How many features the query matches: the layer's count, or those that truly meet
        // the bbox; not counted as of a past instant (it would cost a scan of the history).
        let mut matched = None;
        let mut out = match &area {
            // Without a bbox the store pages by itself.
            None => {
                if query.as_of.is_none() {
                    matched = Some(
                        store
                            .layer(&layer)
                            .map_err(|e| store_failed(&e))?
                            .feature_count,
                    );
                }
                store
                    .features(
                        &layer,
                        &FeatureQuery {
                            bbox: None,
                            as_of: query.as_of,
                            limit: Some(want),
                            offset: query.offset,
                        },
                    )
                    .map_err(|e| store_failed(&e))?
            }
            // With one, envelopes preselect and the exact test against the (projected) bbox
            // polygon decides, so that pages count only features that truly meet the bbox.
            Some(p) => {
                let meeting: Vec<_> = store
                    .features(
                        &layer,
                        &FeatureQuery {
                            bbox: envelope,
                            as_of: query.as_of,
                            limit: None,
                            offset: 0,
                        },
                    )
                    .map_err(|e| store_failed(&e))?
                    .into_iter()
                    .filter(|f| geo::Intersects::intersects(&f.geometry, p))
                    .collect();
                matched = Some(meeting.len() as u64);
                meeting
                    .into_iter()
                    .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
                    .take(usize::try_from(want).unwrap_or(usize::MAX))
                    .collect()
            }
        };
        let more = out.len() as u64 > query.limit;
        out.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok((def, out, more, matched))
    })
    .await?;
    let query = parse_items_query(&q)?;
    let layer_crs = Crs::from_epsg(def.epsg).map_err(|_| Problem::internal())?;
    let to = Transformer::new(layer_crs, query.crs.crs()).map_err(|_| Problem::internal())?;
    let swap = query.crs.swapped();
    let n = records.len();
    let features: Result<Vec<Value>, Problem> = records
        .into_iter()
        .map(|f| feature_json(f, &id, &to, swap, &b))
        .collect();
    let page = |offset: u64| {
        let mut params: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "offset")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.push(("offset".into(), offset.to_string()));
        params.sort();
        let qs: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("{b}/collections/{id}/items?{}", qs.join("&"))
    };
    let mut links =
        vec![json!({"href": page(query.offset), "rel": "self", "type": "application/geo+json"})];
    if more {
        links.push(json!({"href": page(query.offset + query.limit), "rel": "next", "type": "application/geo+json", "title": "下一页 / next page"}));
    }
    if query.offset > 0 {
        links.push(json!({"href": page(query.offset.saturating_sub(query.limit)), "rel": "prev", "type": "application/geo+json", "title": "上一页 / previous page"}));
    }
    let mut body = json!({
        "type": "FeatureCollection",
        "timeStamp": Timestamp::now().to_string(),
        "numberReturned": n,
        "links": links,
        "features": features?,
    });
    if let Some(m) = matched {
        body["numberMatched"] = json!(m);
    }
    Ok(geo_json(&body, query.crs))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn item(
    State(st): State<AppState>,
    Path((id, fid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let b = base(&headers);
    if let Some(unknown) = q.keys().find(|k| !matches!(k.as_str(), "crs" | "f")) {
        return Err(Problem::bad_parameter(
            unknown,
            "不支持此参数（可用：crs、f）",
            "unknown parameter (known: crs, f)",
        ));
    }
    let crs = q
        .get("crs")
        .map_or(Ok(ApiCrs::Crs84), |v| ApiCrs::parse(v, "crs"))?;
    let Ok(uuid) = Uuid::parse_str(&fid) else {
        return Err(Problem::not_found(
            format!("要素标识“{fid}”无效"),
            format!("{fid:?} is not a feature id"),
        ));
    };
    let store = st.store.clone();
    let layer = id.clone();
    let (def, rec) = blocking(move || {
        let def = store.layer_def(&layer).map_err(|e| store_failed(&e))?;
        let rec = store.feature(&layer, uuid).map_err(|e| store_failed(&e))?;
        Ok((def, rec))
    })
    .await?;
    let layer_crs = Crs::from_epsg(def.epsg).map_err(|_| Problem::internal())?;
    let to = Transformer::new(layer_crs, crs.crs()).map_err(|_| Problem::internal())?;
    let mut f = feature_json(rec, &id, &to, crs.swapped(), &b)?;
    if let Some(links) = f.get_mut("links").and_then(Value::as_array_mut) {
        links.push(json!({"href": format!("{b}/collections/{id}"), "rel": "collection", "type": "application/json"}));
    }
    Ok(geo_json(&f, crs))
}

fn openapi() -> Value {
    let param = |name: &str, desc: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema, "style": "form", "explode": false});
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "图层名 / collection id"});
    let problem = json!({"description": "problem+json", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let json_ok = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"type": "object"}}}});
    let geo_ok = |d: &str| json!({"description": d, "content": {"application/geo+json": {"schema": {"type": "object"}}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "tudi 一张图 OGC API – Features", "version": env!("CARGO_PKG_VERSION"), "description": "区县国土空间一张图 / the district's one map"},
        "servers": [{"url": "/ogc"}],
        "paths": {
            "/": {"get": {"summary": "landing page", "operationId": "getLandingPage", "responses": {"200": json_ok("landing page")}}},
            "/conformance": {"get": {"summary": "conformance classes", "operationId": "getConformance", "responses": {"200": json_ok("conformance")}}},
            "/api": {"get": {"summary": "this document", "operationId": "getApi", "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}}}}}}},
            "/collections": {"get": {"summary": "collections", "operationId": "getCollections", "responses": {"200": json_ok("collections")}}},
            "/collections/{id}": {"get": {"summary": "one collection", "operationId": "getCollection", "parameters": [id_param.clone()], "responses": {"200": json_ok("collection"), "404": problem.clone()}}},
            "/collections/{id}/items": {"get": {
                "summary": "features", "operationId": "getFeatures",
                "parameters": [
                    id_param.clone(),
                    param("limit", "每页要素数 / features per page (1-10000, default 10)", json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 10})),
                    param("offset", "跳过的要素数 / features to skip", json!({"type": "integer", "minimum": 0, "default": 0})),
                    param("bbox", "范围 / bounding box minx,miny,maxx,maxy in bbox-crs axis order", json!({"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}})),
                    param("bbox-crs", "bbox 的坐标系 / CRS of bbox", json!({"type": "string", "format": "uri"})),
                    param("crs", "输出坐标系 / output CRS", json!({"type": "string", "format": "uri"})),
                    param("datetime", "时间点：当时的一张图 / an instant: the map as it was then", json!({"type": "string"}))
                ],
                "responses": {"200": geo_ok("features"), "400": problem.clone(), "404": problem.clone()}
            }},
            "/collections/{id}/items/{featureId}": {"get": {
                "summary": "one feature", "operationId": "getFeature",
                "parameters": [id_param, {"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}}, param("crs", "输出坐标系 / output CRS", json!({"type": "string", "format": "uri"}))],
                "responses": {"200": geo_ok("feature"), "404": problem}
            }}
        },
        "components": {"schemas": {"Problem": {"type": "object", "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}, "detail_en": {"type": "string"}
        }}}}
    })
}

const MVT: &str = "application/vnd.mapbox-vector-tile";
const WEB_MERCATOR_QUAD: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";

fn tileset_json(id: &str, title: &str, b: &str) -> Value {
    json!({
        "title": format!("{title}（WebMercatorQuad 矢量瓦片）"),
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": WEB_MERCATOR_QUAD,
        "layers": [{"id": id, "dataType": "vector"}],
        "links": [
            {"href": format!("{b}/collections/{id}/tiles/WebMercatorQuad"), "rel": "self", "type": "application/json"},
            {"href": format!("{b}/tileMatrixSets/WebMercatorQuad"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": "application/json", "title": "WebMercatorQuad"},
            {"href": format!("{b}/collections/{id}/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"), "rel": "item", "type": MVT, "templated": true, "title": "瓦片 / tiles"}
        ]
    })
}

async fn tile_matrix_sets(headers: HeaderMap) -> Response {
    let b = base(&headers);
    Json(json!({
        "links": [{"href": format!("{b}/tileMatrixSets"), "rel": "self", "type": "application/json"}],
        "tileMatrixSets": [{
            "id": "WebMercatorQuad",
            "title": "Google Maps Compatible for the World",
            "uri": WEB_MERCATOR_QUAD,
            "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
            "links": [{"href": format!("{b}/tileMatrixSets/WebMercatorQuad"), "rel": "self", "type": "application/json"}]
        }]
    }))
    .into_response()
}

/// The WebMercatorQuad definition of OGC Two Dimensional Tile Matrix Set 2.0 (Annex D): 256-pixel
/// tiles, origin at the top left of EPSG:3857, levels 0–24.
async fn web_mercator_quad() -> Response {
    // Scale denominator and cell size of level 0, from the standard's table.
    const SCALE0: f64 = 559_082_264.028_717_8;
    const CELL0: f64 = 156_543.033_928_041;
    let half = tudi_geo::mvt::WORLD_HALF;
    let matrices: Vec<Value> = (0u32..=24)
        .map(|z| {
            let n = 1u64 << z;
            let f = f64::from(1u32 << z);
            json!({
                "id": z.to_string(),
                "scaleDenominator": SCALE0 / f,
                "cellSize": CELL0 / f,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-half, half],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": n,
                "matrixHeight": n
            })
        })
        .collect();
    Json(json!({
        "id": "WebMercatorQuad",
        "title": "Google Maps Compatible for the World",
        "uri": WEB_MERCATOR_QUAD,
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices
    }))
    .into_response()
}

async fn tilesets(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let b = base(&headers);
    let def = layer_def(&st, &id).await?;
    Ok(Json(json!({
        "links": [{"href": format!("{b}/collections/{id}/tiles"), "rel": "self", "type": "application/json"}],
        "tilesets": [tileset_json(&id, &def.title, &b)]
    }))
    .into_response())
}

async fn tileset(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let b = base(&headers);
    let def = layer_def(&st, &id).await?;
    Ok(Json(tileset_json(&id, &def.title, &b)).into_response())
}

async fn tile(
    State(st): State<AppState>,
    Path((id, z, y, x)): Path<(String, String, String, String)>,
) -> Result<Response, Problem> {
    let num = |name: &str, v: &str| {
        v.parse::<u32>().map_err(|_| {
            Problem::bad_parameter(
                name,
                format!("“{v}”应为非负整数"),
                format!("{v:?} must be a non-negative integer"),
            )
        })
    };
    // `…/{x}.mvt` or `.pbf` as well: GDAL's MVT driver and file-based tools recognise a tile
    // by its extension.
    let x = x
        .strip_suffix(".mvt")
        .or_else(|| x.strip_suffix(".pbf"))
        .unwrap_or(&x)
        .to_owned();
    let (zn, yn, xn) = (
        num("tileMatrix", &z)?,
        num("tileRow", &y)?,
        num("tileCol", &x)?,
    );
    let tile_id = u8::try_from(zn)
        .ok()
        .and_then(|z| tudi_geo::mvt::TileId::new(z, xn, yn))
        .ok_or_else(|| {
            Problem::not_found(
                format!("瓦片 {z}/{y}/{x} 超出 WebMercatorQuad 的范围（0–24 级）"),
                format!("tile {z}/{y}/{x} is outside WebMercatorQuad (levels 0-24)"),
            )
        })?;
    let bytes = blocking(move || {
        tudi_onemap::tiles::render(st.map(), &id, tile_id).map_err(|e| match e {
            tudi_onemap::tiles::TileError::Store(se) => store_failed(&se),
            tudi_onemap::tiles::TileError::Render(m) => {
                tracing::error!(error = %m, "tile rendering failed");
                Problem::internal()
            }
        })
    })
    .await?;
    if bytes.is_empty() {
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT));
    // Tiles are rendered from the current data (snapshots are checked against the store on
    // every request): an edit shows in the next request.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}
