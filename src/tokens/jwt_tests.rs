use serde_json::{Value, json};

use super::*;
use crate::tokens::test_support::{
    NOW, b64, b64_json, hmac_token, hs256, hs256_header, unsigned_token,
};

const KEY: &str = "jwt-test-key-0d4c8e2a6f1b9d3e7a5c";

fn verify(token: &str) -> Result<Map<String, Value>, TokenError> {
    verify_hs256(token, KEY.as_bytes(), false, NOW, Leeway::default())
}

fn with_exp(exp: u64) -> Value {
    json!({"sub": "u-101", "exp": exp})
}

#[test]
fn sign_then_verify_round_trips() {
    let claims = json!({"sub": "u-101", "exp": NOW + 60, "nested": {"a": [1, 2]}});
    let token = sign_hs256(claims.as_object().unwrap(), KEY.as_bytes()).unwrap();

    assert_eq!(Value::Object(verify(&token).unwrap()), claims);
}

#[test]
fn signed_header_is_hs256_jwt() {
    let token = sign_hs256(with_exp(NOW).as_object().unwrap(), KEY.as_bytes()).unwrap();
    let header_b64 = token.split('.').next().unwrap();

    assert_eq!(header_b64, b64_json(&hs256_header()));
}

#[test]
fn empty_token_is_missing() {
    assert_eq!(verify(""), Err(TokenError::Missing));
}

#[test]
fn wrong_part_count_is_malformed() {
    let token = hs256(&with_exp(NOW + 60), KEY);
    let two_parts = token.rsplit_once('.').unwrap().0.to_owned();
    let four_parts = format!("{token}.e30");

    assert!(matches!(verify(&two_parts), Err(TokenError::Malformed(_))));
    assert!(matches!(verify(&four_parts), Err(TokenError::Malformed(_))));
    assert!(matches!(verify("abc"), Err(TokenError::Malformed(_))));
}

#[test]
fn empty_payload_is_malformed() {
    let token = format!("{}..c2ln", b64_json(&hs256_header()));

    assert!(matches!(verify(&token), Err(TokenError::Malformed(_))));
}

#[test]
fn bad_header_encoding_is_malformed() {
    let payload = b64_json(&with_exp(NOW + 60));
    let cases = [
        format!("not*base64.{payload}.c2ln"),
        format!("{}=.{payload}.c2ln", b64_json(&hs256_header())),
        format!("{}.{payload}.c2ln", b64(b"{not json")),
        format!("{}.{payload}.c2ln", b64(b"[\"HS256\"]")),
    ];

    for token in cases {
        assert!(
            matches!(verify(&token), Err(TokenError::Malformed(_))),
            "{token}"
        );
    }
}

#[test]
fn signed_non_json_payload_is_malformed() {
    let signing_input = format!("{}.{}", b64_json(&hs256_header()), b64(b"not json"));
    let signature = hmac_sha256::HMAC::mac(signing_input.as_bytes(), KEY.as_bytes());
    let token = format!("{signing_input}.{}", b64(&signature));

    assert!(matches!(verify(&token), Err(TokenError::Malformed(_))));
}

#[test]
fn signed_array_payload_is_malformed() {
    let token = hmac_token(&hs256_header(), &json!([1, 2]), KEY.as_bytes());

    assert!(matches!(verify(&token), Err(TokenError::Malformed(_))));
}

#[test]
fn oversized_token_is_malformed() {
    let token = "a".repeat(MAX_TOKEN_BYTES + 1);

    assert!(matches!(verify(&token), Err(TokenError::Malformed(_))));
}

#[test]
fn alg_none_is_rejected() {
    let header = json!({"alg": "none", "typ": "JWT"});
    let expected = Err(TokenError::WrongAlgorithm { expected: HS256 });

    assert_eq!(
        verify(&unsigned_token(&header, &with_exp(NOW + 60))),
        expected
    );
    assert_eq!(
        verify(&hmac_token(&header, &with_exp(NOW + 60), KEY.as_bytes())),
        expected
    );
}

#[test]
fn other_hmac_algorithm_names_are_rejected() {
    for alg in [
        "HS384", "HS512", "hs256", "RS256", "ES256", "EdDSA", "PS256",
    ] {
        let token = hmac_token(&json!({"alg": alg}), &with_exp(NOW + 60), KEY.as_bytes());

        assert_eq!(
            verify(&token),
            Err(TokenError::WrongAlgorithm { expected: HS256 }),
            "{alg}"
        );
    }
}

#[test]
fn missing_or_mistyped_alg_is_malformed() {
    for header in [
        json!({"typ": "JWT"}),
        json!({"alg": 256}),
        json!({"alg": null}),
    ] {
        let token = hmac_token(&header, &with_exp(NOW + 60), KEY.as_bytes());

        assert!(
            matches!(verify(&token), Err(TokenError::Malformed(_))),
            "{header}"
        );
    }
}

#[test]
fn key_locating_headers_are_rejected() {
    for name in ["jku", "jwk", "x5u", "x5c", "crit"] {
        let mut header = hs256_header();
        header[name] = json!("https://attacker.example/keys");
        let token = hmac_token(&header, &with_exp(NOW + 60), KEY.as_bytes());

        assert_eq!(
            verify(&token),
            Err(TokenError::ForbiddenHeader(name)),
            "{name}"
        );
    }
}

#[test]
fn kid_follows_header_rules() {
    let header = json!({"alg": "HS256", "kid": "k1"});
    let token = hmac_token(&header, &with_exp(NOW + 60), KEY.as_bytes());

    assert_eq!(verify(&token), Err(TokenError::ForbiddenHeader("kid")));
    assert!(verify_hs256(&token, KEY.as_bytes(), true, NOW, Leeway::default()).is_ok());
}

#[test]
fn typ_must_name_jwt() {
    for (typ, accepted) in [
        ("JWT", true),
        ("jwt", true),
        ("at+jwt", true),
        ("JOSE", false),
    ] {
        let header = json!({"alg": "HS256", "typ": typ});
        let token = hmac_token(&header, &with_exp(NOW + 60), KEY.as_bytes());

        assert_eq!(verify(&token).is_ok(), accepted, "{typ}");
    }
}

#[test]
fn wrong_key_is_bad_signature() {
    let token = hs256(&with_exp(NOW + 60), "another-key-6e1f3a8c2d7b9e4f0a5c");

    assert_eq!(verify(&token), Err(TokenError::BadSignature));
}

#[test]
fn tampered_payload_is_bad_signature() {
    let token = hs256(&with_exp(NOW + 60), KEY);
    let (header, rest) = token.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged = format!(
        "{header}.{}.{signature}",
        b64_json(&json!({"sub": "admin", "exp": NOW + 60}))
    );

    assert_eq!(verify(&forged), Err(TokenError::BadSignature));
}

#[test]
fn truncated_signature_is_bad_signature() {
    let token = hs256(&with_exp(NOW + 60), KEY);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let short = format!("{signing_input}.{}", &signature[..20]);

    assert_eq!(verify(&short), Err(TokenError::BadSignature));
}

#[test]
fn missing_exp_is_invalid_claim() {
    let token = hs256(&json!({"sub": "u-101"}), KEY);

    assert_eq!(
        verify(&token),
        Err(TokenError::InvalidClaim {
            claim: "exp",
            reason: "missing"
        })
    );
}

#[test]
fn mistyped_time_claims_are_invalid() {
    for claims in [
        json!({"exp": "1767600060"}),
        json!({"exp": -1}),
        json!({"exp": NOW + 60, "nbf": "soon"}),
        json!({"exp": NOW + 60, "iat": true}),
    ] {
        let token = hs256(&claims, KEY);

        assert!(
            matches!(verify(&token), Err(TokenError::InvalidClaim { .. })),
            "{claims}"
        );
    }
}

#[test]
fn exp_within_leeway_is_accepted() {
    assert!(verify(&hs256(&with_exp(NOW - 59), KEY)).is_ok());
    assert!(verify(&hs256(&with_exp(NOW - 60), KEY)).is_ok());
}

#[test]
fn exp_beyond_leeway_is_expired() {
    assert_eq!(
        verify(&hs256(&with_exp(NOW - 61), KEY)),
        Err(TokenError::Expired)
    );
}

#[test]
fn fractional_exp_is_accepted() {
    let token = hs256(&json!({"exp": NOW as f64 + 0.5}), KEY);

    assert!(verify(&token).is_ok());
}

#[test]
fn nbf_within_leeway_is_accepted() {
    let token = hs256(&json!({"exp": NOW + 600, "nbf": NOW + 59}), KEY);

    assert!(verify(&token).is_ok());
}

#[test]
fn nbf_beyond_leeway_is_not_yet_valid() {
    let token = hs256(&json!({"exp": NOW + 600, "nbf": NOW + 61}), KEY);

    assert_eq!(verify(&token), Err(TokenError::NotYetValid));
}

#[test]
fn iat_beyond_leeway_is_not_yet_valid() {
    let token = hs256(&json!({"exp": NOW + 600, "iat": NOW + 61}), KEY);

    assert_eq!(verify(&token), Err(TokenError::NotYetValid));
}

#[test]
fn zero_leeway_rejects_one_second_late() {
    let token = hs256(&with_exp(NOW - 1), KEY);
    let zero = Leeway::new(0).unwrap();

    assert_eq!(
        verify_hs256(&token, KEY.as_bytes(), false, NOW, zero),
        Err(TokenError::Expired)
    );
}

#[test]
fn leeway_above_sixty_seconds_is_rejected() {
    assert!(matches!(Leeway::new(61), Err(TokenError::Config(_))));
    assert_eq!(Leeway::new(60).unwrap(), Leeway::default());
}

#[test]
fn error_messages_omit_the_token() {
    let token = hs256(&with_exp(NOW - 3600), KEY);
    let message = verify(&token).unwrap_err().to_string();

    assert!(!message.contains(&token));
    assert!(!message.contains(KEY));
}

#[test]
fn bearer_returns_the_token() {
    assert_eq!(parse_bearer("Bearer abc.def.ghi"), Ok("abc.def.ghi"));
    assert_eq!(parse_bearer("bearer abc.def.ghi"), Ok("abc.def.ghi"));
    assert_eq!(parse_bearer("BEARER abc.def.ghi"), Ok("abc.def.ghi"));
}

#[test]
fn bearer_without_credentials_is_missing() {
    assert_eq!(parse_bearer(""), Err(TokenError::Missing));
    assert_eq!(parse_bearer("Bearer"), Err(TokenError::Missing));
    assert_eq!(parse_bearer("Bearer "), Err(TokenError::Missing));
}

#[test]
fn bearer_rejects_other_schemes() {
    for value in [
        "Basic dXNlcjpwYXNzd29yZA==",
        "abc.def.ghi",
        "Token abc.def.ghi",
        "Bearerabc.def.ghi",
    ] {
        assert!(
            matches!(parse_bearer(value), Err(TokenError::Malformed(_))),
            "{value}"
        );
    }
}

#[test]
fn bearer_rejects_extra_spaces() {
    for value in [
        "Bearer  abc.def.ghi",
        " Bearer abc.def.ghi",
        "Bearer abc.def.ghi ",
        "Bearer abc def",
        "Bearer\tabc.def.ghi",
        "Bearer abc.def.ghi\n",
        "Bearer ===",
    ] {
        assert!(
            matches!(parse_bearer(value), Err(TokenError::Malformed(_))),
            "{value:?}"
        );
    }
}
