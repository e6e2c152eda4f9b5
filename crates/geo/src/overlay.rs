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

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

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
