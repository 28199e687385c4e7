//! Finding the document that a client-posted editor configuration refers to.
//!
//! The client has no field of its own that names the document: it posts back the configuration
//! it built from the `binaire` and `callback` URLs that `/acces` returned. Those URLs have the
//! shapes `{public_base_url}/api/only-office/{document uuid}/binaire?authorization=…` and
//! `{public_base_url}/api/only-office/{document uuid}/remplacer?authorization=…`. Only the
//! document id is read from them. Their `authorization` tokens are not checked here.

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use super::OnlyOfficeError;

/// Length of a UUID in its hyphenated form, the only form accepted in a path.
const HYPHENATED_UUID_LEN: usize = 36;

/// One configuration field that can name the document.
struct ReferenceField {
    /// JSON path, for error messages.
    name: &'static str,
    object: &'static str,
    field: &'static str,
    /// Last path segment of the URLs that `/acces` builds for this field.
    action: &'static str,
}

const DOCUMENT_URL: ReferenceField = ReferenceField {
    name: "document.url",
    object: "document",
    field: "url",
    action: "binaire",
};
const CALLBACK_URL: ReferenceField = ReferenceField {
    name: "editorConfig.callbackUrl",
    object: "editorConfig",
    field: "callbackUrl",
    action: "remplacer",
};

/// Finds the id of the document that `client`, a posted editor configuration, refers to.
///
/// The id comes from `document.url` (a `binaire` URL) or `editorConfig.callbackUrl` (a
/// `remplacer` URL). A field that is absent or `null` is skipped. A present field must be a URL
/// with the scheme, host and port of `public_base_url`, and without user info or fragment. Its
/// path must be exactly the base path followed by `/api/only-office/{uuid}/binaire` or
/// `/api/only-office/{uuid}/remplacer`, with the UUID in hyphenated form. The query is not read.
///
/// # Errors
///
/// - [`OnlyOfficeError::MissingDocumentReference`] when neither field is present;
/// - [`OnlyOfficeError::ForeignDocumentReference`] when a present field is not such a URL, even
///   if the other field is valid;
/// - [`OnlyOfficeError::DocumentReferenceMismatch`] when both fields are valid but name
///   different documents.
pub fn find_document_reference(
    client: &Value,
    public_base_url: &Url,
) -> Result<Uuid, OnlyOfficeError> {
    let from_document_url = read_reference(client, &DOCUMENT_URL, public_base_url)?;
    let from_callback_url = read_reference(client, &CALLBACK_URL, public_base_url)?;

    match (from_document_url, from_callback_url) {
        (Some(document_id), Some(callback_id)) if document_id != callback_id => {
            Err(OnlyOfficeError::DocumentReferenceMismatch)
        }
        (Some(id), _) | (None, Some(id)) => Ok(id),
        (None, None) => Err(OnlyOfficeError::MissingDocumentReference),
    }
}

/// Reads the document id from one reference field, or returns `None` when the field is absent.
fn read_reference(
    client: &Value,
    reference: &ReferenceField,
    public_base_url: &Url,
) -> Result<Option<Uuid>, OnlyOfficeError> {
    let value = client
        .get(reference.object)
        .and_then(|object| object.get(reference.field));
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(OnlyOfficeError::ForeignDocumentReference {
                field: reference.name,
            });
        }
    };

    Url::parse(text)
        .ok()
        .and_then(|url| document_id_in_url(&url, public_base_url, reference.action))
        .map(Some)
        .ok_or(OnlyOfficeError::ForeignDocumentReference {
            field: reference.name,
        })
}

/// Returns the document id of `url` when it is `{base}/api/only-office/{uuid}/{action}`.
fn document_id_in_url(url: &Url, base: &Url, action: &str) -> Option<Uuid> {
    let same_origin = url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default();
    let has_extras =
        !url.username().is_empty() || url.password().is_some() || url.fragment().is_some();
    if !same_origin || has_extras {
        return None;
    }

    // The parser has already resolved `.` and `..` segments, so the prefix test cannot be
    // walked around. Trimming the base's trailing slash keeps `/efalia` from matching
    // `/efalia-other`, because the remainder must start with `/api/`.
    let base_path = base.path().trim_end_matches('/');
    let remainder = url
        .path()
        .strip_prefix(base_path)?
        .strip_prefix("/api/only-office/")?;
    let (id, last_segment) = remainder.split_once('/')?;
    if last_segment != action || id.len() != HYPHENATED_UUID_LEN {
        return None;
    }
    Uuid::try_parse(id).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DOC: &str = "0b6f4f34-5a47-4d3c-9a51-3f0e8e6c4711";
    const OTHER_DOC: &str = "6c1d2e3f-4a5b-4c6d-8e7f-000000000202";

    fn base() -> Url {
        Url::parse("https://ged.example.test").unwrap()
    }

    fn binaire(doc: &str) -> String {
        format!("https://ged.example.test/api/only-office/{doc}/binaire?authorization=BIN")
    }

    fn callback(doc: &str) -> String {
        format!("https://ged.example.test/api/only-office/{doc}/remplacer?authorization=CB")
    }

    fn doc_id() -> Uuid {
        Uuid::parse_str(DOC).unwrap()
    }

    fn find_in_url(url: &str) -> Result<Uuid, OnlyOfficeError> {
        find_document_reference(&json!({ "document": { "url": url } }), &base())
    }

    #[test]
    fn binaire_url_gives_document() {
        assert_eq!(find_in_url(&binaire(DOC)), Ok(doc_id()));
    }

    #[test]
    fn callback_url_gives_document() {
        let client = json!({ "editorConfig": { "callbackUrl": callback(DOC) } });

        assert_eq!(find_document_reference(&client, &base()), Ok(doc_id()));
    }

    #[test]
    fn both_urls_for_same_document() {
        let client = json!({
            "document": { "url": binaire(DOC) },
            "editorConfig": { "callbackUrl": callback(DOC) },
        });

        assert_eq!(find_document_reference(&client, &base()), Ok(doc_id()));
    }

    #[test]
    fn both_urls_for_different_documents() {
        let client = json!({
            "document": { "url": binaire(DOC) },
            "editorConfig": { "callbackUrl": callback(OTHER_DOC) },
        });

        assert_eq!(
            find_document_reference(&client, &base()),
            Err(OnlyOfficeError::DocumentReferenceMismatch)
        );
    }

    #[test]
    fn no_reference_fields() {
        for client in [
            json!({}),
            json!({ "document": { "url": null } }),
            json!("text"),
            json!(null),
        ] {
            assert_eq!(
                find_document_reference(&client, &base()),
                Err(OnlyOfficeError::MissingDocumentReference),
                "{client}"
            );
        }
    }

    #[test]
    fn foreign_document_urls_rejected() {
        let foreign = [
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            format!("https://attacker.example/api/only-office/{DOC}/binaire"),
            format!("https://ged.example.test.evil.test/api/only-office/{DOC}/binaire"),
            format!("https://ged.example.test@evil.test/api/only-office/{DOC}/binaire"),
            format!("https://user@ged.example.test/api/only-office/{DOC}/binaire"),
            format!("http://ged.example.test/api/only-office/{DOC}/binaire"),
            format!("https://ged.example.test:8443/api/only-office/{DOC}/binaire"),
            format!("https://ged.example.test/api/only-office/{DOC}/binaire#frag"),
            format!("https://ged.example.test/api/only-office/{DOC}/binaire/"),
            format!("https://ged.example.test/api/only-office/{DOC}/remplacer"),
            format!("https://ged.example.test/api/only-office/{DOC}/acces"),
            format!("https://ged.example.test/api/documents/{DOC}/binaire"),
            format!("https://ged.example.test/x/api/only-office/{DOC}/binaire"),
            format!("/api/only-office/{DOC}/binaire"),
            "https://ged.example.test/api/only-office/4711/binaire".to_owned(),
            format!(
                "https://ged.example.test/api/only-office/{}/binaire",
                DOC.replace('-', "")
            ),
            format!("https://ged.example.test/api/only-office/{{{DOC}}}/binaire"),
            String::new(),
        ];

        for url in foreign {
            assert_eq!(
                find_in_url(&url),
                Err(OnlyOfficeError::ForeignDocumentReference {
                    field: "document.url"
                }),
                "{url}"
            );
        }
    }

    #[test]
    fn foreign_callback_url_rejected() {
        let client = json!({
            "document": { "url": binaire(DOC) },
            "editorConfig": { "callbackUrl": "https://attacker.example/cb" },
        });

        assert_eq!(
            find_document_reference(&client, &base()),
            Err(OnlyOfficeError::ForeignDocumentReference {
                field: "editorConfig.callbackUrl"
            })
        );
    }

    #[test]
    fn non_string_reference_rejected() {
        let client = json!({ "document": { "url": 4711 } });

        assert_eq!(
            find_document_reference(&client, &base()),
            Err(OnlyOfficeError::ForeignDocumentReference {
                field: "document.url"
            })
        );
    }

    #[test]
    fn default_port_and_host_case_accepted() {
        let url =
            format!("https://GED.Example.Test:443/api/only-office/{DOC}/binaire?authorization=BIN");

        assert_eq!(find_in_url(&url), Ok(doc_id()));
    }

    #[test]
    fn uppercase_uuid_accepted() {
        assert_eq!(find_in_url(&binaire(&DOC.to_uppercase())), Ok(doc_id()));
    }

    #[test]
    fn base_with_path_prefix() {
        let base = Url::parse("https://ged.example.test/efalia").unwrap();
        let find =
            |url: String| find_document_reference(&json!({ "document": { "url": url } }), &base);

        assert_eq!(
            find(format!(
                "https://ged.example.test/efalia/api/only-office/{DOC}/binaire"
            )),
            Ok(doc_id())
        );
        assert!(
            find(format!(
                "https://ged.example.test/api/only-office/{DOC}/binaire"
            ))
            .is_err()
        );
        assert!(
            find(format!(
                "https://ged.example.test/efalia-evil/api/only-office/{DOC}/binaire"
            ))
            .is_err()
        );
        assert!(
            find(format!(
                "https://ged.example.test/efalia/../api/only-office/{DOC}/binaire"
            ))
            .is_err()
        );
    }

    #[test]
    fn base_with_trailing_slash() {
        let base = Url::parse("https://ged.example.test/efalia/").unwrap();
        let url = format!("https://ged.example.test/efalia/api/only-office/{DOC}/binaire");
        let client = json!({ "document": { "url": url } });

        assert_eq!(find_document_reference(&client, &base), Ok(doc_id()));
    }

    #[test]
    fn dot_segments_resolved_before_check() {
        let url = format!("https://ged.example.test/other/../api/only-office/{DOC}/binaire");

        assert_eq!(find_in_url(&url), Ok(doc_id()));
    }
}
