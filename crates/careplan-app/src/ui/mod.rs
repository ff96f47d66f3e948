//! The desktop window: every screen of the start guide (ログイン, トップページ, 受信一覧,
//! 送信一覧, 新規作成, 下書き一覧, 一括送信, データ受信) over [`careplan_client::Client`].
//!
//! [`CareplanApp`] is an [`eframe::App`]; its whole window is drawn by
//! [`CareplanApp::show`], which `egui_kittest` drives in the tests. The UI thread never
//! waits on the network or the disk: every such call runs on a named worker thread
//! ([`jobs`]) and comes back as a message that the next frame applies. When nothing
//! happens, nothing is painted (no timers, no animations, no polling).

mod arrivals;
mod bulk;
mod compose;
mod jobs;
pub mod launch;
mod ledger_panel;
mod lists;
mod login;
pub mod offices;
mod partners;
mod received_table;
mod table;
mod top;
mod watch_tab;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use careplan_client::{Client, LoginInfo, ProfilePaths, Settings, Store};
use careplan_relay::demo::DemoInfo;
use careplan_relay::embedded::RunningRelay;
use egui::{Color32, RichText};

use jobs::Jobs;
pub use jobs::Msg;

/// The bundled Japanese face (BIZ UDPGothic, OFL; see `assets/OFL.txt`).
pub const JAPANESE_FONT: &[u8] = include_bytes!("../../../../assets/BIZUDPGothic-Regular.ttf");

/// How a piece of the status bar's left side is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StatusTone {
    /// 【デモ】 in orange.
    Demo,
    /// Plain text.
    Plain,
    /// Plain text after a separator.
    After,
    /// With a spinner.
    Busy,
    /// In the error colour.
    Error,
    /// In the warning colour, after a separator.
    Warn,
    /// A running job: a separator, a spinner, its name.
    Job,
}

fn status_left(ui: &mut egui::Ui, items: &[(StatusTone, String)]) {
    for (tone, text) in items {
        match tone {
            StatusTone::Demo => {
                ui.label(
                    RichText::new(text)
                        .color(Color32::from_rgb(0xb0, 0x40, 0x00))
                        .strong(),
                );
            }
            StatusTone::Plain => {
                ui.label(text);
            }
            StatusTone::After => {
                ui.separator();
                ui.label(text);
            }
            StatusTone::Busy => {
                ui.spinner();
                ui.label(text);
            }
            StatusTone::Error => {
                ui.colored_label(ui.visuals().error_fg_color, text);
            }
            StatusTone::Warn => {
                ui.separator();
                ui.colored_label(ui.visuals().warn_fg_color, text);
            }
            StatusTone::Job => {
                ui.separator();
                ui.spinner();
                ui.label(text);
            }
        }
    }
}

/// A screen in a vertical scroll area that fills the panel.
fn scrolled(ui: &mut egui::Ui, id: &str, add: impl FnOnce(&mut egui::Ui)) {
    egui::ScrollArea::vertical()
        .id_salt(id)
        .auto_shrink([false, false])
        .show(ui, add);
}

/// Width of `text` in the body font: whether a group still fits on the current row.
pub(crate) fn text_width(ui: &egui::Ui, text: &str) -> f32 {
    let font = egui::TextStyle::Body.resolve(ui.style());
    ui.ctx().fonts_mut(|f| {
        f.layout_no_wrap(text.to_owned(), font, Color32::BLACK)
            .size()
            .x
    })
}

/// The light-green tint of rows not yet acquired (未), as in the official client.
pub const UNREAD_TINT: Color32 = Color32::from_rgb(0xdc, 0xf4, 0xdc);

/// The 未 tint of the high-contrast look: a deeper green that black text still reads on
/// (contrast 14:1) and that stays apart from white rows.
pub const UNREAD_TINT_HIGH_CONTRAST: Color32 = Color32::from_rgb(0xa6, 0xe3, 0xa6);

/// The text sizes offered (per cent, on top of the OS scaling).
pub const TEXT_SIZES: [u16; 4] = [100, 125, 150, 200];

fn high_contrast_id() -> egui::Id {
    egui::Id::unique("careplan-high-contrast")
}

/// 文字の大きさ and 高コントラスト (issue 16): the zoom factor (egui multiplies it with the
/// OS scaling, so both hold) and the light visuals. Every control gets a visible outline and
/// a white inside, so that check boxes read on the 未 tint in both looks; the high-contrast
/// look makes text and outlines black and thicker and the 未 tint deeper.
pub fn apply_look(ctx: &egui::Context, text_size_percent: u16, high_contrast: bool) {
    let percent = text_size_percent.clamp(TEXT_SIZES[0], TEXT_SIZES[3]);
    ctx.set_zoom_factor(f32::from(percent) / 100.0);
    let mut v = egui::Visuals::light();
    let (edge, width) = if high_contrast {
        (Color32::BLACK, 1.5)
    } else {
        (Color32::from_gray(96), 1.0)
    };
    v.widgets.inactive.bg_fill = Color32::WHITE;
    v.widgets.inactive.bg_stroke = egui::Stroke::new(width, edge);
    v.widgets.hovered.bg_stroke = egui::Stroke::new(width + 0.5, edge);
    v.widgets.active.bg_stroke = egui::Stroke::new(width + 0.5, edge);
    if high_contrast {
        v.override_text_color = Some(Color32::BLACK);
        for w in [
            &mut v.widgets.noninteractive,
            &mut v.widgets.inactive,
            &mut v.widgets.hovered,
            &mut v.widgets.active,
            &mut v.widgets.open,
        ] {
            w.fg_stroke = egui::Stroke::new(w.fg_stroke.width.max(1.5), Color32::BLACK);
        }
        v.widgets.noninteractive.bg_stroke = egui::Stroke::new(1.0, Color32::BLACK);
        v.widgets.inactive.weak_bg_fill = Color32::from_gray(235);
        // Text stays black everywhere: the selection (current tab, selected text) is a
        // strong yellow with a black outline instead of a dark fill.
        v.selection.bg_fill = Color32::from_rgb(0xff, 0xd4, 0x00);
        v.selection.stroke = egui::Stroke::new(2.0, Color32::BLACK);
        v.hyperlink_color = Color32::from_rgb(0x00, 0x2a, 0x80);
        v.faint_bg_color = Color32::from_gray(242);
    }
    ctx.set_visuals_of(egui::Theme::Light, v);
    ctx.data_mut(|d| d.insert_temp(high_contrast_id(), high_contrast));
}

/// The 未 tint of the current look.
pub fn unread_tint(ctx: &egui::Context) -> Color32 {
    if ctx.data(|d| d.get_temp(high_contrast_id()).unwrap_or(false)) {
        UNREAD_TINT_HIGH_CONTRAST
    } else {
        UNREAD_TINT
    }
}

/// Add the bundled Japanese face behind egui's default Latin face (both families): every
/// Japanese glyph comes from this one face whatever the OS locale is (no system fonts are
/// loaded). Latin stays with egui's face: BIZ UDPGothic's thin underscore vanished at 125 %
/// scaling in egui's rasterizer, and file names are full of underscores.
pub fn install_fonts(ctx: &egui::Context) {
    ctx.add_font(egui::epaint::text::FontInsert::new(
        "BIZUDPGothic",
        egui::FontData::from_static(JAPANESE_FONT),
        vec![
            egui::epaint::text::InsertFontFamily {
                family: egui::FontFamily::Proportional,
                priority: egui::epaint::text::FontPriority::Lowest,
            },
            egui::epaint::text::InsertFontFamily {
                family: egui::FontFamily::Monospace,
                priority: egui::epaint::text::FontPriority::Lowest,
            },
        ],
    ));
}

/// The look of the app: light theme, slightly larger text for office PCs.
pub fn install_style(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Light);
    // 文字の大きさ is a setting (`apply_look`); egui's own Ctrl+plus/minus zoom would change
    // the screen behind its back.
    ctx.options_mut(|o| o.zoom_with_keyboard = false);
    ctx.global_style_mut(|s| {
        for (style, font) in s.text_styles.iter_mut() {
            font.size = match style {
                egui::TextStyle::Heading => 20.0,
                egui::TextStyle::Small => 11.0,
                _ => 14.0,
            };
        }
        s.spacing.item_spacing = egui::vec2(8.0, 6.0);
    });
}

/// Where the relay comes from.
pub enum RelaySource {
    /// A configured relay and this terminal's certificate folder (`client.crt`,
    /// `client.key`, `ca.crt`).
    Configured {
        /// `https://…`
        url: String,
        /// The certificate files.
        profile: ProfilePaths,
    },
    /// A demo relay already running (tests; or started by [`RelaySource::StartDemo`]).
    Demo(DemoInfo),
    /// Nothing configured: start the demo relay in-process with its data in this folder.
    StartDemo(PathBuf),
    /// The demo relay another office profile of this window is starting
    /// ([`offices::Offices`] hands it over when it runs).
    SharedDemo,
}

/// What the app needs to start.
pub struct AppConfig {
    /// The terminal's local store.
    pub store: Store,
    /// The relay.
    pub relay: RelaySource,
    /// A line about the renderer for the status bar (e.g. 「描画: OpenGL (…)」).
    pub renderer_note: String,
    /// Where the renderer choice is remembered (`None`: not remembered, e.g. tests).
    pub renderer_file: Option<PathBuf>,
}

/// The screens behind the tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// トップページ.
    Top,
    /// 受信一覧 (with データ受信).
    Received,
    /// 送信一覧.
    Sent,
    /// 新規作成.
    Compose,
    /// 下書き一覧.
    Drafts,
    /// 一括送信.
    Bulk,
    /// 取引先一覧.
    Partners,
    /// 自動送受信 (watched folders).
    Watch,
}

/// Alt+1 … Alt+7: the tabs in [`Tab::ALL`] order.
const TAB_KEYS: [egui::Key; 8] = [
    egui::Key::Num1,
    egui::Key::Num2,
    egui::Key::Num3,
    egui::Key::Num4,
    egui::Key::Num5,
    egui::Key::Num6,
    egui::Key::Num7,
    egui::Key::Num8,
];

impl Tab {
    const ALL: [Tab; 8] = [
        Tab::Top,
        Tab::Received,
        Tab::Sent,
        Tab::Compose,
        Tab::Drafts,
        Tab::Bulk,
        Tab::Partners,
        Tab::Watch,
    ];

    fn label(self) -> &'static str {
        match self {
            Tab::Top => "トップページ",
            Tab::Received => "受信一覧",
            Tab::Sent => "送信一覧",
            Tab::Compose => "新規作成",
            Tab::Drafts => "下書き一覧",
            Tab::Bulk => "一括送信",
            Tab::Partners => "取引先一覧",
            Tab::Watch => "自動送受信",
        }
    }
}

/// The relay as the app knows it.
pub(crate) enum Relay {
    Configured { url: String, profile: ProfilePaths },
    Demo { info: DemoInfo, office: usize },
    Starting,
    Failed(String),
}

impl Relay {
    pub(crate) fn url_and_profile(&self) -> Option<(String, ProfilePaths)> {
        match self {
            Relay::Configured { url, profile } => Some((url.clone(), profile.clone())),
            Relay::Demo { info, office } => info
                .offices
                .get(*office)
                .map(|o| (info.relay_url.clone(), ProfilePaths::in_dir(&o.profile))),
            _ => None,
        }
    }

    pub(crate) fn is_demo(&self) -> bool {
        matches!(self, Relay::Demo { .. } | Relay::Starting)
    }
}

/// A logged-in session.
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) info: LoginInfo,
}

/// A modal message (error or result) the user must close.
pub(crate) struct Notice {
    title: String,
    body: String,
    error: bool,
}

/// The whole app.
pub struct CareplanApp {
    pub(crate) store: Store,
    pub(crate) settings: Settings,
    pub(crate) relay: Relay,
    pub(crate) embedded: Option<RunningRelay>,
    pub(crate) jobs: Jobs,
    pub(crate) session: Option<Session>,
    /// The waiting worker of the session (pushed arrivals).
    arrivals: Option<arrivals::ArrivalWatch>,
    pub(crate) login: login::LoginScreen,
    pub(crate) tab: Tab,
    pub(crate) top: top::TopScreen,
    pub(crate) received: lists::ReceivedScreen,
    pub(crate) sent: lists::SentScreen,
    pub(crate) compose: compose::ComposeScreen,
    pub(crate) drafts: compose::DraftsScreen,
    pub(crate) bulk: bulk::BulkScreen,
    pub(crate) partners: partners::PartnersScreen,
    pub(crate) watch: watch_tab::WatchScreen,
    pub(crate) notice: Option<Notice>,
    pub(crate) viewer: Option<Box<crate::viewer::FileViewer>>,
    pub(crate) renderer_note: String,
    pub(crate) renderer_file: Option<PathBuf>,
    pub(crate) renderer: launch::RendererChoice,
    ctx: Option<egui::Context>,
    last_input: Instant,
    started: bool,
    bench: bool,
    lock_override: Option<Duration>,
    frames: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The (文字の大きさ, 高コントラスト) last applied to the context.
    pub(crate) look: Option<(u16, bool)>,
    /// One of several office profiles ([`offices::Offices`]): the window title and the
    /// kiosk lock are the switcher's, not this profile's.
    pub(crate) managed: bool,
    /// The window title last sent.
    title_sent: Option<String>,
    /// The number of the newest settings save, and the lock the saves write under.
    settings_saves: (
        std::sync::Arc<std::sync::atomic::AtomicU64>,
        std::sync::Arc<std::sync::Mutex<()>>,
    ),
}

impl CareplanApp {
    /// The app over `config`. Nothing slow happens here: the demo relay (if any) starts on
    /// a worker at the first frame.
    pub fn new(config: AppConfig) -> Self {
        let settings = config.store.settings().unwrap_or_default();
        let (relay, start_demo) = match config.relay {
            RelaySource::Configured { url, profile } => (Relay::Configured { url, profile }, None),
            RelaySource::Demo(info) => (Relay::Demo { info, office: 0 }, None),
            RelaySource::StartDemo(dir) => (Relay::Starting, Some(dir)),
            RelaySource::SharedDemo => (Relay::Starting, None),
        };
        let mut app = Self {
            store: config.store,
            login: login::LoginScreen::new(&settings),
            settings,
            relay,
            embedded: None,
            jobs: Jobs::new(),
            session: None,
            arrivals: None,
            tab: Tab::Top,
            top: top::TopScreen::default(),
            received: lists::ReceivedScreen::default(),
            sent: lists::SentScreen::default(),
            partners: partners::PartnersScreen::default(),
            watch: watch_tab::WatchScreen::default(),
            compose: compose::ComposeScreen::default(),
            drafts: compose::DraftsScreen::default(),
            bulk: bulk::BulkScreen::default(),
            notice: None,
            viewer: None,
            renderer_note: config.renderer_note,
            renderer: launch::load_renderer(config.renderer_file.as_deref()),
            renderer_file: config.renderer_file,
            ctx: None,
            last_input: Instant::now(),
            started: false,
            bench: false,
            lock_override: None,
            frames: Default::default(),
            look: None,
            managed: false,
            title_sent: None,
            settings_saves: Default::default(),
        };
        app.login.pending_demo_dir = start_demo;
        if let Relay::Demo { info, office } = &app.relay {
            app.login.fill_demo_ids(info, *office);
        }
        app
    }

    /// The screen shown now (`None` while logged out).
    pub fn tab(&self) -> Option<Tab> {
        self.session.as_ref().map(|_| self.tab)
    }

    /// True after the two-step login.
    pub fn is_logged_in(&self) -> bool {
        self.session.is_some()
    }

    /// 事業所番号 of the logged-in office.
    pub fn session_office(&self) -> Option<careplan_core::OfficeNumber> {
        self.session.as_ref().map(|s| *s.client.office())
    }

    /// Worker jobs still running.
    pub fn jobs_running(&self) -> usize {
        self.jobs.running()
    }

    /// The demo relay's information (demo mode only, once it runs).
    pub fn demo_info(&self) -> Option<&DemoInfo> {
        match &self.relay {
            Relay::Demo { info, .. } => Some(info),
            _ => None,
        }
    }

    /// The message under the login form (wrong password, lock, …), if any.
    pub fn login_message(&self) -> Option<&str> {
        self.login.message.as_deref()
    }

    /// Lock after `idle` without input, whatever the setting says (tests: minutes are long).
    pub fn set_lock_after(&mut self, idle: Duration) {
        self.lock_override = Some(idle);
    }

    /// The file open in the contents viewer window, if any.
    pub fn viewer_file(&self) -> Option<&str> {
        self.viewer.as_ref().map(|v| v.name())
    }

    /// Choose demo office `i` on the login screen (as the デモ事業所 box does).
    pub fn select_demo_office(&mut self, i: usize) {
        if let Relay::Demo { info, office } = &mut self.relay
            && i < info.offices.len()
        {
            *office = i;
            self.login.fill_demo_ids(info, i);
        }
    }

    /// The received transmissions shown in 受信一覧 (for tests and benchmarks).
    pub fn received_rows(&self) -> usize {
        self.received.row_count()
    }

    /// Replace 受信一覧's data (benchmarks: 100 000 rows without a relay).
    /// Show only 受信一覧 with these rows, without a relay or a login (benchmarks and the
    /// memory measurement; the tabs are drawn, nothing is fetched).
    pub fn set_received_for_bench(&mut self, items: Vec<careplan_client::ReceivedTransmission>) {
        self.received
            .set_items(items, false, time::OffsetDateTime::now_utc());
        self.tab = Tab::Received;
        self.bench = true;
    }

    /// Frames drawn so far (shared counter, for the idle-repaint measurement).
    pub fn frame_counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.frames.clone()
    }

    /// The status of the 自動送受信 engine (`None` before it first ran in this session).
    pub fn watch_status(&self) -> Option<careplan_client::watch::WatchStatus> {
        self.watch.status()
    }

    /// The window's title: the app's name, and while logged in the files not yet received
    /// (「未受信 3件」), so that the taskbar shows an arrival even when the window is behind
    /// others. Sent to the window only when it changes.
    pub fn window_title(&self) -> String {
        let base = "ケアプランデータ連携 クライアント";
        match (&self.session, self.received.unread()) {
            (Some(s), n) if n > 0 => format!("（未受信 {n}件）{} - {base}", s.info.office_name),
            (Some(s), _) => format!("{} - {base}", s.info.office_name),
            (None, _) => base.to_owned(),
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let t = self.window_title();
        if self.title_sent.as_deref() != Some(t.as_str()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(t.clone()));
            self.title_sent = Some(t);
        }
    }

    /// The rows of 取引先一覧 as shown (search and sort applied; empty before it loaded).
    pub fn partner_rows(&self) -> Vec<careplan_core::partners::Partner> {
        self.partners.shown()
    }

    /// Switch to a tab (loads its list when needed).
    pub fn open_tab(&mut self, ctx: &egui::Context, tab: Tab) {
        self.tab = tab;
        self.refresh_tab(ctx);
    }

    fn refresh_tab(&mut self, ctx: &egui::Context) {
        let Some(s) = &self.session else { return };
        let client = s.client.clone();
        match self.tab {
            Tab::Top => self.top.refresh(ctx, &mut self.jobs, &client),
            Tab::Received => self.received.refresh(ctx, &mut self.jobs, &client),
            Tab::Sent => self.sent.refresh(ctx, &mut self.jobs, &client),
            Tab::Drafts => self.drafts.refresh(ctx, &mut self.jobs, &client),
            Tab::Partners => self.partners.refresh(ctx, &mut self.jobs, &client),
            Tab::Compose | Tab::Bulk | Tab::Watch => {}
        }
    }

    /// Save the terminal settings (small; sled writes are buffered, the flush is fast).
    ///
    /// Saves run on worker threads and may finish in any order: each carries a number, and
    /// under one lock only the newest is written (an older one that comes last is dropped),
    /// so two quick changes never leave the first one on disk.
    pub(crate) fn save_settings(&mut self) {
        let store = self.store.clone();
        let settings = self.settings.clone();
        let ctx = self.ctx.clone();
        let Some(ctx) = ctx else { return };
        let (latest, lock) = self.settings_saves.clone();
        let mine = latest.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        self.jobs.spawn(&ctx, "settings", move || {
            let _one_at_a_time = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if latest.load(std::sync::atomic::Ordering::SeqCst) != mine {
                return Msg::Nothing;
            }
            match store.save_settings(&settings) {
                Ok(()) => Msg::Nothing,
                Err(e) => Msg::Failed("設定を保存できません".into(), e.to_string()),
            }
        });
    }

    pub(crate) fn error(&mut self, title: &str, body: &str) {
        self.notice = Some(Notice {
            title: title.to_owned(),
            body: body.to_owned(),
            error: true,
        });
    }

    pub(crate) fn info(&mut self, title: &str, body: &str) {
        self.notice = Some(Notice {
            title: title.to_owned(),
            body: body.to_owned(),
            error: false,
        });
    }

    /// Log out and go back to the login screen (also the kiosk lock).
    pub fn logout(&mut self, ctx: &egui::Context) {
        self.arrivals = None;
        if let Some(s) = self.session.take() {
            let client = s.client;
            self.jobs.spawn(ctx, "logout", move || {
                client.logout();
                Msg::Nothing
            });
        }
        self.login.reset_after_logout(&self.settings);
        if let Relay::Demo { info, office } = &self.relay {
            self.login.fill_demo_ids(info, *office);
        }
        self.received = lists::ReceivedScreen::default();
        self.sent = lists::SentScreen::default();
        self.partners = partners::PartnersScreen::default();
        // The watched folders stop with the session (the engine finishes the step it is in).
        self.watch.stop();
        self.watch = watch_tab::WatchScreen::default();
        self.compose = compose::ComposeScreen::default();
        self.drafts = compose::DraftsScreen::default();
        self.bulk = bulk::BulkScreen::default();
        self.top = top::TopScreen::default();
        self.tab = Tab::Top;
    }

    /// Called once the two-step login succeeded.
    pub(crate) fn logged_in(&mut self, ctx: &egui::Context, client: Client, info: LoginInfo) {
        self.arrivals = arrivals::start(client.clone(), self.jobs.progress_sender(ctx));
        self.session = Some(Session { client, info });
        self.tab = Tab::Top;
        self.login.clear_passwords();
        if self.settings.remember_ids {
            self.settings.personal_user = Some(self.login.personal_user.clone());
            self.settings.office_user = Some(self.login.office_user.clone());
        } else {
            self.settings.personal_user = None;
            self.settings.office_user = None;
        }
        self.save_settings();
        self.refresh_tab(ctx);
        // 受信一覧 is fetched at once (on a worker), so that the window's title counts the
        // files not yet received whatever tab is open; arrivals refresh it.
        if self.tab != Tab::Received
            && let Some(s) = &self.session
        {
            let c = s.client.clone();
            self.received.refresh(ctx, &mut self.jobs, &c);
        }
        watch_tab::start_at_login(self, ctx);
    }

    /// Apply what the workers finished.
    fn apply_messages(&mut self, ctx: &egui::Context) {
        while let Some(msg) = self.jobs.try_recv() {
            self.apply(ctx, msg);
        }
    }

    fn apply(&mut self, ctx: &egui::Context, msg: Msg) {
        match msg {
            Msg::Nothing => {}
            Msg::Failed(title, body) => self.error(&title, &body),
            Msg::DemoStarted(r) => match r {
                Ok((relay, info)) => {
                    self.login.fill_demo_ids(&info, 0);
                    self.relay = Relay::Demo { info, office: 0 };
                    self.embedded = Some(*relay);
                }
                Err(e) => self.relay = Relay::Failed(e),
            },
            Msg::Login(m) => login::apply(self, ctx, m),
            Msg::Top(m) => self.top.apply(m),
            Msg::Received(m) => lists::apply_received(self, ctx, m),
            Msg::Sent(m) => self.sent.apply(m),
            Msg::Partners(m) => self.partners.apply(m),
            Msg::Watch(m) => self.watch.apply(m),
            Msg::Compose(m) => compose::apply(self, ctx, m),
            Msg::Bulk(m) => bulk::apply(self, ctx, m),
            Msg::Arrived => {
                if let Some(s) = &self.session {
                    let c = s.client.clone();
                    let visible = self.tab == Tab::Received;
                    self.received.arrived(ctx, &mut self.jobs, &c, visible);
                    if self.tab == Tab::Partners {
                        self.partners.refresh(ctx, &mut self.jobs, &c);
                    }
                }
            }
        }
    }

    /// The relay forgot the session (expired): back to the login screen, saying why.
    pub(crate) fn session_lost(&mut self, ctx: &egui::Context) {
        self.logout(ctx);
        self.login.message =
            Some("ログインの有効期限が切れました。もう一度ログインしてください。".to_owned());
    }

    fn kiosk_lock(&mut self, ctx: &egui::Context) {
        let any_input =
            ctx.input(|i| !i.events.is_empty() || i.pointer.is_moving() || i.pointer.any_down());
        if any_input {
            self.last_input = Instant::now();
        }
        let minutes = self.settings.lock_after_minutes.filter(|m| *m > 0);
        let limit = match (self.lock_override, minutes) {
            (Some(d), _) => d,
            (None, Some(m)) => Duration::from_secs(u64::from(m) * 60),
            (None, None) => return,
        };
        if self.session.is_none() {
            return;
        }
        let idle = self.last_input.elapsed();
        if idle >= limit && self.jobs.running() == 0 {
            self.logout(ctx);
            self.login.message = Some(format!(
                "{}分間操作がなかったため、ロックしました。もう一度ログインしてください。",
                limit.as_secs().div_ceil(60)
            ));
        } else {
            // One wake-up when the lock is due; nothing is painted before that.
            ctx.request_repaint_after(limit.saturating_sub(idle) + Duration::from_millis(50));
        }
    }

    /// Draw the whole window (the eframe `ui` and the kittest harness both call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.frames
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let look = (self.settings.text_size_percent, self.settings.high_contrast);
        if self.look != Some(look) {
            self.look = Some(look);
            apply_look(&ctx, look.0, look.1);
        }
        ime_enter_guard(&ctx);
        self.tick(&ctx);
        if !self.managed {
            self.update_title(&ctx);
            self.kiosk_lock(&ctx);
        }
        self.dropped_files(&ctx);
        self.status_bar(ui);
        if self.session.is_none() && !self.bench {
            egui::CentralPanel::default()
                .show(ui, |ui| scrolled(ui, "login", |ui| login::ui(self, ui)));
        } else {
            self.tabs_bar(ui);
            egui::CentralPanel::default().show(ui, |ui| match self.tab {
                // Screens that are not one table scroll as a whole (large text, small window);
                // the lists scroll inside their tables.
                Tab::Top => scrolled(ui, "top", |ui| top::ui(self, ui)),
                Tab::Received => lists::received_ui(self, ui),
                Tab::Sent => lists::sent_ui(self, ui),
                Tab::Partners => partners::ui(self, ui),
                Tab::Watch => scrolled(ui, "watch", |ui| watch_tab::ui(self, ui)),
                Tab::Compose => scrolled(ui, "compose", |ui| compose::compose_ui(self, ui)),
                Tab::Drafts => compose::drafts_ui(self, ui),
                Tab::Bulk => scrolled(ui, "bulk", |ui| bulk::ui(self, ui)),
            });
        }
        if let Some(v) = &mut self.viewer {
            let mut open = true;
            v.show_window(&ctx, &mut open);
            if !open {
                self.viewer = None;
            }
        }
        self.notice_modal(&ctx);
    }

    /// The work of a frame that does not draw: start the demo relay at the first frame,
    /// apply what the workers finished (arrivals, lists, 自動送受信). A profile that is not
    /// shown ([`offices::Offices`]) gets only this, every frame.
    pub(crate) fn tick(&mut self, ctx: &egui::Context) {
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
        }
        if !self.started {
            self.started = true;
            if let Some(dir) = self.login.pending_demo_dir.take() {
                jobs::start_demo(ctx, &mut self.jobs, dir);
            }
        }
        self.apply_messages(ctx);
    }

    /// Files dropped on the window: into 新規作成 / 一括送信, elsewhere into the viewer.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        if dropped.is_empty() || self.session.is_none() {
            return;
        }
        match self.tab {
            Tab::Compose => {
                compose::load_files(
                    ctx,
                    &mut self.jobs,
                    compose::Target::Compose,
                    dropped,
                    vec![],
                );
            }
            Tab::Bulk => {
                compose::load_files(ctx, &mut self.jobs, compose::Target::Bulk, dropped, vec![]);
            }
            _ => {
                let Some(d) = dropped.into_iter().next() else {
                    return;
                };
                self.jobs.spawn(ctx, "files", move || {
                    let name = compose::dropped_name(&d);
                    let mut files = Vec::new();
                    let mut errors = Vec::new();
                    compose::read_dropped(&d, &mut files, &mut errors);
                    let r = match files.pop() {
                        Some((name, bytes)) => {
                            Ok(Box::new(crate::viewer::FileViewer::open(&name, &bytes)))
                        }
                        None => Err(errors
                            .pop()
                            .unwrap_or_else(|| format!("{name} を読み込めません。"))),
                    };
                    Msg::Received(lists::ReceivedMsg::Viewer(r))
                });
            }
        }
    }

    fn tabs_bar(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.add_space(4.0);
            // With the office switcher above, the office is named there.
            let who = self
                .session
                .as_ref()
                .filter(|_| !self.managed)
                .map(|s| format!("{}（{}）", s.info.office_name, s.info.office))
                .unwrap_or_default();
            // The office and ログアウト sit at the right when they fit after the tabs; with
            // large text the tabs wrap and the office moves to a row of its own.
            let right = text_width(ui, &who) + text_width(ui, "ログアウト") + 48.0;
            let tabs: String = Tab::ALL
                .iter()
                .map(|t| format!("{} Alt+1", t.label()))
                .collect();
            // 15-point tab labels on the 14-point body font, plus each tab's padding.
            let tabs_w = text_width(ui, &tabs) * 15.0 / 14.0 + 20.0 * Tab::ALL.len() as f32;
            let own_row = tabs_w + right > ui.available_width();
            // Alt+1 … Alt+7 open the tabs (shown after each name).
            let pressed = ui.input_mut(|i| {
                Tab::ALL
                    .iter()
                    .zip(TAB_KEYS)
                    .find(|(_, k)| i.consume_key(egui::Modifiers::ALT, *k))
                    .map(|(t, _)| *t)
            });
            if let Some(tab) = pressed {
                self.open_tab(&ctx, tab);
            }
            ui.horizontal_wrapped(|ui| {
                for (n, tab) in Tab::ALL.into_iter().enumerate() {
                    let selected = self.tab == tab;
                    let mut text = egui::text::LayoutJob::default();
                    RichText::new(tab.label()).size(15.0).append_to(
                        &mut text,
                        ui.style(),
                        egui::FontSelection::Default,
                        egui::Align::Center,
                    );
                    RichText::new(format!(" Alt+{}", n + 1))
                        .size(11.0)
                        .weak()
                        .append_to(
                            &mut text,
                            ui.style(),
                            egui::FontSelection::Default,
                            egui::Align::Center,
                        );
                    let r = ui.selectable_label(selected, text);
                    // Screen readers say the tab's name (the shortcut is its key shortcut).
                    r.widget_info(|| {
                        egui::WidgetInfo::selected(egui::Role::Tab, true, selected, tab.label())
                    });
                    if r.clicked() {
                        self.open_tab(&ctx, tab);
                    }
                }
                if own_row {
                    ui.end_row();
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.button("ログアウト").clicked() {
                        self.logout(&ctx);
                    }
                    if !who.is_empty() {
                        ui.label(&who);
                    }
                });
            });
            ui.add_space(2.0);
        });
    }

    /// 文字の大きさ and 高コントラスト, on every screen (the login screen too): in the status
    /// bar, saved per terminal. Ctrl+「+」/Ctrl+「-」 step through the sizes (egui's own
    /// keyboard zoom is off, so the setting and the screen never disagree).
    fn look_controls(&mut self, ui: &mut egui::Ui) {
        let before = (self.settings.text_size_percent, self.settings.high_contrast);
        self.look_widgets(ui);
        if (self.settings.text_size_percent, self.settings.high_contrast) != before {
            self.save_settings();
        }
    }

    /// Added right to left (the status bar's right-hand group): the check box, the size box,
    /// then its label, which reads 「文字の大きさ [100%] ☐高コントラスト」.
    fn look_widgets(&mut self, ui: &mut egui::Ui) {
        ui.checkbox(&mut self.settings.high_contrast, "高コントラスト");
        let current = self.settings.text_size_percent;
        let combo = egui::ComboBox::from_id_salt("text-size")
            .selected_text(format!("{current}%"))
            .show_ui(ui, |ui| {
                for p in TEXT_SIZES {
                    ui.selectable_value(&mut self.settings.text_size_percent, p, format!("{p}%"));
                }
            })
            .response;
        let l = ui.label("文字の大きさ");
        combo.labelled_by(l.id);
        let step = ui.input_mut(|i| {
            if i.consume_key(egui::Modifiers::COMMAND, egui::Key::Plus)
                || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Equals)
            {
                1
            } else if i.consume_key(egui::Modifiers::COMMAND, egui::Key::Minus) {
                -1
            } else {
                0
            }
        });
        if step != 0 {
            let at = TEXT_SIZES
                .iter()
                .position(|&p| p >= self.settings.text_size_percent)
                .unwrap_or(0);
            let next = (at as isize + step).clamp(0, TEXT_SIZES.len() as isize - 1);
            self.settings.text_size_percent = TEXT_SIZES[next as usize];
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            let items = self.status_items();
            // With large text the right-hand group (描画, 文字の大きさ, 高コントラスト) takes a
            // second row instead of covering the relay's address.
            let left = items
                .iter()
                .map(|(_, t)| text_width(ui, t) + 16.0)
                .sum::<f32>();
            let right = text_width(ui, &self.renderer_note)
                + text_width(ui, "文字の大きさ 200% 高コントラスト")
                + 110.0;
            let right_group = |app: &mut Self, ui: &mut egui::Ui| {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    app.look_controls(ui);
                    ui.separator();
                    ui.weak(&app.renderer_note);
                });
            };
            if left + right > ui.available_width() {
                ui.horizontal(|ui| status_left(ui, &items));
                ui.horizontal(|ui| right_group(self, ui));
            } else {
                ui.horizontal(|ui| {
                    status_left(ui, &items);
                    right_group(self, ui);
                });
            }
        });
    }

    /// The left side of the status bar, once a frame: measured, then drawn.
    fn status_items(&self) -> Vec<(StatusTone, String)> {
        let mut items = Vec::with_capacity(5);
        if self.relay.is_demo() {
            items.push((StatusTone::Demo, "【デモ】".to_owned()));
        }
        items.push(match &self.relay {
            Relay::Configured { url, .. } => (StatusTone::Plain, format!("中継サーバ: {url}")),
            Relay::Demo { info, .. } => (
                StatusTone::Plain,
                format!("デモ用中継サーバ: {}", info.relay_url),
            ),
            Relay::Starting => (
                StatusTone::Busy,
                "デモ用の中継サーバを起動しています…".to_owned(),
            ),
            Relay::Failed(e) => (StatusTone::Error, e.clone()),
        });
        let login = if self.session.is_some() {
            "ログイン中"
        } else {
            "未ログイン"
        };
        items.push((StatusTone::After, login.to_owned()));
        if let Some(off) = self.offline_note() {
            items.push((StatusTone::Warn, off));
        }
        if let Some(job) = self.jobs.current_label() {
            items.push((StatusTone::Job, job));
        }
        items
    }

    fn offline_note(&self) -> Option<String> {
        let offline = match self.tab {
            Tab::Received => self.received.offline_since(),
            Tab::Sent => self.sent.offline_since(),
            Tab::Partners => self.partners.offline_since(),
            Tab::Top => self.top.offline_since(),
            _ => None,
        }?;
        Some(format!(
            "オフライン: {} に取得した一覧です",
            careplan_client::ledger::jst(offline)
        ))
    }

    fn notice_modal(&mut self, ctx: &egui::Context) {
        let Some(n) = &self.notice else { return };
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("notice-modal")).show(ctx, |ui| {
            ui.set_max_width(560.0);
            if n.error {
                ui.heading(RichText::new(&n.title).color(ui.visuals().error_fg_color));
            } else {
                ui.heading(&n.title);
            }
            egui::ScrollArea::vertical()
                .max_height(360.0)
                .show(ui, |ui| {
                    ui.add(egui::Label::new(&n.body).wrap());
                });
            ui.separator();
            if ui.button("閉じる").clicked() {
                close = true;
            }
        });
        if close || modal.should_close() {
            self.notice = None;
        }
    }
}

impl eframe::App for CareplanApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// The Enter that commits an IME composition must not also reach the text field as a
/// newline or a submit. Some platforms deliver that Enter in the same frame as the commit,
/// others as the next key event: drop an Enter press (and a bare newline text) in the frame
/// of a commit, or as the first key event within 300 ms after it.
fn ime_enter_guard(ctx: &egui::Context) {
    let id = egui::Id::unique("careplan-ime-commit-at");
    let last_commit: Option<f64> = ctx.data(|d| d.get_temp(id));
    let mut committed_at = None;
    let mut consumed = false;
    ctx.input_mut(|i| {
        let now = i.time;
        let commit = i
            .events
            .iter()
            .any(|e| matches!(e, egui::Event::Ime(egui::ImeEvent::Commit(_))));
        let recent = last_commit.is_some_and(|t| now - t < 0.3);
        if commit || recent {
            let before = i.events.len();
            i.events.retain(|e| {
                !matches!(
                    e,
                    egui::Event::Key {
                        key: egui::Key::Enter,
                        pressed: true,
                        ..
                    }
                ) && !matches!(e, egui::Event::Text(t) if t == "\n" || t == "\r")
            });
            consumed = i.events.len() != before;
        }
        let other_key = i.events.iter().any(|e| {
            matches!(
                e,
                egui::Event::Key { pressed: true, .. } | egui::Event::Text(_)
            )
        });
        if commit {
            committed_at = Some(now);
        } else if consumed || other_key {
            committed_at = None;
        } else {
            committed_at = last_commit;
        }
    });
    ctx.data_mut(|d| match committed_at {
        Some(t) => {
            d.insert_temp(id, t);
        }
        None => d.remove::<f64>(id),
    });
}

/// A confirmation dialog: `title`, the content drawn by `body`, then `ok` (bold) and `cancel`.
/// `Some(true)` when confirmed, `Some(false)` when cancelled (also Escape or a click
/// outside), `None` while it stays open.
pub(crate) fn confirm_modal(
    ctx: &egui::Context,
    id: &str,
    title: &str,
    ok: &str,
    cancel: &str,
    body: impl FnOnce(&mut egui::Ui),
) -> Option<bool> {
    let mut answer = None;
    let modal = egui::Modal::new(egui::Id::unique(id)).show(ctx, |ui| {
        ui.set_max_width(620.0);
        ui.heading(title);
        body(ui);
        ui.horizontal(|ui| {
            if default_button(ui, ok).clicked() {
                answer = Some(true);
            }
            if ui.button(cancel).clicked() {
                answer = Some(false);
            }
        });
    });
    if answer.is_none() && modal.should_close() {
        answer = Some(false);
    }
    answer
}

/// A dialog's default button (bold): focused when the dialog opens, so Enter (or Space)
/// answers it; Tab reaches the others; Escape cancels.
pub(crate) fn default_button(ui: &mut egui::Ui, text: &str) -> egui::Response {
    let r = ui.button(RichText::new(text).strong());
    if ui.memory(|m| m.focused().is_none()) {
        r.request_focus();
    }
    r
}

/// 「（なし）」 for an empty メッセージ.
pub(crate) fn message_or_none(m: &str) -> &str {
    if m.is_empty() { "（なし）" } else { m }
}

/// Format a time for the lists (JST, `YYYY/MM/DD HH:MM`).
pub(crate) fn when(t: time::OffsetDateTime) -> String {
    // `YYYY-MM-DD HH:MM:SS` → `YYYY/MM/DD HH:MM`
    let s = careplan_client::ledger::jst(t);
    s.get(..16).unwrap_or(&s).replace('-', "/")
}
