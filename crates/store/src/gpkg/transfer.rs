//! Copying a GeoPackage store out whole, and filling an empty one (see [`crate::transfer`]).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};

use super::{GeoPackageStore, db, format_ts};
use crate::transfer::{Item, StoredEntry, Transfer};
use crate::{LayerDef, Result, StoreError};

/// Settings that belong to the file itself, not to the district: never copied.
const OWN_META: [&str; 2] = ["schema_version", "audit:indexed"];

fn emit_rows(
    conn: &Connection,
    sql: &str,
    emit: &mut dyn FnMut(Item) -> Result<()>,
    item: &dyn Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Item>,
) -> Result<()> {
    let mut stmt = conn.prepare(sql).map_err(db("exporting"))?;
    let mut rows = stmt.query([]).map_err(db("exporting"))?;
    while let Some(r) = rows.next().map_err(db("exporting"))? {
        emit(item(r).map_err(db("exporting"))?)?;
    }
    Ok(())
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl GeoPackageStore {
    fn export_in(conn: &Connection, emit: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        emit_rows(
            conn,
            "SELECT key, value FROM tudi_meta ORDER BY id",
            emit,
            &|r| {
                Ok(Item::Meta {
                    key: r.get(0)?,
                    value: r.get(1)?,
                })
            },
        )?;
        emit_rows(
            conn,
            "SELECT key, value FROM tudi_sequences ORDER BY id",
            emit,
            &|r| {
                Ok(Item::Sequence {
                    key: r.get(0)?,
                    value: count(r.get(1)?),
                })
            },
        )?;
        let layers: Vec<(String, i64)> = conn
            .prepare("SELECT name, revision FROM tudi_layers ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(db("exporting layers"))?;
        for (name, revision) in layers {
            let def = Self::load_def(conn, &name)?;
            emit(Item::Layer {
                def: def.clone(),
                revision: count(revision),
            })?;
            let sql = format!("{} ORDER BY feature_id", Self::select_current_sql(&def));
            emit_rows(conn, &sql, emit, &|r| {
                Ok(Item::Feature {
                    layer: name.clone(),
                    record: Self::read_current(&def, r)?.record,
                })
            })?;
            let mut stmt = conn
                .prepare(
                    "SELECT feature_id, geom, attributes, version, valid_from, valid_to, op
                     FROM tudi_feature_history WHERE layer = ?1 ORDER BY hid",
                )
                .map_err(db("exporting history"))?;
            let mut rows = stmt.query(params![name]).map_err(db("exporting history"))?;
            while let Some(r) = rows.next().map_err(db("exporting history"))? {
                emit(Item::History {
                    layer: name.clone(),
                    record: Self::read_history(r).map_err(db("exporting history"))?,
                    op: r.get(6).map_err(db("exporting history"))?,
                })?;
            }
        }
        emit_rows(
            conn,
            "SELECT collection, record_id, version, body, updated_at FROM tudi_records ORDER BY id",
            emit,
            &|r| {
                Ok(Item::Record {
                    collection: r.get(0)?,
                    id: r.get(1)?,
                    version: count(r.get(2)?),
                    body: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            },
        )?;
        emit_rows(
            conn,
            "SELECT collection, key, value, record_id FROM tudi_record_keys ORDER BY id",
            emit,
            &|r| {
                Ok(Item::RecordKey {
                    collection: r.get(0)?,
                    key: r.get(1)?,
                    value: r.get(2)?,
                    record_id: r.get(3)?,
                })
            },
        )?;
        emit_rows(
            conn,
            "SELECT sha256, content_type, data, created_at FROM tudi_blobs ORDER BY id",
            emit,
            &|r| {
                Ok(Item::Blob {
                    sha256: r.get(0)?,
                    content_type: r.get(1)?,
                    bytes: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )?;
        emit_rows(
            conn,
            "SELECT seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash
             FROM tudi_audit ORDER BY seq",
            emit,
            &|r| {
                Ok(Item::Audit(StoredEntry {
                    seq: count(r.get(0)?),
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    resource: r.get(4)?,
                    outcome: r.get(5)?,
                    before: r.get(6)?,
                    after: r.get(7)?,
                    request_id: r.get(8)?,
                    detail: r.get(9)?,
                    prev_hash: r.get(10)?,
                    hash: r.get(11)?,
                }))
            },
        )?;
        let head: Option<i64> = conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'tudi_audit'",
                [],
                |r| r.get(0),
            )
            .ok();
        if let Some(seq) = head {
            emit(Item::AuditHead { seq: count(seq) })?;
        }
        Ok(())
    }

    fn import_in(
        tx: &Connection,
        items: &mut dyn Iterator<Item = Result<Item>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let used: i64 = tx
            .query_row(
                "SELECT (SELECT count(*) FROM tudi_layers) + (SELECT count(*) FROM tudi_audit) + (SELECT count(*) FROM tudi_records)",
                [],
                |r| r.get(0),
            )
            .map_err(db("checking the target"))?;
        if used > 0 {
            return Err(StoreError::Schema(
                "the target store is not empty (目标数据库不是空的)".into(),
            ));
        }
        let mut layer: Option<LayerDef> = None;
        let mut n = 0_u64;
        let mut last_seq = 0_u64;
        // Written last: making the layers advances the revision counter.
        let mut sequences = Vec::new();
        for item in items {
            match item? {
                Item::Meta { key, value } => {
                    if !OWN_META.contains(&key.as_str()) {
                        tx.execute(
                            "INSERT INTO tudi_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                            params![key, value],
                        )
                        .map_err(db("copying settings"))?;
                    }
                }
                Item::Sequence { key, value } => {
                    let v = i64::try_from(value)
                        .map_err(|_| StoreError::SequenceOverflow(key.clone()))?;
                    sequences.push((key, v));
                }
                Item::Layer { def, revision } => {
                    if let Some(done) = layer.take() {
                        super::create_feature_id_index(tx, &done.name)?;
                        Self::refresh_extent(tx, &done.name, jiff::Timestamp::now())?;
                    }
                    Self::create_in(tx, &def)?;
                    tx.execute(
                        "UPDATE tudi_layers SET revision = ?2 WHERE name = ?1",
                        params![def.name, i64::try_from(revision).unwrap_or(i64::MAX)],
                    )
                    .map_err(db("copying a layer"))?;
                    layer = Some(def);
                }
                Item::Feature {
                    layer: name,
                    record,
                } => {
                    let def = layer
                        .as_ref()
                        .filter(|d| d.name == name)
                        .ok_or_else(|| StoreError::UnknownLayer(name.clone()))?;
                    let (blob, values) = Self::encode(def, 0, record.geometry, &record.attributes)?;
                    let mut all: Vec<SqlValue> =
                        vec![SqlValue::Blob(blob), SqlValue::Text(record.id.to_string())];
                    all.extend(values);
                    all.push(SqlValue::Integer(i64::from(record.version)));
                    all.push(SqlValue::Text(format_ts(record.valid_from)));
                    tx.prepare_cached(&super::insert_sql(def, true))
                        .and_then(|mut s| s.execute(params_from_iter(all)))
                        .map_err(db("copying a feature"))?;
                }
                Item::History {
                    layer: name,
                    record,
                    op,
                } => {
                    let def = layer
                        .as_ref()
                        .filter(|d| d.name == name)
                        .ok_or_else(|| StoreError::UnknownLayer(name.clone()))?;
                    let to = record.valid_to.unwrap_or(record.valid_from);
                    Self::insert_history(tx, def, &record, to, &op)?;
                }
                Item::Record {
                    collection,
                    id,
                    version,
                    body,
                    updated_at,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO tudi_records (collection, record_id, version, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            collection,
                            id,
                            i64::try_from(version).unwrap_or(i64::MAX),
                            body,
                            updated_at
                        ])
                    })
                    .map_err(db("copying a record"))?;
                }
                Item::RecordKey {
                    collection,
                    key,
                    value,
                    record_id,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO tudi_record_keys (collection, key, value, record_id) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .and_then(|mut s| s.execute(params![collection, key, value, record_id]))
                    .map_err(db("copying record keys"))?;
                }
                Item::Blob {
                    sha256,
                    content_type,
                    bytes,
                    created_at,
                } => {
                    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
                    tx.execute(
                        "INSERT INTO tudi_blobs (sha256, content_type, size, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![sha256, content_type, size, bytes, created_at],
                    )
                    .map_err(db("copying a file"))?;
                }
                Item::Audit(e) => {
                    last_seq = e.seq;
                    tx.prepare_cached(
                        "INSERT INTO tudi_audit (seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            i64::try_from(e.seq).unwrap_or(i64::MAX),
                            e.at,
                            e.actor,
                            e.action,
                            e.resource,
                            e.outcome,
                            e.before,
                            e.after,
                            e.request_id,
                            e.detail,
                            e.prev_hash,
                            e.hash
                        ])
                    })
                    .map_err(db("copying the audit chain"))?;
                }
                Item::AuditHead { seq } => {
                    last_seq = last_seq.max(seq);
                    tx.execute(
                        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'tudi_audit'",
                        params![i64::try_from(seq).unwrap_or(i64::MAX)],
                    )
                    .map_err(db("copying the audit head"))?;
                }
            }
            n += 1;
            if n.is_multiple_of(10_000) {
                progress(n);
            }
        }
        if let Some(done) = layer.take() {
            super::create_feature_id_index(tx, &done.name)?;
            Self::refresh_extent(tx, &done.name, jiff::Timestamp::now())?;
        }
        for (key, v) in sequences {
            tx.execute(
                "INSERT INTO tudi_sequences (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![key, v],
            )
            .map_err(db("copying sequences"))?;
        }
        // The resource index covers every copied entry.
        tx.execute_batch(
            "INSERT OR IGNORE INTO tudi_audit_index (resource, seq) SELECT resource, seq FROM tudi_audit",
        )
        .map_err(db("indexing the audit chain"))?;
        tx.execute(
            "INSERT INTO tudi_meta (key, value) VALUES ('audit:indexed', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
            params![last_seq.to_string()],
        )
        .map_err(db("indexing the audit chain"))?;
        progress(n);
        Ok(n)
    }
}

impl Transfer for GeoPackageStore {
    fn export_all(&self, emit: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        let conn = self.read();
        conn.execute_batch("BEGIN")
            .map_err(db("starting a read transaction"))?;
        let outcome = Self::export_in(&conn, emit);
        if let Err(e) = conn.execute_batch("COMMIT") {
            tracing::warn!(error = %e, "ending a read transaction failed");
        }
        outcome
    }

    fn import_all(
        &self,
        items: &mut dyn Iterator<Item = Result<Item>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db("starting a transaction"))?;
        let n = Self::import_in(&tx, items, progress)?;
        super::commit(tx, "committing a copy")?;
        Ok(n)
    }
}
