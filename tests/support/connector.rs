//! The connector served by the real host with test settings, and helpers to call it as a user
//! and as the Document Server.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use efalia_host::kv::{KvBackend, SqliteBackend, SqliteLocation};
use jwt_simple::prelude::*;
use serde_json::{Value, json};

use super::component::component_wasm;
use super::host::{Reply, Setup, TestHost, send};

pub const USER_SECRET: &str = "user-secret-for-tests-0123456789abcdef";
pub const DS_SECRET: &str = "ds-secret-for-tests-0123456789abcdefgh";
pub const CONNECTOR_SECRET: &str = "connector-secret-for-tests-0123456789ab";
pub const PUBLIC_BASE: &str = "https://ged.example.test";

/// A running connector with its own SQLite file. It dereferences to the client of its host.
pub struct Connector {
    pub host: TestHost,
    client: ConnectorClient,
    _dir: tempfile::TempDir,
}

/// Calls a connector served at `base` (`http://127.0.0.1:PORT`) as users and as the Document
/// Server do.
pub struct ConnectorClient {
    base: String,
}

/// Builds a host configuration with the test settings, `extra` pairs added or replacing them,
/// and `allowed_outbound_hosts` as the outbound allow-list.
pub fn host_config(extra: &[(&str, &str)], allowed_outbound_hosts: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = [
        ("public_base_url", PUBLIC_BASE),
        ("user_jwt_secret", USER_SECRET),
        ("onlyoffice_jwt_secret", DS_SECRET),
        ("connector_secret", CONNECTOR_SECRET),
        ("onlyoffice_public_url", "https://ds.example.test"),
        ("onlyoffice_internal_url", "http://onlyoffice-internal"),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    for (name, value) in extra {
        pairs.retain(|(existing, _)| existing != name);
        pairs.push((name.to_string(), value.to_string()));
    }

    let variables: toml::Table = pairs.into_iter().map(|(name, value)| (name, toml::Value::String(value))).collect();
    let allowed = allowed_outbound_hosts.iter().map(|entry| toml::Value::String((*entry).to_owned())).collect();
    let mut component = toml::Table::new();
    component.insert("allowed_outbound_hosts".to_owned(), toml::Value::Array(allowed));
    let mut config = toml::Table::new();
    config.insert("variables".to_owned(), toml::Value::Table(variables));
    config.insert("component".to_owned(), toml::Value::Table(component));
    toml::to_string(&config).expect("serialize the host configuration")
}


impl Connector {
    pub fn start() -> Self {
        Self::start_with(&[], Setup::default())
    }

    pub fn start_with(extra: &[(&str, &str)], setup: Setup) -> Self {
        Self::start_with_backend(extra, setup, |backend| backend)
    }

    /// Starts a connector whose SQLite backend is first passed through `wrap`.
    pub fn start_with_backend(
        extra: &[(&str, &str)],
        mut setup: Setup,
        wrap: impl FnOnce(Arc<dyn KvBackend>) -> Arc<dyn KvBackend>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sqlite: Arc<dyn KvBackend> =
            Arc::new(SqliteBackend::open(SqliteLocation::Path(dir.path().join("kv.sqlite3"))).unwrap());
        let backend = wrap(sqlite);
        setup.config_toml = host_config(extra, &["{{ onlyoffice_internal_url }}"]);
        let host = TestHost::start(&component_wasm(), backend, setup).unwrap();
        let client = ConnectorClient::new(&host.url(""));
        Self { host, client, _dir: dir }
    }
}

impl std::ops::Deref for Connector {
    type Target = ConnectorClient;

    fn deref(&self) -> &ConnectorClient {
        &self.client
    }
}

impl ConnectorClient {
    /// Returns a client of the connector at `base`, a URL without a trailing slash.
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned() }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Turns an absolute URL the connector made (on `PUBLIC_BASE`) into one on the test host.
    pub fn local(&self, public_url: &str) -> String {
        let rest = public_url.strip_prefix(PUBLIC_BASE).unwrap_or_else(|| panic!("not on the public base: {public_url}"));
        self.url(rest)
    }

    /// Calls a user route with `user`'s token.
    pub fn as_user(&self, user: &str, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
        let token = user_token(user, json!({}));
        let authorization = format!("Bearer {token}");
        let mut headers = vec![("authorization", authorization.as_str())];
        if body.is_some() && !path.contains("/binaire") {
            headers.push(("content-type", "application/json"));
        }
        send(method, &self.url(path), &headers, body)
    }

    /// Uploads `bytes` as document `id` named `name`, as `user`.
    pub fn upload(&self, user: &str, id: &str, name: &str, bytes: &[u8]) -> Reply {
        let path = format!("/api/documents/{id}/binaire?nom={}", super::host::encode(name));
        self.as_user(user, "PUT", &path, Some(bytes))
    }

    /// Gives `lecture` and `ecriture` rights on `id`, as its owner.
    pub fn grant(&self, owner: &str, id: &str, lecture: &[&str], ecriture: &[&str]) {
        let body = json!({ "lecture": lecture, "ecriture": ecriture }).to_string();
        let reply = self.as_user(owner, "PUT", &format!("/api/documents/{id}/habilitations"), Some(body.as_bytes()));
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    /// Calls `/acces` for `id` as `user` and returns the two URLs.
    pub fn acces(&self, user: &str, id: &str) -> (String, String) {
        let reply = self.as_user(user, "GET", &format!("/api/only-office/{id}/acces"), None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let urls = reply.json();
        (urls["binaire"].as_str().unwrap().to_owned(), urls["callback"].as_str().unwrap().to_owned())
    }

    /// Downloads a `binaire` URL as the Document Server does, with its own header token.
    pub fn ds_download(&self, binaire: &str) -> Reply {
        let header = format!("Bearer {}", ds_token(json!({ "payload": { "url": binaire } })));
        send("GET", &self.local(binaire), &[("authorization", header.as_str())], None)
    }
}

/// Current Unix time in seconds.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Returns a user token for `sub`, valid ten minutes, with `extra` claims (e.g. `roles`).
pub fn user_token(sub: &str, extra: Value) -> String {
    let mut custom = serde_json::Map::new();
    custom.insert("name".to_owned(), Value::String(format!("Utilisateur {sub}")));
    if let Value::Object(extra) = extra {
        custom.extend(extra);
    }
    let claims = Claims::with_custom_claims(custom, jwt_simple::prelude::Duration::from_mins(10)).with_subject(sub);
    HS256Key::from_bytes(USER_SECRET.as_bytes()).authenticate(claims).unwrap()
}

/// Returns a Document Server token over `claims`, valid five minutes.
pub fn ds_token(claims: Value) -> String {
    let Value::Object(custom) = claims else { panic!("claims must be an object") };
    let claims = Claims::with_custom_claims(custom, jwt_simple::prelude::Duration::from_mins(5));
    HS256Key::from_bytes(DS_SECRET.as_bytes()).authenticate(claims).unwrap()
}

/// Decodes every claim of a JWT (registered ones included) after checking its HS256 signature
/// with `secret`.
pub fn verified_claims(token: &str, secret: &str) -> Value {
    use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
    let key = HS256Key::from_bytes(secret.as_bytes());
    let options = VerificationOptions { time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(60)), ..Default::default() };
    key.verify_token::<Value>(token, Some(options)).expect("token signed with the expected secret");
    let payload = token.split('.').nth(1).expect("three-part token");
    let bytes = Base64UrlSafeNoPadding::decode_to_vec(payload, None).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Reads a fixture file.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(super::component::workspace_root().join("tests/fixtures").join(name)).unwrap()
}

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Returns a token signed with the connector secret over `claims`, expiring `expires_in` seconds
/// from now (negative: already expired).
pub fn connector_token(claims: Value, expires_in: i64) -> String {
    let Value::Object(custom) = claims else { panic!("claims must be an object") };
    let mut claims = Claims::with_custom_claims(custom, jwt_simple::prelude::Duration::from_secs(60));
    let now = now() as i64;
    claims.issued_at = Some(jwt_simple::prelude::Duration::from_secs((now - 600).max(0) as u64));
    claims.expires_at = Some(jwt_simple::prelude::Duration::from_secs((now + expires_in).max(0) as u64));
    HS256Key::from_bytes(CONNECTOR_SECRET.as_bytes()).authenticate(claims).unwrap()
}

/// Signs `claims` exactly as given (no added `iat` or `exp`) with HS256 and `secret`.
pub fn raw_hs256(claims: &Value, secret: &str) -> String {
    use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Encoder as _};
    let encode = |bytes: &[u8]| Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap();
    let signing_input = format!("{}.{}", encode(br#"{"alg":"HS256","typ":"JWT"}"#), encode(claims.to_string().as_bytes()));
    let signature = hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret.as_bytes());
    format!("{signing_input}.{}", encode(&signature))
}
