//! A fresh PostgreSQL database per test (cloned from a template migrated once per test binary),
//! or a SQLite file in a temp dir; dropped with its guard.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The PostgreSQL server the tests may create databases on. Every test reaches PostgreSQL through
/// this URL, so OpenSSL is initialised here first, as `herald`'s `main` does: without
/// `OPENSSL_INIT_NO_ATEXIT` (libpq's own initialisation registers the cleanup) the test binary's
/// exit frees TLS state that pool threads of in-process nodes still use (SIGSEGV after every
/// test passed, seen once in CI).
pub fn admin_url() -> String {
    openssl::init();
    std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `admin_url` with another database name.
pub fn url_for_database(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("HERALD_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn admin() -> PgConnection {
    PgConnection::establish(&admin_url()).expect("PostgreSQL for tests: set HERALD_TEST_DATABASE_URL or run .ci/run")
}

static TEMPLATE: OnceLock<String> = OnceLock::new();
static CREATE_LOCK: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Name of the migrated template database of this test process.
fn template() -> &'static str {
    TEMPLATE.get_or_init(|| {
        let mut conn = admin();
        drop_stale_databases(&mut conn);
        let name = format!("herald_tpl_{}", std::process::id());
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop old template");
        conn.batch_execute(&format!("CREATE DATABASE {name}")).expect("create template database");
        herald::db::migrate(&herald::config::DatabaseUrl::Postgres(url_for_database(&name))).expect("migrate template");
        name
    })
}

/// Drops test databases left behind by test processes that no longer run.
fn drop_stale_databases(conn: &mut PgConnection) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'herald\\_tpl\\_%' OR datname LIKE 'herald\\_test\\_%'",
    )
    .load(conn)
    .unwrap_or_default();
    for Name { datname } in names {
        let pid = datname.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"));
            }
        }
    }
}

/// A fresh, migrated PostgreSQL database, dropped on Drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let template = template();
        let name = format!("herald_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        {
            let _serialized = CREATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            admin()
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .expect("create test database");
        }
        let url = url_for_database(&name);
        TestDb { name, url }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Keeps a test's database alive as long as its node (its fields are held only for their Drop).
#[allow(dead_code)]
pub enum DbGuard {
    Postgres(TestDb),
    Sqlite(tempfile::TempDir),
    None,
}

impl DbGuard {
    pub fn new(backend: Backend) -> (DbGuard, String) {
        match backend {
            Backend::Postgres => {
                let db = TestDb::new();
                let url = db.url.clone();
                (DbGuard::Postgres(db), url)
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("herald.db").display());
                (DbGuard::Sqlite(dir), url)
            }
        }
    }
}
