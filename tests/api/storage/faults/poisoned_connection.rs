//! A pooled connection left inside a transaction by a panic is never handed out again.

use crate::helpers::*;
use herald::db::{ConnectionSettings, Db};

#[actix_web::test]
async fn a_connection_left_in_a_transaction_by_a_panic_is_never_reused() {
    use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
    use diesel::prelude::*;
    let test_db = TestDb::new();
    let url = herald::config::DatabaseUrl::Postgres(test_db.url.clone());
    let db = Db::new(&url, 1, ConnectionSettings::from_config(&test_config(&test_db.url, &[])));
    let backend_pid = |db: Db| async move {
        db.run(|conn| match conn {
            herald::db::DbConnection::Pg(c) => {
                Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("pg_backend_pid()"))
                    .get_result::<i32>(c)?)
            }
            herald::db::DbConnection::Sqlite(_) => unreachable!("PostgreSQL test"),
        })
        .await
        .expect("pid")
    };
    let first = backend_pid(db.clone()).await;
    assert_eq!(backend_pid(db.clone()).await, first, "a clean connection is reused");

    let panicked = db
        .run(|conn| -> Result<(), herald::db::DbError> {
            if let herald::db::DbConnection::Pg(c) = conn {
                AnsiTransactionManager::begin_transaction(c)?;
                c.batch_execute("CREATE TABLE half_done (id INT)")?;
            }
            panic!("a bug inside a transaction");
        })
        .await;
    assert!(matches!(panicked, Err(herald::db::DbError::Failed { .. })), "a panic is a 500: {panicked:?}");
    let second = backend_pid(db.clone()).await;
    assert_ne!(second, first, "the connection the panic left in a transaction was retired");

    let left_open = db
        .run(|conn| {
            if let herald::db::DbConnection::Pg(c) = conn {
                AnsiTransactionManager::begin_transaction(c)?;
            }
            Ok(())
        })
        .await;
    assert!(left_open.is_ok());
    assert_ne!(backend_pid(db.clone()).await, second, "a transaction left open retires the connection");
    let gone: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>("to_regclass('half_done') IS NULL"))
        .get_result(&mut test_db.connect())
        .expect("look up half_done");
    assert!(gone, "the panicked transaction was rolled back, not committed by a later user");
}
