//! Checks that the Document Server double behaves as ONLYOFFICE Docs does, over real HTTP on
//! 127.0.0.1: signed cache URLs and their faults, callbacks with tokens and retries, and
//! downloads with a header token.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::connector::{DS_SECRET, verified_claims};
use support::ds::{self, CallbackOptions, DocumentServer, Fault, RecordedRequest, Tamper};

const PUBLIC_BASE: &str = "https://ds.example.test";
const KEY: &str = "4711-v7-9f2c";
const USER: &str = "u-101";

/// Scale that turns the 1 s, 2 s, 4 s back-off into 5, 10 and 20 ms.
const FAST_BACKOFF: f64 = 0.005;

fn start_ds() -> DocumentServer {
    DocumentServer::start(DS_SECRET, PUBLIC_BASE)
}

fn fast_options() -> CallbackOptions {
    CallbackOptions { backoff_scale: FAST_BACKOFF, timeout: Duration::from_secs(5), ..CallbackOptions::default() }
}

/// Returns `claims` without the registered `iat` and `exp`.
fn without_times(mut claims: Value) -> Value {
    let fields = claims.as_object_mut().expect("claims are an object");
    assert!(fields.remove("iat").is_some(), "claims have iat");
    assert!(fields.remove("exp").is_some(), "claims have exp");
    claims
}

fn bearer_token(header_value: &str) -> &str {
    header_value.strip_prefix("Bearer ").expect("header value starts with `Bearer `")
}

// ------------------------------------------------------------------------------------------
// A callback endpoint that replies from a script

/// What the scripted endpoint does with one request.
#[derive(Clone)]
enum Scripted {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Reads the request, then keeps the connection open without a response for this long.
    Hang(Duration),
}

fn reply(status: u16, body: &str) -> Scripted {
    Scripted::Reply { status, headers: Vec::new(), body: body.to_owned() }
}

/// A local HTTP endpoint that replies to the n-th request with the n-th script item (the last
/// item repeats) and records every request.
struct ScriptedEndpoint {
    address: std::net::SocketAddr,
    received: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl ScriptedEndpoint {
    fn start(script: Vec<Scripted>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(AtomicUsize::new(0));
        std::thread::spawn({
            let received = received.clone();
            move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { break };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let Ok(request) = ds::read_request(&mut stream) else { continue };
                    received.lock().unwrap().push(request);
                    let index = next.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
                    let item = script[index].clone();
                    std::thread::spawn(move || answer(stream, item));
                }
            }
        });
        Self { address, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        self.received.lock().unwrap().clone()
    }
}

fn answer(mut stream: TcpStream, item: Scripted) {
    match item {
        Scripted::Hang(duration) => std::thread::sleep(duration),
        Scripted::Reply { status, headers, body } => {
            let mut head = format!("HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\n", body.len());
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("Connection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
    }
}

// ------------------------------------------------------------------------------------------
// A raw HTTP client, to see exactly what the double sends

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    first_byte_after: Duration,
    complete_after: Duration,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length").expect("Content-Length header").parse().expect("numeric Content-Length")
    }
}

/// Sends `GET` on an `http://127.0.0.1:PORT/...` URL and reads everything until the server
/// closes, ignoring `Content-Length`.
fn raw_get(url: &str) -> RawResponse {
    let rest = url.strip_prefix("http://").expect("plain HTTP URL");
    let (authority, target) = rest.split_at(rest.find('/').expect("URL with a path"));
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();

    let mut received = Vec::new();
    let mut first_byte_after = None;
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => {
                first_byte_after.get_or_insert(started.elapsed());
                received.extend_from_slice(&chunk[..count]);
            }
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("reading {url} failed: {error}"),
        }
    }
    let complete_after = started.elapsed();

    let head_end = received.windows(4).position(|window| window == b"\r\n\r\n").expect("complete response head");
    let head = String::from_utf8(received[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: received[head_end + 4..].to_vec(),
        first_byte_after: first_byte_after.unwrap(),
        complete_after,
    }
}

/// Returns the file of a published URL, 2000 bytes starting with the ZIP magic number.
fn sample_file() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend((0..1996u32).map(|index| (index % 251) as u8));
    bytes
}

// ------------------------------------------------------------------------------------------
// Callbacks: tokens

#[test]
fn body_token_claims_are_flat_body() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let body = ds::status2(KEY, &server.publish(KEY, "docx", sample_file()), USER);

    let outcome = server.send_callback(&endpoint.url("/callback?cb=abc"), body.clone());

    assert!(outcome.succeeded, "{outcome:?}");
    let requests = endpoint.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/callback");
    assert_eq!(requests[0].query, "cb=abc");
    let mut received: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let token = received["token"].as_str().expect("body token").to_owned();
    received.as_object_mut().unwrap().remove("token");
    assert_eq!(received, body, "visible fields are the body itself");
    let claims = verified_claims(&token, DS_SECRET);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert_eq!(without_times(claims), body, "body token claims are the flat body");
}

#[test]
fn header_token_wraps_body_in_payload() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let body = ds::status1(KEY, &[USER, "u-202"], "u-202");

    server.send_callback(&endpoint.url("/callback"), body.clone());

    let request = &endpoint.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some("Node.js/6.13"));
    let token = bearer_token(request.header("authorization").expect("Authorization header"));
    let claims = verified_claims(token, DS_SECRET);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert_eq!(without_times(claims), json!({ "payload": body }));
}

#[test]
fn long_header_token_drops_history() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let mut body = server.publish_save(KEY, "docx", sample_file(), USER);
    let change = body["history"]["changes"][0].clone();
    body["history"]["changes"] = Value::Array(vec![change; 80]);

    let outcome = server.send_callback(&endpoint.url("/callback"), body.clone());

    assert!(outcome.succeeded, "{outcome:?}");
    let request = &endpoint.requests()[0];
    let received: Value = serde_json::from_slice(&request.body).unwrap();
    assert!(received.get("changesurl").is_none(), "visible body has no changesurl");
    assert_eq!(received["history"], json!({}), "visible history is emptied");
    assert_eq!(received["url"], body["url"], "other visible fields stay");

    let header_token = bearer_token(request.header("authorization").unwrap());
    assert!(header_token.len() < ds::MAX_HEADER_TOKEN_CHARS, "rebuilt header token is short");
    let payload = &verified_claims(header_token, DS_SECRET)["payload"];
    assert!(payload.get("changesurl").is_none(), "header payload has no changesurl");
    assert_eq!(payload["history"], json!({}));

    let body_claims = without_times(verified_claims(received["token"].as_str().unwrap(), DS_SECRET));
    assert_eq!(body_claims, body, "body token keeps changesurl and the full history");
}

#[test]
fn header_name_is_configurable() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let options = CallbackOptions { header_name: "AuthorizationJwt".to_owned(), ..fast_options() };

    server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), options);

    let request = &endpoint.requests()[0];
    assert!(request.header("authorization").is_none());
    let token = bearer_token(request.header("authorizationjwt").expect("AuthorizationJwt header"));
    assert_eq!(verified_claims(token, DS_SECRET)["payload"], ds::status4(KEY, USER));
}

#[test]
fn tokens_can_be_left_out() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let body = ds::status4(KEY, USER);
    let header_only = CallbackOptions { body_token: false, ..fast_options() };
    let body_only = CallbackOptions { header_token: false, ..fast_options() };
    let neither = CallbackOptions { body_token: false, header_token: false, ..fast_options() };

    server.send_callback_with(&endpoint.url("/header-only"), body.clone(), header_only);
    server.send_callback_with(&endpoint.url("/body-only"), body.clone(), body_only);
    server.send_callback_with(&endpoint.url("/neither"), body.clone(), neither);

    let requests = endpoint.requests();
    let parsed = |index: usize| serde_json::from_slice::<Value>(&requests[index].body).unwrap();
    assert!(requests[0].header("authorization").is_some());
    assert_eq!(parsed(0), body, "header-only callback has no body token");
    assert!(requests[1].header("authorization").is_none());
    assert!(parsed(1)["token"].is_string(), "body-only callback has a body token");
    assert!(requests[2].header("authorization").is_none());
    assert_eq!(parsed(2), body, "callback without tokens sends the bare body");
}

#[test]
fn tampered_tokens_fail_verification() {
    use jwt_simple::prelude::{HS256Key, MACLike as _, VerificationOptions};
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let key = HS256Key::from_bytes(DS_SECRET.as_bytes());
    let leeway = VerificationOptions {
        time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(60)),
        ..VerificationOptions::default()
    };
    let tampers = [Tamper::Secret("another-secret-0123456789abcdefghij".to_owned()), Tamper::Expired, Tamper::AlgNone];

    for tamper in tampers {
        let options = CallbackOptions { tamper: Some(tamper.clone()), ..fast_options() };
        let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), options);
        let body_token = outcome.sent_body["token"].as_str().unwrap();
        let header_token = bearer_token(&outcome.sent_header.as_ref().unwrap().1);
        assert!(key.verify_token::<Value>(body_token, Some(leeway.clone())).is_err(), "{tamper:?}: body token");
        assert!(key.verify_token::<Value>(header_token, Some(leeway.clone())).is_err(), "{tamper:?}: header token");
    }
}

#[test]
fn tampered_fields_differ_from_claims() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let url = server.publish(KEY, "docx", sample_file());
    let forged = json!({ "url": "http://127.0.0.1:9/forged.docx" }).as_object().unwrap().clone();
    let options = CallbackOptions { tamper: Some(Tamper::VisibleFields(forged)), ..fast_options() };

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status2(KEY, &url, USER), options);

    assert_eq!(outcome.sent_body["url"], "http://127.0.0.1:9/forged.docx");
    let claims = verified_claims(outcome.sent_body["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(claims["url"], url.as_str(), "body token keeps the signed URL");
    let header_claims = verified_claims(bearer_token(&outcome.sent_header.unwrap().1), DS_SECRET);
    assert_eq!(header_claims["payload"]["url"], url.as_str(), "header token keeps the signed URL");
}

#[test]
fn header_payload_can_differ() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let other = ds::status4("another-key", USER);
    let options = CallbackOptions { tamper: Some(Tamper::HeaderPayload(other.clone())), ..fast_options() };

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), options);

    let header_claims = verified_claims(bearer_token(&outcome.sent_header.unwrap().1), DS_SECRET);
    assert_eq!(header_claims["payload"], other);
    let body_claims = verified_claims(outcome.sent_body["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(body_claims["key"], KEY);
}

// ------------------------------------------------------------------------------------------
// Callbacks: replies and retries

#[test]
fn retries_500_and_429_with_backoff() {
    let endpoint = ScriptedEndpoint::start(vec![
        reply(500, "down"),
        reply(429, "slow down"),
        reply(503, "maintenance"),
        reply(200, r#"{"error":0}"#),
    ]);
    let server = start_ds();
    let started = Instant::now();

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), fast_options());

    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(outcome.statuses(), [Some(500), Some(429), Some(503), Some(200)]);
    let expected: Vec<Duration> =
        [0.0, 1.0, 2.0, 4.0].iter().map(|seconds| Duration::from_secs_f64(seconds * FAST_BACKOFF)).collect();
    assert_eq!(outcome.delays(), expected);
    assert!(started.elapsed() >= Duration::from_millis(35), "the delays were slept");
    assert_eq!(endpoint.requests().len(), 4);
}

#[test]
fn gives_up_after_three_retries() {
    let endpoint = ScriptedEndpoint::start(vec![reply(502, "bad gateway")]);
    let server = start_ds();

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), fast_options());

    assert!(!outcome.succeeded);
    assert_eq!(outcome.statuses(), [Some(502); 4]);
    assert_eq!(endpoint.requests().len(), 4);
}

#[test]
fn default_backoff_is_one_two_four_seconds() {
    let endpoint = ScriptedEndpoint::start(vec![reply(500, "down"), reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let options = CallbackOptions { retries: 1, ..CallbackOptions::default() };

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), options);

    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(outcome.delays(), [Duration::ZERO, Duration::from_secs(1)]);
}

#[test]
fn no_retry_after_400() {
    let endpoint = ScriptedEndpoint::start(vec![reply(400, r#"{"error":1}"#), reply(200, r#"{"error":0}"#)]);
    let server = start_ds();

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), fast_options());

    assert!(!outcome.succeeded);
    assert_eq!(outcome.statuses(), [Some(400)]);
    assert_eq!(outcome.attempts[0].body, r#"{"error":1}"#);
}

#[test]
fn no_retry_after_error_1() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, r#"{"error":1}"#), reply(200, r#"{"error":0}"#)]);
    let server = start_ds();

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), fast_options());

    assert!(!outcome.succeeded);
    assert_eq!(outcome.statuses(), [Some(200)]);
}

#[test]
fn reply_error_compared_loosely() {
    let cases = [
        (200, r#"{"error":0}"#, true),
        // A 204 reply has no body, and the DS rejects an empty reply as not JSON.
        (204, "", false),
        (200, r#"{"error":"0"}"#, true),
        (200, r#"{"error":0.0}"#, true),
        (200, r#"{"error":"1"}"#, false),
        (200, r#"{"error":null}"#, false),
        (200, r#"{}"#, false),
        (200, "OK", false),
        (200, "", false),
    ];
    let server = start_ds();

    for (status, body, expected) in cases {
        let endpoint = ScriptedEndpoint::start(vec![reply(status, body)]);
        let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), fast_options());
        assert_eq!(outcome.succeeded, expected, "{status} {body:?}");
        assert_eq!(outcome.attempts.len(), 1, "{status} {body:?} is not retried");
    }
}

#[test]
fn redirect_is_not_followed() {
    let target = ScriptedEndpoint::start(vec![reply(200, r#"{"error":0}"#)]);
    let location = target.url("/elsewhere");
    let redirecting = ScriptedEndpoint::start(vec![Scripted::Reply {
        status: 302,
        headers: vec![("Location".to_owned(), location)],
        body: String::new(),
    }]);
    let server = start_ds();

    let outcome = server.send_callback_with(&redirecting.url("/callback"), ds::status4(KEY, USER), fast_options());

    assert!(!outcome.succeeded);
    assert_eq!(outcome.statuses(), [Some(302)]);
    assert!(target.requests().is_empty(), "the redirect target got no request");
}

#[test]
fn forcesave_callback_not_retried() {
    let endpoint = ScriptedEndpoint::start(vec![reply(500, "down"), reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let url = server.publish(KEY, "docx", sample_file());

    let outcome = server.send_callback(&endpoint.url("/callback"), ds::status6(KEY, &url, USER, 1));

    assert!(!outcome.succeeded);
    assert_eq!(outcome.statuses(), [Some(500)]);
}

#[test]
fn network_error_is_retried() {
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let server = start_ds();

    let outcome =
        server.send_callback_with(&format!("http://{closed_port}/callback"), ds::status4(KEY, USER), fast_options());

    assert!(!outcome.succeeded);
    assert_eq!(outcome.statuses(), [None; 4]);
    assert!(!outcome.attempts[0].body.is_empty(), "the error message is recorded");
}

#[test]
fn timeout_is_retried() {
    let endpoint = ScriptedEndpoint::start(vec![Scripted::Hang(Duration::from_secs(2)), reply(200, r#"{"error":0}"#)]);
    let server = start_ds();
    let options = CallbackOptions { timeout: Duration::from_millis(200), ..fast_options() };

    let outcome = server.send_callback_with(&endpoint.url("/callback"), ds::status4(KEY, USER), options);

    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(outcome.statuses(), [None, Some(200)]);
}

// ------------------------------------------------------------------------------------------
// Signed cache URLs

#[test]
fn published_url_has_ds_shape() {
    let server = start_ds();

    let first = server.publish(KEY, "docx", sample_file());
    let second = server.publish(KEY, "docx", sample_file());

    let prefix = format!("{PUBLIC_BASE}/cache/files/data/{KEY}_1/output.docx/output.docx?md5=");
    assert!(first.starts_with(&prefix), "{first}");
    assert!(second.contains(&format!("/{KEY}_2/")), "{second}");
    let query = first.split_once('?').unwrap().1;
    let expires: u64 = query.split('&').find_map(|pair| pair.strip_prefix("expires=")).unwrap().parse().unwrap();
    let lifetime = expires - ds::unix_now();
    assert!((895..=900).contains(&lifetime), "expires in {lifetime} s");
    assert!(query.ends_with("&filename=output.docx"), "{query}");
}

#[test]
fn published_url_serves_exact_bytes() {
    let server = start_ds();
    let url = server.publish(KEY, "docx", sample_file());

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), 2000);
    assert_eq!(response.body, sample_file());
    assert_eq!(
        response.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    );
}

#[test]
fn tampered_url_is_forbidden() {
    let server = start_ds();
    let url = server.internal_url(&server.publish(KEY, "docx", sample_file()));
    let (start, rest) = url.split_once("md5=").unwrap();
    let flipped = if rest.starts_with('A') { 'B' } else { 'A' };
    let wrong_signature = format!("{start}md5={flipped}{}", &rest[1..]);
    let expires = rest.split('&').find_map(|pair| pair.strip_prefix("expires=")).unwrap();
    let later = (expires.parse::<u64>().unwrap() + 3600).to_string();
    let longer_expiry = url.replace(&format!("expires={expires}"), &format!("expires={later}"));
    let no_signature = url.split_once('?').unwrap().0.to_owned();

    for tampered in [wrong_signature, longer_expiry, no_signature] {
        let response = raw_get(&tampered);
        assert_eq!(response.status, 403, "{tampered}");
        assert_eq!(response.body, b"forbidden", "{tampered}");
    }
}

#[test]
fn expired_url_is_forbidden() {
    let server = start_ds();
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Expired);

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.status, 403);
    assert_eq!(response.body, b"expired");
}

#[test]
fn unknown_path_is_not_found() {
    let server = start_ds();

    assert_eq!(raw_get(&format!("{}/cache/files/data/none/output.docx", server.internal_base())).status, 404);
    assert_eq!(raw_get(&format!("{}/healthcheck", server.internal_base())).status, 404);
}

#[test]
fn requests_are_recorded() {
    let server = start_ds();
    let url = server.internal_url(&server.publish(KEY, "docx", sample_file()));
    let query = url.split_once('?').unwrap().1.to_owned();

    server.download(&url);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, format!("/cache/files/data/{KEY}_1/output.docx/output.docx"));
    assert_eq!(requests[0].query, query);
    assert_eq!(requests[0].query_param("filename"), Some("output.docx"));
    assert_eq!(requests[0].header("user-agent"), Some("Node.js/6.13"));
    server.clear_requests();
    assert!(server.requests().is_empty());
}

// ------------------------------------------------------------------------------------------
// Faults

#[test]
fn truncated_fault_sends_half() {
    let server = start_ds();
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Truncated);

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), 2000);
    assert_eq!(response.body, &sample_file()[..1000]);
}

#[test]
fn wrong_content_length_announces_half() {
    let server = start_ds();
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::WrongContentLength);

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.status, 200);
    assert_eq!(response.content_length(), 1000);
    assert_eq!(response.body, sample_file());
}

#[test]
fn slow_fault_delays_first_byte() {
    let server = start_ds();
    let delay = Duration::from_millis(300);
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Slow { delay });

    let response = raw_get(&server.internal_url(&url));

    assert!(response.first_byte_after >= delay, "first byte after {:?}", response.first_byte_after);
    assert_eq!(response.body, sample_file());
}

#[test]
fn stall_fault_pauses_mid_body() {
    let server = start_ds();
    let delay = Duration::from_millis(500);
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Stall { delay });

    let response = raw_get(&server.internal_url(&url));

    assert!(response.first_byte_after < delay, "first byte after {:?}", response.first_byte_after);
    assert!(response.complete_after >= delay, "complete after {:?}", response.complete_after);
    assert_eq!(response.body, sample_file());
}

#[test]
fn status_500_fault() {
    let server = start_ds();
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Status500);

    assert_eq!(raw_get(&server.internal_url(&url)).status, 500);
}

#[test]
fn wrong_magic_fault_replaces_prefix() {
    let server = start_ds();
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::WrongMagic);

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.content_length(), 2000);
    assert_eq!(&response.body[..8], b"NOTAZIP!");
    assert_eq!(response.body[8..], sample_file()[8..]);
}

#[test]
fn oversized_fault_streams_filler() {
    let server = start_ds();
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Oversized { bytes: 300_000 });

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.content_length(), 300_000);
    assert_eq!(response.body.len(), 300_000);
    assert_eq!(response.body[..2000], sample_file()[..], "the real file comes first");
    assert!(response.body[2000..].iter().all(|byte| *byte == 0));
}

#[test]
fn redirect_fault_returns_302() {
    let server = start_ds();
    let location = "http://127.0.0.1:9/elsewhere";
    let url = server.publish_with(KEY, "docx", sample_file(), Fault::Redirect { location: location.to_owned() });

    let response = raw_get(&server.internal_url(&url));

    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some(location));
    assert!(response.body.is_empty());
}

// ------------------------------------------------------------------------------------------
// Changes archive

#[test]
fn crc32_matches_check_value() {
    assert_eq!(ds::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(ds::crc32(b""), 0);
}

#[test]
fn changes_archive_is_stored_zip() {
    let server = start_ds();
    let url = server.publish_changes(KEY);
    assert!(url.contains("/changes.zip/changes.zip?"), "{url}");
    assert!(url.ends_with("&filename=changes.zip"), "{url}");

    let zip = raw_get(&server.internal_url(&url)).body;

    let u16_at = |offset: usize| u16::from_le_bytes([zip[offset], zip[offset + 1]]);
    let u32_at = |offset: usize| u32::from_le_bytes(zip[offset..offset + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0x0403_4b50, "local file header");
    assert_eq!(u16_at(8), 0, "stored without compression");
    let size = u32_at(18) as usize;
    assert_eq!(u32_at(22) as usize, size, "stored size equals original size");
    let name_length = u16_at(26) as usize;
    assert_eq!(&zip[30..30 + name_length], b"changes.json");
    let data = &zip[30 + name_length..30 + name_length + size];
    assert_eq!(u32_at(14), ds::crc32(data));
    let changes: Value = serde_json::from_slice(data).unwrap();
    assert_eq!(changes[0]["docid"], KEY);

    let end = zip.len() - 22;
    assert_eq!(u32_at(end), 0x0605_4b50, "end of central directory");
    assert_eq!(u16_at(end + 10), 1, "one entry");
    let directory = u32_at(end + 16) as usize;
    assert_eq!(u32_at(directory), 0x0201_4b50, "central directory header");
    assert_eq!(u32_at(directory + 42), 0, "entry starts at offset 0");
}

// ------------------------------------------------------------------------------------------
// Downloads

#[test]
fn download_carries_payload_url_token() {
    let endpoint = ScriptedEndpoint::start(vec![reply(200, "file bytes")]);
    let server = start_ds();
    let public_url = "https://ged.example.test/api/only-office/4711/binaire?authorization=bin-token";

    let outcome =
        server.download_as(public_url, &endpoint.url("/api/only-office/4711/binaire?authorization=bin-token"));

    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.body, b"file bytes");
    let request = &endpoint.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.header("user-agent"), Some("Node.js/6.13"));
    let claims = verified_claims(bearer_token(request.header("authorization").unwrap()), DS_SECRET);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert_eq!(without_times(claims), json!({ "payload": { "url": public_url } }));
}

#[test]
fn download_does_not_follow_redirect() {
    let target = ScriptedEndpoint::start(vec![reply(200, "elsewhere")]);
    let redirecting = ScriptedEndpoint::start(vec![Scripted::Reply {
        status: 302,
        headers: vec![("Location".to_owned(), target.url("/elsewhere"))],
        body: String::new(),
    }]);
    let server = start_ds();

    let outcome = server.download(&redirecting.url("/binaire"));

    assert_eq!(outcome.status, 302);
    assert!(target.requests().is_empty());
}

// ------------------------------------------------------------------------------------------
// Fixture bodies

#[test]
fn status_builders_match_fixtures() {
    let url = format!(
        "{PUBLIC_BASE}/cache/files/data/{KEY}_12/output.xlsx/output.xlsx?md5=abc&expires=1&filename=output.xlsx"
    );

    let status1 = ds::status1(KEY, &[USER, "u-202"], "u-202");
    assert_eq!(
        status1,
        json!({"key": KEY, "status": 1, "users": [USER, "u-202"], "actions": [{"type": 1, "userid": "u-202"}]})
    );

    let status2 = ds::status2(KEY, &url, USER);
    assert_eq!(status2["filetype"], "xlsx");
    assert_eq!(status2["users"], json!([USER]));
    assert_eq!(status2["actions"], json!([{"type": 0, "userid": USER}]));
    assert_eq!(status2["history"]["changes"][0]["user"]["id"], USER);
    assert_eq!(status2["notmodified"], false);
    assert!(status2["lastsave"].as_str().unwrap().ends_with('Z'));

    let status3 = ds::status3(KEY, None, USER);
    assert_eq!(status3["status"], 3);
    assert!(status3.get("url").is_none());
    assert!(status3.get("filetype").is_none());

    assert_eq!(ds::status4(KEY, USER), json!({"key": KEY, "status": 4, "actions": [{"type": 0, "userid": USER}]}));

    let status6 = ds::status6(KEY, &url, USER, 1);
    assert_eq!(status6["forcesavetype"], 1);
    assert_eq!(status6["actions"], json!([{"type": 2, "userid": USER}]));
    assert!(ds::status6(KEY, &url, USER, 2).get("actions").is_none(), "only the Save button adds actions");

    let status7 = ds::status7(KEY, Some(&url), USER, 0);
    assert_eq!(status7["status"], 7);
    assert_eq!(status7["url"], url.as_str());
}

#[test]
fn iso_8601_formats_utc() {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(1_767_607_200_123);
    assert_eq!(ds::iso_8601(time), "2026-01-05T10:00:00.123Z");
    let leap_day = std::time::UNIX_EPOCH + Duration::from_secs(1_709_164_800);
    assert_eq!(ds::iso_8601(leap_day), "2024-02-29T00:00:00.000Z");
}
