//! Tampering with the audit table of a GeoPackage store, as someone with the file could, is found
//! and located by `verify_audit`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rusqlite::Connection;
use serde_json::json;
use tudi_store::audit::ChainFault;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{Change, Expect, RecordWrite, Store};

/// A store with ten audited record writes.
fn store_with_ten_entries(path: &Path) {
    let s = GeoPackageStore::create(path).unwrap();
    for i in 0..10 {
        s.write_records(
            &Change::new("user:admin", "user.create"),
            &[RecordWrite {
                collection: "user".into(),
                id: format!("u{i}"),
                expect: Expect::Absent,
                body: Some(json!({"n": i})),
                keys: vec![],
                detail: None,
            }],
        )
        .unwrap();
    }
}

fn faults_after(sql: &str) -> Vec<ChainFault> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.gpkg");
    store_with_ten_entries(&path);
    Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    let report = GeoPackageStore::open(&path)
        .unwrap()
        .verify_audit()
        .unwrap();
    assert_eq!(report.is_intact(), report.faults.is_empty());
    report.faults
}

#[test]
fn an_untouched_chain_verifies() {
    assert_eq!(faults_after(""), vec![]);
}

#[test]
fn an_edited_entry_is_named() {
    assert_eq!(
        faults_after("UPDATE tudi_audit SET actor = 'user:mallory' WHERE seq = 4"),
        vec![ChainFault::Edited { seq: 4 }]
    );
}

#[test]
fn a_deleted_entry_is_located() {
    assert_eq!(
        faults_after("DELETE FROM tudi_audit WHERE seq = 6"),
        vec![ChainFault::Gap { after: 5, next: 7 }]
    );
}

#[test]
fn deleting_the_last_entries_is_found() {
    assert_eq!(
        faults_after("DELETE FROM tudi_audit WHERE seq > 8"),
        vec![ChainFault::Head {
            recorded: 10,
            found: 8
        }]
    );
}

#[test]
fn an_inserted_entry_is_found() {
    // A forged entry slipped in after entry 3, the later ones renumbered to make room.
    let faults = faults_after(
        "UPDATE tudi_audit SET seq = seq + 1000 WHERE seq > 3;
         UPDATE tudi_audit SET seq = seq - 999 WHERE seq > 1000;
         INSERT INTO tudi_audit (seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash)
           SELECT 4, at, 'user:mallory', action, resource, outcome, before, after, request_id, detail, hash, hash FROM tudi_audit WHERE seq = 3;",
    );
    // The first fault is where the insertion happened; every renumbered entry after it fails too.
    assert_eq!(
        faults.first(),
        Some(&ChainFault::Edited { seq: 4 }),
        "{faults:?}"
    );
    assert!(
        faults.contains(&ChainFault::Head {
            recorded: 10,
            found: 11
        }),
        "{faults:?}"
    );
}

#[test]
fn appending_after_a_cut_keeps_the_cut_visible() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.gpkg");
    store_with_ten_entries(&path);
    Connection::open(&path)
        .unwrap()
        .execute_batch("DELETE FROM tudi_audit WHERE seq >= 9")
        .unwrap();
    let s = GeoPackageStore::open(&path).unwrap();
    s.record_denial(&Change::new("user:x", "user.read"), "user:u1", None)
        .unwrap();
    let faults = s.verify_audit().unwrap().faults;
    assert_eq!(faults, vec![ChainFault::Gap { after: 8, next: 11 }]);
}

/// The resource index is filled in batches; a resource's history is whole and in order whether
/// its entries are indexed yet or not, and pages do not overlap.
#[test]
fn a_resources_history_is_whole_across_index_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    for i in 0..150u64 {
        s.write_records(
            &Change::new("user:admin", "user.update"),
            &[RecordWrite {
                collection: "user".into(),
                id: format!("a{}", i % 3),
                expect: if i < 3 {
                    Expect::Absent
                } else {
                    Expect::Present
                },
                body: Some(json!({"i": i})),
                keys: vec![],
                detail: None,
            }],
        )
        .unwrap();
    }
    let trail = |resource: &str, limit: Option<u64>, offset: u64| {
        s.audit_trail(&tudi_store::AuditQuery {
            resource: Some(resource.into()),
            actor: None,
            limit,
            offset,
        })
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect::<Vec<_>>()
    };
    let all = trail("user:a1", None, 0);
    let expected: Vec<u64> = (1..=150u64)
        .rev()
        .filter(|seq| (seq - 1) % 3 == 1)
        .collect();
    assert_eq!(all, expected, "every entry of user:a1, newest first");
    let mut paged = trail("user:a1", Some(20), 0);
    paged.extend(trail("user:a1", Some(20), 20));
    paged.extend(trail("user:a1", Some(20), 40));
    assert_eq!(paged, expected);
    assert!(
        trail("user:a", None, 0).is_empty(),
        "no prefix match without '/'"
    );
    assert!(s.verify_audit().unwrap().is_intact());
}
