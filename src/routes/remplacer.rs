//! `POST /api/only-office/{id}/remplacer?authorization=<callback token>`: the Document Server's
//! save callback.
//!
//! Two signatures protect it: the callback token `/acces` minted for this document, and the
//! Document Server's own token (the body `token` first, else the configured header). Every field
//! used comes from the verified DS claims. The response status follows the Document Server's retry rules:
//! `200 {"error":0}` once the work is done, 5xx when a retry can succeed (storage or download
//! failures, which leave the previous version current and the key unchanged), 4xx when it cannot.

use std::cell::RefCell;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Context, document_id};
use crate::error::{Error, LogContext};
use crate::fetch::{self, DsOrigins, FetchError, Limits};
use crate::http::{Request, Response};
use crate::log;
use crate::onlyoffice::callback::{Callback, CallbackStatus};
use crate::onlyoffice::{ContentCheck, FileType};
use crate::storage::{
    Author, BlobRef, Document, NewVersion, Outcome, StorageError, VersionKind, add_version, delete_blob,
    load_document, rotate_key, store_binary, write_blob,
};
use crate::tokens::{AccessKind, Right, TokenError, verify_access, verify_ds_body_token, verify_ds_header_token};

/// Largest changes archive stored, in bytes.
const MAX_CHANGES_BYTES: u64 = 64 * 1024 * 1024;

/// Largest callback body accepted, in bytes; real ones are a few kilobytes.
const MAX_CALLBACK_BODY: u64 = 1024 * 1024;

/// Download timeouts, well under the Document Server's 10-minute callback timeout.
const DOWNLOAD_LIMITS: (std::time::Duration, std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(10),
    std::time::Duration::from_secs(120),
    std::time::Duration::from_secs(60),
);

pub(super) fn post(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let context = Context::open()?;
    let id = document_id(id)?;
    let token = request.query_param("authorization").ok_or(Error::Unauthorized(TokenError::Missing))?;
    let access = verify_access(&context.settings.connector_secret()?, AccessKind::Callback, &token, &id, context.now)?;
    log.user = Some(access.user.clone());

    let claims = verified_ds_claims(request, &context)?;
    let callback = Callback::from_claims(&claims).map_err(|err| {
        log::warn(log, &format!("callback rejected: {err}"));
        Error::UnsupportedMediaType
    })?;
    let document = load_document(&context.kv, id)?.ok_or(Error::DocumentNotFound)?;
    let key = key_state(&document, &callback.key).ok_or_else(|| {
        log::warn(log, "callback key does not belong to this document");
        Error::NotAllowed
    })?;
    let status = match callback.status {
        Ok(status) => status,
        Err(unknown) => {
            log::warn(log, &format!("unknown callback status {unknown} acknowledged"));
            return Ok(acknowledged());
        }
    };
    log::info(log, &format!("callback status {} for key {}", status.code(), callback.key));

    let save = Save { context: &context, id, document: &document, callback: &callback, key, log };
    match status {
        CallbackStatus::Editing | CallbackStatus::Closed => Ok(acknowledged()),
        CallbackStatus::NotFound | CallbackStatus::MailMerge => {
            log::warn(log, "callback status not expected on a callback, acknowledged");
            Ok(acknowledged())
        }
        CallbackStatus::MustSave | CallbackStatus::MustForceSave | CallbackStatus::Corrupted | CallbackStatus::CorruptedForceSave => {
            if access.right != Right::Write {
                return Err(Error::NotAllowed);
            }
            save.run(status)
        }
    }
}

fn acknowledged() -> Response {
    Response::json(200, &json!({ "error": 0 }))
}

/// Verifies the Document Server's token: the body `token` when present, else the header.
fn verified_ds_claims(request: &Request, context: &Context) -> Result<Map<String, Value>, Error> {
    let secret = context.settings.ds_secret()?;
    let body = request.read_body(MAX_CALLBACK_BODY)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| Error::UnsupportedMediaType)?;
    let Value::Object(body) = body else { return Err(Error::UnsupportedMediaType) };
    let claims = match body.get("token") {
        Some(Value::String(token)) => verify_ds_body_token(&secret, token, context.now),
        Some(_) => Err(TokenError::Malformed("token field is not a string")),
        None => match request.header(context.settings.ds_header()) {
            Some(header) => verify_ds_header_token(&secret, header, context.now),
            None => Err(TokenError::Missing),
        },
    };
    claims.map_err(Error::Unauthorized)
}

/// Whether a callback key is the document's current key or one it had recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Current,
    Recent,
}

fn key_state(document: &Document, key: &str) -> Option<KeyState> {
    if document.ds_key == key {
        Some(KeyState::Current)
    } else if document.recent_key(key).is_some() {
        Some(KeyState::Recent)
    } else {
        None
    }
}

/// Returns the version a key was minted for, from its `<id>-v<n>-<random>` shape.
fn key_base_version(key: &str) -> Option<u32> {
    key.split('-').find_map(|part| part.strip_prefix('v')?.parse().ok())
}

/// One save, recovery copy or conflict copy of the edited file.
struct Save<'a> {
    context: &'a Context,
    id: Uuid,
    document: &'a Document,
    callback: &'a Callback,
    key: KeyState,
    log: &'a LogContext,
}

impl Save<'_> {
    fn run(&self, status: CallbackStatus) -> Result<Response, Error> {
        let kind = match status {
            CallbackStatus::MustSave => VersionKind::Save,
            CallbackStatus::MustForceSave => VersionKind::ForceSave,
            _ => VersionKind::Recovery,
        };
        if self.already_stored(kind) {
            log::info(self.log, "repeated callback for a stored save, acknowledged");
            return Ok(acknowledged());
        }
        if kind == VersionKind::Save && self.callback.not_modified {
            return self.close_unmodified();
        }
        let Some(url) = &self.callback.url else {
            if kind == VersionKind::Recovery {
                // The Document Server keeps its copy; reopening with the same key recovers it.
                log::error(self.log, "save failed on the Document Server and it sent no file; key kept");
                return Ok(acknowledged());
            }
            log::warn(self.log, "save callback without url");
            return Err(Error::UnsupportedMediaType);
        };
        let kind = if kind != VersionKind::Recovery && self.is_conflict() {
            log::warn(self.log, "document changed during the editing session, storing the edit as a conflict copy");
            VersionKind::Conflict
        } else {
            kind
        };
        self.store(url, kind)
    }

    /// A Document Server retry of a save that was committed finds the version it produced.
    fn already_stored(&self, kind: VersionKind) -> bool {
        kind != VersionKind::Recovery
            && self
                .document
                .versions
                .iter()
                .any(|version| version.ds_key.as_deref() == Some(self.callback.key.as_str()) && version.kind == kind)
            && (self.key == KeyState::Recent || kind == VersionKind::ForceSave && self.forcesave_is_repeat())
    }

    /// Forcesaves keep the key, so a repeated one is recognised by its `lastsave`.
    fn forcesave_is_repeat(&self) -> bool {
        let Some(last_save) = &self.callback.last_save else { return false };
        let created = crate::storage::format_rfc3339(parse_last_save(last_save).unwrap_or(0));
        self.document.versions.iter().any(|version| {
            version.kind == VersionKind::ForceSave
                && version.ds_key.as_deref() == Some(self.callback.key.as_str())
                && version.created_at == created
        })
    }

    /// Handles status 2 with `notmodified`, whose content the last forcesave already stored.
    fn close_unmodified(&self) -> Result<Response, Error> {
        if self.key == KeyState::Current {
            rotate_key(&self.context.kv, self.id, &self.callback.key, self.context.now)?;
            log::info(self.log, "session closed without changes since the last forcesave, key rotated");
        }
        Ok(acknowledged())
    }

    /// Returns whether the document was replaced while this session edited it. This reads the
    /// metadata loaded before the download; `add_version` checks the key again inside its
    /// compare-and-swap, which catches a replacement committed during the download.
    fn is_conflict(&self) -> bool {
        if self.key == KeyState::Recent {
            return true;
        }
        let sources = self.callback.source_hashes();
        if sources.is_empty() {
            return false;
        }
        let base = key_base_version(&self.callback.key);
        let known: Vec<&str> = self
            .document
            .versions
            .iter()
            .filter(|version| Some(version.number) == base || version.ds_key.as_deref() == Some(self.callback.key.as_str()))
            .map(|version| version.sha256.as_str())
            .collect();
        !sources.iter().any(|source| known.contains(&source.as_str()))
    }

    fn store(&self, url: &str, kind: VersionKind) -> Result<Response, Error> {
        let settings = &self.context.settings;
        let origins = DsOrigins { public: settings.onlyoffice_public_url()?, internal: settings.onlyoffice_internal_url()? };
        let resolved = origins.resolve(url).map_err(|err| {
            log::error(self.log, &format!("callback url rejected: {err}"));
            Error::NotAllowed
        })?;
        let file_type_name = self.callback.file_type.clone().unwrap_or_else(|| self.document.file_type.clone());
        let file_type = FileType::from_extension(&file_type_name)
            .map_err(|_| Error::CorruptFile(format!("unsupported filetype {file_type_name:?}")))?;
        let title = title_with_extension(&self.document.title, file_type.extension());
        let max = settings.max_document_bytes()?;
        let (connect, first_byte, between_bytes) = DOWNLOAD_LIMITS;
        let limits = Limits { max_bytes: max, connect, first_byte, between_bytes };

        let download = fetch::get(&resolved, &limits).map_err(download_error)?;
        let extension = file_type.extension();
        let check = RefCell::new(ContentCheck::new(file_type));
        let pieces = download.map(|piece| {
            let piece = piece.map_err(download_error)?;
            if check.borrow_mut().feed(&piece) { Ok(piece) } else { Err(not_of_type(extension)) }
        });
        let author_id = self.callback.last_editor().unwrap_or("").to_owned();
        let author_name = self.callback.user_name(&author_id).unwrap_or(&author_id).to_owned();
        let new = NewVersion {
            kind,
            rotate_key: kind == VersionKind::Save,
            title,
            file_type: extension.to_owned(),
            author: Author { id: author_id, name: author_name },
            ds_key: Some(self.callback.key.clone()),
            session_base_version: key_base_version(&self.callback.key),
            history: self.callback.history_raw.clone(),
            changes: None,
            now: self.callback.last_save.as_deref().and_then(parse_last_save).unwrap_or(self.context.now),
        };
        let changes = if kind == VersionKind::Recovery { None } else { self.store_changes(&origins, &limits) };
        let new = NewVersion { changes: changes.clone(), ..new };
        let committed = store_binary(&self.context.kv, self.id, max, pieces, |blob| {
            if !check.borrow().finish() {
                return Err(StorageError::Corrupt(format!("content is not a whole {extension} file")));
            }
            add_version(&self.context.kv, self.id, blob, &new)
        });
        if let Some(changes) = &changes {
            let kept = committed.as_ref().is_ok_and(|committed| committed.document.references_blob(changes.id));
            if !kept {
                self.discard(changes);
            }
        }
        let committed = committed?;
        match committed.outcome {
            Outcome::Changed => log::info(
                self.log,
                &format!("stored {kind:?} as version {} ({} bytes)", committed.document.versions.len(), committed.document.size),
            ),
            Outcome::Unchanged => log::info(self.log, "repeated callback, nothing new stored"),
        }
        Ok(acknowledged())
    }
}

impl Save<'_> {
    /// Stores the changes archive (`changesurl`) for the version-history view. A failure only
    /// loses the history, never the save, so it is logged and the save goes on without it.
    fn store_changes(&self, origins: &DsOrigins, limits: &Limits) -> Option<BlobRef> {
        let url = self.callback.changes_url.as_ref()?;
        let stored = origins
            .resolve(url)
            .map_err(|err| Error::DownloadFailed(format!("changes url rejected: {err}")))
            .and_then(|resolved| {
                let limits = Limits { max_bytes: MAX_CHANGES_BYTES, ..*limits };
                let download = fetch::get(&resolved, &limits).map_err(download_error)?;
                write_blob(&self.context.kv, self.id, MAX_CHANGES_BYTES, download.map(|piece| piece.map_err(download_error)))
            });
        match stored {
            Ok(blob) => Some(blob),
            Err(err) => {
                log::warn(self.log, &format!("changes archive not stored, history view will lack it: {err}"));
                None
            }
        }
    }

    /// Deletes the chunks of a changes archive that no version references.
    fn discard(&self, blob: &BlobRef) {
        let referenced = load_document(&self.context.kv, self.id)
            .map(|document| document.is_some_and(|document| document.references_blob(blob.id)));
        if let Ok(false) = referenced
            && let Err(err) = delete_blob(&self.context.kv, self.id, blob)
        {
            log::warn(self.log, &format!("changes archive chunks left behind: {err}"));
        }
    }
}

fn not_of_type(extension: &str) -> Error {
    Error::CorruptFile(format!("content is not a {extension} file"))
}

fn download_error(err: FetchError) -> Error {
    match err {
        FetchError::TooLarge(_) | FetchError::LengthMismatch { .. } => Error::CorruptFile(err.to_string()),
        FetchError::Transport(_) | FetchError::Status(_) => Error::DownloadFailed(err.to_string()),
    }
}

/// Gives `title` the extension `extension`, replacing its own when they differ.
fn title_with_extension(title: &str, extension: &str) -> String {
    let stem = match title.rsplit_once('.') {
        Some((stem, current)) if !stem.is_empty() && current.eq_ignore_ascii_case(extension) => return title.to_owned(),
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => title,
    };
    format!("{stem}.{extension}")
}

/// Parses `lastsave` (`2026-01-05T10:00:00.000Z`) into Unix seconds.
fn parse_last_save(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.trim_end_matches('Z').split(':');
    let hour: i64 = time.next()?.parse().ok()?;
    let minute: i64 = time.next()?.parse().ok()?;
    let second: i64 = time.next()?.split('.').next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from the civil date, after Howard Hinnant's algorithm.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_save_parses_to_unix_seconds() {
        assert_eq!(parse_last_save("2026-01-05T10:00:00.000Z"), Some(1_767_607_200));
        assert_eq!(parse_last_save("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_last_save("2026-13-05T10:00:00Z"), None);
        assert_eq!(parse_last_save("yesterday"), None);
    }

    #[test]
    fn title_extension_follows_file_type() {
        assert_eq!(title_with_extension("rapport.doc", "docx"), "rapport.docx");
        assert_eq!(title_with_extension("rapport.docx", "docx"), "rapport.docx");
        assert_eq!(title_with_extension("rapport.DOCX", "docx"), "rapport.DOCX");
        assert_eq!(title_with_extension("rapport", "odt"), "rapport.odt");
        assert_eq!(title_with_extension(".hidden", "odt"), ".hidden.odt");
    }

    #[test]
    fn key_base_version_reads_key_shape() {
        assert_eq!(key_base_version("0f4e6c1a3b2d4c5e8f90123456789abc-v7-9f2cAbCdEfGh"), Some(7));
        assert_eq!(key_base_version("no-version-here"), None);
    }
}
