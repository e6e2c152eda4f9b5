//! How tudi's values travel to and from PostgreSQL: quoted names, parameters of any field type,
//! geometries as EWKB, and rows read back into features.

use bytes::BytesMut;
use geo_types::Geometry;
use serde_json::{Map, Value};
use tokio_postgres::Row;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tudi_core::layer::{FieldDef, FieldType};
use tudi_store::rules::{Cell, cell_value, parse_ts};
use tudi_store::{FeatureRecord, LayerDef};
use uuid::Uuid;

/// A quoted identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A parameter of whatever type its column has.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    /// Days since 2000-01-01, PostgreSQL's binary date.
    Date(i32),
    /// EWKB, PostGIS's binary geometry.
    Geometry(Vec<u8>),
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Self::Int(i) => i.to_sql(ty, out),
            Self::Real(f) => f.to_sql(ty, out),
            Self::Text(s) => s.as_str().to_sql(ty, out),
            Self::Bool(b) => b.to_sql(ty, out),
            Self::Date(d) => {
                out.extend_from_slice(&d.to_be_bytes());
                Ok(IsNull::No)
            }
            Self::Geometry(b) => {
                out.extend_from_slice(b);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The column type of a field.
pub(crate) fn column_type(f: &FieldDef) -> &'static str {
    match f.field_type {
        FieldType::Text => "text",
        FieldType::Integer => "bigint",
        FieldType::Real => "double precision",
        FieldType::Date => "date",
        FieldType::Boolean => "boolean",
    }
}

/// The parameter of a checked field value.
pub(crate) fn param(f: &FieldDef, cell: Cell) -> Param {
    match (f.field_type, cell) {
        (_, Cell::Null) => Param::Null,
        (FieldType::Boolean, Cell::Integer(i)) => Param::Bool(i != 0),
        (FieldType::Date, Cell::Text(t)) => t
            .parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| {
                d.since(jiff::civil::date(2000, 1, 1))
                    .ok()
                    .map(|s| s.get_days())
            })
            .map_or(Param::Null, Param::Date),
        (_, Cell::Integer(i)) => Param::Int(i),
        (_, Cell::Real(f)) => Param::Real(f),
        (_, Cell::Text(t)) => Param::Text(t),
    }
}

/// EWKB of a geometry: its WKB with the SRID in the header.
pub(crate) fn ewkb(geometry: &Geometry<f64>, srid: u32) -> Result<Vec<u8>, String> {
    let wkb = tudi_geo::io::wkb::to_wkb(geometry).map_err(|e| e.to_string())?;
    let Some((&order, rest)) = wkb.split_first() else {
        return Err("empty WKB".into());
    };
    let Some((ty, body)) = rest.split_first_chunk::<4>() else {
        return Err("short WKB".into());
    };
    let little = order == 1;
    let ty = if little {
        u32::from_le_bytes(*ty)
    } else {
        u32::from_be_bytes(*ty)
    } | 0x2000_0000;
    let mut out = Vec::with_capacity(wkb.len() + 4);
    out.push(order);
    if little {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&srid.to_le_bytes());
    } else {
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&srid.to_be_bytes());
    }
    out.extend_from_slice(body);
    Ok(out)
}

fn empty() -> Geometry<f64> {
    Geometry::GeometryCollection(geo_types::GeometryCollection(vec![]))
}

/// The select list of a layer's feature rows, in the order [`read_feature`] reads them:
/// `feature_id, wkb, fields…, version, valid_from, valid_to, attributes` — the last two null
/// for current rows.
pub(crate) fn current_columns(def: &LayerDef) -> String {
    let mut cols = vec!["feature_id".to_owned(), "ST_AsBinary(geom)".into()];
    cols.extend(def.fields.iter().map(|f| match f.field_type {
        FieldType::Date => format!("{}::text", quote(&f.name)),
        _ => quote(&f.name),
    }));
    cols.push("tudi_version".into());
    cols.push("tudi_valid_from".into());
    cols.push("NULL::text".into());
    cols.push("NULL::text".into());
    cols.join(", ")
}

/// The same list for rows of the history table, whose attributes are one JSON text.
pub(crate) fn history_columns(def: &LayerDef) -> String {
    let mut cols = vec!["feature_id".to_owned(), "ST_AsBinary(geom)".into()];
    cols.extend(def.fields.iter().map(|f| match f.field_type {
        FieldType::Text | FieldType::Date => "NULL::text".to_owned(),
        FieldType::Integer => "NULL::bigint".into(),
        FieldType::Real => "NULL::double precision".into(),
        FieldType::Boolean => "NULL::boolean".into(),
    }));
    cols.push("version".into());
    cols.push("valid_from".into());
    cols.push("valid_to".into());
    cols.push("attributes".into());
    cols.join(", ")
}

/// A feature from a row selected with [`current_columns`] or [`history_columns`].
pub(crate) fn read_feature(
    def: &LayerDef,
    row: &Row,
) -> std::result::Result<FeatureRecord, tokio_postgres::Error> {
    let id: Uuid = row.try_get(0)?;
    let wkb: Option<Vec<u8>> = row.try_get(1)?;
    let n = def.fields.len();
    let version: i32 = row.try_get(2 + n)?;
    let valid_from: String = row.try_get(3 + n)?;
    let valid_to: Option<String> = row.try_get(4 + n)?;
    let history: Option<String> = row.try_get(5 + n)?;
    let attributes = match history {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => {
            let mut attributes = Map::new();
            for (i, f) in def.fields.iter().enumerate() {
                let cell = match f.field_type {
                    FieldType::Text | FieldType::Date => row
                        .try_get::<_, Option<String>>(2 + i)?
                        .map_or(Cell::Null, Cell::Text),
                    FieldType::Integer => row
                        .try_get::<_, Option<i64>>(2 + i)?
                        .map_or(Cell::Null, Cell::Integer),
                    FieldType::Real => row
                        .try_get::<_, Option<f64>>(2 + i)?
                        .map_or(Cell::Null, Cell::Real),
                    FieldType::Boolean => row
                        .try_get::<_, Option<bool>>(2 + i)?
                        .map_or(Cell::Null, |b| Cell::Integer(i64::from(b))),
                };
                attributes.insert(f.name.clone(), cell_value(f, cell));
            }
            attributes
        }
    };
    Ok(FeatureRecord {
        id,
        version: u32::try_from(version).unwrap_or(0),
        geometry: wkb
            .and_then(|b| tudi_geo::io::wkb::from_wkb(&b).ok())
            .unwrap_or_else(empty),
        attributes,
        valid_from: parse_ts(&valid_from),
        valid_to: valid_to.as_deref().map(parse_ts),
    })
}

/// Attributes as the history table keeps them.
pub(crate) fn attributes_text(attributes: &Map<String, Value>) -> String {
    Value::Object(attributes.clone()).to_string()
}
