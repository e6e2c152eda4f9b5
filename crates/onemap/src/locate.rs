//! Where a point lies on the one map: the grid cell (and so the village, town and district) of a
//! longitude/latitude, as work-order intake needs it.

use geo::Contains;
use geo_types::{Point, Rect, coord};
use tudi_geo::crs::{Crs, Transformer};
use tudi_store::{FeatureQuery, Store, StoreError};

use crate::snapshot::MapView;

/// The grid layer of the demo and of a standard set-up.
pub const GRID_LAYER: &str = "grid";

/// The code (`code` attribute) of the most specific grid cell of `layer` containing the
/// CGCS2000 / WGS 84 point `lon`, `lat` (the grid layer holds all four levels, district to cell,
/// so the longest code wins); `None` when no cell does (outside the district).
///
/// # Errors
/// The layer does not exist or cannot be read; its CRS is unknown.
pub fn grid_cell(
    view: &MapView<'_>,
    layer: &str,
    lon: f64,
    lat: f64,
) -> Result<Option<String>, StoreError> {
    // The layer's snapshot when a current one is kept: no store round trip for the cell under
    // every pin (intake's hottest read), and never stale (see `snapshot`).
    let snapshot = view.snapshot(layer);
    let epsg = match &snapshot {
        Some(s) => s.def.epsg,
        None => view.store().layer_def(layer)?.epsg,
    };
    let to = Crs::from_epsg(epsg)
        .and_then(|crs| Transformer::new(Crs::CGCS2000, crs))
        .map_err(|e| StoreError::Schema(e.to_string()))?;
    // A point that cannot be projected lies on no cell.
    let Ok((x, y)) = to.apply(lon, lat) else {
        return Ok(None);
    };
    let point = Point::new(x, y);
    if let Some(s) = snapshot {
        let rect = Rect::new(coord! {x: x, y: y}, coord! {x: x, y: y});
        return Ok(s
            .candidates(rect)
            .filter(|&i| s.geometry(i).is_some_and(|g| g.contains(&point)))
            .filter_map(|i| s.text(i, "code").map(str::to_owned))
            .max_by_key(String::len));
    }
    let candidates = view.store().features(
        layer,
        &FeatureQuery {
            bbox: Some([x, y, x, y]),
            ..FeatureQuery::default()
        },
    )?;
    Ok(candidates
        .into_iter()
        .filter(|f| f.geometry.contains(&point))
        .filter_map(|f| {
            f.attributes
                .get("code")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        })
        .max_by_key(String::len))
}

/// A point inside each of up to `limit` cells of `layer` whose code has `code_len` digits (15:
/// the 微网格 of the four-level grid), spread evenly over the cells in code order and starting
/// with the first, as CGCS2000 longitude/latitude. For demo data and tests that need places
/// inside real cells.
///
/// # Errors
/// The layer does not exist or cannot be read; its CRS is unknown.
pub fn cell_points(
    store: &dyn Store,
    layer: &str,
    code_len: usize,
    limit: usize,
) -> Result<Vec<(String, [f64; 2])>, StoreError> {
    use geo::InteriorPoint;
    let def = store.layer_def(layer)?;
    let back = Crs::from_epsg(def.epsg)
        .and_then(|crs| Transformer::new(crs, Crs::CGCS2000))
        .map_err(|e| StoreError::Schema(e.to_string()))?;
    let mut out: Vec<(String, [f64; 2])> = store
        .features(layer, &FeatureQuery::default())?
        .into_iter()
        .filter_map(|f| {
            let code = f.attributes.get("code")?.as_str()?.to_owned();
            if code.len() != code_len {
                return None;
            }
            let p = f.geometry.interior_point()?;
            let (lon, lat) = back.apply(p.x(), p.y()).ok()?;
            Some((code, [lon, lat]))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let step = (out.len() / limit.max(1)).max(1);
    Ok(out.into_iter().step_by(step).take(limit).collect())
}

/// Whether the CGCS2000 / WGS 84 polygon `site` lies within the cell of `layer` whose code is
/// `code` (a village, a town …): every part of it, not just its centre. `None` when no cell has
/// that code.
///
/// # Errors
/// The layer does not exist or cannot be read; its CRS is unknown.
pub fn within_cell(
    store: &dyn Store,
    layer: &str,
    code: &str,
    site: &geo_types::Geometry<f64>,
) -> Result<Option<bool>, StoreError> {
    use geo::BoundingRect;
    let def = store.layer_def(layer)?;
    let to = Crs::from_epsg(def.epsg)
        .and_then(|crs| Transformer::new(Crs::CGCS2000, crs))
        .map_err(|e| StoreError::Schema(e.to_string()))?;
    let mut projected = site.clone();
    // A site that cannot be projected lies in no cell.
    if to.apply_geometry(&mut projected).is_err() {
        return Ok(Some(false));
    }
    let Some(r) = projected.bounding_rect() else {
        return Ok(Some(false));
    };
    let candidates = store.features(
        layer,
        &FeatureQuery {
            bbox: Some([r.min().x, r.min().y, r.max().x, r.max().y]),
            ..FeatureQuery::default()
        },
    )?;
    let cell = candidates
        .into_iter()
        .find(|f| f.attributes.get("code").and_then(|c| c.as_str()) == Some(code));
    match cell {
        Some(f) => Ok(Some(f.geometry.contains(&projected))),
        // The cell may exist but not meet the site's envelope at all.
        None => {
            let exists = !store
                .search(layer, "code", code, tudi_store::Match::Exact, 1)?
                .is_empty();
            Ok(if exists { Some(false) } else { None })
        }
    }
}
