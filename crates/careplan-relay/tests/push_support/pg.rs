//! PostgreSQL for the push tests and the long-poll bench: the tests' one server
//! implementation (`tests/support/pg.rs`: installed when missing, run as an unprivileged
//! user, stopped by a watchdog when the process dies), owned by the test, fsync off, and the
//! demo offices seeded into it.

use std::path::Path;

use careplan_relay::db::Db;

use crate::support::pg::PgServer;

/// A PostgreSQL server of its own (not the shared one: the push test stops and restarts
/// it); stopped when dropped.
pub struct Postgres(PgServer);

impl Postgres {
    pub fn start() -> Self {
        Self(PgServer::start(false).unwrap_or_else(|e| panic!("PostgreSQL: {e}")))
    }

    pub fn url(&self) -> String {
        self.0.url("postgres")
    }

    /// Stop abruptly (`pg_ctl stop -m immediate`), as a crash would.
    pub fn stop_immediate(&self) {
        if let Err(e) = self.0.stop_immediate() {
            panic!("pg_ctl stop: {e}\n{}", self.0.log());
        }
    }

    /// Start again after [`Self::stop_immediate`]: same port and data.
    pub fn restart(&self) {
        if let Err(e) = self.0.restart() {
            panic!("pg_ctl start: {e}\n{}", self.0.log());
        }
    }
}

/// The demo offices, users and passwords of `demo` in the PostgreSQL database.
pub fn seed(url: &str, demo: &careplan_relay::demo::DemoInfo, dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = careplan_relay::demo::demo_config(dir, "127.0.0.1:0".parse().expect("addr"));
        let db = Db::open(url).await.expect("open PostgreSQL");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for o in &demo.offices {
            db.upsert_office(&o.office, &o.name, Some(now + 86_400 * 100))
                .await
                .expect("office");
            let h = careplan_relay::auth::hash_password(&cfg.security, &o.personal_password);
            db.put_personal_user(&o.personal_user, &h)
                .await
                .expect("user");
            let h = careplan_relay::auth::hash_password(&cfg.security, &o.office_password);
            db.put_office_user(&o.office_user, &o.office, &h, now, false)
                .await
                .expect("office user");
        }
        db.pool.close().await;
    });
}
