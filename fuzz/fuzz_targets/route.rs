//! Feeds arbitrary text to `Route::parse`. Nothing may panic, and every document id and extra
//! segment it returns must be one path segment of the input.

#![no_main]

use efalia_onlyoffice::routes::Route;
use libfuzzer_sys::fuzz_target;

/// Panics unless `segment` is a slash-free substring of `path`.
fn assert_segment(path: &str, segment: &str) {
    assert!(!segment.contains('/'), "segment {segment:?} of {path:?} contains a slash");
    assert!(path.contains(segment), "segment {segment:?} is not in {path:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let route = Route::parse(path);

    match &route {
        Route::Acces(id) | Route::Binaire(id) | Route::Remplacer(id) => assert_segment(path, id),
        Route::Documents(id, rest) => {
            assert_segment(path, id);
            for segment in rest {
                assert_segment(path, segment);
            }
        }
        Route::Health | Route::Token | Route::OpenApi | Route::Unknown => {}
    }
    if !path.starts_with('/') {
        assert_eq!(route, Route::Unknown, "{path:?} has no leading slash but matched a route");
    }
});
