//! Durable file writes: temporary file in the target folder → write → flush → fsync →
//! move into place (never over an existing file when asked) → fsync the folder.
//!
//! Moving a received file into place, per platform ([`rename_no_clobber`]):
//! - **Linux**: `renameat2(RENAME_NOREPLACE)`: one atomic step that fails when the name is
//!   taken. File systems without it (some network and FUSE file systems) fall back to the
//!   next line.
//! - **Other Unix** (and the Linux fallback): a hard link under the final name (fails when
//!   the name is taken), then the temporary name is removed. File systems without hard
//!   links (FAT on a USB stick) check that the name is free, then rename: only there a file
//!   created by another program in that instant could be replaced.
//! - **Windows**: `MoveFileExW` with `MOVEFILE_WRITE_THROUGH` and without
//!   `MOVEFILE_REPLACE_EXISTING`: fails when the name is taken, on NTFS, FAT and SMB shares
//!   alike, and returns only when the move is on the disk.
//!
//! Then the folder is synced ([`sync_dir`]). On Windows a folder can only be flushed on
//! some file systems (NTFS and ReFS: opened with `FILE_FLAG_BACKUP_SEMANTICS`, then
//! `FlushFileBuffers`); where that is refused (FAT, SMB shares), the write-through move is
//! what makes the new name durable.
//!
//! [`mark_from_internet`] then gives a received file the Mark of the Web on Windows.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ClientError;

/// Prefix of temporary files written by the client into a target folder.
pub const TEMP_PREFIX: &str = ".careplan-";
/// Suffix of temporary files written by the client into a target folder.
pub const TEMP_SUFFIX: &str = ".part";

/// fsync a directory so that a rename inside it is durable. On Windows the folder is
/// opened with `FILE_FLAG_BACKUP_SEMANTICS` and flushed (`FlushFileBuffers`) where the file
/// system allows it; where it does not (FAT, SMB), this is a no-op and the write-through
/// move of [`rename_no_clobber`] is what makes the rename durable.
pub fn sync_dir(dir: &Path) -> Result<(), ClientError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| ClientError::io(dir, e))?;
        d.sync_all().map_err(|e| ClientError::io(dir, e))?;
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_BACKUP_SEMANTICS;
        // FlushFileBuffers needs a handle with write access; a directory can be opened
        // only with FILE_FLAG_BACKUP_SEMANTICS.
        let flushed = OpenOptions::new()
            .write(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(dir)
            .and_then(|d| d.sync_all());
        if let Err(e) = flushed {
            tracing::debug!(error = %e, "folder flush not supported here; the write-through move stands");
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Create a new file for writing, failing if it exists; `private` sets mode 0600 on Unix.
pub fn create_new(path: &Path, private: bool) -> Result<File, ClientError> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    o.open(path).map_err(|e| ClientError::io(path, e))
}

/// Write `bytes` to `path` durably, replacing it if it exists (for the client's own files,
/// such as an imported profile). Never use this for received files: see
/// [`rename_no_clobber`].
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), ClientError> {
    let dir = parent(path);
    let tmp = dir.join(format!("{TEMP_PREFIX}{}{TEMP_SUFFIX}", crate::new_key()));
    let mut f = create_new(&tmp, private)?;
    let res = (|| {
        f.write_all(bytes).map_err(|e| ClientError::io(&tmp, e))?;
        f.flush().map_err(|e| ClientError::io(&tmp, e))?;
        f.sync_all().map_err(|e| ClientError::io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| ClientError::io(path, e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    sync_dir(&dir)
}

/// The folder of `path` (`.` when it has none).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `name (n).ext` for n = 1, 2, …: the n-th alternative name when `name` is taken.
pub fn suffixed(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

/// Move the finished temporary file `tmp` into `dir` under `name`, or under
/// `name (1).ext`, `name (2).ext` … when that name is taken. Never replaces an existing
/// file (see the module documentation for how, per platform). Returns the final path. The
/// folder is synced afterwards.
pub fn rename_no_clobber(tmp: &Path, dir: &Path, name: &str) -> Result<PathBuf, ClientError> {
    for n in 0..10_000u32 {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            suffixed(name, n)
        };
        let target = dir.join(&candidate);
        match move_no_replace(tmp, &target) {
            Ok(()) => {
                sync_dir(dir)?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ClientError::io(&target, e)),
        }
    }
    Err(ClientError::io(
        dir.join(name),
        std::io::Error::other("同じ名前のファイルが多すぎます"),
    ))
}

/// Move `from` to `to` unless `to` exists (then `ErrorKind::AlreadyExists`), on Windows:
/// `MoveFileExW(MOVEFILE_WRITE_THROUGH)`, without `MOVEFILE_REPLACE_EXISTING`.
#[cfg(windows)]
fn move_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Foundation::{
        ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_FILE_EXISTS,
    };
    use windows_sys::Win32::Storage::FileSystem::{MOVEFILE_WRITE_THROUGH, MoveFileExW};

    let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain(Some(0)).collect() };
    let (f, t) = (wide(from), wide(to));
    // SAFETY: `f` and `t` are NUL-terminated UTF-16 strings that outlive the call;
    // MoveFileExW only reads them.
    #[allow(unsafe_code)]
    let ok = unsafe { MoveFileExW(f.as_ptr(), t.as_ptr(), MOVEFILE_WRITE_THROUGH) };
    if ok != 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    let code = e.raw_os_error().and_then(|c| u32::try_from(c).ok());
    // A folder of that name answers ERROR_ACCESS_DENIED: the name is taken all the same.
    if code == Some(ERROR_ALREADY_EXISTS)
        || code == Some(ERROR_FILE_EXISTS)
        || (code == Some(ERROR_ACCESS_DENIED) && std::fs::symlink_metadata(to).is_ok())
    {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, e));
    }
    Err(e)
}

/// Move `from` to `to` unless `to` exists (then `ErrorKind::AlreadyExists`), on Unix:
/// `renameat2(RENAME_NOREPLACE)` on Linux, else a hard link and removing `from`, else (no
/// hard links) a check and a rename.
#[cfg(unix)]
fn move_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if e == Errno::EXIST => {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            // Not supported by this kernel or file system: the hard link below.
            Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP => {}
            Err(e) => return Err(e.into()),
        }
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => std::fs::remove_file(from),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(e)
            if e.kind() == std::io::ErrorKind::Unsupported
                || e.raw_os_error().is_some_and(is_no_link_errno) =>
        {
            // File systems without hard links (e.g. FAT on a USB stick): check, then rename.
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        Err(e) => Err(e),
    }
}

/// Elsewhere: a check, then a rename.
#[cfg(not(any(unix, windows)))]
fn move_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(from, to)
}

#[cfg(unix)]
fn is_no_link_errno(code: i32) -> bool {
    // EPERM (1) on some file systems, EXDEV (18), EMLINK (31), ENOTSUP (95).
    matches!(code, 1 | 18 | 31 | 95)
}

/// The `Zone.Identifier` stream that marks a file as downloaded from the Internet (zone 3)
/// from `relay_url` (line breaks in the URL are dropped).
pub fn zone_identifier(relay_url: &str) -> String {
    let url: String = relay_url.chars().filter(|c| !c.is_control()).collect();
    format!("[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl={url}\r\n")
}

/// Mark of the Web: on Windows, write the `Zone.Identifier` alternate data stream
/// ([`zone_identifier`]) on a received file, so that Windows and Office treat it as
/// downloaded from the Internet (SmartScreen, Protected View, no macros). Best effort: on
/// file systems without alternate data streams (FAT, some SMB shares) the file stays
/// unmarked and a warning is logged; a no-op on other systems.
pub fn mark_from_internet(path: &Path, relay_url: &str) {
    #[cfg(windows)]
    {
        let mut stream = path.as_os_str().to_owned();
        stream.push(":Zone.Identifier");
        let res = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&stream)
            .and_then(|mut f| {
                f.write_all(zone_identifier(relay_url).as_bytes())?;
                f.sync_all()
            });
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not mark a received file as from the Internet (Zone.Identifier)");
        }
    }
    #[cfg(not(windows))]
    {
        let _ = (path, relay_url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_goes_before_the_extension() {
        assert_eq!(suffixed("A_1.CSV", 1), "A_1 (1).CSV");
        assert_eq!(suffixed("noext", 2), "noext (2)");
        assert_eq!(suffixed(".hidden", 1), ".hidden (1)");
    }

    #[test]
    fn rename_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.CSV"), b"old").unwrap();
        let tmp = d.path().join("t.part");
        std::fs::write(&tmp, b"new").unwrap();
        let p = rename_no_clobber(&tmp, d.path(), "a.CSV").unwrap();
        assert_eq!(p.file_name().unwrap(), "a (1).CSV");
        assert_eq!(std::fs::read(d.path().join("a.CSV")).unwrap(), b"old");
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert!(!tmp.exists());
    }

    #[test]
    fn rename_takes_the_next_free_suffix_and_never_touches_the_others() {
        let d = tempfile::tempdir().unwrap();
        for (name, body) in [("a.CSV", "0"), ("a (1).CSV", "1"), ("a (2).CSV", "2")] {
            std::fs::write(d.path().join(name), body).unwrap();
        }
        let tmp = d.path().join(".careplan-x.part");
        std::fs::write(&tmp, b"new").unwrap();
        let p = rename_no_clobber(&tmp, d.path(), "a.CSV").unwrap();
        assert_eq!(p.file_name().unwrap(), "a (3).CSV");
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        for (name, body) in [("a.CSV", "0"), ("a (1).CSV", "1"), ("a (2).CSV", "2")] {
            assert_eq!(std::fs::read_to_string(d.path().join(name)).unwrap(), body);
        }
        assert!(!tmp.exists());
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn a_folder_or_a_link_of_that_name_is_not_replaced_either() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("b.pdf")).unwrap();
        let tmp = d.path().join("t.part");
        std::fs::write(&tmp, b"new").unwrap();
        let p = rename_no_clobber(&tmp, d.path(), "b.pdf").unwrap();
        assert_eq!(p.file_name().unwrap(), "b (1).pdf");
        assert!(d.path().join("b.pdf").is_dir());
        #[cfg(unix)]
        {
            // A dangling symbolic link: following it would create a file elsewhere.
            let elsewhere = d.path().join("elsewhere.pdf");
            std::os::unix::fs::symlink(&elsewhere, d.path().join("c.pdf")).unwrap();
            let tmp = d.path().join("u.part");
            std::fs::write(&tmp, b"new").unwrap();
            let p = rename_no_clobber(&tmp, d.path(), "c.pdf").unwrap();
            assert_eq!(p.file_name().unwrap(), "c (1).pdf");
            assert!(!elsewhere.exists());
        }
    }

    #[test]
    fn no_replace_move_fails_when_the_name_is_taken() {
        let d = tempfile::tempdir().unwrap();
        let (from, to) = (d.path().join("from"), d.path().join("to"));
        std::fs::write(&from, b"new").unwrap();
        std::fs::write(&to, b"old").unwrap();
        let e = move_no_replace(&from, &to).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&to).unwrap(), b"old");
        assert_eq!(std::fs::read(&from).unwrap(), b"new");
        std::fs::remove_file(&to).unwrap();
        move_no_replace(&from, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"new");
        assert!(!from.exists());
    }

    #[test]
    fn zone_identifier_is_internet_zone_with_the_relay() {
        assert_eq!(
            zone_identifier("https://relay.example:8443"),
            "[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://relay.example:8443\r\n"
        );
        // No line can be smuggled in through the URL.
        let z = zone_identifier("https://x\r\nZoneId=0");
        assert_eq!(z.lines().count(), 3);
        assert!(!z.lines().any(|l| l.starts_with("ZoneId=0")));
    }

    #[test]
    fn marking_adds_a_stream_on_windows_and_nothing_elsewhere() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.pdf");
        std::fs::write(&p, b"x").unwrap();
        mark_from_internet(&p, "https://relay.example");
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        // Never a second file beside it: the mark is a stream of the same file.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        #[cfg(windows)]
        {
            // On NTFS (a Windows temp folder) the stream reads back.
            let mut stream = p.as_os_str().to_owned();
            stream.push(":Zone.Identifier");
            assert_eq!(
                std::fs::read_to_string(&stream).unwrap(),
                zone_identifier("https://relay.example")
            );
        }
    }
}
