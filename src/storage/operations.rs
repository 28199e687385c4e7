//! The changes routes make to documents, built on [`commit_version`], and the helper that stores a
//! body and commits it in the right order.

use uuid::Uuid;

use super::StorageError;
use super::blob::{BlobRef, BlobWriter, delete_blob, log_unreferenced_chunks};
use super::commit::{Committed, Outcome, commit_version, load_document};
use super::document::{Author, Document, Rights, Version, VersionKind};
use super::key::new_ds_key;
use super::time::format_rfc3339;
use crate::kv::Kv;

/// A binary put through the document API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// File name.
    pub title: String,
    /// Lowercase file extension.
    pub file_type: String,
    /// The uploader.
    pub author: Author,
    /// Current time, Unix seconds.
    pub now: u64,
}

/// Description of a version to add with [`add_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// Origin of the version, which decides whether it becomes current.
    pub kind: VersionKind,
    /// Whether to give the document a new document key. Pass `kind.rotates_key()` unless the
    /// callback case requires otherwise.
    pub rotate_key: bool,
    /// File name.
    pub title: String,
    /// Lowercase file extension.
    pub file_type: String,
    /// The user behind the change.
    pub author: Author,
    /// Document key of the editing session that produced the binary; `None` for uploads.
    pub ds_key: Option<String>,
    /// Version the editing session started from, when known.
    pub session_base_version: Option<u32>,
    /// The Document Server's `history` object of the save.
    pub history: Option<serde_json::Value>,
    /// Chunks of the changes archive, already stored.
    pub changes: Option<BlobRef>,
    /// Current time, Unix seconds.
    pub now: u64,
}

impl NewVersion {
    /// Describes `upload` as a new version: kind [`VersionKind::Upload`], key rotated.
    pub fn upload(upload: &Upload) -> Self {
        Self {
            kind: VersionKind::Upload,
            rotate_key: true,
            title: upload.title.clone(),
            file_type: upload.file_type.clone(),
            author: upload.author.clone(),
            ds_key: None,
            session_base_version: None,
            history: None,
            changes: None,
            now: upload.now,
        }
    }
}

pub(super) fn build_version(number: u32, blob: BlobRef, new: &NewVersion) -> Version {
    Version {
        number,
        size: blob.size,
        sha256: blob.sha256.clone(),
        file_type: new.file_type.clone(),
        title: new.title.clone(),
        created_at: format_rfc3339(new.now),
        author: new.author.id.clone(),
        author_name: new.author.name.clone(),
        kind: new.kind,
        blob,
        ds_key: new.ds_key.clone(),
        session_base_version: new.session_base_version,
        history: new.history.clone(),
        changes: new.changes.clone(),
    }
}

/// Returns whether `document` already has a version of the same kind with the same binary saved
/// under the same document key: the Document Server sent the same callback again.
fn is_repeat(document: &Document, blob: &BlobRef, new: &NewVersion) -> bool {
    let Some(ds_key) = &new.ds_key else {
        return false;
    };
    document.versions.iter().any(|version| {
        version.kind == new.kind
            && version.ds_key.as_ref() == Some(ds_key)
            && version.sha256 == blob.sha256
    })
}

/// Adds `blob` as the next version of document `doc_id`.
///
/// Versions of a kind that [`VersionKind::becomes_current`] become current, while recovery and
/// conflict copies only join the version list. With `new.rotate_key` the document gets a new key
/// and the old one joins the recent keys.
///
/// When `new.ds_key` is set and a version of the same kind with the same SHA-256 was already saved
/// under that key, the call is a repeated callback. Nothing is written then, and the outcome is
/// [`Outcome::Unchanged`].
///
/// A version from an editing session (`new.ds_key` set) becomes current only while that key is
/// still the document's key, checked inside the compare-and-swap. When another version changed
/// the key in the meantime (a replacement through the API, say), the version is kept as a
/// [`VersionKind::Conflict`] copy instead, and the key is left alone.
///
/// The chunks of `blob` must already be stored.
///
/// # Errors
///
/// As [`commit_version`].
pub fn add_version<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    blob: BlobRef,
    new: &NewVersion,
) -> Result<Committed, StorageError> {
    let now = format_rfc3339(new.now);

    commit_version(kv, doc_id, |document| {
        if is_repeat(document, &blob, new) {
            return Ok(Outcome::Unchanged);
        }

        let stale_session = new.kind.becomes_current()
            && new.ds_key.as_deref().is_some_and(|key| key != document.ds_key);
        let mut version = build_version(document.next_version_number(), blob.clone(), new);
        if stale_session {
            version.kind = VersionKind::Conflict;
        }
        if version.kind.becomes_current() {
            document.make_current(&version);
        }
        document.versions.push(version);

        if new.rotate_key && !stale_session {
            document.retire_key(new_ds_key(doc_id, document.current_version), &now);
        }
        Ok(Outcome::Changed)
    })
}

/// Replaces the binary of document `doc_id` with `blob`: a new current upload version and a new
/// document key.
///
/// # Errors
///
/// As [`commit_version`].
pub fn replace_binary<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    blob: BlobRef,
    upload: &Upload,
) -> Result<Committed, StorageError> {
    add_version(kv, doc_id, blob, &NewVersion::upload(upload))
}

/// Sets who may read and write document `doc_id`. Writes nothing when the rights are the same.
///
/// # Errors
///
/// As [`commit_version`].
pub fn set_rights<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    rights: &Rights,
) -> Result<Committed, StorageError> {
    commit_version(kv, doc_id, |document| {
        if document.rights == *rights {
            return Ok(Outcome::Unchanged);
        }
        document.rights.clone_from(rights);
        Ok(Outcome::Changed)
    })
}

/// Gives document `doc_id` a new document key without a new version, if its key is still
/// `current_key`. Otherwise another request already rotated it, and nothing is written.
///
/// A committed save whose content did not change (`notmodified`) needs exactly this.
///
/// # Errors
///
/// As [`commit_version`].
pub fn rotate_key<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    current_key: &str,
    now: u64,
) -> Result<Committed, StorageError> {
    let now = format_rfc3339(now);

    commit_version(kv, doc_id, |document| {
        if document.ds_key != current_key {
            return Ok(Outcome::Unchanged);
        }
        document.retire_key(new_ds_key(doc_id, document.current_version), &now);
        Ok(Outcome::Changed)
    })
}

/// Stores `body` as a new blob of document `doc_id`, at most `max_bytes` long.
///
/// `body` yields the binary in pieces of any size, or the caller's error (a failed download, for
/// example). Only one chunk is buffered. When a piece or a chunk write fails, the chunks written so
/// far are deleted before the error is returned.
///
/// # Errors
///
/// - The first error of `body`.
/// - [`StorageError::TooLarge`] past `max_bytes`, converted into `E`.
/// - [`StorageError::Kv`] when a write fails, converted into `E`.
pub fn write_blob<K, B, E>(
    kv: &K,
    doc_id: Uuid,
    max_bytes: u64,
    body: impl IntoIterator<Item = Result<B, E>>,
) -> Result<BlobRef, E>
where
    K: Kv + ?Sized,
    B: AsRef<[u8]>,
    E: From<StorageError>,
{
    let mut writer = BlobWriter::new(kv, doc_id, max_bytes);

    for piece in body {
        let written = match piece {
            Ok(bytes) => writer.write(bytes.as_ref()).map_err(E::from),
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            let blob_id = writer.blob_id();
            if let Err(cleanup) = writer.abort() {
                log_unreferenced_chunks(doc_id, blob_id, &cleanup);
            }
            return Err(error);
        }
    }
    writer.finish().map_err(E::from)
}

/// Stores `body` as a new blob, then runs `commit` with its reference, deleting the chunks again
/// when no stored version references them afterwards.
///
/// This keeps the write order by construction: chunks first, metadata last. `commit` is one of
/// [`super::create_document`], [`replace_binary`], [`add_version`] or a [`commit_version`] call
/// that stores the reference. The chunks are deleted after a failed write, after a failed commit
/// (unless the document turns out to reference them, as after a swap that succeeded but reported
/// an error), and after an [`Outcome::Unchanged`] commit such as a repeated callback.
///
/// # Errors
///
/// As [`write_blob`], and the error of `commit` converted into `E`.
pub fn store_binary<K, B, E>(
    kv: &K,
    doc_id: Uuid,
    max_bytes: u64,
    body: impl IntoIterator<Item = Result<B, E>>,
    commit: impl FnOnce(BlobRef) -> Result<Committed, StorageError>,
) -> Result<Committed, E>
where
    K: Kv + ?Sized,
    B: AsRef<[u8]>,
    E: From<StorageError>,
{
    let written = write_blob(kv, doc_id, max_bytes, body)?;

    match commit(written.clone()) {
        Ok(committed) => {
            if !committed.document.references_blob(written.id) {
                discard_blob(kv, doc_id, &written);
            }
            Ok(committed)
        }
        Err(error) => {
            // Re-read the metadata, because a swap can succeed and still report a failure. If the
            // read fails too, keeping unreferenced chunks is safer than deleting a current version.
            match load_document(kv, doc_id) {
                Ok(Some(document)) if document.references_blob(written.id) => {}
                Ok(_) => discard_blob(kv, doc_id, &written),
                Err(reload) => {
                    let cause = format!("kept because reloading the metadata failed: {reload}");
                    log_unreferenced_chunks(doc_id, written.id, &cause);
                }
            }
            Err(error.into())
        }
    }
}

fn discard_blob<K: Kv + ?Sized>(kv: &K, doc_id: Uuid, blob: &BlobRef) {
    if let Err(error) = delete_blob(kv, doc_id, blob) {
        log_unreferenced_chunks(doc_id, blob.id, &error);
    }
}

#[cfg(test)]
#[path = "operations_tests.rs"]
mod tests;
