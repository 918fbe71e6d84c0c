//! `make demo`'s story, with the receiver and processor as real Lambda binaries under
//! `cargo lambda watch`, configured as deployed (their secrets read from Secrets Manager at cold
//! start), so the demo cannot rot.

use e2e::pipeline::{Database, Runtime};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_story_converges_under_cargo_lambda_watch() {
    e2e::demo::run(Runtime::CargoLambdaWatch, &Database::Sqlite)
        .await
        .expect("the demo story");
}

/// `make demo DB=odbc-postgres` / `DB=odbc-mariadb`: the story through the ODBC drivers that
/// `make test-odbc` names in TEST_POSTGRES_URL / TEST_MYSQL_URL, the processor built with `odbc`
/// under `cargo lambda watch` as the demo builds it (one database after the other: one build).
#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_story_converges_through_odbc_under_cargo_lambda_watch() {
    let through_odbc: Vec<Database> = Database::all()
        .into_iter()
        .filter(Database::through_odbc)
        .collect();
    assert!(
        !through_odbc.is_empty(),
        "no database through ODBC: run it with `make test-odbc`"
    );
    for database in through_odbc {
        e2e::demo::run(Runtime::CargoLambdaWatch, &database)
            .await
            .unwrap_or_else(|e| panic!("{} through ODBC: {e}", database.name()));
    }
}
