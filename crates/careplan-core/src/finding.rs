//! Findings: one problem (error) or remark (warning) about an input, with a stable code,
//! a Japanese message for the user, and where it is (record and field, 1-based).

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input cannot be used as it is: sending is refused.
    Error,
    /// The input can be used, but the user should look and confirm.
    Warning,
}

/// One problem or remark about a file name, a CSV file, an identifier or a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable machine-readable code such as `E_NAME_MONTH` or `W_OFFICE_CHECK_DIGIT`.
    pub code: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what to do, in Japanese.
    pub message: String,
    /// 1-based record (line of data) number inside a CSV file, when it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    /// 1-based field number inside the record, when it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<usize>,
}

impl Finding {
    /// An error finding.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            severity: Severity::Error,
            message: message.into(),
            record: None,
            field: None,
        }
    }

    /// A warning finding.
    pub fn warning(code: &str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Attach a 1-based record number.
    #[must_use]
    pub fn at_record(mut self, record: usize) -> Self {
        self.record = Some(record);
        self
    }

    /// Attach a 1-based field number.
    #[must_use]
    pub fn at_field(mut self, field: usize) -> Self {
        self.field = Some(field);
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.record, self.field) {
            (Some(r), Some(c)) => write!(f, "{}行目 {}項目: {}", r, c, self.message),
            (Some(r), None) => write!(f, "{}行目: {}", r, self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Helpers over lists of findings.
pub trait Findings {
    /// True when any finding is an error.
    fn has_errors(&self) -> bool;
    /// Only the errors.
    fn errors(&self) -> Vec<&Finding>;
    /// Only the warnings.
    fn warnings(&self) -> Vec<&Finding>;
}

impl Findings for [Finding] {
    fn has_errors(&self) -> bool {
        self.iter().any(Finding::is_error)
    }
    fn errors(&self) -> Vec<&Finding> {
        self.iter().filter(|f| f.is_error()).collect()
    }
    fn warnings(&self) -> Vec<&Finding> {
        self.iter().filter(|f| !f.is_error()).collect()
    }
}
