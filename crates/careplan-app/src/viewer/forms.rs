//! The form views: the records of a file laid out like the paper forms people know.
//!
//! 第1表 (one user at a time), 第2表 (課題 → 目標 → 援助内容 as printed), 第3表 (by day of
//! week), 第6表/実績 (month calendar per user and service), 第7表 (with subtotal and total
//! rows), 利用者補足情報 (per user, with the 限度額 slots), any other kind one record at a time.
//! Below each form: the problems of the records shown, with a button to see them in the table.

use careplan_core::FileKind;
use careplan_core::csv::{Layout, Record};
use careplan_core::view::{self, Subtotal, field_index};
use egui::{Color32, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::table::{cell_text, record_grid, record_grid_fields, value_ui};
use super::{FileViewer, place, severity_label};

pub(super) fn form_ui(v: &mut FileViewer, ui: &mut Ui) {
    let Some(layout) = v.layout() else { return };
    match layout.kind {
        FileKind::Up2Kyo => sheet2_ui(v, layout, ui),
        FileKind::UpPlan | FileKind::UpJsk => calendar_ui(v, layout, ui),
        FileKind::UpSikyu => sheet7_ui(v, layout, ui),
        FileKind::UpHosoku => hosoku_ui(v, layout, ui),
        FileKind::Up3Kyo => sheet3_ui(v, layout, ui),
        _ => per_record_ui(v, layout, ui),
    }
}

/// A user selector: combo box labelled 利用者 with previous / next buttons. Returns the
/// chosen index.
fn user_picker(ui: &mut Ui, current: &mut usize, labels: &[String]) {
    if labels.is_empty() {
        return;
    }
    if *current >= labels.len() {
        *current = 0;
    }
    ui.horizontal(|ui| {
        let selected = labels.get(*current).cloned().unwrap_or_default();
        egui::ComboBox::from_label("利用者")
            .selected_text(selected)
            .width(360.0)
            .show_ui(ui, |ui| {
                for (i, l) in labels.iter().enumerate() {
                    ui.selectable_value(current, i, l);
                }
            });
        if ui
            .add_enabled(*current > 0, egui::Button::new("前の利用者"))
            .clicked()
        {
            *current -= 1;
        }
        if ui
            .add_enabled(*current + 1 < labels.len(), egui::Button::new("次の利用者"))
            .clicked()
        {
            *current += 1;
        }
        ui.label(format!("{} / {}人", *current + 1, labels.len()));
    });
}

fn user_label(v: &FileViewer, insurer: &str, insured: &str) -> String {
    v.models
        .users
        .iter()
        .find(|u| u.insurer == insurer && u.insured == insured)
        .map_or_else(|| format!("{insurer} / {insured}"), |u| u.label())
}

/// The problems of the given records, each with a button to see it in the table.
fn problems_ui(v: &mut FileViewer, ui: &mut Ui, records: &[usize]) {
    let found: Vec<_> = records
        .iter()
        .flat_map(|&r| v.findings_of_record(r).cloned().collect::<Vec<_>>())
        .collect();
    if found.is_empty() {
        return;
    }
    ui.separator();
    ui.strong(format!("この利用者の指摘（{}件）", found.len()));
    let mut go = None;
    for f in &found {
        ui.horizontal_wrapped(|ui| {
            severity_label(ui, f);
            ui.label(place(f));
            ui.add(egui::Label::new(&f.message).wrap());
            if ui.button("表で見る").clicked() {
                go = Some((f.record, f.field));
            }
        });
    }
    if let Some((r, c)) = go {
        v.go_to(r, c);
    }
}

fn bad_record(v: &FileViewer, record: usize) -> bool {
    v.findings_of_record(record).next().is_some()
}

fn mark(ui: &mut Ui, v: &FileViewer, record: usize) {
    if let Some(f) = v.findings_of_record(record).next() {
        let c = super::severity_color(ui, f);
        ui.colored_label(c, if f.is_error() { "エラー" } else { "注意" })
            .on_hover_text(&f.message);
    }
}

// ---------------------------------------------------------------------------------------

fn per_record_ui(v: &mut FileViewer, layout: &Layout, ui: &mut Ui) {
    let labels: Vec<String> = v
        .records()
        .iter()
        .map(|r| {
            let who = format!(
                "{} / {}",
                r.field(2).unwrap_or_default(),
                r.field(3).unwrap_or_default()
            );
            format!("{}行目 {who}", r.number)
        })
        .collect();
    user_picker(ui, &mut v.user, &labels);
    let Some(record) = v.records().get(v.user).cloned() else {
        return;
    };
    let title = match layout.kind {
        FileKind::Up1Kyo => "居宅サービス計画書（１）",
        k => k.label(),
    };
    ui.heading(title);
    egui::ScrollArea::vertical()
        .id_salt("viewer-form-record")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            record_grid(v, layout, &record, ui, "viewer-form-grid");
            problems_ui(v, ui, &[record.number]);
        });
}

// ---------------------------------------------------------------------------------------

fn wrapped(ui: &mut Ui, text: &str, width: f32) {
    ui.allocate_ui(egui::vec2(width, 0.0), |ui| {
        ui.set_width(width);
        ui.add(egui::Label::new(text).wrap());
    });
}

fn sheet2_ui(v: &mut FileViewer, _layout: &Layout, ui: &mut Ui) {
    let labels: Vec<String> = v
        .models
        .plan2
        .iter()
        .map(|p| {
            let date = view::show_date(&p.plan_date).unwrap_or_else(|| p.plan_date.clone());
            format!(
                "{}（計画作成日 {date}）",
                user_label(v, &p.insurer, &p.insured)
            )
        })
        .collect();
    user_picker(ui, &mut v.user, &labels);
    let Some(plan) = v.models.plan2.get(v.user).cloned() else {
        return;
    };
    ui.heading("居宅サービス計画書（２）");
    ui.label(format!(
        "居宅サービス計画作成（変更）日：{}　計画書作成年月日：{}",
        view::show_date(&plan.plan_date).unwrap_or_else(|| plan.plan_date.clone()),
        view::show_date(&plan.made).unwrap_or_else(|| plan.made.clone()),
    ));
    let mut records = Vec::new();
    egui::ScrollArea::both()
        .id_salt("viewer-sheet2")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let w = [160.0, 130.0, 86.0, 130.0, 86.0, 160.0, 28.0, 110.0, 140.0, 64.0, 86.0];
            egui::Grid::new("viewer-sheet2-grid")
                .num_columns(w.len() + 1)
                .striped(true)
                .show(ui, |ui| {
                    for (title, width) in [
                        ("生活全般の解決すべき課題（ニーズ）", w[0]),
                        ("長期目標", w[1]),
                        ("（期間）", w[2]),
                        ("短期目標", w[3]),
                        ("（期間）", w[4]),
                        ("サービス内容", w[5]),
                        ("※1", w[6]),
                        ("サービス種別", w[7]),
                        ("※2", w[8]),
                        ("頻度", w[9]),
                        ("期間", w[10]),
                    ] {
                        ui.allocate_ui(egui::vec2(width, 0.0), |ui| {
                            ui.set_width(width);
                            ui.strong(title);
                        });
                    }
                    ui.label("");
                    ui.end_row();
                    for need in &plan.needs {
                        let mut first_need_row = true;
                        for goal in &need.goals {
                            let mut first_goal_row = true;
                            let supports: Vec<Option<&view::Support>> = if goal.supports.is_empty()
                            {
                                vec![None]
                            } else {
                                goal.supports.iter().map(Some).collect()
                            };
                            for s in supports {
                                let need_text = if first_need_row { need.text.as_str() } else { "" };
                                wrapped(ui, need_text, w[0]);
                                let (long, lp, short, sp) = if first_goal_row {
                                    (
                                        goal.long.as_str(),
                                        goal.long_period.as_str(),
                                        goal.short.as_str(),
                                        goal.short_period.as_str(),
                                    )
                                } else {
                                    ("", "", "", "")
                                };
                                wrapped(ui, long, w[1]);
                                wrapped(ui, lp, w[2]);
                                wrapped(ui, short, w[3]);
                                wrapped(ui, sp, w[4]);
                                match s {
                                    Some(s) => {
                                        records.push(s.record);
                                        wrapped(ui, &s.content, w[5]);
                                        wrapped(ui, &s.insured, w[6]);
                                        wrapped(ui, &s.service_kind, w[7]);
                                        wrapped(ui, &s.office_name, w[8]);
                                        wrapped(ui, &s.frequency, w[9]);
                                        wrapped(ui, &s.period, w[10]);
                                        mark(ui, v, s.record);
                                    }
                                    None => {
                                        records.push(goal.record);
                                        for width in &w[5..] {
                                            wrapped(ui, "", *width);
                                        }
                                        mark(ui, v, goal.record);
                                    }
                                }
                                ui.end_row();
                                first_need_row = false;
                                first_goal_row = false;
                            }
                        }
                    }
                });
            ui.add_space(6.0);
            ui.weak("※1「保険給付の対象となるかどうかの区分」について、保険給付対象内サービスには○。※2 当該サービス提供を行う事業所。");
            records.sort_unstable();
            records.dedup();
            problems_ui(v, ui, &records);
        });
}

// ---------------------------------------------------------------------------------------

fn calendar_ui(v: &mut FileViewer, _layout: &Layout, ui: &mut Ui) {
    let labels: Vec<String> = v
        .models
        .calendars
        .iter()
        .map(|c| user_label(v, &c.insurer, &c.insured))
        .collect();
    user_picker(ui, &mut v.user, &labels);
    let Some(cal) = v.models.calendars.get(v.user).cloned() else {
        return;
    };
    let title = if v.kind == Some(FileKind::UpJsk) {
        "サービス提供実績（第6表 実績）"
    } else {
        "サービス利用票（第6表 予定）"
    };
    let month = view::show_month(&cal.month).unwrap_or_else(|| cal.month.clone());
    ui.heading(format!("{title}　{month}"));
    let days = cal.days_in_month;
    let weekend = |ui: &Ui, wd: Option<&str>| -> Option<Color32> {
        let dark = ui.visuals().dark_mode;
        match wd {
            Some("土") => Some(if dark {
                Color32::from_rgb(120, 170, 255)
            } else {
                Color32::from_rgb(20, 70, 200)
            }),
            Some("日") => Some(if dark {
                Color32::from_rgb(255, 120, 120)
            } else {
                Color32::from_rgb(200, 20, 20)
            }),
            _ => None,
        }
    };
    let mut records: Vec<usize> = Vec::new();
    egui::ScrollArea::both()
        .id_salt("viewer-calendar")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("viewer-calendar-grid")
                .striped(true)
                .min_col_width(20.0)
                .spacing([4.0, 4.0])
                .show(ui, |ui| {
                    ui.strong("提供時間帯");
                    ui.strong("サービス内容");
                    ui.strong("サービス事業者");
                    for d in 1..=days {
                        ui.vertical_centered(|ui| {
                            let wd = cal.weekday(d);
                            let day = RichText::new(d.to_string()).strong();
                            let w = RichText::new(wd.unwrap_or(""));
                            match weekend(ui, wd) {
                                Some(c) => {
                                    ui.label(day.color(c));
                                    ui.label(w.color(c));
                                }
                                None => {
                                    ui.label(day);
                                    ui.label(w);
                                }
                            }
                        });
                    }
                    ui.strong("合計回数");
                    ui.end_row();
                    for row in &cal.rows {
                        records.extend(&row.records);
                        let time = match (
                            view::show_time(&row.start),
                            view::show_time(&row.end),
                        ) {
                            _ if row.start == "9999" => "時間指定なし".to_owned(),
                            (Some(s), Some(e)) => format!("{s}〜{e}"),
                            _ => format!("{}〜{}", row.start, row.end),
                        };
                        ui.label(time);
                        ui.vertical(|ui| {
                            let content = row
                                .service_label
                                .as_deref()
                                .map_or(row.service_code.clone(), |l| {
                                    format!("{l}（{}）", row.service_code)
                                });
                            ui.label(content);
                            if !row.item.is_empty() {
                                ui.weak(row.item.replace("\r\n", " ").replace('\n', " "));
                            }
                        });
                        ui.vertical(|ui| {
                            ui.label(&row.office_name);
                            ui.weak(&row.office_code);
                        });
                        for d in 0..usize::from(days) {
                            let n = row.days.get(d).copied().unwrap_or(0);
                            ui.vertical_centered(|ui| {
                                if n > 0 {
                                    ui.label(n.to_string());
                                } else {
                                    ui.label("");
                                }
                            });
                        }
                        let bad = row.records.iter().any(|&r| bad_record(v, r));
                        ui.horizontal(|ui| {
                            ui.strong(row.total.to_string());
                            if bad && let Some(&r) = row.records.iter().find(|&&r| bad_record(v, r)) {
                                mark(ui, v, r);
                            }
                        });
                        ui.end_row();
                    }
                });
            if !cal.outside.is_empty() {
                ui.add_space(6.0);
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "サービス利用日が対象年月の日付でない行があります（{}行目）。カレンダーには入れていません。",
                        cal.outside
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join("、")
                    ),
                );
                records.extend(&cal.outside);
            }
            records.sort_unstable();
            records.dedup();
            problems_ui(v, ui, &records);
        });
}

// ---------------------------------------------------------------------------------------

/// The 第7表 columns shown, by field name, with their printed headings.
const SHEET7_COLUMNS: [(&str, &str); 17] = [
    ("サービス事業所名", "事業所名"),
    ("サービス事業所コード", "事業所番号"),
    ("サービスコード", "サービス内容／種類"),
    ("単位数", "単位数"),
    ("割引後率", "割引後 率％"),
    ("割引後単位数", "割引後 単位数"),
    ("回数／日数", "回数"),
    ("サービス単位金額", "サービス単位／金額"),
    ("給付管理単位数", "給付管理単位数"),
    ("種類支給限度基準超単位数", "種類支給限度基準を超える単位数"),
    ("種類支給限度基準内単位数", "種類支給限度基準内単位数"),
    ("区分支給限度基準超単位数", "区分支給限度基準を超える単位数"),
    ("区分支給限度基準内単位数", "区分支給限度基準内単位数"),
    ("単位数単価", "単位数単価"),
    ("費用総額保険／事業対象分", "費用総額（保険／事業対象分）"),
    ("保険／事業費請求額", "保険／事業費請求額"),
    (
        "利用者負担保険／事業対象分",
        "利用者負担（保険／事業対象分）",
    ),
];

fn sheet7_ui(v: &mut FileViewer, layout: &Layout, ui: &mut Ui) {
    let labels: Vec<String> = v
        .models
        .sheet7
        .iter()
        .map(|u| user_label(v, &u.insurer, &u.insured))
        .collect();
    user_picker(ui, &mut v.user, &labels);
    let Some(user) = v.models.sheet7.get(v.user).cloned() else {
        return;
    };
    let month = view::show_month(&user.month).unwrap_or_else(|| user.month.clone());
    ui.heading(format!("サービス利用票別表（第7表）　{month}"));
    if !user.has_total {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "この利用者には合計行（サービスコード 999999）がありません。第7表には合計行が必要です。",
        );
    }
    let cols: Vec<(Option<usize>, &str)> = SHEET7_COLUMNS
        .iter()
        .map(|(name, head)| (field_index(layout, name), *head))
        .collect();
    let full = field_index(layout, "利用者負担（全額負担分）");
    let records: Vec<Record> = user
        .rows
        .iter()
        .filter_map(|r| v.records().get(r.index).cloned())
        .collect();
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
    let mut numbers = Vec::new();
    egui::ScrollArea::horizontal()
        .id_salt("viewer-sheet7-h")
        .show(ui, |ui| {
            let max_height = (ui.available_height() - 80.0).max(120.0);
            let mut tb = TableBuilder::new(ui)
                .id_salt("viewer-sheet7")
                .striped(true)
                .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                .max_scroll_height(max_height);
            for (i, _) in cols.iter().enumerate() {
                let w = match i {
                    0 => 170.0,
                    2 => 230.0,
                    _ => 96.0,
                };
                tb = tb.column(Column::initial(w).resizable(true).clip(true));
            }
            tb = tb.column(Column::initial(96.0).clip(true));
            tb = tb.column(Column::exact(48.0));
            tb.header(row_height * 1.6, |mut h| {
                for (_, head) in &cols {
                    h.col(|ui| {
                        ui.add(egui::Label::new(RichText::new(*head).strong()).wrap());
                    });
                }
                h.col(|ui| {
                    ui.add(
                        egui::Label::new(RichText::new("利用者負担（全額負担分）").strong()).wrap(),
                    );
                });
                h.col(|_| {});
            })
            .body(|body| {
                body.rows(row_height, user.rows.len(), |mut row| {
                    let i = row.index();
                    let (Some(r7), Some(rec)) = (user.rows.get(i), records.get(i)) else {
                        return;
                    };
                    let sub = r7.subtotal;
                    let tint = sub.map(|s| match s {
                        Subtotal::Total => 0.30,
                        _ => 0.16,
                    });
                    for (ci, (idx, _)) in cols.iter().enumerate() {
                        row.col(|ui| {
                            if let Some(t) = tint {
                                ui.painter().rect_filled(
                                    ui.max_rect(),
                                    0.0,
                                    ui.visuals().selection.bg_fill.gamma_multiply(t),
                                );
                            }
                            let raw = idx.and_then(|x| rec.get(x)).unwrap_or_default();
                            let text = match (ci, sub) {
                                // Service column of a subtotal/total row: its label.
                                (2, Some(s)) => {
                                    let kind = view::display::service_code_meaning(raw)
                                        .filter(|_| s != Subtotal::Total)
                                        .map(|m| {
                                            m.split_whitespace().next().unwrap_or("").to_owned()
                                        })
                                        .unwrap_or_default();
                                    let label = if kind.is_empty() || kind.starts_with("小計") {
                                        s.label().to_owned()
                                    } else {
                                        format!("{kind} {}", s.label())
                                    };
                                    ui.strong(label)
                                        .on_hover_text(format!("サービスコード {raw}"));
                                    return;
                                }
                                (1, Some(Subtotal::Total)) => String::new(),
                                _ => match idx {
                                    Some(x) => cell_text(layout, x + 1, raw).1,
                                    None => String::new(),
                                },
                            };
                            if sub.is_some() {
                                ui.add(egui::Label::new(RichText::new(text).strong()).truncate());
                            } else {
                                ui.add(egui::Label::new(text).truncate());
                            }
                        });
                    }
                    row.col(|ui| {
                        let raw = full.and_then(|x| rec.get(x)).unwrap_or_default();
                        ui.label(raw);
                    });
                    row.col(|ui| {
                        mark(ui, v, r7.record);
                    });
                });
            });
        });
    numbers.extend(user.rows.iter().map(|r| r.record));
    problems_ui(v, ui, &numbers);
}

// ---------------------------------------------------------------------------------------

fn hosoku_ui(v: &mut FileViewer, layout: &Layout, ui: &mut Ui) {
    let labels: Vec<String> = v
        .models
        .hosoku
        .iter()
        .map(|h| {
            let rec = v.records().get(h.index);
            let who = rec.map_or(String::new(), |r| {
                format!(
                    "{} / {}",
                    r.field(2).unwrap_or_default(),
                    r.field(3).unwrap_or_default()
                )
            });
            if h.name.is_empty() {
                who
            } else {
                format!("{who} {}", h.name)
            }
        })
        .collect();
    user_picker(ui, &mut v.user, &labels);
    let Some(h) = v.models.hosoku.get(v.user).cloned() else {
        return;
    };
    let Some(record) = v.records().get(h.index).cloned() else {
        return;
    };
    ui.heading(if h.name.is_empty() {
        "利用者補足情報".to_owned()
    } else {
        format!("利用者補足情報　{}（{}）", h.name, h.kana)
    });
    egui::ScrollArea::vertical()
        .id_salt("viewer-hosoku")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            record_grid_fields(
                v,
                layout,
                &record,
                ui,
                "viewer-hosoku-grid",
                Some(&h.fields),
            );
            ui.add_space(8.0);
            ui.strong("サービス種類別の支給限度額");
            if h.slots.is_empty() {
                ui.weak("（記載なし）");
            } else {
                egui::Grid::new("viewer-hosoku-slots")
                    .striped(true)
                    .show(ui, |ui| {
                        for head in [
                            "",
                            "サービス種類",
                            "支給限度基準額",
                            "合計単位数",
                            "限度超単位数",
                        ] {
                            ui.strong(head);
                        }
                        ui.end_row();
                        for s in &h.slots {
                            ui.label(s.no.to_string());
                            ui.label(s.label.as_deref().map_or(s.service_type.clone(), |l| {
                                format!("{l}（{}）", s.service_type)
                            }));
                            ui.label(&s.limit);
                            ui.label(&s.total);
                            ui.label(&s.over);
                            ui.end_row();
                        }
                    });
            }
            problems_ui(v, ui, &[h.record]);
        });
}

// ---------------------------------------------------------------------------------------

fn sheet3_ui(v: &mut FileViewer, layout: &Layout, ui: &mut Ui) {
    let labels: Vec<String> = v.models.users.iter().map(|u| u.label()).collect();
    user_picker(ui, &mut v.user, &labels);
    let Some(user) = v.models.users.get(v.user).cloned() else {
        return;
    };
    ui.heading("週間サービス計画表（第3表）");
    let recs: Vec<Record> = user
        .records
        .iter()
        .filter_map(|&i| v.records().get(i).cloned())
        .collect();
    let day_of = |r: &Record| r.field(7).unwrap_or_default().to_owned();
    let t = |r: &Record, no: usize| {
        let raw = r.field(no).unwrap_or_default();
        view::show_time(raw).unwrap_or_else(|| raw.to_owned())
    };
    egui::ScrollArea::vertical()
        .id_salt("viewer-sheet3")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("viewer-sheet3-grid")
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("曜日");
                    ui.strong("時間");
                    ui.strong("介護サービス内容");
                    ui.end_row();
                    for day in ["1", "2", "3", "4", "5", "6", "7"] {
                        let mut rows: Vec<&Record> = recs
                            .iter()
                            .filter(|r| {
                                day_of(r) == day && !r.field(6).unwrap_or_default().is_empty()
                            })
                            .collect();
                        rows.sort_by_key(|r| r.field(8).unwrap_or_default().to_owned());
                        for r in rows {
                            ui.label(view::show(layout, 7, day).text);
                            ui.label(format!("{}〜{}", t(r, 8), t(r, 9)));
                            ui.label(r.field(6).unwrap_or_default());
                            ui.end_row();
                        }
                    }
                });
            ui.add_space(8.0);
            ui.strong("主な日常生活上の活動");
            for r in recs
                .iter()
                .filter(|r| !r.field(10).unwrap_or_default().is_empty())
            {
                ui.label(format!(
                    "{}〜{}　{}",
                    t(r, 11),
                    t(r, 12),
                    r.field(10).unwrap_or_default()
                ));
            }
            ui.add_space(8.0);
            ui.strong("週単位以外のサービス");
            for r in recs.iter() {
                let s = r.field(13).unwrap_or_default();
                if !s.is_empty() {
                    value_ui(ui, layout, 13, Some(s));
                }
            }
            let numbers: Vec<usize> = recs.iter().map(|r| r.number).collect();
            problems_ui(v, ui, &numbers);
        });
}
