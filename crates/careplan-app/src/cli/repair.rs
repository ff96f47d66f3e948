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

use careplan_client::store::{Direction, LedgerFile};
use careplan_client::{LedgerEntry, Store, fsutil};
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

/// Where every repair is recorded (issue 15: a repair is in the ledger like a send or a
/// receipt, so that an inspector sees which copy was made from which original).
#[derive(Clone)]
pub struct RepairLedger {
    /// The terminal's store (its ledger).
    pub store: Store,
    /// 端末名.
    pub terminal: String,
    /// Our 事業所番号 when known (the app's session); else the sender in the file name.
    pub office: Option<String>,
}

impl RepairLedger {
    /// Append the entry of one repair: `files[0]` the original, `files[1]` the copy
    /// (`saved_as` = where it was written, `None` for a copy kept in memory by the app).
    fn record(&self, file: &str, original: &[u8], out: &Outcome) -> Result<LedgerEntry, String> {
        let new_name = out.name.clone().unwrap_or_else(|| file.to_owned());
        let parsed = careplan_core::name::parse_name(&new_name);
        let office = self
            .office
            .clone()
            .or_else(|| parsed.from_office.map(|o| o.to_string()))
            .unwrap_or_default();
        let message: Vec<&str> = out.changes.iter().map(|c| c.message.as_str()).collect();
        let entry = LedgerEntry {
            seq: 0,
            at: time::OffsetDateTime::now_utc(),
            direction: Direction::Repair,
            office,
            counterpart: parsed.to_office.map(|o| o.to_string()).unwrap_or_default(),
            counterpart_name: None,
            transmission_id: String::new(),
            message: message.join(" / "),
            files: vec![
                LedgerFile {
                    name: file.to_owned(),
                    size: original.len() as u64,
                    sha256: careplan_client::sha256_hex(original),
                    saved_as: None,
                },
                LedgerFile {
                    name: out.written.as_deref().map_or(new_name, file_name_of),
                    size: out.bytes.len() as u64,
                    sha256: careplan_client::sha256_hex(&out.bytes),
                    saved_as: out.written.clone(),
                },
            ],
            receipt: String::new(),
            terminal: self.terminal.clone(),
        };
        let key = format!("repair:{}", careplan_client::new_key());
        self.store.append_ledger(&key, entry).map_err(|e| {
            format!(
                "修復の記録を台帳（送受信記録）に書けないため、写しを作りませんでした（{e}）。空き容量を確認して、もう一度お試しください。"
            )
        })
    }
}

/// Repair one file: read it, repair in memory, write the corrected copy beside it.
pub fn repair_path(path: &Path, ledger: Option<&RepairLedger>) -> Outcome {
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
    repair_beside(Some(path), &file, &bytes, ledger)
}

/// Repair `bytes` of the file `file` (read already) and, when `original` is given, write the
/// corrected copy beside it (never over any file). Used by `careplan repair` and by the
/// app's 「自動修正したコピーを作る」; without `original` (a file that is not on disk) only
/// [`Outcome::bytes`] carries the corrected file.
///
/// With `ledger`, every repair is recorded there (flushed) before this returns; when the
/// record cannot be written, the copy is removed again and the file is refused
/// (`E_LEDGER`): no copy exists that the ledger does not name.
pub fn repair_beside(
    original: Option<&Path>,
    file: &str,
    bytes: &[u8],
    ledger: Option<&RepairLedger>,
) -> Outcome {
    let out = repair_unrecorded(original, file, bytes);
    let Some(ledger) = ledger else {
        return out;
    };
    if out.status != Status::Repaired {
        return out;
    }
    match ledger.record(file, bytes, &out) {
        Ok(_) => out,
        Err(message) => {
            if let Some(p) = &out.written {
                let _ = std::fs::remove_file(p);
            }
            Outcome::refused(
                out.file,
                Failure {
                    code: "E_LEDGER".into(),
                    message,
                    findings: Vec::new(),
                },
            )
        }
    }
}

fn repair_unrecorded(original: Option<&Path>, file: &str, bytes: &[u8]) -> Outcome {
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
pub fn run_repair(args: &RepairArgs, common: &super::GlobalOptions) -> ExitCode {
    let json = args.json || common.json;
    let ledger = match open_ledger(common) {
        Ok(l) => l,
        Err(message) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": {"code": "E_LEDGER", "message": message}})
                );
            } else {
                eprintln!("エラー: {message}");
            }
            return ExitCode::from(1);
        }
    };
    let mut any_refused = false;
    for p in &args.paths {
        let o = repair_path(p, Some(&ledger));
        any_refused |= o.status == Status::Refused;
        if json {
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

/// The terminal's ledger: `--data-dir`, else `CAREPLAN_DATA_DIR`, else the per-user folder
/// (the same store as the app and the relay commands).
fn open_ledger(common: &super::GlobalOptions) -> Result<RepairLedger, String> {
    let dir = match (&common.data_dir, std::env::var_os("CAREPLAN_DATA_DIR")) {
        (Some(d), _) => Ok(d.clone()),
        (None, Some(d)) if !d.is_empty() => Ok(PathBuf::from(d)),
        _ => Store::default_dir(),
    };
    let store = dir
        .and_then(|d| Store::open(&d))
        .map_err(|e| {
            format!(
                "修復は台帳（送受信記録）に記録しますが、台帳を開けません（{e}）。careplan のアプリを閉じてから、もう一度実行してください。"
            )
        })?;
    let terminal = match &common.terminal {
        Some(t) => t.clone(),
        None => store
            .settings()
            .map(|s| s.terminal_name)
            .map_err(|e| format!("端末の設定を読めません（{e}）。"))?,
    };
    // Our office: the certificate's (`--profile`, else the one this terminal uses). Without
    // one, the sender in each file's name stands in (see `RepairLedger::office`).
    let cert = match &common.profile {
        Some(dir) => Some(careplan_client::ProfilePaths::in_dir(dir).cert),
        None => store
            .settings()
            .ok()
            .and_then(|s| s.profile)
            .map(|p| p.cert),
    };
    let office = cert
        .and_then(|c| careplan_client::cert::read_cert_info(&c).ok())
        .map(|i| i.office.to_string());
    Ok(RepairLedger {
        store,
        terminal,
        office,
    })
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
