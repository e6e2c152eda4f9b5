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
