//! The demo district's work orders: a responsibility list — events and 12345 requests to the
//! town or street office where they happen (先属地), components and illegal land use to the
//! district departments that own them (先属主), invented in the shape a district publishes its
//! 权责清单 — and a few hundred orders in every state, made through the order service as real
//! users would, deterministic from a seed.

use std::collections::BTreeMap;

use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};
use tudi_access::Jurisdiction;
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_store::Change;

use crate::category::Urgency;
use crate::lifecycle::{Satisfaction, State, Step};
use crate::order::{Channel, Reporter, StepInput};
use crate::routing::{Responsibility, ResponsibilityList, Unit, UnitKind};
use crate::service::{NewOrder, OrderError, Orders, Versioned};

/// Departments of the demo district: (code, name, category classes they own).
/// A department unit's code is the department name its handlers' role bindings carry, so the
/// demo's 部门处置人 (自然资源) handles what is sent to 区自然资源局.
const DEPARTMENTS: [(&str, &str, &[&str]); 5] = [
    ("住建", "区住房城乡建设和水利局", &["01"]),
    ("交通", "区交通运输局", &["02"]),
    (
        "城管",
        "区城市管理和综合执法局",
        &["03", "04", "06", "SJ02", "SJ03", "SJ04"],
    ),
    ("自然资源", "区自然资源局", &["05", "SJ06"]),
    ("应急", "区应急管理局", &["SJ05"]),
];

/// Event and request classes each town handles in its own area.
const LOCAL: [&str; 11] = [
    "SJ01", "SJ02", "SJ03", "SJ04", "SJ05", "SJ06", "RX01", "RX02", "RX03", "RX04", "RX05",
];

/// The list for `district` (its towns from the bundled division codes), in force from 2024.
#[must_use]
pub fn responsibility_list(district: &Jurisdiction) -> ResponsibilityList {
    let from = date(2024, 1, 1);
    let mut entries = Vec::new();
    for (code, name, classes) in DEPARTMENTS {
        for class in classes {
            entries.push(Responsibility {
                category: (*class).to_owned(),
                area: district.clone(),
                unit: Unit {
                    kind: UnitKind::Department,
                    code: code.to_owned(),
                    name: name.to_owned(),
                },
                valid_from: from,
                valid_to: None,
            });
        }
    }
    let reg = DivisionRegistry::bundled();
    let towns = DivisionCode::parse(district.as_str())
        .map(|c| reg.children(&c))
        .unwrap_or_default();
    for town in towns {
        let Ok(area) = Jurisdiction::parse(town.code.as_str()) else {
            continue;
        };
        for class in LOCAL {
            entries.push(Responsibility {
                category: class.to_owned(),
                area: area.clone(),
                unit: Unit {
                    kind: UnitKind::Town,
                    code: town.code.as_str().to_owned(),
                    name: town.name.clone(),
                },
                valid_from: from,
                valid_to: None,
            });
        }
    }
    ResponsibilityList { entries }
}

/// A weekly on-duty roster (领导挂点轮值) around `today`: eight weeks back and eight ahead, the
/// demo's duty-leader account taking every turn under the names of the district's (invented)
/// leaders in rotation.
#[must_use]
pub fn roster(today: jiff::civil::Date) -> crate::supervision::Roster {
    const LEADERS: [&str; 4] = ["潘副区长", "陈副区长", "黄常务副区长", "李副区长"];
    let monday = today
        .checked_sub(jiff::Span::new().days(i64::from(today.weekday().to_monday_zero_offset())))
        .unwrap_or(today);
    let entries = (-8i64..8)
        .filter_map(|week| {
            let from = monday.checked_add(jiff::Span::new().weeks(week)).ok()?;
            let to = from.checked_add(jiff::Span::new().days(6)).ok()?;
            let turn = usize::try_from(week.rem_euclid(4)).unwrap_or(0);
            Some(crate::supervision::RosterEntry {
                from,
                to,
                leader: "zhiban.lingdao".into(),
                name: LEADERS[turn].into(),
            })
        })
        .collect();
    crate::supervision::Roster { entries }
}

/// A small deterministic generator (SplitMix64), so the demo is the same for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What the demo's orders are about: (category, what a reporter says).
const MATTERS: [(&str, &str); 14] = [
    ("SJ0401", "路口有流动摊贩占道经营，影响行人通行"),
    ("SJ0101", "绿化带旁堆放生活垃圾多日无人清理"),
    ("SJ0102", "村内有人正在加建房屋，疑似未批先建"),
    ("SJ0201", "电线杆和墙上贴满非法小广告"),
    ("SJ0301", "工地夜间施工噪音扰民"),
    ("SJ0302", "渣土车经过后道路扬尘严重"),
    ("SJ0501", "下雨后路段积水较深，车辆难以通行"),
    ("SJ0601", "有人在农田里倾倒建筑垃圾并平整土地"),
    ("0101", "人行道上的井盖破损，存在安全隐患"),
    ("0103", "路灯连续多晚不亮"),
    ("0201", "交通标志牌被撞倒"),
    ("0301", "垃圾箱损坏，垃圾外溢"),
    ("RX01", "咨询宅基地申请需要准备哪些材料"),
    ("RX03", "投诉小区周边餐饮油烟扰民"),
];

const SURNAMES: [&str; 10] = ["陈", "黄", "李", "梁", "何", "周", "潘", "张", "王", "冯"];
const GIVEN: [&str; 10] = ["伟", "芳", "敏", "强", "丽", "军", "静", "杰", "婷", "明"];

/// Where the demo's orders end up, with how many of a hundred.
const STATES: [(State, usize); 10] = [
    (State::Received, 8),
    (State::Filed, 6),
    (State::Dispatched, 14),
    (State::Returned, 3),
    (State::Handling, 20),
    (State::FedBack, 10),
    (State::Closed, 12),
    (State::Evaluated, 22),
    (State::Rejected, 3),
    (State::Merged, 2),
];

/// The steps from intake to `state` (a merge is handled apart).
fn path_to(state: State, rework: bool) -> Vec<Step> {
    use Step as S;
    let handled = |mut v: Vec<Step>| {
        v.extend([S::Accept, S::Feedback]);
        if rework {
            v.extend([S::Rework, S::Feedback]);
        }
        v
    };
    let base = vec![S::File, S::Dispatch];
    match state {
        State::Received | State::Merged => vec![],
        State::Rejected => vec![S::Reject],
        State::Filed => vec![S::File],
        State::Dispatched => base,
        State::Returned => vec![S::File, S::Dispatch, S::Return],
        State::Handling => vec![S::File, S::Dispatch, S::Accept],
        State::FedBack => handled(base),
        State::Closed => {
            let mut v = handled(base);
            v.push(S::Close);
            v
        }
        State::Evaluated => {
            let mut v = handled(base);
            v.extend([S::Close, S::Evaluate]);
            v
        }
    }
}

/// Who takes a step in the demo (the demo accounts of `tudi_access::demo`).
fn actor(step: Step, unit: Option<&Unit>) -> &'static str {
    match step.duty() {
        crate::lifecycle::Duty::Supervise => "user:rexian.zuoxi",
        crate::lifecycle::Duty::Dispatch => "user:zhiban.lingdao",
        crate::lifecycle::Duty::Handle => match unit.map(|u| u.kind) {
            Some(UnitKind::Department) => "user:bumen.zrzy",
            _ => "user:zhenjie.shenhe",
        },
    }
}

/// Makes `count` orders at `cells` (grid code and a point inside it) through `orders`, spread
/// over the 60 days before `now`, ending in every state. Returns how many ended in each.
///
/// # Errors
/// A write failed (the demo data is consistent, so only the store can fail).
pub fn fill_orders(
    orders: &Orders<'_>,
    cells: &[(String, [f64; 2])],
    count: usize,
    seed: u64,
    now: Timestamp,
) -> Result<BTreeMap<&'static str, usize>, OrderError> {
    let mut rng = Rng(seed);
    let mut made: BTreeMap<&'static str, usize> = BTreeMap::new();
    // Open orders by category, for duplicates to be merged into.
    let mut open: Vec<(String, String)> = Vec::new();
    let weights: usize = STATES.iter().map(|(_, w)| w).sum();
    let mut intakes = Vec::with_capacity(count);
    for _ in 0..count {
        let ago = SignedDuration::from_mins(
            i64::try_from(rng.below(60 * 24 * 60)).unwrap_or(0) + 60 * 24 * 4,
        );
        intakes.push(now.checked_sub(ago).unwrap_or(now));
    }
    // Numbers run by day, so take orders in the order they came in.
    intakes.sort();
    for at in intakes {
        let mut roll = rng.below(weights);
        let state = STATES
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or(State::Received, |(s, _)| *s);
        let (category, says) = *rng.pick(&MATTERS);
        let (cell, point) = rng.pick(cells);
        let patrol = category.starts_with("SJ") && rng.below(3) == 0;
        // The address is the grid cell's village, under its town and district (南湖区凤桥镇…村).
        let place = address_of(cell);
        let name = format!(
            "{}{}{}",
            rng.pick(&SURNAMES),
            rng.pick(&GIVEN),
            rng.pick(&GIVEN)
        );
        let phone = format!("13{}{:08}", 5 + rng.below(5), rng.next() % 100_000_000);
        let new = NewOrder {
            channel: if patrol {
                Channel::Patrol
            } else {
                *rng.pick(&[Channel::Hotline, Channel::Hotline, Channel::App])
            },
            reporter: (!patrol).then_some(Reporter {
                name: Some(name),
                phone: Some(phone),
            }),
            category: category.to_owned(),
            description: format!("{place}：{says}"),
            location: Some(*point),
            address: Some(place.clone()),
            urgency: if rng.below(10) == 0 {
                Urgency::Urgent
            } else {
                Urgency::Normal
            },
            enterprise: rng.below(12) == 0,
        };
        let grid = Jurisdiction::parse(cell).ok();
        let intake_actor = if patrol {
            "user:wangge.xunjian"
        } else {
            "user:rexian.zuoxi"
        };
        let mut v: Versioned = orders.intake(
            &Change::new(intake_actor, "order.intake").at(at),
            new,
            grid.as_ref(),
        )?;
        let mut t = at;
        if state == State::Merged
            && let Some((into, _)) = open.iter().find(|(_, c)| c == category).cloned()
        {
            t = t.checked_add(SignedDuration::from_mins(20)).unwrap_or(t);
            let input = StepInput {
                into: Some(into),
                ..StepInput::default()
            };
            v = orders.step(
                &Change::new("user:zhiban.lingdao", "order.merge").at(t),
                &v.order.number,
                v.version,
                Step::Merge,
                input,
            )?;
        }
        for step in path_to(state, rng.below(5) == 0) {
            t = t
                .checked_add(SignedDuration::from_mins(
                    30 + i64::try_from(rng.below(60 * 20)).unwrap_or(0),
                ))
                .unwrap_or(t);
            let input = StepInput {
                note: match step {
                    Step::Reject => Some("经核实不属于本中心受理范围，已告知诉求人".into()),
                    Step::Return => Some("不属于本单位职责，请重新派遣".into()),
                    Step::Feedback => Some("已到现场处置完毕，附处置前后照片".into()),
                    Step::Rework => Some("核查发现问题仍存在，请继续处置".into()),
                    _ => None,
                },
                satisfaction: (step == Step::Evaluate).then(|| {
                    *rng.pick(&[
                        Satisfaction::Satisfied,
                        Satisfaction::Satisfied,
                        Satisfaction::Satisfied,
                        Satisfaction::FairlySatisfied,
                        Satisfaction::Dissatisfied,
                    ])
                }),
                ..StepInput::default()
            };
            let who = actor(step, v.order.unit.as_ref());
            v = orders.step(
                &Change::new(who, format!("order.{}", step.id())).at(t),
                &v.order.number,
                v.version,
                step,
                input,
            )?;
        }
        if v.order.state.public().open311() == "open" {
            open.push((v.order.number.clone(), v.order.category.clone()));
        }
        *made.entry(v.order.state.name_zh()).or_default() += 1;
    }
    Ok(made)
}

/// The district, town and village names of a grid cell's code (the bare code when unlisted).
fn address_of(cell: &str) -> String {
    let reg = DivisionRegistry::bundled();
    let names: Vec<String> = [6, 9, 12]
        .into_iter()
        .filter_map(|n| cell.get(..n))
        .filter_map(|c| DivisionCode::parse(c).ok())
        .filter_map(|c| reg.get(&c).map(|d| d.name.clone()))
        .collect();
    if names.is_empty() {
        cell.to_owned()
    } else {
        names.concat()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::category::Taxonomy;

    #[test]
    fn the_demo_roster_has_someone_on_duty_every_day_around_today() {
        let today = date(2026, 11, 22);
        let r = roster(today);
        for offset in -50i64..50 {
            let day = today.checked_add(jiff::Span::new().days(offset)).unwrap();
            assert!(r.on_duty(day).is_some(), "{day}");
        }
        assert_ne!(
            r.on_duty(today).unwrap().name,
            r.on_duty(date(2026, 11, 30)).unwrap().name,
            "turns change weekly"
        );
    }

    #[test]
    fn every_category_has_a_unit_in_every_demo_town() {
        let d = Jurisdiction::parse("440605").unwrap();
        let list = responsibility_list(&d);
        let t = Taxonomy::defaults().unwrap();
        let cell = Jurisdiction::parse("440605011001001").unwrap();
        for c in t.iter() {
            let r = list.route(&t, c, &cell, date(2026, 11, 23), None);
            assert!(r.is_ok(), "{} has no unit", c.code);
        }
        let stall = list
            .route(
                &t,
                t.get("SJ0401").unwrap(),
                &cell,
                date(2026, 11, 23),
                None,
            )
            .unwrap();
        assert_eq!(stall.unit.kind, UnitKind::Town);
        let cover = list
            .route(&t, t.get("0101").unwrap(), &cell, date(2026, 11, 23), None)
            .unwrap();
        assert_eq!(cover.unit.name, "区住房城乡建设和水利局");
    }
}
