//! The workflow engine the capabilities share (homestead approval first): versioned process
//! definitions as data ([`definition`]) and cases that run on them ([`case`]) — parallel
//! branches and joins, multi-signer steps completing on all, any or a threshold, deadlines in
//! working or calendar days, and the operations approval users ask for (approve, reject, return,
//! withdraw, transfer, add a signer, urge, comment) under optimistic revisions.
//!
//! [`stored`] keeps definitions and cases in the store as records (so every change is durable and
//! audited); the capability decides who is assigned each step.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod case;
pub mod definition;
pub mod stored;
