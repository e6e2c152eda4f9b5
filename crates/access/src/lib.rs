//! Who may do what, where: accounts, roles bound to jurisdictions, the access policy, sessions
//! and API tokens.
//!
//! - [`policy`]: the one module that decides. Handlers ask [`policy::decide`] whether a
//!   [`policy::Principal`] may take an [`policy::Action`] on a [`policy::Resource`]; the answer
//!   is deny unless the policy table grants it.
//! - [`jurisdiction`]: district, town, village and grid codes, and which contains which.
//! - [`accounts`]: accounts with Argon2id passwords, lockout after repeated failures, sessions
//!   with anti-CSRF tokens, revocable API tokens; kept as store records, so every change is in
//!   the audit chain.
//!
//! Personal data (身份证号, phone numbers) is validated and masked by `tudi_core::personal`;
//! [`accounts::view`] unmasks it only where the policy allows.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod demo;
pub mod jurisdiction;
pub mod policy;

pub use jurisdiction::Jurisdiction;
pub use policy::{Action, Binding, Decision, Principal, Resource, Role, Unit, decide};
