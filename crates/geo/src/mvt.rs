//! Mapbox Vector Tiles (MVT 2.1) in the WebMercatorQuad tile matrix set.
//!
//! Each feature is clipped to the tile plus a buffer and simplified to the tile's resolution in
//! metres, then quantised to the tile's integer grid, where polygons are rebuilt by i_overlay's
//! integer overlay into OGC-valid shapes — rounding to the grid can make a valid polygon
//! self-intersect or a ring collapse, and what a decoder reads must be valid — with exterior
//! rings of positive area by the surveyor's formula in tile coordinates (y down), holes
//! negative, as the specification defines them. Rings and features that collapse are dropped.
//! `geozero` writes the protobuf.

use geo::{Area, BooleanOps, BoundingRect, Intersects, Simplify};
use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Rect};
use geozero::ToMvt;
use geozero::mvt::{Message, TagsBuilder, Tile, TileValue, tile};
use i_overlay::core::fill_rule::FillRule;
use i_overlay::core::overlay::{ContourDirection, IntOverlayOptions};
use i_overlay::core::simplify::Simplify as _;
use i_overlay::i_float::int::point::IntPoint;

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

/// Prepares a geometry (in EPSG:3857) for a tile: clipped, simplified, and in tile units on the
/// integer grid — x to the right from the tile's west edge, y *up* from its south edge (geozero
/// turns it down as it writes), polygons valid with their exteriors as MVT orients them.
/// `None` when nothing of it remains visible.
#[must_use]
pub fn prepare(geom: &Geometry<f64>, tile: TileId) -> Option<Geometry<f64>> {
    let clip = tile.buffered_bounds();
    if !geom.bounding_rect().is_some_and(|r| r.intersects(&clip)) {
        return None;
    }
    let res = tile.resolution();
    let grid = Grid::of(tile);
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
            let repaired = grid.polygons(&MultiPolygon(kept));
            (!repaired.0.is_empty()).then_some(Geometry::MultiPolygon(repaired))
        }
        Geometry::LineString(l) => {
            let clipped = clip_lines(&MultiLineString(vec![l.clone()]), clip);
            grid.lines(&clipped.simplify(res * 0.5))
                .map(Geometry::MultiLineString)
        }
        Geometry::MultiLineString(ml) => {
            let clipped = clip_lines(ml, clip);
            grid.lines(&clipped.simplify(res * 0.5))
                .map(Geometry::MultiLineString)
        }
        Geometry::Point(p) => clip
            .intersects(p)
            .then(|| Geometry::Point(grid.point(p.0).into())),
        Geometry::MultiPoint(mp) => {
            let kept: Vec<geo_types::Point<f64>> =
                mp.0.iter()
                    .filter(|p| clip.intersects(*p))
                    .map(|p| grid.point(p.0).into())
                    .collect();
            (!kept.is_empty()).then_some(Geometry::MultiPoint(geo_types::MultiPoint(kept)))
        }
        _ => None,
    }
}

/// A tile's integer grid: tile units from its south-west corner, y up.
struct Grid {
    west: f64,
    south: f64,
    res: f64,
}

impl Grid {
    fn of(tile: TileId) -> Self {
        let b = tile.bounds();
        Self {
            west: b.min().x,
            south: b.min().y,
            res: tile.resolution(),
        }
    }

    /// The grid point nearest `c`. Coordinates lie within the buffered tile (a few thousand
    /// units), so the casts are exact.
    #[allow(clippy::cast_possible_truncation)]
    fn snap(&self, c: Coord<f64>) -> IntPoint {
        IntPoint::new(
            ((c.x - self.west) / self.res).round() as i32,
            ((c.y - self.south) / self.res).round() as i32,
        )
    }

    fn point(&self, c: Coord<f64>) -> Coord<f64> {
        let p = self.snap(c);
        Coord {
            x: f64::from(p.x),
            y: f64::from(p.y),
        }
    }

    /// A ring on the grid, without its closing point or repeated points.
    fn contour(&self, ring: &LineString<f64>) -> Vec<IntPoint> {
        let mut out: Vec<IntPoint> = Vec::with_capacity(ring.0.len());
        for c in &ring.0 {
            let p = self.snap(*c);
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
        if out.len() > 1 && out.first() == out.last() {
            out.pop();
        }
        out
    }

    /// Polygons snapped to the grid and rebuilt there as OGC-valid shapes: exteriors clockwise
    /// in these y-up units (positive area once y is turned down), holes counter-clockwise.
    fn polygons(&self, mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        let shapes: Vec<Vec<Vec<IntPoint>>> =
            mp.0.iter()
                .map(|p| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|r| self.contour(r))
                        .filter(|c| c.len() >= 3)
                        .collect::<Vec<_>>()
                })
                .filter(|s: &Vec<Vec<IntPoint>>| !s.is_empty())
                .collect();
        let options = IntOverlayOptions {
            output_direction: ContourDirection::Clockwise,
            ..IntOverlayOptions::ogc()
        };
        let rebuilt = shapes.as_slice().simplify(FillRule::NonZero, options);
        let ring = |c: &Vec<IntPoint>| {
            let mut pts: Vec<Coord<f64>> = c
                .iter()
                .map(|p| Coord {
                    x: f64::from(p.x),
                    y: f64::from(p.y),
                })
                .collect();
            if let Some(first) = pts.first().copied() {
                pts.push(first);
            }
            LineString(pts)
        };
        MultiPolygon(
            rebuilt
                .iter()
                .filter_map(|shape| {
                    let (outer, holes) = shape.split_first()?;
                    Some(geo_types::Polygon::new(
                        ring(outer),
                        holes.iter().map(ring).collect(),
                    ))
                })
                .collect(),
        )
    }

    /// Lines snapped to the grid, repeated points dropped, and lines of one point dropped.
    fn lines(&self, ml: &MultiLineString<f64>) -> Option<MultiLineString<f64>> {
        let kept: Vec<LineString<f64>> =
            ml.0.iter()
                .map(|l| {
                    let c = self.contour_open(l);
                    LineString(
                        c.iter()
                            .map(|p| Coord {
                                x: f64::from(p.x),
                                y: f64::from(p.y),
                            })
                            .collect(),
                    )
                })
                .filter(|l| l.0.len() >= 2)
                .collect();
        (!kept.is_empty()).then_some(MultiLineString(kept))
    }

    fn contour_open(&self, line: &LineString<f64>) -> Vec<IntPoint> {
        let mut out: Vec<IntPoint> = Vec::with_capacity(line.0.len());
        for c in &line.0 {
            let p = self.snap(*c);
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
        out
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
    let units = f64::from(EXTENT);
    let mut tags = TagsBuilder::new();
    let mut out = Vec::new();
    for (id, geom, attrs) in features {
        let Some(g) = prepare(&geom, tile) else {
            continue;
        };
        // Already in tile units: geozero's mapping is then the identity, but for turning y down.
        let mut f: tile::Feature = g
            .to_mvt(EXTENT, 0.0, 0.0, units, units)
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
        assert_eq!(
            r.width(),
            f64::from(EXTENT + 2 * BUFFER),
            "clipped to the buffered tile, in tile units"
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

    /// The rings of a decoded polygon feature, in tile coordinates (y down).
    fn rings(geometry: &[u32]) -> Vec<Vec<(i64, i64)>> {
        let zz = |v: u32| i64::from((v >> 1) as i32 ^ -((v & 1) as i32));
        let (mut x, mut y) = (0i64, 0i64);
        let mut out: Vec<Vec<(i64, i64)>> = Vec::new();
        let mut i = 0;
        while i < geometry.len() {
            let (cmd, count) = (geometry[i] & 7, geometry[i] >> 3);
            i += 1;
            match cmd {
                1 | 2 => {
                    for _ in 0..count {
                        x += zz(geometry[i]);
                        y += zz(geometry[i + 1]);
                        i += 2;
                        if cmd == 1 {
                            out.push(Vec::new());
                        }
                        if let Some(r) = out.last_mut() {
                            r.push((x, y));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Twice the surveyor's-formula area of a ring.
    fn area2(r: &[(i64, i64)]) -> i64 {
        (0..r.len())
            .map(|i| {
                let (a, b) = (r[i], r[(i + 1) % r.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum()
    }

    /// Issue 15: exteriors positive in tile coordinates, no collapsed ring, and valid polygons
    /// after decoding — here for a polygon whose rounding to the grid folds it over itself.
    #[test]
    fn decoded_polygons_are_oriented_valid_and_without_collapsed_rings() {
        let t = TileId::new(10, 834, 445).unwrap();
        let b = t.bounds();
        let r = t.resolution();
        let at = |x: f64, y: f64| Coord {
            x: b.min().x + x * r,
            y: b.min().y + y * r,
        };
        // A comb whose teeth are a third of a pixel apart: snapped, they overlap.
        let mut ring = vec![at(100.0, 100.0), at(3000.0, 100.0), at(3000.0, 300.0)];
        for k in 0..40 {
            let x = 3000.0 - f64::from(k) * 70.0;
            ring.extend([at(x, 2000.0), at(x - 0.33, 2000.0), at(x - 0.66, 300.0)]);
        }
        ring.extend([at(100.0, 300.0), at(100.0, 100.0)]);
        let hole = LineString(vec![
            at(200.0, 150.0),
            at(200.0, 250.0),
            at(400.0, 250.0),
            at(400.0, 150.0),
            at(200.0, 150.0),
        ]);
        let comb: Geometry<f64> = geo_types::Polygon::new(LineString(ring), vec![hole]).into();
        // The source is valid; the naive snap of it is not.
        assert!(crate::validity::problems(&comb).is_empty());
        let bytes = encode_layer("comb", t, std::iter::once((1, comb, vec![]))).unwrap();
        let decoded = Tile::decode(bytes.as_slice()).unwrap();
        let f = &decoded.layers[0].features[0];
        let rs = rings(&f.geometry);
        assert!(rs.len() >= 2, "{rs:?}");
        assert!(
            area2(&rs[0]) > 0,
            "the exterior is positive in tile coordinates"
        );
        assert!(rs.iter().all(|r| area2(r) != 0), "no collapsed ring");
        assert!(rs.iter().any(|r| area2(r) < 0), "the hole is negative");
        // Rebuilt as polygons (a positive ring starts one), they are valid.
        let mut polys: Vec<geo_types::Polygon<f64>> = Vec::new();
        for r in &rs {
            let mut ls: Vec<Coord<f64>> = r
                .iter()
                .map(|&(x, y)| Coord {
                    #[allow(clippy::cast_precision_loss)]
                    x: x as f64,
                    #[allow(clippy::cast_precision_loss)]
                    y: y as f64,
                })
                .collect();
            ls.push(ls[0]);
            if area2(r) > 0 {
                polys.push(geo_types::Polygon::new(LineString(ls), vec![]));
            } else if let Some(p) = polys.last_mut() {
                p.interiors_push(LineString(ls));
            }
        }
        let mp = Geometry::MultiPolygon(MultiPolygon(polys));
        assert!(
            crate::validity::problems(&mp).is_empty(),
            "{:?}",
            crate::validity::problems(&mp)
        );
    }
}
