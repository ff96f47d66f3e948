//! Pre-send validation: everything is checked with `careplan-core` before any byte leaves
//! the PC. [`prepare_send`] is pure (no network): it returns a [`SendPlan`] with the
//! warnings the user must confirm, or [`ClientError::Refused`] listing every error.

use std::collections::BTreeMap;
use std::path::Path;

use careplan_core::route::{self, MAX_OFFICES};
use careplan_core::{Finding, OfficeNumber, parse_name};
use serde::Serialize;

use crate::error::{ClientError, FileProblem, OfficeProblem, Refusal};

/// Limits of one send (the relay's defaults; the relay enforces its own configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Maximum size of one file in bytes (10 MiB).
    pub max_file_bytes: u64,
    /// Maximum files per destination per send (100).
    pub max_files_per_destination: usize,
    /// Maximum characters of the メッセージ (200).
    pub max_message_chars: usize,
    /// Maximum destination offices per send (50).
    pub max_offices: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            max_files_per_destination: 100,
            max_message_chars: 200,
            max_offices: MAX_OFFICES,
        }
    }
}

/// 新規作成 (one office) or 一括送信 (routed by name, up to 50 offices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendMode {
    /// 新規作成: every data file goes to one office. `to` is the office the user chose;
    /// when `None` it is derived from the CSV names (all must agree). Attachments ride along.
    Single {
        /// The destination chosen by the user, if any.
        to: Option<OfficeNumber>,
    },
    /// 一括送信: each CSV goes to the office in its name. Files that cannot be routed
    /// (attachments) are not sent and are listed as warnings.
    Bulk,
}

/// A file to send: its name and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    /// File name (no folder).
    pub name: String,
    /// The bytes, as they will be sent.
    pub bytes: Vec<u8>,
}

impl OutgoingFile {
    /// Read a file from disk (the name is the file name of `path`).
    pub fn read(path: &Path) -> Result<Self, ClientError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                ClientError::io(path, std::io::Error::other("ファイル名がありません"))
            })?;
        let bytes = std::fs::read(path).map_err(|e| ClientError::io(path, e))?;
        Ok(Self { name, bytes })
    }
}

/// The files for one destination office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedGroup {
    /// Destination 事業所番号.
    pub to_office: String,
    /// Indexes into [`SendPlan::files`].
    pub files: Vec<usize>,
}

/// A validated send, ready for [`crate::Client::send`].
#[derive(Debug, Clone)]
pub struct SendPlan {
    /// Our office (the sender; equals the certificate's office).
    pub from_office: String,
    /// メッセージ.
    pub message: String,
    /// Every file given (including the ones not sent).
    pub files: Vec<OutgoingFile>,
    /// One group per destination, ordered by office number.
    pub groups: Vec<PlannedGroup>,
    /// Files that are not sent (一括送信: attachments without a destination), with why.
    pub not_sent: Vec<FileProblem>,
    /// Warnings per file and for the whole send, to be confirmed by the user.
    pub warnings: Vec<FileProblem>,
    /// The idempotency key: a retry of this plan is one send at the relay.
    pub key: String,
}

impl SendPlan {
    /// The destination offices, in order.
    pub fn offices(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.to_office.clone()).collect()
    }

    /// True when the user has warnings to confirm.
    pub fn has_warnings(&self) -> bool {
        !self.warnings.is_empty() || !self.not_sent.is_empty()
    }

    /// The warnings as a [`Refusal`] (for [`ClientError::WarningsNotAccepted`]).
    pub fn warnings_refusal(&self) -> Refusal {
        let mut files = self.warnings.clone();
        files.extend(self.not_sent.iter().cloned());
        Refusal {
            code: "E_WARNINGS".into(),
            message: "確認が必要な警告があります。内容を確認してから送信してください。".into(),
            files,
            offices: vec![],
        }
    }
}

fn push(problems: &mut BTreeMap<String, Vec<Finding>>, file: &str, f: Finding) {
    problems.entry(file.to_owned()).or_default().push(f);
}

fn into_problems(m: BTreeMap<String, Vec<Finding>>) -> Vec<FileProblem> {
    m.into_iter()
        .map(|(file, findings)| FileProblem { file, findings })
        .collect()
}

/// Validate files for a send from `our_office`: safe names, name shape, sender office,
/// MS932 content against its layout, one destination (新規作成) or ≤ `max_offices`
/// (一括送信), send-set completeness, sizes, message length. Pure: no network.
pub fn prepare_send(
    our_office: &OfficeNumber,
    files: Vec<OutgoingFile>,
    message: &str,
    mode: &SendMode,
    limits: &Limits,
) -> Result<SendPlan, ClientError> {
    let mut errors: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    let mut warnings: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    let mut general: Vec<Finding> = Vec::new();

    if files.is_empty() {
        general.push(Finding::error(
            "E_NO_FILES",
            "送信するファイルがありません。ファイルを追加してください。",
        ));
    }
    if message.chars().count() > limits.max_message_chars {
        general.push(Finding::error(
            "E_MESSAGE_TOO_LONG",
            format!(
                "メッセージが{}文字あります。{}文字以内にしてください。",
                message.chars().count(),
                limits.max_message_chars
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::with_capacity(files.len());
    for f in &files {
        if !seen.insert(careplan_core::safe_name::clash_key(&f.name)) {
            push(
                &mut errors,
                &f.name,
                Finding::error(
                    "E_DUPLICATE_FILE",
                    "同じ名前のファイルが2つ以上あります。1つにしてください。",
                ),
            );
        }
        // The relay and the receiving client refuse the same names: stop here, before
        // anything leaves the PC.
        if let Err(e) = careplan_core::safe_name::check_transfer_name(
            &f.name,
            &careplan_core::safe_name::AttachmentPolicy::default(),
        ) {
            push(&mut errors, &f.name, e);
        }
        if f.bytes.len() as u64 > limits.max_file_bytes {
            push(
                &mut errors,
                &f.name,
                Finding::error(
                    "E_FILE_TOO_LARGE",
                    format!(
                        "ファイルが大きすぎます（{} バイト）。1ファイル{}MiBまでです。",
                        f.bytes.len(),
                        limits.max_file_bytes / (1024 * 1024)
                    ),
                ),
            );
        }
        let n = parse_name(&f.name);
        for x in &n.findings {
            if x.is_error() {
                push(&mut errors, &f.name, x.clone());
            } else {
                push(&mut warnings, &f.name, x.clone());
            }
        }
        if let Some(kind) = n.kind
            && !n.has_errors()
        {
            let report = careplan_core::csv::validate(kind, Some(&n), &f.bytes);
            for x in report.findings {
                if x.is_error() {
                    push(&mut errors, &f.name, x);
                } else {
                    push(&mut warnings, &f.name, x);
                }
            }
        }
        names.push(n);
    }

    // Sender office and destinations.
    let mut groups: Vec<PlannedGroup> = Vec::new();
    let mut not_sent: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    let mut offices_problems: Vec<OfficeProblem> = Vec::new();
    let index_of = |file: &str| files.iter().position(|f| f.name == file);
    match mode {
        SendMode::Single { to } => {
            let derived = if names.iter().any(|n| n.is_data()) {
                match route::single_destination(our_office, &names) {
                    Ok(o) => Some(o),
                    Err(e) => {
                        general.push(e);
                        None
                    }
                }
            } else {
                None
            };
            let dest = match (to, derived) {
                (Some(t), Some(d)) if *t != d => {
                    general.push(Finding::error(
                        "E_DESTINATION_MISMATCH",
                        format!(
                            "指定した送信先「{t}」と、ファイル名の送信先「{d}」が異なります。送信先を確認してください。"
                        ),
                    ));
                    None
                }
                (Some(t), _) => Some(*t),
                (None, Some(d)) => Some(d),
                (None, None) => {
                    if !files.is_empty() && !general.iter().any(Finding::is_error) {
                        general.push(Finding::error(
                            "E_NO_DESTINATION",
                            "送信先の事業所番号を判定できません。送信先を指定してください。",
                        ));
                    }
                    None
                }
            };
            if let Some(d) = dest {
                if d == *our_office {
                    general.push(Finding::error(
                        "E_TO_OURSELVES",
                        format!(
                            "送信先が自事業所「{d}」になっています。送信先を確認してください。"
                        ),
                    ));
                }
                groups.push(PlannedGroup {
                    to_office: d.as_str().to_owned(),
                    files: (0..files.len()).collect(),
                });
            }
        }
        SendMode::Bulk => {
            let routing = route::route(our_office, &names, limits.max_offices);
            if let Some(e) = &routing.error {
                return Err(ClientError::Refused(Refusal {
                    code: e.code.clone(),
                    message: e.message.clone(),
                    files: vec![],
                    offices: vec![],
                }));
            }
            for u in routing.unrouted {
                if u.code == "ATTACHMENT" {
                    push(
                        &mut not_sent,
                        &u.file,
                        Finding::warning("W_NOT_ROUTED", format!("送信しません: {}", u.reason)),
                    );
                } else if !errors.contains_key(&u.file) || u.code != "NAME_ERROR" {
                    push(
                        &mut errors,
                        &u.file,
                        Finding::error(&format!("E_ROUTE_{}", u.code), u.reason),
                    );
                }
            }
            for g in routing.groups {
                groups.push(PlannedGroup {
                    to_office: g.to_office.as_str().to_owned(),
                    files: g.files.iter().filter_map(|f| index_of(f)).collect(),
                });
            }
            if groups.is_empty() && !files.is_empty() {
                general.push(Finding::error(
                    "E_NO_DESTINATION",
                    "送信先を判定できるCSVファイルがありません。",
                ));
            }
        }
    }
    for g in &groups {
        if g.files.len() > limits.max_files_per_destination {
            offices_problems.push(OfficeProblem {
                office: g.to_office.clone(),
                code: "E_TOO_MANY_FILES".into(),
                message: format!(
                    "{}ファイルあります。1つの送信先に一度に送れるのは{}ファイルまでです。分けて送信してください。",
                    g.files.len(),
                    limits.max_files_per_destination
                ),
            });
        }
    }

    // Send-set completeness (warnings).
    for set in route::send_sets(&names) {
        for f in set.findings {
            let file = set.files.first().cloned().unwrap_or_default();
            if f.is_error() {
                push(&mut errors, &file, f);
            } else {
                push(&mut warnings, &file, f);
            }
        }
    }

    let general_errors: Vec<&Finding> = general.iter().filter(|f| f.is_error()).collect();
    if !errors.is_empty() || !general_errors.is_empty() || !offices_problems.is_empty() {
        let n_files = errors.len();
        let message = match (general_errors.first(), n_files) {
            (Some(g), _) if general_errors.len() == 1 && n_files == 0 => g.message.clone(),
            _ => {
                let mut m = format!(
                    "送信前の確認でエラーが見つかりました（{}ファイル）。修正してからもう一度送信してください。何も送信していません。",
                    n_files
                );
                for g in &general_errors {
                    m.push('\n');
                    m.push_str(&g.message);
                }
                m
            }
        };
        let mut files_p = into_problems(errors);
        // Keep the warnings visible beside the errors.
        for w in into_problems(warnings) {
            if let Some(p) = files_p.iter_mut().find(|p| p.file == w.file) {
                p.findings.extend(w.findings);
            }
        }
        let code = if n_files == 0 && general_errors.len() == 1 && offices_problems.is_empty() {
            general_errors[0].code.clone()
        } else {
            "E_VALIDATION".to_owned()
        };
        return Err(ClientError::Refused(Refusal {
            code,
            message,
            files: files_p,
            offices: offices_problems,
        }));
    }
    let mut warn = into_problems(warnings);
    let general_warnings: Vec<Finding> = general.into_iter().filter(|f| !f.is_error()).collect();
    if !general_warnings.is_empty() {
        warn.push(FileProblem {
            file: String::new(),
            findings: general_warnings,
        });
    }
    Ok(SendPlan {
        from_office: our_office.as_str().to_owned(),
        message: message.to_owned(),
        files,
        groups,
        not_sent: into_problems(not_sent),
        warnings: warn,
        key: crate::new_key(),
    })
}
