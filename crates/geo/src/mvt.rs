//! Mapbox Vector Tiles (MVT 2.1) in the WebMercatorQuad tile matrix set.
//!
//! Each feature is clipped to the tile plus a buffer, simplified to the tile's resolution, oriented
//! as the specification requires (exterior rings clockwise in tile space, whose y axis points
//! down) and quantised to the tile extent; features that collapse below a pixel are dropped.
//! `geozero` writes the protobuf.

use geo::{Area, BooleanOps, BoundingRect, Intersects, Orient, Simplify, orient::Direction};
use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Rect};
use geozero::ToMvt;
use geozero::mvt::{Message, TagsBuilder, Tile, TileValue, tile};

/// Half the width of the Web Mercator world in metres.
pub const WORLD_HALF: f64 = 20_037_508.342_789_244;
/// Tile extent (coordinate units per tile side).
pub const EXTENT: u32 = 4096;
/// Buffer around the tile, in tile units, so that strokes do not show seams.
pub const BUFFER: u32 = 64;

/// A tile address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    /// Zoom level (tile matrix).
    pub z: u8,
    /// Column.
    pub x: u32,
    /// Row, from the top.
    pub y: u32,
}

impl TileId {
    /// Checks the address: zoom 0–24, column and row inside the matrix.
    #[must_use]
    pub fn new(z: u8, x: u32, y: u32) -> Option<Self> {
        if z > 24 {
            return None;
        }
        let n = 1u32 << z;
        (x < n && y < n).then_some(Self { z, x, y })
    }

    /// The tile's bounds in EPSG:3857 metres, without buffer.
    #[must_use]
    pub fn bounds(self) -> Rect<f64> {
        let size = 2.0 * WORLD_HALF / f64::from(1u32 << self.z);
        let left = -WORLD_HALF + f64::from(self.x) * size;
        let top = WORLD_HALF - f64::from(self.y) * size;
        Rect::new(
            Coord {
                x: left,
                y: top - size,
            },
            Coord {
                x: left + size,
                y: top,
            },
        )
    }

    /// The bounds grown by [`BUFFER`].
    #[must_use]
    pub fn buffered_bounds(self) -> Rect<f64> {
        let b = self.bounds();
        let pad = b.width() * f64::from(BUFFER) / f64::from(EXTENT);
        Rect::new(
            Coord {
                x: b.min().x - pad,
                y: b.min().y - pad,
            },
            Coord {
                x: b.max().x + pad,
                y: b.max().y + pad,
            },
        )
    }

    /// Metres per tile unit.
    #[must_use]
    pub fn resolution(self) -> f64 {
        self.bounds().width() / f64::from(EXTENT)
    }
}

/// An attribute value in a tile.
#[derive(Debug, Clone, PartialEq)]
pub enum TileAttr {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Number.
    Number(f64),
    /// Boolean.
    Bool(bool),
}

/// Prepares a geometry (in EPSG:3857) for a tile: clip, simplify, orient. `None` when nothing of
/// it remains visible.
#[must_use]
pub fn prepare(geom: &Geometry<f64>, tile: TileId) -> Option<Geometry<f64>> {
    let clip = tile.buffered_bounds();
    if !geom.bounding_rect().is_some_and(|r| r.intersects(&clip)) {
        return None;
    }
    let res = tile.resolution();
    match geom {
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
            let mp = match geom {
                Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
                Geometry::MultiPolygon(mp) => mp.clone(),
                _ => return None,
            };
            let inside = mp.bounding_rect().is_some_and(|r| {
                r.min().x >= clip.min().x
                    && r.max().x <= clip.max().x
                    && r.min().y >= clip.min().y
                    && r.max().y <= clip.max().y
            });
            let clipped = if inside {
                mp
            } else {
                mp.intersection(&MultiPolygon(vec![clip.to_polygon()]))
            };
            let simplified = clipped.simplify(res * 0.5);
            let kept: Vec<_> = simplified
                .0
                .into_iter()
                .filter(|p| p.unsigned_area() >= res * res * 0.5)
                .collect();
            (!kept.is_empty())
                .then(|| Geometry::MultiPolygon(MultiPolygon(kept).orient(Direction::Default)))
        }
        Geometry::LineString(l) => {
            let clipped = clip_lines(&MultiLineString(vec![l.clone()]), clip);
            (!clipped.0.is_empty()).then(|| Geometry::MultiLineString(clipped.simplify(res * 0.5)))
        }
        Geometry::MultiLineString(ml) => {
            let clipped = clip_lines(ml, clip);
            (!clipped.0.is_empty()).then(|| Geometry::MultiLineString(clipped.simplify(res * 0.5)))
        }
        Geometry::Point(p) => clip.intersects(p).then(|| geom.clone()),
        Geometry::MultiPoint(mp) => {
            let kept: Vec<_> =
                mp.0.iter()
                    .filter(|p| clip.intersects(*p))
                    .copied()
                    .collect();
            (!kept.is_empty()).then_some(Geometry::MultiPoint(geo_types::MultiPoint(kept)))
        }
        _ => None,
    }
}

fn clip_lines(ml: &MultiLineString<f64>, clip: Rect<f64>) -> MultiLineString<f64> {
    let poly = clip.to_polygon();
    let parts: Vec<LineString<f64>> =
        ml.0.iter()
            .flat_map(|l| poly.clip(&MultiLineString(vec![l.clone()]), false).0)
            .collect();
    MultiLineString(parts)
}

/// Encodes one layer of one tile. `features` yields (id, geometry in EPSG:3857, attributes).
///
/// # Errors
/// When `geozero` cannot encode a geometry (it can encode every prepared one).
pub fn encode_layer<'a>(
    name: &str,
    tile: TileId,
    features: impl Iterator<Item = (u64, Geometry<f64>, Vec<(&'a str, TileAttr)>)>,
) -> Result<Vec<u8>, String> {
    let b = tile.bounds();
    let mut tags = TagsBuilder::new();
    let mut out = Vec::new();
    for (id, geom, attrs) in features {
        let Some(g) = prepare(&geom, tile) else {
            continue;
        };
        let mut f: tile::Feature = g
            .to_mvt(EXTENT, b.min().x, b.min().y, b.max().x, b.max().y)
            .map_err(|e| e.to_string())?;
        if f.geometry.is_empty() {
            continue;
        }
        f.id = Some(id);
        for (k, v) in attrs {
            let value = match v {
                TileAttr::Text(s) => TileValue::Str(s),
                TileAttr::Int(i) => TileValue::Sint(i),
                TileAttr::Number(x) => TileValue::Double(x),
                TileAttr::Bool(x) => TileValue::Bool(x),
            };
            let (ki, vi) = tags.insert_ref(k, value);
            f.tags.extend([ki, vi]);
        }
        out.push(f);
    }
    if out.is_empty() {
        return Ok(Vec::new());
    }
    let (keys, values) = tags.into_tags();
    let layer = tile::Layer {
        version: 2,
        name: name.to_owned(),
        features: out,
        keys,
        values: values.into_iter().map(Into::into).collect(),
        extent: Some(EXTENT),
    };
    let t = Tile {
        layers: vec![layer],
    };
    Ok(t.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    #[test]
    fn tile_bounds_cover_the_world() {
        let t = TileId::new(0, 0, 0).unwrap();
        assert!((t.bounds().width() - 2.0 * WORLD_HALF).abs() < 1e-6);
        assert!(TileId::new(2, 4, 0).is_none());
        let t = TileId::new(1, 1, 0).unwrap();
        assert_eq!(t.bounds().min(), Coord { x: 0.0, y: 0.0 });
    }

    #[test]
    fn polygons_are_clipped_and_oriented() {
        let t = TileId::new(14, 13342, 7133).unwrap();
        let b = t.bounds();
        let big: Geometry<f64> = polygon![
            (x: b.min().x - 1000.0, y: b.min().y - 1000.0), (x: b.max().x + 1000.0, y: b.min().y - 1000.0),
            (x: b.max().x + 1000.0, y: b.max().y + 1000.0), (x: b.min().x - 1000.0, y: b.max().y + 1000.0),
        ]
        .into();
        let g = prepare(&big, t).unwrap();
        let r = g.bounding_rect().unwrap();
        assert!(
            (r.width() - t.buffered_bounds().width()).abs() < 1e-3,
            "clipped to the buffered tile"
        );
        let tiny: Geometry<f64> = polygon![(x: b.min().x + 10.0, y: b.min().y + 10.0), (x: b.min().x + 10.1, y: b.min().y + 10.0), (x: b.min().x + 10.1, y: b.min().y + 10.1)].into();
        assert!(
            prepare(&tiny, t).is_none(),
            "sub-pixel polygons are dropped"
        );
        let bytes = encode_layer(
            "parcels",
            t,
            std::iter::once((1, big, vec![("code", TileAttr::Text("A".into()))])),
        )
        .unwrap();
        let decoded = Tile::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.layers[0].features.len(), 1);
        assert_eq!(decoded.layers[0].keys, ["code"]);
    }
}
