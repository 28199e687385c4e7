//! Feeds arbitrary text to every token verifier and to `parse_bearer`. Nothing may panic, and no
//! verifier may accept a token that the configured key did not sign.
//!
//! For HS256 verifiers, an accepted token must equal the token that this target re-derives from
//! the accepted token's `header.payload` and the test secret. The public-key verifiers must never
//! accept anything, because no private key of theirs exists: the corpus was built without one.

#![no_main]

use std::sync::LazyLock;

use ct_codecs::{Base64UrlSafeNoPadding, Encoder};
use efalia_onlyoffice::tokens::{
    self, AccessKind, ConnectorSecret, DsSecret, UserJwtSettings, UserVerifier,
};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

// The signed seeds in corpus/jwt use these secrets, this time and these claims
// (see make_jwt_seeds.py), so that valid tokens reach the claim checks.
const DS_SECRET: &str = "fuzz-ds-secret-4f1c9e27b3a85d60e2c7194b";
const CONNECTOR_SECRET: &str = "fuzz-connector-secret-8d2e6a0c5b7f3914";
const USER_SECRET: &str = "fuzz-user-secret-c3b8e1f47a2d9065be31";
const USER_ISSUER: &str = "https://idp.example.test";
const USER_AUDIENCE: &str = "efalia-doc";
/// 2026-01-05T10:40:00Z, in Unix seconds.
const NOW: u64 = 1_767_609_600;
const DOCUMENT: Uuid = Uuid::from_u128(0x7a0b2c3d_4e5f_4a6b_8c7d_0e1f2a3b4c5d);
const BINAIRE_URL: &str = "https://efalia.example.test/api/only-office/7a0b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d/binaire?authorization=abc";

// Public halves of throwaway key pairs whose private halves were deleted.
const ED25519_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEADbfz+pCbAW2aeO5jdk4X8/ovxcvGAVCUiyipjJ70Cms=
-----END PUBLIC KEY-----";
const ES256_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaP/KWGER+65W8Hw6ZEPh2OmadHuq
AWJ36kFNNrE1W7u+JcUdhsG0AYzwVoFQ7MTjYwqmhnBghH44IHn3Zvv1YA==
-----END PUBLIC KEY-----";
const RS256_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmhVoUE7ZvS+3UxAz+CYL
IRtQN6VoeycKxfXAT9UqcTIpZqqucAsMncfx2Jfdcc55+IVsRc5pwrD3k8k2jLZ5
BpmaUImZUzMEBkwya7Pr2bvcCzMH6tblTCZ/zQgU2e+Jt2LPhA4oy3/TvrE+XbUk
t1kfI4JSrSxyIW7XIWp0amtIPRK5z2QiyXNzdHNScHLYTpbtPSiJQTTSdmWbHvN7
xNc8fVhzXy/5Z4vcpFjZnXDmh6cKjk9ljYYmzNLQ9igVDRxiNK97uyX5DiSyStAQ
Z5faMdUQkvN9xFIITvsEaXn4zlHw9KI9PKuqiRekCgFXzUZAK9orx+bWRKg1Uxlp
mQIDAQAB
-----END PUBLIC KEY-----";

struct Keys {
    ds: DsSecret,
    connector: ConnectorSecret,
    user_hs256: UserVerifier,
    user_public: Vec<UserVerifier>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let user = |secret: Option<&str>, public_key_pem: Option<&str>| {
        let settings = UserJwtSettings {
            secret: secret.map(str::to_owned),
            public_key_pem: public_key_pem.map(str::to_owned),
            issuer: Some(USER_ISSUER.to_owned()),
            audience: Some(USER_AUDIENCE.to_owned()),
            ..UserJwtSettings::default()
        };
        UserVerifier::from_settings(&settings).expect("test user key is valid")
    };
    let user_public = [ED25519_PUBLIC_KEY, ES256_PUBLIC_KEY, RS256_PUBLIC_KEY]
        .into_iter()
        .map(|pem| user(None, Some(pem)))
        .collect();

    Keys {
        ds: DsSecret::new(DS_SECRET).expect("test Document Server secret is valid"),
        connector: ConnectorSecret::new(CONNECTOR_SECRET).expect("test connector secret is valid"),
        user_hs256: user(Some(USER_SECRET), None),
        user_public,
    }
});

/// Panics unless `token` is exactly the HS256 token that `secret` gives for its own
/// `header.payload`.
fn assert_signed_with(token: &str, secret: &str, verifier: &str) {
    let Some((signing_input, _)) = token.rsplit_once('.') else {
        panic!("{verifier} accepted {token:?}, which has no signature part");
    };
    let mac = hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret.as_bytes());
    let signature = Base64UrlSafeNoPadding::encode_to_string(mac).expect("base64url encoding failed");
    let expected = format!("{signing_input}.{signature}");
    assert_eq!(token, expected, "{verifier} accepted a token that the test secret did not sign");
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let keys = &*KEYS;

    let bearer = tokens::parse_bearer(input).ok();
    if let Some(token) = bearer {
        assert!(!token.is_empty(), "parse_bearer returned an empty token");
        assert!(input.ends_with(token), "parse_bearer returned {token:?}, not a suffix of the input");
        assert!(!token.contains(' '), "parse_bearer returned {token:?}, which contains a space");
    }
    let signed_bearer = |verifier: &str| bearer.unwrap_or_else(|| panic!("{verifier} accepted a value that parse_bearer rejects"));

    for kind in [AccessKind::Download, AccessKind::Callback] {
        if let Ok(claims) = tokens::verify_access(&keys.connector, kind, input, &DOCUMENT, NOW) {
            assert_signed_with(input, CONNECTOR_SECRET, "verify_access");
            assert_eq!(claims.kind, kind);
            assert_eq!(claims.document, DOCUMENT);
        }
    }

    if tokens::verify_ds_body_token(&keys.ds, input, NOW).is_ok() {
        assert_signed_with(input, DS_SECRET, "verify_ds_body_token");
    }
    if tokens::verify_ds_header_token(&keys.ds, input, NOW).is_ok() {
        assert_signed_with(signed_bearer("verify_ds_header_token"), DS_SECRET, "verify_ds_header_token");
    }
    if tokens::verify_ds_download_header(&keys.ds, input, BINAIRE_URL, NOW).is_ok() {
        assert_signed_with(signed_bearer("verify_ds_download_header"), DS_SECRET, "verify_ds_download_header");
    }

    if let Ok(user) = keys.user_hs256.verify(input, NOW) {
        assert_signed_with(input, USER_SECRET, "UserVerifier::verify");
        assert!(!user.id.is_empty(), "verified user has an empty id");
    }
    if keys.user_hs256.verify_bearer(input, NOW).is_ok() {
        assert_signed_with(signed_bearer("UserVerifier::verify_bearer"), USER_SECRET, "UserVerifier::verify_bearer");
    }

    for verifier in &keys.user_public {
        let algorithm = verifier.algorithm();
        assert!(verifier.verify(input, NOW).is_err(), "{algorithm} verifier accepted {input:?}");
        assert!(verifier.verify_bearer(input, NOW).is_err(), "{algorithm} verifier accepted {input:?} as a bearer value");
    }
});
