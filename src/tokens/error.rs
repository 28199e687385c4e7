//! The single error type of the token module.

use thiserror::Error;

/// Reason why a token was rejected or could not be issued, or why a token setting is unusable.
///
/// Messages are meant for logs. They never contain a token, a claim value taken from a token, or a
/// secret, so a route may log them as they are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// No token was sent: empty value, or a `Bearer` scheme without credentials.
    #[error("token is missing")]
    Missing,

    /// The token or the `Authorization` value does not have the expected structure.
    #[error("malformed token: {0}")]
    Malformed(&'static str),

    /// The header names an algorithm other than the one pinned for this kind of token.
    #[error("token algorithm is not the expected {expected}")]
    WrongAlgorithm {
        /// The only algorithm accepted for this kind of token.
        expected: &'static str,
    },

    /// The header carries a parameter that this verifier never accepts, such as `jku` or `crit`.
    #[error("token header parameter `{0}` is not accepted")]
    ForbiddenHeader(&'static str),

    /// `exp` is further in the past than the leeway allows.
    #[error("token has expired")]
    Expired,

    /// `nbf` or `iat` is further in the future than the leeway allows.
    #[error("token is not valid yet")]
    NotYetValid,

    /// The signature does not match the configured key.
    #[error("token signature is invalid")]
    BadSignature,

    /// A required claim is missing, or a claim has the wrong type or an invalid value.
    #[error("invalid `{claim}` claim: {reason}")]
    InvalidClaim {
        /// Name of the claim.
        claim: &'static str,
        /// Rule that the claim breaks.
        reason: &'static str,
    },

    /// The token was issued for another purpose: wrong or missing `aud`, or the wrong token form.
    #[error("token audience does not match this route")]
    WrongAudience,

    /// An access token that is valid but bound to another document.
    #[error("token was issued for another document")]
    WrongDocument,

    /// `iss` is missing or differs from the `user_jwt_issuer` setting.
    #[error("token issuer does not match the user_jwt_issuer setting")]
    WrongIssuer,

    /// The `url` signed by the Document Server differs from the URL that was requested.
    #[error("token was issued for another URL")]
    WrongUrl,

    /// A secret setting is empty, a well-known default, too short or shared with another setting.
    #[error("setting `{setting}` is rejected: {reason}")]
    WeakSecret {
        /// Name of the setting, such as `onlyoffice_jwt_secret`.
        setting: &'static str,
        /// Rule that the value breaks, and how to fix it.
        reason: &'static str,
    },

    /// The settings or the arguments given to this module cannot work, for example an unreadable
    /// PEM key or a token lifetime of zero.
    #[error("token configuration error: {0}")]
    Config(String),
}

impl TokenError {
    /// Returns true when the error comes from the server's own settings or arguments rather than
    /// from the request, so that a route responds with 500 instead of 401 or 403.
    pub fn is_server_error(&self) -> bool {
        matches!(self, Self::WeakSecret { .. } | Self::Config(_))
    }
}
