//! 「パソコンにログインしたら、このアプリを起動する」 in 自動送受信 (issue 14): the check box
//! writes and removes the XDG autostart entry (here under a temporary XDG_CONFIG_HOME), and
//! shows what the OS has. Its own test binary: it sets an environment variable.
#![allow(unsafe_code)]

mod support;

use support::kittest::App;

#[test]
fn the_start_at_login_box_writes_and_removes_the_autostart_entry() {
    let config = tempfile::tempdir().expect("tempdir");
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("XDG_CONFIG_HOME", config.path()) };
    let entry = config.path().join("autostart/careplan.desktop");

    let mut a = App::start(0);
    a.login();
    a.click("自動送受信");
    let label = "パソコンにログインしたら、このアプリを起動する（自動送受信はこのアプリにログインすると始まります）";
    assert!(!entry.exists());
    a.click(label);
    let text = std::fs::read_to_string(&entry).expect("autostart entry written");
    let exe = std::env::current_exe().expect("exe");
    assert!(
        text.contains(&format!("Exec=\"{}\"", exe.display())),
        "{text}"
    );
    assert!(careplan_app::autostart::is_enabled());
    a.click(label);
    assert!(!entry.exists(), "removed when unticked");
    assert!(!careplan_app::autostart::is_enabled());
}
