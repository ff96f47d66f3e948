//! 「パソコンにログインしたら起動する」 (issue 14): per user, no administrator rights.
//!
//! - Windows: the value `careplan` under `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`
//!   (the same value the installer's optional 「ログイン時に起動する」 writes, and the
//!   uninstaller removes), holding the quoted path of this exe.
//! - Linux and other XDG desktops: `$XDG_CONFIG_HOME/autostart/careplan.desktop`
//!   (`~/.config/autostart` when the variable is unset), per the XDG Autostart
//!   specification.
//!
//! The state is read from the OS each time (the user may remove the entry in Windows'
//! タスク マネージャー → スタートアップ); it is not a setting of the store.

use std::path::{Path, PathBuf};

/// The name of the entry (registry value, `.desktop` file stem).
pub const ENTRY: &str = "careplan";

/// Whether the app starts at login.
pub fn is_enabled() -> bool {
    imp::is_enabled()
}

/// Start the app at login (`true`) or not. The message says what went wrong, in Japanese.
pub fn set_enabled(on: bool) -> Result<(), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("このプログラムの場所がわかりません（{e}）。"))?;
    imp::set(on, &exe)
}

/// The XDG autostart folder: `$XDG_CONFIG_HOME/autostart`, else `$HOME/.config/autostart`.
pub fn xdg_autostart_dir() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("autostart"))
}

/// The `.desktop` entry that starts `exe` (the Exec value quoted as the Desktop Entry
/// specification asks: inside double quotes, `"` `` ` `` `$` `\` escaped, `%` doubled).
pub fn desktop_entry(exe: &Path) -> String {
    let mut quoted = String::from("\"");
    for c in exe.to_string_lossy().chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '%' => quoted.push_str("%%"),
            '\n' | '\r' => quoted.push(' '),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    format!(
        "[Desktop Entry]\nType=Application\nName=ケアプランデータ連携 クライアント\nComment=ケアプランデータ連携の送受信（自動送受信）\nExec={quoted}\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
    )
}

#[cfg(not(windows))]
mod imp {
    use super::*;

    fn file() -> Option<PathBuf> {
        xdg_autostart_dir().map(|d| d.join(format!("{ENTRY}.desktop")))
    }

    pub(super) fn is_enabled() -> bool {
        file().is_some_and(|f| f.is_file())
    }

    pub(super) fn set(on: bool, exe: &Path) -> Result<(), String> {
        let f = file().ok_or_else(|| {
            "自動起動の設定フォルダ（~/.config/autostart）がわかりません。".to_owned()
        })?;
        if on {
            let dir = careplan_client::fsutil::parent(&f);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("{} を作れません（{e}）。", dir.display()))?;
            careplan_client::fsutil::write_atomic(&f, desktop_entry(exe).as_bytes(), false)
                .map_err(|e| e.message_ja())
        } else {
            match std::fs::remove_file(&f) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("{} を消せません（{e}）。", f.display())),
            }
        }
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod imp {
    use super::*;
    use windows_sys::Win32::Foundation::ERROR_SUCCESS;
    use windows_sys::Win32::System::Registry::{
        HKEY, HKEY_CURRENT_USER, KEY_QUERY_VALUE, KEY_SET_VALUE, REG_SZ, RegCloseKey,
        RegDeleteValueW, RegOpenKeyExW, RegQueryValueExW, RegSetValueExW,
    };

    const RUN: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    fn open(access: u32) -> Option<HKEY> {
        let path = wide(RUN);
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated UTF-16 path and an out pointer to a local.
        let r = unsafe { RegOpenKeyExW(HKEY_CURRENT_USER, path.as_ptr(), 0, access, &mut key) };
        (r == ERROR_SUCCESS).then_some(key)
    }

    pub(super) fn is_enabled() -> bool {
        let Some(key) = open(KEY_QUERY_VALUE) else {
            return false;
        };
        let name = wide(ENTRY);
        // SAFETY: `key` is open; a NULL data pointer only asks whether the value exists.
        let r = unsafe {
            RegQueryValueExW(
                key,
                name.as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        // SAFETY: closing the key opened above.
        unsafe { RegCloseKey(key) };
        r == ERROR_SUCCESS
    }

    pub(super) fn set(on: bool, exe: &Path) -> Result<(), String> {
        let key = open(KEY_SET_VALUE)
            .ok_or_else(|| "レジストリ（スタートアップ）を開けません。".to_owned())?;
        let name = wide(ENTRY);
        let r = if on {
            let data = wide(&format!("\"{}\"", exe.display()));
            // SAFETY: `key` is open; `data` is a NUL-terminated UTF-16 string whose byte
            // length (terminator included) is passed.
            unsafe {
                RegSetValueExW(
                    key,
                    name.as_ptr(),
                    0,
                    REG_SZ,
                    data.as_ptr().cast(),
                    (data.len() * 2) as u32,
                )
            }
        } else {
            // SAFETY: `key` is open; `name` is NUL-terminated.
            let r = unsafe { RegDeleteValueW(key, name.as_ptr()) };
            if r == windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND {
                ERROR_SUCCESS
            } else {
                r
            }
        };
        // SAFETY: closing the key opened above.
        unsafe { RegCloseKey(key) };
        if r == ERROR_SUCCESS {
            Ok(())
        } else {
            Err(format!(
                "スタートアップの登録を変更できません（エラー {r}）。"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_is_quoted_as_the_spec_asks() {
        let e = desktop_entry(Path::new("/opt/care plan/$HOME/100%/careplan"));
        assert!(
            e.contains("Exec=\"/opt/care plan/\\$HOME/100%%/careplan\"\n"),
            "{e}"
        );
        assert!(e.starts_with("[Desktop Entry]\nType=Application\n"));
    }
}
