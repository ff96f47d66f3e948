//! The pre-send check of a batch of files (新規作成, 一括送信, 下書き).
//!
//! Every file is read with core's name and CSV validation and gets a [`Status`]: OK, 注意
//! (warnings only) or エラー. Then the batch is checked as a whole: the sender office in
//! every name is ours, send-sets are complete, the same user's 第1表 (or 第6表) is not
//! deleted and re-sent in one batch without care, and no file is there twice (same name or
//! same content). Errors block sending; warnings need the user's explicit confirmation.

use std::collections::HashMap;

use crate::csv::{self, Record};
use crate::finding::{Finding, Findings, Severity};
use crate::ids::OfficeNumber;
use crate::kind::FileKind;
use crate::name::{FileName, parse_name};
use crate::route::{SendSet, send_sets};

/// The status of one file or of the whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Nothing found.
    Ok,
    /// Warnings only: may be sent after the user confirms.
    Warning,
    /// At least one error: cannot be sent.
    Error,
}

impl Status {
    /// `OK`, `注意` or `エラー`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "注意",
            Status::Error => "エラー",
        }
    }

    fn of(findings: &[Finding]) -> Self {
        if findings.has_errors() {
            Status::Error
        } else if findings.is_empty() {
            Status::Ok
        } else {
            Status::Warning
        }
    }
}

/// The check of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The file name as given.
    pub name: String,
    /// The parsed name (kind, offices, month, serial).
    pub parsed: FileName,
    /// Size in bytes.
    pub size: usize,
    /// CSVバージョン read from the content (CSV files).
    pub csv_version: Option<String>,
    /// Number of data records (CSV files).
    pub records: usize,
    /// Everything found about this file (name, content, sender office), in that order.
    pub findings: Vec<Finding>,
    /// OK / 注意 / エラー, from the file's own findings and the batch findings naming it.
    pub status: Status,
}

/// A finding about several files together (duplicates, sets, delete and re-send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFinding {
    /// The finding; its record/field, when set, refer to the first file in `files`.
    pub finding: Finding,
    /// Indexes of the files it is about (into [`Precheck::files`]).
    pub files: Vec<usize>,
}

/// One finding with the file it belongs to, for lists and the confirmation dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrecheckItem<'a> {
    /// Index of the file (into [`Precheck::files`]); for batch findings, the first file.
    pub file: Option<usize>,
    /// The name of that file.
    pub file_name: Option<&'a str>,
    /// The finding.
    pub finding: &'a Finding,
    /// True for findings across files.
    pub batch: bool,
    /// How many files the finding is about (1 for a file's own findings).
    pub file_count: usize,
}

/// The result of checking a batch of files before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precheck {
    /// Per file, in the order given.
    pub files: Vec<FileCheck>,
    /// Findings across files.
    pub batch: Vec<BatchFinding>,
    /// The send-sets of the batch (files sharing a serial and destination).
    pub sets: Vec<SendSet>,
}

impl Precheck {
    /// Check `files` (name, bytes) as one batch. `our_office` is the logged-in office; when
    /// it is unknown (no certificate yet, offline draft), the sender is not compared.
    pub fn run<N: AsRef<str>, B: AsRef<[u8]>>(
        our_office: Option<&OfficeNumber>,
        files: &[(N, B)],
    ) -> Self {
        let mut checks: Vec<FileCheck> = files
            .iter()
            .map(|(n, b)| check_file(our_office, n.as_ref(), b.as_ref()))
            .collect();
        let mut batch = Vec::new();
        duplicates(files, &mut batch);
        let names: Vec<FileName> = checks.iter().map(|c| c.parsed.clone()).collect();
        let sets = send_sets(&names);
        for set in &sets {
            let idx: Vec<usize> = set
                .files
                .iter()
                .filter_map(|f| checks.iter().position(|c| &c.name == f))
                .collect();
            // Deletes of earlier sets are checked with the content below (exact keys).
            for f in set
                .findings
                .iter()
                .filter(|f| f.code != "W_SET_DELETE_AFTER")
            {
                batch.push(BatchFinding {
                    finding: f.clone(),
                    files: idx.clone(),
                });
            }
        }
        delete_and_resend(files, &checks, &mut batch);
        for (i, c) in checks.iter_mut().enumerate() {
            let worst = batch
                .iter()
                .filter(|b| b.files.contains(&i))
                .map(|b| {
                    if b.finding.is_error() {
                        Status::Error
                    } else {
                        Status::Warning
                    }
                })
                .max()
                .unwrap_or(Status::Ok);
            c.status = c.status.max(worst);
        }
        Precheck {
            files: checks,
            batch,
            sets,
        }
    }

    /// The status of the whole batch: the worst of all files and batch findings.
    pub fn status(&self) -> Status {
        let files = self.files.iter().map(|f| f.status).max();
        let batch = self
            .batch
            .iter()
            .map(|b| {
                if b.finding.is_error() {
                    Status::Error
                } else {
                    Status::Warning
                }
            })
            .max();
        files.max(batch).unwrap_or(Status::Ok)
    }

    /// True when nothing blocks sending (there may be warnings to confirm).
    pub fn can_send(&self) -> bool {
        !self.files.is_empty() && self.status() != Status::Error
    }

    /// True when there are warnings the user must confirm before sending.
    pub fn needs_confirmation(&self) -> bool {
        self.status() == Status::Warning
    }

    /// Every finding of the given severity, file findings first (in file order), then the
    /// batch findings.
    pub fn items(&self, severity: Severity) -> Vec<PrecheckItem<'_>> {
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            for finding in f.findings.iter().filter(|x| x.severity == severity) {
                out.push(PrecheckItem {
                    file: Some(i),
                    file_name: Some(f.name.as_str()),
                    finding,
                    batch: false,
                    file_count: 1,
                });
            }
        }
        for b in self.batch.iter().filter(|b| b.finding.severity == severity) {
            let file = b.files.first().copied();
            out.push(PrecheckItem {
                file,
                file_name: file
                    .and_then(|i| self.files.get(i))
                    .map(|f| f.name.as_str()),
                finding: &b.finding,
                batch: true,
                file_count: b.files.len(),
            });
        }
        out
    }

    /// Every error.
    pub fn errors(&self) -> Vec<PrecheckItem<'_>> {
        self.items(Severity::Error)
    }

    /// Every warning (what the confirmation lists).
    pub fn warnings(&self) -> Vec<PrecheckItem<'_>> {
        self.items(Severity::Warning)
    }

    /// The batch findings that name file `index`.
    pub fn batch_findings_of(&self, index: usize) -> impl Iterator<Item = &BatchFinding> {
        self.batch.iter().filter(move |b| b.files.contains(&index))
    }
}

fn check_file(our_office: Option<&OfficeNumber>, name: &str, bytes: &[u8]) -> FileCheck {
    let parsed = parse_name(name);
    let mut findings = parsed.findings.clone();
    let mut csv_version = None;
    let mut records = 0;
    if bytes.is_empty() {
        findings.push(Finding::error(
            "E_PRE_EMPTY_FILE",
            "ファイルが空です（0バイト）。出力し直したファイルを追加してください。",
        ));
    }
    match parsed.kind {
        Some(kind)
            if kind.is_image() && !bytes.is_empty() && !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) =>
        {
            findings.push(Finding::error(
                "E_PRE_NOT_JPEG",
                "家族構成 画像（UPKIHON_IMAGE）ですが、JPEG画像ではありません。介護ソフトから画像を出力し直してください。",
            ));
        }
        Some(kind) if kind.is_image() => {}
        Some(kind) if !bytes.is_empty() => {
            let report = csv::validate(kind, Some(&parsed), bytes);
            csv_version = report.csv_version;
            records = report.records.len();
            findings.extend(report.findings);
        }
        _ => {}
    }
    if let (Some(ours), Some(from), Some(_)) = (our_office, parsed.from_office, parsed.kind) {
        if &from != ours {
            findings.push(Finding::error(
                "E_PRE_NOT_OUR_OFFICE",
                format!(
                    "ファイル名の送信元事業所番号「{from}」がログイン中の事業所「{ours}」と異なります。他の事業所のファイルは送れません。自事業所の介護ソフトから出力したファイルか確認してください。"
                ),
            ));
        } else if parsed.to_office.as_ref() == Some(ours) {
            findings.push(Finding::error(
                "E_PRE_TO_OURSELVES",
                format!(
                    "ファイル名の送信先が自事業所「{ours}」になっています。送信先の事業所番号を確認して、介護ソフトから出力し直してください。"
                ),
            ));
        }
    }
    FileCheck {
        status: Status::of(&findings),
        name: name.to_owned(),
        size: bytes.len(),
        parsed,
        csv_version,
        records,
        findings,
    }
}

/// FNV-1a, 64 bits: a cheap fingerprint to find candidate duplicates (confirmed by
/// comparing the bytes).
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn duplicates<N: AsRef<str>, B: AsRef<[u8]>>(files: &[(N, B)], batch: &mut Vec<BatchFinding>) {
    // Same name (file names are compared without regard to case, as on Windows).
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (n, _)) in files.iter().enumerate() {
        by_name
            .entry(n.as_ref().to_uppercase())
            .or_default()
            .push(i);
    }
    let mut same_name: Vec<Vec<usize>> = by_name.into_values().filter(|v| v.len() > 1).collect();
    same_name.sort();
    for idx in same_name {
        let first = idx.first().and_then(|&i| files.get(i));
        let shown = first.map(|(n, _)| n.as_ref()).unwrap_or_default();
        batch.push(BatchFinding {
            finding: Finding::error(
                "E_BATCH_DUPLICATE_NAME",
                format!(
                    "同じ名前のファイル「{shown}」が{}個あります。送信先では1つしか保存されません。重複しているファイルを外してください。",
                    idx.len()
                ),
            ),
            files: idx,
        });
    }
    // Same content under different names.
    let mut by_hash: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    for (i, (_, b)) in files.iter().enumerate() {
        let b = b.as_ref();
        if !b.is_empty() {
            by_hash
                .entry((b.len(), fingerprint(b)))
                .or_default()
                .push(i);
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for candidates in by_hash.into_values().filter(|v| v.len() > 1) {
        // Confirm by bytes; split candidates into groups of truly equal content.
        let mut rest = candidates;
        while let Some(first) = rest.first().copied() {
            let (same, other): (Vec<usize>, Vec<usize>) = rest.iter().partition(|&&j| {
                files.get(j).map(|f| f.1.as_ref()) == files.get(first).map(|f| f.1.as_ref())
            });
            if same.len() > 1 {
                groups.push(same);
            }
            rest = other;
        }
    }
    groups.sort();
    for idx in groups {
        let names: Vec<&str> = idx
            .iter()
            .filter_map(|&i| files.get(i))
            .map(|(n, _)| n.as_ref())
            .collect();
        // Same name AND same content is already an error above.
        let upper: Vec<String> = names.iter().map(|n| n.to_uppercase()).collect();
        if upper.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        batch.push(BatchFinding {
            finding: Finding::warning(
                "W_BATCH_DUPLICATE_CONTENT",
                format!(
                    "内容がまったく同じファイルが{}個あります（{}）。同じデータを二重に送っていないか確認し、不要なファイルを外してください。",
                    idx.len(),
                    names.join("、")
                ),
            ),
            files: idx,
        });
    }
}

/// The keys a delete file and the registration file it deletes share.
struct DeletePair {
    delete: FileKind,
    upload: FileKind,
    /// Field (1-based) holding the plan key in the delete file and in the upload file.
    delete_key: usize,
    upload_key: usize,
    what: &'static str,
    key_label: &'static str,
}

const PAIRS: [DeletePair; 5] = [
    DeletePair {
        delete: FileKind::Dlt1Kyo,
        upload: FileKind::Up1Kyo,
        delete_key: 4,
        upload_key: 14,
        what: "第1表",
        key_label: "居宅サービス計画作成（変更）日",
    },
    DeletePair {
        delete: FileKind::DltPlan,
        upload: FileKind::UpPlan,
        delete_key: 4,
        upload_key: 5,
        what: "第6表（サービス利用票）",
        key_label: "対象年月",
    },
    DeletePair {
        delete: FileKind::DltJsk,
        upload: FileKind::UpJsk,
        delete_key: 4,
        upload_key: 5,
        what: "第6表（実績）",
        key_label: "対象年月",
    },
    DeletePair {
        delete: FileKind::DltKihon,
        upload: FileKind::UpKihon,
        delete_key: 4,
        upload_key: 4,
        what: "利用者基本情報",
        key_label: "相談日",
    },
    DeletePair {
        delete: FileKind::DltYobo,
        upload: FileKind::UpYobo,
        delete_key: 4,
        upload_key: 4,
        what: "介護予防サービス・支援計画書",
        key_label: "計画作成(変更)日",
    },
];

/// Per user of a file: (insurer, insured) → (record number, key value).
fn user_keys(kind: FileKind, name: &FileName, bytes: &[u8], key: usize) -> Vec<UserKey> {
    let report = csv::validate(kind, Some(name), bytes);
    report
        .records
        .iter()
        .map(|r: &Record| UserKey {
            insurer: r.field(2).unwrap_or_default().to_owned(),
            insured: r.field(3).unwrap_or_default().to_owned(),
            key: r.field(key).unwrap_or_default().to_owned(),
            record: r.number,
        })
        .collect()
}

struct UserKey {
    insurer: String,
    insured: String,
    key: String,
    record: usize,
}

fn delete_and_resend<N: AsRef<str>, B: AsRef<[u8]>>(
    files: &[(N, B)],
    checks: &[FileCheck],
    batch: &mut Vec<BatchFinding>,
) {
    for pair in &PAIRS {
        let of_kind = |k: FileKind| -> Vec<usize> {
            checks
                .iter()
                .enumerate()
                .filter(|(_, c)| c.parsed.kind == Some(k))
                .map(|(i, _)| i)
                .collect()
        };
        let deletes = of_kind(pair.delete);
        let uploads = of_kind(pair.upload);
        if deletes.is_empty() || uploads.is_empty() {
            continue;
        }
        let keys = |i: usize, kind: FileKind, key: usize| -> Vec<UserKey> {
            match (checks.get(i), files.get(i)) {
                (Some(c), Some((_, b))) => user_keys(kind, &c.parsed, b.as_ref(), key),
                _ => Vec::new(),
            }
        };
        let up_keys: Vec<(usize, Vec<UserKey>)> = uploads
            .iter()
            .map(|&u| (u, keys(u, pair.upload, pair.upload_key)))
            .collect();
        for &d in &deletes {
            let Some(dc) = checks.get(d) else { continue };
            for dk in keys(d, pair.delete, pair.delete_key) {
                for (u, uks) in &up_keys {
                    let Some(uc) = checks.get(*u) else { continue };
                    if uc.parsed.to_office != dc.parsed.to_office {
                        continue;
                    }
                    let Some(uk) = uks
                        .iter()
                        .find(|k| k.insurer == dk.insurer && k.insured == dk.insured)
                    else {
                        continue;
                    };
                    let delete_later = dc.parsed.serial.as_deref() >= uc.parsed.serial.as_deref();
                    let place = format!(
                        "{}の{}行目と{}の{}行目",
                        dc.name, dk.record, uc.name, uk.record
                    );
                    let finding = if delete_later && dk.key == uk.key {
                        Finding::error(
                            "E_BATCH_DELETE_AFTER_RESEND",
                            format!(
                                "同じ利用者の{what}を削除して送り直しています（{place}、{key}が同じ）。送信先は連番の順に取り込むため、削除ファイルの連番が後（または同じ）だと、送り直した{what}まで削除されます。削除だけ、または送り直しだけにするか、削除ファイルを先の連番で出力し直してください。",
                                what = pair.what,
                                key = pair.key_label,
                            ),
                        )
                    } else {
                        Finding::warning(
                            "W_BATCH_DELETE_AND_RESEND",
                            format!(
                                "同じ利用者の{what}を、この送信で削除（{d}）し、送り直し（{u}）ています（{place}）。送信先は連番の順に取り込みます。意図した操作か確認してください。",
                                what = pair.what,
                                d = pair.delete.prefix(),
                                u = pair.upload.prefix(),
                            ),
                        )
                    }
                    .at_record(dk.record);
                    batch.push(BatchFinding {
                        finding,
                        files: vec![d, *u],
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{self, DemoFile};

    fn offices() -> Vec<demo::DemoOffice> {
        demo::demo_offices(11, 6)
    }

    fn pairs(files: &[DemoFile]) -> Vec<(String, Vec<u8>)> {
        files
            .iter()
            .map(|f| (f.name.clone(), f.bytes.clone()))
            .collect()
    }

    #[test]
    fn a_clean_set_is_ok() {
        let o = offices();
        let users = demo::demo_users(11, 2);
        let set = demo::plan_set(&o[0], &o[1], "202504", "20250325093000", &users);
        let p = Precheck::run(Some(&o[0].number), &pairs(&set));
        assert_eq!(p.status(), Status::Ok, "{:#?}", p.warnings());
        assert!(p.can_send());
        assert!(!p.needs_confirmation());
        assert!(p.files.iter().all(|f| f.status == Status::Ok));
        assert_eq!(p.files[0].csv_version.as_deref(), Some("202407"));
        assert_eq!(p.sets.len(), 1);
        assert_eq!(Status::Warning.label(), "注意");
    }

    #[test]
    fn an_empty_batch_cannot_be_sent() {
        let none: [(&str, &[u8]); 0] = [];
        assert!(!Precheck::run(None, &none).can_send());
    }

    #[test]
    fn incomplete_set_is_a_warning_to_confirm() {
        let o = offices();
        let users = demo::demo_users(11, 2);
        let set = demo::plan_set(&o[0], &o[1], "202504", "20250325093000", &users);
        let p = Precheck::run(Some(&o[0].number), &pairs(&set[..1]));
        assert_eq!(p.status(), Status::Warning);
        assert!(p.can_send());
        assert!(p.needs_confirmation());
        let w = p.warnings();
        assert!(
            w.iter()
                .any(|i| i.batch && i.finding.message.contains("第7表"))
        );
        assert_eq!(p.files[0].status, Status::Warning);
    }

    #[test]
    fn a_file_of_another_office_is_an_error() {
        let o = offices();
        let users = demo::demo_users(11, 2);
        let set = demo::plan_set(&o[0], &o[1], "202504", "20250325093000", &users);
        let p = Precheck::run(Some(&o[2].number), &pairs(&set));
        assert_eq!(p.status(), Status::Error);
        assert!(!p.can_send());
        assert!(
            p.errors()
                .iter()
                .all(|e| e.finding.code == "E_PRE_NOT_OUR_OFFICE")
        );
        assert_eq!(p.errors().len(), 3);
        // Unknown office: not compared.
        assert_eq!(Precheck::run(None, &pairs(&set)).status(), Status::Ok);
    }

    #[test]
    fn damaged_content_is_an_error_with_record_and_field() {
        let o = offices();
        let users = demo::demo_users(11, 2);
        let mut set = demo::plan_set(&o[0], &o[1], "202504", "20250325093000", &users);
        // Empty the 被保険者番号 (field 3) of the first record of 第6表, in the MS932 bytes.
        let bytes = &set[0].bytes;
        let commas: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b',')
            .map(|(i, _)| i)
            .take(3)
            .collect();
        let mut broken = bytes[..=commas[1]].to_vec();
        broken.extend_from_slice(&bytes[commas[2]..]);
        set[0].bytes = broken;
        let p = Precheck::run(Some(&o[0].number), &pairs(&set));
        assert_eq!(p.files[0].status, Status::Error);
        let e = &p.errors()[0];
        assert_eq!(e.file, Some(0));
        assert_eq!(e.finding.record, Some(1));
        assert_eq!(e.finding.field, Some(3));
        assert!(e.finding.message.contains("被保険者番号"));
    }

    #[test]
    fn duplicates_by_name_and_by_content() {
        let o = offices();
        let users = demo::demo_users(11, 2);
        let set = demo::plan_set(&o[0], &o[1], "202504", "20250325093000", &users);
        let mut files = pairs(&set);
        files.push(files[0].clone());
        let p = Precheck::run(Some(&o[0].number), &files);
        let e: Vec<_> = p.errors();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].finding.code, "E_BATCH_DUPLICATE_NAME");
        assert_eq!(p.batch[0].files, vec![0, 3]);
        assert_eq!(p.files[3].status, Status::Error);

        let mut files = pairs(&set);
        files.push(("copy.pdf".to_owned(), files[0].1.clone()));
        let p = Precheck::run(Some(&o[0].number), &files);
        assert!(p.can_send());
        let w = p.warnings();
        assert!(
            w.iter()
                .any(|i| i.finding.code == "W_BATCH_DUPLICATE_CONTENT"
                    && i.finding.message.contains("copy.pdf"))
        );
    }

    #[test]
    fn delete_and_resend_of_the_same_plan() {
        let o = offices();
        let users = demo::demo_users(11, 2);
        let set = demo::careplan_set(&o[0], &o[1], "20250401", "20250401093000", &users);
        let delete = |serial: &str, date: &str| {
            let recs = vec![vec![
                "202407".to_owned(),
                users[0].insurer.clone(),
                users[0].insured.clone(),
                date.to_owned(),
            ]];
            let bytes = csv::write_csv(FileKind::Dlt1Kyo, "202407", &recs).expect("ms932");
            let name = format!(
                "DLT1KYO_{}_43_{}_{}_{serial}.CSV",
                o[0].number,
                o[1].number,
                o[1].service.as_str()
            );
            (name, bytes)
        };
        // Delete first (earlier serial), different plan date: a warning.
        let mut files = pairs(&set);
        files.push(delete("20250401080000", "20240401"));
        let p = Precheck::run(Some(&o[0].number), &files);
        assert!(p.can_send(), "{:#?}", p.errors());
        let w = p.warnings();
        let hit = w
            .iter()
            .find(|i| i.finding.code == "W_BATCH_DELETE_AND_RESEND")
            .expect("called out");
        assert!(hit.finding.message.contains("DLT1KYO"));
        assert_eq!(hit.finding.record, Some(1));

        // Delete after the re-send of the same plan date: the new plan would be deleted.
        let mut files = pairs(&set);
        files.push(delete("20250401100000", "20250401"));
        let p = Precheck::run(Some(&o[0].number), &files);
        assert!(!p.can_send());
        assert!(
            p.errors()
                .iter()
                .any(|i| i.finding.code == "E_BATCH_DELETE_AFTER_RESEND")
        );
    }

    #[test]
    fn attachments_and_images() {
        let o = offices();
        let p = Precheck::run(
            Some(&o[0].number),
            &[
                ("会議録.pdf", demo::tiny_pdf("x")),
                ("empty.pdf", Vec::new()),
            ],
        );
        assert_eq!(p.files[0].status, Status::Ok);
        assert_eq!(p.files[1].status, Status::Error);
        let img = format!(
            "UPKIHON_IMAGE_{}_46_{}_{}_20250401093000_0001.JPG",
            o[0].number,
            o[1].number,
            o[1].service.as_str()
        );
        let p = Precheck::run(Some(&o[0].number), &[(img, b"not a jpeg".to_vec())]);
        assert!(
            p.errors()
                .iter()
                .any(|e| e.finding.code == "E_PRE_NOT_JPEG")
        );
    }
}
