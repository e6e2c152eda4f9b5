//! The journal: postings of the three amounts between accounts. A posting balances (its legs
//! sum to zero in every unit), is never changed once made, and is undone only by a reversal
//! (冲正) that posts the opposite legs with the reason. Balances are sums over the journal.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tudi_core::msg::Msg;

use crate::account::Account;
use crate::amount::{Amounts, Unit};

/// What a posting records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// 入库: an accepted compensation project's farmland enters the pool.
    Intake,
    /// 出库: an approval occupies farmland.
    Occupation,
    /// 调剂: quota moved between counties (out of or into this one).
    Transfer,
    /// 冻结: a higher level holds quota.
    Freeze,
    /// 解冻: a hold is released.
    Unfreeze,
    /// 减扣: a higher level takes held quota away.
    Deduct,
    /// 信用指标借用: quota borrowed ahead of a project.
    Borrow,
    /// 信用指标归还: borrowed quota repaid.
    Repay,
    /// 冲正: a posting undone.
    Reversal,
    /// 进出平衡·出: farmland turned into other agricultural land.
    ConversionOut,
    /// 进出平衡·入: farmland restored from it.
    RestorationIn,
    /// 进出平衡 covered from the county's pool (all occupation under one balance since 2024).
    Settle,
}

impl Movement {
    /// Every movement.
    pub const ALL: [Self; 12] = [
        Self::Intake,
        Self::Occupation,
        Self::Transfer,
        Self::Freeze,
        Self::Unfreeze,
        Self::Deduct,
        Self::Borrow,
        Self::Repay,
        Self::Reversal,
        Self::ConversionOut,
        Self::RestorationIn,
        Self::Settle,
    ];

    /// As written in the journal and the API.
    #[must_use]
    pub const fn id(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::Occupation => "occupation",
            Self::Transfer => "transfer",
            Self::Freeze => "freeze",
            Self::Unfreeze => "unfreeze",
            Self::Deduct => "deduct",
            Self::Borrow => "borrow",
            Self::Repay => "repay",
            Self::Reversal => "reversal",
            Self::ConversionOut => "conversion_out",
            Self::RestorationIn => "restoration_in",
            Self::Settle => "settle",
        }
    }

    /// Its Chinese name.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::Intake => "入库",
            Self::Occupation => "出库（占用）",
            Self::Transfer => "调剂",
            Self::Freeze => "冻结",
            Self::Unfreeze => "解冻",
            Self::Deduct => "减扣",
            Self::Borrow => "信用指标借用",
            Self::Repay => "信用指标归还",
            Self::Reversal => "冲正",
            Self::ConversionOut => "进出平衡·耕地流出",
            Self::RestorationIn => "进出平衡·恢复耕地",
            Self::Settle => "进出平衡·以指标补足",
        }
    }
}

/// What a posting belongs to: a project, an approval, a higher level's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// `project`, `homestead`, `order` (a higher level's document), `transfer` …
    pub kind: String,
    /// Its id or document number.
    pub id: String,
}

impl Reference {
    /// As indexed: `kind:id`.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// One side of a posting: an amount in each unit into (positive) or out of (negative) an
/// account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Leg {
    /// The account.
    pub account: Account,
    /// The amounts.
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// A posting as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Posting {
    /// Its number, from 1, without gaps.
    pub no: u64,
    /// When it was made.
    pub at: Timestamp,
    /// Who made it (an account name or `system`).
    pub by: String,
    /// What it records.
    pub movement: Movement,
    /// What it is, in a line.
    pub summary: String,
    /// Why (required for reversals and for orders of a higher level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// The legs; they sum to zero in every unit.
    pub legs: Vec<Leg>,
    /// The posting this one reverses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<u64>,
    /// The figures of the movement (a transfer's unit prices and amount, a project's grade).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// Why a set of legs cannot be a posting.
///
/// # Errors
/// The first problem, naming the leg (`legs[1]`) and unit.
pub fn check_legs(legs: &[Leg]) -> Result<(), (String, Msg)> {
    if legs.len() < 2 {
        return Err((
            "legs".into(),
            Msg::new(
                "一笔记账至少有两方（借、贷）",
                "a posting has at least two legs",
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut sum = Amounts::ZERO;
    for (i, leg) in legs.iter().enumerate() {
        let field = format!("legs[{i}]");
        if leg.amounts.is_zero() {
            return Err((field, Msg::new("该方数量全为零", "the leg moves nothing")));
        }
        if !seen.insert(&leg.account) {
            return Err((
                field,
                Msg::new(
                    format!("账户 {} 在同一笔记账中出现两次", leg.account),
                    format!("account {} appears twice", leg.account),
                ),
            ));
        }
        // A leg moves each unit the same way: all in or all out (or nothing).
        let positive = Unit::ALL.iter().any(|u| leg.amounts.get(*u).0 > 0);
        let moved = if positive { leg.amounts } else { -leg.amounts };
        if let Some(problem) = moved.problem() {
            return Err((
                field,
                Msg::new(
                    format!("{}（同一方的三项数量应同为转入或同为转出）", problem.zh),
                    format!("{} (a leg moves every unit the same way)", problem.en),
                ),
            ));
        }
        sum += leg.amounts;
    }
    if let Some(u) = Unit::ALL.into_iter().find(|u| sum.get(*u).0 != 0) {
        return Err((
            "legs".into(),
            Msg::new(
                format!(
                    "借贷不平衡：{}合计差 {}",
                    u.name_zh(),
                    u.show_zh(sum.get(u))
                ),
                format!(
                    "the posting does not balance: {} is off by {}",
                    u.name_en(),
                    u.show_en(sum.get(u))
                ),
            ),
        ));
    }
    Ok(())
}

/// Balances by account: sums over postings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances(pub BTreeMap<Account, Amounts>);

impl Balances {
    /// Adds a posting's legs.
    pub fn apply(&mut self, posting: &Posting) {
        for leg in &posting.legs {
            *self.0.entry(leg.account.clone()).or_default() += leg.amounts;
        }
    }

    /// The balance of one account (zero when it has no postings).
    #[must_use]
    pub fn of(&self, account: &Account) -> Amounts {
        self.0.get(account).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Centi;

    fn leg(account: &str, farmland: i64, paddy: i64, capacity: i64) -> Leg {
        Leg {
            account: Account::parse(account).unwrap(),
            amounts: Amounts {
                farmland_m2: Centi(farmland),
                paddy_m2: Centi(paddy),
                capacity_kg: Centi(capacity),
            },
        }
    }

    #[test]
    fn a_posting_must_balance_in_every_unit() {
        let ok = [
            leg("project:P1", -1000, -500, -70),
            leg("pool:440605", 1000, 500, 70),
        ];
        assert!(check_legs(&ok).is_ok());
        let off = [
            leg("project:P1", -1000, -500, -70),
            leg("pool:440605", 1000, 500, 69),
        ];
        let (field, msg) = check_legs(&off).unwrap_err();
        assert_eq!(field, "legs");
        assert!(msg.zh.contains("粮食产能"), "{}", msg.zh);
    }

    #[test]
    fn one_sided_mixed_or_repeated_legs_are_refused() {
        assert_eq!(
            check_legs(&[leg("pool:440605", 1, 0, 0)]).unwrap_err().0,
            "legs"
        );
        let mixed = [
            leg("project:P1", -1000, 500, 0),
            leg("pool:440605", 1000, -500, 0),
        ];
        assert_eq!(check_legs(&mixed).unwrap_err().0, "legs[0]");
        let twice = [
            leg("pool:440605", 100, 0, 0),
            leg("pool:440605", -100, 0, 0),
        ];
        assert_eq!(check_legs(&twice).unwrap_err().0, "legs[1]");
    }
}
