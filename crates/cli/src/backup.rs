//! `tudi backup`, `tudi restore`, and the backups `tudi serve` takes on a schedule.
//!
//! A backup is one GeoPackage file whatever the store: the embedded store is copied with
//! SQLite's `VACUUM INTO` while the server goes on serving and writing; a PostgreSQL district is
//! copied into a new GeoPackage from one repeatable-read snapshot (the copy `tudi migrate`
//! makes). Either way the copy is checked — the file whole, its tables of a version this tudi
//! knows, its audit chain intact — before it gets its name, and its head hash is printed so it
//! can be compared with the live chain later.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use tudi_core::msg::Msg;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::gpkg::copy::{self, CopyCheck};
use tudi_store::{Store, StoreError};
use tudi_store_pg::PgStore;

use crate::location::{self, STORE_FILE};
use crate::{failed, out, refused};

/// What a backup copies.
#[derive(Debug, Clone)]
pub enum Source {
    /// The store file of a data directory.
    File(PathBuf),
    /// A district's schema in PostgreSQL.
    Database(String),
}

impl Source {
    /// The store of this run: `--database`, else the data directory's file.
    pub fn of_run(data: &Path) -> Self {
        match location::database() {
            Some(url) => Self::Database(url),
            None => Self::File(data.join(STORE_FILE)),
        }
    }
}

/// Why a backup or restore failed, in both languages; a copy that fails its check, a target
/// that exists, a source that is not a store are refused (exit 3), the rest failed (exit 1).
fn explain(doing: (&str, &str), e: &StoreError) -> anyhow::Error {
    let hint = match e {
        StoreError::Database { source, .. } if is_disk_full(&source.to_string()) => {
            ("（磁盘空间不足）", " (the disk is full)")
        }
        _ => ("", ""),
    };
    let msg = Msg::new(
        format!("{}失败{}：{e}", doing.0, hint.0),
        format!("{} failed{}: {e}", doing.1, hint.1),
    );
    match e {
        StoreError::BadCopy { .. } | StoreError::NotAStore { .. } => refused(msg),
        _ => failed(msg),
    }
}

fn is_disk_full(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("disk is full") || t.contains("no space left") || t.contains("disk full")
}

/// Takes a checked backup of `source` into `out` (which must not exist).
///
/// # Errors
/// The copy could not be made or failed its check; nothing is left at `out` then.
pub fn take(source: &Source, out: &Path, progress: &mut dyn FnMut(u64)) -> Result<CopyCheck> {
    const DOING: (&str, &str) = ("备份", "the backup");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(refused(Msg::new(
            format!("备份目录 {} 不存在或不是目录", dir.display()),
            format!(
                "the backup folder {} does not exist or is not a folder",
                dir.display()
            ),
        )));
    }
    match source {
        Source::File(path) => copy::backup_file(path, out).map_err(|e| explain(DOING, &e)),
        Source::Database(url) => {
            if out.exists() {
                return Err(explain(
                    DOING,
                    &StoreError::NotAStore {
                        path: out.display().to_string(),
                        reason: "the file exists; a backup never replaces a file (文件已存在，备份不覆盖已有文件)".into(),
                    },
                ));
            }
            let from = PgStore::open(url).map_err(|e| explain(DOING, &e))?;
            let partial = copy::partial_name(out);
            copy::remove_quietly(&partial);
            let copied = GeoPackageStore::create(&partial).and_then(|to| {
                tudi_store::transfer::copy(&from, &to, progress)?;
                // The copy keeps the district's settings but is a file of its own.
                drop(to);
                Ok(())
            });
            if let Err(e) = copied {
                copy::remove_quietly(&partial);
                return Err(explain(DOING, &e));
            }
            copy::finish(&partial, out).map_err(|e| explain(DOING, &e))
        }
    }
}

/// `tudi backup`: a checked copy of the store of this run in `out`.
pub fn cmd_backup(data: &Path, out_file: &Path) -> Result<()> {
    let source = Source::of_run(data);
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb.set_message("备份中 / backing up");
    let started = std::time::Instant::now();
    let check = take(&source, out_file, &mut |n| {
        pb.set_message(format!("备份中 / backing up: {n}"));
    });
    pb.finish_and_clear();
    let check = check?;
    report(
        ("已备份到", "backed up to"),
        out_file,
        &check,
        started.elapsed(),
    )
}

fn report(
    what: (&str, &str),
    file: &Path,
    check: &CopyCheck,
    took: std::time::Duration,
) -> Result<()> {
    let mut o = out();
    writeln!(
        o,
        "{} {}（{:.1} MB，{:.1} 秒）/ {} {} ({:.1} MB, {:.1} s)",
        what.0,
        file.display(),
        mb(check.bytes),
        took.as_secs_f64(),
        what.1,
        file.display(),
        mb(check.bytes),
        took.as_secs_f64()
    )?;
    writeln!(
        o,
        "文件完整，审计链完整：{} 条记录 / file whole, audit chain intact: {} entries",
        check.audit.entries, check.audit.entries
    )?;
    if let Some(head) = &check.audit.head {
        writeln!(o, "链头哈希 / head hash: {head}")?;
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// `tudi restore`: puts a checked backup in place of the store of this run. A file store is
/// replaced only while no server uses the data directory, and the replaced file is kept beside
/// it; a PostgreSQL schema must be empty.
pub fn cmd_restore(data: &Path, file: &Path) -> Result<()> {
    const DOING: (&str, &str) = ("恢复", "the restore");
    let started = std::time::Instant::now();
    let check = copy::check_copy(file).map_err(|e| explain(DOING, &e))?;
    match location::database() {
        Some(url) => restore_to_database(&url, file)?,
        None => restore_file(data, file)?,
    }
    report(
        ("已恢复自", "restored from"),
        file,
        &check,
        started.elapsed(),
    )?;
    let opened = location::open_store(data)?;
    let live = opened
        .store
        .verify_audit()
        .map_err(|e| explain(DOING, &e))?;
    if !live.is_intact() || live.head != check.audit.head {
        return Err(failed(Msg::new(
            "恢复后的数据库审计链与备份不一致",
            "the restored store's audit chain differs from the backup's",
        )));
    }
    writeln!(
        out(),
        "数据库 {} 已就绪 / the store {} is ready",
        opened.label,
        opened.label
    )?;
    Ok(())
}

fn restore_file(data: &Path, file: &Path) -> Result<()> {
    std::fs::create_dir_all(data)?;
    let _lock = location::lock_data_dir(data, location::DirUse::Alone)?;
    let target = data.join(STORE_FILE);
    let incoming = data.join(format!("{STORE_FILE}.restoring"));
    copy::remove_quietly(&incoming);
    let placed = std::fs::copy(file, &incoming)
        .and_then(|_| std::fs::File::open(&incoming))
        .and_then(|f| f.sync_all());
    if let Err(e) = placed {
        copy::remove_quietly(&incoming);
        let full = e.raw_os_error() == Some(28);
        return Err(failed(Msg::new(
            format!(
                "无法把备份复制到 {}{}：{e}",
                data.display(),
                if full { "（磁盘空间不足）" } else { "" }
            ),
            format!(
                "cannot copy the backup into {}{}: {e}",
                data.display(),
                if full { " (the disk is full)" } else { "" }
            ),
        )));
    }
    if target.exists() {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
        let kept = data.join(format!("{STORE_FILE}.replaced-{stamp}"));
        // The WAL and its index go with the file they belong to.
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", target.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}{suffix}", kept.display()))?;
            }
        }
        writeln!(
            out(),
            "原数据库已另存为 / the store replaced is kept as {}",
            kept.display()
        )?;
    }
    std::fs::rename(&incoming, &target)?;
    copy::sync_dir(data).map_err(|e| explain(("恢复", "the restore"), &e))?;
    Ok(())
}

fn restore_to_database(url: &str, file: &Path) -> Result<()> {
    const DOING: (&str, &str) = ("恢复", "the restore");
    // The backup itself is never changed: an older one is migrated in a scratch copy.
    let scratch = tempfile::tempdir()?;
    let copy_path = scratch.path().join(STORE_FILE);
    std::fs::copy(file, &copy_path)?;
    let from = GeoPackageStore::open(&copy_path).map_err(|e| explain(DOING, &e))?;
    let to = PgStore::open(url).map_err(|e| explain(DOING, &e))?;
    tudi_store::transfer::copy(&from, &to, &mut |_| {}).map_err(|e| explain(DOING, &e))?;
    Ok(())
}

/// Scheduled backups of a serving store: a folder, how often, how many kept.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Where backups go (made if missing).
    pub dir: PathBuf,
    /// Minutes between backups (one is taken at start).
    #[serde(default = "Schedule::default_every")]
    pub every_minutes: u64,
    /// How many of the newest backups are kept; older ones are removed.
    #[serde(default = "Schedule::default_keep")]
    pub keep: usize,
}

impl Schedule {
    fn default_every() -> u64 {
        24 * 60
    }

    fn default_keep() -> usize {
        7
    }

    /// The name a backup taken at `at` gets.
    fn name_at(at: jiff::Timestamp) -> String {
        format!("tudi-{}.gpkg", at.strftime("%Y%m%dT%H%M%SZ"))
    }

    fn is_ours(name: &str) -> bool {
        name.starts_with("tudi-")
            && name.ends_with(".gpkg")
            && name.len() == "tudi-20261207T000000Z.gpkg".len()
    }

    /// Takes one backup now and removes the oldest beyond `keep`.
    ///
    /// # Errors
    /// The backup failed (nothing is removed then).
    pub fn run_once(&self, source: &Source) -> Result<(PathBuf, CopyCheck)> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            failed(Msg::new(
                format!("无法创建备份目录 {}：{e}", self.dir.display()),
                format!(
                    "cannot create the backup folder {}: {e}",
                    self.dir.display()
                ),
            ))
        })?;
        let file = self.dir.join(Self::name_at(jiff::Timestamp::now()));
        let check = take(source, &file, &mut |_| {})?;
        self.prune();
        Ok((file, check))
    }

    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut ours: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| Self::is_ours(n))
            .collect();
        // The names sort by the instant they were taken.
        ours.sort();
        let surplus = ours.len().saturating_sub(self.keep.max(1));
        for name in &ours[..surplus] {
            if let Err(e) = std::fs::remove_file(self.dir.join(name)) {
                tracing::warn!(error = %e, file = name, "could not remove an old backup");
            }
        }
    }
}
