//! Test harness shared by the end-to-end suite, the demo and the benchmarks: a real SQS API
//! (moto's server) on loopback with queues wired as in production, the functions either in this
//! process (a Function URL shim for the receiver) or as real binaries under `cargo lambda watch`,
//! a local SQS trigger with Lambda's partial-batch semantics, the whole pipeline, and release
//! binaries run against a stand-in Lambda Runtime API (the benchmarks).
#![forbid(unsafe_code)]

pub mod console;
pub mod demo;
pub mod function_url;
pub mod lambda_watch;
pub mod moto;
pub mod pipeline;
pub mod runtime_api;
pub mod secretsmanager;
pub mod sqs;
pub mod trigger;

use std::path::PathBuf;

/// `package`'s binary `bin` of this build, built now (a no-op when it is up to date): cargo only
/// hands a package's own tests the path of its binaries.
pub fn built_binary(package: &str, bin: &str, features: &[&str]) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--locked", "-p", package, "--bin", bin])
        .args(features.iter().flat_map(|feature| ["--features", feature]))
        .current_dir(repo_root())
        .status()
        .unwrap_or_else(|e| panic!("run cargo build for {bin}: {e}"));
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed"
    );
    // target/<profile>/deps/<this test> → target/<profile>/<bin>
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    profile_dir.join(bin)
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// A name no other test of this run uses (queues, schemas, files).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind to loopback")
        .port()
}

/// A tool in the project's venv (`.venv/bin/<name>`, made by `make venv`), or the path in
/// `$variable`. Panics with what to do when it is missing: a skipped test would hide a gap.
pub fn venv_tool(variable: &str, name: &str, needed_for: &str) -> PathBuf {
    let path = std::env::var(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".venv/bin").join(name));
    if !path.exists() {
        panic!(
            "{} does not exist: {needed_for} from the project's venv. Run `make venv` (make test \
             and make demo do) or set {variable}.",
            path.display()
        );
    }
    path
}
