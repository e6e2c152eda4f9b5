//! Export of a layer to GeoJSON, GeoPackage, Shapefile or FlatGeobuf, in the layer's CRS or any supported one.

use std::io::BufWriter;
use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;
use tudi_core::msg::{Bilingual, Msg};
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::io::geojson as gj;
use tudi_store::gpkg::write_plain;
use tudi_store::{FeatureRow, Store, StoreError};

use crate::Format;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output could not be written.
    #[error("{path}: {reason}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A coordinate could not be transformed.
    #[error("{0}")]
    Crs(Msg),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Bilingual for ExportError {
    fn msg(&self) -> Msg {
        match self {
            Self::Output { path, reason } => {
                Msg::new(format!("无法写入 {path}：{reason}"), self.to_string())
            }
            Self::Crs(m) => m.clone(),
            Self::Store(e) => Msg::new(format!("读取失败：{e}"), e.to_string()),
        }
    }
}

/// Every feature of a layer (as of an instant), reprojected, in id order.
fn reprojected(
    store: &dyn Store,
    layer: &str,
    as_of: Option<Timestamp>,
    t: &Transformer,
) -> Result<Vec<FeatureRow>, StoreError> {
    let mut items = Vec::new();
    store.for_each_feature(layer, as_of, &mut |mut f| {
        t.apply_geometry(&mut f.geometry)
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        items.push((f.id, f.geometry, f.attributes));
        Ok(())
    })?;
    Ok(items)
}

/// A report of `written` features with nothing changed.
fn plain(written: u64) -> ExportReport {
    ExportReport {
        written,
        warnings: Vec::new(),
    }
}

/// What an export wrote, and what it had to change on the way (text cut to a format's limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Features written.
    pub written: u64,
    /// What was changed, for people.
    pub warnings: Vec<Msg>,
}

/// Writes `layer` to `out` (which must not exist), optionally reprojected and as of a past
/// instant.
///
/// # Errors
/// [`ExportError`]; a partly written file is removed.
pub fn export_layer(
    store: &dyn Store,
    layer: &str,
    format: Format,
    out: &Path,
    crs: Option<Crs>,
    as_of: Option<Timestamp>,
) -> Result<ExportReport, ExportError> {
    let info = store.layer(layer)?;
    let out_err = |reason: String| ExportError::Output {
        path: out.display().to_string(),
        reason,
    };
    if out.exists() {
        return Err(out_err("file already exists (文件已存在)".into()));
    }
    let layer_crs = Crs::from_epsg(info.def.epsg).map_err(|e| ExportError::Crs(e.msg()))?;
    let target = crs.unwrap_or(layer_crs);
    let t = Transformer::new(layer_crs, target).map_err(|e| ExportError::Crs(e.msg()))?;
    let result = match format {
        Format::GeoJson => {
            let file = std::fs::File::create(out).map_err(|e| out_err(e.to_string()))?;
            let mut w =
                gj::Writer::new(BufWriter::with_capacity(1 << 20, file), target, Some(layer))
                    .map_err(|e| out_err(e.to_string()))?;
            let mut n = 0u64;
            let r = store.for_each_feature(layer, as_of, &mut |mut f| {
                t.apply_geometry(&mut f.geometry)
                    .map_err(|e| StoreError::Schema(e.to_string()))?;
                let mut props = f.attributes;
                props.retain(|_, v| !v.is_null());
                props.insert("feature_id".into(), Value::String(f.id.to_string()));
                w.write(Some(&f.id.to_string()), &props, Some(&f.geometry))
                    .map_err(|e| StoreError::Schema(e.to_string()))?;
                n += 1;
                Ok(())
            });
            r.map_err(ExportError::from)
                .and_then(|()| w.finish().map_err(|e| out_err(e.to_string())).map(|_| n))
                .map(plain)
        }
        Format::GeoPackage => {
            let items = reprojected(store, layer, as_of, &t)?;
            let mut def = info.def.clone();
            def.epsg = target.epsg();
            write_plain(out, &def, &mut items.into_iter())
                .map_err(ExportError::from)
                .map(plain)
        }
        Format::Shapefile => {
            let items = reprojected(store, layer, as_of, &t)?;
            crate::shp::write(out, &info.def, target, &mut items.into_iter())
                .map_err(out_err)
                .map(|(written, w)| ExportReport {
                    written,
                    warnings: w.messages(),
                })
        }
        Format::FlatGeobuf => {
            let items = reprojected(store, layer, as_of, &t)?;
            crate::fgb::write(out, &info.def, target, &mut items.into_iter())
                .map_err(out_err)
                .map(plain)
        }
    };
    if result.is_err() {
        let _ = std::fs::remove_file(out);
        if format == Format::Shapefile {
            crate::shp::remove(out);
        }
    }
    result
}
