//! Routing by the responsibility list (权责清单): which unit an order goes to, and why.
//!
//! The list is data: entries of category × area → unit, each valid for a period. An order's
//! place is the grid cell its location falls in. Entries apply when they are valid on the day,
//! their category is the order's or one of its ancestors, and their area contains the cell; the
//! most specific category and then the smallest area win. Components (部件) go to their owner
//! first (先属主、后属地): the owner recorded for the component, else a department entry, else the
//! locality; events and 12345 requests go to the locality first (先属地、后属主).

use jiff::civil::Date;
use serde::Serialize;
use tudi_access::Jurisdiction;
use tudi_core::msg::Msg;

use crate::category::{Category, Class, Taxonomy};

/// What kind of unit handles orders.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A functional department (the owner, 属主).
    Department,
    /// A town or street office (the locality, 属地).
    Town,
    /// A village or community committee (the locality, 属地).
    Village,
}

/// A unit orders are dispatched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Unit {
    /// Department, town or village.
    pub kind: UnitKind,
    /// Its code (department code, or the town's / village's division code).
    pub code: String,
    /// Its name.
    pub name: String,
}

impl Unit {
    fn is_owner(&self) -> bool {
        self.kind == UnitKind::Department
    }
}

/// One line of the responsibility list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Responsibility {
    /// A category code; the entry covers it and its subcategories.
    pub category: String,
    /// The area covered.
    pub area: Jurisdiction,
    /// Who is responsible.
    pub unit: Unit,
    /// First day in force.
    pub valid_from: Date,
    /// Last day in force (`None`: until replaced).
    pub valid_to: Option<Date>,
}

impl Responsibility {
    fn in_force(&self, on: Date) -> bool {
        self.valid_from <= on && self.valid_to.is_none_or(|to| on <= to)
    }
}

/// The route taken, with the rule that chose it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// Where the order goes.
    pub unit: Unit,
    /// The responsibility entry used (index in the list), if any.
    pub entry: Option<usize>,
    /// Why, for the order's record.
    pub explanation: Msg,
}

/// No unit could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no responsible unit for category {category} in {place} on {on}")]
pub struct NoRoute {
    /// The category.
    pub category: String,
    /// The grid cell.
    pub place: String,
    /// The day.
    pub on: Date,
}

impl NoRoute {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        Msg::new(
            format!(
                "权责清单中没有分类「{}」在 {} 于 {} 有效的责任单位，请调度员人工派遣",
                self.category, self.place, self.on
            ),
            format!(
                "the responsibility list has no unit for category {} in {} on {}: dispatch by hand",
                self.category, self.place, self.on
            ),
        )
    }
}

/// The responsibility list.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ResponsibilityList {
    /// Its entries.
    pub entries: Vec<Responsibility>,
}

impl ResponsibilityList {
    /// Checks a list before it is saved: every category known, every area in the district, no
    /// period ending before it starts, no unit without a code and name.
    ///
    /// # Errors
    /// The first wrong entry (1-based) and why, in Chinese and English.
    pub fn check(&self, taxonomy: &Taxonomy, district: &Jurisdiction) -> Result<(), Msg> {
        for (i, e) in self.entries.iter().enumerate() {
            let n = i + 1;
            let bad = |zh: String, en: String| {
                Err(Msg::new(
                    format!("权责清单第 {n} 条：{zh}"),
                    format!("entry {n}: {en}"),
                ))
            };
            if taxonomy.get(&e.category).is_err() {
                return bad(
                    format!("未知的分类「{}」", e.category),
                    format!("unknown category {:?}", e.category),
                );
            }
            if !district.contains(&e.area) {
                return bad(
                    format!("区域 {} 不在本区 {} 内", e.area.as_str(), district.as_str()),
                    format!(
                        "area {} is outside the district {}",
                        e.area.as_str(),
                        district.as_str()
                    ),
                );
            }
            if e.valid_to.is_some_and(|to| to < e.valid_from) {
                return bad(
                    "有效期的结束日期早于开始日期".into(),
                    "the period ends before it starts".into(),
                );
            }
            if e.unit.code.trim().is_empty() || e.unit.name.trim().is_empty() {
                return bad(
                    "责任单位须有代码和名称".into(),
                    "the unit needs a code and a name".into(),
                );
            }
        }
        Ok(())
    }

    /// The unit for an order of `category` at grid cell `place` on `on`. `owner` is the
    /// component's recorded owner (权属单位), when the order is about a known component.
    ///
    /// # Errors
    /// [`NoRoute`] when neither the owner nor any entry in force covers the order.
    pub fn route(
        &self,
        taxonomy: &Taxonomy,
        category: &Category,
        place: &Jurisdiction,
        on: Date,
        owner: Option<&Unit>,
    ) -> Result<Route, NoRoute> {
        let lineage = taxonomy.lineage(&category.code);
        // Best entry of each kind: (category depth from the order's own, area specificity).
        let best = |want_owner: bool| {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.unit.is_owner() == want_owner && e.in_force(on))
                .filter(|(_, e)| e.area.contains(place))
                .filter_map(|(i, e)| {
                    let depth = lineage.iter().position(|c| *c == e.category)?;
                    Some((depth, std::cmp::Reverse(e.area.as_str().len()), i))
                })
                .min()
                .map(|(_, _, i)| i)
        };
        let rule = match category.class {
            Class::Component => "部件先属主、后属地",
            Class::Event | Class::Request => "事件先属地、后属主",
        };
        let rule_en = match category.class {
            Class::Component => "components: owner first, then locality",
            Class::Event | Class::Request => "events: locality first, then owner",
        };
        if category.class == Class::Component
            && let Some(o) = owner
        {
            return Ok(Route {
                unit: o.clone(),
                entry: None,
                explanation: Msg::new(
                    format!("{rule}：该部件登记的权属单位为「{}」", o.name),
                    format!("{rule_en}: the component's recorded owner is {}", o.name),
                ),
            });
        }
        let order = match category.class {
            Class::Component => [true, false],
            Class::Event | Class::Request => [false, true],
        };
        for want_owner in order {
            if let Some(i) = best(want_owner) {
                let e = &self.entries[i];
                let (n, cat, area, from, name) = (
                    i + 1,
                    &e.category,
                    e.area.as_str(),
                    e.valid_from,
                    &e.unit.name,
                );
                let (until_zh, until_en) = e.valid_to.map_or_else(
                    || ("长期".to_owned(), "open-ended".to_owned()),
                    |d| (d.to_string(), d.to_string()),
                );
                return Ok(Route {
                    unit: e.unit.clone(),
                    entry: Some(i),
                    explanation: Msg::new(
                        format!(
                            "{rule}：按权责清单第 {n} 条（分类 {cat}，区域 {area}，{from} 至 {until_zh}）派至「{name}」"
                        ),
                        format!(
                            "{rule_en}: responsibility entry {n} (category {cat}, area {area}, {from} to {until_en}) names {name}"
                        ),
                    ),
                });
            }
        }
        Err(NoRoute {
            category: category.code.clone(),
            place: place.as_str().to_owned(),
            on,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jiff::civil::date;

    fn j(code: &str) -> Jurisdiction {
        Jurisdiction::parse(code).unwrap()
    }

    fn unit(kind: UnitKind, code: &str, name: &str) -> Unit {
        Unit {
            kind,
            code: code.into(),
            name: name.into(),
        }
    }

    fn entry(category: &str, area: &str, u: Unit, from: Date, to: Option<Date>) -> Responsibility {
        Responsibility {
            category: category.into(),
            area: j(area),
            unit: u,
            valid_from: from,
            valid_to: to,
        }
    }

    fn list() -> ResponsibilityList {
        let start = date(2026, 1, 1);
        ResponsibilityList {
            entries: vec![
                // District-wide: roads and city appearance to the departments.
                entry(
                    "02",
                    "440605",
                    unit(UnitKind::Department, "jtj", "区交通运输局"),
                    start,
                    None,
                ),
                entry(
                    "SJ04",
                    "440605",
                    unit(UnitKind::Department, "cgj", "区城管局"),
                    start,
                    None,
                ),
                entry(
                    "01",
                    "440605",
                    unit(UnitKind::Department, "szj", "区市政局"),
                    start,
                    None,
                ),
                // Localities: the town for everything in it, a village for street order.
                entry(
                    "SJ04",
                    "440605011",
                    unit(UnitKind::Town, "440605011", "桂城街道"),
                    start,
                    None,
                ),
                entry(
                    "02",
                    "440605011",
                    unit(UnitKind::Town, "440605011", "桂城街道"),
                    start,
                    None,
                ),
                entry(
                    "SJ0401",
                    "440605011001",
                    unit(UnitKind::Village, "440605011001", "夏北社区"),
                    start,
                    Some(date(2026, 6, 30)),
                ),
            ],
        }
    }

    #[test]
    fn events_go_to_the_locality_and_components_to_the_owner() {
        let t = Taxonomy::defaults().unwrap();
        let l = list();
        let on = date(2026, 11, 23);
        let cell = j("440605011001003");
        // 占道经营 (an event): the town, not the 城管局; the village entry has expired.
        let r = l
            .route(&t, t.get("SJ0401").unwrap(), &cell, on, None)
            .unwrap();
        assert_eq!(r.unit.name, "桂城街道");
        assert!(
            r.explanation.zh.starts_with("事件先属地、后属主"),
            "{}",
            r.explanation.zh
        );
        // While the village entry was in force, the village (smaller area, same category) won.
        let r = l
            .route(&t, t.get("SJ0401").unwrap(), &cell, date(2026, 3, 2), None)
            .unwrap();
        assert_eq!(r.unit.name, "夏北社区");
        // 交通标志牌 (a component): the department before the town.
        let r = l
            .route(&t, t.get("0201").unwrap(), &cell, on, None)
            .unwrap();
        assert_eq!(r.unit.name, "区交通运输局");
        assert!(r.explanation.zh.contains("第 1 条"), "{}", r.explanation.zh);
        // A component with a recorded owner goes to that owner.
        let owner = unit(UnitKind::Department, "gas", "南海燃气公司");
        let r = l
            .route(&t, t.get("0101").unwrap(), &cell, on, Some(&owner))
            .unwrap();
        assert_eq!((r.unit.name.as_str(), r.entry), ("南海燃气公司", None));
        // An event with no locality entry falls back to the owner department.
        let other_town = j("440605012001001");
        let r = l
            .route(&t, t.get("SJ0401").unwrap(), &other_town, on, None)
            .unwrap();
        assert_eq!(r.unit.name, "区城管局");
    }

    #[test]
    fn an_uncovered_order_says_so_and_asks_for_a_dispatcher() {
        let t = Taxonomy::defaults().unwrap();
        let err = list()
            .route(
                &t,
                t.get("RX01").unwrap(),
                &j("440605011001003"),
                date(2026, 11, 23),
                None,
            )
            .unwrap_err();
        assert!(
            err.message().zh.contains("人工派遣"),
            "{}",
            err.message().zh
        );
        // Before the list came into force nothing applies either.
        assert!(
            list()
                .route(
                    &t,
                    t.get("0201").unwrap(),
                    &j("440605011001003"),
                    date(2025, 12, 31),
                    None
                )
                .is_err()
        );
    }
}
