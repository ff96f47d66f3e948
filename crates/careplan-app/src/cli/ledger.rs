//! The audit options of `careplan ledger` (運営指導): `--verify` checks the ledger's hash
//! chain, `--report YYYYMM --out FILE.csv|FILE.pdf` writes the monthly 送受信記録 report (the
//! format follows the extension). Both are
//! purely local (no relay, no certificate needed).
//!
//! Exit codes: 0 intact / written, 1 the chain is broken (the first broken entry is named)
//! or the report cannot be written, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use careplan_client::Store;
use careplan_client::ledger::{self, ReportInfo};
use clap::Args;
use serde_json::json;

/// `ledger --verify` / `ledger --report YYYYMM --out FILE.csv`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// 台帳の改ざんチェック（ハッシュの連鎖を検証し、最初に壊れている記録を示す）
    #[arg(long, conflicts_with_all = ["export", "report"])]
    pub verify: bool,
    /// 月次の送受信記録を作る（YYYYMM、日本時間の暦月）。--out FILE.csv または FILE.pdf と一緒に指定
    #[arg(
        long,
        value_name = "YYYYMM",
        requires = "out",
        conflicts_with = "export"
    )]
    pub report: Option<String>,
    /// 月次の送受信記録の書き出し先（.csv または .pdf。拡張子で形式が決まる）
    #[arg(long, value_name = "FILE", requires = "report")]
    pub out: Option<PathBuf>,
    /// 月次の送受信記録の事業所番号（台帳に複数の事業所があるとき）
    #[arg(long, value_name = "OFFICE", requires = "report")]
    pub office: Option<String>,
}

impl AuditArgs {
    /// True when `--verify` or `--report` was given.
    pub fn requested(&self) -> bool {
        self.verify || self.report.is_some()
    }
}

/// Print a failure (JSON on stdout with `--json`, else Japanese on stderr) and exit.
fn fail(json: bool, code: &str, message: &str, exit: u8) -> ExitCode {
    if json {
        println!("{}", json!({"error": {"code": code, "message": message}}));
    } else {
        eprintln!("エラー: {message}");
    }
    ExitCode::from(exit)
}

fn pretty(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// Run `--verify` or `--report` on `store`.
pub fn run(store: &Store, a: &AuditArgs, json: bool) -> ExitCode {
    if a.verify {
        verify(store, json)
    } else if let (Some(month), Some(out)) = (&a.report, &a.out) {
        report(store, month, out, a.office.as_deref(), json)
    } else {
        fail(
            json,
            "E_USAGE",
            "--verify または --report YYYYMM --out FILE.csv（または FILE.pdf）を指定してください。",
            2,
        )
    }
}

/// One line about the chain, for the report; and the break when broken.
fn chain_line(store: &Store) -> Result<(String, Option<ledger::LedgerBreak>), String> {
    match store.verify_ledger() {
        Ok(Ok(n)) => {
            let head = store.ledger_head().ok().flatten();
            Ok((
                match head {
                    Some(h) => format!(
                        "改ざんなし（全{n}件、最後の記録 記録番号 {} SHA-256 {}）",
                        h.seq, h.hash
                    ),
                    None => format!("改ざんなし（全{n}件）"),
                },
                None,
            ))
        }
        Ok(Err(b)) => Ok((b.message_ja(), Some(b))),
        Err(e) => Err(e.to_string()),
    }
}

fn verify(store: &Store, json: bool) -> ExitCode {
    let upgrades = store.ledger_upgrades().unwrap_or_default();
    match store.verify_ledger() {
        Err(e) => fail(json, "E_STORE", &e.to_string(), 1),
        Ok(Ok(n)) => {
            let head = store.ledger_head().ok().flatten();
            if json {
                pretty(&json!({
                    "ok": true,
                    "count": n,
                    "head": head.as_ref().map(|h| json!({"seq": h.seq, "hash": h.hash})),
                    "upgrades": upgrades,
                }));
            } else {
                println!("台帳に改ざんはありません（{n}件）。");
                if let Some(h) = head {
                    println!("最後の記録: 記録番号 {}  SHA-256 {}", h.seq, h.hash);
                }
                for u in &upgrades {
                    println!(
                        "記録番号 {}〜{} の{}件は以前の版で記録され、{} に連鎖化されました（それ以前の改ざんは検出できません）。",
                        u.first_seq,
                        u.last_seq,
                        u.count,
                        ledger::jst(u.at)
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Err(b)) => {
            if json {
                pretty(&json!({
                    "ok": false,
                    "broken": {"seq": b.seq, "kind": b.kind, "message": b.message_ja()},
                    "upgrades": upgrades,
                }));
            } else {
                println!("{}", b.message_ja());
            }
            ExitCode::from(1)
        }
    }
}

fn report(store: &Store, month: &str, out: &Path, office: Option<&str>, json: bool) -> ExitCode {
    let Some((year, mon)) = ledger::parse_month(month) else {
        return fail(
            json,
            "E_USAGE",
            &format!(
                "--report の年月「{month}」が正しくありません。2026年11月なら 202611 のように6桁で指定してください。"
            ),
            2,
        );
    };
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let pdf = match ext.as_deref() {
        Some("csv") => false,
        Some("pdf") => true,
        _ => {
            return fail(
                json,
                "E_USAGE",
                "--out には .csv または .pdf のファイル名を指定してください（拡張子で形式が決まります）。",
                2,
            );
        }
    };
    let entries = match store.ledger() {
        Ok(e) => e,
        Err(e) => return fail(json, "E_STORE", &e.to_string(), 1),
    };
    let office = match office {
        Some(o) => {
            if let Err(e) = careplan_core::OfficeNumber::parse(o) {
                return fail(json, "E_USAGE", &e.to_finding().message, 2);
            }
            o.to_owned()
        }
        None => {
            let mut offices: Vec<&str> = entries.iter().map(|e| e.office.as_str()).collect();
            offices.sort_unstable();
            offices.dedup();
            match offices.as_slice() {
                [one] => (*one).to_owned(),
                [] => {
                    return fail(
                        json,
                        "E_USAGE",
                        "台帳に記録がないため事業所番号が分かりません。--office で事業所番号を指定してください。",
                        2,
                    );
                }
                many => {
                    return fail(
                        json,
                        "E_USAGE",
                        &format!(
                            "台帳に複数の事業所（{}）の記録があります。--office で事業所番号を指定してください。",
                            many.join("、")
                        ),
                        2,
                    );
                }
            }
        }
    };
    let (chain, broken) = match chain_line(store) {
        Ok(c) => c,
        Err(e) => return fail(json, "E_STORE", &e, 1),
    };
    let info = ReportInfo {
        office: office.clone(),
        year,
        month: mon,
        made_at: time::OffsetDateTime::now_utc(),
        chain,
    };
    let written = if pdf {
        write_pdf(&entries, &info, out)
    } else {
        ledger::write_month_report(&entries, &info, out).map_err(|e| (e.code(), e.message_ja()))
    };
    match written {
        Ok(rows) => {
            if json {
                pretty(&json!({
                    "path": out,
                    "office": office,
                    "month": format!("{year:04}{mon:02}"),
                    "rows": rows,
                    "chain_ok": broken.is_none(),
                }));
            } else {
                println!(
                    "{year}年{mon:02}月の送受信記録（{rows}ファイル）を書き出しました: {}",
                    out.display()
                );
                if let Some(b) = &broken {
                    eprintln!("注意: {}", b.message_ja());
                }
            }
            ExitCode::SUCCESS
        }
        Err((code, message)) => fail(json, &code, &message, 1),
    }
}

/// Render the PDF report and write it durably (replacing `out`).
pub(crate) fn write_pdf(
    entries: &[careplan_client::LedgerEntry],
    info: &ReportInfo,
    out: &Path,
) -> Result<usize, (String, String)> {
    let (bytes, rows, _pages) =
        crate::report_pdf::month_report_pdf(entries, info, crate::ui::JAPANESE_FONT)
            .map_err(|m| ("E_PDF".to_owned(), m))?;
    careplan_client::fsutil::write_atomic(out, &bytes, false)
        .map_err(|e| (e.code(), e.message_ja()))?;
    Ok(rows)
}
