//! A real PostgreSQL for tests and benches: Debian's `postgresql` package, initdb + pg_ctl
//! in a temp dir on a free loopback port, run as the unprivileged `postgres` user (the
//! server refuses root). Stopped (immediately) when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use careplan_relay::db::Db;

use super::free_addr;

/// A PostgreSQL server in a temp dir; stopped (immediately) when dropped.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.retain(|b| b.join("initdb").is_file());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed: apt-get install postgresql (needs /usr/lib/postgresql/*/bin/initdb)")
    })
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

impl Postgres {
    pub fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::chown(dir.path(), Some(pg_uid()), None).expect("chown to postgres");
        let data = dir.path().join("data");
        let out = as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-U",
                "careplan",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_addr().port();
        let pg = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        pg.pg_ctl_start();
        pg
    }

    pub fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.data.parent().expect("dir").display()
        );
        let log = self.data.parent().expect("dir").join("pg.log");
        let out = as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().expect("utf-8"),
                "-o",
                &opts,
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn stop(&self, mode: &str) {
        let _ = as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().expect("utf-8"),
                "-m",
                mode,
                "-w",
                "stop",
            ],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://careplan@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}

fn pg_uid() -> u32 {
    let out = Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the postgres user (from the postgresql package)")
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
