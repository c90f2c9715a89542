//! Both backends' migrations produce the same tables and columns.

use crate::helpers::*;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use std::collections::BTreeSet;
use std::path::Path;

/// (table, column, nullable) of every user table.
type Schema = BTreeSet<(String, String, bool)>;

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

fn postgres_schema(conn: &mut PgConnection) -> Schema {
    diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable::text AS is_nullable \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load::<PgColumn>(conn)
    .expect("read information_schema.columns")
    .into_iter()
    .map(|c| (c.table_name, c.column_name, c.is_nullable == "YES"))
    .collect()
}

#[derive(QueryableByName)]
struct SqliteTable {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared_type: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

/// Nullability as SQLite enforces it: `NOT NULL`, or the `INTEGER PRIMARY KEY` rowid alias
/// (which can never hold NULL). Any other column accepts NULL, primary key or not.
fn sqlite_schema(path: &Path) -> Schema {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open the SQLite file");
    let tables = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '__diesel_schema_migrations'",
    )
    .load::<SqliteTable>(&mut conn)
    .expect("list SQLite tables");
    let mut schema = Schema::new();
    for table in tables {
        let columns = diesel::sql_query(format!(
            "SELECT name, type AS declared_type, \"notnull\" AS not_null, pk FROM pragma_table_info('{}')",
            table.name
        ))
        .load::<SqliteColumn>(&mut conn)
        .expect("PRAGMA table_info");
        let pk_columns = columns.iter().filter(|c| c.pk > 0).count();
        for c in columns {
            let rowid_alias = c.pk > 0 && pk_columns == 1 && c.declared_type.eq_ignore_ascii_case("INTEGER");
            schema.insert((table.name.clone(), c.name, !(c.not_null != 0 || rowid_alias)));
        }
    }
    schema
}

fn names_only(schema: &Schema) -> BTreeSet<(String, String)> {
    schema.iter().map(|(t, c, _)| (t.clone(), c.clone())).collect()
}

fn migrated_schemas() -> (Schema, Schema) {
    let pg = TestDb::new();
    let pg_schema = postgres_schema(&mut pg.connect());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("schema.db");
    let ran = herald::db::migrate(&herald::config::DatabaseUrl::Sqlite(path.clone())).expect("migrate SQLite");
    assert!(ran > 0, "a fresh SQLite file runs the migrations");
    (pg_schema, sqlite_schema(&path))
}

fn migration_dirs(backend: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            for file in ["up.sql", "down.sql"] {
                assert!(entry.path().join(file).is_file(), "{} has no {file}", entry.path().display());
            }
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn migrations_produce_same_tables_and_columns_on_both_backends() {
    let (pg, lite) = migrated_schemas();
    assert!(!pg.is_empty(), "PostgreSQL has tables");
    let only_pg: Vec<_> = pg.difference(&lite).collect();
    let only_lite: Vec<_> = lite.difference(&pg).collect();
    assert!(
        only_pg.is_empty() && only_lite.is_empty(),
        "(table, column, nullable) differ:\n only PostgreSQL: {only_pg:?}\n only SQLite: {only_lite:?}"
    );
    let pg_dirs = migration_dirs("postgres");
    assert!(!pg_dirs.is_empty());
    assert_eq!(pg_dirs, migration_dirs("sqlite"), "migration directory names differ");
}

/// The part of the comparison above that holds today: same tables, same column names, same
/// migration directories (nullability is compared above).
#[test]
fn migrations_produce_same_tables_and_column_names_on_both_backends() {
    let (pg, lite) = migrated_schemas();
    let tables: BTreeSet<String> = pg.iter().map(|(t, _, _)| t.clone()).collect();
    let expected: BTreeSet<String> = [
        "admin_audit",
        "django_import",
        "idempotency_keys",
        "inbox_state",
        "notification_preferences",
        "notifications",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(tables, expected);
    assert_eq!(names_only(&pg), names_only(&lite), "column names differ between the backends");
    let pg_dirs = migration_dirs("postgres");
    assert!(!pg_dirs.is_empty());
    assert_eq!(pg_dirs, migration_dirs("sqlite"), "migration directory names differ");
}

/// What the nullability difference above means: SQLite stores an inbox row with no user.
#[test]
fn sqlite_inbox_state_refuses_a_null_user_like_postgres() {
    use diesel::connection::SimpleConnection;
    let pg = TestDb::new();
    let pg_result = pg.connect().batch_execute("INSERT INTO inbox_state (user_id, unread_count) VALUES (NULL, 0)");
    assert!(pg_result.is_err(), "PostgreSQL refuses a NULL primary key");

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("null.db");
    herald::db::migrate(&herald::config::DatabaseUrl::Sqlite(path.clone())).expect("migrate SQLite");
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open SQLite");
    let lite_result = conn.batch_execute("INSERT INTO inbox_state (user_id, unread_count) VALUES (NULL, 0)");
    assert!(lite_result.is_err(), "SQLite stored an inbox_state row with user_id NULL");
}
