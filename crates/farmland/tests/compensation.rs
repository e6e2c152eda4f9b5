//! 耕地保护补偿 on the demo map: nothing without rates; with them, each collective's farmland by
//! grade and its 永久基本农田 priced, summing to the district's farmland.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use tudi_farmland::compensation::{self, Rates};
use tudi_farmland::ledger::LedgerError;
use tudi_store::Change;

#[test]
fn the_payment_list_prices_each_collectives_farmland() {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    tudi_onemap::demo::build(
        &*store,
        tudi_onemap::demo::DemoOptions {
            seed: 7,
            parcels: 20,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let err = compensation::payments(&*store, 2026).unwrap_err();
    assert!(
        matches!(err, LedgerError::Refused(_)),
        "no rates, nothing computed"
    );
    let c = Change::new("user:quju.shenpi", "farmland.compensation");
    let bad = Rates {
        yuan_per_mu: BTreeMap::from([(10, -5.0)]),
        basic_farmland_extra: 0.0,
        document: "x".into(),
    };
    let err = compensation::set_rates(&*store, &c, &bad).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "yuan_per_mu"),
        "{err:?}"
    );
    let rates = Rates {
        // The demo's patches carry no grade: the default (10) applies.
        yuan_per_mu: BTreeMap::from([(10, 300.0)]),
        basic_farmland_extra: 200.0,
        document: "南府〔2026〕耕保补偿标准".into(),
    };
    compensation::set_rates(&*store, &c, &rates).unwrap();
    let list = compensation::payments(&*store, 2026).unwrap();
    assert!(list.payees.len() > 100, "{}", list.payees.len());
    assert!(list.farmland_mu > 10_000.0, "{}", list.farmland_mu);
    let p = list
        .payees
        .iter()
        .find(|p| p.basic_farmland_mu > 0.0)
        .unwrap();
    let expected = p.mu_by_grade[&10] * 300.0 + p.basic_farmland_mu * 200.0;
    // The 亩 shown are rounded to hundredths; the amount is of the areas themselves.
    assert!((p.amount_yuan - expected).abs() < 5.0, "{p:?}");
    assert!(!p.name.is_empty() && !p.town.is_empty());
    let total: f64 = list.payees.iter().map(|p| p.amount_yuan).sum();
    assert!((list.total_yuan - total).abs() < 1.0);
    let table = compensation::table(&list);
    assert_eq!(table.rows.len(), list.payees.len() + 1);
}
