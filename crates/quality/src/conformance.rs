//! Plan conformance (规划传导): a town or village plan's layout and indicator table checked
//! against the binding content of the level above — 耕地保有量 and 永久基本农田 not reduced,
//! 生态保护红线 not encroached, construction land inside 城镇开发边界 or the allocation — with
//! the computed figures beside the declared ones.

use geo::{Area, BooleanOps};
use geo_types::MultiPolygon;
use tudi_core::msg::Msg;
use tudi_onemap::import::PlanarFeature;

use crate::check::{measurable_shape, value};

/// Planned construction land: the 2023 classes 07 居住 … 16 留白 (用地用海分类).
pub const CONSTRUCTION_2023: [&str; 10] =
    ["07", "08", "09", "10", "11", "12", "13", "14", "15", "16"];

/// Cultivated land of the land survey (GB/T 21010-2017 01 耕地).
pub const CULTIVATED_2017: [&str; 1] = ["01"];

/// The layers of the level above, read in the plan's CRS.
pub struct Binding<'a> {
    /// The plan's area (the village or town).
    pub area: MultiPolygon<f64>,
    /// Land-survey patches (field `land_use`, GB/T 21010 codes).
    pub survey: &'a [PlanarFeature],
    /// 永久基本农田.
    pub farmland: &'a [PlanarFeature],
    /// 生态保护红线.
    pub redline: &'a [PlanarFeature],
    /// 城镇开发边界.
    pub boundary: &'a [PlanarFeature],
}

/// What the plan's indicator table declares, in m² (absent: not declared).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Declared {
    /// 耕地保有量.
    pub cultivated: Option<f64>,
    /// 永久基本农田保护面积.
    pub farmland: Option<f64>,
    /// 生态保护红线面积.
    pub redline: Option<f64>,
    /// 建设用地规模 (the allocation for construction outside 城镇开发边界).
    pub construction: Option<f64>,
}

/// One indicator: the binding figure, the computed one, the declared one, and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// `cultivated`, `farmland`, `redline`, `construction`.
    pub id: &'static str,
    /// Its name.
    pub name: Msg,
    /// The figure the level above binds (m²): the floor for farmland, zero encroachment for the
    /// red line, the allocation for construction.
    pub binding: Option<f64>,
    /// What the plan's layout gives (m²).
    pub computed: f64,
    /// What its table declares (m²).
    pub declared: Option<f64>,
    /// Problems found (empty: conforms).
    pub problems: Vec<Msg>,
}

fn shapes_where<'a>(
    features: &'a [PlanarFeature],
    field: Option<&'a str>,
    prefixes: &'a [&'a str],
) -> impl Iterator<Item = MultiPolygon<f64>> + 'a {
    features.iter().filter_map(move |f| {
        if let Some(field) = field {
            let v = value(f, field)?;
            if !prefixes.iter().any(|p| v.trim_matches('"').starts_with(p)) {
                return None;
            }
        }
        measurable_shape(f)
    })
}

fn union_in(
    area: &MultiPolygon<f64>,
    shapes: impl Iterator<Item = MultiPolygon<f64>>,
) -> MultiPolygon<f64> {
    let clipped: Vec<MultiPolygon<f64>> = shapes
        .map(|s| tudi_geo::overlay::intersection(&s, area))
        .filter(|s| !s.0.is_empty())
        .collect();
    geo::unary_union(clipped.iter().flat_map(|m| m.0.iter()))
}

/// Declared figures more than this share off the computed ones are reported.
const DECLARED_TOLERANCE: f64 = 0.01;

/// Area differences under this many m² are digitising noise.
const NOISE_M2: f64 = 1.0;

fn mu(m2: f64) -> f64 {
    (m2 / tudi_core::units::M2_PER_MU * 100.0).round() / 100.0
}

fn compare_declared(computed: f64, declared: Option<f64>, problems: &mut Vec<Msg>) {
    if let Some(d) = declared
        && (d - computed).abs() > (computed.abs() * DECLARED_TOLERANCE).max(NOISE_M2)
    {
        problems.push(Msg::new(
            format!(
                "申报 {:.2} 平方米（{} 亩）与计算 {:.2} 平方米（{} 亩）相差超过 1%",
                d,
                mu(d),
                computed,
                mu(computed)
            ),
            format!(
                "declared {d:.2} m² ({} mu) differs from the computed {computed:.2} m² ({} mu) by more than 1 %",
                mu(d),
                mu(computed)
            ),
        ));
    }
}

/// Assesses a plan layout (`plan`: field `land_use` with 2023 codes) against `binding`.
#[must_use]
pub fn assess(
    plan: &[PlanarFeature],
    binding: &Binding<'_>,
    declared: &Declared,
) -> Vec<Indicator> {
    let area = &binding.area;
    let construction = union_in(
        area,
        shapes_where(plan, Some("land_use"), &CONSTRUCTION_2023),
    );
    let cultivated = union_in(
        area,
        shapes_where(binding.survey, Some("land_use"), &CULTIVATED_2017),
    );
    let farmland = union_in(area, shapes_where(binding.farmland, None, &[]));
    let redline = union_in(area, shapes_where(binding.redline, None, &[]));
    let boundary = union_in(area, shapes_where(binding.boundary, None, &[]));

    let mut out = Vec::new();
    // 耕地保有量: the survey's cultivated land, less what planned construction takes.
    let base = cultivated.unsigned_area();
    let taken = construction.intersection(&cultivated).unsigned_area();
    let mut problems = Vec::new();
    if taken > NOISE_M2 {
        problems.push(Msg::new(
            format!("规划建设用地占用耕地 {taken:.2} 平方米（{} 亩），耕地保有量减少", mu(taken)),
            format!(
                "planned construction takes {taken:.2} m² ({} mu) of cultivated land: the amount kept falls",
                mu(taken)
            ),
        ));
    }
    compare_declared(base - taken, declared.cultivated, &mut problems);
    out.push(Indicator {
        id: "cultivated",
        name: Msg::new("耕地保有量", "cultivated land kept"),
        binding: Some(base),
        computed: base - taken,
        declared: declared.cultivated,
        problems,
    });
    // 永久基本农田保护面积: not reduced at all.
    let base = farmland.unsigned_area();
    let taken = construction.intersection(&farmland).unsigned_area();
    let mut problems = Vec::new();
    if taken > NOISE_M2 {
        problems.push(Msg::new(
            format!(
                "规划建设用地占用永久基本农田 {taken:.2} 平方米（{} 亩）",
                mu(taken)
            ),
            format!(
                "planned construction occupies {taken:.2} m² ({} mu) of permanent basic farmland",
                mu(taken)
            ),
        ));
    }
    compare_declared(base - taken, declared.farmland, &mut problems);
    out.push(Indicator {
        id: "farmland",
        name: Msg::new("永久基本农田保护面积", "permanent basic farmland protected"),
        binding: Some(base),
        computed: base - taken,
        declared: declared.farmland,
        problems,
    });
    // 生态保护红线: nothing built inside.
    let inside = redline.unsigned_area();
    let taken = construction.intersection(&redline).unsigned_area();
    let mut problems = Vec::new();
    if taken > NOISE_M2 {
        problems.push(Msg::new(
            format!("规划建设用地进入生态保护红线 {taken:.2} 平方米（{} 亩）", mu(taken)),
            format!(
                "planned construction encroaches {taken:.2} m² ({} mu) on the ecological protection red line",
                mu(taken)
            ),
        ));
    }
    compare_declared(inside, declared.redline, &mut problems);
    out.push(Indicator {
        id: "redline",
        name: Msg::new("生态保护红线面积", "ecological protection red line"),
        binding: Some(inside),
        computed: inside,
        declared: declared.redline,
        problems,
    });
    // Construction outside 城镇开发边界 within the allocation.
    let outside = construction.difference(&boundary).unsigned_area();
    let mut problems = Vec::new();
    match declared.construction {
        Some(allowed) if outside > allowed + NOISE_M2 => problems.push(Msg::new(
            format!(
                "城镇开发边界外的规划建设用地 {outside:.2} 平方米（{} 亩）超出规模 {allowed:.2} 平方米（{} 亩）",
                mu(outside),
                mu(allowed)
            ),
            format!(
                "planned construction outside the urban development boundary, {outside:.2} m² ({} mu), exceeds the allocation of {allowed:.2} m² ({} mu)",
                mu(outside),
                mu(allowed)
            ),
        )),
        None if outside > NOISE_M2 => problems.push(Msg::new(
            "指标表未申报建设用地规模，无法核对城镇开发边界外的建设用地",
            "the indicator table declares no construction allocation to hold the construction outside the urban development boundary to",
        )),
        _ => {}
    }
    out.push(Indicator {
        id: "construction",
        name: Msg::new(
            "城镇开发边界外建设用地",
            "construction land outside the urban development boundary",
        ),
        binding: declared.construction,
        computed: outside,
        declared: declared.construction,
        problems,
    });
    out
}

#[cfg(test)]
mod tests {
    use geo_types::{Geometry, LineString, MultiPolygon, Polygon};
    use serde_json::{Value, json};
    use tudi_onemap::import::PlanarFeature;

    use super::{Binding, Declared, assess};

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
        Polygon::new(
            LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            vec![],
        )
    }

    fn feature(p: Polygon<f64>, props: Value) -> PlanarFeature {
        PlanarFeature {
            index: 0,
            id: None,
            properties: props.as_object().cloned().unwrap_or_default(),
            geometry: Ok(Some(Geometry::Polygon(p))),
        }
    }

    #[test]
    fn housing_on_farmland_and_in_the_red_line_breaks_the_binding_figures() {
        // A 100 × 100 village: paddy (0..50) that is also basic farmland, forest (50..100)
        // with a red line over its east half (75..100), no urban boundary.
        let survey = [
            feature(rect(0.0, 0.0, 50.0, 100.0), json!({"land_use": "0101"})),
            feature(rect(50.0, 0.0, 100.0, 100.0), json!({"land_use": "0301"})),
        ];
        let farmland = [feature(rect(0.0, 0.0, 50.0, 100.0), json!({}))];
        let redline = [feature(rect(75.0, 0.0, 100.0, 100.0), json!({}))];
        let binding = Binding {
            area: MultiPolygon(vec![rect(0.0, 0.0, 100.0, 100.0)]),
            survey: &survey,
            farmland: &farmland,
            redline: &redline,
            boundary: &[],
        };
        let declared = Declared {
            cultivated: Some(5000.0),
            farmland: Some(5000.0),
            redline: Some(2500.0),
            construction: Some(600.0),
        };
        // Housing on the forest, clear of the red line (60..70 × 0..40): conforms.
        let good = [feature(
            rect(60.0, 0.0, 70.0, 40.0),
            json!({"land_use": "0703"}),
        )];
        let found = assess(&good, &binding, &declared);
        assert!(found.iter().all(|i| i.problems.is_empty()), "{found:#?}");
        // Housing 10 m into the paddy and 5 m into the red line (40..80 × 0..20).
        let bad = [feature(
            rect(40.0, 0.0, 80.0, 20.0),
            json!({"land_use": "070301"}),
        )];
        let found = assess(&bad, &binding, &declared);
        let by = |id: &str| {
            found
                .iter()
                .find(|i| i.id == id)
                .map(|i| (i.computed, i.problems.len()))
        };
        // 200 m² of paddy and basic farmland taken; the table still says 5000.
        assert_eq!(by("cultivated"), Some((4800.0, 2)));
        assert_eq!(by("farmland"), Some((4800.0, 2)));
        assert_eq!(by("redline"), Some((2500.0, 1)));
        // 800 m² built outside any urban boundary, over the 600 allotted.
        assert_eq!(by("construction"), Some((800.0, 1)));
    }
}
