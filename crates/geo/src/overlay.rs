//! Intersection and overlap area of polygons.
//!
//! Overlay is only defined on valid input (`geo`'s `BooleanOps` gives garbage for invalid
//! polygons), so callers validate first; [`overlap`] refuses invalid input rather than guess.
//! Results pass through i_overlay's integer grid, so vertices move by about
//! (half extent) / 2^29: sub-millimetre for anything a district holds.

use geo::{Area, BooleanOps, BoundingRect, Intersects};
use geo_types::{Geometry, MultiPolygon, Polygon, Rect};

use crate::validity;

/// The overlap of two areal geometries.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    /// The common part.
    pub geometry: MultiPolygon<f64>,
    /// Its planar area in the units of the input (m² in a projected CRS).
    pub area: f64,
}

/// Why an overlay was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverlayError {
    /// One input is invalid.
    #[error("input {which} is invalid: {reasons}")]
    Invalid {
        /// `a` or `b`.
        which: &'static str,
        /// The problems, in English.
        reasons: String,
    },
    /// One input has no area.
    #[error("input {0} is not a polygon or multipolygon")]
    NotAreal(&'static str),
}

/// The areal part of a geometry as a multipolygon.
#[must_use]
pub fn as_multipolygon(g: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p.clone()])),
        Geometry::MultiPolygon(mp) => Some(mp.clone()),
        Geometry::Rect(r) => Some(MultiPolygon(vec![r.to_polygon()])),
        _ => None,
    }
}

/// Intersection of two multipolygons that are known to be valid. Cheap when their envelopes are
/// disjoint.
#[must_use]
pub fn intersection(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) if ra.intersects(&rb) => a.intersection(b),
        _ => MultiPolygon(vec![]),
    }
}

/// Area of the intersection of a polygon with another, both valid.
#[must_use]
pub fn intersection_area(a: &Polygon<f64>, b: &Polygon<f64>) -> f64 {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) if rects_overlap(&ra, &rb) => a.intersection(b).unsigned_area(),
        _ => 0.0,
    }
}

fn rects_overlap(a: &Rect<f64>, b: &Rect<f64>) -> bool {
    a.min().x < b.max().x && b.min().x < a.max().x && a.min().y < b.max().y && b.min().y < a.max().y
}

/// Validates both inputs, then intersects them.
///
/// # Errors
/// [`OverlayError`] when either input is invalid or has no area.
pub fn overlap(a: &Geometry<f64>, b: &Geometry<f64>) -> Result<Overlap, OverlayError> {
    for (which, g) in [("a", a), ("b", b)] {
        let problems = validity::problems(g);
        if !problems.is_empty() {
            let reasons = problems
                .iter()
                .map(|p| p.kind.en())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(OverlayError::Invalid { which, reasons });
        }
    }
    let ma = as_multipolygon(a).ok_or(OverlayError::NotAreal("a"))?;
    let mb = as_multipolygon(b).ok_or(OverlayError::NotAreal("b"))?;
    let geometry = intersection(&ma, &mb);
    let area = geometry.unsigned_area();
    Ok(Overlap { geometry, area })
}

/// A valid areal geometry cut into pieces of few vertices each, on a grid of boxes, so that
/// measuring its overlap with many features costs each feature only the pieces near it rather
/// than the whole outline: overlaying a 10,000-vertex site with the thousands of features it
/// meets would otherwise repeat a 10,000-vertex overlay thousands of times. The pieces tile
/// the geometry exactly (boxes do not overlap), so areas add up.
#[derive(Debug, Clone)]
pub struct Pieces {
    pieces: Vec<(Rect<f64>, MultiPolygon<f64>)>,
    bounds: Option<Rect<f64>>,
}

/// Vertices a piece may keep before it is cut again.
pub const PIECE_VERTICES: usize = 64;

/// Most halvings (at most 65,536 boxes): an outline of thousands of thin spikes is never
/// simple in any box, so its pieces stop being cut here.
const MAX_DEPTH: u32 = 16;

impl Pieces {
    /// Cuts `mp` (valid) into pieces of at most [`PIECE_VERTICES`] vertices (or after
    /// [`MAX_DEPTH`] halvings), each cut a linear clip. `stop` is asked between cuts; when it
    /// answers `true` the work ends with `None`.
    pub fn new(mp: &MultiPolygon<f64>, stop: &dyn Fn() -> bool) -> Option<Self> {
        let bounds = mp.bounding_rect();
        let mut pieces = Vec::new();
        if let Some(r) = bounds {
            cut(mp.clone(), r, 0, &mut pieces, stop)?;
        }
        Some(Self { pieces, bounds })
    }

    /// How many pieces.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether there are none (an empty geometry).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The bounding box of the whole.
    #[must_use]
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.bounds
    }

    /// The area of the whole.
    #[must_use]
    pub fn area(&self) -> f64 {
        self.pieces.iter().map(|(_, p)| p.unsigned_area()).sum()
    }

    /// Area of the overlap with `other` (valid): only the pieces whose box meets its box are
    /// overlaid.
    #[must_use]
    pub fn intersection_area(&self, other: &MultiPolygon<f64>) -> f64 {
        let Some(ob) = other.bounding_rect() else {
            return 0.0;
        };
        self.pieces
            .iter()
            .filter(|(r, _)| rects_overlap(r, &ob))
            .map(|(_, p)| {
                p.bounding_rect()
                    .filter(|pb| rects_overlap(pb, &ob))
                    .map_or(0.0, |_| p.intersection(other).unsigned_area())
            })
            .sum()
    }
}

fn cut(
    mp: MultiPolygon<f64>,
    r: Rect<f64>,
    depth: u32,
    out: &mut Vec<(Rect<f64>, MultiPolygon<f64>)>,
    stop: &dyn Fn() -> bool,
) -> Option<()> {
    if stop() {
        return None;
    }
    if mp.0.is_empty() {
        return Some(());
    }
    if geo::CoordsIter::coords_count(&mp) <= PIECE_VERTICES || depth >= MAX_DEPTH {
        out.push((r, mp));
        return Some(());
    }
    let (min, max) = (r.min(), r.max());
    let (axis, mid) = if r.width() >= r.height() {
        (Axis::X, (min.x + max.x) / 2.0)
    } else {
        (Axis::Y, (min.y + max.y) / 2.0)
    };
    let (low, high) = match axis {
        Axis::X => (
            Rect::new(min, geo_types::coord! {x: mid, y: max.y}),
            Rect::new(geo_types::coord! {x: mid, y: min.y}, max),
        ),
        Axis::Y => (
            Rect::new(min, geo_types::coord! {x: max.x, y: mid}),
            Rect::new(geo_types::coord! {x: min.x, y: mid}, max),
        ),
    };
    cut(clip(&mp, axis, mid, true), low, depth + 1, out, stop)?;
    cut(clip(&mp, axis, mid, false), high, depth + 1, out, stop)
}

#[derive(Debug, Clone, Copy)]
enum Axis {
    X,
    Y,
}

/// The part of `mp` on one side of the line `axis = at` (`below`: the side of smaller values),
/// by Sutherland–Hodgman clipping of each ring: linear in the vertices. Where a polygon leaves
/// and re-enters the half-plane, its clipped ring runs along the line and back — zero-width
/// stretches that add no area and that the even-odd overlay treats as no boundary, so areas and
/// overlaps of the pieces are those of the whole. Rings that clip to nothing are dropped.
fn clip(mp: &MultiPolygon<f64>, axis: Axis, at: f64, below: bool) -> MultiPolygon<f64> {
    let polygons =
        mp.0.iter()
            .filter_map(|p| {
                let exterior = clip_ring(p.exterior(), axis, at, below)?;
                let holes = p
                    .interiors()
                    .iter()
                    .filter_map(|h| clip_ring(h, axis, at, below))
                    .collect();
                Some(Polygon::new(exterior, holes))
            })
            .collect();
    MultiPolygon(polygons)
}

fn clip_ring(
    ring: &geo_types::LineString<f64>,
    axis: Axis,
    at: f64,
    below: bool,
) -> Option<geo_types::LineString<f64>> {
    let value = |c: &geo_types::Coord<f64>| match axis {
        Axis::X => c.x,
        Axis::Y => c.y,
    };
    let inside = |c: &geo_types::Coord<f64>| {
        if below {
            value(c) <= at
        } else {
            value(c) >= at
        }
    };
    let crossing = |a: &geo_types::Coord<f64>, b: &geo_types::Coord<f64>| {
        let t = (at - value(a)) / (value(b) - value(a));
        match axis {
            Axis::X => geo_types::coord! {x: at, y: a.y + t * (b.y - a.y)},
            Axis::Y => geo_types::coord! {x: a.x + t * (b.x - a.x), y: at},
        }
    };
    let pts = &ring.0;
    if pts.len() < 4 {
        return None;
    }
    let mut out: Vec<geo_types::Coord<f64>> = Vec::with_capacity(pts.len() + 4);
    // The ring is closed: its edges are the consecutive pairs.
    for w in pts.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        match (inside(a), inside(b)) {
            (true, true) => out.push(*b),
            (true, false) => out.push(crossing(a, b)),
            (false, true) => {
                out.push(crossing(a, b));
                out.push(*b);
            }
            (false, false) => {}
        }
    }
    if out.len() < 3 {
        return None;
    }
    out.push(out[0]);
    let ring = geo_types::LineString(out);
    (ring.0.len() >= 4 && geo::Area::unsigned_area(&Polygon::new(ring.clone(), vec![])) > 0.0)
        .then_some(ring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    /// A star of `n` points between radii `r1` and `r2` around (x, y).
    fn star(n: usize, x: f64, y: f64, r1: f64, r2: f64) -> MultiPolygon<f64> {
        let mut ring: Vec<geo_types::Coord<f64>> = (0..n)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)]
                let a = std::f64::consts::TAU * i as f64 / n as f64;
                let r = if i % 2 == 0 { r1 } else { r2 };
                geo_types::coord! {x: x + r * a.cos(), y: y + r * a.sin()}
            })
            .collect();
        ring.push(ring[0]);
        MultiPolygon(vec![Polygon::new(geo_types::LineString(ring), vec![])])
    }

    #[test]
    fn pieces_tile_the_geometry_and_measure_overlaps_as_the_whole_does() {
        let site = star(2000, 0.0, 0.0, 1000.0, 400.0);
        let pieces = Pieces::new(&site, &|| false).unwrap();
        assert!(pieces.len() > 20, "{}", pieces.len());
        let whole = site.unsigned_area();
        assert!(
            (pieces.area() - whole).abs() < whole * 1e-8,
            "{} {}",
            pieces.area(),
            whole
        );
        for (i, (x, y)) in [(0.0, 0.0), (600.0, 100.0), (-300.0, -700.0), (5000.0, 0.0)]
            .into_iter()
            .enumerate()
        {
            let other = star(40 + i * 7, x, y, 500.0, 250.0);
            let direct = site.intersection(&other).unsigned_area();
            let cut = pieces.intersection_area(&other);
            assert!(
                (direct - cut).abs() <= 1e-8 * whole,
                "{i}: {direct} vs {cut}"
            );
        }
    }

    #[test]
    fn pieces_of_a_comb_with_holes_measure_overlaps_as_the_whole_does() {
        // A comb of 60 teeth (every cut leaves and re-enters it) with square holes in its back.
        let mut ring = vec![geo_types::coord! {x: 0.0, y: 0.0}];
        for t in 0..60 {
            let x = f64::from(t) * 20.0;
            ring.extend([
                geo_types::coord! {x: x, y: 300.0},
                geo_types::coord! {x: x + 10.0, y: 300.0},
                geo_types::coord! {x: x + 10.0, y: 40.0},
                geo_types::coord! {x: x + 20.0, y: 40.0},
            ]);
        }
        ring.extend([
            geo_types::coord! {x: 1200.0, y: 0.0},
            geo_types::coord! {x: 0.0, y: 0.0},
        ]);
        let holes: Vec<geo_types::LineString<f64>> = (0..30)
            .map(|h| {
                let x = 5.0 + f64::from(h) * 40.0;
                geo_types::LineString(vec![
                    geo_types::coord! {x: x, y: 10.0},
                    geo_types::coord! {x: x, y: 30.0},
                    geo_types::coord! {x: x + 20.0, y: 30.0},
                    geo_types::coord! {x: x + 20.0, y: 10.0},
                    geo_types::coord! {x: x, y: 10.0},
                ])
            })
            .collect();
        let comb = MultiPolygon(vec![Polygon::new(geo_types::LineString(ring), holes)]);
        assert!(crate::validity::problems(&Geometry::MultiPolygon(comb.clone())).is_empty());
        let pieces = Pieces::new(&comb, &|| false).unwrap();
        assert!(pieces.len() > 4, "{}", pieces.len());
        let whole = comb.unsigned_area();
        assert!((pieces.area() - whole).abs() < whole * 1e-9);
        for (x, y, r) in [
            (300.0, 150.0, 120.0),
            (610.0, 20.0, 45.0),
            (1190.0, 290.0, 30.0),
        ] {
            let other = star(36, x, y, r, r / 2.0);
            let direct = comb.intersection(&other).unsigned_area();
            let cut = pieces.intersection_area(&other);
            assert!(
                (direct - cut).abs() <= 1e-8 * whole,
                "({x}, {y}): {direct} vs {cut}"
            );
        }
    }

    #[test]
    fn cutting_stops_when_asked() {
        let site = star(2000, 0.0, 0.0, 1000.0, 400.0);
        assert!(Pieces::new(&site, &|| true).is_none());
    }

    #[test]
    fn overlap_of_two_squares_in_a_gauss_kruger_zone() {
        // Zone-prefixed eastings (39.5 M) must not lose precision.
        let a: Geometry<f64> = polygon![(x: 39_500_000.0, y: 3_000_000.0), (x: 39_500_100.0, y: 3_000_000.0), (x: 39_500_100.0, y: 3_000_100.0), (x: 39_500_000.0, y: 3_000_100.0)].into();
        let b: Geometry<f64> = polygon![(x: 39_500_050.0, y: 3_000_050.0), (x: 39_500_150.0, y: 3_000_050.0), (x: 39_500_150.0, y: 3_000_150.0), (x: 39_500_050.0, y: 3_000_150.0)].into();
        let o = overlap(&a, &b).unwrap();
        assert!((o.area - 2500.0).abs() < 1e-4, "{}", o.area);
    }

    #[test]
    fn refuses_invalid_input() {
        let bow: Geometry<f64> =
            polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 10.0), (x: 10.0, y: 0.0), (x: 0.0, y: 10.0)]
                .into();
        let sq: Geometry<f64> =
            polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0)].into();
        assert!(matches!(
            overlap(&bow, &sq),
            Err(OverlayError::Invalid { which: "a", .. })
        ));
    }

    #[test]
    fn touching_polygons_do_not_overlap() {
        let a = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)];
        let b = polygon![(x: 1.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 1.0), (x: 1.0, y: 1.0)];
        assert_eq!(intersection_area(&a, &b), 0.0);
    }
}
