//! Pushed arrivals over real mutual TLS on loopback (the demo relay on SQLite in a temp
//! dir): the long-poll `GET /api/v1/wait` answers at once when the cursor is behind, is
//! woken by a send to its office, times out with the same cursor, is bounded per office,
//! answers when the relay shuts down; and the protocol version check (`426 E_PROTOCOL`).
//! Nothing here measures speed: "woken" means answered `arrived: true` long before the
//! wait's own timeout.

use std::time::Duration;

use careplan_relay::embedded::start;

mod push_support;
mod support;
use push_support::{Office, config, demo_in, free_addr};

/// A relay on a fresh demo dir with `f` applied to its configuration.
fn relay_with(
    f: impl FnOnce(&mut careplan_relay::Config),
) -> (
    tempfile::TempDir,
    careplan_relay::embedded::RunningRelay,
    careplan_relay::demo::DemoInfo,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let demo = demo_in(dir.path(), addr);
    let relay = start(config(dir.path(), addr, f)).expect("start relay");
    (dir, relay, demo)
}

fn serial(n: u32) -> String {
    format!("2025042509{n:04}")
}

#[test]
fn a_waiter_is_woken_by_a_send_to_its_office_and_not_by_others() {
    let (_dir, r, demo) = relay_with(|_| {});
    let mut a = Office::new(&demo, 0, r.addr);
    let mut b = Office::new(&demo, 1, r.addr);
    let mut c = Office::new(&demo, 2, r.addr);
    a.login();
    b.login();
    c.login();
    let cb = b.cursor();
    let cc = c.cursor();
    // Nothing new: a short wait times out with the same cursor.
    let (s, v, took) = b.wait(Some(&cb), 1);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["arrived"], false);
    assert_eq!(v["cursor"], cb.as_str());
    assert!(took >= Duration::from_millis(900), "waited {took:?}");

    std::thread::scope(|sc| {
        let wb = sc.spawn(|| b.wait(Some(&cb), 20));
        let wc = sc.spawn(|| c.wait(Some(&cc), 3));
        // Let both waiters park, then send to B only.
        std::thread::sleep(Duration::from_millis(500));
        let (s, v) = a.send_to(&b.info, &serial(1));
        assert_eq!(s, 200, "{v}");
        let (s, v, took) = wb.join().expect("b");
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["arrived"], true, "{v}");
        assert_ne!(v["cursor"], cb.as_str());
        assert!(
            took < Duration::from_secs(15),
            "woken, not timed out: {took:?}"
        );
        let (s, v, _) = wc.join().expect("c");
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["arrived"], false, "C got nothing: {v}");
        assert_eq!(v["cursor"], cc.as_str());
    });

    // An arrival while nobody waited: the next wait with the old cursor answers at once.
    let now = b.cursor();
    let (s, _) = a.send_to(&b.info, &serial(2));
    assert_eq!(s, 200);
    let (s, v, took) = b.wait(Some(&now), 20);
    assert_eq!(s, 200);
    assert_eq!(v["arrived"], true);
    assert!(took < Duration::from_secs(15), "{took:?}");
    // A retried send (same key) is no new arrival.
    let after = v["cursor"].as_str().expect("cursor").to_owned();
    let (s, v) = a.send_to(&b.info, &serial(2));
    assert_eq!(s, 200);
    assert_eq!(v["replayed"], true);
    let (_, v, _) = b.wait(Some(&after), 1);
    assert_eq!(v["arrived"], false, "a replayed send does not wake: {v}");
}

#[test]
fn waits_are_bounded_checked_and_authenticated() {
    let (_dir, r, demo) = relay_with(|c| {
        c.push.max_waiters_per_office = 1;
        c.push.max_wait_secs = 2;
    });
    let mut b = Office::new(&demo, 1, r.addr);
    // No session: 401 before anything else.
    let (s, v, _) = b.wait(None, 0);
    assert_eq!(s, 401, "{v}");
    b.login();
    let cb = b.cursor();
    // A cursor that is not one.
    for bad in ["abc", "-1", "1e3", "99999999999999999999999"] {
        let (s, v, _) = b.wait(Some(bad), 1);
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "E_BAD_CURSOR");
    }
    // The relay cuts a long timeout to max_wait_secs (2 s) ...
    let (s, v, took) = b.wait(Some(&cb), 3600);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["arrived"], false);
    assert!(took < Duration::from_secs(20), "{took:?}");
    // ... and holds one waiter per office here: the second is refused with Retry-After.
    std::thread::scope(|sc| {
        let first = sc.spawn(|| b.wait(Some(&cb), 2));
        std::thread::sleep(Duration::from_millis(400));
        let mut resp = b
            .agent
            .get(&format!("{}/api/v1/wait?since={cb}&timeout=2", b.url))
            .header(
                "Authorization",
                &format!("Bearer {}", b.token.as_deref().unwrap_or("")),
            )
            .call()
            .expect("second wait");
        assert_eq!(resp.status().as_u16(), 429);
        assert!(resp.headers().get("retry-after").is_some());
        let v: serde_json::Value = resp.body_mut().read_json().expect("json");
        assert_eq!(v["error"]["code"], "E_TOO_MANY_WAITS");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("多すぎます"))
        );
        let (s, _, _) = first.join().expect("first");
        assert_eq!(s, 200);
    });
    // Its place is free again.
    let (s, _, _) = b.wait(Some(&cb), 0);
    assert_eq!(s, 200);
}

#[test]
fn a_relay_shutting_down_answers_its_waiters() {
    let (_dir, r, demo) = relay_with(|_| {});
    let mut b = Office::new(&demo, 1, r.addr);
    b.login();
    let cb = b.cursor();
    std::thread::scope(|sc| {
        let w = sc.spawn(|| b.wait(Some(&cb), 30));
        std::thread::sleep(Duration::from_millis(500));
        r.shutdown();
        let (s, v, took) = w.join().expect("waiter");
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["arrived"], false);
        assert_eq!(v["cursor"], cb.as_str());
        assert!(
            took < Duration::from_secs(20),
            "answered, not cut at the timeout: {took:?}"
        );
    });
}

#[test]
fn other_protocol_versions_are_refused_with_a_clear_message() {
    let (_dir, r, demo) = relay_with(|_| {});
    let old = support::agent_speaking(Some(&demo.offices[0].profile), &demo.ca, false);
    let url = format!("https://127.0.0.1:{}/api/v1/login/personal", r.addr.port());
    let body = serde_json::json!({"user_id": demo.offices[0].personal_user, "password": "x"});
    for (header, says) in [
        (None, "アプリを最新の版に更新してください"),
        (Some("1"), "アプリを最新の版に更新してください"),
        (Some("3"), "中継サーバの運営者に更新を依頼してください"),
        (Some("two"), "アプリを最新の版に更新してください"),
    ] {
        let mut req = old.post(&url);
        if let Some(h) = header {
            req = req.header("x-careplan-protocol", h);
        }
        let mut resp = req.send_json(&body).expect("request");
        assert_eq!(resp.status().as_u16(), 426, "{header:?}");
        assert_eq!(
            resp.headers()
                .get("x-careplan-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        let v: serde_json::Value = resp.body_mut().read_json().expect("json");
        assert_eq!(v["error"]["code"], "E_PROTOCOL", "{v}");
        let m = v["error"]["message"].as_str().unwrap_or("");
        assert!(m.contains(says), "{header:?}: {m}");
    }
    // The current version is served and every answer says the relay's version.
    let mut a = Office::new(&demo, 0, r.addr);
    a.login();
    let resp = a
        .agent
        .get(&format!("{}/api/v1/status", a.url))
        .header(
            "Authorization",
            &format!("Bearer {}", a.token.as_deref().unwrap_or("")),
        )
        .call()
        .expect("status");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("x-careplan-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
}

#[test]
fn waiting_does_not_keep_a_session_alive() {
    let (dir, r, demo) = relay_with(|_| {});
    let mut b = Office::new(&demo, 1, r.addr);
    b.login();
    let cb = b.cursor();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = careplan_relay::config::sqlite_url(&dir.path().join("relay.sqlite3"));
    let db = rt
        .block_on(careplan_relay::db::Db::open(&url))
        .expect("the relay's store");
    let office = b.info.office.clone();
    let last_seen = || {
        rt.block_on(async {
            use sqlx::Row;
            sqlx::query("SELECT last_seen FROM sessions WHERE office = $1 AND kind = 'session'")
                .bind(&office)
                .fetch_one(&db.pool)
                .await
                .expect("session row")
                .try_get::<i64, _>(0)
                .expect("last_seen")
        })
    };
    let set_last_seen = |t: i64| {
        rt.block_on(
            sqlx::query("UPDATE sessions SET last_seen = $1 WHERE office = $2")
                .bind(t)
                .bind(&office)
                .execute(&db.pool),
        )
        .expect("update");
    };
    // Ten minutes idle (the relay tracks idle time to the minute).
    let idle_since = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
    set_last_seen(idle_since);
    let (s, v, _) = b.wait(Some(&cb), 0);
    assert_eq!(s, 200, "{v}");
    assert_eq!(last_seen(), idle_since, "a wait is not use of the session");
    let (s, v) = b.get("/api/v1/status", &[]);
    assert_eq!(s, 200, "{v}");
    assert!(last_seen() > idle_since, "a request of the user is");
}
