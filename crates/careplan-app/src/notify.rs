//! OS notifications of arrivals (issue 14): a Windows toast, a desktop notification on
//! Linux where a notification service runs (D-Bus `org.freedesktop.Notifications`), and
//! silently nothing where none does. Through `notify-rust`. Sent from a short-lived thread:
//! the window never waits for the notification service.
//!
//! A notification says which office profile got how many files, never a file name, a
//! 利用者 or a 被保険者番号 (the screen may be seen by others; the toast stays in the
//! Windows action centre).

use crate::ui::offices::Announcement;

/// Show `a` as an OS notification (best effort; a failure is logged at debug level).
pub fn show(a: &Announcement) {
    let (title, body) = a.text();
    let _ = std::thread::Builder::new()
        .name("careplan-notify".into())
        .spawn(move || {
            let mut n = notify_rust::Notification::new();
            n.summary(&title).body(&body).appname("careplan");
            #[cfg(all(unix, not(target_os = "macos")))]
            n.icon("mail-message-new")
                .hint(notify_rust::Hint::Category("im.received".into()));
            if let Err(e) = n.show() {
                tracing::debug!(error = %e, "no notification service");
            }
        });
}
