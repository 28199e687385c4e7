use serde_json::{Value, json};

use super::*;
use crate::tokens::test_support::{
    CONNECTOR_SECRET, DS_SECRET, NOW, USER_SECRET, callback_claims, connector_secret, hmac_token,
    hs256, unsigned_token,
};

const DOCUMENT: Uuid = Uuid::from_u128(0x4711_0000_0000_4000_8000_0000_0000_4711);
const OTHER_DOCUMENT: Uuid = Uuid::from_u128(0x4712_0000_0000_4000_8000_0000_0000_4712);

fn mint(kind: AccessKind, right: Right) -> String {
    let lifetime = kind.default_lifetime_secs();
    mint_access(
        &connector_secret(),
        kind,
        DOCUMENT,
        "u-101",
        right,
        NOW,
        lifetime,
    )
    .unwrap()
}

fn verify(kind: AccessKind, token: &str) -> Result<AccessClaims, TokenError> {
    verify_access(&connector_secret(), kind, token, &DOCUMENT, NOW)
}

/// Claims shaped like a minted callback token, for hand-built variants.
fn callback_claims_json() -> Value {
    json!({
        "aud": "oo-callback",
        "doc": DOCUMENT.to_string(),
        "sub": "u-101",
        "droit": "ecriture",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "0f6e2c1a",
    })
}

#[test]
fn download_token_round_trips() {
    let token = mint(AccessKind::Download, Right::Read);
    let expected = AccessClaims {
        kind: AccessKind::Download,
        document: DOCUMENT,
        user: "u-101".to_owned(),
        right: Right::Read,
        issued_at: NOW,
        expires_at: NOW + 15 * 60,
        token_id: verify(AccessKind::Download, &token).unwrap().token_id,
    };

    assert_eq!(verify(AccessKind::Download, &token), Ok(expected));
}

#[test]
fn callback_token_round_trips() {
    let token = mint(AccessKind::Callback, Right::Write);
    let claims = verify(AccessKind::Callback, &token).unwrap();

    assert_eq!(claims.kind, AccessKind::Callback);
    assert_eq!(claims.right, Right::Write);
    assert_eq!(claims.expires_at, NOW + 30 * 24 * 3600);
}

#[test]
fn each_token_gets_its_own_jti() {
    let first = verify(
        AccessKind::Callback,
        &mint(AccessKind::Callback, Right::Write),
    )
    .unwrap();
    let second = verify(
        AccessKind::Callback,
        &mint(AccessKind::Callback, Right::Write),
    )
    .unwrap();

    assert!(!first.token_id.is_empty());
    assert_ne!(first.token_id, second.token_id);
}

#[test]
fn download_token_is_not_a_callback_token() {
    let token = mint(AccessKind::Download, Right::Write);

    assert_eq!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn callback_token_is_not_a_download_token() {
    let token = mint(AccessKind::Callback, Right::Write);

    assert_eq!(
        verify(AccessKind::Download, &token),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn token_for_other_document_is_wrong_document() {
    let token = mint(AccessKind::Callback, Right::Write);
    let result = verify_access(
        &connector_secret(),
        AccessKind::Callback,
        &token,
        &OTHER_DOCUMENT,
        NOW,
    );

    assert_eq!(result, Err(TokenError::WrongDocument));
}

#[test]
fn download_token_expires_after_fifteen_minutes() {
    let token = mint(AccessKind::Download, Right::Read);
    let at = |now| {
        verify_access(
            &connector_secret(),
            AccessKind::Download,
            &token,
            &DOCUMENT,
            now,
        )
    };

    assert!(at(NOW + 15 * 60 + 59).is_ok());
    assert_eq!(at(NOW + 15 * 60 + 61), Err(TokenError::Expired));
}

#[test]
fn user_token_is_not_an_access_token() {
    let user_token = hs256(&json!({"sub": "u-101", "exp": NOW + 600}), USER_SECRET);

    assert_eq!(
        verify(AccessKind::Download, &user_token),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn token_without_aud_is_rejected() {
    let mut claims = callback_claims_json();
    claims.as_object_mut().unwrap().remove("aud");
    let token = hs256(&claims, CONNECTOR_SECRET);

    assert_eq!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn aud_array_is_rejected() {
    let mut claims = callback_claims_json();
    claims["aud"] = json!(["oo-callback", "oo-binaire"]);
    let token = hs256(&claims, CONNECTOR_SECRET);

    assert_eq!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn ds_signed_token_is_not_an_access_token() {
    let forged = hs256(&callback_claims_json(), DS_SECRET);
    let ds_callback = hs256(&callback_claims(), DS_SECRET);

    assert_eq!(
        verify(AccessKind::Callback, &forged),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        verify(AccessKind::Callback, &ds_callback),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn alg_none_access_token_is_rejected() {
    let token = unsigned_token(&json!({"alg": "none"}), &callback_claims_json());

    assert_eq!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::WrongAlgorithm { expected: "HS256" })
    );
}

#[test]
fn kid_header_is_rejected() {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "connector"});
    let token = hmac_token(
        &header,
        &callback_claims_json(),
        CONNECTOR_SECRET.as_bytes(),
    );

    assert_eq!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::ForbiddenHeader("kid"))
    );
}

#[test]
fn required_claims_are_enforced() {
    for name in ["doc", "sub", "droit", "jti", "iat"] {
        let mut claims = callback_claims_json();
        claims.as_object_mut().unwrap().remove(name);
        let token = hs256(&claims, CONNECTOR_SECRET);

        assert!(
            matches!(verify(AccessKind::Callback, &token), Err(TokenError::InvalidClaim { claim, .. }) if claim == name),
            "{name}"
        );
    }
}

#[test]
fn unknown_right_is_invalid() {
    let mut claims = callback_claims_json();
    claims["droit"] = json!("admin");
    let token = hs256(&claims, CONNECTOR_SECRET);

    assert!(matches!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::InvalidClaim { claim: "droit", .. })
    ));
}

#[test]
fn non_uuid_document_is_invalid() {
    let mut claims = callback_claims_json();
    claims["doc"] = json!("4711");
    let token = hs256(&claims, CONNECTOR_SECRET);

    assert!(matches!(
        verify(AccessKind::Callback, &token),
        Err(TokenError::InvalidClaim { claim: "doc", .. })
    ));
}

#[test]
fn minting_for_empty_user_fails() {
    let result = mint_access(
        &connector_secret(),
        AccessKind::Download,
        DOCUMENT,
        "",
        Right::Read,
        NOW,
        60,
    );

    assert!(matches!(result, Err(TokenError::Config(_))));
}

#[test]
fn minting_with_zero_lifetime_fails() {
    let result = mint_access(
        &connector_secret(),
        AccessKind::Download,
        DOCUMENT,
        "u-101",
        Right::Read,
        NOW,
        0,
    );

    assert!(matches!(result, Err(TokenError::Config(_))));
}

#[test]
fn minting_with_overflowing_expiry_fails() {
    let result = mint_access(
        &connector_secret(),
        AccessKind::Download,
        DOCUMENT,
        "u-101",
        Right::Read,
        u64::MAX,
        1,
    );

    assert!(matches!(result, Err(TokenError::Config(_))));
}

#[test]
fn rights_use_french_claim_values() {
    assert_eq!(Right::Read.as_claim(), "lecture");
    assert_eq!(Right::Write.as_claim(), "ecriture");
}
