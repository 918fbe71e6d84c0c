//! `make bench`, the functions' cold start: the release binaries are started the way Lambda
//! starts `bootstrap`, against a stand-in Runtime API on loopback; init ends when the function
//! asks for its first event (`GET /runtime/invocation/next`). Each function is measured with
//! plain settings and with its secrets read from (moto's) Secrets Manager, so the cost of the
//! cold-start secret resolution shows as a ratio measured in the same run.
//!
//! RECEIVER_BIN and PROCESSOR_BIN name the binaries (`make bench` builds them with
//! `cargo build --release`, the processor with its `sqlite` feature). BASELINE_RECEIVER_BIN and BASELINE_PROCESSOR_BIN, when set, name a
//! second build of each (another profile, say) measured in the same run, its starts taking turns
//! with the first's, with the ratio between them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use e2e::moto::Moto;
use e2e::secretsmanager::create_secret;
use e2e::{sqs, unique_name};
use tokio::sync::mpsc;

const RUNS: usize = 30;

/// Answers nothing: the first `next` request is all that is measured.
async fn next_event(State(started): State<mpsc::UnboundedSender<Instant>>) {
    let _ = started.send(Instant::now());
    std::future::pending::<()>().await
}

fn binary(variable: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(variable).unwrap_or_else(|_| {
        panic!("set {variable} to a release build (make bench does)");
    }));
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

/// The build `variable` names, with the one `BASELINE_{variable}` names when it is set.
fn builds(variable: &str) -> Vec<PathBuf> {
    let baseline = format!("BASELINE_{variable}");
    let mut builds = vec![binary(variable)];
    if std::env::var_os(&baseline).is_some() {
        builds.push(binary(&baseline));
    }
    builds
}

fn size_mib(bin: &PathBuf) -> f64 {
    std::fs::metadata(bin).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

/// Median time from spawn to the first `next` request, over RUNS starts, of each build; the
/// builds start in turn so that the machine's drift falls on all of them alike.
async fn cold_starts(
    builds: &[PathBuf],
    env: &[(&str, String)],
    runtime_api: &str,
    inits: &mut mpsc::UnboundedReceiver<Instant>,
) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(RUNS); builds.len()];
    for _ in 0..RUNS {
        for (bin, times) in builds.iter().zip(&mut times) {
            times.push(cold_start(bin, env, runtime_api, inits).await);
        }
    }
    times
        .into_iter()
        .map(|mut times| {
            times.sort();
            times[RUNS / 2]
        })
        .collect()
}

async fn cold_start(
    bin: &PathBuf,
    env: &[(&str, String)],
    runtime_api: &str,
    inits: &mut mpsc::UnboundedReceiver<Instant>,
) -> Duration {
    let spawned = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the function");
    let ready = tokio::time::timeout(Duration::from_secs(10), inits.recv())
        .await
        .expect("the function asked for an event within 10 s")
        .expect("the runtime API is up");
    let _ = child.kill();
    let _ = child.wait();
    ready - spawned
}

#[tokio::main]
async fn main() {
    let receiver = builds("RECEIVER_BIN");
    let processor = builds("PROCESSOR_BIN");
    let moto = Moto::shared();
    let aws = sqs::sdk_config(&moto.endpoint);

    let (started, mut inits) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_event))
        .with_state(started);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let aws_env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "moto".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "moto".to_owned()),
    ];
    let secret = |name: &str, value: &str| {
        let aws = aws.clone();
        let (name, value) = (unique_name(name), value.to_owned());
        async move { create_secret(&aws, &name, &value).await }
    };
    let database_url = format!("sqlite://{}/cold-start.db", std::env::temp_dir().display());

    let receiver_plain: Vec<(&str, String)> = aws_env
        .iter()
        .cloned()
        .chain([
            (
                "QUEUE_URL",
                format!("{}/123456789012/cold-start", moto.endpoint),
            ),
            ("WEBHOOK_SECRETS", "bench-secret".to_owned()),
        ])
        .collect();
    let mut receiver_secret = receiver_plain.clone();
    receiver_secret.retain(|(k, _)| *k != "WEBHOOK_SECRETS");
    receiver_secret.push((
        "WEBHOOK_SECRETS_SECRET_ARN",
        secret("webhook", "bench-secret").await,
    ));

    let processor_plain: Vec<(&str, String)> = aws_env
        .iter()
        .cloned()
        .chain([
            ("IMMUTA_URL", "http://127.0.0.1:9".to_owned()),
            ("IMMUTA_API_KEY", "bench-key".to_owned()),
            ("VIEW_SQL_PATH", "/p/{projectId}/{dataSourceId}".to_owned()),
            ("DATABASE_URL", database_url.clone()),
        ])
        .collect();
    let mut processor_secret = processor_plain.clone();
    processor_secret.retain(|(k, _)| !matches!(*k, "IMMUTA_API_KEY" | "DATABASE_URL"));
    processor_secret.push((
        "IMMUTA_API_KEY_SECRET_ARN",
        secret("api-key", "bench-key").await,
    ));
    processor_secret.push((
        "DATABASE_URL_SECRET_ARN",
        secret("database-url", &database_url).await,
    ));

    let cases = [
        ("receiver", &receiver, &receiver_plain, &receiver_secret, 1),
        (
            "processor",
            &processor,
            &processor_plain,
            &processor_secret,
            2,
        ),
    ];
    println!("cold start: spawn → first `next` request, median of {RUNS} starts");
    for (name, builds, plain, with_secrets, secrets) in cases {
        let plain = cold_starts(builds, plain, &runtime_api, &mut inits).await;
        let with_secrets = cold_starts(builds, with_secrets, &runtime_api, &mut inits).await;
        for (index, bin) in builds.iter().enumerate() {
            let label = if index == 0 { name } else { "baseline" };
            println!(
                "  {label:<10} plain settings {:>6.2} ms   {secrets} secret(s) from Secrets Manager {:>6.2} ms   ({:.2}x)   {:.2} MiB {}",
                plain[index].as_secs_f64() * 1e3,
                with_secrets[index].as_secs_f64() * 1e3,
                with_secrets[index].as_secs_f64() / plain[index].as_secs_f64(),
                size_mib(bin),
                bin.display()
            );
        }
        if builds.len() > 1 {
            println!(
                "  {name} ÷ baseline: plain {:.2}x, with secrets {:.2}x",
                plain[0].as_secs_f64() / plain[1].as_secs_f64(),
                with_secrets[0].as_secs_f64() / with_secrets[1].as_secs_f64()
            );
        }
    }
}
