//! Checks between layers: a feature against the features of another layer of the store (the
//! jurisdiction, the villages, a control line, the land survey), both in the same planar CRS.

use geo::{Area, BooleanOps, BoundingRect};
use geo_types::{Coord, Geometry, MultiPolygon};
use rayon::prelude::*;
use rstar::{AABB, RTree, RTreeObject};
use tudi_core::msg::Msg;
use tudi_onemap::import::PlanarFeature;

use crate::check::{
    Boxed, Finding, aabb, finding, first_vertex, index_of, measurable_shape, round, value,
};
use crate::rules::{Check, Rule};

/// Another layer, made ready for overlay: the valid areal shape of each feature, indexed.
/// Invalid features of it are left out: overlay is undefined on them (a check of that layer
/// reports them).
pub struct Prepared<'a> {
    features: &'a [PlanarFeature],
    shapes: Vec<Option<MultiPolygon<f64>>>,
    /// The outlines of the large shapes (a district, a village), indexed by edge: a feature
    /// whose box no edge passes through lies wholly inside or wholly outside, told by one ray,
    /// without an overlay against thousands of vertices.
    outlines: Vec<Option<Outline>>,
    index: RTree<Boxed>,
}

/// Shapes with more vertices than this get an [`Outline`].
const OUTLINE_FROM: usize = 64;

struct Edge {
    a: [f64; 2],
    b: [f64; 2],
}

impl RTreeObject for Edge {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(self.a, self.b)
    }
}

struct Outline {
    edges: RTree<Edge>,
    max_x: f64,
}

impl Outline {
    fn of(mp: &MultiPolygon<f64>) -> Option<Self> {
        let r = mp.bounding_rect()?;
        let edges: Vec<Edge> = mp
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| {
                ring.0.windows(2).map(|w| Edge {
                    a: [w[0].x, w[0].y],
                    b: [w[1].x, w[1].y],
                })
            })
            .collect();
        (edges.len() > OUTLINE_FROM).then(|| Self {
            edges: RTree::bulk_load(edges),
            max_x: r.max().x,
        })
    }

    /// Whether an edge of the outline passes through `r`.
    fn meets(&self, r: &AABB<[f64; 2]>) -> bool {
        self.edges
            .locate_in_envelope_intersecting(r)
            .next()
            .is_some()
    }

    /// Whether `p` lies inside (even–odd over every ring, so holes and parts count right).
    fn contains(&self, p: Coord<f64>) -> bool {
        let ray = AABB::from_corners([p.x, p.y], [self.max_x + 1.0, p.y]);
        let mut inside = false;
        for e in self.edges.locate_in_envelope_intersecting(&ray) {
            if (e.a[1] > p.y) != (e.b[1] > p.y) {
                let x = e.a[0] + (p.y - e.a[1]) * (e.b[0] - e.a[0]) / (e.b[1] - e.a[1]);
                if x > p.x {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

impl<'a> Prepared<'a> {
    /// Validates and indexes those of `features` that have the values of `filter`.
    #[must_use]
    pub fn new(
        features: &'a [PlanarFeature],
        filter: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Self {
        let shapes: Vec<Option<MultiPolygon<f64>>> = features
            .par_iter()
            .map(|f| {
                let chosen = filter.is_none_or(|want| {
                    want.iter().all(|(field, v)| {
                        value(f, field).is_some_and(|have| have.trim_matches('"') == v)
                    })
                });
                if chosen { measurable_shape(f) } else { None }
            })
            .collect();
        let outlines = shapes
            .par_iter()
            .map(|s| s.as_ref().and_then(Outline::of))
            .collect();
        Self {
            features,
            index: index_of(&shapes),
            shapes,
            outlines,
        }
    }

    /// Whether no feature of the layer is valid and selected: nothing to compare with.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shapes.iter().all(Option::is_none)
    }

    /// The features whose shapes meet `shape`, each with the common part (non-empty), in the
    /// layer's order.
    fn meeting(&self, shape: &MultiPolygon<f64>) -> Vec<(usize, MultiPolygon<f64>)> {
        let Some(query) = aabb(shape) else {
            return Vec::new();
        };
        let mut near: Vec<usize> = self
            .index
            .locate_in_envelope_intersecting(&query)
            .map(|b| b.at)
            .collect();
        near.sort_unstable();
        near.into_iter()
            .filter_map(|i| {
                let other = self.shapes.get(i)?.as_ref()?;
                if let Some(outline) = self.outlines.get(i).and_then(Option::as_ref)
                    && !outline.meets(&query)
                {
                    // Wholly inside or wholly outside: one vertex tells which.
                    let inside = first_vertex(shape).is_some_and(|p| outline.contains(p));
                    return inside.then(|| (i, shape.clone()));
                }
                let common = tudi_geo::overlay::intersection(shape, other);
                (common.unsigned_area() > 0.0).then_some((i, common))
            })
            .collect()
    }

    /// How a feature of this layer is named: its `label_field`, else its id, else its position.
    fn label(&self, at: usize, label_field: Option<&str>) -> String {
        let Some(f) = self.features.get(at) else {
            return String::new();
        };
        label_field
            .and_then(|field| value(f, field))
            .map(|v| v.trim_matches('"').to_owned())
            .or_else(|| f.id.clone())
            .unwrap_or_else(|| format!("#{}", f.index + 1))
    }
}

fn starts_with_any(v: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| v.starts_with(p.as_str()))
}

/// Applies a rule between layers: `features` (with their valid `shapes`) against `other`.
pub fn apply(
    rule: &Rule,
    features: &[PlanarFeature],
    shapes: &[Option<MultiPolygon<f64>>],
    other: &Prepared<'_>,
    out: &mut Vec<Finding>,
) {
    let found: Vec<Finding> = features
        .par_iter()
        .zip(shapes)
        .filter_map(|(f, shape)| Some((f, shape.as_ref()?)))
        .flat_map_iter(|(f, shape)| one(rule, f, shape, other))
        .collect();
    out.extend(found);
}

#[allow(clippy::too_many_lines)]
fn one(
    rule: &Rule,
    f: &PlanarFeature,
    shape: &MultiPolygon<f64>,
    other: &Prepared<'_>,
) -> Vec<Finding> {
    let mut found = Vec::new();
    match &rule.check {
        Check::Within {
            layer,
            tolerance_m2,
            ..
        } => {
            let meeting = other.meeting(shape);
            if meeting.iter().any(|(_, common)| common == shape) {
                return found;
            }
            let inside = geo::unary_union(meeting.iter().map(|(_, common)| common));
            let outside = shape.difference(&inside);
            let area = outside.unsigned_area();
            if area > *tolerance_m2 {
                let share = round(
                    area / shape.unsigned_area().max(f64::MIN_POSITIVE) * 100.0,
                    1,
                );
                let mut x = finding(
                    rule,
                    f.index,
                    first_vertex(&outside),
                    Some(Msg::new(
                        format!(
                            "{} 平方米在图层 {layer} 之外（占 {share}%）",
                            round(area, 2)
                        ),
                        format!(
                            "{} m² lies outside layer {layer} ({share} %)",
                            round(area, 2)
                        ),
                    )),
                );
                x.geometry = Some(Geometry::MultiPolygon(outside));
                found.push(x);
            }
        }
        Check::WithinOne {
            layer,
            tolerance_m2,
            label_field,
            ..
        } => {
            let mut parts: Vec<(usize, f64)> = other
                .meeting(shape)
                .into_iter()
                .map(|(i, common)| (i, common.unsigned_area()))
                .filter(|(_, a)| *a > *tolerance_m2)
                .collect();
            if parts.len() > 1 {
                parts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let list = |unit: &str, sep: &str| {
                    parts
                        .iter()
                        .map(|(i, a)| {
                            format!(
                                "{} {} {unit}",
                                other.label(*i, label_field.as_deref()),
                                round(*a, 2)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(sep)
                };
                found.push(finding(
                    rule,
                    f.index,
                    first_vertex(shape),
                    Some(Msg::new(
                        format!(
                            "跨图层 {layer} 的 {} 个要素：{}",
                            parts.len(),
                            list("平方米", "、")
                        ),
                        format!(
                            "across {} features of layer {layer}: {}",
                            parts.len(),
                            list("m²", ", ")
                        ),
                    )),
                ));
            }
        }
        Check::Disjoint {
            layer,
            min_area_m2,
            label_field,
            ..
        } => {
            for (i, common) in other.meeting(shape) {
                let area = common.unsigned_area();
                if area > *min_area_m2 {
                    let name = other.label(i, label_field.as_deref());
                    let mut x = finding(
                        rule,
                        f.index,
                        first_vertex(&common),
                        Some(Msg::new(
                            format!(
                                "压占图层 {layer} 的 {name} {} 平方米（{} 亩）",
                                round(area, 2),
                                round(area / tudi_core::units::M2_PER_MU, 3)
                            ),
                            format!(
                                "overlaps {name} of layer {layer} by {} m² ({} mu)",
                                round(area, 2),
                                round(area / tudi_core::units::M2_PER_MU, 3)
                            ),
                        )),
                    );
                    x.geometry = Some(Geometry::MultiPolygon(common));
                    found.push(x);
                }
            }
        }
        Check::ClassConflict {
            field,
            prefixes,
            layer,
            layer_field,
            layer_prefixes,
            min_area_m2,
            ..
        } => {
            let Some(class) = value(f, field) else {
                return found;
            };
            let class = class.trim_matches('"');
            if !starts_with_any(class, prefixes) {
                return found;
            }
            let mut classes: Vec<String> = Vec::new();
            let pieces: Vec<MultiPolygon<f64>> = other
                .meeting(shape)
                .into_iter()
                .filter_map(|(i, common)| {
                    let Some(layer_field) = layer_field else {
                        return Some(common);
                    };
                    let theirs = value(other.features.get(i)?, layer_field)?;
                    let theirs = theirs.trim_matches('"').to_owned();
                    starts_with_any(&theirs, layer_prefixes).then(|| {
                        if !classes.contains(&theirs) {
                            classes.push(theirs);
                        }
                        common
                    })
                })
                .collect();
            let conflict = geo::unary_union(pieces.iter());
            let area = conflict.unsigned_area();
            if area > *min_area_m2 {
                classes.sort();
                let theirs = layer_field
                    .as_ref()
                    .map(|lf| format!(" {lf}={}", classes.join("/")))
                    .unwrap_or_default();
                let mut x = finding(
                    rule,
                    f.index,
                    first_vertex(&conflict),
                    Some(Msg::new(
                        format!(
                            "{field}={class} 与图层 {layer}{theirs} 重叠 {} 平方米（{} 亩）",
                            round(area, 2),
                            round(area / tudi_core::units::M2_PER_MU, 3)
                        ),
                        format!(
                            "{field}={class} overlaps layer {layer}{theirs} by {} m² ({} mu)",
                            round(area, 2),
                            round(area / tudi_core::units::M2_PER_MU, 3)
                        ),
                    )),
                );
                x.geometry = Some(Geometry::MultiPolygon(conflict));
                found.push(x);
            }
        }
        _ => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use geo_types::{Geometry, LineString, Polygon};
    use serde_json::{Value, json};
    use tudi_onemap::import::PlanarFeature;

    use crate::check::{OtherLayers, run};
    use crate::rules::RuleSet;

    fn rect(index: usize, x0: f64, y0: f64, x1: f64, y1: f64, props: Value) -> PlanarFeature {
        PlanarFeature {
            index,
            id: None,
            properties: props.as_object().cloned().unwrap_or_default(),
            geometry: Ok(Some(Geometry::Polygon(Polygon::new(
                LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
                vec![],
            )))),
        }
    }

    fn set(rules: &str) -> RuleSet {
        let text = format!(
            "{{\"id\": \"t\", \"title\": {{\"zh\": \"t\", \"en\": \"t\"}}, \"rules\": [{rules}]}}"
        );
        RuleSet::from_json(&text, "t.json").unwrap_or_else(|e| panic!("{e}"))
    }

    /// A district of two villages, 東村 (0..100) and 西村 (100..200), 100 m tall.
    fn divisions() -> OtherLayers {
        let mut others = OtherLayers::new();
        others.insert(
            "divisions".into(),
            vec![
                rect(
                    0,
                    0.0,
                    0.0,
                    200.0,
                    100.0,
                    json!({"level": "区", "name": "区"}),
                ),
                rect(
                    1,
                    0.0,
                    0.0,
                    100.0,
                    100.0,
                    json!({"level": "村居", "name": "東村"}),
                ),
                rect(
                    2,
                    100.0,
                    0.0,
                    200.0,
                    100.0,
                    json!({"level": "村居", "name": "西村"}),
                ),
            ],
        );
        others
    }

    #[test]
    fn a_parcel_across_a_village_boundary_or_outside_the_district_is_found_with_its_areas() {
        let rules = set(concat!(
            "{\"id\": \"IN\", \"severity\": \"error\", \"check\": {\"kind\": \"within\", \"layer\": \"divisions\", \"where\": {\"level\": \"区\"}, \"tolerance_m2\": 0.5}, \"message\": {\"zh\": \"出界\", \"en\": \"outside\"}},",
            "{\"id\": \"ONE\", \"severity\": \"error\", \"check\": {\"kind\": \"within_one\", \"layer\": \"divisions\", \"where\": {\"level\": \"村居\"}, \"tolerance_m2\": 0.5, \"label_field\": \"name\"}, \"message\": {\"zh\": \"跨村\", \"en\": \"across\"}}"
        ));
        let features = [
            // Inside 東村.
            rect(0, 10.0, 10.0, 20.0, 20.0, json!({})),
            // 90 m² in 東村, 10 m² in 西村.
            rect(1, 91.0, 10.0, 101.0, 20.0, json!({})),
            // 50 m² beyond the district's south edge.
            rect(2, 10.0, -5.0, 20.0, 5.0, json!({})),
            // Touching the boundary only: inside 西村.
            rect(3, 100.0, 50.0, 110.0, 60.0, json!({})),
        ];
        let report = run(&rules, crate::check::tests::zone(), &features, &divisions());
        let found: Vec<(usize, &str)> = report
            .findings
            .iter()
            .map(|f| (f.feature, f.rule.as_str()))
            .collect();
        assert_eq!(found, vec![(1, "ONE"), (2, "IN")], "{report:#?}");
        let across = &report.findings[0].message;
        assert!(
            across.zh.contains("東村 90") && across.zh.contains("西村 10"),
            "{across:?}"
        );
        let outside = &report.findings[1];
        assert!(outside.message.en.contains("50 m²"), "{outside:?}");
        // The error geometry is the part outside, not the whole parcel.
        let area = outside
            .geometry
            .as_ref()
            .map(geo::Area::unsigned_area)
            .unwrap_or_default();
        assert!((area - 50.0).abs() < 1e-6, "{area}");
        // Without the layer the rules are listed as not run, and nothing is found.
        let alone = run(
            &rules,
            crate::check::tests::zone(),
            &features,
            &OtherLayers::new(),
        );
        assert!(alone.findings.is_empty());
        assert_eq!(alone.skipped.len(), 2);
        // A layer none of whose features the filter selects (a county coded 县, not 区) is as
        // good as absent: not run, rather than every feature found outside.
        let mut county = divisions();
        for f in county.values_mut().flatten() {
            f.properties.insert("level".into(), json!("县"));
        }
        let none = run(&rules, crate::check::tests::zone(), &features, &county);
        assert!(none.findings.is_empty(), "{none:#?}");
        assert!(none.skipped.iter().all(|s| s.empty), "{none:#?}");
    }

    #[test]
    fn a_large_outline_with_a_hole_tells_inside_from_outside_without_overlay() {
        // A district drawn as a 400-gon of radius 1000 m with a 200 m square hole at its centre.
        let circle: Vec<(f64, f64)> = (0..=400)
            .map(|k| {
                let t = f64::from(k % 400) / 400.0 * std::f64::consts::TAU;
                (1000.0 * t.cos(), 1000.0 * t.sin())
            })
            .collect();
        let hole = vec![
            (-100.0, -100.0),
            (-100.0, 100.0),
            (100.0, 100.0),
            (100.0, -100.0),
            (-100.0, -100.0),
        ];
        let district = PlanarFeature {
            index: 0,
            id: None,
            properties: json!({"level": "区"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            geometry: Ok(Some(Geometry::Polygon(Polygon::new(
                LineString::from(circle),
                vec![LineString::from(hole)],
            )))),
        };
        let mut others = OtherLayers::new();
        others.insert("divisions".into(), vec![district]);
        let rules = set(
            "{\"id\": \"IN\", \"severity\": \"error\", \"check\": {\"kind\": \"within\", \"layer\": \"divisions\", \"tolerance_m2\": 0.5}, \"message\": {\"zh\": \"出界\", \"en\": \"outside\"}}",
        );
        let features = [
            // Inside, between the hole and the rim.
            rect(0, 300.0, 300.0, 310.0, 310.0, json!({})),
            // In the hole: wholly outside.
            rect(1, -10.0, -10.0, 10.0, 10.0, json!({})),
            // Beyond the rim.
            rect(2, 2000.0, 0.0, 2010.0, 10.0, json!({})),
            // Across the hole's edge: 50 m² of 100 in the hole.
            rect(3, 95.0, 0.0, 105.0, 10.0, json!({})),
            // Level with a rim vertex (y = 0), inside: the ray passes through a vertex.
            rect(4, 500.0, 0.0, 510.0, 10.0, json!({})),
        ];
        let report = run(&rules, crate::check::tests::zone(), &features, &others);
        let outside: Vec<(usize, f64)> = report
            .findings
            .iter()
            .map(|f| {
                let area = f
                    .geometry
                    .as_ref()
                    .map(geo::Area::unsigned_area)
                    .unwrap_or_default();
                (f.feature, (area * 1000.0).round() / 1000.0)
            })
            .collect();
        assert_eq!(
            outside,
            vec![(1, 400.0), (2, 100.0), (3, 50.0)],
            "{report:#?}"
        );
    }

    #[test]
    fn planned_construction_on_a_control_line_or_on_farmland_is_a_conflict_and_other_uses_are_not()
    {
        let rules = set(concat!(
            "{\"id\": \"RED\", \"severity\": \"error\", \"check\": {\"kind\": \"class_conflict\", \"field\": \"land_use\", \"prefixes\": [\"07\"], \"layer\": \"eco_redline\", \"min_area_m2\": 1}, \"message\": {\"zh\": \"红线\", \"en\": \"red line\"}},",
            "{\"id\": \"FARM\", \"severity\": \"warning\", \"check\": {\"kind\": \"class_conflict\", \"field\": \"land_use\", \"prefixes\": [\"07\"], \"layer\": \"land_survey\", \"layer_field\": \"land_use\", \"layer_prefixes\": [\"01\"], \"min_area_m2\": 1}, \"message\": {\"zh\": \"耕地\", \"en\": \"farmland\"}},",
            "{\"id\": \"OUT\", \"severity\": \"error\", \"check\": {\"kind\": \"disjoint\", \"layer\": \"eco_redline\", \"min_area_m2\": 1, \"label_field\": \"name\"}, \"message\": {\"zh\": \"压线\", \"en\": \"on the line\"}}"
        ));
        let mut others = OtherLayers::new();
        others.insert(
            "eco_redline".into(),
            vec![rect(0, 0.0, 0.0, 10.0, 10.0, json!({"name": "山林红线"}))],
        );
        others.insert(
            "land_survey".into(),
            vec![
                rect(0, 20.0, 0.0, 30.0, 10.0, json!({"land_use": "0101"})),
                rect(1, 30.0, 0.0, 40.0, 10.0, json!({"land_use": "0301"})),
            ],
        );
        let features = [
            // Housing 5 m × 10 m into the red line.
            rect(0, 5.0, 0.0, 15.0, 10.0, json!({"land_use": "0703"})),
            // Forest on the red line: no class conflict, but on the line.
            rect(1, 0.0, 0.0, 4.0, 10.0, json!({"land_use": "0301"})),
            // Housing over paddy (20..30) and forest (30..40): only the paddy part conflicts.
            rect(2, 25.0, 0.0, 35.0, 10.0, json!({"land_use": "070301"})),
        ];
        let report = run(&rules, crate::check::tests::zone(), &features, &others);
        let found: Vec<(usize, &str)> = report
            .findings
            .iter()
            .map(|f| (f.feature, f.rule.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![(0, "RED"), (0, "OUT"), (1, "OUT"), (2, "FARM")],
            "{report:#?}"
        );
        let farm = &report.findings[3];
        assert!(
            farm.message.zh.contains("land_use=0101 重叠 50 平方米"),
            "{farm:?}"
        );
        assert!(report.findings[1].message.zh.contains("山林红线"));
    }
}
