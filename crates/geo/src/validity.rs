//! OGC validity with the reason and location of every problem.
//!
//! The decision of *whether* a polygon is valid is geo's `Validation` (OGC Simple Features rules,
//! DE-9IM based). This module adds what users need to fix their data: the kind of each problem
//! in Chinese and English, which part and ring it is in, and a coordinate to zoom to. Problems that
//! only the raw input can show (a ring that is not closed, a position with one number) are found by
//! the readers in [`crate::io`] and reported with the same type.
//!
//! Invalid geometry is reported, never repaired: callers refuse it or let the user decide.

use geo::Validation;
use geo::algorithm::validation::{
    InvalidGeometry, InvalidLineString, InvalidMultiPolygon, InvalidPolygon, RingRole,
};
use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{Contains, CoordsIter};
use geo_types::{Coord, Geometry, Line, LineString, MultiPolygon, Polygon};
use tudi_core::msg::{Bilingual, Msg};

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A coordinate is NaN or infinite.
    NonFiniteCoordinate,
    /// A ring has fewer than 3 distinct points, or a line fewer than 2.
    TooFewPoints,
    /// A ring's last point differs from its first.
    RingNotClosed,
    /// A ring crosses or touches itself.
    SelfIntersection,
    /// A hole lies (partly) outside its shell.
    HoleOutsideShell,
    /// Two rings of one polygon cross, overlap along a line, or one hole lies inside another.
    RingsIntersect,
    /// Rings touch so that the interior falls apart (e.g. a hole touching the shell at two points).
    InteriorDisconnected,
    /// Two polygons of a multipolygon overlap, or one lies inside another (nested shells).
    PartsOverlap,
    /// Two polygons of a multipolygon share an edge (they should be one polygon).
    PartsTouchOnLine,
    /// The geometry type is not allowed here (e.g. a point in a polygon layer).
    WrongType,
}

impl ProblemKind {
    /// Chinese name.
    #[must_use]
    pub const fn zh(self) -> &'static str {
        match self {
            Self::NonFiniteCoordinate => "坐标值无效（NaN 或无穷大）",
            Self::TooFewPoints => "点数过少",
            Self::RingNotClosed => "环未闭合",
            Self::SelfIntersection => "自相交",
            Self::HoleOutsideShell => "内环（洞）在外环之外",
            Self::RingsIntersect => "环之间相交或内环嵌套",
            Self::InteriorDisconnected => "内部不连通（环在两处以上相接）",
            Self::PartsOverlap => "多面的组成部分重叠或嵌套",
            Self::PartsTouchOnLine => "多面的组成部分共边",
            Self::WrongType => "几何类型不符",
        }
    }

    /// English name.
    #[must_use]
    pub const fn en(self) -> &'static str {
        match self {
            Self::NonFiniteCoordinate => "non-finite coordinate",
            Self::TooFewPoints => "too few points",
            Self::RingNotClosed => "ring not closed",
            Self::SelfIntersection => "self-intersection",
            Self::HoleOutsideShell => "hole outside shell",
            Self::RingsIntersect => "rings intersect or holes are nested",
            Self::InteriorDisconnected => "interior is disconnected",
            Self::PartsOverlap => "parts overlap or are nested",
            Self::PartsTouchOnLine => "parts touch along a line",
            Self::WrongType => "wrong geometry type",
        }
    }
}

/// Which ring of a polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// The exterior ring (shell).
    Exterior,
    /// Interior ring (hole) number n, from 0.
    Interior(usize),
}

impl From<RingRole> for Ring {
    fn from(r: RingRole) -> Self {
        match r {
            RingRole::Exterior => Self::Exterior,
            RingRole::Interior(i) => Self::Interior(i),
        }
    }
}

/// One problem: its kind, where it is in the geometry, and a coordinate to look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// Index of the polygon within a multipolygon (or of the part within a collection).
    pub part: Option<usize>,
    /// The ring at fault.
    pub ring: Option<Ring>,
    /// Index of the offending vertex within its ring, when the problem is at a vertex.
    pub vertex: Option<usize>,
    /// A coordinate at or near the problem, in the geometry's own CRS.
    pub location: Option<Coord<f64>>,
}

impl Problem {
    fn new(kind: ProblemKind) -> Self {
        Self {
            kind,
            part: None,
            ring: None,
            vertex: None,
            location: None,
        }
    }
}

impl Bilingual for Problem {
    fn msg(&self) -> Msg {
        let mut zh = String::from(self.kind.zh());
        let mut en = String::from(self.kind.en());
        if let Some(p) = self.part {
            zh.push_str(&format!("，第 {} 个部分", p + 1));
            en.push_str(&format!(", part {}", p + 1));
        }
        match self.ring {
            Some(Ring::Exterior) => {
                zh.push_str("，外环");
                en.push_str(", exterior ring");
            }
            Some(Ring::Interior(i)) => {
                zh.push_str(&format!("，第 {} 个内环", i + 1));
                en.push_str(&format!(", interior ring {}", i + 1));
            }
            None => {}
        }
        if let Some(v) = self.vertex {
            zh.push_str(&format!("，第 {} 个顶点", v + 1));
            en.push_str(&format!(", vertex {}", v + 1));
        }
        if let Some(c) = self.location {
            zh.push_str(&format!("，位置 ({}, {})", c.x, c.y));
            en.push_str(&format!(" at ({}, {})", c.x, c.y));
        }
        Msg::new(zh, en)
    }
}

/// Every validity problem of `geom` (empty when valid).
#[must_use]
pub fn problems(geom: &Geometry<f64>) -> Vec<Problem> {
    // geo's validation relates the parts of a multipolygon even when a coordinate is NaN, and
    // its ordering then panics (found by the `wkb` fuzz target): report such a geometry first.
    if let Some(p) = non_finite(geom) {
        return vec![p];
    }
    let mut out = Vec::new();
    let _ = geom.visit_validation(Box::new(|e: InvalidGeometry| {
        out.extend(locate(geom, e));
        Ok::<(), ()>(())
    }));
    if out.is_empty() {
        // geo's rules pass; add the two OGC rules it does not check.
        out.extend(topology_problems(geom));
    }
    out
}

/// Whether `geom` is valid.
#[must_use]
pub fn is_valid(geom: &Geometry<f64>) -> bool {
    if has_non_finite(geom) {
        return false;
    }
    geom.is_valid() && topology_problems(geom).is_empty()
}

/// Problems of a closed ring on its own (a `LINEARRING`): closure, point count, simplicity.
#[must_use]
pub fn ring_problems(ring: &LineString<f64>) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(i) = ring
        .0
        .iter()
        .position(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        out.push(Problem {
            vertex: Some(i),
            location: ring.0.get(i).copied(),
            ..Problem::new(ProblemKind::NonFiniteCoordinate)
        });
        return out;
    }
    if ring.0.len() < 4 {
        out.push(Problem {
            location: ring.0.first().copied(),
            ..Problem::new(ProblemKind::TooFewPoints)
        });
    } else if ring.0.first() != ring.0.last() {
        out.push(Problem {
            vertex: Some(ring.0.len() - 1),
            location: ring.0.last().copied(),
            ..Problem::new(ProblemKind::RingNotClosed)
        });
    } else if let Some(c) = self_intersection_point(ring) {
        out.push(Problem {
            location: Some(c),
            ..Problem::new(ProblemKind::SelfIntersection)
        });
    }
    out
}

/// Collapsed rings (zero area with three or more distinct points) and disconnected interiors.
fn topology_problems(geom: &Geometry<f64>) -> Vec<Problem> {
    let polys: Vec<(Option<usize>, &Polygon<f64>)> = match geom {
        Geometry::Polygon(p) => vec![(None, p)],
        Geometry::MultiPolygon(mp) => mp.0.iter().enumerate().map(|(i, p)| (Some(i), p)).collect(),
        Geometry::GeometryCollection(gc) => {
            return gc
                .0
                .iter()
                .enumerate()
                .flat_map(|(i, g)| {
                    topology_problems(g).into_iter().map(move |mut p| {
                        p.part = Some(i);
                        p
                    })
                })
                .collect();
        }
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for (part, poly) in polys {
        for (ri, ring) in std::iter::once(poly.exterior())
            .chain(poly.interiors())
            .enumerate()
        {
            if !ring.0.is_empty() && ring_signed_area(ring) == 0.0 {
                out.push(Problem {
                    part,
                    ring: Some(if ri == 0 {
                        Ring::Exterior
                    } else {
                        Ring::Interior(ri - 1)
                    }),
                    location: self_intersection_point(ring).or_else(|| ring.0.first().copied()),
                    ..Problem::new(ProblemKind::SelfIntersection)
                });
            }
        }
        if let Some((ring, at)) = disconnected_interior(poly) {
            out.push(Problem {
                part,
                ring: Some(ring),
                location: Some(at),
                ..Problem::new(ProblemKind::InteriorDisconnected)
            });
        }
    }
    out
}

fn ring_signed_area(ring: &LineString<f64>) -> f64 {
    ring.lines()
        .map(|l| l.start.x * l.end.y - l.end.x * l.start.y)
        .sum::<f64>()
        / 2.0
}

/// The interior of a polygon whose rings only touch at points is disconnected exactly when the
/// graph of rings and touching points has a cycle (a hole touching the shell twice, a chain of
/// holes from shell to shell, a ring of holes). Returns the ring and point that close the cycle.
fn disconnected_interior(poly: &Polygon<f64>) -> Option<(Ring, Coord<f64>)> {
    let rings: Vec<&LineString<f64>> = std::iter::once(poly.exterior())
        .chain(poly.interiors())
        .collect();
    if rings.len() < 2 && rings.first().is_none_or(|r| r.0.len() < 5) {
        return None;
    }
    let boxes: Vec<Option<geo_types::Rect<f64>>> = rings
        .iter()
        .map(|r| geo::BoundingRect::bounding_rect(*r))
        .collect();
    // Nodes: rings 0..n, then one node per distinct touching point.
    let mut points: Vec<Coord<f64>> = Vec::new();
    let mut parent: Vec<usize> = (0..rings.len()).collect();
    let mut edges: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for i in 0..rings.len() {
        for j in (i + 1)..rings.len() {
            let (Some(bi), Some(bj)) = (boxes[i], boxes[j]) else {
                continue;
            };
            if !geo::Intersects::intersects(&bi, &bj) {
                continue;
            }
            let mut touches: Vec<Coord<f64>> = Vec::new();
            for la in rings[i].lines() {
                for lb in rings[j].lines() {
                    if let Some(LineIntersection::SinglePoint { intersection, .. }) =
                        line_intersection(la, lb)
                        && !touches.contains(&intersection)
                    {
                        touches.push(intersection);
                    }
                }
            }
            for t in touches {
                let node = match points.iter().position(|p| *p == t) {
                    Some(k) => rings.len() + k,
                    None => {
                        points.push(t);
                        parent.push(parent.len());
                        parent.len() - 1
                    }
                };
                for ring_node in [i, j] {
                    // Each ring meets each point once in the graph, however many pairs share it.
                    if !edges.insert((ring_node, node)) {
                        continue;
                    }
                    let (a, b) = (find(&mut parent, ring_node), find(&mut parent, node));
                    if a == b {
                        let ring = if j == 0 {
                            Ring::Exterior
                        } else {
                            Ring::Interior(j - 1)
                        };
                        return Some((ring, t));
                    }
                    parent[a] = b;
                }
            }
        }
    }
    None
}

/// The first non-finite coordinate, with the part, ring and vertex it is at.
fn non_finite(geom: &Geometry<f64>) -> Option<Problem> {
    let bad = |c: &Coord<f64>| !c.x.is_finite() || !c.y.is_finite();
    let in_polygon = |part: Option<usize>, p: &Polygon<f64>| {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .enumerate()
            .find_map(|(ri, ring)| {
                ring.0.iter().position(bad).map(|v| Problem {
                    part,
                    ring: Some(if ri == 0 {
                        Ring::Exterior
                    } else {
                        Ring::Interior(ri - 1)
                    }),
                    vertex: Some(v),
                    ..Problem::new(ProblemKind::NonFiniteCoordinate)
                })
            })
    };
    match geom {
        Geometry::Polygon(p) => in_polygon(None, p),
        Geometry::MultiPolygon(mp) => {
            mp.0.iter()
                .enumerate()
                .find_map(|(i, p)| in_polygon(Some(i), p))
        }
        Geometry::GeometryCollection(gc) => gc.0.iter().enumerate().find_map(|(i, g)| {
            non_finite(g).map(|mut p| {
                p.part = Some(i);
                p
            })
        }),
        other => other.coords_iter().position(|c| bad(&c)).map(|v| Problem {
            vertex: Some(v),
            ..Problem::new(ProblemKind::NonFiniteCoordinate)
        }),
    }
}

fn has_non_finite(geom: &Geometry<f64>) -> bool {
    geom.coords_iter()
        .any(|c| !c.x.is_finite() || !c.y.is_finite())
}

fn locate(geom: &Geometry<f64>, err: InvalidGeometry) -> Vec<Problem> {
    match (geom, err) {
        (Geometry::Polygon(p), InvalidGeometry::InvalidPolygon(e)) => vec![polygon_problem(p, e)],
        (Geometry::MultiPolygon(mp), InvalidGeometry::InvalidMultiPolygon(e)) => {
            vec![multipolygon_problem(mp, e)]
        }
        (Geometry::LineString(ls), InvalidGeometry::InvalidLineString(e)) => {
            vec![line_problem(ls, e)]
        }
        (Geometry::GeometryCollection(gc), InvalidGeometry::InvalidGeometryCollection(e)) => {
            use geo::algorithm::validation::InvalidGeometryCollection as Igc;
            match e {
                Igc::InvalidGeometry(idx, inner) => {
                    let Some(part) = gc.0.get(idx.0) else {
                        return Vec::new();
                    };
                    locate(part, *inner)
                        .into_iter()
                        .map(|mut p| {
                            p.part = Some(idx.0);
                            p
                        })
                        .collect()
                }
            }
        }
        (_, e) => {
            let kind = match e {
                InvalidGeometry::InvalidPoint(_) | InvalidGeometry::InvalidMultiPoint(_) => {
                    ProblemKind::NonFiniteCoordinate
                }
                _ => ProblemKind::TooFewPoints,
            };
            let mut p = Problem::new(kind);
            p.location = geom
                .coords_iter()
                .find(|c| !c.x.is_finite() || !c.y.is_finite());
            if kind == ProblemKind::TooFewPoints {
                p.location = geom.coords_iter().next();
            }
            vec![p]
        }
    }
}

fn line_problem(ls: &LineString<f64>, e: InvalidLineString) -> Problem {
    match e {
        InvalidLineString::NonFiniteCoord(idx) => Problem {
            vertex: Some(idx.0),
            location: ls.0.get(idx.0).copied(),
            ..Problem::new(ProblemKind::NonFiniteCoordinate)
        },
        InvalidLineString::TooFewPoints => Problem {
            location: ls.0.first().copied(),
            ..Problem::new(ProblemKind::TooFewPoints)
        },
    }
}

fn ring_of(p: &Polygon<f64>, r: RingRole) -> Option<&LineString<f64>> {
    match r {
        RingRole::Exterior => Some(p.exterior()),
        RingRole::Interior(i) => p.interiors().get(i),
    }
}

fn polygon_problem(p: &Polygon<f64>, e: InvalidPolygon) -> Problem {
    match e {
        InvalidPolygon::TooFewPointsInRing(r) => Problem {
            ring: Some(r.into()),
            location: ring_of(p, r).and_then(|l| l.0.first().copied()),
            ..Problem::new(ProblemKind::TooFewPoints)
        },
        InvalidPolygon::SelfIntersection(r) => Problem {
            ring: Some(r.into()),
            location: ring_of(p, r).and_then(self_intersection_point),
            ..Problem::new(ProblemKind::SelfIntersection)
        },
        InvalidPolygon::NonFiniteCoord(r, idx) => Problem {
            ring: Some(r.into()),
            vertex: Some(idx.0),
            location: ring_of(p, r).and_then(|l| l.0.get(idx.0).copied()),
            ..Problem::new(ProblemKind::NonFiniteCoordinate)
        },
        InvalidPolygon::InteriorRingNotContainedInExteriorRing(r) => {
            let shell = Polygon::new(p.exterior().clone(), vec![]);
            let location = ring_of(p, r).and_then(|hole| {
                hole.0
                    .iter()
                    .find(|c| !shell.contains(*c) && !on_boundary(p.exterior(), **c))
                    .or(hole.0.first())
                    .copied()
            });
            Problem {
                ring: Some(r.into()),
                location,
                ..Problem::new(ProblemKind::HoleOutsideShell)
            }
        }
        InvalidPolygon::IntersectingRingsOnALine(a, b)
        | InvalidPolygon::IntersectingRingsOnAnArea(a, b) => {
            let location = match (ring_of(p, a), ring_of(p, b)) {
                (Some(x), Some(y)) => rings_meet_point(x, y),
                _ => None,
            };
            Problem {
                ring: Some(b.into()),
                location,
                ..Problem::new(ProblemKind::RingsIntersect)
            }
        }
    }
}

fn multipolygon_problem(mp: &MultiPolygon<f64>, e: InvalidMultiPolygon) -> Problem {
    let overlaps = matches!(e, InvalidMultiPolygon::ElementsOverlaps(..));
    match e {
        InvalidMultiPolygon::InvalidPolygon(idx, inner) => {
            let mut pr = mp.0.get(idx.0).map_or_else(
                || Problem::new(ProblemKind::TooFewPoints),
                |p| polygon_problem(p, inner),
            );
            pr.part = Some(idx.0);
            pr
        }
        InvalidMultiPolygon::ElementsOverlaps(a, b)
        | InvalidMultiPolygon::ElementsTouchOnALine(a, b) => {
            let kind = if overlaps {
                ProblemKind::PartsOverlap
            } else {
                ProblemKind::PartsTouchOnLine
            };
            let location = match (mp.0.get(a.0), mp.0.get(b.0)) {
                (Some(x), Some(y)) => rings_meet_point(x.exterior(), y.exterior()).or_else(|| {
                    // No boundary crossing: one shell is nested in the other.
                    y.exterior().0.first().copied()
                }),
                _ => None,
            };
            Problem {
                part: Some(b.0),
                location,
                ..Problem::new(kind)
            }
        }
    }
}

fn on_boundary(ring: &LineString<f64>, c: Coord<f64>) -> bool {
    ring.lines()
        .any(|l| line_intersection(l, Line::new(c, c)).is_some())
}

/// A point where a ring touches or crosses itself, if any: two non-adjacent segments that meet,
/// or adjacent ones that fold back over each other.
fn self_intersection_point(ring: &LineString<f64>) -> Option<Coord<f64>> {
    let segs: Vec<Line<f64>> = ring.lines().filter(|l| l.start != l.end).collect();
    let n = segs.len();
    for i in 0..n {
        for j in (i + 1)..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            match line_intersection(segs[i], segs[j]) {
                Some(LineIntersection::Collinear { intersection }) => {
                    return Some(intersection.start);
                }
                Some(LineIntersection::SinglePoint { intersection, .. }) if !adjacent => {
                    return Some(intersection);
                }
                _ => {}
            }
        }
    }
    None
}

/// A point where two rings meet, if any.
fn rings_meet_point(a: &LineString<f64>, b: &LineString<f64>) -> Option<Coord<f64>> {
    let mut touch = None;
    for la in a.lines() {
        for lb in b.lines() {
            match line_intersection(la, lb) {
                Some(LineIntersection::Collinear { intersection }) => {
                    return Some(intersection.start);
                }
                Some(LineIntersection::SinglePoint {
                    intersection,
                    is_proper: true,
                }) => return Some(intersection),
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    touch.get_or_insert(intersection);
                }
                None => {}
            }
        }
    }
    touch
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{Geometry, polygon};

    #[test]
    fn a_bowtie_is_located_at_its_crossing() {
        let g: Geometry<f64> =
            polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 10.0), (x: 10.0, y: 0.0), (x: 0.0, y: 10.0)]
                .into();
        let p = problems(&g);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind, ProblemKind::SelfIntersection);
        assert_eq!(p[0].ring, Some(Ring::Exterior));
        assert_eq!(p[0].location, Some(Coord { x: 5.0, y: 5.0 }));
        let m = p[0].msg();
        assert!(m.zh.starts_with("自相交，外环，位置 (5, 5)"), "{}", m.zh);
    }

    #[test]
    fn a_hole_outside_is_named_with_a_vertex_outside() {
        let g: Geometry<f64> = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)],
            interiors: [[(x: 20.0, y: 20.0), (x: 21.0, y: 20.0), (x: 21.0, y: 21.0)]],
        )
        .into();
        let p = problems(&g);
        assert_eq!(p[0].kind, ProblemKind::HoleOutsideShell);
        assert_eq!(p[0].ring, Some(Ring::Interior(0)));
        assert_eq!(p[0].location, Some(Coord { x: 20.0, y: 20.0 }));
    }

    /// Found by the `wkb` fuzz target: NaN in the second polygon of a multipolygon.
    #[test]
    fn a_nan_in_a_later_part_is_reported_not_panicked_on() {
        let ok = geo_types::polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0)];
        let nan = geo_types::polygon![(x: 20.0, y: 0.0), (x: f64::NAN, y: 0.0), (x: 30.0, y: 10.0)];
        let g = Geometry::MultiPolygon(geo_types::MultiPolygon(vec![ok, nan]));
        let p = problems(&g);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].kind, ProblemKind::NonFiniteCoordinate);
        assert_eq!((p[0].part, p[0].vertex), (Some(1), Some(1)));
    }

    #[test]
    fn non_finite_coordinates_are_reported_not_crashed_on() {
        let g: Geometry<f64> =
            polygon![(x: 0.0, y: 0.0), (x: f64::NAN, y: 10.0), (x: 10.0, y: 0.0)].into();
        assert!(!is_valid(&g));
        let p = problems(&g);
        assert!(
            p.iter()
                .any(|p| p.kind == ProblemKind::NonFiniteCoordinate && p.vertex == Some(1))
        );
    }

    #[test]
    fn valid_geometry_has_no_problems() {
        let g: Geometry<f64> =
            polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0)].into();
        assert!(problems(&g).is_empty());
        assert!(is_valid(&g));
    }
}
