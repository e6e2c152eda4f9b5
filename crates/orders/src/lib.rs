//! The work-order centre (一网统管 / 超级工单中心): the domain rules of a work order, without I/O.
//!
//! - [`category`]: the taxonomy of 部件, 事件 and 12345 requests, with handling time limits.
//! - [`lifecycle`]: states and steps from intake to evaluation, the public and Open311 status.
//! - [`duplicates`]: duplicate suggestions at intake (same category, near in space and time,
//!   alike in text).
//! - [`demo`]: the demo district's responsibility list.
//! - [`order`]: the order as kept, and the pure step function that sets deadlines on dispatch.
//! - [`service`]: orders as store records: intake with its checks, steps with optimistic
//!   versions (two people acting at once: one wins, the other is told), lists.
//! - [`stats`]: 受理量, 结案率, 按期结案率, 返工率, 满意率, 重复件率 and handling time by town, unit or
//!   category.
//! - [`supervision`]: reminders, overdue warnings raised to the next level and the leader on duty,
//!   automatic 督办; the on-duty roster.
//! - [`routing`]: the responsibility list (权责清单) and the dispatch rules 部件先属主、后属地 and
//!   事件先属地、后属主, with the route explained.
//!
//! Deadlines count working days on `tudi_core::calendar`. HTTP, Open311 and the console build on
//! these types.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod category;
pub mod demo;
pub mod duplicates;
pub mod lifecycle;
pub mod order;
pub mod routing;
pub mod service;
pub mod stats;
pub mod supervision;
