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
