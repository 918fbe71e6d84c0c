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
/// `make test-odbc` names in TEST_POSTGRES_URL / TEST_MYSQL_URL (the functions in this process).
#[cfg(feature = "odbc")]
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_story_converges_through_odbc() {
    let through_odbc = Database::all()
        .iter()
        .filter(|database| database.through_odbc())
        .count();
    assert!(
        through_odbc > 0,
        "no database through ODBC: run it with `make test-odbc`"
    );
    Database::each_at_once(|database| async move {
        if database.through_odbc() {
            e2e::demo::run(Runtime::InProcess, &database)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", database.name()));
        }
    })
    .await;
}
