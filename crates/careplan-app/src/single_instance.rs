//! One running app per OS user.
//!
//! [`acquire`] takes an exclusive lock on `<data dir>/<app_id>.lock` with the standard
//! library's `File::try_lock` (`flock` on Linux/macOS, `LockFileEx` on Windows). The
//! operating system drops the lock when the process ends — also after a crash or a kill —
//! so a stale lock file never blocks a start. The data dir is the one the app already uses
//! for this OS user (`CAREPLAN_DATA_DIR` if set, else `careplan_client::Store::default_dir`,
//! i.e. `%APPDATA%\careplan\careplan\data` on Windows), so two Windows users on the same
//! shared PC (or two sessions on a terminal server) each get their own instance.
//!
//! Bringing the first window forward: the second start calls
//! [`AlreadyRunning::request_focus`], which leaves a small `<app_id>.focus` file next to the
//! lock; the running app polls [`Guard::focus_requested`] (a cheap `stat`, e.g. once a
//! second from the UI's update loop) and, when it returns `true`, raises its window
//! (`egui::ViewportCommand::Minimized(false)` then `egui::ViewportCommand::Focus`).
//!
//! Typical use at the GUI start:
//!
//! ```no_run
//! match careplan_app::single_instance::acquire("careplan") {
//!     Ok(guard) => { /* keep `guard` alive as long as the window is open */ drop(guard) }
//!     Err(running) => {
//!         running.request_focus();
//!         eprintln!("{running}"); // 「ケアプランはすでに起動しています…」
//!     }
//! }
//! ```
//!
//! If the lock file cannot be created at all (no data dir, read-only profile), the app is
//! not stopped from starting: `acquire` returns a guard without a lock and logs a warning.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Held by the running instance; the lock is released when it is dropped (or the process
/// ends).
#[derive(Debug)]
pub struct Guard {
    /// The locked file; `None` when locking was impossible (see the module docs).
    file: Option<File>,
    focus_path: PathBuf,
    pid_path: PathBuf,
}

/// Another instance of the app is already running for this user.
#[derive(Debug, Clone)]
pub struct AlreadyRunning {
    /// The lock file held by the other instance.
    pub lock_path: PathBuf,
    /// The other instance's process id, when it could be read.
    pub pid: Option<u32>,
    focus_path: PathBuf,
}

/// Take the per-user single-instance lock for `app_id` (e.g. `"careplan"`).
///
/// `Err(AlreadyRunning)` when another process of this OS user holds it; call
/// [`AlreadyRunning::request_focus`] to bring that window forward, then exit.
pub fn acquire(app_id: &str) -> Result<Guard, AlreadyRunning> {
    let dir = match std::env::var_os("CAREPLAN_DATA_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => careplan_client::Store::default_dir().ok(),
    };
    match dir {
        Some(dir) => acquire_in(&dir, app_id),
        None => {
            tracing::warn!("single instance: no per-user data folder; starting without a lock");
            Ok(Guard::unlocked(Path::new("."), app_id))
        }
    }
}

/// [`acquire`] with an explicit folder for the lock file (tests, portable setups).
pub fn acquire_in(dir: &Path, app_id: &str) -> Result<Guard, AlreadyRunning> {
    let stem = safe_stem(app_id);
    let lock_path = dir.join(format!("{stem}.lock"));
    let mut guard = Guard::unlocked(dir, app_id);
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::warn!("single instance: cannot create {}: {e}", dir.display());
        return Ok(guard);
    }
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("single instance: cannot open {}: {e}", lock_path.display());
            return Ok(guard);
        }
    };
    match file.try_lock() {
        Ok(()) => {
            // The pid goes into a separate file: on Windows a locked file cannot be read by
            // another process.
            let _ = File::create(&guard.pid_path)
                .and_then(|mut f| f.write_all(std::process::id().to_string().as_bytes()));
            // A focus request left over from before this start is stale.
            let _ = std::fs::remove_file(&guard.focus_path);
            guard.file = Some(file);
            Ok(guard)
        }
        Err(TryLockError::WouldBlock) => Err(AlreadyRunning {
            lock_path,
            pid: std::fs::read_to_string(&guard.pid_path)
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            focus_path: guard.focus_path.clone(),
        }),
        Err(TryLockError::Error(e)) => {
            tracing::warn!("single instance: cannot lock {}: {e}", lock_path.display());
            Ok(guard)
        }
    }
}

/// A Windows-safe file-name stem from `app_id`: ASCII letters, digits, `-`, `_` and `.`
/// are kept, anything else becomes `_`.
fn safe_stem(app_id: &str) -> String {
    let s: String = app_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() { "app".to_string() } else { s }
}

impl Guard {
    fn unlocked(dir: &Path, app_id: &str) -> Self {
        let stem = safe_stem(app_id);
        Self {
            file: None,
            focus_path: dir.join(format!("{stem}.focus")),
            pid_path: dir.join(format!("{stem}.pid")),
        }
    }

    /// Whether this guard really holds the lock (`false` when locking was impossible).
    pub fn is_locked(&self) -> bool {
        self.file.is_some()
    }

    /// `true` once after a second start asked this instance to bring its window forward.
    pub fn focus_requested(&self) -> bool {
        std::fs::remove_file(&self.focus_path).is_ok()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            let _ = std::fs::remove_file(&self.pid_path);
            let _ = f.unlock();
        }
    }
}

impl AlreadyRunning {
    /// Ask the running instance to bring its window forward (see [`Guard::focus_requested`]).
    /// On Windows this also lets the running instance take the foreground
    /// (`AllowSetForegroundWindow`).
    pub fn request_focus(&self) {
        allow_foreground(self.pid);
        let _ = File::create(&self.focus_path);
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
fn allow_foreground(pid: Option<u32>) {
    use windows_sys::Win32::UI::WindowsAndMessaging::{ASFW_ANY, AllowSetForegroundWindow};
    // SAFETY: plain process id argument; failure only means Windows keeps its focus rules.
    unsafe {
        AllowSetForegroundWindow(pid.unwrap_or(ASFW_ANY));
    }
}

#[cfg(not(windows))]
fn allow_foreground(_pid: Option<u32>) {}

impl fmt::Display for AlreadyRunning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ケアプランはすでに起動しています（このユーザーで起動できるのは1つだけです）"
        )?;
        if let Some(pid) = self.pid {
            write!(f, "。プロセスID {pid}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AlreadyRunning {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire_in(dir.path(), "careplan").expect("first start");
        assert!(first.is_locked());
        let second = acquire_in(dir.path(), "careplan").expect_err("second start");
        assert_eq!(second.pid, Some(std::process::id()));
        assert!(second.to_string().contains("すでに起動しています"));
        // Another app id (or another user's folder) is independent.
        let other = acquire_in(dir.path(), "careplan-other").expect("other id");
        drop(other);
        drop(first);
        let third = acquire_in(dir.path(), "careplan").expect("after the first ended");
        assert!(third.is_locked());
    }

    #[test]
    fn focus_request_is_seen_once() {
        let dir = tempfile::tempdir().unwrap();
        let guard = acquire_in(dir.path(), "careplan").unwrap();
        assert!(!guard.focus_requested());
        let running = acquire_in(dir.path(), "careplan").unwrap_err();
        running.request_focus();
        assert!(guard.focus_requested());
        assert!(!guard.focus_requested());
    }

    #[test]
    fn lock_in_a_japanese_folder_with_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ケアプラン データ").join("利用者 1");
        let guard = acquire_in(&sub, "careplan").unwrap();
        assert!(guard.is_locked());
        assert!(sub.join("careplan.lock").exists());
    }

    #[test]
    fn app_id_becomes_a_windows_safe_name() {
        assert_eq!(safe_stem("careplan"), "careplan");
        assert_eq!(safe_stem("care:plan/x*?"), "care_plan_x__");
        assert_eq!(safe_stem(".."), "app");
        assert_eq!(safe_stem("ケア"), "__");
    }
}
