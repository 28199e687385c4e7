//! Feeds arbitrary text to `DsOrigins::resolve` with a public and an internal Document Server
//! base. Nothing may panic, and every accepted URL must point below the internal base with the
//! input's query kept byte for byte.

#![no_main]

use std::sync::LazyLock;

use efalia_onlyoffice::fetch::DsOrigins;
use libfuzzer_sys::fuzz_target;
use url::Url;

const INTERNAL_PREFIX: &str = "http://onlyoffice-internal:8080/ds/";

static ORIGINS: LazyLock<DsOrigins> = LazyLock::new(|| DsOrigins {
    public: Some(Url::parse("https://ds.example.test").expect("public base parses")),
    internal: Some(Url::parse("http://onlyoffice-internal:8080/ds").expect("internal base parses")),
});

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(resolved) = ORIGINS.resolve(raw) else {
        return;
    };

    assert!(
        resolved.starts_with(INTERNAL_PREFIX),
        "{raw:?} resolved to {resolved:?}, outside {INTERNAL_PREFIX}"
    );

    let (before_query, query) = match resolved.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (resolved.as_str(), None),
    };
    let parsed = Url::parse(before_query)
        .unwrap_or_else(|error| panic!("{raw:?} resolved to {resolved:?}, which does not parse: {error}"));
    assert_eq!(parsed.scheme(), "http", "{raw:?} resolved to {resolved:?}");
    assert_eq!(parsed.host_str(), Some("onlyoffice-internal"), "{raw:?} resolved to {resolved:?}");
    assert_eq!(parsed.port(), Some(8080), "{raw:?} resolved to {resolved:?}");
    assert!(
        parsed.path().starts_with("/ds/"),
        "{raw:?} resolved to {resolved:?}, whose path {:?} leaves /ds/",
        parsed.path()
    );

    let input_query = raw.split_once('?').map(|(_, query)| query);
    assert_eq!(query, input_query, "{raw:?} resolved to {resolved:?} with another query");
});
