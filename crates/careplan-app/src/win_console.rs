//! Console output of the sub-commands on Windows.
//!
//! The release `careplan.exe` is a GUI-subsystem program (no console window flashes up when
//! a care office starts it from the Start menu). Windows gives such a program no console, so
//! `careplan.exe inspect …` typed in `cmd` or PowerShell would print nothing. When the binary
//! is started with arguments, [`attach_parent_console`] attaches it to the console of the
//! process that started it (`AttachConsole(ATTACH_PARENT_PROCESS)`) and points the standard
//! handles that are missing at that console. Handles that are already set — output
//! redirected to a file or a pipe (`careplan.exe inspect --json x.CSV > out.json`) — are
//! kept as they are.
//!
//! Known limit of the GUI subsystem: `cmd` does not wait for the program, so its prompt may
//! appear before the output; scripts should use `start /wait careplan.exe …` or redirect
//! the output. On other platforms (and in debug builds, which keep the console subsystem)
//! this does nothing.

/// Attach to the parent's console when the standard handles are missing (Windows only).
/// Returns `true` when a console was attached.
#[cfg(windows)]
#[allow(unsafe_code)]
pub fn attach_parent_console() -> bool {
    use windows_sys::Win32::Foundation::{
        GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
    };
    use windows_sys::Win32::System::Console::{
        ATTACH_PARENT_PROCESS, AttachConsole, GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE,
        STD_OUTPUT_HANDLE, SetStdHandle,
    };

    fn missing(h: HANDLE) -> bool {
        h.is_null() || h == INVALID_HANDLE_VALUE
    }
    let ids = [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE];
    // SAFETY: GetStdHandle has no preconditions; it only reads the process's handle table.
    if ids.iter().all(|&id| !missing(unsafe { GetStdHandle(id) })) {
        return false;
    }
    // SAFETY: AttachConsole takes a plain process id; failure (no parent console) is reported
    // by its return value.
    if unsafe { AttachConsole(ATTACH_PARENT_PROCESS) } == 0 {
        return false;
    }
    for id in ids {
        // SAFETY: as above.
        if !missing(unsafe { GetStdHandle(id) }) {
            continue;
        }
        let name: &str = if id == STD_INPUT_HANDLE {
            "CONIN$"
        } else {
            "CONOUT$"
        };
        let wide: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
        // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call; null
        // security attributes and template handle are allowed by CreateFileW.
        let h = unsafe {
            CreateFileW(
                wide.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                std::ptr::null(),
                OPEN_EXISTING,
                0,
                std::ptr::null_mut(),
            )
        };
        if !missing(h) {
            // SAFETY: `h` is a valid console handle owned by this process from now on.
            unsafe { SetStdHandle(id, h) };
        }
    }
    true
}

/// Attach to the parent's console (does nothing outside Windows).
#[cfg(not(windows))]
pub fn attach_parent_console() -> bool {
    false
}
