//! The store contract on PostgreSQL/PostGIS: the same checks the GeoPackage backend passes.
//!
//! The database is `TUDI_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`, as
//! `.ci/run` sets it up); each check runs in a fresh schema that is dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tudi_store::{Store, contract};
use tudi_store_pg::PgStore;

fn database() -> String {
    std::env::var("TUDI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

#[test]
fn the_contract_holds_on_postgresql() {
    let url = database();
    contract::run_all(&|| -> Box<dyn Store> {
        Box::new(
            PgStore::scratch(&url).expect("a scratch store (is PostgreSQL with PostGIS running?)"),
        )
    });
}

#[test]
fn two_handles_on_one_schema_meet_the_concurrent_contract() {
    let url = database();
    contract::run_concurrent(&|| {
        let first = PgStore::scratch(&url).expect("a scratch store");
        let second = PgStore::connect(first.target().clone()).expect("a second handle");
        (Box::new(first), Box::new(second))
    });
}

/// A server calls the store from inside its tasks, many times in one task. The store must not
/// depend on the caller's runtime: a call that waited on the caller's cooperative budget hung
/// once that budget was spent.
#[test]
fn many_calls_from_inside_one_runtime_task_all_return() {
    let url = database();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = PgStore::scratch(&url).unwrap();
            for i in 0..600 {
                assert_eq!(store.record("user", &format!("u{i}")).unwrap(), None);
            }
        });
        let _ = done.send(());
    });
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_ok(),
        "600 store calls from one task did not all return within two minutes"
    );
}

#[test]
fn an_unreachable_database_is_named_in_the_error() {
    let err = PgStore::open("postgres://postgres@127.0.0.1:1/test?schema=nowhere").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("127.0.0.1:1/test"), "{text}");
    assert!(text.contains("无法连接数据库"), "{text}");
    let err = PgStore::open("mysql://root@localhost/x").unwrap_err();
    assert!(err.to_string().contains("postgres://"), "{err}");
    let err = PgStore::open("postgres://postgres@127.0.0.1/test?schema=1bad").unwrap_err();
    assert!(err.to_string().contains("schema"), "{err}");
}

#[test]
fn a_schema_from_a_newer_tudi_is_refused_and_left_alone() {
    let store = PgStore::scratch(&database()).unwrap();
    store
        .set_meta(
            "schema_version",
            "99",
            &tudi_store::Change::new("test", "future"),
        )
        .unwrap();
    let err = PgStore::connect(store.target().clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("99") && err.contains("newer tudi"), "{err}");
    assert_eq!(store.meta("schema_version").unwrap().as_deref(), Some("99"));
}

/// Ends the server sessions of the store's connections that sit inside a transaction (only
/// its own: other tests run at the same time in other schemas).
fn kill_connections_in_transaction(schema: &str) {
    let out = std::process::Command::new("psql")
        .args([
            &database(),
            "-Atc",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'tudi {schema}' AND state = 'idle in transaction'"
            ),
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "one writer was in its transaction"
    );
}

#[test]
fn a_connection_lost_mid_transaction_leaves_nothing_half_written() {
    let store = PgStore::scratch(&database()).unwrap();
    let change = tudi_store::Change::new("user:a", "order.intake");
    let write = |n: u64| tudi_store::RecordWrite {
        collection: "order".into(),
        id: format!("o{n}"),
        expect: tudi_store::Expect::Absent,
        body: Some(serde_json::json!({ "n": n })),
        keys: vec![],
        detail: None,
    };
    store
        .write_numbered(&change, "order:day", &mut |n| Ok(vec![write(n)]))
        .unwrap();
    let before = store.verify_audit().unwrap();
    let schema = store.target().schema.clone();
    let lost = store.write_numbered(&change, "order:day", &mut |n| {
        // The number is taken and the transaction open when the server ends the session.
        kill_connections_in_transaction(&schema);
        Ok(vec![write(n)])
    });
    let err = lost.unwrap_err();
    assert!(
        matches!(err, tudi_store::StoreError::Unavailable { .. }),
        "the database is named as away: {err}"
    );
    assert_eq!(
        store.record("order", "o2").unwrap(),
        None,
        "nothing was written"
    );
    let after = store.verify_audit().unwrap();
    assert!(after.is_intact());
    assert_eq!(after.entries, before.entries, "no audit entry either");
    let (n, _) = store
        .write_numbered(&change, "order:day", &mut |n| Ok(vec![write(n)]))
        .unwrap();
    assert_eq!(
        n, 2,
        "the lost transaction gave its number back; the pool reconnected"
    );
}

/// A database where PostGIS is not enabled and the account may not enable it (PostGIS needs a
/// superuser): the store refuses to open, says so in both languages and names the remedy, and
/// makes nothing there.
#[test]
fn a_database_without_postgis_is_named_with_the_remedy() {
    let admin = database();
    let name = format!("tudi_no_postgis_{}", std::process::id());
    let role = format!("tudi_plain_{}", std::process::id());
    let psql = |sql: &str| {
        let out = std::process::Command::new("psql")
            .args([admin.as_str(), "-qAtc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name} TEMPLATE template0"));
    psql(&format!("DROP ROLE IF EXISTS {role}"));
    psql(&format!("CREATE ROLE {role} LOGIN"));
    psql(&format!("GRANT CREATE ON DATABASE {name} TO {role}"));
    let (_, rest) = admin.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split_once('/').map_or(host, |(h, _)| h);
    let url = format!("postgres://{role}@{host}/{name}?schema=d440605");
    let err = PgStore::open(&url).map(|_| ()).unwrap_err().to_string();
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("DROP ROLE IF EXISTS {role}"));
    assert!(err.contains("PostGIS"), "{err}");
    assert!(err.contains("数据库未启用 PostGIS"), "{err}");
    assert!(err.contains("CREATE EXTENSION postgis"), "{err}");
    assert!(err.contains(&name), "names the database: {err}");
}

/// Thread and index of an order made by [`orders_from_six_threads`].
type Order = (u64, u64);

/// Six threads each make 30 numbered orders at once on `store`, order `i` of thread `t` built by
/// `build(t, i, n, call)` (`call`: how often that write's build has been called, from 1). Returns
/// the `(t, i)` of the writes that were made and of those whose build panicked.
fn orders_from_six_threads(
    store: &PgStore,
    build: &(dyn Fn(u64, u64, u64, u32) + Sync),
) -> (Vec<Order>, Vec<Order>) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Mutex;
    let change = tudi_store::Change::new("user:a", "order.intake");
    let (made, panicked) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for t in 0..6_u64 {
            let (change, made, panicked) = (&change, &made, &panicked);
            scope.spawn(move || {
                for i in 0..30_u64 {
                    let mut calls = 0;
                    let outcome = catch_unwind(AssertUnwindSafe(|| {
                        store.write_numbered(change, "order:day", &mut |n| {
                            calls += 1;
                            build(t, i, n, calls);
                            Ok(vec![tudi_store::RecordWrite {
                                collection: "order".into(),
                                id: format!("o{n:05}"),
                                expect: tudi_store::Expect::Absent,
                                body: Some(serde_json::json!({ "n": n, "t": t })),
                                keys: vec![],
                                detail: None,
                            }])
                        })
                    }));
                    match outcome {
                        Ok(written) => {
                            written.unwrap();
                            made.lock().unwrap().push((t, i));
                        }
                        Err(_) => panicked.lock().unwrap().push((t, i)),
                    }
                }
            });
        }
    });
    (made.into_inner().unwrap(), panicked.into_inner().unwrap())
}

/// A panic in one caller's build fails only that caller's write: the others in the shared
/// transaction are made, numbers stay gapless, one audit entry per write made.
#[test]
fn a_panic_while_building_records_stops_only_its_own_write() {
    let store = PgStore::scratch(&database()).unwrap();
    let (made, panicked) = orders_from_six_threads(&store, &|_, i, n, _| {
        assert!(i % 7 != 3, "a bug in building order {n}");
    });
    assert!(
        panicked.iter().all(|(_, i)| i % 7 == 3),
        "only the writes that panicked failed"
    );
    let made = made.len() as u64;
    assert_eq!(made, 6 * (30 - 4), "every other write was made");
    let page = store
        .find_records("order", &tudi_store::RecordQuery::default())
        .unwrap();
    let mut numbers: Vec<u64> = page
        .records
        .iter()
        .map(|r| r.body["n"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=made).collect::<Vec<_>>(), "gapless");
    let report = store.verify_audit().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.entries, made);
}

/// A build whose panic depends on the number it was given: a write made together with others
/// may be made again alone with another number, and then the build must not be called again —
/// the write would be made while its caller is told of the panic.
#[test]
fn a_write_whose_make_panicked_is_never_made() {
    let store = PgStore::scratch(&database()).unwrap();
    // A flaky build: it panics the first time it is given a multiple of 4 (every other write),
    // and would succeed if called again.
    let (made, panicked) = orders_from_six_threads(&store, &|_, i, n, calls| {
        assert!(
            calls > 1 || n % 4 != 0 || i % 2 == 1,
            "a bug in building order {n}"
        );
    });
    let made = made.len() as u64;
    assert!(!panicked.is_empty(), "some builds panicked");
    let stored = store
        .find_records("order", &tudi_store::RecordQuery::default())
        .unwrap();
    assert_eq!(
        stored.total, made,
        "only the writes whose callers were told they were made are stored"
    );
    let report = store.verify_audit().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.entries, made);
}

/// Under a stream of work orders a server's caches of settings, layers and credentials keep
/// serving: PostgreSQL tracks each part of the revisions apart, so writes to one collection (a
/// numbered order) move the change counter and that collection, not the others. (Before, every
/// cache keyed on the one counter and read the store again after each order.)
#[test]
fn work_orders_leave_the_other_revisions_standing() {
    use tudi_store::{Change, Expect, RecordWrite};
    let store = PgStore::scratch(&database()).unwrap();
    let change = Change::new("user:a", "order.intake");
    store.set_meta("orders:holidays", "", &change).unwrap();
    store
        .create_layer(&contract::parcel_def("grid"), &change)
        .unwrap();
    let before = store.revisions().unwrap();
    for _ in 0..5 {
        store
            .write_numbered(&change, "order:day", &mut |n| {
                Ok(vec![RecordWrite {
                    collection: "order".into(),
                    id: format!("o{n}"),
                    expect: Expect::Absent,
                    body: Some(serde_json::json!({ "n": n })),
                    keys: vec![("state".into(), "new".into())],
                    detail: None,
                }])
            })
            .unwrap();
    }
    let after = store.revisions().unwrap();
    assert_ne!(after.changes, before.changes);
    assert_ne!(
        after.of_collections(&["order"]),
        before.of_collections(&["order"])
    );
    assert_eq!(after.settings, before.settings, "settings stand");
    assert_eq!(after.layers, before.layers, "layers stand");
    assert_eq!(
        after.of_collections(&["user", "session", "token"]),
        before.of_collections(&["user", "session", "token"]),
        "credentials stand"
    );
}

/// A district's schema made by an earlier tudi (version 1, before revisions were tracked) is
/// upgraded when a server next opens it: its change counter reads as before, and its revisions
/// then move as the contract says.
#[test]
fn a_schema_of_version_1_is_upgraded_on_open() {
    use tudi_store::{Change, Expect, RecordWrite};
    let store = PgStore::scratch(&database()).unwrap();
    let schema = store.target().schema.clone();
    store
        .set_meta("orders:holidays", "", &Change::new("settings", "test"))
        .unwrap();
    let written = store.revisions().unwrap();
    assert!(written.changes > 0);
    let out = std::process::Command::new("psql")
        .args([
            &database(),
            "-qAtc",
            &format!(
                "DROP TABLE {schema}.tudi_revisions; \
                 UPDATE {schema}.tudi_meta SET value = '1' WHERE key = 'schema_version'"
            ),
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reopened = PgStore::connect(store.target().clone()).unwrap();
    assert_eq!(
        reopened.meta("schema_version").unwrap().as_deref(),
        Some(tudi_store_pg::SCHEMA_VERSION)
    );
    let before = reopened.revisions().unwrap();
    assert_eq!(
        (before.changes, before.layers),
        (written.changes, written.layers),
        "the counter reads on from where it stood"
    );
    reopened
        .write_records(
            &Change::new("user:a", "test"),
            &[RecordWrite {
                collection: "user".into(),
                id: "li".into(),
                expect: Expect::Absent,
                body: Some(serde_json::json!({})),
                keys: vec![],
                detail: None,
            }],
        )
        .unwrap();
    assert_ne!(
        reopened.revisions().unwrap().of_collections(&["user"]),
        before.of_collections(&["user"])
    );
}

/// A request running speculatively is handed the last reading, however stale, and may not write;
/// the reading begun when it arrived then tells whether what it was handed still holds.
#[test]
fn a_speculative_request_is_handed_the_last_reading_and_may_not_write() {
    use std::sync::Arc;
    use std::time::Instant;
    use tudi_store::horizon::{self, Speculation};
    use tudi_store::{Change, Expect, RecordWrite};
    let a = PgStore::scratch(&database()).unwrap();
    let b = PgStore::connect(a.target().clone()).unwrap();
    let settings = Change::new("settings", "test");
    let last = b.revisions().unwrap();
    // Another server changes a setting; then a request arrives at `b`.
    a.set_meta("orders:holidays", "2026-10-01", &settings)
        .unwrap();
    let arrived = Instant::now();
    assert!(
        b.begin_revisions_reading(),
        "a reading is a round trip here"
    );
    let speculation = Arc::new(Speculation::default());
    let handed = horizon::speculating(Some(Arc::clone(&speculation)), || {
        horizon::reading_since(arrived, || b.revisions().unwrap())
    });
    assert_eq!(
        handed, last,
        "handed the last reading, not the request's own"
    );
    let own = horizon::reading_since(arrived, || b.revisions().unwrap());
    assert_ne!(
        own.settings, last.settings,
        "the request's own reading sees the change"
    );
    assert!(!speculation.confirmed_by(&own), "so the answer is not kept");

    // Nothing changes between the readings: the answer is kept.
    let again = Arc::new(Speculation::default());
    horizon::speculating(Some(Arc::clone(&again)), || b.revisions().unwrap());
    let arrived = Instant::now();
    assert!(again.confirmed_by(&horizon::reading_since(arrived, || b.revisions().unwrap())));

    // Every kind of write is refused, changes nothing, and spoils the speculation.
    let writing = Arc::new(Speculation::default());
    let before = b.revisions().unwrap();
    horizon::speculating(Some(Arc::clone(&writing)), || {
        assert!(b.set_meta("orders:holidays", "", &settings).is_err());
        assert!(
            b.write_records(
                &settings,
                &[RecordWrite {
                    collection: "note".into(),
                    id: "n".into(),
                    expect: Expect::Absent,
                    body: Some(serde_json::json!({})),
                    keys: vec![],
                    detail: None,
                }],
            )
            .is_err()
        );
        assert!(b.next_in_sequence("order:day", 0).is_err());
        assert!(
            b.record_denial(&settings, "user:x", None).is_err(),
            "even a refusal's record waits for the request to run again"
        );
    });
    let after = horizon::reading_since(Instant::now(), || b.revisions().unwrap());
    assert_eq!(after, before, "nothing was written");
    assert!(!writing.confirmed_by(&after));
    assert_eq!(
        b.meta("orders:holidays").unwrap().as_deref(),
        Some("2026-10-01")
    );
    assert_eq!(b.next_in_sequence("order:day", 0).unwrap(), 1);
}
