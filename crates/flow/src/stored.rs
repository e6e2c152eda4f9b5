//! Definitions and cases kept in the store as records (collections `process` and `case`), so
//! every deployment and every action is a durable, audited write. A definition version, once
//! deployed, never changes; a case is written on the revision it was read at, so concurrent
//! actions have exactly one winner.

use serde_json::json;
use tudi_core::msg::Msg;
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::case::{Assign, Case, Engine, FlowError, Op};
use crate::definition::ProcessDef;
use tudi_core::calendar::WorkCalendar;

/// Why a stored operation failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    /// The engine refused.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The definition cannot run, or that version exists.
    #[error("{0}")]
    Definition(String, Msg),
    /// No such case or definition.
    #[error("not found: {0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for StoredError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict {
                expected, found, ..
            } => Self::Flow(FlowError::Conflict {
                expected: expected.trim_start_matches("version ").parse().unwrap_or(0),
                found: found.trim_start_matches("version ").parse().unwrap_or(0),
            }),
            other => Self::Store(other),
        }
    }
}

impl StoredError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Flow(e) => e.message(),
            Self::Definition(_, m) => m.clone(),
            Self::NotFound(what) => {
                Msg::new(format!("未找到 {what}"), format!("not found: {what}"))
            }
            Self::Store(e) => Msg::new(format!("存储出错：{e}"), format!("store error: {e}")),
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, StoredError> {
    serde_json::from_value(v).map_err(|e| {
        StoredError::Store(StoreError::Database {
            doing: "decoding a workflow record",
            source: Box::new(e),
        })
    })
}

fn encode<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, StoredError> {
    serde_json::to_value(v).map_err(|e| {
        StoredError::Store(StoreError::Database {
            doing: "encoding a workflow record",
            source: Box::new(e),
        })
    })
}

/// The engine over a store.
pub struct Workflows<'a> {
    /// Where definitions and cases live.
    pub store: &'a dyn Store,
    /// Working days.
    pub calendar: &'a WorkCalendar,
}

impl Workflows<'_> {
    /// Deploys a definition version (checked first; a version is never replaced).
    ///
    /// # Errors
    /// [`StoredError::Definition`] when it cannot run or the version exists.
    pub fn deploy(&self, change: &Change, def: &ProcessDef) -> Result<(), StoredError> {
        def.check()
            .map_err(|e| StoredError::Definition(e.reason.clone(), e.message()))?;
        let id = format!("{}@{}", def.key, def.version);
        let write = RecordWrite {
            collection: "process".into(),
            id: id.clone(),
            expect: Expect::Absent,
            body: Some(encode(def)?),
            keys: vec![("key".into(), def.key.clone())],
            detail: Some(json!({"version": def.version})),
        };
        match self.store.write_records(change, &[write]) {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(StoredError::Definition(
                format!("{id} is already deployed"),
                Msg::new(
                    format!(
                        "流程 {} 的第 {} 版已发布，不能修改；请发布新版本",
                        def.key, def.version
                    ),
                    format!("{id} is already deployed: deploy a new version"),
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A deployed definition version.
    ///
    /// # Errors
    /// [`StoredError::NotFound`].
    pub fn definition(&self, key: &str, version: u32) -> Result<ProcessDef, StoredError> {
        let id = format!("{key}@{version}");
        let rec = self
            .store
            .record("process", &id)?
            .ok_or(StoredError::NotFound(id))?;
        decode(rec.body)
    }

    /// The newest deployed version of `key`.
    ///
    /// # Errors
    /// [`StoredError::NotFound`] when none is deployed.
    pub fn latest(&self, key: &str) -> Result<ProcessDef, StoredError> {
        let page = self.store.find_records(
            "process",
            &RecordQuery {
                key: Some(("key".into(), key.into())),
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        let mut best: Option<ProcessDef> = None;
        for rec in page.records {
            let def: ProcessDef = decode(rec.body)?;
            if best.as_ref().is_none_or(|b| def.version > b.version) {
                best = Some(def);
            }
        }
        best.ok_or_else(|| StoredError::NotFound(key.to_owned()))
    }

    /// Starts a case of the newest version of `key`.
    ///
    /// # Errors
    /// [`StoredError`]; nothing is written.
    pub fn start(
        &self,
        change: &Change,
        key: &str,
        id: &str,
        assign: Assign<'_>,
    ) -> Result<Case, StoredError> {
        let def = self.latest(key)?;
        let engine = Engine {
            def: &def,
            assign,
            calendar: self.calendar,
            holds: None,
        };
        let case = Case::start(&engine, id, &change.actor, change.at)?;
        self.write(change, &case, Expect::Absent, "start")?;
        Ok(case)
    }

    /// A case.
    ///
    /// # Errors
    /// [`StoredError::NotFound`].
    pub fn case(&self, id: &str) -> Result<Case, StoredError> {
        let rec = self
            .store
            .record("case", id)?
            .ok_or_else(|| StoredError::NotFound(id.to_owned()))?;
        decode(rec.body)
    }

    /// Applies `op` to the case as it was at `revision`, on the definition version it started
    /// with.
    ///
    /// # Errors
    /// [`StoredError`]; nothing is written.
    pub fn act(
        &self,
        change: &Change,
        id: &str,
        revision: u64,
        op: Op,
        assign: Assign<'_>,
    ) -> Result<Case, StoredError> {
        let mut case = self.case(id)?;
        let def = self.definition(&case.process, case.version)?;
        let engine = Engine {
            def: &def,
            assign,
            calendar: self.calendar,
            holds: None,
        };
        let action = op.name();
        case.act(&engine, revision, &change.actor, op, change.at)?;
        self.write(change, &case, Expect::Version(revision), action)?;
        Ok(case)
    }

    fn write(
        &self,
        change: &Change,
        case: &Case,
        expect: Expect,
        action: &str,
    ) -> Result<(), StoredError> {
        self.store
            .write_records(change, &[Self::case_write(case, expect, action)?])?;
        Ok(())
    }

    /// The record write that saves `case` (indexed by process, status and open assignees), for
    /// capabilities that save a case together with their own records in one transaction.
    ///
    /// # Errors
    /// [`StoredError::Store`] when the case cannot be encoded.
    pub fn case_write(
        case: &Case,
        expect: Expect,
        action: &str,
    ) -> Result<RecordWrite, StoredError> {
        let status = serde_json::to_value(case.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut keys = vec![
            ("process".to_owned(), case.process.clone()),
            ("status".to_owned(), status),
        ];
        for t in case.open_tasks() {
            for a in &t.assignees {
                keys.push(("assignee".into(), a.clone()));
            }
        }
        Ok(RecordWrite {
            collection: "case".into(),
            id: case.id.clone(),
            expect,
            body: Some(encode(case)?),
            keys,
            detail: Some(json!({"action": action, "revision": case.revision})),
        })
    }
}
