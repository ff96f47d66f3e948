//! トップページ 送受信記録（台帳）, driven through `egui_kittest` against the real demo relay:
//! 「改ざんチェック」 reads the chain of this terminal's ledger, 「月次の送受信記録を保存」
//! writes the month as PDF (read back by poppler) and as CSV, and a repair made from
//! 新規作成's 「自動修正したコピーを作る」 is in the ledger.

mod support;

use careplan_client::LedgerEntry;
use careplan_client::store::{Direction, LedgerFile};
use egui_kittest::kittest::Queryable;
use support::kittest::{App, contains};

fn entry(office: &str, n: u8) -> LedgerEntry {
    let bytes = vec![n; 100 + usize::from(n)];
    LedgerEntry {
        seq: 0,
        at: time::OffsetDateTime::now_utc(),
        direction: if n.is_multiple_of(2) {
            Direction::Send
        } else {
            Direction::Receive
        },
        office: office.to_owned(),
        counterpart: "1310000099".to_owned(),
        counterpart_name: Some("テスト事業所".to_owned()),
        transmission_id: format!("t-{n}"),
        message: String::new(),
        files: vec![LedgerFile {
            name: format!("UPPLAN_202612_1310000099_43_{office}_11_2026120109{n:04}.CSV"),
            size: bytes.len() as u64,
            sha256: careplan_client::sha256_hex(&bytes),
            saved_as: None,
        }],
        receipt: format!("受付 {n}"),
        terminal: "受付PC".to_owned(),
    }
}

#[test]
fn check_the_chain_and_save_the_month_as_pdf_and_csv() {
    let mut a = App::start(0);
    a.login();
    let office = a.h.state().session_office().expect("office").to_string();
    for n in 0..5 {
        a.store
            .append_ledger(&format!("test:{n}"), entry(&office, n))
            .expect("append");
    }

    assert!(
        a.h.query_by_label("改ざんチェック").is_none(),
        "closed at first"
    );
    a.click("送受信記録（台帳）");
    a.click("改ざんチェック");
    a.wait("checked", |h| contains(h, "改ざんなし（全5件"));

    // PDF, the path typed without an extension: `.pdf` is added.
    let out = a.dir.path().join("送受信記録");
    a.set_text("保存先", out.to_str().expect("utf-8"));
    a.click("月次の送受信記録を保存");
    a.wait("pdf saved", |h| contains(h, "保存しました"));
    assert!(contains(&a.h, "（5ファイル）"));
    let pdf = out.with_extension("pdf");
    let bytes = std::fs::read(&pdf).expect("pdf written");
    assert!(bytes.starts_with(b"%PDF-"));
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (Debian poppler-utils) reads the PDF back");
    let text = String::from_utf8(text.stdout).expect("utf-8");
    assert!(text.contains(&office), "{text}");
    assert!(text.contains("テスト事業所"), "{text}");
    assert!(text.contains("改ざんなし"), "{text}");

    // CSV.
    a.click("CSV（表計算用）");
    let csv = a.dir.path().join("report.csv");
    a.set_text("保存先", csv.to_str().expect("utf-8"));
    a.click("月次の送受信記録を保存");
    a.wait("csv saved", |h| contains(h, "report.csv"));
    let text = String::from_utf8(std::fs::read(&csv).expect("csv")).expect("utf-8");
    assert!(
        text.contains("送信 3件（3ファイル）、受信 2件（2ファイル）"),
        "{text}"
    );

    // A wrong month is explained, nothing is written.
    a.set_text("対象年月（YYYYMM）", "2026-12");
    let none = a.dir.path().join("none.csv");
    a.set_text("保存先", none.to_str().expect("utf-8"));
    a.click("月次の送受信記録を保存");
    a.wait("refused", |h| contains(h, "6桁で入力してください"));
    assert!(!none.exists());
}
