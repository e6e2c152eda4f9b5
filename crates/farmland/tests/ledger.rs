//! The ledger on the backend `TUDI_TEST_BACKEND` chooses: intake, debits refused beyond the
//! pool, replays, reversals, two postings racing for the last quota, checkpoints and balances
//! as of an instant — each refusal leaving the journal as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use jiff::Timestamp;
use serde_json::json;
use tudi_farmland::amount::{Amounts, Centi};
use tudi_farmland::journal::{Movement, Reference};
use tudi_farmland::ledger::{BLOCK, Draft, JournalQuery, Ledger, LedgerError};
use tudi_farmland::order::Order;
use tudi_farmland::project::{self, NewProject};
use tudi_store::{Change, Store};

const COUNTY: &str = "440605";

fn at(minutes: i64) -> Timestamp {
    "2026-10-01T02:00:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .checked_add(jiff::SignedDuration::from_mins(minutes))
        .unwrap()
}

fn change(minutes: i64) -> Change {
    Change::new("user:bureau", "farmland.post").at(at(minutes))
}

fn mu(n: i64) -> Amounts {
    // n 亩 of paddy at 700 kg/亩 (exact hundredths: 1 亩 = 666.67 m² here).
    Amounts {
        farmland_m2: Centi(66_667 * n),
        paddy_m2: Centi(66_667 * n),
        capacity_kg: Centi(70_000 * n),
    }
}

fn accepted_project(store: &dyn Store, ledger: &Ledger<'_>) -> project::Project {
    let c = change(0);
    let p = project::register(
        store,
        &c,
        serde_json::from_value::<NewProject>(json!({
            "name": "丹灶镇垦造水田项目", "kind": "reclamation", "grade": 6,
            "new_farmland_m2": 20000, "new_paddy_m2": 12000,
            "geometry": {"type": "Polygon", "coordinates": [[[112.90, 23.03], [112.902, 23.03], [112.902, 23.032], [112.90, 23.032], [112.90, 23.03]]]}
        }))
        .unwrap(),
    )
    .unwrap();
    assert!(p.id.starts_with("BC2026-"), "{}", p.id);
    project::accept(
        ledger,
        &c,
        &p.id,
        "2026-09-30".parse().unwrap(),
        "南自然资验〔2026〕1号",
    )
    .unwrap()
}

fn occupy(
    ledger: &Ledger<'_>,
    id: &str,
    amounts: Amounts,
    minutes: i64,
) -> Result<u64, LedgerError> {
    let draft = ledger.occupation_draft(
        Reference {
            kind: "homestead".into(),
            id: id.into(),
        },
        format!("宅基地审批 {id}"),
        amounts,
    );
    ledger.post(&change(minutes), &draft).map(|p| p.no)
}

#[test]
fn intake_occupation_and_refusals_leave_the_journal_balanced() {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let ledger = Ledger::new(&*store, COUNTY);
    let p = accepted_project(&*store, &ledger);
    let pool = ledger.pool();
    assert_eq!(ledger.balances().unwrap().1.of(&pool), p.adds);
    assert_eq!(p.adds.farmland_m2, Centi(2_000_000));
    // Grade 6 by the default table: 1,000 kg/亩 × 30 亩.
    assert_eq!(p.adds.capacity_kg, Centi(3_000_000));
    // Accepting twice is refused.
    let again = project::accept(
        &ledger,
        &change(1),
        &p.id,
        "2026-09-30".parse().unwrap(),
        "x",
    );
    assert!(matches!(again, Err(LedgerError::Refused(_))), "{again:?}");

    occupy(&ledger, "ZJD-1", mu(10), 2).unwrap();
    // Beyond the pool: refused naming what is short, nothing posted.
    let count = ledger.count().unwrap();
    let err = occupy(&ledger, "ZJD-2", mu(25), 3).unwrap_err();
    let msg = err.message().zh;
    assert!(
        msg.contains("以补定占") && msg.contains("耕地数量"),
        "{msg}"
    );
    assert_eq!(ledger.count().unwrap(), count);
    // The same approval debited twice: told, not posted.
    let err = occupy(&ledger, "ZJD-1", mu(1), 4).unwrap_err();
    assert!(
        matches!(err, LedgerError::Duplicate { no: 2, .. }),
        "{err:?}"
    );

    // Bad input by field: negative amounts, paddy over farmland, zero, a foreign account.
    let bad = serde_json::from_value::<Order>(json!({"movement": "freeze", "amounts": {"farmland_m2": -5}, "document": "d", "reason": "r"}))
        .unwrap()
        .draft(&ledger, None)
        .unwrap_err();
    assert!(
        matches!(&bad, LedgerError::Invalid { field, .. } if field == "amounts"),
        "{bad:?}"
    );
    let units = serde_json::from_value::<Order>(
        json!({"movement": "freeze", "amounts": {"farmland_mu": 5}, "document": "d", "reason": "r"}),
    );
    assert!(units.is_err(), "a unit the ledger does not keep is refused");
    let foreign = Draft {
        movement: Movement::Freeze,
        summary: "x".into(),
        reason: None,
        reference: None,
        legs: vec![
            tudi_farmland::journal::Leg {
                account: "pool:440606".parse_account(),
                amounts: -mu(1),
            },
            tudi_farmland::journal::Leg {
                account: "frozen:440606".parse_account(),
                amounts: mu(1),
            },
        ],
        reverses: None,
        detail: serde_json::Value::Null,
        request: None,
    };
    let err = ledger.post(&change(5), &foreign).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "legs[0].account"),
        "{err:?}"
    );

    // Freeze, deduct part, unfreeze the rest.
    let freeze = |o: serde_json::Value, m| {
        let order: Order = serde_json::from_value(o).unwrap();
        ledger.post(&change(m), &order.draft(&ledger, None).unwrap())
    };
    freeze(json!({"movement": "freeze", "amounts": mu(5), "document": "粤自然资冻〔2026〕7号", "reason": "卫片图斑未整改"}), 6).unwrap();
    freeze(json!({"movement": "deduct", "amounts": mu(2), "document": "粤自然资扣〔2026〕2号", "reason": "整改不到位"}), 7).unwrap();
    let err = freeze(
        json!({"movement": "unfreeze", "amounts": mu(4), "document": "解冻", "reason": "已整改"}),
        8,
    )
    .unwrap_err();
    assert!(
        err.message().zh.contains("冻结指标"),
        "{}",
        err.message().zh
    );
    freeze(
        json!({"movement": "unfreeze", "amounts": mu(3), "document": "解冻", "reason": "已整改"}),
        9,
    )
    .unwrap();
    // A transfer out, with its prices.
    let out = freeze(
        json!({"movement": "transfer", "direction": "out", "county": "440606", "amounts": mu(3),
        "prices": {"farmland_wan_per_mu": 35}, "amount_wan": 105, "document": "调剂协议 2026-01"}),
        10,
    )
    .unwrap();
    assert_eq!(out.detail["priced_wan"], json!(105.0));
    // Borrowing needs a limit.
    let err = freeze(
        json!({"movement": "borrow", "amounts": mu(1), "document": "信用", "reason": "项目未验收"}),
        11,
    )
    .unwrap_err();
    assert!(err.message().zh.contains("额度"), "{}", err.message().zh);

    // Reversals: with a reason, once; not of an intake whose quota was used.
    let err = ledger
        .reverse(&change(12), 1, "验收有误", None)
        .unwrap_err();
    assert!(matches!(err, LedgerError::Refused(_)), "{err:?}");
    let r = ledger
        .reverse(&change(13), out.no, "协议撤销", None)
        .unwrap();
    assert_eq!(r.reverses, Some(out.no));
    let err = ledger
        .reverse(&change(14), out.no, "再次", None)
        .unwrap_err();
    assert!(err.message().zh.contains("已由"), "{}", err.message().zh);

    // An approval's debit stands with the approval: it is not reversed alone.
    let err = ledger.reverse(&change(15), 2, "误记", None).unwrap_err();
    assert!(
        err.message().zh.contains("不能单独冲正"),
        "{}",
        err.message().zh
    );

    let (_, balances) = ledger.balances().unwrap();
    let expected = p.adds - mu(10) - mu(2);
    assert_eq!(balances.of(&pool), expected);
    // Every posting balances, so all accounts sum to zero.
    let sum = balances.0.values().fold(Amounts::ZERO, |s, a| s + *a);
    assert_eq!(sum, Amounts::ZERO);
    let report = ledger.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // The journal, newest first, filtered by account.
    let (page, total) = ledger
        .journal(&JournalQuery {
            account: Some(tudi_farmland::account::Account::Frozen(COUNTY.into())),
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(page.len(), 2);
    assert!(page[0].no > page[1].no);
    // Account and movement together: counted and paged as one filter.
    let (page, total) = ledger
        .journal(&JournalQuery {
            account: Some(tudi_farmland::account::Account::Frozen(COUNTY.into())),
            movement: Some(Movement::Deduct),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!((total, page.len()), (1, 1));
    assert_eq!(page[0].movement, Movement::Deduct);
    // As of before the first occupation: only the intake.
    let (upto, then) = ledger.balances_at(at(1)).unwrap();
    assert_eq!(upto, 1);
    assert_eq!(then.of(&pool), p.adds);
}

trait ParseAccount {
    fn parse_account(&self) -> tudi_farmland::account::Account;
}

impl ParseAccount for str {
    fn parse_account(&self) -> tudi_farmland::account::Account {
        tudi_farmland::account::Account::parse(self).unwrap()
    }
}

#[test]
fn two_approvals_racing_for_the_last_quota_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = tudi_store_pg::testing::fresh_store_pair(dir.path());
    let ledger = Ledger::new(&*first, COUNTY);
    let p = accepted_project(&*first, &ledger);
    // 30 亩 in the pool; two approvals of 20 亩 each, 5 亩 of it paddy.
    let need = Amounts {
        paddy_m2: Centi(66_667 * 5),
        ..mu(20)
    };
    assert!(p.adds.short_of(&need).is_empty());
    let barrier = Arc::new(Barrier::new(2));
    let run = |store: Arc<dyn Store>, id: &'static str| {
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            let ledger = Ledger::new(&*store, COUNTY);
            barrier.wait();
            occupy(&ledger, id, need, 5)
        })
    };
    let a = run(Arc::clone(&first), "ZJD-A");
    let b = run(Arc::clone(&second), "ZJD-B");
    let results = [a.join().unwrap(), b.join().unwrap()];
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(
        lost.message().zh.contains("以补定占"),
        "{}",
        lost.message().zh
    );
    assert_eq!(ledger.count().unwrap(), 2);
    assert!(ledger.verify().unwrap().problems.is_empty());
}

#[test]
fn balances_come_from_checkpoints_and_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let ledger = Ledger::new(&*store, COUNTY);
    accepted_project(&*store, &ledger);
    let one = Amounts {
        farmland_m2: Centi(100),
        paddy_m2: Centi::ZERO,
        capacity_kg: Centi(10),
    };
    let total = BLOCK + 6;
    let drafts: Vec<Draft> = (2..=total)
        .map(|i| {
            let o = if i % 2 == 0 {
                json!({"movement": "freeze", "amounts": one, "document": format!("冻〔{i}〕"), "reason": "r"})
            } else {
                json!({"movement": "unfreeze", "amounts": one, "document": format!("解〔{i}〕"), "reason": "r"})
            };
            let order: Order = serde_json::from_value(o).unwrap();
            order.draft(&ledger, Some(format!("batch-{i}"))).unwrap()
        })
        .collect();
    // One bad posting in a batch: named by its place, nothing posted.
    let mut bad = drafts.clone();
    bad[7] = serde_json::from_value::<Order>(json!({"movement": "unfreeze", "amounts": {"farmland_m2": 1000}, "document": "x", "reason": "r"}))
        .unwrap()
        .draft(&ledger, None)
        .unwrap();
    let err = ledger.post_all(&change(1), &bad).unwrap_err();
    assert!(
        err.message().zh.starts_with("第 8 笔"),
        "{}",
        err.message().zh
    );
    bad[7] = bad[6].clone();
    let err = ledger.post_all(&change(1), &bad).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "postings[7].request"),
        "{err:?}"
    );
    assert_eq!(ledger.count().unwrap(), 1);
    let made = ledger.post_all(&change(1), &drafts).unwrap();
    assert_eq!(made.last().unwrap().no, total);
    let report = ledger.verify().unwrap();
    assert_eq!((report.postings, report.checkpoints), (total, 1));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // 1,006 postings: after the intake, 503 freezes and 502 unfreezes.
    let frozen = ledger
        .balances()
        .unwrap()
        .1
        .of(&tudi_farmland::account::Account::Frozen(COUNTY.into()));
    assert_eq!(frozen.farmland_m2, Centi(100));
    let at_block = ledger.balances_after(BLOCK).unwrap();
    let before = ledger.balances_after(BLOCK - 1).unwrap();
    assert_ne!(at_block, before);
}

#[test]
fn conversions_out_and_restorations_in_are_balanced_by_town_and_year() {
    use tudi_farmland::inout::{self, Plan, TownPlan};
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    let ledger = Ledger::new(&*store, COUNTY);
    accepted_project(&*store, &ledger);
    // 桂城街道 440605011 and 九江镇 440605121 (the bundled 2023 list).
    let (guicheng, jiujiang) = ("440605011", "440605121");
    let post = |o: serde_json::Value, m| {
        let order: Order = serde_json::from_value(o).unwrap();
        order
            .draft(&ledger, None)
            .and_then(|d| ledger.post(&change(m), &d))
    };
    post(
        json!({"movement": "conversion_out", "town": jiujiang, "amounts": mu(3), "to_use": "0201",
        "source": "survey_change", "document": "2026 年度变更调查 JJ-17"}),
        1,
    )
    .unwrap();
    post(
        json!({"movement": "conversion_out", "town": guicheng, "amounts": mu(1), "to_use": "1202",
        "source": "filing", "document": "设施农用地备案 2026-3"}),
        2,
    )
    .unwrap();
    post(
        json!({"movement": "restoration_in", "town": jiujiang, "amounts": mu(1), "from_use": "0201",
        "source": "acceptance", "document": "恢复验收 2026-1"}),
        3,
    )
    .unwrap();
    post(
        json!({"movement": "settle", "town": guicheng, "amounts": mu(1),
        "document": "区政府 2026-5", "reason": "城区无可恢复地块，以县级指标补足"}),
        4,
    )
    .unwrap();
    // Bad: farmland is not "other agricultural land"; a town of another county; too much covered.
    let err = post(
        json!({"movement": "conversion_out", "town": jiujiang, "amounts": mu(1), "to_use": "0101",
        "source": "filing", "document": "x"}),
        5,
    )
    .unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "to_use"),
        "{err:?}"
    );
    let err = post(json!({"movement": "restoration_in", "town": "440606101", "amounts": mu(1), "from_use": "0301",
        "source": "filing", "document": "x"}), 5).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "legs[0].account"),
        "{err:?}"
    );
    let plan = Plan {
        year: 2026,
        document: "南府〔2026〕进出平衡方案".into(),
        towns: vec![TownPlan {
            town: jiujiang.into(),
            planned_out: mu(4),
            planned_in: mu(4),
        }],
    };
    inout::set_plan(&ledger, &change(6), &plan).unwrap();
    let bad = Plan {
        towns: vec![TownPlan {
            town: "440606101".into(),
            ..plan.towns[0].clone()
        }],
        ..plan.clone()
    };
    let err = inout::set_plan(&ledger, &change(6), &bad).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "towns[0].town"),
        "{err:?}"
    );

    let report = inout::report(&ledger, 2026).unwrap();
    assert_eq!(report.towns.len(), 7, "南海's seven towns and streets");
    let row = |code: &str| report.towns.iter().find(|t| t.town == code).unwrap();
    assert_eq!(row(jiujiang).out, mu(3));
    assert_eq!(row(jiujiang).restored, mu(1));
    assert_eq!(row(jiujiang).owed, mu(2));
    assert_eq!(row(jiujiang).planned_in, mu(4));
    assert_eq!(row(guicheng).covered, mu(1));
    assert_eq!(row(guicheng).owed, Amounts::ZERO);
    assert_eq!(report.total.out, mu(4));
    // A reversal of the restoration puts the debt back.
    ledger.reverse(&change(7), 4, "验收不合格", None).unwrap();
    assert_eq!(
        inout::report(&ledger, 2026)
            .unwrap()
            .towns
            .iter()
            .find(|t| t.town == jiujiang)
            .unwrap()
            .owed,
        mu(3)
    );
    // Quota covers what a town owes, never more.
    let err = post(
        json!({"movement": "settle", "town": guicheng, "amounts": mu(1),
        "document": "x", "reason": "再补"}),
        8,
    )
    .unwrap_err();
    assert!(err.message().zh.contains("超过"), "{}", err.message().zh);
    let err = post(json!({"movement": "conversion_out", "town": "440605999", "amounts": mu(1), "to_use": "0201",
        "source": "filing", "document": "x"}), 8).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "town"),
        "{err:?}"
    );
    // Nothing was booked in 2025.
    assert_eq!(
        inout::report(&ledger, 2025).unwrap().total.out,
        Amounts::ZERO
    );
    assert!(ledger.verify().unwrap().problems.is_empty());
}
