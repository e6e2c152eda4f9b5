//! A table as users read it in a ledger (台账): a title, column headings and rows of typed cells,
//! so that a capability says what its ledger holds and the ways out (JSON, Excel) only render it.

use serde::Serialize;

/// One cell.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Cell {
    /// Text (codes stay text, so leading zeros survive a spreadsheet).
    Text(String),
    /// A count.
    Count(u64),
    /// A measure with decimals (areas, days); `None` is an empty cell.
    Number(Option<f64>),
    /// A share between 0 and 1, shown as a percentage; `None` is an empty cell.
    Rate(Option<f64>),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<usize> for Cell {
    fn from(n: usize) -> Self {
        Self::Count(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Self {
        Self::Count(n)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Self::Number(Some(v))
    }
}

impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        Self::Number(v)
    }
}

/// A titled table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// The sheet's name (at most 31 characters in Excel).
    pub sheet: String,
    /// The title row above the headings.
    pub title: String,
    /// Column headings, Chinese.
    pub headings: Vec<&'static str>,
    /// Rows, each as long as `headings`.
    pub rows: Vec<Vec<Cell>>,
}
