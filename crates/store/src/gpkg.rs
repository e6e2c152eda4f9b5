//! The embedded backend: one GeoPackage file.
//!
//! Layout (GeoPackage 1.2, `application_id` `GPKG`, `user_version` 10200):
//! - each layer is a feature table `<name>(fid, geom, feature_id, <fields…>, tudi_version,
//!   tudi_valid_from)` holding the *current* features, registered in `gpkg_contents` and
//!   `gpkg_geometry_columns`, with the `gpkg_rtree_index` extension (an R*-tree virtual table kept
//!   by triggers);
//! - `tudi_layers` holds the layer definitions (kind, title, schema);
//! - `tudi_feature_history` holds every superseded or deleted version, with its validity interval,
//!   so that `as_of` reads can rebuild the map of any instant;
//! - `tudi_sequences` and `tudi_meta` hold counters and settings.
//!
//! tudi's tables are registered as `attributes` in `gpkg_contents`, so GDAL and QGIS list them as
//! non-spatial tables. The file is opened in WAL mode with `synchronous=FULL`: a committed
//! transaction survives a `kill -9` or a power cut, and an interrupted one leaves no trace.
//!
//! The R-tree triggers call `ST_IsEmpty`, `ST_MinX` … which SQLite lacks; every connection this
//! module opens registers them (reading the envelope from the blob header).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use geo_types::Geometry;
use jiff::Timestamp;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use serde_json::{Map, Value};
use tudi_core::layer::LayerKind;
use tudi_geo::io::wkb;
use uuid::Uuid;

use crate::audit::{self, AuditEntry, AuditReport, Outcome};
use crate::{
    AuditQuery, Change, FeatureQuery, FeatureRecord, FeatureRow, LayerDef, LayerInfo, Match,
    NewFeature, Progress, Record, RecordPage, RecordQuery, RecordWrite, Result, Store, StoreError,
};

pub mod copy;
mod records;
pub mod schema;
mod transfer;

const APPLICATION_ID: i32 = 0x4750_4B47;
const USER_VERSION: i32 = 10200;
pub use schema::SCHEMA_VERSION;

/// A GeoPackage-backed store.
pub struct GeoPackageStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Read-only connections for concurrent readers (a server), opened by `enable_readers`.
    readers: std::sync::OnceLock<Vec<Mutex<Connection>>>,
    next_reader: std::sync::atomic::AtomicUsize,
    /// A read-only connection that only asks `PRAGMA data_version` (it changes when any other
    /// connection, in this process or another, commits).
    watch: std::sync::OnceLock<Mutex<Connection>>,
}

impl std::fmt::Debug for GeoPackageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeoPackageStore({})", self.path.display())
    }
}

fn db(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(ref f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::StorageFull {
                doing,
                source: Box::new(e),
            }
        }
        e => StoreError::Database {
            doing,
            source: Box::new(e),
        },
    }
}

use crate::rules::{Cell, cell_value, check_def, def_digest, feature_digest, field_cell};
pub use crate::rules::{format_ts, parse_ts};

/// Registers the SQL functions GeoPackage R-tree triggers call.
///
/// # Errors
/// When SQLite refuses a registration.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        let blob = ctx.get_raw(0);
        Ok(match blob {
            ValueRef::Blob(b) => wkb::gpkg_envelope(b).is_none(),
            _ => true,
        })
    })?;
    for (name, idx) in [
        ("ST_MinX", 0),
        ("ST_MaxX", 1),
        ("ST_MinY", 2),
        ("ST_MaxY", 3),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Blob(b) => wkb::gpkg_envelope(b).map(|e| e[idx]),
                _ => None,
            })
        })?;
    }
    Ok(())
}

fn configure(conn: &Connection) -> Result<()> {
    register_functions(conn).map_err(db("registering GeoPackage functions"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db("setting the busy timeout"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db("switching to WAL"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db("setting synchronous"))?;
    conn.pragma_update(None, "cache_size", -262_144)
        .map_err(db("setting the cache size"))?;
    Ok(())
}

/// Refuses a file that is not a GeoPackage (SQLite's `application_id` is not `GPKG`).
fn check_application_id(conn: &Connection, path: &Path) -> Result<()> {
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| StoreError::NotAStore {
            path: path.display().to_string(),
            reason: format!("not a SQLite/GeoPackage file (不是 GeoPackage 文件): {e}"),
        })?;
    if app != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            path: path.display().to_string(),
            reason: "not a GeoPackage (application_id is not GPKG; 不是 GeoPackage 文件)".into(),
        });
    }
    Ok(())
}

/// Commits a write transaction; the commit (the fsync that makes it durable) is timed for
/// `/metrics`.
fn commit(tx: rusqlite::Transaction<'_>, doing: &'static str) -> Result<()> {
    let started = std::time::Instant::now();
    let done = tx.commit().map_err(db(doing));
    metrics::histogram!("tudi_store_commit_seconds", "backend" => "gpkg").record(started.elapsed());
    done
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

const CORE_SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');
";

const TUDI_SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS tudi_meta (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tudi_layers (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL, srs_id INTEGER NOT NULL,
  geometry_type TEXT NOT NULL, fields TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tudi_feature_history (
  hid INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL, feature_id TEXT NOT NULL,
  version INTEGER NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, op TEXT NOT NULL,
  minx REAL, maxx REAL, miny REAL, maxy REAL, geom BLOB, attributes TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tudi_feature_history_feature ON tudi_feature_history(layer, feature_id, version);
CREATE INDEX IF NOT EXISTS tudi_feature_history_time ON tudi_feature_history(layer, valid_from, valid_to);
CREATE TABLE IF NOT EXISTS tudi_sequences (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tudi_audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  resource TEXT NOT NULL, outcome TEXT NOT NULL, before TEXT, after TEXT, request_id TEXT, detail TEXT,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
DROP INDEX IF EXISTS tudi_audit_resource;
CREATE TABLE IF NOT EXISTS tudi_audit_index (
  resource TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (resource, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tudi_blobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT UNIQUE NOT NULL, content_type TEXT NOT NULL,
  size INTEGER NOT NULL, data BLOB NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tudi_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, record_id TEXT NOT NULL,
  version INTEGER NOT NULL, body TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (collection, record_id));
CREATE TABLE IF NOT EXISTS tudi_record_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  record_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tudi_schema_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL, applied_at TEXT NOT NULL,
  release TEXT NOT NULL, from_version INTEGER, kept_copy TEXT);
CREATE INDEX IF NOT EXISTS tudi_record_keys_lookup ON tudi_record_keys(collection, key, value, record_id);
CREATE INDEX IF NOT EXISTS tudi_record_keys_record ON tudi_record_keys(collection, record_id);
";

const TUDI_TABLES: [(&str, &str); 9] = [
    ("tudi_meta", "tudi 设置 / settings"),
    ("tudi_layers", "tudi 图层定义 / layer definitions"),
    (
        "tudi_feature_history",
        "tudi 要素历史版本 / feature history",
    ),
    ("tudi_sequences", "tudi 编码序列 / code sequences"),
    ("tudi_audit", "tudi 审计链 / audit chain"),
    ("tudi_records", "tudi 业务记录 / records"),
    ("tudi_record_keys", "tudi 记录索引 / record keys"),
    ("tudi_blobs", "tudi 附件 / attached files"),
    (
        "tudi_schema_history",
        "tudi 数据库结构版本记录 / schema versions",
    ),
];

fn ensure_srs(conn: &Connection, epsg: u32) -> Result<()> {
    let crs = tudi_geo::crs::Crs::from_epsg(epsg).map_err(|e| StoreError::Schema(e.to_string()))?;
    let (org, id) = if epsg == 4326 {
        ("EPSG", 4326)
    } else {
        ("EPSG", epsg)
    };
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?1, ?2, ?3, ?2, ?4, ?5)",
        params![crs.name(), id, org, crs.wkt(), crs.name_zh()],
    )
    .map_err(db("registering a spatial reference system"))?;
    Ok(())
}

fn init_file(conn: &Connection, tudi_tables: bool) -> Result<()> {
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(db("setting application_id"))?;
    conn.pragma_update(None, "user_version", USER_VERSION)
        .map_err(db("setting user_version"))?;
    conn.execute_batch(CORE_SCHEMA)
        .map_err(db("creating GeoPackage tables"))?;
    ensure_srs(conn, 4326)?;
    if tudi_tables {
        create_tudi_tables(conn)?;
    }
    Ok(())
}

/// tudi's own tables, made or brought up to [`SCHEMA_VERSION`] (in the caller's transaction).
fn create_tudi_tables(conn: &Connection) -> Result<()> {
    conn.execute_batch(TUDI_SCHEMA)
        .map_err(db("creating tudi tables"))?;
    for (t, desc) in TUDI_TABLES {
        conn.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES (?1, 'attributes', ?1, ?2)",
            params![t, desc],
        )
        .map_err(db("registering tudi tables"))?;
    }
    ensure_revision_column(conn)?;
    conn.execute(
        "INSERT INTO tudi_meta (key, value) VALUES ('schema_version', ?1)
         ON CONFLICT(key) DO UPDATE SET value = ?1",
        params![SCHEMA_VERSION.to_string()],
    )
    .map_err(db("writing the schema version"))?;
    Ok(())
}

/// Files written before layer revisions existed get the column (every layer at revision 0).
fn ensure_revision_column(conn: &Connection) -> Result<()> {
    let has: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM pragma_table_info('tudi_layers') WHERE name = 'revision')",
            [],
            |r| r.get(0),
        )
        .map_err(db("reading the layer table"))?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE tudi_layers ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
        )
        .map_err(db("adding layer revisions"))?;
    }
    Ok(())
}

/// Gives a layer a new revision, in the caller's transaction. Revisions come from one counter
/// for the whole file, so a layer dropped and made again never repeats an earlier number.
/// The next value of sequence `key` (at least `floor + 1`), on the caller's connection or
/// transaction.
fn advance_sequence(conn: &Connection, key: &str, floor: u64) -> Result<u64> {
    let floor = i64::try_from(floor).map_err(|_| StoreError::SequenceOverflow(key.into()))?;
    let v: i64 = conn
        .prepare_cached(
            "INSERT INTO tudi_sequences (key, value) VALUES (?1, ?2 + 1)
             ON CONFLICT(key) DO UPDATE SET value = max(value, ?2) + 1 RETURNING value",
        )
        .and_then(|mut st| st.query_row(params![key, floor], |r| r.get(0)))
        .map_err(db("advancing a sequence"))?;
    u64::try_from(v).map_err(|_| StoreError::SequenceOverflow(key.into()))
}

fn bump_revision(tx: &Connection, layer: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO tudi_sequences (key, value) VALUES ('tudi:layer-revision', 1)
         ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value",
    )
    .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
    .and_then(|rev| {
        tx.prepare_cached("UPDATE tudi_layers SET revision = ?2 WHERE name = ?1")?
            .execute(params![layer, rev])
    })
    .map_err(db("advancing a layer revision"))?;
    Ok(())
}

/// The GeoPackage R-tree insert trigger of a table (dropped during bulk loads, which fill the
/// R-tree directly, and recreated in the same transaction).
fn rtree_insert_trigger_sql(t: &str) -> String {
    let r = format!("rtree_{t}_geom");
    format!(
        "CREATE TRIGGER {ins} AFTER INSERT ON {qt} WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN INSERT OR REPLACE INTO {qr} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;",
        ins = quote(&format!("{r}_insert")),
        qt = quote(t),
        qr = quote(&r),
    )
}

fn rtree_sql(t: &str) -> String {
    let r = format!("rtree_{t}_geom");
    let (qt, qr) = (quote(t), quote(&r));
    format!(
        "CREATE VIRTUAL TABLE {qr} USING rtree(id, minx, maxx, miny, maxy);
{insert}
CREATE TRIGGER {u1} AFTER UPDATE OF geom ON {qt} WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN INSERT OR REPLACE INTO {qr} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER {u2} AFTER UPDATE OF geom ON {qt} WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
BEGIN DELETE FROM {qr} WHERE id = OLD.fid; END;
CREATE TRIGGER {u3} AFTER UPDATE ON {qt} WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN DELETE FROM {qr} WHERE id = OLD.fid; INSERT OR REPLACE INTO {qr} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER {u4} AFTER UPDATE ON {qt} WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
BEGIN DELETE FROM {qr} WHERE id IN (OLD.fid, NEW.fid); END;
CREATE TRIGGER {del} AFTER DELETE ON {qt} WHEN old.geom NOT NULL
BEGIN DELETE FROM {qr} WHERE id = OLD.fid; END;",
        insert = rtree_insert_trigger_sql(t),
        u1 = quote(&format!("{r}_update1")),
        u2 = quote(&format!("{r}_update2")),
        u3 = quote(&format!("{r}_update3")),
        u4 = quote(&format!("{r}_update4")),
        del = quote(&format!("{r}_delete")),
    )
}

/// Creates a layer's feature table and registrations. `history` adds tudi's version columns.
fn create_feature_table(conn: &Connection, def: &LayerDef, history: bool) -> Result<()> {
    check_def(def)?;
    ensure_srs(conn, def.epsg)?;
    let mut cols = vec![
        "fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL".to_owned(),
        format!("geom {}", def.geometry_type),
        "feature_id TEXT NOT NULL".to_owned(),
    ];
    for f in &def.fields {
        cols.push(format!("{} {}", quote(&f.name), f.field_type.sql()));
    }
    if history {
        cols.push("tudi_version INTEGER NOT NULL DEFAULT 1".into());
        cols.push("tudi_valid_from TEXT NOT NULL".into());
    }
    let t = quote(&def.name);
    conn.execute_batch(&format!("CREATE TABLE {t} ({});", cols.join(", ")))
        .map_err(db("creating a feature table"))?;
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES (?1, 'features', ?1, ?2, ?3)",
        params![def.name, def.title, def.epsg],
    )
    .map_err(db("registering a layer"))?;
    conn.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, ?3, 0, 0)",
        params![def.name, def.geometry_type, def.epsg],
    )
    .map_err(db("registering a geometry column"))?;
    conn.execute(
        "INSERT INTO gpkg_extensions VALUES (?1, 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        params![def.name],
    )
    .map_err(db("registering the R-tree extension"))?;
    conn.execute_batch(&rtree_sql(&def.name))
        .map_err(db("creating the R-tree index"))?;
    // Codes and names are what people search by.
    for f in def
        .fields
        .iter()
        .filter(|f| matches!(f.name.as_str(), "code" | "name"))
    {
        conn.execute_batch(&format!(
            "CREATE INDEX {} ON {t}({} COLLATE NOCASE);",
            quote(&format!("{}_{}", def.name, f.name)),
            quote(&f.name)
        ))
        .map_err(db("indexing a search field"))?;
    }
    Ok(())
}

/// The unique index on a layer's stable feature ids. A new layer being bulk-loaded gets it after
/// its rows: one sort is much cheaper than a million index insertions.
fn create_feature_id_index(conn: &Connection, table: &str) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE UNIQUE INDEX {} ON {}(feature_id);",
        quote(&format!("{table}_feature_id")),
        quote(table)
    ))
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(ref f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Schema(format!(
                "layer {table:?}: the same feature id appears twice (要素标识重复)"
            ))
        }
        other => db("indexing feature ids")(other),
    })
}

/// The INSERT of one feature row: geometry, id, the fields in schema order, and with `history`
/// tudi's version columns.
fn insert_sql(def: &LayerDef, history: bool) -> String {
    let mut cols = vec!["geom".to_owned(), "feature_id".into()];
    cols.extend(def.fields.iter().map(|f| quote(&f.name)));
    if history {
        cols.push("tudi_version".into());
        cols.push("tudi_valid_from".into());
    }
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(&def.name),
        cols.join(", "),
        marks.join(", ")
    )
}

/// Checks attribute values against a layer's schema without writing: the first field at fault
/// and why.
///
/// # Errors
/// `(field, reason)` for an unknown field, a missing required value or a value of the wrong type.
pub fn check_attributes(
    def: &LayerDef,
    attributes: &Map<String, Value>,
) -> std::result::Result<(), (String, String)> {
    if let Some(unknown) = attributes
        .keys()
        .find(|k| !def.fields.iter().any(|f| &f.name == *k))
    {
        return Err((unknown.clone(), "no such field (图层无此字段)".into()));
    }
    for f in &def.fields {
        field_cell(f, attributes.get(&f.name)).map_err(|r| (f.name.clone(), r))?;
    }
    Ok(())
}

/// A feature ready to insert: its id, GeoPackage blob and field values.
type EncodedRow = (Uuid, Vec<u8>, Vec<SqlValue>, [u8; 32]);

struct Row {
    fid: i64,
    record: FeatureRecord,
}

impl GeoPackageStore {
    /// Creates a new store file; fails if the file exists.
    ///
    /// # Errors
    /// When the file exists or cannot be written.
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Err(StoreError::NotAStore {
                path: path.display().to_string(),
                reason: "file already exists (文件已存在)".into(),
            });
        }
        let conn = Connection::open(path).map_err(db("creating the store file"))?;
        Self::from_connection(path, conn)
    }

    /// Opens an existing store (or any GeoPackage, to which tudi's tables are then added).
    ///
    /// # Errors
    /// When the file is missing or not a GeoPackage.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(StoreError::NotAStore {
                path: path.display().to_string(),
                reason: "no such file (文件不存在)".into(),
            });
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(db("opening the store file"))?;
        check_application_id(&conn, path)?;
        Self::from_connection(path, conn)
    }

    /// Configures a freshly opened connection, makes sure tudi's tables exist, and wraps it.
    fn from_connection(path: &Path, conn: Connection) -> Result<Self> {
        configure(&conn)?;
        schema::prepare(&conn, path)?;
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            readers: std::sync::OnceLock::new(),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            watch: std::sync::OnceLock::new(),
        })
    }

    /// Opens the store at `path`, creating it when missing.
    ///
    /// # Errors
    /// As [`Self::open`] and [`Self::create`].
    pub fn open_or_create(path: &Path) -> Result<Self> {
        if path.exists() {
            Self::open(path)
        } else {
            Self::create(path)
        }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `n` read-only connections so that reads run in parallel with each other and with
    /// the writer (WAL). For a long-running server; a bulk load then keeps the WAL, since SQLite
    /// cannot change the journal mode while other connections are open.
    ///
    /// # Errors
    /// When a connection cannot be opened.
    pub fn enable_readers(&self, n: usize) -> Result<()> {
        let mut readers = Vec::with_capacity(n);
        for _ in 0..n {
            let c = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(db("opening a reader"))?;
            c.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(db("setting the busy timeout"))?;
            c.pragma_update(None, "cache_size", -131_072)
                .map_err(db("setting the cache size"))?;
            readers.push(Mutex::new(c));
        }
        let _ = self.readers.set(readers);
        Ok(())
    }

    /// A connection for reading: a free reader when there are readers, else the writer's.
    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        let Some(readers) = self.readers.get().filter(|r| !r.is_empty()) else {
            return self.lock();
        };
        for r in readers {
            if let Ok(g) = r.try_lock() {
                return g;
            }
        }
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % readers.len();
        readers[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on
        // drop), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn load_def(conn: &Connection, name: &str) -> Result<LayerDef> {
        conn.prepare_cached(
            "SELECT name, title, kind, srs_id, geometry_type, fields FROM tudi_layers WHERE name = ?1",
        )
        .and_then(|mut s| s.query_row(
            params![name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        ).optional())
        .map_err(db("reading a layer definition"))?
        .ok_or_else(|| StoreError::UnknownLayer(name.to_owned()))
        .and_then(|(name, title, kind, epsg, geometry_type, fields)| {
            Ok(LayerDef {
                kind: LayerKind::parse(&kind).map_err(|m| StoreError::Schema(m.en))?,
                fields: serde_json::from_str(&fields)
                    .map_err(|e| StoreError::Schema(format!("stored schema of {name}: {e}")))?,
                name,
                title,
                epsg,
                geometry_type,
            })
        })
    }

    fn info(conn: &Connection, def: LayerDef) -> Result<LayerInfo> {
        let t = quote(&def.name);
        let feature_count: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .map_err(db("counting features"))?;
        let feature_count = u64::try_from(feature_count).unwrap_or(0);
        let extent = conn
            .query_row(
                "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?1",
                params![def.name],
                |r| {
                    Ok(match (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?) {
                        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
                        _ => None,
                    })
                },
            )
            .map_err(db("reading a layer extent"))?;
        Ok(LayerInfo {
            def,
            feature_count,
            extent,
        })
    }

    fn refresh_extent(conn: &Connection, name: &str, at: Timestamp) -> Result<()> {
        let r = quote(&format!("rtree_{name}_geom"));
        conn.execute(
            &format!(
                "UPDATE gpkg_contents SET last_change = ?2, (min_x, min_y, max_x, max_y) =
                   (SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {r}) WHERE table_name = ?1"
            ),
            params![name, format_ts(at)],
        )
        .map_err(db("updating a layer extent"))?;
        Ok(())
    }

    fn select_current_sql(def: &LayerDef) -> String {
        let mut cols = vec!["fid".to_owned(), "geom".into(), "feature_id".into()];
        cols.extend(def.fields.iter().map(|f| quote(&f.name)));
        cols.push("tudi_version".into());
        cols.push("tudi_valid_from".into());
        format!("SELECT {} FROM {}", cols.join(", "), quote(&def.name))
    }

    fn read_current(def: &LayerDef, r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let fid: i64 = r.get(0)?;
        let blob: Option<Vec<u8>> = r.get(1)?;
        let id: String = r.get(2)?;
        let mut attributes = Map::new();
        for (i, f) in def.fields.iter().enumerate() {
            attributes.insert(f.name.clone(), cell_value(f, cell_of(r.get_ref(3 + i)?)));
        }
        let n = def.fields.len();
        let version: u32 = r.get(3 + n)?;
        let valid_from: String = r.get(4 + n)?;
        Ok(Row {
            fid,
            record: FeatureRecord {
                id: Uuid::parse_str(&id).unwrap_or_default(),
                version,
                geometry: blob.and_then(|b| wkb::from_gpkg(&b).ok()).unwrap_or(
                    Geometry::GeometryCollection(geo_types::GeometryCollection(vec![])),
                ),
                attributes,
                valid_from: parse_ts(&valid_from),
                valid_to: None,
            },
        })
    }

    fn read_history(r: &rusqlite::Row<'_>) -> rusqlite::Result<FeatureRecord> {
        let id: String = r.get(0)?;
        let blob: Option<Vec<u8>> = r.get(1)?;
        let attrs: String = r.get(2)?;
        let from: String = r.get(4)?;
        let to: String = r.get(5)?;
        Ok(FeatureRecord {
            id: Uuid::parse_str(&id).unwrap_or_default(),
            version: r.get(3)?,
            geometry: blob.and_then(|b| wkb::from_gpkg(&b).ok()).unwrap_or(
                Geometry::GeometryCollection(geo_types::GeometryCollection(vec![])),
            ),
            attributes: serde_json::from_str(&attrs).unwrap_or_default(),
            valid_from: parse_ts(&from),
            valid_to: Some(parse_ts(&to)),
        })
    }

    fn current_row(conn: &Connection, def: &LayerDef, id: Uuid) -> Result<Row> {
        conn.query_row(
            &format!("{} WHERE feature_id = ?1", Self::select_current_sql(def)),
            params![id.to_string()],
            |r| Self::read_current(def, r),
        )
        .optional()
        .map_err(db("reading a feature"))?
        .ok_or_else(|| StoreError::UnknownFeature {
            layer: def.name.clone(),
            id,
        })
    }

    fn archive(
        conn: &Connection,
        def: &LayerDef,
        row: &Row,
        at: Timestamp,
        op: &str,
    ) -> Result<()> {
        let rec = &row.record;
        if at < rec.valid_from {
            return Err(StoreError::Schema(format!(
                "change at {at} is earlier than the current version ({}) (修改时间早于当前版本)",
                rec.valid_from
            )));
        }
        Self::insert_history(conn, def, rec, at, op)
    }

    /// Writes a closed version, valid from its `valid_from` to `to` (an edit, or a copied store).
    fn insert_history(
        conn: &Connection,
        def: &LayerDef,
        rec: &FeatureRecord,
        to: Timestamp,
        op: &str,
    ) -> Result<()> {
        let blob = wkb::to_gpkg(&rec.geometry, i32::try_from(def.epsg).unwrap_or(0))
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        let env = wkb::gpkg_envelope(&blob);
        conn.prepare_cached(
            "INSERT INTO tudi_feature_history (layer, feature_id, version, valid_from, valid_to, op, minx, maxx, miny, maxy, geom, attributes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .and_then(|mut s| {
            s.execute(params![
                def.name,
                rec.id.to_string(),
                rec.version,
                format_ts(rec.valid_from),
                format_ts(to),
                op,
                env.map(|e| e[0]),
                env.map(|e| e[1]),
                env.map(|e| e[2]),
                env.map(|e| e[3]),
                blob,
                Value::Object(rec.attributes.clone()).to_string(),
            ])
        })
        .map_err(db("writing feature history"))?;
        Ok(())
    }

    fn encode(
        def: &LayerDef,
        index: usize,
        geometry: Geometry<f64>,
        attributes: &Map<String, Value>,
    ) -> Result<(Vec<u8>, Vec<SqlValue>)> {
        let (geometry, cells) = crate::rules::encode_feature(def, index, geometry, attributes)?;
        let blob = wkb::to_gpkg(&geometry, i32::try_from(def.epsg).unwrap_or(0)).map_err(|e| {
            StoreError::Attribute {
                index,
                field: "geom".into(),
                reason: e.to_string(),
            }
        })?;
        Ok((blob, cells.into_iter().map(sql_of).collect()))
    }
}

fn sql_of(cell: Cell) -> SqlValue {
    match cell {
        Cell::Null => SqlValue::Null,
        Cell::Integer(i) => SqlValue::Integer(i),
        Cell::Real(f) => SqlValue::Real(f),
        Cell::Text(t) => SqlValue::Text(t),
    }
}

fn cell_of(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null | ValueRef::Blob(_) => Cell::Null,
        ValueRef::Integer(i) => Cell::Integer(i),
        ValueRef::Real(f) => Cell::Real(f),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Store for GeoPackageStore {
    fn create_layer(&self, def: &LayerDef, change: &Change) -> Result<()> {
        check_def(def)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        Self::create_in(&tx, def)?;
        create_feature_id_index(&tx, &def.name)?;
        records::append_audit(
            &tx,
            change,
            &format!("layer:{}", def.name),
            Outcome::Done,
            None,
            Some(def_digest(def)),
            None,
        )?;
        commit(tx, "committing a new layer")
    }

    fn drop_layer(&self, name: &str, change: &Change) -> Result<()> {
        let mut conn = self.lock();
        let def = Self::load_def(&conn, name)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        records::append_audit(
            &tx,
            change,
            &format!("layer:{name}"),
            Outcome::Done,
            Some(def_digest(&def)),
            None,
            None,
        )?;
        tx.execute_batch(&format!(
            "DROP TABLE {}; DROP TABLE {};",
            quote(name),
            quote(&format!("rtree_{name}_geom"))
        ))
        .map_err(db("dropping a layer"))?;
        for sql in [
            "DELETE FROM gpkg_extensions WHERE table_name = ?1",
            "DELETE FROM gpkg_geometry_columns WHERE table_name = ?1",
            "DELETE FROM gpkg_contents WHERE table_name = ?1",
            "DELETE FROM tudi_layers WHERE name = ?1",
            "DELETE FROM tudi_feature_history WHERE layer = ?1",
        ] {
            tx.execute(sql, params![name])
                .map_err(db("dropping a layer"))?;
        }
        commit(tx, "committing a dropped layer")
    }

    fn layers(&self) -> Result<Vec<LayerInfo>> {
        let conn = self.read();
        let names: Vec<String> = conn
            .prepare("SELECT name FROM tudi_layers ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(db("listing layers"))?;
        names
            .iter()
            .map(|n| Self::info(&conn, Self::load_def(&conn, n)?))
            .collect()
    }

    fn layer(&self, name: &str) -> Result<LayerInfo> {
        let conn = self.read();
        let def = Self::load_def(&conn, name)?;
        Self::info(&conn, def)
    }

    fn insert_features(
        &self,
        layer: &str,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>> {
        let mut conn = self.lock();
        let def = Self::load_def(&conn, layer)?;
        let hint = features.size_hint().0;
        Self::write_batch(&mut conn, hint, |tx| {
            let (ids, digest) = Self::insert_rows(tx, &def, features, change.at, progress)?;
            records::append_audit(
                tx,
                change,
                &format!("layer:{}", def.name),
                Outcome::Done,
                None,
                Some(digest),
                Some(serde_json::json!({ "inserted": ids.len() })),
            )?;
            Ok(ids)
        })
    }

    fn create_layer_with_features(
        &self,
        def: &LayerDef,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>> {
        check_def(def)?;
        let mut conn = self.lock();
        let hint = features.size_hint().0;
        Self::write_batch(&mut conn, hint, |tx| {
            Self::create_in(tx, def)?;
            let (ids, digest) = Self::insert_rows(tx, def, features, change.at, progress)?;
            create_feature_id_index(tx, &def.name)?;
            records::append_audit(
                tx,
                change,
                &format!("layer:{}", def.name),
                Outcome::Done,
                None,
                Some(digest),
                Some(serde_json::json!({ "created": true, "inserted": ids.len() })),
            )?;
            Ok(ids)
        })
    }

    fn update_feature(
        &self,
        layer: &str,
        id: Uuid,
        geometry: Geometry<f64>,
        attributes: Map<String, Value>,
        change: &Change,
    ) -> Result<u32> {
        let at = change.at;
        let mut conn = self.lock();
        let def = Self::load_def(&conn, layer)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        let row = Self::current_row(&tx, &def, id)?;
        let before = Self::row_digest(&def, &row)?;
        let (blob, values) = Self::encode(&def, 0, geometry, &attributes)?;
        Self::archive(&tx, &def, &row, at, "update")?;
        let mut sets = vec!["geom = ?1".to_owned()];
        for (i, f) in def.fields.iter().enumerate() {
            sets.push(format!("{} = ?{}", quote(&f.name), i + 2));
        }
        let n = def.fields.len();
        sets.push(format!("tudi_version = ?{}", n + 2));
        sets.push(format!("tudi_valid_from = ?{}", n + 3));
        let mut all = vec![SqlValue::Blob(blob)];
        all.extend(values);
        let version = row.record.version + 1;
        all.push(SqlValue::Integer(i64::from(version)));
        all.push(SqlValue::Text(format_ts(at)));
        all.push(SqlValue::Integer(row.fid));
        tx.execute(
            &format!(
                "UPDATE {} SET {} WHERE fid = ?{}",
                quote(&def.name),
                sets.join(", "),
                n + 4
            ),
            params_from_iter(all),
        )
        .map_err(db("updating a feature"))?;
        Self::refresh_extent(&tx, &def.name, at)?;
        bump_revision(&tx, &def.name)?;
        // Digest what was stored, so the next change's "before" equals this "after".
        let after = Self::row_digest(&def, &Self::current_row(&tx, &def, id)?)?;
        records::append_audit(
            &tx,
            change,
            &format!("layer:{}/{id}", def.name),
            Outcome::Done,
            Some(before),
            Some(after),
            Some(serde_json::json!({ "version": version })),
        )?;
        commit(tx, "committing an update")?;
        Ok(version)
    }

    fn delete_feature(&self, layer: &str, id: Uuid, change: &Change) -> Result<()> {
        let at = change.at;
        let mut conn = self.lock();
        let def = Self::load_def(&conn, layer)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        let row = Self::current_row(&tx, &def, id)?;
        let before = Self::row_digest(&def, &row)?;
        Self::archive(&tx, &def, &row, at, "delete")?;
        records::append_audit(
            &tx,
            change,
            &format!("layer:{}/{id}", def.name),
            Outcome::Done,
            Some(before),
            None,
            None,
        )?;
        tx.execute(
            &format!("DELETE FROM {} WHERE fid = ?1", quote(&def.name)),
            params![row.fid],
        )
        .map_err(db("deleting a feature"))?;
        Self::refresh_extent(&tx, &def.name, at)?;
        bump_revision(&tx, &def.name)?;
        commit(tx, "committing a deletion")
    }

    fn features(&self, layer: &str, query: &FeatureQuery) -> Result<Vec<FeatureRecord>> {
        let mut out = Vec::new();
        let limit = query.limit.unwrap_or(u64::MAX);
        // The current map pages in SQL; as of a past instant, current and history rows merge
        // here and are skipped here.
        let in_sql = query.as_of.is_none();
        let page = in_sql.then_some((limit, query.offset));
        let mut skipped = if in_sql { query.offset } else { 0 };
        self.visit(layer, query.as_of, query.bbox, page, &mut |rec| {
            if skipped < query.offset {
                skipped += 1;
            } else if (out.len() as u64) < limit {
                out.push(rec);
            }
            Ok((out.len() as u64) < limit)
        })?;
        Ok(out)
    }

    fn for_each_feature(
        &self,
        layer: &str,
        as_of: Option<Timestamp>,
        visit: &mut dyn FnMut(FeatureRecord) -> Result<()>,
    ) -> Result<()> {
        self.visit(layer, as_of, None, None, &mut |rec| {
            visit(rec)?;
            Ok(true)
        })
    }

    fn layer_def(&self, name: &str) -> Result<LayerDef> {
        Self::load_def(&self.read(), name)
    }

    fn layer_defs(&self) -> Result<Vec<LayerDef>> {
        let conn = self.read();
        let names: Vec<String> = conn
            .prepare("SELECT name FROM tudi_layers ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(db("listing layers"))?;
        names.iter().map(|n| Self::load_def(&conn, n)).collect()
    }

    fn layer_revision(&self, name: &str) -> Result<u64> {
        self.read()
            .prepare_cached("SELECT revision FROM tudi_layers WHERE name = ?1")
            .and_then(|mut s| {
                s.query_row(params![name], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map_err(db("reading a layer revision"))?
            .map(|r| u64::try_from(r).unwrap_or(0))
            .ok_or_else(|| StoreError::UnknownLayer(name.to_owned()))
    }

    fn change_counter(&self) -> Result<u64> {
        let watch = match self.watch.get() {
            Some(w) => w,
            None => {
                let c = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .map_err(db("opening the change watcher"))?;
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(db("setting the busy timeout"))?;
                self.watch.get_or_init(|| Mutex::new(c))
            }
        };
        let conn = watch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let v: i64 = conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(db("reading the data version"))?;
        Ok(u64::try_from(v).unwrap_or(0))
    }

    fn envelopes(&self, layer: &str) -> Result<Vec<(Uuid, [f64; 4])>> {
        let conn = self.read();
        let def = Self::load_def(&conn, layer)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT t.feature_id, r.minx, r.miny, r.maxx, r.maxy FROM {1} t JOIN {0} r ON r.id = t.fid",
                quote(&format!("rtree_{}_geom", def.name)),
                quote(&def.name)
            ))
            .map_err(db("reading envelopes"))?;
        let rows = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                Ok((
                    Uuid::parse_str(&id).unwrap_or_default(),
                    [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                ))
            })
            .map_err(db("reading envelopes"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db("reading envelopes"))
    }

    fn search(
        &self,
        layer: &str,
        field: &str,
        needle: &str,
        mode: Match,
        limit: u64,
    ) -> Result<Vec<FeatureRecord>> {
        let conn = self.read();
        let def = Self::load_def(&conn, layer)?;
        if !def.fields.iter().any(|f| f.name == field) {
            return Err(StoreError::Schema(format!(
                "layer {layer:?} has no field {field:?} (图层无此字段)"
            )));
        }
        // LIKE with the wildcards of the needle escaped, so user text matches literally.
        let escaped = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = match mode {
            Match::Exact => escaped,
            Match::Prefix => format!("{escaped}%"),
            Match::Contains => format!("%{escaped}%"),
        };
        let sql = format!(
            "{} WHERE {} LIKE ?1 ESCAPE '\\' ORDER BY {} LIMIT ?2",
            Self::select_current_sql(&def),
            quote(field),
            quote(field)
        );
        let mut stmt = conn.prepare(&sql).map_err(db("searching"))?;
        let rows = stmt
            .query_map(
                params![pattern, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| Self::read_current(&def, r),
            )
            .map_err(db("searching"))?;
        rows.map(|r| r.map(|row| row.record))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db("searching"))
    }

    fn feature(&self, layer: &str, id: Uuid) -> Result<FeatureRecord> {
        let conn = self.read();
        let def = Self::load_def(&conn, layer)?;
        Ok(Self::current_row(&conn, &def, id)?.record)
    }

    fn feature_history(&self, layer: &str, id: Uuid) -> Result<Vec<FeatureRecord>> {
        let conn = self.read();
        let def = Self::load_def(&conn, layer)?;
        let mut out: Vec<FeatureRecord> = conn
            .prepare(
                "SELECT feature_id, geom, attributes, version, valid_from, valid_to FROM tudi_feature_history
                 WHERE layer = ?1 AND feature_id = ?2 ORDER BY version",
            )
            .and_then(|mut s| {
                s.query_map(params![layer, id.to_string()], Self::read_history)?
                    .collect()
            })
            .map_err(db("reading feature history"))?;
        match Self::current_row(&conn, &def, id) {
            Ok(row) => out.push(row.record),
            Err(StoreError::UnknownFeature { .. }) if !out.is_empty() => {}
            Err(e) => return Err(e),
        }
        Ok(out)
    }

    fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64> {
        advance_sequence(&self.lock(), key, floor)
    }

    fn write_numbered(
        &self,
        change: &Change,
        key: &str,
        make: &mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>,
    ) -> Result<(u64, Vec<u64>)> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        let n = advance_sequence(&tx, key, 0)?;
        let writes = make(n)?;
        let versions = records::write(&tx, change, &writes)?;
        commit(tx, "committing records")?;
        Ok((n, versions))
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read()
            .query_row(
                "SELECT value FROM tudi_meta WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading metadata"))
    }

    fn set_meta(&self, key: &str, value: &str, change: &Change) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        let before: Option<String> = tx
            .query_row(
                "SELECT value FROM tudi_meta WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading metadata"))?;
        tx.execute(
            "INSERT INTO tudi_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            params![key, value],
        )
        .map_err(db("writing metadata"))?;
        records::append_audit(
            &tx,
            change,
            &format!("meta:{key}"),
            Outcome::Done,
            before.map(|b| audit::sha256_hex(b.as_bytes())),
            Some(audit::sha256_hex(value.as_bytes())),
            None,
        )?;
        commit(tx, "committing metadata")
    }

    fn write_records(&self, change: &Change, writes: &[RecordWrite]) -> Result<Vec<u64>> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        let versions = records::write(&tx, change, writes)?;
        commit(tx, "committing records")?;
        Ok(versions)
    }

    fn record(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        records::get(&self.read(), collection, id)
    }

    fn find_records(&self, collection: &str, query: &RecordQuery) -> Result<RecordPage> {
        records::find(&self.read(), collection, query)
    }

    fn record_denial(&self, change: &Change, resource: &str, detail: Option<Value>) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        records::append_audit(&tx, change, resource, Outcome::Denied, None, None, detail)?;
        commit(tx, "committing an audit entry")
    }

    fn audit_trail(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        records::trail(&self.read(), query)
    }

    fn write_blob_with_records(
        &self,
        change: &Change,
        blob: &crate::BlobWrite<'_>,
        writes: &[RecordWrite],
    ) -> Result<(String, Vec<u64>)> {
        let sha = crate::audit::sha256_hex(blob.bytes);
        let size = i64::try_from(blob.bytes.len())
            .map_err(|_| StoreError::Schema("file too large".into()))?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        tx.execute(
            "INSERT OR IGNORE INTO tudi_blobs (sha256, content_type, size, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha, blob.content_type, size, blob.bytes, format_ts(change.at)],
        )
        .map_err(db("storing a file"))?;
        records::append_audit(
            &tx,
            change,
            &format!("blob:{sha}"),
            crate::audit::Outcome::Done,
            None,
            Some(sha.clone()),
            Some(
                serde_json::json!({"content_type": blob.content_type, "size": size, "for": blob.resource}),
            ),
        )?;
        let versions = records::write(&tx, change, writes)?;
        commit(tx, "committing a file")?;
        Ok((sha, versions))
    }

    fn blob(&self, sha256: &str) -> Result<Option<crate::Blob>> {
        self.read()
            .query_row(
                "SELECT content_type, data FROM tudi_blobs WHERE sha256 = ?1",
                params![sha256],
                |r| {
                    Ok(crate::Blob {
                        content_type: r.get(0)?,
                        bytes: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(db("reading a file"))
    }

    fn verify_audit(&self) -> Result<AuditReport> {
        // One read transaction: the head and the rows are of the same instant, and writers are
        // not held up meanwhile (a WAL reader sees a snapshot).
        let conn = self.read();
        conn.execute_batch("BEGIN")
            .map_err(db("starting a read transaction"))?;
        let report = records::verify(&conn);
        if let Err(e) = conn.execute_batch("COMMIT") {
            tracing::warn!(error = %e, "ending a read transaction failed");
        }
        report
    }
}

impl GeoPackageStore {
    /// Batches at least this large are written through a rollback journal instead of the WAL.
    const BULK_ROWS: usize = 20_000;

    /// For a large batch, switches to a rollback journal: in WAL mode every page of a
    /// half-gigabyte load is written twice (to the WAL, then checkpointed into the file). The
    /// rollback journal is just as crash-safe. When another connection has the file open SQLite
    /// keeps WAL and the load simply takes the slower path. Returns whether the mode changed.
    fn enter_bulk(conn: &Connection, rows: usize) -> bool {
        if rows < Self::BULK_ROWS {
            return false;
        }
        let mode: Option<String> = conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .ok();
        let _ = conn.pragma_update(None, "cache_size", -1_048_576);
        mode.is_some_and(|m| m.eq_ignore_ascii_case("delete"))
    }

    /// Runs `work` in one transaction, through the bulk-load path when `rows` is large.
    fn write_batch<T>(
        conn: &mut Connection,
        rows: usize,
        work: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let bulk = Self::enter_bulk(conn, rows);
        let result = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))
            .and_then(|tx| {
                let value = work(&tx)?;
                commit(tx, "committing a batch")?;
                Ok(value)
            });
        Self::leave_bulk(conn, bulk);
        result
    }

    fn leave_bulk(conn: &Connection, changed: bool) {
        let _ = conn.pragma_update(None, "cache_size", -262_144);
        if !changed {
            return;
        }
        if let Err(e) = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            tracing::warn!(error = %e, "could not switch the store back to WAL");
        }
    }

    fn create_in(tx: &Connection, def: &LayerDef) -> Result<()> {
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE lower(name) = lower(?1))",
                params![def.name],
                |r| r.get(0),
            )
            .map_err(db("checking layer names"))?;
        if exists {
            return Err(StoreError::LayerExists(def.name.clone()));
        }
        create_feature_table(tx, def, true)?;
        tx.execute(
            "INSERT INTO tudi_layers (name, title, kind, srs_id, geometry_type, fields, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                def.name,
                def.title,
                def.kind.id(),
                def.epsg,
                def.geometry_type,
                serde_json::to_string(&def.fields).unwrap_or_else(|_| "[]".into()),
                format_ts(Timestamp::now()),
            ],
        )
        .map_err(db("recording a layer"))?;
        bump_revision(tx, &def.name)?;
        Ok(())
    }

    fn insert_rows(
        tx: &Connection,
        def: &LayerDef,
        features: &mut dyn Iterator<Item = NewFeature>,
        at: Timestamp,
        progress: Progress<'_>,
    ) -> Result<(Vec<Uuid>, String)> {
        use rayon::prelude::*;
        use sha2::{Digest, Sha256};
        // The batch digest is the hash of every row's digest, in input order.
        let mut batch = Sha256::new();
        // Encoding (geometry blobs, attribute conversion) runs in parallel chunks; the rows and
        // their R-tree entries are then written by this one connection. The R-tree insert trigger
        // is suspended meanwhile because the envelopes are already known; it is recreated before
        // the transaction commits, so the file is never seen without it.
        const CHUNK: usize = 50_000;
        let rtree = quote(&format!("rtree_{}_geom", def.name));
        tx.execute_batch(&format!(
            "DROP TRIGGER {};",
            quote(&format!("rtree_{}_geom_insert", def.name))
        ))
        .map_err(db("suspending the R-tree trigger"))?;
        let mut ids = Vec::new();
        {
            let mut stmt = tx
                .prepare(&insert_sql(def, true))
                .map_err(db("preparing an insert"))?;
            let mut index_stmt = tx
                .prepare(&format!("INSERT INTO {rtree} VALUES (?1, ?2, ?3, ?4, ?5)"))
                .map_err(db("preparing an R-tree insert"))?;
            let valid_from = format_ts(at);
            loop {
                let chunk: Vec<NewFeature> = (&mut *features).take(CHUNK).collect();
                if chunk.is_empty() {
                    break;
                }
                let base = ids.len();
                let encoded: Vec<Result<EncodedRow>> = chunk
                    .into_par_iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let id = f.id.unwrap_or_else(Uuid::now_v7);
                        let (blob, values) =
                            Self::encode(def, base + i, f.geometry, &f.attributes)?;
                        let digest = feature_digest(id, &blob, &f.attributes);
                        Ok((id, blob, values, digest))
                    })
                    .collect();
                for item in encoded {
                    let (id, blob, values, digest) = item?;
                    batch.update(digest);
                    let envelope = wkb::gpkg_envelope(&blob);
                    let mut all: Vec<SqlValue> = Vec::with_capacity(values.len() + 4);
                    all.push(SqlValue::Blob(blob));
                    all.push(SqlValue::Text(id.to_string()));
                    all.extend(values);
                    all.push(SqlValue::Integer(1));
                    all.push(SqlValue::Text(valid_from.clone()));
                    stmt.execute(params_from_iter(all)).map_err(|e| match e {
                        rusqlite::Error::SqliteFailure(ref f, _)
                            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                        {
                            StoreError::DuplicateFeature {
                                layer: def.name.clone(),
                                id,
                            }
                        }
                        other => db("inserting a feature")(other),
                    })?;
                    if let Some([minx, maxx, miny, maxy]) = envelope {
                        index_stmt
                            .execute(params![tx.last_insert_rowid(), minx, maxx, miny, maxy])
                            .map_err(db("indexing a feature"))?;
                    }
                    ids.push(id);
                    let n = ids.len() as u64;
                    if n.is_multiple_of(10_000) && !progress(n) {
                        return Err(StoreError::Cancelled);
                    }
                }
            }
        }
        // The last word before commit is the caller's: it may still cancel the whole batch.
        if !progress(ids.len() as u64) {
            return Err(StoreError::Cancelled);
        }
        tx.execute_batch(&rtree_insert_trigger_sql(&def.name))
            .map_err(db("restoring the R-tree trigger"))?;
        Self::refresh_extent(tx, &def.name, at)?;
        bump_revision(tx, &def.name)?;
        Ok((ids, audit::hex(&batch.finalize())))
    }

    /// The digest of a stored feature version, computed as at its writing.
    fn row_digest(def: &LayerDef, row: &Row) -> Result<String> {
        crate::rules::record_digest(def, &row.record)
    }

    /// Streams features in id order; `visit` returns `false` to stop.
    /// Visits features in id order. `page` (limit, offset) is applied in SQL when the current map
    /// is read, so skipped rows are never decoded: a deep page costs about what the first does.
    fn visit(
        &self,
        layer: &str,
        as_of: Option<Timestamp>,
        bbox: Option<[f64; 4]>,
        page: Option<(u64, u64)>,
        visit: &mut dyn FnMut(FeatureRecord) -> Result<bool>,
    ) -> Result<()> {
        let conn = self.read();
        let def = Self::load_def(&conn, layer)?;
        let mut sql = Self::select_current_sql(&def);
        let mut args: Vec<SqlValue> = Vec::new();
        let mut conds = Vec::new();
        if let Some([minx, miny, maxx, maxy]) = bbox {
            conds.push(format!(
                "fid IN (SELECT id FROM {} WHERE minx <= ?{} AND maxx >= ?{} AND miny <= ?{} AND maxy >= ?{})",
                quote(&format!("rtree_{layer}_geom")),
                args.len() + 1,
                args.len() + 2,
                args.len() + 3,
                args.len() + 4
            ));
            args.extend([maxx, minx, maxy, miny].map(SqlValue::Real));
        }
        if let Some(t) = as_of {
            conds.push(format!("tudi_valid_from <= ?{}", args.len() + 1));
            args.push(SqlValue::Text(format_ts(t)));
        }
        if !conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conds.join(" AND "));
        }
        sql.push_str(" ORDER BY feature_id");
        if as_of.is_none()
            && let Some((limit, offset)) = page
        {
            // SQLite takes signed 64-bit bounds; beyond them a page is simply empty.
            let bound = |v: u64| SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX));
            sql.push_str(&format!(
                " LIMIT ?{} OFFSET ?{}",
                args.len() + 1,
                args.len() + 2
            ));
            args.extend([bound(limit), bound(offset)]);
        }
        let mut current = conn.prepare_cached(&sql).map_err(db("querying features"))?;
        let mut rows = current
            .query(params_from_iter(args))
            .map_err(db("querying features"))?;
        let Some(t) = as_of else {
            while let Some(r) = rows.next().map_err(db("reading features"))? {
                let row = Self::read_current(&def, r).map_err(db("reading features"))?;
                if !visit(row.record)? {
                    break;
                }
            }
            return Ok(());
        };
        // As of a past instant: merge current rows with history rows valid at `t`, in id order.
        let ts = format_ts(t);
        let mut hsql = String::from(
            "SELECT feature_id, geom, attributes, version, valid_from, valid_to FROM tudi_feature_history
             WHERE layer = ?1 AND valid_from <= ?2 AND valid_to > ?2",
        );
        let mut hargs: Vec<SqlValue> = vec![SqlValue::Text(layer.into()), SqlValue::Text(ts)];
        if let Some([minx, miny, maxx, maxy]) = bbox {
            hsql.push_str(" AND minx <= ?3 AND maxx >= ?4 AND miny <= ?5 AND maxy >= ?6");
            hargs.extend([maxx, minx, maxy, miny].map(SqlValue::Real));
        }
        hsql.push_str(" ORDER BY feature_id");
        let mut hist = conn.prepare(&hsql).map_err(db("querying history"))?;
        let mut hrows = hist
            .query_map(params_from_iter(hargs), Self::read_history)
            .map_err(db("querying history"))?
            .peekable();
        while let Some(r) = rows.next().map_err(db("reading features"))? {
            let cur = Self::read_current(&def, r)
                .map_err(db("reading features"))?
                .record;
            while let Some(Ok(h)) = hrows.peek() {
                if h.id.to_string() >= cur.id.to_string() {
                    break;
                }
                if let Some(Ok(h)) = hrows.next()
                    && !visit(h)?
                {
                    return Ok(());
                }
            }
            if !visit(cur)? {
                return Ok(());
            }
        }
        for h in hrows {
            let h = h.map_err(db("reading history"))?;
            if !visit(h)? {
                break;
            }
        }
        Ok(())
    }
}

/// A feature read from a GeoPackage that is not (necessarily) a tudi store.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignFeature {
    /// 0-based row position.
    pub index: usize,
    /// Attribute values by column name.
    pub properties: Map<String, Value>,
    /// Decoded geometry, or why it could not be decoded.
    pub geometry: std::result::Result<Option<Geometry<f64>>, String>,
}

/// A feature table in a GeoPackage.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignLayer {
    /// Table name.
    pub table: String,
    /// Geometry column.
    pub geometry_column: String,
    /// SRS id (EPSG code in practice).
    pub srs_id: i64,
    /// Whether geometries carry Z (elevation) and M (measure) values: 0 no, 1 yes, 2 maybe
    /// (GeoPackage §1.1.4).
    pub z: i64,
    /// As `z`, for M.
    pub m: i64,
    /// The other columns with their declared types (`BOOLEAN`, `SMALLINT`, `FLOAT` …).
    pub columns: Vec<(String, String)>,
}

/// Lists the feature tables of any GeoPackage (read-only).
///
/// # Errors
/// When the file is not a GeoPackage.
pub fn foreign_layers(path: &Path) -> Result<Vec<ForeignLayer>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db("opening a GeoPackage"))?;
    let mut layers: Vec<ForeignLayer> = conn
        .prepare(
            "SELECT table_name, column_name, srs_id, z, m FROM gpkg_geometry_columns ORDER BY table_name",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(ForeignLayer {
                    table: r.get(0)?,
                    geometry_column: r.get(1)?,
                    srs_id: r.get(2)?,
                    z: r.get(3)?,
                    m: r.get(4)?,
                    columns: Vec::new(),
                })
            })?
            .collect()
        })
        .map_err(|e| StoreError::NotAStore {
            path: path.display().to_string(),
            reason: format!(
                "not a GeoPackage with feature tables (不是含要素表的 GeoPackage): {e}"
            ),
        })?;
    for l in &mut layers {
        let sql = format!(
            "SELECT name, type, pk FROM pragma_table_info({})",
            quote(&l.table).replace('"', "'")
        );
        let cols: Vec<(String, String, i64)> = conn
            .prepare(&sql)
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(db("reading a GeoPackage schema"))?;
        l.columns = cols
            .into_iter()
            .filter(|(name, _, pk)| *pk == 0 && name != &l.geometry_column)
            .map(|(name, t, _)| (name, t.to_ascii_uppercase()))
            .collect();
    }
    Ok(layers)
}

/// Streams the rows of a feature table of any GeoPackage (read-only).
///
/// # Errors
/// Database errors and the visitor's errors.
pub fn read_foreign_layer(
    path: &Path,
    layer: &ForeignLayer,
    visit: &mut dyn FnMut(ForeignFeature) -> Result<()>,
) -> Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db("opening a GeoPackage"))?;
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {}", quote(&layer.table)))
        .map_err(db("reading a GeoPackage table"))?;
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let pk: Option<String> = conn
        .query_row(
            &format!(
                "SELECT name FROM pragma_table_info({}) WHERE pk = 1",
                quote(&layer.table).replace('"', "'")
            ),
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("reading a GeoPackage schema"))?;
    let mut rows = stmt.query([]).map_err(db("reading a GeoPackage table"))?;
    let mut index = 0;
    while let Some(r) = rows.next().map_err(db("reading a GeoPackage row"))? {
        let mut properties = Map::new();
        let mut geometry = Ok(None);
        for (i, name) in names.iter().enumerate() {
            let v = r.get_ref(i).map_err(db("reading a GeoPackage value"))?;
            if name == &layer.geometry_column {
                geometry = match v {
                    ValueRef::Blob(b) => wkb::from_gpkg(b).map(Some).map_err(|e| e.to_string()),
                    _ => Ok(None),
                };
            } else if Some(name) != pk.as_ref() {
                let boolean = layer
                    .columns
                    .iter()
                    .any(|(c, t)| c == name && t == "BOOLEAN");
                let value = match v {
                    ValueRef::Null | ValueRef::Blob(_) => Value::Null,
                    // GeoPackage keeps booleans as 0 and 1 in a column declared BOOLEAN.
                    ValueRef::Integer(n) if boolean => Value::Bool(n != 0),
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(f) => Value::from(f),
                    ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                };
                properties.insert(name.clone(), value);
            }
        }
        visit(ForeignFeature {
            index,
            properties,
            geometry,
        })?;
        index += 1;
    }
    Ok(())
}

/// Writes a plain GeoPackage holding one layer (no tudi tables): the export format.
///
/// # Errors
/// When the file exists or a feature does not fit the schema.
pub fn write_plain(
    path: &Path,
    def: &LayerDef,
    features: &mut dyn Iterator<Item = FeatureRow>,
) -> Result<u64> {
    if path.exists() {
        return Err(StoreError::NotAStore {
            path: path.display().to_string(),
            reason: "file already exists (文件已存在)".into(),
        });
    }
    let mut conn = Connection::open(path).map_err(db("creating a GeoPackage"))?;
    register_functions(&conn).map_err(db("registering GeoPackage functions"))?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db("starting a transaction"))?;
    init_file(&tx, false)?;
    create_feature_table(&tx, def, false)?;
    let mut n = 0u64;
    {
        let mut stmt = tx
            .prepare(&insert_sql(def, false))
            .map_err(db("preparing an insert"))?;
        for (index, (id, g, attrs)) in features.enumerate() {
            let (blob, values) = GeoPackageStore::encode(def, index, g, &attrs)?;
            let mut all = vec![SqlValue::Blob(blob), SqlValue::Text(id.to_string())];
            all.extend(values);
            stmt.execute(params_from_iter(all))
                .map_err(db("inserting a feature"))?;
            n += 1;
        }
    }
    create_feature_id_index(&tx, &def.name)?;
    GeoPackageStore::refresh_extent(&tx, &def.name, Timestamp::now())?;
    commit(tx, "committing an export")?;
    conn.pragma_update(None, "journal_mode", "DELETE")
        .map_err(db("finishing an export"))?;
    Ok(n)
}
