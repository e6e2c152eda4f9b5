//! The domain kernel of tudi: official codes and units, with no I/O.
//!
//! - [`division`]: administrative division codes (GB/T 2260 county codes, GB/T 10114 town codes and
//!   the 12-digit 统计用区划代码), with the bundled 2023 list for Guangdong and Zhejiang.
//! - [`bdcdy`]: 不动产单元代码 (GB/T 37346-2019): parse, validate, format, allocate.
//! - [`landuse`]: 用地用海分类 (2023) and GB/T 21010-2017 code tables.
//! - [`units`]: areas in m², 亩 and 公顷, formatted the way Chinese users read them.
//! - [`personal`]: 身份证号码 (GB 11643) and phone numbers, validated and masked.
//! - [`calendar`]: working days against China's public holidays and make-up working days.
//! - [`json`]: canonical JSON (sorted keys) for digests and signatures.
//! - [`upload`]: files people attach, checked by decoding them.
//! - [`text`]: free text people type: no control characters, bounded, not only invisible.
//! - [`table`]: ledgers (台账) as typed rows, rendered by the ways out as JSON or Excel.
//! - [`msg`]: bilingual (zh-CN first, English second) messages shared by every error type.
//!
//! Nothing in this crate touches files, the network or a database: callers hand it strings and
//! bytes, which keeps it usable from the CLI, the server and tests alike.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bdcdy;
pub mod calendar;
pub mod division;
pub mod json;
pub mod landuse;
pub mod layer;
pub mod msg;
pub mod personal;
pub mod table;
pub mod text;
pub mod units;
pub mod upload;

pub use msg::Msg;
