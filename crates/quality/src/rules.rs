//! Rule sets as data: read from JSON, every fault named by file and line.

use std::collections::BTreeMap;

use serde::Deserialize;
use tudi_core::msg::Msg;

/// How much a finding matters: an error blocks (a submission fails), a warning is kept with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks.
    Error,
    /// Kept with the data.
    Warning,
}

impl Severity {
    /// `错误` / `error`.
    #[must_use]
    pub fn msg(self) -> Msg {
        match self {
            Self::Error => Msg::new("错误", "error"),
            Self::Warning => Msg::new("警告", "warning"),
        }
    }
}

/// The official code a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeFormat {
    /// 不动产单元代码 (28 characters, GB/T 37346).
    Bdcdy,
    /// An administrative division code (2–12 digits).
    Division,
    /// A land-use class of GB/T 21010-2017 (土地利用现状分类, the land surveys' codes).
    #[serde(rename = "land_use_2017")]
    LandUse2017,
    /// A land-use class of 国土空间调查、规划、用途管制用地用海分类 (2023, the plans' codes).
    #[serde(rename = "land_use_2023")]
    LandUse2023,
}

/// How an area is measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaBasis {
    /// Planar, in the Gauss–Krüger zone checked in.
    #[default]
    Planar,
    /// On the CGCS2000 ellipsoid.
    Ellipsoidal,
}

/// What a rule checks, with its parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// The geometry is valid (tudi's validity, which agrees with JTS) and could be read.
    Validity,
    /// No vertex closer than `tolerance_m` to the one before it.
    DuplicateVertices {
        /// Metres.
        tolerance_m: f64,
    },
    /// No angle at a vertex sharper than `max_angle_deg`.
    Spike {
        /// Degrees.
        max_angle_deg: f64,
    },
    /// Polygons no thinner than `min_thinness` (4πA/P²: 1 for a circle, about 0.785 for a
    /// square, near 0 for a sliver).
    Sliver {
        /// The least thinness allowed.
        min_thinness: f64,
    },
    /// Polygons of at least `m2` square metres.
    MinArea {
        /// Square metres.
        m2: f64,
    },
    /// No two features of the file overlap by more than `min_area_m2`.
    Overlap {
        /// Square metres of overlap tolerated (digitising noise).
        min_area_m2: f64,
    },
    /// The file's features tile without holes: no gap enclosed by them larger than
    /// `min_area_m2` (a village's parcels, a town's patches).
    Gaps {
        /// Square metres of gap tolerated (digitising noise).
        min_area_m2: f64,
    },
    /// These fields hold a value (not null, not blank).
    Required {
        /// The fields.
        fields: Vec<String>,
    },
    /// The field's value is one of `values` (when present).
    Domain {
        /// The field.
        field: String,
        /// The values allowed.
        values: Vec<String>,
    },
    /// No two features share the field's value (when present).
    Unique {
        /// The field.
        field: String,
    },
    /// The field holds a well-formed official code (when present).
    Code {
        /// The field.
        field: String,
        /// Which code.
        format: CodeFormat,
    },
    /// The declared area in `field` (m²) is within `tolerance_percent` of the area drawn,
    /// measured as `basis` says.
    DeclaredArea {
        /// The field.
        field: String,
        /// Percent of the drawn area.
        tolerance_percent: f64,
        /// How the declared area was measured: planar in the Gauss–Krüger zone (宗地, the
        /// default) or on the CGCS2000 ellipsoid (国土调查图斑面积, 国土调查办发〔2008〕32号).
        #[serde(default)]
        basis: AreaBasis,
    },
    /// Each feature lies inside the features of another `layer` (the jurisdiction): no more than
    /// `tolerance_m2` of it outside them all.
    Within {
        /// The layer of the store it must lie in.
        layer: String,
        /// Square metres outside tolerated (digitising noise).
        tolerance_m2: f64,
        /// Only that layer's features with these values (`{"level": "村居"}`).
        #[serde(default, rename = "where")]
        filter: Option<BTreeMap<String, String>>,
    },
    /// Each feature lies in one feature of another `layer` (its village): a feature with more
    /// than `tolerance_m2` in each of two or more is across their boundary.
    WithinOne {
        /// The layer of the store (villages).
        layer: String,
        /// Square metres in a second feature tolerated.
        tolerance_m2: f64,
        /// The field naming that layer's features in findings (their id otherwise).
        #[serde(default)]
        label_field: Option<String>,
        /// Only that layer's features with these values (`{"level": "村居"}`).
        #[serde(default, rename = "where")]
        filter: Option<BTreeMap<String, String>>,
    },
    /// No feature overlaps another `layer` (a control line: 生态保护红线, 永久基本农田) by more
    /// than `min_area_m2`.
    Disjoint {
        /// The layer of the store.
        layer: String,
        /// Square metres of overlap tolerated.
        min_area_m2: f64,
        /// The field naming that layer's features in findings (their id otherwise).
        #[serde(default)]
        label_field: Option<String>,
        /// Only that layer's features with these values (`{"level": "村居"}`).
        #[serde(default, rename = "where")]
        filter: Option<BTreeMap<String, String>>,
    },
    /// A feature whose `field` starts with one of `prefixes` (planned construction land) does
    /// not overlap, by more than `min_area_m2`, a feature of `layer` (a control line) — or,
    /// with `layer_field`, one whose `layer_field` starts with one of `layer_prefixes` (耕地 of
    /// the land survey).
    ClassConflict {
        /// The field of the checked features.
        field: String,
        /// Its classes concerned (code prefixes).
        prefixes: Vec<String>,
        /// The layer of the store compared with.
        layer: String,
        /// Its field; without it, every feature of the layer conflicts.
        #[serde(default)]
        layer_field: Option<String>,
        /// Its classes in conflict (code prefixes).
        #[serde(default)]
        layer_prefixes: Vec<String>,
        /// Square metres of overlap tolerated.
        min_area_m2: f64,
        /// Only that layer's features with these values (`{"level": "村居"}`).
        #[serde(default, rename = "where")]
        filter: Option<BTreeMap<String, String>>,
    },
}

/// A message in both languages, as rule files write it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Text {
    /// As a [`Msg`].
    #[must_use]
    pub fn msg(&self) -> Msg {
        Msg::new(self.zh.clone(), self.en.clone())
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its id, unique in its set (`GEOM-VALID`).
    pub id: String,
    /// Error or warning.
    pub severity: Severity,
    /// What it checks.
    pub check: Check,
    /// What a finding says.
    pub message: Text,
}

/// A rule set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Its id (`parcels`).
    pub id: String,
    /// Its title.
    pub title: Text,
    /// Its rules, in the order findings are listed.
    pub rules: Vec<Rule>,
}

/// A rule file that cannot be used: which file, which line, what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}{}: {}", line.map_or_else(String::new, |l| format!(" line {l}")), problem.en)]
pub struct RuleFileError {
    /// The file.
    pub file: String,
    /// The line at fault, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: Msg,
}

impl RuleFileError {
    /// In both languages.
    #[must_use]
    pub fn msg(&self) -> Msg {
        let (at, at_en) = self.line.map_or_else(
            || (String::new(), String::new()),
            |l| (format!("第 {l} 行"), format!(" line {l}")),
        );
        Msg::new(
            format!("规则文件 {} {at}有误：{}", self.file, self.problem.zh),
            format!("rule file {}{at_en}: {}", self.file, self.problem.en),
        )
    }
}

/// The rule sets shipped with tudi.
const BUILTIN: [(&str, &str); 4] = [
    ("parcels.json", include_str!("../data/rules/parcels.json")),
    (
        "land_survey.json",
        include_str!("../data/rules/land_survey.json"),
    ),
    (
        "village_plan.json",
        include_str!("../data/rules/village_plan.json"),
    ),
    (
        "detailed_plan.json",
        include_str!("../data/rules/detailed_plan.json"),
    ),
];

impl RuleSet {
    /// Reads a rule set from JSON `text` (from `file`, for messages): unknown keys and kinds are
    /// refused with their line, then each rule's parameters are checked.
    ///
    /// # Errors
    /// [`RuleFileError`] naming the line.
    pub fn from_json(text: &str, file: &str) -> Result<Self, RuleFileError> {
        let set: Self = serde_json::from_str(text).map_err(|e| RuleFileError {
            file: file.to_owned(),
            line: Some(e.line()),
            problem: Msg::new(format!("{e}"), e.to_string()),
        })?;
        let line_of = |id: &str| {
            let quoted = format!("\"{id}\"");
            text.lines()
                .position(|l| l.contains(&quoted))
                .map(|i| i + 1)
        };
        let mut seen = std::collections::BTreeSet::new();
        for rule in &set.rules {
            let bad = |zh: String, en: String| RuleFileError {
                file: file.to_owned(),
                line: line_of(&rule.id),
                problem: Msg::new(
                    format!("规则 {}：{zh}", rule.id),
                    format!("rule {}: {en}", rule.id),
                ),
            };
            if !seen.insert(rule.id.as_str()) {
                return Err(bad("编号重复".into(), "its id is used twice".into()));
            }
            if let Check::ClassConflict {
                prefixes,
                layer_field,
                layer_prefixes,
                ..
            } = &rule.check
                && (prefixes.is_empty() || (layer_field.is_some() && layer_prefixes.is_empty()))
            {
                return Err(bad(
                    "prefixes 与 layer_prefixes（给出 layer_field 时）不得为空".into(),
                    "prefixes, and layer_prefixes when layer_field is given, must not be empty"
                        .into(),
                ));
            }
            if let Some((name, value)) = rule.check.bad_parameter() {
                return Err(bad(
                    format!("参数 {name} 的值 {value} 无效（应为正数）"),
                    format!("parameter {name} = {value} is not a positive number"),
                ));
            }
        }
        if set.rules.is_empty() {
            return Err(RuleFileError {
                file: file.to_owned(),
                line: None,
                problem: Msg::new("没有任何规则", "it holds no rule"),
            });
        }
        Ok(set)
    }

    /// The layers of the store the set compares with, each once, in rule order.
    #[must_use]
    pub fn other_layers(&self) -> Vec<&str> {
        let mut layers: Vec<&str> = Vec::new();
        for layer in self.rules.iter().filter_map(|r| r.check.other_layer()) {
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
        layers
    }

    /// The shipped rule sets.
    ///
    /// # Errors
    /// Never for the files shipped (a test reads them all).
    pub fn builtin() -> Result<Vec<Self>, RuleFileError> {
        BUILTIN
            .iter()
            .map(|(file, text)| Self::from_json(text, file))
            .collect()
    }

    /// A shipped set by id, or a set read from a `.json` file path.
    ///
    /// # Errors
    /// An unknown id (the known ones listed), a file that cannot be read or used.
    pub fn find(name: &str) -> Result<Self, RuleFileError> {
        if std::path::Path::new(name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            let text = std::fs::read_to_string(name).map_err(|e| RuleFileError {
                file: name.to_owned(),
                line: None,
                problem: Msg::new(format!("无法读取：{e}"), format!("cannot be read: {e}")),
            })?;
            return Self::from_json(&text, name);
        }
        let all = Self::builtin()?;
        let ids: Vec<String> = all.iter().map(|s| s.id.clone()).collect();
        all.into_iter()
            .find(|s| s.id == name)
            .ok_or_else(|| RuleFileError {
                file: name.to_owned(),
                line: None,
                problem: Msg::new(
                    format!(
                        "没有名为 {name} 的规则集（内置：{}；或给出 .json 文件）",
                        ids.join("、")
                    ),
                    format!(
                        "no rule set named {name} (built in: {}; or give a .json file)",
                        ids.join(", ")
                    ),
                ),
            })
    }
}

impl Check {
    /// The layer of the store the check compares with, for checks between layers.
    #[must_use]
    pub fn other_layer(&self) -> Option<&str> {
        match self {
            Self::Within { layer, .. }
            | Self::WithinOne { layer, .. }
            | Self::Disjoint { layer, .. }
            | Self::ClassConflict { layer, .. } => Some(layer),
            _ => None,
        }
    }

    /// The values the other layer's features must have to be compared with.
    #[must_use]
    pub fn other_filter(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Self::Within { filter, .. }
            | Self::WithinOne { filter, .. }
            | Self::Disjoint { filter, .. }
            | Self::ClassConflict { filter, .. } => filter.as_ref(),
            _ => None,
        }
    }

    /// A numeric parameter that is not a positive finite number, with its name and value.
    fn bad_parameter(&self) -> Option<(&'static str, f64)> {
        let (name, value) = match self {
            Self::DuplicateVertices { tolerance_m } => ("tolerance_m", *tolerance_m),
            Self::Spike { max_angle_deg } => ("max_angle_deg", *max_angle_deg),
            Self::Sliver { min_thinness } => ("min_thinness", *min_thinness),
            Self::MinArea { m2 } => ("m2", *m2),
            Self::Overlap { min_area_m2 } | Self::Gaps { min_area_m2 } => {
                ("min_area_m2", *min_area_m2)
            }
            Self::DeclaredArea {
                tolerance_percent, ..
            } => ("tolerance_percent", *tolerance_percent),
            Self::Within { tolerance_m2, .. } | Self::WithinOne { tolerance_m2, .. } => {
                ("tolerance_m2", *tolerance_m2)
            }
            Self::Disjoint { min_area_m2, .. } | Self::ClassConflict { min_area_m2, .. } => {
                ("min_area_m2", *min_area_m2)
            }
            _ => return None,
        };
        (!(value.is_finite() && value > 0.0)).then_some((name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::RuleSet;

    #[test]
    fn the_shipped_sets_read() {
        let sets = RuleSet::builtin().unwrap_or_default();
        assert_eq!(sets.len(), 4);
        assert!(sets.iter().all(|s| s.rules.len() >= 8));
    }

    #[test]
    fn unknown_kinds_keys_and_bad_parameters_are_named_with_their_line() {
        let unknown_kind = "{\"id\": \"x\", \"title\": {\"zh\": \"x\", \"en\": \"x\"},\n\"rules\": [\n{\"id\": \"A\", \"severity\": \"error\", \"check\": {\"kind\": \"gap\"}, \"message\": {\"zh\": \"a\", \"en\": \"a\"}}]}";
        let e = RuleSet::from_json(unknown_kind, "x.json").err();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.line == Some(3) && e.problem.en.contains("gap")),
            "{e:?}"
        );
        let unknown_key = unknown_kind.replace(
            "{\"kind\": \"gap\"}",
            "{\"kind\": \"min_area\", \"m2\": 1, \"area\": 2}",
        );
        let e = RuleSet::from_json(&unknown_key, "x.json").err();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.line == Some(3) && e.problem.en.contains("area")),
            "{e:?}"
        );
        let negative = unknown_kind.replace(
            "{\"kind\": \"gap\"}",
            "{\"kind\": \"min_area\", \"m2\": -1}",
        );
        let e = RuleSet::from_json(&negative, "x.json").err();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.line == Some(3) && e.problem.en.contains("m2 = -1")),
            "{e:?}"
        );
        assert!(RuleSet::find("nothing-like-it").is_err());
        let never = unknown_kind.replace(
            "{\"kind\": \"gap\"}",
            "{\"kind\": \"class_conflict\", \"field\": \"land_use\", \"prefixes\": [], \"layer\": \"x\", \"min_area_m2\": 1}",
        );
        let e = RuleSet::from_json(&never, "x.json").err();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.line == Some(3) && e.problem.en.contains("prefixes")),
            "{e:?}"
        );
    }
}
