//! Guest component of the efalia-host integration tests.
//!
//! A `wasi:http` proxy whose routes each exercise one host feature: key-value stores, runtime
//! config, outbound HTTP, resource limits and stderr capture. Query values are percent-decoded,
//! and request and response bodies carry raw bytes. Bad input gets a 4xx response with a message.

use std::collections::BTreeMap;

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

// The bindings sit in their own module because their root `wasi` module would otherwise clash
// with the `wasi` crate.
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "host-imports",
        generate_all,
    });
}

use bindings::wasi::config::store as config;
use bindings::wasi::keyvalue::atomics::{self, Cas, CasError};
use bindings::wasi::keyvalue::batch;
use bindings::wasi::keyvalue::store::{self, Bucket};

/// Maximum bytes per `blocking-write-and-flush` call. wasi:io allows 4096, and Wasmtime 48 traps
/// on larger writes.
const WRITE_CHUNK_SIZE: usize = 4096;

/// Bytes requested per `blocking-read` call.
const READ_CHUNK_SIZE: u64 = 64 * 1024;

/// Attempts of `/kv/cas-increment` before it gives up with a 500.
const CAS_INCREMENT_MAX_TRIES: u32 = 1000;

/// Bytes in one mebibyte, the unit of `/alloc?mb=N`.
const MEBIBYTE: usize = 1024 * 1024;

struct Component;

wasi::http::proxy::export!(Component);

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let response = route(&request).unwrap_or_else(|error_response| error_response);
        send(response_out, response);
    }
}

/// Status, headers and body of the response to send.
struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn no_content() -> Self {
        Response::new(204, Vec::new())
    }

    fn bad_request(message: String) -> Self {
        Response::new(400, message)
    }
}

/// Outcome of a route: both sides become the HTTP response, so `?` can return errors early.
type RouteResult = Result<Response, Response>;

impl From<store::Error> for Response {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::NoSuchStore => Response::new(404, "no-such-store"),
            store::Error::AccessDenied => Response::new(403, "access-denied"),
            store::Error::Other(message) => Response::new(500, format!("other: {message}")),
        }
    }
}

impl From<config::Error> for Response {
    fn from(error: config::Error) -> Self {
        let message = match error {
            config::Error::Upstream(message) => format!("config error: upstream: {message}"),
            config::Error::Io(message) => format!("config error: io: {message}"),
        };
        Response::new(500, message)
    }
}

fn route(request: &IncomingRequest) -> RouteResult {
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (path, raw_query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query.as_str(), ""));
    let query = Query::parse(raw_query)?;

    match (request.method(), path) {
        // The benchmark baseline: no key-value or config calls.
        (Method::Get, "/") => Ok(Response::new(200, "ok")),

        (Method::Get, "/kv/get") => kv_get(&query),
        (Method::Put, "/kv/set") => kv_set(request, &query),
        (Method::Delete, "/kv/delete") => kv_delete(&query),
        (Method::Get, "/kv/exists") => kv_exists(&query),
        (Method::Get, "/kv/keys") => kv_keys(&query),
        (Method::Post, "/kv/set-many") => kv_set_many(request, &query),
        (Method::Post, "/kv/get-many") => kv_get_many(request, &query),
        (Method::Post, "/kv/delete-many") => kv_delete_many(request, &query),
        (Method::Post, "/kv/increment") => kv_increment(&query),
        (Method::Post, "/kv/cas") => kv_cas(request, &query),
        (Method::Post, "/kv/cas-increment") => kv_cas_increment(&query),

        (Method::Get, "/config/get") => config_get(&query),
        (Method::Get, "/config/all") => config_all(),

        (Method::Get, "/outbound") => outbound(&query),
        (Method::Post, "/echo-length") => echo_length(request),
        (Method::Get, "/loop") => spin_forever(),
        (Method::Get, "/alloc") => allocate(&query),
        (Method::Get, "/stderr") => write_stderr(&query),

        _ => Ok(Response::new(404, "not found")),
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------------

/// Decoded query parameters. A repeated name keeps its last value.
struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    fn parse(raw_query: &str) -> Result<Self, Response> {
        let mut params = BTreeMap::new();
        for pair in raw_query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(percent_decode(name)?, percent_decode(value)?);
        }
        Ok(Query { params })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    fn require(&self, name: &str) -> Result<&str, Response> {
        self.get(name)
            .ok_or_else(|| Response::bad_request(format!("missing query parameter `{name}`")))
    }

    /// Parses the required parameter `name` with `FromStr`.
    fn require_parsed<T: std::str::FromStr>(&self, name: &str) -> Result<T, Response> {
        let text = self.require(name)?;
        text.parse().map_err(|_| {
            Response::bad_request(format!(
                "invalid value `{text}` of query parameter `{name}`"
            ))
        })
    }
}

/// Decodes the `%XX` escapes of one query component. A `+` stays a plus sign, unlike in HTML forms.
fn percent_decode(component: &str) -> Result<String, Response> {
    let bytes = component.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'%' {
            decoded.push(bytes[index]);
            index += 1;
            continue;
        }

        let high = bytes.get(index + 1).copied().and_then(hex_digit_value);
        let low = bytes.get(index + 2).copied().and_then(hex_digit_value);
        let (Some(high), Some(low)) = (high, low) else {
            return Err(Response::bad_request(format!(
                "invalid percent escape in query component `{component}`"
            )));
        };
        decoded.push(high << 4 | low);
        index += 3;
    }

    String::from_utf8(decoded).map_err(|_| {
        Response::bad_request(format!(
            "query component `{component}` is not valid UTF-8 after percent-decoding"
        ))
    })
}

fn hex_digit_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

/// Failure to read an incoming body.
enum ReadError {
    /// The body or its stream was already taken.
    Unavailable,
    /// The stream failed. The host may attach an HTTP error code to the I/O error.
    Stream(wasi::io::error::Error),
}

/// Reads `body` until its stream closes and passes every chunk to `on_chunk`.
fn read_chunks(body: &IncomingBody, mut on_chunk: impl FnMut(Vec<u8>)) -> Result<(), ReadError> {
    let stream = body.stream().map_err(|()| ReadError::Unavailable)?;
    loop {
        match stream.blocking_read(READ_CHUNK_SIZE) {
            Ok(chunk) => on_chunk(chunk),
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(error)) => return Err(ReadError::Stream(error)),
        }
    }
}

fn read_to_end(body: &IncomingBody) -> Result<Vec<u8>, ReadError> {
    let mut contents = Vec::new();
    read_chunks(body, |chunk| contents.extend_from_slice(&chunk))?;
    Ok(contents)
}

fn body_error() -> Response {
    Response::new(500, "body error")
}

/// Reads the whole body of `request`.
fn read_request_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let body = request.consume().map_err(|()| body_error())?;
    read_to_end(&body).map_err(|_| body_error())
}

fn invalid_json(error: serde_json::Error) -> Response {
    Response::bad_request(format!("invalid JSON body: {error}"))
}

/// Sends `response` through `response_out`, writing the body in chunks the host accepts.
fn send(response_out: ResponseOutparam, response: Response) {
    let headers = Fields::new();
    for (name, value) in &response.headers {
        // Header values can come from the host, such as a key-value cursor, so an invalid one is
        // logged and left out instead of trapping.
        if let Err(error) = headers.append(name, value) {
            eprintln!("left out invalid response header `{name}`: {error:?}");
        }
    }

    let outgoing = OutgoingResponse::new(headers);
    outgoing
        .set_status_code(response.status)
        .unwrap_or_else(|()| panic!("invalid response status {}", response.status));
    let body = outgoing
        .body()
        .expect("the body of a new response is available");
    ResponseOutparam::set(response_out, Ok(outgoing));

    let stream = body.write().expect("the stream of a new body is available");
    for chunk in response.body.chunks(WRITE_CHUNK_SIZE) {
        if let Err(error) = stream.blocking_write_and_flush(chunk) {
            // Dropping the body without `finish` marks the response as incomplete for the host.
            eprintln!("failed to write the response body: {error:?}");
            return;
        }
    }
    drop(stream);

    if let Err(error) = OutgoingBody::finish(body, None) {
        eprintln!("failed to finish the response body: {error:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Key-value routes
// ---------------------------------------------------------------------------------------------

/// Opens the store named by the `store` query parameter. Each request opens its own handle.
fn open_bucket(query: &Query) -> Result<Bucket, Response> {
    Ok(store::open(query.require("store")?)?)
}

fn kv_get(query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    match bucket.get(query.require("key")?)? {
        Some(value) => Ok(Response::new(200, value)),
        None => Ok(Response::new(404, "missing")),
    }
}

fn kv_set(request: &IncomingRequest, query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let key = query.require("key")?;
    let value = read_request_body(request)?;
    bucket.set(key, &value)?;
    Ok(Response::no_content())
}

fn kv_delete(query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    bucket.delete(query.require("key")?)?;
    Ok(Response::no_content())
}

fn kv_exists(query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let exists = bucket.exists(query.require("key")?)?;
    Ok(Response::new(200, exists.to_string()))
}

/// Lists one page of keys, sorted, one per line. The cursor of the next page, if any, is in the
/// `x-next-cursor` header.
fn kv_keys(query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let page = bucket.list_keys(query.get("cursor"))?;

    let mut keys = page.keys;
    keys.sort();
    let mut response = Response::new(200, keys.join("\n"));
    if let Some(cursor) = page.cursor {
        response
            .headers
            .push(("x-next-cursor".to_string(), cursor.into_bytes()));
    }
    Ok(response)
}

fn kv_set_many(request: &IncomingRequest, query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let values: BTreeMap<String, String> =
        serde_json::from_slice(&read_request_body(request)?).map_err(invalid_json)?;
    let pairs: Vec<(String, Vec<u8>)> = values
        .into_iter()
        .map(|(key, value)| (key, value.into_bytes()))
        .collect();
    batch::set_many(&bucket, &pairs)?;
    Ok(Response::no_content())
}

/// Returns a JSON array of `[key, value]` pairs. A value that is not UTF-8 comes back with its
/// invalid bytes replaced by U+FFFD.
fn kv_get_many(request: &IncomingRequest, query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let keys: Vec<String> =
        serde_json::from_slice(&read_request_body(request)?).map_err(invalid_json)?;
    let pairs = batch::get_many(&bucket, &keys)?;

    let json: Vec<serde_json::Value> = pairs
        .into_iter()
        .map(|(key, value)| {
            let value = value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            serde_json::json!([key, value])
        })
        .collect();
    let body = serde_json::to_vec(&json).expect("a JSON value always serializes");
    Ok(Response::new(200, body))
}

fn kv_delete_many(request: &IncomingRequest, query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let keys: Vec<String> =
        serde_json::from_slice(&read_request_body(request)?).map_err(invalid_json)?;
    batch::delete_many(&bucket, &keys)?;
    Ok(Response::no_content())
}

fn kv_increment(query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let key = query.require("key")?;
    let delta: i64 = query.require_parsed("delta")?;
    let value = atomics::increment(&bucket, key, delta)?;
    Ok(Response::new(200, value.to_string()))
}

/// Runs one compare-and-swap with the request body as the new value. With `interfere=1` the guest
/// itself writes `interfering` to the key between `current` and `swap`, so the swap must fail.
fn kv_cas(request: &IncomingRequest, query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let key = query.require("key")?;
    let interfere = query.get("interfere") == Some("1");
    let new_value = read_request_body(request)?;

    let cas = Cas::new(&bucket, key)?;
    // Read the remembered value as a read-modify-write client would, so its errors surface here.
    cas.current()?;
    if interfere {
        bucket.set(key, b"interfering")?;
    }

    match atomics::swap(cas, &new_value) {
        Ok(()) => Ok(Response::new(200, "swapped")),
        Err(CasError::CasFailed(latest)) => {
            let mut body = b"conflict\n".to_vec();
            if let Some(value) = latest.current()? {
                body.extend_from_slice(&value);
            }
            Ok(Response::new(409, body))
        }
        Err(CasError::StoreError(error)) => Err(error.into()),
    }
}

/// Adds 1 to the decimal counter at `key` (absent counts as 0) with compare-and-swap, retrying
/// on conflicts. Returns the number written.
fn kv_cas_increment(query: &Query) -> RouteResult {
    let bucket = open_bucket(query)?;
    let key = query.require("key")?;

    for _ in 0..CAS_INCREMENT_MAX_TRIES {
        let cas = Cas::new(&bucket, key)?;
        let current = match cas.current()? {
            Some(bytes) => parse_counter(&bytes)?,
            None => 0,
        };
        let next = current.checked_add(1).ok_or_else(|| {
            Response::new(
                409,
                format!("counter `{key}` is at u64::MAX and cannot grow"),
            )
        })?;

        match atomics::swap(cas, next.to_string().as_bytes()) {
            Ok(()) => return Ok(Response::new(200, next.to_string())),
            // Another writer changed the key after `Cas::new`: start over with a fresh handle.
            Err(CasError::CasFailed(_)) => {}
            Err(CasError::StoreError(error)) => return Err(error.into()),
        }
    }

    Err(Response::new(
        500,
        format!("cas-increment gave up after {CAS_INCREMENT_MAX_TRIES} conflicts"),
    ))
}

fn parse_counter(bytes: &[u8]) -> Result<u64, Response> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            let value = String::from_utf8_lossy(bytes);
            Response::new(409, format!("stored value `{value}` is not a decimal u64"))
        })
}

// ---------------------------------------------------------------------------------------------
// Config routes
// ---------------------------------------------------------------------------------------------

fn config_get(query: &Query) -> RouteResult {
    match config::get(query.require("name")?)? {
        Some(value) => Ok(Response::new(200, value)),
        None => Ok(Response::new(404, "missing")),
    }
}

/// Lists every config pair as `name=value` lines, sorted by name.
fn config_all() -> RouteResult {
    let mut pairs = config::get_all()?;
    pairs.sort();
    let lines: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    Ok(Response::new(200, lines.join("\n")))
}

// ---------------------------------------------------------------------------------------------
// Outbound HTTP
// ---------------------------------------------------------------------------------------------

/// Parts of an absolute URL that an outgoing request needs.
struct Target {
    scheme: Scheme,
    authority: String,
    path_with_query: String,
}

/// Splits `url` of the form `scheme://authority[/path][?query][#fragment]` and drops the fragment.
fn parse_target(url: &str) -> Result<Target, Response> {
    let invalid_url = || {
        Response::bad_request(format!(
            "invalid url `{url}`: expected scheme://authority/path"
        ))
    };

    let (scheme, rest) = url.split_once("://").ok_or_else(invalid_url)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => Scheme::Other(scheme.to_string()),
    };

    let without_fragment = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = without_fragment
        .find(['/', '?'])
        .unwrap_or(without_fragment.len());
    let (authority, path_with_query) = without_fragment.split_at(authority_end);
    if authority.is_empty() {
        return Err(invalid_url());
    }

    let path_with_query = match path_with_query.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{path_with_query}"),
        Some(_) => path_with_query.to_string(),
    };

    Ok(Target {
        scheme,
        authority: authority.to_string(),
        path_with_query,
    })
}

fn parse_method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// Sends a bodiless request to `url` and reports the status and body of the response.
/// Redirects are reported as they are: the guest does not follow them.
fn outbound(query: &Query) -> RouteResult {
    let url = query.require("url")?;
    let method_name = query.get("method").unwrap_or("GET");
    let target = parse_target(url)?;

    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&parse_method(method_name))
        .map_err(|()| Response::bad_request(format!("invalid method `{method_name}`")))?;
    request
        .set_scheme(Some(&target.scheme))
        .map_err(|()| Response::bad_request(format!("invalid scheme in url `{url}`")))?;
    request
        .set_authority(Some(&target.authority))
        .map_err(|()| Response::bad_request(format!("invalid authority in url `{url}`")))?;
    request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| Response::bad_request(format!("invalid path in url `{url}`")))?;

    let response = fetch(request).map_err(bad_gateway)?;
    let body = response
        .consume()
        .map_err(|()| Response::new(502, "error: response body unavailable"))?;
    let contents = read_to_end(&body).map_err(|error| match error {
        ReadError::Unavailable => Response::new(502, "error: response body unavailable"),
        ReadError::Stream(io_error) => match wasi::http::types::http_error_code(&io_error) {
            Some(code) => bad_gateway(code),
            None => Response::new(502, format!("error: {}", io_error.to_debug_string())),
        },
    })?;

    let mut report = format!("status {}\n", response.status()).into_bytes();
    report.extend_from_slice(&contents);
    Ok(Response::new(200, report))
}

/// Sends `request` and blocks until the response head arrives.
fn fetch(request: OutgoingRequest) -> Result<IncomingResponse, ErrorCode> {
    let future_response = outgoing_handler::handle(request, None)?;
    loop {
        match future_response.get() {
            Some(Ok(result)) => return result,
            // `get` returns `Err(())` only after an earlier call returned the response, and this
            // loop returns at that call.
            Some(Err(())) => unreachable!("the outgoing response was already taken"),
            None => future_response.subscribe().block(),
        }
    }
}

/// Returns the 502 response for a failed outgoing request: `error: ` and the `ErrorCode` in Debug
/// form without its `ErrorCode::` prefix, such as `error: HttpRequestDenied`.
fn bad_gateway(code: ErrorCode) -> Response {
    let debug = format!("{code:?}");
    let variant = debug.strip_prefix("ErrorCode::").unwrap_or(&debug);
    Response::new(502, format!("error: {variant}"))
}

// ---------------------------------------------------------------------------------------------
// Limits and stderr
// ---------------------------------------------------------------------------------------------

/// Reads the whole request body, keeping only its length, and returns that length.
fn echo_length(request: &IncomingRequest) -> RouteResult {
    let body = request.consume().map_err(|()| body_error())?;
    let mut length: u64 = 0;
    read_chunks(&body, |chunk| length += chunk.len() as u64).map_err(|_| body_error())?;
    Ok(Response::new(200, length.to_string()))
}

/// Spins until the host interrupts the guest. `black_box` keeps the compiler from removing the
/// loop.
fn spin_forever() -> ! {
    let mut iterations: u64 = 0;
    loop {
        iterations = std::hint::black_box(iterations.wrapping_add(1));
    }
}

/// Allocates `mb` MiB and writes to every 4 KiB page of it.
fn allocate(query: &Query) -> RouteResult {
    let mebibytes: usize = query.require_parsed("mb")?;
    let size = mebibytes
        .checked_mul(MEBIBYTE)
        .ok_or_else(|| Response::bad_request(format!("{mebibytes} MiB overflows usize")))?;

    // A failed allocation aborts the guest, so above the host's memory limit this route traps
    // instead of returning an HTTP error.
    let mut buffer = vec![0u8; size];
    for offset in (0..size).step_by(4096) {
        buffer[offset] = 1;
    }
    std::hint::black_box(&buffer);
    Ok(Response::new(200, "ok"))
}

fn write_stderr(query: &Query) -> RouteResult {
    let message = query.require("msg")?;
    eprintln!("{message}");
    Ok(Response::new(200, "ok"))
}
