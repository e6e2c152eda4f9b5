//! 不动产单元代码 (real-estate unit code), GB/T 37346-2019.
//!
//! Twenty-eight characters in seven fields (`reference/domain-standards.md` §1.2):
//!
//! | positions | field |
//! |---|---|
//! | 1–6 | county code (GB/T 2260) |
//! | 7–9 | 地籍区 (cadastral district) |
//! | 10–12 | 地籍子区 (cadastral sub-district) |
//! | 13 | ownership letter: G 国有, J 集体, Z 未确定/争议 |
//! | 14 | parcel-type letter (B 建设用地地表, C 宅基地, D 耕地承包 …) |
//! | 15–19 | parcel sequence 00001–99999 |
//! | 20 | fixture letter: F 房屋, L 林木, Q 其他, W 无定着物 |
//! | 21–28 | fixture unit number (for F: 4-digit 幢号 + 4-digit 户号) |
//!
//! The standard defines no check digit. Which letter pairs are allowed follows the sources cited in
//! the reference notes (A and C only with J); the wider production whitelist is not normative and
//! is not enforced.

use std::fmt;

use crate::division::{DivisionCode, DivisionLevel, DivisionRegistry};
use crate::msg::{Bilingual, Msg};

/// Number of characters of a complete code.
pub const CODE_LEN: usize = 28;

/// Ownership letter (position 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ownership {
    /// G: 国家土地所有权.
    State,
    /// J: 集体土地所有权.
    Collective,
    /// Z: 土地所有权未确定或有争议.
    Undetermined,
}

impl Ownership {
    fn from_letter(c: char) -> Option<Self> {
        match c {
            'G' => Some(Self::State),
            'J' => Some(Self::Collective),
            'Z' => Some(Self::Undetermined),
            _ => None,
        }
    }

    /// The letter in the code.
    #[must_use]
    pub const fn letter(self) -> char {
        match self {
            Self::State => 'G',
            Self::Collective => 'J',
            Self::Undetermined => 'Z',
        }
    }

    /// Chinese meaning.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::State => "国家土地所有权",
            Self::Collective => "集体土地所有权",
            Self::Undetermined => "土地所有权未确定或有争议",
        }
    }
}

/// Parcel-type letters (position 14) with their Chinese meaning.
pub const PARCEL_TYPES: [(char, &str); 14] = [
    ('A', "集体土地所有权宗地"),
    ('B', "建设用地使用权宗地（地表）"),
    ('S', "建设用地使用权宗地（地上）"),
    ('X', "建设用地使用权宗地（地下）"),
    ('C', "宅基地使用权宗地"),
    ('D', "土地承包经营权宗地（耕地）"),
    ('E', "土地承包经营权宗地（林地）"),
    ('F', "土地承包经营权宗地（草地）"),
    ('H', "海域使用权宗海"),
    ('G', "无居民海岛使用权"),
    ('L', "林地使用权宗地（承包经营以外的）"),
    ('N', "农用地使用权宗地（承包经营以外的、非林地）"),
    ('W', "使用权未确定或有争议的土地、海域、海岛"),
    ('Y', "其他使用权土地、海域、海岛"),
];

/// Fixture letters (position 20) with their Chinese meaning.
pub const FIXTURE_TYPES: [(char, &str); 4] = [
    ('F', "房屋等建筑物、构筑物"),
    ('L', "森林或林木"),
    ('Q', "其他类型定着物"),
    ('W', "无定着物"),
];

/// One problem found in a code. A code can have several; [`check`] reports them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeProblem {
    /// Not 28 characters (after removing spaces).
    Length {
        /// The length found.
        len: usize,
    },
    /// A character not allowed at its position.
    Character {
        /// 1-based position.
        position: usize,
        /// The character found.
        found: char,
        /// What the position expects.
        expected: &'static str,
    },
    /// The county code is malformed or not in the division list.
    County {
        /// The six digits.
        county: String,
    },
    /// 地籍区 and 子区 are `000000`: a transition-period placeholder code, not allowed for land.
    VirtualZone,
    /// 地籍区 or 地籍子区 is `000` on its own.
    ZeroZone {
        /// Which field: `地籍区` or `地籍子区`.
        field: &'static str,
    },
    /// The ownership and parcel-type letters do not go together (e.g. `GC`).
    Combination {
        /// The two letters.
        pair: String,
        /// Why.
        why: &'static str,
    },
    /// Parcel sequence `00000`.
    ZeroSequence,
    /// With fixture `W` the unit number must be `00000000`.
    UnitWithoutFixture {
        /// The eight digits.
        unit: String,
    },
    /// With fixture `F` the building number (幢号) must not be `0000`.
    ZeroBuilding,
    /// With fixture `F` the unit number (户号) must be 0001–9999.
    ZeroUnit,
}

impl Bilingual for CodeProblem {
    fn msg(&self) -> Msg {
        match self {
            Self::Length { len } => Msg::new(
                format!("不动产单元代码应为 28 位（去掉空格后），实际 {len} 位"),
                format!("a real-estate unit code has 28 characters (spaces removed), found {len}"),
            ),
            Self::Character {
                position,
                found,
                expected,
            } => Msg::new(
                format!("第 {position} 位“{found}”不合法，应为{expected}"),
                format!(
                    "character {found:?} at position {position} is not allowed: expected {}",
                    expected_en(expected)
                ),
            ),
            Self::County { county } => Msg::new(
                format!("第 1–6 位“{county}”不是现行县级行政区划代码"),
                format!("positions 1-6 ({county}) are not a county code in the division list"),
            ),
            Self::VirtualZone => Msg::new(
                "第 7–12 位为 000000，属过渡期虚拟代码，不能用于土地宗地",
                "positions 7-12 are 000000, a transition-period placeholder not allowed for land parcels",
            ),
            Self::ZeroZone { field } => Msg::new(
                format!("{field}编号不能为 000"),
                format!(
                    "the {} number must not be 000",
                    if *field == "地籍区" {
                        "cadastral district"
                    } else {
                        "cadastral sub-district"
                    }
                ),
            ),
            Self::Combination { pair, why } => Msg::new(
                format!("宗地特征码“{pair}”组合不合法：{why}"),
                format!("parcel letters {pair} do not go together"),
            ),
            Self::ZeroSequence => Msg::new(
                "第 15–19 位宗地顺序号不能为 00000",
                "the parcel sequence (positions 15-19) must not be 00000",
            ),
            Self::UnitWithoutFixture { unit } => Msg::new(
                format!("定着物特征码为 W（无定着物）时，第 21–28 位应为 00000000，实际“{unit}”"),
                format!("with fixture letter W the unit number must be 00000000, found {unit}"),
            ),
            Self::ZeroBuilding => Msg::new(
                "定着物为房屋（F）时，幢号（第 21–24 位）不能为 0000",
                "with fixture letter F the building number (positions 21-24) must not be 0000",
            ),
            Self::ZeroUnit => Msg::new(
                "定着物为房屋（F）时，户号（第 25–28 位）应在 0001–9999 之间",
                "with fixture letter F the unit number (positions 25-28) must be 0001-9999",
            ),
        }
    }
}

fn expected_en(zh: &str) -> &'static str {
    match zh {
        "数字" => "a digit",
        "宗地所有权特征码 G、J 或 Z" => "an ownership letter G, J or Z",
        "定着物特征码 F、L、Q 或 W" => "a fixture letter F, L, Q or W",
        _ => "a parcel-type letter A B S X C D E F H G L N W Y",
    }
}

/// A well-formed 不动产单元代码.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitCode {
    code: String,
}

/// The seven fields of a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCodeFields<'a> {
    /// 县级行政区划代码 (positions 1–6).
    pub county: &'a str,
    /// 地籍区 (7–9).
    pub cadastral_district: &'a str,
    /// 地籍子区 (10–12).
    pub cadastral_subdistrict: &'a str,
    /// 宗地特征码, two letters (13–14).
    pub parcel_type: &'a str,
    /// 宗地顺序号 (15–19).
    pub parcel_sequence: &'a str,
    /// 定着物特征码 (20).
    pub fixture_type: char,
    /// 定着物单元编号 (21–28).
    pub fixture_unit: &'a str,
}

/// Removes spaces and upper-cases: the form codes are stored in.
#[must_use]
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks a code and returns every problem found (empty when valid). The county is checked
/// against `divisions` when given.
#[must_use]
pub fn check(text: &str, divisions: Option<&DivisionRegistry>) -> Vec<CodeProblem> {
    let code = normalize(text);
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != CODE_LEN {
        return vec![CodeProblem::Length { len: chars.len() }];
    }
    let mut problems = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        let expected = match i {
            12 if Ownership::from_letter(c).is_none() => Some("宗地所有权特征码 G、J 或 Z"),
            13 if !PARCEL_TYPES.iter().any(|(l, _)| *l == c) => {
                Some("宗地特征码 A、B、S、X、C、D、E、F、H、G、L、N、W 或 Y")
            }
            19 if !FIXTURE_TYPES.iter().any(|(l, _)| *l == c) => Some("定着物特征码 F、L、Q 或 W"),
            12 | 13 | 19 => None,
            _ if !c.is_ascii_digit() => Some("数字"),
            _ => None,
        };
        if let Some(expected) = expected {
            problems.push(CodeProblem::Character {
                position: i + 1,
                found: c,
                expected,
            });
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    // All positions hold the right kind of character: the code is ASCII from here on.
    let county = &code[0..6];
    let county_ok = match DivisionCode::county(county) {
        Ok(c) if c.level() == DivisionLevel::County => {
            divisions.is_none_or(|reg| reg.get(&c).is_some())
        }
        _ => false,
    };
    if !county_ok {
        problems.push(CodeProblem::County {
            county: county.to_owned(),
        });
    }
    let parcel_letter = chars[13];
    let zones = &code[6..12];
    if zones == "000000" {
        if !matches!(parcel_letter, 'G' | 'H') {
            problems.push(CodeProblem::VirtualZone);
        }
    } else if &code[6..9] == "000" {
        problems.push(CodeProblem::ZeroZone { field: "地籍区" });
    } else if &code[9..12] == "000" {
        problems.push(CodeProblem::ZeroZone {
            field: "地籍子区"
        });
    }
    let ownership = chars[12];
    if matches!(parcel_letter, 'A' | 'C') && ownership != 'J' {
        problems.push(CodeProblem::Combination {
            pair: format!("{ownership}{parcel_letter}"),
            why: if parcel_letter == 'A' {
                "A（集体土地所有权宗地）只能与 J 组合"
            } else {
                "C（宅基地使用权宗地）只能与 J 组合"
            },
        });
    }
    if &code[14..19] == "00000" {
        problems.push(CodeProblem::ZeroSequence);
    }
    let unit = &code[20..28];
    match chars[19] {
        'W' if unit != "00000000" => problems.push(CodeProblem::UnitWithoutFixture {
            unit: unit.to_owned(),
        }),
        'F' => {
            if &unit[..4] == "0000" {
                problems.push(CodeProblem::ZeroBuilding);
            }
            if &unit[4..] == "0000" {
                problems.push(CodeProblem::ZeroUnit);
            }
        }
        _ => {}
    }
    problems
}

impl UnitCode {
    /// Parses and validates a code, with or without spaces.
    ///
    /// # Errors
    /// Every problem found, in position order.
    ///
    /// # Examples
    /// ```
    /// use tudi_core::bdcdy::UnitCode;
    /// let code = UnitCode::parse("440605 011001 JC00012 F00010001", None).unwrap();
    /// assert_eq!(code.fields().parcel_type, "JC");
    /// assert_eq!(code.spaced(), "440605 011001 JC00012 F00010001");
    /// ```
    pub fn parse(
        text: &str,
        divisions: Option<&DivisionRegistry>,
    ) -> Result<Self, Vec<CodeProblem>> {
        let problems = check(text, divisions);
        if problems.is_empty() {
            Ok(Self {
                code: normalize(text),
            })
        } else {
            Err(problems)
        }
    }

    /// Assembles a code from its parts; the result is validated.
    ///
    /// # Errors
    /// As [`UnitCode::parse`].
    pub fn from_parts(
        zone: &ZoneKey,
        parcel_type: &str,
        parcel_sequence: u32,
        fixture_type: char,
        fixture_unit: u32,
    ) -> Result<Self, Vec<CodeProblem>> {
        let text = format!(
            "{}{}{:05}{}{:08}",
            zone.as_str(),
            parcel_type,
            parcel_sequence,
            fixture_type,
            fixture_unit
        );
        Self::parse(&text, None)
    }

    /// The code without spaces.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The code in groups: `county+zones`, `parcel`, `fixture` (6+6 / 7 / 9 characters).
    #[must_use]
    pub fn spaced(&self) -> String {
        format!(
            "{} {} {} {}",
            &self.code[..6],
            &self.code[6..12],
            &self.code[12..19],
            &self.code[19..]
        )
    }

    /// The seven fields.
    #[must_use]
    pub fn fields(&self) -> UnitCodeFields<'_> {
        let c = &self.code;
        UnitCodeFields {
            county: &c[..6],
            cadastral_district: &c[6..9],
            cadastral_subdistrict: &c[9..12],
            parcel_type: &c[12..14],
            parcel_sequence: &c[14..19],
            fixture_type: c.as_bytes()[19] as char,
            fixture_unit: &c[20..],
        }
    }

    /// The 19-character 宗地代码 (parcel code) this unit belongs to.
    #[must_use]
    pub fn parcel_code(&self) -> &str {
        &self.code[..19]
    }

    /// The 地籍子区 this code lies in.
    #[must_use]
    pub fn zone(&self) -> ZoneKey {
        ZoneKey {
            code: self.code[..12].to_owned(),
        }
    }

    /// The 幢号 (building number) of a house unit.
    #[must_use]
    pub fn building_number(&self) -> Option<u32> {
        (self.fields().fixture_type == 'F').then(|| self.code[20..24].parse().ok())?
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// A cadastral sub-district (地籍子区): county + 地籍区 + 子区, twelve digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneKey {
    code: String,
}

impl ZoneKey {
    /// Builds a zone key from a county code and the two three-digit numbers.
    ///
    /// # Errors
    /// When the county is not a county-level code or a number is outside 1–999.
    pub fn new(
        county: &DivisionCode,
        district: u16,
        subdistrict: u16,
    ) -> Result<Self, CodeProblem> {
        if county.level() != DivisionLevel::County {
            return Err(CodeProblem::County {
                county: county.to_string(),
            });
        }
        if !(1..=999).contains(&district) {
            return Err(CodeProblem::ZeroZone { field: "地籍区" });
        }
        if !(1..=999).contains(&subdistrict) {
            return Err(CodeProblem::ZeroZone {
                field: "地籍子区"
            });
        }
        Ok(Self {
            code: format!("{}{district:03}{subdistrict:03}", county.as_str()),
        })
    }

    /// The twelve digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.code
    }
}

/// Where allocated numbers come from. The store implements it with an atomic counter table, so
/// that two allocations never return the same number even from two processes at once.
pub trait SequenceSource {
    /// The error of the backing store.
    type Error;
    /// Returns the next value of the named counter, after raising it to at least `floor`
    /// (the largest number already in use).
    ///
    /// # Errors
    /// When the backing store fails.
    fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64, Self::Error>;
}

/// Why an allocation failed.
#[derive(Debug, thiserror::Error)]
pub enum AllocateError<E> {
    /// The counter is past the largest number the field can hold.
    #[error("sequence {key} is exhausted")]
    Exhausted {
        /// The counter's key.
        key: String,
    },
    /// The parts do not form a valid code.
    #[error("invalid code parts: {0:?}")]
    Invalid(Vec<CodeProblem>),
    /// The counter store failed.
    #[error("sequence store failed")]
    Source(#[source] E),
}

/// Allocates the next parcel (宗地) within a 地籍子区 for the given two-letter 宗地特征码: the
/// sequence continues after the largest number used for that 特征码 in the sub-district
/// (GB/T 37346 change rules). The unit code returned has fixture `W` (land only).
///
/// # Errors
/// See [`AllocateError`].
pub fn allocate_parcel<S: SequenceSource>(
    source: &S,
    zone: &ZoneKey,
    parcel_type: &str,
) -> Result<UnitCode, AllocateError<S::Error>> {
    let key = format!("bdcdy:parcel:{}:{parcel_type}", zone.as_str());
    let n = source
        .next_in_sequence(&key, 0)
        .map_err(AllocateError::Source)?;
    if n > 99_999 {
        return Err(AllocateError::Exhausted { key });
    }
    UnitCode::from_parts(zone, parcel_type, u32::try_from(n).unwrap_or(0), 'W', 0)
        .map_err(AllocateError::Invalid)
}

/// Allocates the next building (幢) on a parcel and returns the code of its first unit (户号 0001).
///
/// # Errors
/// See [`AllocateError`].
pub fn allocate_building<S: SequenceSource>(
    source: &S,
    parcel: &UnitCode,
) -> Result<UnitCode, AllocateError<S::Error>> {
    let key = format!("bdcdy:building:{}", parcel.parcel_code());
    let n = source
        .next_in_sequence(&key, 0)
        .map_err(AllocateError::Source)?;
    if n > 9_999 {
        return Err(AllocateError::Exhausted { key });
    }
    let text = format!("{}F{n:04}0001", parcel.parcel_code());
    UnitCode::parse(&text, None).map_err(AllocateError::Invalid)
}

/// Allocates the next unit (户) in the building of `house`; the first call on a new building
/// returns 户号 0002, because 0001 was handed out with the building.
///
/// # Errors
/// See [`AllocateError`].
pub fn allocate_unit<S: SequenceSource>(
    source: &S,
    house: &UnitCode,
) -> Result<UnitCode, AllocateError<S::Error>> {
    let Some(building) = house.building_number() else {
        return Err(AllocateError::Invalid(vec![CodeProblem::ZeroBuilding]));
    };
    let key = format!("bdcdy:unit:{}:{building:04}", house.parcel_code());
    let n = source
        .next_in_sequence(&key, 1)
        .map_err(AllocateError::Source)?;
    if n > 9_999 {
        return Err(AllocateError::Exhausted { key });
    }
    let text = format!("{}F{building:04}{n:04}", house.parcel_code());
    UnitCode::parse(&text, None).map_err(AllocateError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[test]
    fn parses_the_standard_examples() {
        let reg = DivisionRegistry::bundled();
        let c = UnitCode::parse("340123 002004 GB00011 W00000000", Some(reg)).unwrap();
        let f = c.fields();
        assert_eq!(f.county, "340123");
        assert_eq!(f.cadastral_district, "002");
        assert_eq!(f.cadastral_subdistrict, "004");
        assert_eq!(f.parcel_type, "GB");
        assert_eq!(f.parcel_sequence, "00011");
        assert_eq!(f.fixture_type, 'W');
        assert_eq!(c.parcel_code(), "340123002004GB00011");
        assert_eq!(c.as_str().len(), 28);
    }

    #[test]
    fn reports_every_problem_with_its_position() {
        let p = check(
            "440605011001GC00000W00000001",
            Some(DivisionRegistry::bundled()),
        );
        assert_eq!(
            p,
            vec![
                CodeProblem::Combination {
                    pair: "GC".into(),
                    why: "C（宅基地使用权宗地）只能与 J 组合"
                },
                CodeProblem::ZeroSequence,
                CodeProblem::UnitWithoutFixture {
                    unit: "00000001".into()
                },
            ]
        );
        let p = check("440605011001JQ00001W00000000", None);
        assert!(matches!(
            p[0],
            CodeProblem::Character {
                position: 14,
                found: 'Q',
                ..
            }
        ));
        assert_eq!(check("4406", None), vec![CodeProblem::Length { len: 4 }]);
        let p = check(
            "999999011001JC00001W00000000",
            Some(DivisionRegistry::bundled()),
        );
        assert_eq!(
            p,
            vec![CodeProblem::County {
                county: "999999".into()
            }]
        );
        let p = check("440605000000JC00001W00000000", None);
        assert_eq!(p, vec![CodeProblem::VirtualZone]);
        let p = check("440605011001JC00001F00000000", None);
        assert_eq!(p, vec![CodeProblem::ZeroBuilding, CodeProblem::ZeroUnit]);
    }

    #[test]
    fn messages_are_bilingual() {
        let m = CodeProblem::ZeroSequence.msg();
        assert!(m.zh.contains("宗地顺序号"));
        assert!(m.en.contains("parcel sequence"));
    }

    struct Counters(RefCell<HashMap<String, u64>>);
    impl SequenceSource for Counters {
        type Error = std::convert::Infallible;
        fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64, Self::Error> {
            let mut m = self.0.borrow_mut();
            let v = m.entry(key.to_owned()).or_insert(0);
            *v = (*v).max(floor) + 1;
            Ok(*v)
        }
    }

    #[test]
    fn allocation_continues_per_zone_and_type() {
        let src = Counters(RefCell::new(HashMap::new()));
        let county = DivisionCode::parse("440605").unwrap();
        let zone = ZoneKey::new(&county, 11, 1).unwrap();
        let a = allocate_parcel(&src, &zone, "JC").unwrap();
        let b = allocate_parcel(&src, &zone, "JC").unwrap();
        let c = allocate_parcel(&src, &zone, "GB").unwrap();
        assert_eq!(a.as_str(), "440605011001JC00001W00000000");
        assert_eq!(b.as_str(), "440605011001JC00002W00000000");
        assert_eq!(c.as_str(), "440605011001GB00001W00000000");
        let house = allocate_building(&src, &a).unwrap();
        assert_eq!(house.as_str(), "440605011001JC00001F00010001");
        let unit = allocate_unit(&src, &house).unwrap();
        assert_eq!(unit.as_str(), "440605011001JC00001F00010002");
        let second = allocate_building(&src, &a).unwrap();
        assert_eq!(second.building_number(), Some(2));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn valid_code() -> impl Strategy<Value = String> {
        (
            1u16..=999,
            1u16..=999,
            prop::sample::select(vec!["JC", "GB", "JB", "GS", "GX", "JD", "JA", "ZW"]),
            1u32..=99_999,
            prop::sample::select(vec!['F', 'W']),
            1u32..=9999,
            1u32..=9999,
        )
            .prop_map(|(d, s, t, n, fix, b, u)| {
                let unit = if fix == 'W' { 0 } else { b * 10_000 + u };
                format!("440605{d:03}{s:03}{t}{n:05}{fix}{unit:08}")
            })
    }

    proptest! {
        #[test]
        fn valid_codes_round_trip_through_spaced_form(code in valid_code()) {
            let parsed = UnitCode::parse(&code, Some(DivisionRegistry::bundled())).unwrap();
            let again = UnitCode::parse(&parsed.spaced(), None).unwrap();
            prop_assert_eq!(&again, &parsed);
            prop_assert_eq!(again.as_str(), code.as_str());
            prop_assert_eq!(parsed.spaced().replace(' ', ""), code);
        }

        #[test]
        fn any_single_character_change_to_a_letter_field_is_caught(code in valid_code(), pos in prop::sample::select(vec![12usize, 13, 19]), c in "[0-9]") {
            let mut chars: Vec<char> = code.chars().collect();
            chars[pos] = c.chars().next().unwrap();
            let bad: String = chars.into_iter().collect();
            let problems = check(&bad, None);
            let caught = problems.iter().any(|p| matches!(p, CodeProblem::Character { position, .. } if *position == pos + 1));
            prop_assert!(caught, "{:?}", problems);
        }

        #[test]
        fn checking_never_panics(s in "\\PC{0,40}") {
            let _ = check(&s, Some(DivisionRegistry::bundled()));
        }
    }
}
