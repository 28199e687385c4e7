//! Public keys of user tokens: parsing the PEM of `user_jwt_public_key` and checking RS256, ES256
//! and EdDSA signatures with it.
//!
//! Only verification is compiled in. Each algorithm comes from its own RustCrypto or
//! `ed25519-compact` crate, and RS256 and ES256 hash the signing input with the SHA-256 of
//! `hmac-sha256` that HS256 already uses.

use hmac_sha256::Hash;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::DecodePublicKey as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};

use super::TokenError;
use super::user::USER_PUBLIC_KEY_SETTING;

/// Smallest RSA modulus accepted, in bits. The `rsa` crate rejects moduli above 4096 bits.
const MIN_RSA_MODULUS_BITS: usize = 2048;

/// The only RSA public exponent accepted.
const RSA_PUBLIC_EXPONENT: u32 = 65_537;

/// A user token public key. The variant pins the JOSE algorithm.
pub(crate) enum PublicKey {
    Rs256(Box<RsaPublicKey>),
    Es256(Box<p256::ecdsa::VerifyingKey>),
    EdDsa(Box<ed25519_compact::PublicKey>),
}

impl PublicKey {
    /// Parses a PEM public key and picks the algorithm from its type. Each parser accepts only a
    /// SubjectPublicKeyInfo that names its own algorithm (and curve), so at most one succeeds.
    ///
    /// # Errors
    ///
    /// [`TokenError::Config`] naming `user_jwt_public_key` for a private key, a certificate, invalid
    /// PEM, or anything but an RSA (2048 to 4096 bits, exponent 65537), EC P-256 or Ed25519 public
    /// key.
    pub(crate) fn from_pem(pem: &str) -> Result<Self, TokenError> {
        let pem = pem.trim();

        if pem.contains("PRIVATE KEY-----") {
            return Err(config_error(
                "contains a private key; set the public key only",
            ));
        }
        if pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(config_error(
                "is a certificate; set its public key instead (`openssl x509 -pubkey -noout`)",
            ));
        }
        if !pem.starts_with("-----BEGIN PUBLIC KEY-----")
            && !pem.starts_with("-----BEGIN RSA PUBLIC KEY-----")
        {
            return Err(config_error(
                "is not a PEM public key starting with -----BEGIN PUBLIC KEY-----",
            ));
        }

        // Each key parser below reads DER, so the PEM text is decoded once, here.
        let Ok((label, der)) = pem_rfc7468::decode_vec(pem.as_bytes()) else {
            return Err(config_error(
                "is not valid PEM (RFC 7468): check the BEGIN and END lines and the base64 text",
            ));
        };
        if label == "RSA PUBLIC KEY" {
            return rsa_key(RsaPublicKey::from_pkcs1_der(&der).ok());
        }

        if let Ok(key) = ed25519_compact::PublicKey::from_der(&der) {
            return Ok(Self::EdDsa(Box::new(key)));
        }
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&der) {
            return Ok(Self::Es256(Box::new(key)));
        }
        rsa_key(RsaPublicKey::from_public_key_der(&der).ok())
    }

    /// Returns the JOSE name of the algorithm this key verifies.
    pub(crate) fn algorithm(&self) -> &'static str {
        match self {
            Self::Rs256(_) => "RS256",
            Self::Es256(_) => "ES256",
            Self::EdDsa(_) => "EdDSA",
        }
    }

    /// Checks `signature` over `signing_input`. An ES256 signature is the 64-byte `r || s` of
    /// RFC 7518 (section 3.4), not DER.
    ///
    /// # Errors
    ///
    /// [`TokenError::BadSignature`] when the signature has the wrong length or does not verify.
    pub(crate) fn verify(&self, signing_input: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        let verified = match self {
            Self::Rs256(key) => {
                let scheme = Pkcs1v15Sign::new::<rsa::sha2::Sha256>();
                key.verify(scheme, &Hash::hash(signing_input), signature)
                    .is_ok()
            }
            Self::Es256(key) => p256::ecdsa::Signature::from_slice(signature)
                .and_then(|signature| key.verify_prehash(&Hash::hash(signing_input), &signature))
                .is_ok(),
            Self::EdDsa(key) => ed25519_compact::Signature::from_slice(signature)
                .and_then(|signature| key.verify(signing_input, &signature))
                .is_ok(),
        };

        if verified {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        }
    }
}

/// Applies the RSA key rules to a parsed key, or reports an unsupported key when parsing failed.
fn rsa_key(parsed: Option<RsaPublicKey>) -> Result<PublicKey, TokenError> {
    let Some(key) = parsed else {
        return Err(config_error(
            "is not an RSA (2048 to 4096 bits), EC P-256 or Ed25519 public key",
        ));
    };

    let bits = key.n().bits();
    if bits < MIN_RSA_MODULUS_BITS {
        return Err(config_error(&format!(
            "is an RSA key of {bits} bits; use a key of 2048 to 4096 bits"
        )));
    }
    if *key.e() != BigUint::from(RSA_PUBLIC_EXPONENT) {
        return Err(config_error(
            "is an RSA key whose public exponent is not 65537",
        ));
    }
    Ok(PublicKey::Rs256(Box::new(key)))
}

fn config_error(problem: &str) -> TokenError {
    TokenError::Config(format!("{USER_PUBLIC_KEY_SETTING} {problem}"))
}

#[cfg(test)]
#[path = "public_key_tests.rs"]
mod tests;
