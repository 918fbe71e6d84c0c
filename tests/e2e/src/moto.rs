//! moto's server, started once per test binary on a free loopback port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{free_port, repo_root, venv_tool};

pub struct Moto {
    pub endpoint: String,
    child: Mutex<Child>,
}

static SHARED: OnceLock<Moto> = OnceLock::new();

impl Moto {
    /// The server shared by every test of this binary (each test uses its own queues). It stops
    /// with the test process: the wrapper script exits when its parent does.
    pub fn shared() -> &'static Moto {
        SHARED.get_or_init(Moto::start)
    }

    /// Starts a server of one's own; it is stopped on drop.
    pub fn start() -> Moto {
        let python = venv_tool("MOTO_PYTHON", "python", "the SQS tests need moto's server");
        let port = free_port();
        let child = Command::new(&python)
            .arg(repo_root().join("tests/support/moto_server.py"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Mutex::new(child),
        };
        moto.wait_until_ready(port);
        moto
    }

    fn wait_until_ready(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.lock().unwrap().try_wait().expect("poll moto") {
                panic!(
                    "moto's server exited at start-up ({status}); is moto[server] installed in the venv?"
                );
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let request =
                    "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                let mut answer = [0u8; 12];
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto's server did not answer on port {port} within 60 s");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}
