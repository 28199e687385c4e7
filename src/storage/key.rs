//! Document keys for the ONLYOFFICE Document Server.
//!
//! The Document Server identifies an editing session by its document key and serves a known key
//! from its cache, so a key must never be reused for other content. The connector gives every
//! version that can be opened a fresh key of the form `<document uuid as 32 hex>-v<n>-<12 random
//! base62 characters>`. The key changes after a committed save and after an upload, and stays the
//! same through forcesaves so that co-editors stay in one session.

use uuid::Uuid;

/// Maximum length of a document key accepted by the Document Server.
pub const MAX_DS_KEY_LEN: usize = 128;

const RANDOM_SUFFIX_LEN: usize = 12;
const BASE62_DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Returns whether `key` is a document key the Document Server accepts: 1 to 128 characters from
/// `0-9 A-Z a-z . _ = -`.
pub fn is_valid_ds_key(key: &str) -> bool {
    let allowed =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'=' | b'-');

    !key.is_empty() && key.len() <= MAX_DS_KEY_LEN && key.bytes().all(allowed)
}

/// Generates a new document key for version `version` of document `doc_id`.
///
/// The 12 base62 characters carry about 71 random bits, so two keys for the same document and
/// version differ as well. The longest key (version `u32::MAX`) has 57 characters.
pub fn new_ds_key(doc_id: Uuid, version: u32) -> String {
    format!("{}-v{version}-{}", doc_id.simple(), random_base62())
}

/// Returns 12 base62 characters taken from the random bits of a fresh v4 UUID.
fn random_base62() -> String {
    let mut random = random_bits_of(Uuid::new_v4());
    let mut suffix = String::with_capacity(RANDOM_SUFFIX_LEN);

    for _ in 0..RANDOM_SUFFIX_LEN {
        suffix.push(char::from(BASE62_DIGITS[(random % 62) as usize]));
        random /= 62;
    }
    suffix
}

/// Returns the 122 random bits of a v4 UUID, without its fixed version and variant bits.
fn random_bits_of(uuid: Uuid) -> u128 {
    let bits = uuid.as_u128();
    // Bits 76..80 hold the version and bits 62..64 the variant.
    let high = bits >> 80;
    let middle = (bits >> 64) & 0xfff;
    let low = bits & ((1 << 62) - 1);

    (high << 74) | (middle << 62) | low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_key_is_valid() {
        let key = new_ds_key(Uuid::new_v4(), 7);

        assert!(is_valid_ds_key(&key), "{key}");
    }

    #[test]
    fn new_key_has_documented_shape() {
        let doc_id = Uuid::new_v4();
        let key = new_ds_key(doc_id, 42);
        let prefix = format!("{}-v42-", doc_id.simple());

        assert!(key.starts_with(&prefix), "{key}");
        let suffix = &key[prefix.len()..];
        assert_eq!(suffix.len(), RANDOM_SUFFIX_LEN);
        assert!(
            suffix.bytes().all(|byte| byte.is_ascii_alphanumeric()),
            "{suffix}"
        );
    }

    #[test]
    fn new_keys_differ_for_same_version() {
        let doc_id = Uuid::new_v4();

        assert_ne!(new_ds_key(doc_id, 1), new_ds_key(doc_id, 1));
    }

    #[test]
    fn longest_new_key_fits_limit() {
        let key = new_ds_key(Uuid::new_v4(), u32::MAX);

        assert_eq!(key.len(), 57);
        assert!(is_valid_ds_key(&key));
    }

    #[test]
    fn key_validity_by_characters_and_length() {
        let at_limit = "a".repeat(MAX_DS_KEY_LEN);
        let over_limit = "a".repeat(MAX_DS_KEY_LEN + 1);

        assert!(is_valid_ds_key("4711-v7-9f2c"));
        assert!(is_valid_ds_key("A.b_c=d-0"));
        assert!(is_valid_ds_key(&at_limit));
        assert!(!is_valid_ds_key(&over_limit));
        assert!(!is_valid_ds_key(""));
        assert!(!is_valid_ds_key("with space"));
        assert!(!is_valid_ds_key("with/slash"));
        assert!(!is_valid_ds_key("plus+sign"));
        assert!(!is_valid_ds_key("accent-é"));
    }

    #[test]
    fn random_bits_drop_version_and_variant() {
        let all_ones = Uuid::from_u128(u128::MAX);

        assert_eq!(random_bits_of(all_ones), (1 << 122) - 1);
    }
}
