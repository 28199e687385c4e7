//! Properties of the Document Server origin check and of document key generation, tested on
//! generated inputs.

use std::collections::HashSet;

use efalia_onlyoffice::fetch::{DsOrigins, OriginError};
use efalia_onlyoffice::storage::{MAX_DS_KEY_LEN, is_valid_ds_key, new_ds_key};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest::sample::select;
use url::Url;
use uuid::Uuid;

const PUBLIC_HOST: &str = "ds.example.test";
const INTERNAL_HOST: &str = "onlyoffice-internal";
const INTERNAL_PORT: u16 = 8080;
const INTERNAL_BASE: &str = "http://onlyoffice-internal:8080/ds";

fn origins() -> DsOrigins {
    DsOrigins {
        public: Some(Url::parse("https://ds.example.test").unwrap()),
        internal: Some(Url::parse(INTERNAL_BASE).unwrap()),
    }
}

/// A URL assembled from parts, so that the expected outcome can be worked out from the parts
/// without parsing the URL.
#[derive(Debug, Clone)]
struct UrlParts {
    scheme: &'static str,
    userinfo: Option<&'static str>,
    host: &'static str,
    port: Option<u16>,
    segments: Vec<&'static str>,
    query: Option<String>,
}

impl UrlParts {
    fn to_url(&self) -> String {
        let mut url = format!("{}://", self.scheme);
        if let Some(userinfo) = self.userinfo {
            url.push_str(userinfo);
            url.push('@');
        }
        url.push_str(self.host);
        if let Some(port) = self.port {
            url.push_str(&format!(":{port}"));
        }
        url.push('/');
        url.push_str(&self.segments.join("/"));
        if let Some(query) = &self.query {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// Removes dot segments from the path as WHATWG URL parsing does. `.` and `%2e` are dropped,
    /// `..` and `%2e%2e` also drop the previous segment, and a dot segment at the end leaves a
    /// trailing slash.
    fn normalized_path(&self) -> String {
        let mut normalized: Vec<&str> = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            let is_last = index + 1 == self.segments.len();
            let lowercase = segment.to_ascii_lowercase();
            let double_dot = matches!(lowercase.as_str(), ".." | "%2e%2e" | ".%2e" | "%2e.");
            let single_dot = matches!(lowercase.as_str(), "." | "%2e");
            if double_dot {
                normalized.pop();
            }
            if double_dot || single_dot {
                if is_last {
                    normalized.push("");
                }
                continue;
            }
            normalized.push(segment);
        }
        format!("/{}", normalized.join("/"))
    }

    /// Returns the outcome `resolve` must give: the URL to fetch, or the error.
    fn expected(&self) -> Result<String, OriginError> {
        let scheme = self.scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(OriginError::NotHttp),
        };
        // The URL parser drops an empty user info (`https://@host/`), which cannot hide a host.
        if self.userinfo.is_some_and(|userinfo| !userinfo.is_empty()) {
            return Err(OriginError::UserInfo);
        }
        let host = self.host.to_ascii_lowercase();
        let port = self.port.unwrap_or(default_port);
        let path = self.normalized_path();

        let relative = if scheme == "https" && host == PUBLIC_HOST && port == 443 {
            path
        } else if scheme == "http" && host == INTERNAL_HOST && port == INTERNAL_PORT && path.starts_with("/ds/") {
            path["/ds".len()..].to_owned()
        } else {
            return Err(OriginError::Foreign);
        };
        let mut resolved = format!("{INTERNAL_BASE}{relative}");
        if let Some(query) = &self.query {
            resolved.push('?');
            resolved.push_str(query);
        }
        Ok(resolved)
    }
}

/// URL parts weighted towards the two configured bases, so that about 40 % of the cases pass.
fn url_parts() -> impl Strategy<Value = UrlParts> {
    let public_origin = (
        select(vec!["https", "HTTPS"]),
        select(vec![PUBLIC_HOST, "DS.Example.TEST"]),
        select(vec![None, Some(443)]),
    );
    let internal_origin = (
        Just("http"),
        select(vec![INTERNAL_HOST, "OnlyOffice-Internal"]),
        Just(Some(INTERNAL_PORT)),
    );
    let mixed_origin = (
        select(vec!["https", "http", "ftp"]),
        select(vec![
            PUBLIC_HOST,
            INTERNAL_HOST,
            "evil.example.test",
            "ds.example.test.evil.test",
            "onlyoffice-internal.",
            "127.0.0.1",
            "[::1]",
        ]),
        select(vec![None, Some(INTERNAL_PORT), Some(80), Some(443), Some(8443), Some(1)]),
    );
    let origin = prop_oneof![3 => public_origin, 3 => internal_origin, 4 => mixed_origin];
    let userinfo = prop_oneof![
        6 => Just(None),
        1 => Just(Some("")),
        1 => select(vec!["user", "user:secret", ":secret", "ds.example.test", "onlyoffice-internal:8080"]).prop_map(Some),
    ];
    let segment = select(vec![
        "ds", "dsx", "cache", "files", "output.docx", "x%2Fy", "..", ".", "%2e%2e", "%2E", ".%2e", "",
    ]);
    let segments = (prop::bool::weighted(0.7), prop::collection::vec(segment, 0..5)).prop_map(|(under_ds, rest)| {
        let mut segments = if under_ds { vec!["ds"] } else { Vec::new() };
        segments.extend(rest);
        segments
    });
    // Signed Document Server queries contain `%`, `=` and `&`, and `/`, `?` and `@` show whether
    // the query is parsed. A `#` would start a fragment, which `resolve` rejects on its own.
    let query = prop::option::of("[A-Za-z0-9%=&/?:@ .+_-]{0,24}");

    (origin, userinfo, segments, query).prop_map(|((scheme, host, port), userinfo, segments, query)| UrlParts {
        scheme,
        userinfo,
        host,
        port,
        segments,
        query,
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Integration tests have no lib.rs for the default setting to find, so failing cases are
        // saved next to this file, in properties.proptest-regressions.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn origin_check_follows_parts(parts in url_parts()) {
        let url = parts.to_url();
        let resolved = origins().resolve(&url);
        let expected = parts.expected();

        prop_assert_eq!(resolved.is_ok(), expected.is_ok(), "{} resolved to {:?}, expected {:?}", url, resolved, expected);
        match (&resolved, &expected) {
            (Ok(resolved), Ok(expected)) => {
                prop_assert_eq!(resolved, expected, "{}", url);
                let input_query = url.split_once('?').map(|(_, query)| query);
                let resolved_query = resolved.split_once('?').map(|(_, query)| query);
                prop_assert_eq!(resolved_query, input_query, "{}", url);
            }
            (Err(error), Err(expected_error)) => prop_assert_eq!(error, expected_error, "{}", url),
            _ => {}
        }
    }

    #[test]
    fn new_ds_key_is_valid_and_unique(document in any::<u128>(), version in any::<u32>()) {
        let document = Uuid::from_u128(document);
        let version_marker = format!("-v{version}-");
        let mut seen = HashSet::new();

        for _ in 0..64 {
            let key = new_ds_key(document, version);

            prop_assert!(is_valid_ds_key(&key), "{}", key);
            prop_assert!(key.len() <= MAX_DS_KEY_LEN, "{} has {} characters", key, key.len());
            prop_assert!(
                key.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'=' | b'-')),
                "{} has a character outside [0-9A-Za-z._=-]",
                key
            );
            prop_assert!(key.contains(&version_marker), "{} lacks {}", key, version_marker);
            prop_assert!(seen.insert(key.clone()), "{} was generated twice", key);
        }
    }
}
