//! Default schemas of the layer kinds.

use tudi_core::layer::{FieldDef, FieldType, LayerKind};

/// The geometry type a layer of this kind declares.
#[must_use]
pub fn geometry_type(kind: LayerKind) -> &'static str {
    if kind.is_areal() {
        "MULTIPOLYGON"
    } else {
        "GEOMETRY"
    }
}

/// The fields every layer of this kind has.
#[must_use]
pub fn default_fields(kind: LayerKind) -> Vec<FieldDef> {
    use FieldType::{Integer, Real, Text};
    let f = FieldDef::new;
    match kind {
        LayerKind::Admin => vec![
            f("code", "区划代码", Text).required(),
            f("name", "名称", Text).required(),
            f("level", "级别", Text),
        ],
        LayerKind::Grid => vec![
            f("code", "网格编码", Text).required(),
            f("name", "名称", Text),
            f("level", "级别", Text),
            f("town_code", "镇街代码", Text),
            f("village_code", "村居代码", Text),
        ],
        LayerKind::Parcel => vec![
            f("code", "不动产单元代码", Text).required(),
            f("land_use", "地类代码", Text),
            f("land_use_name", "地类名称", Text),
            f("village_code", "村居代码", Text),
            f("owner", "权利人", Text),
            f("area_m2", "宗地面积（平方米）", Real),
        ],
        LayerKind::LandSurvey => vec![
            f("code", "图斑编号", Text).required(),
            f("land_use", "地类代码", Text),
            f("land_use_name", "地类名称", Text),
            f("village_code", "村居代码", Text),
            f("area_m2", "图斑面积（平方米）", Real),
            // Farmland's quality grade (耕地质量等别), from which occupation and compensation
            // compute grain capacity; empty for other land.
            f("quality_grade", "耕地质量等别", Integer),
        ],
        LayerKind::PermanentFarmland | LayerKind::EcoRedline | LayerKind::UrbanBoundary => vec![
            f("code", "编号", Text).required(),
            f("name", "名称", Text),
            f("village_code", "村居代码", Text),
            f("area_m2", "面积（平方米）", Real),
        ],
        LayerKind::Planning => vec![
            f("code", "编号", Text).required(),
            f("land_use", "规划地类代码（用地用海 2023）", Text),
            f("land_use_name", "规划地类名称", Text),
            f("village_code", "村居代码", Text),
            f("plan", "规划名称", Text),
        ],
        LayerKind::Building => vec![
            f("code", "不动产单元代码", Text),
            f("floors", "层数", Integer),
            f("height_m", "高度（米）", Real),
        ],
        LayerKind::Custom => vec![],
    }
}
