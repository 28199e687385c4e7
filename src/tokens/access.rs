//! Download and callback tokens: what `acces` mints and puts in the `authorization` query
//! parameter of the `binaire` and `callback` URLs, signed with `connector_secret`.
//!
//! Each kind has its own audience, so a download token never passes as a callback token nor the
//! reverse, and each token is bound to one document, one user and one right.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::TokenError;
use super::jwt;
use super::secret::ConnectorSecret;

/// Default lifetime of a download token: 15 minutes, enough for the Document Server to fetch the
/// file after the editor opens.
pub const DEFAULT_DOWNLOAD_LIFETIME_SECS: u64 = 15 * 60;

/// Default lifetime of a callback token: 30 days, the Document Server's default session length,
/// because the server may call back for any editor of a session until the session ends.
pub const DEFAULT_CALLBACK_LIFETIME_SECS: u64 = 30 * 24 * 60 * 60;

/// Purpose of an access token, written in its `aud` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Reads the binary through `binaire` (audience `oo-binaire`).
    Download,
    /// Authorizes the save callback on `remplacer` (audience `oo-callback`).
    Callback,
}

impl AccessKind {
    /// Returns the `aud` value of this kind.
    pub fn audience(self) -> &'static str {
        match self {
            Self::Download => "oo-binaire",
            Self::Callback => "oo-callback",
        }
    }

    /// Returns the default lifetime of this kind, in seconds.
    pub fn default_lifetime_secs(self) -> u64 {
        match self {
            Self::Download => DEFAULT_DOWNLOAD_LIFETIME_SECS,
            Self::Callback => DEFAULT_CALLBACK_LIFETIME_SECS,
        }
    }
}

/// Right granted on the document, written in the `droit` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// Read only (`lecture`).
    Read,
    /// Read and write (`ecriture`).
    Write,
}

impl Right {
    /// Returns the `droit` value of this right.
    pub fn as_claim(self) -> &'static str {
        match self {
            Self::Read => "lecture",
            Self::Write => "ecriture",
        }
    }

    fn from_claim(value: &str) -> Option<Self> {
        match value {
            "lecture" => Some(Self::Read),
            "ecriture" => Some(Self::Write),
            _ => None,
        }
    }
}

/// Claims of a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// Purpose of the token, checked against the expected kind.
    pub kind: AccessKind,
    /// Document the token is bound to (`doc`), equal to the expected document.
    pub document: Uuid,
    /// Efalia user id of the user who opened the editor (`sub`).
    pub user: String,
    /// Right granted (`droit`). Routes decide what each right allows.
    pub right: Right,
    /// Issue time (`iat`), Unix seconds.
    pub issued_at: u64,
    /// Expiry time (`exp`), Unix seconds.
    pub expires_at: u64,
    /// Random token id (`jti`).
    pub token_id: String,
}

/// Mints an access token of `kind` for `user` on `document`, valid from `now` for
/// `lifetime_secs` seconds, with a random `jti`.
///
/// The right is written as given: minting a read-only callback token is allowed, and the callback
/// route decides what to do with it.
///
/// # Errors
///
/// [`TokenError::Config`] when `user` is empty, `lifetime_secs` is zero, or the expiry overflows.
pub fn mint_access(
    secret: &ConnectorSecret,
    kind: AccessKind,
    document: Uuid,
    user: &str,
    right: Right,
    now: u64,
    lifetime_secs: u64,
) -> Result<String, TokenError> {
    if user.is_empty() {
        return Err(TokenError::Config(
            "cannot mint an access token for an empty user id".to_owned(),
        ));
    }
    let expires_at = expiry(now, lifetime_secs)?;

    let mut claims = Map::new();
    claims.insert("aud".to_owned(), Value::from(kind.audience()));
    claims.insert(
        "doc".to_owned(),
        Value::from(document.hyphenated().to_string()),
    );
    claims.insert("sub".to_owned(), Value::from(user));
    claims.insert("droit".to_owned(), Value::from(right.as_claim()));
    claims.insert("iat".to_owned(), Value::from(now));
    claims.insert("exp".to_owned(), Value::from(expires_at));
    claims.insert(
        "jti".to_owned(),
        Value::from(Uuid::new_v4().simple().to_string()),
    );

    jwt::sign_hs256(&claims, secret.bytes())
}

/// Returns `now + lifetime_secs`.
///
/// # Errors
///
/// [`TokenError::Config`] when the lifetime is zero or the sum overflows.
pub(crate) fn expiry(now: u64, lifetime_secs: u64) -> Result<u64, TokenError> {
    if lifetime_secs == 0 {
        return Err(TokenError::Config(
            "token lifetime must be at least 1 s".to_owned(),
        ));
    }
    now.checked_add(lifetime_secs)
        .ok_or_else(|| TokenError::Config("token expiry overflows a Unix timestamp".to_owned()))
}

/// Verifies an access token of `kind` for `expected_document` at Unix time `now` (seconds).
///
/// Checks, in order: structure, `alg` = HS256 with no `kid`, `jku`, `jwk`, `x5u`, `x5c` or `crit`
/// header, signature with `connector_secret`, time claims, `aud` of `kind`, `doc`, and then the
/// presence of `sub`, `droit`, `iat` and `jti`.
///
/// # Errors
///
/// - Structure, algorithm, header, signature and time errors, as for every token.
/// - [`TokenError::WrongAudience`] for a token of another kind or without `aud`.
/// - [`TokenError::WrongDocument`] for a valid token bound to another document. Routes respond
///   with 403 to it.
/// - [`TokenError::InvalidClaim`] for a missing or invalid claim.
pub fn verify_access(
    secret: &ConnectorSecret,
    kind: AccessKind,
    token: &str,
    expected_document: &Uuid,
    now: u64,
) -> Result<AccessClaims, TokenError> {
    let claims = jwt::verify_hs256(token, secret.bytes(), false, now, secret.leeway())?;

    match claims.get("aud") {
        Some(Value::String(audience)) if audience == kind.audience() => {}
        _ => return Err(TokenError::WrongAudience),
    }

    let document = string_claim(&claims, "doc")?;
    let document = Uuid::parse_str(document).map_err(|_| TokenError::InvalidClaim {
        claim: "doc",
        reason: "not a UUID",
    })?;
    if document != *expected_document {
        return Err(TokenError::WrongDocument);
    }

    let user = string_claim(&claims, "sub")?.to_owned();
    let right =
        Right::from_claim(string_claim(&claims, "droit")?).ok_or(TokenError::InvalidClaim {
            claim: "droit",
            reason: "neither lecture nor ecriture",
        })?;
    let token_id = string_claim(&claims, "jti")?.to_owned();
    let issued_at = integer_claim(&claims, "iat")?;
    let expires_at = integer_claim(&claims, "exp")?;

    Ok(AccessClaims {
        kind,
        document,
        user,
        right,
        issued_at,
        expires_at,
        token_id,
    })
}

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, TokenError> {
    match claims.get(name) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value),
        Some(Value::String(_)) => Err(TokenError::InvalidClaim {
            claim: name,
            reason: "empty",
        }),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: name,
            reason: "not a string",
        }),
        None => Err(TokenError::InvalidClaim {
            claim: name,
            reason: "missing",
        }),
    }
}

fn integer_claim(claims: &Map<String, Value>, name: &'static str) -> Result<u64, TokenError> {
    claims
        .get(name)
        .and_then(Value::as_u64)
        .ok_or(TokenError::InvalidClaim {
            claim: name,
            reason: "missing or not a non-negative integer",
        })
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
