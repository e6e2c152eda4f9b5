//! GeoJSON reading and writing.
//!
//! Reading streams features one at a time (a 1,000,000-feature file is never held in memory as
//! JSON) and checks what only the raw coordinates show: rings that are not closed and positions
//! with fewer than two numbers. Those are reported with the feature's index, like every other
//! problem, instead of being closed silently.
//!
//! The RFC 7946 default CRS is WGS 84; files in other CRSs (GDAL writes them) carry the legacy
//! `"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}}` member, which
//! [`detect_crs`] reads and [`Writer`] writes.

use std::io::{Read, Write};

use geo_types::{
    Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use geojson::{GeometryValue, Position};
use serde_json::{Map, Value};

use crate::crs::Crs;
use crate::validity::{Problem, ProblemKind, Ring};

/// One feature read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// 0-based position in the file.
    pub index: usize,
    /// The GeoJSON `id`, as text.
    pub id: Option<String>,
    /// The properties.
    pub properties: Map<String, Value>,
    /// The geometry; `None` for a `null` geometry.
    pub geometry: Option<Geometry<f64>>,
}

/// Why one feature could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// The JSON of the feature is malformed.
    #[error("feature {index}: malformed GeoJSON: {reason}")]
    Malformed {
        /// 0-based index.
        index: usize,
        /// Parser message (with line and column).
        reason: String,
    },
    /// The coordinates break a rule only raw input can break.
    #[error("feature {index}: {}", problems.iter().map(|p| p.kind.en()).collect::<Vec<_>>().join("; "))]
    Geometry {
        /// 0-based index.
        index: usize,
        /// The problems.
        problems: Vec<Problem>,
    },
}

/// Reads the CRS from the legacy `crs` member in the first bytes of a file; `None` means the
/// RFC 7946 default (WGS 84 longitude/latitude).
#[must_use]
pub fn detect_crs(head: &[u8]) -> Option<Crs> {
    let text = String::from_utf8_lossy(head);
    let at = text.find("\"crs\"")?;
    let rest = &text[at..];
    let rest = &rest[rest.find("\"properties\"")?..];
    let name_at = rest.find("\"name\"")?;
    let after = &rest[name_at + 6..];
    let start = after.find('"')? + 1;
    let len = after[start..].find('"')?;
    Crs::parse(&after[start..start + len]).ok()
}

/// Streams the features of a FeatureCollection.
pub fn read_features<R: Read>(reader: R) -> impl Iterator<Item = Result<Feature, FeatureError>> {
    geojson::FeatureReader::from_reader(reader)
        .features()
        .enumerate()
        .map(|(index, f)| {
            let f = f.map_err(|e| FeatureError::Malformed {
                index,
                reason: e.to_string(),
            })?;
            convert(index, f)
        })
}

/// Splits a FeatureCollection held in memory into the byte ranges of its features, without
/// parsing them: one pass that tracks nesting and strings.
///
/// # Errors
/// When the text is not a JSON object with a `features` array.
pub fn feature_spans(bytes: &[u8]) -> Result<Vec<(usize, usize)>, String> {
    // Bytes that matter outside strings; everything else (digits, commas, spaces) is skipped.
    const SPECIAL: [bool; 256] = {
        let mut t = [false; 256];
        t[b'"' as usize] = true;
        t[b'{' as usize] = true;
        t[b'}' as usize] = true;
        t[b'[' as usize] = true;
        t[b']' as usize] = true;
        t
    };
    let mut spans = Vec::new();
    let mut depth = 0usize;
    let mut last_key: &[u8] = b"";
    let mut features_depth: Option<usize> = None;
    let mut start = 0usize;
    let n = bytes.len();
    let mut i = 0usize;
    while i < n {
        let c = bytes[i];
        if !SPECIAL[c as usize] {
            i += 1;
            continue;
        }
        if c == b'"' {
            // Jump to the closing quote, skipping escaped characters.
            let string_start = i + 1;
            let mut j = string_start;
            loop {
                // An escape at the very end leaves `j` past the end: the string never closes.
                let rest = bytes.get(j..).unwrap_or_default();
                match memchr::memchr2(b'"', b'\\', rest) {
                    Some(k) if bytes[j + k] == b'\\' => j += k + 2,
                    Some(k) => {
                        j += k;
                        break;
                    }
                    None => return Err("the file ends inside a string (文件不完整)".into()),
                }
            }
            if depth == 1 {
                last_key = &bytes[string_start..j.min(n)];
            }
            i = j + 1;
            continue;
        }
        match c {
            b'{' | b'[' => {
                if c == b'[' && depth == 1 && last_key == b"features" {
                    features_depth = Some(depth + 1);
                }
                if c == b'{' && features_depth == Some(depth) {
                    start = i;
                }
                depth += 1;
            }
            _ => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced {} at byte {i}", c as char))?;
                if c == b'}' && features_depth == Some(depth) {
                    spans.push((start, i + 1));
                }
                if c == b']' && features_depth == Some(depth + 1) {
                    features_depth = None;
                }
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err("the file ends inside an object or array (文件不完整)".into());
    }
    if spans.is_empty() && !bytes.windows(10).any(|w| w == b"\"features\"") {
        return Err("not a GeoJSON FeatureCollection (不是 GeoJSON 要素集合)".into());
    }
    Ok(spans)
}

/// Parses every feature of a FeatureCollection held in memory, on all cores. A malformed
/// feature is reported with its index and the others are still read.
///
/// # Errors
/// When the text is not a FeatureCollection at all.
pub fn read_features_parallel(bytes: &[u8]) -> Result<Vec<Result<Feature, FeatureError>>, String> {
    use rayon::prelude::*;
    let spans = feature_spans(bytes)?;
    Ok(spans
        .par_iter()
        .enumerate()
        .map(|(index, &(a, b))| {
            let f: geojson::Feature =
                serde_json::from_slice(&bytes[a..b]).map_err(|e| FeatureError::Malformed {
                    index,
                    reason: e.to_string(),
                })?;
            convert(index, f)
        })
        .collect())
}

/// Reads a GeoJSON text that is a single Feature or a bare Geometry (as Amap/DataV boundary
/// files and many web tools write them) as one feature, index 0; `None` when it is neither (a
/// FeatureCollection, or not GeoJSON).
#[must_use]
pub fn single_feature(bytes: &[u8]) -> Option<Result<Feature, FeatureError>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let kind = value.get("type")?.as_str()?;
    match kind {
        "Feature" => Some(
            serde_json::from_value::<geojson::Feature>(value)
                .map_err(|e| FeatureError::Malformed {
                    index: 0,
                    reason: e.to_string(),
                })
                .and_then(|f| convert(0, f)),
        ),
        "Point" | "MultiPoint" | "LineString" | "MultiLineString" | "Polygon" | "MultiPolygon"
        | "GeometryCollection" => Some(
            serde_json::from_value::<geojson::Geometry>(value)
                .map_err(|e| FeatureError::Malformed {
                    index: 0,
                    reason: e.to_string(),
                })
                .and_then(|g| {
                    convert(
                        0,
                        geojson::Feature {
                            bbox: None,
                            geometry: Some(g),
                            id: None,
                            properties: None,
                            foreign_members: None,
                        },
                    )
                }),
        ),
        _ => None,
    }
}

/// Parses one feature object (as sliced out by [`feature_spans`]).
///
/// # Errors
/// Malformed JSON or raw-coordinate problems, with `index`.
pub fn parse_feature(bytes: &[u8], index: usize) -> Result<Feature, FeatureError> {
    let f: geojson::Feature =
        serde_json::from_slice(bytes).map_err(|e| FeatureError::Malformed {
            index,
            reason: e.to_string(),
        })?;
    convert(index, f)
}

fn convert(index: usize, f: geojson::Feature) -> Result<Feature, FeatureError> {
    let geometry = match &f.geometry {
        Some(g) => Some(
            geometry_from_value(&g.value)
                .map_err(|problems| FeatureError::Geometry { index, problems })?,
        ),
        None => None,
    };
    let id = f.id.map(|id| match id {
        geojson::feature::Id::String(s) => s,
        geojson::feature::Id::Number(n) => n.to_string(),
    });
    Ok(Feature {
        index,
        id,
        properties: f.properties.unwrap_or_default(),
        geometry,
    })
}

fn coord(p: &Position, vertex: usize, ring: Option<Ring>, out: &mut Vec<Problem>) -> Coord<f64> {
    let s = p.as_slice();
    if s.len() < 2 {
        out.push(Problem {
            kind: ProblemKind::TooFewPoints,
            part: None,
            ring,
            vertex: Some(vertex),
            location: None,
        });
        return Coord {
            x: f64::NAN,
            y: f64::NAN,
        };
    }
    Coord { x: s[0], y: s[1] }
}

fn line(ps: &[Position], ring: Option<Ring>, out: &mut Vec<Problem>) -> LineString<f64> {
    LineString(
        ps.iter()
            .enumerate()
            .map(|(i, p)| coord(p, i, ring, out))
            .collect(),
    )
}

fn polygon(rings: &[Vec<Position>], part: Option<usize>, out: &mut Vec<Problem>) -> Polygon<f64> {
    let mut lines = Vec::with_capacity(rings.len());
    for (i, r) in rings.iter().enumerate() {
        let role = if i == 0 {
            Ring::Exterior
        } else {
            Ring::Interior(i - 1)
        };
        let ls = line(r, Some(role), out);
        if ls.0.len() < 4 {
            out.push(Problem {
                kind: ProblemKind::TooFewPoints,
                part,
                ring: Some(role),
                vertex: None,
                location: ls.0.first().copied(),
            });
        } else if ls.0.first() != ls.0.last() {
            out.push(Problem {
                kind: ProblemKind::RingNotClosed,
                part,
                ring: Some(role),
                vertex: Some(ls.0.len() - 1),
                location: ls.0.last().copied(),
            });
        }
        lines.push(ls);
    }
    let mut it = lines.into_iter();
    let exterior = it.next().unwrap_or_else(|| LineString(vec![]));
    Polygon::new(exterior, it.collect())
}

/// Converts a GeoJSON geometry, checking ring closure and positions.
///
/// # Errors
/// Every raw-coordinate problem found.
pub fn geometry_from_value(v: &GeometryValue) -> Result<Geometry<f64>, Vec<Problem>> {
    let mut problems = Vec::new();
    let g: Geometry<f64> = match v {
        GeometryValue::Point { coordinates } => {
            Point(coord(coordinates, 0, None, &mut problems)).into()
        }
        GeometryValue::MultiPoint { coordinates } => MultiPoint(
            coordinates
                .iter()
                .enumerate()
                .map(|(i, p)| Point(coord(p, i, None, &mut problems)))
                .collect(),
        )
        .into(),
        GeometryValue::LineString { coordinates } => line(coordinates, None, &mut problems).into(),
        GeometryValue::MultiLineString { coordinates } => MultiLineString(
            coordinates
                .iter()
                .map(|l| line(l, None, &mut problems))
                .collect(),
        )
        .into(),
        GeometryValue::Polygon { coordinates } => polygon(coordinates, None, &mut problems).into(),
        GeometryValue::MultiPolygon { coordinates } => MultiPolygon(
            coordinates
                .iter()
                .enumerate()
                .map(|(i, p)| polygon(p, Some(i), &mut problems))
                .collect(),
        )
        .into(),
        GeometryValue::GeometryCollection { geometries } => {
            let mut parts = Vec::with_capacity(geometries.len());
            for (i, g) in geometries.iter().enumerate() {
                match geometry_from_value(&g.value) {
                    Ok(g) => parts.push(g),
                    Err(ps) => problems.extend(ps.into_iter().map(|mut p| {
                        p.part = Some(i);
                        p
                    })),
                }
            }
            Geometry::GeometryCollection(geo_types::GeometryCollection(parts))
        }
    };
    if problems.is_empty() {
        Ok(g)
    } else {
        Err(problems)
    }
}

/// Parses one GeoJSON geometry object from text.
///
/// # Errors
/// Malformed JSON (as a single problem-free message) or raw-coordinate problems.
pub fn parse_geometry(text: &str) -> Result<Geometry<f64>, FeatureError> {
    let g: geojson::Geometry = serde_json::from_str(text).map_err(|e| FeatureError::Malformed {
        index: 0,
        reason: e.to_string(),
    })?;
    geometry_from_value(&g.value).map_err(|problems| FeatureError::Geometry { index: 0, problems })
}

/// A polygonal area drawn on the map: a GeoJSON Polygon or MultiPolygon in longitude and
/// latitude, valid, with its ellipsoidal area in m². The message says what is wrong (in
/// Chinese, then English), for the caller to attach to its field.
///
/// # Errors
/// Not GeoJSON, not polygonal, outside longitude/latitude, or invalid.
pub fn lonlat_area(value: &Value) -> Result<(Geometry<f64>, f64), (String, String)> {
    let geom = parse_geometry(&value.to_string()).map_err(|e| (e.to_string(), e.to_string()))?;
    if !matches!(geom, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
        return Err(("不是面".into(), "not a polygon".into()));
    }
    let outside = geo::BoundingRect::bounding_rect(&geom).is_none_or(|r| {
        r.min().x < -180.0 || r.max().x > 180.0 || r.min().y < -90.0 || r.max().y > 90.0
    });
    if outside {
        return Err((
            "坐标超出经纬度范围".into(),
            "coordinates outside longitude/latitude".into(),
        ));
    }
    if let Some(p) = crate::validity::problems(&geom).first() {
        let m = tudi_core::msg::Bilingual::msg(p);
        return Err((m.zh, m.en));
    }
    let area = geo::GeodesicArea::geodesic_area_unsigned(&geom);
    Ok((geom, area))
}

/// Serialises a geometry as a GeoJSON geometry object.
#[must_use]
pub fn geometry_to_value(geom: &Geometry<f64>) -> Value {
    serde_json::to_value(geojson::Geometry::from(geom)).unwrap_or(Value::Null)
}

/// Streams a FeatureCollection to a writer.
pub struct Writer<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> Writer<W> {
    /// Starts a collection; a `crs` member is written unless the CRS is WGS 84.
    ///
    /// # Errors
    /// I/O errors of the writer.
    pub fn new(mut out: W, crs: Crs, name: Option<&str>) -> std::io::Result<Self> {
        out.write_all(b"{\"type\":\"FeatureCollection\"")?;
        if let Some(n) = name {
            write!(out, ",\"name\":{}", Value::String(n.to_owned()))?;
        }
        if crs != Crs::WGS84 {
            write!(
                out,
                ",\"crs\":{{\"type\":\"name\",\"properties\":{{\"name\":\"urn:ogc:def:crs:EPSG::{}\"}}}}",
                crs.epsg()
            )?;
        }
        out.write_all(b",\"features\":[\n")?;
        Ok(Self { out, first: true })
    }

    /// Writes one feature.
    ///
    /// # Errors
    /// I/O errors of the writer.
    pub fn write(
        &mut self,
        id: Option<&str>,
        properties: &Map<String, Value>,
        geometry: Option<&Geometry<f64>>,
    ) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        self.out.write_all(b"{\"type\":\"Feature\"")?;
        if let Some(id) = id {
            write!(self.out, ",\"id\":{}", Value::String(id.to_owned()))?;
        }
        self.out.write_all(b",\"properties\":")?;
        serde_json::to_writer(&mut self.out, properties)?;
        self.out.write_all(b",\"geometry\":")?;
        match geometry {
            Some(g) => serde_json::to_writer(&mut self.out, &geojson::Geometry::from(g))?,
            None => self.out.write_all(b"null")?,
        }
        self.out.write_all(b"}")
    }

    /// Closes the collection and returns the writer.
    ///
    /// # Errors
    /// I/O errors of the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `geojson` fuzz target: a file cut off right after a backslash inside a
    /// string made the splitter index past the end.
    #[test]
    fn a_file_ending_in_an_escape_is_refused_not_crashed_on() {
        for text in [r#"{"features":[{"a":"x\"#, r#"{"a":"\"#, "\"\\"] {
            assert!(feature_spans(text.as_bytes()).is_err(), "{text}");
            assert!(read_features_parallel(text.as_bytes()).is_err());
        }
    }

    #[test]
    fn reports_an_unclosed_ring_with_its_position() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"a":1},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
            {"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}
        ]}"#;
        let items: Vec<_> = read_features(text.as_bytes()).collect();
        assert!(items[0].is_ok());
        match &items[1] {
            Err(FeatureError::Geometry { index: 1, problems }) => {
                assert_eq!(problems[0].kind, ProblemKind::RingNotClosed);
                assert_eq!(problems[0].location, Some(Coord { x: 0.0, y: 1.0 }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parallel_reading_finds_every_feature_and_reports_bad_ones() {
        let text = br#"{"type":"FeatureCollection","name":"a [tricky] {name} \"q\"","features":[
            {"type":"Feature","properties":{"s":"}{]["},"geometry":{"type":"Point","coordinates":[1,2]}},
            {"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1]}},
            {"type":"Feature","properties":{"a":[1,{"b":2}]},"geometry":null}
        ],"bbox":[0,0,1,1]}"#;
        let items = read_features_parallel(text).unwrap();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok());
        assert!(matches!(
            items[1],
            Err(FeatureError::Geometry { index: 1, .. } | FeatureError::Malformed { index: 1, .. })
        ));
        assert_eq!(items[2].as_ref().unwrap().geometry, None);
        assert!(feature_spans(b"{\"features\":[{}").is_err());
        assert!(feature_spans(b"[1,2,3]").is_err());
    }

    #[test]
    fn writes_what_it_reads_with_the_crs_member() {
        let mut props = Map::new();
        props.insert("名称".into(), Value::String("桂城".into()));
        let g: Geometry<f64> = Point::new(500_000.0, 2_550_000.0).into();
        let mut w = Writer::new(Vec::new(), Crs::from_epsg(4547).unwrap(), Some("t")).unwrap();
        w.write(Some("a1"), &props, Some(&g)).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(detect_crs(&bytes), Some(Crs::from_epsg(4547).unwrap()));
        let back: Vec<Feature> = read_features(bytes.as_slice())
            .map(Result::unwrap)
            .collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].id.as_deref(), Some("a1"));
        assert_eq!(back[0].properties, props);
        assert_eq!(back[0].geometry.as_ref(), Some(&g));
    }
}
