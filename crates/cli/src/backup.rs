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
        StoreError::StorageFull { .. } => ("（磁盘空间不足）", " (the disk is full)"),
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
            // An older schema is copied by pg_dump beside the backup before it is migrated.
            let keep_in = out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let from = location::open_pg(url, keep_in)?;
            let partial = copy::partial_name(out);
            copy::remove_unfinished(out);
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
            copy::finish(&partial, out, copy::Checks::Backup).map_err(|e| explain(DOING, &e))
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
/// replaced only while nothing else uses the data directory, and the replaced file is kept beside
/// it; a PostgreSQL schema must be empty.
pub fn cmd_restore(data: &Path, file: &Path) -> Result<()> {
    const DOING: (&str, &str) = ("恢复", "the restore");
    let started = std::time::Instant::now();
    let check = copy::check_copy(file).map_err(|e| explain(DOING, &e))?;
    match location::database() {
        Some(url) => restore_to_database(&url, file)?,
        None => restore_file(data, file, &check)?,
    }
    report(
        ("已恢复自", "restored from"),
        file,
        &check,
        started.elapsed(),
    )?;
    Ok(())
}

fn io_failed(what: (&str, &str), path: &Path, e: &std::io::Error) -> anyhow::Error {
    let full = e.raw_os_error() == Some(28);
    failed(Msg::new(
        format!(
            "{} {} 失败{}：{e}",
            what.0,
            path.display(),
            if full { "（磁盘空间不足）" } else { "" }
        ),
        format!(
            "{} {} failed{}: {e}",
            what.1,
            path.display(),
            if full { " (the disk is full)" } else { "" }
        ),
    ))
}

/// The files of a store: the file, its WAL and the WAL's index.
fn with_wal(path: &Path) -> [PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())))
}

fn restore_file(data: &Path, file: &Path, check: &CopyCheck) -> Result<()> {
    std::fs::create_dir_all(data).map_err(|e| io_failed(("创建", "creating"), data, &e))?;
    let lock = location::lock_data_dir(data, location::DirUse::Alone)?;
    let target = data.join(STORE_FILE);
    let incoming = data.join(format!("{STORE_FILE}.restoring"));
    copy::remove_quietly(&incoming);
    let placed = std::fs::copy(file, &incoming)
        .and_then(|_| std::fs::File::open(&incoming))
        .and_then(|f| f.sync_all());
    if let Err(e) = placed {
        copy::remove_quietly(&incoming);
        return Err(io_failed(
            ("把备份复制到", "copying the backup to"),
            &incoming,
            &e,
        ));
    }
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    // Two restores within a second keep both replaced files.
    let kept = (1..)
        .map(|n| match n {
            1 => data.join(format!("{STORE_FILE}.replaced-{stamp}")),
            n => data.join(format!("{STORE_FILE}.replaced-{stamp}-{n}")),
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| data.join(format!("{STORE_FILE}.replaced-{stamp}")));
    let [_, target_wal, target_shm] = with_wal(&target);
    if target.exists() {
        // Its WAL folded into the file first, so the copy kept is whole on its own.
        match copy::checkpoint_file(&target) {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "the replaced store's WAL was not checkpointed"),
        }
        // A second name for the old file: the store's own name never goes missing.
        std::fs::hard_link(&target, &kept)
            .map_err(|e| io_failed(("保留原数据库为", "keeping the store as"), &kept, &e))?;
    }
    // A WAL left beside the name would be replayed onto the restored file: it goes with the
    // old file (or away, when there is none).
    let [_, kept_wal, kept_shm] = with_wal(&kept);
    for (from, to) in [(&target_wal, &kept_wal), (&target_shm, &kept_shm)] {
        if from.exists() {
            std::fs::rename(from, to).map_err(|e| io_failed(("移走", "moving"), from, &e))?;
        }
    }
    std::fs::rename(&incoming, &target).map_err(|e| {
        io_failed(
            ("放置恢复的数据库", "placing the restored store at"),
            &target,
            &e,
        )
    })?;
    copy::sync_dir(data).map_err(|e| explain(("恢复", "the restore"), &e))?;
    drop(lock);
    // The store as it now opens (an older backup is migrated) must hold the backup's chain;
    // otherwise the old store goes back.
    let verified = location::open_store(data).and_then(|opened| {
        let live = opened
            .store
            .verify_audit()
            .map_err(|e| explain(("恢复", "the restore"), &e))?;
        Ok(live.is_intact() && live.head == check.audit.head)
    });
    if !matches!(verified, Ok(true)) {
        if kept.exists() {
            let _lock = location::lock_data_dir(data, location::DirUse::Alone)?;
            // The restored file's own WAL must not be replayed onto the old one.
            copy::remove_quietly(&target_wal);
            copy::remove_quietly(&target_shm);
            for (from, to) in [(&kept_wal, &target_wal), (&kept_shm, &target_shm)] {
                if from.exists() {
                    std::fs::rename(from, to)
                        .map_err(|e| io_failed(("放回", "putting back"), to, &e))?;
                }
            }
            std::fs::rename(&kept, &target)
                .map_err(|e| io_failed(("放回原数据库", "putting back the store"), &target, &e))?;
        }
        let why = verified.err().map(|e| e.to_string()).unwrap_or_default();
        return Err(failed(Msg::new(
            format!("恢复后的数据库与备份的审计链不一致，已放回原数据库 {why}"),
            format!(
                "the restored store's audit chain differs from the backup's; the previous store was put back {why}"
            ),
        )));
    }
    if kept.exists() {
        writeln!(
            out(),
            "原数据库已另存为 / the store replaced is kept as {}",
            kept.display()
        )?;
    }
    Ok(())
}

fn restore_to_database(url: &str, file: &Path) -> Result<()> {
    const DOING: (&str, &str) = ("恢复", "the restore");
    // The backup itself is never changed: an older one is migrated in a scratch copy beside it
    // (not in /tmp, which may be small or private to a service).
    let beside = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let scratch = tempfile::tempdir_in(beside)
        .map_err(|e| io_failed(("创建临时目录于", "making a scratch folder in"), beside, &e))?;
    let copy_path = scratch.path().join(STORE_FILE);
    std::fs::copy(file, &copy_path)
        .map_err(|e| io_failed(("复制备份到", "copying the backup to"), &copy_path, &e))?;
    let from = GeoPackageStore::open(&copy_path).map_err(|e| explain(DOING, &e))?;
    let to = PgStore::open(url).map_err(|e| explain(DOING, &e))?;
    tudi_store::transfer::copy(&from, &to, &mut |_| {}).map_err(|e| explain(DOING, &e))?;
    let live = to.verify_audit().map_err(|e| explain(DOING, &e))?;
    let backup = from.verify_audit().map_err(|e| explain(DOING, &e))?;
    if !live.is_intact() || live.head != backup.head {
        return Err(failed(Msg::new(
            "恢复后的数据库审计链与备份不一致",
            "the restored store's audit chain differs from the backup's",
        )));
    }
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

    /// How long until the next backup is due: none is due before a period has passed since the
    /// newest one here, so a server restarting again and again (a crash loop) does not replace
    /// the kept backups with copies minutes apart.
    #[must_use]
    pub fn due_in(&self, now: jiff::Timestamp) -> std::time::Duration {
        let period = std::time::Duration::from_secs(self.every_minutes.max(1) * 60);
        let newest = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| Self::is_ours(n))
            .filter_map(|n| Self::taken_at(&n))
            .max();
        let Some(newest) = newest else {
            return std::time::Duration::ZERO;
        };
        let age = now
            .duration_since(newest)
            .try_into()
            .unwrap_or(std::time::Duration::ZERO);
        period.saturating_sub(age)
    }

    fn taken_at(name: &str) -> Option<jiff::Timestamp> {
        let stamp = name.strip_prefix("tudi-")?.strip_suffix(".gpkg")?;
        jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
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

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn a_backup_is_due_a_period_after_the_newest_and_at_once_without_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let schedule = Schedule {
            dir: dir.path().to_owned(),
            every_minutes: 60,
            keep: 3,
        };
        let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap_or_default();
        assert_eq!(schedule.due_in(now), std::time::Duration::ZERO);
        for name in [
            "tudi-20261207T114500Z.gpkg",
            "tudi-20261207T100000Z.gpkg",
            "other.gpkg",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap_or_else(|e| panic!("{e}"));
        }
        // The newest is 15 minutes old.
        assert_eq!(
            schedule.due_in(now),
            std::time::Duration::from_secs(45 * 60)
        );
        let later: jiff::Timestamp = "2026-12-07T13:00:00Z".parse().unwrap_or_default();
        assert_eq!(schedule.due_in(later), std::time::Duration::ZERO);
    }
}
