//! Copying a PostgreSQL store out whole, and filling an empty one (see
//! [`tudi_store::transfer`]).

use deadpool_postgres::Transaction;
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::types::ToSql;
use tudi_store::rules::format_ts;
use tudi_store::transfer::{Item, StoredEntry, Transfer};
use tudi_store::{LayerDef, NewFeature, Result, StoreError};

use crate::features::{all_defs, create_indexes, create_table, insert_history, load_rows};
use crate::sql::{self, Param, quote};
use crate::{PgStore, db};

/// Settings that belong to the schema itself, not to the district: never copied.
const OWN_META: [&str; 2] = ["schema_version", "audit:indexed"];

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

async fn stream(
    tx: &Transaction<'_>,
    sql: &str,
    args: &[Param],
    emit: &mut dyn FnMut(Item) -> Result<()>,
    item: &dyn Fn(&tokio_postgres::Row) -> std::result::Result<Item, tokio_postgres::Error>,
) -> Result<()> {
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let rows = tx.query_raw(sql, params).await.map_err(db("exporting"))?;
    pin_mut!(rows);
    while let Some(row) = rows.next().await {
        let row = row.map_err(db("exporting"))?;
        emit(item(&row).map_err(db("exporting"))?)?;
    }
    Ok(())
}

async fn export(tx: &Transaction<'_>, emit: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    stream(
        tx,
        "SELECT key, value FROM tudi_meta ORDER BY key",
        &[],
        emit,
        &|r| {
            Ok(Item::Meta {
                key: r.try_get(0)?,
                value: r.try_get(1)?,
            })
        },
    )
    .await?;
    stream(
        tx,
        "SELECT key, value FROM tudi_sequences ORDER BY key",
        &[],
        emit,
        &|r| {
            Ok(Item::Sequence {
                key: r.try_get(0)?,
                value: count(r.try_get(1)?),
            })
        },
    )
    .await?;
    let revisions: Vec<i64> = tx
        .query("SELECT revision FROM tudi_layers ORDER BY id", &[])
        .await
        .map_err(db("exporting layers"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (def, revision) in all_defs(tx).await?.into_iter().zip(revisions) {
        emit(Item::Layer {
            def: def.clone(),
            revision: count(revision),
        })?;
        let name = def.name.clone();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY feature_id",
            sql::current_columns(&def),
            quote(&def.name)
        );
        stream(tx, &sql, &[], emit, &|r| {
            Ok(Item::Feature {
                layer: name.clone(),
                record: sql::read_feature(&def, r)?,
            })
        })
        .await?;
        let sql = format!(
            "SELECT {}, op FROM tudi_feature_history WHERE layer = $1 ORDER BY hid",
            sql::history_columns(&def)
        );
        let op_at = def.fields.len() + 6;
        stream(tx, &sql, &[Param::Text(name.clone())], emit, &|r| {
            Ok(Item::History {
                layer: name.clone(),
                record: sql::read_feature(&def, r)?,
                op: r.try_get(op_at)?,
            })
        })
        .await?;
    }
    stream(
        tx,
        "SELECT collection, record_id, version, body, updated_at FROM tudi_records ORDER BY collection, record_id",
        &[],
        emit,
        &|r| {
            Ok(Item::Record {
                collection: r.try_get(0)?,
                id: r.try_get(1)?,
                version: count(r.try_get(2)?),
                body: r.try_get(3)?,
                updated_at: r.try_get(4)?,
            })
        },
    )
    .await?;
    stream(
        tx,
        "SELECT collection, key, value, record_id FROM tudi_record_keys",
        &[],
        emit,
        &|r| {
            Ok(Item::RecordKey {
                collection: r.try_get(0)?,
                key: r.try_get(1)?,
                value: r.try_get(2)?,
                record_id: r.try_get(3)?,
            })
        },
    )
    .await?;
    stream(
        tx,
        "SELECT sha256, content_type, data, created_at FROM tudi_blobs ORDER BY sha256",
        &[],
        emit,
        &|r| {
            Ok(Item::Blob {
                sha256: r.try_get(0)?,
                content_type: r.try_get(1)?,
                bytes: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        },
    )
    .await?;
    stream(
        tx,
        "SELECT seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash
         FROM tudi_audit ORDER BY seq",
        &[],
        emit,
        &|r| {
            Ok(Item::Audit(StoredEntry {
                seq: count(r.try_get(0)?),
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                resource: r.try_get(4)?,
                outcome: r.try_get(5)?,
                before: r.try_get(6)?,
                after: r.try_get(7)?,
                request_id: r.try_get(8)?,
                detail: r.try_get(9)?,
                prev_hash: r.try_get(10)?,
                hash: r.try_get(11)?,
            }))
        },
    )
    .await?;
    let head: i64 = tx
        .query_one("SELECT seq FROM tudi_audit_head", &[])
        .await
        .map_err(db("exporting the audit head"))?
        .get(0);
    emit(Item::AuditHead { seq: count(head) })
}

/// The features that follow a layer item, as rows with their own versions and instants.
fn features_of<'a>(
    name: &'a str,
    items: &'a mut std::iter::Peekable<&mut dyn Iterator<Item = Result<Item>>>,
) -> impl Iterator<Item = (NewFeature, i32, String)> + 'a {
    std::iter::from_fn(move || {
        if !matches!(items.peek(), Some(Ok(Item::Feature { layer, .. })) if layer == name) {
            return None;
        }
        match items.next() {
            Some(Ok(Item::Feature { record, .. })) => Some((
                NewFeature {
                    id: Some(record.id),
                    geometry: record.geometry,
                    attributes: record.attributes,
                },
                i32::try_from(record.version).unwrap_or(i32::MAX),
                format_ts(record.valid_from),
            )),
            _ => None,
        }
    })
}

async fn import(
    tx: &Transaction<'_>,
    items: &mut dyn Iterator<Item = Result<Item>>,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let used: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tudi_layers) OR EXISTS (SELECT 1 FROM tudi_audit)
                 OR EXISTS (SELECT 1 FROM tudi_records)",
            &[],
        )
        .await
        .map_err(db("checking the target"))?
        .get(0);
    if used {
        return Err(StoreError::Schema(
            "the target store is not empty (目标数据库不是空的)".into(),
        ));
    }
    let mut items = items.peekable();
    let mut layers: Vec<LayerDef> = Vec::new();
    let mut sequences = Vec::new();
    let mut head = 0_i64;
    let mut n = 0_u64;
    while let Some(item) = items.next() {
        match item? {
            Item::Meta { key, value } => {
                if !OWN_META.contains(&key.as_str()) {
                    tx.execute(
                        "INSERT INTO tudi_meta (key, value) VALUES ($1, $2)
                         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        &[&key, &value],
                    )
                    .await
                    .map_err(db("copying settings"))?;
                }
            }
            Item::Sequence { key, value } => {
                let v =
                    i64::try_from(value).map_err(|_| StoreError::SequenceOverflow(key.clone()))?;
                sequences.push((key, v));
            }
            Item::Layer { def, revision } => {
                create_table(tx, &def).await?;
                let name = def.name.clone();
                let (ids, _) = {
                    let mut rows = features_of(&name, &mut items);
                    load_rows(tx, &def, &mut rows, &mut |_| true).await?
                };
                create_indexes(tx, &def).await?;
                tx.execute(
                    "UPDATE tudi_layers SET revision = $2 WHERE name = $1",
                    &[&def.name, &i64::try_from(revision).unwrap_or(i64::MAX)],
                )
                .await
                .map_err(db("copying a layer"))?;
                n += ids.len() as u64;
                layers.push(def);
            }
            Item::Feature { layer, .. } => {
                return Err(StoreError::UnknownLayer(layer));
            }
            Item::History { layer, record, op } => {
                let def = layers
                    .iter()
                    .find(|d| d.name == layer)
                    .ok_or_else(|| StoreError::UnknownLayer(layer.clone()))?;
                let to = record.valid_to.unwrap_or(record.valid_from);
                insert_history(tx, def, &record, to, &op).await?;
            }
            Item::Record {
                collection,
                id,
                version,
                body,
                updated_at,
            } => {
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO tudi_records (collection, record_id, version, body, updated_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .await
                    .map_err(db("copying a record"))?;
                tx.execute(
                    &statement,
                    &[
                        &collection,
                        &id,
                        &i64::try_from(version).unwrap_or(i64::MAX),
                        &body,
                        &updated_at,
                    ],
                )
                .await
                .map_err(db("copying a record"))?;
            }
            Item::RecordKey {
                collection,
                key,
                value,
                record_id,
            } => {
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO tudi_record_keys (collection, key, value, record_id) VALUES ($1, $2, $3, $4)",
                    )
                    .await
                    .map_err(db("copying record keys"))?;
                tx.execute(&statement, &[&collection, &key, &value, &record_id])
                    .await
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
                    "INSERT INTO tudi_blobs (sha256, content_type, size, data, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&sha256, &content_type, &size, &bytes, &created_at],
                )
                .await
                .map_err(db("copying a file"))?;
            }
            Item::Audit(e) => {
                let seq = i64::try_from(e.seq).unwrap_or(i64::MAX);
                head = head.max(seq);
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO tudi_audit (seq, at, actor, action, resource, outcome, before, after, request_id, detail, prev_hash, hash)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .await
                    .map_err(db("copying the audit chain"))?;
                tx.execute(
                    &statement,
                    &[
                        &seq,
                        &e.at,
                        &e.actor,
                        &e.action,
                        &e.resource,
                        &e.outcome,
                        &e.before,
                        &e.after,
                        &e.request_id,
                        &e.detail,
                        &e.prev_hash,
                        &e.hash,
                    ],
                )
                .await
                .map_err(db("copying the audit chain"))?;
            }
            Item::AuditHead { seq } => {
                head = head.max(i64::try_from(seq).unwrap_or(i64::MAX));
            }
        }
        n += 1;
        if n.is_multiple_of(10_000) {
            progress(n);
        }
    }
    for (key, v) in sequences {
        tx.execute(
            "INSERT INTO tudi_sequences (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &v],
        )
        .await
        .map_err(db("copying sequences"))?;
    }
    // The head names the last entry, whose hash the next writer chains to.
    tx.execute(
        "UPDATE tudi_audit_head SET seq = $1, hash = (SELECT hash FROM tudi_audit ORDER BY seq DESC LIMIT 1)",
        &[&head],
    )
    .await
    .map_err(db("copying the audit head"))?;
    tx.batch_execute(crate::schema::MIRROR_COUNTERS)
        .await
        .map_err(db("copying the audit head"))?;
    // The settings and every collection copied have changed: their revisions move past anything
    // a server may have cached of the empty store (scopes as `records::SETTINGS_SCOPE` and
    // `records::RECORDS_SCOPE` name them).
    tx.execute(
        "INSERT INTO tudi_revisions (scope, revision)
         SELECT scope, greatest((SELECT seq FROM tudi_audit_head), 1)
         FROM (SELECT 'settings' AS scope
               UNION SELECT DISTINCT 'records:' || collection FROM tudi_records) s
         ON CONFLICT (scope) DO UPDATE SET revision = greatest(tudi_revisions.revision, EXCLUDED.revision) + 1",
        &[],
    )
    .await
    .map_err(db("moving the revisions"))?;
    progress(n);
    Ok(n)
}

impl Transfer for PgStore {
    fn export_all(&self, emit: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        self.run(async {
            let mut c = self.client("exporting").await?;
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db("starting a read transaction"))?;
            export(&tx, emit).await?;
            tx.commit().await.map_err(db("ending a read transaction"))
        })
    }

    fn import_all(
        &self,
        items: &mut dyn Iterator<Item = Result<Item>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.run(async {
            let mut c = self.client("copying").await?;
            let tx = c
                .transaction()
                .await
                .map_err(db("starting a transaction"))?;
            // Nobody else writes while the copy is made.
            tx.execute("SELECT 1 FROM tudi_audit_head FOR UPDATE", &[])
                .await
                .map_err(db("taking the audit head"))?;
            let n = import(&tx, items, progress).await?;
            tx.commit().await.map_err(db("committing a copy"))?;
            self.counter.committed();
            Ok(n)
        })
    }
}
