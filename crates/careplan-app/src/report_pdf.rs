//! The monthly 送受信記録 report as PDF (issue 16, for the 運営指導): A4 portrait, the
//! bundled Japanese font embedded (subset), page numbers, the office, the chain check, and
//! every send, receipt and repair of the month with date-time, partner, file name, size,
//! SHA-256, 済 time, the relay's receipt and the transmission ID. The same rows as the CSV report
//! ([`careplan_client::ledger::month_report`]); rendered with `krilla`.
//!
//! Layout: a title block on the first page; on every page a running head (month and
//! office), the table head and a footer `n / N ページ`. Each file takes three lines: 記録番号,
//! 日時, 区分, 相手事業所, ファイル名 on the first; サイズ, SHA-256, 済日時 on the second;
//! 中継サーバ受付 / 送受信ID on the third. A cell too wide for its column is drawn smaller (down to 5 pt) and only
//! then cut with `…`; the CSV report keeps every value whole.

use std::sync::Arc;

use careplan_client::LedgerEntry;
use careplan_client::ledger::{MonthReport, ReportInfo, ReportRow, jst, month_report};
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

/// A4 in PDF points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 36.0;
const MARGIN_TOP: f32 = 40.0;
const MARGIN_BOTTOM: f32 = 44.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
/// Size of table text.
const TEXT: f32 = 7.5;
/// Smallest size a cell may shrink to before it is cut.
const MIN_TEXT: f32 = 5.0;
/// Height of one text line of the table.
const LINE: f32 = 10.5;
/// Height of one file row (three lines and a gap).
const ROW: f32 = 3.0 * LINE + 3.0;

/// Columns of the first line: (x from the left margin, width, title).
const COLS1: [(f32, f32, &str); 5] = [
    (0.0, 44.0, "記録番号"),
    (46.0, 80.0, "日時"),
    (130.0, 24.0, "区分"),
    (156.0, 126.0, "相手事業所"),
    (284.0, CONTENT_W - 284.0, "ファイル名"),
];
/// Columns of the second line.
const COLS2: [(f32, f32, &str); 3] = [
    (46.0, 66.0, "サイズ(バイト)"),
    (114.0, 290.0, "SHA-256"),
    (408.0, CONTENT_W - 408.0, "済日時"),
];
/// The third line: the relay's receipt and the transmission ID, the whole width.
const COL3: (f32, f32, &str) = (46.0, CONTENT_W - 46.0, "中継サーバ受付 / 送受信ID");

/// Text measuring with the font's advance widths.
struct Metrics<'a> {
    font: skrifa::FontRef<'a>,
}

impl<'a> Metrics<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, String> {
        let font =
            skrifa::FontRef::new(bytes).map_err(|e| format!("フォントを読めません（{e}）"))?;
        Ok(Self { font })
    }

    /// Width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let charmap = self.font.charmap();
        let metrics = self
            .font
            .glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                let gid = charmap.map(c).unwrap_or_default();
                metrics.advance_width(gid).unwrap_or(size * 0.5)
            })
            .sum()
    }

    /// The size and text that fit `width`: `size` if it fits, else smaller down to
    /// [`MIN_TEXT`], else cut with `…` at [`MIN_TEXT`].
    fn fit(&self, text: &str, size: f32, width: f32) -> (f32, String) {
        let w = self.width(text, size);
        if w <= width {
            return (size, text.to_owned());
        }
        let scaled = size * width / w;
        if scaled >= MIN_TEXT {
            // Rounded down a little so that rounding in the viewer never overflows.
            return ((scaled * 20.0).floor() / 20.0, text.to_owned());
        }
        let mut cut: String = text.to_owned();
        while !cut.is_empty() && self.width(&format!("{cut}…"), MIN_TEXT) > width {
            cut.pop();
        }
        (MIN_TEXT, format!("{cut}…"))
    }

    /// Break `text` into lines no wider than `width` at `size` (by characters: the text is
    /// Japanese or hex, without spaces to break at).
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for c in text.chars() {
            line.push(c);
            if self.width(&line, size) > width && line.chars().count() > 1 {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(c);
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}

/// Everything a page needs to draw text.
struct Pen<'m, 'f> {
    font: Font,
    metrics: &'m Metrics<'f>,
}

impl Pen<'_, '_> {
    fn text(&self, s: &mut Surface<'_>, x: f32, baseline: f32, size: f32, text: &str) {
        if text.is_empty() {
            return;
        }
        s.draw_text(
            Point::from_xy(x, baseline),
            self.font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
    }

    /// `text` fitted into a column.
    fn cell(&self, s: &mut Surface<'_>, col: (f32, f32, &str), baseline: f32, text: &str) {
        let (size, t) = self.metrics.fit(text, TEXT, col.1);
        self.text(s, MARGIN_X + col.0, baseline, size, &t);
    }
}

fn rule(s: &mut Surface<'_>, y: f32, grey: u8, width: f32) {
    let mut pb = PathBuilder::new();
    pb.move_to(MARGIN_X, y);
    pb.line_to(PAGE_W - MARGIN_X, y);
    if let Some(path) = pb.finish() {
        s.set_fill(None);
        s.set_stroke(Some(Stroke {
            paint: rgb::Color::new(grey, grey, grey).into(),
            width,
            ..Default::default()
        }));
        s.draw_path(&path);
        s.set_stroke(None);
    }
}

fn black() -> Fill {
    Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// The title block of the first page, as lines of (size, text).
fn title_block(
    info: &ReportInfo,
    report: &MonthReport,
    metrics: &Metrics<'_>,
) -> Vec<(f32, String)> {
    let mut out = vec![(
        16.0,
        format!("送受信記録　{}年{:02}月", info.year, info.month),
    )];
    let label_w = 64.0;
    let mut pair = |k: &str, v: &str| {
        for (i, l) in metrics
            .wrap(v, 9.0, CONTENT_W - label_w)
            .into_iter()
            .enumerate()
        {
            out.push((9.0, format!("{}\t{l}", if i == 0 { k } else { "" })));
        }
    };
    pair("事業所番号", &info.office);
    pair("作成日時", &jst(info.made_at));
    pair("台帳の検証", &info.chain);
    pair("件数", &report.counts_line());
    out
}

/// The rows that fit on each page.
fn paginate(rows: usize, first_page_extra: f32) -> Vec<std::ops::Range<usize>> {
    let table_top = MARGIN_TOP + 18.0 + ROW;
    let usable = PAGE_H - MARGIN_BOTTOM - table_top;
    let per_page = ((usable / ROW).floor() as usize).max(1);
    let first = (((usable - first_page_extra) / ROW).floor() as usize).max(1);
    let mut pages = Vec::new();
    let mut start = 0;
    let mut cap = first;
    loop {
        let end = (start + cap).min(rows);
        pages.push(start..end);
        if end >= rows {
            break;
        }
        start = end;
        cap = per_page;
    }
    pages
}

fn size_text(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn draw_row(s: &mut Surface<'_>, pen: &Pen<'_, '_>, y: f32, r: &ReportRow) {
    let b1 = y + LINE - 2.5;
    let b2 = b1 + LINE;
    let b3 = b2 + LINE;
    let partner = if r.counterpart_name.is_empty() {
        r.counterpart.clone()
    } else {
        format!("{} {}", r.counterpart, r.counterpart_name)
    };
    let c1 = [
        r.seq.to_string(),
        r.at.clone(),
        r.kind.to_owned(),
        partner,
        r.file.clone(),
    ];
    for (col, t) in COLS1.iter().zip(c1.iter()) {
        pen.cell(s, *col, b1, t);
    }
    let tail = match (r.receipt.is_empty(), r.transmission_id.is_empty()) {
        (false, false) => format!("{} / {}", r.receipt, r.transmission_id),
        (false, true) => r.receipt.clone(),
        (true, false) => r.transmission_id.clone(),
        (true, true) => String::new(),
    };
    let c2 = [size_text(r.size), r.sha256.clone(), r.done_at.clone()];
    for (col, t) in COLS2.iter().zip(c2.iter()) {
        pen.cell(s, *col, b2, t);
    }
    pen.cell(s, COL3, b3, &tail);
}

fn draw_table_head(s: &mut Surface<'_>, pen: &Pen<'_, '_>, y: f32) {
    let b1 = y + LINE - 2.5;
    for col in COLS1 {
        pen.text(s, MARGIN_X + col.0, b1, TEXT, col.2);
    }
    for col in COLS2 {
        pen.text(s, MARGIN_X + col.0, b1 + LINE, TEXT, col.2);
    }
    pen.text(s, MARGIN_X + COL3.0, b1 + 2.0 * LINE, TEXT, COL3.2);
    rule(s, y + ROW - 1.5, 0, 0.8);
}

/// The monthly report of `info.office` as PDF bytes, with the number of file rows and of
/// pages. `font` is the TrueType font to embed (the app's bundled BIZ UDPゴシック).
pub fn month_report_pdf(
    entries: &[LedgerEntry],
    info: &ReportInfo,
    font: &[u8],
) -> Result<(Vec<u8>, usize, usize), String> {
    let report = month_report(entries, info);
    let metrics = Metrics::new(font)?;
    let pdf_font = Font::new(Arc::new(font.to_vec()).into(), 0)
        .ok_or_else(|| "PDF に埋め込むフォントを読めません。".to_owned())?;
    let pen = Pen {
        font: pdf_font,
        metrics: &metrics,
    };
    let title = title_block(info, &report, &metrics);
    let title_h: f32 = title.iter().map(|(size, _)| size * 1.6).sum::<f32>() + 8.0;
    let empty_note_h = if report.rows.is_empty() { 16.0 } else { 0.0 };
    let pages = paginate(report.rows.len(), title_h + empty_note_h);
    let total = pages.len();
    let head = format!(
        "送受信記録 {}年{:02}月　事業所番号 {}",
        info.year, info.month, info.office
    );

    let mut doc = Document::new();
    for (i, range) in pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
            .ok_or_else(|| "ページの大きさが正しくありません。".to_owned())?;
        let mut page = doc.start_page_with(settings);
        let mut s = page.surface();
        s.set_fill(Some(black()));
        // Running head.
        pen.text(&mut s, MARGIN_X, MARGIN_TOP, 8.0, &head);
        rule(&mut s, MARGIN_TOP + 4.0, 120, 0.5);
        let mut y = MARGIN_TOP + 18.0;
        if i == 0 {
            for (size, line) in &title {
                y += size * 1.6;
                match line.split_once('\t') {
                    Some((k, v)) => {
                        pen.text(&mut s, MARGIN_X, y, *size, k);
                        pen.text(&mut s, MARGIN_X + 64.0, y, *size, v);
                    }
                    None => pen.text(&mut s, MARGIN_X, y, *size, line),
                }
            }
            y += 8.0;
            if report.rows.is_empty() {
                y += 12.0;
                pen.text(
                    &mut s,
                    MARGIN_X,
                    y,
                    9.0,
                    "この月の送信・受信・修復の記録はありません。",
                );
                y += 4.0;
            }
        }
        draw_table_head(&mut s, &pen, y);
        y += ROW;
        for r in &report.rows[range.clone()] {
            draw_row(&mut s, &pen, y, r);
            rule(&mut s, y + ROW - 1.5, 200, 0.4);
            y += ROW;
        }
        // Footer.
        let foot = format!("{} / {} ページ", i + 1, total);
        let w = metrics.width(&foot, 8.0);
        pen.text(
            &mut s,
            (PAGE_W - w) / 2.0,
            PAGE_H - MARGIN_BOTTOM + 20.0,
            8.0,
            &foot,
        );
        s.finish();
        page.finish();
    }
    let bytes = doc
        .finish()
        .map_err(|e| format!("PDF を作れません（{e:?}）。"))?;
    Ok((bytes, report.rows.len(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> Vec<LedgerEntry> {
        use careplan_client::store::{Direction, LedgerFile};
        (0..n)
            .map(|i| LedgerEntry {
                seq: i + 1,
                at: time::OffsetDateTime::now_utc(),
                direction: [Direction::Send, Direction::Receive, Direction::Repair][i as usize % 3],
                office: "1310000001".into(),
                counterpart: "1310000002".into(),
                counterpart_name: Some("ケアプランセンターみなと居宅介護支援事業所".into()),
                transmission_id: format!("01JD{i:022}"),
                message: String::new(),
                files: vec![LedgerFile {
                    name: format!(
                        "UPPLAN_202612_1310000001_43_1310000002_11_20261201090000_{i:04}.CSV"
                    ),
                    size: 1_234_567 + i,
                    sha256: careplan_client::sha256_hex(&i.to_be_bytes()),
                    saved_as: None,
                }],
                receipt: format!("2026-12-01T09:00:{:02}+09:00 受付", i % 60),
                terminal: "受付PC".into(),
            })
            .collect()
    }

    #[test]
    fn every_row_is_on_a_numbered_a4_page() {
        let now =
            time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap());
        let info = ReportInfo {
            office: "1310000001".into(),
            year: now.year(),
            month: u8::from(now.month()),
            made_at: now,
            chain: format!(
                "改ざんなし（全70件、最後の記録 記録番号 70 SHA-256 {}）",
                "ab".repeat(32)
            ),
        };
        let (bytes, rows, pages) =
            month_report_pdf(&sample(70), &info, crate::ui::JAPANESE_FONT).expect("pdf");
        assert_eq!(rows, 70);
        let first = paginate(70, 0.0);
        assert!(pages >= 3 && pages >= first.len(), "{pages}");
        assert!(bytes.starts_with(b"%PDF-"));
        // The font is embedded (a subset: far smaller than the 3.7 MB face).
        assert!(bytes.windows(9).any(|w| w == b"FontFile2"));
        assert!(bytes.len() < 1_000_000, "{}", bytes.len());
        if let Some(out) = std::env::var_os("CAREPLAN_PDF_SAMPLE") {
            std::fs::write(out, &bytes).expect("write sample");
        }
        // No rows: one page that says so.
        let (_, rows, pages) = month_report_pdf(&[], &info, crate::ui::JAPANESE_FONT).expect("pdf");
        assert_eq!((rows, pages), (0, 1));
    }

    #[test]
    fn size_has_thousands_separators() {
        assert_eq!(size_text(0), "0");
        assert_eq!(size_text(999), "999");
        assert_eq!(size_text(1000), "1,000");
        assert_eq!(size_text(10_524_100), "10,524,100");
    }

    #[test]
    fn pages_hold_every_row_once() {
        for rows in [0, 1, 29, 30, 31, 100, 1000] {
            let pages = paginate(rows, 120.0);
            let covered: usize = pages.iter().map(|r| r.len()).sum();
            assert_eq!(covered, rows);
            assert!(pages.windows(2).all(|w| w[0].end == w[1].start));
            assert!(!pages.is_empty());
        }
    }

    #[test]
    fn fit_shrinks_then_cuts() {
        let m = Metrics::new(crate::ui::JAPANESE_FONT).expect("font");
        let (size, t) = m.fit("ABC", 7.5, 200.0);
        assert_eq!((size, t.as_str()), (7.5, "ABC"));
        let long = "X".repeat(60);
        let (size, t) = m.fit(&long, 7.5, m.width(&long, 6.0));
        assert!((MIN_TEXT..7.5).contains(&size), "{size}");
        assert_eq!(t, long);
        let (size, t) = m.fit(&long, 7.5, 40.0);
        assert_eq!(size, MIN_TEXT);
        assert!(t.ends_with('…') && t.len() < long.len(), "{t}");
        assert!(m.width(&t, MIN_TEXT) <= 40.0);
    }
}
