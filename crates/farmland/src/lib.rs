//! Farmland protection (耕地保护): a county's quota ledger (补充耕地指标) as an append-only
//! double-entry journal in the three balanced units — 耕地数量, 水田规模, 粮食产能 — and the
//! occupation of farmland by an approval, measured on the one map and debited in the same
//! transaction as the approval (以补定占).

pub mod account;
pub mod amount;
pub mod chief;
pub mod compensation;
pub mod demo;
pub mod inout;
pub mod journal;
pub mod ledger;
pub mod occupation;
pub mod order;
pub mod project;
pub mod report;
