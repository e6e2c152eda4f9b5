//! Where a command's store is: the GeoPackage file in the data directory (the default), or a
//! district's schema in PostgreSQL when `--database postgres://…` is given. The data directory
//! keeps what is not in the store either way (signing keys, demo accounts, division lists).

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tudi_core::msg::Msg;
use tudi_store::Store;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store_pg::PgStore;

use crate::{failed, refused};

/// The store file inside a data directory.
pub const STORE_FILE: &str = "tudi.gpkg";

/// The `--database` URL of this run: from the command line, else from `tudi serve`'s config file.
static DATABASE: Mutex<Option<String>> = Mutex::new(None);

/// Records `--database` for every command of this run; a URL given earlier (on the command line)
/// is kept over a later one (from a config file).
///
/// # Errors
/// A URL that is not a PostgreSQL URL.
pub fn set_database(url: Option<String>) -> Result<()> {
    if let Some(u) = &url
        && !tudi_store_pg::is_database_url(u)
    {
        return Err(refused(Msg::new(
            format!("--database 应为 postgres://用户@主机:端口/数据库?schema=模式 形式，“{u}”不是"),
            format!("--database takes postgres://user@host:port/db?schema=NAME; {u:?} is not one"),
        )));
    }
    let mut current = DATABASE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if current.is_none() {
        *current = url;
    }
    Ok(())
}

/// The `--database` URL of this run, if any.
pub fn database() -> Option<String> {
    DATABASE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// An open store and how to name it to a person.
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// `…/tudi.gpkg`, or `PostgreSQL host:port/db schema d440605`.
    pub label: String,
    /// The file store, when it is one (a server opens readers on it).
    pub file: Option<Arc<GeoPackageStore>>,
    /// The data directory's lock, held shared while the file store is open, so that
    /// `tudi restore` never replaces the file under a command or a server using it.
    pub lock: Option<Arc<std::fs::File>>,
}

fn pg_label(store: &PgStore) -> String {
    let t = store.target();
    format!("PostgreSQL {} schema {}", t.label, t.schema)
}

fn cannot_open(what: &str, e: &dyn std::fmt::Display) -> anyhow::Error {
    failed(Msg::new(
        format!("无法打开数据库 {what}：{e}"),
        format!("cannot open the store {what}: {e}"),
    ))
}

/// Opens the existing store of this run.
///
/// # Errors
/// When it is missing or cannot be opened, with the way to make one.
pub fn open_store(data: &Path) -> Result<Opened> {
    if let Some(url) = database().as_deref() {
        let store = open_pg(url, data)?;
        return Ok(Opened {
            label: pg_label(&store),
            store: Arc::new(store),
            file: None,
            lock: None,
        });
    }
    let path = data.join(STORE_FILE);
    // Taken before the file is opened (and perhaps migrated): a restore waiting for the lock
    // must not move the file away between the open and the lock.
    let lock = match path.is_file() {
        true => Some(Arc::new(lock_data_dir(data, DirUse::Shared)?)),
        false => None,
    };
    let store = GeoPackageStore::open(&path).map_err(|e| {
        failed(Msg::new(
            format!(
                "无法打开数据目录 {} 中的数据库：{e}（可先运行 tudi demo --data {} 创建）",
                data.display(),
                data.display()
            ),
            format!(
                "cannot open the store in {}: {e} (create one with `tudi demo --data {}`)",
                data.display(),
                data.display()
            ),
        ))
    })?;
    let store = Arc::new(store);
    Ok(Opened {
        label: path.display().to_string(),
        store: store.clone(),
        file: Some(store),
        lock,
    })
}

/// Makes a new, empty store. With `replace`, an existing one is removed first; without it, an
/// existing one is refused.
///
/// # Errors
/// When one exists (without `replace`) or it cannot be made.
pub fn create_store(data: &Path, replace: bool) -> Result<Opened> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("创建目录 / creating {}", data.display()))?;
    if let Some(url) = database().as_deref() {
        let store = PgStore::open(url).map_err(|e| cannot_open(url, &e))?;
        let used = !store
            .audit_trail(&tudi_store::AuditQuery {
                limit: Some(1),
                ..Default::default()
            })
            .map_err(|e| cannot_open(url, &e))?
            .is_empty();
        let store = if used {
            if !replace {
                return Err(refused(Msg::new(
                    format!(
                        "{} 中已有数据；加 --force 替换它，或换一个模式（?schema=…）",
                        pg_label(&store)
                    ),
                    format!(
                        "{} already holds a store; add --force to replace it, or use another schema (?schema=…)",
                        pg_label(&store)
                    ),
                )));
            }
            store.drop_schema().map_err(|e| cannot_open(url, &e))?;
            drop(store);
            PgStore::open(url).map_err(|e| cannot_open(url, &e))?
        } else {
            store
        };
        return Ok(Opened {
            label: pg_label(&store),
            store: Arc::new(store),
            file: None,
            lock: None,
        });
    }
    let path = data.join(STORE_FILE);
    if path.exists() {
        if !replace {
            return Err(refused(Msg::new(
                format!(
                    "{} 已存在；加 --force 替换它，或换一个空目录",
                    path.display()
                ),
                format!(
                    "{} already exists; add --force to replace it, or use an empty directory",
                    path.display()
                ),
            )));
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = data.join(format!("{STORE_FILE}{suffix}"));
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("删除 / removing {}", p.display()))?;
            }
        }
    }
    let store = GeoPackageStore::create(&path)
        .map_err(|e| failed(Msg::new(format!("无法创建数据库：{e}"), e.to_string())))?;
    let store = Arc::new(store);
    Ok(Opened {
        label: path.display().to_string(),
        store: store.clone(),
        file: Some(store),
        lock: Some(Arc::new(lock_data_dir(data, DirUse::Shared)?)),
    })
}

/// Removes a store that a failed `tudi demo` left half-made.
pub fn discard(data: &Path, opened: Opened) {
    match opened.file {
        Some(file) => {
            drop(opened.store);
            drop(file);
            let _ = std::fs::remove_file(data.join(STORE_FILE));
        }
        None => {
            if let Some(url) = database()
                && let Ok(store) = PgStore::open(&url)
            {
                let _ = store.drop_schema();
            }
        }
    }
}

/// How a command uses a data directory while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirUse {
    /// Beside others (servers).
    Shared,
    /// With nobody else (a restore replacing the store file).
    Alone,
}

/// The lock file of a data directory: servers hold it shared while they run, a restore holds
/// it alone, so a store file is never replaced under a running server. The lock is released
/// when the returned file is dropped (or the process ends, however it ends).
///
/// # Errors
/// When the directory is in use the other way, or the lock file cannot be made.
pub fn lock_data_dir(data: &Path, how: DirUse) -> Result<std::fs::File> {
    let path = data.join("tudi.lock");
    // Read-only once it exists (a lock needs no more): a lock file made by another user — a
    // restore run as root — does not keep the service's own user out.
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("创建锁文件 / creating {}", path.display()))?,
        Err(e) => {
            return Err(failed(Msg::new(
                format!("无法打开锁文件 {}：{e}", path.display()),
                format!("cannot open the lock file {}: {e}", path.display()),
            )));
        }
    };
    let taken = match how {
        DirUse::Shared => file.try_lock_shared(),
        DirUse::Alone => file.try_lock(),
    };
    match taken {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(refused(match how {
            DirUse::Shared => Msg::new(
                format!("数据目录 {} 正在恢复备份，请稍后再启动", data.display()),
                format!(
                    "the data directory {} is being restored; start the server afterwards",
                    data.display()
                ),
            ),
            DirUse::Alone => Msg::new(
                format!(
                    "数据目录 {} 正由运行中的 tudi serve 使用；请先停止服务再恢复",
                    data.display()
                ),
                format!(
                    "a running `tudi serve` uses the data directory {}; stop it before restoring",
                    data.display()
                ),
            ),
        })),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(Msg::new(
            format!("无法锁定数据目录 {}：{e}", data.display()),
            format!("cannot lock the data directory {}: {e}", data.display()),
        ))),
    }
}

/// Opens a district's schema; one of an older version is migrated only after `pg_dump` has kept
/// a copy of it in `keep_in` (`tudi-<schema>-v<version>-<time>.dump`, restorable with
/// `pg_restore`). `TUDI_MIGRATE_WITHOUT_COPY=1` skips the copy (when the database's own backups
/// are known to be fresh, or pg_dump cannot match the server's version).
///
/// # Errors
/// As [`PgStore::open`], and when the copy cannot be made (the schema is then left as it was).
pub fn open_pg(url: &str, keep_in: &Path) -> Result<PgStore> {
    let keep = |from: u32| keep_pg_copy(url, keep_in, from);
    PgStore::open_keeping(url, &keep).map_err(|e| cannot_open(url, &e))
}

fn keep_pg_copy(url: &str, dir: &Path, from: u32) -> tudi_store::Result<()> {
    let failed = |why: String| tudi_store::StoreError::Database {
        doing: "keeping a copy with pg_dump",
        source: why.into(),
    };
    if std::env::var_os("TUDI_MIGRATE_WITHOUT_COPY").is_some() {
        tracing::warn!(
            from,
            "migrating without keeping a copy (TUDI_MIGRATE_WITHOUT_COPY)"
        );
        return Ok(());
    }
    let schema = tudi_store_pg::PgTarget::parse(url)?.schema;
    std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let file = dir.join(format!("tudi-{schema}-v{from}-{stamp}.dump"));
    let partial = dir.join(format!("tudi-{schema}-v{from}-{stamp}.dump.partial"));
    let ran = std::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--schema")
        .arg(&schema)
        .arg("--file")
        .arg(&partial)
        .arg("--dbname")
        .arg(tudi_store_pg::libpq_url(url))
        .output()
        .map_err(|e| {
            failed(format!(
                "pg_dump could not be run (install postgresql-client): {e}"
            ))
        })?;
    if !ran.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(failed(format!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&ran.stderr).trim()
        )));
    }
    std::fs::rename(&partial, &file).map_err(|e| failed(format!("{}: {e}", file.display())))?;
    tracing::info!(copy = %file.display(), from, "kept a copy of the district's schema before migrating it");
    Ok(())
}
