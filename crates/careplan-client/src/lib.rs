//! `careplan-client`: the client library of the ケアプランデータ連携 relay.
//!
//! Everything the desktop app and the headless commands do with the relay and the disk:
//!
//! - [`Client`]: the blocking facade (no async; `Clone + Send + Sync`, call it from worker
//!   threads): two-step login, notices, received/sent lists with an offline cache,
//!   validated sending, durable receiving, drafts with sync, the ledger.
//! - [`cert`]: the office's TLS identity (PEM or PKCS#12) and the certificate information.
//! - [`csr`]: certificates over their life: key + CSR made on this PC, install, status.
//! - [`store`]: the local sled store (settings, cache, drafts, ledger, receive journal).
//! - [`send`]: pre-send validation with `careplan-core` (pure).
//! - [`watch`]: the hands-free engine (watched 送信フォルダ, automatic 受信フォルダ).
//! - [`ClientError`]: typed errors with a Japanese message ([`ClientError::message_ja`]).
//!
//! May depend on `careplan-core` only among our crates; never on the UI or the relay.
//! See `docs/client.md` for the store layout, offline behaviour and receive algorithm.

mod api;
pub mod cert;
mod client;
pub mod csr;
pub mod dns;
mod drafts;
pub mod error;
pub mod fsutil;
pub mod ledger;
pub mod model;
mod receive;
mod relay;
pub mod send;
pub mod store;
pub mod watch;

pub use cert::{CertInfo, Identity, ProfilePaths};
pub use client::{Client, ClientOptions, SendReceipt};
pub use drafts::{DraftInput, DraftSyncReport};
pub use error::{ClientError, FileProblem, OfficeProblem, Refusal};
pub use model::{
    Listing, LoginInfo, Notice, ReceivedFile, ReceivedTransmission, SentDestination, SentFile,
    SentTransmission, WaitAnswer,
};
pub use receive::{ReceiveFailure, ReceiveProgress, ReceiveReport, SavedFile};
pub use send::{Limits, OutgoingFile, SendMode, SendPlan};
pub use store::{Draft, DraftSync, LedgerEntry, Settings, Store};

/// Result type of the library.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A fresh random key (idempotency keys, draft IDs): 32 lower-case hex characters.
pub fn new_key() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The current time (UTC).
pub(crate) fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn the_api_can_be_used_from_worker_threads() {
        send_sync::<crate::Client>();
        send_sync::<crate::Store>();
        send_sync::<crate::Identity>();
        send_sync::<crate::ClientError>();
        send_sync::<crate::SendPlan>();
        send_sync::<crate::ReceiveReport>();
    }

    #[test]
    fn errors_speak_japanese_and_have_codes() {
        let e = crate::ClientError::Unreachable {
            url: "https://relay".into(),
            detail: "connection refused".into(),
        };
        assert!(e.is_offline());
        assert_eq!(e.code(), "E_UNREACHABLE");
        assert!(e.message_ja().contains("接続できません"));
        assert!(
            crate::ClientError::SessionExpired
                .message_ja()
                .contains("ログイン")
        );
    }
}
