//! The Document Server's save callback: its typed status and body, read from verified claims.

use serde::Deserialize;
use serde_json::{Map, Value};

/// Status of a callback, as the Document Server sends it in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStatus {
    /// 0: only in command-service replies; not expected on a callback.
    NotFound,
    /// 1: a user connected or disconnected; nothing to save.
    Editing,
    /// 2: every user left and the document is ready to save; the key must change afterwards.
    MustSave,
    /// 3: the save failed; `url` may hold what could be assembled.
    Corrupted,
    /// 4: the last user left without changes.
    Closed,
    /// 5: legacy mail merge.
    MailMerge,
    /// 6: a forcesave succeeded while editing goes on; the key stays.
    MustForceSave,
    /// 7: a forcesave failed.
    CorruptedForceSave,
}

impl TryFrom<i64> for CallbackStatus {
    type Error = i64;

    fn try_from(value: i64) -> Result<Self, i64> {
        Ok(match value {
            0 => Self::NotFound,
            1 => Self::Editing,
            2 => Self::MustSave,
            3 => Self::Corrupted,
            4 => Self::Closed,
            5 => Self::MailMerge,
            6 => Self::MustForceSave,
            7 => Self::CorruptedForceSave,
            other => return Err(other),
        })
    }
}

impl CallbackStatus {
    /// Returns the number the Document Server uses.
    pub fn code(self) -> u8 {
        match self {
            Self::NotFound => 0,
            Self::Editing => 1,
            Self::MustSave => 2,
            Self::Corrupted => 3,
            Self::Closed => 4,
            Self::MailMerge => 5,
            Self::MustForceSave => 6,
            Self::CorruptedForceSave => 7,
        }
    }
}

/// One entry of `actions`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Action {
    /// 0 user left, 1 user joined, 2 user clicked the save button.
    #[serde(rename = "type")]
    pub kind: i64,
    /// Id of the user.
    pub userid: String,
}

/// One entry of `history.changes`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct HistoryChange {
    /// When the change was made, in the Document Server's format.
    #[serde(default)]
    pub created: Option<String>,
    /// Author of the change.
    #[serde(default)]
    pub user: Option<HistoryUser>,
    /// SHA-256 of the file the changes apply to (Document Server 8.2 and later).
    #[serde(default, rename = "documentSha256")]
    pub document_sha256: Option<String>,
}

/// Author of a history change.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct HistoryUser {
    /// User id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `history` of a save callback.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct History {
    /// Document Server version.
    #[serde(default, rename = "serverVersion")]
    pub server_version: Option<String>,
    /// Changes since the document was opened.
    #[serde(default)]
    pub changes: Vec<HistoryChange>,
}

/// A callback body, every field taken from verified token claims.
#[derive(Debug, Clone)]
pub struct Callback {
    /// Document key the event is about.
    pub key: String,
    /// The status, or the unknown number received.
    pub status: Result<CallbackStatus, i64>,
    /// Signed cache URL of the assembled file.
    pub url: Option<String>,
    /// Signed cache URL of the changes archive.
    pub changes_url: Option<String>,
    /// Edit history, as sent.
    pub history: Option<History>,
    /// The raw `history` object, kept for the version-history view.
    pub history_raw: Option<Value>,
    /// Users of the event; for saves, the last editor first.
    pub users: Vec<String>,
    /// Connections, disconnections and save-button clicks.
    pub actions: Vec<Action>,
    /// Extension of the file at `url`, lowercase.
    pub file_type: Option<String>,
    /// Time of the last saved change.
    pub last_save: Option<String>,
    /// Whether nothing changed since the last forcesave.
    pub not_modified: bool,
    /// 0 command, 1 save button, 2 timer, 3 form submission.
    pub forcesave_type: Option<i64>,
}

/// Reason claims are not a callback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// A required field is missing.
    #[error("callback field `{0}` is missing")]
    Missing(&'static str),
    /// A field has the wrong type or an invalid value.
    #[error("callback field `{field}` is invalid: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// Description of the problem.
        reason: &'static str,
    },
}

/// Longest URL accepted in a callback; Document Server cache URLs are a few hundred characters.
pub const MAX_URL_LEN: usize = 4096;

impl Callback {
    /// Reads a callback from verified claims (the body token's, or the header token's payload).
    ///
    /// # Errors
    /// [`CallbackError`] naming the first missing or invalid field.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self, CallbackError> {
        let key = match claims.get("key") {
            Some(Value::String(key)) if !key.is_empty() => key.clone(),
            Some(_) => return Err(CallbackError::Invalid { field: "key", reason: "not a non-empty string" }),
            None => return Err(CallbackError::Missing("key")),
        };
        let status = match claims.get("status") {
            Some(Value::Number(number)) => {
                let number = number.as_i64().ok_or(CallbackError::Invalid { field: "status", reason: "not an integer" })?;
                CallbackStatus::try_from(number)
            }
            Some(_) => return Err(CallbackError::Invalid { field: "status", reason: "not a number" }),
            None => return Err(CallbackError::Missing("status")),
        };
        let history_raw = claims.get("history").filter(|value| value.is_object()).cloned();
        let history = history_raw.as_ref().and_then(|value| serde_json::from_value(value.clone()).ok());
        Ok(Self {
            key,
            status,
            url: url_field(claims, "url")?,
            changes_url: url_field(claims, "changesurl")?,
            history,
            history_raw,
            users: string_list(claims, "users"),
            actions: claims
                .get("actions")
                .and_then(|value| serde_json::from_value(value.clone()).ok())
                .unwrap_or_default(),
            file_type: claims.get("filetype").and_then(Value::as_str).map(str::to_ascii_lowercase),
            last_save: claims.get("lastsave").and_then(Value::as_str).map(str::to_owned),
            not_modified: matches!(claims.get("notmodified"), Some(Value::Bool(true))),
            forcesave_type: claims.get("forcesavetype").and_then(Value::as_i64),
        })
    }

    /// Returns the user who made the last changes: `users[0]`, else the user of the last action.
    pub fn last_editor(&self) -> Option<&str> {
        self.users.first().map(String::as_str).or_else(|| self.actions.last().map(|action| action.userid.as_str()))
    }

    /// Returns the display name of `user_id` found in the history, if any.
    pub fn user_name(&self, user_id: &str) -> Option<&str> {
        let changes = self.history.as_ref()?.changes.iter().rev();
        changes.filter_map(|change| change.user.as_ref()).find(|user| user.id.as_deref() == Some(user_id))?.name.as_deref()
    }

    /// Returns the `documentSha256` values of the history, lowercased, when they are SHA-256 hex.
    pub fn source_hashes(&self) -> Vec<String> {
        let Some(history) = &self.history else { return Vec::new() };
        history
            .changes
            .iter()
            .filter_map(|change| change.document_sha256.as_deref())
            .filter(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
            .collect()
    }
}

fn url_field(claims: &Map<String, Value>, field: &'static str) -> Result<Option<String>, CallbackError> {
    match claims.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(url)) if url.is_empty() => Ok(None),
        Some(Value::String(url)) if url.len() > MAX_URL_LEN => Err(CallbackError::Invalid { field, reason: "too long" }),
        Some(Value::String(url)) => Ok(Some(url.clone())),
        Some(_) => Err(CallbackError::Invalid { field, reason: "not a string" }),
    }
}

fn string_list(claims: &Map<String, Value>, field: &str) -> Vec<String> {
    claims
        .get(field)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Callback, CallbackError> {
        Callback::from_claims(value.as_object().unwrap())
    }

    #[test]
    fn statuses_zero_to_seven_are_typed() {
        for code in 0..=7 {
            let status = CallbackStatus::try_from(code).unwrap();
            assert_eq!(i64::from(status.code()), code);
        }
    }

    #[test]
    fn unknown_status_is_kept_as_number() {
        let callback = parse(json!({"key": "k", "status": 42})).unwrap();
        assert_eq!(callback.status, Err(42));
    }

    #[test]
    fn status_must_be_an_integer() {
        assert!(parse(json!({"key": "k", "status": "2"})).is_err());
        assert!(parse(json!({"key": "k", "status": 2.5})).is_err());
        assert_eq!(parse(json!({"key": "k"})).unwrap_err(), CallbackError::Missing("status"));
    }

    #[test]
    fn key_is_required() {
        assert_eq!(parse(json!({"status": 1})).unwrap_err(), CallbackError::Missing("key"));
        assert!(parse(json!({"key": "", "status": 1})).is_err());
    }

    #[test]
    fn save_fields_are_read() {
        let callback = parse(json!({
            "key": "4711-v7-9f2c", "status": 2, "url": "https://ds.example.test/x", "filetype": "DOCX",
            "users": ["u-101"], "actions": [{"type": 0, "userid": "u-101"}], "lastsave": "2026-01-05T10:00:00.000Z",
            "notmodified": false,
            "history": {"serverVersion": "9.0.0", "changes": [{"created": "2026-01-05 10:00:00",
                "user": {"id": "u-101", "name": "Utilisateur A"}, "documentSha256": "AB".repeat(32)}]}
        }))
        .unwrap();
        assert_eq!(callback.status, Ok(CallbackStatus::MustSave));
        assert_eq!(callback.file_type.as_deref(), Some("docx"));
        assert_eq!(callback.last_editor(), Some("u-101"));
        assert_eq!(callback.user_name("u-101"), Some("Utilisateur A"));
        assert_eq!(callback.source_hashes(), vec!["ab".repeat(32)]);
        assert!(!callback.not_modified);
    }

    #[test]
    fn url_of_wrong_type_is_rejected() {
        assert!(parse(json!({"key": "k", "status": 2, "url": 5})).is_err());
        assert!(parse(json!({"key": "k", "status": 2, "url": "x".repeat(MAX_URL_LEN + 1)})).is_err());
    }

    #[test]
    fn last_editor_falls_back_to_actions() {
        let callback = parse(json!({"key": "k", "status": 4, "actions": [{"type": 0, "userid": "u-9"}]})).unwrap();
        assert_eq!(callback.last_editor(), Some("u-9"));
    }
}
