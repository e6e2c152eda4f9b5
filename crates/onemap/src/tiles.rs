//! Vector tiles of one-map layers (WebMercatorQuad). Rendered on request — from the layer's
//! snapshot (already in Web Mercator) when a current one exists, else from the store — so an edit
//! shows in the next tile; no tile cache to go stale.

use geo::BoundingRect;
use geo_types::{Coord, Geometry, LineString, Polygon};
use tudi_core::layer::LayerKind;
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::mvt::{TileAttr, TileId, encode_layer};
use tudi_store::{FeatureQuery, StoreError};

use crate::snapshot::{LayerSnapshot, MapView, tile_attr};

/// Attributes a tile carries for each layer kind (the rest is one click away in the API).
#[must_use]
pub fn tile_fields(kind: LayerKind) -> &'static [&'static str] {
    match kind {
        LayerKind::Parcel => &["code", "land_use", "land_use_name"],
        LayerKind::Admin | LayerKind::Grid => &["code", "name", "level"],
        LayerKind::LandSurvey | LayerKind::Planning => &["code", "land_use", "land_use_name"],
        LayerKind::Building => &["code", "floors"],
        _ => &["code", "name"],
    }
}

/// Why a tile could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// The store failed or the layer is unknown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Encoding or projection failed.
    #[error("{0}")]
    Render(String),
}

/// One MVT tile of a layer: empty bytes when nothing of the layer is in the tile.
///
/// # Errors
/// [`TileError`].
pub fn render(map: MapView<'_>, layer: &str, tile: TileId) -> Result<Vec<u8>, TileError> {
    if let Some(snap) = map.snapshot(layer) {
        return render_snapshot(&snap, tile);
    }
    let store = map.store();
    let def = store.layer_def(layer)?;
    let layer_crs = Crs::from_epsg(def.epsg).map_err(|e| TileError::Render(e.to_string()))?;
    let to_layer = Transformer::new(Crs::WEB_MERCATOR, layer_crs)
        .map_err(|e| TileError::Render(e.to_string()))?;
    let to_tile = Transformer::new(layer_crs, Crs::WEB_MERCATOR)
        .map_err(|e| TileError::Render(e.to_string()))?;
    // The buffered tile, densified so that its projected outline stays a tight envelope.
    let b = tile.buffered_bounds();
    let mut ring = Vec::new();
    let steps = 8;
    for (x0, y0, x1, y1) in [
        (b.min().x, b.min().y, b.max().x, b.min().y),
        (b.max().x, b.min().y, b.max().x, b.max().y),
        (b.max().x, b.max().y, b.min().x, b.max().y),
        (b.min().x, b.max().y, b.min().x, b.min().y),
    ] {
        for k in 0..steps {
            let t = f64::from(k) / f64::from(steps);
            ring.push(Coord {
                x: x0 + (x1 - x0) * t,
                y: y0 + (y1 - y0) * t,
            });
        }
    }
    ring.push(ring[0]);
    let mut area: Geometry<f64> = Polygon::new(LineString(ring), vec![]).into();
    if to_layer.apply_geometry(&mut area).is_err() {
        return Ok(Vec::new());
    }
    let Some(env) = area.bounding_rect() else {
        return Ok(Vec::new());
    };
    let q = FeatureQuery {
        bbox: Some([env.min().x, env.min().y, env.max().x, env.max().y]),
        ..FeatureQuery::default()
    };
    let fields = tile_fields(def.kind);
    let features = store.features(layer, &q)?;
    let items = features.into_iter().enumerate().filter_map(|(i, mut f)| {
        to_tile.apply_geometry(&mut f.geometry).ok()?;
        let mut attrs = vec![("id", TileAttr::Text(f.id.to_string()))];
        for name in fields {
            if let Some(v) = tile_attr(f.attributes.get(*name)) {
                attrs.push((*name, v));
            }
        }
        Some((i as u64 + 1, f.geometry, attrs))
    });
    encode_layer(layer, tile, items).map_err(TileError::Render)
}

/// A tile from a snapshot: the geometries are already in Web Mercator.
fn render_snapshot(snap: &LayerSnapshot, tile: TileId) -> Result<Vec<u8>, TileError> {
    let fields = tile_fields(snap.def.kind);
    let mut found: Vec<usize> = snap.mercator_candidates(tile.buffered_bounds()).collect();
    // Feature ids in the tile follow the layer's order, as from the store.
    found.sort_unstable();
    let items = found.into_iter().enumerate().filter_map(|(n, i)| {
        let g = snap.mercator(i)?;
        let mut attrs = vec![("id", TileAttr::Text(snap.id(i)?.to_string()))];
        for name in fields {
            if let Some(v) = snap.attr(i, name) {
                attrs.push((*name, v.clone()));
            }
        }
        Some((n as u64 + 1, g, attrs))
    });
    encode_layer(&snap.def.name, tile, items).map_err(TileError::Render)
}
