//! The blob store: the bytes of sent files and drafts, outside the database, behind one
//! interface (`object_store`): a local folder for the embedded default (under the data
//! directory, owner-only, every write fsynced with its folder) or an S3 bucket for
//! deployments. Keys are content addresses: `blobs/<2 hex>/<sha256>`.
//!
//! Rules (`docs/relay.md`, "Blobs"):
//! - A `blobs` row is written *before* its object (when an upload session is opened), so
//!   every object the relay ever wrote has a row; the row's `touched_at` is renewed by every
//!   upload session and every send or draft that uses it.
//! - The object is complete and durable before a send or draft row naming it commits; the
//!   send's transaction touches the `blobs` row and fails if it is gone, so a sweep and a
//!   send cannot both win.
//! - Housekeeping deletes expired upload sessions (their staged parts first), then blob
//!   rows that no file, draft file or upload session names and that were not touched within
//!   the grace period, and only then their objects. Retention therefore removes rows first
//!   and blobs after.
//!
//! Uploads are staged as parts `staging/<upload id>/<offset>-<random>`: each `PUT` streams
//! its body into one part (a multipart write, so memory per upload is one chunk), keeping
//! what arrived when the connection breaks, so the client continues from the relay's offset.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::RelayError;
use crate::db::Db;

/// How many bytes of a file's beginning are kept to read its CSVバージョン.
pub const HEAD_BYTES: usize = 256 * 1024;

/// Where the blobs live (`[blobs]` in `relay.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobConfig {
    /// `local` (default: a folder) or `s3`.
    pub store: BlobBackend,
    /// The folder of the local store (default `<data_dir>/blobs`).
    pub path: Option<PathBuf>,
    /// The bucket of the S3 store.
    pub s3: Option<S3Config>,
    /// Seconds an upload session lives (86 400 = 24 h).
    pub upload_ttl_secs: i64,
    /// Seconds a blob that nothing names is kept before it is swept (172 800 = 48 h; at
    /// least `upload_ttl_secs`, so that a live upload session always has its blob).
    pub orphan_grace_secs: i64,
    /// Unexpired upload sessions an office may hold (5 000: one send of 50 destinations ×
    /// 100 files).
    pub max_open_uploads: i64,
    /// Whether the local store keeps small blobs in packs (a few large files, one flush per
    /// group of writes) rather than a file each. Default: on when the relay runs on SQLite
    /// (one process owns the folder), off on PostgreSQL (several relay processes may share
    /// one folder; packs belong to one process). See `docs/relay.md`, "Packs".
    pub packs: Option<bool>,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            store: BlobBackend::Local,
            path: None,
            s3: None,
            upload_ttl_secs: 86_400,
            orphan_grace_secs: 2 * 86_400,
            max_open_uploads: 5_000,
            packs: None,
        }
    }
}

/// The kind of blob store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A local folder.
    Local,
    /// An S3 bucket (AWS or any S3-compatible server).
    S3,
}

/// An S3 bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Region (default `us-east-1`, or `AWS_REGION`).
    pub region: Option<String>,
    /// Endpoint URL of an S3-compatible server (default: AWS, or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Key prefix inside the bucket (e.g. `relay/`).
    pub prefix: Option<String>,
    /// Allow `http://` endpoints (only for a server on the same host).
    pub allow_http: bool,
    /// Path-style (false, default) or virtual-hosted-style requests.
    pub virtual_hosted_style: bool,
    /// A TOML file with `access_key_id`, `secret_access_key` (and optionally
    /// `session_token`); without it the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN` environment variables (or the instance's role) are used.
    pub credentials_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Credentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// The statement reading `n` upload sessions of an office by id ([`Db::uploads_of`]).
/// `office || ''` and `created_at + 0` keep SQLite (which has no statistics of its own)
/// from answering through the `uploads_office` index: that range holds every upload the
/// office opened in the last 24 hours, so each send read up to 5 000 entries to find its
/// three; by primary key it reads three. PostgreSQL plans it by key either way.
pub(crate) fn uploads_of_sql(n: usize) -> String {
    format!(
        "SELECT {UPLOAD_COLS} FROM uploads WHERE id IN ({}) AND office || '' = $1 AND created_at + 0 >= $2",
        crate::db::placeholders(3, n)
    )
}

/// The blob store.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: Option<Path>,
    /// Bytes buffered per multipart part (S3 needs ≥ 5 MiB but for the last part).
    chunk: usize,
    /// The configuration.
    pub cfg: BlobConfig,
    /// Small blobs of the local store (see [`crate::pack`]).
    packs: Option<Arc<crate::pack::Packs>>,
}

fn cfg_err(e: impl std::fmt::Display) -> RelayError {
    RelayError::Config(format!("ファイル保存先（[blobs]）を開けません: {e}"))
}

fn store_err(e: object_store::Error) -> RelayError {
    RelayError::Io(std::io::Error::other(format!("blob store: {e}")))
}

/// Whether `s` is a SHA-256 in lower-case hex.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The outcome of streaming one part of an upload.
#[derive(Debug)]
pub struct PartWritten {
    /// Bytes stored in the part.
    pub bytes: u64,
    /// True when the body ended before its declared length (the connection broke).
    pub broken: bool,
    /// SHA-256 of the part (hex).
    pub sha256: String,
    /// The first [`HEAD_BYTES`] of the part.
    pub head: Vec<u8>,
}

impl Blobs {
    /// Open the store of `cfg` (`data_dir` holds the default local folder).
    pub fn open(cfg: &BlobConfig, data_dir: &FsPath) -> Result<Self, RelayError> {
        match cfg.store {
            BlobBackend::Local => {
                let path = cfg.path.clone().unwrap_or_else(|| data_dir.join("blobs"));
                crate::secret_file::create_private_dir(&path).map_err(|e| {
                    cfg_err(format!("フォルダ {} を作れません（{e}）", path.display()))
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&path)
                    .map_err(cfg_err)?
                    .with_fsync(true);
                // Another process holding the packs keeps its own kind of error (the
                // `purge` command tells it apart: the running relay sweeps itself).
                let packs = if cfg.packs.unwrap_or(true) {
                    let p = crate::pack::Packs::open(&path.join("packs")).map_err(|e| {
                        match e.kind() {
                            std::io::ErrorKind::WouldBlock => RelayError::Io(e),
                            _ => cfg_err(e),
                        }
                    })?;
                    Some(p)
                } else {
                    None
                };
                Ok(Self {
                    store: Arc::new(store),
                    prefix: None,
                    chunk: 256 * 1024,
                    cfg: cfg.clone(),
                    packs,
                })
            }
            BlobBackend::S3 => {
                let s3 = cfg.s3.as_ref().ok_or_else(|| {
                    cfg_err("store = \"s3\" には [blobs.s3] の bucket が必要です")
                })?;
                if s3.bucket.is_empty() {
                    return Err(cfg_err("[blobs.s3] の bucket が空です"));
                }
                // reqwest (inside object_store) takes rustls' process default: ring, as
                // everywhere else in the relay.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_allow_http(s3.allow_http)
                    .with_virtual_hosted_style_request(s3.virtual_hosted_style);
                if let Some(r) = &s3.region {
                    b = b.with_region(r);
                }
                if let Some(e) = &s3.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(p) = &s3.credentials_file {
                    let text = std::fs::read_to_string(p).map_err(|e| {
                        cfg_err(format!(
                            "認証情報ファイル {} を読めません（{e}）",
                            p.display()
                        ))
                    })?;
                    let c: S3Credentials = toml::from_str(&text).map_err(|e| {
                        cfg_err(format!(
                            "認証情報ファイル {} の形式が違います（{e}）",
                            p.display()
                        ))
                    })?;
                    b = b
                        .with_access_key_id(c.access_key_id)
                        .with_secret_access_key(c.secret_access_key);
                    if let Some(t) = c.session_token {
                        b = b.with_token(t);
                    }
                }
                let store = b.build().map_err(cfg_err)?;
                let prefix = s3
                    .prefix
                    .as_deref()
                    .map(str::trim)
                    .filter(|p| !p.trim_matches('/').is_empty())
                    .map(|p| Path::from(p.trim_matches('/')));
                Ok(Self {
                    store: Arc::new(store),
                    prefix,
                    chunk: 5 * 1024 * 1024,
                    cfg: cfg.clone(),
                    packs: None,
                })
            }
        }
    }

    fn key(&self, rel: &str) -> Path {
        match &self.prefix {
            Some(p) => Path::from(format!("{p}/{rel}")),
            None => Path::from(rel),
        }
    }

    /// The key of a blob.
    pub fn blob_key(&self, sha256: &str) -> Path {
        self.key(&format!(
            "blobs/{}/{sha256}",
            &sha256[..2.min(sha256.len())]
        ))
    }

    /// The key of a new staged part of `upload` at `offset`.
    pub fn part_key(&self, upload: &str, offset: u64) -> Path {
        self.key(&format!(
            "staging/{upload}/{offset:016}-{}",
            crate::auth::new_id()
        ))
    }

    fn staging_prefix(&self, upload: &str) -> Path {
        self.key(&format!("staging/{upload}"))
    }

    /// Whether a stored key string is one of `upload`'s parts.
    pub fn is_part_of(&self, upload: &str, key: &str) -> bool {
        key.starts_with(self.staging_prefix(upload).as_ref())
    }

    /// Stream `body` (at most `limit` bytes are taken) into a new object `key`. Bytes that
    /// arrived before the body broke are kept (the part is completed with them); a store
    /// failure aborts the part and is an error.
    pub async fn write_part<S, E>(
        &self,
        key: &Path,
        mut body: S,
        limit: u64,
    ) -> Result<PartWritten, RelayError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let upload = self.store.put_multipart(key).await.map_err(store_err)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, self.chunk);
        let mut h = Sha256::new();
        let mut head = Vec::new();
        let mut n: u64 = 0;
        let mut broken = false;
        while n < limit {
            match body.next().await {
                Some(Ok(mut b)) => {
                    let room = limit - n;
                    if b.len() as u64 > room {
                        b.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                    }
                    h.update(&b);
                    if head.len() < HEAD_BYTES {
                        let k = (HEAD_BYTES - head.len()).min(b.len());
                        head.extend_from_slice(&b[..k]);
                    }
                    n += b.len() as u64;
                    // Back-pressure: at most two parts in flight per upload.
                    if let Err(e) = w.wait_for_capacity(2).await {
                        let _ = w.abort().await;
                        return Err(store_err(e));
                    }
                    w.put(b);
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, bytes = n, "upload body broke");
                    broken = true;
                    break;
                }
                None => {
                    broken = n < limit;
                    break;
                }
            }
        }
        if n == 0 {
            let _ = w.abort().await;
        } else {
            w.finish().await.map_err(store_err)?;
        }
        Ok(PartWritten {
            bytes: n,
            broken,
            sha256: hex::encode(h.finalize()),
            head,
        })
    }

    /// Publish a one-part upload whose bytes were hashed while they streamed.
    pub async fn publish_part(&self, part: &str, sha256: &str) -> Result<(), RelayError> {
        self.store
            .rename(&Path::from(part), &self.blob_key(sha256))
            .await
            .map_err(store_err)
    }

    /// Read the parts in order through SHA-256 into the blob `sha256`; the blob is
    /// published only when the hash and the length match. Returns the file's first
    /// [`HEAD_BYTES`], or `None` when the bytes do not match (nothing is published).
    pub async fn compose(
        &self,
        parts: &[String],
        sha256: &str,
        size: u64,
    ) -> Result<Option<Vec<u8>>, RelayError> {
        let upload = self
            .store
            .put_multipart(&self.blob_key(sha256))
            .await
            .map_err(store_err)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, self.chunk);
        let mut h = Sha256::new();
        let mut head = Vec::new();
        let mut n: u64 = 0;
        let res: Result<(), object_store::Error> = async {
            for p in parts {
                let mut s = match self.store.get(&Path::from(p.as_str())).await {
                    Ok(r) => r.into_stream(),
                    // A part gone (a crash after an earlier publish): start again.
                    Err(object_store::Error::NotFound { .. }) => {
                        n = u64::MAX;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                while let Some(b) = s.next().await {
                    let b = b?;
                    h.update(&b);
                    if head.len() < HEAD_BYTES {
                        let k = (HEAD_BYTES - head.len()).min(b.len());
                        head.extend_from_slice(&b[..k]);
                    }
                    n += b.len() as u64;
                    w.wait_for_capacity(2).await?;
                    w.put(b);
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            let _ = w.abort().await;
            return Err(store_err(e));
        }
        if n != size || hex::encode(h.finalize()) != sha256 {
            let _ = w.abort().await;
            return Ok(None);
        }
        w.finish().await.map_err(store_err)?;
        Ok(Some(head))
    }

    /// Store `bytes` (already in memory: legacy rows, the demo) as the blob `sha256`.
    pub async fn put_bytes(&self, sha256: &str, bytes: impl Into<Bytes>) -> Result<(), RelayError> {
        let bytes = bytes.into();
        if let Some(p) = self.packs_for(&bytes) {
            return Ok(p.put(sha256, bytes).await?);
        }
        self.store
            .put(&self.blob_key(sha256), PutPayload::from(bytes))
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// The packs that take `bytes`: the local store's, for a blob of at most
    /// [`crate::pack::PACK_BLOB_MAX`] (larger ones stay files of their own).
    fn packs_for(&self, bytes: &[u8]) -> Option<&Arc<crate::pack::Packs>> {
        self.packs
            .as_ref()
            .filter(|_| bytes.len() as u64 <= crate::pack::PACK_BLOB_MAX)
    }

    /// Store several blobs (each `(sha256, bytes)`, checked by the caller), all durable on
    /// return: in packs with one flush for them all, otherwise one after another.
    pub async fn put_all(&self, blobs: Vec<(String, Bytes)>) -> Result<(), RelayError> {
        let (packed, single): (Vec<_>, Vec<_>) = blobs
            .into_iter()
            .partition(|(_, b)| self.packs_for(b).is_some());
        if let Some(p) = &self.packs
            && !packed.is_empty()
        {
            p.put_all(packed).await?;
        }
        for (sha, bytes) in single {
            self.put_bytes(&sha, bytes).await?;
        }
        Ok(())
    }

    /// A stream of the blob's bytes in `range` (all of it when `None`).
    pub async fn read(
        &self,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, std::io::Error>>, RelayError> {
        if let Some(p) = &self.packs
            && let Some(s) = p.read(sha256, range.clone())?
        {
            return Ok(s);
        }
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let r = self
            .store
            .get_opts(&self.blob_key(sha256), opts)
            .await
            .map_err(store_err)?;
        Ok(r.into_stream()
            .map(|b| b.map_err(std::io::Error::other))
            .boxed())
    }

    /// The size of a stored blob, or `None` when it is not there.
    pub async fn size(&self, sha256: &str) -> Result<Option<u64>, RelayError> {
        if let Some(n) = self.packs.as_ref().and_then(|p| p.size(sha256)) {
            return Ok(Some(n));
        }
        match self.store.head(&self.blob_key(sha256)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Delete a blob (gone already is fine).
    pub async fn delete_blob(&self, sha256: &str) -> Result<(), RelayError> {
        if let Some(p) = &self.packs {
            p.delete(sha256).await?;
        }
        // A file of the same blob may exist as well (an older one, or a large upload).
        self.delete_key(&self.blob_key(sha256)).await
    }

    /// Give back the space of deleted small blobs (packs more than half dead are
    /// rewritten). Nothing to do without packs.
    pub async fn compact(&self) -> Result<crate::pack::Compacted, RelayError> {
        match &self.packs {
            Some(p) => Ok(p.compact().await?),
            None => Ok(crate::pack::Compacted::default()),
        }
    }

    /// The packs of the local store, when it keeps them.
    pub fn packs(&self) -> Option<&Arc<crate::pack::Packs>> {
        self.packs.as_ref()
    }

    /// Delete one object (gone already is fine).
    pub async fn delete_key(&self, key: &Path) -> Result<(), RelayError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Delete every staged part of `upload`.
    pub async fn delete_staging(&self, upload: &str) -> Result<(), RelayError> {
        let prefix = self.staging_prefix(upload);
        let keys: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map(|m| m.map(|m| m.location))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(store_err)?;
        for k in keys {
            self.delete_key(&k).await?;
        }
        Ok(())
    }
}

/// An upload session.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Id.
    pub id: String,
    /// The office that opened it.
    pub office: String,
    /// Declared size.
    pub size: u64,
    /// Declared SHA-256 (lower-case hex).
    pub sha256: String,
    /// Bytes stored so far.
    pub received: u64,
    /// The staged parts, in order.
    pub parts: Vec<String>,
    /// True when the blob is stored and verified.
    pub complete: bool,
    /// CSVバージョン read from the file's beginning (when complete).
    pub csv_version: Option<String>,
    /// Opened (Unix seconds).
    pub created_at: i64,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn upload_row(r: &sqlx::any::AnyRow) -> Result<Upload, sqlx::Error> {
    let parts: String = r.try_get(5)?;
    Ok(Upload {
        id: r.try_get(0)?,
        office: r.try_get(1)?,
        size: u(r.try_get(2)?),
        sha256: r.try_get(3)?,
        received: u(r.try_get(4)?),
        parts: parts.split_whitespace().map(str::to_owned).collect(),
        complete: r.try_get::<i64, _>(6)? != 0,
        csv_version: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

const UPLOAD_COLS: &str =
    "id, office, size, sha256, received, parts, complete, csv_version, created_at";

/// Upsert a blob row (written before its object) with `touched_at = now`.
pub(crate) async fn touch_blob<E: crate::exec::Exec>(
    e: &mut E,
    sha256: &str,
    size: u64,
    now: i64,
) -> Result<(), sqlx::Error> {
    use crate::exec::Arg;
    e.execute(
        "INSERT INTO blobs (sha256, size, touched_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at",
        &[Arg::Text(sha256), Arg::Int(i(size)), Arg::Int(now)],
    )
    .await?;
    Ok(())
}

/// Renew an existing blob row inside a send's or draft's transaction; false when the row
/// is gone (swept), so that the send fails instead of naming a missing blob.
pub(crate) async fn keep_blob(
    conn: &mut sqlx::AnyConnection,
    sha256: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE blobs SET touched_at = $1 WHERE sha256 = $2")
            .bind(now)
            .bind(sha256)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// The outcome of opening an upload session.
#[derive(Debug)]
pub enum Opened {
    /// The new session.
    Upload(Upload),
    /// The office holds too many unexpired sessions.
    Quota,
}

impl Db {
    /// Open an upload session (its blob row first: see the module's rules). With
    /// `o.complete` set it is complete at once: a whole file whose bytes arrived and matched
    /// its SHA-256. The caller then stores the blob and gives the session's id to the
    /// client only once the blob is stored: until then no request can name the session (its
    /// id is random and listed nowhere), and a session whose blob never came is swept when
    /// it expires. One commit instead of two (an open, then a completion after the blob).
    pub(crate) async fn open_upload(
        &self,
        o: crate::group::OpenUpload,
    ) -> Result<Opened, RelayError> {
        // The quota is read, then written, in the group commit (`group`): on SQLite the
        // batch holds the writer lock, on PostgreSQL the office's advisory lock.
        match self.write(crate::group::Write::OpenUpload(o)).await? {
            crate::group::Done::Opened(o) => Ok(o),
            _ => Err(crate::group::unexpected()),
        }
    }

    /// A whole upload arrived in one part and its blob is stored (durably): mark it
    /// complete, in the group commit, if it still stands at offset 0 (false: another
    /// request moved it first).
    pub async fn complete_whole_upload(
        &self,
        id: &str,
        size: u64,
        csv_version: Option<String>,
    ) -> Result<bool, RelayError> {
        let w = crate::group::Write::CompleteWhole {
            id: id.to_owned(),
            size,
            csv_version,
        };
        match self.write(w).await? {
            crate::group::Done::Updated(b) => Ok(b),
            _ => Err(crate::group::unexpected()),
        }
    }

    /// An unexpired upload session of `office`.
    pub async fn upload(
        &self,
        id: &str,
        office: &str,
        not_before: i64,
    ) -> Result<Option<Upload>, RelayError> {
        let row = sqlx::query(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND office = $2 AND created_at >= $3"
        ))
        .bind(id)
        .bind(office)
        .bind(not_before)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(upload_row(&r)?),
            None => None,
        })
    }

    /// The unexpired upload sessions of `office` among `ids` (a send's files: one query
    /// per 500).
    pub async fn uploads_of(
        &self,
        ids: &[&str],
        office: &str,
        not_before: i64,
    ) -> Result<std::collections::HashMap<String, Upload>, RelayError> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = uploads_of_sql(chunk.len());
            let mut q = sqlx::query(&sql).bind(office).bind(not_before);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                let u = upload_row(&r)?;
                out.insert(u.id.clone(), u);
            }
        }
        Ok(out)
    }

    /// Record a stored part: the offset moves from `from` to `to` only if nobody moved it
    /// first (false then: the caller deletes its part).
    pub async fn advance_upload(
        &self,
        id: &str,
        from: u64,
        to: u64,
        part: &str,
    ) -> Result<bool, RelayError> {
        // One statement (no read-then-write transaction, which SQLite refuses to upgrade
        // while another writer commits): the row moves only from `from`.
        let n = sqlx::query(
            "UPDATE uploads SET received = $1, parts = CASE WHEN parts = '' THEN $2 ELSE parts || ' ' || $2 END WHERE id = $3 AND received = $4 AND complete = 0",
        )
        .bind(i(to))
        .bind(part)
        .bind(id)
        .bind(i(from))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Mark an upload complete (its blob is stored and verified).
    pub async fn complete_upload(
        &self,
        id: &str,
        csv_version: Option<&str>,
    ) -> Result<(), RelayError> {
        sqlx::query("UPDATE uploads SET complete = 1, parts = '', csv_version = $1 WHERE id = $2")
            .bind(csv_version)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Start an upload again at offset 0 (its bytes did not match).
    pub async fn reset_upload(&self, id: &str) -> Result<(), RelayError> {
        sqlx::query("UPDATE uploads SET received = 0, parts = '' WHERE id = $1 AND complete = 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Read the CSVバージョン from a file's first bytes (at most [`HEAD_BYTES`] of `bytes` are
/// looked at: the whole file, or the head kept of a streamed one).
pub fn csv_version_of(bytes: &[u8]) -> Option<String> {
    careplan_core::csv::read_csv_version(&bytes[..bytes.len().min(HEAD_BYTES)])
}

/// Move the bytes that schema versions 1–2 kept in the database (files, draft files) into
/// the blob store: for each row, the blob row, then the object (durable), then the row
/// marked `in_store` with its bytes emptied. Idempotent; a crash half-way is finished by
/// the next start.
pub async fn move_legacy_bytes(db: &Db, blobs: &Blobs) -> Result<u64, RelayError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut moved = 0u64;
    loop {
        let rows = sqlx::query("SELECT id, sha256, data FROM files WHERE in_store = 0 LIMIT 32")
            .fetch_all(&db.pool)
            .await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let id: String = r.try_get(0)?;
            let sha: String = r.try_get(1)?;
            let data: Vec<u8> = r.try_get(2)?;
            moved += store_bytes(db, blobs, &sha, data, now).await?;
            sqlx::query("UPDATE files SET in_store = 1, data = $1 WHERE id = $2")
                .bind(Vec::<u8>::new())
                .bind(&id)
                .execute(&db.pool)
                .await?;
        }
    }
    loop {
        let rows = sqlx::query(
            "SELECT office, draft_id, seq, sha256, data FROM draft_files WHERE in_store = 0 LIMIT 32",
        )
        .fetch_all(&db.pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let office: String = r.try_get(0)?;
            let draft: String = r.try_get(1)?;
            let seq: i64 = r.try_get(2)?;
            let sha: String = r.try_get(3)?;
            let data: Vec<u8> = r.try_get(4)?;
            let size = i(data.len() as u64);
            moved += store_bytes(db, blobs, &sha, data, now).await?;
            sqlx::query("UPDATE draft_files SET in_store = 1, size = $1, data = $2 WHERE office = $3 AND draft_id = $4 AND seq = $5")
                .bind(size)
                .bind(Vec::<u8>::new())
                .bind(&office)
                .bind(&draft)
                .bind(seq)
                .execute(&db.pool)
                .await?;
        }
    }
    if moved > 0 {
        tracing::info!(
            files = moved,
            "file bytes moved from the database to the blob store"
        );
    }
    Ok(moved)
}

/// Store bytes already in memory (legacy rows, the demo) as a blob: its row, then the
/// object. `sha` must be their SHA-256.
pub async fn store_bytes(
    db: &Db,
    blobs: &Blobs,
    sha: &str,
    data: Vec<u8>,
    now: i64,
) -> Result<u64, RelayError> {
    // The stored hash names the blob; bytes that do not match it keep their own hash as
    // the key would lie otherwise. (A row whose bytes differ from its hash was corrupt
    // before: it stays unreadable rather than being served under a wrong name.)
    if !is_sha256(sha) || crate::auth::sha256_hex(&data) != sha {
        tracing::error!("a stored file's bytes do not match its SHA-256; left as it was");
        return Err(RelayError::Refused(
            "保存済みファイルの内容がSHA-256と一致しません。データベースを確認してください。"
                .into(),
        ));
    }
    let mut conn = db.pool.acquire().await?;
    touch_blob(&mut *conn, sha, data.len() as u64, now).await?;
    drop(conn);
    blobs.put_bytes(sha, data).await?;
    Ok(1)
}

/// One round of the blob housekeeping at `now`: expired upload sessions (parts first,
/// then the row), then blobs that nothing names (row first, then the object). Returns
/// (sessions, blobs) removed.
pub async fn sweep(db: &Db, blobs: &Blobs, now: i64) -> Result<(u64, u64), RelayError> {
    let mut sessions = 0;
    loop {
        let ids: Vec<String> =
            sqlx::query("SELECT id FROM uploads WHERE created_at < $1 LIMIT 500")
                .bind(now - blobs.cfg.upload_ttl_secs)
                .fetch_all(&db.pool)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            break;
        }
        for id in ids {
            blobs.delete_staging(&id).await?;
            sqlx::query("DELETE FROM uploads WHERE id = $1")
                .bind(&id)
                .execute(&db.pool)
                .await?;
            sessions += 1;
        }
    }
    let cutoff = now - blobs.cfg.orphan_grace_secs;
    let unnamed = "NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = b.sha256) AND NOT EXISTS (SELECT 1 FROM draft_files d WHERE d.sha256 = b.sha256) AND NOT EXISTS (SELECT 1 FROM uploads p WHERE p.sha256 = b.sha256)";
    let mut swept = 0;
    loop {
        let shas: Vec<String> = sqlx::query(&format!(
            "SELECT b.sha256 FROM blobs b WHERE b.touched_at < $1 AND {unnamed} LIMIT 500"
        ))
        .bind(cutoff)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        if shas.is_empty() {
            break;
        }
        let mut progressed = false;
        for sha in shas {
            // Checked again row by row in the DELETE itself: a send that touched the row
            // meanwhile keeps it. The object goes while the row's deletion is still
            // uncommitted: a send of the same bytes writes the row again (and then stores
            // or finds the object) only after this commits, so it never names bytes that
            // the sweep is removing (`tests/store.rs`, a sweep and a send at once).
            let mut tx = db.pool.begin().await?;
            let n = sqlx::query(&format!(
                "DELETE FROM blobs WHERE sha256 = $1 AND touched_at < $2 AND sha256 IN (SELECT b.sha256 FROM blobs b WHERE b.sha256 = $1 AND {unnamed})"
            ))
            .bind(&sha)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                blobs.delete_blob(&sha).await?;
                tx.commit().await?;
                swept += 1;
                progressed = true;
            } else {
                tx.rollback().await?;
            }
        }
        if !progressed {
            break;
        }
    }
    Ok((sessions, swept))
}
