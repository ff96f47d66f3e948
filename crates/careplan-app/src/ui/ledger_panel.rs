//! 送受信記録（台帳） on トップページ (issue 16, for the 運営指導): 「改ざんチェック」 checks the
//! ledger's hash chain and names the first broken entry; 「月次の送受信記録を保存」 writes the
//! monthly report as PDF or CSV. Both run on a worker and read only this terminal's store
//! (no relay needed); the same functions as `careplan ledger --verify` / `--report`.

use std::path::PathBuf;

use careplan_client::Client;
use careplan_client::ledger::{self, ReportInfo};
use time::{OffsetDateTime, UtcOffset};

use super::CareplanApp;
use super::jobs::Msg;
use super::top::TopMsg;

/// Results of the ledger panel's jobs.
pub enum LedgerMsg {
    /// 改ざんチェック: (intact, one line for the user).
    Checked(bool, String),
    /// The report was written (path, rows) or why not.
    Report(Result<(PathBuf, usize), String>),
    /// A path picked with 参照….
    Picked(Option<PathBuf>),
}

/// State of the panel.
pub(crate) struct LedgerPanel {
    /// 対象年月 `YYYYMM`.
    pub(crate) month: String,
    /// PDF (else CSV).
    pub(crate) pdf: bool,
    /// 保存先 (typed, or picked with 参照…).
    pub(crate) path: String,
    checking: bool,
    writing: bool,
    /// Last check: (intact, message).
    check: Option<(bool, String)>,
    /// Last report: (ok, message).
    report: Option<(bool, String)>,
}

impl Default for LedgerPanel {
    fn default() -> Self {
        let now = OffsetDateTime::now_utc().to_offset(jst_offset());
        Self {
            month: format!("{:04}{:02}", now.year(), u8::from(now.month())),
            pdf: true,
            path: String::new(),
            checking: false,
            writing: false,
            check: None,
            report: None,
        }
    }
}

fn jst_offset() -> UtcOffset {
    UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC)
}

impl LedgerPanel {
    pub(crate) fn apply(&mut self, m: LedgerMsg) {
        match m {
            LedgerMsg::Checked(ok, line) => {
                self.checking = false;
                self.check = Some((ok, line));
            }
            LedgerMsg::Report(r) => {
                self.writing = false;
                self.report = Some(match r {
                    Ok((path, rows)) => (
                        true,
                        format!(
                            "送受信記録（{rows}ファイル）を保存しました:\n{}",
                            path.display()
                        ),
                    ),
                    Err(e) => (false, e),
                });
            }
            LedgerMsg::Picked(Some(p)) => self.path = p.display().to_string(),
            LedgerMsg::Picked(None) => {}
        }
    }

    /// The path to write: the typed one with the chosen format's extension.
    fn target(&self) -> Option<PathBuf> {
        let typed = self.path.trim();
        if typed.is_empty() {
            return None;
        }
        let ext = if self.pdf { "pdf" } else { "csv" };
        let p = PathBuf::from(typed);
        let has = p
            .extension()
            .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext));
        Some(if has {
            p
        } else {
            PathBuf::from(format!("{typed}.{ext}"))
        })
    }
}

/// One line about the chain (as in the report) and whether it is intact.
fn check(client: &Client) -> (bool, String) {
    match client.store().verify_ledger() {
        Ok(Ok(n)) => match client.store().ledger_head().ok().flatten() {
            Some(h) => (
                true,
                format!(
                    "改ざんなし（全{n}件、最後の記録 記録番号 {} SHA-256 {}）",
                    h.seq, h.hash
                ),
            ),
            None => (true, format!("改ざんなし（全{n}件）")),
        },
        Ok(Err(b)) => (false, b.message_ja()),
        Err(e) => (
            false,
            format!("台帳を読めません（{e}）。アプリを再起動してから、もう一度お試しください。"),
        ),
    }
}

fn write_report(
    client: &Client,
    month: &str,
    pdf: bool,
    path: PathBuf,
) -> Result<(PathBuf, usize), String> {
    let (year, mon) = ledger::parse_month(month).ok_or_else(|| {
        format!("対象年月「{month}」が正しくありません。2026年11月なら 202611 のように6桁で入力してください。")
    })?;
    let entries = client
        .store()
        .ledger()
        .map_err(|e| format!("台帳を読めません（{e}）。"))?;
    let (_, chain) = check(client);
    let info = ReportInfo {
        office: client.office().to_string(),
        year,
        month: mon,
        made_at: OffsetDateTime::now_utc(),
        chain,
    };
    let rows = if pdf {
        crate::cli::ledger::write_pdf(&entries, &info, &path).map_err(|(_, m)| m)?
    } else {
        ledger::write_month_report(&entries, &info, &path).map_err(|e| e.message_ja())?
    };
    Ok((path, rows))
}

fn result_line(ui: &mut egui::Ui, ok: bool, text: &str) {
    if ok {
        ui.colored_label(crate::viewer::ok_color(ui), text);
    } else {
        ui.colored_label(ui.visuals().error_fg_color, text);
    }
}

/// The panel, under the terminal's settings on トップページ.
pub(crate) fn ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let ctx = ui.ctx().clone();
    let mut start_check = false;
    let mut start_report = false;
    let mut pick = false;
    let panel = &mut app.top.ledger;
    egui::CollapsingHeader::new("送受信記録（台帳）")
        .id_salt("ledger-panel")
        .show(ui, |ui| {
            ui.label("送信・受信・修復の記録は、この端末の台帳に改ざんが分かる形（ハッシュの連鎖）で保存されています。運営指導では、改ざんチェックの結果と月次の送受信記録を見せられます。");
            ui.horizontal(|ui| {
                start_check = ui
                    .add_enabled(!panel.checking, egui::Button::new("改ざんチェック"))
                    .on_hover_text("台帳のすべての記録の連鎖を確かめ、壊れていれば最初の記録を示します")
                    .clicked();
                if panel.checking {
                    ui.spinner();
                }
            });
            if let Some((ok, line)) = &panel.check {
                result_line(ui, *ok, line);
            }
            ui.add_space(6.0);
            egui::Grid::new("ledger-report-grid")
                .num_columns(2)
                .show(ui, |ui| {
                    let l = ui.label("対象年月（YYYYMM）");
                    ui.add(egui::TextEdit::singleline(&mut panel.month).id_salt("ledger-month").desired_width(80.0))
                        .labelled_by(l.id);
                    ui.end_row();
                    ui.label("形式");
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut panel.pdf, true, "PDF（印刷用）");
                        ui.radio_value(&mut panel.pdf, false, "CSV（表計算用）");
                    });
                    ui.end_row();
                    let l = ui.label("保存先");
                    ui.horizontal(|ui| {
                        ui.add(
                            egui::TextEdit::singleline(&mut panel.path)
                                .id_salt("ledger-path")
                                .desired_width(360.0)
                                .hint_text("例: C:\\Users\\…\\送受信記録_202611.pdf"),
                        )
                        .labelled_by(l.id);
                        pick = ui.button("参照…").clicked();
                    });
                    ui.end_row();
                });
            ui.horizontal(|ui| {
                start_report = ui
                    .add_enabled(!panel.writing, egui::Button::new("月次の送受信記録を保存"))
                    .clicked();
                if panel.writing {
                    ui.spinner();
                }
            });
            if let Some((ok, line)) = &panel.report {
                result_line(ui, *ok, line);
            }
        });
    if start_check {
        panel.checking = true;
        let c = client.clone();
        app.jobs.spawn(&ctx, "ledger-check", move || {
            let (ok, line) = check(&c);
            Msg::Top(TopMsg::Ledger(LedgerMsg::Checked(ok, line)))
        });
    }
    if start_report {
        match panel.target() {
            None => {
                panel.report = Some((
                    false,
                    "保存先のファイル名を入力するか、「参照…」で選んでください。".to_owned(),
                ));
            }
            Some(path) => {
                panel.writing = true;
                let (month, pdf) = (panel.month.trim().to_owned(), panel.pdf);
                app.jobs.spawn(&ctx, "ledger-report", move || {
                    Msg::Top(TopMsg::Ledger(LedgerMsg::Report(write_report(
                        &client, &month, pdf, path,
                    ))))
                });
            }
        }
    } else if pick {
        let (ext, what) = if panel.pdf {
            ("pdf", "PDF")
        } else {
            ("csv", "CSV")
        };
        let name = format!("送受信記録_{}.{ext}", panel.month.trim());
        app.jobs.spawn(&ctx, "pick", move || {
            Msg::Top(TopMsg::Ledger(LedgerMsg::Picked(
                rfd::FileDialog::new()
                    .set_title("月次の送受信記録の保存先")
                    .set_file_name(name)
                    .add_filter(what, &[ext])
                    .save_file(),
            )))
        });
    }
}
