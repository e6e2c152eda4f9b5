//! `tudi user …`, `tudi audit verify` and `tudi publish`: accounts, the audit chain and public
//! layers from the command line (the first administrator is made here).

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use tudi_access::accounts::{AccessError, Accounts, AuthConfig, NewUser, UserPatch};
use tudi_access::{Binding, Jurisdiction, Role};
use tudi_core::msg::{Bilingual, Msg};
use tudi_store::{Change, Store};

use crate::{failed, open_store, out, refused};

#[derive(Subcommand)]
pub enum UserCommand {
    /// 创建账户（密码从标准输入读取）/ Create an account (password read from standard input)
    Add {
        /// 数据目录 / data directory
        #[arg(long)]
        data: std::path::PathBuf,
        /// 用户名 / user name
        #[arg(long)]
        username: String,
        /// 角色（如 admin、town_reviewer 或 系统管理员）/ role (id or Chinese name)
        #[arg(long)]
        role: String,
        /// 辖区代码（区县 6 位、镇街 9 位、村居 12 位、网格 15 位）/ jurisdiction code
        #[arg(long)]
        scope: String,
        /// 部门（部门处置人须填）/ department (department handlers)
        #[arg(long)]
        department: Option<String>,
        /// 姓名 / display name
        #[arg(long)]
        name: Option<String>,
    },
    /// 重置密码（新密码从标准输入读取）/ Reset a password (new one read from standard input)
    Passwd {
        /// 数据目录 / data directory
        #[arg(long)]
        data: std::path::PathBuf,
        /// 用户名 / user name
        #[arg(long)]
        username: String,
    },
    /// 启用或停用账户 / Enable or disable an account
    Disable {
        /// 数据目录 / data directory
        #[arg(long)]
        data: std::path::PathBuf,
        /// 用户名 / user name
        #[arg(long)]
        username: String,
        /// 重新启用 / enable again
        #[arg(long)]
        enable: bool,
    },
    /// 列出账户 / List accounts
    List {
        /// 数据目录 / data directory
        #[arg(long)]
        data: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// 校验审计链，链断裂时返回非零并指出位置 / Verify the audit chain; non-zero and the place when broken
    Verify {
        /// 数据目录 / data directory
        #[arg(long)]
        data: std::path::PathBuf,
    },
}

fn access_error(e: &AccessError) -> anyhow::Error {
    match e {
        AccessError::Store(_) | AccessError::Internal(_) => failed(e.msg()),
        _ => refused(e.msg()),
    }
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| failed(Msg::new(format!("无法读取标准输入：{e}"), e.to_string())))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        return Err(refused(Msg::new(
            "请从标准输入提供密码，如：echo '…' | tudi user add …",
            "give the password on standard input, e.g. echo '…' | tudi user add …",
        )));
    }
    Ok(pw)
}

pub fn cmd_user(command: UserCommand) -> Result<()> {
    let config = AuthConfig::default();
    match command {
        UserCommand::Add {
            data,
            username,
            role,
            scope,
            department,
            name,
        } => {
            let store = open_store(&data)?.store;
            let role = Role::parse(&role).ok_or_else(|| {
                let ids: Vec<&str> = Role::ALL.iter().map(|r| r.id()).collect();
                refused(Msg::new(
                    format!("未知角色 {role}；可用：{}", ids.join("、")),
                    format!("unknown role {role:?}; use one of {}", ids.join(", ")),
                ))
            })?;
            let scope = Jurisdiction::parse(&scope).map_err(refused)?;
            let password = read_password()?;
            let user = Accounts::new(&*store, &config)
                .create_user(
                    &Change::new("cli", "user.create"),
                    NewUser {
                        username,
                        display_name: name,
                        password,
                        roles: vec![Binding {
                            role,
                            scope,
                            department,
                        }],
                        phone: None,
                        id_number: None,
                    },
                )
                .map_err(|e| access_error(&e))?;
            let b = &user.bindings[0];
            writeln!(
                out(),
                "已创建账户 {}：{}（{}）/ created account {}: {} in {}",
                user.username,
                b.role.name_zh(),
                b.scope,
                user.username,
                b.role.name_en(),
                b.scope
            )?;
        }
        UserCommand::Passwd { data, username } => {
            let store = open_store(&data)?.store;
            let password = read_password()?;
            Accounts::new(&*store, &config)
                .reset_password(
                    &Change::new("cli", "user.reset_password"),
                    &username,
                    &password,
                )
                .map_err(|e| access_error(&e))?;
            writeln!(
                out(),
                "已重置 {username} 的密码，下次登录须修改 / password of {username} reset; it must be changed at next sign-in"
            )?;
        }
        UserCommand::Disable {
            data,
            username,
            enable,
        } => {
            let store = open_store(&data)?.store;
            Accounts::new(&*store, &config)
                .update_user(
                    &Change::new("cli", "user.update"),
                    &username,
                    UserPatch {
                        disabled: Some(!enable),
                        ..UserPatch::default()
                    },
                )
                .map_err(|e| access_error(&e))?;
            let (zh, en) = if enable {
                ("已启用", "enabled")
            } else {
                ("已停用", "disabled")
            };
            writeln!(out(), "{zh} {username} / {username} {en}")?;
        }
        UserCommand::List { data } => {
            let store = open_store(&data)?.store;
            let users = Accounts::new(&*store, &config)
                .users()
                .map_err(|e| access_error(&e))?;
            let mut o = out();
            for (u, _) in users {
                let roles: Vec<String> = u
                    .bindings
                    .iter()
                    .map(|b| format!("{}@{}", b.role.id(), b.scope))
                    .collect();
                writeln!(
                    o,
                    "{:<20} {:<16} {}{}",
                    u.username,
                    u.display_name,
                    roles.join(" "),
                    if u.disabled {
                        "  [停用 disabled]"
                    } else {
                        ""
                    }
                )?;
            }
        }
    }
    Ok(())
}

pub fn cmd_audit(command: AuditCommand) -> Result<()> {
    let AuditCommand::Verify { data } = command;
    let store = open_store(&data)?.store;
    let report = store
        .verify_audit()
        .map_err(|e| failed(Msg::new(format!("读取审计链失败：{e}"), e.to_string())))?;
    let mut o = out();
    if report.is_intact() {
        writeln!(
            o,
            "审计链完整：{} 条记录 / audit chain intact: {} entries",
            report.entries, report.entries
        )?;
        if let Some(head) = &report.head {
            writeln!(
                o,
                "链头哈希（可另行留存以备核对）/ head hash (keep a copy elsewhere): {head}"
            )?;
        }
        // The chain is never pruned: say since when it holds everything (网络安全法 art. 21
        // asks for six months at least).
        let oldest = store
            .audit_trail(&tudi_store::AuditQuery {
                limit: Some(1),
                offset: report.entries.saturating_sub(1),
                ..Default::default()
            })
            .ok()
            .and_then(|page| page.into_iter().next());
        if let Some(first) = oldest {
            let since = first
                .at
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                .strftime("%Y-%m-%d %H:%M");
            writeln!(
                o,
                "自 {since} 起的记录全部保留，从不删除 / every entry since {since} (UTC+8) is kept; none is ever removed"
            )?;
        }
        return Ok(());
    }
    drop(o);
    let lines: Vec<Msg> = report
        .faults
        .iter()
        .map(tudi_store::audit::ChainFault::message)
        .collect();
    let zh: Vec<&str> = lines.iter().map(|m| m.zh.as_str()).collect();
    let en: Vec<&str> = lines.iter().map(|m| m.en.as_str()).collect();
    Err(failed(Msg::new(
        format!(
            "审计链已被破坏（共 {} 条记录）：\n{}",
            report.entries,
            zh.join("\n")
        ),
        format!(
            "the audit chain is broken ({} entries):\n{}",
            report.entries,
            en.join("\n")
        ),
    )))
}

pub fn cmd_publish(data: &Path, layer: &str, off: bool) -> Result<()> {
    let store = open_store(data)?.store;
    let change = Change::new("cli", "layer.access");
    let list =
        tudi_onemap::access::set_public(&*store, layer, !off, &change).map_err(|e| match e {
            tudi_store::StoreError::UnknownLayer(l) => refused(Msg::new(
                format!("图层 {l} 不存在"),
                format!("no layer {l}"),
            )),
            other => failed(Msg::new(format!("保存失败：{other}"), other.to_string())),
        })?;
    writeln!(
        out(),
        "公开图层 / public layers: {}",
        if list.is_empty() {
            "—".to_owned()
        } else {
            list.join(", ")
        }
    )?;
    Ok(())
}

/// Writes the demo accounts beside the store and says where.
pub fn write_demo_accounts(
    store: &dyn Store,
    data: &Path,
    district: &str,
    homestead_town: &str,
    homestead_villages: &[String],
) -> Result<(std::path::PathBuf, Vec<tudi_access::demo::DemoAccount>)> {
    let config = AuthConfig::default();
    let mut accounts = tudi_access::demo::create_accounts(store, &config, district)
        .map_err(|e| access_error(&e))?;
    accounts.extend(
        tudi_access::demo::create_homestead_accounts(
            store,
            &config,
            district,
            homestead_town,
            homestead_villages,
        )
        .map_err(|e| access_error(&e))?,
    );
    // An Open311 API key: an API token of the hotline agent, who may take orders in.
    let (api_key, _) = tudi_access::accounts::Accounts::new(store, &config)
        .issue_token(
            &tudi_store::Change::new("cli", "demo.accounts"),
            "rexian.zuoxi",
            "Open311 演示接口",
            vec![],
            Some(365),
        )
        .map_err(|e| access_error(&e))?;
    let path = data.join("demo-accounts.json");
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "note": "演示账户，仅供试用；密码每次生成演示区时随机产生 / demo accounts for trying each role; passwords are random per demo",
        "accounts": accounts,
        "open311": {
            "endpoint": "/open311/v2",
            "api_key": api_key,
            "account": "rexian.zuoxi",
            "note": "POST /open311/v2/requests.json 的 api_key / the api_key for POST /open311/v2/requests.json",
        },
    }))?;
    // It holds passwords: readable by its owner only, as the signing keys are.
    let written = {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
    };
    written.map_err(|e| {
        failed(Msg::new(
            format!("无法写入 {}：{e}", path.display()),
            format!("cannot write {}: {e}", path.display()),
        ))
    })?;
    Ok((path, accounts))
}
