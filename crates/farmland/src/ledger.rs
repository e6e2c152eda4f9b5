//! The ledger kept in the store: postings as records, never rewritten; balances summed from
//! them. A running sum is kept only as checkpoints — the balances of every account after each
//! [`BLOCK`]th posting, written in the same transaction as that posting and checked by
//! [`Ledger::verify`] against the journal — so a balance is the last checkpoint plus at most
//! `BLOCK - 1` postings, however long the journal.
//!
//! Postings are serial: each one writes the journal's head on the version it read, so two made
//! at once cannot both pass their balance check — the second is checked again against the
//! first and either made or refused with the reason.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_core::msg::Msg;
use tudi_core::text::{self, Lines};
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::account::Account;
use crate::amount::{Amounts, Unit};
use crate::journal::{Balances, Leg, Movement, Posting, Reference, check_legs};

/// Where postings are kept (id: the number, zero-padded to ten digits).
pub const POSTINGS: &str = "farmland_posting";
/// The journal's head: how many postings there are.
pub const HEAD: &str = "farmland_head";
/// Checkpoints of every account's balance.
pub const CHECKPOINTS: &str = "farmland_checkpoint";
/// Request keys already posted, so a replayed request is told, not posted twice.
pub const REQUESTS: &str = "farmland_request";
/// Postings between checkpoints.
pub const BLOCK: u64 = 1000;
/// The setting holding the county's credit limit (信用指标额度).
pub const CREDIT_LIMIT: &str = "farmland.credit_limit";

const HEAD_ID: &str = "journal";
const ATTEMPTS: usize = 8;

/// Why the ledger refused.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A field of the request is wrong.
    #[error("{field}: {}", msg.en)]
    Invalid {
        /// The field (`legs[1]`, `summary`).
        field: String,
        /// Why.
        msg: Msg,
    },
    /// A rule of the ledger refuses it (a balance would fall below zero, already reversed).
    #[error("{}", .0.en)]
    Refused(Msg),
    /// The request was posted before (a replay): nothing was posted again.
    #[error("{}", .msg.en)]
    Duplicate {
        /// The posting made the first time.
        no: u64,
        /// Said to the caller.
        msg: Msg,
    },
    /// No such posting or project.
    #[error("{}", .0.en)]
    NotFound(Msg),
    /// Others kept posting; the caller may try again.
    #[error("{}", .0.en)]
    Busy(Msg),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LedgerError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Invalid { msg, .. } | Self::Duplicate { msg, .. } => msg.clone(),
            Self::Refused(m) | Self::NotFound(m) | Self::Busy(m) => m.clone(),
            Self::Store(e) => Msg::new(format!("存储出错：{e}"), format!("store error: {e}")),
        }
    }

    fn invalid(field: impl Into<String>, msg: Msg) -> Self {
        Self::Invalid {
            field: field.into(),
            msg,
        }
    }
}

/// A posting to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// What it records.
    pub movement: Movement,
    /// What it is, in a line.
    pub summary: String,
    /// Why.
    pub reason: Option<String>,
    /// What it belongs to.
    pub reference: Option<Reference>,
    /// The legs.
    pub legs: Vec<Leg>,
    /// The posting it reverses.
    pub reverses: Option<u64>,
    /// The movement's figures.
    pub detail: Value,
    /// The caller's key for this request: the same key never posts twice.
    pub request: Option<String>,
}

/// A posting checked against the balances, and the records that make it: the caller may write
/// them with records of its own (an approval and its debit in one transaction).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The posting.
    pub posting: Posting,
    /// The writes; they fail with a conflict if anyone posted since.
    pub writes: Vec<RecordWrite>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Head {
    count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_at: Option<Timestamp>,
}

/// The journal's tip as one writer sees it.
struct Tip {
    head: Head,
    /// What the head was when read: the head is written on it.
    expect: Expect,
    balances: Balances,
    limit: Amounts,
}

impl Tip {
    fn head_write(&self) -> Result<RecordWrite, LedgerError> {
        Ok(RecordWrite {
            collection: HEAD.into(),
            id: HEAD_ID.into(),
            expect: self.expect,
            body: Some(encode(&self.head)?),
            keys: Vec::new(),
            detail: Some(json!({"count": self.head.count})),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    no: u64,
    balances: Balances,
}

/// Which postings to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// Only those with a leg on this account.
    pub account: Option<Account>,
    /// Only those of this movement.
    pub movement: Option<Movement>,
    /// Only those of this reference (`kind:id`).
    pub reference: Option<String>,
    /// Skip this many, newest first.
    pub offset: u64,
    /// At most this many.
    pub limit: u64,
}

/// What [`Ledger::verify`] found.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    /// Postings read.
    pub postings: u64,
    /// Checkpoints compared with the journal.
    pub checkpoints: u64,
    /// Problems, each naming the posting or checkpoint (empty when the ledger is sound).
    pub problems: Vec<Msg>,
}

/// A county's farmland ledger over a store.
#[derive(Clone, Copy)]
pub struct Ledger<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// The county (6-digit code) whose ledger this is.
    pub county: &'a str,
}

fn posting_id(no: u64) -> String {
    format!("{no:010}")
}

fn block_key(no: u64) -> String {
    format!("{:07}", no.saturating_sub(1) / BLOCK)
}

fn decode<T: serde::de::DeserializeOwned>(body: Value, what: &str) -> Result<T, LedgerError> {
    serde_json::from_value(body)
        .map_err(|e| LedgerError::Store(StoreError::Schema(format!("{what}: {e}"))))
}

fn encode<T: Serialize>(value: &T) -> Result<Value, LedgerError> {
    serde_json::to_value(value).map_err(|e| LedgerError::Store(StoreError::Schema(e.to_string())))
}

impl<'a> Ledger<'a> {
    /// The ledger of `county` in `store`.
    #[must_use]
    pub const fn new(store: &'a dyn Store, county: &'a str) -> Self {
        Self { store, county }
    }

    /// The county's quota pool.
    #[must_use]
    pub fn pool(&self) -> Account {
        Account::Pool(self.county.to_owned())
    }

    fn head(&self) -> Result<(Head, Expect), LedgerError> {
        Ok(match self.store.record(HEAD, HEAD_ID)? {
            Some(r) => (decode(r.body, "farmland head")?, Expect::Version(r.version)),
            None => (Head::default(), Expect::Absent),
        })
    }

    /// How many postings there are.
    ///
    /// # Errors
    /// Store failures.
    pub fn count(&self) -> Result<u64, LedgerError> {
        Ok(self.head()?.0.count)
    }

    /// Posting `no`.
    ///
    /// # Errors
    /// [`LedgerError::NotFound`]; store failures.
    pub fn posting(&self, no: u64) -> Result<Posting, LedgerError> {
        match self.store.record(POSTINGS, &posting_id(no))? {
            Some(r) => decode(r.body, "farmland posting"),
            None => Err(LedgerError::NotFound(Msg::new(
                format!("没有第 {no} 号记账"),
                format!("no posting {no}"),
            ))),
        }
    }

    /// The county's credit limit (信用指标额度); zero unless set.
    ///
    /// # Errors
    /// Store failures; a setting that is not amounts.
    pub fn credit_limit(&self) -> Result<Amounts, LedgerError> {
        match self.store.meta(CREDIT_LIMIT)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                LedgerError::Store(StoreError::Schema(format!("{CREDIT_LIMIT}: {e}")))
            }),
            None => Ok(Amounts::ZERO),
        }
    }

    /// Sets the credit limit.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a negative or inconsistent limit; store failures.
    pub fn set_credit_limit(&self, change: &Change, limit: &Amounts) -> Result<(), LedgerError> {
        if let Some(m) = limit.problem() {
            return Err(LedgerError::invalid("limit", m));
        }
        self.store
            .set_meta(CREDIT_LIMIT, &encode(limit)?.to_string(), change)?;
        Ok(())
    }

    /// Every account's balance after posting `upto` (0: before the first).
    ///
    /// # Errors
    /// Store failures.
    pub fn balances_after(&self, upto: u64) -> Result<Balances, LedgerError> {
        let base = (upto / BLOCK) * BLOCK;
        let mut balances = if base > 0 {
            match self.store.record(CHECKPOINTS, &posting_id(base))? {
                Some(r) => decode::<Checkpoint>(r.body, "farmland checkpoint")?.balances,
                None => {
                    return Err(LedgerError::Store(StoreError::Schema(format!(
                        "farmland checkpoint {base} is missing"
                    ))));
                }
            }
        } else {
            Balances::default()
        };
        if upto > base {
            let tail = self.store.find_records(
                POSTINGS,
                &RecordQuery {
                    key: Some(("block".into(), block_key(upto))),
                    ..RecordQuery::default()
                },
            )?;
            for r in tail.records {
                let p: Posting = decode(r.body, "farmland posting")?;
                if p.no <= upto {
                    balances.apply(&p);
                }
            }
        }
        Ok(balances)
    }

    /// Every account's balance now, and the number of the last posting.
    ///
    /// # Errors
    /// Store failures.
    pub fn balances(&self) -> Result<(u64, Balances), LedgerError> {
        let count = self.count()?;
        Ok((count, self.balances_after(count)?))
    }

    /// The number of the last posting made at or before `at` (0 when none was).
    ///
    /// # Errors
    /// Store failures.
    pub fn last_posted_by(&self, at: Timestamp) -> Result<u64, LedgerError> {
        // Postings are made in order of time (each no earlier than the one before), so a
        // binary search over their numbers finds it in about twenty reads for a million.
        let (mut lo, mut hi) = (0, self.count()?);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.posting(mid)?.at <= at {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// Every account's balance as it stood at `at`, and the last posting counted.
    ///
    /// # Errors
    /// Store failures.
    pub fn balances_at(&self, at: Timestamp) -> Result<(u64, Balances), LedgerError> {
        let upto = self.last_posted_by(at)?;
        Ok((upto, self.balances_after(upto)?))
    }

    /// Postings, newest first, with how many match.
    ///
    /// # Errors
    /// Store failures.
    pub fn journal(&self, q: &JournalQuery) -> Result<(Vec<Posting>, u64), LedgerError> {
        // A reference has few postings: with other filters, they are read and filtered here.
        if let Some(r) = &q.reference
            && (q.account.is_some() || q.movement.is_some())
        {
            let page = self.store.find_records(
                POSTINGS,
                &RecordQuery {
                    key: Some(("ref".into(), r.clone())),
                    descending: true,
                    ..RecordQuery::default()
                },
            )?;
            let matching: Vec<Posting> = page
                .records
                .into_iter()
                .map(|r| decode::<Posting>(r.body, "farmland posting"))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|p| q.movement.is_none_or(|m| p.movement == m))
                .filter(|p| {
                    q.account
                        .as_ref()
                        .is_none_or(|a| p.legs.iter().any(|l| l.account == *a))
                })
                .collect();
            let total = matching.len() as u64;
            let out = matching
                .into_iter()
                .skip(usize::try_from(q.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(q.limit).unwrap_or(usize::MAX))
                .collect();
            return Ok((out, total));
        }
        let key = if let (Some(a), Some(m)) = (&q.account, q.movement) {
            Some(("account_movement".to_owned(), format!("{a}|{}", m.id())))
        } else if let Some(a) = &q.account {
            Some(("account".to_owned(), a.to_string()))
        } else if let Some(m) = q.movement {
            Some(("movement".to_owned(), m.id().to_owned()))
        } else {
            q.reference.clone().map(|r| ("ref".to_owned(), r))
        };
        let Some(key) = key else {
            // The whole journal: its numbers are its ids, so a page is read by number.
            let total = self.count()?;
            let end = total.saturating_sub(q.offset);
            let start = end.saturating_sub(q.limit);
            let out = (start + 1..=end)
                .rev()
                .map(|no| self.posting(no))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((out, total));
        };
        let page = self.store.find_records(
            POSTINGS,
            &RecordQuery {
                key: Some(key),
                limit: Some(q.limit),
                offset: q.offset,
                descending: true,
            },
        )?;
        let out = page
            .records
            .into_iter()
            .map(|r| decode::<Posting>(r.body, "farmland posting"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((out, page.total))
    }

    /// The posting a request key made, if it was posted.
    ///
    /// # Errors
    /// Store failures.
    pub fn posted_by_request(&self, key: &str) -> Result<Option<u64>, LedgerError> {
        Ok(self
            .store
            .record(REQUESTS, key)?
            .and_then(|r| r.body.get("no").and_then(Value::as_u64)))
    }

    /// The posting that reversed posting `no`, if one did.
    ///
    /// # Errors
    /// Store failures.
    pub fn reversal_of(&self, no: u64) -> Result<Option<u64>, LedgerError> {
        let found = self.store.find_records(
            POSTINGS,
            &RecordQuery {
                key: Some(("reverses".into(), no.to_string())),
                limit: Some(1),
                offset: 0,
                descending: false,
            },
        )?;
        Ok(found.records.first().and_then(|r| r.id.parse::<u64>().ok()))
    }

    fn check_shape(&self, draft: &Draft) -> Result<(), LedgerError> {
        use Account as A;
        text::check(&draft.summary, 200, Lines::One)
            .map_err(|f| LedgerError::invalid("summary", f.message("摘要", "summary")))?;
        if let Some(r) = &draft.reason {
            text::check(r, 500, Lines::Many)
                .map_err(|f| LedgerError::invalid("reason", f.message("原因", "reason")))?;
        }
        if let Some(r) = &draft.reference {
            text::check(&r.id, 80, Lines::One).map_err(|f| {
                LedgerError::invalid("reference.id", f.message("关联编号", "reference id"))
            })?;
        }
        check_legs(&draft.legs).map_err(|(field, msg)| LedgerError::invalid(field, msg))?;
        for (i, leg) in draft.legs.iter().enumerate() {
            let own = match &leg.account {
                A::Project(_) | A::Outside(_) => true,
                A::Converted(t) | A::Restored(t) | A::Owed(t) => t.starts_with(self.county),
                other => other.key() == self.county,
            };
            if !own {
                return Err(LedgerError::invalid(
                    format!("legs[{i}].account"),
                    Msg::new(
                        format!("账户 {} 不属于本县（{}）的台账", leg.account, self.county),
                        format!(
                            "{} is not an account of county {}",
                            leg.account, self.county
                        ),
                    ),
                ));
            }
            if matches!(&leg.account, A::Outside(c) if c == self.county) {
                return Err(LedgerError::invalid(
                    format!("legs[{i}].account"),
                    Msg::new(
                        "调剂的对方不能是本县",
                        "a transfer's other side cannot be this county",
                    ),
                ));
            }
        }
        if draft.movement == Movement::Reversal {
            return Ok(());
        }
        let [from, to] = draft.legs.as_slice() else {
            return Err(LedgerError::invalid(
                "legs",
                Msg::new(
                    format!("{}应为一借一贷两方", draft.movement.name_zh()),
                    format!("a {} has two legs", draft.movement.id()),
                ),
            ));
        };
        let (from, to) = if from.amounts.farmland_m2.is_negative()
            || from.amounts.capacity_kg.is_negative()
            || from.amounts.paddy_m2.is_negative()
        {
            (&from.account, &to.account)
        } else {
            (&to.account, &from.account)
        };
        let fits = match draft.movement {
            Movement::Intake => matches!((from, to), (A::Project(_), A::Pool(_))),
            Movement::Occupation => matches!((from, to), (A::Pool(_), A::Occupied(_))),
            Movement::Transfer => matches!(
                (from, to),
                (A::Pool(_), A::Outside(_)) | (A::Outside(_), A::Pool(_))
            ),
            Movement::Freeze => matches!((from, to), (A::Pool(_), A::Frozen(_))),
            Movement::Unfreeze => matches!((from, to), (A::Frozen(_), A::Pool(_))),
            Movement::Deduct => matches!((from, to), (A::Frozen(_) | A::Pool(_), A::Deducted(_))),
            Movement::Borrow => matches!((from, to), (A::Credit(_), A::Pool(_))),
            Movement::Repay => matches!((from, to), (A::Pool(_), A::Credit(_))),
            Movement::ConversionOut => matches!((from, to), (A::Owed(_), A::Converted(_))),
            Movement::RestorationIn => matches!((from, to), (A::Restored(_), A::Owed(_))),
            Movement::Settle => matches!((from, to), (A::Pool(_), A::Owed(_))),
            Movement::Reversal => true,
        };
        if fits {
            Ok(())
        } else {
            Err(LedgerError::invalid(
                "legs",
                Msg::new(
                    format!("{}不能从 {from} 转入 {to}", draft.movement.name_zh()),
                    format!("a {} cannot move from {from} to {to}", draft.movement.id()),
                ),
            ))
        }
    }

    /// Checks a posting against the journal as it stands and builds the records that make it.
    ///
    /// # Errors
    /// [`LedgerError`]: the request's fault named, a balance that would fall below zero, a
    /// replayed request, a reversal of what was reversed.
    pub fn prepare(&self, draft: Draft, by: &str, now: Timestamp) -> Result<Prepared, LedgerError> {
        let draft = self.resolve_reversal(draft)?;
        self.check_shape(&draft)?;
        self.check_request(draft.request.as_deref())?;
        let mut tip = self.tip()?;
        let (posting, mut writes) = self.append(draft, by, now, &mut tip)?;
        writes.push(tip.head_write()?);
        Ok(Prepared { posting, writes })
    }

    /// Makes many postings in one transaction, in order, each checked against the balances the
    /// ones before it left — all or none (an import of a ledger kept elsewhere, a batch of
    /// orders). Reversals are made one at a time ([`Ledger::reverse`]).
    ///
    /// # Errors
    /// The first posting refused, named by its position (`postings[3].legs`); nothing is
    /// posted. [`LedgerError::Busy`] when others kept posting first.
    pub fn post_all(&self, change: &Change, drafts: &[Draft]) -> Result<Vec<Posting>, LedgerError> {
        let at = |i: usize, e: LedgerError| match e {
            LedgerError::Invalid { field, msg } => LedgerError::Invalid {
                field: format!("postings[{i}].{field}"),
                msg,
            },
            LedgerError::Refused(m) | LedgerError::Duplicate { msg: m, .. } => {
                LedgerError::Refused(Msg::new(
                    format!("第 {} 笔：{}", i + 1, m.zh),
                    format!("posting {} of the batch: {}", i + 1, m.en),
                ))
            }
            other => other,
        };
        for _ in 0..ATTEMPTS {
            let mut tip = self.tip()?;
            let mut keys = std::collections::BTreeSet::new();
            let mut postings = Vec::with_capacity(drafts.len());
            let mut writes = Vec::with_capacity(drafts.len() + 1);
            for (i, draft) in drafts.iter().enumerate() {
                if draft.reverses.is_some() || draft.movement == Movement::Reversal {
                    return Err(at(
                        i,
                        LedgerError::invalid(
                            "reverses",
                            Msg::new("冲正请逐笔办理", "reversals are made one at a time"),
                        ),
                    ));
                }
                self.check_shape(draft).map_err(|e| at(i, e))?;
                if let Some(key) = draft.request.as_deref() {
                    if !keys.insert(key) {
                        return Err(at(
                            i,
                            LedgerError::invalid(
                                "request",
                                Msg::new(
                                    format!("请求标识“{key}”在本批中重复"),
                                    format!("request id {key:?} appears twice in the batch"),
                                ),
                            ),
                        ));
                    }
                    self.check_request(Some(key)).map_err(|e| at(i, e))?;
                }
                let (posting, w) = self
                    .append(draft.clone(), &change.actor, change.at, &mut tip)
                    .map_err(|e| at(i, e))?;
                postings.push(posting);
                writes.extend(w);
            }
            writes.push(tip.head_write()?);
            match self.store.write_records(change, &writes) {
                Ok(_) => return Ok(postings),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// A reversal's legs, from the posting it reverses (which must not be a reversal or
    /// reversed already).
    fn resolve_reversal(&self, mut draft: Draft) -> Result<Draft, LedgerError> {
        let Some(original) = draft.reverses else {
            if draft.movement == Movement::Reversal {
                return Err(LedgerError::invalid(
                    "reverses",
                    Msg::new(
                        "冲正须指明被冲正的记账号",
                        "a reversal names the posting it reverses",
                    ),
                ));
            }
            return Ok(draft);
        };
        let first = self.posting(original)?;
        if matches!(first.movement, Movement::Occupation | Movement::Intake) {
            return Err(LedgerError::Refused(Msg::new(
                format!(
                    "第 {original} 号是{}，随审批或验收记账，不能单独冲正：审批或验收仍有效",
                    first.movement.name_zh()
                ),
                format!(
                    "posting {original} was made with an approval or acceptance, which still stands: it cannot be reversed alone"
                ),
            )));
        }
        if first.movement == Movement::Reversal {
            return Err(LedgerError::Refused(Msg::new(
                format!("第 {original} 号本身是冲正，不能再冲正；请重新记账"),
                format!("posting {original} is a reversal; post anew instead"),
            )));
        }
        if let Some(by_no) = self.reversal_of(original)? {
            return Err(LedgerError::Refused(Msg::new(
                format!("第 {original} 号已由第 {by_no} 号冲正"),
                format!("posting {original} was reversed by posting {by_no}"),
            )));
        }
        if draft.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(LedgerError::invalid(
                "reason",
                Msg::new("冲正须写明原因", "a reversal needs its reason"),
            ));
        }
        draft.movement = Movement::Reversal;
        draft.reference = first.reference.clone();
        draft.legs = first
            .legs
            .iter()
            .map(|l| Leg {
                account: l.account.clone(),
                amounts: -l.amounts,
            })
            .collect();
        Ok(draft)
    }

    /// Refuses a request key that was posted before.
    fn check_request(&self, key: Option<&str>) -> Result<(), LedgerError> {
        let Some(key) = key else {
            return Ok(());
        };
        text::check(key, 120, Lines::One)
            .map_err(|f| LedgerError::invalid("request", f.message("请求标识", "request id")))?;
        if let Some(r) = self.store.record(REQUESTS, key)? {
            let no = r.body.get("no").and_then(Value::as_u64).unwrap_or(0);
            return Err(LedgerError::Duplicate {
                no,
                msg: Msg::new(
                    format!("该请求已记账（第 {no} 号），未重复记账"),
                    format!(
                        "this request was posted before (posting {no}); nothing was posted again"
                    ),
                ),
            });
        }
        Ok(())
    }

    /// The journal's tip: its head as read and every balance after it.
    fn tip(&self) -> Result<Tip, LedgerError> {
        let (head, expect) = self.head()?;
        Ok(Tip {
            balances: self.balances_after(head.count)?,
            limit: self.credit_limit()?,
            head,
            expect,
        })
    }

    /// The next posting after `tip`, checked against its balances, and its records (the head
    /// aside); `tip` moves past it.
    fn append(
        &self,
        draft: Draft,
        by: &str,
        now: Timestamp,
        tip: &mut Tip,
    ) -> Result<(Posting, Vec<RecordWrite>), LedgerError> {
        let no = tip.head.count + 1;
        let at = tip.head.last_at.map_or(now, |last| last.max(now));
        let posting = Posting {
            no,
            at,
            by: by.to_owned(),
            movement: draft.movement,
            summary: draft.summary.trim().to_owned(),
            reason: draft.reason.map(|r| r.trim().to_owned()),
            reference: draft.reference,
            legs: draft.legs,
            reverses: draft.reverses,
            detail: draft.detail,
        };
        let pool_before = tip.balances.of(&self.pool());
        // Applied in place and taken back if refused: a batch does not copy every balance for
        // every posting.
        tip.balances.apply(&posting);
        let refused = posting.legs.iter().find_map(|leg| {
            leg.account
                .refuses(&tip.balances.of(&leg.account), &tip.limit)
                .map(|why| (leg, why))
        });
        let refused = refused.or_else(|| {
            // Quota covers what a town owes, never more.
            (posting.movement == Movement::Settle)
                .then(|| {
                    posting.legs.iter().find(|l| {
                        matches!(l.account, Account::Owed(_))
                            && Unit::ALL
                                .iter()
                                .any(|u| tip.balances.of(&l.account).get(*u).0 > 0)
                    })
                })
                .flatten()
                .map(|leg| {
                    (
                        leg,
                        Msg::new(
                            format!("以指标补足超过{}所欠", leg.account.name_zh()),
                            format!("the cover exceeds what {} owes", leg.account),
                        ),
                    )
                })
        });
        if let Some((leg, why)) = refused {
            for l in &posting.legs {
                *tip.balances.0.entry(l.account.clone()).or_default() += -l.amounts;
            }
            // An approval is told what it needs and what the pool holds.
            if posting.movement == Movement::Occupation && leg.account == self.pool() {
                return Err(LedgerError::Refused(quota_short(
                    &pool_before,
                    &-leg.amounts,
                )));
            }
            return Err(LedgerError::Refused(why));
        }
        let mut keys = vec![
            ("block".to_owned(), block_key(no)),
            ("movement".to_owned(), posting.movement.id().to_owned()),
        ];
        keys.extend(
            posting
                .legs
                .iter()
                .map(|l| ("account".to_owned(), l.account.to_string())),
        );
        // An account's postings of one movement, without reading the account's others.
        keys.extend(posting.legs.iter().map(|l| {
            (
                "account_movement".to_owned(),
                format!("{}|{}", l.account, posting.movement.id()),
            )
        }));
        if let Some(r) = &posting.reference {
            keys.push(("ref".into(), r.key()));
        }
        if let Some(r) = posting.reverses {
            keys.push(("reverses".into(), r.to_string()));
        }
        let detail = json!({"no": no, "movement": posting.movement.id()});
        let mut writes = vec![RecordWrite {
            collection: POSTINGS.into(),
            id: posting_id(no),
            expect: Expect::Absent,
            body: Some(encode(&posting)?),
            keys,
            detail: Some(detail.clone()),
        }];
        if no.is_multiple_of(BLOCK) {
            writes.push(RecordWrite {
                collection: CHECKPOINTS.into(),
                id: posting_id(no),
                expect: Expect::Absent,
                body: Some(encode(&Checkpoint {
                    no,
                    balances: tip.balances.clone(),
                })?),
                keys: Vec::new(),
                detail: Some(json!({"no": no})),
            });
        }
        // A posting is reversed once, however many reverse it at the same moment.
        if let Some(original) = posting.reverses {
            writes.push(RecordWrite {
                collection: REQUESTS.into(),
                id: format!("reversal-of:{original}"),
                expect: Expect::Absent,
                body: Some(json!({"no": no})),
                keys: Vec::new(),
                detail: Some(detail.clone()),
            });
        }
        if let Some(key) = &draft.request {
            writes.push(RecordWrite {
                collection: REQUESTS.into(),
                id: key.clone(),
                expect: Expect::Absent,
                body: Some(json!({"no": no})),
                keys: Vec::new(),
                detail: Some(detail),
            });
        }
        tip.head = Head {
            count: no,
            last_at: Some(at),
        };
        Ok((posting, writes))
    }

    /// The debit (出库) of an approval that occupies `amounts` of farmland: from the county's
    /// pool to what approvals have occupied, under the approval's reference — which is also the
    /// request key, so one approval is never debited twice. Approvals of every kind (a homestead,
    /// a 农转用 batch) use it, and write [`Ledger::prepare`]'s records with their own.
    #[must_use]
    pub fn occupation_draft(
        &self,
        reference: Reference,
        summary: String,
        amounts: Amounts,
    ) -> Draft {
        Draft {
            movement: Movement::Occupation,
            summary,
            reason: None,
            request: Some(format!("occupation:{}", reference.key())),
            reference: Some(reference),
            legs: vec![
                Leg {
                    account: self.pool(),
                    amounts: -amounts,
                },
                Leg {
                    account: Account::Occupied(self.county.to_owned()),
                    amounts,
                },
            ],
            reverses: None,
            detail: Value::Null,
        }
    }

    /// Why an approval occupying `need` cannot be granted now, if it cannot: the pool must
    /// cover all three amounts (以补定占).
    ///
    /// # Errors
    /// Store failures.
    pub fn shortfall(&self, need: &Amounts) -> Result<Option<Msg>, LedgerError> {
        let (_, balances) = self.balances()?;
        let have = balances.of(&self.pool());
        let short = have.short_of(need);
        if short.is_empty() {
            return Ok(None);
        }
        Ok(Some(quota_short(&have, need)))
    }

    /// Makes a posting. When others post meanwhile it is checked again against theirs; a
    /// balance they used up refuses it with the reason.
    ///
    /// # Errors
    /// As [`Ledger::prepare`]; [`LedgerError::Busy`] when others kept posting first.
    pub fn post(&self, change: &Change, draft: &Draft) -> Result<Posting, LedgerError> {
        for _ in 0..ATTEMPTS {
            let prepared = self.prepare(draft.clone(), &change.actor, change.at)?;
            match self.store.write_records(change, &prepared.writes) {
                Ok(_) => return Ok(prepared.posting),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy())
    }

    /// Reverses posting `no` with the reason.
    ///
    /// # Errors
    /// As [`Ledger::post`]; refused when it was reversed already or when what it brought in
    /// has been used.
    pub fn reverse(
        &self,
        change: &Change,
        no: u64,
        reason: &str,
        request: Option<String>,
    ) -> Result<Posting, LedgerError> {
        self.post(
            change,
            &Draft {
                movement: Movement::Reversal,
                summary: format!("冲正第 {no} 号"),
                reason: Some(reason.to_owned()),
                reference: None,
                legs: Vec::new(),
                reverses: Some(no),
                detail: Value::Null,
                request,
            },
        )
    }

    /// Reads the whole journal again: numbers without gaps, every posting balanced, every
    /// checkpoint equal to the sum before it, the head at the last posting.
    ///
    /// # Errors
    /// Store failures (a damaged ledger is a report, not an error).
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        const PAGE: u64 = 5_000;
        let mut problems = Vec::new();
        let mut balances = Balances::default();
        let (mut read, mut checkpoints, mut offset) = (0, 0, 0);
        loop {
            let page = self.store.find_records(
                POSTINGS,
                &RecordQuery {
                    key: None,
                    limit: Some(PAGE),
                    offset,
                    descending: false,
                },
            )?;
            if page.records.is_empty() {
                break;
            }
            offset += page.records.len() as u64;
            for r in page.records {
                let p: Posting = decode(r.body, "farmland posting")?;
                read += 1;
                if p.no != read {
                    problems.push(Msg::new(
                        format!("记账号不连续：第 {read} 位是第 {} 号", p.no),
                        format!("numbers have a gap: position {read} holds posting {}", p.no),
                    ));
                }
                if let Err((_, m)) = check_legs(&p.legs) {
                    problems.push(Msg::new(
                        format!("第 {} 号：{}", p.no, m.zh),
                        format!("posting {}: {}", p.no, m.en),
                    ));
                }
                balances.apply(&p);
                if p.no.is_multiple_of(BLOCK) {
                    checkpoints += 1;
                    let kept = self
                        .store
                        .record(CHECKPOINTS, &posting_id(p.no))?
                        .map(|r| decode::<Checkpoint>(r.body, "farmland checkpoint"))
                        .transpose()?;
                    if kept.as_ref().map(|c| &c.balances) != Some(&balances) {
                        problems.push(Msg::new(
                            format!("第 {} 号后的检查点与流水合计不符", p.no),
                            format!(
                                "the checkpoint after posting {} differs from the journal",
                                p.no
                            ),
                        ));
                    }
                }
            }
        }
        if self.count()? != read {
            problems.push(Msg::new(
                format!("台账头记 {} 笔，流水有 {read} 笔", self.count()?),
                format!(
                    "the head counts {} postings, the journal holds {read}",
                    self.count()?
                ),
            ));
        }
        Ok(VerifyReport {
            postings: read,
            checkpoints,
            problems,
        })
    }
}

/// 以补定占 refused: what the approval needs and what the pool holds.
#[must_use]
pub fn quota_short(have: &Amounts, need: &Amounts) -> Msg {
    let units: Vec<&str> = have.short_of(need).iter().map(|u| u.name_zh()).collect();
    Msg::new(
        format!(
            "以补定占：补充耕地指标不足（{}），不能批准。本宗需{}；指标库可用{}。请先将验收合格的补充耕地项目入库或调剂指标",
            units.join("、"),
            need.show_zh(),
            have.show_zh()
        ),
        format!(
            "quota short: the approval needs {}, the pool holds {}; take in an accepted project or a transfer first",
            need.show_en(),
            have.show_en()
        ),
    )
}

fn busy() -> LedgerError {
    LedgerError::Busy(Msg::new(
        "同时记账的人太多，请稍后重试",
        "others kept posting first; try again",
    ))
}
