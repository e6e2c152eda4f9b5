//! The work-order centre's indicators, by town, unit or category over a period, as digital urban
//! management evaluates them (reference/domain-standards.md §5.5): 受理量, 结案率 = 结案数 / 应结案数,
//! 按期结案率 = 按期结案数 / 应结案数, 返工率, 满意率, 重复件率 and the average handling time.
//!
//! Definitions used here (stated because local rules differ): an order counts for the period it
//! was taken in. 应结案 are its orders that were closed or whose deadline has passed by `now`;
//! 结案 are those closed (结案 or 回访); 按期 those closed by their deadline. 返工率 is closed
//! orders sent back at least once over closed orders; 满意率 is 满意 + 基本满意 over evaluated
//! orders; 重复件率 is merged orders over orders taken in; handling time runs from dispatch to
//! closure, in hours.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tudi_core::table::{Cell, Table};

use crate::lifecycle::{State, Step};
use crate::order::{Order, shanghai};

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "OrderGroupBy")]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By town (the first nine digits of the grid cell).
    Town,
    /// By the unit the order was sent to.
    Unit,
    /// By category.
    Category,
}

/// One row of indicators.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    /// Group key (town code, unit code, category code; `合计` for the total).
    pub key: String,
    /// 受理量.
    pub received: u64,
    /// 应结案数.
    pub due: u64,
    /// 结案数.
    pub closed: u64,
    /// 按期结案数.
    pub closed_on_time: u64,
    /// Closed orders reworked at least once.
    pub reworked: u64,
    /// Evaluated orders.
    pub evaluated: u64,
    /// 满意 + 基本满意.
    pub satisfied: u64,
    /// Merged (duplicate) orders.
    pub merged: u64,
    /// Hours from dispatch to closure, summed over closed orders with a dispatch.
    pub handling_hours: f64,
    /// Closed orders with a dispatch (the divisor of the average).
    pub handled: u64,
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| (a as f64 / b as f64 * 10_000.0).round() / 10_000.0)
}

impl Row {
    /// 结案率.
    #[must_use]
    pub fn closure_rate(&self) -> Option<f64> {
        ratio(self.closed, self.due)
    }
    /// 按期结案率.
    #[must_use]
    pub fn on_time_rate(&self) -> Option<f64> {
        ratio(self.closed_on_time, self.due)
    }
    /// 返工率.
    #[must_use]
    pub fn rework_rate(&self) -> Option<f64> {
        ratio(self.reworked, self.closed)
    }
    /// 满意率.
    #[must_use]
    pub fn satisfaction_rate(&self) -> Option<f64> {
        ratio(self.satisfied, self.evaluated)
    }
    /// 重复件率.
    #[must_use]
    pub fn duplicate_rate(&self) -> Option<f64> {
        ratio(self.merged, self.received)
    }
    /// Average handling time in hours.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn average_hours(&self) -> Option<f64> {
        (self.handled > 0)
            .then(|| (self.handling_hours / self.handled as f64 * 10.0).round() / 10.0)
    }

    fn add(&mut self, o: &Order, now: Timestamp) {
        self.received += 1;
        let closed = matches!(o.state, State::Closed | State::Evaluated);
        let due_passed = o
            .due
            .and_then(|d| d.to_zoned(shanghai()).ok())
            .is_some_and(|d| d.timestamp() < now);
        if closed || (o.state.is_running() && due_passed) {
            self.due += 1;
        }
        if o.state == State::Merged {
            self.merged += 1;
        }
        if let Some(s) = o.satisfaction {
            self.evaluated += 1;
            if s.counts_as_satisfied() {
                self.satisfied += 1;
            }
        }
        if !closed {
            return;
        }
        self.closed += 1;
        if o.reworks > 0 {
            self.reworked += 1;
        }
        let on_time = match (o.closed_at, o.due) {
            (Some(c), Some(d)) => c.to_zoned(shanghai()).datetime() <= d,
            _ => false,
        };
        if on_time {
            self.closed_on_time += 1;
        }
        let dispatched = o
            .timeline
            .iter()
            .find(|e| e.step == Some(Step::Dispatch))
            .map(|e| e.at);
        if let (Some(d), Some(c)) = (dispatched, o.closed_at) {
            self.handled += 1;
            self.handling_hours += c.duration_since(d).as_secs_f64() / 3600.0;
        }
    }

    /// The row's counts and rates (`None` where the divisor is 0), as answered and exported.
    #[must_use]
    pub fn indicators(&self) -> Indicators {
        Indicators {
            key: self.key.clone(),
            received: self.received,
            due: self.due,
            closed: self.closed,
            closed_on_time: self.closed_on_time,
            closure_rate: self.closure_rate(),
            on_time_rate: self.on_time_rate(),
            rework_rate: self.rework_rate(),
            satisfaction_rate: self.satisfaction_rate(),
            duplicate_rate: self.duplicate_rate(),
            average_hours: self.average_hours(),
        }
    }
}

/// A row's counts and rates (0–1; `None` where nothing was counted to divide by).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Indicators {
    /// Group key (`合计` for the total).
    pub key: String,
    /// 受理量.
    pub received: u64,
    /// 应结案数.
    pub due: u64,
    /// 结案数.
    pub closed: u64,
    /// 按期结案数.
    pub closed_on_time: u64,
    /// 结案率.
    pub closure_rate: Option<f64>,
    /// 按期结案率.
    pub on_time_rate: Option<f64>,
    /// 返工率.
    pub rework_rate: Option<f64>,
    /// 满意率.
    pub satisfaction_rate: Option<f64>,
    /// 重复率.
    pub duplicate_rate: Option<f64>,
    /// 平均办理时长（小时）.
    pub average_hours: Option<f64>,
}

/// Indicators of the orders taken in from `from` (inclusive) to `to` (exclusive), grouped, with
/// the total last (key `合计`).
#[must_use]
pub fn compute(
    orders: &[Order],
    from: Timestamp,
    to: Timestamp,
    by: GroupBy,
    now: Timestamp,
) -> Vec<Row> {
    let mut groups: BTreeMap<String, Row> = BTreeMap::new();
    let mut total = Row {
        key: "合计".into(),
        ..Row::default()
    };
    for o in orders
        .iter()
        .filter(|o| o.received_at >= from && o.received_at < to)
    {
        let key = match by {
            GroupBy::Town => o
                .grid
                .as_deref()
                .and_then(|g| g.get(..9))
                .unwrap_or("未定位")
                .to_owned(),
            GroupBy::Unit => o
                .unit
                .as_ref()
                .map_or_else(|| "未派遣".to_owned(), |u| u.name.clone()),
            GroupBy::Category => o.category.clone(),
        };
        groups
            .entry(key.clone())
            .or_insert_with(|| Row {
                key,
                ..Row::default()
            })
            .add(o, now);
        total.add(o, now);
    }
    let mut rows: Vec<Row> = groups.into_values().collect();
    rows.push(total);
    rows
}

/// Column headings of the indicators, Chinese first, for tables and Excel.
pub const HEADINGS: [&str; 11] = [
    "分组",
    "受理量",
    "应结案数",
    "结案数",
    "按期结案数",
    "结案率",
    "按期结案率",
    "返工率",
    "满意率",
    "重复件率",
    "平均处置时长（小时）",
];

/// The indicators as a ledger for Excel: one row per group, rates as percentages.
#[must_use]
pub fn table(rows: &[Row], from: jiff::civil::Date, to: jiff::civil::Date) -> Table {
    Table {
        sheet: "工单统计".into(),
        title: format!("工单统计 {from} 至 {to}"),
        headings: HEADINGS.to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::from(r.key.as_str()),
                    r.received.into(),
                    r.due.into(),
                    r.closed.into(),
                    r.closed_on_time.into(),
                    Cell::Rate(r.closure_rate()),
                    Cell::Rate(r.on_time_rate()),
                    Cell::Rate(r.rework_rate()),
                    Cell::Rate(r.satisfaction_rate()),
                    Cell::Rate(r.duplicate_rate()),
                    r.average_hours().into(),
                ]
            })
            .collect(),
    }
}
