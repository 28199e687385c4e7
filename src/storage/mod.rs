//! Documents, versions and their chunked binaries in the key-value store.
//!
//! Layout in the store:
//! - `doc:{document uuid}`: the [`Document`] metadata as JSON, switched with compare-and-swap;
//! - `blob:{document uuid}:{blob uuid}:{index:06}`: the chunks of one binary, each exactly
//!   [`CHUNK_SIZE`] bytes except the last, which is shorter.
//!
//! A new version is written in two steps: its chunks under a fresh blob id, then the metadata
//! that points at them, swapped in by [`commit_version`]. Routes get the order and the clean-up
//! right by going through [`store_binary`], which takes the body as an iterator of byte buffers.
//!
//! This module does not check rights: routes call [`Document::can_read`],
//! [`Document::can_write`] or [`Document::can_manage`] before they read or change a document.

mod blob;
mod commit;
mod document;
mod key;
mod operations;
mod time;

pub use blob::{BlobReader, BlobRef, BlobWriter, CHUNK_SIZE, delete_blob, read_chunk};
pub use commit::{
    COMMIT_ATTEMPTS, Committed, Outcome, commit_version, create_document, load_document,
};
pub use document::{Author, Document, RECENT_KEYS_MAX, RecentKey, Rights, Version, VersionKind};
pub use key::{MAX_DS_KEY_LEN, is_valid_ds_key, new_ds_key};
pub use operations::{
    NewVersion, Upload, add_version, replace_binary, rotate_key, set_rights, store_binary,
    write_blob,
};
pub use time::format_rfc3339;

use crate::kv::KvError;

/// Failure of a storage operation. The texts are for logs and name no secret.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The document does not exist.
    #[error("document not found")]
    NotFound,
    /// A document with this id already exists.
    #[error("document already exists")]
    AlreadyExists,
    /// The binary is larger than the configured maximum.
    #[error("binary exceeds the maximum size of {max} bytes")]
    TooLarge {
        /// The maximum size in bytes.
        max: u64,
    },
    /// Stored data is unreadable or inconsistent: invalid metadata JSON, a missing chunk, a chunk
    /// of the wrong size or a binary whose SHA-256 does not match its metadata.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Concurrent writers changed the metadata on every one of the [`COMMIT_ATTEMPTS`] attempts.
    #[error(
        "document metadata changed concurrently on {COMMIT_ATTEMPTS} attempts; update abandoned"
    )]
    Conflict,
    /// The key-value store failed.
    #[error(transparent)]
    Kv(#[from] KvError),
}
