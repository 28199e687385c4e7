//! The editor configuration that `POST /api/only-office/token` signs.
//!
//! The Document Server trusts the signed configuration for the document key, download URL, file
//! type, title, permissions, callback URL, mode, language and user. A route that signed what the
//! client posted would let any user pick another document's key, make the Document Server fetch
//! or post to any address, grant themselves editing or act under another user id. So
//! [`build_editor_config`] takes every one of those fields from server data and keeps only a
//! validated allow-list of display settings from the client.

use serde_json::{Map, Value};
use url::Url;

use super::{FileType, OnlyOfficeError};
use crate::storage::is_valid_ds_key;

/// Maximum length of `document.title` in characters, as the Document Server documents it.
pub const MAX_TITLE_CHARS: usize = 128;

/// Every permission that [`build_editor_config`] writes to `document.permissions`, each as an
/// explicit boolean because the Document Server grants most of them when they are omitted.
pub const PERMISSION_NAMES: [&str; 11] = [
    "edit",
    "review",
    "comment",
    "fillForms",
    "modifyFilter",
    "modifyContentControl",
    "protect",
    "chat",
    "download",
    "print",
    "copy",
];

/// Maximum length of a kept `editorConfig.lang` or `editorConfig.region` value.
const MAX_LANGUAGE_TAG_CHARS: usize = 16;
/// Maximum length of a kept `width` or `height` value, such as `100%` or `800px`.
const MAX_SIZE_CHARS: usize = 16;
/// Units accepted after the number of a `width` or `height` value.
const SIZE_UNITS: [&str; 6] = ["px", "%", "em", "rem", "vh", "vw"];
/// Values of the top-level `type` field.
const EDITOR_TYPES: &[&str] = &["desktop", "mobile", "embedded"];
/// Maximum length of the extension kept at the end of a shortened title, dot included.
const MAX_TITLE_SUFFIX_CHARS: usize = 16;

/// Value rule of one allow-listed `editorConfig.customization` field.
#[derive(Debug, Clone, Copy)]
enum FieldRule {
    Bool,
    /// An integer within `min..=max`.
    Integer {
        min: i64,
        max: i64,
    },
    /// 1 to `max_chars` characters from `A-Z a-z 0-9 - _`, which rules out URLs.
    Identifier {
        max_chars: usize,
    },
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
}

/// The `editorConfig.customization` fields kept from the client. Every other field is dropped,
/// in particular `goback`, `logo`, `customer`, `plugins`, `macros`, `macrosMode` and anything
/// that can carry a URL.
const CUSTOMIZATION_FIELDS: &[(&str, FieldRule)] = &[
    ("autosave", FieldRule::Bool),
    ("forcesave", FieldRule::Bool),
    ("compactHeader", FieldRule::Bool),
    ("compactToolbar", FieldRule::Bool),
    ("toolbarNoTabs", FieldRule::Bool),
    ("toolbarHideFileName", FieldRule::Bool),
    ("hideRightMenu", FieldRule::Bool),
    ("hideRulers", FieldRule::Bool),
    ("hideNotes", FieldRule::Bool),
    ("showReviewChanges", FieldRule::Bool),
    ("spellcheck", FieldRule::Bool),
    ("help", FieldRule::Bool),
    ("uiTheme", FieldRule::Identifier { max_chars: 32 }),
    // -1 fits the page and -2 fits the width. Other values are percentages.
    ("zoom", FieldRule::Integer { min: -2, max: 500 }),
    ("unit", FieldRule::OneOf(&["cm", "pt", "inch"])),
    (
        "reviewDisplay",
        FieldRule::OneOf(&["markup", "simple", "final", "original"]),
    ),
];

/// Mode the editor opens in, the `editorConfig.mode` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorMode {
    /// The user may change the document, and the Document Server calls back to save it.
    Edit,
    /// The user reads the document, and there is no callback.
    View,
}

impl EditorMode {
    /// Returns the `editorConfig.mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::View => "view",
        }
    }
}

/// Server-side data for one editor configuration. Nothing here may come from the client's
/// posted configuration without being checked against server data first.
#[derive(Debug, Clone, Copy)]
pub struct EditorConfigInput<'a> {
    /// Current Document Server key of the document, from storage.
    pub key: &'a str,
    /// The `binaire` URL that the Document Server downloads the document from.
    pub binaire_url: &'a Url,
    /// The `remplacer` URL that the Document Server posts saves to. Required in edit mode and
    /// ignored in view mode.
    pub callback_url: Option<&'a Url>,
    /// File type of the current version.
    pub file_type: FileType,
    /// File name shown in the editor and used for downloads from it.
    pub title: &'a str,
    /// Whether the user has the write right on the document.
    pub can_edit: bool,
    /// Whether the user may take content out of the editor: download, print and copy. Efalia's
    /// read right includes it. It stays a separate field so that a read-only share without
    /// download can be added.
    pub can_download: bool,
    /// Id of the user from the verified user JWT.
    pub user_id: &'a str,
    /// Display name of the user from the verified user JWT. The user id is shown when it is
    /// empty.
    pub user_name: &'a str,
}

/// Decides the editor mode: edit only when the user has the write right, the file type is
/// editable and the client did not request view mode. A client's `editorConfig.mode: "view"` is
/// honoured because it can only take rights away. Any other client value is ignored.
///
/// Routes call this before building the configuration, to know whether to mint a callback URL.
pub fn decide_mode(can_edit: bool, file_type: FileType, client: &Value) -> EditorMode {
    let client_requests_view =
        client.pointer("/editorConfig/mode").and_then(Value::as_str) == Some("view");

    if can_edit && file_type.is_editable() && !client_requests_view {
        EditorMode::Edit
    } else {
        EditorMode::View
    }
}

/// Builds the editor configuration to sign, from server data and the client-posted configuration
/// `client`.
///
/// From server data come `document.{key, url, fileType, title, permissions}`, `documentType`,
/// `editorConfig.{mode, user, callbackUrl}` and the forced customization `macros: false` and
/// `macrosMode: "disable"`. `callbackUrl` is present only in edit mode, and the mode comes from
/// [`decide_mode`]. A title longer than [`MAX_TITLE_CHARS`] is shortened before its extension,
/// and an empty one becomes `Unnamed.<fileType>`, the Document Server's default.
///
/// From `client` only these fields are copied, each when its value has the right type and
/// shape: top-level `type`, `width` and `height`, `editorConfig.lang` and `editorConfig.region`,
/// and the allow-listed `editorConfig.customization` fields. A field with a wrong value is
/// dropped without error, and so is every other field, including a `document.key`, URLs, user,
/// permissions, plugins, macros, `token` and `payload`. The result never has a top-level `url`,
/// `key` or `payload`, which the Document Server rejects in a configuration token.
///
/// # Errors
///
/// - [`OnlyOfficeError::InvalidDocumentKey`] when `input.key` is not a valid Document Server key;
/// - [`OnlyOfficeError::MissingUserId`] when `input.user_id` is empty;
/// - [`OnlyOfficeError::MissingCallbackUrl`] when the mode is edit and `input.callback_url` is
///   `None`.
pub fn build_editor_config(
    input: EditorConfigInput<'_>,
    client: &Value,
) -> Result<Map<String, Value>, OnlyOfficeError> {
    if !is_valid_ds_key(input.key) {
        return Err(OnlyOfficeError::InvalidDocumentKey);
    }
    if input.user_id.is_empty() {
        return Err(OnlyOfficeError::MissingUserId);
    }
    let mode = decide_mode(input.can_edit, input.file_type, client);
    let callback_url = match (mode, input.callback_url) {
        (EditorMode::Edit, None) => return Err(OnlyOfficeError::MissingCallbackUrl),
        (EditorMode::Edit, Some(url)) => Some(url),
        (EditorMode::View, _) => None,
    };

    let mut config = Map::new();
    copy_client_layout(client, &mut config);
    config.insert(
        "documentType".to_owned(),
        input.file_type.document_type().as_str().into(),
    );
    config.insert("document".to_owned(), document_section(&input, mode).into());
    config.insert(
        "editorConfig".to_owned(),
        editor_section(&input, mode, callback_url, client).into(),
    );
    Ok(config)
}

/// Builds the `document` object.
fn document_section(input: &EditorConfigInput<'_>, mode: EditorMode) -> Map<String, Value> {
    let mut document = Map::new();
    document.insert("key".to_owned(), input.key.into());
    document.insert("url".to_owned(), input.binaire_url.as_str().into());
    document.insert("fileType".to_owned(), input.file_type.extension().into());
    document.insert(
        "title".to_owned(),
        document_title(input.title, input.file_type).into(),
    );
    document.insert(
        "permissions".to_owned(),
        permissions(mode, input.can_download).into(),
    );
    document
}

/// Builds `document.permissions` with every name of [`PERMISSION_NAMES`].
///
/// Every right that changes the document or the shared session is true only in edit mode:
/// `edit`, `review`, `comment`, `fillForms`, `modifyFilter` (filters seen by co-editors),
/// `modifyContentControl`, `protect` and `chat` (messages kept in the co-editing session). So a
/// reader, or an editor in view mode, can change nothing. `download`, `print` and `copy` all
/// follow `can_download`.
fn permissions(mode: EditorMode, can_download: bool) -> Map<String, Value> {
    let editing = mode == EditorMode::Edit;

    PERMISSION_NAMES
        .iter()
        .map(|name| {
            let granted = match *name {
                "download" | "print" | "copy" => can_download,
                _ => editing,
            };
            ((*name).to_owned(), Value::Bool(granted))
        })
        .collect()
}

/// Builds the `editorConfig` object.
fn editor_section(
    input: &EditorConfigInput<'_>,
    mode: EditorMode,
    callback_url: Option<&Url>,
    client: &Value,
) -> Map<String, Value> {
    let mut editor = Map::new();
    editor.insert("mode".to_owned(), mode.as_str().into());
    if let Some(url) = callback_url {
        editor.insert("callbackUrl".to_owned(), url.as_str().into());
    }

    let name = if input.user_name.is_empty() {
        input.user_id
    } else {
        input.user_name
    };
    let mut user = Map::new();
    user.insert("id".to_owned(), input.user_id.into());
    user.insert("name".to_owned(), name.into());
    editor.insert("user".to_owned(), user.into());

    let client_editor = client.get("editorConfig");
    for field in ["lang", "region"] {
        let value = client_editor
            .and_then(|section| section.get(field))
            .and_then(Value::as_str);
        if let Some(tag) = value.filter(|tag| is_language_tag(tag)) {
            editor.insert(field.to_owned(), tag.into());
        }
    }

    let client_customization = client_editor.and_then(|section| section.get("customization"));
    editor.insert(
        "customization".to_owned(),
        customization(client_customization).into(),
    );
    editor
}

/// Builds `editorConfig.customization` from the allow-listed client fields, then turns macros
/// off.
///
/// Macros are forced off because a document stored in the DMS may come from anyone, and macros
/// run script in every reader's browser.
/// NOTE: the Document Server reads `customization` from the configuration the browser passes to
/// the editor, not from the token, so this setting holds only when the browser uses the returned
/// signed configuration.
fn customization(client: Option<&Value>) -> Map<String, Value> {
    let mut allowed = Map::new();

    if let Some(Value::Object(fields)) = client {
        for (name, rule) in CUSTOMIZATION_FIELDS {
            if let Some(value) = fields.get(*name).filter(|value| rule_accepts(*rule, value)) {
                allowed.insert((*name).to_owned(), value.clone());
            }
        }
    }
    allowed.insert("macros".to_owned(), Value::Bool(false));
    allowed.insert("macrosMode".to_owned(), "disable".into());
    allowed
}

/// Copies the top-level `type`, `width` and `height` client fields that pass validation.
fn copy_client_layout(client: &Value, config: &mut Map<String, Value>) {
    let text = |field: &str| client.get(field).and_then(Value::as_str);

    if let Some(editor_type) = text("type").filter(|value| EDITOR_TYPES.contains(value)) {
        config.insert("type".to_owned(), editor_type.into());
    }
    for field in ["width", "height"] {
        if let Some(size) = text(field).filter(|value| is_css_size(value)) {
            config.insert(field.to_owned(), size.into());
        }
    }
}

/// Returns whether `value` satisfies `rule`.
fn rule_accepts(rule: FieldRule, value: &Value) -> bool {
    match rule {
        FieldRule::Bool => value.is_boolean(),
        FieldRule::Integer { min, max } => value
            .as_i64()
            .is_some_and(|number| (min..=max).contains(&number)),
        FieldRule::Identifier { max_chars } => value.as_str().is_some_and(|text| {
            !text.is_empty()
                && text.len() <= max_chars
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
        }),
        FieldRule::OneOf(allowed) => value.as_str().is_some_and(|text| allowed.contains(&text)),
    }
}

/// Returns whether `tag` is 1 to 16 characters from `A-Z a-z -`, such as `fr` or `fr-FR`.
fn is_language_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_LANGUAGE_TAG_CHARS
        && tag
            .bytes()
            .all(|byte| byte.is_ascii_alphabetic() || byte == b'-')
}

/// Returns whether `size` is a number, optionally with one decimal point, followed by nothing or
/// one of [`SIZE_UNITS`], in at most 16 characters: `100%`, `800px`, `42.5em`.
fn is_css_size(size: &str) -> bool {
    if size.is_empty() || size.len() > MAX_SIZE_CHARS {
        return false;
    }
    let unit_start = size.find(|character: char| !character.is_ascii_digit() && character != '.');
    let (number, unit) = size.split_at(unit_start.unwrap_or(size.len()));

    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let number_ok = !whole.is_empty() && !fraction.is_empty() && !fraction.contains('.');
    number_ok && (unit.is_empty() || SIZE_UNITS.contains(&unit))
}

/// Returns the title to show: `title` shortened to [`MAX_TITLE_CHARS`] characters, keeping an
/// extension of up to 16 characters, or `Unnamed.<fileType>` when `title` is empty.
fn document_title(title: &str, file_type: FileType) -> String {
    if title.is_empty() {
        return format!("Unnamed.{}", file_type.extension());
    }
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title.to_owned();
    }

    let suffix = match title.rfind('.') {
        Some(dot) if title[dot..].chars().count() <= MAX_TITLE_SUFFIX_CHARS => &title[dot..],
        _ => "",
    };
    let stem = &title[..title.len() - suffix.len()];
    let stem_chars = MAX_TITLE_CHARS - suffix.chars().count();
    let mut shortened: String = stem.chars().take(stem_chars).collect();
    shortened.push_str(suffix);
    shortened
}

#[cfg(test)]
#[path = "editor_config_tests.rs"]
mod tests;
