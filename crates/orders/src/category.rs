//! The category taxonomy: 部件 (components), 事件 (events) and 12345 requests, each with its
//! handling time limits. It is data (`data/categories.tsv` ships the defaults); a district may
//! load its own with [`Taxonomy::from_tsv`].

use std::collections::BTreeMap;

use serde::Serialize;
use tudi_core::msg::Msg;

/// The class of a category, which decides the dispatch rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 部件: a public facility; dispatched 先属主、后属地 (owner first).
    Component,
    /// 事件: a situation or behaviour; dispatched 先属地、后属主 (locality first).
    Event,
    /// A 12345 request (enquiry, complaint …); dispatched like an event.
    Request,
}

impl Class {
    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Component => "部件",
            Self::Event => "事件",
            Self::Request => "诉求",
        }
    }
}

/// How urgent an order is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// The category's normal limit.
    Normal,
    /// The category's urgent limit.
    Urgent,
    /// Due by the end of the day it is dispatched.
    Emergency,
}

/// One category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    /// Code (`0101`, `SJ0401`, `RX03` …).
    pub code: String,
    /// The class it belongs to, for a subcategory.
    pub parent: Option<String>,
    /// 部件, 事件 or 诉求.
    pub class: Class,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Working days to handle, normal urgency.
    pub normal_days: u32,
    /// Working days to handle, urgent.
    pub urgent_days: u32,
}

impl Category {
    /// Working days allowed at `urgency` (0: the same day).
    #[must_use]
    pub fn working_days(&self, urgency: Urgency) -> u32 {
        match urgency {
            Urgency::Normal => self.normal_days,
            Urgency::Urgent => self.urgent_days,
            Urgency::Emergency => 0,
        }
    }
}

/// A taxonomy line that could not be read, or an unknown code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CategoryError {
    /// A line of the data is wrong.
    #[error("categories, line {line}: {reason}")]
    BadLine {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No category has this code.
    #[error("unknown category {0:?}")]
    Unknown(String),
}

impl CategoryError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::BadLine { line, reason } => Msg::new(
                format!("分类数据第 {line} 行有误：{reason}"),
                format!("categories, line {line}: {reason}"),
            ),
            Self::Unknown(code) => Msg::new(
                format!("未知的工单分类「{code}」"),
                format!("unknown work-order category {code:?}"),
            ),
        }
    }
}

/// All categories, by code.
#[derive(Debug, Clone, Default)]
pub struct Taxonomy {
    by_code: BTreeMap<String, Category>,
}

const DEFAULT_TSV: &str = include_str!("../data/categories.tsv");

impl Taxonomy {
    /// The shipped defaults.
    ///
    /// # Errors
    /// Only if the shipped file were broken (its test guards that).
    pub fn defaults() -> Result<Self, CategoryError> {
        Self::from_tsv(DEFAULT_TSV)
    }

    /// Reads tab-separated lines: code, parent (`-` for none), class, 中文名, English name, normal
    /// days, urgent days. `#` starts a comment.
    ///
    /// # Errors
    /// The first bad line: missing columns, unknown class, a parent not defined above it or of
    /// another class, a repeated code, or an urgent limit longer than the normal one.
    pub fn from_tsv(text: &str) -> Result<Self, CategoryError> {
        let mut t = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim_end();
            if content.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| CategoryError::BadLine { line, reason };
            let cols: Vec<&str> = content.split('\t').map(str::trim).collect();
            let [code, parent, class, zh, en, normal, urgent] = cols[..] else {
                return Err(bad(format!(
                    "expected 7 tab-separated columns, found {}",
                    cols.len()
                )));
            };
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad(format!("bad code {code:?} (letters and digits only)")));
            }
            let class = match class {
                "component" => Class::Component,
                "event" => Class::Event,
                "request" => Class::Request,
                other => {
                    return Err(bad(format!(
                        "unknown class {other:?} (component, event, request)"
                    )));
                }
            };
            let parent = match parent {
                "-" | "" => None,
                p => match t.by_code.get(p) {
                    Some(pc) if pc.class == class => Some(p.to_owned()),
                    Some(_) => return Err(bad(format!("parent {p} is of another class"))),
                    None => return Err(bad(format!("parent {p} is not defined above"))),
                },
            };
            let days = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| bad(format!("bad number of working days {s:?}")))
            };
            let (normal_days, urgent_days) = (days(normal)?, days(urgent)?);
            if urgent_days > normal_days {
                return Err(bad("the urgent limit is longer than the normal one".into()));
            }
            if zh.is_empty() {
                return Err(bad("the Chinese name is empty".into()));
            }
            let c = Category {
                code: code.to_owned(),
                parent,
                class,
                name_zh: zh.to_owned(),
                name_en: en.to_owned(),
                normal_days,
                urgent_days,
            };
            if t.by_code.insert(code.to_owned(), c).is_some() {
                return Err(bad(format!("code {code} is defined twice")));
            }
        }
        Ok(t)
    }

    /// The category with `code`.
    ///
    /// # Errors
    /// [`CategoryError::Unknown`].
    pub fn get(&self, code: &str) -> Result<&Category, CategoryError> {
        self.by_code
            .get(code)
            .ok_or_else(|| CategoryError::Unknown(code.to_owned()))
    }

    /// Every category, in code order.
    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.by_code.values()
    }

    /// `code` and its ancestors, most specific first (for matching responsibility entries).
    #[must_use]
    pub fn lineage(&self, code: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut next = self.by_code.get(code);
        while let Some(c) = next {
            out.push(c.code.as_str());
            next = c.parent.as_deref().and_then(|p| self.by_code.get(p));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_hold_components_events_and_requests() {
        let t = Taxonomy::defaults().unwrap();
        let cover = t.get("0101").unwrap();
        assert_eq!(
            (cover.class, cover.name_zh.as_str()),
            (Class::Component, "上水井盖")
        );
        assert_eq!(t.get("SJ0401").unwrap().class, Class::Event);
        assert_eq!(t.get("RX03").unwrap().working_days(Urgency::Normal), 13);
        assert_eq!(t.get("RX03").unwrap().working_days(Urgency::Emergency), 0);
        assert_eq!(t.lineage("SJ0401"), vec!["SJ0401", "SJ04"]);
        for top in ["01", "02", "03", "04", "05", "06"] {
            assert_eq!(t.get(top).unwrap().parent, None);
        }
        assert_eq!(
            t.get("9999").unwrap_err().message().zh,
            "未知的工单分类「9999」"
        );
    }

    #[test]
    fn bad_taxonomy_lines_are_named() {
        let line = |text: &str| match Taxonomy::from_tsv(text).unwrap_err() {
            CategoryError::BadLine { line, reason } => (line, reason),
            CategoryError::Unknown(c) => panic!("{c}"),
        };
        assert_eq!(line("01\t-\tcomponent\t公用设施\tx\t5").0, 1);
        assert!(line("01\t-\tthing\t公用设施\tx\t5\t2").1.contains("class"));
        assert!(
            line("0101\t01\tcomponent\t井盖\tx\t5\t2")
                .1
                .contains("not defined")
        );
        assert!(
            line("SJ01\t-\tevent\t市容\tx\t3\t1\n0101\tSJ01\tcomponent\t井盖\tx\t5\t2")
                .1
                .contains("another class")
        );
        assert!(
            line("01\t-\tcomponent\t公用设施\tx\t2\t5")
                .1
                .contains("urgent")
        );
        assert_eq!(
            line("01\t-\tcomponent\t公用设施\tx\t5\t2\n01\t-\tcomponent\t又\tx\t5\t2"),
            (2, "code 01 is defined twice".into())
        );
    }
}
