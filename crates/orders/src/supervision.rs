//! Supervision of deadlines: a reminder on the last working day, an overdue warning raised to
//! the next level and to the leader on duty (领导挂点轮值), and an automatic 督办 once an order is
//! three working days late. Each is sent once per deadline; an extension gives a new deadline and
//! so new notices.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use tudi_core::calendar::WorkCalendar;

use crate::order::{Notice, NoticeKind, Order, shanghai};
use crate::routing::UnitKind;

/// Working days late after which an order is pressed (督办) without waiting for anyone.
pub const URGE_AFTER_DAYS: i64 = 3;

/// One turn of the on-duty roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RosterEntry {
    /// First day on duty.
    pub from: Date,
    /// Last day on duty.
    pub to: Date,
    /// The leader's account.
    pub leader: String,
    /// The leader's name and post, as notices show it.
    pub name: String,
}

/// The on-duty roster (领导挂点轮值).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Roster {
    /// Its turns.
    pub entries: Vec<RosterEntry>,
}

impl Roster {
    /// Checks a roster before it is saved: turns that start before they end, with a leader, and
    /// that do not overlap.
    ///
    /// # Errors
    /// The first wrong turn (1-based) and why.
    pub fn check(&self) -> Result<(), tudi_core::msg::Msg> {
        let mut turns: Vec<(usize, &RosterEntry)> = self.entries.iter().enumerate().collect();
        for (i, e) in &turns {
            let n = i + 1;
            if e.to < e.from {
                return Err(tudi_core::msg::Msg::new(
                    format!("值班表第 {n} 条：结束日期早于开始日期"),
                    format!("turn {n} ends before it starts"),
                ));
            }
            if e.leader.trim().is_empty() || e.name.trim().is_empty() {
                return Err(tudi_core::msg::Msg::new(
                    format!("值班表第 {n} 条：须填写值班领导的账户和姓名"),
                    format!("turn {n} needs the leader's account and name"),
                ));
            }
        }
        turns.sort_by_key(|(_, e)| e.from);
        for pair in turns.windows(2) {
            let ((_, a), (j, b)) = (pair[0], pair[1]);
            if b.from <= a.to {
                return Err(tudi_core::msg::Msg::new(
                    format!("值班表第 {} 条与前一班次时间重叠", j + 1),
                    format!("turn {} overlaps the one before", j + 1),
                ));
            }
        }
        Ok(())
    }

    /// Who is on duty on `day`.
    #[must_use]
    pub fn on_duty(&self, day: Date) -> Option<&RosterEntry> {
        self.entries.iter().find(|e| e.from <= day && day <= e.to)
    }
}

/// Where an overdue order is raised: the town above a village, else the district's command
/// centre.
fn next_level(order: &Order) -> String {
    match &order.unit {
        Some(u) if u.kind == UnitKind::Village => {
            format!("所属镇街（{}）", u.code.get(..9).unwrap_or(&u.code))
        }
        _ => "区指挥中心".to_owned(),
    }
}

/// The notices `order` is owed at `now` and has not had for its current deadline.
#[must_use]
pub fn due_notices(
    order: &Order,
    now: Timestamp,
    calendar: &WorkCalendar,
    roster: &Roster,
) -> Vec<Notice> {
    let Some(due) = order.due.filter(|_| order.state.is_running()) else {
        return Vec::new();
    };
    let local = now.to_zoned(shanghai()).datetime();
    let sent = |kind: NoticeKind| {
        order
            .notices
            .iter()
            .any(|n| n.kind == kind && n.for_due == Some(due))
    };
    let unit: Vec<String> = order.unit.iter().map(|u| u.name.clone()).collect();
    let leader = roster
        .on_duty(local.date())
        .map(|e| format!("值班领导 {}", e.name));
    let mut out = Vec::new();
    let notice = |kind, to: Vec<String>, note: String| Notice {
        at: now,
        kind,
        to,
        note,
        for_due: Some(due),
    };
    if local <= due {
        // The last working day before the deadline (or the deadline's own day).
        let left = calendar.working_days_between(local.date(), due.date());
        if left <= 1 && !sent(NoticeKind::Reminder) {
            out.push(notice(
                NoticeKind::Reminder,
                unit,
                format!("工单 {} 将于 {due} 到期，请抓紧办理", order.number),
            ));
        }
        return out;
    }
    let mut raised: Vec<String> = unit.clone();
    raised.push(next_level(order));
    raised.extend(leader.clone());
    if !sent(NoticeKind::Overdue) {
        out.push(notice(
            NoticeKind::Overdue,
            raised.clone(),
            format!(
                "工单 {} 已于 {due} 超期，已报{}",
                order.number,
                raised[1..].join("、")
            ),
        ));
    }
    let late = calendar.working_days_between(due.date(), local.date());
    let auto_urged = order
        .notices
        .iter()
        .any(|n| n.kind == NoticeKind::Urge && n.for_due == Some(due));
    if late >= URGE_AFTER_DAYS && !auto_urged {
        out.push(notice(
            NoticeKind::Urge,
            raised,
            format!("工单 {} 超期 {late} 个工作日，自动督办", order.number),
        ));
    }
    out
}
