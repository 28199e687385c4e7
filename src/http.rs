//! HTTP glue over `wasi:http/types@0.2`: the request as routes see it, bounded body reading, and
//! responses with in-memory or streamed bodies.

use std::io::Write as _;

use serde::Serialize;
use wasi::http::types::{Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::error::Error;

/// Bytes asked for in each read of a request body.
const READ_SIZE: u64 = 64 * 1024;

/// An incoming request: method, path, query and headers read once, the body on demand.
pub struct Request {
    incoming: IncomingRequest,
    method: Method,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl Request {
    /// Reads the request line and headers of `incoming`.
    pub fn new(incoming: IncomingRequest) -> Self {
        let method = incoming.method();
        let path_with_query = incoming.path_with_query().unwrap_or_else(|| "/".to_owned());
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (path_with_query, String::new()),
        };
        let headers = incoming.headers().entries();
        Self { incoming, method, path, query, headers }
    }

    /// Returns the method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Returns the path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Returns the query as received, without the `?`.
    pub fn raw_query(&self) -> &str {
        &self.query
    }

    /// Returns the first value of the header `name` (lowercase), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// Returns the percent-decoded value of the query parameter `name`, if present once or more
    /// (the first one wins).
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// Returns the query parameter `name` decoded strictly: `Err` when its bytes are not valid
    /// UTF-8 once percent-decoded, where [`Request::query_param`] would replace them.
    pub fn query_param_utf8(&self, name: &str) -> Result<Option<String>, std::str::Utf8Error> {
        let Some(raw) = self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        }) else {
            return Ok(None);
        };
        let plus_as_space = raw.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&plus_as_space).decode_utf8()?;
        Ok(Some(decoded.into_owned()))
    }

    /// Returns the `Content-Length` header, if present and valid.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// Opens the body for streaming reads, rejecting a declared length above `max`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when `Content-Length` exceeds `max`; [`Error::InvalidRequest`] when
    /// the body was already consumed.
    pub fn body(&self, max: u64) -> Result<BodyReader, Error> {
        if self.content_length().is_some_and(|length| length > max) {
            return Err(Error::TooLarge { max });
        }
        let body = self.incoming.consume().map_err(|()| invalid_body())?;
        let stream = body.stream().map_err(|()| invalid_body())?;
        Ok(BodyReader { stream: Some(stream), body: Some(body), read: 0, max })
    }

    /// Reads the whole body, at most `max` bytes.
    ///
    /// # Errors
    /// [`Error::TooLarge`] past `max`, [`Error::InvalidRequest`] when reading fails.
    pub fn read_body(&self, max: u64) -> Result<Vec<u8>, Error> {
        let mut reader = self.body(max)?;
        let mut bytes = Vec::new();
        while let Some(chunk) = reader.next_chunk()? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

fn invalid_body() -> Error {
    Error::InvalidRequest("Le corps de la requête ne peut pas être lu".to_owned())
}

/// Streaming reader of a request body that counts bytes against a bound.
pub struct BodyReader {
    // NB: the stream must be dropped before the body, as WASI requires for child resources.
    stream: Option<InputStream>,
    body: Option<IncomingBody>,
    read: u64,
    max: u64,
}

impl BodyReader {
    /// Returns the next piece of the body, or `None` at its end.
    ///
    /// # Errors
    /// [`Error::TooLarge`] once more than the bound has arrived; [`Error::InvalidRequest`] when
    /// the host reports a failure (for example a body cut short).
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(stream) = &self.stream else { return Ok(None) };
        match stream.blocking_read(READ_SIZE) {
            Ok(chunk) => {
                self.read += chunk.len() as u64;
                if self.read > self.max {
                    return Err(Error::TooLarge { max: self.max });
                }
                Ok(Some(chunk))
            }
            Err(StreamError::Closed) => {
                self.stream = None;
                if let Some(body) = self.body.take() {
                    drop(IncomingBody::finish(body));
                }
                Ok(None)
            }
            Err(StreamError::LastOperationFailed(err)) => {
                self.stream = None;
                Err(Error::InvalidRequest(format!(
                    "Le corps de la requête n'a pas pu être lu entièrement ({})",
                    err.to_debug_string()
                )))
            }
        }
    }
}

/// Writer of a streamed body; returns a log message on failure.
pub type BodyWriter = Box<dyn FnOnce(&mut dyn std::io::Write) -> Result<(), String>>;

/// Body of a response.
pub enum Body {
    /// Bytes kept in memory (JSON responses, small bodies).
    Bytes(Vec<u8>),
    /// Bytes produced while sending, so a large file never sits in memory; the writer returns
    /// a log message on failure.
    Stream(BodyWriter),
}

/// A response to send.
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

impl Response {
    /// Builds a response with no header and `body`.
    pub fn new(status: u16, body: Body) -> Self {
        Self { status, headers: Vec::new(), body }
    }

    /// Builds a JSON response.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        // NB: serializing plain structs and `serde_json::Value` cannot fail.
        let bytes = serde_json::to_vec(value).expect("JSON serialization of a response");
        let mut response = Self::new(status, Body::Bytes(bytes));
        response.header("content-type", "application/json");
        response
    }

    /// Adds a header.
    pub fn header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.as_bytes().to_vec()));
    }

    /// Returns the status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Sends the response through `out`, streaming its body.
    pub fn send(self, out: ResponseOutparam) {
        let mut headers = self.headers;
        if let Body::Bytes(bytes) = &self.body {
            headers.push(("content-length".to_owned(), bytes.len().to_string().into_bytes()));
        }
        let fields = match Fields::from_list(&headers) {
            Ok(fields) => fields,
            Err(err) => {
                eprintln!("level=error invalid response header: {err:?}");
                Fields::new()
            }
        };
        let response = OutgoingResponse::new(fields);
        // NB: every status this component builds is a valid HTTP status.
        let _ = response.set_status_code(self.status);
        let Ok(body) = response.body() else {
            eprintln!("level=error response body unavailable");
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        let Ok(mut stream) = body.write() else {
            eprintln!("level=error response body stream unavailable");
            return;
        };
        let written = match self.body {
            Body::Bytes(bytes) => write_all(&mut stream, &bytes),
            Body::Stream(writer) => writer(&mut StreamWriter(&mut stream)),
        };
        drop(stream);
        match written {
            Ok(()) => {
                if let Err(err) = OutgoingBody::finish(body, None) {
                    eprintln!("level=error response body not finished: {err:?}");
                }
            }
            // Dropping the body without `finish` marks the response as incomplete for the host. A
            // client that stops reading (a HEAD request, a closed connection) ends up here too.
            Err(message) => eprintln!("level=warn response body not fully sent: {message}"),
        }
    }
}

fn write_all(stream: &mut OutputStream, bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).map_err(|err| err.to_string())?;
    // The host may close the stream as soon as `Content-Length` bytes arrived, before this
    // flush: every byte was then delivered.
    match stream.blocking_flush() {
        Ok(()) | Err(StreamError::Closed) => Ok(()),
        Err(StreamError::LastOperationFailed(err)) => Err(err.to_debug_string()),
    }
}

/// `std::io::Write` over a WASI output stream that also flushes at the end.
struct StreamWriter<'a>(&'a mut OutputStream);

impl std::io::Write for StreamWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(self.0)
    }
}
