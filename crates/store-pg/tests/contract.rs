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
