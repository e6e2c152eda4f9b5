//! The check every import passes: the file read as the import will read it, checked by the
//! rule set of the layer's kind against the store's other layers. Errors block the import;
//! warnings are kept with the layer as a check record (collection `quality_check`).

use std::path::Path;

use serde_json::{Map, Value, json};
use tudi_core::layer::LayerKind;
use tudi_core::msg::{Bilingual, Msg};
use tudi_geo::crs::Crs;
use tudi_onemap::import::{self, ImportError, ImportOptions, PlanarFeature};
use tudi_store::{Change, Expect, RecordWrite, Store, StoreError};

use crate::check::{self, OtherLayers, Report};
use crate::rules::{RuleFileError, RuleSet, Severity};

/// Where kept check records go.
pub const COLLECTION: &str = "quality_check";

/// Findings kept in one record at most (the totals count them all): a record stays a size a
/// page can show; the full list is the report file's.
pub const KEPT_FINDINGS: usize = 5_000;

/// The rule set an import into a layer of `kind` runs, when one is shipped for it.
#[must_use]
pub const fn set_for_kind(kind: LayerKind) -> Option<&'static str> {
    match kind {
        LayerKind::Parcel => Some("parcels"),
        LayerKind::LandSurvey => Some("land_survey"),
        LayerKind::Planning => Some("village_plan"),
        _ => None,
    }
}

/// The rule set an import runs: `named` (a shipped id or a `.json` file) when given, else the
/// one of the layer's kind, else none.
///
/// # Errors
/// An unknown set, a rule file that cannot be used.
pub fn set_for_import(
    named: Option<&str>,
    kind: LayerKind,
) -> Result<Option<RuleSet>, RuleFileError> {
    named
        .or_else(|| set_for_kind(kind))
        .map(RuleSet::find)
        .transpose()
}

/// A file checked before its import, with what the check read (until the import's gate has
/// used it).
#[derive(Debug)]
pub struct Checked {
    /// The CRS the check measured in.
    pub crs: Crs,
    /// What was found.
    pub report: Report,
    features: Vec<PlanarFeature>,
    others: OtherLayers,
}

impl Checked {
    /// Whether the import may go on: no finding of severity error.
    #[must_use]
    pub fn passes(&self) -> bool {
        self.report.count(Severity::Error) == 0
    }

    /// Checks again without the features the import leaves out (`skipped`: source positions),
    /// so that nothing they caused (a repeated code, an overlap) is held against the rest; then
    /// lets go of what was read.
    pub fn settle(&mut self, set: &RuleSet, skipped: &[usize]) {
        if !skipped.is_empty() {
            let skipped: std::collections::BTreeSet<usize> = skipped.iter().copied().collect();
            let kept: Vec<PlanarFeature> = std::mem::take(&mut self.features)
                .into_iter()
                .filter(|f| !skipped.contains(&f.index))
                .collect();
            self.report = check::run(set, self.crs, &kept, &self.others);
        }
        self.features = Vec::new();
        self.others = OtherLayers::new();
    }
}

/// The layers of `store` that `set` compares with, read in `crs`; a layer the store lacks is
/// left out (the report lists its rules as not run).
///
/// # Errors
/// The store fails, or a layer cannot be brought into `crs`.
pub fn other_layers(
    store: &dyn Store,
    set: &RuleSet,
    crs: Crs,
) -> Result<OtherLayers, ImportError> {
    let mut others = OtherLayers::new();
    for layer in set.other_layers() {
        match import::read_layer_planar(store, layer, Some(crs)) {
            Ok((_, read)) => {
                others.insert(layer.to_owned(), read);
            }
            Err(ImportError::Store(StoreError::UnknownLayer(_))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(others)
}

/// Reads `file` as [`import::import_file`] will (same source CRS, the layer's CRS when it is
/// projected, properties named as the layer's fields) and checks it with `set` against the
/// other layers of `store`.
///
/// # Errors
/// The file cannot be read, its CRS cannot be told, the store fails.
pub fn check_file(
    store: &dyn Store,
    file: &Path,
    opts: &ImportOptions,
    set: &RuleSet,
) -> Result<Checked, ImportError> {
    check_file_observed(store, file, opts, set, &|_, _| {})
}

/// [`check_file`], telling `observe` the rules done out of all as each finishes.
///
/// # Errors
/// As [`check_file`].
pub fn check_file_observed(
    store: &dyn Store,
    file: &Path,
    opts: &ImportOptions,
    set: &RuleSet,
    observe: &(dyn Fn(usize, usize) + Sync),
) -> Result<Checked, ImportError> {
    let existing = match store.layer_def(&opts.layer) {
        Ok(def) => Some(def),
        Err(StoreError::UnknownLayer(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let layer_crs = match &existing {
        Some(def) => Some(Crs::from_epsg(def.epsg).map_err(|e| ImportError::Crs(e.msg()))?),
        None => opts.layer_crs,
    };
    let mut read = opts.clone();
    // Checks measure in metres: a layer kept in degrees is checked in its zone.
    read.layer_crs = layer_crs.filter(|c| !c.is_geographic() && *c != Crs::WEB_MERCATOR);
    let (crs, mut features) = import::read_planar(file, &read)?;
    let fields = existing.as_ref().map_or_else(
        || tudi_onemap::schema::default_fields(opts.kind),
        |d| d.fields.clone(),
    );
    for f in &mut features {
        name_as_imported(f, opts, &fields);
    }
    let others = other_layers(store, set, crs)?;
    Ok(Checked {
        crs,
        report: check::run_observed(set, crs, &features, &others, observe),
        features,
        others,
    })
}

/// Renames a feature's properties as the import maps them onto the layer's fields: an explicit
/// `--map` first, else a field of the same name (any case) or title.
pub fn name_as_imported(
    f: &mut PlanarFeature,
    opts: &ImportOptions,
    fields: &[tudi_core::layer::FieldDef],
) {
    let props = std::mem::take(&mut f.properties);
    let mut named = Map::new();
    for (k, v) in props {
        let target = opts
            .field_map
            .iter()
            .find(|(from, _)| *from == k)
            .map(|(_, to)| to.clone())
            .or_else(|| {
                fields
                    .iter()
                    .find(|d| d.name.eq_ignore_ascii_case(&k) || d.title == k)
                    .map(|d| d.name.clone())
            })
            .unwrap_or(k);
        named.insert(target, v);
    }
    f.properties = named;
}

/// Keeps the check of an import with its layer: a record naming the layer, the file, the rule
/// set, the totals by rule and the findings (at most [`KEPT_FINDINGS`]). Returns its id.
///
/// # Errors
/// The store refused the write.
pub fn keep(
    store: &dyn Store,
    change: &Change,
    layer: &str,
    file: &str,
    set: &RuleSet,
    checked: &Checked,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "layer": layer,
        "file": file,
        "rule_set": set.id,
        "crs": checked.crs.code_string(),
        "checked_at": jiff::Timestamp::now().to_string(),
        "by": change.actor,
        "summary": summary(set, &checked.report),
        "findings": findings_json(&checked.report, KEPT_FINDINGS),
    });
    store.write_records(
        change,
        &[RecordWrite {
            collection: COLLECTION.into(),
            id: id.clone(),
            expect: Expect::Absent,
            body: Some(body),
            keys: vec![("layer".into(), layer.to_owned())],
            detail: Some(json!({"layer": layer, "rule_set": set.id})),
        }],
    )?;
    Ok(id)
}

/// Totals of a report: features, errors, warnings, each rule's count, the rules not run.
#[must_use]
pub fn summary(set: &RuleSet, report: &Report) -> Value {
    json!({
        "features": report.features,
        "errors": report.count(Severity::Error),
        "warnings": report.count(Severity::Warning),
        "rules": report.totals(set).iter().map(|(rule, n)| json!({
            "id": rule.id,
            "severity": rule.severity.msg().en,
            "message": {"zh": rule.message.zh, "en": rule.message.en},
            "count": n,
        })).collect::<Vec<_>>(),
        "not_run": report.skipped.iter().map(|s| {
            let m = tudi_core::msg::Bilingual::msg(s);
            json!({"rule": s.rule, "layer": s.layer, "message": {"zh": m.zh, "en": m.en}})
        }).collect::<Vec<_>>(),
    })
}

/// The first `limit` findings as JSON: rule, severity, feature (from 1), its id, location,
/// message.
#[must_use]
pub fn findings_json(report: &Report, limit: usize) -> Vec<Value> {
    report
        .findings
        .iter()
        .take(limit)
        .map(|f| {
            json!({
                "rule": f.rule,
                "severity": f.severity.msg().en,
                "feature": f.feature + 1,
                "feature_id": f.feature_id,
                "location": f.location.map(|c| [c.x, c.y]),
                "message": {"zh": f.message.zh, "en": f.message.en},
            })
        })
        .collect()
}

/// Why an import was refused by its check, in both languages.
#[must_use]
pub fn refusal(report: &Report) -> Msg {
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    Msg::new(
        format!("质检未通过（错误 {errors} 条，警告 {warnings} 条），未导入任何要素"),
        format!(
            "the quality check failed ({errors} errors, {warnings} warnings); nothing was imported"
        ),
    )
}

/// The checks kept with `layer`, newest first: a page of `limit` from `offset`, and how many in
/// all.
///
/// # Errors
/// The store fails.
pub fn kept(
    store: &dyn Store,
    layer: &str,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Value>, u64), StoreError> {
    let all = store.find_records(
        COLLECTION,
        &tudi_store::RecordQuery {
            key: Some(("layer".into(), layer.to_owned())),
            limit: None,
            offset: 0,
            descending: false,
        },
    )?;
    // Ids are UUIDv7, so id order is the order they were kept in.
    let page = all
        .records
        .into_iter()
        .rev()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|r| {
            let mut body = r.body;
            if let Some(o) = body.as_object_mut() {
                o.insert("id".into(), Value::String(r.id));
            }
            body
        })
        .collect();
    Ok((page, all.total))
}
