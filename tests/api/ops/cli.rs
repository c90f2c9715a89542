//! The `herald` binary of SPEC §6: `token`, `migrate`, configuration errors, and `serve` with
//! nothing configured. Every run starts from an empty environment (only `PATH` and the variables
//! a test means) in a temp dir, so no `herald.db` lands in the repository.

use crate::helpers::*;
use awc::http::StatusCode;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

/// The tables the migrations create (diesel's own bookkeeping table aside).
const TABLES: [&str; 6] =
    ["admin_audit", "django_import", "idempotency_keys", "inbox_state", "notification_preferences", "notifications"];

/// `applied N migration(s)` for every migration in the repository (the same names for both
/// backends), so a new migration needs no edit here.
fn applied_all() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    let count = std::fs::read_dir(dir)
        .expect("migrations/postgres")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    format!("applied {count} migration(s)")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Both streams, for assertion messages.
fn describe(out: &Output) -> String {
    format!("status {:?}\n--- stdout\n{}--- stderr\n{}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

fn sqlite_tables(path: &Path) -> BTreeSet<String> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open the migrated SQLite file");
    diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .load::<TableName>(&mut conn)
        .expect("list SQLite tables")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

fn postgres_tables(conn: &mut PgConnection) -> BTreeSet<String> {
    diesel::sql_query("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")
        .load::<TableName>(conn)
        .expect("list PostgreSQL tables")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

fn expected_tables() -> BTreeSet<String> {
    TABLES.iter().map(|t| (*t).to_owned()).chain(["__diesel_schema_migrations".to_owned()]).collect()
}

#[test]
fn token_prints_one_signed_access_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_herald(dir.path(), &["token", "--user", "5", "--staff", "--ttl", "2h"], &[("JWT_SECRET", SECRET)]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one token line: {}", describe(&out));
    let token = lines[0].trim();

    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .expect("token verifies with HS256 and JWT_SECRET")
    .claims;
    assert_eq!(claims["user_id"], json!(5), "{claims}");
    assert_eq!(claims["is_staff"], json!(true), "{claims}");
    assert_eq!(claims["token_type"], json!("access"), "{claims}");
    let exp = claims["exp"].as_i64().expect("exp is an integer");
    let expected = now_secs() + 7200;
    assert!((exp - expected).abs() <= 10, "exp {exp} should be about now + 2h ({expected})");

    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
}

#[test]
fn token_without_staff_is_not_staff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_herald(dir.path(), &["token", "--user", "9"], &[("JWT_SECRET", SECRET)]);
    assert!(out.status.success(), "{}", describe(&out));
    let claims = jsonwebtoken::decode::<Value>(
        text(&out.stdout).trim(),
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .expect("token verifies")
    .claims;
    assert_eq!(claims["user_id"], json!(9));
    assert_ne!(claims["is_staff"], json!(true), "{claims}");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!((exp - (now_secs() + 3600)).abs() <= 10, "default ttl is 1h: exp {exp}");
}

#[test]
fn token_refuses_a_zero_or_unparsable_ttl() {
    let dir = tempfile::tempdir().expect("temp dir");
    for ttl in ["0s", "nonsense"] {
        let out = run_herald(dir.path(), &["token", "--user", "5", "--ttl", ttl], &[("JWT_SECRET", SECRET)]);
        assert!(!out.status.success(), "--ttl {ttl} must fail: {}", describe(&out));
        assert!(text(&out.stdout).trim().is_empty(), "no token printed for --ttl {ttl}: {}", describe(&out));
        assert!(text(&out.stderr).contains("ttl"), "stderr explains the bad --ttl {ttl}: {}", describe(&out));
    }
}

#[test]
fn token_without_jwt_secret_fails_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_herald(dir.path(), &["token", "--user", "5"], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).trim().is_empty(), "no token printed: {}", describe(&out));
    assert!(text(&out.stderr).contains("JWT_SECRET"), "{}", describe(&out));
}

#[test]
fn bad_configuration_exits_2_naming_every_bad_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run_herald(
        dir.path(),
        &[],
        &[("HERALD_BIND", "nope"), ("DATABASE_URL", "mysql://x"), ("HERALD_DB_POOL_SIZE", "0")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = text(&out.stderr);
    for name in ["HERALD_BIND", "DATABASE_URL", "HERALD_DB_POOL_SIZE"] {
        assert!(stderr.contains(name), "{name} not named: {}", describe(&out));
    }
    assert!(!dir.path().join("herald.db").exists(), "a bad configuration must not create a database");
}

#[test]
fn migrate_creates_the_sqlite_tables_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("x.db");
    let url = format!("sqlite://{}", db.display());

    let first = run_herald(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
    assert!(first.status.success(), "{}", describe(&first));
    assert!(text(&first.stdout).contains(&applied_all()), "{}", describe(&first));
    assert!(db.is_file(), "migrate created {}", db.display());
    assert_eq!(sqlite_tables(&db), expected_tables());

    let second = run_herald(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
    assert!(second.status.success(), "{}", describe(&second));
    assert!(text(&second.stdout).contains("applied 0 migration(s)"), "{}", describe(&second));
    assert_eq!(sqlite_tables(&db), expected_tables());
    assert!(!dir.path().join("herald.db").exists(), "DATABASE_URL was used, not the default file");
}

/// An empty PostgreSQL database made for one test, dropped on Drop. The name follows the
/// harness's `herald_test_<pid>_…` pattern, so a crashed run's leftovers are dropped later.
struct EmptyPgDb {
    name: String,
    url: String,
}

impl EmptyPgDb {
    fn new(label: &str) -> EmptyPgDb {
        let name = format!("herald_test_{}_{label}", std::process::id());
        let mut admin = PgConnection::establish(&admin_url()).expect("connect to PostgreSQL as admin");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop leftover database");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create an empty database");
        let url = url_for_database(&name);
        EmptyPgDb { name, url }
    }
}

impl Drop for EmptyPgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&admin_url()) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[test]
fn migrate_creates_the_postgres_tables_once() {
    let db = EmptyPgDb::new("cli_migrate");
    let mut conn = PgConnection::establish(&db.url).expect("connect to the empty database");
    assert!(postgres_tables(&mut conn).is_empty(), "the database starts empty");

    let dir = tempfile::tempdir().expect("temp dir");
    let first = run_herald(dir.path(), &["migrate"], &[("DATABASE_URL", &db.url)]);
    assert!(first.status.success(), "{}", describe(&first));
    assert!(text(&first.stdout).contains(&applied_all()), "{}", describe(&first));
    assert_eq!(postgres_tables(&mut conn), expected_tables());

    let second = run_herald(dir.path(), &["migrate"], &[("DATABASE_URL", &db.url)]);
    assert!(second.status.success(), "{}", describe(&second));
    assert!(text(&second.stdout).contains("applied 0 migration(s)"), "{}", describe(&second));
    assert!(!dir.path().join("herald.db").exists(), "DATABASE_URL was used, not the default file");
}

/// The URL and the development token in what `herald serve` printed, once both are there (the
/// token is the line after `Development token…`).
fn banner(lines: &[String]) -> Option<(String, String)> {
    let url = lines.iter().find_map(|line| line.strip_prefix("Herald listening on "))?;
    let token = lines.iter().position(|line| line.starts_with("Development token")).and_then(|at| lines.get(at + 1))?;
    Some((url.trim().to_owned(), token.trim().to_owned()))
}

#[actix_web::test]
async fn serve_with_nothing_set_starts_a_working_node_and_prints_a_token() {
    let serve = HeraldProcess::start(&[], &[("HERALD_BIND", "127.0.0.1:0")]);
    let printed = serve.read_stdout_until("its URL and a development token", |lines| banner(lines).is_some());
    let (url, token) = banner(&printed).expect("URL and token");
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("URL {url:?} is http://127.0.0.1:<port>"));
    assert_ne!(port, 0, "the printed port is the bound one");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token:?}");

    let client = awc::Client::builder().timeout(WAIT).finish();
    let mut res = client
        .post(format!("{url}/auth/notifications/create/"))
        .bearer_auth(&token)
        .send_json(&json!({"title": "hello from the cli test"}))
        .await
        .expect("create reaches the node");
    let body = parse_body(&res.body().await.expect("create body"));
    assert_eq!(res.status(), StatusCode::CREATED, "{body}");
    assert_eq!(body["notification"]["user_id"], json!(1), "the development token is user 1: {body}");
    let id = body["notification"]["id"].clone();

    let mut res = client
        .get(format!("{url}/auth/notifications/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list reaches the node");
    let list = parse_body(&res.body().await.expect("list body"));
    assert_eq!(res.status(), StatusCode::OK, "{list}");
    assert_eq!(list["total"], json!(1), "{list}");
    assert_eq!(list["notifications"][0]["id"], id, "{list}");

    // A token signed with another secret is refused: the printed one is the node's own.
    let mut res = client
        .get(format!("{url}/auth/notifications/"))
        .bearer_auth(token_signed_elsewhere())
        .send()
        .await
        .expect("request reaches the node");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _ = res.body().await;

    assert!(serve.dir().join("herald.db").is_file(), "the default SQLite file is created in the working directory");
    drop(serve);
}

fn token_signed_elsewhere() -> String {
    sign(&json!({ "token_type": "access", "user_id": 1, "exp": now_secs() + 3600, "is_staff": true }))
}
