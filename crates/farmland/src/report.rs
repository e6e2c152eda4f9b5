//! The ledger's tables (台账) as users read them — balances, the journal, the year's 进出平衡 by
//! town — typed so the server renders them as JSON or Excel without knowing what they hold.

use jiff::Timestamp;
use tudi_core::table::{Cell, Table};
use tudi_core::units::{M2_PER_HECTARE, M2_PER_MU};

use crate::amount::{Amounts, Centi};
use crate::inout::Report;
use crate::journal::{Balances, Posting};

fn mu(c: Centi) -> Cell {
    Cell::Number(Some((c.units() / M2_PER_MU * 10_000.0).round() / 10_000.0))
}

fn local(at: Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// Every account's balance after posting `upto` (as of `as_of` when given).
#[must_use]
pub fn balances(balances: &Balances, upto: u64, as_of: Option<Timestamp>) -> Table {
    let when = as_of.map_or_else(|| "当前".to_owned(), |t| format!("截至 {}", local(t)));
    Table {
        sheet: "指标余额".into(),
        title: format!("耕地占补平衡指标余额（{when}，第 {upto} 号记账后）"),
        headings: vec![
            "账户",
            "名称",
            "耕地（平方米）",
            "耕地（亩）",
            "耕地（公顷）",
            "水田（平方米）",
            "水田（亩）",
            "粮食产能（公斤）",
        ],
        rows: balances
            .0
            .iter()
            .map(|(account, a)| {
                vec![
                    account.to_string().into(),
                    account.name_zh().into(),
                    a.farmland_m2.units().into(),
                    mu(a.farmland_m2),
                    Cell::Number(Some(
                        (a.farmland_m2.units() / M2_PER_HECTARE * 10_000.0).round() / 10_000.0,
                    )),
                    a.paddy_m2.units().into(),
                    mu(a.paddy_m2),
                    a.capacity_kg.units().into(),
                ]
            })
            .collect(),
    }
}

/// Postings, one row per leg.
#[must_use]
pub fn journal(postings: &[Posting]) -> Table {
    let mut rows = Vec::new();
    for p in postings {
        for leg in &p.legs {
            rows.push(vec![
                p.no.into(),
                local(p.at).into(),
                p.movement.name_zh().into(),
                p.summary.clone().into(),
                p.reference
                    .as_ref()
                    .map(crate::journal::Reference::key)
                    .unwrap_or_default()
                    .into(),
                p.reason.clone().unwrap_or_default().into(),
                leg.account.to_string().into(),
                leg.account.name_zh().into(),
                leg.amounts.farmland_m2.units().into(),
                mu(leg.amounts.farmland_m2),
                leg.amounts.paddy_m2.units().into(),
                leg.amounts.capacity_kg.units().into(),
                p.reverses.map(|n| n.to_string()).unwrap_or_default().into(),
                p.by.clone().into(),
            ]);
        }
    }
    Table {
        sheet: "记账流水".into(),
        title: "耕地占补平衡指标记账流水（每行一方；转入为正、转出为负）".into(),
        headings: vec![
            "记账号",
            "时间",
            "类型",
            "摘要",
            "关联",
            "原因",
            "账户",
            "账户名称",
            "耕地（平方米）",
            "耕地（亩）",
            "水田（平方米）",
            "粮食产能（公斤）",
            "冲正第几号",
            "记账人",
        ],
        rows,
    }
}

/// The year's 进出平衡 by town (亩 and 公斤).
#[must_use]
pub fn inout(report: &Report) -> Table {
    let row = |t: &crate::inout::TownYear| {
        let both = |a: &Amounts| [mu(a.farmland_m2), a.capacity_kg.units().into()];
        let mut r: Vec<Cell> = vec![t.town.clone().into(), t.name.clone().into()];
        for a in [
            &t.planned_out,
            &t.planned_in,
            &t.out,
            &t.restored,
            &t.covered,
            &t.owed,
        ] {
            r.extend(both(a));
        }
        r
    };
    let mut rows: Vec<Vec<Cell>> = report.towns.iter().map(row).collect();
    rows.push(row(&report.total));
    Table {
        sheet: format!("{}进出平衡", report.year),
        title: format!(
            "{} 年度耕地进出平衡（{}）",
            report.year,
            report
                .plan_document
                .clone()
                .unwrap_or_else(|| "未设年度方案".into())
        ),
        headings: vec![
            "镇街代码",
            "镇街",
            "计划流出（亩）",
            "计划流出产能（公斤）",
            "计划恢复（亩）",
            "计划恢复产能（公斤）",
            "流出（亩）",
            "流出产能（公斤）",
            "恢复（亩）",
            "恢复产能（公斤）",
            "指标补足（亩）",
            "指标补足产能（公斤）",
            "年末待补足（亩）",
            "年末待补足产能（公斤）",
        ],
        rows,
    }
}
