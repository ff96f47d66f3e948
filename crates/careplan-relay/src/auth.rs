//! Passwords (argon2id) and tokens.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Security;

fn argon(sec: &Security) -> Argon2<'static> {
    let params = Params::new(
        sec.argon2_memory_kib.max(8),
        sec.argon2_iterations.max(1),
        1,
        None,
    )
    .unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// An argon2id PHC string for `password`.
pub fn hash_password(sec: &Security, password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon(sec)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches the PHC string (parameters are read from the string).
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Bounds the password hashing of the whole process: at most `max_concurrent_hashes`
/// argon2 computations at once (each holds `argon2_memory_kib` of memory and a blocking
/// thread), and at most `max_hash_queue` logins waiting for a slot; past that a login is
/// answered "busy" at once instead of piling up.
#[derive(Debug)]
pub struct HashGate {
    slots: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_queue: usize,
}

/// The hashing queue is full: answer 503 and let the client retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl HashGate {
    /// A gate with the limits of `sec` (0 concurrent = one per CPU core).
    pub fn new(sec: &Security) -> Self {
        let n = if sec.max_concurrent_hashes == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        } else {
            sec.max_concurrent_hashes
        };
        Self {
            slots: tokio::sync::Semaphore::new(n),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_queue: sec.max_hash_queue,
        }
    }

    /// Run `work` on a blocking thread once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        use std::sync::atomic::Ordering;
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = if queued >= self.max_queue + self.slots.available_permits() {
            None
        } else {
            self.slots.acquire().await.ok()
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Some(_permit) = permit else {
            return Err(Busy);
        };
        tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
    }

    /// [`verify_password`] within the bound.
    pub async fn verify(&self, phc: String, password: String) -> Result<bool, Busy> {
        self.run(move || verify_password(&phc, &password)).await
    }

    /// [`hash_password`] within the bound.
    pub async fn hash(&self, sec: Security, password: String) -> Result<String, Busy> {
        self.run(move || hash_password(&sec, &password)).await
    }
}

/// SHA-256 (hex) of a certificate's DER: how the deny-list and sessions name it.
pub fn cert_fingerprint(der: &[u8]) -> String {
    sha256_hex(der)
}

/// A new random bearer token (256 bits, hex).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A new random id (128 bits, hex).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What is stored for a token: its SHA-256 (a stolen database holds no usable token).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// SHA-256 of bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A readable random password that meets the policy (temporary and demo passwords).
pub fn random_password() -> String {
    const LETTERS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    let mut r = rand::rng();
    let mut s = String::new();
    for i in 0..12 {
        let set = if i % 3 == 2 { DIGITS } else { LETTERS };
        s.push(char::from(set[(r.next_u32() as usize) % set.len()]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_policy_passwords() {
        let sec = Security {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Security::default()
        };
        let h = hash_password(&sec, "abc12345");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "abc12345"));
        assert!(!verify_password(&h, "abc12346"));
        assert!(!verify_password("garbage", "abc12345"));
        for _ in 0..20 {
            assert!(careplan_core::check_password(&random_password()).is_ok());
        }
        assert_ne!(new_token(), new_token());
    }
}
