//! The `efalia-host` binary: start-up errors, logs, restart persistence and graceful shutdown.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use support::guest::guest_wasm;
use support::host::{get, put};
use support::process::{HostProcess, run_to_exit};
use support::upstream::Upstream;

fn serve_args<'a>(wasm: &'a str, sqlite: &'a str) -> Vec<&'a str> {
    vec![wasm, "--listen", "127.0.0.1:0", "--sqlite-path", sqlite]
}

fn assert_one_line_failure(args: &[&str], expected: &str) {
    let (code, stderr) = run_to_exit(args);
    assert_eq!(code, Some(1), "{stderr}");
    let error_lines: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(error_lines[0].contains(expected), "expected {expected:?} in {stderr}");
}

#[test]
fn rejects_file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.wasm");
    std::fs::write(&path, "hello").unwrap();
    let sqlite = dir.path().join("kv.sqlite3");
    assert_one_line_failure(
        &["serve", path.to_str().unwrap(), "--sqlite-path", sqlite.to_str().unwrap()],
        "is not a WebAssembly component",
    );
}

#[test]
fn rejects_core_module() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("module.wasm");
    std::fs::write(&path, wat::parse_str("(module)").unwrap()).unwrap();
    let sqlite = dir.path().join("kv.sqlite3");
    assert_one_line_failure(
        &["serve", path.to_str().unwrap(), "--sqlite-path", sqlite.to_str().unwrap()],
        "is a core WebAssembly module, not a component",
    );
}

#[test]
fn rejects_component_without_http_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wasm");
    std::fs::write(&path, wat::parse_str("(component)").unwrap()).unwrap();
    let sqlite = dir.path().join("kv.sqlite3");
    assert_one_line_failure(
        &["serve", path.to_str().unwrap(), "--sqlite-path", sqlite.to_str().unwrap()],
        "does not export wasi:http/incoming-handler",
    );
}

#[test]
fn rejects_missing_component_file() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("kv.sqlite3");
    assert_one_line_failure(
        &["serve", "/nonexistent/app.wasm", "--sqlite-path", sqlite.to_str().unwrap()],
        "cannot read component /nonexistent/app.wasm",
    );
}

#[test]
fn rejects_malformed_config_naming_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "[variables]\nalpha = \"one\"\nbeta = [unclosed\n").unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let config_arg = config.to_str().unwrap();
    assert_one_line_failure(
        &["serve", wasm.to_str().unwrap(), "--sqlite-path", sqlite.to_str().unwrap(), "--config", config_arg],
        &format!("{config_arg}:3:"),
    );
}

#[test]
fn rejects_unreachable_redis_without_password() {
    // Port 9 (discard) is closed on the loopback interface of test machines.
    let wasm = guest_wasm();
    let (code, stderr) = run_to_exit(&["serve", wasm.to_str().unwrap(), "--redis-url", "redis://:s3cret@127.0.0.1:9/0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
}

#[test]
fn port_zero_logs_bound_address() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let host = HostProcess::start(&serve_args(wasm.to_str().unwrap(), sqlite.to_str().unwrap()), &[]);
    let address = host.address.expect("bound address in the log");
    assert_ne!(address.port(), 0);
    assert_eq!(get(&host.url("/")).text(), "ok");
}

#[test]
fn guest_stderr_carries_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let host = HostProcess::start(&serve_args(wasm.to_str().unwrap(), sqlite.to_str().unwrap()), &[]);
    assert_eq!(get(&host.url("/stderr?msg=marker-from-guest")).status, 200);
    std::thread::sleep(Duration::from_millis(200));
    let log = host.log_text();
    let line = log.lines().find(|line| line.contains("marker-from-guest")).expect(&log);
    assert!(line.contains("request_id=1"), "{line}");
    assert!(line.contains("stream=\"stderr\"") || line.contains("stream=stderr"), "{line}");
}

#[test]
fn query_strings_stay_out_of_logs() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let host = HostProcess::start(&serve_args(wasm.to_str().unwrap(), sqlite.to_str().unwrap()), &[]);
    assert_eq!(get(&host.url("/config/get?name=secret-token-value")).status, 404);
    std::thread::sleep(Duration::from_millis(200));
    let log = host.log_text();
    assert!(log.contains("path=/config/get"), "{log}");
    assert!(!log.contains("secret-token-value"), "{log}");
}

#[test]
fn sqlite_data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let args = serve_args(wasm.to_str().unwrap(), sqlite.to_str().unwrap());
    {
        let mut host = HostProcess::start(&args, &[]);
        assert_eq!(put(&host.url("/kv/set?store=default&key=kept"), b"still here").status, 204);
        host.signal("TERM");
        assert_eq!(host.wait(Duration::from_secs(10)), Some(0));
    }
    let host = HostProcess::start(&args, &[]);
    assert_eq!(get(&host.url("/kv/get?store=default&key=kept")).text(), "still here");
}

#[test]
fn config_file_store_type_picks_backend() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(&config, "[key_value_store.default]\ntype = \"spin\"\npath = \"state/kv.sqlite3\"\n").unwrap();
    let wasm = guest_wasm();
    let args = [wasm.to_str().unwrap(), "--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()];
    let host = HostProcess::start(&args, &[]);
    assert_eq!(put(&host.url("/kv/set?store=default&key=colour"), b"blue").status, 204);
    // The relative path is resolved against the configuration file's directory, as Spin does.
    assert!(dir.path().join("state/kv.sqlite3").is_file(), "{}", host.log_text());
}

#[test]
fn shutdown_finishes_request_in_flight() {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let allow = format!("http://{}", upstream.address);
    let mut args = serve_args(wasm.to_str().unwrap(), sqlite.to_str().unwrap());
    args.extend(["--allow-outbound", &allow]);
    let mut host = HostProcess::start(&args, &[]);

    let slow_url = host.url(&format!("/outbound?url={}", support::host::encode(&upstream.url("/slow"))));
    let in_flight = std::thread::spawn(move || get(&slow_url));
    std::thread::sleep(Duration::from_millis(300));
    host.signal("TERM");

    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "status 200\nslow");
    assert_eq!(host.wait(Duration::from_secs(10)), Some(0));
    let address = host.address.unwrap();
    assert!(TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err(), "still accepting");
}

#[test]
fn oversized_headers_get_431() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest_wasm();
    let sqlite = dir.path().join("kv.sqlite3");
    let mut args = serve_args(wasm.to_str().unwrap(), sqlite.to_str().unwrap());
    args.extend(["--max-header-bytes", "8192"]);
    let host = HostProcess::start(&args, &[]);

    let mut stream = TcpStream::connect(host.address.unwrap()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let filler = "a".repeat(20_000);
    let request = format!("GET / HTTP/1.1\r\nHost: test\r\nX-Filler: {filler}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes());
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert_eq!(get(&host.url("/")).text(), "ok", "the host keeps serving");
}

#[test]
fn help_documents_defaults_and_units() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_efalia-host"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--listen",
        "--config",
        "--sqlite-path",
        "--redis-url",
        "--allow-outbound",
        "--max-instance-memory",
        "--max-cpu-time",
        "--max-request-body",
        "--max-concurrent-requests",
        "--max-header-bytes",
        "--no-pooling",
        "--shutdown-timeout",
    ] {
        assert!(help.contains(option), "{option} missing from --help");
    }
    assert!(help.contains("[default: 127.0.0.1:3000]"), "{help}");
    assert!(help.contains("in bytes"), "{help}");
    assert!(help.contains("in milliseconds"), "{help}");
}
