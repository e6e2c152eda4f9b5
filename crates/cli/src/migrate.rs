//! `tudi migrate`: a district's whole store moved between the GeoPackage file and PostgreSQL,
//! checked afterwards by verifying both audit chains.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use indicatif::ProgressBar;
use tudi_core::msg::Msg;
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::transfer::{self, Transfer};
use tudi_store_pg::PgStore;

use crate::location::STORE_FILE;
use crate::{failed, out, refused};

fn open_source(data: &Path, database: Option<&str>) -> Result<(Box<dyn Transfer>, String)> {
    match database {
        Some(url) => {
            let store = PgStore::open(url)
                .map_err(|e| failed(Msg::new(format!("无法打开源数据库：{e}"), e.to_string())))?;
            let label = format!(
                "PostgreSQL {} schema {}",
                store.target().label,
                store.target().schema
            );
            Ok((Box::new(store), label))
        }
        None => {
            let path = data.join(STORE_FILE);
            let store = GeoPackageStore::open(&path)
                .map_err(|e| failed(Msg::new(format!("无法打开源数据库：{e}"), e.to_string())))?;
            Ok((Box::new(store), path.display().to_string()))
        }
    }
}

fn open_target(to: &str) -> Result<(Box<dyn Transfer>, String)> {
    if tudi_store_pg::is_database_url(to) {
        let store = PgStore::open(to)
            .map_err(|e| failed(Msg::new(format!("无法打开目标数据库：{e}"), e.to_string())))?;
        let label = format!(
            "PostgreSQL {} schema {}",
            store.target().label,
            store.target().schema
        );
        return Ok((Box::new(store), label));
    }
    let dir = Path::new(to);
    let path = dir.join(STORE_FILE);
    if path.exists() {
        return Err(refused(Msg::new(
            format!("目标 {} 已存在；请换一个空目录", path.display()),
            format!(
                "the target {} exists; give an empty directory",
                path.display()
            ),
        )));
    }
    std::fs::create_dir_all(dir)?;
    let store = GeoPackageStore::create(&path)
        .map_err(|e| failed(Msg::new(format!("无法创建目标数据库：{e}"), e.to_string())))?;
    Ok((Box::new(store), path.display().to_string()))
}

/// Copies the store of this run (`--database`, else `DIR/tudi.gpkg`) into `to`: a PostgreSQL
/// URL whose schema is empty, or a directory without a store.
pub fn cmd_migrate(data: &Path, database: Option<&str>, to: &str) -> Result<()> {
    let (source, from_label) = open_source(data, database)?;
    let (target, to_label) = open_target(to)?;
    let pb = ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb.set_message(format!("复制 / copying {from_label} → {to_label}"));
    let started = std::time::Instant::now();
    let copied = transfer::copy(&*source, &*target, &mut |n| {
        pb.set_message(format!("复制 / copying {from_label} → {to_label}: {n}"));
    });
    pb.finish_and_clear();
    let n = copied.map_err(|e| {
        let msg = Msg::new(
            format!("复制失败，目标未改动：{e}"),
            format!("the copy failed and the target is unchanged: {e}"),
        );
        if matches!(e, tudi_store::StoreError::Schema(_)) {
            refused(msg)
        } else {
            failed(msg)
        }
    })?;
    let before = source
        .verify_audit()
        .map_err(|e| failed(Msg::new(format!("核验失败：{e}"), e.to_string())))?;
    let after = target
        .verify_audit()
        .map_err(|e| failed(Msg::new(format!("核验失败：{e}"), e.to_string())))?;
    let mut o = out();
    writeln!(
        o,
        "已复制 {n} 项 / copied {n} items: {from_label} → {to_label} ({:.1} s)",
        started.elapsed().as_secs_f64()
    )?;
    for (what, report) in [("源 / source", &before), ("目标 / target", &after)] {
        writeln!(
            o,
            "{what}: {} 条审计记录 / entries, {} / head {}",
            report.entries,
            if report.is_intact() {
                "链完整 intact"
            } else {
                "链受损 DAMAGED"
            },
            report.head.as_deref().unwrap_or("-")
        )?;
    }
    if before.entries != after.entries || before.head != after.head || !after.is_intact() {
        return Err(failed(Msg::new(
            "目标的审计链与源不一致",
            "the target's audit chain differs from the source's",
        )));
    }
    Ok(())
}
