//! `view-sync`, the operator's binary, run as an operator runs it: its configuration in the
//! environment, its output and exit status read back.

use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

/// The `view-sync` binary of this build (see [`crate::built_binary`]).
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| crate::built_binary("cli", "view-sync", &[]))
        .clone()
}

/// The one JSON document `view-sync --output json` printed (panics showing what it printed).
pub fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs `view-sync <args>` with exactly `env` as its environment.
pub async fn view_sync(env: &[(String, String)], args: &[&str]) -> Output {
    // The first call builds: off the runtime's thread, which other pipelines of the test share.
    let binary = tokio::task::spawn_blocking(binary)
        .await
        .expect("build view-sync");
    tokio::process::Command::new(binary)
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .await
        .expect("run view-sync")
}
