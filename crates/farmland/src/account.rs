//! The ledger's accounts. Each is written `kind:key` (`pool:440605`, `project:BC2026-0001`), so
//! the journal can be filtered by account and a report names it plainly.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tudi_core::msg::Msg;

use crate::amount::{Amounts, Centi, Unit};

/// An account of a county's farmland ledger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// 补充耕地指标库: the county's quota that approvals may use. Never below zero.
    Pool(String),
    /// 冻结: quota held by a higher level's order (e.g. from satellite patches). Never below
    /// zero.
    Frozen(String),
    /// 占用: quota used by approvals that occupy farmland (which approval is the posting's
    /// reference). Never below zero.
    Occupied(String),
    /// 减扣: quota taken away by a higher level. Never below zero.
    Deducted(String),
    /// 信用指标: quota borrowed ahead of a project's acceptance; below zero by what is owed,
    /// never above zero (nothing is repaid that was not borrowed).
    Credit(String),
    /// 补充耕地项目: the farmland a project created; below zero by what it supplied.
    Project(String),
    /// A county outside this ledger, the other side of a transfer (调剂).
    Outside(String),
    /// 进出平衡·出: a town's farmland turned into forest, grass, orchard or other agricultural
    /// land (or agricultural facility land). Never below zero.
    Converted(String),
    /// 进出平衡·入: a town's farmland restored from such land; below zero by what was restored.
    Restored(String),
    /// A town's 进出平衡 account: below zero by what it still owes (converted, not yet restored
    /// or covered from the county's pool).
    Owed(String),
}

impl Account {
    /// The kind, as written before the colon.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Pool(_) => "pool",
            Self::Frozen(_) => "frozen",
            Self::Occupied(_) => "occupied",
            Self::Deducted(_) => "deducted",
            Self::Credit(_) => "credit",
            Self::Project(_) => "project",
            Self::Outside(_) => "outside",
            Self::Converted(_) => "converted",
            Self::Restored(_) => "restored",
            Self::Owed(_) => "owed",
        }
    }

    /// The county or project it belongs to.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::Pool(k)
            | Self::Frozen(k)
            | Self::Occupied(k)
            | Self::Deducted(k)
            | Self::Credit(k)
            | Self::Project(k)
            | Self::Outside(k)
            | Self::Converted(k)
            | Self::Restored(k)
            | Self::Owed(k) => k,
        }
    }

    /// Its Chinese name.
    #[must_use]
    pub fn name_zh(&self) -> String {
        let kind = match self {
            Self::Pool(_) => "补充耕地指标库",
            Self::Frozen(_) => "冻结指标",
            Self::Occupied(_) => "已占用指标",
            Self::Deducted(_) => "减扣指标",
            Self::Credit(_) => "信用指标",
            Self::Project(_) => "补充耕地项目",
            Self::Outside(_) => "区外调剂方",
            Self::Converted(_) => "进出平衡·流出耕地",
            Self::Restored(_) => "进出平衡·恢复耕地",
            Self::Owed(_) => "进出平衡·待补足",
        };
        format!("{kind}（{}）", self.key())
    }

    /// Parses `kind:key`.
    ///
    /// # Errors
    /// Why it is not an account.
    pub fn parse(text: &str) -> Result<Self, Msg> {
        let bad = || {
            Msg::new(
                format!(
                    "“{text}”不是账户：应为 pool:县级代码、frozen:…、occupied:…、deducted:…、credit:…、outside:…、converted:镇街代码、restored:…、owed:… 或 project:项目编号"
                ),
                format!("{text:?} is not an account (kind:key)"),
            )
        };
        let (kind, key) = text.split_once(':').ok_or_else(bad)?;
        let county = |k: &str| {
            if k.len() == 6 && k.bytes().all(|b| b.is_ascii_digit()) {
                Ok(k.to_owned())
            } else {
                Err(Msg::new(
                    format!("“{k}”不是 6 位县级行政区划代码"),
                    format!("{k:?} is not a 6-digit county code"),
                ))
            }
        };
        let town = |k: &str| {
            if k.len() == 9 && k.bytes().all(|b| b.is_ascii_digit()) {
                Ok(k.to_owned())
            } else {
                Err(Msg::new(
                    format!("“{k}”不是 9 位镇街代码"),
                    format!("{k:?} is not a 9-digit town code"),
                ))
            }
        };
        Ok(match kind {
            "converted" => Self::Converted(town(key)?),
            "restored" => Self::Restored(town(key)?),
            "owed" => Self::Owed(town(key)?),
            "pool" => Self::Pool(county(key)?),
            "frozen" => Self::Frozen(county(key)?),
            "occupied" => Self::Occupied(county(key)?),
            "deducted" => Self::Deducted(county(key)?),
            "credit" => Self::Credit(county(key)?),
            "outside" => Self::Outside(county(key)?),
            "project"
                if !key.is_empty()
                    && key.len() <= 40
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Self::Project(key.to_owned())
            }
            _ => return Err(bad()),
        })
    }

    /// Whether a balance may be what `balance` is, and if not, why (the unit at fault named).
    /// `credit_limit` is what the county may borrow.
    #[must_use]
    pub fn refuses(&self, balance: &Amounts, credit_limit: &Amounts) -> Option<Msg> {
        let below = |floor: &Amounts| {
            Unit::ALL
                .into_iter()
                .find(|u| balance.get(*u) < floor.get(*u))
        };
        let above_zero = Unit::ALL
            .into_iter()
            .find(|u| balance.get(*u) > Centi::ZERO);
        match self {
            Self::Pool(_)
            | Self::Frozen(_)
            | Self::Occupied(_)
            | Self::Deducted(_)
            | Self::Converted(_) => below(&Amounts::ZERO).map(|u| {
                Msg::new(
                    format!(
                        "{}的{}不足：记账后将为 {}",
                        self.name_zh(),
                        u.name_zh(),
                        u.show_zh(balance.get(u))
                    ),
                    format!(
                        "{} would fall below zero in {} ({})",
                        self,
                        u.name_en(),
                        u.show_en(balance.get(u))
                    ),
                )
            }),
            Self::Credit(_) => {
                if let Some(u) = below(&-*credit_limit) {
                    Some(Msg::new(
                        format!(
                            "{}超出额度：{}借用后将达 {}，额度 {}",
                            self.name_zh(),
                            u.name_zh(),
                            u.show_zh(-balance.get(u)),
                            u.show_zh(credit_limit.get(u))
                        ),
                        format!("{self} would exceed its limit in {}", u.name_en()),
                    ))
                } else {
                    above_zero.map(|u| {
                        Msg::new(
                            format!("{}的{}归还超过借用", self.name_zh(), u.name_zh()),
                            format!("{self}: more {} repaid than borrowed", u.name_en()),
                        )
                    })
                }
            }
            Self::Restored(_) => above_zero.map(|u| {
                Msg::new(
                    format!(
                        "{}的{}将为正数：冲正不能超过恢复量",
                        self.name_zh(),
                        u.name_zh()
                    ),
                    format!(
                        "{self} would hold {}: it only records restorations",
                        u.name_en()
                    ),
                )
            }),
            Self::Project(_) => above_zero.map(|u| {
                Msg::new(
                    format!(
                        "{}的{}将为正数：项目只能提供指标，冲正不能超过其入库量",
                        self.name_zh(),
                        u.name_zh()
                    ),
                    format!("{self} would hold {}: a project only supplies", u.name_en()),
                )
            }),
            Self::Outside(_) | Self::Owed(_) => None,
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.key())
    }
}

impl Serialize for Account {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(|m| serde::de::Error::custom(m.en))
    }
}

impl schemars::JsonSchema for Account {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Account".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(pool|frozen|occupied|deducted|credit|outside):[0-9]{6}$|^(converted|restored|owed):[0-9]{9}$|^project:[A-Za-z0-9_-]{1,40}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_and_refuse_what_is_not_one() {
        for text in ["pool:440605", "project:BC2026-0001", "outside:440606"] {
            assert_eq!(Account::parse(text).unwrap().to_string(), text);
        }
        for text in [
            "pool:4406",
            "bank:440605",
            "pool",
            "project:",
            "project:a/b",
        ] {
            assert!(Account::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn each_kind_keeps_its_sign() {
        let minus = -Amounts {
            farmland_m2: Centi(1),
            ..Amounts::ZERO
        };
        let limit = Amounts::ZERO;
        assert!(
            Account::Pool("440605".into())
                .refuses(&minus, &limit)
                .is_some()
        );
        assert!(
            Account::Project("P".into())
                .refuses(&minus, &limit)
                .is_none()
        );
        assert!(
            Account::Project("P".into())
                .refuses(&-minus, &limit)
                .is_some()
        );
        assert!(
            Account::Credit("440605".into())
                .refuses(&minus, &limit)
                .is_some()
        );
        assert!(
            Account::Credit("440605".into())
                .refuses(&minus, &(-minus))
                .is_none()
        );
        assert!(
            Account::Outside("440606".into())
                .refuses(&minus, &limit)
                .is_none()
        );
    }
}
