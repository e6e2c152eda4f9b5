//! What the audit chain adds to a write: `cargo bench -p tudi-store --bench audit`.
//!
//! `record_write_with_audit` is a store write (one account-sized record, its index key, its
//! audit entry, durable commit). `record_write_bare` runs the store's own statements for that
//! write on a file the store made (WAL, synchronous=FULL), without the audit entry: the
//! difference is the audit's cost. Results go to docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use serde_json::json;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{Change, Expect, RecordWrite, Store};

fn body(i: u64) -> serde_json::Value {
    json!({"username": "wang", "display_name": "王小明", "bindings": [{"role": "town_reviewer", "scope": "440605011"}],
           "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "failed_logins": i})
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    let mut g = c.benchmark_group("write");
    let mut i = 0u64;
    g.bench_function("record_write_with_audit", |b| {
        b.iter(|| {
            i += 1;
            store
                .write_records(
                    &Change::new("user:admin", "user.update"),
                    &[RecordWrite {
                        collection: "user".into(),
                        id: "wang".into(),
                        expect: if i == 1 {
                            Expect::Absent
                        } else {
                            Expect::Present
                        },
                        body: Some(body(i)),
                        keys: vec![("scope".into(), "440605011".into())],
                        detail: None,
                    }],
                )
                .unwrap()
        });
    });
    // The same statements as the store's record write, on a file made by the store (same
    // tables, indexes and AUTOINCREMENT bookkeeping), without the audit entry.
    let bare_path = dir.path().join("bare.gpkg");
    drop(GeoPackageStore::create(&bare_path).unwrap());
    let mut bare = Connection::open(&bare_path).unwrap();
    bare.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        .unwrap();
    let mut j = 0u64;
    g.bench_function("record_write_bare", |b| {
        b.iter(|| {
            j += 1;
            let tx = bare.transaction().unwrap();
            let _ = tx
                .prepare_cached(
                    "SELECT version, body FROM tudi_records WHERE collection = ?1 AND record_id = ?2",
                )
                .unwrap()
                .query_row(params!["user", "wang"], |r| r.get::<_, i64>(0));
            tx.prepare_cached(
                "DELETE FROM tudi_record_keys WHERE collection = ?1 AND record_id = ?2",
            )
            .unwrap()
            .execute(params!["user", "wang"])
            .unwrap();
            tx.prepare_cached(
                "INSERT INTO tudi_records (collection, record_id, version, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(collection, record_id) DO UPDATE SET version = ?3, body = ?4, updated_at = ?5",
            )
            .unwrap()
            .execute(params![
                "user",
                "wang",
                j as i64,
                body(j).to_string(),
                jiff::Timestamp::now().to_string()
            ])
            .unwrap();
            tx.prepare_cached(
                "INSERT INTO tudi_record_keys (collection, key, value, record_id) VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap()
            .execute(params!["user", "scope", "440605011", "wang"])
            .unwrap();
            tx.commit().unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
