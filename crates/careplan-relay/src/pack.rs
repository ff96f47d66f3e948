//! Packs: the local blob store keeps small blobs appended to a few large files instead of
//! one file each (`docs/relay.md`, "Packs").
//!
//! Why: a file per blob costs an inode allocation, a create, a rename and two fsyncs (the
//! file and its folder) for every file of every send; on a busy month-start that kernel work
//! is most of the relay's time. A pack costs a positioned write per blob, and **one
//! `fdatasync` for every blob written meanwhile** by all concurrent sends (group commit).
//!
//! Layout: `<blobs>/packs/pack-<8 digits>.dat`, written by one process only (an exclusive
//! lock on `<blobs>/packs/LOCK`; a second process is refused with a clear message). A pack
//! is a sequence of records, each a 64-byte header and its bytes:
//!
//! ```text
//!  0..4   "CPK1"
//!  4      kind: 1 = blob, 2 = deletion (tombstone, no bytes)
//!  8..16  length of the bytes (u64, little-endian)
//! 16..48  SHA-256 of the bytes (the blob's key)
//! 48..56  the first 8 bytes of SHA-256(header[0..48]) (a torn or foreign header fails it)
//! ```
//!
//! Rules:
//! - Records are appended by one writer at a time (a mutex), so a pack never has a hole; a
//!   write returns only when a `fdatasync` that began after it has finished (group commit:
//!   whoever flushes covers every record written before the flush began).
//! - The index (SHA-256 → pack, offset, length) is in memory, rebuilt when the store opens
//!   by reading the headers of every pack in order (a later record replaces an earlier one,
//!   a tombstone removes it). The newest pack's records are also checked against their
//!   SHA-256 (its tail may be torn by a power cut); a bad record is left out, a torn tail is
//!   cut off. A pack is sealed (fsynced) at [`PACK_MAX`] bytes and the next one begun.
//! - Deleting appends a tombstone and fsyncs it (a deleted blob never comes back).
//! - [`Packs::compact`] rewrites sealed packs that are more than half dead: their live
//!   records (and the tombstones still needed by an older pack) are appended to the newest
//!   pack, fsynced, and only then is the old pack removed. Readers keep the pack they read
//!   open, so a compaction never breaks a download.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use sha2::{Digest, Sha256};

/// A pack is sealed and the next one begun past this size.
pub const PACK_MAX: u64 = 64 * 1024 * 1024;
/// Blobs up to this size go into packs; larger ones stay files of their own.
pub const PACK_BLOB_MAX: u64 = 4 * 1024 * 1024;
const HEADER: u64 = 64;
/// Blobs up to this size are written on the calling task (a copy into the page cache).
const INLINE_WRITE: usize = 256 * 1024;
const MAGIC: &[u8; 4] = b"CPK1";
const BLOB: u8 = 1;
const TOMBSTONE: u8 = 2;

type Key = [u8; 32];

/// One pack file.
#[derive(Debug)]
struct Pack {
    id: u32,
    file: File,
    path: PathBuf,
}

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
struct Loc {
    pack: Arc<Pack>,
    /// Offset of the record's header.
    at: u64,
    len: u64,
}

#[derive(Debug)]
struct PackInfo {
    pack: Arc<Pack>,
    /// Bytes of records in the pack.
    size: u64,
    /// Bytes of the records the index still points to.
    live: u64,
}

#[derive(Debug)]
struct Inner {
    index: HashMap<Key, Loc>,
    packs: BTreeMap<u32, PackInfo>,
    /// The pack being appended to (the last of `packs`).
    active: u32,
    /// Records appended so far (the write that flushed last covers those ≤ `synced`).
    seq: u64,
}

/// The pack store of one blob folder (see the module text).
pub struct Packs {
    dir: PathBuf,
    _lock: File,
    inner: Mutex<Inner>,
    /// One flush at a time; the others wait for it and are usually covered by it.
    flush: tokio::sync::Mutex<()>,
    /// Every record with a sequence number up to this one is durable.
    synced: AtomicU64,
    /// Flushes done (each covers every record written before it began).
    flushes: AtomicU64,
    /// A flush failed: the kernel may have dropped the pages it could not write and a later
    /// flush would then succeed without them, so nothing more is written (or said durable)
    /// until the relay is restarted and has checked the newest pack again.
    failed: std::sync::atomic::AtomicBool,
    max_pack: u64,
}

impl std::fmt::Debug for Packs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packs").field("dir", &self.dir).finish()
    }
}

/// What [`Packs::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackStats {
    /// Pack files.
    pub packs: usize,
    /// Blobs the index knows.
    pub blobs: usize,
    /// Bytes of all records.
    pub bytes: u64,
    /// Bytes of live records.
    pub live: u64,
    /// Flushes since the store opened.
    pub flushes: u64,
}

/// What [`Packs::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Packs removed.
    pub packs: usize,
    /// Records copied forward.
    pub moved: usize,
    /// Bytes given back to the file system.
    pub freed: u64,
}

/// Whether `e` says that another process holds the packs (see [`Packs::open`]).
pub fn is_held_elsewhere(e: &crate::RelayError) -> bool {
    matches!(e, crate::RelayError::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// The key of a SHA-256 in hex, or `None` when it is not one.
fn key_of(sha256: &str) -> Option<Key> {
    let mut k = [0u8; 32];
    hex::decode_to_slice(sha256, &mut k).ok()?;
    Some(k)
}

fn header(kind: u8, len: u64, key: &Key) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..4].copy_from_slice(MAGIC);
    h[4] = kind;
    h[8..16].copy_from_slice(&len.to_le_bytes());
    h[16..48].copy_from_slice(key);
    let check = Sha256::digest(&h[..48]);
    h[48..56].copy_from_slice(&check[..8]);
    h
}

/// The kind, length and key of a header, or `None` when it is not a whole, intact one.
fn parse_header(h: &[u8; HEADER as usize]) -> Option<(u8, u64, Key)> {
    if &h[..4] != MAGIC || !matches!(h[4], BLOB | TOMBSTONE) {
        return None;
    }
    if Sha256::digest(&h[..48])[..8] != h[48..56] {
        return None;
    }
    let len = u64::from_le_bytes(h[8..16].try_into().ok()?);
    let mut key = [0u8; 32];
    key.copy_from_slice(&h[16..48]);
    if h[4] == TOMBSTONE && len != 0 {
        return None;
    }
    Some((h[4], len, key))
}

#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(windows)]
fn write_all_at(f: &File, mut buf: &[u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_write(buf, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, at) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pack_name(id: u32) -> String {
    format!("pack-{id:08}.dat")
}

fn open_pack(dir: &Path, id: u32, create: bool) -> io::Result<Arc<Pack>> {
    let path = dir.join(pack_name(id));
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if create {
        o.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let file = o.open(&path)?;
    if create {
        sync_dir(dir)?;
    }
    Ok(Arc::new(Pack { id, file, path }))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// One record found by [`scan`].
struct Found {
    kind: u8,
    key: Key,
    at: u64,
    len: u64,
}

/// Read the records of a pack in order. With `verify`, every blob's bytes are checked
/// against its SHA-256 and a bad one is left out. Returns the records and the length of
/// the good part of the file (where a torn tail begins).
fn scan(file: &File, verify: bool) -> io::Result<(Vec<Found>, u64)> {
    let size = file.metadata()?.len();
    let mut r = io::BufReader::with_capacity(256 * 1024, file);
    r.seek(SeekFrom::Start(0))?;
    let mut found = Vec::new();
    let mut at = 0u64;
    let mut buf = Vec::new();
    let mut good = 0u64;
    while at + HEADER <= size {
        let mut h = [0u8; HEADER as usize];
        r.read_exact(&mut h)?;
        let Some((kind, len, key)) = parse_header(&h) else {
            // Not a record here: a torn tail, or damage. Look for the next intact header
            // (its check makes a false match practically impossible), so that one damaged
            // record does not take the ones after it along.
            match next_header(file, at + 1, size)? {
                Some(next) => {
                    tracing::warn!(at, next, "pack: damaged bytes skipped");
                    at = next;
                    r.seek(SeekFrom::Start(at))?;
                    continue;
                }
                None => break,
            }
        };
        if len > size - at - HEADER {
            break;
        }
        let mut ok = true;
        if verify && kind == BLOB {
            buf.resize(usize::try_from(len).map_err(io::Error::other)?, 0);
            r.read_exact(&mut buf)?;
            ok = Sha256::digest(&buf)[..] == key[..];
            if !ok {
                tracing::warn!(
                    at,
                    "pack: a record's bytes do not match its SHA-256; left out"
                );
            }
        } else {
            r.seek_relative(i64::try_from(len).map_err(io::Error::other)?)?;
        }
        if ok {
            found.push(Found { kind, key, at, len });
        }
        at += HEADER + len;
        good = at;
    }
    Ok((found, good))
}

/// The offset of the next intact header at or after `from`, if any.
fn next_header(file: &File, from: u64, size: u64) -> io::Result<Option<u64>> {
    let mut at = from;
    let mut buf = vec![0u8; 1024 * 1024];
    while at + HEADER <= size {
        let n = usize::try_from((size - at).min(buf.len() as u64)).map_err(io::Error::other)?;
        read_exact_at(file, &mut buf[..n], at)?;
        for i in 0..n {
            if buf[i..].starts_with(MAGIC) {
                let mut h = [0u8; HEADER as usize];
                if at + i as u64 + HEADER > size {
                    return Ok(None);
                }
                read_exact_at(file, &mut h, at + i as u64)?;
                if parse_header(&h).is_some() {
                    return Ok(Some(at + i as u64));
                }
            }
        }
        // Overlap by a header so that one split across two reads is found.
        at += (n as u64).saturating_sub(HEADER).max(1);
    }
    Ok(None)
}

impl Inner {
    fn info(&mut self, id: u32) -> &mut PackInfo {
        self.packs.get_mut(&id).expect("pack of a record is known")
    }

    /// Point the index at a blob record (the previous record of the key becomes dead).
    fn set(&mut self, key: Key, loc: Loc) {
        let id = loc.pack.id;
        let size = HEADER + loc.len;
        if let Some(old) = self.index.insert(key, loc) {
            let info = self.info(old.pack.id);
            info.live = info.live.saturating_sub(HEADER + old.len);
        }
        self.info(id).live += size;
    }

    /// Create the pack after the active one (its folder fsynced) and append to it from now.
    fn begin_pack(&mut self, dir: &Path) -> io::Result<()> {
        let id = self.active + 1;
        let pack = open_pack(dir, id, true)?;
        self.packs.insert(
            id,
            PackInfo {
                pack,
                size: 0,
                live: 0,
            },
        );
        self.active = id;
        Ok(())
    }

    fn remove(&mut self, key: &Key) -> bool {
        match self.index.remove(key) {
            Some(old) => {
                let info = self.info(old.pack.id);
                info.live = info.live.saturating_sub(HEADER + old.len);
                true
            }
            None => false,
        }
    }
}

impl Packs {
    /// Open (or create) the packs in `dir`, taking its lock and rebuilding the index.
    pub fn open(dir: &Path) -> io::Result<Arc<Self>> {
        Self::open_with(dir, PACK_MAX)
    }

    /// [`Packs::open`] with another pack size (tests).
    pub fn open_with(dir: &Path, max_pack: u64) -> io::Result<Arc<Self>> {
        crate::secret_file::create_private_dir(dir)?;
        let mut o = OpenOptions::new();
        o.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let lock = o.open(dir.join("LOCK"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "ファイル置き場 {} は別の中継サーバーのプロセスが使っています。同じフォルダを使う中継サーバーは一つだけにしてください（複数台で共有する構成では [blobs] packs = false）。",
                        dir.display()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        let mut ids: Vec<u32> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_prefix("pack-")?.strip_suffix(".dat")?;
                (id.len() == 8).then(|| id.parse().ok())?
            })
            .collect();
        ids.sort_unstable();
        let mut inner = Inner {
            index: HashMap::new(),
            packs: BTreeMap::new(),
            active: 0,
            seq: 0,
        };
        let last = ids.last().copied();
        for id in ids {
            let pack = open_pack(dir, id, false)?;
            let newest = Some(id) == last;
            let (found, good) = scan(&pack.file, newest)?;
            let size = pack.file.metadata()?.len();
            if newest {
                if good < size {
                    tracing::warn!(pack = id, cut = size - good, "pack: torn tail cut off");
                    pack.file.set_len(good)?;
                }
                // What was read back may still be only in the page cache (the process was
                // killed before its flush): durable now, before any of it is relied on — a
                // send of the same bytes later finds the blob and does not write it again.
                pack.file.sync_all()?;
            }
            inner.packs.insert(
                id,
                PackInfo {
                    pack: pack.clone(),
                    size: good,
                    live: 0,
                },
            );
            for f in found {
                if f.kind == BLOB {
                    let loc = Loc {
                        pack: pack.clone(),
                        at: f.at,
                        len: f.len,
                    };
                    inner.set(f.key, loc);
                } else {
                    inner.remove(&f.key);
                }
            }
            inner.active = id;
        }
        let full = inner
            .packs
            .get(&inner.active)
            .is_none_or(|p| p.size >= max_pack);
        if full {
            inner.begin_pack(dir)?;
        }
        Ok(Arc::new(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
            inner: Mutex::new(inner),
            flush: tokio::sync::Mutex::new(()),
            synced: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            failed: std::sync::atomic::AtomicBool::new(false),
            max_pack,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the index as it was before the record (the
        // index is changed after the write), so the data is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append one record (the caller holds the lock). Returns its location and sequence
    /// number.
    fn append(
        &self,
        inner: &mut Inner,
        kind: u8,
        key: &Key,
        data: &[u8],
    ) -> io::Result<(Loc, u64)> {
        if self.failed.load(Ordering::Acquire) {
            return Err(Self::failed_error());
        }
        let len = data.len() as u64;
        let active = inner.active;
        if inner.info(active).size > 0 && inner.info(active).size + HEADER + len > self.max_pack {
            self.roll(inner)?;
        }
        let info = inner.info(inner.active);
        let (pack, at) = (info.pack.clone(), info.size);
        let res = write_all_at(&pack.file, &header(kind, len, key), at)
            .and_then(|()| write_all_at(&pack.file, data, at + HEADER));
        if let Err(e) = res {
            // Whatever part of the record got written is cut off again (best effort: the
            // next record is written over it anyway).
            let _ = pack.file.set_len(at);
            return Err(e);
        }
        info.size = at + HEADER + len;
        inner.seq += 1;
        Ok((Loc { pack, at, len }, inner.seq))
    }

    /// Seal the active pack (durable) and begin the next one.
    fn roll(&self, inner: &mut Inner) -> io::Result<()> {
        let old = inner.info(inner.active).pack.clone();
        if let Err(e) = old.file.sync_all() {
            tracing::error!(error = %e, "pack flush failed; no more writes until a restart");
            self.failed.store(true, Ordering::Release);
            return Err(e);
        }
        self.synced.fetch_max(inner.seq, Ordering::AcqRel);
        inner.begin_pack(&self.dir)
    }

    fn failed_error() -> io::Error {
        io::Error::other(
            "ファイル置き場（packs）への書き込みに失敗したため、新しいファイルを受け付けていません。ディスクを確認し、中継サーバーを再起動してください。",
        )
    }

    /// Wait until record `seq` is durable, flushing when nobody else is.
    async fn sync_to(self: &Arc<Self>, seq: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _flush = self.flush.lock().await;
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        if self.failed.load(Ordering::Acquire) {
            return Err(Self::failed_error());
        }
        // Everything appended so far is in the active pack or in a sealed (fsynced) one.
        let (target, pack) = {
            let inner = self.lock();
            (inner.seq, inner.packs[&inner.active].pack.clone())
        };
        let flushed = tokio::task::spawn_blocking(move || pack.file.sync_data())
            .await
            .map_err(io::Error::other)?;
        if let Err(e) = flushed {
            tracing::error!(error = %e, "pack flush failed; no more writes until a restart");
            self.failed.store(true, Ordering::Release);
            return Err(e);
        }
        self.synced.fetch_max(target, Ordering::AcqRel);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Store `bytes` as the blob `sha256` (the caller checked that they match); returns when
    /// they are durable. A blob already stored is not written again.
    pub async fn put(self: &Arc<Self>, sha256: &str, bytes: Bytes) -> io::Result<()> {
        self.put_all(vec![(sha256.to_owned(), bytes)]).await
    }

    /// Store several blobs and wait for one flush that covers them all.
    pub async fn put_all(self: &Arc<Self>, blobs: Vec<(String, Bytes)>) -> io::Result<()> {
        let mut seq = 0;
        for (sha, bytes) in blobs {
            let key = key_of(&sha).ok_or_else(|| io::Error::other("not a SHA-256"))?;
            // A small write goes to the page cache in microseconds: done here, without a
            // hand-over to a blocking thread (two context switches per blob).
            let s = if bytes.len() <= INLINE_WRITE {
                self.append_blob(key, &bytes)?
            } else {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.append_blob(key, &bytes))
                    .await
                    .map_err(io::Error::other)??
            };
            seq = seq.max(s);
        }
        self.sync_to(seq).await
    }

    /// Append a blob unless the index has it; returns the sequence number to flush to.
    fn append_blob(&self, key: Key, bytes: &[u8]) -> io::Result<u64> {
        let mut inner = self.lock();
        if inner.index.contains_key(&key) {
            // Stored already (by this or another send): its write may still wait for its
            // flush, which everything appended so far covers.
            return Ok(inner.seq);
        }
        let (loc, seq) = self.append(&mut inner, BLOB, &key, bytes)?;
        inner.set(key, loc);
        Ok(seq)
    }

    /// The size of the blob `sha256`, when it is in a pack.
    pub fn size(&self, sha256: &str) -> Option<u64> {
        let key = key_of(sha256)?;
        self.lock().index.get(&key).map(|l| l.len)
    }

    /// A stream of the bytes of the blob `sha256` in `range` (all of it when `None`), read
    /// in pieces of 256 KiB, or `None` when the blob is not in a pack. A range past the end
    /// is an error.
    pub fn read(
        &self,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> io::Result<Option<BoxStream<'static, io::Result<Bytes>>>> {
        const PIECE: u64 = 256 * 1024;
        let Some(key) = key_of(sha256) else {
            return Ok(None);
        };
        let Some(loc) = self.lock().index.get(&key).cloned() else {
            return Ok(None);
        };
        let r = range.unwrap_or(0..loc.len);
        if r.start > r.end || r.end > loc.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("range {r:?} of a blob of {} bytes", loc.len),
            ));
        }
        let end = r.end;
        let pieces = futures::stream::try_unfold(r.start, move |pos| {
            let loc = loc.clone();
            async move {
                if pos >= end {
                    return Ok(None);
                }
                let n = (end - pos).min(PIECE);
                let piece = tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
                    let mut buf = vec![0u8; usize::try_from(n).map_err(io::Error::other)?];
                    read_exact_at(&loc.pack.file, &mut buf, loc.at + HEADER + pos)?;
                    Ok(Bytes::from(buf))
                })
                .await
                .map_err(io::Error::other)??;
                Ok(Some((piece, pos + n)))
            }
        });
        Ok(Some(pieces.boxed()))
    }

    /// Delete the blob `sha256` (durably). Returns whether it was in a pack.
    pub async fn delete(self: &Arc<Self>, sha256: &str) -> io::Result<bool> {
        let Some(key) = key_of(sha256) else {
            return Ok(false);
        };
        let me = self.clone();
        let seq = tokio::task::spawn_blocking(move || -> io::Result<Option<u64>> {
            let mut inner = me.lock();
            if !inner.index.contains_key(&key) {
                return Ok(None);
            }
            let (_, seq) = me.append(&mut inner, TOMBSTONE, &key, &[])?;
            inner.remove(&key);
            Ok(Some(seq))
        })
        .await
        .map_err(io::Error::other)??;
        match seq {
            Some(seq) => self.sync_to(seq).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Every blob the index knows, with the number of the pack holding it (checks, tools).
    pub fn keys(&self) -> Vec<(String, u32)> {
        self.lock()
            .index
            .iter()
            .map(|(k, l)| (hex::encode(k), l.pack.id))
            .collect()
    }

    /// How many packs, blobs and bytes there are.
    pub fn stats(&self) -> PackStats {
        let inner = self.lock();
        PackStats {
            packs: inner.packs.len(),
            blobs: inner.index.len(),
            bytes: inner.packs.values().map(|p| p.size).sum(),
            live: inner.packs.values().map(|p| p.live).sum(),
            flushes: self.flushes.load(Ordering::Relaxed),
        }
    }

    /// Rewrite every sealed pack that is more than half dead (see the module text).
    pub async fn compact(self: &Arc<Self>) -> io::Result<Compacted> {
        let me = self.clone();
        let (done, seq, moved) = tokio::task::spawn_blocking(move || me.compact_blocking())
            .await
            .map_err(io::Error::other)??;
        if done.is_empty() {
            return Ok(Compacted::default());
        }
        self.sync_to(seq).await?;
        let mut out = Compacted {
            moved,
            ..Compacted::default()
        };
        for pack in done {
            // The copies are durable: now the old pack goes (open readers keep it).
            let freed = self.lock().packs.remove(&pack.id).map_or(0, |p| p.size);
            std::fs::remove_file(&pack.path)?;
            out.packs += 1;
            out.freed += freed;
        }
        if out.packs > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(out)
    }

    /// Copy the live records of the packs to compact forward; returns those packs, the
    /// sequence number to flush to and how many records moved.
    fn compact_blocking(&self) -> io::Result<(Vec<Arc<Pack>>, u64, usize)> {
        let (todo, oldest) = {
            let inner = self.lock();
            let todo: Vec<Arc<Pack>> = inner
                .packs
                .values()
                .filter(|p| p.pack.id != inner.active && p.live * 2 < p.size)
                .map(|p| p.pack.clone())
                .collect();
            (todo, inner.packs.keys().next().copied())
        };
        let mut moved = 0;
        let still_at = |inner: &Inner, key: &Key, pack: &Arc<Pack>, at: u64| {
            inner
                .index
                .get(key)
                .is_some_and(|l| Arc::ptr_eq(&l.pack, pack) && l.at == at)
        };
        for pack in &todo {
            let (found, _) = scan(&pack.file, false)?;
            for f in found {
                if f.kind == BLOB {
                    if !still_at(&self.lock(), &f.key, pack, f.at) {
                        continue;
                    }
                    let mut buf = vec![0u8; usize::try_from(f.len).map_err(io::Error::other)?];
                    read_exact_at(&pack.file, &mut buf, f.at + HEADER)?;
                    let mut inner = self.lock();
                    // Deleted or replaced meanwhile: nothing to keep.
                    if still_at(&inner, &f.key, pack, f.at) {
                        let (loc, _) = self.append(&mut inner, BLOB, &f.key, &buf)?;
                        inner.set(f.key, loc);
                        moved += 1;
                    }
                } else if Some(pack.id) != oldest {
                    // An older pack may still hold the record this tombstone deletes: keep
                    // the tombstone, unless the blob was stored again since (a later record
                    // wins anyway).
                    let mut inner = self.lock();
                    if !inner.index.contains_key(&f.key) {
                        self.append(&mut inner, TOMBSTONE, &f.key, &[])?;
                    }
                }
            }
        }
        let seq = self.lock().seq;
        Ok((todo, seq, moved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(i: usize, len: usize) -> (String, Bytes) {
        let mut b = format!("blob {i} ").into_bytes();
        b.resize(len.max(b.len()), b'0' + (i % 10) as u8);
        (hex::encode(Sha256::digest(&b)), Bytes::from(b))
    }

    async fn read_all(p: &Arc<Packs>, sha: &str, r: Option<Range<u64>>) -> Option<Vec<u8>> {
        let s = p.read(sha, r).expect("read")?;
        let pieces: Vec<Bytes> = s.map(|b| b.expect("piece")).collect().await;
        Some(pieces.concat())
    }

    fn pack_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "dat"))
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn blobs_go_in_read_back_and_are_deleted() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = Packs::open(dir.path()).expect("open");
        let (sha, bytes) = blob(1, 600_000);
        assert!(p.read(&sha, None).expect("read").is_none());
        p.put(&sha, bytes.clone()).await.expect("put");
        p.put(&sha, bytes.clone()).await.expect("put again");
        assert_eq!(p.stats().blobs, 1);
        assert_eq!(p.stats().bytes, HEADER + 600_000, "stored once");
        assert_eq!(p.size(&sha), Some(600_000));
        assert_eq!(read_all(&p, &sha, None).await.as_deref(), Some(&bytes[..]));
        assert_eq!(
            read_all(&p, &sha, Some(300_000..300_010)).await.as_deref(),
            Some(&bytes[300_000..300_010])
        );
        assert!(p.read(&sha, Some(0..600_001)).is_err(), "past the end");
        let (empty, none) = blob(2, 0);
        p.put(&empty, none.clone()).await.expect("small");
        assert_eq!(read_all(&p, &empty, None).await.as_deref(), Some(&none[..]));
        assert!(p.delete(&sha).await.expect("delete"));
        assert!(!p.delete(&sha).await.expect("delete again"));
        assert!(p.read(&sha, None).expect("read").is_none());
        assert_eq!(p.size(&sha), None);
        assert_eq!(p.size("not hex"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in pack_files(dir.path()) {
                let mode = std::fs::metadata(&f).expect("meta").permissions().mode();
                assert_eq!(mode & 0o077, 0, "{} is owner-only", f.display());
            }
        }
        // Opened again: the same blobs, the deleted one still deleted.
        drop(p);
        let p = Packs::open(dir.path()).expect("reopen");
        assert_eq!(p.stats().blobs, 1);
        assert!(p.read(&sha, None).expect("read").is_none());
        assert_eq!(read_all(&p, &empty, None).await.as_deref(), Some(&none[..]));
    }

    #[tokio::test]
    async fn a_second_process_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let _p = Packs::open(dir.path()).expect("open");
        let e = Packs::open(dir.path()).expect_err("held");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(e.to_string().contains("別の中継サーバー"), "{e}");
        assert!(is_held_elsewhere(&crate::RelayError::Io(e)));
    }

    #[tokio::test]
    async fn concurrent_writes_share_flushes() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = Packs::open(dir.path()).expect("open");
        let all: Vec<(String, Bytes)> = (0..200).map(|i| blob(i, 20_000)).collect();
        let tasks: Vec<_> = all
            .iter()
            .cloned()
            .map(|(sha, b)| {
                let p = p.clone();
                tokio::spawn(async move { p.put(&sha, b).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("join").expect("put");
        }
        let st = p.stats();
        assert_eq!(st.blobs, 200);
        assert!(st.flushes < 200, "a flush covers several writes: {st:?}");
        for (sha, b) in &all {
            assert_eq!(read_all(&p, sha, None).await.as_deref(), Some(&b[..]));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_tail_and_a_damaged_record_lose_only_themselves() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = Packs::open(dir.path()).expect("open");
        let all: Vec<(String, Bytes)> = (0..5).map(|i| blob(i, 10_000)).collect();
        for (sha, b) in &all {
            p.put(sha, b.clone()).await.expect("put");
        }
        drop(p);
        let path = pack_files(dir.path()).pop().expect("a pack");
        let rec = HEADER + 10_000;
        {
            let f = OpenOptions::new().write(true).open(&path).expect("open");
            // Record 1's bytes damaged (a power cut wrote its header, not its data)…
            write_all_at(&f, b"XXXX", rec + HEADER + 5).expect("damage");
            // …record 3's header damaged…
            write_all_at(&f, b"\0\0", 3 * rec + 20).expect("damage");
            // …and a torn record at the end.
            let (sha5, _) = blob(5, 10_000);
            let key = key_of(&sha5).expect("key");
            write_all_at(&f, &header(BLOB, 10_000, &key), 5 * rec).expect("header");
            write_all_at(&f, &[1u8; 100], 5 * rec + HEADER).expect("part");
        }
        let p = Packs::open(dir.path()).expect("reopen");
        for (i, (sha, b)) in all.iter().enumerate() {
            let got = read_all(&p, sha, None).await;
            match i {
                1 | 3 => assert!(got.is_none(), "record {i} left out"),
                _ => assert_eq!(got.as_deref(), Some(&b[..]), "record {i} kept"),
            }
        }
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            5 * rec,
            "tail cut"
        );
        // Writing goes on after the cut.
        let (sha6, b6) = blob(6, 10_000);
        p.put(&sha6, b6.clone()).await.expect("put");
        drop(p);
        let p = Packs::open(dir.path()).expect("reopen");
        assert_eq!(read_all(&p, &sha6, None).await.as_deref(), Some(&b6[..]));
        assert_eq!(p.stats().blobs, 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compaction_gives_space_back_and_keeps_deletions() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = Packs::open_with(dir.path(), 100_000).expect("open");
        // Ten packs of about four blobs each.
        let all: Vec<(String, Bytes)> = (0..40).map(|i| blob(i, 20_000)).collect();
        for (sha, b) in &all {
            p.put(sha, b.clone()).await.expect("put");
        }
        let before = p.stats();
        assert!(before.packs >= 9, "{before:?}");
        // A reader in the middle of the first blob when its pack goes.
        let mut reader = p.read(&all[1].0, None).expect("read").expect("there");
        // Every pack keeps one live blob of four (blob 4: none).
        for (i, (sha, _)) in all.iter().enumerate() {
            if i % 4 != 0 || i == 4 {
                p.delete(sha).await.expect("delete");
            }
        }
        let c = p.compact().await.expect("compact");
        // Packs 1–9 of 10 go; their eight live blobs move into the last one.
        assert_eq!((c.packs, c.moved), (9, 8), "{c:?}");
        let after = p.stats();
        assert!(after.bytes < before.bytes / 2, "{before:?} → {after:?}");
        let mut got = Vec::new();
        while let Some(b) = reader.next().await {
            got.extend_from_slice(&b.expect("piece"));
        }
        assert_eq!(got, all[1].1, "a read begun before keeps its bytes");
        let check = |p: Arc<Packs>| {
            let all = all.clone();
            async move {
                for (i, (sha, b)) in all.iter().enumerate() {
                    let got = read_all(&p, sha, None).await;
                    if i % 4 == 0 && i != 4 {
                        assert_eq!(got.as_deref(), Some(&b[..]), "blob {i} kept");
                    } else {
                        assert!(got.is_none(), "blob {i} stays deleted");
                    }
                }
            }
        };
        check(p.clone()).await;
        drop(p);
        let p = Packs::open_with(dir.path(), 100_000).expect("reopen");
        check(p.clone()).await;
        assert_eq!(p.stats().packs, after.packs);
        // The pack the copies sealed may be rewritten once more; then nothing is left to do.
        p.compact().await.expect("again");
        assert_eq!(p.compact().await.expect("once more").packs, 0);
        check(p.clone()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deletion_outlives_the_compaction_of_its_pack() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = Packs::open_with(dir.path(), 100_000).expect("open");
        let all: Vec<(String, Bytes)> = (0..9).map(|i| blob(i, 20_000)).collect();
        // Pack 1: blobs 0–3. Pack 2: blob 4, the tombstone of blob 0, blobs 5–7. Pack 3: 8.
        for (sha, b) in &all[..5] {
            p.put(sha, b.clone()).await.expect("put");
        }
        p.delete(&all[0].0).await.expect("delete");
        for (sha, b) in &all[5..] {
            p.put(sha, b.clone()).await.expect("put");
        }
        for (sha, _) in &all[4..8] {
            p.delete(sha).await.expect("delete");
        }
        // Pack 2 is all dead but for a tombstone that pack 1 (three quarters live) needs.
        let c = p.compact().await.expect("compact");
        assert_eq!((c.packs, c.moved), (1, 0), "{c:?}");
        drop(p);
        let p = Packs::open_with(dir.path(), 100_000).expect("reopen");
        for (i, (sha, b)) in all.iter().enumerate() {
            let got = read_all(&p, sha, None).await;
            match i {
                1..=3 | 8 => assert_eq!(got.as_deref(), Some(&b[..]), "blob {i} kept"),
                _ => assert!(got.is_none(), "blob {i} stays deleted"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_kill_during_compaction_loses_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let all: Vec<(String, Bytes)> = (0..24).map(|i| blob(i, 20_000)).collect();
        {
            let p = Packs::open_with(dir.path(), 100_000).expect("open");
            for (sha, b) in &all {
                p.put(sha, b.clone()).await.expect("put");
            }
            for (i, (sha, _)) in all.iter().enumerate() {
                if i % 3 != 0 {
                    p.delete(sha).await.expect("delete");
                }
            }
            // The copies are written, then the process dies: no flush of them, the old
            // packs not removed.
            let (todo, _, moved) = p.compact_blocking().expect("copies");
            assert!(
                !todo.is_empty() && moved > 0,
                "{} packs, {moved} moved",
                todo.len()
            );
        }
        let p = Packs::open_with(dir.path(), 100_000).expect("reopen");
        for (i, (sha, b)) in all.iter().enumerate() {
            let got = read_all(&p, sha, None).await;
            if i % 3 == 0 {
                assert_eq!(got.as_deref(), Some(&b[..]), "blob {i} kept");
            } else {
                assert!(got.is_none(), "blob {i} stays deleted");
            }
        }
        // The next compaction finishes the work.
        p.compact().await.expect("compact");
        drop(p);
        let p = Packs::open_with(dir.path(), 100_000).expect("reopen");
        assert_eq!(p.stats().blobs, 8);
    }
}
