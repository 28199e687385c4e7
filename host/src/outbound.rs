//! Outbound HTTP: the allow-list, in Spin's `allowed_outbound_hosts` grammar, and the
//! `WasiHttpHooks` that enforce it together with the host's timeouts.
//!
//! An entry is `scheme://host[:port]`. The scheme is a name or `*`. The host is a name, an IP
//! address, `*`, `*.domain` (subdomains only) or a CIDR block such as `10.0.0.0/8`. The port is
//! omitted (the scheme's default), `*`, a number or a range `8000..8010` (end excluded, as in
//! Spin).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

use crate::variables::Variables;

/// The set of origins a component may reach. Empty means no outbound access.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Debug, Clone, PartialEq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Exact(String),
    Subdomains(String),
    Ip(IpAddr),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    SchemeDefault,
    Any,
    Exact(u16),
    Range(u16, u16),
}

impl AllowedHosts {
    /// Parses entries, first resolving `{{ name }}` templates with the component variables.
    ///
    /// # Errors
    /// Fails on the first malformed entry or on a template naming an unset variable.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a String>,
        variables: &Variables,
    ) -> anyhow::Result<Self> {
        let mut parsed = Vec::new();
        for entry in entries {
            let resolved = resolve_template(entry, variables)?;
            let host = AllowedHost::parse(&resolved)
                .with_context(|| format!("invalid allowed_outbound_hosts entry {entry:?}"))?;
            parsed.push(host);
        }
        Ok(Self { entries: parsed })
    }

    /// Returns whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.entries.iter().any(|entry| entry.allows(scheme, &host, port))
    }

    /// Returns whether the list is empty, i.e. denies everything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn resolve_template(entry: &str, variables: &Variables) -> anyhow::Result<String> {
    let mut resolved = String::new();
    let mut rest = entry;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").with_context(|| format!("unclosed template in {entry:?}"))?;
        let name = rest[start + 2..start + end].trim();
        let value = variables
            .get(name)
            .with_context(|| format!("allowed_outbound_hosts entry {entry:?} uses unset variable {name:?}"))?;
        resolved.push_str(&rest[..start]);
        resolved.push_str(value);
        rest = &rest[start + end + 2..];
    }
    resolved.push_str(rest);
    Ok(resolved)
}

impl AllowedHost {
    fn parse(entry: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = entry.split_once("://").context("expected scheme://host[:port]")?;
        anyhow::ensure!(
            scheme == "*" || (!scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')),
            "invalid scheme {scheme:?}"
        );
        // A URL variable often ends with `/`; any other path is an error, as in Spin.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        anyhow::ensure!(!authority.contains(['?', '#', '@']), "a path, query or user info is not allowed");

        let (host, port) = split_host_port(authority)?;
        anyhow::ensure!(!host.is_empty(), "missing host");
        anyhow::ensure!(host != "self" && !host.starts_with("self."), "`self` hosts are not supported by this host");
        let port = match port {
            None => PortPattern::SchemeDefault,
            Some("*") => PortPattern::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => {
                    let (start, end) = (parse_port(start)?, parse_port(end)?);
                    anyhow::ensure!(start < end, "empty port range {port:?}");
                    PortPattern::Range(start, end)
                }
                None => PortPattern::Exact(parse_port(port)?),
            },
        };
        anyhow::ensure!(
            scheme != "*" || port != PortPattern::SchemeDefault,
            "a `*` scheme needs an explicit port or `*`"
        );
        Ok(Self {
            scheme: (scheme != "*").then(|| scheme.to_ascii_lowercase()),
            host: HostPattern::parse(host)?,
            port,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(scheme));
        let port_ok = match self.port {
            PortPattern::SchemeDefault => default_port(scheme) == Some(port),
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::Range(start, end) => (start..end).contains(&port),
        };
        scheme_ok && port_ok && self.host.matches(host)
    }
}

fn split_host_port(authority: &str) -> anyhow::Result<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').context("unclosed `[` in IPv6 host")?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => anyhow::bail!("unexpected text after IPv6 host"),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn parse_port(port: &str) -> anyhow::Result<u16> {
    port.parse().with_context(|| format!("invalid port {port:?}"))
}

impl HostPattern {
    fn parse(host: &str) -> anyhow::Result<Self> {
        let host = host.to_ascii_lowercase();
        if host == "*" {
            return Ok(Self::Any);
        }
        if let Some(domain) = host.strip_prefix("*.") {
            anyhow::ensure!(!domain.is_empty() && !domain.contains('*'), "invalid wildcard host {host:?}");
            return Ok(Self::Subdomains(domain.to_owned()));
        }
        if let Some((address, bits)) = host.split_once('/') {
            let address: IpAddr =
                address.parse().map_err(|_| anyhow::anyhow!("a path, query or user info is not allowed"))?;
            let bits: u8 = bits.parse().with_context(|| format!("invalid CIDR prefix {bits:?}"))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            anyhow::ensure!(bits <= max, "CIDR prefix /{bits} is too long");
            return Ok(Self::Cidr(address, bits));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        anyhow::ensure!(
            host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'),
            "invalid host {host:?}"
        );
        Ok(Self::Exact(host))
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(name) => name == host,
            Self::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            Self::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            Self::Cidr(network, bits) => host.parse::<IpAddr>().is_ok_and(|h| in_cidr(h, *network, *bits)),
        }
    }
}

fn in_cidr(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Upper bounds of the outbound timeouts; a guest may ask for shorter ones.
#[derive(Debug, Clone, Copy)]
pub struct OutboundTimeouts {
    /// Time to establish the connection.
    pub connect: Duration,
    /// Time from sending the request to the first byte of the response.
    pub first_byte: Duration,
    /// Time between two chunks of the response body.
    pub between_bytes: Duration,
}

/// `WasiHttpHooks` of one request: allow-list check, timeout caps, no redirects followed.
pub struct OutboundHooks {
    pub(crate) allowed: Arc<AllowedHosts>,
    pub(crate) timeouts: OutboundTimeouts,
    pub(crate) request_id: u64,
}

impl OutboundHooks {
    /// Builds the hooks of one request: the allow-list, the timeout caps, and the request id
    /// that denied requests are logged with.
    pub fn new(allowed: Arc<AllowedHosts>, timeouts: OutboundTimeouts, request_id: u64) -> Self {
        Self { allowed, timeouts, request_id }
    }

    fn capped(&self, requested: Option<RequestOptions>) -> RequestOptions {
        let requested = requested.unwrap_or_default();
        let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |asked| asked.min(max)));
        RequestOptions {
            connect_timeout: cap(requested.connect_timeout, self.timeouts.connect),
            first_byte_timeout: cap(requested.first_byte_timeout, self.timeouts.first_byte),
            between_bytes_timeout: cap(requested.between_bytes_timeout, self.timeouts.between_bytes),
        }
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().or_else(|| default_port(&scheme)).unwrap_or(0);
        if !self.allowed.allows(&scheme, &host, port) {
            // Only the origin is logged: paths and queries of outbound URLs may carry tokens.
            tracing::warn!(request_id = self.request_id, origin = %format!("{scheme}://{host}:{port}"), "outbound request denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let options = self.capped(options);
        let default = wasmtime_wasi_http::default_hooks().send_request(request, Some(options), fut);
        Box::new(Box::into_pin(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        AllowedHosts::parse(&entries, &Variables::default()).unwrap()
    }

    fn parse_error(entry: &str) -> String {
        let entries = vec![entry.to_owned()];
        format!("{:#}", AllowedHosts::parse(&entries, &Variables::default()).unwrap_err())
    }

    #[test]
    fn exact_host_uses_scheme_default_port() {
        let allowed = hosts(&["https://ds.example.test"]);
        assert!(allowed.allows("https", "ds.example.test", 443));
        assert!(allowed.allows("https", "DS.Example.Test", 443));
        assert!(!allowed.allows("https", "ds.example.test", 8443));
        assert!(!allowed.allows("http", "ds.example.test", 80));
        assert!(!allowed.allows("https", "ds.example.test.evil.test", 443));
        assert!(!allowed.allows("https", "evil-ds.example.test", 443));
    }

    #[test]
    fn explicit_port_and_trailing_slash() {
        let allowed = hosts(&["http://127.0.0.1:8080/"]);
        assert!(allowed.allows("http", "127.0.0.1", 8080));
        assert!(!allowed.allows("http", "127.0.0.1", 80));
    }

    #[test]
    fn port_range_excludes_end() {
        let allowed = hosts(&["http://localhost:8000..8002"]);
        assert!(allowed.allows("http", "localhost", 8000));
        assert!(allowed.allows("http", "localhost", 8001));
        assert!(!allowed.allows("http", "localhost", 8002));
    }

    #[test]
    fn wildcards() {
        let allowed = hosts(&["https://*.example.test", "*://api.test:*"]);
        assert!(allowed.allows("https", "a.example.test", 443));
        assert!(allowed.allows("https", "a.b.example.test", 443));
        assert!(!allowed.allows("https", "example.test", 443));
        assert!(!allowed.allows("https", "badexample.test", 443));
        assert!(allowed.allows("http", "api.test", 1234));
        assert!(allowed.allows("https", "api.test", 443));
    }

    #[test]
    fn cidr_block() {
        let allowed = hosts(&["http://10.1.0.0/16:8080"]);
        assert!(allowed.allows("http", "10.1.200.3", 8080));
        assert!(!allowed.allows("http", "10.2.0.1", 8080));
        assert!(!allowed.allows("http", "ds.example.test", 8080));
    }

    #[test]
    fn ipv6_host() {
        let allowed = hosts(&["http://[::1]:8080"]);
        assert!(allowed.allows("http", "[::1]", 8080));
        assert!(allowed.allows("http", "::1", 8080));
        assert!(!allowed.allows("http", "127.0.0.1", 8080));
    }

    #[test]
    fn empty_list_denies_everything() {
        let allowed = hosts(&[]);
        assert!(allowed.is_empty());
        assert!(!allowed.allows("https", "ds.example.test", 443));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        assert!(parse_error("ds.example.test").contains("scheme://host"));
        assert!(parse_error("https://ds.example.test/path").contains("path"));
        assert!(parse_error("https://user@ds.example.test").contains("user info"));
        assert!(parse_error("https://ds.example.test:99999").contains("invalid port"));
        assert!(parse_error("https://ds.example.test:9..9").contains("empty port range"));
        assert!(parse_error("*://ds.example.test").contains("explicit port"));
        assert!(parse_error("http://self").contains("not supported"));
        assert!(parse_error("{{ missing }}").contains("unset variable"));
    }

    #[test]
    fn timeouts_are_capped() {
        let hooks = OutboundHooks {
            allowed: Arc::new(AllowedHosts::default()),
            timeouts: OutboundTimeouts {
                connect: Duration::from_secs(5),
                first_byte: Duration::from_secs(60),
                between_bytes: Duration::from_secs(30),
            },
            request_id: 0,
        };
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(600)),
            first_byte_timeout: Some(Duration::from_secs(1)),
            between_bytes_timeout: None,
        };
        let capped = hooks.capped(Some(asked));
        assert_eq!(capped.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(capped.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(capped.between_bytes_timeout, Some(Duration::from_secs(30)));
    }
}
