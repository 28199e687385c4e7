//! Downloads from the Document Server: the origin check that runs before any request, and a
//! streaming `GET` through `wasi:http/outgoing-handler` with caps on size and time.

use std::time::Duration;

use url::Url;

/// Reason a URL is not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not an absolute http(s) URL.
    #[error("not an absolute http or https URL")]
    NotHttp,
    /// The host is not ASCII. Internationalized domain names are not mapped, because the `url`
    /// crate is built without Unicode tables, so they must be written in punycode (`xn--`).
    #[error("host name is not ASCII; write an internationalized domain name in punycode (xn--)")]
    NonAsciiHost,
    /// The URL carries user info, which could hide the real host.
    #[error("user info in URL")]
    UserInfo,
    /// Scheme, host, port or base path differ from every configured Document Server base.
    #[error("not on a configured Document Server origin")]
    Foreign,
    /// No Document Server base is configured.
    #[error("no Document Server URL is configured")]
    NotConfigured,
}

/// The Document Server's public and internal bases.
#[derive(Debug, Clone)]
pub struct DsOrigins {
    /// Base URL browsers use, found in callback URLs.
    pub public: Option<Url>,
    /// Base URL this component fetches through.
    pub internal: Option<Url>,
}

impl DsOrigins {
    /// Checks that `raw` is on the public or internal base and returns the URL to fetch. That URL
    /// has the same path on the internal base (the public base when no internal one is set), and
    /// the query kept byte for byte, because the Document Server signs it.
    ///
    /// # Errors
    /// [`OriginError`] for a URL that must not be fetched.
    pub fn resolve(&self, raw: &str) -> Result<String, OriginError> {
        let target = self.internal.as_ref().or(self.public.as_ref()).ok_or(OriginError::NotConfigured)?;
        let (before_query, query) = match raw.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (raw, None),
        };
        if before_query.contains('#') || query.is_some_and(|query| query.contains('#')) {
            return Err(OriginError::Foreign);
        }
        let parsed = Url::parse(before_query).map_err(|error| match error {
            url::ParseError::IdnaError => OriginError::NonAsciiHost,
            _ => OriginError::NotHttp,
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
            return Err(OriginError::NotHttp);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(OriginError::UserInfo);
        }
        let relative = [self.public.as_ref(), self.internal.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|base| path_under(base, &parsed))
            .ok_or(OriginError::Foreign)?;
        let mut resolved = format!("{}{relative}", target.as_str().trim_end_matches('/'));
        if let Some(query) = query {
            resolved.push('?');
            resolved.push_str(query);
        }
        Ok(resolved)
    }
}

/// Returns the path of `url` below `base` (starting with `/`) when both share scheme, host and
/// port and the path is under the base path.
fn path_under(base: &Url, url: &Url) -> Option<String> {
    let same_origin = base.scheme() == url.scheme()
        && base.host_str()?.eq_ignore_ascii_case(url.host_str()?)
        && base.port_or_known_default() == url.port_or_known_default();
    if !same_origin {
        return None;
    }
    let base_path = base.path().trim_end_matches('/');
    let rest = url.path().strip_prefix(base_path)?;
    rest.starts_with('/').then(|| rest.to_owned())
}

/// Bounds of one download.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Time to connect.
    pub connect: Duration,
    /// Time to the first byte of the response.
    pub first_byte: Duration,
    /// Time between two chunks of the body.
    pub between_bytes: Duration,
}

/// Reason a download failed. The text is for the log and never contains the URL's query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The host refused or failed the request, or the body broke off.
    #[error("request failed: {0}")]
    Transport(String),
    /// The response status is not 200 (redirects are never followed).
    #[error("unexpected status {0}")]
    Status(u16),
    /// The announced or received size is over the limit.
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
    /// Fewer or more bytes arrived than `Content-Length` announced.
    #[error("body of {received} bytes, {announced} announced")]
    LengthMismatch {
        /// Bytes announced.
        announced: u64,
        /// Bytes received.
        received: u64,
    },
}

/// Bytes asked for in each read of a response body.
const READ_SIZE: u64 = 64 * 1024;

/// A response body being downloaded, read piece by piece.
pub struct Download {
    stream: Option<wasi::io::streams::InputStream>,
    body: Option<wasi::http::types::IncomingBody>,
    _response: wasi::http::types::IncomingResponse,
    announced: Option<u64>,
    received: u64,
    max_bytes: u64,
}

/// Sends `GET url` and returns its body once the status is 200 and the announced length fits.
///
/// # Errors
/// [`FetchError`] on a transport failure, a status other than 200, or a body over the limit.
pub fn get(url: &str, limits: &Limits) -> Result<Download, FetchError> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingRequest, RequestOptions, Scheme};

    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let parsed = Url::parse(before_query).map_err(|_| FetchError::Transport("invalid URL".to_owned()))?;
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if parsed.scheme() == "https" { Scheme::Https } else { Scheme::Http };
    let authority = match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_owned(),
    };
    let path_with_query = match query {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let transport = |what: &str| FetchError::Transport(what.to_owned());
    request.set_method(&Method::Get).map_err(|()| transport("method"))?;
    request.set_scheme(Some(&scheme)).map_err(|()| transport("scheme"))?;
    request.set_authority(Some(&authority)).map_err(|()| transport("authority"))?;
    request.set_path_with_query(Some(&path_with_query)).map_err(|()| transport("path"))?;

    let options = RequestOptions::new();
    let nanos = |duration: Duration| Some(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    // NB: hosts may refuse to set a timeout; the host's own defaults then apply.
    let _ = options.set_connect_timeout(nanos(limits.connect));
    let _ = options.set_first_byte_timeout(nanos(limits.first_byte));
    let _ = options.set_between_bytes_timeout(nanos(limits.between_bytes));

    let pending = outgoing_handler::handle(request, Some(options)).map_err(|code| FetchError::Transport(format!("{code:?}")))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(FetchError::Transport(format!("{code:?}"))),
        Some(Err(())) | None => return Err(transport("response already taken")),
    };
    let status = response.status();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let announced = response
        .headers()
        .get("content-length")
        .first()
        .and_then(|value| std::str::from_utf8(value).ok()?.trim().parse::<u64>().ok());
    if let Some(announced) = announced
        && announced > limits.max_bytes
    {
        return Err(FetchError::TooLarge(limits.max_bytes));
    }
    let body = response.consume().map_err(|()| transport("body already taken"))?;
    let stream = body.stream().map_err(|()| transport("body stream unavailable"))?;
    Ok(Download {
        stream: Some(stream),
        body: Some(body),
        _response: response,
        announced,
        received: 0,
        max_bytes: limits.max_bytes,
    })
}

impl Iterator for Download {
    type Item = Result<Vec<u8>, FetchError>;

    fn next(&mut self) -> Option<Self::Item> {
        use wasi::io::streams::StreamError;

        let stream = self.stream.as_ref()?;
        match stream.blocking_read(READ_SIZE) {
            Ok(chunk) => {
                self.received += chunk.len() as u64;
                if self.received > self.max_bytes {
                    self.stream = None;
                    return Some(Err(FetchError::TooLarge(self.max_bytes)));
                }
                Some(Ok(chunk))
            }
            Err(StreamError::Closed) => {
                self.stream = None;
                if let Some(body) = self.body.take() {
                    drop(wasi::http::types::IncomingBody::finish(body));
                }
                match self.announced {
                    Some(announced) if announced != self.received => {
                        Some(Err(FetchError::LengthMismatch { announced, received: self.received }))
                    }
                    _ => None,
                }
            }
            Err(StreamError::LastOperationFailed(err)) => {
                self.stream = None;
                Some(Err(FetchError::Transport(err.to_debug_string())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> DsOrigins {
        DsOrigins {
            public: Some(Url::parse("https://ds.example.test").unwrap()),
            internal: Some(Url::parse("http://onlyoffice-internal:8080/ds").unwrap()),
        }
    }

    #[test]
    fn public_url_is_rewritten_to_internal_with_raw_query() {
        let raw = "https://ds.example.test/cache/files/data/K1_12/output.docx/output.docx?md5=a%2Fb&expires=1767609900&filename=output.docx";
        let resolved = origins().resolve(raw).unwrap();
        assert_eq!(
            resolved,
            "http://onlyoffice-internal:8080/ds/cache/files/data/K1_12/output.docx/output.docx?md5=a%2Fb&expires=1767609900&filename=output.docx"
        );
    }

    #[test]
    fn internal_url_is_accepted() {
        let raw = "http://onlyoffice-internal:8080/ds/cache/x?y=1";
        assert_eq!(origins().resolve(raw).unwrap(), raw);
    }

    #[test]
    fn foreign_hosts_are_rejected() {
        for raw in [
            "http://127.0.0.1:8080/admin",
            "https://ds.example.test.evil.test/cache/x",
            "https://evil.test/ds.example.test/cache/x",
            "https://ds.example.test:8443/cache/x",
            "http://ds.example.test/cache/x",
            "http://onlyoffice-internal:8080/other/cache/x",
            "http://onlyoffice-internal:8080/dsx/cache/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(origins().resolve(raw), Err(OriginError::Foreign), "{raw}");
        }
    }

    #[test]
    fn user_info_is_rejected() {
        assert_eq!(origins().resolve("https://ds.example.test@evil.test/x"), Err(OriginError::UserInfo));
        assert_eq!(origins().resolve("https://user@ds.example.test/x"), Err(OriginError::UserInfo));
    }

    #[test]
    fn other_schemes_are_rejected() {
        assert_eq!(origins().resolve("file:///etc/passwd"), Err(OriginError::NotHttp));
        assert_eq!(origins().resolve("ftp://ds.example.test/x"), Err(OriginError::NotHttp));
        assert_eq!(origins().resolve("/cache/x"), Err(OriginError::NotHttp));
    }

    #[test]
    fn non_ascii_host_is_rejected() {
        for raw in ["https://dś.example.test/cache/x", "https://ds.exämple.test/cache/x"] {
            assert_eq!(origins().resolve(raw), Err(OriginError::NonAsciiHost), "{raw}");
        }
    }

    #[test]
    fn punycode_host_matches_punycode_base() {
        let origins = DsOrigins { public: Some(Url::parse("https://xn--dcument-l0a.example.test").unwrap()), internal: None };

        assert_eq!(
            origins.resolve("https://XN--DCUMENT-L0A.example.test/cache/x"),
            Ok("https://xn--dcument-l0a.example.test/cache/x".to_owned())
        );
        assert_eq!(origins.resolve("https://dócument.example.test/cache/x"), Err(OriginError::NonAsciiHost));
    }

    #[test]
    fn dot_segments_cannot_leave_the_base_path() {
        assert_eq!(origins().resolve("http://onlyoffice-internal:8080/ds/../admin"), Err(OriginError::Foreign));
    }

    #[test]
    fn fragment_is_rejected() {
        assert_eq!(origins().resolve("https://ds.example.test/cache/x#y"), Err(OriginError::Foreign));
    }

    #[test]
    fn nothing_configured_fetches_nothing() {
        let none = DsOrigins { public: None, internal: None };
        assert_eq!(none.resolve("https://ds.example.test/x"), Err(OriginError::NotConfigured));
    }
}
