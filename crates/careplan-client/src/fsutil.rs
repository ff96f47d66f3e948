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

/// Create a new file for writing, failing if it exists. `private` makes it owner-only from
/// the start: mode 0600 given to `open(2)` on Unix (never a `chmod` afterwards), an
/// owner-only ACL on Windows (set before anything is written).
pub fn create_new(path: &Path, private: bool) -> Result<File, ClientError> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path).map_err(|e| ClientError::io(path, e))?;
    #[cfg(windows)]
    if private && let Err(e) = restrict_to_owner(path) {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(ClientError::io(path, e));
    }
    Ok(f)
}

/// Create `dir` (and missing parents) owner-only: mode 0700 on Unix, an owner-only ACL on
/// Windows (profile folders holding private keys). An existing folder is tightened when it
/// is open to others; where that is not allowed the folder is used as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), ClientError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| ClientError::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| ClientError::io(dir, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0
            && let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(error = %e, "could not make the profile folder owner-only");
        }
    }
    #[cfg(windows)]
    if let Err(e) = restrict_to_owner(dir) {
        tracing::warn!(error = %e, "could not make the profile folder owner-only");
    }
    Ok(())
}

/// Give `path` a protected DACL granting only the current user full control (Windows):
/// inherited entries (Users, Authenticated Users) are removed. Administrators and SYSTEM
/// keep the access the OS gives them anyway (backup privilege, ownership).
#[cfg(windows)]
#[allow(unsafe_code)]
pub fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        EXPLICIT_ACCESS_W, NO_MULTIPLE_TRUSTEE, SE_FILE_OBJECT, SET_ACCESS, SetEntriesInAclW,
        SetNamedSecurityInfoW, TRUSTEE_IS_SID, TRUSTEE_IS_USER, TRUSTEE_W,
    };
    use windows_sys::Win32::Security::{
        ACL, DACL_SECURITY_INFORMATION, GetTokenInformation, NO_INHERITANCE,
        PROTECTED_DACL_SECURITY_INFORMATION, SUB_CONTAINERS_AND_OBJECTS_INHERIT, TOKEN_QUERY,
        TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    let wide: Vec<u16> = path
        .as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: every pointer passed below points into a live local buffer of the size given;
    // the token handle and the ACL are released before returning.
    unsafe {
        let mut token: HANDLE = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut len = 0u32;
        GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut len);
        // u64 elements: TOKEN_USER holds a pointer and must be 8-byte aligned.
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        let ok = GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len);
        CloseHandle(token);
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let user = &*(buf.as_ptr().cast::<TOKEN_USER>());
        let access = EXPLICIT_ACCESS_W {
            grfAccessPermissions: FILE_ALL_ACCESS,
            grfAccessMode: SET_ACCESS,
            // A folder passes the entry on to the files made in it; a file has nothing to pass.
            grfInheritance: if path.is_dir() {
                SUB_CONTAINERS_AND_OBJECTS_INHERIT
            } else {
                NO_INHERITANCE
            },
            Trustee: TRUSTEE_W {
                pMultipleTrustee: std::ptr::null_mut(),
                MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
                TrusteeForm: TRUSTEE_IS_SID,
                TrusteeType: TRUSTEE_IS_USER,
                ptstrName: user.User.Sid.cast(),
            },
        };
        let mut acl: *mut ACL = std::ptr::null_mut();
        let rc = SetEntriesInAclW(1, &access, std::ptr::null(), &mut acl);
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
        let rc = SetNamedSecurityInfoW(
            wide.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            acl,
            std::ptr::null(),
        );
        LocalFree(acl.cast());
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
    }
    Ok(())
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

/// `name`, then `name (1).ext`, `name (2).ext` … — `limit` names in all: the names a
/// file may take beside others of the same name.
pub fn candidates(name: &str, limit: u32) -> impl Iterator<Item = String> + '_ {
    (0..limit).map(move |n| {
        if n == 0 {
            name.to_owned()
        } else {
            suffixed(name, n)
        }
    })
}

/// Move the finished temporary file `tmp` into `dir` under `name`, or under
/// `name (1).ext`, `name (2).ext` … when that name is taken. Never replaces an existing
/// file (see the module documentation for how, per platform). Returns the final path. The
/// folder is synced afterwards.
pub fn rename_no_clobber(tmp: &Path, dir: &Path, name: &str) -> Result<PathBuf, ClientError> {
    for candidate in candidates(name, 10_000) {
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
