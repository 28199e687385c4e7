//! Validated HMAC secrets: the Document Server secret, the connector secret and the optional user
//! secret, each rejected when weak and never shown by `Debug`.

use std::fmt;

use zeroize::Zeroizing;

use super::{Leeway, TokenError, UserVerifier};

/// Smallest secret accepted, in bytes. RFC 7518 (section 3.2) requires an HS256 key at least as
/// long as the 256-bit hash output.
pub const MIN_SECRET_BYTES: usize = 32;

/// Values that installation guides, sample code and jwt.io put in secret settings, compared
/// without regard to case. The short ones are also caught by the length rule, but naming the
/// cause helps the operator.
const KNOWN_DEFAULT_SECRETS: [&str; 13] = [
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "onlyoffice",
    "password",
    "jwt_secret",
    "jwt-secret",
    "jwtsecret",
    "default",
    "your-256-bit-secret",
    "your-secret-key",
    "a-string-secret-at-least-256-bits-long",
];

/// An HMAC key read from one setting, wiped from memory when dropped.
#[derive(Clone)]
pub(crate) struct SecretKey {
    setting: &'static str,
    bytes: Zeroizing<Vec<u8>>,
}

impl SecretKey {
    /// Validates `value`, the content of `setting`.
    ///
    /// # Errors
    ///
    /// [`TokenError::WeakSecret`] naming `setting` when the value is empty, a known default, has
    /// leading or trailing whitespace, repeats one character, or is shorter than
    /// [`MIN_SECRET_BYTES`].
    pub(crate) fn new(setting: &'static str, value: &str) -> Result<Self, TokenError> {
        let reject = |reason| Err(TokenError::WeakSecret { setting, reason });

        if value.is_empty() {
            return reject("it is missing or empty (set a random value of at least 32 bytes)");
        }
        if KNOWN_DEFAULT_SECRETS
            .iter()
            .any(|default| default.eq_ignore_ascii_case(value))
        {
            return reject(
                "it is a well-known default value (set a random value of at least 32 bytes)",
            );
        }
        if value.trim() != value {
            return reject("it starts or ends with whitespace (remove the whitespace)");
        }
        if value.len() < MIN_SECRET_BYTES {
            return reject("it is shorter than 32 bytes (set a random value of at least 32 bytes)");
        }
        let first = value.as_bytes()[0];
        if value.bytes().all(|byte| byte == first) {
            return reject(
                "it repeats a single character (set a random value of at least 32 bytes)",
            );
        }

        Ok(Self {
            setting,
            bytes: Zeroizing::new(value.as_bytes().to_vec()),
        })
    }

    pub(crate) fn setting(&self) -> &'static str {
        self.setting
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SecretKey")
            .field("setting", &self.setting)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// The secret shared with the Document Server (setting `onlyoffice_jwt_secret`). It signs the
/// editor configuration and verifies the callback and download tokens that the server sends.
#[derive(Debug, Clone)]
pub struct DsSecret {
    key: SecretKey,
    leeway: Leeway,
}

impl DsSecret {
    /// Name of the setting that contains this secret.
    pub const SETTING: &'static str = "onlyoffice_jwt_secret";

    /// Validates the Document Server secret. Verification uses the default leeway of 60 seconds.
    ///
    /// # Errors
    ///
    /// [`TokenError::WeakSecret`] naming `onlyoffice_jwt_secret` when `value` is empty, a known
    /// default such as `secret`, shorter than 32 bytes, or otherwise weak (see [`MIN_SECRET_BYTES`]).
    pub fn new(value: &str) -> Result<Self, TokenError> {
        Ok(Self {
            key: SecretKey::new(Self::SETTING, value)?,
            leeway: Leeway::default(),
        })
    }

    /// Replaces the clock skew tolerated when verifying Document Server tokens.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Leeway) -> Self {
        self.leeway = leeway;
        self
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.key.bytes()
    }

    pub(crate) fn leeway(&self) -> Leeway {
        self.leeway
    }
}

/// The connector's own secret (setting `connector_secret`). It signs the download and callback
/// tokens that `acces` puts in URLs, and nothing else.
#[derive(Debug, Clone)]
pub struct ConnectorSecret {
    key: SecretKey,
    leeway: Leeway,
}

impl ConnectorSecret {
    /// Name of the setting that contains this secret.
    pub const SETTING: &'static str = "connector_secret";

    /// Validates the connector secret with the same rules as [`DsSecret::new`]. Verification uses
    /// the default leeway of 60 seconds.
    ///
    /// # Errors
    ///
    /// [`TokenError::WeakSecret`] naming `connector_secret` when `value` is weak.
    pub fn new(value: &str) -> Result<Self, TokenError> {
        Ok(Self {
            key: SecretKey::new(Self::SETTING, value)?,
            leeway: Leeway::default(),
        })
    }

    /// Replaces the clock skew tolerated when verifying download and callback tokens.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Leeway) -> Self {
        self.leeway = leeway;
        self
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.key.bytes()
    }

    pub(crate) fn leeway(&self) -> Leeway {
        self.leeway
    }
}

/// Checks that no two token kinds share a key: the connector secret, the Document Server secret
/// and the user secret (when user tokens use HS256) must all differ. Run it whenever the settings
/// are loaded, because a shared key would let one kind of token pass as another.
///
/// # Errors
///
/// [`TokenError::WeakSecret`] naming the second setting of the first pair found equal.
pub fn ensure_distinct_secrets(
    ds: &DsSecret,
    connector: &ConnectorSecret,
    user: Option<&UserVerifier>,
) -> Result<(), TokenError> {
    if ds.bytes() == connector.bytes() {
        return Err(TokenError::WeakSecret {
            setting: ConnectorSecret::SETTING,
            reason: "it equals onlyoffice_jwt_secret (set an independent random value)",
        });
    }

    let Some(user_key) = user.and_then(UserVerifier::hmac_key) else {
        return Ok(());
    };
    if user_key.bytes() == ds.bytes() {
        return Err(TokenError::WeakSecret {
            setting: user_key.setting(),
            reason: "it equals onlyoffice_jwt_secret (each token kind needs its own key)",
        });
    }
    if user_key.bytes() == connector.bytes() {
        return Err(TokenError::WeakSecret {
            setting: user_key.setting(),
            reason: "it equals connector_secret (each token kind needs its own key)",
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "secret_tests.rs"]
mod tests;
