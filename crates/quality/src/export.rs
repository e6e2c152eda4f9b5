//! The error geometries of a report as a GeoPackage: QGIS opens it beside the data checked.

use std::path::Path;

use tudi_core::layer::{FieldDef, FieldType, LayerKind};
use tudi_store::StoreError;

use crate::check::Report;

/// Writes the findings that have a shape as layer `findings` of a new GeoPackage at `path`, in
/// the checked CRS (`epsg`), each with its rule, severity, feature and message. Returns the rows
/// written.
///
/// # Errors
/// The file exists or cannot be written.
pub fn findings_geopackage(path: &Path, report: &Report, epsg: u32) -> Result<u64, StoreError> {
    let def = tudi_store::LayerDef {
        name: "findings".into(),
        title: "质检问题 / findings".into(),
        kind: LayerKind::Custom,
        epsg,
        geometry_type: "GEOMETRY".into(),
        fields: vec![
            FieldDef::new("rule", "规则", FieldType::Text),
            FieldDef::new("severity", "严重程度", FieldType::Text),
            FieldDef::new("feature", "要素序号", FieldType::Integer),
            FieldDef::new("message_zh", "说明", FieldType::Text),
            FieldDef::new("message_en", "message", FieldType::Text),
            FieldDef::new("source_id", "要素标识", FieldType::Text),
        ],
    };
    let mut rows = report.findings.iter().enumerate().filter_map(|(n, f)| {
        let geometry = f.geometry.clone()?;
        let mut attributes = serde_json::Map::new();
        attributes.insert("rule".into(), f.rule.clone().into());
        attributes.insert("severity".into(), f.severity.msg().en.into());
        attributes.insert("feature".into(), (f.feature + 1).into());
        attributes.insert("message_zh".into(), f.message.zh.clone().into());
        attributes.insert("message_en".into(), f.message.en.clone().into());
        if let Some(id) = &f.feature_id {
            attributes.insert("source_id".into(), id.clone().into());
        }
        // Ids by position: the same findings make the same rows.
        Some((uuid::Uuid::from_u128(n as u128 + 1), geometry, attributes))
    });
    tudi_store::gpkg::write_plain(path, &def, &mut rows)
}
