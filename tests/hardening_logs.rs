//! The log output of a representative session contains no secret, no token and no signed
//! Document Server URL.
//!
//! Before the host starts, a global `tracing` subscriber is installed that writes every event at
//! every level, with the fields of the spans around it, into a buffer. It also receives the
//! records of crates that log through `log`, as the `efalia-host` binary does. The host writes
//! the component's stdout and stderr as events of the `guest` target, so the buffer contains
//! host and guest output alike. Records of the test's own HTTP client (`ureq`) are left out,
//! because at trace level it logs the full URLs the test sends. Records of the code generator
//! (`cranelift`, `regalloc2`) are kept from `info` up only, because their trace output is large
//! and comes from compiling the component, not from requests.
//!
//! The session uploads a document, opens it through `/acces` and `/token`, lets the Document
//! Server double download it and save it (statuses 1, 6 and 2), and sends refused requests of
//! every kind. It runs once per test process, because the subscriber is process-wide. Each test
//! then reads the captured events up to its own level.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use support::attack::{RawRequest, exchange, hs256, short, unsigned_jws};
use support::connector::{CONNECTOR_SECRET, Connector, DS_SECRET, PUBLIC_BASE, USER_SECRET, fixture, now, user_token};
use support::ds::{self, CallbackOptions, CallbackOutcome, DocumentServer, Fault, Tamper};
use support::host::Setup;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::fmt::format::FmtSpan;

const DOC: &str = "4b3a2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d";
const OWNER: &str = "u-101";
const READER: &str = "u-202";
const STRANGER: &str = "u-303";

/// A writer that appends to a shared buffer.
#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide subscriber and returns its buffer.
fn capture_logs() -> Captured {
    let captured = Captured(Arc::new(Mutex::new(Vec::new())));
    let writer = captured.clone();
    let filter = EnvFilter::new(
        "trace,ureq=off,ureq_proto=off,cranelift_codegen=info,cranelift_frontend=info,wasmtime_cranelift=info,\
         wasmtime_internal_cranelift=info,regalloc2=info",
    );
    let output = tracing_subscriber::fmt::layer()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .with_filter(filter)
        .with_filter(efalia_host::logging::without_wasi_argument_traces());
    tracing_subscriber::registry()
        .with(output)
        .try_init()
        .expect("install the log capture before anything else logs");
    captured
}

/// Tokens and signed URLs seen during the session, which must not appear in the logs.
#[derive(Default)]
struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Keeps a token: all of it, and its signature alone in case only a part were logged.
    fn token(&mut self, token: &str) {
        self.values.push(token.to_owned());
        if let Some(signature) = token.rsplit('.').next().filter(|signature| signature.len() >= 16) {
            self.values.push(signature.to_owned());
        }
    }

    /// Keeps the query token of an `/acces` URL.
    fn access_url(&mut self, url: &str) {
        let token = url.split_once("authorization=").expect("URL with a token").1;
        self.token(token);
    }

    /// Keeps the `md5` signature of a Document Server cache URL.
    fn ds_url(&mut self, url: &str) {
        let md5 = url.split("md5=").nth(1).and_then(|rest| rest.split('&').next()).expect("signed DS URL");
        self.values.push(md5.to_owned());
    }

    /// Keeps the tokens that a callback carried.
    fn callback(&mut self, outcome: &CallbackOutcome) {
        if let Some(token) = outcome.sent_body["token"].as_str() {
            self.token(token);
        }
        if let Some((_, value)) = &outcome.sent_header {
            self.token(value.trim_start_matches("Bearer "));
        }
    }
}

/// The captured log text of the session and the values that must not appear in it.
struct SessionLogs {
    text: String,
    needles: Vec<(String, String)>,
}

/// Runs the session once per process and returns what it logged.
fn session_logs() -> &'static SessionLogs {
    static LOGS: OnceLock<SessionLogs> = OnceLock::new();
    LOGS.get_or_init(run_session)
}

/// Runs the session with the log capture installed.
fn run_session() -> SessionLogs {
    let captured = capture_logs();
    let mut secrets = Secrets::default();

    let ds = DocumentServer::start(DS_SECRET, "https://ds.example.test");
    let internal = ds.internal_base();
    let connector = Connector::start_with(&[("onlyoffice_internal_url", internal.as_str())], Setup::default());
    let address = connector.host.address;
    let owner = user_token(OWNER, json!({}));
    secrets.token(&owner);

    // The session: upload, open, download, edit and save.
    assert_eq!(connector.upload(OWNER, DOC, "rapport.docx", &fixture("rapport.docx")).status, 201);
    connector.grant(OWNER, DOC, &[READER], &[]);
    let (binaire, callback) = connector.acces(OWNER, DOC);
    let (_, reader_callback) = connector.acces(READER, DOC);
    for url in [&binaire, &callback, &reader_callback] {
        secrets.access_url(url);
    }
    let config = json!({ "document": { "url": binaire }, "editorConfig": { "callbackUrl": callback } });
    let signed = exchange(address, &RawRequest::new("POST", "/api/only-office/token").bearer(&owner).json(&config));
    assert_eq!(signed.status, 200, "{}", signed.text());
    secrets.token(signed.json()["token"].as_str().unwrap());
    let download = ds.download_as(&binaire, &connector.local(&binaire));
    assert_eq!(download.status, 200);

    let metadata = connector.as_user(OWNER, "GET", &format!("/api/documents/{DOC}"), None).json();
    let key = metadata["cle_onlyoffice"].as_str().unwrap().to_owned();
    let callback_url = connector.local(&callback);
    let once = || CallbackOptions { retries: 0, ..CallbackOptions::default() };
    let send = |secrets: &mut Secrets, url: &str, body: Value, options: CallbackOptions| {
        let outcome = ds.send_callback_with(url, body, options);
        secrets.callback(&outcome);
        outcome.attempts[0].status
    };
    assert_eq!(send(&mut secrets, &callback_url, ds::status1(&key, &[OWNER], OWNER), once()), Some(200));
    let forced = ds.publish(&key, "docx", fixture("rapport-modifie.docx"));
    secrets.ds_url(&forced);
    assert_eq!(send(&mut secrets, &callback_url, ds::status6(&key, &forced, OWNER, 1), once()), Some(200));
    let save = ds.publish_save(&key, "docx", fixture("rapport-modifie.docx"), OWNER);
    secrets.ds_url(save["url"].as_str().unwrap());
    secrets.ds_url(save["changesurl"].as_str().unwrap());
    assert_eq!(send(&mut secrets, &callback_url, save, once()), Some(200));
    let new_key = connector.as_user(OWNER, "GET", &format!("/api/documents/{DOC}"), None).json()["cle_onlyoffice"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key, "the save was committed");

    // Refused and failing requests of every kind.
    let expired_user = hs256(&json!({ "sub": OWNER, "iat": now() - 7200, "exp": now() - 3600 }), USER_SECRET);
    let ds_as_user = hs256(&json!({ "sub": OWNER, "iat": now(), "exp": now() + 600 }), DS_SECRET);
    let unsigned = unsigned_jws(&json!({ "alg": "none" }), &json!({ "sub": OWNER, "exp": now() + 600 }));
    let stranger = user_token(STRANGER, json!({}));
    let expired_download = hs256(
        &json!({ "aud": "oo-binaire", "doc": DOC, "sub": OWNER, "droit": "lecture", "iat": now() - 7200, "exp": now() - 3600, "jti": "x" }),
        CONNECTOR_SECRET,
    );
    for token in [&expired_user, &ds_as_user, &unsigned, &stranger, &expired_download] {
        secrets.token(token);
    }
    let binaire_path = binaire.strip_prefix(PUBLIC_BASE).unwrap();
    let callback_token = callback.split_once("authorization=").unwrap().1;
    let refused = [
        (RawRequest::new("GET", &format!("/api/only-office/{DOC}/acces")).bearer(&expired_user), 401),
        (RawRequest::new("GET", &format!("/api/only-office/{DOC}/acces")).bearer(&ds_as_user), 401),
        (RawRequest::new("GET", &format!("/api/documents/{DOC}")).bearer(&unsigned), 401),
        (RawRequest::new("POST", "/api/only-office/token").bearer(&stranger).json(&config), 403),
        (
            RawRequest::new("POST", "/api/only-office/token")
                .bearer(&owner)
                .json(&json!({ "document": { "url": "http://169.254.169.254/?md5=planted&expires=1" } })),
            400,
        ),
        (RawRequest::new("GET", &format!("/api/only-office/{DOC}/binaire?authorization={expired_download}")), 401),
        (RawRequest::new("GET", &format!("/api/only-office/{DOC}/binaire?authorization={callback_token}")), 401),
        (RawRequest::new("GET", binaire_path).header("authorization", &format!("Bearer {owner}")), 401),
        (RawRequest::new("GET", &format!("/api/only-office/{DOC}/inconnu?authorization={callback_token}")), 404),
        (RawRequest::new("DELETE", &format!("{binaire_path}&md5=planted&expires=1")), 405),
        (RawRequest::new("PUT", &format!("/api/documents/{DOC}/binaire?nom=x.docx")).bearer(&stranger).body(fixture("rapport.docx")), 403),
    ];
    for (request, status) in refused {
        let reply = exchange(address, &request);
        assert_eq!(reply.status, status, "{} {}: {}", request.method, short(&request.target), reply.text());
    }

    let save_again = |fault: Option<Fault>| {
        let url = match fault {
            Some(fault) => ds.publish_with(&new_key, "docx", fixture("rapport-modifie.docx"), fault),
            None => ds.publish(&new_key, "docx", fixture("rapport-modifie.docx")),
        };
        ds::status2(&new_key, &url, OWNER)
    };
    let tampered = |tamper: Tamper| CallbackOptions { tamper: Some(tamper), ..once() };
    let failing: Vec<(Value, CallbackOptions, String, u16)> = vec![
        (save_again(None), tampered(Tamper::Secret(USER_SECRET.to_owned())), callback_url.clone(), 401),
        (save_again(None), tampered(Tamper::AlgNone), callback_url.clone(), 401),
        (save_again(None), tampered(Tamper::Expired), callback_url.clone(), 401),
        (
            ds::status2(&new_key, "http://169.254.169.254/cache/files/x/output.docx?md5=planted&expires=1&filename=output.docx", OWNER),
            once(),
            callback_url.clone(),
            403,
        ),
        (save_again(Some(Fault::Status500)), once(), callback_url.clone(), 500),
        (save_again(Some(Fault::Redirect { location: format!("{internal}/cache/elsewhere?md5=planted&expires=1") })), once(), callback_url.clone(), 500),
        (save_again(Some(Fault::WrongMagic)), once(), callback_url.clone(), 500),
        (save_again(None), once(), connector.local(&reader_callback), 403),
    ];
    for (body, options, url, status) in failing {
        if let Some(url) = body["url"].as_str().filter(|url| url.contains("md5=") && !url.contains("planted")) {
            secrets.ds_url(url);
        }
        assert_eq!(send(&mut secrets, &url, body, options), Some(status));
    }
    drop(connector);
    drop(ds);

    let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    let mut needles: Vec<(String, String)> = [
        ("the user secret", USER_SECRET),
        ("the DS secret", DS_SECRET),
        ("the connector secret", CONNECTOR_SECRET),
        ("a JWT", "eyJ"),
        ("a query token", "authorization="),
        ("a signed DS URL", "md5="),
        ("a signed DS URL", "expires="),
        ("a planted signed URL", "planted"),
    ]
    .iter()
    .map(|(what, needle)| ((*what).to_owned(), (*needle).to_owned()))
    .collect();
    needles.extend(secrets.values.into_iter().map(|value| ("a token or URL signature of the session".to_owned(), value)));
    SessionLogs { text, needles }
}

/// Splits log text into events: a line that starts with a timestamp begins an event, and the
/// lines after it (multi-line fields) belong to it.
fn events(text: &str) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts_event = line.len() > 20 && line.starts_with("20") && line.as_bytes()[10] == b'T';
        match events.last_mut() {
            Some(event) if !starts_event => {
                event.push('\n');
                event.push_str(line);
            }
            _ => events.push(line.to_owned()),
        }
    }
    events
}

/// Returns the level of an event: the word after its timestamp.
fn level(event: &str) -> &str {
    event.split_whitespace().nth(1).unwrap_or_default()
}

/// Checks that the session was logged and that no event at one of `levels` contains a needle.
fn assert_clean(levels: &[&str]) {
    let logs = session_logs();
    let events: Vec<String> = events(&logs.text).into_iter().filter(|event| levels.contains(&level(event))).collect();
    assert!(events.iter().any(|event| event.contains("request served")), "the host's request lines were captured");
    assert!(events.iter().any(|event| event.contains("guest")), "the component's own lines were captured");
    assert!(events.iter().any(|event| event.contains("callback status 2")), "the save was logged");
    assert!(events.iter().any(|event| event.contains("callback url rejected")), "the refused URL was logged");

    let mut found = Vec::new();
    for (what, needle) in &logs.needles {
        let hits: Vec<&String> = events.iter().filter(|event| event.contains(needle.as_str())).collect();
        if let Some(first) = hits.first() {
            found.push(format!("{what} ({}) in {} event(s), first:\n  {}", short(needle), hits.len(), around(first, needle)));
        }
    }
    assert!(found.is_empty(), "{} of {} events at {levels:?} leak:\n{}", found.len(), events.len(), found.join("\n"));
}

/// Returns the start of `event` and the text around the first `needle` in it.
fn around(event: &str, needle: &str) -> String {
    let position = event.find(needle).unwrap_or(0);
    let start = event.floor_char_boundary(position.saturating_sub(200));
    let end = event.floor_char_boundary((position + needle.len() + 60).min(event.len()));
    format!("{} … {} …", short(event.lines().next().unwrap_or_default()), &event[start..end])
}

#[test]
fn logs_up_to_debug_hold_no_secret() {
    assert_clean(&["ERROR", "WARN", "INFO", "DEBUG"]);
}

#[test]
fn trace_logs_hold_no_secret() {
    assert_clean(&["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]);
}
