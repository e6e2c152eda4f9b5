//! Import of GeoJSON, GeoPackage, Shapefile and FlatGeobuf files into a layer.
//!
//! The whole file is read and checked before anything is written: every feature is reprojected
//! into the layer's CRS, checked for validity and checked against the layer's schema. By default
//! one bad feature rejects the file and the report lists every bad feature with its index and
//! reason; with `skip_invalid` the good ones are written and the bad ones listed. The write is one
//! transaction, so a crash midway leaves the layer as it was.

use std::collections::BTreeMap;
use std::path::Path;

use geo_types::Geometry;
use rayon::prelude::*;
use serde_json::{Map, Value};
use tudi_core::layer::{FieldDef, FieldType, LayerKind, is_valid_identifier};
use tudi_core::msg::{Bilingual, Msg};
use tudi_geo::crs::{Crs, Transformer, for_each_coord_mut, gcj02_to_wgs84};
use tudi_geo::io::geojson as gj;
use tudi_geo::validity;
use tudi_store::gpkg::{check_attributes, foreign_layers, read_foreign_layer};
use tudi_store::{LayerDef, NewFeature, Store, StoreError};

use crate::Format;
use crate::schema;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Target layer (created when missing).
    pub layer: String,
    /// Kind of a new layer.
    pub kind: LayerKind,
    /// Title of a new layer; defaults to the kind's Chinese name.
    pub title: Option<String>,
    /// CRS of the source coordinates, overriding what the file declares.
    pub src_crs: Option<Crs>,
    /// The source coordinates are GCJ-02 (taken from an online map); they are converted to
    /// WGS 84 / CGCS2000 first.
    pub gcj02: bool,
    /// CRS of a new layer; defaults to the source CRS, or to its Gauss–Krüger zone when the
    /// source is geographic.
    pub layer_crs: Option<Crs>,
    /// Write the good features and list the bad ones instead of rejecting the file.
    pub skip_invalid: bool,
    /// Source property → layer field, for names that differ.
    pub field_map: Vec<(String, String)>,
    /// Source table of a GeoPackage with several.
    pub source_layer: Option<String>,
    /// Who imports, as the audit log names them (`cli`, `user:<name>`).
    pub actor: String,
    /// The division codes official codes are checked against (the bundled list by default;
    /// the national list a data directory holds, when it has one).
    pub divisions: std::sync::Arc<tudi_core::division::DivisionRegistry>,
    /// A last check once every feature has passed the import's own checks and been written,
    /// before the commit (the quality check of the layer's kind): its refusal rolls the whole
    /// import back.
    pub gate: Option<ImportGate>,
}

/// The last check of an import ([`ImportOptions::gate`]), given the source positions of the
/// features left out (with `skip_invalid`): `Err` says why the import is refused.
#[derive(Clone)]
pub struct ImportGate(pub std::sync::Arc<GateCheck>);

/// What a gate runs: given the positions skipped, `Err` refuses the import.
pub type GateCheck = dyn Fn(&[usize]) -> Result<(), Msg> + Send + Sync;

impl std::fmt::Debug for ImportGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportGate")
    }
}

/// The bundled division list, shared (it is large: copied once).
fn bundled_divisions() -> std::sync::Arc<tudi_core::division::DivisionRegistry> {
    static ONCE: std::sync::OnceLock<std::sync::Arc<tudi_core::division::DivisionRegistry>> =
        std::sync::OnceLock::new();
    std::sync::Arc::clone(ONCE.get_or_init(|| {
        std::sync::Arc::new(tudi_core::division::DivisionRegistry::bundled().clone())
    }))
}

impl ImportOptions {
    /// Options with defaults for a layer of a kind.
    #[must_use]
    pub fn new(layer: &str, kind: LayerKind) -> Self {
        Self {
            layer: layer.to_owned(),
            kind,
            title: None,
            src_crs: None,
            gcj02: false,
            layer_crs: None,
            skip_invalid: false,
            field_map: Vec::new(),
            source_layer: None,
            actor: "cli".to_owned(),
            divisions: bundled_divisions(),
            gate: None,
        }
    }
}

/// A feature that could not be imported.
#[derive(Debug, Clone, PartialEq)]
pub struct BadFeature {
    /// 0-based position in the source file.
    pub index: usize,
    /// Why, in Chinese and English.
    pub reason: Msg,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// The layer written.
    pub layer: String,
    /// Whether the layer was created by this import.
    pub created_layer: bool,
    /// Features read from the file.
    pub read: u64,
    /// Features written.
    pub imported: u64,
    /// Features left out (only with `skip_invalid`).
    pub skipped: Vec<BadFeature>,
    /// Source properties that match no field of an existing layer and were not imported.
    pub ignored_properties: Vec<String>,
    /// CRS of the source.
    pub source_crs: Crs,
    /// CRS of the layer.
    pub layer_crs: Crs,
    /// When the import chose the layer's Gauss–Krüger zone: the longitudes it was chosen from.
    pub zone_from: Option<(f64, f64)>,
    /// What is kept differently from the source (column types, Z and M), for people.
    pub changes: Vec<Msg>,
}

impl ImportReport {
    /// How areas of the layer are measured, for the summary.
    #[must_use]
    pub fn area_method(&self) -> Msg {
        match self.layer_crs.kind() {
            tudi_geo::crs::CrsKind::GaussKruger { .. } => Msg::new(
                format!(
                    "面积按 {}（{}）平面计算",
                    self.layer_crs.name_zh(),
                    self.layer_crs
                ),
                format!(
                    "areas are planar in {} ({})",
                    self.layer_crs.name(),
                    self.layer_crs
                ),
            ),
            tudi_geo::crs::CrsKind::Geographic => Msg::new(
                "图层为经纬度坐标，面积按 CGCS2000 椭球计算",
                "the layer is in longitude/latitude: areas are ellipsoidal on CGCS2000",
            ),
            tudi_geo::crs::CrsKind::WebMercator => Msg::new(
                "图层为 Web 墨卡托坐标，官方面积须换算到三度带",
                "the layer is in Web Mercator: official areas need a Gauss-Kruger zone",
            ),
        }
    }
}

/// Progress of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Features read and checked so far.
    Reading(u64),
    /// Features written so far, of the total.
    Writing(u64, u64),
}

/// Why an import failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Source {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Bad features, all of them listed (the file was rejected).
    #[error("{total} of {read} features are invalid; nothing was imported")]
    Rejected {
        /// Every bad feature.
        bad: Vec<BadFeature>,
        /// How many.
        total: usize,
        /// Features read.
        read: u64,
    },
    /// A CRS problem.
    #[error("{0}")]
    Crs(Msg),
    /// The options or the layer schema are inconsistent.
    #[error("{0}")]
    Options(Msg),
    /// The last check ([`ImportOptions::gate`]) refused the import.
    #[error("{0}")]
    Gate(Msg),
    /// The store refused the write.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Bilingual for ImportError {
    fn msg(&self) -> Msg {
        match self {
            Self::Source { path, reason } => {
                Msg::new(format!("无法读取文件 {path}：{reason}"), self.to_string())
            }
            Self::Rejected { total, read, .. } => Msg::new(
                format!(
                    "{read} 个要素中有 {total} 个无效，未导入任何要素（可用 --skip-invalid 跳过无效要素）"
                ),
                format!("{self} (use --skip-invalid to import the valid ones)"),
            ),
            Self::Crs(m) | Self::Options(m) | Self::Gate(m) => m.clone(),
            Self::Store(e) => Msg::new(format!("写入失败：{e}"), e.to_string()),
        }
    }
}

struct SourceFeature {
    index: usize,
    properties: Map<String, Value>,
    geometry: Result<Option<Geometry<f64>>, Msg>,
}

fn source_err(path: &Path, reason: impl ToString) -> ImportError {
    ImportError::Source {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// What tudi keeps differently from a source, said in the import summary: narrow integer and
/// single-precision columns are stored as 64-bit integers and doubles, Z and M values are not
/// kept (tudi holds plane geometry).
fn dims_note(z: bool, m: bool) -> Option<Msg> {
    let what = match (z, m) {
        (true, true) => (
            "Z（高程）和 M（量测）值",
            "Z (elevation) and M (measure) values",
        ),
        (true, false) => ("Z（高程）值", "Z (elevation) values"),
        (false, true) => ("M（量测）值", "M (measure) values"),
        (false, false) => return None,
    };
    Some(Msg::new(
        format!("源数据带有{}，tudi 只保存平面坐标，未导入这些值", what.0),
        format!(
            "the source has {}; tudi keeps plane coordinates, so they were not imported",
            what.1
        ),
    ))
}

fn column_notes(columns: &[(String, String)]) -> Vec<Msg> {
    columns
        .iter()
        .filter_map(|(name, t)| {
            let (zh, en) = match t.as_str() {
                "TINYINT" | "SMALLINT" | "MEDIUMINT" => ("64 位整数", "a 64-bit integer"),
                "FLOAT" => ("双精度实数", "a double-precision number"),
                "DATETIME" => ("文本（ISO 8601 时间）", "text (an ISO 8601 date-time)"),
                _ => return None,
            };
            Some(Msg::new(
                format!("字段 {name}（{t}）按{zh}保存"),
                format!("field {name} ({t}) is kept as {en}"),
            ))
        })
        .collect()
}

/// A source's declared CRS, its features and what tudi keeps differently from it.
type Opened = (Option<Crs>, Vec<SourceFeature>, Vec<Msg>);

fn read_gpkg(path: &Path, table: Option<&str>) -> Result<Opened, ImportError> {
    let layers = foreign_layers(path).map_err(|e| source_err(path, e))?;
    let layer = match table {
        Some(t) => layers.iter().find(|l| l.table == t),
        None if layers.len() == 1 => layers.first(),
        None => None,
    }
    .ok_or_else(|| {
        let names: Vec<&str> = layers.iter().map(|l| l.table.as_str()).collect();
        source_err(
            path,
            format!("choose a source table with --source-layer: {names:?} (请用 --source-layer 指定源图层)"),
        )
    })?;
    let crs = u32::try_from(layer.srs_id)
        .ok()
        .and_then(|c| Crs::from_epsg(c).ok());
    let mut out = Vec::new();
    read_foreign_layer(path, layer, &mut |f| {
        out.push(SourceFeature {
            index: f.index,
            properties: f.properties,
            geometry: f
                .geometry
                .map_err(|e| Msg::new(format!("几何无法解析：{e}"), e)),
        });
        Ok(())
    })
    .map_err(|e| source_err(path, e))?;
    let mut notes = column_notes(&layer.columns);
    notes.extend(dims_note(layer.z != 0, layer.m != 0));
    Ok((crs, out, notes))
}

fn problems_msg(problems: &[validity::Problem]) -> Msg {
    let zh: Vec<String> = problems.iter().map(|p| p.msg().zh).collect();
    let en: Vec<String> = problems.iter().map(|p| p.msg().en).collect();
    Msg::new(zh.join("；"), en.join("; "))
}

/// A field name for a source property: itself when it is a valid identifier, otherwise `f<n>`.
fn field_name_for(prop: &str, n: usize) -> String {
    let lower = prop.to_ascii_lowercase();
    if is_valid_identifier(&lower) {
        lower
    } else {
        format!("f{n}")
    }
}

fn infer_type(values: &[&Value]) -> FieldType {
    let non_null: Vec<&&Value> = values.iter().filter(|v| !v.is_null()).collect();
    if !non_null.is_empty() && non_null.iter().all(|v| v.is_i64()) {
        FieldType::Integer
    } else if !non_null.is_empty() && non_null.iter().all(|v| v.is_number()) {
        FieldType::Real
    } else if !non_null.is_empty() && non_null.iter().all(|v| v.is_boolean()) {
        FieldType::Boolean
    } else {
        FieldType::Text
    }
}

/// Features parsed and checked per step of the pipeline.
const CHUNK: usize = 50_000;

/// A feature as the Shapefile and FlatGeobuf readers give it: index, properties, geometry.
type RawItem = (
    usize,
    Map<String, Value>,
    Result<Option<Geometry<f64>>, String>,
);

/// Where source features come from, a chunk at a time.
enum Source {
    /// A GeoJSON file in memory with its feature byte ranges; chunks are parsed on all cores.
    Json {
        bytes: Vec<u8>,
        spans: Vec<(usize, usize)>,
        next: usize,
    },
    /// Features already read (Shapefile, GeoPackage, FlatGeobuf).
    Items(std::vec::IntoIter<SourceFeature>),
}

impl Source {
    fn len(&self) -> usize {
        match self {
            Self::Json { spans, .. } => spans.len(),
            Self::Items(it) => it.len(),
        }
    }

    fn next_chunk(&mut self) -> Vec<SourceFeature> {
        match self {
            Self::Json { bytes, spans, next } => {
                let end = (*next + CHUNK).min(spans.len());
                let first = *next;
                *next = end;
                let bytes = &*bytes;
                spans[first..end]
                    .par_iter()
                    .enumerate()
                    .map(|(k, &(a, b))| {
                        let index = first + k;
                        let parsed = gj::parse_feature(&bytes[a..b], index);
                        match parsed {
                            Ok(f) => SourceFeature {
                                index,
                                properties: f.properties,
                                geometry: Ok(f.geometry),
                            },
                            Err(gj::FeatureError::Geometry { problems, .. }) => SourceFeature {
                                index,
                                properties: Map::new(),
                                geometry: Err(problems_msg(&problems)),
                            },
                            Err(gj::FeatureError::Malformed { reason, .. }) => SourceFeature {
                                index,
                                properties: Map::new(),
                                geometry: Err(Msg::new(
                                    format!("GeoJSON 格式错误：{reason}"),
                                    format!("malformed GeoJSON: {reason}"),
                                )),
                            },
                        }
                    })
                    .collect()
            }
            Self::Items(it) => it.take(CHUNK).collect(),
        }
    }
}

fn open_source(
    path: &Path,
    format: Format,
    opts: &ImportOptions,
) -> Result<(Option<Crs>, Source, Vec<Msg>), ImportError> {
    let items = |v: Vec<RawItem>| {
        Source::Items(
            v.into_iter()
                .map(|(index, properties, geometry)| SourceFeature {
                    index,
                    properties,
                    geometry: geometry.map_err(|e| Msg::new(format!("几何无法解析：{e}"), e)),
                })
                .collect::<Vec<_>>()
                .into_iter(),
        )
    };
    Ok(match format {
        Format::GeoJson => {
            let bytes = std::fs::read(path).map_err(|e| source_err(path, e))?;
            let crs = gj::detect_crs(&bytes[..bytes.len().min(8192)]);
            match gj::feature_spans(&bytes) {
                Ok(spans) => (
                    crs,
                    Source::Json {
                        bytes,
                        spans,
                        next: 0,
                    },
                    Vec::new(),
                ),
                // A single Feature or a bare Geometry: one feature (as GDAL reads them).
                Err(e) => match gj::single_feature(&bytes) {
                    Some(one) => {
                        let feature = match one {
                            Ok(f) => SourceFeature {
                                index: 0,
                                properties: f.properties,
                                geometry: Ok(f.geometry),
                            },
                            Err(gj::FeatureError::Geometry { problems, .. }) => SourceFeature {
                                index: 0,
                                properties: Map::new(),
                                geometry: Err(problems_msg(&problems)),
                            },
                            Err(gj::FeatureError::Malformed { reason, .. }) => {
                                return Err(source_err(path, reason));
                            }
                        };
                        (crs, Source::Items(vec![feature].into_iter()), Vec::new())
                    }
                    None => return Err(source_err(path, e)),
                },
            }
        }
        Format::GeoPackage => {
            let (crs, v, notes) = read_gpkg(path, opts.source_layer.as_deref())?;
            (crs, Source::Items(v.into_iter()), notes)
        }
        Format::Shapefile => {
            let (crs, v) = crate::shp::read(path).map_err(|e| source_err(path, e))?;
            let (z, m) = crate::shp::dims(path);
            (
                crs,
                items(
                    v.into_iter()
                        .map(|f| (f.index, f.properties, f.geometry))
                        .collect(),
                ),
                dims_note(z, m).into_iter().collect(),
            )
        }
        Format::FlatGeobuf => {
            let file = crate::fgb::read(path).map_err(|e| source_err(path, e))?;
            let (crs, v, z, m) = (file.crs, file.features, file.z, file.m);
            (
                crs,
                items(
                    v.into_iter()
                        .map(|f| (f.index, f.properties, f.geometry))
                        .collect(),
                ),
                dims_note(z, m).into_iter().collect(),
            )
        }
    })
}

/// The outcome of checking one chunk.
/// Official codes in a feature's `code`: a parcel's 不动产单元代码 (GB/T 37346, with its check
/// rules and county), a division's code (in the division list). The same checks as
/// `tudi code check`.
fn check_codes(
    kind: LayerKind,
    attributes: &Map<String, Value>,
    divisions: &tudi_core::division::DivisionRegistry,
) -> Result<(), Msg> {
    let Some(code) = attributes.get("code").and_then(Value::as_str) else {
        return Ok(());
    };
    match kind {
        LayerKind::Parcel => tudi_core::bdcdy::UnitCode::parse(code, Some(divisions))
            .map(|_| ())
            .map_err(|problems| {
                let ms: Vec<Msg> = problems.iter().map(Bilingual::msg).collect();
                Msg::new(
                    format!(
                        "字段 code：“{code}”不是有效的不动产单元代码（{}）",
                        ms.iter()
                            .map(|m| m.zh.as_str())
                            .collect::<Vec<_>>()
                            .join("；")
                    ),
                    format!(
                        "field code: {code:?} is not a valid real-estate unit code ({})",
                        ms.iter()
                            .map(|m| m.en.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            }),
        LayerKind::Admin => divisions.resolve(code).map(|_| ()).map_err(|e| {
            let m = e.msg();
            Msg::new(
                format!("字段 code：“{code}”不是有效的区划代码（{}）", m.zh),
                format!(
                    "field code: {code:?} is not a valid division code ({})",
                    m.en
                ),
            )
        }),
        _ => Ok(()),
    }
}

/// The zone an import chose for a new layer: every feature must lie in it.
struct ZoneGuard {
    central_meridian: f64,
    /// The source is Web Mercator (longitudes are computed from eastings).
    mercator: bool,
}

impl ZoneGuard {
    fn check(&self, g: &Geometry<f64>) -> Result<(), Msg> {
        let Some(r) = geo::BoundingRect::bounding_rect(g) else {
            return Ok(());
        };
        let (west, east) = if self.mercator {
            (mercator_lon(r.min().x), mercator_lon(r.max().x))
        } else {
            (r.min().x, r.max().x)
        };
        let (lo, hi) = (self.central_meridian - 1.6, self.central_meridian + 1.6);
        if west >= lo && east <= hi {
            return Ok(());
        }
        Err(Msg::new(
            format!(
                "要素经度 {west:.4}–{east:.4} 超出按前面要素选定的三度带（中央经线 {}°E，{lo:.1}–{hi:.1}）：数据跨越多个三度带，请用 --layer-crs 指定图层坐标系",
                self.central_meridian
            ),
            format!(
                "longitudes {west:.4}..{east:.4} lie outside the zone chosen from the earlier features (CM {}E, {lo:.1}..{hi:.1}): the data spans several zones; give the layer CRS with --layer-crs",
                self.central_meridian
            ),
        ))
    }
}

/// Longitude of a Web Mercator easting.
fn mercator_lon(x: f64) -> f64 {
    x / 6_378_137.0 * 180.0 / std::f64::consts::PI
}

/// West and east longitude of every geometry in `features` (given in `crs`; GCJ-02 offsets of
/// a few hundred metres do not change a zone).
fn lon_extent(features: &[SourceFeature], crs: Crs) -> Option<(f64, f64)> {
    let mut out: Option<(f64, f64)> = None;
    for f in features {
        let Ok(Some(g)) = &f.geometry else {
            continue;
        };
        let Some(r) = geo::BoundingRect::bounding_rect(g) else {
            continue;
        };
        let (w, e) = if crs == Crs::WEB_MERCATOR {
            (mercator_lon(r.min().x), mercator_lon(r.max().x))
        } else {
            (r.min().x, r.max().x)
        };
        out = Some(out.map_or((w, e), |(a, b)| (a.min(w), b.max(e))));
    }
    out
}

struct Checked {
    good: Vec<NewFeature>,
    bad: Vec<BadFeature>,
    unknown_properties: Vec<String>,
}

/// What every feature of an import is checked and converted with.
struct Checks<'a> {
    def: &'a LayerDef,
    mapping: &'a BTreeMap<String, String>,
    to_layer: &'a Transformer,
    /// Source coordinates are GCJ-02.
    gcj: bool,
    /// The zone chosen for a new layer, which every feature must lie in.
    zone: Option<&'a ZoneGuard>,
    divisions: &'a tudi_core::division::DivisionRegistry,
}

/// Reprojects, validates and maps one chunk on all cores.
fn check_chunk(chunk: Vec<SourceFeature>, checks: &Checks<'_>, new_layer: bool) -> Checked {
    let Checks {
        def,
        mapping,
        to_layer,
        gcj,
        zone,
        divisions,
    } = *checks;
    let mut unknown = std::collections::BTreeSet::new();
    for f in &chunk {
        for k in f.properties.keys() {
            if !mapping.contains_key(k) {
                unknown.insert(k.clone());
            }
        }
    }
    let results: Vec<Result<NewFeature, BadFeature>> = chunk
        .into_par_iter()
        .map(|f| {
            let bad = |reason: Msg| BadFeature {
                index: f.index,
                reason,
            };
            let mut geometry = match f.geometry {
                Ok(Some(g)) => g,
                Ok(None) => return Err(bad(Msg::new("缺少几何", "missing geometry"))),
                Err(m) => return Err(bad(m)),
            };
            if gcj {
                let _ = for_each_coord_mut(&mut geometry, &mut |c| {
                    let (x, y) = gcj02_to_wgs84(c.x, c.y);
                    *c = geo_types::Coord { x, y };
                    Ok::<(), ()>(())
                });
            }
            // Coordinates outside what the source CRS describes: the CRS is wrong.
            let source = to_layer.from();
            if let Some(c) = geo::CoordsIter::coords_iter(&geometry).find(|c| !source.holds(c.x, c.y))
            {
                return Err(bad(Msg::new(
                    format!(
                        "坐标 ({}, {}) 超出源坐标系 {} 的有效范围：源坐标系可能有误，请用 --src-crs 指定",
                        c.x,
                        c.y,
                        source.code_string()
                    ),
                    format!(
                        "coordinate ({}, {}) lies outside the source CRS {}: it may be wrong; give it with --src-crs",
                        c.x,
                        c.y,
                        source.code_string()
                    ),
                )));
            }
            if let Some(z) = zone {
                z.check(&geometry).map_err(&bad)?;
            }
            to_layer
                .apply_geometry(&mut geometry)
                .map_err(|e| bad(e.msg()))?;
            let problems = validity::problems(&geometry);
            if !problems.is_empty() {
                return Err(bad(problems_msg(&problems)));
            }
            let mut attributes = Map::new();
            for (src, v) in f.properties {
                if let Some(dst) = mapping.get(&src) {
                    attributes.insert(dst.clone(), v);
                }
            }
            check_attributes(def, &attributes).map_err(|(field, reason)| {
                bad(Msg::new(
                    format!("字段 {field}：{reason}"),
                    format!("field {field}: {reason}"),
                ))
            })?;
            check_codes(def.kind, &attributes, divisions).map_err(&bad)?;
            Ok(NewFeature {
                id: None,
                geometry,
                attributes,
            })
        })
        .collect();
    let mut out = Checked {
        good: Vec::new(),
        bad: Vec::new(),
        unknown_properties: Vec::new(),
    };
    for r in results {
        match r {
            Ok(f) => out.good.push(f),
            Err(b) => out.bad.push(b),
        }
    }
    // Properties first seen after the schema of a new layer was fixed are reported, not imported.
    if new_layer || !unknown.is_empty() {
        out.unknown_properties = unknown.into_iter().collect();
    }
    out
}

fn format_of(path: &Path) -> Result<Format, ImportError> {
    Format::from_path(path).ok_or_else(|| {
        ImportError::Options(Msg::new(
            format!(
                "无法从扩展名识别 {} 的格式（支持 .geojson、.json、.gpkg、.shp、.fgb）",
                path.display()
            ),
            format!(
                "cannot tell the format of {} from its extension (.geojson, .json, .gpkg, .shp, .fgb)",
                path.display()
            ),
        ))
    })
}

/// The CRS of a file's coordinates: given or declared, else the format's default (GeoJSON:
/// WGS 84; GeoPackage and FlatGeobuf: CGCS2000); a Shapefile without one is refused.
fn source_crs_of(path: &Path, format: Format, known: Option<Crs>) -> Result<Crs, ImportError> {
    match known {
        Some(c) => Ok(c),
        None => match format {
            Format::GeoJson => Ok(Crs::WGS84),
            Format::GeoPackage | Format::FlatGeobuf => Ok(Crs::CGCS2000),
            Format::Shapefile => Err(ImportError::Crs(Msg::new(
                format!(
                    "{} 没有可识别的 .prj，请用 --src-crs 指定坐标系",
                    path.display()
                ),
                format!(
                    "{} has no recognisable .prj; give the CRS with --src-crs",
                    path.display()
                ),
            ))),
        },
    }
}

/// A feature read to be checked rather than imported.
#[derive(Debug, Clone)]
pub struct PlanarFeature {
    /// Its position in the file or layer (from 0).
    pub index: usize,
    /// Its id in the store, for a layer's features (a file's are known by position).
    pub id: Option<String>,
    /// Its properties as in the file.
    pub properties: Map<String, Value>,
    /// Its geometry in the planar CRS the file was brought into, or why it has none usable (it
    /// could not be parsed or reprojected). Invalid geometries are kept: checking them is the
    /// point.
    pub geometry: Result<Option<Geometry<f64>>, Msg>,
}

/// Reads a whole file for checking: every feature, valid or not, with its geometry in metres —
/// in the file's own CRS when that is projected, else in the CGCS2000 Gauss–Krüger zone that
/// covers the file (as an import into a new layer chooses it). Uses `opts`' `src_crs`, `gcj02`
/// and `source_layer`.
///
/// # Errors
/// A file that cannot be read, an unknown format, a CRS that cannot be told or covers no zone.
pub fn read_planar(
    path: &Path,
    opts: &ImportOptions,
) -> Result<(Crs, Vec<PlanarFeature>), ImportError> {
    let format = format_of(path)?;
    let (declared, mut source, _) = open_source(path, format, opts)?;
    let source_crs = source_crs_of(path, format, opts.src_crs.or(declared))?;
    let mut all = Vec::with_capacity(source.len());
    loop {
        let chunk = source.next_chunk();
        if chunk.is_empty() {
            break;
        }
        all.extend(chunk);
    }
    let target = match opts.layer_crs {
        Some(c) => c,
        None if source_crs.is_geographic() || source_crs == Crs::WEB_MERCATOR => {
            match lon_extent(&all, source_crs) {
                Some((west, east)) => Crs::gk_zone_covering(west, east, false)
                    .map_err(|e| ImportError::Crs(e.msg()))?,
                None => Crs::CGCS2000,
            }
        }
        None => source_crs,
    };
    let transform = Transformer::new(if opts.gcj02 { Crs::WGS84 } else { source_crs }, target)
        .map_err(|e| ImportError::Crs(e.msg()))?;
    let features = all
        .into_par_iter()
        .map(|f| {
            let geometry = f.geometry.and_then(|g| match g {
                None => Ok(None),
                Some(mut g) => {
                    if opts.gcj02 {
                        let _ = for_each_coord_mut(&mut g, &mut |c| {
                            let (x, y) = gcj02_to_wgs84(c.x, c.y);
                            *c = geo_types::Coord { x, y };
                            Ok::<(), ()>(())
                        });
                    }
                    transform.apply_geometry(&mut g).map_err(|e| e.msg())?;
                    Ok(Some(g))
                }
            });
            PlanarFeature {
                index: f.index,
                id: None,
                properties: f.properties,
                geometry,
            }
        })
        .collect();
    Ok((target, features))
}

/// Reads a layer of the store for checking, in metres: in `target` when given (to compare it
/// with other data), else its own CRS when projected, else the Gauss–Krüger zone covering its
/// extent. Each feature keeps its id.
///
/// # Errors
/// An unknown layer, a store failure, a layer whose extent covers no single zone.
pub fn read_layer_planar(
    store: &dyn Store,
    layer: &str,
    target: Option<Crs>,
) -> Result<(Crs, Vec<PlanarFeature>), ImportError> {
    let info = store.layer(layer)?;
    let crs = Crs::from_epsg(info.def.epsg).map_err(|e| ImportError::Crs(e.msg()))?;
    let target = match (target, crs.is_geographic(), info.extent) {
        (Some(t), _, _) => t,
        (None, true, Some([west, _, east, _])) => {
            Crs::gk_zone_covering(west, east, false).map_err(|e| ImportError::Crs(e.msg()))?
        }
        _ => crs,
    };
    let transform = Transformer::new(crs, target).map_err(|e| ImportError::Crs(e.msg()))?;
    let mut features = Vec::new();
    store.for_each_feature(layer, None, &mut |record| {
        let mut geometry = record.geometry;
        let geometry = transform
            .apply_geometry(&mut geometry)
            .map(|()| Some(geometry))
            .map_err(|e| e.msg());
        features.push(PlanarFeature {
            index: features.len(),
            id: Some(record.id.to_string()),
            properties: record.attributes,
            geometry,
        });
        Ok(())
    })?;
    Ok((target, features))
}

/// Imports a file into a layer. See the module documentation for the rules.
///
/// The file is processed in chunks of 50,000 features: a second thread parses and checks the next
/// chunk while this one writes the current one, inside the single transaction of the import. A new
/// layer's attribute schema is inferred from the first chunk; properties that first appear later
/// are listed in the report as not imported.
///
/// # Errors
/// [`ImportError`]; in every case nothing is written.
#[allow(clippy::too_many_lines)]
pub fn import_file(
    store: &dyn Store,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Stage),
) -> Result<ImportReport, ImportError> {
    let format = format_of(path)?;
    let started = std::time::Instant::now();
    let (declared, mut source, changes) = open_source(path, format, opts)?;
    let total = source.len() as u64;
    progress(Stage::Reading(0));
    let source_crs = source_crs_of(path, format, opts.src_crs.or(declared))?;
    let existing = match store.layer(&opts.layer) {
        Ok(info) => Some(info.def),
        Err(StoreError::UnknownLayer(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(def) = &existing
        && def.kind != opts.kind
    {
        return Err(ImportError::Options(Msg::new(
            format!(
                "图层 {} 已存在，类型为{}，不是{}",
                def.name,
                def.kind.name_zh(),
                opts.kind.name_zh()
            ),
            format!(
                "layer {} exists with kind {}, not {}",
                def.name,
                def.kind.id(),
                opts.kind.id()
            ),
        )));
    }
    let first = source.next_chunk();
    let mut zone_from = None;
    let layer_crs = match &existing {
        Some(def) => Crs::from_epsg(def.epsg).map_err(|e| ImportError::Crs(e.msg()))?,
        None => match opts.layer_crs {
            Some(c) => c,
            None if source_crs.is_geographic() || source_crs == Crs::WEB_MERCATOR => {
                // Analysis runs in metres: a new layer from degrees goes into the Gauss–Krüger
                // zone that covers the data's whole extent (the first chunk's; later features
                // are held to it).
                match lon_extent(&first, source_crs) {
                    Some((west, east)) => {
                        zone_from = Some((west, east));
                        Crs::gk_zone_covering(west, east, false).map_err(|e| {
                            ImportError::Crs(Msg::new(
                                format!(
                                    "{}：无法自动选定图层的三度带，请用 --layer-crs 指定图层坐标系（如 EPSG:4490 保留经纬度，或覆盖数据的三度带 EPSG:4534–4554）",
                                    e.msg().zh
                                ),
                                format!(
                                    "{e}: no zone can be chosen for the layer; give its CRS with --layer-crs (EPSG:4490 keeps longitude/latitude, or a zone EPSG:4534-4554 that covers the data)"
                                ),
                            ))
                        })?
                    }
                    None => Crs::CGCS2000,
                }
            }
            None => source_crs,
        },
    };

    // Map source properties (as seen in the first chunk) onto the layer's fields.
    let explicit: BTreeMap<&str, &str> = opts
        .field_map
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut prop_names: Vec<String> = Vec::new();
    for f in &first {
        for k in f.properties.keys() {
            if !prop_names.contains(k) {
                prop_names.push(k.clone());
            }
        }
    }
    let mut def = existing.clone().unwrap_or_else(|| LayerDef {
        name: opts.layer.clone(),
        title: opts
            .title
            .clone()
            .unwrap_or_else(|| opts.kind.name_zh().to_owned()),
        kind: opts.kind,
        epsg: layer_crs.epsg(),
        geometry_type: schema::geometry_type(opts.kind).to_owned(),
        fields: schema::default_fields(opts.kind),
    });
    let mut mapping: BTreeMap<String, String> = BTreeMap::new();
    for (n, prop) in prop_names.iter().enumerate() {
        let target = explicit
            .get(prop.as_str())
            .map(|s| (*s).to_owned())
            .or_else(|| {
                def.fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(prop) || f.title == *prop)
                    .map(|f| f.name.clone())
            });
        match target {
            Some(t) if def.fields.iter().any(|f| f.name == t) => {
                mapping.insert(prop.clone(), t);
            }
            Some(t) => {
                return Err(ImportError::Options(Msg::new(
                    format!("字段映射的目标“{t}”不是图层 {} 的字段", def.name),
                    format!("mapping target {t:?} is not a field of layer {}", def.name),
                )));
            }
            None if existing.is_none() => {
                let name = field_name_for(prop, n + 1);
                let values: Vec<&Value> = first
                    .iter()
                    .filter_map(|f| f.properties.get(prop))
                    .collect();
                def.fields
                    .push(FieldDef::new(&name, prop, infer_type(&values)));
                mapping.insert(prop.clone(), name);
            }
            None => {}
        }
    }

    let to_layer = Transformer::new(if opts.gcj02 { Crs::WGS84 } else { source_crs }, layer_crs)
        .map_err(|e| ImportError::Crs(e.msg()))?;
    let new_layer = existing.is_none();
    let guard = match (zone_from, layer_crs.kind()) {
        (
            Some(_),
            tudi_geo::crs::CrsKind::GaussKruger {
                central_meridian, ..
            },
        ) => Some(ZoneGuard {
            central_meridian: f64::from(central_meridian),
            mercator: source_crs == Crs::WEB_MERCATOR,
        }),
        _ => None,
    };
    let checks = Checks {
        def: &def,
        mapping: &mapping,
        to_layer: &to_layer,
        gcj: opts.gcj02,
        zone: guard.as_ref(),
        divisions: &opts.divisions,
    };
    let first = check_chunk(first, &checks, false);
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "import: first chunk checked"
    );

    let bad: std::cell::RefCell<Vec<BadFeature>> = std::cell::RefCell::new(first.bad);
    let ignored: std::cell::RefCell<std::collections::BTreeSet<String>> =
        std::cell::RefCell::new(first.unknown_properties.into_iter().collect());
    let checked_count = std::cell::Cell::new(0u64);
    let finished = std::cell::Cell::new(false);
    let gated = std::cell::Cell::new(false);
    let refused_by_gate: std::cell::RefCell<Option<Msg>> = std::cell::RefCell::new(None);
    let skip = opts.skip_invalid;
    let change = tudi_store::Change::new(opts.actor.clone(), "layer.import");
    let checks_ref = &checks;
    let result = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Checked>(1);
        scope.spawn(move || {
            loop {
                let chunk = source.next_chunk();
                if chunk.is_empty() {
                    break;
                }
                let checked = check_chunk(chunk, checks_ref, false);
                if tx.send(checked).is_err() {
                    break;
                }
            }
        });
        let first_len = first.good.len();
        checked_count.set(first_len as u64 + bad.borrow().len() as u64);
        let mut pending = first.good.into_iter();
        let mut rows = FeatureFeed {
            pending: &mut pending,
            rx: &rx,
            bad: &bad,
            ignored: &ignored,
            checked: &checked_count,
            skip,
            lower_bound: first_len,
            finished: &finished,
        };
        let mut report = |n: u64| {
            progress(Stage::Writing(n, total));
            if !(skip || bad.borrow().is_empty()) {
                return false;
            }
            // Once every chunk has been taken (every bad feature known), at the first progress
            // call after — at the latest the one just before the commit: the last check, once.
            if finished.get()
                && !gated.replace(true)
                && let Some(gate) = &opts.gate
                && let Err(why) =
                    (gate.0)(&bad.borrow().iter().map(|b| b.index).collect::<Vec<_>>())
            {
                *refused_by_gate.borrow_mut() = Some(why);
                return false;
            }
            true
        };
        let written = if new_layer {
            store.create_layer_with_features(checks_ref.def, &mut rows, &change, &mut report)
        } else {
            store.insert_features(&checks_ref.def.name, &mut rows, &change, &mut report)
        };
        // Whatever happened, read the rest so that every bad feature is reported.
        for checked in rx.iter() {
            bad.borrow_mut().extend(checked.bad);
        }
        written
    });
    let bad = bad.into_inner();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        bad = bad.len(),
        "import: done"
    );
    if let (Err(StoreError::Cancelled), Some(why)) = (&result, refused_by_gate.into_inner()) {
        return Err(ImportError::Gate(why));
    }
    match result {
        Err(StoreError::Cancelled) if !bad.is_empty() => Err(ImportError::Rejected {
            total: bad.len(),
            bad,
            read: total,
        }),
        Err(e) => Err(e.into()),
        Ok(_) if !bad.is_empty() && !skip => Err(ImportError::Rejected {
            total: bad.len(),
            bad,
            read: total,
        }),
        Ok(ids) => {
            let mut ignored: Vec<String> = ignored.into_inner().into_iter().collect();
            ignored.retain(|p| !mapping.contains_key(p));
            Ok(ImportReport {
                layer: def.name,
                created_layer: new_layer,
                read: total,
                imported: ids.len() as u64,
                skipped: bad,
                ignored_properties: ignored,
                source_crs,
                layer_crs,
                zone_from,
                changes,
            })
        }
    }
}

/// The rows handed to the store: the first chunk, then each chunk the checking thread sends.
/// Once a bad feature is seen (and bad ones are not skipped) it stops yielding rows; the progress
/// callback then cancels the transaction.
struct FeatureFeed<'a> {
    pending: &'a mut std::vec::IntoIter<NewFeature>,
    rx: &'a std::sync::mpsc::Receiver<Checked>,
    bad: &'a std::cell::RefCell<Vec<BadFeature>>,
    ignored: &'a std::cell::RefCell<std::collections::BTreeSet<String>>,
    checked: &'a std::cell::Cell<u64>,
    skip: bool,
    lower_bound: usize,
    /// Set once the last chunk has been taken.
    finished: &'a std::cell::Cell<bool>,
}

impl Iterator for FeatureFeed<'_> {
    type Item = NewFeature;

    fn next(&mut self) -> Option<NewFeature> {
        loop {
            if !self.skip && !self.bad.borrow().is_empty() {
                return None;
            }
            if let Some(f) = self.pending.next() {
                return Some(f);
            }
            let Ok(checked) = self.rx.recv() else {
                self.finished.set(true);
                return None;
            };
            self.checked
                .set(self.checked.get() + (checked.good.len() + checked.bad.len()) as u64);
            self.bad.borrow_mut().extend(checked.bad);
            self.ignored.borrow_mut().extend(checked.unknown_properties);
            *self.pending = checked.good.into_iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Rows already checked and waiting: a true lower bound, large enough to choose the bulk path.
        (self.lower_bound.min(self.pending.len()), None)
    }
}
