//! In-memory snapshots of layers for the request paths (compliance analysis, vector tiles).
//!
//! Reading a million-parcel layer through SQLite on every request costs a statement, an R-tree
//! walk, a blob decode and an attribute map per feature. A [`LayerSnapshot`] holds a layer in
//! memory instead: each geometry as WKB in the layer's CRS (for areas) and in Web Mercator (for
//! tiles, so no tile reprojects), the few attributes requests read, and an R-tree per CRS.
//! About 400 bytes per small parcel: 1,000,000 parcels take ~400 MB.
//!
//! **Never stale.** [`Snapshots::get`] hands out a snapshot only when it equals the store's
//! current content: every call reads the store's cheap [`Store::revisions`]; after any layer
//! change (from this process or another) the snapshots' [`Store::layer_revision`]s are checked
//! again and the changed ones dropped. Until a layer's snapshot is (re)built on the background
//! thread, callers read the store directly — slower, never wrong. A layer edited continuously
//! is rebuilt after each edit; an incremental refresh is left for later.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use geo::BoundingRect;
use geo_types::{Geometry, Rect};
use rayon::prelude::*;
use serde_json::Value;
use tudi_geo::crs::{Crs, Transformer};
use tudi_geo::index::SpatialIndex;
use tudi_geo::io::wkb;
use tudi_geo::mvt::TileAttr;
use tudi_store::{FeatureRecord, LayerDef, Store, StoreError};
use uuid::Uuid;

use crate::tiles::tile_fields;

/// Attributes kept besides the tile fields: what compliance reports and filters on, and the
/// quality grade farmland occupation is measured by.
const EXTRA_FIELDS: [&str; 3] = ["code", "land_use", "quality_grade"];

/// Geometries as WKB, back to back.
#[derive(Default)]
struct WkbArena {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl WkbArena {
    fn push(&mut self, wkb: &[u8]) {
        self.bytes.extend_from_slice(wkb);
        self.ends.push(self.bytes.len());
    }

    fn get(&self, i: usize) -> Option<Geometry<f64>> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        wkb::from_wkb(self.bytes.get(start..end)?).ok()
    }

    fn bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

/// One layer in memory, as of one revision.
pub struct LayerSnapshot {
    /// The layer's definition.
    pub def: LayerDef,
    /// The store revision this snapshot equals.
    pub revision: u64,
    fields: Vec<&'static str>,
    ids: Vec<Uuid>,
    attrs: Vec<Box<[Option<TileAttr>]>>,
    in_layer_crs: WkbArena,
    in_mercator: WkbArena,
    index: SpatialIndex,
    mercator_index: SpatialIndex,
}

/// One feature prepared off the request path.
struct Prepared {
    id: Uuid,
    attrs: Box<[Option<TileAttr>]>,
    layer_wkb: Vec<u8>,
    mercator_wkb: Vec<u8>,
    envelope: Option<Rect<f64>>,
    mercator_envelope: Option<Rect<f64>>,
}

/// The value of a JSON attribute as a tile attribute.
#[must_use]
pub fn tile_attr(v: Option<&Value>) -> Option<TileAttr> {
    match v? {
        Value::String(s) => Some(TileAttr::Text(s.clone())),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => TileAttr::Int(i),
            None => TileAttr::Number(n.as_f64().unwrap_or_default()),
        }),
        Value::Bool(b) => Some(TileAttr::Bool(*b)),
        _ => None,
    }
}

impl LayerSnapshot {
    /// Reads a layer from the store. The revision is read first, so a write during the load can
    /// only make the snapshot look older than it is (and be rebuilt), never newer.
    ///
    /// # Errors
    /// Store errors; an unsupported CRS.
    pub fn load(store: &dyn Store, layer: &str) -> Result<Self, StoreError> {
        let revision = store.layer_revision(layer)?;
        let def = store.layer_def(layer)?;
        let crs = Crs::from_epsg(def.epsg).map_err(|e| StoreError::Schema(e.to_string()))?;
        let to_mercator = Transformer::new(crs, Crs::WEB_MERCATOR)
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        let mut fields: Vec<&'static str> = tile_fields(def.kind).to_vec();
        for f in EXTRA_FIELDS {
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
        let fields: Vec<&'static str> = fields
            .into_iter()
            .filter(|f| def.fields.iter().any(|d| d.name == *f))
            .collect();
        let mut snap = Self {
            def,
            revision,
            fields,
            ids: Vec::new(),
            attrs: Vec::new(),
            in_layer_crs: WkbArena::default(),
            in_mercator: WkbArena::default(),
            index: SpatialIndex::from_envelopes(std::iter::empty()),
            mercator_index: SpatialIndex::from_envelopes(std::iter::empty()),
        };
        let mut envelopes = Vec::new();
        let mut mercator_envelopes = Vec::new();
        let mut chunk: Vec<FeatureRecord> = Vec::with_capacity(CHUNK);
        let mut flush = |chunk: &mut Vec<FeatureRecord>, snap: &mut Self| {
            let prepared: Vec<Prepared> = chunk
                .par_drain(..)
                .filter_map(|rec| snap.prepare(rec, &to_mercator))
                .collect();
            for p in prepared {
                snap.ids.push(p.id);
                snap.attrs.push(p.attrs);
                snap.in_layer_crs.push(&p.layer_wkb);
                snap.in_mercator.push(&p.mercator_wkb);
                envelopes.push(p.envelope);
                mercator_envelopes.push(p.mercator_envelope);
            }
        };
        store.for_each_feature(layer, None, &mut |rec| {
            chunk.push(rec);
            if chunk.len() >= CHUNK {
                flush(&mut chunk, &mut snap);
            }
            Ok(())
        })?;
        flush(&mut chunk, &mut snap);
        snap.index = SpatialIndex::from_envelopes(envelopes.into_iter());
        snap.mercator_index = SpatialIndex::from_envelopes(mercator_envelopes.into_iter());
        Ok(snap)
    }

    fn prepare(&self, rec: FeatureRecord, to_mercator: &Transformer) -> Option<Prepared> {
        let attrs = self
            .fields
            .iter()
            .map(|f| tile_attr(rec.attributes.get(*f)))
            .collect();
        let layer_wkb = wkb::to_wkb(&rec.geometry).ok()?;
        let envelope = rec.geometry.bounding_rect();
        let mut mercator = rec.geometry;
        // A feature outside Web Mercator's range is kept for compliance and left out of tiles.
        let (mercator_wkb, mercator_envelope) = match to_mercator.apply_geometry(&mut mercator) {
            Ok(()) => (wkb::to_wkb(&mercator).ok()?, mercator.bounding_rect()),
            Err(_) => (Vec::new(), None),
        };
        Some(Prepared {
            id: rec.id,
            attrs,
            layer_wkb,
            mercator_wkb,
            envelope,
            mercator_envelope,
        })
    }

    /// Number of features.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the layer is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Approximate memory held, in bytes.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let attrs: usize = self
            .attrs
            .iter()
            .map(|a| {
                a.len() * std::mem::size_of::<Option<TileAttr>>()
                    + a.iter()
                        .map(|v| match v {
                            Some(TileAttr::Text(s)) => s.capacity(),
                            _ => 0,
                        })
                        .sum::<usize>()
            })
            .sum();
        self.in_layer_crs.bytes()
            + self.in_mercator.bytes()
            + attrs
            + self.ids.capacity() * 16
            + (self.index.len() + self.mercator_index.len()) * 48
    }

    /// Features whose envelope in the layer's CRS meets `rect`.
    pub fn candidates(&self, rect: Rect<f64>) -> impl Iterator<Item = usize> + '_ {
        self.index.envelope_candidates(rect)
    }

    /// Features whose envelope in Web Mercator meets `rect`.
    pub fn mercator_candidates(&self, rect: Rect<f64>) -> impl Iterator<Item = usize> + '_ {
        self.mercator_index.envelope_candidates(rect)
    }

    /// The id of feature `i`.
    #[must_use]
    pub fn id(&self, i: usize) -> Option<Uuid> {
        self.ids.get(i).copied()
    }

    /// Feature `i` in the layer's CRS.
    #[must_use]
    pub fn geometry(&self, i: usize) -> Option<Geometry<f64>> {
        self.in_layer_crs.get(i)
    }

    /// Feature `i` in Web Mercator.
    #[must_use]
    pub fn mercator(&self, i: usize) -> Option<Geometry<f64>> {
        self.in_mercator.get(i)
    }

    /// A kept attribute of feature `i` (tile fields, `code`, `land_use`).
    #[must_use]
    pub fn attr(&self, i: usize, name: &str) -> Option<&TileAttr> {
        let k = self.fields.iter().position(|f| *f == name)?;
        self.attrs.get(i)?.get(k)?.as_ref()
    }

    /// A kept text attribute of feature `i`.
    #[must_use]
    pub fn text(&self, i: usize, name: &str) -> Option<&str> {
        match self.attr(i, name)? {
            TileAttr::Text(s) => Some(s),
            _ => None,
        }
    }
}

const CHUNK: usize = 20_000;

/// What a layer's snapshot is doing, for the status endpoint and logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LayerStatus {
    /// Layer name.
    pub layer: String,
    /// `ready`, `building` or `queued`.
    pub state: &'static str,
    /// Revision of the snapshot held (when ready).
    pub revision: Option<u64>,
    /// Features held.
    pub features: usize,
    /// Memory held, in bytes.
    pub memory_bytes: usize,
}

#[derive(Default)]
struct Inner {
    /// The change counter at which every held snapshot was last confirmed current.
    verified: Option<u64>,
    layers: HashMap<String, Arc<LayerSnapshot>>,
    defs: Option<Arc<Vec<LayerDef>>>,
    wanted: BTreeSet<String>,
    building: Option<String>,
}

/// The snapshots of a store's layers, kept current by a background thread.
pub struct Snapshots {
    store: Arc<dyn Store>,
    inner: Mutex<Inner>,
    work: Condvar,
}

impl Snapshots {
    /// Snapshots over `store`, with their builder thread (which ends when the value is dropped).
    #[must_use]
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let this = Arc::new(Self {
            store,
            inner: Mutex::new(Inner::default()),
            work: Condvar::new(),
        });
        let weak = Arc::downgrade(&this);
        let spawned = std::thread::Builder::new()
            .name("tudi-snapshots".into())
            .spawn(move || builder(&weak));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no snapshot builder thread; requests read the store");
        }
        this
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state, with every held snapshot confirmed current (or dropped).
    fn current(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        // Read before the layers' own revisions: a commit after this read moves it again. Only
        // layer changes move it, so a stream of other writes (work orders) costs no check.
        let counter = self.store.revisions()?.layers;
        let mut inner = self.lock();
        if inner.verified != Some(counter) {
            let store = &self.store;
            let mut stale = Vec::new();
            inner.layers.retain(|name, snap| {
                let current = store.layer_revision(name).ok() == Some(snap.revision);
                if !current {
                    stale.push(name.clone());
                }
                current
            });
            for name in stale {
                tracing::debug!(layer = %name, "layer changed; snapshot dropped");
                inner.wanted.insert(name);
            }
            inner.defs = None;
            inner.verified = Some(counter);
            self.work.notify_one();
        }
        Ok(inner)
    }

    /// The snapshot of `layer` when one equals the store's content now; otherwise `None` (and a
    /// build is queued), and the caller reads the store.
    #[must_use]
    pub fn get(&self, layer: &str) -> Option<Arc<LayerSnapshot>> {
        let mut inner = self.current().ok()?;
        if let Some(s) = inner.layers.get(layer) {
            return Some(Arc::clone(s));
        }
        if inner.building.as_deref() != Some(layer) && inner.wanted.insert(layer.to_owned()) {
            self.work.notify_one();
        }
        None
    }

    /// Every layer's definition and the snapshots current now, from one check against the
    /// store; layers without one are queued for building.
    ///
    /// # Errors
    /// Store errors.
    pub fn pin(&self) -> Result<Pinned, StoreError> {
        let mut inner = self.current()?;
        let defs = match &inner.defs {
            Some(d) => Arc::clone(d),
            None => {
                let d = Arc::new(self.store.layer_defs()?);
                inner.defs = Some(Arc::clone(&d));
                d
            }
        };
        let mut queued = false;
        for d in defs.iter() {
            if !inner.layers.contains_key(&d.name) && inner.building.as_deref() != Some(&d.name) {
                queued |= inner.wanted.insert(d.name.clone());
            }
        }
        if queued {
            self.work.notify_one();
        }
        Ok(Pinned {
            defs,
            snapshots: inner.layers.clone(),
        })
    }

    /// Queues every layer for building (a server's warm-up).
    ///
    /// # Errors
    /// Store errors.
    pub fn warm_all(&self) -> Result<(), StoreError> {
        let defs = self.store.layer_defs()?;
        let mut inner = self.lock();
        for d in defs.iter() {
            if !inner.layers.contains_key(&d.name) {
                inner.wanted.insert(d.name.clone());
            }
        }
        self.work.notify_one();
        Ok(())
    }

    /// Builds every queued layer on the calling thread, and waits for the one the background
    /// thread is building (tests and benchmarks).
    ///
    /// # Errors
    /// Store errors.
    pub fn build_now(&self) -> Result<(), StoreError> {
        loop {
            let (next, busy) = {
                let mut inner = self.lock();
                (inner.wanted.pop_first(), inner.building.is_some())
            };
            match next {
                Some(name) => self.build(&name)?,
                None if busy => std::thread::sleep(Duration::from_millis(5)),
                None => return Ok(()),
            }
        }
    }

    /// What each layer's snapshot is doing.
    #[must_use]
    pub fn status(&self) -> Vec<LayerStatus> {
        let inner = self.lock();
        let mut out: Vec<LayerStatus> = inner
            .layers
            .iter()
            .map(|(name, s)| LayerStatus {
                layer: name.clone(),
                state: "ready",
                revision: Some(s.revision),
                features: s.len(),
                memory_bytes: s.memory_bytes(),
            })
            .collect();
        for (name, state) in inner
            .building
            .iter()
            .map(|n| (n, "building"))
            .chain(inner.wanted.iter().map(|n| (n, "queued")))
        {
            out.push(LayerStatus {
                layer: name.clone(),
                state,
                revision: None,
                features: 0,
                memory_bytes: 0,
            });
        }
        out.sort_by(|a, b| a.layer.cmp(&b.layer));
        out
    }

    fn build(&self, name: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let snap = match LayerSnapshot::load(&*self.store, name) {
            Ok(s) => s,
            // Dropped meanwhile: nothing to hold.
            Err(StoreError::UnknownLayer(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut inner = self.lock();
        // Kept only if nothing was committed to the layer since its revision was read; the
        // next request confirms it again in any case.
        if self.store.layer_revision(name).ok() == Some(snap.revision) {
            tracing::info!(
                layer = name,
                features = snap.len(),
                megabytes = snap.memory_bytes() >> 20,
                millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "layer snapshot ready"
            );
            // Layer names are few and chosen by the bureau, so they make a bounded label.
            metrics::counter!("tudi_snapshot_builds_total", "layer" => name.to_owned())
                .increment(1);
            metrics::histogram!("tudi_snapshot_build_seconds").record(started.elapsed());
            inner.layers.insert(name.to_owned(), Arc::new(snap));
            inner.verified = None;
        }
        Ok(())
    }
}

fn builder(weak: &Weak<Snapshots>) {
    loop {
        let Some(this) = weak.upgrade() else {
            return;
        };
        let next = {
            let mut inner = this.lock();
            match inner.wanted.pop_first() {
                Some(n) => {
                    inner.building = Some(n.clone());
                    Some(n)
                }
                None => {
                    // Wake now and then to notice that the owner is gone.
                    let _ = this
                        .work
                        .wait_timeout(inner, Duration::from_millis(500))
                        .map_err(|_| ());
                    None
                }
            }
        };
        if let Some(name) = next {
            if let Err(e) = this.build(&name) {
                tracing::warn!(layer = %name, error = %e, "layer snapshot failed; requests read the store");
            }
            this.lock().building = None;
        }
    }
}

/// Where request paths read layers: a current snapshot when there is one, else the store.
#[derive(Clone, Copy)]
pub struct MapView<'a> {
    store: &'a dyn Store,
    snapshots: Option<&'a Snapshots>,
}

impl<'a> MapView<'a> {
    /// A view over `store`, using `snapshots` when given.
    #[must_use]
    pub fn new(store: &'a dyn Store, snapshots: Option<&'a Snapshots>) -> Self {
        Self { store, snapshots }
    }

    /// The store itself.
    #[must_use]
    pub fn store(&self) -> &'a dyn Store {
        self.store
    }

    /// Every layer's definition and the snapshots current now, for a request that reads several
    /// layers: it sees one moment and checks the store once.
    ///
    /// # Errors
    /// Store errors.
    pub fn pin(&self) -> Result<Pinned, StoreError> {
        match self.snapshots {
            Some(s) => s.pin(),
            None => Ok(Pinned {
                defs: Arc::new(self.store.layer_defs()?),
                snapshots: HashMap::new(),
            }),
        }
    }

    /// The layer's snapshot, when a current one exists.
    #[must_use]
    pub fn snapshot(&self, layer: &str) -> Option<Arc<LayerSnapshot>> {
        self.snapshots?.get(layer)
    }
}

/// Layer definitions and current snapshots taken together ([`MapView::pin`]).
pub struct Pinned {
    /// Every layer's definition, in creation order.
    pub defs: Arc<Vec<LayerDef>>,
    snapshots: HashMap<String, Arc<LayerSnapshot>>,
}

impl Pinned {
    /// The layer's snapshot, if one was current when pinned.
    #[must_use]
    pub fn snapshot(&self, layer: &str) -> Option<&LayerSnapshot> {
        self.snapshots.get(layer).map(|s| &**s)
    }
}
