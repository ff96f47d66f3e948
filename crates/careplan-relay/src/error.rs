//! Errors of the relay library.

/// Anything that stops the relay from starting or an operator command from working.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Bad or unreadable configuration.
    #[error("{0}")]
    Config(String),
    /// Certificates and keys.
    #[error("証明書: {0}")]
    Pki(String),
    /// The database.
    #[error("データベース: {0}")]
    Db(#[from] sqlx::Error),
    /// Files and sockets.
    #[error("入出力: {0}")]
    Io(#[from] std::io::Error),
    /// TLS setup.
    #[error("TLS: {0}")]
    Tls(String),
    /// An operator command refused (e.g. unknown office).
    #[error("{0}")]
    Refused(String),
}
