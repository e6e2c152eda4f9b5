//! `tudi serve`'s config file: reading it, and `tudi check-config`, which checks it before a
//! server is started with it and names each bad key with its line.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use tudi_core::msg::{Bilingual, Msg};

use crate::{ServeConfig, out, refused};

/// A problem found in a config file: where, and what.
struct Finding {
    line: Option<usize>,
    key: String,
    msg: Msg,
    /// A warning lets the server start (it works, perhaps not as meant).
    warning: bool,
}

/// The 1-based line where `key` is set: in `[section]` when given, else at the top level.
fn line_of(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_owned());
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        if k.trim().trim_matches('"') == key && current.as_deref() == section {
            return Some(i + 1);
        }
    }
    None
}

/// The 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses a config file's text: a syntax error, an unknown key or a value of the wrong type is
/// refused with its line and the key.
pub fn parse(text: &str, path: &Path) -> Result<ServeConfig> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        let at = line.map_or_else(String::new, |l| format!("第 {l} 行"));
        let at_en = line.map_or_else(String::new, |l| format!(" line {l}"));
        refused(Msg::new(
            format!("配置文件 {} {at}有误：{}", path.display(), e.message()),
            format!("config file {}{at_en}: {}", path.display(), e.message()),
        ))
    })
}

/// `tudi check-config FILE`: every problem, each with its key and line; exit 3 when any is an
/// error, 0 when the server would start with it (warnings are printed).
pub fn cmd_check_config(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        refused(Msg::new(
            format!("无法读取配置文件 {}：{e}", path.display()),
            format!("cannot read the config file {}: {e}", path.display()),
        ))
    })?;
    let cfg = ServeConfig::read(path)?;
    let findings = check(&cfg, &text);
    let mut o = out();
    for f in &findings {
        let line = f.line.map_or_else(String::new, |l| format!("第 {l} 行 "));
        let line_en = f.line.map_or_else(String::new, |l| format!("line {l} "));
        let (kind, kind_en) = if f.warning {
            ("注意", "warning")
        } else {
            ("错误", "error")
        };
        writeln!(
            o,
            "{kind}：{line}{}：{}\n{kind_en}: {line_en}{}: {}",
            f.key, f.msg.zh, f.key, f.msg.en
        )?;
    }
    let errors = findings.iter().filter(|f| !f.warning).count();
    if errors > 0 {
        drop(o);
        return Err(refused(Msg::new(
            format!("配置文件 {} 有 {errors} 处错误", path.display()),
            format!("the config file {} has {errors} errors", path.display()),
        )));
    }
    writeln!(
        o,
        "配置文件有效 / the config file is valid: {}",
        path.display()
    )?;
    Ok(())
}

fn check(cfg: &ServeConfig, text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut add = |section: Option<&str>, key: &str, warning: bool, msg: Msg| {
        found.push(Finding {
            line: line_of(text, section, key),
            key: section.map_or_else(|| key.to_owned(), |s| format!("{s}.{key}")),
            msg,
            warning,
        });
    };
    match (&cfg.data, &cfg.database) {
        (None, _) => add(
            None,
            "data",
            false,
            Msg::new(
                "缺少数据目录 data",
                "`data` (the data directory) is missing",
            ),
        ),
        (Some(d), None) if !d.join(crate::location::STORE_FILE).is_file() => add(
            None,
            "data",
            false,
            Msg::new(
                format!("{} 中没有数据库（tudi.gpkg）", d.display()),
                format!("{} holds no store (tudi.gpkg)", d.display()),
            ),
        ),
        _ => {}
    }
    if let Some(url) = &cfg.database
        && !tudi_store_pg::is_database_url(url)
    {
        add(
            None,
            "database",
            false,
            Msg::new(
                "应为 postgres://用户@主机:端口/数据库?schema=模式",
                "must be postgres://user@host:port/db?schema=NAME",
            ),
        );
    }
    if let Some(web) = &cfg.web
        && !web.join("node_modules/maplibre-gl").is_dir()
    {
        add(
            None,
            "web",
            true,
            Msg::new(
                format!(
                    "{} 中没有 node_modules/maplibre-gl（先运行 npm ci）",
                    web.display()
                ),
                format!(
                    "{} has no node_modules/maplibre-gl (run npm ci)",
                    web.display()
                ),
            ),
        );
    }
    if let Some(rules) = &cfg.rules
        && let Err(e) = tudi_onemap::compliance::RuleSet::load_dir(rules)
    {
        add(None, "rules", false, e.msg());
    }
    if let Some(n) = cfg.readers
        && !(1..=64).contains(&n)
    {
        add(
            None,
            "readers",
            true,
            Msg::new(
                format!("{n} 超出 1–64，将按边界取值"),
                format!("{n} is outside 1–64 and will be clamped"),
            ),
        );
    }
    if cfg.max_connections == Some(0) {
        add(
            None,
            "max_connections",
            false,
            Msg::new("至少为 1", "must be at least 1"),
        );
    }
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => {
            if let Err(msg) = tudi_server::tls_acceptor(cert, key) {
                add(None, "tls_cert", false, msg);
            }
        }
        (Some(_), None) => add(
            None,
            "tls_cert",
            false,
            Msg::new("缺少 tls_key", "tls_key is missing"),
        ),
        (None, Some(_)) => add(
            None,
            "tls_key",
            false,
            Msg::new("缺少 tls_cert", "tls_cert is missing"),
        ),
        (None, None) => {
            if cfg.redirect_http.is_some() {
                add(
                    None,
                    "redirect_http",
                    false,
                    Msg::new(
                        "需要先配置 HTTPS（tls_cert 与 tls_key）",
                        "needs HTTPS (tls_cert and tls_key)",
                    ),
                );
            }
        }
    }
    if let Some(token) = &cfg.metrics_token
        && token.len() < 16
    {
        add(
            None,
            "metrics_token",
            false,
            Msg::new("至少 16 个字符", "must be at least 16 characters"),
        );
    }
    if let Some(b) = &cfg.backup {
        let section = Some("backup");
        let usable = if b.dir.exists() {
            b.dir.is_dir()
        } else {
            b.dir
                .parent()
                .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir())
        };
        if !usable {
            add(
                section,
                "dir",
                false,
                Msg::new(
                    format!("{} 不是目录，也无法在其上级创建", b.dir.display()),
                    format!(
                        "{} is not a folder and cannot be made in its parent",
                        b.dir.display()
                    ),
                ),
            );
        }
        if b.every_minutes == 0 {
            add(
                section,
                "every_minutes",
                false,
                Msg::new("至少为 1", "must be at least 1"),
            );
        }
        if b.keep == 0 {
            add(
                section,
                "keep",
                false,
                Msg::new("至少保留 1 份", "must keep at least 1"),
            );
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{line_at, line_of};

    #[test]
    fn keys_are_found_on_their_line_and_in_their_section() {
        let text = "data = \"d\"\n\n[backup]\ndir = \"b\"\nkeep = 3\n";
        assert_eq!(line_of(text, None, "data"), Some(1));
        assert_eq!(line_of(text, Some("backup"), "keep"), Some(5));
        assert_eq!(line_of(text, None, "keep"), None);
        assert_eq!(line_at(text, text.find("keep").unwrap_or(0)), 5);
    }
}
