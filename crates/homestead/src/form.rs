//! The application form (《农村宅基地和建房（规划许可）申请表》, reference/domain-standards.md
//! §4.2): the applicant and household, the current homestead, the proposed site drawn on the map,
//! the building, and the four neighbours' opinions. [`ApplicationForm::check`] names the first
//! field that is wrong, in Chinese and English, before anything is stored.

use geo_types::Geometry;
use serde::{Deserialize, Serialize};
use tudi_core::msg::{Bilingual, Msg};
use tudi_core::personal::{IdNumber, Phone};
use tudi_core::text::Lines;

use crate::eligibility::{BuildType, CurrentHomestead, Terrain};

/// Most vertices a drawn site may have (a homestead is a handful of corners).
pub const MAX_SITE_VERTICES: usize = 500;

/// A member of the household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// 姓名.
    pub name: String,
    /// 身份证号.
    pub id_number: String,
    /// 与申请人关系 (for family members).
    #[serde(default)]
    pub relation: Option<String>,
}

/// A side of the site (四至).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// 东.
    East,
    /// 南.
    South,
    /// 西.
    West,
    /// 北.
    North,
}

impl Side {
    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::East => "东",
            Self::South => "南",
            Self::West => "西",
            Self::North => "北",
        }
    }
}

/// A neighbour's opinion on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Neighbour {
    /// Which side.
    pub side: Side,
    /// Who (a neighbour, a road, a ditch …).
    pub name: String,
    /// Whether they agree (no objection to the boundary).
    pub agrees: bool,
    /// Their words.
    #[serde(default)]
    pub note: Option<String>,
}

/// The application form as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationForm {
    /// The applicant (户主).
    pub applicant: Person,
    /// The applicant's phone.
    pub phone: String,
    /// The other members of the household.
    #[serde(default)]
    pub family: Vec<Person>,
    /// The village (村居) code, 12 digits.
    pub village: String,
    /// The village's terrain (sets the area limit).
    pub terrain: Terrain,
    /// 建房类型.
    pub build: BuildType,
    /// What happens to the current homestead.
    pub current: CurrentHomestead,
    /// Area of the current homestead, m².
    #[serde(default)]
    pub current_area_m2: Option<f64>,
    /// Certificate number of the current homestead.
    #[serde(default)]
    pub current_certificate: Option<String>,
    /// The proposed site: a GeoJSON Polygon in CGCS2000 longitude/latitude, drawn on the map.
    pub site: serde_json::Value,
    /// 地址.
    pub address: String,
    /// 建筑占地面积, m².
    pub footprint_m2: f64,
    /// 层数.
    pub storeys: u32,
    /// 建筑高度, m.
    pub height_m: f64,
    /// 建筑面积, m².
    pub floor_area_m2: f64,
    /// The four neighbours' opinions (四至).
    pub neighbours: Vec<Neighbour>,
    /// 申请理由.
    pub reason: String,
}

/// A field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {}", message.en)]
pub struct FieldError {
    /// The field, as a path (`family[1].id_number`).
    pub field: String,
    /// What is wrong.
    pub message: Msg,
}

impl FieldError {
    /// A field error.
    #[must_use]
    pub fn new(field: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: Msg::new(zh, en),
        }
    }
}

/// Required free text: no control or direction characters, not only invisible ones, at most
/// `max` characters ([`tudi_core::text`]).
pub(crate) fn text(
    field: &str,
    label: &str,
    value: &str,
    max: usize,
    lines: Lines,
) -> Result<(), FieldError> {
    tudi_core::text::check(value, max, lines)
        .map(|_| ())
        .map_err(|f| {
            let m = f.message(label, field);
            FieldError::new(field, m.zh, m.en)
        })
}

fn positive(field: &str, label: &str, value: f64, max: f64) -> Result<(), FieldError> {
    if !(value.is_finite() && value > 0.0 && value <= max) {
        return Err(FieldError::new(
            field,
            format!("{label}应大于 0 且不超过 {max}，收到 {value}"),
            format!("{field} must be above 0 and at most {max}, got {value}"),
        ));
    }
    Ok(())
}

fn person(field: &str, p: &Person) -> Result<(), FieldError> {
    text(&format!("{field}.name"), "姓名", &p.name, 30, Lines::One)?;
    IdNumber::parse(&p.id_number).map_err(|e| {
        let m = e.msg();
        FieldError::new(
            format!("{field}.id_number"),
            format!("身份证号无效：{}", m.zh),
            format!("invalid identity number: {}", m.en),
        )
    })?;
    Ok(())
}

/// Parses a site drawn on the map: a valid polygon with few enough vertices.
///
/// # Errors
/// [`FieldError`] on `field`, naming the geometry's problems.
pub fn parse_site(field: &str, value: &serde_json::Value) -> Result<Geometry<f64>, FieldError> {
    let geom = tudi_geo::io::geojson::parse_geometry(&value.to_string()).map_err(|e| {
        FieldError::new(
            field,
            format!("图形不是有效的 GeoJSON：{e}"),
            format!("not a valid GeoJSON geometry: {e}"),
        )
    })?;
    if !matches!(geom, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
        return Err(FieldError::new(
            field,
            "宅基地范围必须是面（Polygon）",
            "the site must be a Polygon",
        ));
    }
    let vertices = geo::CoordsIter::coords_count(&geom);
    if vertices > MAX_SITE_VERTICES {
        return Err(FieldError::new(
            field,
            format!("图形有 {vertices} 个顶点，最多 {MAX_SITE_VERTICES} 个"),
            format!("the site has {vertices} vertices, at most {MAX_SITE_VERTICES}"),
        ));
    }
    let problems = tudi_geo::validity::problems(&geom);
    if let Some(first) = problems.first() {
        let m = first.msg();
        return Err(FieldError::new(
            field,
            format!("图形无效：{}", m.zh),
            format!("invalid geometry: {}", m.en),
        ));
    }
    // A homestead lies in China: CGCS2000 longitude and latitude.
    let in_china = geo::CoordsIter::coords_iter(&geom)
        .all(|c| (73.0..=136.0).contains(&c.x) && (3.0..=54.0).contains(&c.y));
    if !in_china {
        return Err(FieldError::new(
            field,
            "坐标应为 CGCS2000 经纬度（经度 73–136，纬度 3–54）",
            "coordinates must be CGCS2000 longitude/latitude",
        ));
    }
    Ok(geom)
}

impl ApplicationForm {
    /// Checks every field and returns the site's geometry.
    ///
    /// # Errors
    /// The first [`FieldError`].
    pub fn check(&self) -> Result<Geometry<f64>, FieldError> {
        person("applicant", &self.applicant)?;
        Phone::parse(&self.phone).map_err(|e| {
            let m = e.msg();
            FieldError::new(
                "phone",
                format!("电话号码无效：{}", m.zh),
                format!("invalid phone: {}", m.en),
            )
        })?;
        if self.family.len() > 20 {
            return Err(FieldError::new(
                "family",
                "家庭成员最多 20 人",
                "at most 20 family members",
            ));
        }
        let mut seen = vec![self.applicant.id_number.as_str()];
        for (i, p) in self.family.iter().enumerate() {
            let field = format!("family[{i}]");
            person(&field, p)?;
            if seen.contains(&p.id_number.as_str()) {
                return Err(FieldError::new(
                    format!("{field}.id_number"),
                    "身份证号与户内其他成员重复",
                    "the identity number repeats another member's",
                ));
            }
            seen.push(&p.id_number);
        }
        if self.village.len() != 12 || !self.village.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                "village",
                format!("村居代码应为 12 位数字，收到“{}”", self.village),
                format!("the village code must be 12 digits, got {:?}", self.village),
            ));
        }
        if let Some(a) = self.current_area_m2 {
            positive("current_area_m2", "现宅基地面积", a, 10_000.0)?;
        }
        text("address", "地址", &self.address, 200, Lines::One)?;
        text("reason", "申请理由", &self.reason, 1000, Lines::Many)?;
        positive("footprint_m2", "建筑占地面积", self.footprint_m2, 1_000.0)?;
        positive("height_m", "建筑高度", self.height_m, 40.0)?;
        if !(1..=10).contains(&self.storeys) {
            return Err(FieldError::new(
                "storeys",
                format!("层数应为 1–10，收到 {}", self.storeys),
                format!("storeys must be 1–10, got {}", self.storeys),
            ));
        }
        positive("floor_area_m2", "建筑面积", self.floor_area_m2, 10_000.0)?;
        let most = self.footprint_m2 * f64::from(self.storeys) * 1.01;
        if self.floor_area_m2 > most {
            return Err(FieldError::new(
                "floor_area_m2",
                format!(
                    "建筑面积 {:.2} 平方米超过占地面积 × 层数（{:.2} 平方米）",
                    self.floor_area_m2,
                    self.footprint_m2 * f64::from(self.storeys)
                ),
                "the floor area exceeds footprint × storeys",
            ));
        }
        let mut sides: Vec<Side> = self.neighbours.iter().map(|n| n.side).collect();
        sides.sort();
        sides.dedup();
        if sides.len() != 4 || self.neighbours.len() != 4 {
            return Err(FieldError::new(
                "neighbours",
                "请填写四至：东、南、西、北各一条相邻权利人意见",
                "give the four neighbours' opinions: one each for east, south, west and north",
            ));
        }
        for (i, n) in self.neighbours.iter().enumerate() {
            text(
                &format!("neighbours[{i}].name"),
                "四至相邻方",
                &n.name,
                50,
                Lines::One,
            )?;
        }
        parse_site("site", &self.site)
    }

    /// Every member's identity number, the applicant first.
    pub fn household(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.applicant.id_number.as_str())
            .chain(self.family.iter().map(|p| p.id_number.as_str()))
    }
}
