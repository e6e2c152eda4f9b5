//! The working-day calendar: China's public holidays and make-up working days (调休上班), as
//! published each year by the State Council's General Office, shipped as data in
//! `data/holidays-cn.tsv` with its sources.
//!
//! Deadlines such as "3 个工作日内" count working days: Monday to Friday, less the holidays, plus
//! the weekend days declared working days. A deadline of `n` working days from a moment ends at
//! the close (23:59:59) of the `n`th working day after that moment's day; the day itself is not
//! counted, as in the hotline's and the approval rules' usual reading.
//!
//! Outside the years the data covers only weekends are known: [`WorkCalendar::covers`] says
//! whether a date's year was published, so callers can warn instead of silently guessing.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jiff::ToSpan;
use jiff::civil::{Date, DateTime, Weekday};

use crate::msg::Msg;

/// What kind of day a date is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// An ordinary Monday–Friday.
    Working,
    /// An ordinary Saturday or Sunday.
    Weekend,
    /// A day off for a festival (statutory or moved by 调休).
    Holiday(String),
    /// A weekend day worked in exchange for a festival's days off (调休上班).
    MakeUpWorkday(String),
}

impl DayKind {
    /// Whether offices work that day.
    #[must_use]
    pub fn is_working(&self) -> bool {
        matches!(self, Self::Working | Self::MakeUpWorkday(_))
    }
}

/// A line of the holiday data that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("holiday data, line {line}: {reason}")]
pub struct CalendarError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl CalendarError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        Msg::new(
            format!("节假日数据第 {} 行有误：{}", self.line, self.reason),
            format!("holiday data, line {}: {}", self.line, self.reason),
        )
    }
}

/// Public holidays and make-up working days, by date.
#[derive(Debug, Clone, Default)]
pub struct WorkCalendar {
    days: BTreeMap<Date, (bool, String)>,
    first_year: i16,
    last_year: i16,
}

const CHINA_TSV: &str = include_str!("../data/holidays-cn.tsv");

impl WorkCalendar {
    /// China's calendar as shipped.
    ///
    /// # Panics
    /// Never at run time: the shipped data is checked by this module's tests.
    #[must_use]
    pub fn china() -> &'static Self {
        static CHINA: OnceLock<WorkCalendar> = OnceLock::new();
        CHINA.get_or_init(|| Self::from_tsv(CHINA_TSV).unwrap_or_default())
    }

    /// Reads `date<TAB>holiday|workday<TAB>festival` lines (`#` starts a comment). The years
    /// covered are those with at least one line.
    ///
    /// # Errors
    /// The first bad line: a date that does not exist, an unknown kind, a holiday on a day that
    /// is already listed, or a make-up working day that is not a weekend day.
    pub fn from_tsv(text: &str) -> Result<Self, CalendarError> {
        let mut cal = Self {
            days: BTreeMap::new(),
            first_year: i16::MAX,
            last_year: i16::MIN,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let bad = |reason: String| CalendarError { line, reason };
            let mut cols = content.split('\t');
            let (Some(date), Some(kind), Some(name)) = (cols.next(), cols.next(), cols.next())
            else {
                return Err(bad(
                    "expected date, kind and festival separated by tabs".into()
                ));
            };
            let date: Date = date
                .trim()
                .parse()
                .map_err(|e| bad(format!("bad date {date:?}: {e}")))?;
            let off = match kind.trim() {
                "holiday" => true,
                "workday" => {
                    if !is_weekend(date) {
                        return Err(bad(format!(
                            "{date} is a weekday: it cannot be a make-up working day"
                        )));
                    }
                    false
                }
                other => return Err(bad(format!("unknown kind {other:?} (holiday or workday)"))),
            };
            if cal
                .days
                .insert(date, (off, name.trim().to_owned()))
                .is_some()
            {
                return Err(bad(format!("{date} is listed twice")));
            }
            cal.first_year = cal.first_year.min(date.year());
            cal.last_year = cal.last_year.max(date.year());
        }
        Ok(cal)
    }

    /// China's calendar as shipped, with `extra` lines (same format) for years published after
    /// this release — a district adds the next year's notice as soon as it appears.
    ///
    /// # Errors
    /// A bad line of `extra` (numbered within `extra`), or a date the shipped data already has.
    pub fn china_with(extra: &str) -> Result<Self, CalendarError> {
        let added = Self::from_tsv(extra)?;
        let mut cal = Self::china().clone();
        for (date, day) in added.days {
            if cal.days.insert(date, day).is_some() {
                return Err(CalendarError {
                    line: extra
                        .lines()
                        .position(|l| l.starts_with(&date.to_string()))
                        .map_or(0, |i| i + 1),
                    reason: format!("{date} is already in the shipped data"),
                });
            }
        }
        if added.first_year <= added.last_year {
            cal.first_year = cal.first_year.min(added.first_year);
            cal.last_year = cal.last_year.max(added.last_year);
        }
        Ok(cal)
    }

    /// Whether the data covers `date`'s year (outside it only weekends are known).
    #[must_use]
    pub fn covers(&self, date: Date) -> bool {
        (self.first_year..=self.last_year).contains(&date.year())
    }

    /// The years covered, first and last (`None` if the calendar is empty).
    #[must_use]
    pub fn years(&self) -> Option<(i16, i16)> {
        (self.first_year <= self.last_year).then_some((self.first_year, self.last_year))
    }

    /// What kind of day `date` is.
    #[must_use]
    pub fn day(&self, date: Date) -> DayKind {
        match self.days.get(&date) {
            Some((true, name)) => DayKind::Holiday(name.clone()),
            Some((false, name)) => DayKind::MakeUpWorkday(name.clone()),
            None if is_weekend(date) => DayKind::Weekend,
            None => DayKind::Working,
        }
    }

    /// Whether offices work on `date`.
    #[must_use]
    pub fn is_working_day(&self, date: Date) -> bool {
        match self.days.get(&date) {
            Some((off, _)) => !off,
            None => !is_weekend(date),
        }
    }

    /// The `n`th working day after `date` (`date` itself not counted; `n = 0` gives `date`).
    #[must_use]
    pub fn add_working_days(&self, date: Date, n: u32) -> Date {
        let mut d = date;
        let mut left = n;
        while left > 0 {
            d = next_day(d);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days after `from` up to and including `to` (negative if `to` is earlier).
    #[must_use]
    pub fn working_days_between(&self, from: Date, to: Date) -> i64 {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut d = a;
        let mut n = 0i64;
        while d < b {
            d = next_day(d);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n * sign
    }

    /// The deadline `n` working days after `start`: the end (23:59:59) of the `n`th working day
    /// after `start`'s date. With `n = 0` the deadline is the end of `start`'s own day.
    #[must_use]
    pub fn due_after(&self, start: DateTime, n: u32) -> DateTime {
        self.add_working_days(start.date(), n)
            .to_datetime(jiff::civil::time(23, 59, 59, 0))
    }
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn next_day(d: Date) -> Date {
    // Dates this far out are not reached by deadlines of a few working days.
    d.checked_add(1.day()).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_shipped_data_reads_and_covers_2024_to_2026() {
        let cal = WorkCalendar::from_tsv(CHINA_TSV).unwrap();
        assert_eq!(cal.years(), Some((2024, 2026)));
        assert!(WorkCalendar::china().covers(date(2026, 11, 22)));
        assert!(!WorkCalendar::china().covers(date(2027, 1, 4)));
    }

    #[test]
    fn holidays_and_make_up_days_follow_the_notices() {
        let cal = WorkCalendar::china();
        // 2026 春节: 15–23 February off, Saturdays 14 and 28 February worked.
        assert_eq!(cal.day(date(2026, 2, 17)), DayKind::Holiday("春节".into()));
        assert!(!cal.is_working_day(date(2026, 2, 23)), "a Monday off");
        assert_eq!(
            cal.day(date(2026, 2, 14)),
            DayKind::MakeUpWorkday("春节".into())
        );
        assert!(cal.is_working_day(date(2026, 2, 28)));
        // An ordinary week and weekend.
        assert_eq!(cal.day(date(2026, 11, 23)), DayKind::Working);
        assert_eq!(cal.day(date(2026, 11, 22)), DayKind::Weekend);
        // 2024-02-04 was a Sunday worked; 2025-10-08 a Wednesday off.
        assert!(cal.is_working_day(date(2024, 2, 4)));
        assert!(!cal.is_working_day(date(2025, 10, 8)));
    }

    #[test]
    fn working_day_deadlines_skip_festivals_and_count_make_up_days() {
        let cal = WorkCalendar::china();
        // Filed on Friday 2026-09-18: 3 working days are Sun 20 (worked), Mon 21, Tue 22.
        assert_eq!(
            cal.add_working_days(date(2026, 9, 18), 3),
            date(2026, 9, 22)
        );
        // Filed on Wednesday 2026-09-30 with 5 working days: 1–7 October off, Sat 10 worked.
        assert_eq!(
            cal.add_working_days(date(2026, 9, 30), 5),
            date(2026, 10, 13)
        );
        assert_eq!(
            cal.working_days_between(date(2026, 9, 30), date(2026, 10, 13)),
            5
        );
        assert_eq!(
            cal.working_days_between(date(2026, 10, 13), date(2026, 9, 30)),
            -5
        );
        // A deadline ends at the close of its day.
        let start = date(2026, 11, 20).at(16, 30, 0, 0);
        assert_eq!(
            cal.due_after(start, 1),
            date(2026, 11, 23).at(23, 59, 59, 0)
        );
        assert_eq!(
            cal.due_after(start, 0),
            date(2026, 11, 20).at(23, 59, 59, 0)
        );
    }

    #[test]
    fn a_later_year_can_be_added_as_data() {
        let cal = WorkCalendar::china_with("2027-01-01\tholiday\t元旦\n").unwrap();
        assert!(cal.covers(date(2027, 6, 1)));
        assert_eq!(cal.day(date(2027, 1, 1)), DayKind::Holiday("元旦".into()));
        assert!(
            !cal.is_working_day(date(2026, 10, 1)),
            "the shipped years stay"
        );
        let err = WorkCalendar::china_with("# c\n2026-10-01\tholiday\tx\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn bad_holiday_data_names_the_line() {
        let err = WorkCalendar::from_tsv("# c\n2026-02-30\tholiday\tx\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = WorkCalendar::from_tsv("2026-11-23\tworkday\tx\n").unwrap_err();
        assert!(err.reason.contains("weekday"), "{err}");
        let err =
            WorkCalendar::from_tsv("2026-10-01\tholiday\tx\n2026-10-01\tholiday\ty\n").unwrap_err();
        assert_eq!((err.line, err.reason.contains("twice")), (2, true));
        assert!(WorkCalendar::from_tsv("2026-10-01\toff\tx").is_err());
        assert!(err.message().zh.contains("第 2 行"));
    }
}
