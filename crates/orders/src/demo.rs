//! The demo district's responsibility list: events and 12345 requests to the town or street
//! office where they happen (先属地), components and illegal land use to the district departments
//! that own them (先属主). Invented for the demo, in the shape a district publishes its 权责清单.

use jiff::civil::date;
use tudi_access::Jurisdiction;
use tudi_core::division::{DivisionCode, DivisionRegistry};

use crate::routing::{Responsibility, ResponsibilityList, Unit, UnitKind};

/// Departments of the demo district: (code, name, category classes they own).
const DEPARTMENTS: [(&str, &str, &[&str]); 5] = [
    ("zjj", "区住房城乡建设和水利局", &["01"]),
    ("jtj", "区交通运输局", &["02"]),
    (
        "cgj",
        "区城市管理和综合执法局",
        &["03", "04", "06", "SJ02", "SJ03", "SJ04"],
    ),
    ("zrj", "区自然资源局", &["05", "SJ06"]),
    ("yjj", "区应急管理局", &["SJ05"]),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::category::Taxonomy;

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
