//! `make demo` and `make run`: the whole pipeline on loopback, with no AWS account (see
//! `e2e::demo`). The functions run as real Lambda binaries under `cargo lambda watch`.
//!
//! usage: demo            tell the story; exit non-zero if the database ever differs from the
//!                        simulator's expected views
//!        demo --serve    start the stack and leave it running until Ctrl-C (`make run`)
//!        demo --in-process
//!                        tell the story with the handlers in this process (no cargo-lambda)

use std::process::ExitCode;

use e2e::pipeline::Runtime;

/// cargo lambda's default Invoke API port, so `cargo lambda invoke` needs no flags.
const WATCH_PORT: u16 = 9000;

#[tokio::main]
async fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let outcome = match mode.as_str() {
        "" => e2e::demo::run(Runtime::CargoLambdaWatch).await,
        "--in-process" => e2e::demo::run(Runtime::InProcess).await,
        "--serve" => e2e::demo::serve(WATCH_PORT).await,
        other => Err(format!(
            "unknown argument {other:?}; use --serve or --in-process"
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nFAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
