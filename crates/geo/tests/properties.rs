//! Property tests of the geometry kernel on random polygons in a Gauss–Krüger plane.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use geo::Area;
use geo_types::{Coord, Geometry, LineString, Polygon};
use proptest::prelude::*;
use tudi_geo::io::{geojson as gj, wkb};
use tudi_geo::{overlay, validity};

/// A convex polygon: points on a circle at sorted random angles, around a point in EPSG:4547.
fn convex() -> impl Strategy<Value = Polygon<f64>> {
    (
        480_000.0f64..520_000.0,
        2_520_000.0f64..2_560_000.0,
        5.0f64..200.0,
        prop::collection::vec(0.0f64..std::f64::consts::TAU, 3..24),
    )
        .prop_filter_map("needs three distinct angles", |(cx, cy, r, mut angles)| {
            angles.sort_by(f64::total_cmp);
            angles.dedup_by(|a, b| (*a - *b).abs() < 0.05);
            if angles.len() < 3
                || (std::f64::consts::TAU - angles[angles.len() - 1] + angles[0]) < 0.05
            {
                return None;
            }
            let mut ring: Vec<Coord<f64>> = angles
                .iter()
                .map(|a| Coord {
                    x: cx + r * a.cos(),
                    y: cy + r * a.sin(),
                })
                .collect();
            ring.push(ring[0]);
            let p = Polygon::new(LineString(ring), vec![]);
            (p.unsigned_area() > 1.0).then_some(p)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn convex_polygons_are_valid(p in convex()) {
        prop_assert!(validity::problems(&Geometry::Polygon(p)).is_empty());
    }

    #[test]
    fn swapping_two_vertices_of_a_convex_polygon_makes_it_self_intersect(p in convex()) {
        let mut ring = p.exterior().0.clone();
        prop_assume!(ring.len() >= 5);
        ring.swap(1, 2);
        let bent = Geometry::Polygon(Polygon::new(LineString(ring), vec![]));
        let problems = validity::problems(&bent);
        prop_assert!(problems.iter().any(|p| p.kind == validity::ProblemKind::SelfIntersection), "{problems:?}");
        prop_assert!(problems.iter().all(|p| p.location.is_some()), "every problem is located");
    }

    #[test]
    fn blobs_and_geojson_round_trip_exactly(p in convex()) {
        let g = Geometry::Polygon(p);
        prop_assert_eq!(wkb::from_gpkg(&wkb::to_gpkg(&g, 4547).unwrap()).unwrap(), g.clone());
        prop_assert_eq!(wkb::from_wkb(&wkb::to_wkb(&g).unwrap()).unwrap(), g.clone());
        let text = gj::geometry_to_value(&g).to_string();
        prop_assert_eq!(gj::parse_geometry(&text).unwrap(), g);
    }

    #[test]
    fn overlap_area_is_bounded_by_both_inputs(a in convex(), b in convex()) {
        let (ga, gb) = (Geometry::Polygon(a.clone()), Geometry::Polygon(b.clone()));
        let o = overlay::overlap(&ga, &gb).unwrap();
        let (aa, ab) = (a.unsigned_area(), b.unsigned_area());
        // Overlay output is snapped to i_overlay's grid: allow a relative 1e-6.
        prop_assert!(o.area <= aa.min(ab) * (1.0 + 1e-6) + 1e-6, "{} > min({aa}, {ab})", o.area);
        let self_overlap = overlay::overlap(&ga, &ga).unwrap();
        prop_assert!((self_overlap.area - aa).abs() <= aa * 1e-6, "{} vs {aa}", self_overlap.area);
    }
}
