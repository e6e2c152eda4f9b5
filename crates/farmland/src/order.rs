//! Movements people post by hand: a transfer between counties (调剂), a higher level's freeze,
//! release and deduction (冻结 / 解冻 / 减扣), credit quota borrowed and repaid. Each is two legs
//! between fixed kinds of account, so a request names amounts and documents, never accounts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tudi_core::msg::Msg;

use crate::account::Account;
use crate::amount::Amounts;
use crate::journal::{Leg, Movement, Reference};
use crate::ledger::{Draft, Ledger, LedgerError};

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// 划出: to the other county.
    Out,
    /// 划入: from the other county.
    In,
}

/// Unit prices of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// 万元 per 亩 of farmland quantity.
    #[serde(default)]
    pub farmland_wan_per_mu: f64,
    /// 万元 per 亩 of paddy.
    #[serde(default)]
    pub paddy_wan_per_mu: f64,
    /// 元 per kg of capacity.
    #[serde(default)]
    pub capacity_yuan_per_kg: f64,
}

/// A movement posted by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "movement", rename_all = "snake_case", deny_unknown_fields)]
pub enum Order {
    /// 调剂 between this county and another.
    Transfer {
        /// Out of or into this county.
        direction: Direction,
        /// The other county (6 digits).
        county: String,
        /// The amounts.
        amounts: Amounts,
        /// Unit prices.
        prices: Prices,
        /// The total agreed, 万元.
        amount_wan: f64,
        /// The agreement's number.
        document: String,
    },
    /// 冻结 by a higher level's order.
    Freeze {
        /// The amounts.
        amounts: Amounts,
        /// The order's number.
        document: String,
        /// Why (e.g. the satellite patches it follows).
        reason: String,
    },
    /// 解冻.
    Unfreeze {
        /// The amounts.
        amounts: Amounts,
        /// The order's number.
        document: String,
        /// Why.
        reason: String,
    },
    /// 减扣 of frozen quota.
    Deduct {
        /// The amounts.
        amounts: Amounts,
        /// The order's number.
        document: String,
        /// Why.
        reason: String,
    },
    /// 信用指标借用.
    Borrow {
        /// The amounts.
        amounts: Amounts,
        /// The approval of the loan.
        document: String,
        /// What it is for.
        reason: String,
    },
    /// 信用指标归还.
    Repay {
        /// The amounts.
        amounts: Amounts,
        /// The document.
        document: String,
        /// Why.
        reason: String,
    },
    /// 进出平衡·出: a town's farmland turned into other agricultural land.
    ConversionOut {
        /// The town (9 digits).
        town: String,
        /// The farmland lost.
        amounts: Amounts,
        /// What it became (三调 code: 02 园地, 03 林地, 04 草地, 1104 坑塘水面, 1202 设施农用地 …).
        to_use: String,
        /// Where it is known from.
        source: Source,
        /// The survey change's or filing's number.
        document: String,
    },
    /// 进出平衡·入: a town's farmland restored.
    RestorationIn {
        /// The town (9 digits).
        town: String,
        /// The farmland restored.
        amounts: Amounts,
        /// What it was (三调 code).
        from_use: String,
        /// Where it is known from.
        source: Source,
        /// The document.
        document: String,
    },
    /// A town's 进出平衡 covered from the county's pool.
    Settle {
        /// The town (9 digits).
        town: String,
        /// The amounts.
        amounts: Amounts,
        /// The county's decision.
        document: String,
        /// Why.
        reason: String,
    },
}

/// Where a 进出平衡 movement is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// 年度变更调查: the yearly survey change.
    SurveyChange,
    /// 备案: a filing (设施农用地 备案 …).
    Filing,
    /// 验收: a restoration's acceptance.
    Acceptance,
}

/// The 三调 classes farmland may turn into or be restored from under 进出平衡 (自然资发〔2021〕166号:
/// 林地、草地、园地等其他农用地及农业设施建设用地).
const OTHER_AGRICULTURAL: [&str; 7] = ["02", "03", "04", "1104", "1107", "1006", "1202"];

fn other_agricultural(field: &str, code: &str) -> Result<(), LedgerError> {
    if code.len() >= 2
        && code.bytes().all(|b| b.is_ascii_digit())
        && OTHER_AGRICULTURAL.iter().any(|p| code.starts_with(p))
    {
        return Ok(());
    }
    Err(LedgerError::Invalid {
        field: field.into(),
        msg: Msg::new(
            format!(
                "“{code}”不是进出平衡所指的其他农用地或农业设施建设用地（园地 02、林地 03、草地 04、坑塘 1104、沟渠 1107、农村道路 1006、设施农用地 1202）"
            ),
            format!("{code:?} is not other agricultural land (02, 03, 04, 1104, 1107, 1006, 1202)"),
        ),
    })
}

fn town_account(town: &str, make: fn(String) -> Account) -> Result<Account, LedgerError> {
    let account = Account::parse(&format!("owed:{town}"))
        .map(|_| make(town.to_owned()))
        .map_err(|m| LedgerError::Invalid {
            field: "town".into(),
            msg: m,
        })?;
    let known = tudi_core::division::DivisionCode::parse(town)
        .ok()
        .is_some_and(|c| {
            tudi_core::division::DivisionRegistry::bundled()
                .get(&c)
                .is_some()
        });
    if !known {
        return Err(LedgerError::Invalid {
            field: "town".into(),
            msg: Msg::new(
                format!("“{town}”不是已知的镇街代码"),
                format!("{town:?} is not a known town code"),
            ),
        });
    }
    Ok(account)
}

fn wan(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Order {
    /// The posting it makes in `ledger`, under the caller's request key.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] naming the field.
    pub fn draft(
        &self,
        ledger: &Ledger<'_>,
        request: Option<String>,
    ) -> Result<Draft, LedgerError> {
        let county = ledger.county.to_owned();
        let (movement, from, to, amounts, document, reason, detail) = match self {
            Self::Transfer {
                direction,
                county: other,
                amounts,
                prices,
                amount_wan,
                document,
            } => {
                let outside = Account::parse(&format!("outside:{other}")).map_err(|m| {
                    LedgerError::Invalid {
                        field: "county".into(),
                        msg: m,
                    }
                })?;
                if ![
                    prices.farmland_wan_per_mu,
                    prices.paddy_wan_per_mu,
                    prices.capacity_yuan_per_kg,
                    *amount_wan,
                ]
                .iter()
                .all(|x| x.is_finite() && *x >= 0.0)
                {
                    return Err(LedgerError::Invalid {
                        field: "prices".into(),
                        msg: Msg::new(
                            "单价和金额应为非负数",
                            "prices and the amount must not be negative",
                        ),
                    });
                }
                let mu = |c: crate::amount::Centi| c.units() / tudi_core::units::M2_PER_MU;
                let priced = prices.farmland_wan_per_mu * mu(amounts.farmland_m2)
                    + prices.paddy_wan_per_mu * mu(amounts.paddy_m2)
                    + prices.capacity_yuan_per_kg * amounts.capacity_kg.units() / 10_000.0;
                let detail = json!({
                    "direction": direction, "county": other, "prices": prices,
                    "amount_wan": wan(*amount_wan), "priced_wan": wan(priced), "document": document,
                });
                let (from, to) = match direction {
                    Direction::Out => (ledger.pool(), outside),
                    Direction::In => (outside, ledger.pool()),
                };
                (
                    Movement::Transfer,
                    from,
                    to,
                    amounts,
                    document,
                    None,
                    detail,
                )
            }
            Self::Freeze {
                amounts,
                document,
                reason,
            } => (
                Movement::Freeze,
                ledger.pool(),
                Account::Frozen(county),
                amounts,
                document,
                Some(reason),
                json!({"document": document}),
            ),
            Self::Unfreeze {
                amounts,
                document,
                reason,
            } => (
                Movement::Unfreeze,
                Account::Frozen(county.clone()),
                ledger.pool(),
                amounts,
                document,
                Some(reason),
                json!({"document": document}),
            ),
            Self::Deduct {
                amounts,
                document,
                reason,
            } => (
                Movement::Deduct,
                Account::Frozen(county.clone()),
                Account::Deducted(county),
                amounts,
                document,
                Some(reason),
                json!({"document": document}),
            ),
            Self::Borrow {
                amounts,
                document,
                reason,
            } => (
                Movement::Borrow,
                Account::Credit(county),
                ledger.pool(),
                amounts,
                document,
                Some(reason),
                json!({"document": document}),
            ),
            Self::ConversionOut {
                town,
                amounts,
                to_use,
                source,
                document,
            } => {
                other_agricultural("to_use", to_use)?;
                (
                    Movement::ConversionOut,
                    town_account(town, Account::Owed)?,
                    town_account(town, Account::Converted)?,
                    amounts,
                    document,
                    None,
                    json!({"town": town, "to_use": to_use, "source": source, "document": document}),
                )
            }
            Self::RestorationIn {
                town,
                amounts,
                from_use,
                source,
                document,
            } => {
                other_agricultural("from_use", from_use)?;
                (
                    Movement::RestorationIn,
                    town_account(town, Account::Restored)?,
                    town_account(town, Account::Owed)?,
                    amounts,
                    document,
                    None,
                    json!({"town": town, "from_use": from_use, "source": source, "document": document}),
                )
            }
            Self::Settle {
                town,
                amounts,
                document,
                reason,
            } => (
                Movement::Settle,
                ledger.pool(),
                town_account(town, Account::Owed)?,
                amounts,
                document,
                Some(reason),
                json!({"town": town, "document": document}),
            ),
            Self::Repay {
                amounts,
                document,
                reason,
            } => (
                Movement::Repay,
                ledger.pool(),
                Account::Credit(county),
                amounts,
                document,
                Some(reason),
                json!({"document": document}),
            ),
        };
        if let Some(m) = amounts.problem() {
            return Err(LedgerError::Invalid {
                field: "amounts".into(),
                msg: m,
            });
        }
        if amounts.is_zero() {
            return Err(LedgerError::Invalid {
                field: "amounts".into(),
                msg: Msg::new("数量全为零", "the amounts are all zero"),
            });
        }
        tudi_core::text::check(document, 80, tudi_core::text::Lines::One).map_err(|f| {
            LedgerError::Invalid {
                field: "document".into(),
                msg: f.message("文号", "document"),
            }
        })?;
        Ok(Draft {
            movement,
            summary: format!("{}（{}）", movement.name_zh(), document.trim()),
            reason: reason.cloned(),
            reference: Some(Reference {
                kind: "document".into(),
                id: document.trim().to_owned(),
            }),
            legs: vec![
                Leg {
                    account: from,
                    amounts: -*amounts,
                },
                Leg {
                    account: to,
                    amounts: *amounts,
                },
            ],
            reverses: None,
            detail,
            request,
        })
    }
}
