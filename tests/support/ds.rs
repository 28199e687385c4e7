//! A Document Server (DS) test double. It serves signed cache URLs over real HTTP on 127.0.0.1
//! and records every request it receives. It calls the connector the way ONLYOFFICE Docs does:
//! callbacks carry an outbox JWT in the body and in a header, and downloads of `document.url`
//! carry a header token.
//!
//! The behaviour follows ONLYOFFICE Docs defaults: HS256 outbox tokens valid 5 minutes, cache
//! URLs valid 900 seconds, callback retries after 1 s, 2 s and 4 s for network errors, timeouts,
//! HTTP 429 and 5xx, and a 7168-character limit on the header token.
//!
//! The fixture builders (`status1` to `status7`) return plain JSON objects, so a test changes a
//! field with `body["notmodified"] = json!(true)` before sending it.

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_simple::prelude::{Claims, HS256Key, MACLike as _};
use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Encoder as _};
use serde_json::{Map, Value, json};

/// `User-Agent` of every request the DS sends (ONLYOFFICE Docs request defaults).
pub const USER_AGENT: &str = "Node.js/6.13";

/// Lifetime of the outbox tokens on callbacks and downloads (DS `token.outbox.expires`).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Lifetime of a signed cache URL (DS `storage.fs.urlExpires`).
pub const URL_LIFETIME: Duration = Duration::from_secs(900);

/// Length from which the DS rebuilds the header token without `changesurl` and `history`.
pub const MAX_HEADER_TOKEN_CHARS: usize = 7168;

/// Maximum size of a file the DS downloads (DS `maxDownloadBytes`, 100 MiB).
pub const MAX_DOWNLOAD_BYTES: u64 = 100 << 20;

/// `actions[].type` of a user who left the session.
pub const USER_LEFT: u8 = 0;
/// `actions[].type` of a user who joined the session.
pub const USER_JOINED: u8 = 1;
/// `actions[].type` of a user who clicked the Save button (forcesave type 1).
pub const FORCESAVE_CLICKED: u8 = 2;

/// Key of the HMAC in the `md5` parameter of cache URLs. The real DS uses a storage secret that
/// is separate from the JWT secret, and so does the double.
const URL_SIGNING_SECRET: &str = "cache-url-secret-of-the-ds-test-double";

const MAX_REQUEST_HEAD: usize = 64 << 10;
const MAX_REQUEST_BODY: usize = 16 << 20;
const MAX_CALLBACK_REPLY: u64 = 1 << 20;
const FILLER_CHUNK: usize = 64 << 10;

/// A request the double received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string without the `?`, empty when the target has none.
    pub query: String,
    /// Header names as sent by the client, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// Returns the first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Returns the raw (still percent-encoded) value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        query_param(&self.query, name)
    }
}

/// A failure injected on one published URL. Every fetch of that URL gets it.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Announces the full `Content-Length`, sends the first half of the bytes and closes.
    Truncated,
    /// Announces half the length (rounded down) and then sends all the bytes, so a client that
    /// trusts `Content-Length` gets a short body without any transport error.
    WrongContentLength,
    /// Waits `delay` before the first byte of the response, then sends it at once.
    Slow { delay: Duration },
    /// Sends the head and the first half of the body at once, waits `delay`, then sends the rest.
    Stall { delay: Duration },
    /// Responds with 500 and a short text body.
    Status500,
    /// Replaces the first 8 bytes (fewer for a shorter file) by `NOTAZIP!` and keeps the exact length.
    WrongMagic,
    /// Announces and streams `bytes` bytes: the published bytes first, so the magic number is
    /// valid, then zeros. Stops as soon as the client closes the connection.
    Oversized { bytes: u64 },
    /// Signs the URL with an `expires` 60 seconds in the past, so every fetch gets 403 `expired`.
    Expired,
    /// Responds with 302, this `Location` and an empty body.
    Redirect { location: String },
}

/// Changes the tokens of a callback so that tests can check how the connector rejects them.
#[derive(Clone, Debug)]
pub enum Tamper {
    /// Signs both tokens with this secret instead of the DS secret.
    Secret(String),
    /// Issues both tokens 10 minutes ago with an expiry 5 minutes ago, beyond the 60 s leeway.
    Expired,
    /// Sends both tokens with the header `{"alg":"none"}` and an empty signature.
    AlgNone,
    /// Signs the header token over `{"payload": <this value>}` instead of the body.
    HeaderPayload(Value),
    /// Overwrites these visible body fields after both tokens were computed.
    VisibleFields(Map<String, Value>),
}

/// How `send_callback_with` sends one callback.
#[derive(Clone, Debug)]
pub struct CallbackOptions {
    /// Name of the header that carries `Bearer <token>` (DS `token.outbox.header`).
    pub header_name: String,
    /// Whether the body gets a `token` field.
    pub body_token: bool,
    /// Whether the header token is sent.
    pub header_token: bool,
    /// Retries after a network error, a timeout, HTTP 429 or 5xx.
    pub retries: u32,
    /// Factor applied to the 1 s, 2 s, 4 s delays between attempts.
    pub backoff_scale: f64,
    /// Timeout of one attempt, from connecting to the end of the reply body.
    pub timeout: Duration,
    pub tamper: Option<Tamper>,
}

impl Default for CallbackOptions {
    /// Returns the DS defaults, except for `timeout`: 60 s instead of the DS's 10 minutes, so that
    /// a connector that hangs fails a test quickly.
    fn default() -> Self {
        Self {
            header_name: "Authorization".to_owned(),
            body_token: true,
            header_token: true,
            retries: 3,
            backoff_scale: 1.0,
            timeout: Duration::from_secs(60),
            tamper: None,
        }
    }
}

/// One HTTP attempt of a callback.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// HTTP status, or `None` when the request failed before a status arrived.
    pub status: Option<u16>,
    /// Reply body, or the error message when the request or the reply body failed.
    pub body: String,
    /// Delay slept before this attempt (zero for the first one).
    pub waited_before: Duration,
}

/// Result of a callback with all its attempts.
#[derive(Clone, Debug)]
pub struct CallbackOutcome {
    pub attempts: Vec<Attempt>,
    /// True when the last attempt got 200 or 204 with a JSON body whose `error` is 0.
    pub succeeded: bool,
    /// JSON body sent on every attempt, `token` field included.
    pub sent_body: Value,
    /// Token header sent on every attempt as (name, value), when there was one.
    pub sent_header: Option<(String, String)>,
}

impl CallbackOutcome {
    /// Returns the statuses of all attempts, `None` for those without a status.
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.attempts.iter().map(|attempt| attempt.status).collect()
    }

    /// Returns the delays slept before each attempt.
    pub fn delays(&self) -> Vec<Duration> {
        self.attempts.iter().map(|attempt| attempt.waited_before).collect()
    }
}

/// Response to a download made by the double.
#[derive(Clone, Debug)]
pub struct DownloadOutcome {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl DownloadOutcome {
    /// Returns the first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// A file served under a signed cache path.
struct PublishedFile {
    bytes: Vec<u8>,
    content_type: &'static str,
    file_name: String,
    fault: Option<Fault>,
}

/// State shared by the double and its connection threads.
struct State {
    files: Mutex<HashMap<String, PublishedFile>>,
    requests: Mutex<Vec<RecordedRequest>>,
    stopping: AtomicBool,
}

/// The Document Server double, stopped on drop.
pub struct DocumentServer {
    secret: String,
    public_base: String,
    address: SocketAddr,
    state: Arc<State>,
    next_change_index: AtomicU64,
    accept_thread: Option<JoinHandle<()>>,
}

impl DocumentServer {
    /// Starts the double on 127.0.0.1 with a port chosen by the system. `secret` is the outbox
    /// JWT secret and `public_base` the DS URL as browsers see it (e.g. `https://ds.example.test`).
    pub fn start(secret: &str, public_base: &str) -> DocumentServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the DS double to 127.0.0.1:0");
        let address = listener.local_addr().expect("local address of the DS double");
        let state = Arc::new(State {
            files: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let accept_thread = std::thread::spawn({
            let state = state.clone();
            move || accept_connections(listener, state)
        });
        DocumentServer {
            secret: secret.to_owned(),
            public_base: public_base.trim_end_matches('/').to_owned(),
            address,
            state,
            next_change_index: AtomicU64::new(1),
            accept_thread: Some(accept_thread),
        }
    }

    /// Returns the DS URL as browsers see it, without a trailing slash.
    pub fn public_base(&self) -> &str {
        &self.public_base
    }

    /// Returns `http://127.0.0.1:PORT`, the URL the connector fetches cache files from.
    pub fn internal_base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Rewrites a URL on the public base to the internal base, keeping path and query intact.
    pub fn internal_url(&self, public_url: &str) -> String {
        let rest = public_url
            .strip_prefix(&self.public_base)
            .unwrap_or_else(|| panic!("URL is not on the DS public base {}: {public_url}", self.public_base));
        format!("{}{rest}", self.internal_base())
    }

    /// Stores `bytes` and returns its signed cache URL on the public base, named
    /// `output.{extension}` as the DS names assembled documents.
    pub fn publish(&self, key: &str, extension: &str, bytes: Vec<u8>) -> String {
        self.publish_file(key, &format!("output.{extension}"), bytes, None)
    }

    /// Same as `publish`, with `fault` injected on every fetch of the returned URL.
    pub fn publish_with(&self, key: &str, extension: &str, bytes: Vec<u8>, fault: Fault) -> String {
        self.publish_file(key, &format!("output.{extension}"), bytes, Some(fault))
    }

    /// Stores a changes archive for `key` (a stored ZIP with one `changes.json` entry) and
    /// returns its signed URL on the public base, as a DS `changesurl`.
    pub fn publish_changes(&self, key: &str) -> String {
        let changes = json!([{ "docid": key, "change": "", "time": unix_now() * 1000 }]);
        let zip = stored_zip(&[("changes.json", changes.to_string().as_bytes())]);
        self.publish_file(key, "changes.zip", zip, None)
    }

    /// Publishes `bytes` and a changes archive for `key`, then returns a status 2 body that
    /// points at both (see `status2`).
    pub fn publish_save(&self, key: &str, extension: &str, bytes: Vec<u8>, user: &str) -> Value {
        let url = self.publish(key, extension, bytes);
        let mut body = status2(key, &url, user);
        body["changesurl"] = Value::String(self.publish_changes(key));
        body
    }

    fn publish_file(&self, key: &str, file_name: &str, bytes: Vec<u8>, fault: Option<Fault>) -> String {
        let index = self.next_change_index.fetch_add(1, Ordering::Relaxed);
        let path = format!("/cache/files/data/{key}_{index}/{file_name}/{file_name}");
        let expires = match fault {
            Some(Fault::Expired) => unix_now() - 60,
            _ => unix_now() + URL_LIFETIME.as_secs(),
        };
        let signature = url_signature(&path, expires);
        let file =
            PublishedFile { bytes, content_type: content_type(file_name), file_name: file_name.to_owned(), fault };
        self.state.files.lock().unwrap().insert(path.clone(), file);
        format!("{}{path}?md5={signature}&expires={expires}&filename={file_name}", self.public_base)
    }

    /// Returns every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn clear_requests(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// Sends a callback with the DS defaults: both tokens, header `Authorization`, and up to 3
    /// retries, except for forcesave callbacks (status 6 and 7) which the DS never retries.
    pub fn send_callback(&self, callback_url: &str, body: Value) -> CallbackOutcome {
        let mut options = CallbackOptions::default();
        if matches!(body.get("status").and_then(Value::as_u64), Some(6 | 7)) {
            options.retries = 0;
        }
        self.send_callback_with(callback_url, body, options)
    }

    /// POSTs `body` to `callback_url` as the DS does, with the tokens, retries and timeout of
    /// `options`. Redirects are not followed: a 3xx ends the callback as a failure.
    pub fn send_callback_with(&self, callback_url: &str, body: Value, options: CallbackOptions) -> CallbackOutcome {
        let (sent_body, sent_header) = self.sign_callback(body, &options);
        let payload = sent_body.to_string().into_bytes();
        let agent = no_redirect_agent(options.timeout);
        let mut attempts = Vec::new();

        for attempt in 0..=options.retries {
            let waited_before =
                if attempt == 0 { Duration::ZERO } else { backoff_delay(attempt - 1, options.backoff_scale) };
            std::thread::sleep(waited_before);

            let mut request = http::Request::builder()
                .method("POST")
                .uri(callback_url)
                .header("content-type", "application/json")
                .header("user-agent", USER_AGENT);
            if let Some((name, value)) = &sent_header {
                request = request.header(name.as_str(), value.as_str());
            }
            let request = request.body(payload.clone()).expect("valid callback request");

            let (status, reply, complete) = match agent.run(request) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.into_body().with_config().limit(MAX_CALLBACK_REPLY).read_to_string() {
                        Ok(text) => (Some(status), text, true),
                        Err(error) => (Some(status), format!("reading the reply body failed: {error}"), false),
                    }
                }
                Err(error) => (None, error.to_string(), false),
            };
            attempts.push(Attempt { status, body: reply.clone(), waited_before });

            let retryable = !complete || status.is_some_and(|status| status == 429 || (500..=599).contains(&status));
            if !retryable {
                let succeeded = matches!(status, Some(200 | 204)) && reply_acknowledges(&reply);
                return CallbackOutcome { attempts, succeeded, sent_body, sent_header };
            }
        }
        CallbackOutcome { attempts, succeeded: false, sent_body, sent_header }
    }

    /// Builds the visible body (with its `token` field) and the header of a callback, applying
    /// the header size rule and `options.tamper`.
    fn sign_callback(&self, body: Value, options: &CallbackOptions) -> (Value, Option<(String, String)>) {
        let Value::Object(mut fields) = body else { panic!("a callback body must be a JSON object, got {body}") };
        let signer = Signer::for_tamper(&self.secret, options.tamper.as_ref());

        // The body token is computed from the original fields, before the size rule applies.
        let body_token = options.body_token.then(|| signer.sign(fields.clone()));

        let mut header_token = None;
        if options.header_token {
            let mut header_payload = match &options.tamper {
                Some(Tamper::HeaderPayload(payload)) => payload.clone(),
                _ => Value::Object(fields.clone()),
            };
            let mut token = signer.sign(payload_claims(&header_payload));
            if token.len() >= MAX_HEADER_TOKEN_CHARS {
                strip_history(&mut fields);
                if let Value::Object(payload_fields) = &mut header_payload {
                    strip_history(payload_fields);
                }
                token = signer.sign(payload_claims(&header_payload));
            }
            header_token = Some(token);
        }

        if let Some(token) = body_token {
            fields.insert("token".to_owned(), Value::String(token));
        }
        if let Some(Tamper::VisibleFields(overrides)) = &options.tamper {
            fields.extend(overrides.clone());
        }
        let header = header_token.map(|token| (options.header_name.clone(), format!("Bearer {token}")));
        (Value::Object(fields), header)
    }

    /// Downloads `url` as the DS downloads `document.url`, with a header token naming `url`.
    pub fn download(&self, url: &str) -> DownloadOutcome {
        self.download_as(url, url)
    }

    /// Sends the request to `actual_url` with a header token whose `payload.url` is
    /// `public_url`, for connector URLs that the test reaches on another base. Redirects are not
    /// followed. Panics when the request fails or the body exceeds 100 MiB.
    pub fn download_as(&self, public_url: &str, actual_url: &str) -> DownloadOutcome {
        let signer = Signer::for_tamper(&self.secret, None);
        let token = signer.sign(payload_claims(&json!({ "url": public_url })));
        let request = http::Request::builder()
            .method("GET")
            .uri(actual_url)
            .header("authorization", format!("Bearer {token}"))
            .header("user-agent", USER_AGENT)
            .body(Vec::new())
            .expect("valid download request");
        let response = no_redirect_agent(Duration::from_secs(120))
            .run(request)
            .unwrap_or_else(|error| panic!("DS download of {actual_url} failed: {error}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_DOWNLOAD_BYTES)
            .read_to_vec()
            .unwrap_or_else(|error| panic!("reading the DS download of {actual_url} failed: {error}"));
        DownloadOutcome { status, headers, body }
    }
}

impl Drop for DocumentServer {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        // A connection wakes the accept loop so that it checks the flag and returns.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Removes `changesurl` and empties `history`, as the DS does when the header token is too long.
fn strip_history(fields: &mut Map<String, Value>) {
    fields.remove("changesurl");
    fields.insert("history".to_owned(), json!({}));
}

/// Wraps a value in the `{"payload": ...}` claims of the DS header tokens.
fn payload_claims(payload: &Value) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("payload".to_owned(), payload.clone());
    claims
}

/// Returns the delay before retry number `retry` (0-based): 1 s, 2 s, 4 s, … times `scale`.
fn backoff_delay(retry: u32, scale: f64) -> Duration {
    Duration::from_secs_f64(2f64.powi(retry as i32) * scale)
}

/// Tells whether a 200/204 reply body acknowledges the callback: JSON with `error` loosely
/// equal to 0, as JavaScript's `==` compares it. An empty body, which every 204 has, is not JSON
/// and fails, as in the DS.
fn reply_acknowledges(reply: &str) -> bool {
    let Ok(Value::Object(reply)) = serde_json::from_str::<Value>(reply) else { return false };
    match reply.get("error") {
        Some(Value::Number(number)) => number.as_f64() == Some(0.0),
        // JavaScript converts the string to a number: "", " 0 " and "0.0" equal 0.
        Some(Value::String(text)) => text.trim().is_empty() || text.trim().parse::<f64>() == Ok(0.0),
        Some(Value::Bool(flag)) => !flag,
        // NOTE: JavaScript also finds `[]` and `[0]` equal to 0, but the double treats arrays,
        // objects, null and a missing field as failures.
        _ => false,
    }
}

fn no_redirect_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Signs outbox tokens as the DS does (HS256, `iat` and `exp` only), or altered as described by a `Tamper`.
struct Signer {
    secret: String,
    issued_at: u64,
    expires_at: u64,
    unsigned: bool,
}

impl Signer {
    fn for_tamper(secret: &str, tamper: Option<&Tamper>) -> Signer {
        let now = unix_now();
        let mut signer = Signer {
            secret: secret.to_owned(),
            issued_at: now,
            expires_at: now + TOKEN_LIFETIME.as_secs(),
            unsigned: false,
        };
        match tamper {
            Some(Tamper::Secret(other)) => signer.secret = other.clone(),
            Some(Tamper::Expired) => {
                signer.issued_at = now - 600;
                signer.expires_at = now - 300;
            }
            Some(Tamper::AlgNone) => signer.unsigned = true,
            _ => {}
        }
        signer
    }

    fn sign(&self, custom: Map<String, Value>) -> String {
        if self.unsigned {
            let mut claims = custom;
            claims.insert("iat".to_owned(), json!(self.issued_at));
            claims.insert("exp".to_owned(), json!(self.expires_at));
            let header = Base64UrlSafeNoPadding::encode_to_string(br#"{"alg":"none","typ":"JWT"}"#).unwrap();
            let claims = Base64UrlSafeNoPadding::encode_to_string(Value::Object(claims).to_string()).unwrap();
            return format!("{header}.{claims}.");
        }
        let mut claims = Claims::with_custom_claims(custom, jwt_simple::prelude::Duration::from_secs(0));
        claims.issued_at = Some(jwt_simple::prelude::Duration::from_secs(self.issued_at));
        claims.expires_at = Some(jwt_simple::prelude::Duration::from_secs(self.expires_at));
        claims.invalid_before = None;
        HS256Key::from_bytes(self.secret.as_bytes()).authenticate(claims).expect("sign an HS256 token")
    }
}

/// Returns the `md5` parameter of a cache URL: the first 16 bytes of HMAC-SHA-256 over the path
/// followed by `expires`, in unpadded base64url like the DS's MD5 digests.
fn url_signature(path: &str, expires: u64) -> String {
    let mac = hmac_sha256::HMAC::mac(format!("{path}{expires}"), URL_SIGNING_SECRET);
    Base64UrlSafeNoPadding::encode_to_string(&mac[..16]).unwrap()
}

fn content_type(file_name: &str) -> &'static str {
    match file_name.rsplit('.').next().unwrap_or_default() {
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| value)
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock after 1970").as_secs()
}

// ------------------------------------------------------------------------------------------
// HTTP server

fn accept_connections(listener: TcpListener, state: Arc<State>) {
    for stream in listener.incoming() {
        if state.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let state = state.clone();
        std::thread::spawn(move || serve_connection(stream, &state));
    }
}

/// Serves one request and closes the connection (`Connection: close`).
fn serve_connection(mut stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let Ok(request) = read_request(&mut stream) else { return };
    state.requests.lock().unwrap().push(request.clone());

    // Write errors mean that the client went away, which some tests provoke on purpose.
    let _ = respond(&mut stream, state, &request);
    let _ = stream.flush();
    close_gracefully(stream);
}

/// Reads one HTTP/1.1 request: request line, headers and a `Content-Length` body of at most
/// 16 MiB. Fails on a head over 64 KiB, a chunked body, or a connection closed too early.
pub fn read_request(stream: &mut TcpStream) -> io::Result<RecordedRequest> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(position) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break position;
        }
        if received.len() > MAX_REQUEST_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head larger than 64 KiB"));
        }
        let count = stream.read(&mut chunk)?;
        if count == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&chunk[..count]);
    };

    let head = std::str::from_utf8(&received[..head_end])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("invalid request line: {request_line}")));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();

    let mut request = RecordedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "chunked request bodies are not supported"));
    }
    let length = match request.header("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("invalid Content-Length: {value}")))?,
        None => 0,
    };
    if length > MAX_REQUEST_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request body of {length} bytes exceeds 16 MiB"),
        ));
    }

    let mut body = received[head_end + 4..].to_vec();
    while body.len() < length {
        let count = stream.read(&mut chunk)?;
        if count == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..count]);
    }
    body.truncate(length);
    request.body = body;
    Ok(request)
}

/// Ends the write side and reads what the client still sends, so that closing does not reset
/// the connection before the client read the response.
fn close_gracefully(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 1024];
    let mut reader = &stream;
    while matches!(reader.read(&mut sink), Ok(count) if count > 0) {}
}

fn respond(stream: &mut TcpStream, state: &State, request: &RecordedRequest) -> io::Result<()> {
    if !request.path.starts_with("/cache/files/") {
        return write_simple(stream, 404, "text/plain", b"not found");
    }
    if request.method != "GET" {
        return write_head(stream, 405, &[("Allow", "GET"), ("Content-Length", "0")]);
    }

    let files = state.files.lock().unwrap();
    let Some(file) = files.get(&request.path) else {
        return write_simple(stream, 404, "text/plain", b"not found");
    };
    let expires = request.query_param("expires").and_then(|value| value.parse::<u64>().ok());
    let signature = request.query_param("md5");
    let Some(expires) = expires.filter(|expires| signature == Some(url_signature(&request.path, *expires).as_str()))
    else {
        return write_simple(stream, 403, "text/plain", b"forbidden");
    };
    if expires < unix_now() {
        return write_simple(stream, 403, "text/plain", b"expired");
    }

    // The file is copied so that slow faults do not keep the table locked.
    let bytes = file.bytes.clone();
    let content_type = file.content_type;
    let disposition = format!("attachment; filename*=UTF-8''{}", file.file_name);
    let fault = file.fault.clone();
    drop(files);
    write_file(stream, &bytes, content_type, &disposition, fault.as_ref())
}

fn write_file(
    stream: &mut TcpStream,
    bytes: &[u8],
    content_type: &str,
    disposition: &str,
    fault: Option<&Fault>,
) -> io::Result<()> {
    let half = bytes.len() / 2;
    let head = |stream: &mut TcpStream, length: u64| {
        let length = length.to_string();
        let headers =
            [("Content-Type", content_type), ("Content-Length", length.as_str()), ("Content-Disposition", disposition)];
        write_head(stream, 200, &headers)
    };

    match fault {
        None | Some(Fault::Expired) => {
            head(stream, bytes.len() as u64)?;
            stream.write_all(bytes)
        }
        Some(Fault::Truncated) => {
            head(stream, bytes.len() as u64)?;
            stream.write_all(&bytes[..half])
        }
        Some(Fault::WrongContentLength) => {
            head(stream, half as u64)?;
            stream.write_all(bytes)
        }
        Some(Fault::Slow { delay }) => {
            std::thread::sleep(*delay);
            head(stream, bytes.len() as u64)?;
            stream.write_all(bytes)
        }
        Some(Fault::Stall { delay }) => {
            head(stream, bytes.len() as u64)?;
            stream.write_all(&bytes[..half])?;
            stream.flush()?;
            std::thread::sleep(*delay);
            stream.write_all(&bytes[half..])
        }
        Some(Fault::Status500) => write_simple(stream, 500, "text/plain", b"internal server error"),
        Some(Fault::WrongMagic) => {
            let mut altered = bytes.to_vec();
            let count = altered.len().min(8);
            altered[..count].copy_from_slice(&b"NOTAZIP!"[..count]);
            head(stream, altered.len() as u64)?;
            stream.write_all(&altered)
        }
        Some(Fault::Oversized { bytes: total }) => {
            head(stream, *total)?;
            let prefix = &bytes[..bytes.len().min(*total as usize)];
            stream.write_all(prefix)?;
            let mut remaining = total - prefix.len() as u64;
            let zeros = vec![0u8; FILLER_CHUNK];
            while remaining > 0 {
                let count = remaining.min(FILLER_CHUNK as u64) as usize;
                stream.write_all(&zeros[..count])?;
                remaining -= count as u64;
            }
            Ok(())
        }
        Some(Fault::Redirect { location }) => {
            write_head(stream, 302, &[("Location", location.as_str()), ("Content-Length", "0")])
        }
    }
}

fn write_simple(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> io::Result<()> {
    let length = body.len().to_string();
    write_head(stream, status, &[("Content-Type", content_type), ("Content-Length", length.as_str())])?;
    stream.write_all(body)
}

/// Writes the status line, `headers` and `Connection: close`.
fn write_head(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)]) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Unknown",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())
}

// ------------------------------------------------------------------------------------------
// ZIP archives

/// Returns the CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) of `bytes`, as ZIP uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Builds a ZIP archive whose entries are stored without compression, with a fixed
/// modification time of 1980-01-01 00:00. Entry names are ASCII paths such as `word/document.xml`.
pub fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    const VERSION_NEEDED: u16 = 20;
    const DOS_TIME: u16 = 0;
    const DOS_DATE: u16 = (1 << 5) | 1;

    let mut archive = Vec::new();
    let mut central_directory = Vec::new();
    for (name, contents) in entries {
        let offset = archive.len() as u32;
        let crc = crc32(contents);
        let size = contents.len() as u32;
        let name_length = name.len() as u16;

        archive.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        for field in [VERSION_NEEDED, 0, 0, DOS_TIME, DOS_DATE] {
            archive.extend_from_slice(&field.to_le_bytes());
        }
        for field in [crc, size, size] {
            archive.extend_from_slice(&field.to_le_bytes());
        }
        archive.extend_from_slice(&name_length.to_le_bytes());
        archive.extend_from_slice(&0u16.to_le_bytes());
        archive.extend_from_slice(name.as_bytes());
        archive.extend_from_slice(contents);

        central_directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for field in [VERSION_NEEDED, VERSION_NEEDED, 0, 0, DOS_TIME, DOS_DATE] {
            central_directory.extend_from_slice(&field.to_le_bytes());
        }
        for field in [crc, size, size] {
            central_directory.extend_from_slice(&field.to_le_bytes());
        }
        // Name length, then extra field, comment, disk number and internal attributes (all empty).
        for field in [name_length, 0, 0, 0, 0] {
            central_directory.extend_from_slice(&field.to_le_bytes());
        }
        // External attributes, then the offset of the local header.
        for field in [0u32, offset] {
            central_directory.extend_from_slice(&field.to_le_bytes());
        }
        central_directory.extend_from_slice(name.as_bytes());
    }

    let directory_offset = archive.len() as u32;
    let directory_size = central_directory.len() as u32;
    let count = entries.len() as u16;
    archive.extend_from_slice(&central_directory);
    archive.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for field in [0u16, 0, count, count] {
        archive.extend_from_slice(&field.to_le_bytes());
    }
    for field in [directory_size, directory_offset] {
        archive.extend_from_slice(&field.to_le_bytes());
    }
    archive.extend_from_slice(&0u16.to_le_bytes());
    archive
}

// ------------------------------------------------------------------------------------------
// Callback bodies

/// Returns an `actions[]` item.
pub fn action(kind: u8, user: &str) -> Value {
    json!({ "type": kind, "userid": user })
}

/// Status 1 (editing): `users` are connected and `joined` just connected.
pub fn status1(key: &str, users: &[&str], joined: &str) -> Value {
    json!({ "key": key, "status": 1, "users": users, "actions": [action(USER_JOINED, joined)] })
}

/// Status 2 (ready to save) after `user`, the last editor, left: `url`, its `filetype`, a
/// one-change `history`, `lastsave` = now and `notmodified` false. There is no `changesurl`
/// (`DocumentServer::publish_save` adds one) and no `documentSha256` in the history.
pub fn status2(key: &str, url: &str, user: &str) -> Value {
    let now = SystemTime::now();
    json!({
        "key": key,
        "status": 2,
        "url": url,
        "filetype": file_type(url),
        "history": {
            "serverVersion": "9.0.0",
            "changes": [{ "created": history_time(now), "user": { "id": user, "name": user_name(user) } }]
        },
        "users": [user],
        "actions": [action(USER_LEFT, user)],
        "lastsave": iso_8601(now),
        "notmodified": false
    })
}

/// Status 3 (save error): like status 2, and `url` with `filetype` only when a file exists.
pub fn status3(key: &str, url: Option<&str>, user: &str) -> Value {
    let mut body = status2(key, url.unwrap_or_default(), user);
    body["status"] = json!(3);
    if url.is_none() {
        let fields = body.as_object_mut().unwrap();
        fields.remove("url");
        fields.remove("filetype");
    }
    body
}

/// Status 4 (closed without changes): the last user `user` left.
pub fn status4(key: &str, user: &str) -> Value {
    json!({ "key": key, "status": 4, "actions": [action(USER_LEFT, user)] })
}

/// Status 6 (forcesave done) by `user`. `forcesave_type` is 0 (command service), 1 (Save
/// button, which adds the `actions` item), 2 (timer) or 3 (form submit).
pub fn status6(key: &str, url: &str, user: &str, forcesave_type: u8) -> Value {
    let mut body = json!({
        "key": key,
        "status": 6,
        "url": url,
        "filetype": file_type(url),
        "users": [user],
        "forcesavetype": forcesave_type,
        "lastsave": iso_8601(SystemTime::now())
    });
    if forcesave_type == 1 {
        body["actions"] = json!([action(FORCESAVE_CLICKED, user)]);
    }
    body
}

/// Status 7 (forcesave error): like status 6, and `url` with `filetype` only when a file exists.
pub fn status7(key: &str, url: Option<&str>, user: &str, forcesave_type: u8) -> Value {
    let mut body = status6(key, url.unwrap_or_default(), user, forcesave_type);
    body["status"] = json!(7);
    if url.is_none() {
        let fields = body.as_object_mut().unwrap();
        fields.remove("url");
        fields.remove("filetype");
    }
    body
}

/// Display name of a test user, the same as in the user tokens of `support::connector`.
fn user_name(user: &str) -> String {
    format!("Utilisateur {user}")
}

/// Returns the extension of the file a DS URL serves, from its `filename` parameter or its path.
fn file_type(url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let name = query_param(query, "filename").unwrap_or(path);
    name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default()
}

/// Formats a time as `2026-01-05T10:00:00.000Z`, the form of `lastsave`.
pub fn iso_8601(time: SystemTime) -> String {
    let (date, clock, millis) = split_utc(time);
    format!("{date}T{clock}.{millis:03}Z")
}

/// Formats a time as `2026-01-05 10:00:00`, the form of `history.changes[].created`.
fn history_time(time: SystemTime) -> String {
    let (date, clock, _) = split_utc(time);
    format!("{date} {clock}")
}

/// Splits a time into UTC `YYYY-MM-DD`, `HH:MM:SS` and milliseconds.
fn split_utc(time: SystemTime) -> (String, String, u32) {
    let since_epoch = time.duration_since(UNIX_EPOCH).expect("time after 1970");
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    let date = format!("{year:04}-{month:02}-{day:02}");
    let clock = format!("{:02}:{:02}:{:02}", second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    (date, clock, since_epoch.subsec_millis())
}

/// Converts a count of days since 1970-01-01 to a proleptic Gregorian (year, month, day), by
/// counting 400-year eras of 146 097 days in a calendar whose years start on 1 March.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    // Day 0 of this count is 0000-03-01, 719 468 days before 1970-01-01.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March … 11 = February.
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}
