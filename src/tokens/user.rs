//! Efalia user tokens: the JWT that Efalia's identity provider issues and that user routes receive
//! as `Authorization: Bearer <jwt>`.

use std::fmt;

use serde_json::{Map, Value};

use super::TokenError;
use super::access::AccessKind;
use super::jwt::{self, HS256, HeaderRules, Leeway};
use super::public_key::PublicKey;
use super::secret::SecretKey;

/// Setting that contains the HS256 secret of user tokens.
pub const USER_SECRET_SETTING: &str = "user_jwt_secret";
/// Setting that contains the PEM public key of user tokens.
pub const USER_PUBLIC_KEY_SETTING: &str = "user_jwt_public_key";

/// Role that grants administration rights.
const ADMIN_ROLE: &str = "admin";

/// Settings for user tokens. Exactly one of `secret` and `public_key_pem` must be set. An empty
/// string counts as unset, because unset configuration variables often read as empty.
#[derive(Clone, Default)]
pub struct UserJwtSettings {
    /// HS256 secret (`user_jwt_secret`).
    pub secret: Option<String>,
    /// PEM public key (`user_jwt_public_key`): RSA selects RS256, EC P-256 selects ES256 and
    /// Ed25519 selects EdDSA.
    pub public_key_pem: Option<String>,
    /// Required `iss` value (`user_jwt_issuer`), when set.
    pub issuer: Option<String>,
    /// Value that `aud` must contain (`user_jwt_audience`), when set.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Leeway,
}

impl fmt::Debug for UserJwtSettings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UserJwtSettings")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// The authenticated user, taken from a verified user token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Efalia user id (`sub`), never empty.
    pub id: String,
    /// Display name (`name`), or the id when the token has no non-empty name.
    pub name: String,
    /// Whether `roles` contains `admin`.
    pub is_admin: bool,
    /// Whether `changement_mot_de_passe_requis` is true, in which case user routes respond with 403.
    pub must_change_password: bool,
}

/// The key that signs user tokens. Each variant pins one algorithm.
enum UserKey {
    Hs256(SecretKey),
    /// RS256, ES256 or EdDSA, depending on the key type.
    Public(PublicKey),
}

impl UserKey {
    fn algorithm(&self) -> &'static str {
        match self {
            Self::Hs256(_) => HS256,
            Self::Public(key) => key.algorithm(),
        }
    }
}

/// Verifies user tokens with the configured key, issuer and audience.
pub struct UserVerifier {
    key: UserKey,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Leeway,
}

impl fmt::Debug for UserVerifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UserVerifier")
            .field("algorithm", &self.key.algorithm())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl UserVerifier {
    /// Builds a verifier from the settings, detecting the key type of a PEM key.
    ///
    /// # Errors
    ///
    /// [`TokenError::Config`] when both or neither of the key settings are set, or when the PEM
    /// is not an RSA (2048 to 4096 bits), EC P-256 or Ed25519 public key.
    /// [`TokenError::WeakSecret`] naming `user_jwt_secret` when the secret is weak.
    pub fn from_settings(settings: &UserJwtSettings) -> Result<Self, TokenError> {
        let secret = non_empty(settings.secret.as_deref());
        let public_key_pem = non_empty(settings.public_key_pem.as_deref());

        let key = match (secret, public_key_pem) {
            (Some(secret), None) => UserKey::Hs256(SecretKey::new(USER_SECRET_SETTING, secret)?),
            (None, Some(pem)) => UserKey::Public(PublicKey::from_pem(pem)?),
            (Some(_), Some(_)) => {
                return Err(TokenError::Config(format!(
                    "both {USER_SECRET_SETTING} and {USER_PUBLIC_KEY_SETTING} are set; set only one"
                )));
            }
            (None, None) => {
                return Err(TokenError::Config(format!(
                    "neither {USER_SECRET_SETTING} nor {USER_PUBLIC_KEY_SETTING} is set; set one to verify user tokens"
                )));
            }
        };

        Ok(Self {
            key,
            issuer: non_empty(settings.issuer.as_deref()).map(str::to_owned),
            audience: non_empty(settings.audience.as_deref()).map(str::to_owned),
            leeway: settings.leeway,
        })
    }

    /// Returns the JOSE algorithm that every accepted token must name.
    pub fn algorithm(&self) -> &'static str {
        self.key.algorithm()
    }

    /// Verifies the token in an `Authorization: Bearer <jwt>` value, as [`Self::verify`] does.
    ///
    /// # Errors
    ///
    /// The errors of [`super::parse_bearer`] and of [`Self::verify`].
    pub fn verify_bearer(&self, header_value: &str, now: u64) -> Result<User, TokenError> {
        self.verify(jwt::parse_bearer(header_value)?, now)
    }

    /// Verifies a user token at Unix time `now` (seconds) and returns its user.
    ///
    /// A `kid` header is tolerated and ignored because only one key is configured. A token whose
    /// `aud` names a connector access token audience is rejected even when no audience is configured.
    ///
    /// # Errors
    ///
    /// Structure, algorithm, header, signature and time errors as for every token,
    /// [`TokenError::WrongIssuer`] and [`TokenError::WrongAudience`] for the configured checks, and
    /// [`TokenError::InvalidClaim`] for a missing or empty `sub` or a mistyped optional claim.
    pub fn verify(&self, token: &str, now: u64) -> Result<User, TokenError> {
        let rules = HeaderRules {
            algorithm: self.key.algorithm(),
            allow_key_id: true,
        };
        let compact = jwt::parse_compact(token, &rules)?;
        match &self.key {
            UserKey::Hs256(secret) => jwt::verify_hmac(&compact, secret.bytes())?,
            UserKey::Public(key) => {
                key.verify(compact.signing_input.as_bytes(), &compact.signature)?
            }
        }

        let claims = jwt::decode_claims(&compact)?;
        jwt::check_times(&claims, now, self.leeway)?;
        self.check_issuer(&claims)?;
        self.check_audience(&claims)?;
        user_from_claims(&claims)
    }

    fn check_issuer(&self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        let Some(expected) = &self.issuer else {
            return Ok(());
        };
        match claims.get("iss") {
            Some(Value::String(issuer)) if issuer == expected => Ok(()),
            _ => Err(TokenError::WrongIssuer),
        }
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), TokenError> {
        let audiences: Vec<&str> = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(audience)) => vec![audience.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(TokenError::InvalidClaim {
                    claim: "aud",
                    reason: "not a string or an array of strings",
                });
            }
        };

        let connector_audiences = [
            AccessKind::Download.audience(),
            AccessKind::Callback.audience(),
        ];
        if audiences
            .iter()
            .any(|audience| connector_audiences.contains(audience))
        {
            return Err(TokenError::WrongAudience);
        }

        match &self.audience {
            Some(expected) if !audiences.contains(&expected.as_str()) => {
                Err(TokenError::WrongAudience)
            }
            _ => Ok(()),
        }
    }

    /// Returns the user secret when user tokens use HS256, for the distinct-secrets check.
    pub(crate) fn hmac_key(&self) -> Option<&SecretKey> {
        match &self.key {
            UserKey::Hs256(secret) => Some(secret),
            _ => None,
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

fn user_from_claims(claims: &Map<String, Value>) -> Result<User, TokenError> {
    let id = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        Some(Value::String(_)) => return Err(invalid("sub", "empty")),
        Some(_) => return Err(invalid("sub", "not a string")),
        None => return Err(invalid("sub", "missing")),
    };

    let name = match claims.get("name") {
        None | Some(Value::Null) => id.clone(),
        Some(Value::String(name)) if name.trim().is_empty() => id.clone(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(invalid("name", "not a string")),
    };

    let is_admin = match claims.get("roles") {
        None | Some(Value::Null) => false,
        Some(Value::Array(roles)) => {
            if !roles.iter().all(Value::is_string) {
                return Err(invalid("roles", "not an array of strings"));
            }
            roles.iter().any(|role| role.as_str() == Some(ADMIN_ROLE))
        }
        Some(_) => return Err(invalid("roles", "not an array of strings")),
    };

    let must_change_password = match claims.get("changement_mot_de_passe_requis") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(required)) => *required,
        Some(_) => return Err(invalid("changement_mot_de_passe_requis", "not a boolean")),
    };

    Ok(User {
        id,
        name,
        is_admin,
        must_change_password,
    })
}

fn invalid(claim: &'static str, reason: &'static str) -> TokenError {
    TokenError::InvalidClaim { claim, reason }
}

#[cfg(test)]
#[path = "user_tests.rs"]
mod tests;
