//! Free text people type (names, addresses, descriptions, notes, reasons): what is accepted.
//!
//! Text is published (Open311 feeds, XML, Excel ledgers, PDFs) and read by other systems, so
//! it holds no control characters (they make XML unparseable and can forge lines in logs and
//! exports), no bidirectional overrides (U+202E makes `gpj.exe` read as `exe.jpg`), is not made
//! only of invisible characters, and is bounded in length. Checking refuses rather than
//! repairs, naming the first offending character, so the person can correct it.

use crate::msg::Msg;

/// Whether line breaks are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: names, addresses, titles.
    One,
    /// Several lines (`\n`, `\r\n` and tabs allowed): descriptions, notes, reasons.
    Many,
}

/// What is wrong with a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextFault {
    /// Empty (or only spaces) where text is required.
    Empty,
    /// Longer than allowed.
    TooLong {
        /// Characters given (after trimming).
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A control or bidirectional-override character.
    Forbidden {
        /// Its position, counting characters from 1.
        position: usize,
        /// The character.
        ch: char,
    },
    /// Only invisible characters (zero-width spaces, joiners, format characters).
    Invisible,
}

impl TextFault {
    /// The message for the field `label` (Chinese) / `field` (English).
    #[must_use]
    pub fn message(&self, label: &str, field: &str) -> Msg {
        match self {
            Self::Empty => Msg::new(format!("请填写{label}"), format!("{field} is required")),
            Self::TooLong { chars, max } => Msg::new(
                format!("{label}过长：{chars} 个字，最多 {max} 个"),
                format!("{field} is too long: {chars} characters, at most {max}"),
            ),
            Self::Forbidden { position, ch } => {
                let code = format!("U+{:04X}", u32::from(*ch));
                let what = if is_bidi_control(*ch) {
                    ("文字方向控制符", "a bidirectional control character")
                } else {
                    ("控制字符", "a control character")
                };
                Msg::new(
                    format!(
                        "{label}第 {position} 个字符是{}（{code}），请删除后重试",
                        what.0
                    ),
                    format!("{field}: character {position} is {} ({code})", what.1),
                )
            }
            Self::Invisible => Msg::new(
                format!("{label}只含不可见字符"),
                format!("{field} holds only invisible characters"),
            ),
        }
    }
}

/// Explicit embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no space and show nothing: zero-width spaces and joiners, marks,
/// the word joiner, the byte-order mark, soft hyphens, Hangul fillers.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

fn forbidden(c: char, lines: Lines) -> bool {
    if is_bidi_control(c) {
        return true;
    }
    if matches!(lines, Lines::Many) && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    // C0, DEL and C1 controls, and the line and paragraph separators.
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Checks required text and returns it trimmed.
///
/// # Errors
/// The first [`TextFault`].
pub fn check(value: &str, max_chars: usize, lines: Lines) -> Result<&str, TextFault> {
    let v = value.trim();
    if v.is_empty() {
        return Err(TextFault::Empty);
    }
    check_optional(v, max_chars, lines).map(|_| v)
}

/// Checks text that may be empty and returns it trimmed (empty stays empty).
///
/// # Errors
/// [`TextFault::TooLong`], [`TextFault::Forbidden`] or [`TextFault::Invisible`].
pub fn check_optional(value: &str, max_chars: usize, lines: Lines) -> Result<&str, TextFault> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(v);
    }
    let mut chars = 0;
    for (i, c) in v.chars().enumerate() {
        chars = i + 1;
        if forbidden(c, lines) {
            return Err(TextFault::Forbidden {
                position: i + 1,
                ch: c,
            });
        }
    }
    if chars > max_chars {
        return Err(TextFault::TooLong {
            chars,
            max: max_chars,
        });
    }
    if v.chars().all(is_invisible) {
        return Err(TextFault::Invisible);
    }
    Ok(v)
}

/// The text with every character XML 1.0 cannot carry left out (controls other than tab and
/// line breaks, lone surrogates cannot occur in `str`, U+FFFE and U+FFFF), for writers of
/// documents other systems parse, so text stored before these checks existed cannot break them.
#[must_use]
pub fn xml_safe(value: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r') && u32::from(c) < 0x20)
            || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if value.chars().any(bad) {
        value
            .chars()
            .filter(|c| !bad(*c))
            .collect::<String>()
            .into()
    } else {
        value.into()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ordinary_text_passes_trimmed() {
        assert_eq!(check("  占道经营 ", 10, Lines::One).unwrap(), "占道经营");
        assert_eq!(
            check("第一行\n第二行\t", 20, Lines::Many).unwrap(),
            "第一行\n第二行"
        );
        assert_eq!(check_optional("   ", 5, Lines::One).unwrap(), "");
    }

    #[test]
    fn controls_overrides_and_invisible_text_are_named() {
        assert_eq!(
            check("占道\u{0}经营\u{7}", 20, Lines::Many),
            Err(TextFault::Forbidden {
                position: 3,
                ch: '\u{0}'
            })
        );
        assert_eq!(
            check("a\nb", 20, Lines::One),
            Err(TextFault::Forbidden {
                position: 2,
                ch: '\n'
            })
        );
        let e = check("photo\u{202E}gpj.exe", 20, Lines::One).unwrap_err();
        assert!(
            e.message("文件名", "name")
                .zh
                .contains("文字方向控制符（U+202E）")
        );
        assert_eq!(
            check("\u{200B}\u{200B}\u{FEFF}", 20, Lines::One),
            Err(TextFault::Invisible)
        );
        assert_eq!(
            check("x\u{85}y", 20, Lines::Many).unwrap_err(),
            TextFault::Forbidden {
                position: 2,
                ch: '\u{85}'
            }
        );
        assert_eq!(check("", 20, Lines::One), Err(TextFault::Empty));
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(check("一二三", 3, Lines::One).is_ok());
        assert_eq!(
            check("一二三四", 3, Lines::One),
            Err(TextFault::TooLong { chars: 4, max: 3 })
        );
    }

    #[test]
    fn xml_safe_drops_what_xml_cannot_hold() {
        assert_eq!(xml_safe("占道\u{0}经营\u{7}"), "占道经营");
        assert!(matches!(xml_safe("普通"), std::borrow::Cow::Borrowed(_)));
    }
}
