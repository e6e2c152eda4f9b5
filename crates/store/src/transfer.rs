//! Moving a whole store between backends (`tudi migrate`): every layer with its history, every
//! record, file, sequence and setting, and the audit chain entry by entry as it was written, so
//! that the copy verifies with the same entry count and head hash.
//!
//! A backend that can be moved implements [`Transfer`]; [`copy`] streams one store into another,
//! empty one. Items come in dependency order (a layer before its features); the target writes
//! them in one transaction, so a failed copy leaves it empty.

use crate::{FeatureRecord, LayerDef, Result, StoreError};

/// One audit entry exactly as stored (its instant and detail as their stored text), so that a
/// copy hashes as the original did.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    /// Position in the chain.
    pub seq: u64,
    /// The instant as stored.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub resource: String,
    /// `done` or `denied`.
    pub outcome: String,
    /// Digest before.
    pub before: Option<String>,
    /// Digest after.
    pub after: Option<String>,
    /// The request.
    pub request_id: Option<String>,
    /// The detail as stored JSON text.
    pub detail: Option<String>,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// One piece of a store.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A setting.
    Meta {
        /// Its key.
        key: String,
        /// Its value.
        value: String,
    },
    /// A counter (code sequences, order numbers, the layer-revision counter).
    Sequence {
        /// Its key.
        key: String,
        /// Its last value.
        value: u64,
    },
    /// A layer's definition and revision; its features follow.
    Layer {
        /// The definition.
        def: LayerDef,
        /// Its revision.
        revision: u64,
    },
    /// A current feature of the last layer.
    Feature {
        /// The layer.
        layer: String,
        /// The feature, with its version and the instant it became current.
        record: FeatureRecord,
    },
    /// A closed version of a feature.
    History {
        /// The layer.
        layer: String,
        /// The version, with its validity interval.
        record: FeatureRecord,
        /// `update` or `delete`.
        op: String,
    },
    /// A record with its stored text.
    Record {
        /// The collection.
        collection: String,
        /// The id.
        id: String,
        /// The version.
        version: u64,
        /// The document as stored (its digest is over these bytes).
        body: String,
        /// When it was last written, as stored.
        updated_at: String,
    },
    /// An index key of a record.
    RecordKey {
        /// The collection.
        collection: String,
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// The record.
        record_id: String,
    },
    /// A stored file.
    Blob {
        /// Its SHA-256 (hex).
        sha256: String,
        /// Its MIME type.
        content_type: String,
        /// Its bytes.
        bytes: Vec<u8>,
        /// When it was stored, as stored.
        created_at: String,
    },
    /// An audit entry.
    Audit(StoredEntry),
    /// The last sequence number issued to the chain (beyond the last entry if its tail was cut,
    /// which a copy must keep visible).
    AuditHead {
        /// The number.
        seq: u64,
    },
}

/// A store that can be copied out whole and filled whole.
pub trait Transfer: crate::Store {
    /// Emits every item, from one consistent snapshot, in dependency order.
    ///
    /// # Errors
    /// Database errors, or what `emit` returns.
    fn export_all(&self, emit: &mut dyn FnMut(Item) -> Result<()>) -> Result<()>;

    /// Writes `items` into this store, which must be empty, in one transaction; `progress` is
    /// called with the number written so far. Returns the number of items.
    ///
    /// # Errors
    /// A store that is not empty, an item that cannot be written, or the source's error; nothing
    /// is written.
    fn import_all(
        &self,
        items: &mut dyn Iterator<Item = Result<Item>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64>;
}

/// Copies `from` into the empty store `to`, reading and writing at once.
///
/// # Errors
/// As [`Transfer::export_all`] and [`Transfer::import_all`]; `to` is left empty on failure.
pub fn copy(from: &dyn Transfer, to: &dyn Transfer, progress: &mut dyn FnMut(u64)) -> Result<u64> {
    let (send, receive) = std::sync::mpsc::sync_channel::<Result<Item>>(4096);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let outcome =
                from.export_all(&mut |item| send.send(Ok(item)).map_err(|_| StoreError::Cancelled));
            if let Err(e) = outcome {
                // The writer sees the failure as its last item and rolls back.
                let _ = send.send(Err(e));
            }
        });
        let written = to.import_all(&mut receive.into_iter(), progress);
        let _ = reader.join();
        written
    })
}
