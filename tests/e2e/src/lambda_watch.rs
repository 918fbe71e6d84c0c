//! The Lambda functions as real binaries under `cargo lambda watch`: its runtime API emulator
//! starts each function's `bootstrap` the way Lambda does, serves Function URL requests at
//! `/lambda-url/<function>/` and the Invoke API at `/2015-03-31/functions/<function>/invocations`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, repo_root, venv_tool};

pub struct LambdaWatch {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    child: Child,
    env_file: PathBuf,
    /// What the emulator and the functions print (stdout and stderr), unless WATCH_LOGS is set.
    output_file: PathBuf,
    http: reqwest::Client,
}

/// The `cargo-lambda` executable: `$CARGO_LAMBDA`, else the project's venv.
pub fn cargo_lambda() -> PathBuf {
    venv_tool(
        "CARGO_LAMBDA",
        "cargo-lambda",
        "running the functions under `cargo lambda watch` needs cargo-lambda",
    )
}

impl LambdaWatch {
    /// Starts the emulator with `env` for every function (written to an env file, never to the
    /// command line: it holds secrets), the processor built with `odbc` where `odbc` says so.
    /// The functions are built on their first invocation.
    pub fn start(env: &[(String, String)], port: Option<u16>, odbc: bool) -> LambdaWatch {
        let cargo_lambda = cargo_lambda();
        let env_file = std::env::temp_dir().join(format!("{}.env", crate::unique_name("watch")));
        let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, lines).expect("write the functions' env file");
        let port = match port {
            Some(port) if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() => panic!(
                "port {port} on 127.0.0.1 is in use (another `make run` or cargo lambda watch?)"
            ),
            Some(port) => port,
            None => free_port(),
        };
        // cargo-lambda finds zig and itself through PATH; the venv's bin holds both.
        let path = format!(
            "{}:{}",
            cargo_lambda.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(&cargo_lambda);
        command
            .args(["lambda", "watch", "--ignore-changes", "--locked", "--quiet"])
            // The processor links SQLite's driver only when asked (its Cargo feature `sqlite`):
            // the demo and these tests run it on SQLite too.
            .args([
                "--features",
                match odbc {
                    false => "processor/sqlite",
                    true => "processor/sqlite,processor/odbc",
                },
            ])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(repo_root())
            .env("PATH", path)
            .stdin(Stdio::null());
        // `cargo run` and `cargo test` give this process variables such as CARGO_MANIFEST_DIR.
        // Build scripts (ring's) watch them, so passing them on would rebuild half the
        // dependency tree on every start, and again for the next `cargo build`.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(set_by_cargo_for_a_crate) {
                command.env_remove(name);
            }
        }
        let output_file = env_file.with_extension("out");
        if std::env::var_os("WATCH_LOGS").is_none() {
            let output =
                std::fs::File::create(&output_file).expect("create the watch's output file");
            let errors = output.try_clone().expect("share the watch's output file");
            command.stdout(output).stderr(errors);
        }
        // Its own process group, so that stopping it also stops cargo and the functions.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cargo_lambda.display()));
        let mut watch = LambdaWatch {
            address: format!("http://127.0.0.1:{port}"),
            child,
            env_file,
            output_file,
            http: reqwest::Client::new(),
        };
        watch.wait_until_listening(port);
        watch
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "cargo lambda watch exited at start-up ({status}); run with WATCH_LOGS=1 to see why"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cargo lambda watch did not listen on port {port} within 60 s");
    }

    /// Everything printed so far by the emulator and the functions: their log lines and EMF
    /// documents (empty with WATCH_LOGS, which sends it to the terminal instead).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output_file).unwrap_or_default()
    }

    /// Where a function's Function URL is served.
    pub fn function_url(&self, function: &str) -> String {
        format!("{}/lambda-url/{function}/", self.address)
    }

    /// Invokes `function` with `payload` through the Invoke API, as an event source mapping does.
    /// `Err` carries a function error (the runtime's `errorType`/`errorMessage`) or a transport one.
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, String> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.address
        );
        let response = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .map_err(|e| format!("invoke {function}: {e}"))?;
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body: Value = response.json().await.map_err(|e| {
            format!("{function} answered {status} with a body that is not JSON: {e}")
        })?;
        if !status.is_success() || function_error || body.get("errorType").is_some() {
            return Err(format!("{function} failed ({status}): {body}"));
        }
        Ok(body)
    }

    /// Builds and starts a function behind a Function URL (its first request compiles it): waits
    /// for an HTTP answer from the function itself, whatever its status.
    pub async fn warm_up_url(&self, function: &str, limit: Duration) {
        let request = self.http.get(self.function_url(function)).timeout(limit);
        match request.send().await {
            Ok(response) if !response.status().is_server_error() => {}
            Ok(response) => panic!(
                "{function} did not start under cargo lambda watch: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            Err(e) => panic!("{function} did not answer under cargo lambda watch: {e}"),
        }
    }

    /// Builds and starts an event-driven function with a harmless `payload`.
    pub async fn warm_up_invoke(&self, function: &str, payload: &Value, limit: Duration) {
        match tokio::time::timeout(limit, self.invoke(function, payload)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{function} did not start under cargo lambda watch: {e}"),
            Err(_) => panic!("{function} did not answer under cargo lambda watch within {limit:?}"),
        }
    }
}

/// Variables cargo sets for the crate it runs or tests, as opposed to configuration
/// (CARGO_HOME, CARGO_TARGET_DIR, CARGO_BUILD_*, …), which must pass through.
fn set_by_cargo_for_a_crate(name: &str) -> bool {
    name == "CARGO"
        || name == "CARGO_PRIMARY_PACKAGE"
        || name == "CARGO_TARGET_TMPDIR"
        || [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.env_file);
        let _ = std::fs::remove_file(&self.output_file);
    }
}
