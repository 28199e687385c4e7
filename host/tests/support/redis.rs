//! A private `redis-server` process on 127.0.0.1 for tests.
#![allow(
    dead_code,
    reason = "each test crate that includes `support` uses a different part"
)]

use std::io::{BufRead as _, BufReader, ErrorKind, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Maximum wait for a started server to reply to PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Number of launches with a fresh port. Another process may take the chosen port between
/// the probe and the server's bind, so a failed launch is retried.
const START_ATTEMPTS: usize = 3;

/// A `redis-server` process that is killed when the value is dropped.
///
/// The server keeps nothing on disk and writes its log into a temporary directory.
pub struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
    _directory: TempDir,
}

impl RedisServer {
    /// Starts a server without authentication.
    ///
    /// # Panics
    /// Panics when `redis-server` is not installed or does not reply to PING in time.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server that requires `password` for the default user.
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password))
    }

    /// Returns the `redis://` URL of the server, with the password when one is set.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Returns the TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn start_with(password: Option<&str>) -> Self {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::launch(password) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "redis-server did not start after {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    /// Launches one server on a free port and waits for its PING reply.
    fn launch(password: Option<&str>) -> Result<Self, String> {
        let port = free_port();
        let directory = tempfile::tempdir().expect("failed to create a directory for redis-server");
        let log_path = directory.path().join("redis.log");

        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(directory.path())
            .arg("--logfile")
            .arg(&log_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.arg("--requirepass").arg(password);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == ErrorKind::NotFound => panic!(
                "redis-server is not installed; install it (apt-get install redis-server) \
                 to run the Redis backend tests"
            ),
            Err(error) => panic!("failed to run redis-server: {error}"),
        };

        let mut server = Self {
            child,
            port,
            password: password.map(str::to_owned),
            _directory: directory,
        };
        match server.wait_until_ready() {
            Ok(()) => Ok(server),
            Err(reason) => {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                // Dropping `server` kills the process.
                drop(server);
                Err(format!("port {port}: {reason}; server log:\n{log}"))
            }
        }
    }

    /// Polls the server with PING until it replies, the process exits or the time is up.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().map_err(|error| error.to_string())? {
                return Err(format!("redis-server exited with {status}"));
            }
            if ping(self.port) {
                return Ok(());
            }
            sleep(Duration::from_millis(20));
        }
        Err(format!(
            "no reply to PING within {} s",
            START_TIMEOUT.as_secs()
        ))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // The process may already have exited, so a kill error is expected and harmless.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("failed to bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("failed to read the address of the probe listener")
        .port()
}

/// Sends an inline PING and returns whether a Redis reply came back.
///
/// A server with a password replies `-NOAUTH` before authentication, which also shows that it
/// is ready.
fn ping(port: u16) -> bool {
    let timeout = Duration::from_millis(500);
    let Ok(mut stream) = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), timeout)
    else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err() || stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    if BufReader::new(stream).read_line(&mut line).is_err() {
        return false;
    }
    line.starts_with("+PONG") || line.starts_with("-NOAUTH")
}
