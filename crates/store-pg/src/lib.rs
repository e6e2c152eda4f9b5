//! tudi's store on PostgreSQL 15 with PostGIS 3: the backend for a prefecture or a province,
//! where one database holds many districts and several stateless servers share it.
//!
//! Each district lives in its own schema (`d440605`, `d330402` …). In it:
//! - each layer is a PostGIS table `<name>(fid, geom geometry(<type>, <srid>), feature_id uuid,
//!   <fields…>, tudi_version, tudi_valid_from)` holding the *current* features, with a GiST index
//!   on `geom` and a unique index on `feature_id`; PostGIS lists it in `geometry_columns`, so QGIS
//!   and `ogr2ogr PG:` read it as they read the GeoPackage;
//! - `tudi_layers`, `tudi_feature_history`, `tudi_sequences`, `tudi_meta`, `tudi_records`,
//!   `tudi_record_keys`, `tudi_blobs` and `tudi_audit` mirror the GeoPackage's tables;
//! - `tudi_audit_head` is one row: the last sequence number issued to the audit chain. Every
//!   writing transaction locks it first, so writers from any number of servers append to the
//!   chain one at a time (it never forks), a failed transaction gives its number back, and no
//!   two transactions can wait on each other's rows (they all queue on the head first).
//! - `tudi_revisions` holds what [`tudi_store::Revisions`] reports, one row per part: `audit`
//!   (the head's number), `layers` (the layer revision), `settings`, `records:<collection>`;
//!   each is moved by the statement that moves what it covers, in the same transaction.
//!
//! The [`Store`] trait is synchronous; the driver is tokio-postgres under a deadpool pool. The
//! connections are driven by the store's own small runtime, and each call waits for its answer
//! with a plain executor, so the store can be called from any thread — a server's blocking
//! threads, a command-line tool, a test — without entering the caller's runtime.
//!
//! Digests in the audit log are taken over the same canonical bytes as on the GeoPackage
//! ([`tudi_store::rules`]), so a chain copied from one backend verifies on the other.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod combine;
mod counter;
mod features;
mod records;
mod schema;
mod sql;
mod transfer;

use std::future::Future;
use std::path::Path;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;

use tudi_store::{Result, StoreError};

pub use schema::{KeepCopy, SCHEMA_VERSION};

/// How a PostgreSQL store is reached: the connection, the district's schema, the pool size.
#[derive(Debug, Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    /// The schema holding the district.
    pub schema: String,
    /// Connections kept open.
    pub pool_size: usize,
    /// `host:port/database`, for messages (never the password).
    pub label: String,
}

/// The schema of a district: `d` and its six-digit code.
#[must_use]
pub fn district_schema(code: &str) -> String {
    format!("d{code}")
}

/// The URL for libpq's tools (`pg_dump`, `psql`): `url` without tudi's own parameters
/// (`schema`, `pool`).
#[must_use]
pub fn libpq_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            key != "schema" && key != "pool"
        })
        .collect();
    if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    }
}

/// Whether `text` names a PostgreSQL database (`postgres://` or `postgresql://`).
#[must_use]
pub fn is_database_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl PgTarget {
    /// Reads a URL `postgres://user@host:port/db[?schema=NAME&pool=N&…]`. `schema` and `pool`
    /// are tudi's; every other parameter goes to the driver. Without `schema`, `tudi`.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] naming what is wrong with the URL.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason: String| StoreError::NotAStore {
            path: redact(url),
            reason,
        };
        if !is_database_url(url) {
            return Err(bad(
                "a database URL starts with postgres:// (数据库地址应以 postgres:// 开头)".into(),
            ));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = "tudi".to_owned();
        let mut pool_size = 16;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "schema" => schema = v.to_owned(),
                "pool" => {
                    pool_size = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=256).contains(n))
                        .ok_or_else(|| {
                            bad(format!(
                                "pool={v:?} is not a number from 1 to 256 (连接池大小应为 1–256)"
                            ))
                        })?;
                }
                _ => rest.push(pair),
            }
        }
        if !tudi_core::layer::is_valid_identifier(&schema) || schema.len() > 63 {
            return Err(bad(format!(
                "schema {schema:?} must start with a letter and use only ASCII letters, digits \
                 and _ (模式名须以英文字母开头，只含英文字母、数字和下划线)"
            )));
        }
        let schema = schema.to_ascii_lowercase();
        let driver_url = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config: tokio_postgres::Config = driver_url
            .parse()
            .map_err(|e| bad(format!("not a valid PostgreSQL URL (数据库地址有误): {e}")))?;
        config.options(format!("-c search_path={schema},public"));
        // `pg_stat_activity` then shows which district each connection serves.
        config.application_name(format!("tudi {schema}"));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let label = label_of(&config);
        Ok(Self {
            config,
            schema,
            pool_size,
            label,
        })
    }

    /// The same database, another schema (another district).
    #[must_use]
    pub fn with_schema(&self, schema: &str) -> Self {
        let mut next = self.clone();
        next.schema = schema.to_ascii_lowercase();
        next.config
            .options(format!("-c search_path={},public", next.schema));
        next.config
            .application_name(format!("tudi {}", next.schema));
        next
    }
}

fn label_of(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A store in one schema of a PostgreSQL database.
pub struct PgStore {
    /// Always there until the store is dropped (then shut down without waiting, since a store
    /// may be dropped inside a caller's async task, where a runtime may not block).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    target: PgTarget,
    /// A scratch store drops its schema when dropped (tests).
    scratch: bool,
    /// Readings of the change counter, shared by the calls that may use them.
    counter: Arc<counter::CounterGate<tudi_store::Revisions>>,
    /// Record writes waiting to share a transaction.
    combiner: combine::Combiner,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if self.scratch
            && let Err(e) = self.drop_schema()
        {
            tracing::warn!(error = %e, schema = %self.target.schema, "a scratch schema was left behind");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PgStore({} schema {})",
            self.target.label, self.target.schema
        )
    }
}

pub(crate) fn db(doing: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| {
        if connection_lost(&e) {
            StoreError::Unavailable {
                doing,
                source: Box::new(e),
            }
        } else if e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL) {
            StoreError::StorageFull {
                doing,
                source: Box::new(e),
            }
        } else {
            StoreError::Database {
                doing,
                source: Box::new(e),
            }
        }
    }
}

/// Whether an error means the database is away rather than that the statement failed: the
/// connection closed or broke, or the server is shutting down, starting or in recovery.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exceptions; 57P01–57P03: shutting down, crashed, cannot connect
        // now; 25006 a read-only transaction (a standby not yet promoted).
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::READ_ONLY_SQL_TRANSACTION,
                ]
                .contains(code)
        }
        // No server answer at all: an I/O error on the socket.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Takes a connection out of the pool after a database error in it: the server may have ended
/// the session (a restart, a failover, an administrator), and the pool's quick check on reuse
/// cannot yet tell when the driver has not noticed — the next call would fail on it too.
/// Other failures (conflicts, bad input, a statement's own error) keep the connection.
pub(crate) fn drop_if_broken(client: deadpool_postgres::Object, error: Option<&StoreError>) {
    if matches!(error, Some(StoreError::Unavailable { .. })) {
        drop(deadpool_postgres::Object::take(client));
    }
}

fn pool_error(doing: &'static str, label: &str, e: deadpool_postgres::PoolError) -> StoreError {
    let reason = match e {
        deadpool_postgres::PoolError::Backend(e) => with_causes(&e),
        other => with_causes(&other),
    };
    StoreError::Unavailable {
        doing,
        source: format!("PostgreSQL at {label}: {reason} (无法连接数据库)").into(),
    }
}

/// An error with the causes under it (`error connecting to server: Connection refused`).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl PgStore {
    /// Connects to the district's schema, creating it and tudi's tables when missing, and
    /// migrating them when older (under a lock, so servers starting together migrate once).
    ///
    /// # Errors
    /// An unreachable database, one without PostGIS, or a schema made by a newer tudi, each
    /// named with the database.
    pub fn connect(target: PgTarget) -> Result<Self> {
        Self::connect_keeping(target, None)
    }

    /// As [`Self::connect`]; a schema of an older version is migrated only after `keep` has
    /// kept a copy of it ([`schema::KeepCopy`]).
    ///
    /// # Errors
    /// As [`Self::connect`], and when `keep` fails (the schema is then left as it was).
    pub fn open_keeping(url: &str, keep: schema::KeepCopy<'_>) -> Result<Self> {
        Self::connect_keeping(PgTarget::parse(url)?, Some(keep))
    }

    fn connect_keeping(target: PgTarget, keep: Option<schema::KeepCopy<'_>>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tudi-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database {
                doing: "starting the database runtime",
                source: Box::new(e),
            })?;
        let manager = Manager::from_config(
            target.config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(target.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Database {
                doing: "making the connection pool",
                source: Box::new(e),
            })?;
        let store = Self {
            runtime: Some(runtime),
            pool,
            target,
            scratch: false,
            counter: Arc::default(),
            combiner: combine::Combiner::default(),
        };
        store.run(schema::prepare(&store, keep))?;
        Ok(store)
    }

    /// Connects with a URL (see [`PgTarget::parse`]).
    ///
    /// # Errors
    /// As [`PgTarget::parse`] and [`Self::connect`].
    pub fn open(url: &str) -> Result<Self> {
        Self::connect(PgTarget::parse(url)?)
    }

    /// A new, empty store in a schema of its own that is dropped with the store: for tests that
    /// need many fresh stores in one database. `url` names the database (see
    /// [`PgTarget::parse`]; its `schema` is replaced).
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub fn scratch(url: &str) -> Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stamp = jiff::Timestamp::now().as_microsecond();
        let schema = format!("scratch_{}_{stamp}_{n}", std::process::id());
        let target = PgTarget::parse(url)?.with_schema(&schema);
        let mut store = Self::connect(target)?;
        store.scratch = true;
        SWEPT.call_once(|| store.sweep_scratch());
        Ok(store)
    }

    /// Drops the scratch schemas of processes that have ended (a store held in a static, or a
    /// test that was killed, never drops its own).
    fn sweep_scratch(&self) {
        let Ok(schemas) = self.run(async {
            let c = self.client("listing scratch schemas").await?;
            let rows = c
                .query(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'scratch\\_%'",
                    &[],
                )
                .await
                .map_err(db("listing scratch schemas"))?;
            Ok::<_, StoreError>(
                rows.iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>(),
            )
        }) else {
            return;
        };
        for schema in schemas {
            let pid = schema.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let gone = self.with_schema_dropped(&schema);
                if let Err(e) = gone {
                    tracing::debug!(error = %e, %schema, "a stale scratch schema stays");
                }
            }
        }
    }

    fn with_schema_dropped(&self, schema: &str) -> Result<()> {
        self.run(async {
            let c = self.client("dropping a schema").await?;
            c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                sql::quote(schema)
            ))
            .await
            .map_err(db("dropping a schema"))
        })
    }

    /// Where this store is.
    #[must_use]
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// The schemas of the database that hold a tudi store (one per district).
    ///
    /// # Errors
    /// Database errors.
    pub fn stores_in_database(&self) -> Result<Vec<String>> {
        self.run(async {
            let c = self.client("listing districts").await?;
            let rows = c
                .query(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'tudi_audit_head' ORDER BY 1",
                    &[],
                )
                .await
                .map_err(db("listing districts"))?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }

    /// Removes the whole schema: every layer, record and audit entry of the district. For tests
    /// and for operators retiring a district; irreversible.
    ///
    /// # Errors
    /// Database errors.
    pub fn drop_schema(&self) -> Result<()> {
        self.run(async {
            let c = self.client("dropping a schema").await?;
            c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                sql::quote(&self.target.schema)
            ))
            .await
            .map_err(db("dropping a schema"))
        })
    }

    /// Runs `work` to its end on this thread. The connections it talks to are driven by the
    /// store's runtime, whose context is entered so that new connections are made there.
    ///
    /// `work` runs outside tokio's cooperative budget: called from inside a task of another
    /// runtime (a server's handler, a `#[tokio::test]`), the pool's semaphore would otherwise
    /// find that task's budget spent and hand its waker to that runtime — which is blocked here
    /// waiting, so it would never wake (seen as a hang in a test that made many calls).
    pub(crate) fn run<T>(&self, work: impl Future<Output = T>) -> T {
        let _context = self.runtime.as_ref().map(tokio::runtime::Runtime::enter);
        futures_executor::block_on(tokio::task::unconstrained(work))
    }

    pub(crate) async fn client(&self, doing: &'static str) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| pool_error(doing, &self.target.label, e))
    }
}

/// A write for a request running speculatively is refused (and the request told to run again):
/// what it would write may rest on a reading not yet confirmed ([`tudi_store::horizon`]).
pub(crate) fn refuse_while_speculating() -> Result<()> {
    match tudi_store::horizon::speculation() {
        None => Ok(()),
        Some(s) => {
            s.spoil();
            Err(StoreError::Unavailable {
                doing: "writing",
                source: "the request's reading is not confirmed yet; it runs again".into(),
            })
        }
    }
}

pub mod testing {
    //! Stores for the test suites of the capabilities, on the backend the environment chooses:
    //! `TUDI_TEST_BACKEND=postgres` (database `TUDI_TEST_PG`, default
    //! `postgres://postgres@127.0.0.1:5432/test`) or, by default, a GeoPackage file.

    use std::path::Path;
    use std::sync::Arc;

    use tudi_store::Store;
    use tudi_store::gpkg::GeoPackageStore;

    use crate::PgStore;

    /// Whether the suites run on PostgreSQL.
    #[must_use]
    pub fn on_postgres() -> bool {
        std::env::var("TUDI_TEST_BACKEND").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
    }

    /// The database the PostgreSQL tests use.
    #[must_use]
    pub fn database() -> String {
        std::env::var("TUDI_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// A fresh, empty store: `dir/tudi.gpkg`, or a scratch PostgreSQL schema dropped with the
    /// store.
    ///
    /// # Panics
    /// When the store cannot be made (a test cannot go on without it).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn fresh_store(dir: &Path) -> Arc<dyn Store> {
        if on_postgres() {
            Arc::new(PgStore::scratch(&database()).expect(
                "a scratch PostgreSQL store (TUDI_TEST_BACKEND=postgres: is PostgreSQL with PostGIS running at TUDI_TEST_PG?)",
            ))
        } else {
            Arc::new(
                GeoPackageStore::create(&dir.join("tudi.gpkg")).expect("a fresh GeoPackage store"),
            )
        }
    }

    /// Two handles on one fresh store, as two servers sharing it have: two connections to one
    /// scratch schema (dropped with the first), or two opens of one GeoPackage file.
    ///
    /// # Panics
    /// When the store cannot be made.
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn fresh_store_pair(dir: &Path) -> (Arc<dyn Store>, Arc<dyn Store>) {
        if on_postgres() {
            let first = PgStore::scratch(&database()).expect("a scratch PostgreSQL store");
            let second =
                PgStore::connect(first.target().clone()).expect("a second PostgreSQL handle");
            return (Arc::new(first), Arc::new(second));
        }
        let path = dir.join("tudi.gpkg");
        let first = GeoPackageStore::create(&path).expect("a fresh GeoPackage store");
        let second = GeoPackageStore::open(&path).expect("a second handle on the file");
        (Arc::new(first), Arc::new(second))
    }

    /// As [`fresh_store`], set up as `tudi serve` sets it up: on a GeoPackage, reads go through
    /// two read-only connections (PostgreSQL's pool serves reads and writes alike).
    ///
    /// # Panics
    /// When the store cannot be made.
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn fresh_served_store(dir: &Path) -> Arc<dyn Store> {
        if on_postgres() {
            return fresh_store(dir);
        }
        let store =
            GeoPackageStore::create(&dir.join("tudi.gpkg")).expect("a fresh GeoPackage store");
        store.enable_readers(2).expect("read-only connections");
        Arc::new(store)
    }
}
