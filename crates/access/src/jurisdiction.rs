//! Jurisdictions: where a role applies and where a resource lies, by official code.
//!
//! District (6 digits, GB/T 2260), town (9), village (12, the statistical code) and grid (15: the
//! village code and a three-digit cell number, as the one map's four-level grid numbers its
//! cells). One jurisdiction contains another when its code is a prefix of the other's, so a town
//! covers its villages and grids and never a sibling town's.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tudi_core::division::DivisionCode;
use tudi_core::msg::Msg;

use crate::policy::Level;

/// A validated jurisdiction code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jurisdiction {
    code: String,
}

impl Jurisdiction {
    /// Parses a district, town, village or grid code (12-digit village codes may be given with
    /// trailing zeros for a town: `440605011000` is the town `440605011`).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, Msg> {
        let t = text.trim();
        if t.len() == 15 && t.bytes().all(|b| b.is_ascii_digit()) {
            let village = DivisionCode::parse(&t[..12]).map_err(|e| bad(t, &e.to_string()))?;
            if village.as_str().len() != 12 || &t[12..] == "000" {
                return Err(bad(
                    t,
                    "a grid code is a village code and a cell number 001–999",
                ));
            }
            return Ok(Self { code: t.to_owned() });
        }
        let code = DivisionCode::parse(t).map_err(|e| bad(t, &e.to_string()))?;
        if code.as_str().len() < 6 {
            return Err(bad(
                t,
                "a jurisdiction is a district, town, village or grid, not a province or prefecture",
            ));
        }
        Ok(Self {
            code: code.as_str().to_owned(),
        })
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// Its level.
    #[must_use]
    pub fn level(&self) -> Level {
        match self.code.len() {
            6 => Level::District,
            9 => Level::Town,
            12 => Level::Village,
            _ => Level::Grid,
        }
    }

    /// Whether `other` lies within this jurisdiction (or is it).
    #[must_use]
    pub fn contains(&self, other: &Self) -> bool {
        other.code.starts_with(&self.code)
    }

    /// The district it lies in.
    #[must_use]
    pub fn district(&self) -> Self {
        Self {
            code: self.code[..6].to_owned(),
        }
    }
}

fn bad(code: &str, why: &str) -> Msg {
    Msg::new(
        format!(
            "辖区代码 {code} 无效：应为区县（6 位）、镇街（9 位）、村居（12 位）或网格（15 位）代码"
        ),
        format!("jurisdiction code {code:?} is not valid: {why}"),
    )
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

impl Serialize for Jurisdiction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code)
    }
}

impl<'de> Deserialize<'de> for Jurisdiction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(|m| serde::de::Error::custom(m.en))
    }
}

impl schemars::JsonSchema for Jurisdiction {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Jurisdiction".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{6}([0-9]{3}([0-9]{3}([0-9]{3})?)?)?$",
            "description": "区县（6 位）、镇街（9 位）、村居（12 位）或网格（15 位）代码 / a district, town, village or grid code",
            "examples": ["440605", "440605011", "440605011001"]
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn levels_and_containment() {
        let district = Jurisdiction::parse("440605").unwrap();
        let town = Jurisdiction::parse("440605011").unwrap();
        let sibling = Jurisdiction::parse("440605012").unwrap();
        let village = Jurisdiction::parse("440605011001").unwrap();
        let grid = Jurisdiction::parse("440605011001003").unwrap();
        assert_eq!(
            [
                district.level(),
                town.level(),
                village.level(),
                grid.level()
            ],
            [Level::District, Level::Town, Level::Village, Level::Grid]
        );
        assert!(district.contains(&grid) && town.contains(&village) && town.contains(&grid));
        assert!(!sibling.contains(&village) && !town.contains(&sibling));
        assert!(!grid.contains(&village));
        assert_eq!(Jurisdiction::parse("440605011000").unwrap(), town);
        assert_eq!(grid.district(), district);
    }

    #[test]
    fn bad_codes_are_refused() {
        for bad in [
            "44",
            "4406",
            "44060501",
            "440605011001000",
            "abc",
            "",
            "990605",
        ] {
            assert!(Jurisdiction::parse(bad).is_err(), "{bad}");
        }
    }
}
