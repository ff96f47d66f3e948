//! Typed errors of the client library. Every error has a stable [`ClientError::code`] and a
//! Japanese message for the user ([`ClientError::message_ja`], also its `Display`).
//!
//! Messages never contain passwords, 被保険者番号 or 利用者氏名: file names and office numbers
//! are the most personal data they carry.

use std::path::PathBuf;

use careplan_core::Finding;
use serde::Serialize;

/// A problem with one file of a send, found locally or reported by the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileProblem {
    /// The file name.
    pub file: String,
    /// What is wrong (errors and warnings), in Japanese.
    pub findings: Vec<Finding>,
}

/// A problem with one destination office of a send, reported by the relay or found locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfficeProblem {
    /// The destination 事業所番号.
    pub office: String,
    /// Stable code (from the relay when it refused).
    pub code: String,
    /// Why, in Japanese.
    pub message: String,
}

/// Why a send was refused: the overall reason plus the files and offices concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Stable code of the refusal (`E_VALIDATION`, `E_TOO_MANY_OFFICES`, or the relay's code).
    pub code: String,
    /// The overall reason, in Japanese.
    pub message: String,
    /// Per-file problems.
    pub files: Vec<FileProblem>,
    /// Per-office problems.
    pub offices: Vec<OfficeProblem>,
}

impl Refusal {
    /// The message followed by one line per file and office problem (errors first).
    pub fn detailed_message(&self) -> String {
        let mut s = self.message.clone();
        for o in &self.offices {
            s.push_str(&format!("\n・{}: {}", o.office, o.message));
        }
        for f in &self.files {
            for x in &f.findings {
                let mark = if x.is_error() { "エラー" } else { "警告" };
                s.push_str(&format!("\n・{} [{mark}] {x}", f.file));
            }
        }
        s
    }
}

/// Every error of the client library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay cannot be reached (no network, relay down, DNS failure, timeout).
    #[error(
        "中継サーバ（{url}）に接続できません。ネットワークの接続を確認してください。オフラインでも一覧の表示（前回取得分）、下書き、送受信記録は使えます。（{detail}）"
    )]
    Unreachable {
        /// The relay URL.
        url: String,
        /// Technical detail (no secrets).
        detail: String,
    },
    /// The relay refused our client certificate during the TLS handshake.
    #[error(
        "中継サーバがこの端末のクライアント証明書を受け付けませんでした。証明書の有効期限と、正しい事業所の証明書が設定されているか確認してください。（{detail}）"
    )]
    CertificateRejected {
        /// Technical detail.
        detail: String,
    },
    /// The relay's server certificate is not issued by the configured CA (or has expired).
    #[error(
        "中継サーバの証明書を確認できませんでした。接続先のURLとCA証明書の設定を確認してください。（{detail}）"
    )]
    ServerNotTrusted {
        /// Technical detail.
        detail: String,
    },
    /// The local certificate, key or CA file cannot be used.
    #[error("証明書を読み込めません: {message}")]
    Certificate {
        /// What is wrong, in Japanese.
        message: String,
    },
    /// Wrong ID or password (either login step).
    #[error("{message}")]
    LoginFailed {
        /// Which step failed: `personal` or `office`.
        step: &'static str,
        /// The relay's Japanese message (never contains the password).
        message: String,
    },
    /// The account is locked after repeated failures.
    #[error("{message}")]
    AccountLocked {
        /// The relay's Japanese message (says until when).
        message: String,
    },
    /// The password is temporary or expired: it must be changed before going on.
    #[error("パスワードの有効期限が切れているか、仮パスワードです。パスワードを変更してください。")]
    PasswordChangeRequired,
    /// The office user's office differs from the certificate's office.
    #[error(
        "事業所ユーザ（{user_office}）は、この端末の証明書の事業所（{cert_office}）のものではありません。証明書と事業所ユーザIDの組み合わせを確認してください。"
    )]
    OfficeMismatch {
        /// 事業所番号 in the certificate.
        cert_office: String,
        /// The office user ID (or its 事業所番号) that does not belong to it.
        user_office: String,
    },
    /// Not logged in, or the session has expired: log in again.
    #[error("ログインの有効期限が切れました。もう一度ログインしてください。")]
    SessionExpired,
    /// A send was refused, locally before anything left the PC or by the relay.
    #[error("{}", .0.detailed_message())]
    Refused(Refusal),
    /// The send has warnings the user has not accepted yet.
    #[error("{}", .0.detailed_message())]
    WarningsNotAccepted(Refusal),
    /// A file received from the relay does not match its SHA-256: it was not saved.
    #[error(
        "受信したファイル「{file}」が壊れています（SHA-256が一致しません）。保存していません。もう一度受信してください。"
    )]
    Integrity {
        /// The file name.
        file: String,
    },
    /// A file name from the network is not safe to write.
    #[error("{}", .0.message)]
    UnsafeFileName(Finding),
    /// The requested item does not exist (file ID, draft ID …).
    #[error("{what}が見つかりません。一覧を更新してください。")]
    NotFound {
        /// What was looked for, in Japanese (e.g. `ファイル（ID: …）`).
        what: String,
    },
    /// The relay answered with an error that has no dedicated variant.
    #[error("中継サーバでエラーが発生しました: {message}（{code}）")]
    Relay {
        /// HTTP status.
        status: u16,
        /// The relay's stable code.
        code: String,
        /// The relay's Japanese message.
        message: String,
    },
    /// The relay answered something this client does not understand.
    #[error(
        "中継サーバの応答を読み取れませんでした。クライアントのバージョンを確認してください。（{0}）"
    )]
    Protocol(String),
    /// The relay speaks another version of the protocol (`docs/protocol.md` § Versions):
    /// one of the two must be updated before they can work together.
    #[error("{message}")]
    Incompatible {
        /// The relay's protocol version (`None`: a relay made before versions).
        relay: Option<u32>,
        /// What is wrong and what to do, in Japanese.
        message: String,
    },
    /// Reading or writing a local file failed.
    #[error("ファイル「{}」を読み書きできません: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The local store cannot be opened or written.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

impl ClientError {
    /// The Japanese message for the user (same as `Display`).
    pub fn message_ja(&self) -> String {
        self.to_string()
    }

    /// A stable machine-readable code, e.g. for `{"error": {"code", "message"}}`.
    pub fn code(&self) -> String {
        match self {
            ClientError::Unreachable { .. } => "E_UNREACHABLE".into(),
            ClientError::CertificateRejected { .. } => "E_CERT_REJECTED".into(),
            ClientError::ServerNotTrusted { .. } => "E_SERVER_NOT_TRUSTED".into(),
            ClientError::Certificate { .. } => "E_CERTIFICATE".into(),
            ClientError::LoginFailed { .. } => "E_LOGIN".into(),
            ClientError::AccountLocked { .. } => "E_LOCKED".into(),
            ClientError::PasswordChangeRequired => "E_PASSWORD_CHANGE_REQUIRED".into(),
            ClientError::OfficeMismatch { .. } => "E_OFFICE_MISMATCH".into(),
            ClientError::SessionExpired => "E_SESSION".into(),
            ClientError::Refused(r) => r.code.clone(),
            ClientError::WarningsNotAccepted(_) => "E_WARNINGS".into(),
            ClientError::Integrity { .. } => "E_INTEGRITY".into(),
            ClientError::UnsafeFileName(f) => f.code.clone(),
            ClientError::NotFound { .. } => "E_NOT_FOUND".into(),
            ClientError::Relay { code, .. } => code.clone(),
            ClientError::Protocol(_) | ClientError::Incompatible { .. } => "E_PROTOCOL".into(),
            ClientError::Io { .. } => "E_IO".into(),
            ClientError::Store(_) => "E_STORE".into(),
        }
    }

    /// True when the relay could not be reached (the caller may fall back to the cache).
    pub fn is_offline(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// The relay speaks protocol `relay` (`None`: it did not say, so it predates versions);
    /// `message` is the relay's own explanation when it refused us (426).
    pub(crate) fn incompatible(relay: Option<u32>, message: Option<String>) -> Self {
        use careplan_core::wire::PROTOCOL_VERSION as OURS;
        let message = match (message, relay) {
            (Some(m), _) if !m.trim().is_empty() => m,
            (_, Some(v)) if v > OURS => format!(
                "このアプリの版が古いため、中継サーバに接続できません（アプリの通信方式: 第{OURS}版、中継サーバ: 第{v}版）。アプリを最新の版に更新してください。"
            ),
            (_, Some(v)) => format!(
                "中継サーバの版がこのアプリより古いため接続できません（アプリの通信方式: 第{OURS}版、中継サーバ: 第{v}版）。中継サーバの運営者に更新を依頼してください。"
            ),
            (_, None) => format!(
                "中継サーバの版がこのアプリより古いため接続できません（アプリの通信方式: 第{OURS}版、中継サーバ: 版の表示なし）。中継サーバの運営者に更新を依頼してください。"
            ),
        };
        ClientError::Incompatible { relay, message }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }
}
