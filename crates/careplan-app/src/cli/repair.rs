//! `careplan repair`: the one-click repair of issue 15 as a command.
//!
//! For every file: [`careplan_core::repair::repair`] decides; a corrected copy is written
//! beside the original (temporary file → fsync → moved into place without replacing
//! anything: ` (1)`, ` (2)` … before the extension when the name is taken, as for received
//! files); the original is never changed. `--json` prints one JSON object per input, one
//! per line:
//!
//! ```json
//! {"file": "…", "status": "repaired" | "unchanged" | "refused",
//!  "name": "corrected name" | null, "written": "path of the copy" | null,
//!  "changes": [{"code", "message"}], "warnings": [{"code", "message", "record"?, "field"?}],
//!  "error": null | {"code", "message", "findings": [{"code", "message", "record"?, "field"?}]}}
//! ```
//!
//! Exit codes as `inspect`: 0 every file repaired or needing nothing, 1 at least one file
//! refused or not readable/writable, 2 usage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use careplan_client::fsutil;
use careplan_core::Finding;
use careplan_core::repair::{Change, repair};
use clap::Args;
use serde::Serialize;

/// Arguments of `careplan repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// JSON で1ファイル1行に出力する
    #[arg(long)]
    pub json: bool,
    /// 修復するファイル（修復した写しを同じフォルダに作る。元のファイルは変えない）
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

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        Self {
            code: &f.code,
            message: &f.message,
            record: f.record,
            field: f.field,
        }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A corrected copy was written.
    Repaired,
    /// The file needed nothing; nothing was written.
    Unchanged,
    /// Not repaired (other problems, characters outside MS932, unreadable, …).
    Refused,
}

/// Why a file was not repaired.
#[derive(Debug)]
pub struct Failure {
    /// Stable code (`E_REPAIR_…`, `E_FILE_READ`, `E_FILE_WRITE`).
    pub code: String,
    /// Japanese message.
    pub message: String,
    /// The errors the file still has, when the repair was refused because of them.
    pub findings: Vec<Finding>,
}

/// The result of repairing one input.
#[derive(Debug)]
pub struct Outcome {
    /// File name of the input.
    pub file: String,
    /// Repaired, unchanged or refused.
    pub status: Status,
    /// The corrected name (also for unchanged files), `None` when refused.
    pub name: Option<String>,
    /// Where the corrected copy was written.
    pub written: Option<PathBuf>,
    /// What was changed.
    pub changes: Vec<Change>,
    /// Warnings the corrected file still has.
    pub warnings: Vec<Finding>,
    /// Why it was refused.
    pub error: Option<Failure>,
    /// The corrected bytes (empty when refused or unchanged).
    pub bytes: Vec<u8>,
}

impl Outcome {
    fn refused(file: String, error: Failure) -> Self {
        Self {
            file,
            status: Status::Refused,
            name: None,
            written: None,
            changes: Vec::new(),
            warnings: Vec::new(),
            error: Some(error),
            bytes: Vec::new(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "status": self.status,
            "name": self.name,
            "written": self.written.as_ref().map(|p| p.to_string_lossy().into_owned()),
            "changes": self.changes,
            "warnings": self.warnings.iter().map(JsonFinding::from).collect::<Vec<_>>(),
            "error": self.error.as_ref().map(|e| serde_json::json!({
                "code": e.code,
                "message": e.message,
                "findings": e.findings.iter().map(JsonFinding::from).collect::<Vec<_>>(),
            })),
        })
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string_lossy().into_owned())
}

fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "見つかりません",
        std::io::ErrorKind::PermissionDenied => "アクセスが拒否されました",
        std::io::ErrorKind::IsADirectory => "フォルダです",
        _ => "読み込みエラー",
    }
}

/// Repair one file: read it, repair in memory, write the corrected copy beside it.
pub fn repair_path(path: &Path) -> Outcome {
    let file = file_name_of(path);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Outcome::refused(
                file.clone(),
                Failure {
                    code: "E_FILE_READ".into(),
                    message: format!(
                        "ファイル「{file}」を読み込めません（{}）。ファイルがあるか、ほかのアプリで開いていないか確認してください。",
                        io_reason(&e)
                    ),
                    findings: Vec::new(),
                },
            );
        }
    };
    repair_beside(Some(path), &file, &bytes)
}

/// Repair `bytes` of the file `file` (read already) and, when `original` is given, write the
/// corrected copy beside it (never over any file). Used by `careplan repair` and by the
/// app's 「自動修正したコピーを作る」; without `original` (a file that is not on disk) only
/// [`Outcome::bytes`] carries the corrected file.
pub fn repair_beside(original: Option<&Path>, file: &str, bytes: &[u8]) -> Outcome {
    let file = file.to_owned();
    let repaired = match repair(&file, bytes) {
        Ok(r) => r,
        Err(refusal) => {
            return Outcome::refused(
                file,
                Failure {
                    code: refusal.code.to_owned(),
                    message: refusal.message,
                    findings: refusal.findings,
                },
            );
        }
    };
    let mut out = Outcome {
        file: file.clone(),
        status: Status::Unchanged,
        name: Some(repaired.name.clone()),
        written: None,
        changes: repaired.changes,
        warnings: repaired.warnings,
        error: None,
        bytes: Vec::new(),
    };
    if out.changes.is_empty() {
        return out;
    }
    let Some(path) = original else {
        out.status = Status::Repaired;
        out.bytes = repaired.bytes;
        return out;
    };
    match write_beside(path, &repaired.name, &repaired.bytes) {
        Ok(p) => {
            out.status = Status::Repaired;
            out.written = Some(p);
            out.bytes = repaired.bytes;
        }
        Err(message) => {
            out.status = Status::Refused;
            out.error = Some(Failure {
                code: "E_FILE_WRITE".into(),
                message,
                findings: Vec::new(),
            });
        }
    }
    out
}

/// Write `bytes` as `name` in the folder of `original`, durably and never over an existing
/// file (the original included); returns the path written.
fn write_beside(original: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let dir = fsutil::parent(original);
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "修復した写し「{name}」をフォルダ「{}」に保存できません（{e}）。フォルダに書き込めるか、空き容量があるか確認してください。",
            dir.display()
        )
    };
    let tmp = dir.join(format!(
        "{}repair-{}{}",
        fsutil::TEMP_PREFIX,
        careplan_client::new_key(),
        fsutil::TEMP_SUFFIX
    ));
    let mut f = fsutil::create_new(&tmp, false).map_err(|e| fail(&e))?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.flush())
        .and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&e));
    }
    fsutil::rename_no_clobber(&tmp, &dir, name).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(&e)
    })
}

/// `careplan repair`.
pub fn run_repair(args: &RepairArgs) -> ExitCode {
    let mut any_refused = false;
    for p in &args.paths {
        let o = repair_path(p);
        any_refused |= o.status == Status::Refused;
        if args.json {
            println!("{}", o.to_json());
        } else {
            print_outcome(&o);
        }
    }
    if any_refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_outcome(o: &Outcome) {
    match o.status {
        Status::Repaired => {
            let to = o
                .written
                .as_ref()
                .map(|p| file_name_of(p))
                .unwrap_or_default();
            println!("{}: 修復しました → {to}", o.file);
            for c in &o.changes {
                println!("  [修復] {}", c.message);
            }
            if o.name.as_deref() != Some(to.as_str()) {
                println!(
                    "  [注意] 同じ名前のファイルがあるため「{to}」として保存しました。送信する前に名前を「{}」に戻してください（元のファイルは別の場所に移してください）。",
                    o.name.as_deref().unwrap_or_default()
                );
            }
        }
        Status::Unchanged => println!("{}: 修復の必要はありません。", o.file),
        Status::Refused => {
            if let Some(e) = &o.error {
                println!("{}: 修復できません: {}", o.file, e.message);
                for f in e.findings.iter().skip(1) {
                    println!("  [エラー] {f}");
                }
            }
        }
    }
    for w in &o.warnings {
        println!("  [注意] {w}");
    }
}
