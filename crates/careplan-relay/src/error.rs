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
    /// The database is away for a moment (restart, failover, network): a retry helps.
    /// Requests answer `503 E_UNAVAILABLE`.
    #[error("データベースに接続できません: {0}")]
    Unavailable(String),
}

impl RelayError {
    /// A database connection was not free in time although the database kept answering:
    /// the relay is busy (answered `503 E_OVERLOADED`), see [`crate::db::busy_not_away`].
    pub fn is_overloaded(&self) -> bool {
        matches!(self, Self::Db(e) if crate::db::busy_not_away(e))
    }

    /// True when the store is away for a moment rather than the request being wrong:
    /// [`RelayError::Unavailable`], or a database error of the kinds in
    /// [`crate::db::is_unavailable`].
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Db(e) => crate::db::is_unavailable(e),
            _ => false,
        }
    }
}
