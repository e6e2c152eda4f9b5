//! Records and the audit chain in the GeoPackage file (`tudi_records`, `tudi_record_keys`,
//! `tudi_audit`). Every function here runs on a connection the caller holds, inside the caller's
//! transaction where it writes.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{db, format_ts, parse_ts};
use crate::audit::{self, AuditEntry, AuditReport, Outcome, Verifier};
use crate::{AuditQuery, Change, Record, RecordPage, RecordQuery, RecordWrite, Result, StoreError};

/// How many entries the resource index lags behind at most. Indexing each entry as it is
/// appended would dirty one more page per commit, the larger part of the audit's cost on a small
/// write; indexed in batches, the pages are shared by the batch, and a history query reads the
/// few entries not yet indexed directly.
const INDEX_BATCH: u64 = 64;

/// `tudi_meta` key: entries up to this sequence number are in `tudi_audit_index`.
const INDEXED_KEY: &str = "audit:indexed";

fn indexed_upto(conn: &Connection) -> Result<u64> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM tudi_meta WHERE key = ?1")
        .and_then(|mut s| s.query_row(params![INDEXED_KEY], |r| r.get(0)).optional())
        .map_err(db("reading the audit index position"))?;
    Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
}

/// Indexes every entry not yet indexed, at each batch boundary of the sequence (so an append
/// between boundaries reads nothing more).
fn index_batch(tx: &Connection, last_seq: u64) -> Result<()> {
    if !last_seq.is_multiple_of(INDEX_BATCH) {
        return Ok(());
    }
    let from = indexed_upto(tx)?;
    let from_i = i64::try_from(from).map_err(|_| StoreError::SequenceOverflow("audit".into()))?;
    tx.prepare_cached(
        "INSERT OR IGNORE INTO tudi_audit_index (resource, seq) SELECT resource, seq FROM tudi_audit WHERE seq > ?1",
    )
    .and_then(|mut s| s.execute(params![from_i]))
    .map_err(db("indexing the audit log"))?;
    tx.prepare_cached(
        "INSERT INTO tudi_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
    )
    .and_then(|mut s| s.execute(params![INDEXED_KEY, last_seq.to_string()]))
    .map_err(db("recording the audit index position"))?;
    Ok(())
}

/// The last sequence number ever issued to the audit chain. `tudi_audit.seq` is AUTOINCREMENT,
/// so SQLite keeps it in `sqlite_sequence` as part of the insert itself: a tail cut off the table
/// leaves it behind, and the next entry continues after it, so the cut stays visible. Keeping the
/// head there instead of in a row of its own saves a page per commit (the audit's main cost).
fn issued_head(conn: &Connection) -> Result<Option<u64>> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'tudi_audit'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(db("reading the audit head"))?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()).filter(|s| *s > 0))
}

/// The sequence number and hash of the last entry present.
fn last_entry(conn: &Connection) -> Result<Option<(u64, String)>> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM tudi_audit ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(db("reading the audit head"))?;
    Ok(row.and_then(|(seq, hash)| Some((u64::try_from(seq).ok()?, hash))))
}

pub(super) fn append_audit(
    tx: &Connection,
    change: &Change,
    resource: &str,
    outcome: Outcome,
    before: Option<String>,
    after: Option<String>,
    detail: Option<Value>,
) -> Result<()> {
    let prev_hash = last_entry(tx)?.map_or_else(|| audit::GENESIS.to_owned(), |(_, hash)| hash);
    let last_seq = issued_head(tx)?.unwrap_or(0);
    let (entry, at_text) = crate::rules::chain_entry(
        last_seq + 1,
        prev_hash,
        change,
        crate::rules::Appended {
            resource: resource.to_owned(),
            outcome,
            before,
            after,
            detail,
        },
    );
    let seq = i64::try_from(entry.seq).map_err(|_| StoreError::SequenceOverflow("audit".into()))?;
    tx.prepare_cached(
        "INSERT INTO tudi_audit (seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            at_text,
            entry.actor,
            entry.action,
            entry.resource,
            entry.outcome.as_str(),
            entry.before,
            entry.after,
            entry.request_id,
            entry.detail.as_ref().map(Value::to_string),
            entry.prev_hash,
            entry.hash,
        ])
    })
    .map_err(db("appending to the audit log"))?;
    index_batch(tx, entry.seq)
}

fn read_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_record(
    (collection, id, version, body, updated): (String, String, i64, String, String),
) -> Result<Record> {
    let body = serde_json::from_str(&body).map_err(|e| StoreError::Database {
        doing: "decoding a record",
        source: Box::new(e),
    })?;
    Ok(Record {
        collection,
        id,
        version: u64::try_from(version).unwrap_or(0),
        body,
        updated_at: parse_ts(&updated),
    })
}

pub(super) fn get(conn: &Connection, collection: &str, id: &str) -> Result<Option<Record>> {
    conn.prepare_cached(
        "SELECT collection, record_id, version, body, updated_at FROM tudi_records WHERE collection = ?1 AND record_id = ?2",
    )
    .and_then(|mut s| s.query_row(params![collection, id], read_record).optional())
    .map_err(db("reading a record"))?
    .map(to_record)
    .transpose()
}

pub(super) fn find(conn: &Connection, collection: &str, query: &RecordQuery) -> Result<RecordPage> {
    let limit = query
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    let (rows, total) = match &query.key {
        None => {
            let total: i64 = conn
                .prepare_cached("SELECT count(*) FROM tudi_records WHERE collection = ?1")
                .and_then(|mut s| s.query_row(params![collection], |r| r.get(0)))
                .map_err(db("counting records"))?;
            let rows = conn
                .prepare_cached(if query.descending {
                    "SELECT collection, record_id, version, body, updated_at FROM tudi_records
                     WHERE collection = ?1 ORDER BY record_id DESC LIMIT ?2 OFFSET ?3"
                } else {
                    "SELECT collection, record_id, version, body, updated_at FROM tudi_records
                     WHERE collection = ?1 ORDER BY record_id LIMIT ?2 OFFSET ?3"
                })
                .and_then(|mut s| {
                    s.query_map(params![collection, limit, offset], read_record)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db("listing records"))?;
            (rows, total)
        }
        Some((key, value)) => {
            let total: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM tudi_record_keys WHERE collection = ?1 AND key = ?2 AND value = ?3",
                )
                .and_then(|mut s| s.query_row(params![collection, key, value], |r| r.get(0)))
                .map_err(db("counting records"))?;
            // The page's ids come from the key index alone; only they are joined to their
            // records, so a deep page does not read the records it skips.
            let rows = conn
                .prepare_cached(if query.descending {
                    "SELECT r.collection, r.record_id, r.version, r.body, r.updated_at
                     FROM (SELECT record_id FROM tudi_record_keys
                           WHERE collection = ?1 AND key = ?2 AND value = ?3
                           ORDER BY record_id DESC LIMIT ?4 OFFSET ?5) k
                     JOIN tudi_records r ON r.collection = ?1 AND r.record_id = k.record_id
                     ORDER BY k.record_id DESC"
                } else {
                    "SELECT r.collection, r.record_id, r.version, r.body, r.updated_at
                     FROM (SELECT record_id FROM tudi_record_keys
                           WHERE collection = ?1 AND key = ?2 AND value = ?3
                           ORDER BY record_id LIMIT ?4 OFFSET ?5) k
                     JOIN tudi_records r ON r.collection = ?1 AND r.record_id = k.record_id
                     ORDER BY k.record_id"
                })
                .and_then(|mut s| {
                    s.query_map(params![collection, key, value, limit, offset], read_record)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db("listing records"))?;
            (rows, total)
        }
    };
    Ok(RecordPage {
        records: rows.into_iter().map(to_record).collect::<Result<_>>()?,
        total: u64::try_from(total).unwrap_or(0),
    })
}

pub(super) fn write(tx: &Connection, change: &Change, writes: &[RecordWrite]) -> Result<Vec<u64>> {
    let at = format_ts(change.at);
    let mut versions = Vec::with_capacity(writes.len());
    for w in writes {
        crate::rules::check_names(w)?;
        let current: Option<(i64, String)> = tx
            .prepare_cached(
                "SELECT version, body FROM tudi_records WHERE collection = ?1 AND record_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![w.collection, w.id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db("reading a record"))?;
        let found = current
            .as_ref()
            .map(|(v, _)| u64::try_from(*v).unwrap_or(0));
        crate::rules::check_expectation(w, found)?;
        // Digests of the stored text: the next write's "before" is this one's "after".
        let before = current
            .as_ref()
            .map(|(_, body)| audit::sha256_hex(body.as_bytes()));
        tx.prepare_cached("DELETE FROM tudi_record_keys WHERE collection = ?1 AND record_id = ?2")
            .and_then(|mut s| s.execute(params![w.collection, w.id]))
            .map_err(db("updating record keys"))?;
        let (version, after) = match &w.body {
            None => {
                tx.prepare_cached(
                    "DELETE FROM tudi_records WHERE collection = ?1 AND record_id = ?2",
                )
                .and_then(|mut s| s.execute(params![w.collection, w.id]))
                .map_err(db("deleting a record"))?;
                (0, None)
            }
            Some(body) => {
                let version = found.unwrap_or(0) + 1;
                let v = i64::try_from(version)
                    .map_err(|_| StoreError::SequenceOverflow(w.collection.clone()))?;
                let text = body.to_string();
                tx.prepare_cached(
                    "INSERT INTO tudi_records (collection, record_id, version, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(collection, record_id) DO UPDATE SET version = ?3, body = ?4, updated_at = ?5",
                )
                .and_then(|mut s| s.execute(params![w.collection, w.id, v, text, at]))
                .map_err(db("writing a record"))?;
                for (key, value) in &w.keys {
                    tx.prepare_cached(
                        "INSERT INTO tudi_record_keys (collection, key, value, record_id) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .and_then(|mut s| s.execute(params![w.collection, key, value, w.id]))
                    .map_err(db("writing record keys"))?;
                }
                (version, Some(audit::sha256_hex(text.as_bytes())))
            }
        };
        append_audit(
            tx,
            change,
            &format!("{}:{}", w.collection, w.id),
            Outcome::Done,
            before,
            after,
            w.detail.clone(),
        )?;
        versions.push(version);
    }
    Ok(versions)
}

type AuditRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

const AUDIT_COLUMNS: &str =
    "seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash";

fn read_audit(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

/// Decodes a row; `Err` carries the sequence number and hash of a row that cannot be read.
fn to_entry(row: AuditRow) -> std::result::Result<AuditEntry, (u64, String)> {
    let (seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev, hash) =
        row;
    let seq = u64::try_from(seq).unwrap_or(0);
    let at: Option<Timestamp> = at.parse().ok();
    let outcome_parsed = Outcome::parse(&outcome);
    let detail = match detail {
        None => Some(None),
        Some(text) => serde_json::from_str(&text).ok().map(Some),
    };
    match (at, outcome_parsed, detail) {
        (Some(at), Some(outcome), Some(detail)) => Ok(AuditEntry {
            seq,
            at,
            actor,
            action,
            resource,
            outcome,
            before,
            after,
            request_id,
            detail,
            prev_hash: prev,
            hash,
        }),
        _ => Err((seq, hash)),
    }
}

pub(super) fn trail(conn: &Connection, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let mut conds = Vec::new();
    let mut args: Vec<String> = Vec::new();
    if let Some(r) = &query.resource {
        args.push(r.clone());
        let n = args.len();
        let indexed = indexed_upto(conn)?;
        // `/` sorts just before `0`: the range holds exactly the resources under `r/`. Entries of
        // the batch not yet indexed are matched directly (at most `INDEX_BATCH` rows).
        let matches =
            format!("(resource = ?{n} OR (resource >= ?{n} || '/' AND resource < ?{n} || '0'))");
        conds.push(format!(
            "seq IN (SELECT seq FROM tudi_audit_index WHERE {matches} \
             UNION ALL SELECT seq FROM tudi_audit WHERE seq > {indexed} AND {matches})"
        ));
    }
    if let Some(a) = &query.actor {
        args.push(a.clone());
        conds.push(format!("actor = ?{}", args.len()));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let limit = query
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    // SQLite's OFFSET is a signed 64-bit integer: a larger one is past the end anyway.
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM tudi_audit {filter} ORDER BY seq DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = conn
        .prepare(&sql)
        .and_then(|mut s| {
            s.query_map(rusqlite::params_from_iter(args), read_audit)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db("reading the audit log"))?;
    Ok(rows.into_iter().filter_map(|r| to_entry(r).ok()).collect())
}

pub(super) fn verify(conn: &Connection) -> Result<AuditReport> {
    let head = issued_head(conn)?;
    let mut verifier = Verifier::default();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {AUDIT_COLUMNS} FROM tudi_audit ORDER BY seq"
        ))
        .map_err(db("reading the audit log"))?;
    let mut rows = stmt.query([]).map_err(db("reading the audit log"))?;
    while let Some(row) = rows.next().map_err(db("reading the audit log"))? {
        match read_audit(row).map(to_entry) {
            Ok(Ok(entry)) => verifier.push(&entry),
            Ok(Err((seq, hash))) => verifier.unreadable(seq, hash),
            Err(e) => return Err(db("reading the audit log")(e)),
        }
    }
    Ok(verifier.finish(head))
}
