//! The version of tudi's tables in a store file, and bringing a file made by an older tudi up to
//! date.
//!
//! A file records the version in `tudi_meta` (`schema_version`) and each change of it in
//! `tudi_schema_history`. Opening a file of an older version first keeps a copy of it beside it
//! (`tudi.gpkg.v1-20261207T080000Z.bak`), then migrates it in one transaction, so that a crash
//! at any moment leaves either the old file or the migrated one, never a mixture. A file of a
//! newer version is refused with both versions named and left untouched.
//!
//! Versions: 1 — every release before versions were checked (some of its files lack layer
//! revisions); 2 — `tudi_schema_history`, every layer with a revision.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::db;
use crate::{Result, StoreError};

/// Version of tudi's own tables in a GeoPackage. The PostgreSQL backend numbers its own.
pub const SCHEMA_VERSION: u32 = 2;

/// Makes sure the file holds tudi's tables at [`SCHEMA_VERSION`]: creates them in a new file
/// (or a GeoPackage made elsewhere), migrates an older file after keeping a copy, refuses a
/// newer one.
pub(super) fn prepare(conn: &Connection, path: &Path) -> Result<()> {
    let found = stored_version(conn, path)?;
    match found {
        Some(v) if v == SCHEMA_VERSION => return Ok(()),
        Some(v) if v > SCHEMA_VERSION => return Err(newer(path, v)),
        _ => {}
    }
    let kept = match found {
        Some(v) => Some(keep_copy(conn, path, v)?),
        None => None,
    };
    in_transaction(conn, || {
        // Another process may have migrated the file since it was looked at.
        let now = stored_version(conn, path)?;
        match now {
            Some(v) if v == SCHEMA_VERSION => return Ok(()),
            Some(v) if v > SCHEMA_VERSION => return Err(newer(path, v)),
            _ => {}
        }
        super::init_file(conn, true)?;
        conn.execute(
            "INSERT INTO tudi_schema_history (version, applied_at, release, from_version, kept_copy)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                SCHEMA_VERSION,
                super::format_ts(jiff::Timestamp::now()),
                env!("CARGO_PKG_VERSION"),
                now,
                kept.as_deref().map(|p| p.display().to_string()),
            ],
        )
        .map_err(db("recording the schema version"))?;
        if let Some(from) = now {
            tracing::info!(from, to = SCHEMA_VERSION, "store file migrated");
        }
        Ok(())
    })
}

/// The version a file records: `None` for a file without tudi's tables.
///
/// # Errors
/// A version that is not a number (the file is refused, untouched).
pub fn stored_version(conn: &Connection, path: &Path) -> Result<Option<u32>> {
    let has_meta: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tudi_meta')",
            [],
            |r| r.get(0),
        )
        .map_err(db("reading the schema version"))?;
    if !has_meta {
        return Ok(None);
    }
    let text: Option<String> = conn
        .query_row(
            "SELECT value FROM tudi_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("reading the schema version"))?;
    let Some(text) = text else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|_| StoreError::NotAStore {
        path: path.display().to_string(),
        reason: format!(
            "its schema version {text:?} is not a number (数据库结构版本“{text}”无法识别)"
        ),
    })
}

fn newer(path: &Path, found: u32) -> StoreError {
    StoreError::NotAStore {
        path: path.display().to_string(),
        reason: format!(
            "its tables are of schema version {found}, made by a newer tudi; this tudi knows \
             version {SCHEMA_VERSION} and leaves the file untouched (数据库结构版本 {found} 高于\
             本程序支持的 {SCHEMA_VERSION}，文件未改动；请升级 tudi)"
        ),
    }
}

/// Copies the file before its migration, beside it; the copy is checked before the migration
/// goes on, so a failed copy (a full disk) stops it with the file unchanged.
fn keep_copy(conn: &Connection, path: &Path, from: u32) -> Result<PathBuf> {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let name = path
        .file_name()
        .map_or_else(|| "tudi.gpkg".into(), |n| n.to_string_lossy().into_owned());
    // Two migrations within a second (a restored old backup migrated again) keep both copies.
    let out = (1..)
        .map(|n| match n {
            1 => path.with_file_name(format!("{name}.v{from}-{stamp}.bak")),
            n => path.with_file_name(format!("{name}.v{from}-{stamp}-{n}.bak")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_file_name(format!("{name}.v{from}-{stamp}.bak")));
    super::copy::copy_checked(conn, &out, super::copy::Checks::WholeFile).map_err(|e| {
        StoreError::NotAStore {
            path: path.display().to_string(),
            reason: format!(
                "it is of schema version {from} and must be migrated, but the copy kept first \
             could not be made, so it was left untouched (需先备份再升级数据库结构，备份失败，\
             文件未改动): {e}"
            ),
        }
    })?;
    tracing::info!(copy = %out.display(), "kept a copy of the store file before migrating it");
    Ok(out)
}

/// Runs `work` in one write transaction (taken at once, so two processes migrating queue).
fn in_transaction(conn: &Connection, work: impl FnOnce() -> Result<()>) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(db("starting a migration"))?;
    match work() {
        Ok(()) => conn
            .execute_batch("COMMIT")
            .map_err(db("committing a migration")),
        Err(e) => {
            if let Err(r) = conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %r, "rolling back a migration failed");
            }
            Err(e)
        }
    }
}
