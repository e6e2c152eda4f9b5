//! Area, with the method it was computed by.
//!
//! Official areas are planar in the layer's Gauss–Krüger zone (坐标解析法, registration and
//! ownership) or ellipsoidal on the CGCS2000 ellipsoid (land-survey statistics), per
//! `reference/domain-standards.md` §9.3. An [`Area`] always says which, so a figure can never be
//! shown without its method.

use geo::Area as _;
use geo_types::{Geometry, Polygon};
use geographiclib_rs::{Geodesic, PolygonArea, Winding};

use crate::crs::{Crs, CrsError, CrsKind, Transformer};

/// CGCS2000 ellipsoid semi-major axis (m).
pub const CGCS2000_A: f64 = 6_378_137.0;
/// CGCS2000 ellipsoid flattening.
pub const CGCS2000_F: f64 = 1.0 / 298.257_222_101;

/// How an area was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaMethod {
    /// Planar (shoelace) in a projected Gauss–Krüger CRS.
    Planar(Crs),
    /// Geodesic on the CGCS2000 ellipsoid (Karney's algorithm).
    EllipsoidalCgcs2000,
}

impl AreaMethod {
    /// A short Chinese description, e.g. `平面面积（EPSG:4547）`.
    #[must_use]
    pub fn describe_zh(self) -> String {
        match self {
            Self::Planar(crs) => format!("平面面积（{}）", crs.code_string()),
            Self::EllipsoidalCgcs2000 => "椭球面积（CGCS2000 椭球）".into(),
        }
    }

    /// A short English description.
    #[must_use]
    pub fn describe_en(self) -> String {
        match self {
            Self::Planar(crs) => format!("planar area in {}", crs.code_string()),
            Self::EllipsoidalCgcs2000 => "ellipsoidal area on CGCS2000".into(),
        }
    }
}

/// An area in square metres with its method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    /// Square metres.
    pub m2: f64,
    /// How it was computed.
    pub method: AreaMethod,
}

impl Area {
    /// The same area in 亩.
    #[must_use]
    pub fn mu(&self) -> f64 {
        tudi_core::units::m2_to_mu(self.m2)
    }
}

/// Why an area could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AreaError {
    /// Planar area asked of a CRS whose plane is not an equal-scale projection for cadastre.
    #[error("planar area needs a Gauss-Kruger CRS, not {0}")]
    NotProjected(Crs),
    /// A coordinate could not be transformed.
    #[error(transparent)]
    Crs(#[from] CrsError),
}

/// Planar area of `geom` in its Gauss–Krüger CRS.
///
/// # Errors
/// [`AreaError::NotProjected`] for geographic or Web Mercator coordinates: their "planar" area
/// would be meaningless.
pub fn planar(geom: &Geometry<f64>, crs: Crs) -> Result<Area, AreaError> {
    if !matches!(crs.kind(), CrsKind::GaussKruger { .. }) {
        return Err(AreaError::NotProjected(crs));
    }
    Ok(Area {
        m2: geom.unsigned_area(),
        method: AreaMethod::Planar(crs),
    })
}

/// Ellipsoidal area on CGCS2000. Projected input is first taken back to longitude/latitude.
///
/// # Errors
/// When a coordinate cannot be transformed.
pub fn ellipsoidal(geom: &Geometry<f64>, crs: Crs) -> Result<Area, AreaError> {
    let mut g = geom.clone();
    if !crs.is_geographic() {
        Transformer::new(crs, Crs::CGCS2000)?.apply_geometry(&mut g)?;
    }
    let geod = Geodesic::new(CGCS2000_A, CGCS2000_F);
    let mut total = 0.0;
    for poly in polygons(&g) {
        total += ring_area(&geod, poly.exterior());
        for hole in poly.interiors() {
            total -= ring_area(&geod, hole);
        }
    }
    Ok(Area {
        m2: total,
        method: AreaMethod::EllipsoidalCgcs2000,
    })
}

/// The area a user should see by default: planar in a Gauss–Krüger layer, ellipsoidal otherwise.
///
/// # Errors
/// As [`ellipsoidal`].
pub fn official(geom: &Geometry<f64>, crs: Crs) -> Result<Area, AreaError> {
    match crs.kind() {
        CrsKind::GaussKruger { .. } => planar(geom, crs),
        _ => ellipsoidal(geom, crs),
    }
}

fn ring_area(geod: &Geodesic, ring: &geo_types::LineString<f64>) -> f64 {
    let mut pa = PolygonArea::new(geod, Winding::CounterClockwise);
    let n = ring.0.len();
    // A closed ring repeats its first point; the polygon-area accumulator closes it itself.
    let take = if n > 1 && ring.0[0] == ring.0[n - 1] {
        n - 1
    } else {
        n
    };
    for c in ring.0.iter().take(take) {
        pa.add_point(c.y, c.x);
    }
    let (_, area, _) = pa.compute(true);
    area.abs()
}

/// The polygons of a geometry (lines and points have no area).
pub fn polygons(geom: &Geometry<f64>) -> Vec<&Polygon<f64>> {
    match geom {
        Geometry::Polygon(p) => vec![p],
        Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
        Geometry::GeometryCollection(gc) => gc.0.iter().flat_map(polygons).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    #[test]
    fn planar_and_ellipsoidal_agree_near_the_central_meridian() {
        let square: Geometry<f64> = polygon![
            (x: 500_000.0, y: 2_550_000.0), (x: 500_100.0, y: 2_550_000.0),
            (x: 500_100.0, y: 2_550_110.0), (x: 500_000.0, y: 2_550_110.0),
        ]
        .into();
        let crs = Crs::from_epsg(4547).unwrap();
        let p = planar(&square, crs).unwrap();
        assert!((p.m2 - 11_000.0).abs() < 1e-6);
        assert_eq!(p.method, AreaMethod::Planar(crs));
        let e = ellipsoidal(&square, crs).unwrap();
        assert_eq!(e.method, AreaMethod::EllipsoidalCgcs2000);
        // On the central meridian the scale factor is 1: the two differ by well under 0.01 %.
        assert!((e.m2 - p.m2).abs() / p.m2 < 1e-4, "{} vs {}", e.m2, p.m2);
        assert!((p.mu() - 16.5).abs() < 1e-9);
    }

    #[test]
    fn planar_area_refuses_degrees() {
        let g: Geometry<f64> =
            polygon![(x: 113.0, y: 23.0), (x: 113.1, y: 23.0), (x: 113.1, y: 23.1)].into();
        assert!(matches!(
            planar(&g, Crs::CGCS2000),
            Err(AreaError::NotProjected(_))
        ));
        assert_eq!(
            official(&g, Crs::CGCS2000).unwrap().method,
            AreaMethod::EllipsoidalCgcs2000
        );
    }

    #[test]
    fn holes_are_subtracted() {
        let g: Geometry<f64> = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 0.01, y: 0.0), (x: 0.01, y: 0.01), (x: 0.0, y: 0.01)],
            interiors: [[(x: 0.004, y: 0.004), (x: 0.006, y: 0.004), (x: 0.006, y: 0.006), (x: 0.004, y: 0.006)]],
        )
        .into();
        let full: Geometry<f64> =
            polygon![(x: 0.0, y: 0.0), (x: 0.01, y: 0.0), (x: 0.01, y: 0.01), (x: 0.0, y: 0.01)]
                .into();
        let a = ellipsoidal(&g, Crs::CGCS2000).unwrap().m2;
        let b = ellipsoidal(&full, Crs::CGCS2000).unwrap().m2;
        assert!((b - a - b * 0.04).abs() / b < 1e-3);
    }
}
