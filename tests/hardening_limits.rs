//! Bodies, JSON and headers at and past every limit: oversized bodies with and without a
//! length, deeply nested and huge JSON, invalid UTF-8, duplicate keys, callback statuses outside
//! the protocol, slow clients and oversized headers.
//!
//! Each row checks the exact status (a clear 4xx, or the acknowledgement the protocol requires),
//! that the stored documents did not change, that the Document Server double served no file, and
//! that the host still responds to `/health`.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::attack::{
    Framing, RawRequest, base64url, document_state, encode_query, exchange, health_problem, hmac_jws, hs256, short,
    try_exchange,
};
use support::connector::{Connector, DS_SECRET, USER_SECRET, fixture, now};
use support::ds::{self, DocumentServer};
use support::host::{Reply, Setup};

const DOC: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
/// A document no row may create.
const NEW_DOC: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6e";
/// A document that the control rows of uploads create.
const CONTROL_DOC: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6f";
const OWNER: &str = "u-101";

/// `max_document_bytes` of the test connector.
const MAX_DOCUMENT_BYTES: usize = 100_000;
/// Largest callback body the connector reads.
const MAX_CALLBACK_BODY: usize = 1024 * 1024;
/// Largest `/token` body the connector reads.
const MAX_CONFIG_BODY: usize = 256 * 1024;
/// Nesting depth of the deeply nested JSON rows.
const DEPTH: usize = 100_000;

/// One request and the response it must get.
struct Row {
    label: String,
    request: RawRequest,
    status: u16,
    /// `code` of a JSON error body; `None` means it has none.
    code: Option<&'static str>,
}

fn row(label: &str, request: RawRequest, status: u16, code: Option<&'static str>) -> Row {
    Row { label: label.to_owned(), request, status, code }
}

/// A connector with one docx document and the URLs of an editing session.
struct Bench {
    ds: DocumentServer,
    connector: Connector,
    owner_token: String,
    /// Target of the owner's callback URL on the test host.
    callback_target: String,
    key: String,
    /// A file published by the double for `key`.
    save_url: String,
}

impl Bench {
    fn open() -> Bench {
        let ds = DocumentServer::start(DS_SECRET, "https://ds.example.test");
        let internal = ds.internal_base();
        let max = MAX_DOCUMENT_BYTES.to_string();
        let mut setup = Setup::default();
        setup.limits.header_read_timeout = Duration::from_secs(2);
        let connector = Connector::start_with(&[("onlyoffice_internal_url", internal.as_str()), ("max_document_bytes", max.as_str())], setup);
        let uploaded = connector.upload(OWNER, DOC, "rapport.docx", &fixture("rapport.docx"));
        assert_eq!(uploaded.status, 201, "{}", uploaded.text());
        let (_, callback) = connector.acces(OWNER, DOC);
        let callback_target = callback.strip_prefix(support::connector::PUBLIC_BASE).unwrap().to_owned();
        let (metadata, _) = document_state(&connector.host, OWNER, DOC).unwrap();
        let key = metadata["cle_onlyoffice"].as_str().unwrap().to_owned();
        let save_url = ds.publish(&key, "docx", fixture("rapport-modifie.docx"));
        let owner_token = hs256(&json!({ "sub": OWNER, "name": "Utilisateur u-101", "iat": now(), "exp": now() + 3600 }), USER_SECRET);
        Bench { ds, connector, owner_token, callback_target, key, save_url }
    }

    fn state(&self) -> Vec<Option<(Value, Value)>> {
        [DOC, NEW_DOC].iter().map(|id| document_state(&self.connector.host, OWNER, id)).collect()
    }

    fn downloads(&self) -> usize {
        self.ds.requests().iter().filter(|request| request.path.starts_with("/cache/")).count()
    }

    /// Builds a callback with the owner's callback token, `body` as given, and a valid header token
    /// over a status 1, so that only the body decides.
    fn callback(&self, body: impl Into<Vec<u8>>) -> RawRequest {
        let editing = ds::status1(&self.key, &[OWNER], OWNER);
        let header = hs256(&json!({ "payload": editing, "iat": now(), "exp": now() + 300 }), DS_SECRET);
        RawRequest::new("POST", &self.callback_target)
            .header("content-type", "application/json")
            .header("authorization", &format!("Bearer {header}"))
            .body(body)
    }

    /// Builds a `/token` request of the owner with `body` as given.
    fn token(&self, body: impl Into<Vec<u8>>) -> RawRequest {
        RawRequest::new("POST", "/api/only-office/token").bearer(&self.owner_token).header("content-type", "application/json").body(body)
    }

    /// Returns a valid `/token` body naming the document.
    fn config(&self) -> Value {
        let (binaire, _) = self.connector.acces(OWNER, DOC);
        json!({ "document": { "url": binaire } })
    }

    /// Returns a signed status 1 callback body, body token included.
    fn editing_body(&self) -> Value {
        let mut body = ds::status1(&self.key, &[OWNER], OWNER);
        body["token"] = json!(hs256(&timed(&body), DS_SECRET));
        body
    }

    fn run(&self, table: &str, rows: Vec<Row>) {
        let mut failures = Vec::new();
        let count = rows.len();
        let mut state = self.state();
        let mut downloads = self.downloads();
        for row in rows {
            match try_exchange(self.connector.host.address, &row.request) {
                Ok(reply) => failures.extend(reply_problems(&row, &reply)),
                Err(err) => failures.push(format!("{}: no response: {err}", row.label)),
            }
            let new_state = self.state();
            if new_state != state {
                failures.push(format!("{}: stored metadata or versions changed", row.label));
                state = new_state;
            }
            let new_downloads = self.downloads();
            if new_downloads != downloads {
                failures.push(format!("{}: the connector downloaded a file from the DS", row.label));
                downloads = new_downloads;
            }
            if let Some(problem) = health_problem(&self.connector.host) {
                failures.push(format!("{}: {problem}", row.label));
            }
        }
        assert!(failures.is_empty(), "{table}: {} failed check(s) over {count} rows:\n{}", failures.len(), failures.join("\n"));
    }
}

fn reply_problems(row: &Row, reply: &Reply) -> Vec<String> {
    let label = &row.label;
    let mut problems = Vec::new();
    if reply.status != row.status {
        problems.push(format!("{label}: status {} instead of {}: {}", reply.status, row.status, short(&reply.text())));
        return problems;
    }
    let on_callback = row.request.target.contains("/remplacer");
    if (200..300).contains(&reply.status) {
        if on_callback && reply.text() != r#"{"error":0}"# {
            problems.push(format!("{label}: callback answer {}", short(&reply.text())));
        }
        return problems;
    }
    // The host's own responses (413 on a declared length, 431) are plain text.
    let Ok(body) = serde_json::from_slice::<Value>(&reply.body) else {
        if row.code.is_some() {
            problems.push(format!("{label}: error body is not JSON: {}", short(&reply.text())));
        }
        return problems;
    };
    if body.get("code").and_then(Value::as_str) != row.code {
        problems.push(format!("{label}: code {:?} instead of {:?}", body.get("code"), row.code));
    }
    if !body["message"].is_string() {
        problems.push(format!("{label}: error body without a message: {body}"));
    }
    if on_callback && body["error"] != 1 {
        problems.push(format!("{label}: callback error without \"error\": 1: {body}"));
    }
    problems
}

fn timed(fields: &Value) -> Value {
    let mut claims = fields.clone();
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 300);
    claims
}

/// Serializes `value` and pads it with spaces after its opening brace to exactly `length`
/// bytes, which keeps it valid JSON.
fn padded(value: &Value, length: usize) -> Vec<u8> {
    let text = value.to_string();
    assert!(text.len() <= length, "{} bytes do not fit in {length}", text.len());
    let mut bytes = b"{".to_vec();
    bytes.resize(1 + length - text.len(), b' ');
    bytes.extend_from_slice(&text.as_bytes()[1..]);
    bytes
}

fn nested_arrays() -> Vec<u8> {
    let mut bytes = vec![b'['; DEPTH];
    bytes.extend(vec![b']'; DEPTH]);
    bytes
}

/// Objects nested `depth` deep, five bytes per level.
fn nested_objects(depth: usize) -> Vec<u8> {
    let mut text = "{\"a\":".repeat(depth);
    text.push('1');
    text.push_str(&"}".repeat(depth));
    text.into_bytes()
}

#[test]
fn oversized_bodies_get_413() {
    let bench = Bench::open();
    let upload = |id: &str, name: &str, bytes: Vec<u8>| {
        RawRequest::new("PUT", &format!("/api/documents/{id}/binaire?nom={name}")).bearer(&bench.owner_token).body(bytes)
    };
    let callback_body = bench.editing_body();
    let config = bench.config();

    let rows = vec![
        row("callback body of exactly 1 MiB", bench.callback(padded(&callback_body, MAX_CALLBACK_BODY)), 200, None),
        row("callback body of 1 MiB + 1 byte", bench.callback(padded(&callback_body, MAX_CALLBACK_BODY + 1)), 413, None),
        row(
            "chunked callback body of 1 MiB + 1 byte",
            bench.callback(padded(&callback_body, MAX_CALLBACK_BODY + 1)).framing(Framing::Chunked),
            413,
            None,
        ),
        row("callback body of 8 MiB", bench.callback(padded(&callback_body, 8 << 20)), 413, None),
        row("/token body of exactly 256 KiB", bench.token(padded(&config, MAX_CONFIG_BODY)), 200, None),
        row("/token body of 256 KiB + 1 byte", bench.token(padded(&config, MAX_CONFIG_BODY + 1)), 413, None),
        row("chunked /token body of 256 KiB + 1 byte", bench.token(padded(&config, MAX_CONFIG_BODY + 1)).framing(Framing::Chunked), 413, None),
        row("upload of exactly max_document_bytes", upload(CONTROL_DOC, "notes.txt", vec![b'a'; MAX_DOCUMENT_BYTES]), 201, None),
        row("new upload over max_document_bytes", upload(NEW_DOC, "notes.txt", vec![b'a'; MAX_DOCUMENT_BYTES + 1]), 413, None),
        row(
            "chunked new upload over max_document_bytes",
            upload(NEW_DOC, "notes.txt", vec![b'a'; MAX_DOCUMENT_BYTES + 1]).framing(Framing::Chunked),
            413,
            None,
        ),
        row("chunked new upload of 4 MiB", upload(NEW_DOC, "notes.txt", vec![b'a'; 4 << 20]).framing(Framing::Chunked), 413, None),
        row("replacement over max_document_bytes", upload(DOC, "rapport.txt", vec![b'a'; MAX_DOCUMENT_BYTES + 1]), 413, None),
        row(
            "chunked replacement over max_document_bytes",
            upload(DOC, "rapport.txt", vec![b'a'; MAX_DOCUMENT_BYTES + 1]).framing(Framing::Chunked),
            413,
            None,
        ),
        row(
            "declared length over the host limit",
            bench.token(b"{}".to_vec()).framing(Framing::Declared(17 << 20)),
            413,
            None,
        ),
    ];
    bench.run("oversized bodies", rows);
    let control = document_state(&bench.connector.host, OWNER, CONTROL_DOC).expect("the control upload is stored");
    assert_eq!(control.0["taille"], MAX_DOCUMENT_BYTES);
}

#[test]
fn malformed_json_gets_4xx() {
    let bench = Bench::open();
    let valid_token = bench.editing_body()["token"].clone();
    let mut huge_visible = bench.editing_body();
    huge_visible["users"] = json!(vec!["u-101"; 100_000]);
    let mut huge_signed = ds::status1(&bench.key, &vec!["u-101"; 40_000], OWNER);
    huge_signed["token"] = json!(hs256(&timed(&huge_signed), DS_SECRET));
    let deep_claims = format!(
        r#"{{"key":"{}","status":1,"iat":{},"exp":{},"x":{}}}"#,
        bench.key,
        now(),
        now() + 300,
        String::from_utf8(nested_arrays()).unwrap()
    );
    let deep_signed = json!({ "key": bench.key, "status": 1, "token": hmac_jws(&json!({ "alg": "HS256" }), deep_claims.as_bytes(), DS_SECRET) });
    let mut invalid_claims = format!(r#"{{"key":"{}","status":1,"iat":{},"exp":{},"x":""#, bench.key, now(), now() + 300).into_bytes();
    invalid_claims.extend_from_slice(b"\xff\xfe\"}");
    let invalid_signed = json!({ "key": bench.key, "status": 1, "token": hmac_jws(&json!({ "alg": "HS256" }), &invalid_claims, DS_SECRET) });
    let forged = hs256(&timed(&ds::status1(&bench.key, &[OWNER], OWNER)), USER_SECRET);
    let twice = |first: &Value, second: &Value| {
        format!(r#"{{"key":"{}","status":1,"token":{first},"token":{second}}}"#, bench.key).into_bytes()
    };
    let duplicate_status = format!(
        r#"{{"key":"{}","status":2,"url":"{}","filetype":"docx","users":["u-101"],"iat":{},"exp":{},"status":1}}"#,
        bench.key,
        bench.save_url,
        now(),
        now() + 300
    );
    let duplicate_status_body = json!({ "key": bench.key, "status": 1, "token": hmac_jws(&json!({ "alg": "HS256" }), duplicate_status.as_bytes(), DS_SECRET) });

    let config = bench.config();
    let url = config["document"]["url"].as_str().unwrap().to_owned();
    let invalid_utf8 = b"{\"document\": {\"url\": \"\xff\xfe\"}}".to_vec();
    let mut rows = Vec::new();
    for (name, body) in [
        ("100 000 nested arrays", nested_arrays()),
        // 40 000 levels keep the body under the 256 KiB of `/token`.
        ("40 000 nested objects", nested_objects(40_000)),
        ("invalid UTF-8 in a string", invalid_utf8.clone()),
        ("empty body", Vec::new()),
        ("JSON null", b"null".to_vec()),
        ("top-level array", b"[]".to_vec()),
        ("truncated JSON", b"{\"key\": ".to_vec()),
        ("NUL bytes", vec![0u8; 64]),
        ("byte order mark before the JSON", [b"\xef\xbb\xbf".as_slice(), json!({ "document": { "url": url } }).to_string().as_bytes()].concat()),
        ("valid JSON followed by garbage", [json!({ "document": { "url": url } }).to_string().as_bytes(), b"garbage"].concat()),
    ] {
        rows.push(row(&format!("callback: {name}"), bench.callback(body.clone()), 415, None));
        rows.push(row(&format!("/token: {name}"), bench.token(body), 400, None));
    }
    rows.extend([
        row("callback: 100 000 unsigned users beside a valid token", bench.callback(huge_visible.to_string()), 200, None),
        row("callback: 40 000 users in the signed claims", bench.callback(huge_signed.to_string()), 200, None),
        row("callback: 100 000 nested arrays in the signed claims", bench.callback(deep_signed.to_string()), 401, None),
        row("callback: invalid UTF-8 in the signed claims", bench.callback(invalid_signed.to_string()), 401, None),
        row("callback: duplicate token field, forged last", bench.callback(twice(&valid_token, &json!(forged))), 401, None),
        row("callback: duplicate token field, valid last", bench.callback(twice(&json!(forged), &valid_token)), 200, None),
        row("callback: signed status 2 then status 1", bench.callback(duplicate_status_body.to_string()), 200, None),
        row(
            "/token: 200 000 numbers in an unknown field",
            bench.token(json!({ "document": { "url": url }, "huge": vec![0; 100_000] }).to_string()),
            200,
            None,
        ),
        row(
            "/token: duplicate document.url, foreign last",
            bench.token(format!(r#"{{"document": {{"url": "{url}", "url": "http://169.254.169.254/"}}}}"#)),
            400,
            None,
        ),
        row(
            "/token: duplicate document.url, own last",
            bench.token(format!(r#"{{"document": {{"url": "http://169.254.169.254/", "url": "{url}"}}}}"#)),
            200,
            None,
        ),
    ]);
    let rights = |body: Vec<u8>| {
        RawRequest::new("PUT", &format!("/api/documents/{DOC}/habilitations"))
            .bearer(&bench.owner_token)
            .header("content-type", "application/json")
            .body(body)
    };
    rows.extend([
        row("rights: 100 000 nested arrays", rights(nested_arrays()), 400, None),
        row("rights: invalid UTF-8", rights(b"{\"lecture\": [\"\xff\"]}".to_vec()), 400, None),
        row("rights: duplicate lecture field", rights(br#"{"lecture": ["u-202"], "lecture": ["u-303"]}"#.to_vec()), 400, None),
        row("rights: unknown field", rights(br#"{"lecture": ["u-202"], "admin": ["u-303"]}"#.to_vec()), 400, None),
    ]);
    bench.run("malformed JSON", rows);
}

#[test]
fn callback_status_outside_the_protocol() {
    let bench = Bench::open();
    // Each status is written into the JSON text as given, signed in the body token, and sent
    // with a file to save, so a status wrongly read as 2 would store a version.
    let signed = |status: &str| {
        let fields = format!(
            r#""key":"{}","status":{status},"url":"{}","filetype":"docx","users":["u-101"],"actions":[{{"type":0,"userid":"u-101"}}]"#,
            bench.key, bench.save_url
        );
        let claims = format!(r#"{{{fields},"iat":{},"exp":{}}}"#, now(), now() + 300);
        let token = hmac_jws(&json!({ "alg": "HS256", "typ": "JWT" }), claims.as_bytes(), DS_SECRET);
        format!(r#"{{{fields},"token":"{token}"}}"#).into_bytes()
    };
    let mut rows = Vec::new();
    for (status, expected) in [
        ("0", 200),
        ("5", 200),
        ("8", 200),
        ("99", 200),
        ("-1", 200),
        ("1e99", 415),
        ("2.5", 415),
        ("2.0", 415),
        ("\"2\"", 415),
        ("9223372036854775808", 415),
        ("-9223372036854775809", 415),
        ("null", 415),
        ("true", 415),
        ("[2]", 415),
        ("{\"code\":2}", 415),
    ] {
        rows.push(row(&format!("status {status}"), bench.callback(signed(status)), expected, None));
    }
    let without_status = {
        let fields = format!(r#""key":"{}","url":"{}","filetype":"docx""#, bench.key, bench.save_url);
        let claims = format!(r#"{{{fields},"iat":{},"exp":{}}}"#, now(), now() + 300);
        let token = hmac_jws(&json!({ "alg": "HS256" }), claims.as_bytes(), DS_SECRET);
        format!(r#"{{{fields},"token":"{token}"}}"#)
    };
    rows.push(row("no status", bench.callback(without_status), 415, None));
    bench.run("callback statuses", rows);
}

#[test]
fn invalid_utf8_in_query_and_path_gets_4xx() {
    let bench = Bench::open();
    let rows = vec![
        row(
            "binaire token of percent-encoded invalid UTF-8",
            RawRequest::new("GET", &format!("/api/only-office/{DOC}/binaire?authorization=%FF%FE%FD")),
            401,
            None,
        ),
        row(
            "callback token of percent-encoded invalid UTF-8",
            RawRequest::new("POST", &format!("/api/only-office/{DOC}/remplacer?authorization=%FF%FE")).json(&bench.editing_body()),
            401,
            None,
        ),
        row("document id of percent-encoded invalid UTF-8", RawRequest::new("GET", "/api/only-office/%FF%FE/acces").bearer(&bench.owner_token), 400, None),
        row(
            "binaire token with a raw control character",
            RawRequest::new("GET", &format!("/api/only-office/{DOC}/binaire?authorization={}", encode_query("a\u{1}b"))),
            401,
            None,
        ),
    ];
    bench.run("invalid UTF-8", rows);
}

#[test]
fn file_name_of_invalid_utf8_is_rejected() {
    let bench = Bench::open();
    let upload = RawRequest::new("PUT", &format!("/api/documents/{NEW_DOC}/binaire?nom=%FF%FE.txt")).bearer(&bench.owner_token).body("text");
    bench.run("invalid UTF-8 file name", vec![row("file name of percent-encoded invalid UTF-8", upload, 400, None)]);
}

/// A request whose body is sent by hand, a few bytes at a time.
struct SlowRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowRequest {
    /// Sends the head and the first `sent` bytes of `request`'s body.
    fn start(address: std::net::SocketAddr, request: &RawRequest, sent: usize) -> SlowRequest {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(&request.head(address)).unwrap();
        stream.write_all(&request.body[..sent]).unwrap();
        SlowRequest { stream, rest: request.body[sent..].to_vec() }
    }

    fn send_one_byte(&mut self) {
        if !self.rest.is_empty() {
            let byte = self.rest.remove(0);
            self.stream.write_all(&[byte]).unwrap();
        }
    }

    /// Sends the rest of the body and returns the response.
    fn finish(mut self) -> Reply {
        self.stream.write_all(&self.rest).unwrap();
        let mut received = Vec::new();
        self.stream.read_to_end(&mut received).unwrap();
        support::attack::parse_response(&received).unwrap()
    }
}

#[test]
fn slow_bodies_leave_other_requests_served() {
    let bench = Bench::open();
    let address = bench.connector.host.address;
    let config = bench.token(bench.config().to_string());
    let callback = bench.callback(bench.editing_body().to_string());
    let mut slow_token = SlowRequest::start(address, &config, 10);
    let mut slow_callback = SlowRequest::start(address, &callback, 10);

    // For three seconds both bodies trickle in while other requests come and go.
    for round in 0..10 {
        slow_token.send_one_byte();
        slow_callback.send_one_byte();
        assert_eq!(health_problem(&bench.connector.host), None, "round {round}");
        let metadata = exchange(address, &RawRequest::new("GET", &format!("/api/documents/{DOC}")).bearer(&bench.owner_token));
        assert_eq!(metadata.status, 200, "round {round}: {}", metadata.text());
        std::thread::sleep(Duration::from_millis(300));
    }

    let token_reply = slow_token.finish();
    assert_eq!(token_reply.status, 200, "{}", token_reply.text());
    assert!(token_reply.json()["token"].is_string());
    let callback_reply = slow_callback.finish();
    assert_eq!(callback_reply.status, 200, "{}", callback_reply.text());
    assert_eq!(callback_reply.text(), r#"{"error":0}"#);
}

#[test]
fn slow_headers_are_cut_off() {
    let bench = Bench::open();
    let address = bench.connector.host.address;
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(format!("GET /health HTTP/1.1\r\nHost: {address}\r\nX-Slow: ").as_bytes()).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(250))).unwrap();
    let started = Instant::now();

    // The test host allows 2 s for the whole head; one byte every 250 ms never completes it.
    let mut closed_after = None;
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        if stream.write_all(b"a").is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buffer = [0u8; 1024];
        match stream.read(&mut buffer) {
            Ok(0) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(count) => answer.extend_from_slice(&buffer[..count]),
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
        assert_eq!(health_problem(&bench.connector.host), None, "other requests are served meanwhile");
    }
    let closed_after = closed_after.expect("the host kept a connection whose head never ended for 8 s");
    assert!(closed_after >= Duration::from_secs(1), "closed after {closed_after:?}, before the header timeout");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "unexpected answer to a slow head: {answer}");
}

#[test]
fn oversized_headers_get_431() {
    let bench = Bench::open();
    let address = bench.connector.host.address;
    let mut many_headers = RawRequest::new("GET", "/health");
    for index in 0..200 {
        many_headers = many_headers.header(&format!("x-filler-{index}"), &"v".repeat(90));
    }
    let mut many_small_headers = RawRequest::new("GET", "/health");
    for index in 0..150 {
        many_small_headers = many_small_headers.header(&format!("x-{index}"), "1");
    }
    let rows = vec![
        ("one header of 20 KiB", RawRequest::new("GET", "/health").header("x-filler", &"v".repeat(20 << 10))),
        ("200 headers of 100 bytes", many_headers),
        ("150 one-byte headers", many_small_headers),
        ("Authorization of 20 KiB", RawRequest::new("GET", &format!("/api/documents/{DOC}")).bearer(&base64url(&vec![b'a'; 15 << 10]))),
        ("request target of 20 KiB", RawRequest::new("GET", &format!("/health?x={}", "a".repeat(20 << 10)))),
    ];
    let mut failures = Vec::new();
    for (label, request) in rows {
        match try_exchange(address, &request) {
            Ok(reply) if reply.status == 431 => {}
            Ok(reply) => failures.push(format!("{label}: status {} instead of 431: {}", reply.status, short(&reply.text()))),
            Err(err) => failures.push(format!("{label}: no response: {err}")),
        }
        if let Some(problem) = health_problem(&bench.connector.host) {
            failures.push(format!("{label}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
