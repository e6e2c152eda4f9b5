//! Applies a rule set to features: each finding with its rule, severity, feature and place.

use std::collections::BTreeMap;

use geo::{Area, BoundingRect};
use geo_types::{Coord, Geometry, LineString, MultiPolygon};
use rayon::prelude::*;
use rstar::{AABB, RTree, RTreeObject};
use serde_json::Value;
use tudi_core::msg::{Bilingual, Msg};
use tudi_geo::validity::Problem;
use tudi_onemap::import::PlanarFeature;

use crate::rules::{AreaBasis, Check, CodeFormat, Rule, RuleSet, Severity};

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule's id.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// The feature's position in the file or layer (from 0).
    pub feature: usize,
    /// The feature's id in the store, when a layer was checked.
    pub feature_id: Option<String>,
    /// Where, in the checked planar CRS, when it has a place.
    pub location: Option<Coord<f64>>,
    /// The rule's message with what was found (`… : 0.4 m² < 1 m²`).
    pub message: Msg,
    /// The error's shape, in the checked planar CRS: the overlap or the gap itself, the
    /// feature's shape for what concerns it whole (an area, an attribute), a point for what is
    /// at a vertex; `None` when there is nothing to draw (a feature without a usable shape).
    pub geometry: Option<Geometry<f64>>,
}

/// Everything a rule set found in a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Features checked.
    pub features: usize,
    /// Every finding, by feature then by the rule's place in its set.
    pub findings: Vec<Finding>,
    /// Rules not run: the layer they compare with was not there.
    pub skipped: Vec<MissingLayer>,
}

impl Report {
    /// Findings of each severity.
    #[must_use]
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Every finding as a ledger sheet (问题清单): rule, severity, feature, its id, where (in
    /// `crs`), the message in both languages.
    #[must_use]
    pub fn findings_table(&self, crs: &str) -> tudi_core::table::Table {
        use tudi_core::table::Cell;
        tudi_core::table::Table {
            sheet: "问题清单 findings".into(),
            title: format!("质检问题清单 / findings ({crs})"),
            headings: vec![
                "规则 rule",
                "严重程度 severity",
                "要素 feature",
                "要素标识 feature id",
                "X",
                "Y",
                "说明",
                "message",
            ],
            rows: self
                .findings
                .iter()
                .map(|f| {
                    let sev = f.severity.msg();
                    vec![
                        Cell::Text(f.rule.clone()),
                        Cell::Text(format!("{} {}", sev.zh, sev.en)),
                        Cell::Count(f.feature as u64 + 1),
                        Cell::Text(f.feature_id.clone().unwrap_or_default()),
                        Cell::Number(f.location.map(|c| round(c.x, 3))),
                        Cell::Number(f.location.map(|c| round(c.y, 3))),
                        Cell::Text(f.message.zh.clone()),
                        Cell::Text(f.message.en.clone()),
                    ]
                })
                .collect(),
        }
    }

    /// The totals by rule as a ledger sheet (汇总), with the rules not run.
    #[must_use]
    pub fn totals_table(&self, set: &RuleSet) -> tudi_core::table::Table {
        use tudi_core::table::Cell;
        let mut rows: Vec<Vec<Cell>> = self
            .totals(set)
            .iter()
            .map(|(rule, n)| {
                let sev = rule.severity.msg();
                vec![
                    Cell::Text(rule.id.clone()),
                    Cell::Text(format!("{} {}", sev.zh, sev.en)),
                    Cell::Count(*n as u64),
                    Cell::Text(rule.message.zh.clone()),
                    Cell::Text(rule.message.en.clone()),
                ]
            })
            .collect();
        for s in &self.skipped {
            let m = s.msg();
            rows.push(vec![
                Cell::Text(s.rule.clone()),
                Cell::Text("未执行 not run".into()),
                Cell::Number(None),
                Cell::Text(m.zh),
                Cell::Text(m.en),
            ]);
        }
        tudi_core::table::Table {
            sheet: "汇总 totals".into(),
            title: format!(
                "质检汇总 / totals: {}（{} / {}），{} 个要素 / features，错误 {} / errors，警告 {} / warnings",
                set.id,
                set.title.zh,
                set.title.en,
                self.features,
                self.count(Severity::Error),
                self.count(Severity::Warning)
            ),
            headings: vec![
                "规则 rule",
                "严重程度 severity",
                "问题数 findings",
                "说明",
                "message",
            ],
            rows,
        }
    }

    /// Findings per rule, in the set's order, with the rule's severity and message.
    #[must_use]
    pub fn totals<'a>(&self, set: &'a RuleSet) -> Vec<(&'a Rule, usize)> {
        set.rules
            .iter()
            .map(|r| (r, self.findings.iter().filter(|f| f.rule == r.id).count()))
            .collect()
    }
}

/// The other layers a rule set compares with, by name, read in the CRS of the features checked.
pub type OtherLayers = BTreeMap<String, Vec<PlanarFeature>>;

/// A rule that was not run: it compares with a layer that was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule} compares with layer {layer}, which was not given")]
pub struct MissingLayer {
    /// The rule.
    pub rule: String,
    /// The layer it needs.
    pub layer: String,
    /// The layer is there but none of its features is valid and matches the rule's `where`
    /// (a district coded 县 where the rule looks for 区): run, the rule would find everything
    /// outside.
    pub empty: bool,
}

impl Bilingual for MissingLayer {
    fn msg(&self) -> Msg {
        if self.empty {
            return Msg::new(
                format!(
                    "规则 {} 未执行：图层 {} 中没有符合条件的有效要素",
                    self.rule, self.layer
                ),
                format!(
                    "rule {} was not run: layer {} has no valid feature its filter selects",
                    self.rule, self.layer
                ),
            );
        }
        Msg::new(
            format!(
                "规则 {} 未执行：需与图层 {} 比对，但没有该图层",
                self.rule, self.layer
            ),
            format!(
                "rule {} was not run: it compares with layer {}, which is not there",
                self.rule, self.layer
            ),
        )
    }
}

/// Applies every rule of `set` to `features` (geometries in metres, as
/// [`tudi_onemap::import::read_planar`] gives them), rules between layers against `others`
/// (read in the same CRS); a rule whose layer `others` lacks is listed as not run. The same
/// input gives the same report.
/// `crs` is the planar CRS the features are in (ellipsoidal areas are measured from it).
#[must_use]
pub fn run(
    set: &RuleSet,
    crs: tudi_geo::crs::Crs,
    features: &[PlanarFeature],
    others: &OtherLayers,
) -> Report {
    run_observed(set, crs, features, others, &|_, _| {})
}

/// [`run`], telling `observe` how many of the set's rules are done, out of how many, as each
/// one finishes (from any thread): a long check shows its progress.
#[must_use]
pub fn run_observed(
    set: &RuleSet,
    crs: tudi_geo::crs::Crs,
    features: &[PlanarFeature],
    others: &OtherLayers,
    observe: &(dyn Fn(usize, usize) + Sync),
) -> Report {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = set.rules.len();
    let mut prepared: BTreeMap<usize, crate::between::Prepared<'_>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (order, rule) in set.rules.iter().enumerate() {
        if let Some(layer) = rule.check.other_layer() {
            let ready = others
                .get(layer)
                .map(|other| crate::between::Prepared::new(other, rule.check.other_filter()));
            match ready {
                Some(ready) if !ready.is_empty() => {
                    prepared.insert(order, ready);
                }
                _ => skipped.push(MissingLayer {
                    rule: rule.id.clone(),
                    layer: layer.to_owned(),
                    empty: ready.is_some(),
                }),
            }
        }
    }
    // Validity decides which shapes are measured; it is the costly part, done once for all
    // rules, on every core.
    let problems: Vec<Vec<Problem>> = features
        .par_iter()
        .map(|f| {
            geometry(f)
                .map(tudi_geo::validity::problems)
                .unwrap_or_default()
        })
        .collect();
    let shapes: Vec<Option<MultiPolygon<f64>>> = features
        .iter()
        .zip(&problems)
        .map(|(f, p)| measurable(f, p))
        .collect();
    let mut findings: Vec<(usize, Finding)> = set
        .rules
        .par_iter()
        .enumerate()
        .flat_map_iter(|(order, rule)| {
            let mut found = Vec::new();
            match (rule.check.other_layer(), prepared.get(&order)) {
                (Some(_), Some(other)) => {
                    crate::between::apply(rule, features, &shapes, other, &mut found);
                }
                (Some(_), None) => {}
                (None, _) => apply(rule, crs, features, &problems, &shapes, &mut found),
            }
            observe(
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                total,
            );
            found.into_iter().map(move |f| (order, f))
        })
        .collect();
    shape_findings(set, features, &shapes, &mut findings);
    findings.sort_by(|(oa, a), (ob, b)| a.feature.cmp(&b.feature).then(oa.cmp(ob)));
    Report {
        features: features.len(),
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        skipped,
    }
}

pub(crate) fn finding(
    rule: &Rule,
    feature: usize,
    location: Option<Coord<f64>>,
    detail: Option<Msg>,
) -> Finding {
    let base = rule.message.msg();
    let message = match detail {
        Some(d) => Msg::new(
            format!("{}：{}", base.zh, d.zh),
            format!("{}: {}", base.en, d.en),
        ),
        None => base,
    };
    Finding {
        rule: rule.id.clone(),
        severity: rule.severity,
        feature,
        feature_id: None,
        location,
        message,
        geometry: None,
    }
}

/// Gives each finding without a shape of its own one: the feature's shape where the rule
/// concerns the feature whole, else the point where it was found.
fn shape_findings(
    set: &RuleSet,
    features: &[PlanarFeature],
    shapes: &[Option<MultiPolygon<f64>>],
    findings: &mut [(usize, Finding)],
) {
    let position: BTreeMap<usize, usize> = features
        .iter()
        .enumerate()
        .map(|(k, f)| (f.index, k))
        .collect();
    for (order, f) in findings.iter_mut() {
        f.feature_id = position
            .get(&f.feature)
            .and_then(|&k| features.get(k))
            .and_then(|x| x.id.clone());
        if f.geometry.is_some() {
            continue;
        }
        let whole = set.rules.get(*order).is_some_and(|r| {
            !matches!(
                r.check,
                Check::Validity | Check::DuplicateVertices { .. } | Check::Spike { .. }
            )
        });
        let shape = position
            .get(&f.feature)
            .and_then(|&k| shapes.get(k))
            .and_then(Clone::clone)
            .filter(|_| whole);
        f.geometry = shape
            .map(Geometry::MultiPolygon)
            .or_else(|| f.location.map(|c| Geometry::Point(c.into())));
    }
}

/// The geometry of a feature that has one that could be read.
fn geometry(f: &PlanarFeature) -> Option<&Geometry<f64>> {
    f.geometry.as_ref().ok().and_then(Option::as_ref)
}

/// The areal part of a valid geometry (`problems` are its validity problems): areas, perimeters
/// and overlaps of an invalid one mean nothing (the validity rule reports it).
fn measurable(f: &PlanarFeature, problems: &[Problem]) -> Option<MultiPolygon<f64>> {
    geometry(f).filter(|_| problems.is_empty()).and_then(areal)
}

/// A feature's areal shape when it is valid (validity computed here).
#[must_use]
pub fn measurable_shape(f: &PlanarFeature) -> Option<MultiPolygon<f64>> {
    measurable(f, &tudi_geo::validity::problems(geometry(f)?))
}

/// The text of a property (numbers as written), `None` when missing, null or blank.
pub(crate) fn value(f: &PlanarFeature, field: &str) -> Option<String> {
    match f.properties.get(field)? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_owned()),
        other => Some(other.to_string()),
    }
}

fn rings(g: &Geometry<f64>) -> Vec<&LineString<f64>> {
    match g {
        Geometry::Polygon(p) => std::iter::once(p.exterior()).chain(p.interiors()).collect(),
        Geometry::MultiPolygon(mp) => mp
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .collect(),
        Geometry::LineString(l) => vec![l],
        Geometry::MultiLineString(ml) => ml.iter().collect(),
        Geometry::GeometryCollection(gc) => gc.iter().flat_map(rings).collect(),
        _ => Vec::new(),
    }
}

fn areal(g: &Geometry<f64>) -> Option<MultiPolygon<f64>> {
    tudi_geo::overlay::as_multipolygon(g)
}

fn distance(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

pub(crate) fn round(v: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (v * k).round() / k
}

#[allow(clippy::too_many_lines)]
fn apply(
    rule: &Rule,
    crs: tudi_geo::crs::Crs,
    features: &[PlanarFeature],
    problems: &[Vec<Problem>],
    shapes: &[Option<MultiPolygon<f64>>],
    out: &mut Vec<Finding>,
) {
    match &rule.check {
        Check::Validity => {
            for (f, found) in features.iter().zip(problems) {
                match &f.geometry {
                    Err(why) => out.push(finding(rule, f.index, None, Some(why.clone()))),
                    Ok(None) => out.push(finding(
                        rule,
                        f.index,
                        None,
                        Some(Msg::new("缺少几何", "no geometry")),
                    )),
                    Ok(Some(_)) => {
                        for p in found {
                            out.push(finding(rule, f.index, p.location, Some(p.msg())));
                        }
                    }
                }
            }
        }
        Check::DuplicateVertices { tolerance_m } => {
            for f in features {
                let Some(g) = geometry(f) else { continue };
                for ring in rings(g) {
                    for w in ring.0.windows(2) {
                        let d = distance(w[0], w[1]);
                        if d < *tolerance_m {
                            out.push(finding(
                                rule,
                                f.index,
                                Some(w[1]),
                                Some(Msg::new(
                                    format!("间距 {} 米", round(d, 4)),
                                    format!("{} m apart", round(d, 4)),
                                )),
                            ));
                        }
                    }
                }
            }
        }
        Check::Spike { max_angle_deg } => {
            for f in features {
                let Some(g) = geometry(f) else { continue };
                for ring in rings(g) {
                    let closed = ring.is_closed();
                    // The distinct vertices, each with its neighbours (around a closed ring).
                    let pts: Vec<Coord<f64>> = if closed && ring.0.len() > 1 {
                        ring.0[..ring.0.len() - 1].to_vec()
                    } else {
                        ring.0.clone()
                    };
                    let n = pts.len();
                    if n < 3 {
                        continue;
                    }
                    for i in 0..n {
                        if !closed && (i == 0 || i == n - 1) {
                            continue;
                        }
                        let (prev, here, next) = (pts[(i + n - 1) % n], pts[i], pts[(i + 1) % n]);
                        let (a, b) = (distance(here, prev), distance(here, next));
                        if a == 0.0 || b == 0.0 {
                            continue;
                        }
                        let dot = (prev.x - here.x) * (next.x - here.x)
                            + (prev.y - here.y) * (next.y - here.y);
                        let angle = (dot / (a * b)).clamp(-1.0, 1.0).acos().to_degrees();
                        if angle < *max_angle_deg {
                            out.push(finding(
                                rule,
                                f.index,
                                Some(here),
                                Some(Msg::new(
                                    format!("夹角 {}°", round(angle, 3)),
                                    format!("angle {}°", round(angle, 3)),
                                )),
                            ));
                        }
                    }
                }
            }
        }
        Check::Sliver { min_thinness } => {
            for (f, shape) in features.iter().zip(shapes) {
                let Some(mp) = shape else {
                    continue;
                };
                for p in mp {
                    let area = p.unsigned_area();
                    let perimeter: f64 = std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|r| r.0.windows(2).map(|w| distance(w[0], w[1])).sum::<f64>())
                        .sum();
                    if perimeter <= 0.0 {
                        continue;
                    }
                    let thinness = 4.0 * std::f64::consts::PI * area / (perimeter * perimeter);
                    if thinness < *min_thinness {
                        out.push(finding(
                            rule,
                            f.index,
                            p.exterior().0.first().copied(),
                            Some(Msg::new(
                                format!("狭长度 {}（下限 {min_thinness}）", round(thinness, 4)),
                                format!(
                                    "thinness {} (at least {min_thinness})",
                                    round(thinness, 4)
                                ),
                            )),
                        ));
                    }
                }
            }
        }
        Check::MinArea { m2 } => {
            for (f, shape) in features.iter().zip(shapes) {
                let Some(mp) = shape else {
                    continue;
                };
                let area = mp.unsigned_area();
                if area < *m2 {
                    out.push(finding(
                        rule,
                        f.index,
                        mp.0.first().and_then(|p| p.exterior().0.first().copied()),
                        Some(Msg::new(
                            format!("{} 平方米", round(area, 3)),
                            format!("{} m²", round(area, 3)),
                        )),
                    ));
                }
            }
        }
        // Run against their layer by `between::apply`.
        Check::Within { .. }
        | Check::WithinOne { .. }
        | Check::Disjoint { .. }
        | Check::ClassConflict { .. } => {}
        Check::Overlap { min_area_m2 } => overlaps(rule, features, shapes, *min_area_m2, out),
        Check::Gaps { min_area_m2 } => gaps(rule, features, shapes, *min_area_m2, out),
        Check::Required { fields } => {
            for f in features {
                for field in fields {
                    if value(f, field).is_none() {
                        out.push(finding(
                            rule,
                            f.index,
                            None,
                            Some(Msg::new(
                                format!("字段 {field} 为空"),
                                format!("field {field} is empty"),
                            )),
                        ));
                    }
                }
            }
        }
        Check::Domain { field, values } => {
            for f in features {
                let Some(v) = value(f, field) else { continue };
                let v = v.trim_matches('"').to_owned();
                if !values.contains(&v) {
                    out.push(finding(
                        rule,
                        f.index,
                        None,
                        Some(Msg::new(
                            format!("字段 {field} 的值“{v}”不在允许的取值中"),
                            format!("field {field}: {v:?} is not one of the values allowed"),
                        )),
                    ));
                }
            }
        }
        Check::Unique { field } => {
            let mut first: BTreeMap<String, usize> = BTreeMap::new();
            for f in features {
                let Some(v) = value(f, field) else { continue };
                match first.get(&v) {
                    Some(&earlier) => out.push(finding(
                        rule,
                        f.index,
                        None,
                        Some(Msg::new(
                            format!("“{v}”与第 {} 个要素相同", earlier + 1),
                            format!("{v:?} as feature {} has it", earlier + 1),
                        )),
                    )),
                    None => {
                        first.insert(v, f.index);
                    }
                }
            }
        }
        Check::Code { field, format } => {
            for f in features {
                let Some(v) = value(f, field) else { continue };
                let problems: Vec<Msg> = match format {
                    CodeFormat::Bdcdy => tudi_core::bdcdy::check(&v, None)
                        .iter()
                        .map(Bilingual::msg)
                        .collect(),
                    CodeFormat::Division => tudi_core::division::DivisionCode::parse(&v)
                        .err()
                        .map(|e| e.msg())
                        .into_iter()
                        .collect(),
                    CodeFormat::LandUse2017 | CodeFormat::LandUse2023 => {
                        let scheme = if *format == CodeFormat::LandUse2017 {
                            tudi_core::landuse::Scheme::Gbt21010
                        } else {
                            tudi_core::landuse::Scheme::Guide2023
                        };
                        tudi_core::landuse::lookup(scheme, &v)
                            .err()
                            .map(|e| e.msg())
                            .into_iter()
                            .collect()
                    }
                };
                for p in problems {
                    out.push(finding(rule, f.index, None, Some(p)));
                }
            }
        }
        Check::DeclaredArea {
            field,
            tolerance_percent,
            basis,
        } => {
            for (f, shape) in features.iter().zip(shapes) {
                let Some(mp) = shape else {
                    continue;
                };
                let Some(text) = value(f, field) else {
                    continue;
                };
                let drawn = match basis {
                    AreaBasis::Planar => mp.unsigned_area(),
                    AreaBasis::Ellipsoidal => {
                        match tudi_geo::area::ellipsoidal(&Geometry::MultiPolygon(mp.clone()), crs)
                        {
                            Ok(a) => a.m2,
                            Err(e) => {
                                out.push(finding(
                                    rule,
                                    f.index,
                                    None,
                                    Some(Msg::new(
                                        format!("无法计算椭球面积：{e}"),
                                        format!("the ellipsoidal area cannot be computed: {e}"),
                                    )),
                                ));
                                continue;
                            }
                        }
                    }
                };
                let Ok(declared) = text.trim_matches('"').parse::<f64>() else {
                    out.push(finding(
                        rule,
                        f.index,
                        None,
                        Some(Msg::new(
                            format!("字段 {field} 的值“{text}”不是数字"),
                            format!("field {field}: {text:?} is not a number"),
                        )),
                    ));
                    continue;
                };
                if drawn <= 0.0 {
                    continue;
                }
                let off = (declared - drawn).abs() / drawn * 100.0;
                if off > *tolerance_percent {
                    out.push(finding(
                        rule,
                        f.index,
                        None,
                        Some(Msg::new(
                            format!(
                                "登记 {} 平方米，图形 {} 平方米，相差 {}%",
                                round(declared, 2),
                                round(drawn, 2),
                                round(off, 2)
                            ),
                            format!(
                                "declared {} m², drawn {} m², {} % apart",
                                round(declared, 2),
                                round(drawn, 2),
                                round(off, 2)
                            ),
                        )),
                    ));
                }
            }
        }
    }
}

/// Holes enclosed by the union of the file's valid areal features, larger than `min_area`:
/// each reported on the first feature (in file order) whose outline meets it.
fn gaps(
    rule: &Rule,
    features: &[PlanarFeature],
    shapes: &[Option<MultiPolygon<f64>>],
    min_area: f64,
    out: &mut Vec<Finding>,
) {
    let union = geo::unary_union(shapes.iter().flatten());
    for hole in union.iter().flat_map(|p| p.interiors()) {
        let gap = geo_types::Polygon::new(hole.clone(), vec![]);
        let area = gap.unsigned_area();
        if area <= min_area {
            continue;
        }
        let Some(r) = gap.bounding_rect() else {
            continue;
        };
        let around = shapes
            .iter()
            .position(|s| {
                s.as_ref()
                    .and_then(BoundingRect::bounding_rect)
                    .is_some_and(|b| {
                        b.min().x <= r.max().x
                            && r.min().x <= b.max().x
                            && b.min().y <= r.max().y
                            && r.min().y <= b.max().y
                    })
            })
            .unwrap_or(0);
        let mut found = finding(
            rule,
            features.get(around).map_or(0, |f| f.index),
            hole.0.first().copied(),
            Some(Msg::new(
                format!("缝隙 {} 平方米", round(area, 3)),
                format!("a gap of {} m²", round(area, 3)),
            )),
        );
        found.geometry = Some(Geometry::Polygon(gap));
        out.push(found);
    }
}

/// A feature's box in the index.
pub(crate) struct Boxed {
    pub(crate) at: usize,
    envelope: AABB<[f64; 2]>,
}

impl RTreeObject for Boxed {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// The box of a shape, as the index holds it.
pub(crate) fn aabb(mp: &MultiPolygon<f64>) -> Option<AABB<[f64; 2]>> {
    let r = mp.bounding_rect()?;
    Some(AABB::from_corners(
        [r.min().x, r.min().y],
        [r.max().x, r.max().y],
    ))
}

/// An index of the shapes' boxes, each known by its position.
pub(crate) fn index_of(shapes: &[Option<MultiPolygon<f64>>]) -> RTree<Boxed> {
    RTree::bulk_load(
        shapes
            .iter()
            .enumerate()
            .filter_map(|(at, s)| {
                Some(Boxed {
                    at,
                    envelope: aabb(s.as_ref()?)?,
                })
            })
            .collect(),
    )
}

/// The first vertex of a shape, where a finding about it is placed.
pub(crate) fn first_vertex(mp: &MultiPolygon<f64>) -> Option<Coord<f64>> {
    mp.0.first().and_then(|p| p.exterior().0.first().copied())
}

/// Pairs of features whose overlap exceeds `min_area`: each reported once, on the later
/// feature, naming the earlier. Only valid areal geometries are overlaid (an invalid one is the
/// validity rule's finding).
fn overlaps(
    rule: &Rule,
    features: &[PlanarFeature],
    shapes: &[Option<MultiPolygon<f64>>],
    min_area: f64,
    out: &mut Vec<Finding>,
) {
    let index = index_of(shapes);
    for (j, shape) in shapes.iter().enumerate() {
        let Some(b) = shape.as_ref() else { continue };
        let Some(r) = b.bounding_rect() else { continue };
        let query = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
        let mut earlier: Vec<usize> = index
            .locate_in_envelope_intersecting(&query)
            .map(|x| x.at)
            .filter(|&i| i < j)
            .collect();
        earlier.sort_unstable();
        for i in earlier {
            let Some(a) = shapes[i].as_ref() else {
                continue;
            };
            let common = tudi_geo::overlay::intersection(a, b);
            let area = common.unsigned_area();
            if area > min_area {
                let at = first_vertex(&common);
                let mut found = finding(
                    rule,
                    features[j].index,
                    at,
                    Some(Msg::new(
                        format!(
                            "与第 {} 个要素重叠 {} 平方米",
                            features[i].index + 1,
                            round(area, 3)
                        ),
                        format!(
                            "overlaps feature {} by {} m²",
                            features[i].index + 1,
                            round(area, 3)
                        ),
                    )),
                );
                found.geometry = Some(Geometry::MultiPolygon(common));
                out.push(found);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use geo_types::{Geometry, LineString, Polygon};
    use serde_json::{Map, Value, json};
    use tudi_onemap::import::PlanarFeature;

    use crate::rules::{Check, Rule, RuleSet, Severity, Text};

    pub(crate) fn zone() -> tudi_geo::crs::Crs {
        tudi_geo::crs::Crs::from_epsg(4547).unwrap_or(tudi_geo::crs::Crs::CGCS2000)
    }

    fn feature(index: usize, ring: Vec<(f64, f64)>, props: Value) -> PlanarFeature {
        PlanarFeature {
            index,
            id: None,
            properties: props.as_object().cloned().unwrap_or_else(Map::new),
            geometry: Ok(Some(Geometry::Polygon(Polygon::new(
                LineString::from(ring),
                vec![],
            )))),
        }
    }

    fn set(check: Check) -> RuleSet {
        RuleSet {
            id: "t".into(),
            title: Text {
                zh: "t".into(),
                en: "t".into(),
            },
            rules: vec![Rule {
                id: "R".into(),
                severity: Severity::Warning,
                check,
                message: Text {
                    zh: "问题".into(),
                    en: "problem".into(),
                },
            }],
        }
    }

    #[test]
    fn a_spike_is_found_at_its_vertex_and_a_square_has_none() {
        let square = vec![
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
        ];
        // Out to (30, 5.05) and straight back: an angle of about 0.1° there.
        let spiked = vec![
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 5.0),
            (30.0, 5.05),
            (10.0, 5.1),
            (10.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
        ];
        let features = [feature(0, square, json!({})), feature(1, spiked, json!({}))];
        let report = super::run(
            &set(Check::Spike { max_angle_deg: 1.0 }),
            zone(),
            &features,
            &super::OtherLayers::new(),
        );
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert_eq!(report.findings[0].feature, 1);
        assert_eq!(
            report.findings[0].location.map(|c| (c.x, c.y)),
            Some((30.0, 5.05))
        );
    }

    #[test]
    fn a_land_survey_area_is_held_to_the_ellipsoid_and_a_parcel_area_to_the_plane() {
        // A 1 km square 100 km east of zone 38's central meridian (114°E), where the plane
        // enlarges areas by about 0.025 %.
        let ring = vec![
            (600_000.0, 2_550_000.0),
            (601_000.0, 2_550_000.0),
            (601_000.0, 2_551_000.0),
            (600_000.0, 2_551_000.0),
            (600_000.0, 2_550_000.0),
        ];
        let g = Geometry::Polygon(Polygon::new(LineString::from(ring.clone()), vec![]));
        let ellipsoidal = tudi_geo::area::ellipsoidal(&g, zone()).map_or(0.0, |a| a.m2);
        assert!((1.0e6 - ellipsoidal) > 200.0, "{ellipsoidal}");
        let rule = |basis| {
            set(Check::DeclaredArea {
                field: "area_m2".into(),
                tolerance_percent: 0.01,
                basis,
            })
        };
        let declared = |m2: f64| [feature(0, ring.clone(), json!({ "area_m2": m2 }))];
        let none = super::OtherLayers::new();
        let on_ellipsoid = rule(crate::rules::AreaBasis::Ellipsoidal);
        assert!(
            super::run(&on_ellipsoid, zone(), &declared(ellipsoidal), &none)
                .findings
                .is_empty()
        );
        assert_eq!(
            super::run(&on_ellipsoid, zone(), &declared(1.0e6), &none)
                .findings
                .len(),
            1
        );
        let on_plane = rule(crate::rules::AreaBasis::Planar);
        assert!(
            super::run(&on_plane, zone(), &declared(1.0e6), &none)
                .findings
                .is_empty()
        );
    }

    #[test]
    fn a_value_outside_its_domain_is_found_and_a_missing_one_is_left_to_required() {
        let ring = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)];
        let features = [
            feature(0, ring.clone(), json!({"land_use": "0702"})),
            feature(1, ring.clone(), json!({"land_use": "9999"})),
            feature(2, ring, json!({})),
        ];
        let report = super::run(
            &set(Check::Domain {
                field: "land_use".into(),
                values: vec!["0701".into(), "0702".into()],
            }),
            zone(),
            &features,
            &super::OtherLayers::new(),
        );
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert_eq!(report.findings[0].feature, 1);
        assert!(report.findings[0].message.en.contains("9999"));
    }
}

#[cfg(test)]
mod land_use_tests {
    use super::tests::zone;
    use geo_types::{Geometry, Point};
    use serde_json::json;
    use tudi_onemap::import::PlanarFeature;

    use crate::rules::{Check, CodeFormat, Rule, RuleSet, Severity, Text};

    #[test]
    fn land_use_codes_are_checked_against_their_own_classification() {
        let with = |code: &str| PlanarFeature {
            index: 0,
            id: None,
            properties: json!({"land_use": code})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            geometry: Ok(Some(Geometry::Point(Point::new(0.0, 0.0)))),
        };
        let set = |format| RuleSet {
            id: "t".into(),
            title: Text {
                zh: "t".into(),
                en: "t".into(),
            },
            rules: vec![Rule {
                id: "LU".into(),
                severity: Severity::Error,
                check: Check::Code {
                    field: "land_use".into(),
                    format,
                },
                message: Text {
                    zh: "地类".into(),
                    en: "land use".into(),
                },
            }],
        };
        // 0101 水田 is a class of GB/T 21010-2017; 0199 is not.
        let none = super::OtherLayers::new();
        let survey = set(CodeFormat::LandUse2017);
        assert!(
            super::run(&survey, zone(), &[with("0101")], &none)
                .findings
                .is_empty()
        );
        assert_eq!(
            super::run(&survey, zone(), &[with("0199")], &none)
                .findings
                .len(),
            1
        );
        // 0701 is 城镇住宅用地 in GB/T 21010 but 居住用地 are 07 in 2023: 070101 is a class there.
        let plan = set(CodeFormat::LandUse2023);
        assert!(
            super::run(&plan, zone(), &[with("070101")], &none)
                .findings
                .is_empty()
        );
        assert_eq!(
            super::run(&plan, zone(), &[with("0199")], &none)
                .findings
                .len(),
            1
        );
    }
}
