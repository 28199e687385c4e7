//! The four token kinds: user, config, download and callback, and Document Server tokens.
//!
//! Each kind has its own key, so no token passes as another kind:
//!
//! | kind | key | algorithm | module |
//! |---|---|---|---|
//! | user token (`Authorization: Bearer`) | `user_jwt_secret` or `user_jwt_public_key` | HS256, or RS256 / ES256 / EdDSA from the PEM key type | [`user`] |
//! | editor configuration token | `onlyoffice_jwt_secret` | HS256 | [`ds`] |
//! | download and callback tokens (`?authorization=`) | `connector_secret`, audiences `oo-binaire` and `oo-callback` | HS256 | [`access`] |
//! | Document Server callback and download tokens | `onlyoffice_jwt_secret` | HS256 | [`ds`] |
//!
//! Every verification pins the algorithm, rejects `alg: none`, rejects headers that locate or
//! carry a key (`jku`, `jwk`, `x5u`, `x5c`) and `crit`, requires `exp`, and allows at most
//! 60 seconds of clock skew on `exp`, `nbf` and `iat`. The caller passes the current Unix time in
//! seconds. Nothing here reads a `Content-Type`, fetches a key, or logs.

pub mod access;
pub mod ds;
mod error;
mod jwt;
mod public_key;
pub mod secret;
pub mod user;

#[cfg(test)]
mod test_support;

pub use access::{
    AccessClaims, AccessKind, DEFAULT_CALLBACK_LIFETIME_SECS, DEFAULT_DOWNLOAD_LIFETIME_SECS,
    Right, mint_access, verify_access,
};
pub use ds::{
    sign_config, verify_ds_body_token, verify_ds_download_header, verify_ds_header_token,
};
pub use error::TokenError;
pub use jwt::{Leeway, parse_bearer};
pub use secret::{ConnectorSecret, DsSecret, MIN_SECRET_BYTES, ensure_distinct_secrets};
pub use user::{User, UserJwtSettings, UserVerifier};
