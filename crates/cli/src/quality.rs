//! `tudi check`: a file's features checked against a quality rule set (成果质检), with a
//! summary, the findings, an exit code, and a CSV report a surveyor can open in Excel.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use tudi_core::layer::LayerKind;
use tudi_core::msg::{Bilingual, Msg};
use tudi_onemap::import::{self, ImportOptions};
use tudi_quality::check::{self, Report};
use tudi_quality::rules::{RuleSet, Severity};
use tudi_quality::{conformance, gate};

use crate::{failed, out, refused};

/// Findings printed on the terminal; the report holds them all.
const SHOWN: usize = 50;

/// What `tudi check` checks.
pub enum Checked {
    /// A file.
    File(std::path::PathBuf),
    /// A layer of the store of `--data` (or of `--database`).
    Layer {
        /// The layer.
        layer: String,
    },
}

/// What `tudi check` is given.
pub struct CheckArgs<'a> {
    /// A shipped set's id or a `.json` rule file.
    pub rules: &'a str,
    /// What is checked.
    pub source: Checked,
    /// The data directory whose store holds the layer checked and the layers rules between
    /// layers compare with.
    pub data: Option<std::path::PathBuf>,
    /// Its CRS, overriding what it declares.
    pub src_crs: Option<tudi_geo::crs::Crs>,
    /// Its coordinates are GCJ-02.
    pub gcj02: bool,
    /// The table of a GeoPackage with several.
    pub source_layer: Option<String>,
    /// Where reports go (must not exist): `.csv` (every finding, for Excel) or `.gpkg` (the
    /// error geometries, for QGIS beside the data).
    pub reports: &'a [std::path::PathBuf],
}

/// Runs the check; exit 3 when any error was found, 0 otherwise (warnings printed).
pub fn cmd_check(args: &CheckArgs<'_>) -> Result<()> {
    let set = RuleSet::find(args.rules).map_err(|e| refused(e.msg()))?;
    check_report_paths(args.reports)?;
    let store = match &args.data {
        Some(data) => Some(crate::location::open_store(data)?),
        None => None,
    };
    let (label, (crs, features)) = match &args.source {
        Checked::File(file) => {
            let mut opts = ImportOptions::new("check", LayerKind::Custom);
            opts.src_crs = args.src_crs;
            opts.gcj02 = args.gcj02;
            opts.source_layer.clone_from(&args.source_layer);
            (
                file.display().to_string(),
                import::read_planar(file, &opts).map_err(|e| refused(e.msg()))?,
            )
        }
        Checked::Layer { layer, .. } => {
            let Some(opened) = &store else {
                return Err(refused(Msg::new(
                    "未给出数据目录",
                    "no data directory given",
                )));
            };
            (
                format!("{} · {layer}", opened.label),
                import::read_layer_planar(&*opened.store, layer, None)
                    .map_err(|e| refused(e.msg()))?,
            )
        }
    };
    // Without a store, the rules between layers are listed as not run.
    let others = match &store {
        Some(opened) => {
            gate::other_layers(&*opened.store, &set, crs).map_err(|e| refused(e.msg()))?
        }
        None => check::OtherLayers::new(),
    };
    let report = check::run(&set, crs, &features, &others);
    let mut o = out();
    print_report(&mut o, &label, &set, &report, crs)?;
    write_reports(&mut o, args.reports, &set, &report, crs)?;
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    if errors > 0 {
        drop(o);
        return Err(refused(Msg::new(
            format!("未通过：错误 {errors} 条，警告 {warnings} 条"),
            format!("failed: {errors} errors, {warnings} warnings"),
        )));
    }
    writeln!(
        o,
        "通过：错误 0 条，警告 {warnings} 条 / passed: 0 errors, {warnings} warnings"
    )?;
    Ok(())
}

enum ReportKind {
    Csv,
    GeoPackage,
    Excel,
}

fn report_kind(path: &Path) -> Option<ReportKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(ReportKind::Csv),
        "gpkg" => Some(ReportKind::GeoPackage),
        "xlsx" => Some(ReportKind::Excel),
        _ => None,
    }
}

/// The error geometries as a GeoPackage layer `findings` in the checked CRS: QGIS opens it
/// beside the data.
fn write_geopackage(path: &Path, report: &Report, epsg: u32) -> Result<()> {
    tudi_quality::export::findings_geopackage(path, report, epsg).map_err(|e| {
        failed(Msg::new(
            format!("无法写入报告 {}：{e}", path.display()),
            format!("cannot write the report {}: {e}", path.display()),
        ))
    })?;
    Ok(())
}

/// The totals and every finding as an Excel workbook (汇总, 问题清单), created new.
fn write_excel(path: &Path, set: &RuleSet, report: &Report, crs: &str) -> Result<()> {
    write_workbook(
        path,
        &[&report.totals_table(set), &report.findings_table(crs)],
    )
}

fn csv(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

/// The findings as CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese).
fn write_report(path: &Path, report: &Report, crs: &str) -> Result<()> {
    let mut text = String::from(
        "\u{feff}规则 rule,严重程度 severity,要素 feature,X,Y,坐标系 crs,说明,message,要素标识 feature_id\n",
    );
    for f in &report.findings {
        let (x, y) = f.location.map_or((String::new(), String::new()), |c| {
            (format!("{:.3}", c.x), format!("{:.3}", c.y))
        });
        text.push_str(&format!(
            "{},{},{},{x},{y},{},{},{},{}\n",
            csv(&f.rule),
            f.severity.msg().en,
            f.feature + 1,
            csv(crs),
            csv(&f.message.zh),
            csv(&f.message.en),
            csv(f.feature_id.as_deref().unwrap_or(""))
        ));
    }
    std::fs::write(path, text).map_err(|e| {
        failed(Msg::new(
            format!("无法写入报告 {}：{e}", path.display()),
            format!("cannot write the report {}: {e}", path.display()),
        ))
    })?;
    Ok(())
}

/// Refuses report paths that exist or are of no known kind, before any work.
fn check_report_paths(reports: &[std::path::PathBuf]) -> Result<()> {
    for path in reports {
        if path.exists() {
            return Err(refused(Msg::new(
                format!("报告文件 {} 已存在", path.display()),
                format!("the report file {} exists", path.display()),
            )));
        }
        if report_kind(path).is_none() {
            return Err(refused(Msg::new(
                format!("报告文件 {} 应为 .csv、.xlsx 或 .gpkg", path.display()),
                format!(
                    "the report file {} must end in .csv, .xlsx or .gpkg",
                    path.display()
                ),
            )));
        }
    }
    Ok(())
}

/// The summary, the totals by rule, the rules not run and the first findings.
fn print_report(
    o: &mut impl Write,
    label: &str,
    set: &RuleSet,
    report: &Report,
    crs: tudi_geo::crs::Crs,
) -> Result<()> {
    writeln!(
        o,
        "质检 / checked {}：{} 个要素 / features，规则集 / rule set {}（{} / {}），坐标系 / CRS {}",
        label,
        report.features,
        set.id,
        set.title.zh,
        set.title.en,
        crs.code_string()
    )?;
    for (rule, n) in report.totals(set) {
        let sev = rule.severity.msg();
        writeln!(
            o,
            "  {:<18} {}/{:<7} {:>6}  {} / {}",
            rule.id, sev.zh, sev.en, n, rule.message.zh, rule.message.en
        )?;
    }
    for skipped in &report.skipped {
        let m = skipped.msg();
        writeln!(o, "  {} / {}", m.zh, m.en)?;
    }
    for f in report.findings.iter().take(SHOWN) {
        let sev = f.severity.msg();
        let at = f
            .location
            .map(|c| format!(" ({:.3}, {:.3})", c.x, c.y))
            .unwrap_or_default();
        let id = f
            .feature_id
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        writeln!(
            o,
            "要素 / feature {}{id} [{}] {}：{}{at}\n    {}",
            f.feature + 1,
            f.rule,
            sev.zh,
            f.message.zh,
            f.message.en
        )?;
    }
    if report.findings.len() > SHOWN {
        writeln!(
            o,
            "……另有 {} 条，见报告 / {} more, see the report",
            report.findings.len() - SHOWN,
            report.findings.len() - SHOWN
        )?;
    }
    Ok(())
}

/// Writes each report file asked for, and says where.
fn write_reports(
    o: &mut impl Write,
    reports: &[std::path::PathBuf],
    set: &RuleSet,
    report: &Report,
    crs: tudi_geo::crs::Crs,
) -> Result<()> {
    for path in reports {
        match report_kind(path) {
            Some(ReportKind::Csv) => write_report(path, report, crs.code_string().as_str())?,
            Some(ReportKind::Excel) => write_excel(path, set, report, crs.code_string().as_str())?,
            Some(ReportKind::GeoPackage) => write_geopackage(path, report, crs.epsg())?,
            None => {}
        }
        writeln!(o, "报告 / report: {}", path.display())?;
    }
    Ok(())
}

/// The quality check of an import, made its last step (`tudi import --rules`, or the set of
/// the layer's kind): run once every feature has passed the import's own checks, on the
/// features it keeps; errors roll the import back.
pub struct ImportCheck {
    set: RuleSet,
    outcome: std::sync::Arc<std::sync::Mutex<Option<gate::Checked>>>,
}

impl ImportCheck {
    /// Runs the check for an import into `opts`' layer, when its kind or `rules` names a set,
    /// and installs its verdict as `opts`' gate. Report paths are refused before any work.
    pub fn install(
        store: &std::sync::Arc<dyn tudi_store::Store>,
        file: &Path,
        opts: &mut ImportOptions,
        rules: Option<&str>,
        reports: &[std::path::PathBuf],
    ) -> Result<Option<Self>> {
        let Some(set) = gate::set_for_import(rules, opts.kind).map_err(|e| refused(e.msg()))?
        else {
            if !reports.is_empty() {
                return Err(refused(Msg::new(
                    format!(
                        "{}图层没有默认的质检规则集，无从写出报告：请用 --rules 指定规则集",
                        opts.kind.name_zh()
                    ),
                    format!(
                        "a {} layer has no default rule set, so there is no report to write: name one with --rules",
                        opts.kind.id()
                    ),
                )));
            }
            return Ok(None);
        };
        check_report_paths(reports)?;
        // Checked before the import's transaction opens, so the store is not held while the
        // check reads it; the gate then only leaves out what the import skipped.
        let checked = gate::check_file(&**store, file, opts, &set).map_err(|e| refused(e.msg()))?;
        let outcome = std::sync::Arc::new(std::sync::Mutex::new(Some(checked)));
        let kept = std::sync::Arc::clone(&outcome);
        let rule_set = set.clone();
        opts.gate = Some(import::ImportGate(std::sync::Arc::new(
            move |skipped: &[usize]| {
                let mut slot = kept.lock().map_err(|_| {
                    Msg::new(
                        "质检结果不可用",
                        "the quality check's result is unavailable",
                    )
                })?;
                let Some(checked) = slot.as_mut() else {
                    return Ok(());
                };
                checked.settle(&rule_set, skipped);
                if checked.passes() {
                    Ok(())
                } else {
                    Err(gate::refusal(&checked.report))
                }
            },
        )));
        Ok(Some(Self { set, outcome }))
    }

    /// Prints what the check found and writes the report files.
    pub fn print(&self, file: &Path, reports: &[std::path::PathBuf]) -> Result<()> {
        let Some(guard) = self.checked() else {
            return Ok(());
        };
        let Some(checked) = guard.as_ref() else {
            return Ok(());
        };
        let mut o = out();
        print_report(
            &mut o,
            &file.display().to_string(),
            &self.set,
            &checked.report,
            checked.crs,
        )?;
        write_reports(&mut o, reports, &self.set, &checked.report, checked.crs)
    }

    fn checked(&self) -> Option<std::sync::MutexGuard<'_, Option<gate::Checked>>> {
        self.outcome.lock().ok()
    }

    /// Keeps the check with the layer imported, and says so.
    pub fn keep(
        &self,
        store: &dyn tudi_store::Store,
        layer: &str,
        file: &Path,
        actor: &str,
    ) -> Result<()> {
        let Some(guard) = self.checked() else {
            return Ok(());
        };
        let Some(checked) = guard.as_ref() else {
            return Ok(());
        };
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let change = tudi_store::Change::new(actor, "quality.import_check");
        let id = gate::keep(store, &change, layer, &name, &self.set, checked).map_err(|e| {
            failed(Msg::new(
                format!("已导入，但质检记录未能保存：{e}"),
                format!("imported, but the check record could not be kept: {e}"),
            ))
        })?;
        let warnings = checked.report.count(Severity::Warning);
        writeln!(
            out(),
            "质检通过，警告 {warnings} 条随图层 {layer} 保存（质检记录 {id}）/ the check passed; {warnings} warnings kept with layer {layer} (check record {id})"
        )?;
        Ok(())
    }
}

/// `tudi plan-check`: a village or town plan against the binding content of the level above.
pub struct PlanCheckArgs<'a> {
    /// The data directory whose store holds the division, the survey and the control lines.
    pub data: &'a Path,
    /// The code of the village or town the plan is for.
    pub division: &'a str,
    /// The plan's land-use layout (field `land_use`, 2023 codes).
    pub plan: &'a Path,
    /// The plan's indicator table (CSV: indicator, value, unit).
    pub indicators: &'a Path,
    /// Its CRS, overriding what it declares.
    pub src_crs: Option<tudi_geo::crs::Crs>,
    /// An Excel report (must not exist).
    pub report: Option<&'a Path>,
}

/// Reads an indicator table: one indicator a line, `name,value[,unit]`, names in Chinese or
/// English, units 平方米/m2 (default), 亩/mu, 公顷/ha; a heading line is allowed.
fn read_indicators(path: &Path) -> Result<conformance::Declared> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        refused(Msg::new(
            format!("无法读取指标表 {}：{e}", path.display()),
            format!("cannot read the indicator table {}: {e}", path.display()),
        ))
    })?;
    let mut declared = conformance::Declared::default();
    for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let bad = |zh: String, en: String| {
            refused(Msg::new(
                format!("指标表 {} 第 {} 行：{zh}", path.display(), n + 1),
                format!("indicator table {} line {}: {en}", path.display(), n + 1),
            ))
        };
        let Some(name) = cells.first().filter(|c| !c.is_empty()) else {
            continue;
        };
        let slot = match *name {
            "耕地保有量" | "cultivated" => &mut declared.cultivated,
            "永久基本农田保护面积" | "永久基本农田" | "farmland" => {
                &mut declared.farmland
            }
            "生态保护红线面积" | "生态保护红线" | "redline" => &mut declared.redline,
            "建设用地规模" | "村庄建设用地规模" | "construction" => {
                &mut declared.construction
            }
            _ if n == 0 => continue,
            other => {
                return Err(bad(
                    format!(
                        "未知指标“{other}”（可用：耕地保有量、永久基本农田保护面积、生态保护红线面积、建设用地规模）"
                    ),
                    format!(
                        "unknown indicator {other:?} (known: cultivated, farmland, redline, construction)"
                    ),
                ));
            }
        };
        let raw = cells.get(1).copied().unwrap_or_default();
        let Ok(v) = raw.parse::<f64>() else {
            return Err(bad(
                format!("“{raw}”不是数字"),
                format!("{raw:?} is not a number"),
            ));
        };
        let per = match cells.get(2).copied().unwrap_or("") {
            "" | "平方米" | "m2" | "m²" => 1.0,
            "亩" | "mu" => tudi_core::units::M2_PER_MU,
            "公顷" | "ha" | "hectare" => tudi_core::units::M2_PER_HECTARE,
            other => {
                return Err(bad(
                    format!("未知单位“{other}”（可用：平方米、亩、公顷）"),
                    format!("unknown unit {other:?} (known: m2, mu, ha)"),
                ));
            }
        };
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(
                format!("“{raw}”不是非负数"),
                format!("{raw:?} is not a non-negative number"),
            ));
        }
        *slot = Some(v * per);
    }
    Ok(declared)
}

/// The features of the store's first layer of `kind`, in `crs` (none when it has no such
/// layer).
fn layer_of_kind(
    store: &dyn tudi_store::Store,
    kind: LayerKind,
    crs: tudi_geo::crs::Crs,
) -> Result<(Option<String>, Vec<import::PlanarFeature>)> {
    let layers = store
        .layers()
        .map_err(|e| failed(Msg::new(format!("读取图层失败：{e}"), e.to_string())))?;
    let Some(info) = layers.into_iter().find(|l| l.def.kind == kind) else {
        return Ok((None, Vec::new()));
    };
    let (_, features) = import::read_layer_planar(store, &info.def.name, Some(crs))
        .map_err(|e| refused(e.msg()))?;
    Ok((Some(info.def.name), features))
}

/// Runs the plan check; exit 3 when an indicator does not conform.
pub fn cmd_plan_check(args: &PlanCheckArgs<'_>) -> Result<()> {
    if let Some(path) = args.report {
        if !matches!(report_kind(path), Some(ReportKind::Excel)) {
            return Err(refused(Msg::new(
                format!("报告文件 {} 应为 .xlsx", path.display()),
                format!("the report file {} must end in .xlsx", path.display()),
            )));
        }
        check_report_paths(std::slice::from_ref(&path.to_path_buf()))?;
    }
    let declared = read_indicators(args.indicators)?;
    let mut opts = ImportOptions::new("plan", LayerKind::Planning);
    opts.src_crs = args.src_crs;
    let (crs, mut plan) = import::read_planar(args.plan, &opts).map_err(|e| refused(e.msg()))?;
    // Named as an import into a planning layer would name them (a 用地用海代码 column titled
    // in Chinese, any case).
    let fields = tudi_onemap::schema::default_fields(LayerKind::Planning);
    for f in &mut plan {
        gate::name_as_imported(f, &opts, &fields);
    }
    if !plan.iter().any(|f| f.properties.contains_key("land_use")) {
        return Err(refused(Msg::new(
            format!(
                "{} 中没有规划地类字段 land_use（用地用海分类代码）",
                args.plan.display()
            ),
            format!(
                "{} has no land_use field (the 2023 land and sea use class)",
                args.plan.display()
            ),
        )));
    }
    let opened = crate::location::open_store(args.data)?;
    let store = &*opened.store;
    let (_, divisions) = layer_of_kind(store, LayerKind::Admin, crs)?;
    let area = divisions
        .iter()
        .find(|f| {
            f.properties.get("code").and_then(serde_json::Value::as_str) == Some(args.division)
        })
        .and_then(check::measurable_shape)
        .ok_or_else(|| {
            refused(Msg::new(
                format!("行政区划图层中没有代码为 {} 的有效区划", args.division),
                format!(
                    "the divisions layer has no valid division coded {}",
                    args.division
                ),
            ))
        })?;
    let required = |kind: LayerKind| -> Result<Vec<import::PlanarFeature>> {
        match layer_of_kind(store, kind, crs)? {
            (Some(_), features) => Ok(features),
            (None, _) => Err(refused(Msg::new(
                format!("数据库中没有{}图层，无法审查", kind.name_zh()),
                format!("the store has no {} layer to check against", kind.id()),
            ))),
        }
    };
    let survey = required(LayerKind::LandSurvey)?;
    let farmland = required(LayerKind::PermanentFarmland)?;
    let redline = required(LayerKind::EcoRedline)?;
    // A district without an urban boundary has all its construction outside one.
    let (_, boundary) = layer_of_kind(store, LayerKind::UrbanBoundary, crs)?;
    let found = conformance::assess(
        &plan,
        &conformance::Binding {
            area,
            survey: &survey,
            farmland: &farmland,
            redline: &redline,
            boundary: &boundary,
        },
        &declared,
    );
    let mut o = out();
    writeln!(
        o,
        "规划传导审查 / plan conformance: {} · 区划 / division {} · {}",
        args.plan.display(),
        args.division,
        crs.code_string()
    )?;
    let figure = |v: Option<f64>| {
        v.map_or_else(
            || "—".to_owned(),
            |v| format!("{v:.2} m² ({:.2} 亩)", v / tudi_core::units::M2_PER_MU),
        )
    };
    for i in &found {
        writeln!(
            o,
            "{} {} / {}\n    上位约束 binding {} · 计算 computed {} · 申报 declared {}",
            if i.problems.is_empty() { "✓" } else { "✗" },
            i.name.zh,
            i.name.en,
            figure(i.binding),
            figure(Some(i.computed)),
            figure(i.declared)
        )?;
        for p in &i.problems {
            writeln!(o, "    {} / {}", p.zh, p.en)?;
        }
    }
    if let Some(path) = args.report {
        write_plan_report(path, &found)?;
        writeln!(o, "报告 / report: {}", path.display())?;
    }
    let failing = found.iter().filter(|i| !i.problems.is_empty()).count();
    if failing > 0 {
        drop(o);
        return Err(refused(Msg::new(
            format!("规划传导审查未通过：{failing} 项指标不符合上位约束"),
            format!("plan conformance failed: {failing} indicators break the binding content"),
        )));
    }
    writeln!(o, "通过 / conforms")?;
    Ok(())
}

fn write_plan_report(path: &Path, found: &[conformance::Indicator]) -> Result<()> {
    use tudi_core::table::{Cell, Table};
    let table = Table {
        sheet: "规划传导 conformance".into(),
        title: "规划传导审查 / plan conformance (m²)".into(),
        headings: vec![
            "指标 indicator",
            "上位约束 binding",
            "计算值 computed",
            "申报值 declared",
            "结论 verdict",
            "问题",
            "problems",
        ],
        rows: found
            .iter()
            .map(|i| {
                vec![
                    Cell::Text(format!("{} {}", i.name.zh, i.name.en)),
                    Cell::Number(i.binding),
                    Cell::Number(Some(i.computed)),
                    Cell::Number(i.declared),
                    Cell::Text(
                        if i.problems.is_empty() {
                            "符合 conforms"
                        } else {
                            "不符合 fails"
                        }
                        .into(),
                    ),
                    Cell::Text(
                        i.problems
                            .iter()
                            .map(|p| p.zh.clone())
                            .collect::<Vec<_>>()
                            .join("；"),
                    ),
                    Cell::Text(
                        i.problems
                            .iter()
                            .map(|p| p.en.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ]
            })
            .collect(),
    };
    write_workbook(path, &[&table])
}

/// Writes tables as a new Excel workbook (the path must not exist).
fn write_workbook(path: &Path, tables: &[&tudi_core::table::Table]) -> Result<()> {
    let cannot = |e: &dyn std::fmt::Display| {
        failed(Msg::new(
            format!("无法写入报告 {}：{e}", path.display()),
            format!("cannot write the report {}: {e}", path.display()),
        ))
    };
    let bytes = tudi_server::xlsx::workbook_of(tables).map_err(|e| cannot(&e))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| cannot(&e))?;
    Ok(())
}
