//! `tudi keys`: the district's certificate signing keys. The ring with private keys is a file in
//! the data directory readable by its owner only; the public ring is also saved in the store (as
//! the setting `sign:public`, audited) for servers and offline verifiers.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use tudi_core::msg::Msg;
use tudi_sign::KeyRing;
use tudi_store::{Change, Store};

use crate::{failed, open_store, out, refused};

/// `tudi keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// 生成第一把签名密钥 / Make the first signing key
    New {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
    },
    /// 轮换：生成新密钥用于签名，旧密钥退役但仍可验证 / Rotate: a new key signs, the old one still verifies
    Rotate {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
    },
    /// 输出公钥环（可公开，供离线验证）/ Print the public ring (publishable, for offline verification)
    Public {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
    },
}

/// Where the ring with private keys is kept.
pub fn ring_path(data: &Path) -> PathBuf {
    data.join("keys").join("signing-keys.json")
}

/// The ring with private keys, if `tudi keys new` has made one.
///
/// # Errors
/// The file exists but cannot be read or parsed.
pub fn read_ring(data: &Path) -> Result<Option<KeyRing>> {
    let path = ring_path(data);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            failed(Msg::new(
                format!("密钥文件 {} 无法读取：{e}", path.display()),
                format!("{} cannot be read: {e}", path.display()),
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failed(Msg::new(
            format!("无法读取 {}：{e}", path.display()),
            format!("cannot read {}: {e}", path.display()),
        ))),
    }
}

/// Writes the ring (owner-only on Unix) through a temporary file, so a crash leaves the old one.
fn write_ring(data: &Path, ring: &KeyRing) -> Result<()> {
    let path = ring_path(data);
    let dir = path.parent().unwrap_or(data);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".signing-keys.json.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(serde_json::to_string_pretty(ring)?.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    // The rename itself must survive a power cut, or the old ring could come back.
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    Ok(())
}

fn publish(store: &dyn Store, ring: &KeyRing) -> Result<()> {
    let text = serde_json::to_string(&ring.public())?;
    store
        .set_meta("sign:public", &text, &Change::new("cli", "keys.publish"))
        .map_err(|e| failed(Msg::new(format!("保存公钥失败：{e}"), e.to_string())))?;
    Ok(())
}

/// The ring the demo signs with: the data directory's own when `tudi keys new` (or an earlier
/// demo) made one, else a new one written there; published in the (new) store either way.
///
/// # Errors
/// I/O and store failures.
pub fn demo_ring(store: &dyn Store, data: &Path) -> Result<KeyRing> {
    let ring = match read_ring(data)? {
        Some(ring) => ring,
        None => {
            let mut ring = KeyRing::default();
            ring.rotate(jiff::Timestamp::now())
                .map_err(|e| failed(e.message()))?;
            write_ring(data, &ring)?;
            ring
        }
    };
    publish(store, &ring)?;
    Ok(ring)
}

/// Runs `tudi keys …`.
///
/// # Errors
/// Refused when the ring exists (`new`) or does not (`rotate`); I/O and store failures.
pub fn cmd_keys(command: KeysCommand) -> Result<()> {
    let now = jiff::Timestamp::now();
    match command {
        KeysCommand::New { data } => {
            let store = open_store(&data)?.store;
            if read_ring(&data)?.is_some() {
                return Err(refused(Msg::new(
                    "签名密钥已存在：如需更换请用 tudi keys rotate",
                    "signing keys exist already: use `tudi keys rotate`",
                )));
            }
            let mut ring = KeyRing::default();
            let id = ring.rotate(now).map_err(|e| failed(e.message()))?;
            write_ring(&data, &ring)?;
            publish(&*store, &ring)?;
            writeln!(
                out(),
                "已生成签名密钥 {id}（私钥在 {}）/ signing key {id} made",
                ring_path(&data).display()
            )?;
            Ok(())
        }
        KeysCommand::Rotate { data } => {
            let store = open_store(&data)?.store;
            let Some(mut ring) = read_ring(&data)? else {
                return Err(refused(Msg::new(
                    "还没有签名密钥：请先用 tudi keys new",
                    "no signing keys yet: use `tudi keys new`",
                )));
            };
            let id = ring.rotate(now).map_err(|e| failed(e.message()))?;
            write_ring(&data, &ring)?;
            publish(&*store, &ring)?;
            writeln!(
                out(),
                "已轮换：新密钥 {id} 用于签名，旧密钥仍可验证 / rotated: {id} signs now"
            )?;
            Ok(())
        }
        KeysCommand::Public { data } => {
            let Some(ring) = read_ring(&data)? else {
                return Err(refused(Msg::new(
                    "还没有签名密钥：请先用 tudi keys new",
                    "no signing keys yet: use `tudi keys new`",
                )));
            };
            writeln!(out(), "{}", serde_json::to_string_pretty(&ring.public())?)?;
            Ok(())
        }
    }
}
