//! Quality checks of survey and planning data (成果质检): rules as data, run on a file's
//! features, giving findings a surveyor can act on.
//!
//! A rule set ([`rules::RuleSet`]) is a JSON file: each rule an id, a severity, the check it
//! makes with its parameters, and a message in Chinese and English. [`check::run`] applies a
//! set to features read in a planar CRS ([`tudi_onemap::import::read_planar`]) and returns a
//! [`check::Report`]: every finding with its rule, feature and place, and totals by rule.
//! Rules between layers ([`between`]) compare each feature with another layer of the store,
//! given to [`check::run`] read in the same CRS.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod between;
pub mod check;
pub mod conformance;
pub mod demo;
pub mod export;
pub mod gate;
pub mod rules;
pub mod survey;
