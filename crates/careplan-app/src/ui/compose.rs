//! 新規作成 (send to one office, 一時保存) and 下書き一覧, and the file basket that
//! 一括送信 shares: files dropped or picked are read and checked on a worker.

use std::collections::HashMap;
use std::path::PathBuf;

use careplan_client::send::SendMode;
use careplan_client::{
    Client, ClientError, Draft, DraftInput, DraftSync, OutgoingFile, SendReceipt,
};
use careplan_core::view::Precheck;
use careplan_core::{OfficeNumber, parse_name, route};
use egui_extras::{Column, TableBuilder};

use super::jobs::{Jobs, Msg};
use super::table::{ListView, empty_state, matches};
use super::{CareplanApp, Tab, confirm_modal, message_or_none, when};
use crate::viewer::{PrecheckAction, PrecheckPanel};

/// Files bigger than this are refused when added (the relay takes 10 MiB per file).
pub(crate) const MAX_INTAKE_BYTES: u64 = 64 * 1024 * 1024;

/// Which screen a job's files belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// 新規作成.
    Compose,
    /// 一括送信.
    Bulk,
}

/// Results of 新規作成 / 下書き jobs.
pub enum ComposeMsg {
    /// Files read (name, bytes), the ones that could not be read (message), and where the
    /// files read are on disk (name, path), when they are.
    Loaded(
        Target,
        Vec<(String, Vec<u8>)>,
        Vec<String>,
        Vec<(String, PathBuf)>,
    ),
    /// A check finished for basket version `.1`; the names of the files with errors that
    /// the mechanical repair fixes.
    Checked(Target, u64, Box<Precheck>, Vec<String>),
    /// 「自動修正したコピーを作る」 finished: per file its name in the basket and the outcome.
    Repaired(Target, Vec<(String, crate::cli::repair::Outcome)>),
    /// The send finished.
    SendDone(Result<SendReceipt, ClientError>),
    /// 一時保存 finished.
    DraftSaved(Result<Draft, ClientError>),
    /// 下書き一覧 (and a note when the sync could not run).
    Drafts(Result<(Vec<Draft>, Option<String>), ClientError>),
    /// A draft opened: the draft and its files.
    Opened(Result<(Draft, Vec<OutgoingFile>), ClientError>),
    /// A draft deleted.
    Deleted(Result<(), ClientError>),
}

/// Files and their pre-send check.
#[derive(Default)]
pub(crate) struct Basket {
    pub(crate) files: Vec<(String, Vec<u8>)>,
    pub(crate) panel: Option<PrecheckPanel>,
    version: u64,
    pub(crate) notes: Vec<String>,
    /// Where a file of the basket is on disk (name → path), when it was read from there: the
    /// repaired copy is written beside it.
    origins: HashMap<String, PathBuf>,
    /// Files with errors that the mechanical repair fixes (from the last check).
    repairable: Vec<String>,
    /// True while the repair runs.
    repairing: bool,
    /// What the last repair did, one line per file (the line, true for a refusal).
    repair_log: Vec<(String, bool)>,
}

impl Basket {
    /// Add files (a file with the same name replaces the earlier one, with a note).
    pub(crate) fn add(&mut self, files: Vec<(String, Vec<u8>)>, errors: Vec<String>) {
        self.notes = errors;
        for (name, bytes) in files {
            if let Some(f) = self.files.iter_mut().find(|(n, _)| *n == name) {
                self.notes
                    .push(format!("{name}: 同じ名前のファイルを差し替えました。"));
                f.1 = bytes;
            } else {
                self.files.push((name, bytes));
            }
        }
    }

    /// Remember where files are on disk (name → path), for the repaired copies.
    pub(crate) fn set_origins(&mut self, origins: Vec<(String, PathBuf)>) {
        self.origins.extend(origins);
    }

    pub(crate) fn remove(&mut self, i: usize) {
        if i < self.files.len() {
            let (name, _) = self.files.remove(i);
            self.origins.remove(&name);
        }
    }

    /// Re-check on a worker (the panel keeps showing the old result until then).
    pub(crate) fn recheck(
        &mut self,
        ctx: &egui::Context,
        jobs: &mut Jobs,
        office: Option<OfficeNumber>,
        target: Target,
    ) {
        self.version += 1;
        let version = self.version;
        let files = self.files.clone();
        jobs.spawn(ctx, "check", move || {
            let check = Precheck::run(office.as_ref(), &files);
            let repairable = repairable(&check, &files);
            Msg::Compose(ComposeMsg::Checked(
                target,
                version,
                Box::new(check),
                repairable,
            ))
        });
    }

    pub(crate) fn checked(
        &mut self,
        version: u64,
        check: Precheck,
        repairable: Vec<String>,
        label: &str,
    ) {
        if version == self.version {
            self.repairable = repairable;
            self.panel =
                Some(PrecheckPanel::from_check(check, self.files.clone()).with_send_label(label));
        }
    }

    pub(crate) fn checking(&self) -> bool {
        self.panel
            .as_ref()
            .is_none_or(|p| p.files().len() != self.files.len())
            && !self.files.is_empty()
    }

    pub(crate) fn outgoing(&self) -> Vec<OutgoingFile> {
        self.files
            .iter()
            .map(|(name, bytes)| OutgoingFile {
                name: name.clone(),
                bytes: bytes.clone(),
            })
            .collect()
    }

    /// The file table with a 外す button per file; returns the index to remove.
    pub(crate) fn table(&self, ui: &mut egui::Ui, id: &str) -> Option<usize> {
        let mut remove = None;
        let row_h = 25.0;
        super::table::wide(ui, &format!("{id}-wide"), |ui| {
            TableBuilder::new(ui)
                .id_salt(id)
                .striped(true)
                .max_scroll_height(180.0)
                .column(
                    Column::initial(360.0)
                        .at_least(120.0)
                        .resizable(true)
                        .clip(true),
                )
                .column(Column::initial(200.0).at_least(80.0).clip(true))
                .column(Column::exact(110.0))
                .column(Column::exact(90.0))
                .column(Column::remainder())
                .header(row_h, |mut h| {
                    for t in ["ファイル名", "ファイル種別", "送信先", "サイズ", ""]
                    {
                        h.col(|ui| {
                            ui.strong(t);
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_h, self.files.len(), |mut row| {
                        let i = row.index();
                        let (name, bytes) = &self.files[i];
                        let n = parse_name(name);
                        row.col(|ui| {
                            ui.label(name);
                        });
                        row.col(|ui| {
                            ui.label(n.kind.map_or("添付ファイル（PDF等）", |k| k.label()));
                        });
                        row.col(|ui| {
                            ui.label(
                                n.to_office
                                    .map(|o| o.as_str().to_owned())
                                    .unwrap_or_else(|| "—".into()),
                            );
                        });
                        row.col(|ui| {
                            ui.label(human_size(bytes.len() as u64));
                        });
                        row.col(|ui| {
                            if ui
                                .small_button("外す")
                                .on_hover_text(format!("{name} を外す"))
                                .clicked()
                            {
                                remove = Some(i);
                            }
                        });
                    });
                });
        });
        remove
    }
}

/// The files with errors that [`careplan_core::repair::repair`] fixes (it refuses anything
/// that would change a value, and files with other errors). Runs on the check's worker.
fn repairable(check: &Precheck, files: &[(String, Vec<u8>)]) -> Vec<String> {
    check
        .files
        .iter()
        .zip(files)
        .filter(|(c, _)| c.findings.iter().any(careplan_core::Finding::is_error))
        .filter(|(_, (name, bytes))| {
            careplan_core::repair::repair(name, bytes).is_ok_and(|r| !r.is_unchanged())
        })
        .map(|(_, (name, _))| name.clone())
        .collect()
}

impl Basket {
    /// 「自動修正したコピーを作る」 and what the last repair did. Shown only when the check
    /// found errors that the repair fixes (or after a repair, its log).
    pub(crate) fn repair_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &egui::Context,
        jobs: &mut Jobs,
        target: Target,
        client: Option<&Client>,
    ) {
        let checked_now = self
            .panel
            .as_ref()
            .is_some_and(|p| p.files().len() == self.files.len());
        if checked_now && !self.repairable.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!(
                    "{}件のファイルは、文字コード・改行・拡張子などの書き方の問題だけなので自動で直せます。",
                    self.repairable.len()
                ));
                let b = ui
                    .add_enabled(
                        !self.repairing,
                        egui::Button::new("自動修正したコピーを作る"),
                    )
                    .on_hover_text(
                        "元のファイルは変えずに、直したコピーを同じフォルダに作り、送るファイルをそのコピーに差し替えます。内容（値）は変えません。",
                    );
                if b.clicked() {
                    let ledger = client.map(|c| crate::cli::repair::RepairLedger {
                        store: c.store().clone(),
                        terminal: c.terminal_name().to_owned(),
                        office: Some(c.office().to_string()),
                    });
                    self.start_repair(ctx, jobs, target, ledger);
                }
                if self.repairing {
                    ui.spinner();
                }
            });
        }
        for (line, refused) in &self.repair_log {
            if *refused {
                ui.colored_label(ui.visuals().error_fg_color, line);
            } else {
                ui.colored_label(crate::viewer::ok_color(ui), line);
            }
        }
    }

    fn start_repair(
        &mut self,
        ctx: &egui::Context,
        jobs: &mut Jobs,
        target: Target,
        ledger: Option<crate::cli::repair::RepairLedger>,
    ) {
        self.repairing = true;
        self.repair_log.clear();
        let work: Vec<(String, Vec<u8>, Option<PathBuf>)> = self
            .repairable
            .iter()
            .filter_map(|n| {
                let (name, bytes) = self.files.iter().find(|(f, _)| f == n)?;
                Some((name.clone(), bytes.clone(), self.origins.get(n).cloned()))
            })
            .collect();
        jobs.spawn(ctx, "repair", move || {
            let done = work
                .into_iter()
                .map(|(name, bytes, origin)| {
                    let o = crate::cli::repair::repair_beside(
                        origin.as_deref(),
                        &name,
                        &bytes,
                        ledger.as_ref(),
                    );
                    (name, o)
                })
                .collect();
            Msg::Compose(ComposeMsg::Repaired(target, done))
        });
    }

    /// Put the corrected copies in place of the originals and log what changed.
    fn repaired(&mut self, done: Vec<(String, crate::cli::repair::Outcome)>) {
        use crate::cli::repair::Status;
        self.repairing = false;
        self.repair_log.clear();
        for (name, o) in done {
            match o.status {
                Status::Repaired => {
                    let new_name = o.name.clone().unwrap_or_else(|| name.clone());
                    let changes: String = o.changes.iter().map(|c| c.message.as_str()).collect();
                    let place = match &o.written {
                        Some(p) => {
                            let saved = p
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            let renamed = if saved == new_name {
                                String::new()
                            } else {
                                format!(
                                    "（同じ名前のファイルがあるため「{saved}」として保存しました。送信は正しい名前「{new_name}」で行います）"
                                )
                            };
                            format!("修正したコピーを「{}」に保存しました{renamed}。", p.display())
                        }
                        None => "元のファイルの場所が分からないため、コピーは保存せず、送信するファイルだけを差し替えました。".to_owned(),
                    };
                    self.repair_log
                        .push((format!("{name}: 自動修正しました。{changes}{place}"), false));
                    self.origins.remove(&name);
                    if let Some(p) = o.written {
                        self.origins.insert(new_name.clone(), p);
                    }
                    let bytes = o.bytes;
                    // The corrected file replaces the original in the list (and an entry
                    // already named like the corrected one, so a name is never listed twice).
                    self.files.retain(|(n, _)| *n != new_name || *n == name);
                    if let Some(f) = self.files.iter_mut().find(|(n, _)| *n == name) {
                        *f = (new_name, bytes);
                    }
                }
                Status::Unchanged => self
                    .repair_log
                    .push((format!("{name}: 直すところはありませんでした。"), false)),
                Status::Refused => {
                    let why = o.error.map(|e| e.message).unwrap_or_default();
                    self.repair_log
                        .push((format!("{name}: 自動では直せません。{why}"), true));
                }
            }
        }
        self.repairable.clear();
    }
}

/// 1.2 KB style sizes.
pub(crate) fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / 1024.0 / 1024.0)
    }
}

/// Read dropped or picked files on a worker.
pub(crate) fn load_files(
    ctx: &egui::Context,
    jobs: &mut Jobs,
    target: Target,
    dropped: Vec<egui::DroppedFileHandle>,
    paths: Vec<PathBuf>,
) {
    jobs.spawn(ctx, "files", move || {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        let mut origins = Vec::new();
        for d in dropped {
            read_dropped(&d, &mut files, &mut errors);
            origin(d.path(), dropped_name(&d), &files, &mut origins);
        }
        for p in paths {
            read_one(&p, &mut files, &mut errors);
            origin(&p, file_name_of(&p), &files, &mut origins);
        }
        Msg::Compose(ComposeMsg::Loaded(target, files, errors, origins))
    });
}

/// The name of a dropped file.
pub(crate) fn dropped_name(d: &egui::DroppedFileHandle) -> String {
    let p = d.path();
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Read one dropped file.
pub(crate) fn read_dropped(
    d: &egui::DroppedFileHandle,
    files: &mut Vec<(String, Vec<u8>)>,
    errors: &mut Vec<String>,
) {
    read_checked(dropped_name(d), d.path(), || d.bytes(), files, errors);
}

fn file_name_of(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// When the file just read (the last of `files`, named `name`) is a file on disk, remember
/// its path: the repaired copy is written beside it.
fn origin(
    path: &std::path::Path,
    name: String,
    files: &[(String, Vec<u8>)],
    origins: &mut Vec<(String, PathBuf)>,
) {
    if files.last().is_some_and(|(n, _)| *n == name) && path.is_file() {
        origins.push((name, path.to_path_buf()));
    }
}

fn read_one(p: &std::path::Path, files: &mut Vec<(String, Vec<u8>)>, errors: &mut Vec<String>) {
    let name = file_name_of(p);
    let read = || std::fs::read(p).map_err(|e| e.to_string());
    read_checked(name, p, read, files, errors);
}

/// Refuse folders and oversize files (by the size on disk first, when there is a file
/// there, so a huge file is never read), then read; every refusal says why in Japanese.
fn read_checked(
    name: String,
    path: &std::path::Path,
    read: impl FnOnce() -> Result<Vec<u8>, String>,
    files: &mut Vec<(String, Vec<u8>)>,
    errors: &mut Vec<String>,
) {
    let too_big = |n: u64| {
        format!(
            "{name}: {} あり、大きすぎます。1ファイル10MBまでです。",
            human_size(n)
        )
    };
    if let Ok(m) = std::fs::metadata(path) {
        if m.is_dir() {
            errors.push(format!(
                "{name}: フォルダは追加できません。中のファイルを選んでください。"
            ));
            return;
        }
        if m.len() > MAX_INTAKE_BYTES {
            errors.push(too_big(m.len()));
            return;
        }
    }
    match read() {
        Ok(b) if b.len() as u64 > MAX_INTAKE_BYTES => errors.push(too_big(b.len() as u64)),
        Ok(b) => files.push((name, b)),
        Err(e) => errors.push(format!("{name}: 読み込めません（{e}）。")),
    }
}

/// Pick files with the OS dialog on a worker.
pub(crate) fn pick_files(ctx: &egui::Context, jobs: &mut Jobs, target: Target) {
    jobs.spawn(ctx, "pick", move || {
        let paths = rfd::FileDialog::new()
            .set_title("送信するファイルを選択")
            .pick_files()
            .unwrap_or_default();
        if paths.is_empty() {
            return Msg::Nothing;
        }
        let mut files = Vec::new();
        let mut errors = Vec::new();
        let mut origins = Vec::new();
        for p in &paths {
            read_one(p, &mut files, &mut errors);
            origin(p, file_name_of(p), &files, &mut origins);
        }
        Msg::Compose(ComposeMsg::Loaded(target, files, errors, origins))
    });
}

/// State of 新規作成.
#[derive(Default)]
pub(crate) struct ComposeScreen {
    pub(crate) basket: Basket,
    pub(crate) to_office: String,
    to_manual: bool,
    pub(crate) message: String,
    pub(crate) draft_id: Option<String>,
    confirm: bool,
    sending: bool,
    done: Option<SendReceipt>,
    send_error: Option<String>,
    /// Why the names do not give one destination (then the user goes to 一括送信).
    route_problem: Option<String>,
}

impl ComposeScreen {
    /// After files were added or removed: derive the destination from the names (names
    /// only, so here on the UI thread) and re-check the files on a worker.
    fn files_changed(&mut self, ctx: &egui::Context, jobs: &mut Jobs, our: Option<OfficeNumber>) {
        self.route_problem = None;
        if let Some(our) = &our
            && !self.basket.files.is_empty()
        {
            let names: Vec<_> = self
                .basket
                .files
                .iter()
                .map(|(n, _)| parse_name(n))
                .collect();
            match route::single_destination(our, &names) {
                Ok(o) if !self.to_manual => self.to_office = o.as_str().to_owned(),
                Ok(_) => {}
                Err(f) => self.route_problem = Some(f.message),
            }
        }
        self.basket.recheck(ctx, jobs, our, Target::Compose);
    }
}

fn our_office(app: &CareplanApp) -> Option<OfficeNumber> {
    app.session.as_ref().map(|s| *s.client.office())
}

pub(crate) fn apply(app: &mut CareplanApp, ctx: &egui::Context, m: ComposeMsg) {
    let office = our_office(app);
    match m {
        ComposeMsg::Loaded(Target::Compose, files, errors, origins) => {
            app.compose.basket.add(files, errors);
            app.compose.basket.set_origins(origins);
            app.compose.files_changed(ctx, &mut app.jobs, office);
        }
        ComposeMsg::Loaded(Target::Bulk, files, errors, origins) => {
            app.bulk.basket.add(files, errors);
            app.bulk.basket.set_origins(origins);
            app.bulk.changed(ctx, &mut app.jobs, office);
        }
        ComposeMsg::Checked(Target::Compose, v, check, fix) => {
            app.compose
                .basket
                .checked(v, *check, fix, "送信内容を確認する");
        }
        ComposeMsg::Checked(Target::Bulk, v, check, fix) => {
            app.bulk
                .basket
                .checked(v, *check, fix, "送信内容を確認する");
        }
        ComposeMsg::Repaired(Target::Compose, done) => {
            app.compose.basket.repaired(done);
            app.compose.files_changed(ctx, &mut app.jobs, office);
        }
        ComposeMsg::Repaired(Target::Bulk, done) => {
            app.bulk.basket.repaired(done);
            app.bulk.changed(ctx, &mut app.jobs, office);
        }

        ComposeMsg::SendDone(r) => {
            app.compose.sending = false;
            match r {
                Ok(receipt) => {
                    app.compose.done = Some(receipt);
                    app.compose.send_error = None;
                }
                Err(ClientError::SessionExpired) => app.session_lost(ctx),
                Err(e) => app.compose.send_error = Some(e.message_ja()),
            }
        }
        ComposeMsg::DraftSaved(r) => match r {
            Ok(d) => {
                app.compose.draft_id = Some(d.id.clone());
                let where_ = match d.sync {
                    DraftSync::Synced => {
                        "中継サーバにも保存したので、同じ事業所の他の端末からも開けます。"
                    }
                    _ => "この端末に保存しました。中継サーバにつながったときに同期します。",
                };
                app.info(
                    "一時保存しました",
                    &format!("下書きを保存しました（{}）。{where_}", when(d.saved_at)),
                );
            }
            Err(e) => app.error("一時保存できません", &e.message_ja()),
        },
        ComposeMsg::Drafts(r) => app.drafts.apply(r),
        ComposeMsg::Opened(r) => match r {
            Ok((d, files)) => {
                let mut c = ComposeScreen {
                    to_office: d.to_office.clone().unwrap_or_default(),
                    to_manual: d.to_office.is_some(),
                    message: d.message.clone(),
                    draft_id: Some(d.id.clone()),
                    ..ComposeScreen::default()
                };
                c.basket.add(
                    files.into_iter().map(|f| (f.name, f.bytes)).collect(),
                    Vec::new(),
                );
                c.basket.version = app.compose.basket.version + 1;
                app.compose = c;
                app.compose.files_changed(ctx, &mut app.jobs, office);
                app.tab = Tab::Compose;
            }
            Err(e) => app.error("下書きを開けません", &e.message_ja()),
        },
        ComposeMsg::Deleted(r) => {
            if let Err(e) = r {
                app.error("下書きを削除できません", &e.message_ja());
            }
            if let Some(s) = &app.session {
                let c = s.client.clone();
                app.drafts.refresh(ctx, &mut app.jobs, &c);
            }
        }
    }
}

pub(crate) fn compose_ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let office = our_office(app);
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    ui.horizontal(|ui| {
        ui.heading("新規作成");
        ui.label("1つの事業所へ送信します。");
        if let Some(id) = &app.compose.draft_id {
            ui.weak(format!("下書き {}… を編集中", &id[..id.len().min(8)]));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("新しく作成").clicked() {
                app.compose = ComposeScreen::default();
            }
        });
    });
    drop_zone(ui, &ctx, &mut app.jobs, Target::Compose);
    let c = &mut app.compose;
    for n in &c.basket.notes {
        ui.colored_label(ui.visuals().warn_fg_color, n);
    }
    let mut remove = None;
    if c.basket.files.is_empty() {
        empty_state(
            ui,
            "ファイルがまだありません。ここにファイルをドロップするか、「ファイルを選択…」を押してください。",
        );
    } else {
        remove = c.basket.table(ui, "compose-files");
    }
    if let Some(i) = remove {
        c.basket.remove(i);
        c.files_changed(&ctx, &mut app.jobs, office);
    }
    let route_problem = c.route_problem.clone();
    ui.add_space(6.0);
    egui::Grid::new("compose-form")
        .num_columns(2)
        .show(ui, |ui| {
            let l = ui.label("送信先事業所番号");
            ui.horizontal(|ui| {
                if ui
                    .add(
                        egui::TextEdit::singleline(&mut c.to_office)
                            .id_salt("compose-to")
                            .desired_width(140.0),
                    )
                    .labelled_by(l.id)
                    .changed()
                {
                    c.to_manual = true;
                }
                ui.weak("CSVファイル名から自動で入ります");
            });
            ui.end_row();
            let l = ui.label("メッセージ");
            ui.vertical(|ui| {
                ui.add(
                    egui::TextEdit::multiline(&mut c.message)
                        .id_salt("compose-message")
                        .desired_rows(2)
                        .desired_width(520.0)
                        .char_limit(200),
                )
                .labelled_by(l.id);
                ui.weak(format!("{} / 200文字", c.message.chars().count()));
            });
            ui.end_row();
        });
    if let Some(p) = &route_problem {
        ui.colored_label(ui.visuals().error_fg_color, p);
    }
    let to_valid = OfficeNumber::parse(c.to_office.trim()).is_ok();
    if !c.to_office.trim().is_empty() && !to_valid {
        ui.colored_label(
            ui.visuals().error_fg_color,
            "送信先事業所番号は10桁の数字で入力してください。",
        );
    }
    ui.separator();
    let mut action = PrecheckAction::None;
    if c.basket.checking() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("ファイルを確認しています…");
        });
    }
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!c.sending, egui::Button::new("一時保存"))
            .on_hover_text("下書きとして保存します（エラーがあっても保存できます）")
            .clicked()
        {
            let input = DraftInput {
                id: c.draft_id.clone(),
                message: c.message.clone(),
                to_office: Some(c.to_office.trim().to_owned()).filter(|s| !s.is_empty()),
                files: c.basket.outgoing(),
            };
            let cl = client.clone();
            app.jobs.spawn(&ctx, "draft", move || {
                Msg::Compose(ComposeMsg::DraftSaved(cl.save_draft(input)))
            });
        }
    });
    if !c.basket.files.is_empty() {
        let client = app.session.as_ref().map(|s| s.client.clone());
        c.basket
            .repair_ui(ui, &ctx, &mut app.jobs, Target::Compose, client.as_ref());
    }
    if let Some(panel) = &mut c.basket.panel
        && !c.basket.files.is_empty()
    {
        egui::ScrollArea::vertical()
            .id_salt("compose-check")
            .max_height(ui.available_height() - 40.0)
            .show(ui, |ui| panel.list_ui(ui));
        ui.separator();
        if route_problem.is_none() && to_valid && !c.sending {
            action = panel.send_button(ui);
        } else {
            ui.add_enabled(false, egui::Button::new("送信内容を確認する"));
        }
        panel.windows(&ctx);
    }
    if let Some(e) = &c.send_error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if action == PrecheckAction::Send {
        c.confirm = true;
    }
    if c.confirm {
        let answer = confirm_modal(
            &ctx,
            "compose-confirm",
            "送信内容の確認",
            "送信する",
            "戻る",
            |ui| {
                ui.label(format!("送信先事業所番号: {}", c.to_office.trim()));
                ui.label(format!("メッセージ: {}", message_or_none(&c.message)));
                ui.label(format!("ファイル: {}件", c.basket.files.len()));
                egui::ScrollArea::vertical()
                    .max_height(220.0)
                    .show(ui, |ui| {
                        for (n, b) in &c.basket.files {
                            ui.label(format!("・{n}（{}）", human_size(b.len() as u64)));
                        }
                    });
                ui.separator();
                ui.label("この内容で送信します。よろしいですか。");
            },
        );
        if answer.is_some() {
            c.confirm = false;
        }
        if answer == Some(true) {
            c.sending = true;
            c.send_error = None;
            let files = c.basket.outgoing();
            let message = c.message.clone();
            let to = OfficeNumber::parse(c.to_office.trim()).ok();
            let draft = c.draft_id.clone();
            let cl = client.clone();
            app.jobs.spawn(&ctx, "send", move || {
                let r = cl
                    .prepare_send(files, &message, &SendMode::Single { to })
                    .and_then(|plan| cl.send(&plan, true));
                if r.is_ok()
                    && let Some(id) = draft
                    && let Err(e) = cl.delete_draft(&id)
                {
                    tracing::warn!(code = %e.code(), "sent, but the draft could not be deleted");
                }
                Msg::Compose(ComposeMsg::SendDone(r))
            });
        }
    }
    let c = &mut app.compose;
    if c.sending {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("送信しています…");
        });
    }
    if let Some(r) = &c.done {
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("compose-done")).show(&ctx, |ui| {
            ui.heading("送信が完了しました");
            ui.label(format!("送信先事業所番号: {}", r.offices.join("、")));
            ui.label(format!("受付日時: {}", when(r.accepted_at)));
            ui.label(format!("受付番号: {}", r.ids.join("、")));
            ui.weak("送信一覧で、送信先がデータを取得したか（ダウンロード状況）を確認できます。");
            if ui.button("閉じる").clicked() {
                close = true;
            }
        });
        if close || modal.should_close() {
            app.compose = ComposeScreen::default();
        }
    }
}

/// The drop zone with the 「ファイルを選択…」 button.
pub(crate) fn drop_zone(ui: &mut egui::Ui, ctx: &egui::Context, jobs: &mut Jobs, target: Target) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    let frame = egui::Frame::group(ui.style())
        .fill(if hovering {
            egui::Color32::from_rgb(0xe8, 0xf0, 0xff)
        } else {
            ui.visuals().faint_bg_color
        })
        .inner_margin(12.0);
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.label("ここにファイルをドラッグ＆ドロップ、または");
            if ui.button("ファイルを選択…").clicked() {
                pick_files(ctx, jobs, target);
            }
        });
    });
}

/// State of 下書き一覧.
pub(crate) struct DraftsScreen {
    drafts: Option<Vec<Draft>>,
    error: Option<String>,
    sync_note: Option<String>,
    view: ListView,
    order: Vec<usize>,
    confirm_delete: Option<(String, String)>,
}

impl Default for DraftsScreen {
    fn default() -> Self {
        Self {
            drafts: None,
            error: None,
            sync_note: None,
            view: ListView::new(0),
            order: Vec::new(),
            confirm_delete: None,
        }
    }
}

fn draft_key(d: &Draft, col: usize) -> String {
    match col {
        1 => d.terminal.clone(),
        2 => d.message.clone(),
        3 => d.to_office.clone().unwrap_or_default(),
        4 => d.files.first().map(|f| f.name.clone()).unwrap_or_default(),
        _ => String::new(),
    }
}

fn kinds_of(d: &Draft) -> String {
    let mut k: Vec<&str> = d
        .files
        .iter()
        .map(|f| parse_name(&f.name).category.label())
        .collect();
    k.dedup();
    k.join("・")
}

impl DraftsScreen {
    pub(crate) fn refresh(&mut self, ctx: &egui::Context, jobs: &mut Jobs, client: &Client) {
        let c = client.clone();
        jobs.spawn_once(ctx, "drafts", move || {
            let note = match c.sync_drafts() {
                Ok(_) => None,
                Err(e) if e.is_offline() => Some(
                    "中継サーバにつながらないため、この端末の下書きだけを表示しています。"
                        .to_owned(),
                ),
                Err(e) => Some(e.message_ja()),
            };
            Msg::Compose(ComposeMsg::Drafts(c.drafts().map(|d| (d, note))))
        });
    }

    fn apply(&mut self, r: Result<(Vec<Draft>, Option<String>), ClientError>) {
        match r {
            Ok((d, note)) => {
                self.drafts = Some(d);
                self.sync_note = note;
                self.error = None;
                self.view.dirty = true;
            }
            Err(e) => self.error = Some(e.message_ja()),
        }
    }

    fn reorder(&mut self) {
        self.view.dirty = false;
        let Some(ds) = &self.drafts else { return };
        let terms = self.view.terms();
        let mut order: Vec<usize> = (0..ds.len())
            .filter(|&i| {
                let d = &ds[i];
                let mut hay = format!(
                    "{} {} {}",
                    d.terminal,
                    d.message,
                    d.to_office.as_deref().unwrap_or("")
                );
                for f in &d.files {
                    hay.push(' ');
                    hay.push_str(&f.name);
                }
                matches(&terms, &hay.to_lowercase())
            })
            .collect();
        if self.view.sort == 0 {
            order.sort_by_key(|&i| ds[i].saved_at);
        } else {
            let col = self.view.sort;
            order.sort_by_key(|&i| draft_key(&ds[i], col));
        }
        if !self.view.ascending {
            order.reverse();
        }
        self.order = order;
    }
}

pub(crate) fn drafts_ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let d = &mut app.drafts;
    ui.horizontal(|ui| {
        ui.heading("下書き一覧");
        d.view
            .search_box(ui, "drafts-search", "メッセージ・ファイル名・端末名");
        if ui.button("更新").clicked() {
            d.refresh(&ctx, &mut app.jobs, &client);
        }
    });
    if let Some(n) = &d.sync_note {
        ui.colored_label(ui.visuals().warn_fg_color, n);
    }
    if let Some(e) = &d.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if d.view.dirty {
        d.reorder();
    }
    let Some(ds) = &d.drafts else {
        empty_state(ui, "下書きを読み込んでいます…");
        return;
    };
    if d.order.is_empty() {
        empty_state(
            ui,
            if ds.is_empty() {
                "下書きはありません。「新規作成」で「一時保存」すると、ここに表示されます。"
            } else {
                "検索に一致する下書きはありません。"
            },
        );
        return;
    }
    let mut open: Option<String> = None;
    let mut delete: Option<(String, String)> = None;
    let row_h = 24.0;
    let order = &d.order;
    let view = &mut d.view;
    super::table::wide(ui, "drafts-wide", |ui| {
        TableBuilder::new(ui)
            .id_salt("drafts")
            .striped(true)
            .column(Column::exact(172.0))
            .column(Column::initial(110.0).clip(true))
            .column(
                Column::initial(200.0)
                    .at_least(60.0)
                    .resizable(true)
                    .clip(true),
            )
            .column(Column::exact(120.0))
            .column(
                Column::initial(330.0)
                    .at_least(80.0)
                    .resizable(true)
                    .clip(true),
            )
            .column(Column::exact(80.0))
            .column(Column::exact(50.0))
            .column(Column::remainder())
            .header(row_h, |mut h| {
                h.col(|ui| view.header(ui, 0, "保存日時"));
                h.col(|ui| view.header(ui, 1, "端末名"));
                h.col(|ui| view.header(ui, 2, "メッセージ"));
                h.col(|ui| view.header(ui, 3, "送信先事業所番号"));
                h.col(|ui| view.header(ui, 4, "ファイル名"));
                h.col(|ui| {
                    ui.strong("ファイル種別");
                });
                h.col(|ui| {
                    ui.strong("開く");
                });
                h.col(|ui| {
                    ui.strong("削除");
                });
            })
            .body(|body| {
                body.rows(row_h, order.len(), |mut row| {
                    let dr = &ds[order[row.index()]];
                    row.col(|ui| {
                        ui.label(when(dr.saved_at));
                    });
                    row.col(|ui| {
                        ui.label(&dr.terminal);
                    });
                    row.col(|ui| {
                        ui.label(&dr.message);
                    });
                    row.col(|ui| {
                        ui.label(dr.to_office.as_deref().unwrap_or("—"));
                    });
                    row.col(|ui| {
                        let names: Vec<&str> = dr.files.iter().map(|f| f.name.as_str()).collect();
                        ui.label(names.join("、"));
                    });
                    row.col(|ui| {
                        ui.label(kinds_of(dr));
                    });
                    row.col(|ui| {
                        if ui
                            .small_button("開く")
                            .on_hover_text("新規作成で開いて編集・送信します")
                            .clicked()
                        {
                            open = Some(dr.id.clone());
                        }
                    });
                    row.col(|ui| {
                        if ui.small_button("削除").clicked() {
                            let label = if dr.message.is_empty() {
                                when(dr.saved_at)
                            } else {
                                dr.message.clone()
                            };
                            delete = Some((dr.id.clone(), label));
                        }
                    });
                });
            });
    });
    if let Some(id) = open {
        let c = client.clone();
        app.jobs.spawn(&ctx, "files", move || {
            let r = c.draft(&id).and_then(|d| {
                let files = c.draft_files(&d)?;
                Ok((d, files))
            });
            Msg::Compose(ComposeMsg::Opened(r))
        });
    }
    if delete.is_some() {
        app.drafts.confirm_delete = delete;
    }
    if let Some((id, label)) = app.drafts.confirm_delete.clone() {
        let answer = confirm_modal(
            &ctx,
            "draft-delete",
            "下書きの削除",
            "削除する",
            "やめる",
            |ui| {
                ui.label(format!("下書き「{label}」を削除します。元に戻せません。"));
            },
        );
        if answer.is_some() {
            app.drafts.confirm_delete = None;
        }
        if answer == Some(true) {
            let c = client.clone();
            app.jobs.spawn(&ctx, "drafts-delete", move || {
                Msg::Compose(ComposeMsg::Deleted(c.delete_draft(&id)))
            });
        }
    }
}
