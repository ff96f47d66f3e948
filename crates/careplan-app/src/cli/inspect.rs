//! `careplan inspect` and `careplan route`: the headless contract of issue 2.
//!
//! `inspect --json` prints one JSON object per input, one per line; `route --json` prints
//! one JSON object. Without `--json` both print a readable Japanese table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use careplan_core::finding::Findings;
use careplan_core::route::{MAX_OFFICES, Routing, route};
use careplan_core::{Finding, OfficeNumber, parse_name};
use clap::Args;
use serde::Serialize;

/// Arguments of `careplan inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// JSON で1ファイル1行に出力する
    #[arg(long)]
    pub json: bool,
    /// ファイル名だけを検査する（ファイルは読まない。存在しなくてもよい）
    #[arg(long)]
    pub names_only: bool,
    /// 検査するファイル
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `careplan route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// JSON で出力する
    #[arg(long)]
    pub json: bool,
    /// 自事業所の事業所番号（送信元）
    #[arg(long = "from")]
    pub from: String,
    /// 一度に送れる送信先事業所数の上限
    #[arg(long, default_value_t = MAX_OFFICES)]
    pub max_offices: usize,
    /// 振り分けるファイル（ファイル名だけを見る）
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// One finding in the JSON output.
#[derive(Debug, Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<usize>,
}

/// The result of inspecting one input.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// File name only.
    pub file: String,
    /// The standard's prefix, or null.
    pub kind: Option<String>,
    /// 登録 / 削除 / PDF等 (null when the name is not readable at all).
    pub category: Option<String>,
    /// v3 / v4 / null.
    pub name_format: Option<String>,
    /// Sender office.
    pub from_office: Option<String>,
    /// Destination office.
    pub to_office: Option<String>,
    /// Sender service type.
    pub from_service: Option<String>,
    /// Destination service type.
    pub to_service: Option<String>,
    /// Month segment.
    pub month: Option<String>,
    /// 14-digit serial.
    pub serial: Option<String>,
    /// CSVバージョン read from the content.
    pub csv_version: Option<String>,
    /// Number of data records (null with `--names-only` and for attachments).
    pub records: Option<usize>,
    /// All findings, errors and warnings.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl Inspection {
    fn has_errors(&self) -> bool {
        self.findings.has_errors()
    }

    fn to_json(&self) -> serde_json::Value {
        let list = |errors: bool| -> Vec<JsonFinding<'_>> {
            self.findings
                .iter()
                .filter(|f| f.is_error() == errors)
                .map(|f| JsonFinding {
                    code: &f.code,
                    message: &f.message,
                    record: f.record,
                    field: f.field,
                })
                .collect()
        };
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("errors".into(), serde_json::json!(list(true)));
            o.insert("warnings".into(), serde_json::json!(list(false)));
        }
        v
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string_lossy().into_owned())
}

/// Inspect one file: its name, and unless `names_only` its content.
pub fn inspect_path(path: &Path, names_only: bool) -> Inspection {
    let file = file_name_of(path);
    let name = parse_name(&file);
    let mut out = Inspection {
        file: file.clone(),
        kind: name.kind.map(|k| k.prefix().to_owned()),
        category: Some(name.category.label().to_owned()),
        name_format: name.shape.map(|s| s.label().to_owned()),
        from_office: name.from_office.as_ref().map(ToString::to_string),
        to_office: name.to_office.as_ref().map(ToString::to_string),
        from_service: name.from_service.as_ref().map(ToString::to_string),
        to_service: name.to_service.as_ref().map(ToString::to_string),
        month: name.month.map(String::from),
        serial: name.serial.map(String::from),
        csv_version: None,
        records: None,
        findings: name.findings.clone(),
    };
    if names_only {
        return out;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            out.findings.push(Finding::error(
                "E_FILE_READ",
                format!(
                    "ファイル「{file}」を読み込めません（{}）。ファイルがあるか、ほかのアプリで開いていないか確認してください。",
                    io_reason(&e)
                ),
            ));
            return out;
        }
    };
    match name.kind {
        Some(kind) if kind.is_csv() => {
            let report = careplan_core::csv::validate(kind, Some(&name), &bytes);
            out.csv_version = report.csv_version;
            out.records = Some(report.records.len());
            out.findings.extend(report.findings);
        }
        Some(_) if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) => {
            out.findings.push(Finding::error(
                "E_IMAGE_NOT_JPEG",
                "家族構成画像の中身がJPEG形式ではありません。JPEG（.jpg）で保存し直してください。",
            ));
        }
        _ => {}
    }
    out
}

fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "見つかりません",
        std::io::ErrorKind::PermissionDenied => "アクセスが拒否されました",
        std::io::ErrorKind::IsADirectory => "フォルダです",
        _ => "読み込みエラー",
    }
}

/// `careplan inspect`.
pub fn run_inspect(args: &InspectArgs) -> ExitCode {
    let mut any_error = false;
    let mut table = Vec::new();
    for p in &args.paths {
        let i = inspect_path(p, args.names_only);
        any_error |= i.has_errors();
        if args.json {
            println!("{}", i.to_json());
        } else {
            table.push(i);
        }
    }
    if !args.json {
        print_inspect_table(&table);
    }
    if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

fn print_inspect_table(items: &[Inspection]) {
    println!("ファイル名\t種類\t種別\t形式\t送信元\t送信先\t年月\tバージョン\t件数\t結果");
    for i in items {
        let errors = i.findings.iter().filter(|f| f.is_error()).count();
        let warnings = i.findings.len() - errors;
        let verdict = match (errors, warnings) {
            (0, 0) => "OK".to_owned(),
            (0, w) => format!("注意 {w}件"),
            (e, w) => format!("エラー {e}件 注意 {w}件"),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            i.file,
            dash(i.kind.as_deref()),
            dash(i.category.as_deref()),
            dash(i.name_format.as_deref()),
            dash(i.from_office.as_deref()),
            dash(i.to_office.as_deref()),
            dash(i.month.as_deref()),
            dash(i.csv_version.as_deref()),
            i.records.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            verdict
        );
        for f in &i.findings {
            let tag = if f.is_error() { "エラー" } else { "注意" };
            println!("  [{tag}] {} ({})", f, f.code);
        }
    }
}

/// `careplan route`.
pub fn run_route(args: &RouteArgs) -> ExitCode {
    let ours = match OfficeNumber::parse(&args.from) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("--from: {}", e.message);
            return ExitCode::from(2);
        }
    };
    if args.max_offices == 0 {
        eprintln!("--max-offices は1以上で指定してください。");
        return ExitCode::from(2);
    }
    let names: Vec<_> = args
        .paths
        .iter()
        .map(|p| parse_name(&file_name_of(p)))
        .collect();
    let r = route(&ours, &names, args.max_offices);
    if args.json {
        println!("{}", route_json(&r));
    } else {
        print_route_table(&r);
    }
    if r.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The JSON contract of `careplan route --json`.
pub fn route_json(r: &Routing) -> serde_json::Value {
    serde_json::json!({
        "groups": r.groups.iter().map(|g| serde_json::json!({
            "to_office": g.to_office.as_str(),
            "files": g.files,
        })).collect::<Vec<_>>(),
        "unrouted": r.unrouted.iter().map(|u| serde_json::json!({
            "file": u.file,
            "reason": u.reason,
            "code": u.code,
        })).collect::<Vec<_>>(),
        "error": r.error.as_ref().map(|e| serde_json::json!({
            "code": e.code,
            "message": e.message,
            "offices": e.offices,
        })),
    })
}

fn print_route_table(r: &Routing) {
    println!("送信先事業所番号\tファイル数\tファイル名");
    for g in &r.groups {
        println!("{}\t{}\t{}", g.to_office, g.files.len(), g.files.join(" "));
    }
    if !r.unrouted.is_empty() {
        println!();
        println!("振り分けできないファイル:");
        for u in &r.unrouted {
            println!("  {}: {}", u.file, u.reason);
        }
    }
    if let Some(e) = &r.error {
        println!();
        println!("エラー: {}", e.message);
    }
}
