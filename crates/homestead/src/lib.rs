//! The homestead and farmhouse life cycle (宅基地和农房全周期), Nanhai configuration. So far:
//! [`eligibility`], the 资格审定 rules with each failure explained. The approval process runs
//! on `tudi-flow`; the site check uses the one map's compliance analysis (still to be wired).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod eligibility;
