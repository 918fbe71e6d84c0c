//! `make demo` and `make run`: the whole pipeline on loopback, with no AWS account (see
//! `e2e::demo`). The functions run as real Lambda binaries under `cargo lambda watch`.
//!
//! usage: demo            tell the story; exit non-zero if the database ever differs from the
//!                        simulator's expected views
//!        demo --serve    start the stack and leave it running until Ctrl-C (`make run`)
//!        demo --in-process
//!                        tell the story with the handlers in this process (no cargo-lambda)
//!
//! The views go to SQLite, or to the database DEMO_DATABASE names (`make demo DB=…`: postgres,
//! mariadb, odbc-postgres, odbc-mariadb; the local servers, or DEMO_DATABASE_URL's).

use std::process::ExitCode;

use e2e::pipeline::{Database, Runtime};

/// cargo lambda's default Invoke API port, so `cargo lambda invoke` needs no flags.
const WATCH_PORT: u16 = 9000;

#[tokio::main]
async fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let name = std::env::var("DEMO_DATABASE").unwrap_or_else(|_| "sqlite".to_owned());
    let outcome = match Database::named(&name, std::env::var("DEMO_DATABASE_URL").ok()) {
        Err(error) => Err(error),
        Ok(database) => match mode.as_str() {
            "" => e2e::demo::run(Runtime::CargoLambdaWatch, &database).await,
            "--in-process" => e2e::demo::run(Runtime::InProcess, &database).await,
            "--serve" => e2e::demo::serve(WATCH_PORT, &database).await,
            other => Err(format!(
                "unknown argument {other:?}; use --serve or --in-process"
            )),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nFAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
