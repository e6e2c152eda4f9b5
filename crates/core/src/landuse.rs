//! Land-use classification code tables.
//!
//! Two schemes ship with tudi (`reference/domain-standards.md` §3):
//! - [`Scheme::Guide2023`]: 国土空间调查、规划、用途管制用地用海分类指南 (2023), 24 first-level,
//!   111 second-level and 40 third-level classes, used by planning and 用途管制;
//! - [`Scheme::Gbt21010`]: GB/T 21010-2017 土地利用现状分类, 12 first-level and 73 second-level
//!   classes, used by land surveys.
//!
//! Codes are kept as `(scheme, code)` pairs: the same digits mean different things in the two
//! schemes (0501 is 森林沼泽 in one and 零售商业用地 in the other).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::msg::{Bilingual, Msg};

/// A land-use classification scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// 用地用海分类 (2023).
    Guide2023,
    /// GB/T 21010-2017.
    Gbt21010,
}

impl Scheme {
    /// Short identifier used in files and attributes: `ydyh2023` or `gbt21010`.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::Guide2023 => "ydyh2023",
            Self::Gbt21010 => "gbt21010",
        }
    }

    /// Chinese title.
    #[must_use]
    pub const fn title_zh(self) -> &'static str {
        match self {
            Self::Guide2023 => "国土空间调查、规划、用途管制用地用海分类（2023）",
            Self::Gbt21010 => "土地利用现状分类（GB/T 21010-2017）",
        }
    }

    /// Parses an identifier (`ydyh2023`, `gbt21010`, or the Chinese short names).
    #[must_use]
    pub fn from_id(id: &str) -> Option<Self> {
        match id.trim().to_ascii_lowercase().as_str() {
            "ydyh2023" | "guide2023" | "用地用海" | "用地用海2023" => Some(Self::Guide2023),
            "gbt21010" | "gb/t21010" | "gb/t 21010-2017" | "土地利用现状分类" => {
                Some(Self::Gbt21010)
            }
            _ => None,
        }
    }

    fn table(self) -> &'static BTreeMap<String, String> {
        static GUIDE: OnceLock<BTreeMap<String, String>> = OnceLock::new();
        static GBT: OnceLock<BTreeMap<String, String>> = OnceLock::new();
        match self {
            Self::Guide2023 => {
                GUIDE.get_or_init(|| parse_table(include_str!("../data/landuse-2023.tsv")))
            }
            Self::Gbt21010 => {
                GBT.get_or_init(|| parse_table(include_str!("../data/gbt21010-2017.tsv")))
            }
        }
    }
}

fn parse_table(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(c, n)| (c.to_owned(), n.to_owned()))
        .collect()
}

/// A class in a scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandUseClass {
    /// The scheme.
    pub scheme: Scheme,
    /// The code (2, 4 or 6 digits).
    pub code: String,
    /// The official name.
    pub name: String,
}

impl LandUseClass {
    /// 1, 2 or 3.
    #[must_use]
    pub fn level(&self) -> u8 {
        match self.code.len() {
            2 => 1,
            4 => 2,
            _ => 3,
        }
    }
}

/// Why a land-use code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} is not a class of {}", scheme.id())]
pub struct UnknownClass {
    /// The scheme asked.
    pub scheme: Scheme,
    /// The code given.
    pub code: String,
}

impl Bilingual for UnknownClass {
    fn msg(&self) -> Msg {
        Msg::new(
            format!("“{}”不是{}中的地类代码", self.code, self.scheme.title_zh()),
            self.to_string(),
        )
    }
}

/// Looks a code up.
///
/// # Errors
/// [`UnknownClass`] when the scheme has no such code.
///
/// # Examples
/// ```
/// use tudi_core::landuse::{lookup, Scheme};
/// assert_eq!(lookup(Scheme::Guide2023, "0703").unwrap().name, "农村宅基地");
/// assert_eq!(lookup(Scheme::Gbt21010, "0702").unwrap().name, "农村宅基地");
/// assert!(lookup(Scheme::Gbt21010, "0703").is_err());
/// ```
pub fn lookup(scheme: Scheme, code: &str) -> Result<LandUseClass, UnknownClass> {
    let code = code.trim();
    scheme
        .table()
        .get(code)
        .map(|name| LandUseClass {
            scheme,
            code: code.to_owned(),
            name: name.clone(),
        })
        .ok_or_else(|| UnknownClass {
            scheme,
            code: code.to_owned(),
        })
}

/// The class one level up, if any.
#[must_use]
pub fn parent(class: &LandUseClass) -> Option<LandUseClass> {
    let cut = match class.code.len() {
        6 => 4,
        4 => 2,
        _ => return None,
    };
    lookup(class.scheme, &class.code[..cut]).ok()
}

/// Every class of a scheme, in code order.
#[must_use]
pub fn all(scheme: Scheme) -> Vec<LandUseClass> {
    scheme
        .table()
        .iter()
        .map(|(c, n)| LandUseClass {
            scheme,
            code: c.clone(),
            name: n.clone(),
        })
        .collect()
}

/// Finds classes whose name contains `text`.
#[must_use]
pub fn search(scheme: Scheme, text: &str) -> Vec<LandUseClass> {
    all(scheme)
        .into_iter()
        .filter(|c| c.name.contains(text.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_documented_sizes() {
        let count = |s: Scheme, n: usize| all(s).iter().filter(|c| c.code.len() == n).count();
        assert_eq!(count(Scheme::Guide2023, 2), 24);
        assert_eq!(count(Scheme::Guide2023, 4), 111);
        assert_eq!(count(Scheme::Guide2023, 6), 40);
        assert_eq!(count(Scheme::Gbt21010, 2), 12);
        assert_eq!(count(Scheme::Gbt21010, 4), 73);
    }

    #[test]
    fn every_class_has_a_listed_parent() {
        for scheme in [Scheme::Guide2023, Scheme::Gbt21010] {
            for c in all(scheme).iter().filter(|c| c.level() > 1) {
                assert!(parent(c).is_some(), "{c:?} has no parent");
            }
        }
    }

    #[test]
    fn the_same_digits_differ_between_schemes() {
        assert_eq!(lookup(Scheme::Guide2023, "0501").unwrap().name, "森林沼泽");
        assert_eq!(
            lookup(Scheme::Gbt21010, "0501").unwrap().name,
            "零售商业用地"
        );
        assert_eq!(
            lookup(Scheme::Guide2023, "070301").unwrap().name,
            "一类农村宅基地"
        );
        let err = lookup(Scheme::Guide2023, "9999").unwrap_err();
        assert!(err.msg().zh.contains("9999"));
    }
}
