//! Exact amounts in the ledger's three units. A journal must balance to the last digit, so
//! amounts are whole hundredths ([`Centi`]), never floating point: 0.01 m² of farmland or
//! paddy, 0.01 kg of grain capacity.

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tudi_core::msg::Msg;
use tudi_core::units::{M2_PER_HECTARE, M2_PER_MU};

/// The largest magnitude an amount may have: 10¹² units (a million km² of farmland), far
/// beyond any county, small enough that sums of a million postings stay exact.
const LIMIT: i64 = 100_000_000_000_000;

/// A quantity in hundredths of its unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Centi(pub i64);

impl Centi {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// The amount closest to `value` units, refused when it is not finite, has more than two
    /// decimals or is out of range.
    ///
    /// # Errors
    /// Why, in both languages.
    pub fn from_units(value: f64) -> Result<Self, Msg> {
        if !value.is_finite() {
            return Err(Msg::new(
                "数量不是有限数",
                "the amount is not a finite number",
            ));
        }
        let scaled = value * 100.0;
        let rounded = scaled.round();
        // Tolerates only the representation error of the number itself, so a third decimal is
        // refused at any size.
        if (scaled - rounded).abs() > (rounded.abs() * 4.0 * f64::EPSILON).max(1e-4) {
            return Err(Msg::new(
                format!("数量 {value} 超过两位小数"),
                format!("the amount {value} has more than two decimals"),
            ));
        }
        if rounded.abs() >= LIMIT as f64 {
            return Err(Msg::new(
                format!("数量 {value} 超出范围"),
                format!("the amount {value} is out of range"),
            ));
        }
        // In range, checked above.
        #[allow(clippy::cast_possible_truncation)]
        Ok(Self(rounded as i64))
    }

    /// The amount rounded to hundredths (for measured quantities such as overlap areas).
    #[must_use]
    pub fn rounded(value: f64) -> Self {
        if !value.is_finite() {
            return Self::ZERO;
        }
        // Clamped to the range first.
        #[allow(clippy::cast_possible_truncation)]
        Self((value * 100.0).round().clamp(-(LIMIT as f64), LIMIT as f64) as i64)
    }

    /// As a number of units.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn units(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// Whether it is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Centi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

impl Add for Centi {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self(self.0.saturating_add(o.0))
    }
}

impl AddAssign for Centi {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl Sub for Centi {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self(self.0.saturating_sub(o.0))
    }
}

impl Neg for Centi {
    type Output = Self;
    fn neg(self) -> Self {
        Self(self.0.saturating_neg())
    }
}

impl Serialize for Centi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.units())
    }
}

impl<'de> Deserialize<'de> for Centi {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Self::from_units(v).map_err(|m| serde::de::Error::custom(m.en))
    }
}

impl JsonSchema for Centi {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Centi".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "number", "multipleOf": 0.01})
    }
}

/// One of the three balanced indicators.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// 耕地数量, m².
    Farmland,
    /// 水田规模, m².
    Paddy,
    /// 粮食产能, kg.
    Capacity,
}

impl Unit {
    /// All three, in the order reports show them.
    pub const ALL: [Self; 3] = [Self::Farmland, Self::Paddy, Self::Capacity];

    /// Its Chinese name.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::Farmland => "耕地数量",
            Self::Paddy => "水田规模",
            Self::Capacity => "粮食产能",
        }
    }

    /// Its English name.
    #[must_use]
    pub const fn name_en(self) -> &'static str {
        match self {
            Self::Farmland => "farmland",
            Self::Paddy => "paddy",
            Self::Capacity => "grain capacity",
        }
    }

    /// The amount in the unit people read: 亩 for areas, kg for capacity.
    #[must_use]
    pub fn show_zh(self, amount: Centi) -> String {
        match self {
            Self::Farmland | Self::Paddy => format!("{:.4} 亩", amount.units() / M2_PER_MU),
            Self::Capacity => format!("{amount} 公斤"),
        }
    }

    /// The same in English.
    #[must_use]
    pub fn show_en(self, amount: Centi) -> String {
        match self {
            Self::Farmland | Self::Paddy => format!("{:.4} mu", amount.units() / M2_PER_MU),
            Self::Capacity => format!("{amount} kg"),
        }
    }
}

/// An amount in each of the three units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Amounts {
    /// 耕地数量, m².
    #[serde(default)]
    pub farmland_m2: Centi,
    /// 水田规模, m² (part of the farmland).
    #[serde(default)]
    pub paddy_m2: Centi,
    /// 粮食产能, kg.
    #[serde(default)]
    pub capacity_kg: Centi,
}

impl Amounts {
    /// Nothing.
    pub const ZERO: Self = Self {
        farmland_m2: Centi::ZERO,
        paddy_m2: Centi::ZERO,
        capacity_kg: Centi::ZERO,
    };

    /// The amount in `unit`.
    #[must_use]
    pub const fn get(&self, unit: Unit) -> Centi {
        match unit {
            Unit::Farmland => self.farmland_m2,
            Unit::Paddy => self.paddy_m2,
            Unit::Capacity => self.capacity_kg,
        }
    }

    /// Whether all three are zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// The units in which it is below zero.
    #[must_use]
    pub fn negative_units(&self) -> Vec<Unit> {
        Unit::ALL
            .into_iter()
            .filter(|u| self.get(*u).is_negative())
            .collect()
    }

    /// The units in which `self` is less than `need`.
    #[must_use]
    pub fn short_of(&self, need: &Self) -> Vec<Unit> {
        Unit::ALL
            .into_iter()
            .filter(|u| self.get(*u) < need.get(*u))
            .collect()
    }

    /// Why the amount cannot be what one leg moves: a unit below zero. (Paddy may exceed
    /// farmland in a movement: turning dry land into paddy, 旱改水, adds paddy and capacity
    /// without adding farmland.)
    #[must_use]
    pub fn problem(&self) -> Option<Msg> {
        self.negative_units().first().map(|u| {
            Msg::new(
                format!("{}不能为负数", u.name_zh()),
                format!("{} must not be negative", u.name_en()),
            )
        })
    }

    /// In Chinese, in the units people read (亩, 公斤).
    #[must_use]
    pub fn show_zh(&self) -> String {
        format!(
            "耕地 {}、水田 {}、产能 {}",
            Unit::Farmland.show_zh(self.farmland_m2),
            Unit::Paddy.show_zh(self.paddy_m2),
            Unit::Capacity.show_zh(self.capacity_kg)
        )
    }

    /// In English.
    #[must_use]
    pub fn show_en(&self) -> String {
        format!(
            "farmland {}, paddy {}, capacity {}",
            Unit::Farmland.show_en(self.farmland_m2),
            Unit::Paddy.show_en(self.paddy_m2),
            Unit::Capacity.show_en(self.capacity_kg)
        )
    }

    /// The figures a report shows for it: each area also in 亩 and 公顷.
    #[must_use]
    pub fn report(&self) -> Shown {
        let area = |c: Centi| AreaShown {
            m2: c.units(),
            mu: round4(c.units() / M2_PER_MU),
            hectare: round4(c.units() / M2_PER_HECTARE),
        };
        Shown {
            farmland: area(self.farmland_m2),
            paddy: area(self.paddy_m2),
            capacity_kg: self.capacity_kg.units(),
        }
    }
}

/// An area as people read it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct AreaShown {
    /// 平方米.
    pub m2: f64,
    /// 亩.
    pub mu: f64,
    /// 公顷.
    pub hectare: f64,
}

/// Amounts as people read them: areas in m², 亩 and 公顷, capacity in kg.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Shown {
    /// 耕地数量.
    pub farmland: AreaShown,
    /// 水田规模.
    pub paddy: AreaShown,
    /// 粮食产能, kg.
    pub capacity_kg: f64,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Add for Amounts {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            farmland_m2: self.farmland_m2 + o.farmland_m2,
            paddy_m2: self.paddy_m2 + o.paddy_m2,
            capacity_kg: self.capacity_kg + o.capacity_kg,
        }
    }
}

impl AddAssign for Amounts {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl Sub for Amounts {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self + (-o)
    }
}

impl Neg for Amounts {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            farmland_m2: -self.farmland_m2,
            paddy_m2: -self.paddy_m2,
            capacity_kg: -self.capacity_kg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_hundredths_and_refuse_more_decimals() {
        assert_eq!(Centi::from_units(1234.56), Ok(Centi(123_456)));
        assert_eq!(Centi::from_units(0.1 + 0.2), Ok(Centi(30)));
        assert!(Centi::from_units(1.234).is_err());
        assert!(
            Centi::from_units(5_000.123).is_err(),
            "a third decimal at any size"
        );
        assert_eq!(Centi::from_units(123_456_789.12), Ok(Centi(12_345_678_912)));
        assert!(Centi::from_units(f64::NAN).is_err());
        assert!(Centi::from_units(1e15).is_err());
        assert_eq!(Centi(-5).to_string(), "-0.05");
        let parsed: Amounts =
            serde_json::from_str(r#"{"farmland_m2": 666.67, "paddy_m2": 0.5}"#).unwrap();
        assert_eq!(parsed.farmland_m2, Centi(66_667));
        assert_eq!(serde_json::to_value(parsed).unwrap()["farmland_m2"], 666.67);
    }

    #[test]
    fn mixed_up_units_are_named() {
        assert!(serde_json::from_str::<Amounts>(r#"{"farmland_mu": 3}"#).is_err());
        let a = Amounts {
            farmland_m2: Centi(100),
            paddy_m2: Centi(200),
            capacity_kg: Centi::ZERO,
        };
        assert!(
            a.problem().is_none(),
            "旱改水 adds more paddy than farmland"
        );
        assert!((-a).problem().unwrap().zh.contains("耕地数量"));
        assert_eq!((a - a), Amounts::ZERO);
        assert_eq!(a.short_of(&(a + a)), vec![Unit::Farmland, Unit::Paddy]);
    }
}
