//! The homestead and farmhouse life cycle (宅基地和农房全周期), configured for Nanhai: the
//! application form ([`form`]), the 资格审定 rules ([`eligibility`]), the approval process as
//! data on the shared engine ([`process`]), the service that runs applications over the store
//! with the one map's site check ([`service`]), and registration with signed electronic
//! certificates ([`registry`], rendered by [`certificate`]); later events on a registered homestead
//! — transfer, lease, mortgage and its discharge, exit — each a process too ([`events`]); the
//! approval ledger and statistics ([`ledger`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certificate;
pub mod demo;
pub mod eligibility;
pub mod events;
pub mod form;
pub mod ledger;
pub mod process;
pub mod registry;
pub mod service;
