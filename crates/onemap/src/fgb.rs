//! FlatGeobuf reading and writing. Exports carry the CRS code and the packed Hilbert R-tree
//! index, so GDAL and web clients can read them by bounding box.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use flatgeobuf::{
    ColumnType, FallibleStreamingIterator, FeatureProperties, FgbCrs, FgbReader, FgbWriter,
    FgbWriterOptions, GeometryType,
};
use geo_types::Geometry;
use geozero::{ColumnValue, PropertyProcessor, ToGeo};
use serde_json::{Map, Value};
use tudi_core::layer::FieldType;
use tudi_geo::crs::Crs;
use tudi_store::{FeatureRow, LayerDef};

/// One feature read from a FlatGeobuf file.
pub struct FgbFeature {
    /// 0-based position.
    pub index: usize,
    /// Properties by column name.
    pub properties: Map<String, Value>,
    /// Geometry, or why it could not be decoded.
    pub geometry: Result<Option<Geometry<f64>>, String>,
}

struct Collect(Map<String, Value>);

impl PropertyProcessor for Collect {
    fn property(&mut self, _i: usize, name: &str, v: &ColumnValue) -> geozero::error::Result<bool> {
        let value = match v {
            ColumnValue::Byte(x) => Value::from(*x),
            ColumnValue::UByte(x) => Value::from(*x),
            ColumnValue::Bool(x) => Value::Bool(*x),
            ColumnValue::Short(x) => Value::from(*x),
            ColumnValue::UShort(x) => Value::from(*x),
            ColumnValue::Int(x) => Value::from(*x),
            ColumnValue::UInt(x) => Value::from(*x),
            ColumnValue::Long(x) => Value::from(*x),
            ColumnValue::ULong(x) => Value::from(*x),
            ColumnValue::Float(x) => Value::from(f64::from(*x)),
            ColumnValue::Double(x) => Value::from(*x),
            ColumnValue::String(s) | ColumnValue::Json(s) | ColumnValue::DateTime(s) => {
                Value::String((*s).to_owned())
            }
            ColumnValue::Binary(_) => Value::Null,
        };
        self.0.insert(name.to_owned(), value);
        Ok(false)
    }
}

/// A FlatGeobuf file as read: its CRS, its features, and whether its geometries carried Z and
/// M values (which tudi does not keep).
pub struct FgbFile {
    /// The CRS its header names.
    pub crs: Option<Crs>,
    /// Every feature.
    pub features: Vec<FgbFeature>,
    /// Z values present.
    pub z: bool,
    /// M values present.
    pub m: bool,
}

/// Reads every feature of a FlatGeobuf file.
///
/// # Errors
/// A message naming the malformed part.
pub fn read(path: &Path) -> Result<FgbFile, String> {
    let mut file = BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let reader = FgbReader::open(&mut file)
        .map_err(|e| format!("not a FlatGeobuf file (不是 FlatGeobuf 文件): {e}"))?;
    let crs = reader
        .header()
        .crs()
        .and_then(|c| u32::try_from(c.code()).ok())
        .and_then(|c| Crs::from_epsg(c).ok());
    let (z, m) = (reader.header().has_z(), reader.header().has_m());
    let mut iter = reader.select_all_seq().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut index = 0;
    while let Some(feature) = iter.next().map_err(|e| format!("feature {index}: {e}"))? {
        let mut props = Collect(Map::new());
        let _ = feature.process_properties(&mut props);
        let geometry = feature.to_geo().map(Some).map_err(|e| e.to_string());
        out.push(FgbFeature {
            index,
            properties: props.0,
            geometry,
        });
        index += 1;
    }
    Ok(FgbFile {
        crs,
        features: out,
        z,
        m,
    })
}

/// Writes a layer as FlatGeobuf with a spatial index.
///
/// # Errors
/// A message naming what failed.
pub fn write(
    path: &Path,
    def: &LayerDef,
    crs: Crs,
    features: &mut dyn Iterator<Item = FeatureRow>,
) -> Result<u64, String> {
    // Areal and point layers are written as their one (multi) type. Anything else — lines, or
    // a layer of any geometry — keeps each feature's own type under an open header, with a
    // one-part MultiLineString written as the LineString it is: the format lets a one-part
    // MultiLineString omit its part ends, and GDAL 3.6 cannot read one that does ("Unexpected
    // nullptr: MultiLineString ends data").
    let geometry_type = match def.geometry_type.as_str() {
        "MULTIPOLYGON" => GeometryType::MultiPolygon,
        "POLYGON" => GeometryType::Polygon,
        "POINT" => GeometryType::Point,
        "MULTIPOINT" => GeometryType::MultiPoint,
        _ => GeometryType::Unknown,
    };
    let open = geometry_type == GeometryType::Unknown;
    let options = FgbWriterOptions {
        write_index: true,
        detect_type: !open,
        promote_to_multi: !open,
        crs: FgbCrs {
            code: i32::try_from(crs.epsg()).unwrap_or(0),
            ..FgbCrs::default()
        },
        title: Some(&def.title),
        ..FgbWriterOptions::default()
    };
    let mut fgb = FgbWriter::create_with_options(&def.name, geometry_type, options)
        .map_err(|e| e.to_string())?;
    fgb.add_column("feature_id", ColumnType::String, |_, c| c.nullable = true);
    for f in &def.fields {
        let t = match f.field_type {
            FieldType::Text | FieldType::Date => ColumnType::String,
            FieldType::Integer => ColumnType::Long,
            FieldType::Real => ColumnType::Double,
            FieldType::Boolean => ColumnType::Bool,
        };
        fgb.add_column(&f.name, t, |_, c| c.nullable = true);
    }
    let mut n = 0u64;
    for (id, geometry, attrs) in features {
        let geometry = match geometry {
            Geometry::MultiLineString(mut ml) if ml.0.len() == 1 => {
                Geometry::LineString(ml.0.remove(0))
            }
            g => g,
        };
        let id_text = id.to_string();
        let mut failed = None;
        fgb.add_feature_geom(geometry, |w| {
            let mut put = |i: usize, name: &str, v: &ColumnValue| {
                if let Err(e) = w.property(i, name, v) {
                    failed.get_or_insert(e.to_string());
                }
            };
            put(0, "feature_id", &ColumnValue::String(&id_text));
            for (i, f) in def.fields.iter().enumerate() {
                let text;
                let v = match (f.field_type, attrs.get(&f.name)) {
                    (_, None | Some(Value::Null)) => continue,
                    (FieldType::Integer, Some(v)) => {
                        ColumnValue::Long(v.as_i64().unwrap_or_default())
                    }
                    (FieldType::Real, Some(v)) => {
                        ColumnValue::Double(v.as_f64().unwrap_or_default())
                    }
                    (FieldType::Boolean, Some(v)) => {
                        ColumnValue::Bool(v.as_bool().unwrap_or_default())
                    }
                    (_, Some(Value::String(s))) => ColumnValue::String(s),
                    (_, Some(other)) => {
                        text = other.to_string();
                        ColumnValue::String(&text)
                    }
                };
                put(i + 1, &f.name, &v);
            }
        })
        .map_err(|e| format!("feature {id}: {e}"))?;
        if let Some(e) = failed {
            return Err(format!("feature {id}: {e}"));
        }
        n += 1;
    }
    let file = File::create(path).map_err(|e| e.to_string())?;
    fgb.write(BufWriter::new(file)).map_err(|e| e.to_string())?;
    Ok(n)
}
