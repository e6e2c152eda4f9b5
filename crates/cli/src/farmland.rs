//! `tudi farmland`: the county's farmland quota ledger (补充耕地指标台账) from the command line —
//! register and accept compensation projects (入库), post a higher level's orders and transfers,
//! reverse a posting, read balances (now or as of an instant) and the journal, and verify it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use tudi_core::msg::Msg;
use tudi_farmland::account::Account;
use tudi_farmland::amount::Unit;
use tudi_farmland::ledger::{JournalQuery, Ledger, LedgerError};
use tudi_farmland::order::Order;
use tudi_farmland::project::{self, NewProject};
use tudi_store::{Change, Store};

use crate::{failed, open_store, out, refused};

/// What `tudi farmland` does.
#[derive(Debug, Subcommand)]
pub enum FarmlandCommand {
    /// 各账户余额（耕地、水田、产能）/ Every account's balance in the three units
    Balance {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 截至某一时刻（RFC 3339，如 2026-10-01T00:00:00+08:00）/ as of an instant
        #[arg(long)]
        as_of: Option<jiff::Timestamp>,
    },
    /// 记账流水（最新在前）/ The journal, newest first
    Journal {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 只看某账户（如 pool:440605）/ only this account
        #[arg(long)]
        account: Option<String>,
        /// 条数 / how many
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// 登记补充耕地项目（JSON 文件）/ Register a compensation project from a JSON file
    ProjectAdd {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 项目 JSON / the project (name, kind, geometry, grade, new_paddy_m2 …)
        file: PathBuf,
    },
    /// 项目验收入库 / Accept a project: its quota enters the pool
    ProjectAccept {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 项目编号 / project number (BC2026-0001)
        id: String,
        /// 验收日期 / acceptance date (YYYY-MM-DD)
        #[arg(long)]
        on: jiff::civil::Date,
        /// 验收文号 / the acceptance document
        #[arg(long)]
        document: String,
    },
    /// 调剂、冻结、解冻、减扣、信用指标借还（JSON 文件）/ Post a transfer, freeze, release, deduction, borrowing or repayment
    Post {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 记账 JSON（movement、amounts、document …）/ the order as JSON
        file: PathBuf,
        /// 请求标识：同一标识只记一次 / request id: the same id posts once
        #[arg(long)]
        request: Option<String>,
    },
    /// 冲正一笔记账 / Reverse a posting
    Reverse {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 记账号 / posting number
        no: u64,
        /// 原因 / reason
        #[arg(long)]
        reason: String,
    },
    /// 核对台账：连续编号、借贷平衡、检查点 / Verify the journal
    Verify {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
    },
}

fn county(store: &dyn Store) -> Result<String> {
    store.meta("district").ok().flatten().ok_or_else(|| {
        refused(Msg::new(
            "数据库未设置本区代码（tudi init --district）",
            "the store has no district set (tudi init --district)",
        ))
    })
}

fn ledger_failed(e: &LedgerError) -> anyhow::Error {
    let m = e.message();
    match e {
        LedgerError::Store(_) | LedgerError::Busy(_) => failed(m),
        LedgerError::Invalid { field, .. } => refused(Msg::new(
            format!("{field}：{}", m.zh),
            format!("{field}: {}", m.en),
        )),
        _ => refused(m),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(file: &PathBuf) -> Result<T> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        refused(Msg::new(
            format!("无法读取 {}：{e}", file.display()),
            format!("cannot read {}: {e}", file.display()),
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        refused(Msg::new(
            format!("{} 第 {} 行：{e}", file.display(), e.line()),
            format!("{} line {}: {e}", file.display(), e.line()),
        ))
    })
}

fn change(action: &str) -> Change {
    Change::new("cli", action).at(jiff::Timestamp::now())
}

/// Runs a `tudi farmland` command.
///
/// # Errors
/// A refusal or failure, said in both languages.
pub fn cmd_farmland(command: FarmlandCommand) -> Result<()> {
    match command {
        FarmlandCommand::Balance { data, as_of } => {
            let store = open_store(&data)?.store;
            let county = county(&*store)?;
            let ledger = Ledger::new(&*store, &county);
            let (upto, balances) = match as_of {
                Some(at) => ledger.balances_at(at),
                None => ledger.balances(),
            }
            .map_err(|e| ledger_failed(&e))?;
            let mut o = out();
            writeln!(o, "截至第 {upto} 号记账 / after posting {upto}")?;
            writeln!(
                o,
                "账户\t耕地（亩）\t水田（亩）\t产能（公斤）/ account\tfarmland\tpaddy\tcapacity"
            )?;
            for (account, amounts) in &balances.0 {
                writeln!(
                    o,
                    "{}\t{}\t{}\t{}",
                    account.name_zh(),
                    Unit::Farmland.show_zh(amounts.farmland_m2),
                    Unit::Paddy.show_zh(amounts.paddy_m2),
                    Unit::Capacity.show_zh(amounts.capacity_kg)
                )?;
            }
            Ok(())
        }
        FarmlandCommand::Journal {
            data,
            account,
            limit,
        } => {
            let store = open_store(&data)?.store;
            let county = county(&*store)?;
            let account = account
                .map(|a| Account::parse(&a))
                .transpose()
                .map_err(refused)?;
            let (postings, total) = Ledger::new(&*store, &county)
                .journal(&JournalQuery {
                    account,
                    limit: limit.clamp(1, 10_000),
                    ..JournalQuery::default()
                })
                .map_err(|e| ledger_failed(&e))?;
            let mut o = out();
            writeln!(o, "共 {total} 笔 / {total} postings")?;
            for p in postings {
                let legs: Vec<String> = p
                    .legs
                    .iter()
                    .map(|l| format!("{} {}", l.account, l.amounts.show_zh()))
                    .collect();
                writeln!(
                    o,
                    "{}\t{}\t{}\t{}\t{}",
                    p.no,
                    p.at,
                    p.movement.name_zh(),
                    p.summary,
                    legs.join("；")
                )?;
            }
            Ok(())
        }
        FarmlandCommand::ProjectAdd { data, file } => {
            let store = open_store(&data)?.store;
            let spec: NewProject = read_json(&file)?;
            let p = project::register(&*store, &change("farmland.project.register"), spec)
                .map_err(|e| ledger_failed(&e))?;
            writeln!(
                out(),
                "已登记补充耕地项目 {}：{} / project {} registered: {}",
                p.id,
                p.adds.show_zh(),
                p.id,
                p.adds.show_en()
            )?;
            Ok(())
        }
        FarmlandCommand::ProjectAccept {
            data,
            id,
            on,
            document,
        } => {
            let store = open_store(&data)?.store;
            let county = county(&*store)?;
            let ledger = Ledger::new(&*store, &county);
            let p = project::accept(
                &ledger,
                &change("farmland.project.accept"),
                &id,
                on,
                &document,
            )
            .map_err(|e| ledger_failed(&e))?;
            let no = p.acceptance.as_ref().map_or(0, |a| a.posting);
            writeln!(
                out(),
                "项目 {id} 已验收入库（第 {no} 号记账）/ project {id} accepted (posting {no})"
            )?;
            Ok(())
        }
        FarmlandCommand::Post {
            data,
            file,
            request,
        } => {
            let store = open_store(&data)?.store;
            let county = county(&*store)?;
            let ledger = Ledger::new(&*store, &county);
            let order: Order = read_json(&file)?;
            let draft = order
                .draft(&ledger, request.map(|r| format!("client:{r}")))
                .map_err(|e| ledger_failed(&e))?;
            let p = ledger
                .post(&change("farmland.post"), &draft)
                .map_err(|e| ledger_failed(&e))?;
            writeln!(
                out(),
                "已记账第 {} 号：{} / posting {} made",
                p.no,
                p.summary,
                p.no
            )?;
            Ok(())
        }
        FarmlandCommand::Reverse { data, no, reason } => {
            let store = open_store(&data)?.store;
            let county = county(&*store)?;
            let p = Ledger::new(&*store, &county)
                .reverse(&change("farmland.reverse"), no, &reason, None)
                .map_err(|e| ledger_failed(&e))?;
            writeln!(
                out(),
                "已冲正第 {no} 号（第 {} 号记账）/ posting {no} reversed by {}",
                p.no,
                p.no
            )?;
            Ok(())
        }
        FarmlandCommand::Verify { data } => {
            let store = open_store(&data)?.store;
            let county = county(&*store)?;
            let report = Ledger::new(&*store, &county)
                .verify()
                .map_err(|e| ledger_failed(&e))?;
            let mut o = out();
            for p in &report.problems {
                writeln!(o, "{} / {}", p.zh, p.en)?;
            }
            if !report.problems.is_empty() {
                return Err(failed(Msg::new(
                    format!("台账有 {} 处问题", report.problems.len()),
                    format!("the ledger has {} problems", report.problems.len()),
                )));
            }
            writeln!(
                o,
                "台账完好：{} 笔记账，{} 个检查点 / the ledger is sound: {} postings, {} checkpoints",
                report.postings, report.checkpoints, report.postings, report.checkpoints
            )?;
            Ok(())
        }
    }
}
