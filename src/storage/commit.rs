//! Loading documents and switching their metadata with compare-and-swap.
//!
//! Write order, kept by every change that adds a version:
//! 1. all chunks of the new binary, under a fresh blob id that no metadata references yet;
//! 2. the metadata under `doc:{id}`, in one compare-and-swap from the exact bytes that were read.
//!
//! A reader therefore sees either the old metadata, whose chunks are complete and untouched, or
//! the new metadata, whose chunks are complete. A failure before the swap leaves the previous
//! version current, and the writer of the unreferenced chunks deletes them (see
//! [`super::store_binary`]).

use uuid::Uuid;

use super::StorageError;
use super::blob::BlobRef;
use super::document::{Document, Rights};
use super::key::new_ds_key;
use super::operations::{NewVersion, Upload, build_version};
use crate::kv::Kv;

/// Number of times [`commit_version`] reads, updates and tries to swap the metadata before it
/// gives up with [`StorageError::Conflict`].
pub const COMMIT_ATTEMPTS: usize = 16;

/// Whether an update changed the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The metadata was written.
    Changed,
    /// Nothing needed to change, so nothing was written.
    Unchanged,
}

/// Result of a successful commit: the document as stored after it, and whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The stored document.
    pub document: Document,
    /// Whether this call wrote it.
    pub outcome: Outcome,
}

fn metadata_key(id: Uuid) -> String {
    format!("doc:{id}")
}

fn parse_document(bytes: &[u8], id: Uuid) -> Result<Document, StorageError> {
    let document: Document = serde_json::from_slice(bytes).map_err(|error| {
        StorageError::Corrupt(format!("metadata of document {id} is not valid: {error}"))
    })?;
    document.validate(id)?;
    Ok(document)
}

fn serialize_document(document: &Document) -> Result<Vec<u8>, StorageError> {
    document.validate(document.id)?;
    // serde_json fails only on maps with non-string keys and on failing `Serialize` impls, and
    // `Document` has neither.
    serde_json::to_vec(document).map_err(|error| {
        StorageError::Corrupt(format!(
            "metadata of document {} cannot be serialized: {error}",
            document.id
        ))
    })
}

/// Loads the metadata of document `id`.
///
/// # Errors
///
/// - [`StorageError::Corrupt`] when the stored JSON is invalid or breaks an invariant of
///   [`Document::validate`].
/// - [`StorageError::Kv`] when the read fails.
pub fn load_document<K: Kv + ?Sized>(kv: &K, id: Uuid) -> Result<Option<Document>, StorageError> {
    match kv.get(&metadata_key(id))? {
        Some(bytes) => parse_document(&bytes, id).map(Some),
        None => Ok(None),
    }
}

/// Creates document `doc_id` with `blob` as its first version, an upload by `upload.author`, who
/// becomes the owner. The document gets a new document key and no shared rights.
///
/// The chunks of `blob` must already be stored.
///
/// # Errors
///
/// - [`StorageError::AlreadyExists`] when the id is taken.
/// - [`StorageError::Kv`] when the write fails.
pub fn create_document<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    blob: BlobRef,
    upload: &Upload,
) -> Result<Committed, StorageError> {
    let version = build_version(1, blob, &NewVersion::upload(upload));
    let mut document = Document {
        id: doc_id,
        title: String::new(),
        file_type: String::new(),
        size: 0,
        sha256: String::new(),
        current_version: 0,
        ds_key: new_ds_key(doc_id, 1),
        owner: upload.author.id.clone(),
        rights: Rights::default(),
        versions: Vec::new(),
        recent_keys: Vec::new(),
        revision: 1,
    };
    document.make_current(&version);
    document.versions.push(version);

    let bytes = serialize_document(&document)?;
    if !kv.compare_and_swap(&metadata_key(doc_id), None, &bytes)? {
        return Err(StorageError::AlreadyExists);
    }
    Ok(Committed {
        document,
        outcome: Outcome::Changed,
    })
}

/// Applies `update` to document `doc_id` and stores the result with compare-and-swap.
///
/// Each attempt reads the stored bytes, parses them, calls `update` on the parsed copy and, when it
/// returns [`Outcome::Changed`], increments `revision` and swaps the stored bytes for the new ones
/// only if they are still the bytes read. When another writer got there first, the next attempt
/// starts again from the new bytes, so `update` may run several times and must decide from the
/// document it is given, not from state it kept between calls. With [`Outcome::Unchanged`]
/// nothing is written and the document as read is returned, whatever `update` did to its copy.
///
/// # Errors
///
/// - [`StorageError::NotFound`] when the document does not exist.
/// - [`StorageError::Corrupt`] when the stored metadata is invalid or the updated document breaks
///   an invariant.
/// - [`StorageError::Conflict`] after [`COMMIT_ATTEMPTS`] lost races.
/// - Any error `update` returns, with nothing written.
/// - [`StorageError::Kv`] when the store fails.
pub fn commit_version<K, F>(kv: &K, doc_id: Uuid, mut update: F) -> Result<Committed, StorageError>
where
    K: Kv + ?Sized,
    F: FnMut(&mut Document) -> Result<Outcome, StorageError>,
{
    let key = metadata_key(doc_id);

    for _ in 0..COMMIT_ATTEMPTS {
        let stored = kv.get(&key)?.ok_or(StorageError::NotFound)?;
        let document = parse_document(&stored, doc_id)?;

        let mut updated = document.clone();
        let outcome = update(&mut updated)?;
        if outcome == Outcome::Unchanged {
            return Ok(Committed { document, outcome });
        }
        updated.revision = document.revision + 1;

        let bytes = serialize_document(&updated)?;
        if kv.compare_and_swap(&key, Some(&stored), &bytes)? {
            return Ok(Committed {
                document: updated,
                outcome,
            });
        }
    }
    Err(StorageError::Conflict)
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
