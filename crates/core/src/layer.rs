//! Layer kinds and attribute schemas of the one map (一张图).
//!
//! These are the domain's words for what a layer holds; the store persists them and the one-map
//! capability enforces them. Geometry and CRS types live in `tudi-geo`; here a layer's CRS is its
//! EPSG code.

use serde::{Deserialize, Serialize};

use crate::msg::Msg;

/// What a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// 行政区 (administrative divisions).
    Admin,
    /// 网格 (the four-level management grid).
    Grid,
    /// 宗地 (cadastral parcels).
    Parcel,
    /// 三调图斑 (land-use survey patches).
    LandSurvey,
    /// 永久基本农田 (permanent basic farmland).
    PermanentFarmland,
    /// 生态保护红线 (ecological protection red line).
    EcoRedline,
    /// 城镇开发边界 (urban development boundary).
    UrbanBoundary,
    /// 规划用地 (planned land use: 控规 / 村庄规划).
    Planning,
    /// 建筑 (buildings).
    Building,
    /// Anything else.
    Custom,
}

impl LayerKind {
    /// Every kind, in display order.
    pub const ALL: [LayerKind; 10] = [
        Self::Admin,
        Self::Grid,
        Self::Parcel,
        Self::LandSurvey,
        Self::PermanentFarmland,
        Self::EcoRedline,
        Self::UrbanBoundary,
        Self::Planning,
        Self::Building,
        Self::Custom,
    ];

    /// The identifier used in files and on the command line.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Grid => "grid",
            Self::Parcel => "parcel",
            Self::LandSurvey => "land_survey",
            Self::PermanentFarmland => "permanent_farmland",
            Self::EcoRedline => "eco_redline",
            Self::UrbanBoundary => "urban_boundary",
            Self::Planning => "planning",
            Self::Building => "building",
            Self::Custom => "custom",
        }
    }

    /// The Chinese name.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::Admin => "行政区",
            Self::Grid => "网格",
            Self::Parcel => "宗地",
            Self::LandSurvey => "三调图斑",
            Self::PermanentFarmland => "永久基本农田",
            Self::EcoRedline => "生态保护红线",
            Self::UrbanBoundary => "城镇开发边界",
            Self::Planning => "规划用地",
            Self::Building => "建筑",
            Self::Custom => "自定义",
        }
    }

    /// Whether features of this kind are areas (polygons).
    #[must_use]
    pub const fn is_areal(self) -> bool {
        !matches!(self, Self::Custom)
    }

    /// Whether this is one of the 三区三线 control layers checked by compliance analysis.
    #[must_use]
    pub const fn is_control_line(self) -> bool {
        matches!(
            self,
            Self::PermanentFarmland | Self::EcoRedline | Self::UrbanBoundary
        )
    }

    /// Reads an identifier or a Chinese name.
    ///
    /// # Errors
    /// A message listing the accepted values.
    pub fn parse(text: &str) -> Result<Self, Msg> {
        let t = text.trim();
        Self::ALL
            .into_iter()
            .find(|k| k.id().eq_ignore_ascii_case(t) || k.name_zh() == t)
            .ok_or_else(|| {
                let ids: Vec<String> = Self::ALL
                    .iter()
                    .map(|k| format!("{}（{}）", k.id(), k.name_zh()))
                    .collect();
                Msg::new(
                    format!("未知图层类型“{t}”，可用：{}", ids.join("、")),
                    format!(
                        "unknown layer kind {t:?}; use one of: {}",
                        Self::ALL.map(Self::id).join(", ")
                    ),
                )
            })
    }
}

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text.
    Text,
    /// 64-bit integer.
    Integer,
    /// Double.
    Real,
    /// Calendar date `YYYY-MM-DD`.
    Date,
    /// True or false.
    Boolean,
}

impl FieldType {
    /// The column type in a GeoPackage feature table.
    #[must_use]
    pub const fn sql(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::Integer => "INTEGER",
            Self::Real => "REAL",
            Self::Date => "DATE",
            Self::Boolean => "BOOLEAN",
        }
    }
}

/// One attribute of a layer's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Column name (ASCII letters, digits and `_`, starting with a letter).
    pub name: String,
    /// Label shown to users, in Chinese.
    pub title: String,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether every feature must have a value.
    #[serde(default)]
    pub required: bool,
}

impl FieldDef {
    /// A new optional field.
    #[must_use]
    pub fn new(name: &str, title: &str, field_type: FieldType) -> Self {
        Self {
            name: name.to_owned(),
            title: title.to_owned(),
            field_type,
            required: false,
        }
    }

    /// The same field, required.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// Whether `name` can name a layer or a field: ASCII letter first, then letters, digits or `_`,
/// at most 63 characters, and not reserved by tudi (`fid`, `geom`, `feature_id`, `tudi_*`).
#[must_use]
pub fn is_valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "fid" | "geom" | "feature_id"
        )
        && !name.to_ascii_lowercase().starts_with("tudi_")
        && !name.to_ascii_lowercase().starts_with("gpkg_")
        && !name.to_ascii_lowercase().starts_with("rtree_")
        && !name.to_ascii_lowercase().starts_with("sqlite_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_english_or_chinese() {
        assert_eq!(LayerKind::parse("parcel").unwrap(), LayerKind::Parcel);
        assert_eq!(
            LayerKind::parse("永久基本农田").unwrap(),
            LayerKind::PermanentFarmland
        );
        let err = LayerKind::parse("roads").unwrap_err();
        assert!(err.zh.contains("宗地") && err.en.contains("parcel"));
    }

    #[test]
    fn identifiers_keep_clear_of_reserved_names() {
        assert!(is_valid_identifier("parcels_2024"));
        assert!(!is_valid_identifier("2024parcels"));
        assert!(!is_valid_identifier("geom"));
        assert!(!is_valid_identifier("gpkg_contents"));
        assert!(!is_valid_identifier("宗地"));
        assert!(!is_valid_identifier("a b"));
    }
}
