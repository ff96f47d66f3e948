//! The contents viewer and the pre-send check (issue 6), driven through egui_kittest with the
//! demo generator's real MS932 files. Widgets are found by the Japanese labels users see.

use careplan_app::viewer::{FileViewer, PrecheckAction, PrecheckPanel, SetView, ViewMode};
use careplan_core::csv::decode_code;
use careplan_core::demo::{self, DemoFile, DemoOffice, DemoUser};
use careplan_core::{FileKind, OfficeNumber};
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, HarnessBuilder};

fn builder<S>() -> HarnessBuilder<S> {
    // The app's own set-up: the bundled Japanese face (assets/), as the window uses it.
    HarnessBuilder::default()
        .with_size([1280.0, 800.0])
        .with_context_setup(careplan_app::ui::install_fonts)
}

fn viewer_harness(viewer: FileViewer) -> Harness<'static, FileViewer> {
    let mut h = builder().build_ui_state(|ui, v: &mut FileViewer| v.ui(ui), viewer);
    h.run();
    h
}

struct World {
    offices: Vec<DemoOffice>,
    users: Vec<DemoUser>,
}

fn world() -> World {
    World {
        offices: demo::demo_offices(42, 6),
        users: demo::demo_users(42, 3),
    }
}

fn find<'a>(files: &'a [DemoFile], prefix: &str) -> &'a DemoFile {
    files
        .iter()
        .find(|f| f.name.starts_with(prefix))
        .expect("file of that kind")
}

fn has_label(h: &Harness<'_, impl Sized>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

fn has_label_containing(h: &Harness<'_, impl Sized>, part: &str) -> bool {
    h.query_all_by_label_contains(part).next().is_some()
}

#[test]
fn received_plan_shows_field_names_and_decoded_codes() {
    // A 第1表 as a provider receives it from the care manager.
    let w = world();
    let set = demo::careplan_set(
        &w.offices[0],
        &w.offices[1],
        "20250401",
        "20250401093000",
        &w.users,
    );
    let file = find(&set, "UP1KYO");
    let viewer = FileViewer::open(&file.name, &file.bytes);
    assert_eq!(viewer.kind(), Some(FileKind::Up1Kyo));
    assert!(!viewer.has_errors(), "{:#?}", viewer.findings());
    let mut h = viewer_harness(viewer);

    // The form view (第1表, one user at a time) is the default for a 第1表.
    assert_eq!(h.state().mode(), ViewMode::Form);
    let level = decode_code(FileKind::Up1Kyo, 21, w.users[0].care_level).expect("known level");
    assert!(has_label(&h, "要介護状態区分"));
    assert!(has_label(&h, level), "decoded 要介護状態区分 {level}");
    assert!(has_label(&h, "計画書区分"));
    assert!(has_label(&h, "継続"), "計画書区分 21 → 継続");
    assert!(has_label(&h, "2025/04/01"), "dates shown as dates");
    // Free text keeps its line break.
    assert!(has_label_containing(
        &h,
        "できる限り自分のことは自分で続けたい。\n家族："
    ));

    // The table: field names of the kind as headers, CSVバージョン included.
    h.get_by_label("表").click();
    h.run();
    assert_eq!(h.state().mode(), ViewMode::Table);
    for name in [
        "CSVバージョン",
        "被保険者番号",
        "要介護状態区分",
        "総合的な援助の方針",
    ] {
        assert!(has_label(&h, name), "header {name}");
    }
    assert!(has_label(&h, level));
    assert!(has_label_containing(&h, "CSVバージョン：202407"));
    assert!(has_label(&h, "問題は見つかりませんでした"));
}

#[test]
fn file_about_to_be_sent_in_the_table() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let file = find(&set, "UPPLAN");
    let mut viewer = FileViewer::open(&file.name, &file.bytes);
    viewer.set_mode(ViewMode::Table);
    let mut h = viewer_harness(viewer);
    for name in [
        "サービス利用日",
        "サービス開始時刻",
        "サービスコード",
        "３０日超区分",
    ] {
        assert!(has_label(&h, name), "header {name}");
    }
    assert!(has_label(&h, "非該当"), "３０日超区分 0 → 非該当");
    assert!(
        h.query_all_by_label_contains("2025/04/").next().is_some(),
        "サービス利用日 as a date"
    );
    assert!(has_label(&h, "2025/04"), "対象年月 as a month");

    // Clicking a row shows the record in full below.
    h.get_all_by_label("2").next().expect("row 2").click();
    h.run();
    assert!(has_label(&h, "2行目の内容"));
}

#[test]
fn sheet2_is_grouped_as_printed() {
    let w = world();
    let set = demo::careplan_set(
        &w.offices[0],
        &w.offices[1],
        "20250401",
        "20250401093000",
        &w.users,
    );
    let file = find(&set, "UP2KYO");
    let h = viewer_harness(FileViewer::open(&file.name, &file.bytes));
    assert_eq!(h.state().mode(), ViewMode::Form);
    assert!(has_label(&h, "居宅サービス計画書（２）"));
    assert!(has_label(&h, "生活全般の解決すべき課題（ニーズ）"));
    assert!(has_label(&h, "足腰が弱り、入浴や外出に不安がある"));
    assert!(has_label(&h, "一人での家事が難しくなってきた"));
    // The long-term goal is printed once per goal group: both needs have one goal each.
    assert_eq!(h.query_all_by_label("在宅生活を続けられる").count(), 2);
    assert!(has_label(&h, "○"), "保険対象区分 Y → ○");
    assert!(has_label(&h, "利用者"), "user picker");
}

#[test]
fn sheet6_calendar_per_user_and_service() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let file = find(&set, "UPPLAN");
    let mut h = viewer_harness(FileViewer::open(&file.name, &file.bytes));
    assert!(has_label(&h, "サービス利用票（第6表 予定）　2025/04"));
    assert!(has_label(&h, "合計回数"));
    assert!(has_label(&h, "30"), "April has 30 days");
    assert!(!has_label(&h, "31"));
    assert!(has_label(&h, "火"), "2025-04-01 is a Tuesday");
    assert!(has_label_containing(&h, &w.offices[1].name));
    // Next user.
    h.get_by_label("次の利用者").click();
    h.run();
    assert!(has_label(&h, "2 / 3人"));

    // 実績 shows as its own calendar.
    let j = demo::jisseki(
        &w.offices[1],
        &w.offices[0],
        "202503",
        "20250401093000",
        &w.users,
    );
    let h = viewer_harness(FileViewer::open(&j.name, &j.bytes));
    assert!(has_label(&h, "サービス提供実績（第6表 実績）　2025/03"));
    assert!(has_label(&h, "31"));
}

/// A 第7表 of one user with two services of two offices, their 区分支給限度 subtotals
/// (`11AAAA`, `15AAAA`) and the grand total (`999999`), amounts consistent.
fn sheet7_with_subtotals(w: &World) -> DemoFile {
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users[..1],
    );
    let file = find(&set, "UPSIKYU");
    let parsed = careplan_core::parse_name(&file.name);
    let report = careplan_core::csv::validate(FileKind::UpSikyu, Some(&parsed), &file.bytes);
    let base = report.records[0].to_vec();
    let row = |name: &str, office: &str, code: &str, unit: u32, n: u32, sum: u32| {
        let mut r = base.clone();
        let cost = sum * 114 / 10;
        let claim = cost * 9 / 10;
        r[5] = name.to_owned();
        r[6] = office.to_owned();
        r[8] = code.to_owned();
        r[12] = unit.to_string();
        r[15] = n.to_string();
        r[16] = sum.to_string();
        r[17] = sum.to_string();
        r[19] = sum.to_string();
        r[21] = sum.to_string();
        r[23] = cost.to_string();
        r[25] = claim.to_string();
        r[27] = (cost - claim).to_string();
        r
    };
    let (a, an) = (w.offices[1].name.as_str(), w.offices[1].number.as_str());
    let b = "ひまわりデイサービスセンター";
    let bn = w.offices[2].number.as_str();
    let records = vec![
        row(a, an, "111211", 387, 13, 5031),
        row(a, an, "116275", 100, 1, 100),
        row(a, an, "11AAAA", 0, 0, 5131),
        row(b, bn, "151121", 658, 9, 5922),
        row(b, bn, "15AAAA", 0, 0, 5922),
        row("", "9999999999", "999999", 0, 0, 11053),
    ];
    DemoFile {
        name: file.name.clone(),
        bytes: careplan_core::csv::write_csv(FileKind::UpSikyu, "202407", &records).expect("MS932"),
    }
}

#[test]
fn sheet7_shows_totals() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let file = find(&set, "UPSIKYU");
    let h = viewer_harness(FileViewer::open(&file.name, &file.bytes));
    assert!(has_label(&h, "サービス利用票別表（第7表）　2025/04"));
    assert!(has_label(&h, "合計"), "grand-total row");
    assert!(has_label(&h, "区分支給限度基準内単位数"));
    assert!(has_label(&h, &w.offices[1].name));

    let file = sheet7_with_subtotals(&w);
    let v = FileViewer::open(&file.name, &file.bytes);
    assert!(!v.has_errors(), "{:#?}", v.findings());
    let h = viewer_harness(v);
    assert!(has_label(&h, "訪問介護 小計（区分支給限度対象）"));
    assert!(has_label(&h, "通所介護 小計（区分支給限度対象）"));
    assert!(has_label(&h, "合計"));
    assert!(has_label(&h, "11053"));
}

#[test]
fn hosoku_per_user() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let file = find(&set, "UPHOSOKU");
    let mut h = viewer_harness(FileViewer::open(&file.name, &file.bytes));
    let u = &w.users[0];
    assert!(has_label_containing(
        &h,
        &format!("利用者補足情報　{}", u.name)
    ));
    assert!(has_label(&h, "サービス種類別の支給限度額"));
    h.get_by_label("次の利用者").click();
    h.run();
    assert!(has_label_containing(&h, &w.users[1].name));
}

/// A 第6表 whose first record has no 被保険者番号 and whose second record has a bad date.
fn damaged_plan(w: &World) -> DemoFile {
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let mut file = find(&set, "UPPLAN").clone();
    let lines: Vec<Vec<u8>> = file
        .bytes
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut fields: Vec<Vec<u8>> = line.split(|&b| b == b',').map(<[u8]>::to_vec).collect();
        if i == 0 {
            fields[2].clear();
        }
        if i == 1 {
            fields[9] = b"20250431".to_vec();
        }
        out.extend(fields.join(&b','));
        if i + 1 < lines.len() {
            out.push(b'\n');
        }
    }
    file.bytes = out;
    file
}

#[test]
fn damaged_file_shows_what_can_be_read_with_problems_marked() {
    let w = world();
    let file = damaged_plan(&w);
    let viewer = FileViewer::open(&file.name, &file.bytes);
    assert!(viewer.has_errors());
    let records = viewer.report().map_or(0, |r| r.records.len());
    assert!(records > 2, "every readable record is kept");
    let mut h = viewer_harness(viewer);
    assert!(
        has_label_containing(&h, "エラー "),
        "error count in the header"
    );

    // The list of problems with record and field.
    h.get_by_label_contains("指摘一覧").click();
    h.run();
    assert!(has_label(&h, "1行目 3項目"));
    assert!(has_label(&h, "2行目 10項目"));
    assert!(has_label_containing(&h, "「被保険者番号」が空です"));

    // Jump to the record: the table with the record's detail and its problem.
    h.get_all_by_label("表で見る")
        .next()
        .expect("button")
        .click();
    h.run();
    assert_eq!(h.state().mode(), ViewMode::Table);
    assert!(has_label(&h, "1行目の内容"));
    assert!(
        h.query_all_by_label_contains("「被保険者番号」が空です")
            .count()
            >= 1
    );
}

#[test]
fn viewer_opens_at_a_record() {
    let w = world();
    let file = damaged_plan(&w);
    let h = viewer_harness(FileViewer::open_at(
        &file.name,
        &file.bytes,
        Some(2),
        Some(10),
    ));
    assert_eq!(h.state().mode(), ViewMode::Table);
    assert!(has_label(&h, "2行目の内容"));
    assert!(has_label_containing(&h, "サービス利用日"));
}

#[test]
fn unnamed_csv_from_disk_is_read_by_its_content() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let file = find(&set, "UPSIKYU");
    let viewer = FileViewer::open("export.csv", &file.bytes);
    assert_eq!(viewer.kind(), Some(FileKind::UpSikyu));
    let h = viewer_harness(viewer);
    assert!(has_label_containing(
        &h,
        "内容から「第7表 サービス利用票別表」として読み込みました"
    ));
    assert!(has_label(&h, "ファイルの種類"));

    let pdf = FileViewer::open("会議録.pdf", &demo::tiny_pdf("x"));
    let h = viewer_harness(pdf);
    assert!(has_label_containing(
        &h,
        "標準仕様のCSVファイルではありません"
    ));
}

#[test]
fn large_file_opens_and_scrolls() {
    let bytes = demo::large_plan_file(3, 2 * 1024 * 1024);
    let name = "UPPLAN_202504_1310000013_43_1310000021_11_20250325093000.CSV";
    let mut viewer = FileViewer::open(name, &bytes);
    let n = viewer.report().map_or(0, |r| r.records.len());
    assert!(n > 5_000, "{n} records");
    viewer.set_mode(ViewMode::Table);
    let mut h = viewer_harness(viewer);
    // Only the visible rows are laid out.
    assert!(!has_label(&h, &n.to_string()));
    h.state_mut().go_to(Some(n), None);
    h.run();
    assert!(has_label(&h, &format!("{n}行目の内容")));
}

#[test]
fn models_can_be_built_on_a_worker_thread() {
    fn send<T: Send>() {}
    send::<FileViewer>();
    send::<PrecheckPanel>();
    send::<SetView>();
    send::<careplan_core::view::Precheck>();
}

// ---------------------------------------------------------------------------------------
// Pre-send check
// ---------------------------------------------------------------------------------------

struct Sending {
    panel: PrecheckPanel,
    sent: usize,
}

fn precheck_harness(our: &OfficeNumber, files: &[DemoFile]) -> Harness<'static, Sending> {
    let files: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.name.clone(), f.bytes.clone()))
        .collect();
    let state = Sending {
        panel: PrecheckPanel::new(Some(our), files),
        sent: 0,
    };
    let mut h = builder().build_ui_state(
        |ui, s: &mut Sending| {
            if s.panel.ui(ui) == PrecheckAction::Send {
                s.sent += 1;
            }
        },
        state,
    );
    h.run();
    h
}

#[test]
fn clean_batch_sends_without_confirmation() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let mut h = precheck_harness(&w.offices[0].number, &set);
    assert!(has_label_containing(&h, "すべて問題ありません"));
    assert_eq!(h.query_all_by_label("OK").count(), 3);
    h.get_by_label("送信する").click();
    h.run();
    assert_eq!(h.state().sent, 1);
    assert!(!h.state().panel.is_confirming());
}

#[test]
fn errors_block_the_send_button() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let mut files = set.clone();
    files[0] = damaged_plan(&w);
    let mut h = precheck_harness(&w.offices[0].number, &files);
    assert!(has_label_containing(&h, "エラーを直すまで送信できません"));
    assert!(has_label(&h, "エラー"));
    // Findings in plain Japanese with the record and field.
    assert!(has_label_containing(&h, "（1行目 3項目）"));
    assert!(has_label_containing(&h, "「被保険者番号」が空です"));
    let button = h.get_by_label("送信する");
    assert!(button.accesskit_node().is_disabled());
    button.click();
    h.run();
    assert_eq!(h.state().sent, 0);

    // The button next to a finding opens the viewer at that record.
    h.get_all_by_label("開く")
        .next()
        .expect("open button")
        .click();
    h.run();
    let v = h.state().panel.viewer().expect("viewer open");
    assert_eq!(v.mode(), ViewMode::Table);
    assert!(has_label_containing(&h, "内容表示："));
    assert!(has_label(&h, "1行目の内容"));

    // Files of another office are errors too.
    let h = precheck_harness(&w.offices[2].number, &set);
    assert!(has_label_containing(&h, "ログイン中の事業所"));
    assert!(h.get_by_label("送信する").accesskit_node().is_disabled());
}

#[test]
fn warnings_need_a_confirmation_that_lists_them() {
    let w = world();
    let set = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    // 第6表 without 第7表 and 補足: an incomplete set.
    let mut h = precheck_harness(&w.offices[0].number, &set[..1]);
    assert!(has_label_containing(&h, "注意が"));
    assert!(has_label(&h, "注意"));
    let button = h.get_by_label("送信する");
    assert!(!button.accesskit_node().is_disabled());
    button.click();
    h.run();
    assert_eq!(h.state().sent, 0, "not sent before confirming");
    assert!(h.state().panel.is_confirming());
    assert!(has_label(&h, "注意があります"));
    assert!(
        h.query_all_by_label_contains("第7表（サービス利用票別表）がありません")
            .count()
            >= 2
    );
    // The send button of the dialog waits for the acknowledgement.
    let confirm = h.get_by_label("注意を確認して送信する");
    assert!(confirm.accesskit_node().is_disabled());
    h.get_by_label("上の注意をすべて確認しました").click();
    h.run();
    h.get_by_label("注意を確認して送信する").click();
    h.run();
    assert_eq!(h.state().sent, 1);
    assert!(!h.state().panel.is_confirming());

    // Cancelling does not send.
    h.get_by_label("送信する").click();
    h.run();
    h.get_by_label("送信をやめる").click();
    h.run();
    assert_eq!(h.state().sent, 1);
    assert!(!h.state().panel.is_confirming());
}

#[test]
fn duplicates_and_delete_then_resend_are_called_out() {
    let w = world();
    let mut files = demo::careplan_set(
        &w.offices[0],
        &w.offices[1],
        "20250401",
        "20250401093000",
        &w.users,
    );
    files.push(files[0].clone());
    let h = precheck_harness(&w.offices[0].number, &files);
    assert!(has_label_containing(&h, "同じ名前のファイル"));
    assert!(h.get_by_label("送信する").accesskit_node().is_disabled());
}

#[test]
fn send_sets_with_completeness() {
    let w = world();
    let mut files = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let care = demo::careplan_set(
        &w.offices[0],
        &w.offices[1],
        "20250401",
        "20250401093000",
        &w.users,
    );
    files.extend(care.into_iter().filter(|f| !f.name.starts_with("UPHOSOKU")));
    let files: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes)).collect();
    let mut h = builder().build_ui_state(|ui, s: &mut SetView| s.ui(ui), SetView::new(files));
    h.run();
    assert_eq!(h.state().sets().len(), 2);
    assert!(has_label(&h, "そろっています"));
    assert!(has_label(&h, "不足があります"));
    assert!(has_label_containing(&h, "利用者補足情報がありません"));
    h.get_all_by_label("表示").next().expect("show").click();
    h.run();
    assert!(h.state().viewer().is_some());
    assert!(has_label(&h, "内容表示を閉じる"));
}

// ---------------------------------------------------------------------------------------
// Screenshots for docs/screenshots (needs a wgpu adapter; Mesa's lavapipe is enough):
// `cargo test -p careplan-app --test viewer -- --ignored screenshots`
// ---------------------------------------------------------------------------------------

fn shot_builder<S>() -> HarnessBuilder<S> {
    builder()
        .with_pixels_per_point(1.0)
        .with_theme(egui::Theme::Light)
        .wgpu()
}

/// The harness draws straight into the window; the app's panels paint this background.
fn paint_background(ui: &mut egui::Ui) {
    let rect = ui.ctx().content_rect();
    ui.painter().rect_filled(rect, 0.0, ui.visuals().panel_fill);
}

fn save(h: &mut Harness<'_, impl Sized>, name: &str) {
    let image = h.render().expect("render with wgpu");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/screenshots");
    std::fs::create_dir_all(dir).expect("screenshot folder");
    image
        .save(format!("{dir}/{name}.png"))
        .expect("write screenshot");
}

#[test]
#[ignore = "renders with wgpu and writes docs/screenshots; run on demand"]
fn screenshots() {
    let w = world();
    let plan = demo::plan_set(
        &w.offices[0],
        &w.offices[1],
        "202504",
        "20250325093000",
        &w.users,
    );
    let care = demo::careplan_set(
        &w.offices[0],
        &w.offices[1],
        "20250401",
        "20250401093000",
        &w.users,
    );
    let shoot = |viewer: FileViewer, name: &str, setup: &dyn Fn(&mut Harness<'_, FileViewer>)| {
        let mut h = shot_builder().build_ui_state(
            |ui, v: &mut FileViewer| {
                paint_background(ui);
                v.ui(ui);
            },
            viewer,
        );
        h.run();
        setup(&mut h);
        h.run();
        save(&mut h, name);
    };
    let none = |_: &mut Harness<'_, FileViewer>| {};

    let mut table = FileViewer::open(&plan[0].name, &plan[0].bytes);
    table.set_mode(ViewMode::Table);
    shoot(table, "viewer-table", &|h| {
        h.state_mut().go_to(Some(3), Some(15));
    });
    let kyo2 = find(&care, "UP2KYO");
    shoot(
        FileViewer::open(&kyo2.name, &kyo2.bytes),
        "viewer-sheet2",
        &none,
    );
    shoot(
        FileViewer::open(&plan[0].name, &plan[0].bytes),
        "viewer-calendar",
        &none,
    );
    let sikyu = sheet7_with_subtotals(&w);
    shoot(
        FileViewer::open(&sikyu.name, &sikyu.bytes),
        "viewer-sheet7",
        &none,
    );
    let kyo1 = find(&care, "UP1KYO");
    shoot(
        FileViewer::open(&kyo1.name, &kyo1.bytes),
        "viewer-sheet1",
        &none,
    );
    let damaged = damaged_plan(&w);
    let mut d = FileViewer::open(&damaged.name, &damaged.bytes);
    d.set_mode(ViewMode::Findings);
    shoot(d, "viewer-findings", &none);

    // The pre-send panel with an incomplete set, and its confirmation.
    let files: Vec<(String, Vec<u8>)> = std::iter::once(&damaged)
        .chain(plan[1..].iter())
        .map(|f| (f.name.clone(), f.bytes.clone()))
        .collect();
    let mut h = shot_builder().build_ui_state(
        |ui, p: &mut PrecheckPanel| {
            paint_background(ui);
            p.ui(ui);
        },
        PrecheckPanel::new(Some(&w.offices[0].number), files),
    );
    h.run();
    save(&mut h, "viewer-precheck-errors");
    let files: Vec<(String, Vec<u8>)> = plan[..1]
        .iter()
        .map(|f| (f.name.clone(), f.bytes.clone()))
        .collect();
    let mut h = shot_builder().build_ui_state(
        |ui, p: &mut PrecheckPanel| {
            paint_background(ui);
            p.ui(ui);
        },
        PrecheckPanel::new(Some(&w.offices[0].number), files),
    );
    h.run();
    h.get_by_label("送信する").click();
    h.run();
    save(&mut h, "viewer-precheck-confirm");
}
