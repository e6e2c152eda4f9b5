//! Copies of a store file: a backup taken while servers go on reading and writing, and the
//! checks a copy must pass before it is trusted (after a backup, before a restore).
//!
//! The copy is SQLite's `VACUUM INTO` from a read transaction: a consistent snapshot of the
//! instant the copy began (every write committed before it, none after), made without holding
//! up writers (WAL). It is written under a temporary name, flushed to disk, checked, and only
//! then given its name, so a file with the backup's name is always a whole, checked copy.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{db, records, register_functions};
use crate::audit::AuditReport;
use crate::{Result, StoreError};

/// What a checked copy holds.
#[derive(Debug, Clone)]
pub struct CopyCheck {
    /// The version of tudi's tables in it (`None`: a GeoPackage without them).
    pub schema_version: Option<u32>,
    /// Its audit chain, verified (intact).
    pub audit: AuditReport,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Writes a consistent copy of the store file `source` to `out`, which must not exist, while
/// other connections and processes go on reading and writing `source`; then checks the copy
/// ([`check_copy`]). Nothing is left at `out` unless the copy is whole and checked.
///
/// # Errors
/// [`StoreError::NotAStore`] when `source` is not a GeoPackage or `out` exists;
/// [`StoreError::Database`] when the copy cannot be written (a full disk, a folder that cannot
/// be written); [`StoreError::BadCopy`] when the copy fails its check.
pub fn backup_file(source: &Path, out: &Path) -> Result<CopyCheck> {
    let conn = open_read_only(source)?;
    copy_checked(&conn, out, Checks::Backup)
}

/// How much a copy is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Everything a backup must be ([`check_copy`]).
    Backup,
    /// Only that the file is whole: the copy kept before a migration, which must be made even
    /// of a store whose audit chain has a fault (so that `tudi audit verify` can still open the
    /// store and name it).
    WholeFile,
}

/// The copy of [`backup_file`], from a connection already open on the store.
pub(super) fn copy_checked(conn: &Connection, out: &Path, checks: Checks) -> Result<CopyCheck> {
    if out.exists() {
        return Err(StoreError::NotAStore {
            path: out.display().to_string(),
            reason:
                "the file exists; a backup never replaces a file (文件已存在，备份不覆盖已有文件)"
                    .into(),
        });
    }
    let partial = partial_name(out);
    remove_unfinished(out);
    let Some(target) = partial.to_str() else {
        return Err(StoreError::NotAStore {
            path: out.display().to_string(),
            reason: "the path is not valid UTF-8 (路径含无法识别的字符)".into(),
        });
    };
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        remove_quietly(&partial);
        return Err(db("writing the copy")(e));
    }
    finish(&partial, out, checks)
}

/// Where a copy bound for `out` is written until it is whole and checked.
#[must_use]
pub fn partial_name(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Removes what interrupted copies (kill -9, a power cut) left beside `out`: `out`'s own
/// unfinished file, and any other `tudi….partial` there (scheduled backups and kept copies have
/// names of their own instant, so theirs are never `out`'s).
pub fn remove_unfinished(out: &Path) {
    remove_quietly(&partial_name(out));
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("tudi") && name.ends_with(".partial") {
            remove_quietly(&entry.path());
        }
    }
}

/// Finishes a copy written at `partial` (see [`partial_name`]): flushes it to disk, checks it
/// and gives it the name `out` — never replacing a file there; on any failure removes it.
///
/// # Errors
/// As [`check_copy`], when `out` appeared meanwhile, and when the file cannot be flushed or
/// named.
pub fn finish(partial: &Path, out: &Path, checks: Checks) -> Result<CopyCheck> {
    let checked = sync_file(partial).and_then(|()| match checks {
        Checks::Backup => check_copy(partial),
        Checks::WholeFile => check_whole(partial),
    });
    let check = match checked {
        Ok(check) => check,
        Err(e) => {
            remove_quietly(partial);
            return Err(e);
        }
    };
    // A link fails if `out` exists (a rename would replace it): the name is taken only if free.
    let named = std::fs::hard_link(partial, out).and_then(|()| std::fs::remove_file(partial));
    if let Err(e) = named {
        remove_quietly(partial);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(StoreError::NotAStore {
                path: out.display().to_string(),
                reason: "the file exists; a backup never replaces a file (文件已存在，备份不覆盖已有文件)"
                    .into(),
            });
        }
        return Err(io_failed("naming the copy (为副本命名)", e));
    }
    if let Some(dir) = out.parent()
        && let Err(e) = sync_dir(dir)
    {
        // The copy is whole and named; only the name's durability across a power cut is not
        // assured.
        tracing::warn!(error = %e, "could not flush the backup folder");
    }
    Ok(check)
}

fn bad_copy(path: &Path, reason: String) -> StoreError {
    StoreError::BadCopy {
        path: path.display().to_string(),
        reason,
    }
}

/// Opens a copy read-only after checking it is a whole SQLite file and a GeoPackage (the first
/// part of every check of a copy); with its size.
fn open_whole(path: &Path) -> Result<(Connection, u64)> {
    let bad = |reason: String| bad_copy(path, reason);
    let bytes = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot be read (无法读取): {e}")))?
        .len();
    let conn = open_read_only(path).map_err(|e| match e {
        StoreError::NotAStore { reason, .. } => bad(format!(
            "is damaged, cut short or not a GeoPackage (文件已损坏、不完整或不是 GeoPackage): {reason}"
        )),
        other => other,
    })?;
    let faults = integrity_faults(&conn)
        .map_err(|e| bad(format!("is damaged or cut short (文件已损坏或不完整): {e}")))?;
    if !faults.is_empty() {
        return Err(bad(format!(
            "is damaged (文件已损坏): {}",
            faults.join("; ")
        )));
    }
    Ok((conn, bytes))
}

/// The whole-file check alone.
fn check_whole(path: &Path) -> Result<CopyCheck> {
    let (conn, bytes) = open_whole(path)?;
    Ok(CopyCheck {
        schema_version: super::schema::stored_version(&conn, path)?,
        audit: AuditReport::default(),
        bytes,
    })
}

/// Checks a copy without changing it: a whole SQLite file (`PRAGMA integrity_check`), a
/// GeoPackage whose tudi tables are of a version this tudi knows, and an audit chain that
/// verifies.
///
/// # Errors
/// [`StoreError::BadCopy`] saying what is wrong; [`StoreError::Database`] when it cannot be
/// read at all.
pub fn check_copy(path: &Path) -> Result<CopyCheck> {
    let bad = |reason: String| bad_copy(path, reason);
    let (conn, bytes) = open_whole(path)?;
    let schema_version = super::schema::stored_version(&conn, path)?;
    let Some(v) = schema_version else {
        return Err(bad(
            "is a GeoPackage but not a tudi store (no schema version; 不是 tudi 数据库)".into(),
        ));
    };
    if v > super::schema::SCHEMA_VERSION {
        return Err(bad(format!(
            "was made by a newer tudi (schema version {v}; this tudi knows {}) (由较新版本的 tudi 写入)",
            super::schema::SCHEMA_VERSION
        )));
    }
    let audit = records::verify(&conn).map_err(|e| {
        bad(format!(
            "its audit chain cannot be read (审计链无法读取): {e}"
        ))
    })?;
    if !audit.is_intact() {
        let first = audit
            .faults
            .first()
            .map(|f| f.message().en)
            .unwrap_or_default();
        return Err(bad(format!(
            "its audit chain does not verify (审计链校验失败, {} faults): {first}",
            audit.faults.len()
        )));
    }
    Ok(CopyCheck {
        schema_version,
        audit,
        bytes,
    })
}

/// Folds a store file's WAL into the file (`wal_checkpoint(TRUNCATE)`), opening it as it is —
/// no migration, nothing else written — so that the file alone is the whole store (before it is
/// set aside by a restore).
///
/// # Errors
/// When it cannot be opened or the checkpoint cannot finish (another connection reading).
pub fn checkpoint_file(path: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(db("opening the store file"))?;
    register_functions(&conn).map_err(db("registering GeoPackage functions"))?;
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .map_err(db("checkpointing the WAL"))?;
    if busy != 0 {
        return Err(StoreError::Database {
            doing: "checkpointing the WAL",
            source: "another connection kept it busy".into(),
        });
    }
    Ok(())
}

/// A read-only connection on a store file that must be a GeoPackage.
fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(StoreError::NotAStore {
            path: path.display().to_string(),
            reason: "no such file (文件不存在)".into(),
        });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db("opening the store file"))?;
    register_functions(&conn).map_err(db("registering GeoPackage functions"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db("setting the busy timeout"))?;
    super::check_application_id(&conn, path)?;
    Ok(conn)
}

/// What `PRAGMA integrity_check` finds (at most ten), empty for a whole file.
fn integrity_faults(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)")?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// Removes what an unfinished copy left.
pub fn remove_quietly(path: &Path) {
    for p in [
        path.to_path_buf(),
        PathBuf::from(format!("{}-journal", path.display())),
        PathBuf::from(format!("{}-wal", path.display())),
        PathBuf::from(format!("{}-shm", path.display())),
    ] {
        if let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, file = %p.display(), "could not remove an unfinished copy");
        }
    }
}

fn io_failed(doing: &'static str, e: std::io::Error) -> StoreError {
    StoreError::Database {
        doing,
        source: Box::new(e),
    }
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_failed("flushing the copy to disk (写入磁盘)", e))
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_failed("flushing the folder to disk (写入磁盘)", e))
}
