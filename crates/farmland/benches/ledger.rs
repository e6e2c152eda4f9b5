//! The ledger at a province-sized journal and the occupation measurement of one approval:
//! `cargo bench -p tudi-farmland --bench ledger` (on PostgreSQL with
//! `TUDI_TEST_BACKEND=postgres`). Results go to docs/benchmarks.md.
//!
//! `POSTINGS` postings (default 1,000,000; `TUDI_BENCH_POSTINGS` sets it) are made with
//! `post_all` in batches of 20,000: intakes of 1,000 projects, then freezes, releases, transfers
//! and approvals' debits in turn. Measured: a county's balances now (the last checkpoint plus the
//! tail), balances as of an instant in the middle (a binary search over the numbers first), a
//! page of one account's journal. Then, on the demo district with its layers in memory (as the
//! server holds them), one homestead site's occupation measured against the land survey, beside
//! the 宅基地选址 compliance analysis of the same site.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;
use tudi_farmland::account::Account;
use tudi_farmland::amount::{Amounts, Centi};
use tudi_farmland::journal::{Leg, Movement, Reference};
use tudi_farmland::ledger::{Draft, JournalQuery, Ledger};
use tudi_farmland::occupation::{self, CapacityTable};
use tudi_geo::crs::{Crs, Transformer};
use tudi_store::{Change, FeatureQuery, Store};

const COUNTY: &str = "440605";
const BATCH: u64 = 20_000;
const PROJECTS: u64 = 1_000;

fn amounts(farmland: i64, paddy: i64, capacity: i64) -> Amounts {
    Amounts {
        farmland_m2: Centi(farmland),
        paddy_m2: Centi(paddy),
        capacity_kg: Centi(capacity),
    }
}

fn two_legs(from: Account, to: Account, a: Amounts) -> Vec<Leg> {
    vec![
        Leg {
            account: from,
            amounts: -a,
        },
        Leg {
            account: to,
            amounts: a,
        },
    ]
}

/// Posting `n` of the bench journal: 1,000 intakes first, then a cycle of a freeze, its
/// release, a transfer out and an approval's debit.
fn draft(n: u64) -> Draft {
    let pool = Account::Pool(COUNTY.into());
    let (movement, legs, reference) = if n <= PROJECTS {
        let a = amounts(100_000_000, 50_000_000, 10_000_000);
        let project = format!("BC2026-{n:04}");
        (
            Movement::Intake,
            two_legs(Account::Project(project.clone()), pool, a),
            Some(("project", project)),
        )
    } else {
        let a = amounts(1_000, 300, 100);
        match (n - PROJECTS) % 4 {
            1 => (
                Movement::Freeze,
                two_legs(pool, Account::Frozen(COUNTY.into()), a),
                None,
            ),
            2 => (
                Movement::Unfreeze,
                two_legs(Account::Frozen(COUNTY.into()), pool, a),
                None,
            ),
            3 => (
                Movement::Transfer,
                two_legs(pool, Account::Outside("440606".into()), a),
                None,
            ),
            _ => (
                Movement::Occupation,
                two_legs(pool, Account::Occupied(COUNTY.into()), a),
                Some(("homestead", format!("ZJD440605-{n}"))),
            ),
        }
    };
    Draft {
        movement,
        summary: format!("基准第 {n} 笔"),
        reason: None,
        reference: reference.map(|(kind, id)| Reference {
            kind: kind.into(),
            id,
        }),
        legs,
        reverses: None,
        detail: Value::Null,
        request: None,
    }
}

fn journal_bench(c: &mut Criterion) {
    let total: u64 = std::env::var("TUDI_BENCH_POSTINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let ledger = Ledger::new(&*store, COUNTY);
    let started = Instant::now();
    let mut n = 1;
    let mut middle = None;
    while n <= total {
        let end = (n + BATCH - 1).min(total);
        let drafts: Vec<Draft> = (n..=end).map(draft).collect();
        let made = ledger
            .post_all(&Change::new("bench", "farmland.bench"), &drafts)
            .unwrap();
        if middle.is_none() && end >= total / 2 {
            middle = made.last().map(|p| p.at);
        }
        n = end + 1;
    }
    eprintln!(
        "journal of {total} postings made in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let middle = middle.unwrap();
    let mut g = c.benchmark_group("farmland_ledger");
    g.bench_function("balances_now", |b| b.iter(|| ledger.balances().unwrap()));
    g.bench_function("balances_as_of_middle", |b| {
        b.iter(|| ledger.balances_at(middle).unwrap());
    });
    g.bench_function("journal_page_of_frozen", |b| {
        b.iter(|| {
            ledger
                .journal(&JournalQuery {
                    account: Some(Account::Frozen(COUNTY.into())),
                    limit: 50,
                    ..JournalQuery::default()
                })
                .unwrap()
        });
    });
    g.finish();
}

fn occupation_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn Store> = tudi_store_pg::testing::fresh_store(dir.path());
    tudi_onemap::demo::build(
        &*store,
        tudi_onemap::demo::DemoOptions {
            seed: 1,
            parcels: 20_000,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let snapshots = tudi_onemap::snapshot::Snapshots::start(store.clone());
    snapshots.build_now().unwrap();
    let map = tudi_onemap::snapshot::MapView::new(&*store, Some(&snapshots));
    // A 12 m × 10 m site across the corner of four paddy cells, in longitude/latitude.
    let def = store.layer_def("land_survey").unwrap();
    let paddy = store
        .features("land_survey", &FeatureQuery::default())
        .unwrap()
        .into_iter()
        .find(|f| f.attributes.get("land_use").and_then(Value::as_str) == Some("0101"))
        .unwrap();
    let corner = geo::BoundingRect::bounding_rect(&paddy.geometry)
        .unwrap()
        .max();
    let square = geo_types::Geometry::Polygon(geo_types::Polygon::new(
        vec![
            (corner.x - 6.0, corner.y - 5.0),
            (corner.x + 6.0, corner.y - 5.0),
            (corner.x + 6.0, corner.y + 5.0),
            (corner.x - 6.0, corner.y + 5.0),
            (corner.x - 6.0, corner.y - 5.0),
        ]
        .into(),
        vec![],
    ));
    let mut site = square;
    Transformer::new(Crs::from_epsg(def.epsg).unwrap(), Crs::CGCS2000)
        .unwrap()
        .apply_geometry(&mut site)
        .unwrap();
    let table = CapacityTable::default();
    let rules = tudi_onemap::compliance::RuleSet::builtin()
        .into_iter()
        .find(|r| r.answers_to("宅基地选址"))
        .unwrap();
    let measured = occupation::measure(map, &site, Crs::CGCS2000, &table).unwrap();
    assert!(measured.total.farmland_m2 > Centi::ZERO, "{measured:?}");
    let mut g = c.benchmark_group("farmland_occupation");
    g.bench_function("occupation_of_one_site", |b| {
        b.iter(|| occupation::measure(map, &site, Crs::CGCS2000, &table).unwrap());
    });
    g.bench_function("compliance_of_the_same_site", |b| {
        b.iter(|| {
            tudi_onemap::compliance::analyse(map, &rules, &site, Crs::CGCS2000, Some("plain"))
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, occupation_bench, journal_bench);
criterion_main!(benches);
