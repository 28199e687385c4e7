//! Building blocks of the hardening suites. They are hand-made JWS tokens, a raw HTTP/1.1 client
//! that sends exactly the bytes a test gives it, and a server that records every connection it
//! accepts. A connector with a chosen outbound allow-list and a snapshot of what a document has
//! stored complete them.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use efalia_host::kv::{KvBackend, SqliteBackend, SqliteLocation};
use jwt_simple::prelude::{Claims, HS384Key, HS512Key, MACLike as _};
use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Encoder as _};
use serde_json::{Map, Value, json};

use super::component::component_wasm;
use super::connector::{CONNECTOR_SECRET, DS_SECRET, USER_SECRET, fixture, host_config, user_token};
use super::host::{Reply, Setup, TestHost, send};

// ------------------------------------------------------------------------------------------
// Tokens

/// Encodes bytes as unpadded base64url, the encoding of every JWS part.
pub fn base64url(bytes: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(bytes).expect("base64url encoding")
}

/// Signs `header.payload` with HMAC-SHA-256 and `secret`, whatever `alg` the header names, so
/// tests can pair any header with an HS256 signature.
pub fn hmac_jws(header: &Value, payload: &[u8], secret: &str) -> String {
    sign_parts(&format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(payload)), secret)
}

/// Appends an HS256 signature over `signing_input` (two dot-separated parts, taken as they are,
/// even when they are not valid base64url).
pub fn sign_parts(signing_input: &str, secret: &str) -> String {
    let signature = hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret.as_bytes());
    format!("{signing_input}.{}", base64url(&signature))
}

/// Signs `claims` exactly as given with HS256 and `secret`.
pub fn hs256(claims: &Value, secret: &str) -> String {
    hmac_jws(&json!({ "alg": "HS256", "typ": "JWT" }), claims.to_string().as_bytes(), secret)
}

/// Builds a token with `header`, `claims` and an empty signature, as `alg: none` tokens are sent.
pub fn unsigned_jws(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()))
}

/// Signs `claims` with HS384 and `secret`, keeping their `iat`, `exp` and `nbf`.
pub fn hs384(claims: &Value, secret: &str) -> String {
    HS384Key::from_bytes(secret.as_bytes()).authenticate(jwt_claims(claims)).expect("HS384 signature")
}

/// Signs `claims` with HS512 and `secret`, keeping their `iat`, `exp` and `nbf`.
pub fn hs512(claims: &Value, secret: &str) -> String {
    HS512Key::from_bytes(secret.as_bytes()).authenticate(jwt_claims(claims)).expect("HS512 signature")
}

/// Converts plain claims to jwt-simple's claims: the time claims become its registered fields,
/// and every other claim stays a custom one under its own name.
fn jwt_claims(claims: &Value) -> jwt_simple::prelude::JWTClaims<Map<String, Value>> {
    let Value::Object(fields) = claims else { panic!("claims must be a JSON object, got {claims}") };
    let mut custom = fields.clone();
    let mut time = |name: &str| custom.remove(name).and_then(|value| value.as_u64()).map(jwt_simple::prelude::Duration::from_secs);
    let (issued_at, expires_at, invalid_before) = (time("iat"), time("exp"), time("nbf"));
    let mut claims = Claims::with_custom_claims(custom, jwt_simple::prelude::Duration::from_secs(0));
    claims.issued_at = issued_at;
    claims.expires_at = expires_at;
    claims.invalid_before = invalid_before;
    claims
}

/// Returns `claims` with `changes` set, a `null` value removing the claim.
pub fn with_claims(claims: &Value, changes: &[(&str, Value)]) -> Value {
    let mut changed = claims.clone();
    let fields = changed.as_object_mut().expect("claims must be a JSON object");
    for (name, value) in changes {
        if value.is_null() {
            fields.remove(*name);
        } else {
            fields.insert((*name).to_owned(), value.clone());
        }
    }
    changed
}

/// The three secrets of the test connector, each with a label for table rows.
pub const SYSTEM_SECRETS: [(&str, &str); 3] =
    [("user secret", USER_SECRET), ("DS secret", DS_SECRET), ("connector secret", CONNECTOR_SECRET)];

/// A secret that no part of the system uses.
pub const UNRELATED_SECRET: &str = "unrelated-secret-of-nobody-0123456789abcdef";

// ------------------------------------------------------------------------------------------
// Raw HTTP/1.1 client

/// How a raw request announces the length of its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` with the real length (left out for an empty body).
    Length,
    /// `Content-Length` with this value, whatever the body is.
    Declared(u64),
    /// `Transfer-Encoding: chunked`, in chunks of 16 KiB.
    Chunked,
}

/// A request sent byte for byte: no header is added except `Host`, `Connection: close` and the
/// framing header.
#[derive(Clone, Debug)]
pub struct RawRequest {
    pub method: String,
    /// Path and query, sent as given.
    pub target: String,
    /// Header values as bytes, so that tests can send values that are not UTF-8.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub framing: Framing,
}

impl RawRequest {
    pub fn new(method: &str, target: &str) -> Self {
        Self { method: method.to_owned(), target: target.to_owned(), headers: Vec::new(), body: Vec::new(), framing: Framing::Length }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }

    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(body.to_string())
    }

    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Returns the bytes of the request line and headers, blank line included.
    pub fn head(&self, address: SocketAddr) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n", self.method, self.target).into_bytes();
        for (name, value) in &self.headers {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        match self.framing {
            Framing::Length if self.body.is_empty() => {}
            Framing::Length => head.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes()),
            Framing::Declared(length) => head.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes()),
            Framing::Chunked => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    /// Returns the body as it travels on the wire, chunk framing included.
    fn wire_body(&self) -> Vec<u8> {
        if self.framing != Framing::Chunked {
            return self.body.clone();
        }
        let mut wire = Vec::new();
        for chunk in self.body.chunks(16 << 10) {
            wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    }
}

/// Sends `request` to `address` and returns the response, panicking when none arrives.
pub fn exchange(address: SocketAddr, request: &RawRequest) -> Reply {
    try_exchange(address, request).unwrap_or_else(|err| panic!("{} {}: no response: {err}", request.method, short(&request.target)))
}

/// Sends `request` and reads the response until the server closes the connection.
///
/// The body is written from a second thread while the response is read, so a server that
/// answers before reading the whole body (413 on a declared length, for example) is seen even
/// when it then closes the connection.
pub fn try_exchange(address: SocketAddr, request: &RawRequest) -> io::Result<Reply> {
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut wire = request.head(address);
    wire.extend_from_slice(&request.wire_body());
    let mut writer = stream.try_clone()?;
    let sender = std::thread::spawn(move || {
        // A write error means the server stopped reading, which the response explains.
        let _ = writer.write_all(&wire);
        let _ = writer.flush();
    });
    let received = read_until_close(&stream);
    let _ = sender.join();
    parse_response(&received?)
}

/// Reads until end of stream; bytes already received are kept when the connection is reset
/// after a complete response.
fn read_until_close(mut stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(received),
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset && !received.is_empty() => return Ok(received),
            Err(err) => return Err(err),
        }
    }
}

/// Parses an HTTP/1.1 response: status line, headers, and a body framed by `Content-Length`,
/// by chunks, or by the end of the connection.
pub fn parse_response(bytes: &[u8]) -> io::Result<Reply> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let head_end = bytes.windows(4).position(|window| window == b"\r\n\r\n").ok_or_else(|| invalid("response without a complete head"))?;
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("response without a status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let rest = &bytes[head_end + 4..];
    let chunked = headers.iter().any(|(name, value)| name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        decode_chunked(rest).ok_or_else(|| invalid("invalid chunked body"))?
    } else {
        let length = headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, value)| value.parse::<usize>().ok());
        match length {
            Some(length) => rest[..length.min(rest.len())].to_vec(),
            None => rest.to_vec(),
        }
    };
    Ok(Reply { status, headers, body })
}

fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Shortens a long request target or URL for failure messages.
pub fn short(text: &str) -> String {
    if text.len() <= 160 { text.to_owned() } else { format!("{}…({} bytes)", &text[..text.floor_char_boundary(160)], text.len()) }
}

// ------------------------------------------------------------------------------------------
// A server that records connections

/// A server on 127.0.0.1 that records the first bytes of every connection it accepts, then
/// responds 200 with a real docx file. A fetch that should never have happened is thus recorded
/// and can also produce a stored version. Stopped on drop.
pub struct Recorder {
    address: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    stopping: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recording server to 127.0.0.1:0");
        let address = listener.local_addr().expect("local address of the recording server");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let accept_thread = std::thread::spawn({
            let received = received.clone();
            let stopping = stopping.clone();
            move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let received = received.clone();
                    std::thread::spawn(move || record_and_answer(stream, &received));
                }
            }
        });
        Recorder { address, received, stopping, accept_thread: Some(accept_thread) }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Returns `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Returns what each accepted connection sent (its first bytes, lossily decoded).
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().iter().map(|bytes| String::from_utf8_lossy(bytes).into_owned()).collect()
    }
}

fn record_and_answer(mut stream: TcpStream, received: &Mutex<Vec<Vec<u8>>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let index = {
        let mut received = received.lock().unwrap();
        received.push(Vec::new());
        received.len() - 1
    };
    let mut chunk = [0u8; 8192];
    let mut head = Vec::new();
    while head.len() < (64 << 10) && !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(count) => head.extend_from_slice(&chunk[..count]),
        }
    }
    received.lock().unwrap()[index] = head;
    let body = fixture("rapport-modifie.docx");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.shutdown(Shutdown::Write);
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // A connection wakes the accept loop, which then reads the flag before recording anything.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

// ------------------------------------------------------------------------------------------
// A connector with a chosen outbound allow-list

/// The connector in the real host, like `support::connector::Connector`, but with the
/// `allowed_outbound_hosts` list chosen by the test.
pub struct OpenConnector {
    pub host: TestHost,
    _dir: tempfile::TempDir,
}

impl OpenConnector {
    /// Starts the component with the test secrets, `variables` added or replacing them, and
    /// `allowed_outbound_hosts` as the host's outbound allow-list.
    pub fn start(variables: &[(&str, &str)], allowed_outbound_hosts: &[&str], mut setup: Setup) -> Self {
        setup.config_toml = host_config(variables, allowed_outbound_hosts);

        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn KvBackend> =
            Arc::new(SqliteBackend::open(SqliteLocation::Path(dir.path().join("kv.sqlite3"))).unwrap());
        let host = TestHost::start(&component_wasm(), backend, setup).unwrap();
        Self { host, _dir: dir }
    }
}

// ------------------------------------------------------------------------------------------
// Stored state and liveness

/// What the document API shows of a document: its metadata and its version list, or `None`
/// when the document does not exist.
pub fn document_state(host: &TestHost, owner: &str, id: &str) -> Option<(Value, Value)> {
    let authorization = format!("Bearer {}", user_token(owner, json!({})));
    let headers = [("authorization", authorization.as_str())];
    let metadata = send("GET", &host.url(&format!("/api/documents/{id}")), &headers, None);
    if metadata.status == 404 {
        return None;
    }
    assert_eq!(metadata.status, 200, "metadata of {id}: {}", metadata.text());
    let versions = send("GET", &host.url(&format!("/api/documents/{id}/versions")), &headers, None);
    assert_eq!(versions.status, 200, "versions of {id}: {}", versions.text());
    Some((metadata.json(), versions.json()))
}

/// Returns an error message when `/health` does not respond 200.
pub fn health_problem(host: &TestHost) -> Option<String> {
    match try_exchange(host.address, &RawRequest::new("GET", "/health")) {
        Ok(reply) if reply.status == 200 => None,
        Ok(reply) => Some(format!("/health answered {}: {}", reply.status, reply.text())),
        Err(err) => Some(format!("/health failed: {err}")),
    }
}

/// Percent-encodes every byte outside the unreserved set, for query values.
pub fn encode_query(value: &str) -> String {
    super::host::encode(value)
}
