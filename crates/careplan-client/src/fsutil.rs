//! Durable file writes: temporary file in the target folder → write → flush → fsync →
//! rename into place (never over an existing file when asked) → fsync the folder.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ClientError;

/// Prefix of temporary files written by the client into a target folder.
pub const TEMP_PREFIX: &str = ".careplan-";
/// Suffix of temporary files written by the client into a target folder.
pub const TEMP_SUFFIX: &str = ".part";

/// fsync a directory so that a rename inside it is durable (no-op where unsupported).
pub fn sync_dir(dir: &Path) -> Result<(), ClientError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| ClientError::io(dir, e))?;
        d.sync_all().map_err(|e| ClientError::io(dir, e))?;
    }
    #[cfg(not(unix))]
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

/// Move the finished temporary file `tmp` into `dir` under `name`, or under
/// `name (1).ext`, `name (2).ext` … when that name is taken. Never replaces an existing
/// file (uses a hard link, which fails when the target exists, then removes `tmp`).
/// Returns the final path. The folder is fsynced afterwards.
pub fn rename_no_clobber(tmp: &Path, dir: &Path, name: &str) -> Result<PathBuf, ClientError> {
    for n in 0..10_000u32 {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            suffixed(name, n)
        };
        let target = dir.join(&candidate);
        match std::fs::hard_link(tmp, &target) {
            Ok(()) => {
                std::fs::remove_file(tmp).map_err(|e| ClientError::io(tmp, e))?;
                sync_dir(dir)?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::Unsupported
                    || e.raw_os_error().is_some_and(is_no_link_errno) =>
            {
                // File systems without hard links (e.g. FAT on a USB stick): check, then rename.
                if target.exists() {
                    continue;
                }
                std::fs::rename(tmp, &target).map_err(|e| ClientError::io(&target, e))?;
                sync_dir(dir)?;
                return Ok(target);
            }
            Err(e) => return Err(ClientError::io(&target, e)),
        }
    }
    Err(ClientError::io(
        dir.join(name),
        std::io::Error::other("同じ名前のファイルが多すぎます"),
    ))
}

fn is_no_link_errno(code: i32) -> bool {
    // EPERM (1) on some file systems, EXDEV (18), EMLINK (31), ENOTSUP (95).
    matches!(code, 1 | 18 | 31 | 95)
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
}
