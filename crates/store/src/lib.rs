//! Persistence for tudi behind one backend-neutral interface.
//!
//! [`Store`] is everything the capabilities may ask of storage: layers and their features with
//! full history (the map as of any past instant), atomic sequences for official code allocation,
//! and small key/value metadata. Domain code speaks only this trait; no SQL leaves this crate.
//!
//! Every state change carries a [`Change`] (who, what, when, which request); the store appends the
//! matching [`audit::AuditEntry`] to the hash-chained audit log in the same transaction, so no
//! change can be committed without its entry, nor an entry without its change.
//!
//! Besides layers, the store keeps *records*: small JSON documents in named collections (user
//! accounts, sessions, tokens; later work orders and cases) with a version for optimistic
//! concurrency and a few indexed keys for lookups.
//!
//! Backends:
//! - [`gpkg::GeoPackageStore`], the embedded default: one GeoPackage 1.2 file in WAL mode that
//!   GDAL and QGIS open as it is. Every layer is a GeoPackage feature table with an R-tree index;
//!   tudi's own tables (layer definitions, history, sequences, records, the audit chain) are
//!   registered attribute tables in the same file.
//! - `tudi_store_pg::PgStore` (crate `tudi-store-pg`), for a province: PostgreSQL 15 with
//!   PostGIS, one schema per district. [`contract`] is the behaviour both show, written against
//!   the trait so that each backend runs it unchanged.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod contract;
pub mod gpkg;
pub mod horizon;
pub mod rules;
pub mod transfer;

use std::collections::BTreeMap;

use geo_types::Geometry;
use jiff::Timestamp;
use serde_json::{Map, Value};
use tudi_core::layer::{FieldDef, LayerKind};
use uuid::Uuid;

/// Who changes the store, doing what, when and in which request. Every write takes one; the
/// store turns it into an audit entry in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// When the change takes effect.
    pub at: Timestamp,
    /// Who: `user:<name>`, `token:<id>`, `cli` …
    pub actor: String,
    /// What, as a dotted name: `layer.import`, `user.create` …
    pub action: String,
    /// The HTTP request, when there is one.
    pub request_id: Option<String>,
}

impl Change {
    /// A change by `actor` doing `action`, now.
    #[must_use]
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            at: Timestamp::now(),
            actor: actor.into(),
            action: action.into(),
            request_id: None,
        }
    }

    /// The same change at another instant.
    #[must_use]
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = at;
        self
    }

    /// The same change, made by request `id`.
    #[must_use]
    pub fn in_request(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// A stored record: a JSON document in a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its collection (`user`, `session` …).
    pub collection: String,
    /// Its id, unique in the collection.
    pub id: String,
    /// Version, from 1; every write adds one.
    pub version: u64,
    /// The document.
    pub body: Value,
    /// When it was last written.
    pub updated_at: Timestamp,
}

/// What a record write expects to find, for optimistic concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No record with that id (creating).
    Absent,
    /// The record at exactly this version (updating what one has read).
    Version(u64),
    /// The record, at any version.
    Present,
}

/// One record to write (`body: None` deletes it).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    /// The collection.
    pub collection: String,
    /// The id.
    pub id: String,
    /// What must be there now; otherwise the whole batch fails with [`StoreError::Conflict`].
    pub expect: Expect,
    /// The new document, or `None` to delete.
    pub body: Option<Value>,
    /// Indexed keys for [`Store::find_records`] (replacing the record's previous keys).
    pub keys: Vec<(String, String)>,
    /// A note for the audit entry (never personal data).
    pub detail: Option<Value>,
}

/// Which records to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordQuery {
    /// Only records indexed under this key and value.
    pub key: Option<(String, String)>,
    /// At most this many (`None`: all).
    pub limit: Option<u64>,
    /// Skip this many, in id order.
    pub offset: u64,
    /// Newest (highest id) first: a journal's last page without skipping all before it.
    pub descending: bool,
}

/// A page of records and the number matching in all.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    /// The records, in id order.
    pub records: Vec<Record>,
    /// How many match the query in all.
    pub total: u64,
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Entries on this resource, or on resources under it (`layer:parcels` also gives
    /// `layer:parcels/<feature>`).
    pub resource: Option<String>,
    /// Entries by this actor.
    pub actor: Option<String>,
    /// At most this many (newest first).
    pub limit: Option<u64>,
    /// Skip this many.
    pub offset: u64,
}

/// The definition of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDef {
    /// Table name: ASCII identifier, unique in the store.
    pub name: String,
    /// Title shown to users (Chinese).
    pub title: String,
    /// What the layer holds.
    pub kind: LayerKind,
    /// EPSG code of the coordinates stored.
    pub epsg: u32,
    /// Geometry type name as GeoPackage spells it: `MULTIPOLYGON`, `POINT`, `GEOMETRY` …
    pub geometry_type: String,
    /// Attribute schema.
    pub fields: Vec<FieldDef>,
}

/// A layer as listed: its definition and how many features it holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// The definition.
    pub def: LayerDef,
    /// Current number of features.
    pub feature_count: u64,
    /// Envelope `[minx, miny, maxx, maxy]` of the current features.
    pub extent: Option<[f64; 4]>,
}

/// A feature to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeature {
    /// Stable id; a UUIDv7 is made when `None`.
    pub id: Option<Uuid>,
    /// Geometry in the layer's CRS.
    pub geometry: Geometry<f64>,
    /// Attribute values by field name.
    pub attributes: Map<String, Value>,
}

/// A stored version of a feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRecord {
    /// Stable id across versions.
    pub id: Uuid,
    /// Version number, from 1.
    pub version: u32,
    /// Geometry in the layer's CRS.
    pub geometry: Geometry<f64>,
    /// Attribute values by field name.
    pub attributes: Map<String, Value>,
    /// When this version became current.
    pub valid_from: Timestamp,
    /// When it stopped being current (`None`: it still is).
    pub valid_to: Option<Timestamp>,
}

/// A feature as exported: stable id, geometry, attributes.
pub type FeatureRow = (Uuid, Geometry<f64>, Map<String, Value>);

/// How [`Store::search`] matches text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The whole value.
    Exact,
    /// The start of the value.
    Prefix,
    /// Anywhere in the value.
    Contains,
}

/// Which features to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureQuery {
    /// Only features whose envelope meets `[minx, miny, maxx, maxy]`.
    pub bbox: Option<[f64; 4]>,
    /// The map as it was at this instant; `None` for now.
    pub as_of: Option<Timestamp>,
    /// At most this many.
    pub limit: Option<u64>,
    /// Skip this many (in stable id order).
    pub offset: u64,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No layer of that name.
    #[error("no layer named {0:?}")]
    UnknownLayer(String),
    /// A layer of that name exists.
    #[error("a layer named {0:?} already exists")]
    LayerExists(String),
    /// No current feature with that id in the layer.
    #[error("layer {layer:?} has no feature {id}")]
    UnknownFeature {
        /// The layer.
        layer: String,
        /// The id.
        id: Uuid,
    },
    /// A feature id is already used in the layer.
    #[error("layer {layer:?} already has feature {id}")]
    DuplicateFeature {
        /// The layer.
        layer: String,
        /// The id.
        id: Uuid,
    },
    /// The definition or a value breaks the schema.
    #[error("{0}")]
    Schema(String),
    /// A value does not fit its field.
    #[error("feature {index}: field {field:?}: {reason}")]
    Attribute {
        /// 0-based position in the batch.
        index: usize,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The file is not a GeoPackage tudi can use.
    #[error("{path}: {reason}")]
    NotAStore {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A sequence is past its limit.
    #[error("sequence {0} overflowed")]
    SequenceOverflow(String),
    /// The database failed.
    #[error("database error while {doing}: {source}")]
    Database {
        /// What was being done.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database could not be reached, or ended the connection (a restart, a failover, a cut
    /// network): nothing of the operation was committed unless it was cut off while committing.
    /// Trying again later may succeed.
    #[error("database unavailable while {doing}: {source}")]
    Unavailable {
        /// What was being done.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record is not as the writer expected: someone else changed it first.
    #[error("record {collection}/{id}: expected {expected}, found {found}")]
    Conflict {
        /// The collection.
        collection: String,
        /// The id.
        id: String,
        /// What the writer expected (`absent`, `version 3`, `present`).
        expected: String,
        /// What is there (`absent`, `version 4`).
        found: String,
    },
    /// A collection or key name is not a plain identifier.
    #[error("bad record name {0:?}")]
    BadName(String),
    /// The caller stopped the operation (e.g. from a progress callback).
    #[error("cancelled")]
    Cancelled,
    /// The disk (or the database's storage) is full: nothing of the operation was saved; it
    /// may succeed once space is freed.
    #[error("storage full while {doing}: {source}")]
    StorageFull {
        /// What was being done.
        doing: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A copy of a store (a backup) that cannot be trusted: damaged, cut short, made by a newer
    /// tudi, or with a broken audit chain.
    #[error("{path}: {reason}")]
    BadCopy {
        /// The copy.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Called with the number of features written so far, and once more just before commit; return
/// `false` to cancel (the whole batch is then rolled back).
pub type Progress<'a> = &'a mut dyn FnMut(u64) -> bool;

/// Everything tudi asks of storage. Implementations are safe to share between threads.
pub trait Store: Send + Sync {
    /// Creates an empty layer.
    ///
    /// # Errors
    /// [`StoreError::LayerExists`], [`StoreError::Schema`] for bad names or types.
    fn create_layer(&self, def: &LayerDef, change: &Change) -> Result<()>;

    /// Removes a layer and its history.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`].
    fn drop_layer(&self, name: &str, change: &Change) -> Result<()>;

    /// All layers, in creation order.
    ///
    /// # Errors
    /// Database errors.
    fn layers(&self) -> Result<Vec<LayerInfo>>;

    /// One layer.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`].
    fn layer(&self, name: &str) -> Result<LayerInfo>;

    /// One layer's definition only: cheap, unlike [`Store::layer`], which counts the features.
    /// For request paths.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`].
    fn layer_def(&self, name: &str) -> Result<LayerDef>;

    /// Every layer's definition, in creation order, without counting features.
    ///
    /// # Errors
    /// Database errors.
    fn layer_defs(&self) -> Result<Vec<LayerDef>>;

    /// A number that changes with every committed change to the layer — features or definition —
    /// by this process or another. Equal numbers mean equal content; numbers are never reused,
    /// even for a layer dropped and made again. Caches of layer content key on it.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`].
    fn layer_revision(&self, name: &str) -> Result<u64>;

    /// A cheap number that changes whenever anything may have been committed to the store since
    /// it was last asked, by this process or another. When it has not changed, no layer has:
    /// a cache checks it on every request and asks [`Store::layer_revision`] only after a change.
    /// It reflects every commit made before [`horizon::earliest_acceptable`] (by default: before
    /// the call).
    ///
    /// # Errors
    /// Database errors.
    fn change_counter(&self) -> Result<u64>;

    /// What has changed, finer than [`Store::change_counter`]: caches of settings, of layers and
    /// of one record collection key on the part they depend on, so that a stream of writes to
    /// other collections (work orders, say) does not make them read the store again. Taken as
    /// [`Store::change_counter`] is (one reading, reflecting every commit made before
    /// [`horizon::earliest_acceptable`]). By default every part moves with every change.
    ///
    /// # Errors
    /// Database errors.
    fn revisions(&self) -> Result<Revisions> {
        Ok(Revisions::coarse(self.change_counter()?))
    }

    /// A request has just arrived. A backend whose revisions reading is a round trip begins the
    /// request's reading now, so that it is under way while the request runs on the last one,
    /// and says `true`: the server may then run a read-only request speculatively
    /// ([`horizon::speculating`]) and confirm it with this reading before answering. By default
    /// (a reading costs nothing worth hiding): `false`, and the request simply runs.
    fn begin_revisions_reading(&self) -> bool {
        false
    }

    /// Adds features in one transaction: all or none. Returns their ids in input order.
    ///
    /// # Errors
    /// The first feature that breaks the schema (by index) or a duplicate id; nothing is written.
    fn insert_features(
        &self,
        layer: &str,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>>;

    /// Creates a layer and fills it in one transaction: after a failure or a crash the layer
    /// does not exist at all.
    ///
    /// # Errors
    /// As [`Store::create_layer`] and [`Store::insert_features`].
    fn create_layer_with_features(
        &self,
        def: &LayerDef,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>>;

    /// Replaces a feature's geometry and attributes, keeping the old version in the history.
    ///
    /// # Errors
    /// [`StoreError::UnknownFeature`], schema errors.
    fn update_feature(
        &self,
        layer: &str,
        id: Uuid,
        geometry: Geometry<f64>,
        attributes: Map<String, Value>,
        change: &Change,
    ) -> Result<u32>;

    /// Ends a feature's life; its versions stay in the history.
    ///
    /// # Errors
    /// [`StoreError::UnknownFeature`].
    fn delete_feature(&self, layer: &str, id: Uuid, change: &Change) -> Result<()>;

    /// Features matching the query, in id order.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`], database errors.
    fn features(&self, layer: &str, query: &FeatureQuery) -> Result<Vec<FeatureRecord>>;

    /// Visits every current feature (or every feature as of `as_of`) without collecting them.
    ///
    /// # Errors
    /// The first error of the visitor or the database.
    fn for_each_feature(
        &self,
        layer: &str,
        as_of: Option<Timestamp>,
        visit: &mut dyn FnMut(FeatureRecord) -> Result<()>,
    ) -> Result<()>;

    /// The id and envelope `[minx, miny, maxx, maxy]` of every current feature, read from the
    /// spatial index without decoding geometries: what an in-memory index needs at start-up.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`], database errors.
    fn envelopes(&self, layer: &str) -> Result<Vec<(Uuid, [f64; 4])>>;

    /// Current features whose text field `field` matches `needle`, in field order, at most
    /// `limit`. Matching ignores ASCII case.
    ///
    /// # Errors
    /// [`StoreError::UnknownLayer`]; [`StoreError::Schema`] when the layer has no such field.
    fn search(
        &self,
        layer: &str,
        field: &str,
        needle: &str,
        mode: Match,
        limit: u64,
    ) -> Result<Vec<FeatureRecord>>;

    /// One current feature.
    ///
    /// # Errors
    /// [`StoreError::UnknownFeature`].
    fn feature(&self, layer: &str, id: Uuid) -> Result<FeatureRecord>;

    /// Every version of a feature, oldest first.
    ///
    /// # Errors
    /// [`StoreError::UnknownFeature`] when the id never existed.
    fn feature_history(&self, layer: &str, id: Uuid) -> Result<Vec<FeatureRecord>>;

    /// Raises counter `key` to at least `floor`, adds one and returns the new value; atomic across
    /// threads and processes.
    ///
    /// # Errors
    /// Database errors, [`StoreError::SequenceOverflow`].
    fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64>;

    /// Reads a metadata value.
    ///
    /// # Errors
    /// Database errors.
    fn meta(&self, key: &str) -> Result<Option<String>>;

    /// Writes a metadata value.
    ///
    /// # Errors
    /// Database errors.
    fn set_meta(&self, key: &str, value: &str, change: &Change) -> Result<()>;

    /// Writes records in one transaction, all or none, each with its audit entry (the digests of
    /// the document before and after). Returns each record's new version (0 for a deletion).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a record is not as expected, [`StoreError::BadName`];
    /// nothing is written.
    fn write_records(&self, change: &Change, writes: &[RecordWrite]) -> Result<Vec<u64>>;

    /// Takes the next number of sequence `key` and writes the records `make` builds with it, in
    /// one transaction: if `make` or a write fails, the number is not used. Returns the number
    /// and the records' versions. `make` only builds: a backend may call it again with another
    /// number (PostgreSQL does when a write made together with others has to be made again
    /// alone), and only the last records built are written.
    ///
    /// # Errors
    /// As [`Store::write_records`], or what `make` returns; nothing is written.
    fn write_numbered(
        &self,
        change: &Change,
        key: &str,
        make: &mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>,
    ) -> Result<(u64, Vec<u64>)>;

    /// One record.
    ///
    /// # Errors
    /// Database errors.
    fn record(&self, collection: &str, id: &str) -> Result<Option<Record>>;

    /// Records of a collection, in id order.
    ///
    /// # Errors
    /// Database errors.
    fn find_records(&self, collection: &str, query: &RecordQuery) -> Result<RecordPage>;

    /// Appends an audit entry for an action that was refused (nothing changed).
    ///
    /// # Errors
    /// Database errors.
    fn record_denial(&self, change: &Change, resource: &str, detail: Option<Value>) -> Result<()>;

    /// Audit entries, newest first.
    ///
    /// # Errors
    /// Database errors.
    fn audit_trail(&self, query: &AuditQuery) -> Result<Vec<audit::AuditEntry>>;

    /// Checks the whole audit chain.
    ///
    /// # Errors
    /// Database errors (a damaged chain is a report, not an error).
    fn verify_audit(&self) -> Result<audit::AuditReport>;

    /// Stores a file (a photo, a scanned document) by its SHA-256 and writes `writes` (the
    /// records that refer to it) in the same transaction, each with its audit entry. Storing
    /// the same bytes again keeps one copy. Returns the file's SHA-256 (hex) and the records'
    /// versions.
    ///
    /// # Errors
    /// As [`Store::write_records`]; nothing is written.
    fn write_blob_with_records(
        &self,
        change: &Change,
        blob: &BlobWrite<'_>,
        writes: &[RecordWrite],
    ) -> Result<(String, Vec<u64>)>;

    /// A stored file by its SHA-256.
    ///
    /// # Errors
    /// Database errors.
    fn blob(&self, sha256: &str) -> Result<Option<Blob>>;
}

/// A shared store is a store: capabilities take `&impl Store` or `&dyn Store` alike.
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn create_layer(&self, def: &LayerDef, change: &Change) -> Result<()> {
        (**self).create_layer(def, change)
    }

    fn drop_layer(&self, name: &str, change: &Change) -> Result<()> {
        (**self).drop_layer(name, change)
    }

    fn layers(&self) -> Result<Vec<LayerInfo>> {
        (**self).layers()
    }

    fn layer(&self, name: &str) -> Result<LayerInfo> {
        (**self).layer(name)
    }

    fn layer_def(&self, name: &str) -> Result<LayerDef> {
        (**self).layer_def(name)
    }

    fn layer_defs(&self) -> Result<Vec<LayerDef>> {
        (**self).layer_defs()
    }

    fn layer_revision(&self, name: &str) -> Result<u64> {
        (**self).layer_revision(name)
    }

    fn change_counter(&self) -> Result<u64> {
        (**self).change_counter()
    }

    fn revisions(&self) -> Result<Revisions> {
        (**self).revisions()
    }

    fn begin_revisions_reading(&self) -> bool {
        (**self).begin_revisions_reading()
    }

    fn insert_features(
        &self,
        layer: &str,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>> {
        (**self).insert_features(layer, features, change, progress)
    }

    fn create_layer_with_features(
        &self,
        def: &LayerDef,
        features: &mut dyn Iterator<Item = NewFeature>,
        change: &Change,
        progress: Progress<'_>,
    ) -> Result<Vec<Uuid>> {
        (**self).create_layer_with_features(def, features, change, progress)
    }

    fn update_feature(
        &self,
        layer: &str,
        id: Uuid,
        geometry: Geometry<f64>,
        attributes: Map<String, Value>,
        change: &Change,
    ) -> Result<u32> {
        (**self).update_feature(layer, id, geometry, attributes, change)
    }

    fn delete_feature(&self, layer: &str, id: Uuid, change: &Change) -> Result<()> {
        (**self).delete_feature(layer, id, change)
    }

    fn features(&self, layer: &str, query: &FeatureQuery) -> Result<Vec<FeatureRecord>> {
        (**self).features(layer, query)
    }

    fn for_each_feature(
        &self,
        layer: &str,
        as_of: Option<Timestamp>,
        visit: &mut dyn FnMut(FeatureRecord) -> Result<()>,
    ) -> Result<()> {
        (**self).for_each_feature(layer, as_of, visit)
    }

    fn envelopes(&self, layer: &str) -> Result<Vec<(Uuid, [f64; 4])>> {
        (**self).envelopes(layer)
    }

    fn search(
        &self,
        layer: &str,
        field: &str,
        needle: &str,
        mode: Match,
        limit: u64,
    ) -> Result<Vec<FeatureRecord>> {
        (**self).search(layer, field, needle, mode, limit)
    }

    fn feature(&self, layer: &str, id: Uuid) -> Result<FeatureRecord> {
        (**self).feature(layer, id)
    }

    fn feature_history(&self, layer: &str, id: Uuid) -> Result<Vec<FeatureRecord>> {
        (**self).feature_history(layer, id)
    }

    fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64> {
        (**self).next_in_sequence(key, floor)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        (**self).meta(key)
    }

    fn set_meta(&self, key: &str, value: &str, change: &Change) -> Result<()> {
        (**self).set_meta(key, value, change)
    }

    fn write_records(&self, change: &Change, writes: &[RecordWrite]) -> Result<Vec<u64>> {
        (**self).write_records(change, writes)
    }

    fn write_numbered(
        &self,
        change: &Change,
        key: &str,
        make: &mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>,
    ) -> Result<(u64, Vec<u64>)> {
        (**self).write_numbered(change, key, make)
    }

    fn record(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        (**self).record(collection, id)
    }

    fn find_records(&self, collection: &str, query: &RecordQuery) -> Result<RecordPage> {
        (**self).find_records(collection, query)
    }

    fn record_denial(&self, change: &Change, resource: &str, detail: Option<Value>) -> Result<()> {
        (**self).record_denial(change, resource, detail)
    }

    fn audit_trail(&self, query: &AuditQuery) -> Result<Vec<audit::AuditEntry>> {
        (**self).audit_trail(query)
    }

    fn verify_audit(&self) -> Result<audit::AuditReport> {
        (**self).verify_audit()
    }

    fn write_blob_with_records(
        &self,
        change: &Change,
        blob: &BlobWrite<'_>,
        writes: &[RecordWrite],
    ) -> Result<(String, Vec<u64>)> {
        (**self).write_blob_with_records(change, blob, writes)
    }

    fn blob(&self, sha256: &str) -> Result<Option<Blob>> {
        (**self).blob(sha256)
    }
}

/// One reading of what has changed in a store ([`Store::revisions`]). Each part is a number
/// that moves (never back) whenever what it covers is committed, by this process or another; a
/// backend may move a part more often than that (never less), so a cache keyed on a part is never
/// stale, only sometimes read again for nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revisions {
    /// Moves with every committed write: [`Store::change_counter`].
    pub changes: u64,
    /// Moves whenever a layer, its definition or its features change.
    pub layers: u64,
    /// Moves whenever a setting ([`Store::set_meta`]) changes.
    pub settings: u64,
    /// Per record collection, when the backend tracks them apart: moves whenever one of its
    /// records is written. `None`: every collection moves with `changes`.
    collections: Option<std::sync::Arc<BTreeMap<String, u64>>>,
}

impl Revisions {
    /// Every part at `changes`: what a backend that does not track them apart reports.
    #[must_use]
    pub fn coarse(changes: u64) -> Self {
        Self {
            changes,
            layers: changes,
            settings: changes,
            collections: None,
        }
    }

    /// Parts tracked apart; a collection not in `collections` has never been written (0).
    #[must_use]
    pub fn tracked(
        changes: u64,
        layers: u64,
        settings: u64,
        collections: BTreeMap<String, u64>,
    ) -> Self {
        Self {
            changes,
            layers,
            settings,
            collections: Some(std::sync::Arc::new(collections)),
        }
    }

    /// Whether every part but the change counter is the same in `other` (when collections are
    /// not tracked apart they move with the counter, which is then compared too): what a cache
    /// keyed on parts would make of the two readings is the same.
    #[must_use]
    pub fn same_parts(&self, other: &Self) -> bool {
        self.layers == other.layers
            && self.settings == other.settings
            && self.collections == other.collections
            && (self.collections.is_some() || self.changes == other.changes)
    }

    /// A number that moves whenever a record of any of `names` is written: a key for a cache of
    /// what those collections hold.
    #[must_use]
    pub fn of_collections(&self, names: &[&str]) -> u64 {
        match &self.collections {
            None => self.changes,
            Some(map) => names
                .iter()
                .filter_map(|n| map.get(*n))
                .copied()
                .max()
                .unwrap_or(0),
        }
    }
}

/// A file to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobWrite<'a> {
    /// Its MIME type.
    pub content_type: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// What it belongs to (for the audit entry), e.g. `order:GD440605-…`.
    pub resource: &'a str,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its MIME type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Lets a store hand out official code numbers (`tudi_core::bdcdy` allocation).
pub struct Sequences<'a>(pub &'a dyn Store);

impl tudi_core::bdcdy::SequenceSource for Sequences<'_> {
    type Error = StoreError;
    fn next_in_sequence(&self, key: &str, floor: u64) -> Result<u64> {
        self.0.next_in_sequence(key, floor)
    }
}
