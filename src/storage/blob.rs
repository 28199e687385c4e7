//! Binaries split into fixed-size chunks, written and read one chunk at a time.
//!
//! Every write gets a fresh blob id, so the chunks of a failed attempt never mix with those of a
//! retry, and a version's chunks are never overwritten once its metadata points at them.

use std::fmt;

use hmac_sha256::Hash;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StorageError;
use crate::kv::Kv;

/// Size of every chunk except the last: 256 KiB, which leaves room under the smallest per-value
/// limit of the hosted stores Spin can use, the 400 KB item size of `DynamoDB`.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Reference to a stored binary: its blob id, size, digest and chunk count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Blob id, part of every chunk key.
    pub id: Uuid,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole binary, lowercase hex.
    pub sha256: String,
    /// Number of chunks: the size divided by [`CHUNK_SIZE`], rounded up (0 for an empty binary).
    pub chunk_count: u32,
}

fn chunk_key(doc_id: Uuid, blob_id: Uuid, index: u32) -> String {
    format!("blob:{doc_id}:{blob_id}:{index:06}")
}

fn chunk_keys(doc_id: Uuid, blob_id: Uuid, count: u32) -> Vec<String> {
    (0..count)
        .map(|index| chunk_key(doc_id, blob_id, index))
        .collect()
}

fn to_hex(digest: &[u8; 32]) -> String {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in digest {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Writes one binary as chunks, buffering at most one chunk.
///
/// After [`BlobWriter::write`] fails, call [`BlobWriter::abort`]: further writes are rejected.
/// Dropping the writer deletes nothing.
pub struct BlobWriter<'a, K: Kv + ?Sized> {
    kv: &'a K,
    doc_id: Uuid,
    blob_id: Uuid,
    max_bytes: u64,
    buffer: Vec<u8>,
    hasher: Hash,
    size: u64,
    /// Chunks for which a write was attempted, successful or not: the ones `abort` deletes.
    chunks_attempted: u32,
    failed: bool,
}

impl<K: Kv + ?Sized> fmt::Debug for BlobWriter<'_, K> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("BlobWriter")
            .field("doc_id", &self.doc_id)
            .field("blob_id", &self.blob_id)
            .field("size", &self.size)
            .field("chunks_attempted", &self.chunks_attempted)
            .finish_non_exhaustive()
    }
}

impl<'a, K: Kv + ?Sized> BlobWriter<'a, K> {
    /// Starts a binary of document `doc_id` under a fresh blob id, accepting at most `max_bytes`.
    pub fn new(kv: &'a K, doc_id: Uuid, max_bytes: u64) -> Self {
        Self {
            kv,
            doc_id,
            blob_id: Uuid::new_v4(),
            max_bytes,
            buffer: Vec::with_capacity(CHUNK_SIZE),
            hasher: Hash::new(),
            size: 0,
            chunks_attempted: 0,
            failed: false,
        }
    }

    /// Returns the blob id the chunks are written under.
    pub fn blob_id(&self) -> Uuid {
        self.blob_id
    }

    /// Appends `data`, storing each chunk as soon as it is full.
    ///
    /// # Errors
    ///
    /// - [`StorageError::TooLarge`] when the total would exceed `max_bytes`. Nothing of `data` is
    ///   taken then.
    /// - [`StorageError::Kv`] when storing a chunk fails.
    /// - [`StorageError::Corrupt`] when called again after an error.
    ///
    /// After any error, call [`BlobWriter::abort`].
    pub fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Corrupt(
                "blob writer used after a failed write".to_owned(),
            ));
        }
        let new_size = self.size.saturating_add(data.len() as u64);
        if new_size > self.max_bytes {
            self.failed = true;
            return Err(StorageError::TooLarge {
                max: self.max_bytes,
            });
        }

        let mut rest = data;
        while !rest.is_empty() {
            let taken = rest.len().min(CHUNK_SIZE - self.buffer.len());
            self.buffer.extend_from_slice(&rest[..taken]);
            rest = &rest[taken..];
            if self.buffer.len() == CHUNK_SIZE {
                self.store_buffer()?;
            }
        }

        self.hasher.update(data);
        self.size = new_size;
        Ok(())
    }

    /// Stores the last, partial chunk and returns the reference to the complete binary.
    ///
    /// # Errors
    ///
    /// - [`StorageError::Kv`] when storing the last chunk fails.
    /// - [`StorageError::Corrupt`] when an earlier write failed.
    ///
    /// In both cases `finish` deletes the chunks already written before it returns, and logs to
    /// stderr when that delete fails.
    pub fn finish(mut self) -> Result<BlobRef, StorageError> {
        let stored = if self.failed {
            Err(StorageError::Corrupt(
                "blob writer finished after a failed write".to_owned(),
            ))
        } else if self.buffer.is_empty() {
            Ok(())
        } else {
            self.store_buffer()
        };
        if let Err(error) = stored {
            let (doc_id, blob_id) = (self.doc_id, self.blob_id);
            if let Err(cleanup) = self.abort() {
                log_unreferenced_chunks(doc_id, blob_id, &cleanup);
            }
            return Err(error);
        }

        Ok(BlobRef {
            id: self.blob_id,
            size: self.size,
            sha256: to_hex(&self.hasher.finalize()),
            chunk_count: self.chunks_attempted,
        })
    }

    /// Deletes every chunk this writer stored or tried to store.
    ///
    /// # Errors
    ///
    /// [`StorageError::Kv`] when the delete fails. The chunks then stay in the store.
    pub fn abort(self) -> Result<(), StorageError> {
        let keys = chunk_keys(self.doc_id, self.blob_id, self.chunks_attempted);
        if !keys.is_empty() {
            self.kv.delete_many(&keys)?;
        }
        Ok(())
    }

    fn store_buffer(&mut self) -> Result<(), StorageError> {
        let key = chunk_key(self.doc_id, self.blob_id, self.chunks_attempted);
        // Counted before the write: a failed write may still have stored the value.
        self.chunks_attempted += 1;
        if let Err(error) = self.kv.set(&key, &self.buffer) {
            self.failed = true;
            return Err(error.into());
        }
        self.buffer.clear();
        Ok(())
    }
}

/// Logs chunks that may stay in the store with no version referencing them, in the line format
/// of the crate's log module. Storage has no route, so the line names `storage` instead.
pub(super) fn log_unreferenced_chunks(doc_id: Uuid, blob_id: Uuid, cause: &dyn fmt::Display) {
    eprintln!(
        "level=error route=storage document={doc_id} user=- chunks of blob {blob_id} may stay in \
         the store unreferenced: {cause}"
    );
}

/// Deletes the chunks of `blob`. Use it only for a blob that no stored version references.
///
/// # Errors
///
/// [`StorageError::Kv`] when the delete fails.
pub fn delete_blob<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    blob: &BlobRef,
) -> Result<(), StorageError> {
    let keys = chunk_keys(doc_id, blob.id, blob.chunk_count);
    if !keys.is_empty() {
        kv.delete_many(&keys)?;
    }
    Ok(())
}

/// Reads chunk `index` of `blob` and checks its length.
///
/// # Errors
///
/// - [`StorageError::NotFound`] when `index` is not below `chunk_count`.
/// - [`StorageError::Corrupt`] when the chunk is missing or has the wrong length, or when the size
///   and chunk count in `blob` disagree.
/// - [`StorageError::Kv`] when the read fails.
pub fn read_chunk<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    blob: &BlobRef,
    index: u32,
) -> Result<Vec<u8>, StorageError> {
    if index >= blob.chunk_count {
        return Err(StorageError::NotFound);
    }
    let expected_len = expected_chunk_len(blob, index)?;

    let chunk = kv.get(&chunk_key(doc_id, blob.id, index))?.ok_or_else(|| {
        StorageError::Corrupt(format!("chunk {index} of blob {} is missing", blob.id))
    })?;
    if chunk.len() != expected_len {
        return Err(StorageError::Corrupt(format!(
            "chunk {index} of blob {} has {} bytes, expected {expected_len}",
            blob.id,
            chunk.len()
        )));
    }
    Ok(chunk)
}

fn expected_chunk_len(blob: &BlobRef, index: u32) -> Result<usize, StorageError> {
    let chunk_size = CHUNK_SIZE as u64;
    if blob.size.div_ceil(chunk_size) != u64::from(blob.chunk_count) {
        return Err(StorageError::Corrupt(format!(
            "blob {} has {} chunks for {} bytes",
            blob.id, blob.chunk_count, blob.size
        )));
    }
    let before = u64::from(index) * chunk_size;
    // The checks above make the result at most CHUNK_SIZE, so the cast does not truncate.
    Ok((blob.size - before).min(chunk_size) as usize)
}

/// Iterator over the chunks of a blob, in order, one store read per chunk.
///
/// Each chunk is checked for presence and length before it is returned, so a missing or cut chunk
/// ends the stream short of its `Content-Length`. It yields nothing after an error.
///
/// NOTE: reading does not hash the content again. A SHA-256 mismatch could only be found after the
/// last byte had gone out, when the client has already received a body of the announced length, and the
/// hash cost about four fifths of the host's CPU time on downloads. Chunks are immutable once
/// written, because every write gets a fresh blob id.
pub struct BlobReader<'a, K: Kv + ?Sized> {
    kv: &'a K,
    doc_id: Uuid,
    blob: BlobRef,
    next_index: u32,
    failed: bool,
}

impl<'a, K: Kv + ?Sized> BlobReader<'a, K> {
    /// Starts reading `blob` of document `doc_id` from its first chunk.
    pub fn new(kv: &'a K, doc_id: Uuid, blob: &BlobRef) -> Self {
        Self {
            kv,
            doc_id,
            blob: blob.clone(),
            next_index: 0,
            failed: false,
        }
    }
}

impl<K: Kv + ?Sized> Iterator for BlobReader<'_, K> {
    type Item = Result<Vec<u8>, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next_index >= self.blob.chunk_count {
            return None;
        }
        let chunk = read_chunk(self.kv, self.doc_id, &self.blob, self.next_index);
        self.failed = chunk.is_err();
        self.next_index += 1;
        Some(chunk)
    }
}

#[cfg(test)]
#[path = "blob_tests.rs"]
mod tests;
