//! The single error type of the ONLYOFFICE module.

use thiserror::Error;

/// Reason why a file type, an editor configuration or a document reference was rejected.
///
/// Messages are meant for logs. They never contain a URL or a key sent by the client, because
/// those may carry tokens.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OnlyOfficeError {
    /// The file name has no extension, so its type is unknown.
    #[error("file name has no extension; expected a name such as `report.docx`")]
    MissingExtension,

    /// The extension is not in the table of accepted file types.
    #[error(
        "file type `{extension}` is not supported; expected an Office Open XML, OpenDocument, \
         legacy Office, RTF, TXT, CSV or PDF extension"
    )]
    UnsupportedFileType {
        /// The lowercase extension, cut to 16 characters.
        extension: String,
    },

    /// The server-side document key breaks the Document Server's rule: 1 to 128 characters
    /// from `0-9 A-Z a-z . _ = -`.
    #[error("document key is not valid for the Document Server")]
    InvalidDocumentKey,

    /// The server-side user id is empty.
    #[error("user id is empty")]
    MissingUserId,

    /// The editor opens in edit mode but the caller gave no callback URL.
    #[error("edit mode requires a callback URL")]
    MissingCallbackUrl,

    /// The client configuration has neither `document.url` nor `editorConfig.callbackUrl`.
    #[error(
        "configuration names no document: `document.url` and `editorConfig.callbackUrl` are missing"
    )]
    MissingDocumentReference,

    /// A reference field is not a URL built by `/acces` under the configured public base URL.
    #[error("`{field}` is not a connector URL under the configured public base URL")]
    ForeignDocumentReference {
        /// The JSON path of the field, such as `document.url`.
        field: &'static str,
    },

    /// `document.url` and `editorConfig.callbackUrl` name two different documents.
    #[error("`document.url` and `editorConfig.callbackUrl` name different documents")]
    DocumentReferenceMismatch,
}
