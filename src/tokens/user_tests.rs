use jwt_simple::algorithms::{
    ECDSAP256KeyPairLike, ES256KeyPair, Ed25519KeyPair, EdDSAKeyPairLike, RSAKeyPairLike,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::tokens::test_support::{
    CONNECTOR_SECRET, DS_SECRET, NOW, USER_SECRET, b64_json, connector_secret, hmac_token, hs256,
    hs256_user_verifier, library_claims, rsa_key_pair, unsigned_token,
};
use crate::tokens::{AccessKind, Right, mint_access};

fn user_claims() -> Value {
    json!({"sub": "u-101", "name": "Utilisateur A", "iat": NOW, "exp": NOW + 600})
}

fn verify(claims: &Value) -> Result<User, TokenError> {
    hs256_user_verifier().verify(&hs256(claims, USER_SECRET), NOW)
}

fn verifier_with(settings: UserJwtSettings) -> UserVerifier {
    UserVerifier::from_settings(&settings).unwrap()
}

fn pem_verifier(pem: String) -> UserVerifier {
    verifier_with(UserJwtSettings {
        public_key_pem: Some(pem),
        ..UserJwtSettings::default()
    })
}

#[test]
fn hs256_token_gives_user() {
    let expected = User {
        id: "u-101".to_owned(),
        name: "Utilisateur A".to_owned(),
        is_admin: false,
        must_change_password: false,
    };

    assert_eq!(verify(&user_claims()), Ok(expected));
}

#[test]
fn missing_name_falls_back_to_sub() {
    let mut claims = user_claims();
    claims.as_object_mut().unwrap().remove("name");

    assert_eq!(verify(&claims).unwrap().name, "u-101");
}

#[test]
fn admin_role_sets_is_admin() {
    let mut claims = user_claims();
    claims["roles"] = json!(["lecteur", "admin"]);

    assert!(verify(&claims).unwrap().is_admin);
}

#[test]
fn other_roles_are_not_admin() {
    let mut claims = user_claims();
    claims["roles"] = json!(["Admin", "administrateur"]);

    assert!(!verify(&claims).unwrap().is_admin);
}

#[test]
fn password_change_flag_is_read() {
    let mut claims = user_claims();
    claims["changement_mot_de_passe_requis"] = json!(true);

    assert!(verify(&claims).unwrap().must_change_password);
}

#[test]
fn mistyped_optional_claims_are_invalid() {
    for (name, value) in [
        ("roles", json!("admin")),
        ("roles", json!(["admin", 1])),
        ("name", json!(42)),
        ("changement_mot_de_passe_requis", json!("true")),
    ] {
        let mut claims = user_claims();
        claims[name] = value.clone();

        assert!(
            matches!(verify(&claims), Err(TokenError::InvalidClaim { claim, .. }) if claim == name),
            "{name} = {value}"
        );
    }
}

#[test]
fn missing_or_empty_sub_is_invalid() {
    let mut without_sub = user_claims();
    without_sub.as_object_mut().unwrap().remove("sub");
    let mut empty_sub = user_claims();
    empty_sub["sub"] = json!("");

    assert!(matches!(
        verify(&without_sub),
        Err(TokenError::InvalidClaim { claim: "sub", .. })
    ));
    assert!(matches!(
        verify(&empty_sub),
        Err(TokenError::InvalidClaim { claim: "sub", .. })
    ));
}

#[test]
fn missing_exp_is_invalid() {
    let mut claims = user_claims();
    claims.as_object_mut().unwrap().remove("exp");

    assert!(matches!(
        verify(&claims),
        Err(TokenError::InvalidClaim { claim: "exp", .. })
    ));
}

#[test]
fn expired_user_token_is_rejected() {
    let mut claims = user_claims();
    claims["exp"] = json!(NOW - 61);

    assert_eq!(verify(&claims), Err(TokenError::Expired));
}

#[test]
fn future_nbf_is_not_yet_valid() {
    let mut claims = user_claims();
    claims["nbf"] = json!(NOW + 61);

    assert_eq!(verify(&claims), Err(TokenError::NotYetValid));
}

#[test]
fn bearer_header_gives_user() {
    let header = format!("Bearer {}", hs256(&user_claims(), USER_SECRET));

    assert_eq!(
        hs256_user_verifier()
            .verify_bearer(&header, NOW)
            .unwrap()
            .id,
        "u-101"
    );
}

#[test]
fn basic_header_is_malformed() {
    let result = hs256_user_verifier().verify_bearer("Basic dTEwMTpwYXNz", NOW);

    assert!(matches!(result, Err(TokenError::Malformed(_))));
}

#[test]
fn kid_is_tolerated_on_user_tokens() {
    let token = hmac_token(
        &json!({"alg": "HS256", "kid": "idp-1"}),
        &user_claims(),
        USER_SECRET.as_bytes(),
    );

    assert!(hs256_user_verifier().verify(&token, NOW).is_ok());
}

#[test]
fn alg_none_user_token_is_rejected() {
    let token = unsigned_token(&json!({"alg": "none"}), &user_claims());

    assert_eq!(
        hs256_user_verifier().verify(&token, NOW),
        Err(TokenError::WrongAlgorithm { expected: "HS256" })
    );
}

#[test]
fn download_token_is_not_a_user_token() {
    let document = Uuid::from_u128(0x4711);
    let token = mint_access(
        &connector_secret(),
        AccessKind::Download,
        document,
        "u-101",
        Right::Read,
        NOW,
        900,
    )
    .unwrap();

    assert_eq!(
        hs256_user_verifier().verify(&token, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn connector_audience_rejected_with_user_key() {
    for audience in [json!("oo-binaire"), json!(["oo-callback"])] {
        let mut claims = user_claims();
        claims["aud"] = audience.clone();

        assert_eq!(
            verify(&claims),
            Err(TokenError::WrongAudience),
            "{audience}"
        );
    }
}

#[test]
fn other_secrets_are_bad_signature() {
    for secret in [DS_SECRET, CONNECTOR_SECRET] {
        let token = hs256(&user_claims(), secret);

        assert_eq!(
            hs256_user_verifier().verify(&token, NOW),
            Err(TokenError::BadSignature)
        );
    }
}

#[test]
fn configured_issuer_is_required() {
    let verifier = verifier_with(UserJwtSettings {
        secret: Some(USER_SECRET.to_owned()),
        issuer: Some("https://idp.efalia.test".to_owned()),
        ..UserJwtSettings::default()
    });
    let mut claims = user_claims();
    let missing = verifier.verify(&hs256(&claims, USER_SECRET), NOW);
    claims["iss"] = json!("https://evil.test");
    let wrong = verifier.verify(&hs256(&claims, USER_SECRET), NOW);
    claims["iss"] = json!("https://idp.efalia.test");
    let right = verifier.verify(&hs256(&claims, USER_SECRET), NOW);

    assert_eq!(missing, Err(TokenError::WrongIssuer));
    assert_eq!(wrong, Err(TokenError::WrongIssuer));
    assert!(right.is_ok());
}

#[test]
fn configured_audience_is_required() {
    let verifier = verifier_with(UserJwtSettings {
        secret: Some(USER_SECRET.to_owned()),
        audience: Some("efalia-doc".to_owned()),
        ..UserJwtSettings::default()
    });
    let with_aud = |aud: Option<Value>| {
        let mut claims = user_claims();
        if let Some(aud) = aud {
            claims["aud"] = aud;
        }
        verifier.verify(&hs256(&claims, USER_SECRET), NOW)
    };

    assert_eq!(with_aud(None), Err(TokenError::WrongAudience));
    assert_eq!(
        with_aud(Some(json!("other-app"))),
        Err(TokenError::WrongAudience)
    );
    assert!(with_aud(Some(json!("efalia-doc"))).is_ok());
    assert!(with_aud(Some(json!(["other-app", "efalia-doc"]))).is_ok());
}

#[test]
fn rs256_public_key_verifies_rs256() {
    let key_pair = rsa_key_pair();
    let verifier = pem_verifier(key_pair.public_key().to_pem().unwrap());
    let token = key_pair
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();

    assert_eq!(verifier.algorithm(), "RS256");
    assert_eq!(verifier.verify(&token, NOW).unwrap().id, "u-101");
}

#[test]
fn rs256_expired_token_is_rejected() {
    let key_pair = rsa_key_pair();
    let verifier = pem_verifier(key_pair.public_key().to_pem().unwrap());
    let token = key_pair
        .sign(library_claims(&user_claims(), NOW - 700, NOW - 61))
        .unwrap();

    assert_eq!(verifier.verify(&token, NOW), Err(TokenError::Expired));
}

#[test]
fn rs256_tampered_token_is_bad_signature() {
    let key_pair = rsa_key_pair();
    let verifier = pem_verifier(key_pair.public_key().to_pem().unwrap());
    let token = key_pair
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();
    let forged_payload = b64_json(&json!({"sub": "admin", "exp": NOW + 600}));
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = &forged_payload;

    assert_eq!(
        verifier.verify(&parts.join("."), NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rs256_verifier_rejects_es256_token() {
    let verifier = pem_verifier(rsa_key_pair().public_key().to_pem().unwrap());
    let token = ES256KeyPair::generate()
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();

    assert_eq!(
        verifier.verify(&token, NOW),
        Err(TokenError::WrongAlgorithm { expected: "RS256" })
    );
}

#[test]
fn hs256_signed_with_pem_rejected() {
    let pem = rsa_key_pair().public_key().to_pem().unwrap();
    let token = hmac_token(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &user_claims(),
        pem.as_bytes(),
    );

    assert_eq!(
        pem_verifier(pem).verify(&token, NOW),
        Err(TokenError::WrongAlgorithm { expected: "RS256" })
    );
}

#[test]
fn es256_public_key_verifies_es256() {
    let key_pair = ES256KeyPair::generate();
    let verifier = pem_verifier(key_pair.public_key().to_pem().unwrap());
    let token = key_pair
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();

    assert_eq!(verifier.algorithm(), "ES256");
    assert_eq!(verifier.verify(&token, NOW).unwrap().id, "u-101");
}

#[test]
fn es256_other_key_bad_signature() {
    let verifier = pem_verifier(ES256KeyPair::generate().public_key().to_pem().unwrap());
    let token = ES256KeyPair::generate()
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();

    assert_eq!(verifier.verify(&token, NOW), Err(TokenError::BadSignature));
}

#[test]
fn eddsa_public_key_verifies_eddsa() {
    let key_pair = Ed25519KeyPair::generate();
    let verifier = pem_verifier(key_pair.public_key().to_pem());
    let token = key_pair
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();

    assert_eq!(verifier.algorithm(), "EdDSA");
    assert_eq!(verifier.verify(&token, NOW).unwrap().id, "u-101");
}

#[test]
fn eddsa_verifier_rejects_es256_token() {
    let verifier = pem_verifier(Ed25519KeyPair::generate().public_key().to_pem());
    let token = ES256KeyPair::generate()
        .sign(library_claims(&user_claims(), NOW, NOW + 600))
        .unwrap();

    assert_eq!(
        verifier.verify(&token, NOW),
        Err(TokenError::WrongAlgorithm { expected: "EdDSA" })
    );
}

#[test]
fn eddsa_future_iat_is_not_yet_valid() {
    let key_pair = Ed25519KeyPair::generate();
    let verifier = pem_verifier(key_pair.public_key().to_pem());
    let token = key_pair
        .sign(library_claims(&user_claims(), NOW + 61, NOW + 600))
        .unwrap();

    assert_eq!(verifier.verify(&token, NOW), Err(TokenError::NotYetValid));
}

#[test]
fn both_key_settings_are_rejected() {
    let result = UserVerifier::from_settings(&UserJwtSettings {
        secret: Some(USER_SECRET.to_owned()),
        public_key_pem: Some(Ed25519KeyPair::generate().public_key().to_pem()),
        ..UserJwtSettings::default()
    });

    assert!(matches!(result, Err(TokenError::Config(_))));
}

#[test]
fn no_key_setting_is_rejected() {
    let empty = UserVerifier::from_settings(&UserJwtSettings {
        secret: Some(String::new()),
        public_key_pem: Some("  ".to_owned()),
        ..UserJwtSettings::default()
    });

    assert!(matches!(
        UserVerifier::from_settings(&UserJwtSettings::default()),
        Err(TokenError::Config(_))
    ));
    assert!(matches!(empty, Err(TokenError::Config(_))));
}

#[test]
fn unusable_pem_is_rejected() {
    let private_pem = Ed25519KeyPair::generate().to_pem();
    let cases = [
        private_pem.as_str(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        "not a pem",
    ];

    for pem in cases {
        let result = UserVerifier::from_settings(&UserJwtSettings {
            public_key_pem: Some(pem.to_owned()),
            ..UserJwtSettings::default()
        });

        assert!(matches!(result, Err(TokenError::Config(_))), "{pem}");
    }
}

#[test]
fn settings_debug_hides_secret() {
    let settings = UserJwtSettings {
        secret: Some(USER_SECRET.to_owned()),
        ..UserJwtSettings::default()
    };
    let debug = format!("{settings:?} {:?}", hs256_user_verifier());

    assert!(!debug.contains(USER_SECRET), "{debug}");
}
