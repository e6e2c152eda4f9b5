//! Layers and their features as PostGIS tables, with history; and the [`Store`] implementation.

use deadpool_postgres::GenericClient;
use futures_util::{StreamExt, pin_mut};
use geo::BoundingRect;
use geo_types::Geometry;
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tudi_core::layer::{FieldType, LayerKind};
use tudi_store::audit::{self, AuditEntry, AuditReport, Outcome};
use tudi_store::rules::{self, def_digest, feature_digest, format_ts};
use tudi_store::{
    AuditQuery, Blob, BlobWrite, Change, FeatureQuery, FeatureRecord, LayerDef, LayerInfo, Match,
    NewFeature, Progress, Record, RecordPage, RecordQuery, RecordWrite, Result, Revisions, Store,
    StoreError,
};
use uuid::Uuid;

use crate::records::{self, Writer, advance_sequence};
use crate::sql::{self, Param, quote};
use crate::{PgStore, db};

type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

fn params(values: &[Param]) -> Params<'_> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

pub(crate) async fn load_def(c: &impl GenericClient, name: &str) -> Result<LayerDef> {
    let statement = c
        .prepare_cached(
            "SELECT name, title, kind, srs_id, geometry_type, fields FROM tudi_layers WHERE name = $1",
        )
        .await
        .map_err(db("reading a layer definition"))?;
    let row = c
        .query_opt(&statement, &[&name])
        .await
        .map_err(db("reading a layer definition"))?
        .ok_or_else(|| StoreError::UnknownLayer(name.to_owned()))?;
    def_of(&row)
}

fn def_of(row: &tokio_postgres::Row) -> Result<LayerDef> {
    let name: String = row.get(0);
    let kind: String = row.get(2);
    let epsg: i32 = row.get(3);
    let fields: String = row.get(5);
    Ok(LayerDef {
        kind: LayerKind::parse(&kind).map_err(|m| StoreError::Schema(m.en))?,
        fields: serde_json::from_str(&fields)
            .map_err(|e| StoreError::Schema(format!("stored schema of {name}: {e}")))?,
        title: row.get(1),
        epsg: u32::try_from(epsg).unwrap_or(0),
        geometry_type: row.get(4),
        name,
    })
}

pub(crate) async fn all_defs(c: &impl GenericClient) -> Result<Vec<LayerDef>> {
    let rows = c
        .query(
            "SELECT name, title, kind, srs_id, geometry_type, fields FROM tudi_layers ORDER BY id",
            &[],
        )
        .await
        .map_err(db("listing layers"))?;
    rows.iter().map(def_of).collect()
}

async fn info(c: &impl GenericClient, def: LayerDef) -> Result<LayerInfo> {
    let row = c
        .query_one(
            &format!(
                "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                 FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM {}) s",
                quote(&def.name)
            ),
            &[],
        )
        .await
        .map_err(db("counting features"))?;
    let n: i64 = row.get(0);
    let extent = match (row.get(1), row.get(2), row.get(3), row.get(4)) {
        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
        _ => None,
    };
    Ok(LayerInfo {
        def,
        feature_count: u64::try_from(n).unwrap_or(0),
        extent,
    })
}

/// Gives a layer a new revision from the store-wide counter (which [`Store::change_counter`]
/// reads), in the caller's transaction; a layer dropped takes one too (no row gets it), so that
/// caches notice.
async fn bump_revision(c: &impl GenericClient, layer: &str) -> Result<()> {
    let statement = c
        .prepare_cached(
            "WITH r AS (INSERT INTO tudi_sequences (key, value) VALUES ($2, 1)
               ON CONFLICT (key) DO UPDATE SET value = tudi_sequences.value + 1 RETURNING value),
                  mirrored AS (INSERT INTO tudi_revisions (scope, revision) SELECT $3, value FROM r
               ON CONFLICT (scope) DO UPDATE SET revision = EXCLUDED.revision)
             UPDATE tudi_layers SET revision = (SELECT value FROM r) WHERE name = $1",
        )
        .await
        .map_err(db("advancing a layer revision"))?;
    c.execute(
        &statement,
        &[&layer, &records::LAYER_REVISION, &records::LAYERS_SCOPE],
    )
    .await
    .map_err(db("advancing a layer revision"))?;
    Ok(())
}

pub(crate) async fn create_table(c: &impl GenericClient, def: &LayerDef) -> Result<()> {
    rules::check_def(def)?;
    let taken: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tudi_layers WHERE lower(name) = lower($1))
                 OR EXISTS (SELECT 1 FROM information_schema.tables
                             WHERE table_schema = current_schema() AND lower(table_name) = lower($1))",
            &[&def.name],
        )
        .await
        .map_err(db("checking layer names"))?
        .get(0);
    if taken {
        return Err(StoreError::LayerExists(def.name.clone()));
    }
    let known = c
        .query_opt(
            "SELECT 1 FROM spatial_ref_sys WHERE srid = $1",
            &[&i32::try_from(def.epsg).unwrap_or(0)],
        )
        .await
        .map_err(db("checking the coordinate system"))?
        .is_some();
    if !known {
        return Err(StoreError::Schema(format!(
            "EPSG:{} is not in PostGIS's spatial_ref_sys (坐标系未登记)",
            def.epsg
        )));
    }
    let mut cols = vec![
        "fid bigserial PRIMARY KEY".to_owned(),
        format!("geom geometry({}, {})", def.geometry_type, def.epsg),
        "feature_id uuid NOT NULL".into(),
    ];
    for f in &def.fields {
        cols.push(format!("{} {}", quote(&f.name), sql::column_type(f)));
    }
    cols.push("tudi_version integer NOT NULL DEFAULT 1".into());
    cols.push("tudi_valid_from text NOT NULL".into());
    let t = quote(&def.name);
    c.batch_execute(&format!(
        "CREATE TABLE {t} ({}); COMMENT ON TABLE {t} IS {}",
        cols.join(", "),
        literal(&def.title)
    ))
    .await
    .map_err(db("creating a feature table"))?;
    let fields = serde_json::to_string(&def.fields).unwrap_or_else(|_| "[]".into());
    c.execute(
        "INSERT INTO tudi_layers (name, title, kind, srs_id, geometry_type, fields, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &def.name,
            &def.title,
            &def.kind.id(),
            &i32::try_from(def.epsg).unwrap_or(0),
            &def.geometry_type,
            &fields,
            &format_ts(Timestamp::now()),
        ],
    )
    .await
    .map_err(db("recording a layer"))?;
    bump_revision(c, &def.name).await
}

/// A string literal (for DDL, which takes no parameters).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The indexes of a layer: made after a new layer's rows, since one sort is much cheaper than a
/// million index insertions.
pub(crate) async fn create_indexes(c: &impl GenericClient, def: &LayerDef) -> Result<()> {
    let t = quote(&def.name);
    let index = |suffix: &str| quote(&format!("{}_{suffix}", def.name));
    c.batch_execute(&format!(
        "CREATE UNIQUE INDEX {} ON {t} (feature_id)",
        index("feature_id")
    ))
    .await
    .map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Schema(format!(
                "layer {:?}: the same feature id appears twice (要素标识重复)",
                def.name
            ))
        } else {
            db("indexing feature ids")(e)
        }
    })?;
    let mut ddl = format!("CREATE INDEX {} ON {t} USING gist (geom);", index("geom"));
    // Codes and names are what people search by.
    for f in def
        .fields
        .iter()
        .filter(|f| matches!(f.name.as_str(), "code" | "name"))
    {
        ddl.push_str(&format!(
            "CREATE INDEX {} ON {t} (lower({}::text) text_pattern_ops);",
            index(&f.name),
            quote(&f.name)
        ));
    }
    c.batch_execute(&ddl).await.map_err(db("indexing a layer"))
}

/// One feature encoded for COPY: id, EWKB, field values, digest.
type Encoded = (Uuid, Vec<u8>, Vec<Param>, [u8; 32]);

fn encode(def: &LayerDef, index: usize, f: NewFeature) -> Result<Encoded> {
    let id = f.id.unwrap_or_else(Uuid::now_v7);
    let (geometry, cells) = rules::encode_feature(def, index, f.geometry, &f.attributes)?;
    let bad_geometry = |reason: String| StoreError::Attribute {
        index,
        field: "geom".into(),
        reason,
    };
    let canonical =
        rules::canonical_blob(def, &geometry).map_err(|e| bad_geometry(e.to_string()))?;
    let ewkb = sql::ewkb(&geometry, def.epsg).map_err(bad_geometry)?;
    let values = def
        .fields
        .iter()
        .zip(cells)
        .map(|(field, cell)| sql::param(field, cell))
        .collect();
    Ok((
        id,
        ewkb,
        values,
        feature_digest(id, &canonical, &f.attributes),
    ))
}

fn duplicate(def: &LayerDef, e: &tokio_postgres::Error) -> Option<StoreError> {
    let d = e.as_db_error()?;
    if d.code() != &SqlState::UNIQUE_VIOLATION {
        return None;
    }
    // "Key (feature_id)=(0190…) already exists."
    let id = d
        .detail()
        .and_then(|t| t.split("=(").nth(1))
        .and_then(|t| t.split(')').next())
        .and_then(|t| Uuid::parse_str(t).ok())
        .unwrap_or_default();
    Some(StoreError::DuplicateFeature {
        layer: def.name.clone(),
        id,
    })
}

/// Writes features by binary COPY in the caller's transaction. Returns their ids and the batch
/// digest (the hash of every row's digest, in input order).
async fn insert_rows(
    c: &deadpool_postgres::Transaction<'_>,
    def: &LayerDef,
    features: &mut dyn Iterator<Item = NewFeature>,
    at: Timestamp,
    progress: Progress<'_>,
) -> Result<(Vec<Uuid>, String)> {
    let valid_from = format_ts(at);
    load_rows(
        c,
        def,
        &mut features.map(|f| (f, 1, valid_from.clone())),
        progress,
    )
    .await
}

/// Loads rows that carry their own version and instant (new features: 1 and now; a copied
/// store: as they were).
pub(crate) async fn load_rows(
    c: &deadpool_postgres::Transaction<'_>,
    def: &LayerDef,
    features: &mut dyn Iterator<Item = (NewFeature, i32, String)>,
    progress: Progress<'_>,
) -> Result<(Vec<Uuid>, String)> {
    use rayon::prelude::*;
    use sha2::{Digest, Sha256};
    const CHUNK: usize = 50_000;
    let t = quote(&def.name);
    let mut cols = vec!["geom".to_owned(), "feature_id".into()];
    cols.extend(def.fields.iter().map(|f| quote(&f.name)));
    cols.push("tudi_version".into());
    cols.push("tudi_valid_from".into());
    let probe = c
        .prepare(&format!("SELECT {} FROM {t} LIMIT 0", cols.join(", ")))
        .await
        .map_err(db("preparing a load"))?;
    let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
    let sink = c
        .copy_in(&format!(
            "COPY {t} ({}) FROM STDIN (FORMAT binary)",
            cols.join(", ")
        ))
        .await
        .map_err(db("starting a load"))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let mut batch = Sha256::new();
    let mut ids = Vec::new();
    loop {
        let chunk: Vec<(NewFeature, i32, String)> = (&mut *features).take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let base = ids.len();
        let encoded: Vec<Result<(Encoded, i32, String)>> = chunk
            .into_par_iter()
            .enumerate()
            .map(|(i, (f, version, valid_from))| {
                Ok((encode(def, base + i, f)?, version, valid_from))
            })
            .collect();
        for item in encoded {
            let ((id, ewkb, values, digest), version, valid_from) = item?;
            batch.update(digest);
            let geom = Param::Geometry(ewkb);
            let mut row: Params<'_> = Vec::with_capacity(values.len() + 4);
            row.push(&geom);
            row.push(&id);
            row.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
            row.push(&version);
            row.push(&valid_from);
            writer
                .as_mut()
                .write(&row)
                .await
                .map_err(|e| duplicate(def, &e).unwrap_or_else(|| db("loading features")(e)))?;
            ids.push(id);
            let n = ids.len() as u64;
            if n.is_multiple_of(10_000) && !progress(n) {
                return Err(StoreError::Cancelled);
            }
        }
    }
    writer
        .finish()
        .await
        .map_err(|e| duplicate(def, &e).unwrap_or_else(|| db("loading features")(e)))?;
    // The last word before commit is the caller's: it may still cancel the whole batch.
    if !progress(ids.len() as u64) {
        return Err(StoreError::Cancelled);
    }
    bump_revision(c, &def.name).await?;
    Ok((ids, audit::hex(&batch.finalize())))
}

pub(crate) fn envelope(g: &Geometry<f64>) -> [Option<f64>; 4] {
    g.bounding_rect().map_or([None; 4], |r| {
        [
            Some(r.min().x),
            Some(r.max().x),
            Some(r.min().y),
            Some(r.max().y),
        ]
    })
}

/// Keeps a superseded version in the history.
async fn archive(
    c: &impl GenericClient,
    def: &LayerDef,
    rec: &FeatureRecord,
    at: Timestamp,
    op: &str,
) -> Result<()> {
    if at < rec.valid_from {
        return Err(StoreError::Schema(format!(
            "change at {at} is earlier than the current version ({}) (修改时间早于当前版本)",
            rec.valid_from
        )));
    }
    insert_history(c, def, rec, at, op).await
}

/// Writes a closed version, valid from its `valid_from` to `to`.
pub(crate) async fn insert_history(
    c: &impl GenericClient,
    def: &LayerDef,
    rec: &FeatureRecord,
    to: Timestamp,
    op: &str,
) -> Result<()> {
    let geom = Param::Geometry(sql::ewkb(&rec.geometry, def.epsg).map_err(StoreError::Schema)?);
    let [minx, maxx, miny, maxy] = envelope(&rec.geometry);
    let version = i32::try_from(rec.version).unwrap_or(i32::MAX);
    let statement = c
        .prepare_cached(
            "INSERT INTO tudi_feature_history (layer, feature_id, version, valid_from, valid_to, op, minx, maxx, miny, maxy, geom, attributes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await
        .map_err(db("writing feature history"))?;
    c.execute(
        &statement,
        &[
            &def.name,
            &rec.id,
            &version,
            &format_ts(rec.valid_from),
            &format_ts(to),
            &op,
            &minx,
            &maxx,
            &miny,
            &maxy,
            &geom,
            &sql::attributes_text(&rec.attributes),
        ],
    )
    .await
    .map_err(db("writing feature history"))?;
    Ok(())
}

async fn current(
    c: &impl GenericClient,
    def: &LayerDef,
    id: Uuid,
    lock: bool,
) -> Result<FeatureRecord> {
    let sql = format!(
        "SELECT {} FROM {} WHERE feature_id = $1{}",
        sql::current_columns(def),
        quote(&def.name),
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = c
        .query_opt(sql.as_str(), &[&id])
        .await
        .map_err(db("reading a feature"))?
        .ok_or_else(|| StoreError::UnknownFeature {
            layer: def.name.clone(),
            id,
        })?;
    sql::read_feature(def, &row).map_err(db("reading a feature"))
}

impl PgStore {
    /// Streams features in id order; `visit` returns `false` to stop. One statement, so the rows
    /// of an as-of read (current and history merged) are of one snapshot.
    async fn visit(
        &self,
        layer: &str,
        as_of: Option<Timestamp>,
        bbox: Option<[f64; 4]>,
        page: Option<(u64, u64)>,
        visit: &mut dyn FnMut(FeatureRecord) -> Result<bool>,
    ) -> Result<()> {
        let c = self.client("reading features").await?;
        let def = load_def(&c, layer).await?;
        let mut args: Vec<Param> = Vec::new();
        let mut bbox_sql = String::new();
        let mut history_bbox = String::new();
        if let Some([minx, miny, maxx, maxy]) = bbox {
            let n = args.len();
            bbox_sql = format!(
                " AND geom && ST_MakeEnvelope(${}, ${}, ${}, ${}, {})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                def.epsg
            );
            history_bbox = format!(
                " AND minx <= ${} AND maxx >= ${} AND miny <= ${} AND maxy >= ${}",
                n + 3,
                n + 1,
                n + 4,
                n + 2
            );
            args.extend([minx, miny, maxx, maxy].map(Param::Real));
        }
        let t = quote(&def.name);
        let mut sql = match as_of {
            None => format!(
                "SELECT {} FROM {t} WHERE true{bbox_sql} ORDER BY feature_id",
                sql::current_columns(&def)
            ),
            Some(at) => {
                args.push(Param::Text(format_ts(at)));
                args.push(Param::Text(def.name.clone()));
                let (ts, name) = (args.len() - 1, args.len());
                format!(
                    "SELECT {} FROM {t} WHERE tudi_valid_from <= ${ts}{bbox_sql}
                     UNION ALL
                     SELECT {} FROM tudi_feature_history
                      WHERE layer = ${name} AND valid_from <= ${ts} AND valid_to > ${ts}{history_bbox}
                     ORDER BY 1",
                    sql::current_columns(&def),
                    sql::history_columns(&def)
                )
            }
        };
        if let Some((limit, offset)) = page {
            let bound = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            sql.push_str(&format!(" LIMIT {} OFFSET {}", bound(limit), bound(offset)));
        }
        let rows = c
            .query_raw(sql.as_str(), params(&args))
            .await
            .map_err(db("querying features"))?;
        pin_mut!(rows);
        while let Some(row) = rows.next().await {
            let row = row.map_err(db("reading features"))?;
            let rec = sql::read_feature(&def, &row).map_err(db("reading features"))?;
            if !visit(rec)? {
                break;
            }
        }
        Ok(())
    }

    /// One reading of the revisions.
    fn reading(&self) -> impl Future<Output = Result<Revisions>> {
        read_revisions(&self.pool, &self.target.label)
    }

    async fn writer_work<T>(
        &self,
        work: impl AsyncFnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<T> {
        crate::refuse_while_speculating()?;
        let mut client = self.client("writing").await?;
        let done = async {
            let mut w = Writer::begin(&mut client).await?;
            let value = work(&mut w).await?;
            w.commit().await.map(|()| value)
        }
        .await;
        if done.is_ok() {
            self.counter.committed();
        }
        crate::drop_if_broken(client, done.as_ref().err());
        done
    }
}

/// One reading of the revisions: on a caller's thread, or as a task of the store's runtime.
async fn read_revisions(pool: &deadpool_postgres::Pool, label: &str) -> Result<Revisions> {
    let doing = "reading the change counter";
    let c = pool
        .get()
        .await
        .map_err(|e| crate::pool_error(doing, label, e))?;

    // One table holds every part (the audit head and the layer revision are kept there
    // too, by the statements that move them): one statement, so one snapshot, and the
    // parts agree with each other.
    let statement = c
        .prepare_cached("SELECT scope, revision FROM tudi_revisions")
        .await
        .map_err(db(doing))?;
    let rows = c.query(&statement, &[]).await.map_err(db(doing))?;
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    let (mut head, mut layers, mut settings) = (0, 0, 0);
    let mut collections = std::collections::BTreeMap::new();
    for row in &rows {
        let (scope, value): (&str, i64) = (row.get(0), row.get(1));
        match scope {
            records::AUDIT_SCOPE => head = unsigned(value),
            records::LAYERS_SCOPE => layers = unsigned(value),
            records::SETTINGS_SCOPE => settings = unsigned(value),
            _ => {
                if let Some(name) = scope.strip_prefix(records::RECORDS_SCOPE) {
                    collections.insert(name.to_owned(), unsigned(value));
                }
            }
        }
    }
    // Every committed write moves the audit head (records, settings, files, refusals
    // too), and every layer change the layer revision: their sum moves whenever anything
    // was committed, as the contract asks.
    Ok(Revisions::tracked(
        head + layers,
        layers,
        settings,
        collections,
    ))
}

impl Store for PgStore {
    fn create_layer(&self, def: &LayerDef, change: &Change) -> Result<()> {
        rules::check_def(def)?;
        self.run(self.writer_work(async |w| {
            create_table(&w.tx, def).await?;
            create_indexes(&w.tx, def).await?;
            w.append(
                change,
                &format!("layer:{}", def.name),
                Outcome::Done,
                None,
                Some(def_digest(def)),
                None,
            );
            Ok(())
        }))
    }

    fn drop_layer(&self, name: &str, change: &Change) -> Result<()> {
        self.run(self.writer_work(async |w| {
            let def = load_def(&w.tx, name).await?;
            w.append(
                change,
                &format!("layer:{name}"),
                Outcome::Done,
                Some(def_digest(&def)),
                None,
                None,
            );
            w.tx.batch_execute(&format!("DROP TABLE {}", quote(name)))
                .await
                .map_err(db("dropping a layer"))?;
            for statement in [
                "DELETE FROM tudi_layers WHERE name = $1",
                "DELETE FROM tudi_feature_history WHERE layer = $1",
            ] {
                w.tx.execute(statement, &[&name])
                    .await
                    .map_err(db("dropping a layer"))?;
            }
            // The store-wide counter moves, so caches notice the layer is gone.
            bump_revision(&w.tx, name).await?;
            Ok(())
        }))
    }

    fn layers(&self) -> Result<Vec<LayerInfo>> {
        self.run(async {
            let c = self.client("listing layers").await?;
            let mut out = Vec::new();
            for def in all_defs(&c).await? {
                out.push(info(&c, def).await?);
            }
            Ok(out)
        })
    }

    fn layer(&self, name: &str) -> Result<LayerInfo> {
        self.run(async {
            let c = self.client("reading a layer").await?;
            let def = load_def(&c, name).await?;
            info(&c, def).await
        })
    }

    fn layer_def(&self, name: &str) -> Result<LayerDef> {
        self.run(async {
            let c = self.client("reading a layer").await?;
            load_def(&c, name).await
        })
    }

    fn layer_defs(&self) -> Result<Vec<LayerDef>> {
        self.run(async {
            let c = self.client("listing layers").await?;
            all_defs(&c).await
        })
    }

    fn layer_revision(&self, name: &str) -> Result<u64> {
        self.run(async {
            let c = self.client("reading a layer revision").await?;
            let statement = c
                .prepare_cached("SELECT revision FROM tudi_layers WHERE name = $1")
                .await
                .map_err(db("reading a layer revision"))?;
            let row = c
                .query_opt(&statement, &[&name])
                .await
                .map_err(db("reading a layer revision"))?
                .ok_or_else(|| StoreError::UnknownLayer(name.to_owned()))?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    fn change_counter(&self) -> Result<u64> {
        let reading = self.revisions()?;
        if let Some(s) = tudi_store::horizon::speculation() {
            s.hand_out(&reading, true);
        }
        Ok(reading.changes)
    }

    fn revisions(&self) -> Result<Revisions> {
        let speculation = tudi_store::horizon::speculation();
        // A request running speculatively takes the last reading, however old; the server
        // confirms it with the request's own before answering.
        if let Some(s) = &speculation
            && let Some(last) = self.counter.latest()
        {
            s.hand_out(&last, false);
            return Ok(last);
        }
        let since = tudi_store::horizon::earliest_acceptable();
        let reading = self.counter.read(since, || self.run(self.reading()))?;
        if let Some(s) = &speculation {
            s.hand_out(&reading, false);
        }
        Ok(reading)
    }

    fn begin_revisions_reading(&self) -> bool {
        let Some(runtime) = &self.runtime else {
            return false;
        };
        if !self.counter.want() {
            // A reading is in flight, and the next one, begun when it ends, serves this request.
            return true;
        }
        // Made here, so that a task the runtime drops unrun still tells the gate.
        let mut taking = crate::counter::Taking::new(Arc::clone(&self.counter));
        let (pool, label) = (self.pool.clone(), self.target.label.clone());
        runtime.spawn(async move {
            loop {
                let claim = taking.gate().claim();
                claim.answer(&read_revisions(&pool, &label).await);
                if !taking.another() {
                    break;
                }
            }
        });
        true
    }

    fn insert_features(
        &self,
        layer: &str,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>> {
        self.run(self.writer_work(async |w| {
            let def = load_def(&w.tx, layer).await?;
            let (ids, digest) = insert_rows(&w.tx, &def, features, change.at, progress).await?;
            w.append(
                change,
                &format!("layer:{}", def.name),
                Outcome::Done,
                None,
                Some(digest),
                Some(serde_json::json!({ "inserted": ids.len() })),
            );
            Ok(ids)
        }))
    }

    fn create_layer_with_features(
        &self,
        def: &LayerDef,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>> {
        rules::check_def(def)?;
        self.run(self.writer_work(async |w| {
            create_table(&w.tx, def).await?;
            let (ids, digest) = insert_rows(&w.tx, def, features, change.at, progress).await?;
            create_indexes(&w.tx, def).await?;
            w.append(
                change,
                &format!("layer:{}", def.name),
                Outcome::Done,
                None,
                Some(digest),
                Some(serde_json::json!({ "created": true, "inserted": ids.len() })),
            );
            Ok(ids)
        }))
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
        self.run(self.writer_work(async |w| {
            let def = load_def(&w.tx, layer).await?;
            let old = current(&w.tx, &def, id, true).await?;
            let before = rules::record_digest(&def, &old)?;
            let (geometry, cells) = rules::encode_feature(&def, 0, geometry, &attributes)?;
            archive(&w.tx, &def, &old, at, "update").await?;
            let mut values = vec![Param::Geometry(sql::ewkb(&geometry, def.epsg).map_err(
                |reason| StoreError::Attribute {
                    index: 0,
                    field: "geom".into(),
                    reason,
                },
            )?)];
            let mut sets = vec!["geom = $1".to_owned()];
            for (i, (f, cell)) in def.fields.iter().zip(cells).enumerate() {
                sets.push(format!("{} = ${}", quote(&f.name), i + 2));
                values.push(sql::param(f, cell));
            }
            let version = old.version + 1;
            let n = def.fields.len();
            sets.push(format!("tudi_version = ${}", n + 2));
            sets.push(format!("tudi_valid_from = ${}", n + 3));
            values.push(Param::Int(i64::from(version)));
            values.push(Param::Text(format_ts(at)));
            let mut all = params(&values);
            all.push(&id);
            // The row as stored, so the next change's "before" equals this "after".
            let row =
                w.tx.query_one(
                    format!(
                        "UPDATE {} SET {} WHERE feature_id = ${} RETURNING {}",
                        quote(&def.name),
                        sets.join(", "),
                        n + 4,
                        sql::current_columns(&def)
                    )
                    .as_str(),
                    &all,
                )
                .await
                .map_err(db("updating a feature"))?;
            let stored = sql::read_feature(&def, &row).map_err(db("updating a feature"))?;
            bump_revision(&w.tx, &def.name).await?;
            w.append(
                change,
                &format!("layer:{}/{id}", def.name),
                Outcome::Done,
                Some(before),
                Some(rules::record_digest(&def, &stored)?),
                Some(serde_json::json!({ "version": version })),
            );
            Ok(version)
        }))
    }

    fn delete_feature(&self, layer: &str, id: Uuid, change: &Change) -> Result<()> {
        let at = change.at;
        self.run(self.writer_work(async |w| {
            let def = load_def(&w.tx, layer).await?;
            let old = current(&w.tx, &def, id, true).await?;
            let before = rules::record_digest(&def, &old)?;
            archive(&w.tx, &def, &old, at, "delete").await?;
            w.append(
                change,
                &format!("layer:{}/{id}", def.name),
                Outcome::Done,
                Some(before),
                None,
                None,
            );
            w.tx.execute(
                format!("DELETE FROM {} WHERE feature_id = $1", quote(&def.name)).as_str(),
                &[&id],
            )
            .await
            .map_err(db("deleting a feature"))?;
            bump_revision(&w.tx, &def.name).await
        }))
    }

    fn features(&self, layer: &str, query: &FeatureQuery) -> Result<Vec<FeatureRecord>> {
        let mut out = Vec::new();
        let limit = query.limit.unwrap_or(u64::MAX);
        self.run(self.visit(
            layer,
            query.as_of,
            query.bbox,
            Some((limit, query.offset)),
            &mut |rec| {
                out.push(rec);
                Ok(true)
            },
        ))?;
        Ok(out)
    }

    fn for_each_feature(
        &self,
        layer: &str,
        as_of: Option<Timestamp>,
        visit: &mut dyn FnMut(FeatureRecord) -> Result<()>,
    ) -> Result<()> {
        self.run(self.visit(layer, as_of, None, None, &mut |rec| {
            visit(rec)?;
            Ok(true)
        }))
    }

    fn envelopes(&self, layer: &str) -> Result<Vec<(Uuid, [f64; 4])>> {
        self.run(async {
            let c = self.client("reading envelopes").await?;
            let def = load_def(&c, layer).await?;
            let rows = c
                .query(
                    format!(
                        "SELECT feature_id, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
                         FROM {} WHERE NOT ST_IsEmpty(geom)",
                        quote(&def.name)
                    )
                    .as_str(),
                    &[],
                )
                .await
                .map_err(db("reading envelopes"))?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4)]))
                .collect())
        })
    }

    fn search(
        &self,
        layer: &str,
        field: &str,
        needle: &str,
        mode: Match,
        limit: u64,
    ) -> Result<Vec<FeatureRecord>> {
        self.run(async {
            let c = self.client("searching").await?;
            let def = load_def(&c, layer).await?;
            let Some(f) = def.fields.iter().find(|f| f.name == field) else {
                return Err(StoreError::Schema(format!(
                    "layer {layer:?} has no field {field:?} (图层无此字段)"
                )));
            };
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
            let column = quote(&f.name);
            let order = if f.field_type == FieldType::Text {
                format!("{column} COLLATE \"C\"")
            } else {
                column.clone()
            };
            let sql = format!(
                "SELECT {} FROM {} WHERE lower({column}::text) LIKE lower($1) ESCAPE '\\'
                 ORDER BY {order}, feature_id LIMIT $2",
                sql::current_columns(&def),
                quote(&def.name),
            );
            let rows = c
                .query(
                    sql.as_str(),
                    &[&pattern, &i64::try_from(limit).unwrap_or(i64::MAX)],
                )
                .await
                .map_err(db("searching"))?;
            rows.iter()
                .map(|r| sql::read_feature(&def, r).map_err(db("searching")))
                .collect()
        })
    }

    fn feature(&self, layer: &str, id: Uuid) -> Result<FeatureRecord> {
        self.run(async {
            let c = self.client("reading a feature").await?;
            let def = load_def(&c, layer).await?;
            current(&c, &def, id, false).await
        })
    }

    fn feature_history(&self, layer: &str, id: Uuid) -> Result<Vec<FeatureRecord>> {
        self.run(async {
            let c = self.client("reading feature history").await?;
            let def = load_def(&c, layer).await?;
            let sql = format!(
                "SELECT {} FROM tudi_feature_history WHERE layer = $1 AND feature_id = $2
                 UNION ALL SELECT {} FROM {} WHERE feature_id = $2
                 ORDER BY {}",
                sql::history_columns(&def),
                sql::current_columns(&def),
                quote(&def.name),
                def.fields.len() + 3
            );
            let rows = c
                .query(sql.as_str(), &[&def.name, &id])
                .await
                .map_err(db("reading feature history"))?;
            if rows.is_empty() {
                return Err(StoreError::UnknownFeature {
                    layer: def.name.clone(),
                    id,
                });
            }
            rows.iter()
                .map(|r| sql::read_feature(&def, r).map_err(db("reading feature history")))
                .collect()
        })
    }

    fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64> {
        crate::refuse_while_speculating()?;
        self.run(async {
            let c = self.client("advancing a sequence").await?;
            advance_sequence(&c, key, floor).await
        })
    }

    fn write_numbered(
        &self,
        change: &Change,
        key: &str,
        make: &mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>,
    ) -> Result<(u64, Vec<u64>)> {
        self.combined(change, crate::combine::Work::Numbered { key, make })
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.run(async {
            let c = self.client("reading metadata").await?;
            let statement = c
                .prepare_cached("SELECT value FROM tudi_meta WHERE key = $1")
                .await
                .map_err(db("reading metadata"))?;
            Ok(c.query_opt(&statement, &[&key])
                .await
                .map_err(db("reading metadata"))?
                .map(|r| r.get(0)))
        })
    }

    fn set_meta(&self, key: &str, value: &str, change: &Change) -> Result<()> {
        self.run(self.writer_work(async |w| {
            let before: Option<String> =
                w.tx.query_opt("SELECT value FROM tudi_meta WHERE key = $1", &[&key])
                    .await
                    .map_err(db("reading metadata"))?
                    .map(|r| r.get(0));
            w.tx.execute(
                "INSERT INTO tudi_meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )
            .await
            .map_err(db("writing metadata"))?;
            w.touch(records::SETTINGS_SCOPE.to_owned());
            w.append(
                change,
                &format!("meta:{key}"),
                Outcome::Done,
                before.map(|b| audit::sha256_hex(b.as_bytes())),
                Some(audit::sha256_hex(value.as_bytes())),
                None,
            );
            Ok(())
        }))
    }

    fn write_records(&self, change: &Change, writes: &[RecordWrite]) -> Result<Vec<u64>> {
        self.combined(change, crate::combine::Work::Records(writes))
            .map(|(_, versions)| versions)
    }

    fn record(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        self.run(async {
            let c = self.client("reading a record").await?;
            records::get(&c, collection, id).await
        })
    }

    fn find_records(&self, collection: &str, query: &RecordQuery) -> Result<RecordPage> {
        self.run(async {
            let c = self.client("listing records").await?;
            records::find(&c, collection, query).await
        })
    }

    fn record_denial(&self, change: &Change, resource: &str, detail: Option<Value>) -> Result<()> {
        self.run(self.writer_work(async |w| {
            w.append(change, resource, Outcome::Denied, None, None, detail);
            Ok(())
        }))
    }

    fn audit_trail(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.run(async {
            let c = self.client("reading the audit log").await?;
            records::trail(&c, query).await
        })
    }

    fn verify_audit(&self) -> Result<AuditReport> {
        self.run(async {
            let mut c = self.client("reading the audit log").await?;
            records::verify(&mut c).await
        })
    }

    fn write_blob_with_records(
        &self,
        change: &Change,
        blob: &BlobWrite<'_>,
        writes: &[RecordWrite],
    ) -> Result<(String, Vec<u64>)> {
        let sha = audit::sha256_hex(blob.bytes);
        let size = i64::try_from(blob.bytes.len())
            .map_err(|_| StoreError::Schema("file too large".into()))?;
        self.run(self.writer_work(async |w| {
            w.tx
                .execute(
                    "INSERT INTO tudi_blobs (sha256, content_type, size, data, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                    &[&sha, &blob.content_type, &size, &blob.bytes, &format_ts(change.at)],
                )
                .await
                .map_err(db("storing a file"))?;
            w.append(
                change,
                &format!("blob:{sha}"),
                Outcome::Done,
                None,
                Some(sha.clone()),
                Some(serde_json::json!({"content_type": blob.content_type, "size": size, "for": blob.resource})),
            );
            let versions = records::write(w, change, writes).await?;
            Ok((sha.clone(), versions))
        }))
    }

    fn blob(&self, sha256: &str) -> Result<Option<Blob>> {
        self.run(async {
            let c = self.client("reading a file").await?;
            Ok(c.query_opt(
                "SELECT content_type, data FROM tudi_blobs WHERE sha256 = $1",
                &[&sha256],
            )
            .await
            .map_err(db("reading a file"))?
            .map(|r| Blob {
                content_type: r.get(0),
                bytes: r.get(1),
            }))
        })
    }
}
