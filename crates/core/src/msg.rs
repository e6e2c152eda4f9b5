//! Bilingual messages. Every error a user can read has a Chinese text (shown first) and an
//! English one; the edge (CLI, server) chooses which to show.

use std::fmt;

/// A message in Chinese and English.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Msg {
    /// Simplified Chinese (zh-CN), shown first.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Msg {
    /// Builds a message from its two texts.
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.zh, self.en)
    }
}

/// Types whose values can be explained to a user in both languages.
pub trait Bilingual {
    /// The message for this value.
    fn msg(&self) -> Msg;
}
