//! Runs the real `efalia-host` binary and collects its log.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The real `efalia-host` binary, with its stderr collected line by line.
pub struct HostProcess {
    pub child: Child,
    pub address: Option<SocketAddr>,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl HostProcess {
    /// Starts `efalia-host serve` with `args` and waits until it logs its address or exits.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_efalia-host"));
        command.arg("serve").args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        command.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start efalia-host");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let log = log.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("serving") {
                        if let Some(address) = address_in(&line) {
                            let _ = address_tx.send(address);
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            }
        });
        let address = address_rx.recv_timeout(Duration::from_secs(60)).ok();
        Self { child, address, log }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.address.expect("host is serving"))
    }

    /// Waits for the process to exit, at most `limit`; returns its exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -s {signal} failed");
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn address_in(line: &str) -> Option<SocketAddr> {
    let start = line.find("address=")? + "address=".len();
    line[start..].split_whitespace().next()?.parse().ok()
}

/// Runs `efalia-host` with `args` to completion and returns its exit code and stderr.
pub fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_efalia-host"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start efalia-host");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (child.wait().unwrap().code(), stderr)
}
