//! The icon in the notification area (issue 14): the files not yet received of every
//! office profile (in its tooltip, and an orange dot on the icon), and a menu — ウィンドウを
//! 開く, 受信一覧, 終了. With 自動送受信 running, closing the window hides it here instead of
//! ending the app ([`crate::ui::offices::Offices`] decides; the first time it says so).
//!
//! - Windows: the shell's notification area, through `tray-icon` (Win32 `Shell_NotifyIcon`;
//!   its events arrive on the window's own message loop, then here through a channel).
//! - Linux: a StatusNotifierItem on the session D-Bus (`ksni`, no GTK): shown by KDE, by
//!   GNOME with the AppIndicator extension, by most panels. Where no host runs, the icon is
//!   not shown ([`Tray::shown`] is false) and closing the window asks instead, as before; a
//!   host that appears later (a panel started after the app) shows it from then on.
//! - Elsewhere: no icon.
//!
//! The icon shows counts only: never a 利用者 or a file name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// What the icon's menu or a click on it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayCommand {
    /// A click on the icon, or 「ウィンドウを開く」: show the window.
    Open,
    /// 「受信一覧」: show the window on the 受信一覧 of the office with files not yet received.
    Received,
    /// 「終了」: end the app (and with it 自動送受信).
    Quit,
}

/// The menu, in order: (id, label, command). `None` is a separator.
pub const MENU: [Option<(&str, &str, TrayCommand)>; 4] = [
    Some(("open", "ウィンドウを開く", TrayCommand::Open)),
    Some(("received", "受信一覧", TrayCommand::Received)),
    None,
    Some(("quit", "終了", TrayCommand::Quit)),
];

/// The name shown for the icon.
pub const TITLE: &str = "ケアプランデータ連携";

/// The icon's two looks, 32×32 RGBA: plain, and with the dot for files not yet received
/// (`scripts/windows/make-icon.sh` draws them).
fn icons() -> Option<(Rgba, Rgba)> {
    Some((
        decode_png(include_bytes!("../../../assets/tray-32.png"))?,
        decode_png(include_bytes!("../../../assets/tray-32-unread.png"))?,
    ))
}

/// An image as 8-bit RGBA rows.
#[derive(Clone)]
pub struct Rgba {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub data: Vec<u8>,
}

fn decode_png(bytes: &[u8]) -> Option<Rgba> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return None;
    }
    buf.truncate(info.buffer_size());
    Some(Rgba {
        width: info.width,
        height: info.height,
        data: buf,
    })
}

/// What the icon shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Look {
    unread: bool,
    tooltip: String,
}

/// The running icon. Dropping it removes the icon.
pub struct Tray {
    rx: mpsc::Receiver<TrayCommand>,
    shown: Arc<AtomicBool>,
    look: Look,
    backend: backend::Backend,
}

impl Tray {
    /// Put the icon in the notification area. `None` (with the reason logged) where this
    /// system has none: no session bus, no Windows shell, another OS.
    pub fn start(ctx: &egui::Context) -> Option<Tray> {
        let (tx, rx) = mpsc::channel();
        let shown = Arc::new(AtomicBool::new(true));
        let Some((plain, unread)) = icons() else {
            tracing::warn!("the tray icon images could not be decoded");
            return None;
        };
        let send = Sender {
            tx: Arc::new(Mutex::new(tx)),
            ctx: ctx.clone(),
        };
        match backend::Backend::start(send, shown.clone(), plain, unread) {
            Ok(backend) => {
                tracing::info!("icon in the notification area");
                Some(Tray {
                    rx,
                    shown,
                    look: Look::default(),
                    backend,
                })
            }
            Err(e) => {
                tracing::info!(reason = %e, "no icon in the notification area");
                None
            }
        }
    }

    /// Whether a notification area shows the icon now (on Linux: a StatusNotifierItem host
    /// is running). Closing the window hides it only then.
    pub fn shown(&self) -> bool {
        self.shown.load(Ordering::Relaxed)
    }

    /// What the menu and clicks asked for since the last call.
    pub fn commands(&self) -> Vec<TrayCommand> {
        self.rx.try_iter().collect()
    }

    /// Show `unread` files not yet received (the dot) and `tooltip`; only a change reaches
    /// the system.
    pub fn set(&mut self, unread: usize, tooltip: &str) {
        let look = Look {
            unread: unread > 0,
            tooltip: tooltip.to_owned(),
        };
        if look != self.look {
            self.backend.set(&look);
            self.look = look;
        }
    }
}

/// The way back from the system's thread to the app: a command, then a repaint so that the
/// app's logic runs even while its window is hidden.
#[derive(Clone)]
struct Sender {
    tx: Arc<Mutex<mpsc::Sender<TrayCommand>>>,
    ctx: egui::Context,
}

impl Sender {
    fn send(&self, c: TrayCommand) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(c);
        }
        self.ctx.request_repaint();
    }
}

/// The tooltip: the app, then the files not yet received (per office when there are
/// several), within the 127 characters Windows shows.
pub fn tooltip(per_office: &[(String, Option<usize>)]) -> String {
    let total: usize = per_office.iter().filter_map(|(_, n)| *n).sum();
    let mut s = String::from(TITLE);
    if per_office.iter().all(|(_, n)| n.is_none()) {
        s.push_str("\nログインしていません");
    } else if total == 0 {
        s.push_str("\n未受信のデータはありません");
    } else {
        s.push_str(&format!("\n未受信 {total}件"));
        if per_office.len() > 1 {
            for (name, n) in per_office {
                if let Some(n @ 1..) = n {
                    s.push_str(&format!("\n{name}: {n}件"));
                }
            }
        }
    }
    if s.chars().count() > 120 {
        s = s.chars().take(119).collect::<String>() + "…";
    }
    s
}

#[cfg(target_os = "linux")]
mod backend {
    //! StatusNotifierItem (ksni).
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use ksni::blocking::TrayMethods;

    use super::{Look, MENU, Rgba, Sender, TITLE, TrayCommand};

    struct Item {
        send: Sender,
        shown: Arc<AtomicBool>,
        plain: Vec<ksni::Icon>,
        unread_icon: Vec<ksni::Icon>,
        look: Look,
    }

    /// SNI pixmaps are ARGB32 in network byte order.
    fn argb(img: &Rgba) -> Vec<ksni::Icon> {
        let data = img
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect();
        vec![ksni::Icon {
            width: img.width as i32,
            height: img.height as i32,
            data,
        }]
    }

    impl ksni::Tray for Item {
        fn id(&self) -> String {
            "careplan".into()
        }
        fn title(&self) -> String {
            TITLE.into()
        }
        fn category(&self) -> ksni::Category {
            ksni::Category::Communications
        }
        fn status(&self) -> ksni::Status {
            if self.look.unread {
                ksni::Status::NeedsAttention
            } else {
                ksni::Status::Active
            }
        }
        fn icon_pixmap(&self) -> Vec<ksni::Icon> {
            if self.look.unread {
                self.unread_icon.clone()
            } else {
                self.plain.clone()
            }
        }
        fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
            self.unread_icon.clone()
        }
        fn tool_tip(&self) -> ksni::ToolTip {
            let (title, description) = self.look.tooltip.split_once('\n').unwrap_or((TITLE, ""));
            // The description may carry markup: names are shown as text.
            let description = description
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            ksni::ToolTip {
                title: title.into(),
                description,
                ..Default::default()
            }
        }
        fn activate(&mut self, _x: i32, _y: i32) {
            self.send.send(TrayCommand::Open);
        }
        fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
            MENU.iter()
                .map(|m| match m {
                    Some((_, label, command)) => {
                        let command = *command;
                        ksni::menu::StandardItem {
                            label: (*label).into(),
                            activate: Box::new(move |t: &mut Self| t.send.send(command)),
                            ..Default::default()
                        }
                        .into()
                    }
                    None => ksni::MenuItem::Separator,
                })
                .collect()
        }
        fn watcher_online(&self) {
            self.shown.store(true, Ordering::Relaxed);
            self.send.ctx.request_repaint();
        }
        fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
            tracing::info!(
                ?reason,
                "no StatusNotifierItem host: the tray icon is not shown"
            );
            self.shown.store(false, Ordering::Relaxed);
            // Keep the service: a host that starts later shows the icon.
            true
        }
    }

    pub(super) struct Backend {
        handle: ksni::blocking::Handle<Item>,
    }

    impl Backend {
        pub(super) fn start(
            send: Sender,
            shown: Arc<AtomicBool>,
            plain: Rgba,
            unread: Rgba,
        ) -> Result<Self, String> {
            let item = Item {
                send,
                shown,
                plain: argb(&plain),
                unread_icon: argb(&unread),
                look: Look::default(),
            };
            // A missing host is not an error (the panel may start after the app); a missing
            // session bus is.
            let handle = item
                .assume_sni_available(true)
                .spawn()
                .map_err(|e| e.to_string())?;
            Ok(Self { handle })
        }

        pub(super) fn set(&mut self, look: &Look) {
            let look = look.clone();
            let _ = self.handle.update(move |t| t.look = look);
        }
    }

    impl Drop for Backend {
        fn drop(&mut self) {
            self.handle.shutdown().wait();
        }
    }
}

#[cfg(windows)]
mod backend {
    //! The shell's notification area (tray-icon). Created on the window's thread, whose
    //! message loop (winit's) delivers the icon's messages.
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
    use tray_icon::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

    use super::{Look, MENU, Rgba, Sender, TrayCommand};

    pub(super) struct Backend {
        icon: TrayIcon,
        plain: tray_icon::Icon,
        unread: tray_icon::Icon,
        _menu_items: Vec<MenuItem>,
    }

    fn icon(img: &Rgba) -> Result<tray_icon::Icon, String> {
        tray_icon::Icon::from_rgba(img.data.clone(), img.width, img.height)
            .map_err(|e| e.to_string())
    }

    impl Backend {
        pub(super) fn start(
            send: Sender,
            _shown: Arc<AtomicBool>,
            plain: Rgba,
            unread: Rgba,
        ) -> Result<Self, String> {
            let menu = Menu::new();
            let mut items = Vec::new();
            for m in MENU {
                match m {
                    Some((id, label, _)) => {
                        let item = MenuItem::with_id(id, label, true, None);
                        menu.append(&item).map_err(|e| e.to_string())?;
                        items.push(item);
                    }
                    None => menu
                        .append(&PredefinedMenuItem::separator())
                        .map_err(|e| e.to_string())?,
                }
            }
            let on_menu = send.clone();
            MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
                if let Some(Some((_, _, c))) = MENU
                    .iter()
                    .find(|m| m.is_some_and(|(id, _, _)| e.id.as_ref() == id))
                {
                    on_menu.send(*c);
                }
            }));
            TrayIconEvent::set_event_handler(Some(move |e: TrayIconEvent| match e {
                TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                }
                | TrayIconEvent::DoubleClick {
                    button: MouseButton::Left,
                    ..
                } => send.send(TrayCommand::Open),
                _ => {}
            }));
            let plain = icon(&plain)?;
            let unread = icon(&unread)?;
            let tray = TrayIconBuilder::new()
                .with_id("careplan")
                .with_menu(Box::new(menu))
                .with_menu_on_left_click(false)
                .with_tooltip(super::TITLE)
                .with_icon(plain.clone())
                .build()
                .map_err(|e| e.to_string())?;
            Ok(Self {
                icon: tray,
                plain,
                unread,
                _menu_items: items,
            })
        }

        pub(super) fn set(&mut self, look: &Look) {
            let icon = if look.unread {
                self.unread.clone()
            } else {
                self.plain.clone()
            };
            let _ = self.icon.set_icon(Some(icon));
            let _ = self.icon.set_tooltip(Some(&look.tooltip));
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod backend {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::{Look, Rgba, Sender};

    pub(super) struct Backend;

    impl Backend {
        pub(super) fn start(
            _send: Sender,
            _shown: Arc<AtomicBool>,
            _plain: Rgba,
            _unread: Rgba,
        ) -> Result<Self, String> {
            Err("no notification area on this system".into())
        }
        pub(super) fn set(&mut self, _look: &Look) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_icons_decode() {
        let (a, b) = icons().expect("icons");
        assert_eq!((a.width, a.height, a.data.len()), (32, 32, 32 * 32 * 4));
        assert_eq!((b.width, b.height, b.data.len()), (32, 32, 32 * 32 * 4));
        assert_ne!(a.data, b.data);
    }

    #[test]
    fn tooltip_counts_only() {
        assert_eq!(
            tooltip(&[("A".into(), None)]),
            "ケアプランデータ連携\nログインしていません"
        );
        assert_eq!(
            tooltip(&[("A".into(), Some(0)), ("B".into(), None)]),
            "ケアプランデータ連携\n未受信のデータはありません"
        );
        assert_eq!(
            tooltip(&[("A".into(), Some(3))]),
            "ケアプランデータ連携\n未受信 3件"
        );
        assert_eq!(
            tooltip(&[
                ("ひまわり".into(), Some(2)),
                ("さくら".into(), Some(0)),
                ("もみじ".into(), Some(1))
            ]),
            "ケアプランデータ連携\n未受信 3件\nひまわり: 2件\nもみじ: 1件"
        );
        let many: Vec<(String, Option<usize>)> = (0..16)
            .map(|i| ("事".repeat(60) + &i.to_string(), Some(1)))
            .collect();
        assert_eq!(tooltip(&many).chars().count(), 120);
    }
}
