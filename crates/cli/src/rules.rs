//! `tudi rules`: the compliance rule sets kept in the store, which every server on it offers
//! (over the built-in ones) as soon as they are saved.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use tudi_core::msg::{Bilingual, Msg};
use tudi_onemap::compliance::{self, RuleSet};
use tudi_store::{Change, Store};

use crate::{failed, open_store, out, refused};

/// `tudi rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// 存入规则集（JSON 文件，同名则替换）/ Save rule sets (JSON files; one of the same id is replaced)
    Add {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 规则集文件 / rule set files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// 列出提供的规则集 / List the rule sets offered
    List {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
    },
    /// 删除存入的规则集 / Remove a saved rule set
    Remove {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 规则集 id / the rule set's id
        id: String,
    },
}

/// Saves the rule sets of `files` in `store`, all or none, and says how many.
///
/// # Errors
/// A file that is not a valid rule set, a name taken by another rule set, store failures.
pub fn save_files(store: &dyn Store, files: &[PathBuf]) -> Result<usize> {
    let rules: Vec<RuleSet> = files
        .iter()
        .map(|f| RuleSet::load_file(f).map_err(|e| refused(e.msg())))
        .collect::<Result<_>>()?;
    compliance::save_rule_sets(store, &rules, &Change::new("cli", "rules.add")).map_err(
        |e| match e {
            compliance::SaveRulesError::Invalid(_) => refused(e.msg()),
            compliance::SaveRulesError::Store(_) => failed(e.msg()),
        },
    )?;
    Ok(rules.len())
}

fn district_of(store: &dyn Store) -> Option<String> {
    store.meta("district").ok().flatten()
}

/// Runs `tudi rules …`.
///
/// # Errors
/// Bad files, unknown ids, store failures.
pub fn cmd_rules(command: RulesCommand) -> Result<()> {
    match command {
        RulesCommand::Add { data, files } => {
            let store = open_store(&data)?.store;
            let n = save_files(&*store, &files)?;
            writeln!(
                out(),
                "已存入 {n} 个规则集，所有使用该数据库的服务立即提供 / saved {n} rule sets; every server on the store offers them at once"
            )?;
            Ok(())
        }
        RulesCommand::List { data } => list(&data),
        RulesCommand::Remove { data, id } => {
            let store = open_store(&data)?.store;
            let removed =
                compliance::remove_rule_set(&*store, &id, &Change::new("cli", "rules.remove"))
                    .map_err(|e| failed(Msg::new(format!("删除失败：{e}"), e.to_string())))?;
            if !removed {
                return Err(refused(Msg::new(
                    format!("数据库中没有存入的规则集“{id}”（内置规则集不能删除，只能替换）"),
                    format!(
                        "the store has no saved rule set {id:?} (a built-in one cannot be removed, only replaced)"
                    ),
                )));
            }
            writeln!(out(), "已删除规则集 / removed rule set {id}")?;
            Ok(())
        }
    }
}

fn list(data: &Path) -> Result<()> {
    let store = open_store(data)?.store;
    let stored = compliance::stored_rule_sets(&*store)
        .map_err(|e| failed(Msg::new(format!("读取失败：{e}"), e.to_string())))?;
    let offered = RuleSet::for_district(
        compliance::with_stored(&*store, &RuleSet::builtin())
            .map_err(|e| failed(Msg::new(format!("读取失败：{e}"), e.to_string())))?,
        district_of(&*store).as_deref(),
    );
    let mut o = out();
    writeln!(o, "{:<24} {:<14} 名称 title", "规则集 id", "来源 from")?;
    for r in &offered {
        let from = if stored.iter().any(|s| s.id == r.id) {
            "数据库 store"
        } else {
            "内置 built-in"
        };
        writeln!(o, "{:<24} {:<14} {}", r.id, from, r.title)?;
    }
    Ok(())
}
