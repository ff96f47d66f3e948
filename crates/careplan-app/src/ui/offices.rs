//! Several offices on one PC (issue 14): a 法人 with several 事業所番号 often shares one
//! PC. [`Offices`] holds one [`CareplanApp`] per office profile, each over its own store
//! (settings, certificate folder, ledger, drafts, cached lists, watched folders), so that a
//! profile's data can never reach another's screens: isolation by construction, not by
//! filtering.
//!
//! On disk (the terminal's data folder `DATA`):
//! - `DATA/` is the first profile (the one every earlier version used; id `main`);
//! - `DATA/offices/<id>/` each further profile (ids `o2`, `o3`, …; only `[a-z0-9]` are
//!   accepted, so a name read from the file can never point outside the folder);
//! - `DATA/offices.json` the order, the labels, the office last logged in with and the
//!   profile shown last. The folders are the truth: a profile folder missing from the file
//!   (a damaged or deleted file) is still listed, a file entry without a folder is dropped.
//!
//! Every profile stays logged in while another is shown: its arrivals, lists and 自動送受信
//! keep running ([`CareplanApp::tick`] every frame). The header shows each profile with its
//! files not yet received; Ctrl+PageDown / Ctrl+PageUp switch. The kiosk lock is one for
//! all: after the shortest idle time any profile asks for, every profile is logged out. The
//! window title counts the files not yet received of all profiles. 文字の大きさ and
//! 高コントラスト are the terminal's: a change is copied to every profile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use careplan_client::{ProfilePaths, Store};
use egui::RichText;
use serde::{Deserialize, Serialize};

use super::{AppConfig, CareplanApp, Relay, RelaySource};

/// The id of the first profile (the data folder itself).
pub const MAIN_ID: &str = "main";

/// The most profiles on one PC (a 法人's offices; more is almost surely a mistake).
pub const MAX_PROFILES: usize = 16;

const REGISTRY_FILE: &str = "offices.json";
const OFFICES_DIR: &str = "offices";

/// One entry of `offices.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileEntry {
    /// `main` or `o2`, `o3`, ….
    pub id: String,
    /// The name the user gave (may be empty).
    pub label: String,
    /// 「事業所名（事業所番号）」 of the last login (empty before the first).
    pub office: String,
    /// The demo office used by this profile (demo mode only).
    pub demo_office: Option<usize>,
}

impl ProfileEntry {
    /// The name shown in the header.
    pub fn display(&self, n: usize) -> String {
        if !self.label.trim().is_empty() {
            self.label.trim().to_owned()
        } else if !self.office.is_empty() {
            self.office.clone()
        } else {
            format!("事業所{}", n + 1)
        }
    }
}

/// `offices.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Registry {
    /// Format version (1).
    pub version: u32,
    /// The profile shown last.
    pub active: String,
    /// In header order.
    pub offices: Vec<ProfileEntry>,
    /// The user was told once that closing the window keeps 自動送受信 running in the
    /// notification area.
    pub tray_told: bool,
}

/// A profile id read from a file or a folder name: `main`, or `o` + digits/letters.
pub fn valid_id(id: &str) -> bool {
    id == MAIN_ID
        || (id.len() >= 2
            && id.len() <= 16
            && id.starts_with('o')
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The folder of profile `id` under the data folder `root`.
pub fn profile_dir(root: &Path, id: &str) -> PathBuf {
    if id == MAIN_ID {
        root.to_path_buf()
    } else {
        root.join(OFFICES_DIR).join(id)
    }
}

/// The profiles of the data folder `root`: `offices.json` checked against the folders that
/// exist (see the module comment). Never fails: a damaged file only loses labels and order.
pub fn load_registry(root: &Path) -> Registry {
    let path = root.join(REGISTRY_FILE);
    // A file far larger than 16 profiles need is not ours to read into memory.
    let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= 256 * 1024);
    let read = if small {
        std::fs::read(&path)
    } else {
        Err(std::io::ErrorKind::InvalidData.into())
    };
    let file: Registry = match read {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "offices.json is damaged; the profiles are taken from the folders");
            Registry::default()
        }),
        Err(_) => Registry::default(),
    };
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join(OFFICES_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|id| valid_id(id) && id != MAIN_ID)
        .collect();
    on_disk.sort_by_key(|id| (id.len(), id.clone()));
    let mut out = Registry {
        version: 1,
        active: String::new(),
        offices: Vec::new(),
        tray_told: file.tray_told,
    };
    let mut push = |e: ProfileEntry| {
        if !out.offices.iter().any(|o| o.id == e.id) {
            out.offices.push(e);
        }
    };
    // The first profile always exists and always comes first.
    push(
        file.offices
            .iter()
            .find(|e| e.id == MAIN_ID)
            .cloned()
            .unwrap_or(ProfileEntry {
                id: MAIN_ID.into(),
                ..Default::default()
            }),
    );
    for e in &file.offices {
        if e.id != MAIN_ID && valid_id(&e.id) && on_disk.contains(&e.id) {
            push(e.clone());
        }
    }
    for id in on_disk {
        push(ProfileEntry {
            id,
            ..Default::default()
        });
    }
    out.offices.truncate(MAX_PROFILES);
    for e in &mut out.offices {
        e.label = clean_text(&e.label);
        e.office = clean_text(&e.office);
    }
    out.active = if out.offices.iter().any(|e| e.id == file.active) {
        file.active
    } else {
        MAIN_ID.into()
    };
    out
}

/// A name from the file as the header can show it: no control characters, at most 80
/// characters.
fn clean_text(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}

/// Write `offices.json` (atomically: a crash leaves the old or the new file).
pub fn save_registry(root: &Path, r: &Registry) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(r).map_err(|e| e.to_string())?;
    careplan_client::fsutil::write_atomic(&root.join(REGISTRY_FILE), &bytes, true)
        .map_err(|e| e.message_ja())
}

/// A new id: the smallest `oN` (N ≥ 2) not in use and without a folder.
fn next_id(root: &Path, r: &Registry) -> String {
    (2..)
        .map(|n| format!("o{n}"))
        .find(|id| !r.offices.iter().any(|e| &e.id == id) && !profile_dir(root, id).exists())
        .unwrap_or_else(|| "o99".into())
}

/// One profile in the window.
pub struct Profile {
    /// Its entry in `offices.json`.
    pub entry: ProfileEntry,
    /// Its folder.
    pub dir: PathBuf,
    /// Its screens, session and store.
    pub app: CareplanApp,
    /// Files not yet received when last counted (`None` until its list is loaded after a
    /// login): arrivals beyond it are announced.
    seen_unread: Option<usize>,
    /// The remembered demo office is still to be chosen (the demo relay starts after the
    /// window opens).
    demo_pending: bool,
}

/// The add-a-profile dialog.
#[derive(Default)]
struct AddDialog {
    label: String,
    relay_url: String,
    demo_office: usize,
    message: Option<String>,
}

/// Where arrivals are announced.
type Notifier = Box<dyn Fn(&Announcement) + Send>;

/// The window with every office profile of this PC.
pub struct Offices {
    root: PathBuf,
    profiles: Vec<Profile>,
    active: usize,
    add: Option<AddDialog>,
    remove: Option<usize>,
    last_input: Instant,
    lock_override: Option<Duration>,
    title_sent: Option<String>,
    /// Arrival announcements not yet taken by the notifier (tests read them too).
    announcements: Vec<Announcement>,
    notifier: Option<Notifier>,
    /// The window was asked to close while watched folders run: the profiles named here.
    close_ask: Option<Vec<String>>,
    /// The user chose 終了する: the next close request goes through.
    close_confirmed: bool,
    /// The icon in the notification area, where the system has one.
    tray: Option<crate::tray::Tray>,
    /// The window is hidden in the notification area.
    hidden: bool,
    /// See [`Registry::tray_told`].
    tray_told: bool,
    /// A second start of the app asks for the window (see [`Offices::show_request`]).
    show_request: Arc<AtomicBool>,
}

/// 「新しいデータが届きました」 for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The profile's name as in the header.
    pub profile: String,
    /// Files that arrived.
    pub files: usize,
}

impl Announcement {
    /// The notification's title and body.
    pub fn text(&self) -> (String, String) {
        (
            "ケアプランデータ連携: データが届きました".to_owned(),
            format!(
                "{} に新しいデータが {}件 届きました。受信一覧で確認してください。",
                self.profile, self.files
            ),
        )
    }
}

impl Offices {
    /// Every profile of the data folder `root`. `main` is the first profile, already open
    /// (`config.store` is `root`'s store); the others are opened here. A profile whose store
    /// cannot be opened is left out with a warning (its folder is not touched).
    pub fn open(root: &Path, config: AppConfig) -> Self {
        let registry = load_registry(root);
        let tray_told = registry.tray_told;
        let demo = match &config.relay {
            RelaySource::Demo(info) => Some(info.clone()),
            _ => None,
        };
        let main_relay_url = config.store.settings().ok().and_then(|s| s.relay_url);
        let mut profiles = Vec::new();
        let mut main = Some(config);
        for entry in registry.offices {
            let dir = profile_dir(root, &entry.id);
            let app = if entry.id == MAIN_ID {
                match main.take() {
                    Some(c) => {
                        let mut app = CareplanApp::new(c);
                        if let Some(i) = entry.demo_office {
                            app.select_demo_office(i);
                        }
                        app
                    }
                    None => continue,
                }
            } else {
                match open_profile(&dir, demo.as_ref(), &entry, main_relay_url.as_deref()) {
                    Ok(app) => app,
                    Err(e) => {
                        tracing::warn!(profile = %entry.id, error = %e, "a profile could not be opened");
                        continue;
                    }
                }
            };
            profiles.push(Profile {
                entry,
                dir,
                app,
                seen_unread: None,
                demo_pending: true,
            });
        }
        let active = profiles
            .iter()
            .position(|p| p.entry.id == registry.active)
            .unwrap_or(0);
        let note = profiles
            .first()
            .map(|p| p.app.renderer_note.clone())
            .unwrap_or_default();
        for p in &mut profiles {
            p.app.managed = true;
            p.app.renderer_note.clone_from(&note);
        }
        Self {
            root: root.to_path_buf(),
            profiles,
            active,
            add: None,
            remove: None,
            last_input: Instant::now(),
            lock_override: None,
            title_sent: None,
            announcements: Vec::new(),
            notifier: None,
            close_ask: None,
            close_confirmed: false,
            tray: None,
            hidden: false,
            tray_told,
            show_request: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Show the files not yet received in `tray`, take its menu's commands, and hide the
    /// window there when it is closed while 自動送受信 runs.
    pub fn set_tray(&mut self, tray: crate::tray::Tray) {
        self.tray = Some(tray);
    }

    /// The icon in the notification area, if there is one.
    pub fn tray(&self) -> Option<&crate::tray::Tray> {
        self.tray.as_ref()
    }

    /// Whether the window is hidden in the notification area.
    pub fn is_hidden(&self) -> bool {
        self.hidden
    }

    /// Set (from any thread, then `request_repaint`) to bring the window back: a second
    /// start of the app does this.
    pub fn show_request(&self) -> Arc<AtomicBool> {
        self.show_request.clone()
    }

    /// Where arrivals are announced (the OS notification); without one they are only kept
    /// for [`Offices::take_announcements`].
    pub fn set_notifier(&mut self, f: impl Fn(&Announcement) + Send + 'static) {
        self.notifier = Some(Box::new(f));
    }

    /// Arrivals announced since the last call.
    pub fn take_announcements(&mut self) -> Vec<Announcement> {
        std::mem::take(&mut self.announcements)
    }

    /// The profiles in header order.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile shown.
    pub fn active(&self) -> usize {
        self.active
    }

    /// The screens of the profile shown.
    pub fn app(&self) -> &CareplanApp {
        &self.profiles[self.active].app
    }

    /// The screens of the profile shown.
    pub fn app_mut(&mut self) -> &mut CareplanApp {
        &mut self.profiles[self.active].app
    }

    /// The screens of profile `i`.
    pub fn app_at(&self, i: usize) -> Option<&CareplanApp> {
        self.profiles.get(i).map(|p| &p.app)
    }

    /// The store of profile `i`.
    pub fn store_at(&self, i: usize) -> Option<&Store> {
        self.profiles.get(i).map(|p| &p.app.store)
    }

    /// Lock after `idle` without input, whatever the settings say (tests).
    pub fn set_lock_after(&mut self, idle: Duration) {
        self.lock_override = Some(idle);
    }

    /// Show profile `i`.
    pub fn switch_to(&mut self, i: usize) {
        if i >= self.profiles.len() || i == self.active {
            return;
        }
        self.active = i;
        // The look is the terminal's: re-applied when the new profile is drawn.
        self.profiles[i].app.look = None;
        self.save();
    }

    /// Add a profile (the 「事業所を追加」 dialog's work): its folder, its store, its
    /// settings (the relay of the profile shown, its own certificate folder; in demo mode
    /// the demo relay and `demo_office`). Shows it.
    pub fn add_profile(
        &mut self,
        label: &str,
        relay_url: &str,
        demo_office: usize,
    ) -> Result<usize, String> {
        if self.profiles.len() >= MAX_PROFILES {
            return Err(format!(
                "このパソコンに登録できる事業所は{MAX_PROFILES}件までです。"
            ));
        }
        if self.starting_demo() {
            return Err(
                "デモ用の中継サーバを起動しています。起動が終わってから追加してください。".into(),
            );
        }
        let label = label.trim();
        if label.chars().count() > 60 {
            return Err("表示名は60文字までにしてください。".into());
        }
        let registry = self.registry();
        let id = next_id(&self.root, &registry);
        let dir = profile_dir(&self.root, &id);
        careplan_client::fsutil::create_private_dir(&dir).map_err(|e| {
            format!(
                "事業所のフォルダ（{}）を作れません: {}",
                dir.display(),
                e.message_ja()
            )
        })?;
        let demo = self.demo_info();
        let entry = ProfileEntry {
            id,
            label: label.to_owned(),
            office: String::new(),
            demo_office: demo.as_ref().map(|_| demo_office),
        };
        if demo.is_none() {
            let url = relay_url.trim();
            if !url.starts_with("https://") {
                let _ = std::fs::remove_dir(&dir);
                return Err("中継サーバのURLは https:// で始まる形で入力してください。".into());
            }
            let store = Store::open(&dir).map_err(|e| e.to_string())?;
            let mut s = store.settings().unwrap_or_default();
            s.relay_url = Some(url.to_owned());
            s.profile = Some(ProfilePaths::in_dir(&dir));
            store.save_settings(&s).map_err(|e| e.to_string())?;
            store.flush().map_err(|e| e.to_string())?;
            drop(store);
        }
        let mut app = open_profile(&dir, demo.as_ref(), &entry, None)
            .map_err(|e| format!("事業所のデータ（{}）を開けません: {e}", dir.display()))?;
        app.managed = true;
        app.renderer_note
            .clone_from(&self.profiles[0].app.renderer_note);
        self.profiles.push(Profile {
            entry,
            dir,
            app,
            seen_unread: None,
            demo_pending: false,
        });
        let i = self.profiles.len() - 1;
        self.switch_to(i);
        self.save();
        Ok(i)
    }

    /// Take profile `i` off this PC: logged out, its folder deleted. The first profile
    /// cannot be removed.
    pub fn remove_profile(&mut self, ctx: &egui::Context, i: usize) -> Result<(), String> {
        if i == 0 || i >= self.profiles.len() {
            return Err("最初の事業所は外せません。".into());
        }
        let mut p = self.profiles.remove(i);
        p.app.logout(ctx);
        if self.active >= i {
            self.active = self.active.saturating_sub(1);
        }
        self.profiles[self.active].app.look = None;
        self.save();
        let dir = p.dir.clone();
        drop(p);
        // The store's threads let go of the folder shortly after the last handle is gone.
        std::thread::Builder::new()
            .name("careplan-remove-profile".into())
            .spawn(move || {
                for _ in 0..20 {
                    if std::fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                tracing::warn!(dir = %dir.display(), "a removed profile's folder could not be deleted");
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn registry(&self) -> Registry {
        Registry {
            version: 1,
            active: self.profiles[self.active].entry.id.clone(),
            offices: self.profiles.iter().map(|p| p.entry.clone()).collect(),
            tray_told: self.tray_told,
        }
    }

    fn save(&self) {
        if let Err(e) = save_registry(&self.root, &self.registry()) {
            tracing::warn!(error = %e, "offices.json could not be written");
        }
    }

    fn demo_info(&self) -> Option<careplan_relay::demo::DemoInfo> {
        self.profiles
            .iter()
            .find_map(|p| p.app.demo_info().cloned())
    }

    fn starting_demo(&self) -> bool {
        self.profiles
            .iter()
            .any(|p| matches!(p.app.relay, Relay::Starting))
    }

    /// The files not yet received of profile `i` (`None` while it is logged out or its list
    /// is not loaded yet).
    pub fn unread(&self, i: usize) -> Option<usize> {
        let app = &self.profiles.get(i)?.app;
        (app.is_logged_in() && app.received.loaded()).then(|| app.received.unread())
    }

    /// The window's title: the profile shown and the files not yet received of all.
    pub fn window_title(&self) -> String {
        let total: usize = (0..self.profiles.len())
            .filter_map(|i| self.unread(i))
            .sum();
        let base = "ケアプランデータ連携 クライアント";
        let name = self.profiles[self.active].entry.display(self.active);
        let name = match self.app().session.as_ref() {
            Some(s) => s.info.office_name.clone(),
            None => name,
        };
        match (self.profiles.len(), total) {
            (1, _) => self.app().window_title(),
            (_, 0) => format!("{name} - {base}"),
            (_, n) => format!("（未受信 {n}件）{name} - {base}"),
        }
    }

    /// One frame: [`Offices::background`], then the window (kittest calls this; eframe
    /// calls the two parts itself, the first also while the window is hidden).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.background(&ctx);
        self.draw(ui);
    }

    /// The work that goes on while the window is hidden in the notification area (eframe
    /// runs it then whenever a worker, the icon or a timer asks for a repaint): every
    /// profile's finished work (arrivals, lists, 自動送受信), announcements, the title, the
    /// icon and its menu, the kiosk lock, and what a close request means.
    pub fn background(&mut self, ctx: &egui::Context) {
        if self.show_request.swap(false, Ordering::Relaxed) {
            self.show_window(ctx);
        }
        for p in &mut self.profiles {
            p.app.tick(ctx);
        }
        self.share_demo();
        self.kiosk_lock(ctx);
        self.remember_offices();
        self.announce();
        self.update_title(ctx);
        self.tray_commands(ctx);
        self.sync_tray();
        self.close_request(ctx);
    }

    /// Draw the window.
    fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let switch = ctx.input_mut(|i| {
            if i.consume_key(egui::Modifiers::COMMAND, egui::Key::PageDown) {
                1
            } else if i.consume_key(egui::Modifiers::COMMAND, egui::Key::PageUp) {
                -1
            } else {
                0
            }
        });
        if switch != 0 && self.profiles.len() > 1 {
            let n = self.profiles.len() as isize;
            let next = (self.active as isize + switch).rem_euclid(n) as usize;
            self.switch_to(next);
        }
        self.header(ui);
        let active = self.active;
        let look = {
            let s = &self.profiles[active].app.settings;
            (s.text_size_percent, s.high_contrast)
        };
        self.profiles[active].app.show(ui);
        self.share_look(look);
        self.add_dialog(&ctx);
        self.remove_dialog(&ctx);
        self.close_dialog(&ctx);
    }

    /// Hide the window in the notification area (自動送受信 goes on).
    pub fn hide_window(&mut self, ctx: &egui::Context) {
        self.hidden = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
    }

    /// Bring the window back, in front.
    pub fn show_window(&mut self, ctx: &egui::Context) {
        self.hidden = false;
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
        ctx.request_repaint();
    }

    /// Carry out what the icon's menu asked for.
    fn tray_commands(&mut self, ctx: &egui::Context) {
        let Some(tray) = &self.tray else { return };
        for c in tray.commands() {
            self.tray_command(ctx, c);
        }
    }

    /// One command of the icon's menu (also called by tests).
    pub fn tray_command(&mut self, ctx: &egui::Context, c: crate::tray::TrayCommand) {
        use crate::tray::TrayCommand;
        match c {
            TrayCommand::Open => self.show_window(ctx),
            TrayCommand::Received => {
                // The office with files not yet received (the one shown when several have).
                let shown = self.active;
                let target = std::iter::once(shown)
                    .chain(0..self.profiles.len())
                    .find(|&i| self.unread(i).is_some_and(|n| n > 0))
                    .unwrap_or(shown);
                self.switch_to(target);
                let app = &mut self.profiles[target].app;
                if app.is_logged_in() {
                    app.open_tab(ctx, super::Tab::Received);
                }
                self.show_window(ctx);
            }
            TrayCommand::Quit => {
                self.close_ask = None;
                self.close_confirmed = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx.request_repaint();
            }
        }
    }

    /// The icon shows the files not yet received of every profile.
    fn sync_tray(&mut self) {
        if self.tray.is_none() {
            return;
        }
        let per_office: Vec<(String, Option<usize>)> = (0..self.profiles.len())
            .map(|i| (self.profiles[i].entry.display(i), self.unread(i)))
            .collect();
        let total = per_office.iter().filter_map(|(_, n)| *n).sum();
        let tip = crate::tray::tooltip(&per_office);
        if let Some(t) = &mut self.tray {
            t.set(total, &tip);
        }
    }

    /// The question shown when the window is asked to close while 自動送受信 runs (the
    /// profiles named), if it is shown.
    pub fn close_question(&self) -> Option<&[String]> {
        self.close_ask.as_deref()
    }

    /// Closing the window would end the app and with it every profile's watched folders.
    /// While any run, the close is held: with an icon in the notification area the window
    /// hides there (the first time, after saying so: [`Offices::close_dialog`]); without
    /// one the user chooses — minimise and keep them running, quit, or cancel. A close
    /// asked while the window is hidden (the system's logoff) goes through.
    fn close_request(&mut self, ctx: &egui::Context) {
        if !ctx.input(|i| i.viewport().close_requested()) || self.close_confirmed || self.hidden {
            return;
        }
        let running: Vec<String> = self
            .profiles
            .iter()
            .enumerate()
            .filter(|(_, p)| p.app.watch.is_running())
            .map(|(i, p)| p.entry.display(i))
            .collect();
        if running.is_empty() {
            return;
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        if self.tray_told && self.tray.as_ref().is_some_and(|t| t.shown()) {
            self.hide_window(ctx);
        } else {
            self.close_ask = Some(running);
        }
    }

    /// The question of [`Offices::close_request`]: with the icon, 「通知領域で続ける」 (the
    /// default; remembered, not asked again) / 終了する / キャンセル; without it,
    /// 「最小化して続ける」 / 終了する / キャンセル. Escape cancels.
    fn close_dialog(&mut self, ctx: &egui::Context) {
        let Some(names) = &self.close_ask else { return };
        let tray = self.tray.as_ref().is_some_and(|t| t.shown());
        #[derive(PartialEq)]
        enum Choice {
            Minimise,
            Quit,
            Cancel,
        }
        let mut choice = None;
        let modal = egui::Modal::new(egui::Id::unique("close-while-watching")).show(ctx, |ui| {
            ui.set_max_width(600.0);
            ui.heading("自動送受信が動いています");
            ui.label(format!(
                "{} の自動送受信が動いています。ウィンドウを閉じるとアプリが終了し、送信フォルダに置いたファイルは送られず、届いたデータも受信フォルダに保存されません。",
                names.join("、")
            ));
            let keep = if tray {
                ui.label("「通知領域で続ける」を選ぶと、ウィンドウを閉じたあとも画面右下の通知領域のアイコンで自動送受信を続けます。アイコンをクリックするとこの画面に戻り、アイコンのメニューの「終了」でアプリを終了します。次からは、閉じるとそのまま通知領域に入ります。");
                "通知領域で続ける"
            } else {
                ui.label("最小化すると、タスクバーに入ったまま自動送受信を続けます。");
                "最小化して続ける"
            };
            ui.horizontal(|ui| {
                if super::default_button(ui, keep).clicked() {
                    choice = Some(Choice::Minimise);
                }
                if ui.button("終了する").clicked() {
                    choice = Some(Choice::Quit);
                }
                if ui.button("キャンセル").clicked() {
                    choice = Some(Choice::Cancel);
                }
            });
        });
        if choice.is_none() && modal.should_close() {
            choice = Some(Choice::Cancel);
        }
        match choice {
            Some(Choice::Minimise) => {
                self.close_ask = None;
                if tray {
                    self.tray_told = true;
                    self.save();
                    self.hide_window(ctx);
                } else {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
                }
            }
            Some(Choice::Quit) => {
                self.close_ask = None;
                self.close_confirmed = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            Some(Choice::Cancel) => self.close_ask = None,
            None => {}
        }
    }

    /// A demo relay started by the first profile is the others' relay too.
    fn share_demo(&mut self) {
        let Some(info) = self.demo_info() else { return };
        for p in &mut self.profiles {
            if matches!(p.app.relay, Relay::Starting)
                && p.app.embedded.is_none()
                && p.entry.id != MAIN_ID
            {
                p.app.relay = Relay::Demo {
                    info: info.clone(),
                    office: 0,
                };
            }
            // Each profile gets the demo office it used last time, once.
            if p.demo_pending && matches!(p.app.relay, Relay::Demo { .. }) {
                p.demo_pending = false;
                if let Some(office) = p.entry.demo_office {
                    p.app.select_demo_office(office);
                }
            }
        }
    }

    /// 文字の大きさ and 高コントラスト changed in the profile shown: every profile takes it.
    fn share_look(&mut self, before: (u16, bool)) {
        let s = &self.profiles[self.active].app.settings;
        let now = (s.text_size_percent, s.high_contrast);
        if now == before {
            return;
        }
        for (i, p) in self.profiles.iter_mut().enumerate() {
            if i != self.active {
                p.app.settings.text_size_percent = now.0;
                p.app.settings.high_contrast = now.1;
                p.app.save_settings();
            }
        }
    }

    /// The office of a login and the demo office chosen are remembered in `offices.json`.
    fn remember_offices(&mut self) {
        let mut changed = false;
        for p in &mut self.profiles {
            if let Some(s) = &p.app.session {
                let office = format!("{}（{}）", s.info.office_name, s.info.office);
                if p.entry.office != office {
                    p.entry.office = office;
                    changed = true;
                }
            }
            if let Relay::Demo { office, .. } = &p.app.relay
                && !p.demo_pending
                && p.entry.demo_office != Some(*office)
            {
                p.entry.demo_office = Some(*office);
                changed = true;
            }
        }
        if changed {
            self.save();
        }
    }

    /// New files in any profile's 受信一覧 after its first load: one announcement per
    /// profile and batch.
    fn announce(&mut self) {
        for i in 0..self.profiles.len() {
            let now = self.unread(i);
            let p = &mut self.profiles[i];
            match (p.seen_unread, now) {
                (_, None) => p.seen_unread = None,
                (None, Some(n)) => p.seen_unread = Some(n),
                (Some(before), Some(n)) => {
                    if n > before {
                        let a = Announcement {
                            profile: p.entry.display(i),
                            files: n - before,
                        };
                        if let Some(f) = &self.notifier {
                            f(&a);
                        }
                        self.announcements.push(a);
                    }
                    p.seen_unread = Some(n);
                }
            }
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let t = self.window_title();
        if self.title_sent.as_deref() != Some(t.as_str()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(t.clone()));
            self.title_sent = Some(t);
        }
    }

    /// One kiosk lock for every profile: the shortest idle time any of them asks for.
    fn kiosk_lock(&mut self, ctx: &egui::Context) {
        // While hidden, the input is that of the last frame shown: not new input.
        let any_input = !self.hidden
            && ctx.input(|i| !i.events.is_empty() || i.pointer.is_moving() || i.pointer.any_down());
        if any_input {
            self.last_input = Instant::now();
        }
        let minutes = self
            .profiles
            .iter()
            .filter_map(|p| p.app.settings.lock_after_minutes.filter(|m| *m > 0))
            .min();
        let limit = match (self.lock_override, minutes) {
            (Some(d), _) => d,
            (None, Some(m)) => Duration::from_secs(u64::from(m) * 60),
            (None, None) => return,
        };
        // Hidden in the notification area, nothing is on the screen and 自動送受信 goes on;
        // the lock falls due the moment the window is shown again, before it is drawn.
        if self.hidden || !self.profiles.iter().any(|p| p.app.is_logged_in()) {
            return;
        }
        let idle = self.last_input.elapsed();
        let busy = self.profiles.iter().any(|p| p.app.jobs_running() > 0);
        if idle >= limit && !busy {
            let message = format!(
                "{}分間操作がなかったため、ロックしました。もう一度ログインしてください。",
                limit.as_secs().div_ceil(60)
            );
            for p in &mut self.profiles {
                if p.app.is_logged_in() {
                    p.app.logout(ctx);
                    p.app.login.message = Some(message.clone());
                }
            }
        } else {
            ctx.request_repaint_after(limit.saturating_sub(idle) + Duration::from_millis(50));
        }
    }

    /// The header: every profile with its files not yet received, 「事業所を追加」 and, for
    /// a profile other than the first, 「この事業所を外す」.
    fn header(&mut self, ui: &mut egui::Ui) {
        let mut chosen = None;
        let mut add = false;
        let mut remove = false;
        egui::Panel::top("offices").show(ui, |ui| {
            ui.add_space(3.0);
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new("事業所:").strong());
                for i in 0..self.profiles.len() {
                    let name = self.profiles[i].entry.display(i);
                    let state = match self.unread(i) {
                        Some(0) => "未受信なし".to_owned(),
                        Some(n) => format!("未受信 {n}件"),
                        None if self.profiles[i].app.is_logged_in() => "確認中".to_owned(),
                        None => "未ログイン".to_owned(),
                    };
                    let selected = i == self.active;
                    let mut text = egui::text::LayoutJob::default();
                    RichText::new(&name).append_to(
                        &mut text,
                        ui.style(),
                        egui::FontSelection::Default,
                        egui::Align::Center,
                    );
                    let state_text = RichText::new(format!("　{state}")).size(12.0);
                    let state_text = if self.unread(i).is_some_and(|n| n > 0) {
                        state_text.strong()
                    } else {
                        state_text.weak()
                    };
                    state_text.append_to(
                        &mut text,
                        ui.style(),
                        egui::FontSelection::Default,
                        egui::Align::Center,
                    );
                    let r = ui.selectable_label(selected, text);
                    // Screen readers: 「ひまわり訪問介護 未受信 3件」, a tab.
                    r.widget_info(|| {
                        egui::WidgetInfo::selected(
                            egui::Role::Tab,
                            true,
                            selected,
                            format!("{name} {state}"),
                        )
                    });
                    if r.clicked() {
                        chosen = Some(i);
                    }
                }
                if self.profiles.len() < MAX_PROFILES && ui.button("＋ 事業所を追加").clicked()
                {
                    add = true;
                }
                if self.active > 0
                    && !self.profiles[self.active].app.is_logged_in()
                    && ui.button("この事業所を外す").clicked()
                {
                    remove = true;
                }
                if self.profiles.len() > 1 {
                    ui.weak("切り替え: Ctrl+PageUp / Ctrl+PageDown");
                }
            });
            ui.add_space(2.0);
        });
        if let Some(i) = chosen {
            self.switch_to(i);
        }
        if add {
            let url = self.profiles[self.active]
                .app
                .settings
                .relay_url
                .clone()
                .unwrap_or_default();
            let used: Vec<usize> = self
                .profiles
                .iter()
                .filter_map(|p| match &p.app.relay {
                    Relay::Demo { office, .. } => Some(*office),
                    _ => p.entry.demo_office,
                })
                .collect();
            let free = self
                .demo_info()
                .map(|d| {
                    (0..d.offices.len())
                        .find(|i| !used.contains(i))
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            self.add = Some(AddDialog {
                relay_url: url,
                demo_office: free,
                ..Default::default()
            });
        }
        if remove {
            self.remove = Some(self.active);
        }
    }

    fn add_dialog(&mut self, ctx: &egui::Context) {
        let Some(d) = &mut self.add else { return };
        let demo = self
            .profiles
            .iter()
            .find_map(|p| p.app.demo_info().cloned());
        let mut answer = None;
        let modal = egui::Modal::new(egui::Id::unique("add-office")).show(ctx, |ui| {
            ui.set_max_width(600.0);
            ui.heading("事業所を追加");
            ui.label(
                "このパソコンで別の事業所番号も使うときに追加します。事業所ごとに証明書・ID・フォルダ・設定・記録が分かれ、ほかの事業所の一覧や記録には出ません。",
            );
            egui::Grid::new("add-office-grid").num_columns(2).show(ui, |ui| {
                let l = ui.label("表示名");
                ui.add(
                    egui::TextEdit::singleline(&mut d.label)
                        .id_salt("add-office-label")
                        .hint_text("例: ひまわり訪問介護（空欄ならログインした事業所名）")
                        .desired_width(380.0),
                )
                .labelled_by(l.id);
                ui.end_row();
                match &demo {
                    Some(info) => {
                        let l = ui.label("デモ事業所");
                        egui::ComboBox::from_id_salt("add-office-demo")
                            .selected_text(
                                info.offices
                                    .get(d.demo_office)
                                    .map(|o| format!("{} {}", o.office, o.name))
                                    .unwrap_or_default(),
                            )
                            .width(380.0)
                            .show_ui(ui, |ui| {
                                for (i, o) in info.offices.iter().enumerate() {
                                    ui.selectable_value(
                                        &mut d.demo_office,
                                        i,
                                        format!("{} {}", o.office, o.name),
                                    );
                                }
                            })
                            .response
                            .labelled_by(l.id);
                        ui.end_row();
                    }
                    None => {
                        let l = ui.label("中継サーバのURL");
                        ui.add(
                            egui::TextEdit::singleline(&mut d.relay_url)
                                .id_salt("add-office-url")
                                .desired_width(380.0),
                        )
                        .labelled_by(l.id);
                        ui.end_row();
                    }
                }
            });
            if demo.is_none() {
                ui.weak(
                    "証明書は事業所ごとです。追加したあと、その事業所の証明書（client.crt・client.key・ca.crt）を careplan cert で入れてください（フォルダは追加した事業所の画面に出ます）。",
                );
            }
            if let Some(m) = &d.message {
                ui.colored_label(ui.visuals().error_fg_color, m);
            }
            ui.horizontal(|ui| {
                if ui.button(RichText::new("追加").strong()).clicked() {
                    answer = Some(true);
                }
                if ui.button("キャンセル").clicked() {
                    answer = Some(false);
                }
            });
        });
        if answer.is_none() && modal.should_close() {
            answer = Some(false);
        }
        match answer {
            Some(true) => {
                let (label, url, office) = (d.label.clone(), d.relay_url.clone(), d.demo_office);
                match self.add_profile(&label, &url, office) {
                    Ok(_) => self.add = None,
                    Err(e) => {
                        if let Some(d) = &mut self.add {
                            d.message = Some(e);
                        }
                    }
                }
            }
            Some(false) => self.add = None,
            None => {}
        }
    }

    fn remove_dialog(&mut self, ctx: &egui::Context) {
        let Some(i) = self.remove else { return };
        let Some(p) = self.profiles.get(i) else {
            self.remove = None;
            return;
        };
        let name = p.entry.display(i);
        let dir = p.dir.display().to_string();
        let answer = super::confirm_modal(
            ctx,
            "remove-office",
            "この事業所を外す",
            "外す（データを削除）",
            "キャンセル",
            |ui| {
                ui.label(format!(
                    "「{name}」をこのパソコンから外します。この事業所の設定・下書き・送受信の記録・証明書（{dir}）も削除され、元に戻せません。中継サーバ上のデータは消えません。"
                ));
            },
        );
        match answer {
            Some(true) => {
                self.remove = None;
                if let Err(e) = self.remove_profile(ctx, i) {
                    self.app_mut().error("事業所を外せません", &e);
                }
            }
            Some(false) => self.remove = None,
            None => {}
        }
    }
}

/// Open a profile other than the first: its store, its relay (configured in its settings,
/// or the running demo relay with its demo office; while the demo relay is still starting,
/// `Starting` until [`Offices::share_demo`] hands it over).
fn open_profile(
    dir: &Path,
    demo: Option<&careplan_relay::demo::DemoInfo>,
    entry: &ProfileEntry,
    fallback_url: Option<&str>,
) -> Result<CareplanApp, String> {
    let store = Store::open(dir).map_err(|e| e.to_string())?;
    let settings = store.settings().unwrap_or_default();
    let relay = match (settings.relay_url.clone(), settings.profile.clone(), demo) {
        (Some(url), Some(profile), _) => RelaySource::Configured { url, profile },
        (_, _, Some(info)) => RelaySource::Demo(info.clone()),
        _ => match fallback_url {
            Some(url) => RelaySource::Configured {
                url: url.to_owned(),
                profile: ProfilePaths::in_dir(dir),
            },
            // The demo relay of the first profile is still starting.
            None => RelaySource::SharedDemo,
        },
    };
    let mut app = CareplanApp::new(AppConfig {
        store,
        relay,
        renderer_note: String::new(),
        renderer_file: None,
    });
    if let Some(i) = entry.demo_office {
        app.select_demo_office(i);
    }
    Ok(app)
}

impl eframe::App for Offices {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.background(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_files_cannot_leave_the_folder() {
        for bad in [
            "", "o", "..", "o/../x", "O2", "o2/", "x2", "o2\\..", "main2", "o2.", "o😀",
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
        for good in ["main", "o2", "o15", "oabc1"] {
            assert!(valid_id(good), "{good}");
        }
    }

    #[test]
    fn the_folders_are_the_truth_and_main_comes_first() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("offices/o3")).unwrap();
        std::fs::create_dir_all(root.join("offices/o2")).unwrap();
        std::fs::create_dir_all(root.join("offices/..bad")).unwrap();
        // The file names o3 first, a profile without a folder, and a hostile id.
        let file = Registry {
            version: 1,
            tray_told: true,
            active: "o3".into(),
            offices: vec![
                ProfileEntry {
                    id: "o3".into(),
                    label: "ひまわり".into(),
                    ..Default::default()
                },
                ProfileEntry {
                    id: "o9".into(),
                    ..Default::default()
                },
                ProfileEntry {
                    id: "../../etc".into(),
                    ..Default::default()
                },
            ],
        };
        save_registry(root, &file).unwrap();
        let r = load_registry(root);
        let ids: Vec<&str> = r.offices.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["main", "o3", "o2"]);
        assert_eq!(r.active, "o3");
        assert_eq!(r.offices[1].label, "ひまわり");
        // Names are cleaned; a huge file is not read.
        let mut long = file.clone();
        long.offices[0].label = format!("a\u{7}b{}", "x".repeat(500));
        save_registry(root, &long).unwrap();
        let r = load_registry(root);
        assert_eq!(r.offices[1].label.chars().count(), 80);
        assert!(r.offices[1].label.starts_with("abx"));
        std::fs::write(root.join(REGISTRY_FILE), vec![b' '; 300 * 1024]).unwrap();
        assert_eq!(load_registry(root).offices.len(), 3);
        // A damaged file loses only labels and order.
        std::fs::write(root.join(REGISTRY_FILE), b"{not json").unwrap();
        let r = load_registry(root);
        let ids: Vec<&str> = r.offices.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["main", "o2", "o3"]);
        assert_eq!(r.active, "main");
    }

    #[test]
    fn new_ids_skip_used_ones_and_existing_folders() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("offices/o2")).unwrap();
        let r = load_registry(d.path());
        assert_eq!(next_id(d.path(), &r), "o3");
    }
}
