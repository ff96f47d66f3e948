//! Start without a sub-command: the desktop window is not built yet (issue 5), so the app
//! starts what the window will stand on — the embedded demo relay on loopback with demo
//! offices and data when nothing is configured — and tells the user, in Japanese, how to
//! use it with the commands of this binary.

use std::net::SocketAddr;
use std::process::ExitCode;

use careplan_client::Store;

/// The default loopback address of the demo relay (another free port if it is taken).
const DEMO_LISTEN: &str = "127.0.0.1:8443";

/// Run the demo relay until the process is stopped (Ctrl+C).
pub fn run() -> ExitCode {
    let dir = match Store::default_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("データフォルダを決められません: {e}");
            return ExitCode::from(1);
        }
    };
    if let Ok(store) = Store::open(&dir)
        && let Ok(settings) = store.settings()
        && let Some(url) = settings.relay_url
    {
        println!("中継サーバ {url} が設定されています。");
        println!(
            "デスクトップ画面は準備中です。`careplan --help` のコマンド（login, received, send, receive …）をお使いください。"
        );
        return ExitCode::SUCCESS;
    }
    let relay_dir = dir.join("demo-relay");
    let preferred: SocketAddr = DEMO_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let relay = careplan_relay::embedded::start_demo(&relay_dir, preferred).or_else(|_| {
        careplan_relay::embedded::start_demo(&relay_dir, SocketAddr::from(([127, 0, 0, 1], 0)))
    });
    let relay = match relay {
        Ok(r) => r,
        Err(e) => {
            eprintln!("デモ用の中継サーバを起動できません: {e}");
            return ExitCode::from(1);
        }
    };
    let Some(info) = relay.demo.clone() else {
        return ExitCode::from(1);
    };
    println!(
        "【デモ】中継サーバが設定されていないため、デモ用の中継サーバを起動しました（架空の事業所・データです）。"
    );
    println!("  中継サーバ: {}", relay.url());
    println!(
        "  ログイン情報（パスワードを含む）: {}",
        relay_dir.join("demo.json").display()
    );
    println!("  デスクトップ画面は準備中です。別の端末から次のコマンドで操作できます:");
    println!();
    println!("  事業所番号  名称\t個人ユーザID\t事業所ユーザID");
    for o in &info.offices {
        println!(
            "  {}  {}\t{}\t{}",
            o.office, o.name, o.personal_user, o.office_user
        );
    }
    if let Some(o) = info.offices.first() {
        println!();
        println!(
            "  例: CAREPLAN_PASSWORD=… CAREPLAN_OFFICE_PASSWORD=… careplan received --relay {} --profile {} --user {} --office-user {}",
            relay.url(),
            o.profile.display(),
            o.personal_user,
            o.office_user
        );
    }
    println!();
    println!("  終了するには Ctrl+C を押してください。");
    loop {
        std::thread::park();
    }
}
