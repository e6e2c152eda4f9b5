//! Records, metadata, sequences, files and the audit chain in PostgreSQL.

use deadpool_postgres::{GenericClient, Transaction};
use futures_util::{StreamExt, pin_mut};
use jiff::Timestamp;
use serde_json::Value;
use tudi_store::audit::{self, AuditEntry, AuditReport, Outcome, Verifier};
use tudi_store::rules::{self, format_ts, parse_ts};
use tudi_store::{
    AuditQuery, Change, Record, RecordPage, RecordQuery, RecordWrite, Result, StoreError,
};

use crate::db;

/// A writing transaction that holds the audit chain's head: every entry it appends follows the
/// last one committed by anyone, and nobody else appends until it ends. Entries are chained in
/// memory as they are appended and written in one statement at commit (the head is held, so no
/// one else can take their numbers).
pub(crate) struct Writer<'a> {
    pub(crate) tx: Transaction<'a>,
    issued: u64,
    prev_hash: String,
    pending: Vec<(AuditEntry, String)>,
    /// The scopes of [`tudi_store::Revisions`] this transaction wrote: their revisions move at
    /// commit.
    touched: Vec<String>,
}

/// Where a writer stood: what [`Writer::back_to`] returns to after a savepoint is rolled back.
pub(crate) struct Mark {
    issued: u64,
    prev_hash: String,
    pending: usize,
    touched: usize,
}

/// The revision scope of the settings (`tudi_revisions.scope`).
pub(crate) const SETTINGS_SCOPE: &str = "settings";
/// The revision scope of a record collection is this and the collection's name.
pub(crate) const RECORDS_SCOPE: &str = "records:";
/// The row of `tudi_revisions` that holds the audit head's sequence number.
pub(crate) const AUDIT_SCOPE: &str = "audit";
/// The row of `tudi_revisions` that holds the layer revision (sequence `LAYER_REVISION`).
pub(crate) const LAYERS_SCOPE: &str = "layers";
/// The sequence every layer change advances: a layer's revision is the value it took.
pub(crate) const LAYER_REVISION: &str = "tudi:layer-revision";

fn overflow() -> StoreError {
    StoreError::SequenceOverflow("audit".into())
}

impl<'a> Writer<'a> {
    pub(crate) async fn begin(client: &'a mut deadpool_postgres::Object) -> Result<Self> {
        let tx = client
            .transaction()
            .await
            .map_err(db("starting a transaction"))?;
        let row = tx
            .query_one(
                // The head row holds the last hash too: a subquery here would read the
                // snapshot taken before the lock was granted, and fork the chain.
                "SELECT seq, hash FROM tudi_audit_head FOR UPDATE",
                &[],
            )
            .await
            .map_err(db("taking the audit head"))?;
        let issued: i64 = row.get(0);
        let prev: Option<String> = row.get(1);
        Ok(Self {
            tx,
            issued: u64::try_from(issued).map_err(|_| overflow())?,
            prev_hash: prev.unwrap_or_else(|| audit::GENESIS.to_owned()),
            pending: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Appends an entry in this transaction (written at commit).
    pub(crate) fn append(
        &mut self,
        change: &Change,
        resource: &str,
        outcome: Outcome,
        before: Option<String>,
        after: Option<String>,
        detail: Option<Value>,
    ) {
        let (entry, at_text) = rules::chain_entry(
            self.issued + 1,
            std::mem::take(&mut self.prev_hash),
            change,
            rules::Appended {
                resource: resource.to_owned(),
                outcome,
                before,
                after,
                detail,
            },
        );
        self.issued = entry.seq;
        self.prev_hash.clone_from(&entry.hash);
        self.pending.push((entry, at_text));
    }

    /// This transaction writes `scope` ([`SETTINGS_SCOPE`], [`RECORDS_SCOPE`]`<collection>`).
    pub(crate) fn touch(&mut self, scope: String) {
        if !self.touched.contains(&scope) {
            self.touched.push(scope);
        }
    }

    /// A record was written in this transaction: its collection's revision moves at commit, and
    /// its audit entry is appended.
    fn record_written(
        &mut self,
        change: &Change,
        write: &RecordWrite,
        before: Option<String>,
        after: Option<String>,
    ) {
        self.touch(format!("{RECORDS_SCOPE}{}", write.collection));
        self.append(
            change,
            &format!("{}:{}", write.collection, write.id),
            Outcome::Done,
            before,
            after,
            write.detail.clone(),
        );
    }

    /// Where the writer stands now.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            issued: self.issued,
            prev_hash: self.prev_hash.clone(),
            pending: self.pending.len(),
            touched: self.touched.len(),
        }
    }

    /// Forgets the entries appended since `mark` (their work was rolled back to a savepoint).
    pub(crate) fn back_to(&mut self, mark: Mark) {
        self.issued = mark.issued;
        self.prev_hash = mark.prev_hash;
        self.pending.truncate(mark.pending);
        self.touched.truncate(mark.touched);
    }

    /// Writes the entries appended, moves the head past them and the revisions of the scopes
    /// written to the head, in one statement.
    async fn write_entries(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // The head moves with every entry, and its copy in `tudi_revisions` with it.
        self.touch(AUDIT_SCOPE.to_owned());
        let mut cols: [Vec<Option<String>>; 10] = Default::default();
        let mut seqs = Vec::with_capacity(self.pending.len());
        for (entry, at_text) in &self.pending {
            seqs.push(i64::try_from(entry.seq).map_err(|_| overflow())?);
            let values = [
                Some(at_text.clone()),
                Some(entry.actor.clone()),
                Some(entry.action.clone()),
                Some(entry.resource.clone()),
                Some(entry.outcome.as_str().to_owned()),
                entry.before.clone(),
                entry.after.clone(),
                entry.request_id.clone(),
                entry.detail.as_ref().map(Value::to_string),
                Some(entry.prev_hash.clone()),
            ];
            for (col, v) in cols.iter_mut().zip(values) {
                col.push(v);
            }
        }
        let hashes: Vec<&str> = self.pending.iter().map(|(e, _)| e.hash.as_str()).collect();
        let head = i64::try_from(self.issued).map_err(|_| overflow())?;
        let statement = self
            .tx
            .prepare_cached(
                "WITH head AS (UPDATE tudi_audit_head SET seq = $1, hash = $2),
                      moved AS (INSERT INTO tudi_revisions (scope, revision) SELECT unnest($15::text[]), $1
                                ON CONFLICT (scope) DO UPDATE SET revision = EXCLUDED.revision)
                 INSERT INTO tudi_audit (seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash)
                 SELECT * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                                      $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])",
            )
            .await
            .map_err(db("appending to the audit log"))?;
        // In the order of the INSERT's columns: head, then each column's array.
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            vec![&head, &self.prev_hash, &seqs];
        params.extend(
            cols.iter()
                .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync)),
        );
        params.push(&hashes);
        params.push(&self.touched);
        self.tx
            .execute(&statement, &params)
            .await
            .map_err(db("appending to the audit log"))?;
        self.pending.clear();
        self.touched.clear();
        Ok(())
    }

    /// Writes the entries and commits.
    pub(crate) async fn commit(mut self) -> Result<()> {
        self.write_entries().await?;
        let started = std::time::Instant::now();
        let done = self.tx.commit().await.map_err(db("committing"));
        metrics::histogram!("tudi_store_commit_seconds", "backend" => "postgres")
            .record(started.elapsed());
        done
    }
}

/// The next value of sequence `key` (at least `floor + 1`).
pub(crate) async fn advance_sequence(c: &impl GenericClient, key: &str, floor: u64) -> Result<u64> {
    take_numbers(c, key, floor, 1).await
}

/// Takes the next `count` numbers of sequence `key` in one statement; returns the last of them.
pub(crate) async fn advance_sequence_by(
    c: &impl GenericClient,
    key: &str,
    count: u64,
) -> Result<u64> {
    take_numbers(c, key, 0, count).await
}

/// Moves sequence `key` to at least `floor`, then `count` further; returns where it stands.
async fn take_numbers(c: &impl GenericClient, key: &str, floor: u64, count: u64) -> Result<u64> {
    let overflow = || StoreError::SequenceOverflow(key.into());
    let floor = i64::try_from(floor).map_err(|_| overflow())?;
    let count = i64::try_from(count).map_err(|_| overflow())?;
    let statement = c
        .prepare_cached(
            "INSERT INTO tudi_sequences (key, value) VALUES ($1, $2::bigint + $3::bigint)
             ON CONFLICT (key) DO UPDATE SET value = greatest(tudi_sequences.value, $2::bigint) + $3::bigint
             RETURNING value",
        )
        .await
        .map_err(db("advancing a sequence"))?;
    let v: i64 = c
        .query_one(&statement, &[&key, &floor, &count])
        .await
        .map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::NUMERIC_VALUE_OUT_OF_RANGE) {
                overflow()
            } else {
                db("advancing a sequence")(e)
            }
        })?
        .get(0);
    u64::try_from(v).map_err(|_| overflow())
}

/// Whether every write makes a new record (expected absent, with a body, well named): such
/// writes need no read before them, so several callers' can be sent together.
pub(crate) fn all_new(writes: &[RecordWrite]) -> bool {
    writes.iter().all(|w| {
        matches!(w.expect, tudi_store::Expect::Absent)
            && w.body.is_some()
            && rules::check_names(w).is_ok()
    })
}

/// Inserts the new records of several callers (each [`all_new`]) in one round trip, appending
/// each one's audit entry in order. Any failure (a record there after all) is the caller's to
/// undo: it rolls back and writes them one by one, which tells each caller what it would have
/// been told alone.
pub(crate) async fn insert_new_together(
    w: &mut Writer<'_>,
    callers: &[(&Change, &[RecordWrite])],
) -> Result<()> {
    // Two statements for the whole batch, whatever its size: the statements' own cost, not the
    // rows, is what PostgreSQL spends most on for small records.
    let insert =
        w.tx.prepare_cached(
            "INSERT INTO tudi_records (collection, record_id, version, body, updated_at)
             SELECT c, i, 1, b, a FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(c, i, b, a)",
        )
        .await
        .map_err(db("writing records"))?;
    let insert_keys =
        w.tx.prepare_cached(
            "INSERT INTO tudi_record_keys (collection, key, value, record_id)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
        )
        .await
        .map_err(db("writing record keys"))?;
    let mut records: [Vec<&str>; 2] = Default::default();
    let (mut bodies, mut ats) = (Vec::new(), Vec::new());
    let mut keys: [Vec<&str>; 4] = Default::default();
    for (change, writes) in callers {
        let at = format_ts(change.at);
        for write in *writes {
            let text = write
                .body
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default();
            w.record_written(
                change,
                write,
                None,
                Some(audit::sha256_hex(text.as_bytes())),
            );
            records[0].push(&write.collection);
            records[1].push(&write.id);
            bodies.push(text);
            ats.push(at.clone());
            for (k, v) in &write.keys {
                keys[0].push(&write.collection);
                keys[1].push(k);
                keys[2].push(v);
                keys[3].push(&write.id);
            }
        }
    }
    let tx = &w.tx;
    // Sent together (pipelined): one round trip.
    let record_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&records[0], &records[1], &bodies, &ats];
    let stored = tx.execute(&insert, &record_params);
    let indexed = async {
        if keys[0].is_empty() {
            return Ok(0);
        }
        tx.execute(&insert_keys, &[&keys[0], &keys[1], &keys[2], &keys[3]])
            .await
    };
    futures_util::future::try_join(stored, indexed)
        .await
        .map_err(db("writing records made together"))?;
    Ok(())
}

fn to_record(row: &tokio_postgres::Row) -> Result<Record> {
    let body: String = row.get(3);
    let updated: String = row.get(4);
    let version: i64 = row.get(2);
    Ok(Record {
        collection: row.get(0),
        id: row.get(1),
        version: u64::try_from(version).unwrap_or(0),
        body: serde_json::from_str(&body).map_err(|e| StoreError::Database {
            doing: "decoding a record",
            source: Box::new(e),
        })?,
        updated_at: parse_ts(&updated),
    })
}

pub(crate) async fn get(
    c: &impl GenericClient,
    collection: &str,
    id: &str,
) -> Result<Option<Record>> {
    let statement = c
        .prepare_cached(
            "SELECT collection, record_id, version, body, updated_at FROM tudi_records
             WHERE collection = $1 AND record_id = $2",
        )
        .await
        .map_err(db("reading a record"))?;
    c.query_opt(&statement, &[&collection, &id])
        .await
        .map_err(db("reading a record"))?
        .as_ref()
        .map(to_record)
        .transpose()
}

pub(crate) async fn find(
    c: &impl GenericClient,
    collection: &str,
    query: &RecordQuery,
) -> Result<RecordPage> {
    let limit = query.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    // One statement: the page and the total are of the same instant.
    let rows = match &query.key {
        None => {
            let statement = c
                .prepare_cached(if query.descending {
                    "SELECT collection, record_id, version, body, updated_at, count(*) OVER ()
                     FROM tudi_records WHERE collection = $1
                     ORDER BY record_id COLLATE \"C\" DESC LIMIT $2 OFFSET $3"
                } else {
                    "SELECT collection, record_id, version, body, updated_at, count(*) OVER ()
                     FROM tudi_records WHERE collection = $1
                     ORDER BY record_id COLLATE \"C\" LIMIT $2 OFFSET $3"
                })
                .await
                .map_err(db("listing records"))?;
            c.query(&statement, &[&collection, &limit, &offset]).await
        }
        Some((key, value)) => {
            // The page's ids come from the key index alone and only they are joined to their
            // records; the count is over the index too. One statement: one instant.
            let statement = c
                .prepare_cached(if query.descending {
                    "WITH page AS (
                       SELECT record_id FROM tudi_record_keys
                       WHERE collection = $1 AND key = $2 AND value = $3
                       ORDER BY record_id COLLATE \"C\" DESC LIMIT $4 OFFSET $5)
                     SELECT r.collection, r.record_id, r.version, r.body, r.updated_at,
                       (SELECT count(*) FROM tudi_record_keys
                        WHERE collection = $1 AND key = $2 AND value = $3)
                     FROM page JOIN tudi_records r
                       ON r.collection = $1 AND r.record_id = page.record_id
                     ORDER BY r.record_id COLLATE \"C\" DESC"
                } else {
                    "WITH page AS (
                       SELECT record_id FROM tudi_record_keys
                       WHERE collection = $1 AND key = $2 AND value = $3
                       ORDER BY record_id COLLATE \"C\" LIMIT $4 OFFSET $5)
                     SELECT r.collection, r.record_id, r.version, r.body, r.updated_at,
                       (SELECT count(*) FROM tudi_record_keys
                        WHERE collection = $1 AND key = $2 AND value = $3)
                     FROM page JOIN tudi_records r
                       ON r.collection = $1 AND r.record_id = page.record_id
                     ORDER BY r.record_id COLLATE \"C\""
                })
                .await
                .map_err(db("listing records"))?;
            c.query(&statement, &[&collection, key, value, &limit, &offset])
                .await
        }
    }
    .map_err(db("listing records"))?;
    let total = match rows.first() {
        Some(r) => u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
        // A page past the end, or no page at all (only the count asked): count on its own.
        None if offset > 0 || limit == Some(0) => count(c, collection, query).await?,
        None => 0,
    };
    Ok(RecordPage {
        records: rows.iter().map(to_record).collect::<Result<_>>()?,
        total,
    })
}

async fn count(c: &impl GenericClient, collection: &str, query: &RecordQuery) -> Result<u64> {
    let row = match &query.key {
        None => {
            c.query_one(
                "SELECT count(*) FROM tudi_records WHERE collection = $1",
                &[&collection],
            )
            .await
        }
        Some((key, value)) => {
            c.query_one(
                "SELECT count(*) FROM tudi_record_keys WHERE collection = $1 AND key = $2 AND value = $3",
                &[&collection, key, value],
            )
            .await
        }
    }
    .map_err(db("counting records"))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Writes records in the writer's transaction, each with its audit entry.
pub(crate) async fn write(
    w: &mut Writer<'_>,
    change: &Change,
    writes: &[RecordWrite],
) -> Result<Vec<u64>> {
    let at = format_ts(change.at);
    let mut versions = Vec::with_capacity(writes.len());
    for write in writes {
        rules::check_names(write)?;
        let tx = &w.tx;
        let read = tx
            .prepare_cached(
                "SELECT version, body FROM tudi_records WHERE collection = $1 AND record_id = $2",
            )
            .await
            .map_err(db("reading a record"))?;
        let current: Option<(i64, String)> = tx
            .query_opt(&read, &[&write.collection, &write.id])
            .await
            .map_err(db("reading a record"))?
            .map(|r| (r.get(0), r.get(1)));
        let found = current
            .as_ref()
            .map(|(v, _)| u64::try_from(*v).unwrap_or(0));
        rules::check_expectation(write, found)?;
        // Digests of the stored text: the next write's "before" is this one's "after".
        let before = current
            .as_ref()
            .map(|(_, body)| audit::sha256_hex(body.as_bytes()));
        let drop_keys = tx
            .prepare_cached("DELETE FROM tudi_record_keys WHERE collection = $1 AND record_id = $2")
            .await
            .map_err(db("updating record keys"))?;
        // The statements below depend on nothing but the read: they are sent together
        // (pipelined, in order) and cost one round trip.
        let old_keys = async {
            if current.is_some() {
                tx.execute(&drop_keys, &[&write.collection, &write.id])
                    .await
                    .map_err(db("updating record keys"))?;
            }
            Ok::<_, StoreError>(())
        };
        let (version, after) = match &write.body {
            None => {
                let delete = tx
                    .prepare_cached(
                        "DELETE FROM tudi_records WHERE collection = $1 AND record_id = $2",
                    )
                    .await
                    .map_err(db("deleting a record"))?;
                let gone = async {
                    if current.is_some() {
                        tx.execute(&delete, &[&write.collection, &write.id])
                            .await
                            .map_err(db("deleting a record"))?;
                    }
                    Ok(())
                };
                futures_util::future::try_join(old_keys, gone).await?;
                (0, None)
            }
            Some(body) => {
                let version = found.unwrap_or(0) + 1;
                let v = i64::try_from(version)
                    .map_err(|_| StoreError::SequenceOverflow(write.collection.clone()))?;
                let text = body.to_string();
                let upsert = tx
                    .prepare_cached(
                        "INSERT INTO tudi_records (collection, record_id, version, body, updated_at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (collection, record_id) DO UPDATE SET version = $3, body = $4, updated_at = $5",
                    )
                    .await
                    .map_err(db("writing a record"))?;
                let insert_keys = tx
                    .prepare_cached(
                        "INSERT INTO tudi_record_keys (collection, key, value, record_id)
                         SELECT $1, k, v, $2 FROM unnest($3::text[], $4::text[]) AS u(k, v)",
                    )
                    .await
                    .map_err(db("writing record keys"))?;
                let keys: Vec<&str> = write.keys.iter().map(|(k, _)| k.as_str()).collect();
                let values: Vec<&str> = write.keys.iter().map(|(_, v)| v.as_str()).collect();
                let stored = async {
                    tx.execute(&upsert, &[&write.collection, &write.id, &v, &text, &at])
                        .await
                        .map_err(db("writing a record"))
                };
                let new_keys = async {
                    if !keys.is_empty() {
                        tx.execute(
                            &insert_keys,
                            &[&write.collection, &write.id, &keys, &values],
                        )
                        .await
                        .map_err(db("writing record keys"))?;
                    }
                    Ok(())
                };
                futures_util::future::try_join3(old_keys, stored, new_keys).await?;
                (version, Some(audit::sha256_hex(text.as_bytes())))
            }
        };
        w.record_written(change, write, before, after);
        versions.push(version);
    }
    Ok(versions)
}

const AUDIT_COLUMNS: &str =
    "seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash";

/// Decodes a row; `Err` carries the sequence number and hash of a row that cannot be read.
fn to_entry(row: &tokio_postgres::Row) -> std::result::Result<AuditEntry, (u64, String)> {
    let seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
    let hash: String = row.get(11);
    let at: Option<Timestamp> = row.get::<_, String>(1).parse().ok();
    let outcome = Outcome::parse(row.get::<_, &str>(5));
    let detail = match row.get::<_, Option<String>>(9) {
        None => Some(None),
        Some(text) => serde_json::from_str(&text).ok().map(Some),
    };
    match (at, outcome, detail) {
        (Some(at), Some(outcome), Some(detail)) => Ok(AuditEntry {
            seq,
            at,
            actor: row.get(2),
            action: row.get(3),
            resource: row.get(4),
            outcome,
            before: row.get(6),
            after: row.get(7),
            request_id: row.get(8),
            detail,
            prev_hash: row.get(10),
            hash,
        }),
        _ => Err((seq, hash)),
    }
}

pub(crate) async fn trail(c: &impl GenericClient, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let mut conds = Vec::new();
    let mut args: Vec<String> = Vec::new();
    if let Some(r) = &query.resource {
        args.push(r.clone());
        let n = args.len();
        // `/` sorts just before `0`: the range holds exactly the resources under `r/`.
        conds.push(format!(
            "(resource COLLATE \"C\" = ${n} OR (resource COLLATE \"C\" >= (${n} || '/') AND resource COLLATE \"C\" < (${n} || '0')))"
        ));
    }
    if let Some(a) = &query.actor {
        args.push(a.clone());
        conds.push(format!("actor = ${}", args.len()));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let limit = query.limit.map_or_else(
        || "ALL".to_owned(),
        |l| i64::try_from(l).unwrap_or(i64::MAX).to_string(),
    );
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {AUDIT_COLUMNS} FROM tudi_audit {filter} ORDER BY seq DESC LIMIT {limit} OFFSET {offset}"
    );
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let rows = c
        .query(sql.as_str(), &params)
        .await
        .map_err(db("reading the audit log"))?;
    Ok(rows.iter().filter_map(|r| to_entry(r).ok()).collect())
}

/// Checks the chain from one snapshot: the head and the rows are of the same instant.
pub(crate) async fn verify(client: &mut deadpool_postgres::Object) -> Result<AuditReport> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db("starting a read transaction"))?;
    let head: i64 = tx
        .query_one("SELECT seq FROM tudi_audit_head", &[])
        .await
        .map_err(db("reading the audit head"))?
        .get(0);
    let mut verifier = Verifier::default();
    let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
    {
        let rows = tx
            .query_raw(
                format!("SELECT {AUDIT_COLUMNS} FROM tudi_audit ORDER BY seq").as_str(),
                no_params,
            )
            .await
            .map_err(db("reading the audit log"))?;
        pin_mut!(rows);
        while let Some(row) = rows.next().await {
            let row = row.map_err(db("reading the audit log"))?;
            match to_entry(&row) {
                Ok(entry) => verifier.push(&entry),
                Err((seq, hash)) => verifier.unreadable(seq, hash),
            }
        }
    }
    tx.commit().await.map_err(db("ending a read transaction"))?;
    Ok(verifier.finish(u64::try_from(head).ok().filter(|h| *h > 0)))
}
