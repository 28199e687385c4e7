use jwt_simple::algorithms::{HS384Key, MACLike};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::tokens::test_support::{
    CONNECTOR_SECRET, DS_SECRET, NOW, USER_SECRET, callback_claims, connector_secret, ds_secret,
    hmac_token, hs256, library_claims, unsigned_token,
};
use crate::tokens::{AccessKind, Right, mint_access};

const BINAIRE_URL: &str =
    "https://ged.example.test/api/only-office/4711/binaire?authorization=abc.def.ghi";

fn editor_config() -> Map<String, Value> {
    json!({
        "document": {
            "key": "4711-v7-9f2c",
            "url": BINAIRE_URL,
            "fileType": "docx",
            "title": "Rapport.docx",
            "permissions": {"edit": true, "download": true},
        },
        "documentType": "word",
        "editorConfig": {
            "callbackUrl": "https://ged.example.test/api/only-office/4711/remplacer?authorization=x.y.z",
            "mode": "edit",
            "user": {"id": "u-101", "name": "Utilisateur A"},
        },
    })
    .as_object()
    .unwrap()
    .clone()
}

fn header_token(payload: Value) -> String {
    let claims = json!({"payload": payload, "iat": NOW, "exp": NOW + 300});
    format!("Bearer {}", hs256(&claims, DS_SECRET))
}

fn verify_body(token: &str) -> Result<Map<String, Value>, TokenError> {
    verify_ds_body_token(&ds_secret(), token, NOW)
}

#[test]
fn sign_config_leaves_input_unchanged() {
    let config = editor_config();
    let before = config.clone();
    sign_config(&config, &ds_secret(), NOW, 300).unwrap();

    assert_eq!(config, before);
}

#[test]
fn config_claims_round_trip() {
    let config = editor_config();
    let token = sign_config(&config, &ds_secret(), NOW, 300).unwrap();
    let mut expected = config.clone();
    expected.insert("iat".to_owned(), json!(NOW));
    expected.insert("exp".to_owned(), json!(NOW + 300));

    assert_eq!(verify_body(&token), Ok(expected));
}

#[test]
fn config_token_has_no_payload_wrapper() {
    let token = sign_config(&editor_config(), &ds_secret(), NOW, 300).unwrap();
    let claims = verify_body(&token).unwrap();

    assert!(!claims.contains_key("payload"));
    assert_eq!(claims["document"]["key"], json!("4711-v7-9f2c"));
}

#[test]
fn config_with_reserved_field_is_rejected() {
    for field in [
        "iat", "exp", "nbf", "url", "key", "payload", "token", "status",
    ] {
        let mut config = editor_config();
        config.insert(field.to_owned(), json!("x"));

        assert!(
            matches!(
                sign_config(&config, &ds_secret(), NOW, 300),
                Err(TokenError::Config(_))
            ),
            "{field}"
        );
    }
}

#[test]
fn config_with_zero_lifetime_is_rejected() {
    let result = sign_config(&editor_config(), &ds_secret(), NOW, 0);

    assert!(matches!(result, Err(TokenError::Config(_))));
}

#[test]
fn body_token_returns_flat_claims() {
    let claims = verify_body(&hs256(&callback_claims(), DS_SECRET)).unwrap();

    assert_eq!(Value::Object(claims), callback_claims());
}

#[test]
fn body_token_accepts_clock_ahead() {
    let mut claims = callback_claims();
    claims["iat"] = json!(NOW + 45);
    claims["exp"] = json!(NOW + 5 * 60 - 30);

    assert!(verify_body(&hs256(&claims, DS_SECRET)).is_ok());
}

#[test]
fn body_token_expired_90s_ago_rejected() {
    let mut claims = callback_claims();
    claims["iat"] = json!(NOW - 390);
    claims["exp"] = json!(NOW - 90);

    assert_eq!(
        verify_body(&hs256(&claims, DS_SECRET)),
        Err(TokenError::Expired)
    );
}

#[test]
fn body_token_wrong_secret_rejected() {
    let token = hs256(&callback_claims(), "not-the-ds-secret-3e8a1c5f9b2d7e4a");

    assert_eq!(verify_body(&token), Err(TokenError::BadSignature));
}

#[test]
fn header_form_is_not_a_body_token() {
    let token = hs256(
        &json!({"payload": callback_claims(), "exp": NOW + 300}),
        DS_SECRET,
    );

    assert_eq!(verify_body(&token), Err(TokenError::WrongAudience));
}

#[test]
fn body_token_hs384_rejected() {
    let key = HS384Key::from_bytes(DS_SECRET.as_bytes());
    let token = key
        .authenticate(library_claims(&callback_claims(), NOW, NOW + 300))
        .unwrap();

    assert_eq!(
        verify_body(&token),
        Err(TokenError::WrongAlgorithm { expected: "HS256" })
    );
}

#[test]
fn rs256_with_secret_key_rejected() {
    let token = hmac_token(
        &json!({"alg": "RS256", "typ": "JWT"}),
        &callback_claims(),
        DS_SECRET.as_bytes(),
    );

    assert_eq!(
        verify_body(&token),
        Err(TokenError::WrongAlgorithm { expected: "HS256" })
    );
}

#[test]
fn alg_none_body_token_is_rejected() {
    let token = unsigned_token(&json!({"alg": "none"}), &callback_claims());

    assert_eq!(
        verify_body(&token),
        Err(TokenError::WrongAlgorithm { expected: "HS256" })
    );
}

#[test]
fn kid_is_tolerated_on_ds_tokens() {
    let token = hmac_token(
        &json!({"alg": "HS256", "kid": "ds"}),
        &callback_claims(),
        DS_SECRET.as_bytes(),
    );

    assert!(verify_body(&token).is_ok());
}

#[test]
fn connector_token_is_not_a_ds_token() {
    let document = Uuid::from_u128(0x4711);
    let token = mint_access(
        &connector_secret(),
        AccessKind::Callback,
        document,
        "u-101",
        Right::Write,
        NOW,
        600,
    )
    .unwrap();

    assert_eq!(verify_body(&token), Err(TokenError::BadSignature));
}

#[test]
fn user_token_is_not_a_ds_token() {
    let token = hs256(&json!({"sub": "u-101", "exp": NOW + 600}), USER_SECRET);

    assert_eq!(verify_body(&token), Err(TokenError::BadSignature));
}

#[test]
fn header_token_returns_payload_object() {
    let payload = verify_ds_header_token(
        &ds_secret(),
        &header_token(json!({"key": "K1", "status": 1})),
        NOW,
    );

    assert_eq!(
        payload,
        Ok(json!({"key": "K1", "status": 1})
            .as_object()
            .unwrap()
            .clone())
    );
}

#[test]
fn header_string_payload_rejected() {
    let header = header_token(json!("{\"key\":\"K1\",\"status\":2}"));
    let result = verify_ds_header_token(&ds_secret(), &header, NOW);

    assert_eq!(
        result,
        Err(TokenError::InvalidClaim {
            claim: "payload",
            reason: "not a JSON object"
        })
    );
}

#[test]
fn header_non_object_payload_rejected() {
    for payload in [json!([1, 2]), json!(null), json!(42)] {
        let result = verify_ds_header_token(&ds_secret(), &header_token(payload.clone()), NOW);

        assert!(
            matches!(
                result,
                Err(TokenError::InvalidClaim {
                    claim: "payload",
                    ..
                })
            ),
            "{payload}"
        );
    }
}

#[test]
fn header_token_without_payload_is_rejected() {
    let header = format!("Bearer {}", hs256(&callback_claims(), DS_SECRET));
    let result = verify_ds_header_token(&ds_secret(), &header, NOW);

    assert_eq!(
        result,
        Err(TokenError::InvalidClaim {
            claim: "payload",
            reason: "missing"
        })
    );
}

#[test]
fn header_token_requires_bearer_scheme() {
    let bare = header_token(json!({"key": "K1"})).replace("Bearer ", "");

    assert!(matches!(
        verify_ds_header_token(&ds_secret(), &bare, NOW),
        Err(TokenError::Malformed(_))
    ));
    assert_eq!(
        verify_ds_header_token(&ds_secret(), "", NOW),
        Err(TokenError::Missing)
    );
}

#[test]
fn download_header_matches_requested_url() {
    let header = header_token(json!({"url": BINAIRE_URL}));

    assert_eq!(
        verify_ds_download_header(&ds_secret(), &header, BINAIRE_URL, NOW),
        Ok(())
    );
}

#[test]
fn download_header_matches_normalized_url() {
    let signed = BINAIRE_URL.replace("https://ged.example.test", "HTTPS://GED.example.test:443");
    let header = header_token(json!({"url": signed}));

    assert_eq!(
        verify_ds_download_header(&ds_secret(), &header, BINAIRE_URL, NOW),
        Ok(())
    );
}

#[test]
fn download_header_other_url_rejected() {
    let other = BINAIRE_URL.replace("/4711/", "/4712/");
    let header = header_token(json!({"url": other}));

    assert_eq!(
        verify_ds_download_header(&ds_secret(), &header, BINAIRE_URL, NOW),
        Err(TokenError::WrongUrl)
    );
}

#[test]
fn download_header_without_url_is_rejected() {
    let header = header_token(json!({"key": "K1"}));
    let result = verify_ds_download_header(&ds_secret(), &header, BINAIRE_URL, NOW);

    assert!(matches!(
        result,
        Err(TokenError::InvalidClaim {
            claim: "payload.url",
            ..
        })
    ));
}

#[test]
fn connector_signed_download_header_rejected() {
    let claims = json!({"payload": {"url": BINAIRE_URL}, "exp": NOW + 300});
    let header = format!("Bearer {}", hs256(&claims, CONNECTOR_SECRET));

    assert_eq!(
        verify_ds_download_header(&ds_secret(), &header, BINAIRE_URL, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn config_token_is_not_a_header_token() {
    let token = sign_config(&editor_config(), &ds_secret(), NOW, 300).unwrap();
    let result = verify_ds_header_token(&ds_secret(), &format!("Bearer {token}"), NOW);

    assert!(matches!(
        result,
        Err(TokenError::InvalidClaim {
            claim: "payload",
            ..
        })
    ));
}
