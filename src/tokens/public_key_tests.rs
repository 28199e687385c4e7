use ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
use jwt_simple::algorithms::{
    ECDSAP256KeyPairLike, ES256KeyPair, Ed25519KeyPair, EdDSAKeyPairLike, RSAKeyPairLike,
};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::LineEnding;
use serde_json::json;

use super::*;
use crate::tokens::test_support::{NOW, library_claims, rsa_key_pair};

/// A 1024-bit RSA public key made with `openssl genpkey`. Its private key was discarded.
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6gpEEzPShFeZlQvo8MYw8DbCr
ji976EXCs7mMvS80Kk60raY/uQ4l2HNC+2adsU3kFKY9sH8btgWcELIYlvR7GyKD
LHDvaBbhNLVopC8F9YE4A/R5ggg4ohCRp5Nc33EpRMfnA1TeWnYR3Xm2tG9+D07U
d825l/xDliUy/Fgi+QIDAQAB
-----END PUBLIC KEY-----";

/// A 2048-bit RSA public key with exponent 3, made with `openssl genpkey`.
const RSA_EXPONENT_3_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEAne2NGM8TulruXdTRGNSY
JUJVyUdV0acaS44vUqHNHld7/vsBLxtlHjJFa0kaMYAhFTTV2zJ580/s8P++VtmP
G9DjLVBfc+abVTphqTtvZmWs8oQHXxBb0piX9zj7GUyVTO3OAMYWAqh5omP05DsR
s2y7Akoh+gQg3SAFKx9Utb9mplWB/ECTTC7zUiMSEBBzR5zlMDGEvftN2ekWbvr2
tzNAP+C5KZo/hKgRk9rwjViv8KXWDXOGRrn4yTn89q23BabBLgkBDoOCXlZWLFGb
+psEIdGlkspxdXerzLyrWfCRWlvtp6V8oEsJo0ZrkRzhArHP40TswQx5tfwzU53T
4wIBAw==
-----END PUBLIC KEY-----";

/// An EC public key on P-384, made with `openssl genpkey`.
const P384_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAELo0f6+ObkixzPhxoSnY5Zfuqindfn07N
N6mCB0HltzsYtJJkovJF2rVxALvPfeXZu37hBCnD69aN9Fq10N35xERbau1RZXeS
PzAxHSm3vHGJ4uyFT4kYyXB/UpXMfWHM
-----END PUBLIC KEY-----";

/// Splits a compact token into its signing input and decoded signature.
fn split_token(token: &str) -> (&str, Vec<u8>) {
    let (signing_input, signature_b64) = token.rsplit_once('.').unwrap();
    let signature = Base64UrlSafeNoPadding::decode_to_vec(signature_b64, None).unwrap();
    (signing_input, signature)
}

fn config_message(pem: &str) -> String {
    match PublicKey::from_pem(pem) {
        Err(TokenError::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(key) => panic!(
            "expected a configuration error, got a {} key",
            key.algorithm()
        ),
    }
}

fn sample_claims() -> jwt_simple::prelude::JWTClaims<serde_json::Map<String, serde_json::Value>> {
    library_claims(&json!({"sub": "u-101"}), NOW, NOW + 600)
}

#[test]
fn rsa_pkcs1_pem_verifies_rs256() {
    let key_pair = rsa_key_pair();
    let spki_pem = key_pair.public_key().to_pem().unwrap();
    let pkcs1_pem = RsaPublicKey::from_public_key_pem(&spki_pem)
        .unwrap()
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    let token = key_pair.sign(sample_claims()).unwrap();
    let (signing_input, signature) = split_token(&token);

    let key = PublicKey::from_pem(&pkcs1_pem).unwrap();

    assert!(pkcs1_pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    assert_eq!(key.algorithm(), "RS256");
    assert_eq!(key.verify(signing_input.as_bytes(), &signature), Ok(()));
}

#[test]
fn truncated_rs256_signature_is_bad() {
    let key_pair = rsa_key_pair();
    let key = PublicKey::from_pem(&key_pair.public_key().to_pem().unwrap()).unwrap();
    let token = key_pair.sign(sample_claims()).unwrap();
    let (signing_input, signature) = split_token(&token);

    assert_eq!(
        key.verify(signing_input.as_bytes(), &signature[1..]),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rsa_1024_bit_key_is_rejected() {
    let message = config_message(RSA_1024_PEM);

    assert!(message.contains("user_jwt_public_key"), "{message}");
    assert!(message.contains("1024 bits"), "{message}");
}

#[test]
fn rsa_exponent_3_is_rejected() {
    let message = config_message(RSA_EXPONENT_3_PEM);

    assert!(message.contains("65537"), "{message}");
}

#[test]
fn p384_key_is_rejected() {
    let message = config_message(P384_PEM);

    assert!(message.contains("EC P-256"), "{message}");
}

#[test]
fn es256_der_signature_is_bad() {
    let key_pair = ES256KeyPair::generate();
    let key = PublicKey::from_pem(&key_pair.public_key().to_pem().unwrap()).unwrap();
    let token = key_pair.sign(sample_claims()).unwrap();
    let (signing_input, raw_signature) = split_token(&token);
    let der_signature = p256::ecdsa::Signature::from_slice(&raw_signature)
        .unwrap()
        .to_der();

    assert_eq!(key.verify(signing_input.as_bytes(), &raw_signature), Ok(()));
    assert_eq!(
        key.verify(signing_input.as_bytes(), der_signature.as_bytes()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn eddsa_other_input_or_length_is_bad() {
    let key_pair = Ed25519KeyPair::generate();
    let key = PublicKey::from_pem(&key_pair.public_key().to_pem()).unwrap();
    let token = key_pair.sign(sample_claims()).unwrap();
    let (signing_input, signature) = split_token(&token);
    let other_input = format!("{signing_input}x");

    assert_eq!(key.verify(signing_input.as_bytes(), &signature), Ok(()));
    assert_eq!(
        key.verify(other_input.as_bytes(), &signature),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        key.verify(signing_input.as_bytes(), &signature[..63]),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn crlf_pem_is_accepted() {
    let key_pair = Ed25519KeyPair::generate();
    let pem = key_pair.public_key().to_pem().replace('\n', "\r\n");

    assert_eq!(PublicKey::from_pem(&pem).unwrap().algorithm(), "EdDSA");
}

#[test]
fn broken_base64_is_invalid_pem() {
    let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA*\n-----END PUBLIC KEY-----";

    assert!(config_message(pem).contains("not valid PEM"));
}
