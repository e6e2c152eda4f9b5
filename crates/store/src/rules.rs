//! The rules every backend applies the same way: what a layer definition may be, how attribute
//! values are checked and converted, how geometries fit a layer, how instants are written, and
//! what the audit log digests. Keeping them here is what lets a chain written on one backend
//! verify on the other, and a feature refused by one be refused by the other with the same words.

use geo_types::{Geometry, MultiPolygon};
use jiff::Timestamp;
use serde_json::{Map, Value};
use tudi_core::layer::{FieldDef, FieldType, is_valid_identifier};
use uuid::Uuid;

use crate::audit;
use crate::{LayerDef, Result, StoreError};

/// A field value as stored, in the four storage classes both backends share.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// Integers and booleans (0/1).
    Integer(i64),
    /// Real numbers.
    Real(f64),
    /// Text and dates (`YYYY-MM-DD`).
    Text(String),
}

/// Formats an instant with fixed width, so that text comparison orders instants.
#[must_use]
pub fn format_ts(ts: Timestamp) -> String {
    format!(
        "{}.{:06}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ts.subsec_microsecond()
    )
}

/// Reads an instant written by [`format_ts`] (the epoch for anything else).
#[must_use]
pub fn parse_ts(text: &str) -> Timestamp {
    text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A record collection or key name: lower-case ASCII letters, digits, `_` and `-`, at most 64.
#[must_use]
pub fn is_record_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// How a conflict names a record version (`absent`, `version 3`).
#[must_use]
pub fn describe_version(version: Option<u64>) -> String {
    version.map_or_else(|| "absent".to_owned(), |v| format!("version {v}"))
}

/// Checks one write's expectation against the version found.
///
/// # Errors
/// [`StoreError::Conflict`] when they differ.
pub fn check_expectation(w: &crate::RecordWrite, found: Option<u64>) -> Result<()> {
    let ok = match w.expect {
        crate::Expect::Absent => found.is_none(),
        crate::Expect::Present => found.is_some(),
        crate::Expect::Version(v) => found == Some(v),
    };
    if ok {
        return Ok(());
    }
    Err(StoreError::Conflict {
        collection: w.collection.clone(),
        id: w.id.clone(),
        expected: match w.expect {
            crate::Expect::Absent => "absent".into(),
            crate::Expect::Present => "present".into(),
            crate::Expect::Version(v) => describe_version(Some(v)),
        },
        found: describe_version(found),
    })
}

/// Checks the names a write uses.
///
/// # Errors
/// [`StoreError::BadName`].
pub fn check_names(w: &crate::RecordWrite) -> Result<()> {
    for name in std::iter::once(&w.collection).chain(w.keys.iter().map(|(k, _)| k)) {
        if !is_record_name(name) {
            return Err(StoreError::BadName(name.clone()));
        }
    }
    Ok(())
}

/// Checks a feature against its layer and converts it: the geometry fitted to the layer's type
/// and the field values in schema order. `index` is its place in the batch, for the error.
///
/// # Errors
/// [`StoreError::Attribute`] naming the field at fault (`geom` for the geometry).
pub fn encode_feature(
    def: &LayerDef,
    index: usize,
    geometry: Geometry<f64>,
    attributes: &Map<String, Value>,
) -> Result<(Geometry<f64>, Vec<Cell>)> {
    let geometry = fit_geometry(def, geometry).map_err(|reason| StoreError::Attribute {
        index,
        field: "geom".into(),
        reason,
    })?;
    if let Some(unknown) = attributes
        .keys()
        .find(|k| !def.fields.iter().any(|f| &f.name == *k))
    {
        return Err(StoreError::Attribute {
            index,
            field: unknown.clone(),
            reason: format!("layer {:?} has no such field (图层无此字段)", def.name),
        });
    }
    let mut values = Vec::with_capacity(def.fields.len());
    for f in &def.fields {
        values.push(field_cell(f, attributes.get(&f.name)).map_err(|reason| {
            StoreError::Attribute {
                index,
                field: f.name.clone(),
                reason,
            }
        })?);
    }
    Ok((geometry, values))
}

/// The GeoPackage blob of a geometry in a layer: the canonical bytes the audit log digests, on
/// every backend.
///
/// # Errors
/// When the geometry cannot be encoded.
pub fn canonical_blob(def: &LayerDef, geometry: &Geometry<f64>) -> Result<Vec<u8>> {
    tudi_geo::io::wkb::to_gpkg(geometry, i32::try_from(def.epsg).unwrap_or(0))
        .map_err(|e| StoreError::Schema(e.to_string()))
}

/// The digest of a stored feature version.
///
/// # Errors
/// When the geometry cannot be encoded.
pub fn record_digest(def: &LayerDef, record: &crate::FeatureRecord) -> Result<String> {
    let blob = canonical_blob(def, &record.geometry)?;
    Ok(audit::hex(&feature_digest(
        record.id,
        &blob,
        &record.attributes,
    )))
}

/// Checks a layer definition: identifiers, geometry type, no field twice.
///
/// # Errors
/// [`StoreError::Schema`] naming what is wrong.
pub fn check_def(def: &LayerDef) -> Result<()> {
    if !is_valid_identifier(&def.name) {
        return Err(StoreError::Schema(format!(
            "layer name {:?} must start with a letter, use only ASCII letters, digits and _, \
             and not be reserved (fid, geom, feature_id, or starting tudi_, gpkg_, rtree_) \
             (图层名须以英文字母开头，只含英文字母、数字和下划线，且不得为保留名)",
            def.name
        )));
    }
    const TYPES: [&str; 7] = [
        "GEOMETRY",
        "POINT",
        "LINESTRING",
        "POLYGON",
        "MULTIPOINT",
        "MULTILINESTRING",
        "MULTIPOLYGON",
    ];
    if !TYPES.contains(&def.geometry_type.as_str()) {
        return Err(StoreError::Schema(format!(
            "geometry type {:?} is not one of {TYPES:?}",
            def.geometry_type
        )));
    }
    tudi_geo::crs::Crs::from_epsg(def.epsg).map_err(|e| StoreError::Schema(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for f in &def.fields {
        if !is_valid_identifier(&f.name) {
            return Err(StoreError::Schema(format!(
                "field name {:?} must start with a letter, use only ASCII letters, digits and _, \
                 and not be reserved (fid, geom, feature_id, or starting tudi_, gpkg_, rtree_) \
                 (字段名须以英文字母开头，只含英文字母、数字和下划线，且不得为保留名)",
                f.name
            )));
        }
        if !seen.insert(f.name.to_ascii_lowercase()) {
            return Err(StoreError::Schema(format!(
                "field {:?} appears twice",
                f.name
            )));
        }
    }
    Ok(())
}

/// Converts a JSON value to the stored value of a field, or explains why it does not fit.
///
/// # Errors
/// Why the value does not fit (bilingual).
pub fn field_cell(field: &FieldDef, value: Option<&Value>) -> std::result::Result<Cell, String> {
    let v = match value {
        None | Some(Value::Null) => {
            return if field.required {
                Err("required value is missing (必填字段为空)".into())
            } else {
                Ok(Cell::Null)
            };
        }
        Some(v) => v,
    };
    match field.field_type {
        FieldType::Text => Ok(Cell::Text(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        FieldType::Integer => match v {
            Value::Number(n) if n.is_i64() => Ok(Cell::Integer(n.as_i64().unwrap_or(0))),
            Value::Number(n)
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Cell::Integer(n.as_f64().unwrap_or(0.0) as i64))
            }
            Value::String(s) => s
                .trim()
                .parse()
                .map(Cell::Integer)
                .map_err(|_| format!("{s:?} is not an integer (不是整数)")),
            other => Err(format!("{other} is not an integer (不是整数)")),
        },
        FieldType::Real => match v {
            Value::Number(n) => Ok(Cell::Real(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Cell::Real)
                .ok_or_else(|| format!("{s:?} is not a number (不是数值)")),
            other => Err(format!("{other} is not a number (不是数值)")),
        },
        FieldType::Date => match v {
            Value::String(s) => {
                let d = s.trim().get(..10).unwrap_or(s.trim());
                d.parse::<jiff::civil::Date>()
                    .map(|d| Cell::Text(d.to_string()))
                    .map_err(|_| format!("{s:?} is not a date YYYY-MM-DD (不是日期)"))
            }
            other => Err(format!("{other} is not a date YYYY-MM-DD (不是日期)")),
        },
        FieldType::Boolean => match v {
            Value::Bool(b) => Ok(Cell::Integer(i64::from(*b))),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Cell::Integer(n.as_i64().unwrap_or(0)))
            }
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "是" => Ok(Cell::Integer(1)),
                "false" | "f" | "no" | "n" | "0" | "否" => Ok(Cell::Integer(0)),
                _ => Err(format!("{s:?} is not true/false (不是是/否)")),
            },
            other => Err(format!("{other} is not true/false (不是是/否)")),
        },
    }
}

/// The JSON value of a stored field value.
#[must_use]
pub fn cell_value(field: &FieldDef, v: Cell) -> Value {
    match (field.field_type, v) {
        (_, Cell::Null) => Value::Null,
        (FieldType::Boolean, Cell::Integer(i)) => Value::Bool(i != 0),
        (_, Cell::Integer(i)) => Value::from(i),
        (_, Cell::Real(f)) => Value::from(f),
        (_, Cell::Text(t)) => Value::String(t),
    }
}

/// Fits a geometry to the layer's declared type (a polygon goes into a MULTIPOLYGON layer as a
/// one-part multipolygon) or says why it cannot.
///
/// # Errors
/// Why the geometry does not fit (bilingual).
pub fn fit_geometry(
    def: &LayerDef,
    geometry: Geometry<f64>,
) -> std::result::Result<Geometry<f64>, String> {
    let got = match &geometry {
        Geometry::Point(_) => "POINT",
        Geometry::LineString(_) | Geometry::Line(_) => "LINESTRING",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "POLYGON",
        Geometry::MultiPoint(_) => "MULTIPOINT",
        Geometry::MultiLineString(_) => "MULTILINESTRING",
        Geometry::MultiPolygon(_) => "MULTIPOLYGON",
        Geometry::GeometryCollection(_) => "GEOMETRYCOLLECTION",
    };
    match (def.geometry_type.as_str(), geometry) {
        ("GEOMETRY", g) => Ok(g),
        ("MULTIPOLYGON", Geometry::Polygon(p)) => Ok(MultiPolygon(vec![p]).into()),
        (want, g) if want == got => Ok(g),
        (want, _) => Err(format!(
            "geometry is {got}, layer {:?} holds {want} (几何类型为 {got}，图层要求 {want})",
            def.name
        )),
    }
}

/// The digest the audit log records for a feature version: its id, geometry blob and attributes.
#[must_use]
pub fn feature_digest(id: Uuid, blob: &[u8], attributes: &Map<String, Value>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut attrs = String::new();
    audit::push_json(&mut attrs, &Value::Object(attributes.clone()));
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update((blob.len() as u64).to_le_bytes());
    h.update(blob);
    h.update(attrs.as_bytes());
    h.finalize().into()
}

/// The digest the audit log records for a layer definition.
#[must_use]
pub fn def_digest(def: &LayerDef) -> String {
    audit::digest_json(&serde_json::json!({
        "name": def.name, "title": def.title, "kind": def.kind.id(), "epsg": def.epsg,
        "geometry_type": def.geometry_type,
        "fields": serde_json::to_value(&def.fields).unwrap_or(Value::Null),
    }))
}

/// What a change appends to the audit log, beyond its [`crate::Change`].
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// On what.
    pub resource: String,
    /// Done or denied.
    pub outcome: audit::Outcome,
    /// Digest before.
    pub before: Option<String>,
    /// Digest after.
    pub after: Option<String>,
    /// A note (never personal data).
    pub detail: Option<Value>,
}

/// The entry `seq` of the chain for `change`, linked to `prev_hash`, with its hash; and the
/// instant as it is stored (microseconds), which is what the hash covers.
#[must_use]
pub fn chain_entry(
    seq: u64,
    prev_hash: String,
    change: &crate::Change,
    what: Appended,
) -> (audit::AuditEntry, String) {
    let at_text = format_ts(change.at);
    let mut entry = audit::AuditEntry {
        seq,
        at: parse_ts(&at_text),
        actor: change.actor.clone(),
        action: change.action.clone(),
        resource: what.resource,
        outcome: what.outcome,
        before: what.before,
        after: what.after,
        request_id: change.request_id.clone(),
        detail: what.detail,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = audit::entry_hash(&entry);
    (entry, at_text)
}
