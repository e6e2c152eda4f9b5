//! What a district's IT office relies on: backups taken while the server writes, restores that
//! refuse what cannot be trusted, stores made by an older tudi brought up to date (and a newer
//! one refused), faults (a full disk, kill -9 during a migration) that leave the store as it
//! was, and `tudi check-config`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{s, start_server, text, tudi};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{Change, Expect, RecordWrite, Store};

/// A store made by the previous schema version (tudi before schema versions were checked),
/// kept as a fixture: a small demo district (`tudi demo --parcels 100 --seed 7`).
fn v1_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.gpkg")
}

fn sha(path: &Path) -> String {
    use std::fmt::Write;
    let bytes = std::fs::read(path).unwrap();
    // A cheap stand-in for a digest: tests only compare a file with itself.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::new();
    write!(out, "{h:016x}-{}", bytes.len()).unwrap();
    out
}

fn record(i: u64) -> RecordWrite {
    RecordWrite {
        collection: "load".into(),
        id: format!("r{i:08}"),
        expect: Expect::Absent,
        body: Some(json!({"n": i})),
        keys: vec![],
        detail: None,
    }
}

fn schema_version(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT value FROM tudi_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_backup_under_write_load_restores_every_write_acknowledged_before_it_began() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let o = tudi(&["init", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let store = Arc::new(GeoPackageStore::open(&data.join("tudi.gpkg")).unwrap());
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let (store, acked, stop) = (store.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    store
                        .write_records(&Change::new("test", "load"), &[record(i)])
                        .unwrap();
                    acked.lock().unwrap().push(i);
                    i += 2;
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let before: Vec<u64> = acknowledged.lock().unwrap().clone();
    let out = tmp.path().join("backup.gpkg");
    let o = tudi(&["backup", "--data", s(&data), "--out", s(&out)]);
    let when_done = acknowledged.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("head hash"), "{said}");
    assert!(!before.is_empty());
    assert!(
        when_done > before.len(),
        "the writers did not write during the backup"
    );
    drop(store);

    let restored = tmp.path().join("r");
    let o = tudi(&["restore", "--data", s(&restored), s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let back = GeoPackageStore::open(&restored.join("tudi.gpkg")).unwrap();
    for i in &before {
        assert!(
            back.record("load", &format!("r{i:08}")).unwrap().is_some(),
            "write {i}, acknowledged before the backup began, is missing"
        );
    }
    let report = back.verify_audit().unwrap();
    assert!(report.is_intact(), "{:?}", report.faults);
    let head = report.head.unwrap();
    assert!(
        said.contains(&head),
        "the backup's printed head {said} is not the restored {head}"
    );
}

#[test]
fn restore_refuses_a_damaged_a_truncated_or_a_tampered_backup_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let fixture = tmp.path().join("src");
    std::fs::create_dir_all(&fixture).unwrap();
    std::fs::copy(v1_fixture(), fixture.join("tudi.gpkg")).unwrap();
    let good = tmp.path().join("good.gpkg");
    let o = tudi(&["backup", "--data", s(&fixture), "--out", s(&good)]);
    assert!(o.status.success(), "{}", text(&o));
    // A store in place, which a refused restore must leave alone.
    let o = tudi(&["restore", "--data", s(&data), s(&good)]);
    assert!(o.status.success(), "{}", text(&o));
    let live = data.join("tudi.gpkg");
    let live_before = sha(&live);
    let bytes = std::fs::read(&good).unwrap();

    let truncated = tmp.path().join("truncated.gpkg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut flipped = bytes.clone();
    for b in &mut flipped[bytes.len() / 3..bytes.len() / 3 + 4096] {
        *b ^= 0x5a;
    }
    let damaged = tmp.path().join("damaged.gpkg");
    std::fs::write(&damaged, &flipped).unwrap();
    let tampered = tmp.path().join("tampered.gpkg");
    std::fs::copy(&good, &tampered).unwrap();
    {
        let conn = rusqlite::Connection::open(&tampered).unwrap();
        conn.execute(
            "UPDATE tudi_audit SET actor = 'user:someone-else' WHERE seq = 5",
            [],
        )
        .unwrap();
    }
    let not_a_store = tmp.path().join("notes.txt");
    std::fs::write(&not_a_store, "not a backup").unwrap();
    for (bad, why) in [
        (&truncated, "damaged"),
        (&damaged, "damaged"),
        (&tampered, "audit chain"),
        (&not_a_store, "GeoPackage"),
    ] {
        let o = tudi(&["restore", "--data", s(&data), s(bad)]);
        assert_eq!(o.status.code(), Some(3), "{}: {}", bad.display(), text(&o));
        assert!(text(&o).contains(why), "{}: {}", bad.display(), text(&o));
        assert_eq!(
            sha(&live),
            live_before,
            "a refused restore changed the store"
        );
    }
    let o = tudi(&["audit", "verify", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_backup_never_replaces_a_file_and_says_when_its_folder_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(v1_fixture(), data.join("tudi.gpkg")).unwrap();
    let there = tmp.path().join("there.gpkg");
    std::fs::write(&there, "precious").unwrap();
    let o = tudi(&["backup", "--data", s(&data), "--out", s(&there)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("exists"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&there).unwrap(), "precious");
    let nowhere = tmp.path().join("no/such/folder/b.gpkg");
    let o = tudi(&["backup", "--data", s(&data), "--out", s(&nowhere)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("backup folder"), "{}", text(&o));
    // A folder that cannot be written (a read-only file system, which binds root too).
    let o = tudi(&[
        "backup",
        "--data",
        s(&data),
        "--out",
        "/proc/tudi-backup.gpkg",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("backup failed"), "{}", text(&o));
}

#[test]
fn restore_refuses_while_a_server_uses_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(v1_fixture(), data.join("tudi.gpkg")).unwrap();
    let backup = tmp.path().join("b.gpkg");
    let o = tudi(&["backup", "--data", s(&data), "--out", s(&backup)]);
    assert!(o.status.success(), "{}", text(&o));
    let mut serve = Command::new(env!("CARGO_BIN_EXE_tudi"));
    serve
        .args([
            "serve",
            "--data",
            s(&data),
            "--listen",
            "127.0.0.1:0",
            "--no-snapshots",
        ])
        .env("TUDI_LOG", "warn");
    let (mut server, _) = start_server(serve);
    let o = tudi(&["restore", "--data", s(&data), s(&backup)]);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("stop it"), "{}", text(&o));
    // Stopped, it may.
    let o = tudi(&["restore", "--data", s(&data), s(&backup)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_store_of_the_previous_schema_version_is_migrated_after_a_copy_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("tudi.gpkg");
    std::fs::copy(v1_fixture(), &file).unwrap();
    assert_eq!(schema_version(&file), "1");
    let before = tudi(&["layers", "--data", s(&data)]);
    assert!(before.status.success(), "{}", text(&before));
    assert_eq!(schema_version(&file), "2");
    // The copy kept first is the untouched version-1 file.
    let kept: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("tudi.gpkg.v1-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(schema_version(&kept[0]), "1");
    let conn = rusqlite::Connection::open(&file).unwrap();
    let (from, copy): (Option<i64>, Option<String>) = conn
        .query_row(
            "SELECT from_version, kept_copy FROM tudi_schema_history ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(from, Some(1));
    assert_eq!(copy.as_deref(), kept[0].to_str());
    // Everything the old file held is there, and its chain goes on from where it was.
    let layers: i64 = conn
        .query_row("SELECT count(*) FROM tudi_layers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(layers, 2, "{layers} layers");
    let o = tudi(&["audit", "verify", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    // The chain says since when it holds everything (it is never pruned).
    assert!(
        text(&o).contains("is kept; none is ever removed"),
        "{}",
        text(&o)
    );
    // Opening it again migrates nothing more.
    let o = tudi(&["layers", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(o.stdout, before.stdout);
    let n: i64 = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".v1-")
        })
        .count()
        .try_into()
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_store_of_a_newer_schema_version_is_refused_naming_both_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("tudi.gpkg");
    std::fs::copy(v1_fixture(), &file).unwrap();
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.execute(
            "UPDATE tudi_meta SET value = '7' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let before = sha(&file);
    let o = tudi(&["layers", "--data", s(&data)]);
    assert!(!o.status.success());
    let said = text(&o);
    assert!(
        said.contains("schema version 7") && said.contains("version 2"),
        "{said}"
    );
    assert_eq!(sha(&file), before);
}

#[test]
fn a_migration_killed_at_any_moment_leaves_the_old_store_or_the_migrated_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut outcomes = std::collections::BTreeSet::new();
    for (round, delay_ms) in [0u64, 5, 10, 20, 30, 45, 60, 80, 120, 200]
        .iter()
        .enumerate()
    {
        let data = tmp.path().join(format!("d{round}"));
        std::fs::create_dir_all(&data).unwrap();
        let file = data.join("tudi.gpkg");
        std::fs::copy(v1_fixture(), &file).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tudi"))
            .args(["layers", "--data", s(&data)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(*delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        outcomes.insert(schema_version(&file));
        // Whatever the moment, the store opens (migrating now if it was not) and verifies.
        let o = tudi(&["audit", "verify", "--data", s(&data)]);
        assert!(o.status.success(), "round {round}: {}", text(&o));
        assert_eq!(schema_version(&file), "2");
    }
    // The kills spanned the migration: some before it began, some after it was done.
    assert!(
        outcomes.contains("1") && outcomes.contains("2"),
        "{outcomes:?}"
    );
    for entry in walk(tmp.path()) {
        assert!(
            !entry.to_string_lossy().ends_with(".partial"),
            "an unfinished copy was left: {}",
            entry.display()
        );
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A small file system (tmpfs) mounted for one test; as root only.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        // SAFETY of the test machine: only root mounts, and CI runs as root.
        if !Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
        {
            eprintln!("not root: the full-disk cases are not run");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", s(at)])
            .output()
            .unwrap();
        assert!(o.status.success(), "mount: {}", text(&o));
        Some(Self(at.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_full_disk_fails_a_backup_and_a_write_clearly_and_the_store_stays_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&tmp.path().join("small"), "64k") else {
        return;
    };
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(v1_fixture(), data.join("tudi.gpkg")).unwrap();
    let o = tudi(&["layers", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    let live = sha(&data.join("tudi.gpkg"));
    let out = disk.0.join("b.gpkg");
    let o = tudi(&["backup", "--data", s(&data), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("disk is full"), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(&disk.0).unwrap().count(),
        0,
        "an unfinished backup was left"
    );
    assert_eq!(sha(&data.join("tudi.gpkg")), live);

    // The store itself on a disk that fills up during an import.
    drop(disk);
    let Some(disk) = SmallDisk::mount(&tmp.path().join("small2"), "6m") else {
        return;
    };
    let d2 = disk.0.join("d");
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::copy(v1_fixture(), d2.join("tudi.gpkg")).unwrap();
    let o = tudi(&["audit", "verify", "--data", s(&d2)]);
    assert!(o.status.success(), "{}", text(&o));
    let head_before = text(&o);
    // Fill what is left but a little.
    let free = {
        let o = Command::new("df")
            .args(["--output=avail", "-B1", s(&disk.0)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(
        disk.0.join("filler"),
        vec![0u8; usize::try_from(free.saturating_sub(64 * 1024)).unwrap()],
    )
    .unwrap();
    let big = tmp.path().join("big.geojson");
    let features: Vec<_> = (0..3000)
        .map(|i| {
            let x = 113.0 + f64::from(i % 60) * 0.001;
            let y = 23.0 + f64::from(i / 60) * 0.001;
            json!({"type": "Feature", "properties": {"name": format!("地块{i}")},
                "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.0009, y], [x + 0.0009, y + 0.0009], [x, y + 0.0009], [x, y]]]}})
        })
        .collect();
    std::fs::write(
        &big,
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    let o = tudi(&[
        "import",
        "--data",
        s(&d2),
        "--layer",
        "full",
        "--kind",
        "custom",
        s(&big),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).to_lowercase().contains("full"), "{}", text(&o));
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    let o = tudi(&["audit", "verify", "--data", s(&d2)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o), head_before, "the failed import changed the chain");
    let o = tudi(&["layers", "--data", s(&d2)]);
    assert!(!text(&o).contains("full"), "{}", text(&o));
}

#[test]
fn check_config_names_the_bad_key_and_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(v1_fixture(), data.join("tudi.gpkg")).unwrap();
    let cfg = tmp.path().join("tudi.toml");
    std::fs::write(
        &cfg,
        "data = \"d\"\nlisten = \"127.0.0.1:8080\"\n\n[backup]\ndir = \"backups\"\nkeep = 3\n",
    )
    .unwrap();
    let o = tudi(&["check-config", s(&cfg)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("valid"), "{}", text(&o));
    for (file, said) in [
        (
            "data = \"d\"\nlisten = \"127.0.0.1:8080\"\nlisten_addr = \"x\"\n",
            ["line 3", "listen_addr"],
        ),
        (
            "data = \"d\"\n\n[backup]\ndir = \"b\"\nkeep = 0\n",
            ["line 5 backup.keep", "at least 1"],
        ),
        (
            "data = \"d\"\ntls_cert = \"nowhere.pem\"\ntls_key = \"nowhere.key\"\n",
            ["line 2 tls_cert", "nowhere.pem"],
        ),
        (
            "data = \"d\"\nmetrics_token = \"short\"\n",
            ["line 2 metrics_token", "16 characters"],
        ),
    ] {
        std::fs::write(&cfg, file).unwrap();
        let o = tudi(&["check-config", s(&cfg)]);
        assert_eq!(o.status.code(), Some(3), "{file}: {}", text(&o));
        for words in said {
            assert!(text(&o).contains(words), "{file}: {}", text(&o));
        }
    }
}

fn pg_url(schema: &str) -> String {
    let base = std::env::var("TUDI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    format!("{base}?schema={schema}")
}

/// Drops the test's schemas however the test ends.
struct Schemas(Vec<String>);

impl Drop for Schemas {
    fn drop(&mut self) {
        for url in &self.0 {
            if let Ok(store) = tudi_store_pg::PgStore::open(url) {
                let _ = store.drop_schema();
            }
        }
    }
}

#[test]
fn a_postgresql_district_backs_up_under_writes_into_one_checked_file_and_restores_into_an_empty_schema()
 {
    let tmp = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let (from, to) = (
        pg_url(&format!("ops_backup_{pid}_a")),
        pg_url(&format!("ops_backup_{pid}_b")),
    );
    let _cleanup = Schemas(vec![from.clone(), to.clone()]);
    let fixture = tmp.path().join("fx");
    std::fs::create_dir_all(&fixture).unwrap();
    std::fs::copy(v1_fixture(), fixture.join("tudi.gpkg")).unwrap();
    let o = tudi(&["migrate", "--data", s(&fixture), "--to", &from]);
    assert!(o.status.success(), "{}", text(&o));

    let store = Arc::new(tudi_store_pg::PgStore::open(&from).unwrap());
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, acked, stop) = (store.clone(), acknowledged.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                store
                    .write_records(&Change::new("test", "load"), &[record(i)])
                    .unwrap();
                acked.lock().unwrap().push(i);
                i += 1;
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = acknowledged.lock().unwrap().clone();
    let out = tmp.path().join("district.gpkg");
    let data = tmp.path().join("d");
    let o = tudi(&[
        "backup",
        "--data",
        s(&data),
        "--database",
        &from,
        "--out",
        s(&out),
    ]);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!before.is_empty());
    let said = text(&o);

    // The file is a GeoPackage store of its own, holding every write acknowledged before.
    let copy = GeoPackageStore::open(&out).unwrap();
    for i in &before {
        assert!(
            copy.record("load", &format!("r{i:08}")).unwrap().is_some(),
            "write {i} missing"
        );
    }
    let head = copy.verify_audit().unwrap().head.unwrap();
    assert!(said.contains(&head), "{said}");
    drop(copy);

    let o = tudi(&["restore", "--data", s(&data), "--database", &to, s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let restored = tudi_store_pg::PgStore::open(&to).unwrap();
    assert_eq!(
        restored.verify_audit().unwrap().head.as_deref(),
        Some(head.as_str())
    );
    drop(restored);
    // Not into a schema that holds a store.
    let o = tudi(&["restore", "--data", s(&data), "--database", &to, s(&out)]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("not empty"), "{}", text(&o));
}

#[test]
fn scheduled_backups_are_taken_at_start_and_only_the_newest_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(v1_fixture(), data.join("tudi.gpkg")).unwrap();
    let backups = tmp.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    // Three older backups of ours and a file of someone else's.
    for name in [
        "tudi-20260101T000000Z.gpkg",
        "tudi-20260102T000000Z.gpkg",
        "tudi-20260103T000000Z.gpkg",
        "notes.gpkg",
    ] {
        std::fs::write(backups.join(name), "old").unwrap();
    }
    let cfg = tmp.path().join("tudi.toml");
    std::fs::write(
        &cfg,
        "data = \"d\"\nlisten = \"127.0.0.1:0\"\nsnapshots = false\n\n[backup]\ndir = \"backups\"\nevery_minutes = 60\nkeep = 2\n",
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["serve", "--config", s(&cfg)])
        .env("TUDI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ours = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut names = Vec::new();
    for _ in 0..100 {
        names = ours(&backups);
        if names
            .iter()
            .any(|n| n.starts_with("tudi-") && !n.starts_with("tudi-202601"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let fresh: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("tudi-") && !n.starts_with("tudi-202601"))
        .collect();
    assert_eq!(fresh.len(), 1, "{names:?}");
    // Two kept: the new one and the newest old one; the other file is not ours to remove.
    assert_eq!(
        names,
        vec![
            "notes.gpkg".to_owned(),
            "tudi-20260103T000000Z.gpkg".to_owned(),
            fresh[0].clone()
        ]
    );
    let o = tudi(&[
        "restore",
        "--data",
        s(&tmp.path().join("r")),
        s(&backups.join(fresh[0])),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_postgresql_schema_of_an_older_version_is_copied_with_pg_dump_before_it_is_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = format!("ops_upgrade_{}", std::process::id());
    let url = pg_url(&schema);
    let _cleanup = Schemas(vec![url.clone()]);
    let fixture = tmp.path().join("fx");
    std::fs::create_dir_all(&fixture).unwrap();
    std::fs::copy(v1_fixture(), fixture.join("tudi.gpkg")).unwrap();
    let o = tudi(&["migrate", "--data", s(&fixture), "--to", &url]);
    assert!(o.status.success(), "{}", text(&o));
    let libpq = tudi_store_pg::libpq_url(&url);
    let psql = |sql: &str| {
        let o = Command::new("psql")
            .args(["-qAtX", &libpq, "-c", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let version = format!("SELECT value FROM {schema}.tudi_meta WHERE key = 'schema_version'");
    // As a store left by the release before the last schema change.
    psql(&format!(
        "UPDATE {schema}.tudi_meta SET value = '2' WHERE key = 'schema_version'"
    ));
    let data = tmp.path().join("d");
    let o = tudi(&["audit", "verify", "--data", s(&data), "--database", &url]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(psql(&version), tudi_store_pg::SCHEMA_VERSION);
    let dumps: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".dump"))
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    assert!(
        dumps[0]
            .to_string_lossy()
            .contains(&format!("tudi-{schema}-v2-")),
        "{dumps:?}"
    );
    // pg_restore reads it, and it holds the district's tables as they were.
    let o = Command::new("pg_restore")
        .args(["--list", s(&dumps[0])])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("tudi_audit"),
        "{}",
        text(&o)
    );
    // When the copy cannot be made, the schema is left as it was.
    psql(&format!(
        "UPDATE {schema}.tudi_meta SET value = '2' WHERE key = 'schema_version'"
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["audit", "verify", "--data", s(&data), "--database", &url])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("pg_dump"), "{}", text(&o));
    assert_eq!(psql(&version), "2");
}

/// Fills the file system of `dir` to the last byte; the file is removed to give the space back.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut size = chunk.len();
    // Smaller and smaller writes, until not one byte more fits.
    while size > 0 {
        match f.write(&chunk[..size]) {
            Ok(0) | Err(_) => size /= 2,
            Ok(_) => {}
        }
    }
    path
}

#[test]
fn a_server_whose_disk_fills_up_refuses_writes_clearly_and_goes_on_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&tmp.path().join("small"), "8m") else {
        return;
    };
    let data = disk.0.join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(v1_fixture(), data.join("tudi.gpkg")).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_tudi"));
    serve
        .args([
            "serve",
            "--data",
            s(&data),
            "--listen",
            "127.0.0.1:0",
            "--no-snapshots",
        ])
        .env("TUDI_LOG", "error");
    let (mut server, base) = start_server(serve);
    // Signing in writes a session; with the disk full it cannot.
    let sign_in = |base: &str| -> (u16, String) {
        let o = Command::new("curl")
            .args([
                "-s",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"username": "admin1", "password": "Secret-Pass-2026!"}"#,
                &format!("{base}/api/v1/auth/login"),
            ])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let (body, code) = out.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_owned())
    };
    let get = |url: &str| -> u16 {
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).parse().unwrap()
    };
    assert_eq!(sign_in(&base).0, 200);
    let filler = fill(&disk.0);
    let mut refused = None;
    for _ in 0..50 {
        let (code, body) = sign_in(&base);
        assert!(code == 200 || code == 507, "{code} {body}");
        if code == 507 {
            refused = Some(body);
            break;
        }
    }
    let body = refused.expect("no write was refused with the disk full");
    assert!(
        body.contains("storage-full") && body.contains("disk is full"),
        "{body}"
    );
    // Reads go on.
    assert_eq!(get(&format!("{base}/healthz")), 200);
    assert_eq!(
        get(&format!("{base}/ogc/collections/plots/items?limit=1")),
        200
    );
    // Space freed, writes go on too.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(sign_in(&base).0, 200);
    server.kill().unwrap();
    server.wait().unwrap();
    let o = tudi(&["audit", "verify", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_shipped_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/tudi.service"),
    )
    .unwrap();
    // The binary where the unit expects it, here the one the tests built.
    let unit = unit.replace("/usr/local/bin/tudi", env!("CARGO_BIN_EXE_tudi"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tudi.service");
    std::fs::write(&path, unit).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", s(&path)])
        .output()
        .unwrap();
    // A directive it cannot parse is only a warning to systemd: any word on stderr fails here.
    assert!(o.status.success() && o.stderr.is_empty(), "{}", text(&o));
}
