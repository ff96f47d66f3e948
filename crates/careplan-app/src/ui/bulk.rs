//! 一括送信: any number of files, one group per destination office (from the CSV names),
//! unroutable files listed apart with the reason and assignable, at most 50 offices per
//! send with an offer to split.

use std::collections::BTreeMap;

use careplan_client::send::{PlannedGroup, SendMode};
use careplan_client::{ClientError, SendReceipt};
use careplan_core::route::{self, MAX_OFFICES, Routing};
use careplan_core::{OfficeNumber, parse_name};
use egui::RichText;

use super::compose::{Basket, Target, drop_zone};
use super::jobs::{Jobs, Msg};
use super::table::empty_state;
use super::{CareplanApp, confirm_modal, message_or_none, when};
use crate::viewer::PrecheckAction;

/// Results of 一括送信 jobs.
pub enum BulkMsg {
    /// The receipts of the batches sent, and the error that stopped the rest, if any.
    Done(Vec<SendReceipt>, Option<ClientError>),
}

/// State of 一括送信.
#[derive(Default)]
pub(crate) struct BulkScreen {
    pub(crate) basket: Basket,
    pub(crate) routing: Option<Routing>,
    /// Unrouted file → office typed by the user.
    assign: BTreeMap<String, String>,
    pub(crate) message: String,
    confirm: bool,
    split: bool,
    sending: bool,
    result: Option<(Vec<SendReceipt>, Option<String>)>,
}

impl BulkScreen {
    pub(crate) fn changed(
        &mut self,
        ctx: &egui::Context,
        jobs: &mut Jobs,
        office: Option<OfficeNumber>,
    ) {
        if let Some(our) = &office {
            let names: Vec<_> = self
                .basket
                .files
                .iter()
                .map(|(n, _)| parse_name(n))
                .collect();
            self.routing = Some(route::route(our, &names, MAX_OFFICES));
        }
        let names: Vec<String> = self.basket.files.iter().map(|(n, _)| n.clone()).collect();
        self.assign.retain(|k, _| names.contains(k));
        self.basket.recheck(ctx, jobs, office, Target::Bulk);
    }

    /// Assigned files with a valid office number.
    fn assignments(&self) -> Vec<(String, OfficeNumber)> {
        self.assign
            .iter()
            .filter_map(|(f, o)| OfficeNumber::parse(o.trim()).ok().map(|o| (f.clone(), o)))
            .collect()
    }

    /// Destination offices including the assigned files' offices.
    fn offices(&self) -> Vec<OfficeNumber> {
        let mut v: Vec<OfficeNumber> = self
            .routing
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| g.to_office))
            .collect();
        for (_, o) in self.assignments() {
            if !v.contains(&o) {
                v.push(o);
            }
        }
        v.sort();
        v
    }
}

pub(crate) fn apply(app: &mut CareplanApp, ctx: &egui::Context, m: BulkMsg) {
    match m {
        BulkMsg::Done(receipts, err) => {
            app.bulk.sending = false;
            if matches!(err, Some(ClientError::SessionExpired)) && receipts.is_empty() {
                app.session_lost(ctx);
                return;
            }
            app.bulk.result = Some((receipts, err.map(|e| e.message_ja())));
        }
    }
}

pub(crate) fn ui(app: &mut CareplanApp, ui: &mut egui::Ui) {
    let ctx = ui.ctx().clone();
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let office = Some(*client.office());
    ui.horizontal(|ui| {
        ui.heading("一括送信");
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("すべて外す").clicked() {
                app.bulk = BulkScreen::default();
            }
        });
    });
    // On its own line, so that it wraps with large text instead of running off the screen.
    ui.label("ファイル名の送信先事業所番号ごとに振り分けて、複数の事業所へ送信します（下書きはありません）。");
    drop_zone(ui, &ctx, &mut app.jobs, Target::Bulk);
    let b = &mut app.bulk;
    for n in &b.basket.notes {
        ui.colored_label(ui.visuals().warn_fg_color, n);
    }
    if b.basket.files.is_empty() {
        empty_state(
            ui,
            "ファイルがまだありません。送りたいファイルをまとめてドロップしてください。",
        );
        result_modal(app, &ctx);
        return;
    }
    let mut remove = None;
    egui::ScrollArea::vertical()
        .id_salt("bulk-scroll")
        .max_height(ui.available_height() - 90.0)
        .show(ui, |ui| {
            if let Some(r) = &b.routing {
                ui.label(
                    RichText::new(format!(
                        "送信先 {}事業所、ファイル {}件",
                        b.offices().len(),
                        b.basket.files.len()
                    ))
                    .strong(),
                );
                egui::Grid::new("bulk-groups")
                    .striped(true)
                    .num_columns(3)
                    .show(ui, |ui| {
                        ui.strong("送信先事業所番号");
                        ui.strong("件数");
                        ui.strong("ファイル名");
                        ui.end_row();
                        for g in &r.groups {
                            ui.label(g.to_office.as_str());
                            ui.label(format!("{}件", g.files.len()));
                            ui.label(g.files.join("、"));
                            ui.end_row();
                        }
                    });
                if let Some(e) = &r.error {
                    ui.colored_label(ui.visuals().error_fg_color, &e.message);
                    let n = r.groups.len().div_ceil(MAX_OFFICES);
                    ui.checkbox(
                        &mut b.split,
                        format!("{MAX_OFFICES}事業所ずつ{n}回に分けて送信する"),
                    );
                }
                if !r.unrouted.is_empty() {
                    ui.add_space(6.0);
                    ui.label(
                        RichText::new(
                            "振り分けできないファイル（送信先を入力したものだけ送ります）",
                        )
                        .strong(),
                    );
                    egui::Grid::new("bulk-unrouted")
                        .num_columns(3)
                        .show(ui, |ui| {
                            for u in &r.unrouted {
                                ui.label(&u.file);
                                ui.colored_label(ui.visuals().warn_fg_color, &u.reason);
                                let v = b.assign.entry(u.file.clone()).or_default();
                                ui.horizontal(|ui| {
                                    let l = ui.label("送信先");
                                    ui.add(egui::TextEdit::singleline(v).desired_width(120.0))
                                        .labelled_by(l.id)
                                        .on_hover_text(format!("{} の送信先事業所番号", u.file));
                                    if !v.trim().is_empty()
                                        && OfficeNumber::parse(v.trim()).is_err()
                                    {
                                        ui.colored_label(ui.visuals().error_fg_color, "10桁で入力");
                                    }
                                });
                                ui.end_row();
                            }
                        });
                }
            }
            ui.add_space(6.0);
            ui.collapsing(
                format!("ファイル一覧（{}件）", b.basket.files.len()),
                |ui| {
                    remove = b.basket.table(ui, "bulk-files");
                },
            );
            if b.basket.checking() {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("ファイルを確認しています…");
                });
            }
            if !b.basket.files.is_empty() {
                let client = app.session.as_ref().map(|s| s.client.clone());
                b.basket
                    .repair_ui(ui, &ctx, &mut app.jobs, Target::Bulk, client.as_ref());
            }
            if let Some(p) = &mut b.basket.panel {
                p.list_ui(ui);
            }
        });
    if let Some(i) = remove {
        b.basket.remove(i);
        b.changed(&ctx, &mut app.jobs, office);
    }
    let b = &mut app.bulk;
    ui.separator();
    ui.horizontal(|ui| {
        let l = ui.label("メッセージ（全送信先に共通）");
        ui.add(
            egui::TextEdit::singleline(&mut b.message)
                .id_salt("bulk-message")
                .char_limit(200)
                .desired_width(480.0),
        )
        .labelled_by(l.id);
    });
    let too_many = b.routing.as_ref().is_some_and(|r| r.error.is_some());
    let mut action = PrecheckAction::None;
    let can_send = (!too_many || b.split) && !b.sending && !b.offices().is_empty();
    if let Some(p) = &mut b.basket.panel {
        if can_send {
            action = p.send_button(ui);
        } else {
            ui.add_enabled(false, egui::Button::new("送信内容を確認する"));
        }
        p.windows(&ctx);
    }
    if action == PrecheckAction::Send {
        b.confirm = true;
    }
    if b.sending {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("送信しています…");
        });
    }
    if b.confirm {
        let offices = b.offices();
        let batches = offices.len().div_ceil(MAX_OFFICES).max(1);
        let assigned = b.assignments();
        let answer = confirm_modal(
            &ctx,
            "bulk-confirm",
            "一括送信の確認",
            "送信する",
            "戻る",
            |ui| {
                ui.label(format!(
                    "{}事業所へ、ファイル{}件を送信します{}。",
                    offices.len(),
                    b.basket.files.len() - b.routing.as_ref().map_or(0, |r| r.unrouted.len())
                        + assigned.len(),
                    if batches > 1 {
                        format!("（{batches}回に分けて送信）")
                    } else {
                        String::new()
                    }
                ));
                ui.label(format!("メッセージ: {}", message_or_none(&b.message)));
                let skipped: Vec<&str> = b
                    .routing
                    .iter()
                    .flat_map(|r| r.unrouted.iter().map(|u| u.file.as_str()))
                    .filter(|f| !assigned.iter().any(|(a, _)| a == f))
                    .collect();
                if !skipped.is_empty() {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("送信しないファイル: {}", skipped.join("、")),
                    );
                }
            },
        );
        if answer.is_some() {
            b.confirm = false;
        }
        if answer == Some(true) {
            b.sending = true;
            start_send(app, &ctx);
        }
    }
    result_modal(app, &ctx);
}

fn start_send(app: &mut CareplanApp, ctx: &egui::Context) {
    let Some(client) = app.session.as_ref().map(|s| s.client.clone()) else {
        return;
    };
    let b = &app.bulk;
    let Some(routing) = b.routing.clone() else {
        return;
    };
    let files = b.basket.outgoing();
    let message = b.message.clone();
    let assigned = b.assignments();
    app.jobs.spawn(ctx, "send", move || {
        // Batches of at most 50 destination offices (assigned attachments go with their
        // office's batch; an office with only assigned files joins the last batch).
        let mut offices: Vec<OfficeNumber> = routing.groups.iter().map(|g| g.to_office).collect();
        for (_, o) in &assigned {
            if !offices.contains(o) {
                offices.push(*o);
            }
        }
        offices.sort();
        let mut receipts = Vec::new();
        for batch in offices.chunks(MAX_OFFICES) {
            let names: Vec<&str> = routing
                .groups
                .iter()
                .filter(|g| batch.contains(&g.to_office))
                .flat_map(|g| g.files.iter().map(String::as_str))
                .chain(
                    assigned
                        .iter()
                        .filter(|(_, o)| batch.contains(o))
                        .map(|(f, _)| f.as_str()),
                )
                .collect();
            let batch_files: Vec<_> = files
                .iter()
                .filter(|f| names.contains(&f.name.as_str()))
                .cloned()
                .collect();
            let r = client
                .prepare_send(batch_files, &message, &SendMode::Bulk)
                .and_then(|mut plan| {
                    for (f, o) in assigned.iter().filter(|(_, o)| batch.contains(o)) {
                        let Some(idx) = plan.files.iter().position(|x| x.name == *f) else {
                            continue;
                        };
                        plan.not_sent.retain(|p| p.file != *f);
                        plan.warnings.retain(|p| p.file != *f);
                        match plan.groups.iter_mut().find(|g| g.to_office == o.as_str()) {
                            Some(g) => g.files.push(idx),
                            None => plan.groups.push(PlannedGroup {
                                to_office: o.as_str().to_owned(),
                                files: vec![idx],
                            }),
                        }
                    }
                    plan.groups.sort_by(|a, b| a.to_office.cmp(&b.to_office));
                    client.send(&plan, true)
                });
            match r {
                Ok(rc) => receipts.push(rc),
                Err(e) => return Msg::Bulk(BulkMsg::Done(receipts, Some(e))),
            }
        }
        Msg::Bulk(BulkMsg::Done(receipts, None))
    });
}

fn result_modal(app: &mut CareplanApp, ctx: &egui::Context) {
    let Some((receipts, err)) = &app.bulk.result else {
        return;
    };
    let mut close = false;
    let offices: usize = receipts.iter().map(|r| r.offices.len()).sum();
    let modal = egui::Modal::new(egui::Id::unique("bulk-done")).show(ctx, |ui| {
        ui.set_max_width(600.0);
        match err {
            None => {
                ui.heading("一括送信が完了しました");
            }
            Some(e) => {
                ui.heading(
                    RichText::new("一括送信を完了できませんでした")
                        .color(ui.visuals().error_fg_color),
                );
                ui.label(e);
            }
        }
        ui.label(format!("送信済み: {offices}事業所（{}回）", receipts.len()));
        for r in receipts {
            ui.weak(format!(
                "{} 受付: {}",
                when(r.accepted_at),
                r.offices.join("、")
            ));
        }
        if ui.button("閉じる").clicked() {
            close = true;
        }
    });
    if close || modal.should_close() {
        let ok = err.is_none();
        app.bulk.result = None;
        if ok {
            app.bulk = BulkScreen::default();
        }
    }
}
