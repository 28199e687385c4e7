//! Compact JWS handling shared by every token kind: strict parsing of the three base64url parts,
//! header checks, HS256 signing and verification, time-claim checks and `Bearer` parsing.
//!
//! Verification always runs in this order: structure, header (algorithm pinned), signature, then
//! claims. No claim is read before the signature has been checked.

use ct_codecs::{Base64UrlSafeNoPadding, Decoder, Encoder};
use hmac_sha256::HMAC;
use serde_json::{Map, Value};

use super::TokenError;

/// JOSE name of HMAC with SHA-256, the only algorithm used for the connector's and the Document
/// Server's tokens.
pub(crate) const HS256: &str = "HS256";

/// Largest token accepted, in bytes. A Document Server callback body token carries the whole
/// callback, `history` included, so the limit is generous.
pub(crate) const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// Largest encoded header accepted, in bytes.
const MAX_HEADER_BYTES: usize = 4096;

/// Header parameters that point to or carry a key. Honouring them would let the sender choose the
/// verification key, so a token that has any of them is rejected and nothing is ever fetched.
const KEY_LOCATING_HEADERS: [&str; 4] = ["jku", "jwk", "x5u", "x5c"];

/// Header written on every token this module signs.
const HS256_HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Clock skew tolerated when checking `exp`, `nbf` and `iat`, at most 60 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leeway(u64);

impl Leeway {
    /// Largest leeway accepted, in seconds. The Document Server uses the same tolerance.
    pub const MAX_SECS: u64 = 60;

    /// Creates a leeway of `secs` seconds.
    ///
    /// # Errors
    ///
    /// [`TokenError::Config`] when `secs` is above [`Leeway::MAX_SECS`].
    pub fn new(secs: u64) -> Result<Self, TokenError> {
        if secs > Self::MAX_SECS {
            return Err(TokenError::Config(format!(
                "token leeway of {secs} s is above the maximum of {} s",
                Self::MAX_SECS
            )));
        }
        Ok(Self(secs))
    }

    /// Returns the leeway in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }
}

impl Default for Leeway {
    /// Returns the maximum leeway, 60 seconds.
    fn default() -> Self {
        Self(Self::MAX_SECS)
    }
}

/// Header parameters accepted for one kind of token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderRules {
    /// The only `alg` value accepted.
    pub algorithm: &'static str,
    /// Whether a `kid` parameter is tolerated. It is never used to choose a key, because each kind
    /// of token has exactly one configured key.
    pub allow_key_id: bool,
}

/// A token split into its parts, with its header checked but its signature not yet verified.
pub(crate) struct CompactToken<'a> {
    /// `header.payload`, the bytes covered by the signature.
    pub signing_input: &'a str,
    payload_b64: &'a str,
    /// Decoded signature bytes.
    pub signature: Vec<u8>,
}

/// Splits `token` into its three parts and checks the header against `rules`.
///
/// # Errors
///
/// [`TokenError::Missing`] for an empty token, [`TokenError::Malformed`] for a token that is not
/// three base64url parts with a JSON object header, [`TokenError::WrongAlgorithm`] and
/// [`TokenError::ForbiddenHeader`] for a header that breaks `rules`, and
/// [`TokenError::BadSignature`] for an empty signature.
pub(crate) fn parse_compact<'a>(
    token: &'a str,
    rules: &HeaderRules,
) -> Result<CompactToken<'a>, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("token is longer than 1 MiB"));
    }

    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "token does not have exactly three parts",
        ));
    };
    if header_b64.is_empty() || payload_b64.is_empty() {
        return Err(TokenError::Malformed(
            "token has an empty header or payload",
        ));
    }
    if header_b64.len() > MAX_HEADER_BYTES {
        return Err(TokenError::Malformed("token header is longer than 4 KiB"));
    }

    let header = decode_json_object(header_b64, "token header is not a base64url JSON object")?;
    check_header(&header, rules)?;

    // The header is checked first, so that `alg: none` with an empty signature reports the
    // algorithm rather than a missing signature.
    if signature_b64.is_empty() {
        return Err(TokenError::BadSignature);
    }
    let signature = Base64UrlSafeNoPadding::decode_to_vec(signature_b64, None)
        .map_err(|_| TokenError::Malformed("token signature is not base64url"))?;

    Ok(CompactToken {
        signing_input: &token[..header_b64.len() + 1 + payload_b64.len()],
        payload_b64,
        signature,
    })
}

fn check_header(header: &Map<String, Value>, rules: &HeaderRules) -> Result<(), TokenError> {
    match header.get("alg") {
        Some(Value::String(alg)) if alg == rules.algorithm => {}
        Some(Value::String(_)) => {
            return Err(TokenError::WrongAlgorithm {
                expected: rules.algorithm,
            });
        }
        Some(_) => return Err(TokenError::Malformed("token header `alg` is not a string")),
        None => return Err(TokenError::Malformed("token header has no `alg`")),
    }

    for name in KEY_LOCATING_HEADERS {
        if header.contains_key(name) {
            return Err(TokenError::ForbiddenHeader(name));
        }
    }
    // No extension is implemented, so any critical one must be rejected (RFC 7515, section 4.1.11).
    if header.contains_key("crit") {
        return Err(TokenError::ForbiddenHeader("crit"));
    }
    if !rules.allow_key_id && header.contains_key("kid") {
        return Err(TokenError::ForbiddenHeader("kid"));
    }

    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(typ)) if is_jwt_type(typ) => Ok(()),
        Some(_) => Err(TokenError::Malformed("token header `typ` is not JWT")),
    }
}

/// Accepts `JWT` and structured types such as `at+jwt` (RFC 9068), in any case.
fn is_jwt_type(typ: &str) -> bool {
    let lower = typ.to_ascii_lowercase();
    lower == "jwt" || lower.ends_with("+jwt")
}

/// Checks an HS256 signature in constant time.
///
/// # Errors
///
/// [`TokenError::BadSignature`] when the signature is not the HMAC of the signing input with `key`.
pub(crate) fn verify_hmac(token: &CompactToken<'_>, key: &[u8]) -> Result<(), TokenError> {
    let Ok(expected) = <&[u8; 32]>::try_from(token.signature.as_slice()) else {
        return Err(TokenError::BadSignature);
    };
    if HMAC::verify(token.signing_input, key, expected) {
        Ok(())
    } else {
        Err(TokenError::BadSignature)
    }
}

/// Decodes the payload of a token whose signature has already been verified.
///
/// # Errors
///
/// [`TokenError::Malformed`] when the payload is not a base64url JSON object.
pub(crate) fn decode_claims(token: &CompactToken<'_>) -> Result<Map<String, Value>, TokenError> {
    decode_json_object(
        token.payload_b64,
        "token payload is not a base64url JSON object",
    )
}

fn decode_json_object(
    part_b64: &str,
    error: &'static str,
) -> Result<Map<String, Value>, TokenError> {
    let bytes = Base64UrlSafeNoPadding::decode_to_vec(part_b64, None)
        .map_err(|_| TokenError::Malformed(error))?;
    serde_json::from_slice::<Map<String, Value>>(&bytes).map_err(|_| TokenError::Malformed(error))
}

/// Checks the time claims: `exp` is required, `nbf` and `iat` are optional. `now` and every claim
/// are Unix times in seconds, and each bound is inclusive.
///
/// # Errors
///
/// [`TokenError::InvalidClaim`] when `exp` is missing or a time claim is not a non-negative number,
/// [`TokenError::Expired`] when `exp + leeway < now`, [`TokenError::NotYetValid`] when `nbf` or
/// `iat` is after `now + leeway`.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    now: u64,
    leeway: Leeway,
) -> Result<(), TokenError> {
    // f64 represents every integer below 2^53 exactly, so integer timestamps compare exactly.
    let now = now as f64;
    let leeway = leeway.secs() as f64;

    let Some(expires_at) = numeric_date(claims, "exp")? else {
        return Err(TokenError::InvalidClaim {
            claim: "exp",
            reason: "missing",
        });
    };
    if expires_at + leeway < now {
        return Err(TokenError::Expired);
    }

    for name in ["nbf", "iat"] {
        if let Some(time) = numeric_date(claims, name)?
            && time > now + leeway
        {
            return Err(TokenError::NotYetValid);
        }
    }
    Ok(())
}

/// Reads a NumericDate claim (RFC 7519, section 2): seconds since the Unix epoch, possibly with a
/// fraction.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, TokenError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    match value.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(Some(seconds)),
        _ => Err(TokenError::InvalidClaim {
            claim: name,
            reason: "not a non-negative number of seconds",
        }),
    }
}

/// Verifies an HS256 token with `key` and returns all of its claims.
///
/// # Errors
///
/// Any error of [`parse_compact`], [`verify_hmac`], [`decode_claims`] and [`check_times`].
pub(crate) fn verify_hs256(
    token: &str,
    key: &[u8],
    allow_key_id: bool,
    now: u64,
    leeway: Leeway,
) -> Result<Map<String, Value>, TokenError> {
    let rules = HeaderRules {
        algorithm: HS256,
        allow_key_id,
    };
    let compact = parse_compact(token, &rules)?;
    verify_hmac(&compact, key)?;
    let claims = decode_claims(&compact)?;
    check_times(&claims, now, leeway)?;
    Ok(claims)
}

/// Signs `claims` with HS256 under a `{"alg":"HS256","typ":"JWT"}` header.
///
/// # Errors
///
/// [`TokenError::Config`] when the claims cannot be encoded.
pub(crate) fn sign_hs256(claims: &Map<String, Value>, key: &[u8]) -> Result<String, TokenError> {
    let payload_json = serde_json::to_vec(claims).map_err(|error| {
        TokenError::Config(format!("failed to serialize token claims: {error}"))
    })?;

    let mut token = encode_part(HS256_HEADER_JSON.as_bytes())?;
    token.push('.');
    token.push_str(&encode_part(&payload_json)?);

    let signature = HMAC::mac(token.as_bytes(), key);
    token.push('.');
    token.push_str(&encode_part(&signature)?);
    Ok(token)
}

fn encode_part(bytes: &[u8]) -> Result<String, TokenError> {
    Base64UrlSafeNoPadding::encode_to_string(bytes)
        .map_err(|_| TokenError::Config("failed to base64url-encode a token part".to_owned()))
}

/// Extracts the token from an `Authorization`-style value of the form `Bearer <token>`.
///
/// The scheme is matched case-insensitively (RFC 7235, section 2.1), followed by exactly one space
/// and one token68 value (RFC 7235, section 2.1). Leading, trailing or repeated spaces are rejected.
///
/// # Errors
///
/// [`TokenError::Missing`] for an empty value or a `Bearer` scheme without credentials,
/// [`TokenError::Malformed`] for another scheme or for anything besides a single token.
pub fn parse_bearer(header_value: &str) -> Result<&str, TokenError> {
    if header_value.is_empty() {
        return Err(TokenError::Missing);
    }

    let Some((scheme, credentials)) = header_value.split_once(' ') else {
        if header_value.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::Missing);
        }
        return Err(TokenError::Malformed("authorization scheme is not Bearer"));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Malformed("authorization scheme is not Bearer"));
    }
    if credentials.is_empty() {
        return Err(TokenError::Missing);
    }
    if !is_token68(credentials) {
        return Err(TokenError::Malformed(
            "bearer credentials are not a single token68 value",
        ));
    }
    Ok(credentials)
}

/// Checks the token68 grammar: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte))
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
