//! Tokens signed with the Document Server secret: the editor configuration token that
//! `POST /api/only-office/token` returns, and the tokens the Document Server sends on callbacks and
//! on downloads of `binaire`.
//!
//! The Document Server uses two forms. The body form carries the flat claims (a callback body
//! plus `iat` and `exp`). The header form is `Bearer <jwt>` whose claims wrap the data in a
//! `payload` object. A configuration token is always flat.

use serde_json::{Map, Value};
use url::Url;

use super::TokenError;
use super::access::expiry;
use super::jwt;
use super::secret::DsSecret;

/// Top-level configuration fields that [`sign_config`] rejects. `iat`, `exp` and `nbf` are set by
/// the signer. The Document Server rejects a configuration token with a top-level `url`, `key` or
/// `payload` (they belong under `document`, and `payload` is the header form). `token` is the
/// signature itself, and `status` would make the token look like a callback body.
const RESERVED_CONFIG_FIELDS: [&str; 8] = [
    "iat", "exp", "nbf", "url", "key", "payload", "token", "status",
];

/// Signs an editor configuration with HS256 and the Document Server secret.
///
/// The claims are the configuration's own top-level fields plus `iat = now` and
/// `exp = now + lifetime_secs`, never a `payload` wrapper. `config` is not modified.
///
/// # Errors
///
/// [`TokenError::Config`] when `config` has a reserved top-level field (`iat`, `exp`, `nbf`,
/// `url`, `key`, `payload`, `token` or `status`), when `lifetime_secs` is zero, or when the expiry
/// overflows.
pub fn sign_config(
    config: &Map<String, Value>,
    secret: &DsSecret,
    now: u64,
    lifetime_secs: u64,
) -> Result<String, TokenError> {
    if let Some(field) = RESERVED_CONFIG_FIELDS
        .iter()
        .find(|field| config.contains_key(**field))
    {
        return Err(TokenError::Config(format!(
            "editor configuration must not have a top-level `{field}` field"
        )));
    }
    let expires_at = expiry(now, lifetime_secs)?;

    let mut claims = config.clone();
    claims.insert("iat".to_owned(), Value::from(now));
    claims.insert("exp".to_owned(), Value::from(expires_at));
    jwt::sign_hs256(&claims, secret.bytes())
}

/// Verifies a Document Server body token (the `token` field of a callback body) and returns its
/// flat claims, `iat` and `exp` included. Routes must read the callback from these claims and
/// ignore the unsigned body fields.
///
/// # Errors
///
/// Structure, algorithm, header, signature and time errors as for every token, and
/// [`TokenError::WrongAudience`] when the claims have a `payload` field, because that is the
/// header form.
pub fn verify_ds_body_token(
    secret: &DsSecret,
    token: &str,
    now: u64,
) -> Result<Map<String, Value>, TokenError> {
    let claims = verify_ds_token(secret, token, now)?;
    if claims.contains_key("payload") {
        return Err(TokenError::WrongAudience);
    }
    Ok(claims)
}

/// Verifies a Document Server header token, given the whole header value `Bearer <jwt>`, and
/// returns its `payload` object.
///
/// # Errors
///
/// The errors of [`super::parse_bearer`], structure, algorithm, header, signature and time errors
/// as for every token, and [`TokenError::InvalidClaim`] when `payload` is missing or is not a JSON
/// object (a JSON string holding an object is rejected too).
pub fn verify_ds_header_token(
    secret: &DsSecret,
    header_value: &str,
    now: u64,
) -> Result<Map<String, Value>, TokenError> {
    let token = jwt::parse_bearer(header_value)?;
    let mut claims = verify_ds_token(secret, token, now)?;
    match claims.remove("payload") {
        Some(Value::Object(payload)) => Ok(payload),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: "payload",
            reason: "not a JSON object",
        }),
        None => Err(TokenError::InvalidClaim {
            claim: "payload",
            reason: "missing",
        }),
    }
}

/// Verifies the header token that the Document Server sends when it downloads `binaire`: claims
/// `{"payload": {"url": …}}` where `url` must be the requested URL. Two URLs match when they are
/// byte-equal or when both parse to the same normalized URL (scheme and host case, default port,
/// percent-encoding of characters that must be encoded).
///
/// # Errors
///
/// The errors of [`verify_ds_header_token`], [`TokenError::InvalidClaim`] when `payload.url` is
/// missing or not a string, and [`TokenError::WrongUrl`] when it names another URL.
pub fn verify_ds_download_header(
    secret: &DsSecret,
    header_value: &str,
    expected_url: &str,
    now: u64,
) -> Result<(), TokenError> {
    let payload = verify_ds_header_token(secret, header_value, now)?;
    let Some(Value::String(signed_url)) = payload.get("url") else {
        return Err(TokenError::InvalidClaim {
            claim: "payload.url",
            reason: "missing or not a string",
        });
    };
    if same_url(signed_url, expected_url) {
        Ok(())
    } else {
        Err(TokenError::WrongUrl)
    }
}

fn same_url(signed: &str, expected: &str) -> bool {
    if signed == expected {
        return true;
    }
    match (Url::parse(signed), Url::parse(expected)) {
        (Ok(signed), Ok(expected)) => signed == expected,
        _ => false,
    }
}

/// Verifies a token signed by the Document Server. A `kid` header is tolerated and ignored
/// because only one Document Server secret is configured.
fn verify_ds_token(
    secret: &DsSecret,
    token: &str,
    now: u64,
) -> Result<Map<String, Value>, TokenError> {
    jwt::verify_hs256(token, secret.bytes(), true, now, secret.leeway())
}

#[cfg(test)]
#[path = "ds_tests.rs"]
mod tests;
