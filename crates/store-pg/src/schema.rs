//! tudi's tables in a district's schema, and their versioned migrations.
//!
//! Migrations run in one transaction under an advisory lock taken on the database, so servers
//! started at the same moment queue: the first migrates, the others find the work done. A
//! schema written by a newer tudi is refused with both versions named, and left untouched.

use tudi_store::{Result, StoreError};

use crate::sql::quote;
use crate::{PgStore, db};

/// Version of tudi's own tables in a district's schema (PostgreSQL's own numbering: 2 added
/// `tudi_revisions`, 3 keeps the audit head and the layer revision there too).
pub const SCHEMA_VERSION: &str = "3";

/// The advisory lock every migration holds (`tudi` in ASCII).
const MIGRATION_LOCK: i64 = 0x7475_6469;

/// Each version's statements, applied in order to reach it.
const MIGRATIONS: [(u32, &str); 3] = [(1, V1), (2, V2), (3, MIRROR_COUNTERS)];

const V1: &str = r#"
CREATE TABLE tudi_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE tudi_layers (
  id bigserial PRIMARY KEY, name text UNIQUE NOT NULL, title text NOT NULL, kind text NOT NULL,
  srs_id integer NOT NULL, geometry_type text NOT NULL, fields text NOT NULL, created_at text NOT NULL,
  revision bigint NOT NULL DEFAULT 0);
CREATE TABLE tudi_feature_history (
  hid bigserial PRIMARY KEY, layer text NOT NULL, feature_id uuid NOT NULL, version integer NOT NULL,
  valid_from text NOT NULL, valid_to text NOT NULL, op text NOT NULL,
  minx double precision, maxx double precision, miny double precision, maxy double precision,
  geom geometry, attributes text NOT NULL);
CREATE INDEX tudi_feature_history_feature ON tudi_feature_history (layer, feature_id, version);
CREATE INDEX tudi_feature_history_time ON tudi_feature_history (layer, valid_from, valid_to);
CREATE TABLE tudi_sequences (key text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE tudi_audit (
  seq bigint PRIMARY KEY, at text NOT NULL, actor text NOT NULL, action text NOT NULL,
  resource text NOT NULL, outcome text NOT NULL, before text, after text, request_id text,
  detail text, prev_hash text NOT NULL, hash text NOT NULL);
CREATE INDEX tudi_audit_resource ON tudi_audit (resource COLLATE "C", seq);
CREATE INDEX tudi_audit_actor ON tudi_audit (actor, seq);
CREATE TABLE tudi_audit_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), seq bigint NOT NULL, hash text);
INSERT INTO tudi_audit_head (seq) VALUES (0);
CREATE TABLE tudi_blobs (
  sha256 text PRIMARY KEY, content_type text NOT NULL, size bigint NOT NULL, data bytea NOT NULL,
  created_at text NOT NULL);
CREATE TABLE tudi_records (
  collection text NOT NULL, record_id text NOT NULL, version bigint NOT NULL, body text NOT NULL,
  updated_at text NOT NULL, PRIMARY KEY (collection, record_id));
CREATE TABLE tudi_record_keys (
  collection text NOT NULL, key text NOT NULL, value text NOT NULL, record_id text NOT NULL);
CREATE INDEX tudi_record_keys_lookup ON tudi_record_keys (collection, key, value, record_id COLLATE "C");
CREATE INDEX tudi_record_keys_record ON tudi_record_keys (collection, record_id);
"#;

/// Each scope's revision ([`tudi_store::Revisions`]): `settings`, `records:<collection>`; the
/// audit sequence number of the last commit that wrote it.
const V2: &str = r#"
CREATE TABLE tudi_revisions (scope text PRIMARY KEY, revision bigint NOT NULL);
"#;

/// The audit head's sequence number and the layer revision, copied into `tudi_revisions`
/// (scopes `records::AUDIT_SCOPE` and `records::LAYERS_SCOPE`), where every statement that moves
/// them keeps them from then on: the revisions are then read from one table, which costs
/// PostgreSQL a quarter less per reading than three, and every request makes one.
/// Also what a copy into the store runs after setting the head and the sequences.
pub(crate) const MIRROR_COUNTERS: &str = r#"
INSERT INTO tudi_revisions (scope, revision)
  SELECT 'audit', seq FROM tudi_audit_head
  UNION ALL SELECT 'layers', value FROM tudi_sequences WHERE key = 'tudi:layer-revision'
  ON CONFLICT (scope) DO UPDATE SET revision = EXCLUDED.revision;
"#;

fn refused(store: &PgStore, reason: String) -> StoreError {
    StoreError::NotAStore {
        path: format!("{} schema {}", store.target.label, store.target.schema),
        reason,
    }
}

/// What keeps a copy of a district's schema before it is migrated: called with the version
/// found, under the migration lock (servers starting together make one copy); an error stops
/// the migration with the schema untouched.
pub type KeepCopy<'a> = &'a (dyn Fn(u32) -> Result<()> + Sync);

/// Makes sure PostGIS, the schema and tudi's tables are there, at this version.
pub(crate) async fn prepare(store: &PgStore, keep: Option<KeepCopy<'_>>) -> Result<()> {
    let mut client = store.client("connecting").await?;
    let tx = client
        .transaction()
        .await
        .map_err(db("starting a migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db("waiting for other servers' migrations"))?;
    let postgis: Option<String> = tx
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'postgis'",
            &[],
        )
        .await
        .map_err(db("looking for PostGIS"))?
        .map(|r| r.get(0));
    if postgis.is_none() {
        let available = tx
            .query_opt(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'",
                &[],
            )
            .await
            .map_err(db("looking for PostGIS"))?
            .is_some();
        if !available {
            return Err(refused(
                store,
                "PostgreSQL has no PostGIS: install it (Debian: apt-get install \
                 postgresql-15-postgis-3) (数据库未安装 PostGIS)"
                    .into(),
            ));
        }
        tx.batch_execute("CREATE EXTENSION postgis SCHEMA public")
            .await
            .map_err(|e| {
                refused(
                    store,
                    format!(
                        "PostGIS is installed but not enabled in this database, and enabling it \
                         failed: {e}; ask its owner to run CREATE EXTENSION postgis \
                         (数据库未启用 PostGIS)"
                    ),
                )
            })?;
    }
    let schema = quote(&store.target.schema);
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}, public;"
    ))
    .await
    .map_err(db("creating the district's schema"))?;
    let has_meta = tx
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'tudi_meta'",
            &[&store.target.schema],
        )
        .await
        .map_err(db("reading the schema version"))?
        .is_some();
    let current: u32 = if has_meta {
        let text: Option<String> = tx
            .query_opt(
                "SELECT value FROM tudi_meta WHERE key = 'schema_version'",
                &[],
            )
            .await
            .map_err(db("reading the schema version"))?
            .map(|r| r.get(0));
        text.and_then(|t| t.parse().ok()).unwrap_or(0)
    } else {
        0
    };
    let ours: u32 = SCHEMA_VERSION.parse().unwrap_or(1);
    if current > ours {
        return Err(refused(
            store,
            format!(
                "its tables are of schema version {current}, made by a newer tudi; this tudi \
                 knows version {ours} and leaves them untouched (数据库结构版本 {current} 高于本程序的 \
                 {ours}，请升级 tudi)"
            ),
        ));
    }
    if current > 0
        && current < ours
        && let Some(keep) = keep
    {
        keep(current).map_err(|e| {
            refused(
                store,
                format!(
                    "its tables are of schema version {current} and must be migrated to {ours},                      but the copy kept first could not be made, so they were left untouched                      (需先备份再升级数据库结构，备份失败，未改动): {e}"
                ),
            )
        })?;
    }
    for (version, statements) in MIGRATIONS {
        if version <= current {
            continue;
        }
        tx.batch_execute(statements)
            .await
            .map_err(db("migrating tudi's tables"))?;
        tracing::info!(schema = %store.target.schema, version, "migrated");
    }
    if current < ours {
        tx.execute(
            "INSERT INTO tudi_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(db("writing the schema version"))?;
    }
    tx.commit().await.map_err(db("committing a migration"))
}
