//! The demo's ledger: projects on the demo map (ponds and woodland reclaimed, dry land turned
//! paddy), most accepted; a transfer, a freeze, a deduction and a release — a sound journal
//! whose accounts sum to zero, the same for the same map.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tudi_farmland::account::Account;
use tudi_farmland::amount::Amounts;
use tudi_farmland::journal::Movement;
use tudi_farmland::ledger::{JournalQuery, Ledger};

#[test]
fn the_demo_ledger_is_sound_and_tells_a_year() {
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
    let today = jiff::civil::date(2026, 12, 7);
    let made = tudi_farmland::demo::fill(&*store, "440605", today).unwrap();
    assert_eq!((made.projects, made.accepted, made.postings), (7, 6, 10));
    let ledger = Ledger::new(&*store, "440605");
    assert!(ledger.verify().unwrap().problems.is_empty());
    let (_, balances) = ledger.balances().unwrap();
    let pool = balances.of(&ledger.pool());
    assert!(pool.farmland_m2.units() > 100_000.0, "{pool:?}");
    assert!(balances.of(&Account::Frozen("440605".into())).is_zero());
    assert!(!balances.of(&Account::Deducted("440605".into())).is_zero());
    let sum = balances.0.values().fold(Amounts::ZERO, |s, a| s + *a);
    assert_eq!(sum, Amounts::ZERO);
    let (transfers, _) = ledger
        .journal(&JournalQuery {
            movement: Some(Movement::Transfer),
            limit: 5,
            ..JournalQuery::default()
        })
        .unwrap();
    assert_eq!(transfers.len(), 1);
    assert!(transfers[0].detail["amount_wan"].as_f64().unwrap() > 0.0);
    // Dated over the past year, in order.
    let first = ledger.posting(1).unwrap().at;
    assert!(first < ledger.posting(10).unwrap().at);
    let (upto, _) = ledger
        .balances_at("2026-06-01T00:00:00+08:00".parse().unwrap())
        .unwrap();
    assert!(upto > 0 && upto < 10, "{upto}");

    // The roster: the district, seven towns, a village of each, three grid cells; a month of
    // patrols, one grid chief behind.
    let roster = tudi_farmland::demo::roster(&*store, "440605", today).unwrap();
    assert_eq!((roster.chiefs, roster.patrols), (18, 8));
    let chiefs = tudi_farmland::chief::all(&*store).unwrap();
    assert!(
        chiefs
            .iter()
            .any(|c| c.spec.username.as_deref() == Some("cunju.jingban"))
    );
    let mut behind = 0;
    for month in ["2026-11", "2026-12"] {
        behind += tudi_farmland::chief::month_report(&*store, month)
            .unwrap()
            .iter()
            .filter(|m| m.behind && m.level == tudi_farmland::chief::Level::Grid)
            .count();
    }
    assert!(behind >= 1);
}
