//! The component's error type and the one place where errors become HTTP responses.
//!
//! Messages sent to clients are fixed French texts, as in Efalia's API; the detail of a failure
//! goes to the log once, at the edge, and never contains a token, a secret or a signed URL.

use serde::Serialize;

use crate::http::Response;
use crate::storage::StorageError;
use crate::tokens::TokenError;

/// Everything a route can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path's document id is not a UUID.
    #[error("invalid document id")]
    InvalidDocumentId,
    /// The body is not valid JSON, or not of the expected shape; carries a French description.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// A request parameter is missing or invalid; carries a French description.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The user token or the query token is missing, invalid or expired.
    #[error("authentication failed: {0}")]
    Unauthorized(TokenError),
    /// The user may not perform the action on this document.
    #[error("not allowed")]
    NotAllowed,
    /// The user must change their password before using the API.
    #[error("password change required")]
    PasswordChangeRequired,
    /// No document has this id.
    #[error("document not found")]
    DocumentNotFound,
    /// No route has this path.
    #[error("route not found")]
    RouteNotFound,
    /// The route exists but not for this method; carries the allowed methods.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// The body is larger than the configured bound.
    #[error("body larger than {max} bytes")]
    TooLarge {
        /// The bound, in bytes.
        max: u64,
    },
    /// The request body is not of a supported media type.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The file name's extension is not a supported document type; carries the extension.
    #[error("unsupported file type {0:?}")]
    UnsupportedFileType(String),
    /// The document has no version with this number.
    #[error("version {0} not found")]
    VersionNotFound(u32),
    /// The version exists but has no changes archive (uploads and recovery copies have none).
    #[error("version {0} has no changes archive")]
    ChangesNotFound(u32),
    /// A stored or downloaded file is not what it claims to be.
    #[error("corrupt file: {0}")]
    CorruptFile(String),
    /// The key-value store failed; the previous state is kept.
    #[error("storage failed: {0}")]
    Storage(String),
    /// A setting is missing or invalid; names the setting, never its value.
    #[error("setting {setting}: {problem}")]
    Config {
        /// Name of the setting.
        setting: &'static str,
        /// Description of the problem.
        problem: String,
    },
    /// The `maintenance` setting is on.
    #[error("maintenance in progress")]
    Maintenance,
    /// A bug or an inconsistency of stored data; carries the detail for the log.
    #[error("internal error: {0}")]
    Internal(String),
    /// A file could not be fetched from the Document Server; the previous version stays current.
    #[error("download failed: {0}")]
    DownloadFailed(String),
}

/// Error body of Efalia's API.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// French description for the user.
    pub message: String,
    /// Machine-readable code, where the API defines one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// Non-zero on the save callback route, where the Document Server reads `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<u8>,
}

/// Seconds a client should wait before retrying during maintenance.
pub const MAINTENANCE_RETRY_AFTER_SECS: u32 = 120;

impl Error {
    /// Returns the HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidDocumentId | Self::InvalidJson(_) | Self::InvalidRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::NotAllowed | Self::PasswordChangeRequired => 403,
            Self::DocumentNotFound | Self::RouteNotFound | Self::VersionNotFound(_) | Self::ChangesNotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMediaType | Self::UnsupportedFileType(_) => 415,
            Self::CorruptFile(_)
            | Self::Storage(_)
            | Self::Config { .. }
            | Self::Internal(_)
            | Self::DownloadFailed(_) => 500,
            Self::Maintenance => 503,
        }
    }

    /// Returns the body sent to the client.
    pub fn body(&self) -> ErrorBody {
        let (message, code): (String, Option<&'static str>) = match self {
            Self::InvalidDocumentId => {
                ("L'identifiant du document n'est pas un UUID valide".into(), None)
            }
            Self::InvalidJson(detail) => (format!("Le corps de la requête est invalide : {detail}"), None),
            Self::InvalidRequest(detail) => (detail.clone(), None),
            Self::Unauthorized(TokenError::Expired) => ("Le JWT a expiré".into(), None),
            Self::Unauthorized(TokenError::Missing) => ("Le JWT est absent".into(), None),
            Self::Unauthorized(_) => ("Le JWT est invalide".into(), None),
            Self::NotAllowed => ("L'utilisateur n'est pas habilité à faire l'action".into(), Some("non_habilite")),
            Self::PasswordChangeRequired => (
                "L'utilisateur doit changer son mot de passe".into(),
                Some("changement_mot_de_passe_requis"),
            ),
            Self::DocumentNotFound => ("Le document n'existe pas".into(), None),
            Self::RouteNotFound => ("Cette route n'existe pas".into(), None),
            Self::MethodNotAllowed(_) => ("Cette méthode n'est pas acceptée sur cette route".into(), None),
            Self::TooLarge { max } => (format!("Le fichier dépasse la taille maximale de {max} octets"), None),
            Self::UnsupportedMediaType => ("Le format de la requête n'est pas supporté".into(), None),
            Self::UnsupportedFileType(extension) => (
                format!(
                    "Le type de fichier « {extension} » n'est pas pris en charge : utilisez un document \
                     Word, Excel, PowerPoint, OpenDocument, PDF, RTF, TXT ou CSV"
                ),
                None,
            ),
            Self::VersionNotFound(number) => (format!("La version {number} n'existe pas"), None),
            Self::ChangesNotFound(number) => {
                (format!("La version {number} n'a pas d'archive de modifications"), None)
            }
            Self::CorruptFile(_) => ("Le fichier n'a pas pu être écrit correctement".into(), Some("fichier_corrompu")),
            Self::Storage(_) | Self::DownloadFailed(_) => (
                "Le fichier n'a pas pu être écrit correctement".into(),
                Some("ecriture_sur_disque_impossible"),
            ),
            Self::Config { .. } => ("Le connecteur est mal configuré".into(), None),
            Self::Internal(_) => ("Erreur interne du connecteur".into(), None),
            Self::Maintenance => ("L'api n'est actuellement pas disponible".into(), Some("mise_a_jour_api_en_cours")),
        };
        ErrorBody { message, code, error: None }
    }

    /// Returns the body sent to the client on `route`. The save callback route adds `error: 1`,
    /// which the Document Server reads.
    fn route_body(&self, route: &str) -> ErrorBody {
        let mut body = self.body();
        if route == "remplacer" {
            body.error = Some(1);
            // Efalia's published contract for this route gives every 500 a `code`, and a
            // configuration or internal failure means the file was not written either.
            if self.status() == 500 && body.code.is_none() {
                body.code = Some("ecriture_sur_disque_impossible");
            }
        }
        body
    }

    /// Turns the error into its response, logging it once with the route and document involved.
    pub fn into_response(self, context: &LogContext) -> Response {
        let status = self.status();
        if status >= 500 && !matches!(self, Self::Maintenance) {
            crate::log::error(context, &format!("{self}"));
        } else {
            crate::log::warn(context, &format!("{self}"));
        }
        let mut response = Response::json(status, &self.route_body(context.route));
        match self {
            Self::MethodNotAllowed(allowed) => response.header("allow", allowed),
            Self::Maintenance => response.header("retry-after", &MAINTENANCE_RETRY_AFTER_SECS.to_string()),
            _ => {}
        }
        response
    }
}

/// Route and document of a request, for log lines.
#[derive(Debug, Default, Clone)]
pub struct LogContext {
    /// Route name, e.g. `acces`.
    pub route: &'static str,
    /// Document id, when the path has one.
    pub document: Option<String>,
    /// User id, once authenticated.
    pub user: Option<String>,
}

impl From<TokenError> for Error {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::WrongDocument => Self::NotAllowed,
            err if err.is_server_error() => Self::Config { setting: "jwt", problem: err.to_string() },
            err => Self::Unauthorized(err),
        }
    }
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound => Self::DocumentNotFound,
            StorageError::TooLarge { max } => Self::TooLarge { max },
            StorageError::Corrupt(detail) => Self::CorruptFile(detail),
            err => Self::Storage(err.to_string()),
        }
    }
}

/// Describes a `serde_json` error in French, with its line and column.
pub fn json_problem(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let problem = match err.classify() {
        Category::Syntax => "syntaxe invalide",
        Category::Eof => "fin de texte inattendue",
        Category::Data => "structure inattendue",
        Category::Io => "lecture impossible",
    };
    format!("{problem} à la ligne {}, colonne {}", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(err: &Error) -> serde_json::Value {
        serde_json::to_value(err.body()).unwrap()
    }

    #[test]
    fn efalia_codes_and_statuses() {
        let cases: [(Error, u16, Option<&str>); 7] = [
            (Error::NotAllowed, 403, Some("non_habilite")),
            (Error::PasswordChangeRequired, 403, Some("changement_mot_de_passe_requis")),
            (Error::UnsupportedMediaType, 415, None),
            (Error::CorruptFile("x".into()), 500, Some("fichier_corrompu")),
            (Error::Storage("x".into()), 500, Some("ecriture_sur_disque_impossible")),
            (Error::DownloadFailed("x".into()), 500, Some("ecriture_sur_disque_impossible")),
            (Error::Maintenance, 503, Some("mise_a_jour_api_en_cours")),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(body_json(&err).get("code").and_then(|c| c.as_str()), code, "{err}");
        }
    }

    #[test]
    fn expired_token_has_api_message() {
        let err = Error::Unauthorized(TokenError::Expired);
        assert_eq!(err.status(), 401);
        assert_eq!(body_json(&err)["message"], "Le JWT a expiré");
        assert!(body_json(&err).get("code").is_none(), "401 has no code in the API");
    }

    #[test]
    fn internal_details_stay_out_of_bodies() {
        let err = Error::Storage("redis://:secret@10.0.0.1 refused".into());
        assert!(!body_json(&err).to_string().contains("secret"));
        let err = Error::Config { setting: "onlyoffice_jwt_secret", problem: "too short".into() };
        assert_eq!(body_json(&err)["message"], "Le connecteur est mal configuré");
    }

    #[test]
    fn token_errors_map_by_kind() {
        assert!(matches!(Error::from(TokenError::WrongDocument), Error::NotAllowed));
        assert!(matches!(Error::from(TokenError::BadSignature), Error::Unauthorized(_)));
        let weak = TokenError::WeakSecret { setting: "connector_secret", reason: "too short" };
        assert_eq!(Error::from(weak).status(), 500);
    }

    #[test]
    fn storage_errors_map_by_kind() {
        assert!(matches!(Error::from(StorageError::NotFound), Error::DocumentNotFound));
        assert_eq!(Error::from(StorageError::TooLarge { max: 5 }).status(), 413);
        assert_eq!(Error::from(StorageError::Conflict).status(), 500);
    }

    #[test]
    fn callback_server_errors_carry_a_code() {
        let err = Error::Config { setting: "onlyoffice_jwt_secret", problem: "too short".into() };
        let body = serde_json::to_value(err.route_body("remplacer")).unwrap();
        assert_eq!(body["code"], "ecriture_sur_disque_impossible");
        assert_eq!(body["error"], 1);
        assert_eq!(body["message"], "Le connecteur est mal configuré");
    }

    #[test]
    fn other_routes_keep_server_errors_without_code() {
        let body = serde_json::to_value(Error::Internal("x".into()).route_body("acces")).unwrap();
        assert!(body.get("code").is_none());
        assert!(body.get("error").is_none());
    }

    #[test]
    fn json_problem_names_line_and_column() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": }").unwrap_err();
        assert_eq!(json_problem(&err), "syntaxe invalide à la ligne 2, colonne 8");
    }
}
