//! Fixtures and hand-built tokens for the token tests, including unsigned and malformed ones.

use std::sync::OnceLock;

use hmac_sha256::HMAC;
use jwt_simple::algorithms::RS256KeyPair;
use jwt_simple::prelude::{Claims, Duration, JWTClaims, UnixTimeStamp};
use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Encoder};
use serde_json::{Map, Value, json};

use super::{ConnectorSecret, DsSecret, UserJwtSettings, UserVerifier};

/// Fixed "current time" of the tests: 2026-01-05T08:00:00Z.
pub const NOW: u64 = 1_767_600_000;

pub const DS_SECRET: &str = "ds-test-secret-7f3a9c1e5b2d8f4a6c0e";
pub const CONNECTOR_SECRET: &str = "connector-test-secret-2b9e4d7a1c6f";
pub const USER_SECRET: &str = "user-test-secret-5c8a2e7b3d9f1a4e6b";

pub fn ds_secret() -> DsSecret {
    DsSecret::new(DS_SECRET).unwrap()
}

pub fn connector_secret() -> ConnectorSecret {
    ConnectorSecret::new(CONNECTOR_SECRET).unwrap()
}

pub fn hs256_user_verifier() -> UserVerifier {
    UserVerifier::from_settings(&UserJwtSettings {
        secret: Some(USER_SECRET.to_owned()),
        ..UserJwtSettings::default()
    })
    .unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap()
}

pub fn b64_json(value: &Value) -> String {
    b64(&serde_json::to_vec(value).unwrap())
}

pub fn hs256_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

/// Encodes `header` and `claims` and appends HMAC-SHA-256 of them with `key`, whatever `alg` the
/// header names.
pub fn hmac_token(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = HMAC::mac(signing_input.as_bytes(), key);
    format!("{signing_input}.{}", b64(&signature))
}

/// Builds a normal HS256 token.
pub fn hs256(claims: &Value, key: &str) -> String {
    hmac_token(&hs256_header(), claims, key.as_bytes())
}

/// Builds `header.payload.` with an empty signature.
pub fn unsigned_token(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", b64_json(header), b64_json(claims))
}

/// Converts a JSON object into jwt-simple claims with explicit `iat` and `exp`, so that tokens
/// signed by the library do not depend on the real clock.
pub fn library_claims(
    claims: &Value,
    issued_at: u64,
    expires_at: u64,
) -> JWTClaims<Map<String, Value>> {
    let mut custom = claims.as_object().unwrap().clone();
    // The library writes the time claims itself and would otherwise write them twice.
    for name in ["iat", "exp", "nbf"] {
        custom.remove(name);
    }
    let mut library_claims = Claims::with_custom_claims(custom, Duration::from_secs(60));
    library_claims.issued_at = Some(UnixTimeStamp::from_secs(issued_at));
    library_claims.expires_at = Some(UnixTimeStamp::from_secs(expires_at));
    library_claims.invalid_before = None;
    library_claims
}

/// RSA key generation is slow in debug builds, so the tests share one key pair.
pub fn rsa_key_pair() -> &'static RS256KeyPair {
    static KEY_PAIR: OnceLock<RS256KeyPair> = OnceLock::new();
    KEY_PAIR.get_or_init(|| RS256KeyPair::generate(2048).unwrap())
}

/// Claims of a valid callback body as the Document Server signs it, at [`NOW`].
pub fn callback_claims() -> Value {
    json!({
        "key": "4711-v7-9f2c",
        "status": 2,
        "url": "https://ds.example.test/cache/files/data/4711-v7-9f2c_12/output.docx/output.docx?md5=abc&expires=1767600900&filename=output.docx",
        "users": ["u-101"],
        "actions": [{"type": 0, "userid": "u-101"}],
        "iat": NOW,
        "exp": NOW + 300,
    })
}
