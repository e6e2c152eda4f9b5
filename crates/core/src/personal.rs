//! Personal data: 居民身份证号码 (GB 11643-1999) and mobile numbers, validated on entry and
//! masked for display.
//!
//! [`IdNumber`] and [`Phone`] hold the full value but print only the masked form through
//! `Debug` and `Display`, so a value that slips into a log line or an error shows no more than a
//! clerk's screen would. The full value is reachable only through `expose`, which callers use
//! after the policy has said the viewer may see it.

use std::fmt;

use crate::msg::{Bilingual, Msg};

/// Why a 身份证号码 is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Not 18 characters.
    #[error("an identity number has 18 characters, not {0}")]
    Length(usize),
    /// A character other than a digit (or a final `X`).
    #[error("character {position} is not a digit")]
    NotDigit {
        /// 1-based position.
        position: usize,
    },
    /// The birth date (characters 7–14) is not a real date.
    #[error("birth date {0} is not a valid date")]
    BirthDate(String),
    /// The check character does not match (GB 11643 ISO 7064 MOD 11-2).
    #[error("check character should be {expected}, not {found}")]
    Checksum {
        /// What the first 17 digits require.
        expected: char,
        /// What was given.
        found: char,
    },
}

impl Bilingual for IdNumberError {
    fn msg(&self) -> Msg {
        let zh = match self {
            Self::Length(n) => format!("身份证号码应为 18 位，实为 {n} 位"),
            Self::NotDigit { position } => format!("身份证号码第 {position} 位不是数字"),
            Self::BirthDate(d) => format!("身份证号码中的出生日期 {d} 无效"),
            Self::Checksum { expected, found } => {
                format!("身份证号码校验位应为 {expected}，实为 {found}（号码有误）")
            }
        };
        Msg::new(zh, self.to_string())
    }
}

/// A valid 18-character 居民身份证号码.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

/// GB 11643: weights of the first 17 digits, and the check character for each remainder.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

impl IdNumber {
    /// Validates a number: length, digits, birth date and check character. A lower-case final
    /// `x` is accepted and stored upper-case; spaces around are ignored.
    ///
    /// # Errors
    /// [`IdNumberError`] saying what is wrong.
    ///
    /// # Examples
    /// ```
    /// use tudi_core::personal::IdNumber;
    /// let id = IdNumber::parse("11010519491231002X").unwrap();
    /// assert_eq!(id.masked(), "110105********002X");
    /// assert!(IdNumber::parse("110105194912310021").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, IdNumberError> {
        let text = text.trim().to_ascii_uppercase();
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 18 {
            return Err(IdNumberError::Length(chars.len()));
        }
        let mut sum = 0;
        for (i, c) in chars[..17].iter().enumerate() {
            let d = c
                .to_digit(10)
                .ok_or(IdNumberError::NotDigit { position: i + 1 })?;
            sum += d * WEIGHTS[i];
        }
        let last = chars[17];
        if !(last.is_ascii_digit() || last == 'X') {
            return Err(IdNumberError::NotDigit { position: 18 });
        }
        let date: String = chars[6..14].iter().collect();
        let y: u32 = date[..4].parse().unwrap_or(0);
        let m: u32 = date[4..6].parse().unwrap_or(0);
        let d: u32 = date[6..].parse().unwrap_or(0);
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if is_leap(y) => 29,
            2 => 28,
            _ => 0,
        };
        if !(1900..=2100).contains(&y) || d == 0 || d > days {
            return Err(IdNumberError::BirthDate(date));
        }
        let expected = CHECK[(sum % 11) as usize];
        if expected != last {
            return Err(IdNumberError::Checksum {
                expected,
                found: last,
            });
        }
        Ok(Self(text))
    }

    /// The masked form: the six-digit region code and the last four characters
    /// (`440605********1234`).
    #[must_use]
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// The full number, for those the policy allows to see it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Completes the first 17 digits (region, birth date, sequence) with their check character,
    /// for made-up people in demonstrations and tests.
    ///
    /// # Errors
    /// [`IdNumberError`] when the 17 digits do not form a valid number.
    ///
    /// # Examples
    /// ```
    /// use tudi_core::personal::IdNumber;
    /// let id = IdNumber::complete("11010519491231002").unwrap();
    /// assert_eq!(id.expose(), "11010519491231002X");
    /// ```
    pub fn complete(first17: &str) -> Result<Self, IdNumberError> {
        let mut sum = 0;
        for (i, c) in first17.chars().take(17).enumerate() {
            let d = c
                .to_digit(10)
                .ok_or(IdNumberError::NotDigit { position: i + 1 })?;
            sum += d * WEIGHTS[i];
        }
        Self::parse(&format!("{first17}{}", CHECK[(sum % 11) as usize]))
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a phone number is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a mainland mobile (11 digits from 1) or landline (area code and number) number")]
pub struct PhoneError;

impl Bilingual for PhoneError {
    fn msg(&self) -> Msg {
        Msg::new(
            "电话号码应为 11 位手机号（以 1 开头）或带区号的固定电话（如 0757-86282000）",
            self.to_string(),
        )
    }
}

/// A mainland phone number: an 11-digit mobile or a landline with its area code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Validates a number. Spaces are dropped; a landline keeps its hyphen.
    ///
    /// # Errors
    /// [`PhoneError`].
    ///
    /// # Examples
    /// ```
    /// use tudi_core::personal::Phone;
    /// assert_eq!(Phone::parse("138 0013 8000").unwrap().masked(), "138****8000");
    /// assert_eq!(Phone::parse("0757-86282000").unwrap().masked(), "0757-****2000");
    /// ```
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ok = if let Some((area, number)) = t.split_once('-') {
            digits(area)
                && area.starts_with('0')
                && (3..=4).contains(&area.len())
                && digits(number)
                && (7..=8).contains(&number.len())
        } else {
            digits(&t) && t.len() == 11 && t.starts_with('1')
        };
        if ok { Ok(Self(t)) } else { Err(PhoneError) }
    }

    /// The masked form: a mobile keeps its first three and last four digits, a landline its area
    /// code and last four digits.
    #[must_use]
    pub fn masked(&self) -> String {
        match self.0.split_once('-') {
            Some((area, number)) => format!("{area}-****{}", &number[number.len() - 4..]),
            None => format!("{}****{}", &self.0[..3], &self.0[7..]),
        }
    }

    /// The full number, for those the policy allows to see it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A person's name as shown to those who may not see personal data: the surname and one `*`
/// per further character (王小明 → 王**).
#[must_use]
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    let first: String = chars.next().into_iter().collect();
    format!("{first}{}", "*".repeat(chars.count()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_examples_validate() {
        // The worked example of GB 11643-1999 (appendix) and a Foshan-style number made for it.
        assert!(IdNumber::parse("11010519491231002X").is_ok());
        assert!(IdNumber::parse("11010519491231002x").is_ok());
        let id = IdNumber::parse("440605199001011236").unwrap();
        assert_eq!(id.masked(), "440605********1236");
        assert_eq!(
            format!("{id} {id:?}"),
            "440605********1236 IdNumber(440605********1236)"
        );
    }

    #[test]
    fn each_fault_is_named() {
        assert_eq!(IdNumber::parse("1234"), Err(IdNumberError::Length(4)));
        assert_eq!(
            IdNumber::parse("1101051949123100AX"),
            Err(IdNumberError::NotDigit { position: 17 })
        );
        assert_eq!(
            IdNumber::parse("110105194902300021"),
            Err(IdNumberError::BirthDate("19490230".into()))
        );
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::Checksum {
                expected: 'X',
                found: '1'
            })
        );
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("23800138000").is_err());
        assert!(Phone::parse("1380013800").is_err());
        assert!(Phone::parse("757-86282000").is_err());
        assert_eq!(
            format!("{:?}", Phone::parse("13800138000").unwrap()),
            "Phone(138****8000)"
        );
    }

    proptest! {
        /// Any 17 digits with a valid date get exactly one valid check character, and changing
        /// any one digit is caught.
        #[test]
        fn one_check_character_and_single_digit_errors_are_caught(
            region in 110_000u32..660_000, y in 1900u32..2025, m in 1u32..13, d in 1u32..29,
            seq in 0u32..1000, pos in 0usize..17, delta in 1u32..10,
        ) {
            let body = format!("{region:06}{y:04}{m:02}{d:02}{seq:03}");
            let valid: Vec<String> = "0123456789X".chars()
                .map(|c| format!("{body}{c}"))
                .filter(|s| IdNumber::parse(s).is_ok())
                .collect();
            prop_assert_eq!(valid.len(), 1);
            let mut chars: Vec<char> = valid[0].chars().collect();
            let digit = chars[pos].to_digit(10).unwrap();
            chars[pos] = char::from_digit((digit + delta) % 10, 10).unwrap();
            let changed: String = chars.into_iter().collect();
            // The date may become invalid instead; either way the number is refused.
            prop_assert!(IdNumber::parse(&changed).is_err());
        }
    }
}
