//! Test harness shared by the end-to-end suite: a real SQS API (moto's server) on loopback, and
//! queues wired as in production (a redrive policy to a dead-letter queue).
#![forbid(unsafe_code)]

pub mod moto;
pub mod sqs;

use std::path::PathBuf;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind to loopback")
        .port()
}
