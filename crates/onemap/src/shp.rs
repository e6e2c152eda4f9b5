//! Shapefile reading and writing (`.shp`, `.shx`, `.dbf`, `.prj`, `.cpg`).
//!
//! Chinese shapefiles come in two encodings: UTF-8 (with a `.cpg` saying so) and GBK, often with no
//! `.cpg` at all. The encoding is taken from the `.cpg` when present, else from the DBF's language
//! driver byte (0x4D = code page 936), else by checking whether the attribute bytes are valid
//! UTF-8 (GBK text almost never is). The CRS is read from the `.prj` (EPSG authority, or the
//! CGCS2000 Gauss–Krüger names ArcGIS writes). Exports are UTF-8 with a `.cpg` and a `.prj`.
//!
//! DBF field names hold at most 10 bytes: longer names are shortened on export (and kept unique).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

use geo_types::Geometry;
use serde_json::{Map, Value};
use shapefile::dbase::{self, FieldValue};
use tudi_core::layer::FieldType;
use tudi_core::msg::Msg;
use tudi_geo::crs::Crs;
use tudi_store::{FeatureRow, LayerDef};

/// One record read from a shapefile.
pub struct ShpFeature {
    /// 0-based record number.
    pub index: usize,
    /// Attributes by DBF field name.
    pub properties: Map<String, Value>,
    /// The shape; `None` for a null shape; `Err` when it cannot be converted.
    pub geometry: Result<Option<Geometry<f64>>, String>,
}

/// The text encoding of a DBF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbfEncoding {
    /// UTF-8.
    Utf8,
    /// GBK (code page 936).
    Gbk,
}

/// Decides the DBF encoding: `.cpg`, then the language driver byte, then a UTF-8 check.
///
/// # Errors
/// When the `.dbf` cannot be read.
pub fn detect_encoding(shp: &Path) -> std::io::Result<DbfEncoding> {
    if let Ok(label) = std::fs::read_to_string(shp.with_extension("cpg")) {
        let l = label
            .trim()
            .trim_start_matches('\u{feff}')
            .to_ascii_uppercase();
        if matches!(l.as_str(), "GBK" | "936" | "CP936" | "GB2312" | "GB18030") {
            return Ok(DbfEncoding::Gbk);
        }
        if matches!(l.as_str(), "UTF-8" | "UTF8" | "65001") {
            return Ok(DbfEncoding::Utf8);
        }
    }
    let bytes = std::fs::read(shp.with_extension("dbf"))?;
    if bytes.get(29) == Some(&0x4D) {
        return Ok(DbfEncoding::Gbk);
    }
    let header_len = bytes
        .get(8..10)
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let body = bytes.get(header_len..).unwrap_or_default();
    Ok(if std::str::from_utf8(body).is_ok() {
        DbfEncoding::Utf8
    } else {
        DbfEncoding::Gbk
    })
}

/// Reads the CRS from a `.prj` next to the shapefile.
#[must_use]
pub fn read_prj(shp: &Path) -> Option<Crs> {
    let wkt = std::fs::read_to_string(shp.with_extension("prj")).ok()?;
    crs_from_wkt(&wkt)
}

/// Recognises a CRS in OGC or ESRI WKT.
#[must_use]
pub fn crs_from_wkt(wkt: &str) -> Option<Crs> {
    // The last EPSG authority is the CRS's own (earlier ones belong to its parts).
    if let Some(at) = wkt.rfind("AUTHORITY[\"EPSG\",\"") {
        let rest = &wkt[at + 18..];
        let code = rest.find('"').and_then(|end| rest[..end].parse().ok());
        if let Some(c) = code.and_then(|c| Crs::from_epsg(c).ok()) {
            return Some(c);
        }
    }
    let upper = wkt.to_ascii_uppercase().replace(['_', ' '], "");
    let number_after = |key: &str| -> Option<u32> {
        let at = upper.find(key)? + key.len();
        let digits: String = upper[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    if upper.contains("2000") {
        if let Some(cm) = number_after("GKCM").or_else(|| number_after("GAUSS-KRUGERCM")) {
            return Crs::from_epsg(4534 + cm / 3 - 25).ok();
        }
        if let Some(zone) = number_after("GKZONE").or_else(|| number_after("GAUSS-KRUGERZONE")) {
            return Crs::from_epsg(4513 + zone - 25).ok();
        }
        if !upper.contains("PROJCS") {
            return Some(Crs::CGCS2000);
        }
    }
    if !upper.contains("PROJCS") && upper.contains("WGS1984")
        || upper.contains("WGS84") && !upper.contains("PROJCS")
    {
        return Some(Crs::WGS84);
    }
    None
}

fn value(v: FieldValue) -> Value {
    match v {
        FieldValue::Character(Some(s)) | FieldValue::Memo(s) => {
            Value::String(s.trim_end().to_owned())
        }
        FieldValue::Numeric(Some(f)) | FieldValue::Double(f) | FieldValue::Currency(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(f as i64)
            } else {
                Value::from(f)
            }
        }
        FieldValue::Float(Some(f)) => Value::from(f64::from(f)),
        FieldValue::Integer(i) => Value::from(i),
        FieldValue::Logical(Some(b)) => Value::Bool(b),
        FieldValue::Date(Some(d)) => {
            Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        }
        FieldValue::DateTime(dt) => {
            let d = dt.date();
            Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        }
        _ => Value::Null,
    }
}

/// Reads every record of a shapefile.
///
/// # Errors
/// A message naming the missing or malformed part.
pub fn read(shp: &Path) -> Result<(Option<Crs>, Vec<ShpFeature>), String> {
    let encoding = detect_encoding(shp)
        .map_err(|e| format!("{}: {e}", shp.with_extension("dbf").display()))?;
    let shapes = std::fs::File::open(shp).map_err(|e| format!("{}: {e}", shp.display()))?;
    let dbf = std::fs::File::open(shp.with_extension("dbf")).map_err(|e| {
        format!(
            "{}: {e} (缺少 .dbf 文件)",
            shp.with_extension("dbf").display()
        )
    })?;
    let features = read_from(BufReader::new(shapes), BufReader::new(dbf), encoding)?;
    Ok((read_prj(shp), features))
}

/// Whether the shapefile's shapes carry Z and M values (from its header; `(false, false)` when
/// it cannot be read).
#[must_use]
pub fn dims(shp: &Path) -> (bool, bool) {
    shapefile::ShapeReader::from_path(shp).map_or((false, false), |r| {
        let t = r.header().shape_type;
        (t.has_z(), t.has_m())
    })
}

/// Reads every record from the bytes of a `.shp` and its `.dbf` (the `.shx` index is not
/// needed to read in order), the DBF's text in `encoding`. Malformed input of any kind is an
/// error naming the record, never a panic.
///
/// # Errors
/// A message naming the malformed part.
pub fn read_from<S, D>(shapes: S, dbf: D, encoding: DbfEncoding) -> Result<Vec<ShpFeature>, String>
where
    S: std::io::Read + std::io::Seek,
    D: std::io::Read + std::io::Seek,
{
    let shape_reader = shapefile::ShapeReader::new(shapes).map_err(|e| e.to_string())?;
    let builder = match encoding {
        DbfEncoding::Gbk => dbase::ReaderBuilder::new()
            .with_encoding(dbase::encoding::EncodingRs::from(encoding_rs::GBK)),
        DbfEncoding::Utf8 => {
            dbase::ReaderBuilder::new().with_encoding(dbase::encoding::UnicodeLossy)
        }
    };
    let dbf_reader = builder.build(dbf).map_err(|e| e.to_string())?;
    let mut reader = shapefile::Reader::new(shape_reader, dbf_reader);
    let mut out = Vec::new();
    for (index, item) in reader.iter_shapes_and_records().enumerate() {
        let (shape, record) =
            item.map_err(|e| format!("record {index}: {e} (第 {index} 条记录无法读取)"))?;
        let geometry = match shape {
            shapefile::Shape::NullShape => Ok(None),
            s => Geometry::<f64>::try_from(s)
                .map(Some)
                .map_err(|e| e.to_string()),
        };
        let sorted: BTreeMap<String, FieldValue> = record.into_iter().collect();
        let properties = sorted.into_iter().map(|(k, v)| (k, value(v))).collect();
        out.push(ShpFeature {
            index,
            properties,
            geometry,
        });
    }
    Ok(out)
}

/// DBF names for the layer's fields: at most 10 bytes, unique.
#[must_use]
pub fn dbf_names(names: &[&str]) -> Vec<String> {
    let mut used: Vec<String> = Vec::new();
    for n in names {
        let mut base: String = n.chars().take(10).collect();
        let mut k = 1;
        while used.iter().any(|u| u.eq_ignore_ascii_case(&base)) {
            let suffix = k.to_string();
            base = format!(
                "{}{suffix}",
                n.chars().take(10 - suffix.len()).collect::<String>()
            );
            k += 1;
        }
        used.push(base);
    }
    used
}

/// What a Shapefile export had to change: text cut to the DBF's 254 bytes, per field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShpWarnings {
    /// Field name → how many values were cut.
    pub cut: BTreeMap<String, u64>,
}

impl ShpWarnings {
    /// The warnings for people, one per field.
    #[must_use]
    pub fn messages(&self) -> Vec<Msg> {
        self.cut
            .iter()
            .map(|(field, n)| {
                Msg::new(
                    format!(
                        "字段 {field}：{n} 个值超过 Shapefile 文本字段的 {DBF_TEXT_BYTES} 字节（约 84 个汉字），已截断；完整内容请导出为 GeoPackage 或 FlatGeobuf"
                    ),
                    format!(
                        "field {field}: {n} values longer than a Shapefile text field's {DBF_TEXT_BYTES} bytes (about 84 Chinese characters) were cut; export to GeoPackage or FlatGeobuf for the whole text"
                    ),
                )
            })
            .collect()
    }
}

/// Bytes a DBF character field holds.
pub const DBF_TEXT_BYTES: usize = 254;

/// The longest start of `s` that fits in `max` bytes, ending on a character boundary.
fn cut_to(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The shapefile shape family of a geometry (a shapefile holds one).
fn family(g: &Geometry<f64>) -> Option<&'static str> {
    match g {
        Geometry::Point(_) => Some("点 / point"),
        Geometry::MultiPoint(_) => Some("多点 / multipoint"),
        Geometry::LineString(_) | Geometry::MultiLineString(_) => Some("线 / line"),
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) | Geometry::Rect(_) => {
            Some("面 / polygon")
        }
        _ => None,
    }
}

/// Writes a layer as a shapefile in UTF-8 (with `.cpg` and `.prj`): points, multipoints, lines
/// and polygons, each layer one of them as the format requires. Text longer than a DBF field
/// holds is cut at a character and counted per field.
///
/// # Errors
/// A message naming the feature when the layer mixes shape families or holds a geometry a
/// shapefile cannot, or the write failed.
pub fn write(
    shp: &Path,
    def: &LayerDef,
    crs: Crs,
    features: &mut dyn Iterator<Item = FeatureRow>,
) -> Result<(u64, ShpWarnings), String> {
    let mut names: Vec<&str> = vec!["feature_id"];
    names.extend(def.fields.iter().map(|f| f.name.as_str()));
    let dbf = dbf_names(&names);
    let field_name = |s: &str| dbase::FieldName::try_from(s).map_err(|e| format!("{s}: {e}"));
    let mut builder = dbase::TableWriterBuilder::with_encoding(dbase::encoding::UnicodeLossy)
        .add_character_field(field_name(&dbf[0])?, 36);
    for (f, n) in def.fields.iter().zip(&dbf[1..]) {
        let name = field_name(n)?;
        builder = match f.field_type {
            FieldType::Text => builder.add_character_field(name, 254),
            FieldType::Integer => builder.add_numeric_field(name, 18, 0),
            FieldType::Real => builder.add_numeric_field(name, 24, 6),
            FieldType::Date => builder.add_date_field(name),
            FieldType::Boolean => builder.add_logical_field(name),
        };
    }
    let shape_writer = shapefile::ShapeWriter::from_path(shp).map_err(|e| e.to_string())?;
    let table = builder
        .build_with_file_dest(shp.with_extension("dbf"))
        .map_err(|e| e.to_string())?;
    let mut writer = shapefile::Writer::new(shape_writer, table);
    let mut warnings = ShpWarnings::default();
    let mut first_family: Option<&'static str> = None;
    let mut n = 0u64;
    for (id, geometry, attrs) in features {
        let Some(fam) = family(&geometry) else {
            return Err(format!(
                "要素 {id} 是 {}，Shapefile 不能保存，请导出为 GeoPackage / feature {id} is a geometry a shapefile cannot hold: export to GeoPackage",
                geometry_name(&geometry)
            ));
        };
        match first_family {
            None => first_family = Some(fam),
            Some(f) if f != fam => {
                return Err(format!(
                    "Shapefile 只能保存一种几何类型：图层中既有{f}又有{fam}（要素 {id}），请导出为 GeoPackage / a shapefile holds one shape type: the layer has both {f} and {fam} (feature {id}); export to GeoPackage"
                ));
            }
            Some(_) => {}
        }
        let mut record = dbase::Record::default();
        record.insert(dbf[0].clone(), FieldValue::Character(Some(id.to_string())));
        for (f, name) in def.fields.iter().zip(&dbf[1..]) {
            let v = attrs.get(&f.name).unwrap_or(&Value::Null);
            let mut text = |s: &str| {
                let kept = cut_to(s, DBF_TEXT_BYTES);
                if kept.len() < s.len() {
                    *warnings.cut.entry(f.name.clone()).or_default() += 1;
                }
                FieldValue::Character(Some(kept.to_owned()))
            };
            let fv = match (f.field_type, v) {
                (FieldType::Text, Value::Null) => FieldValue::Character(None),
                (FieldType::Text, Value::String(s)) => text(s),
                (FieldType::Text, other) => text(&other.to_string()),
                (FieldType::Integer | FieldType::Real, v) => FieldValue::Numeric(v.as_f64()),
                (FieldType::Boolean, v) => FieldValue::Logical(v.as_bool()),
                (FieldType::Date, Value::String(s)) => {
                    let parts: Vec<u32> = s.split('-').filter_map(|p| p.parse().ok()).collect();
                    FieldValue::Date(match parts.as_slice() {
                        [y, m, d] => dbase::Date::new(*d, *m, *y).ok(),
                        _ => None,
                    })
                }
                (FieldType::Date, _) => FieldValue::Date(None),
            };
            record.insert(name.clone(), fv);
        }
        let written = match geometry {
            Geometry::Polygon(p) => {
                writer.write_shape_and_record(&shapefile::Polygon::from(p), &record)
            }
            Geometry::MultiPolygon(mp) => {
                writer.write_shape_and_record(&shapefile::Polygon::from(mp), &record)
            }
            Geometry::Rect(r) => {
                writer.write_shape_and_record(&shapefile::Polygon::from(r.to_polygon()), &record)
            }
            Geometry::LineString(l) => {
                writer.write_shape_and_record(&shapefile::Polyline::from(l), &record)
            }
            Geometry::MultiLineString(ml) => {
                writer.write_shape_and_record(&shapefile::Polyline::from(ml), &record)
            }
            Geometry::Point(p) => {
                writer.write_shape_and_record(&shapefile::Point::from(p), &record)
            }
            Geometry::MultiPoint(mp) => {
                writer.write_shape_and_record(&shapefile::Multipoint::from(mp), &record)
            }
            other => {
                return Err(format!(
                    "要素 {id} 是 {}，Shapefile 不能保存 / feature {id} cannot be held by a shapefile",
                    geometry_name(&other)
                ));
            }
        };
        written
            .map_err(|e| format!("要素 {id} 写入失败 / feature {id} could not be written: {e}"))?;
        n += 1;
    }
    drop(writer);
    std::fs::write(shp.with_extension("cpg"), "UTF-8").map_err(|e| e.to_string())?;
    std::fs::write(shp.with_extension("prj"), crs.wkt()).map_err(|e| e.to_string())?;
    Ok((n, warnings))
}

fn geometry_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::GeometryCollection(_) => "几何集合 / a geometry collection",
        Geometry::Line(_) => "线段 / a line segment",
        Geometry::Triangle(_) => "三角形 / a triangle",
        _ => "其他几何 / another geometry",
    }
}

/// Removes the files of a shapefile (after a failed export).
pub fn remove(shp: &Path) {
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        let _ = std::fs::remove_file(shp.with_extension(ext));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_chinese_crs_names() {
        let esri = r#"PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000"]]"#;
        assert_eq!(crs_from_wkt(esri), Crs::from_epsg(4547).ok());
        let zone = r#"PROJCS["CGCS2000_3_Degree_GK_Zone_38",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000"]]"#;
        assert_eq!(crs_from_wkt(zone), Crs::from_epsg(4526).ok());
        assert_eq!(
            crs_from_wkt(Crs::from_epsg(4547).unwrap().wkt()),
            Crs::from_epsg(4547).ok()
        );
        assert_eq!(
            crs_from_wkt(r#"GEOGCS["GCS_China_Geodetic_Coordinate_System_2000"]"#),
            Some(Crs::CGCS2000)
        );
    }

    #[test]
    fn dbf_names_fit_ten_bytes_and_stay_unique() {
        assert_eq!(
            dbf_names(&["village_code", "village_count", "code"]),
            ["village_co", "village_c1", "code"]
        );
    }
}
