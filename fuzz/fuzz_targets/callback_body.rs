//! Feeds arbitrary bytes through the callback body parser: JSON, then `Callback::from_claims` on
//! any object, then the helpers that read the parsed callback. Nothing may panic, and a parsed
//! callback must keep the limits that `from_claims` documents.

#![no_main]

use efalia_onlyoffice::onlyoffice::callback::{Callback, MAX_URL_LEN};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(callback) = Callback::from_claims(&claims) else {
        return;
    };

    assert!(!callback.key.is_empty(), "parsed callback has an empty key");
    for url in [&callback.url, &callback.changes_url].into_iter().flatten() {
        assert!(!url.is_empty(), "parsed callback keeps an empty URL");
        assert!(url.len() <= MAX_URL_LEN, "parsed callback keeps a URL of {} bytes", url.len());
    }
    if let Some(file_type) = &callback.file_type {
        assert_eq!(*file_type, file_type.to_ascii_lowercase(), "file type is not lowercase");
    }

    if let Some(editor) = callback.last_editor() {
        let _ = callback.user_name(editor);
    }
    for user in &callback.users {
        let _ = callback.user_name(user);
    }
    for hash in callback.source_hashes() {
        assert_eq!(hash.len(), 64, "source hash {hash:?} is not 64 characters");
        assert!(
            hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')),
            "source hash {hash:?} is not lowercase hex"
        );
    }
});
