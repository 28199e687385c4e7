use std::cell::{Cell, RefCell};

use super::*;
use crate::kv::{KvError, MemoryKv};
use crate::storage::{BlobReader, CHUNK_SIZE, RECENT_KEYS_MAX, create_document, is_valid_ds_key};

const NOW: u64 = 1_767_607_200;
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Error type of a route in these tests: a failed body source or a storage failure.
#[derive(Debug)]
enum RouteError {
    Download,
    Storage(StorageError),
}

impl From<StorageError> for RouteError {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

/// Store whose chunk writes or swaps can fail while deletes keep working, the way a store
/// that refuses new data but still frees space behaves. It can also let another writer store a
/// value right before the next swap.
#[derive(Default)]
struct FlakyKv {
    inner: MemoryKv,
    /// When set, `set` fails once this many more calls have succeeded.
    fail_sets_after: Cell<Option<usize>>,
    fail_swaps: Cell<bool>,
    /// Key and value written just before the next compare-and-swap, once.
    write_before_swap: RefCell<Option<(String, Vec<u8>)>>,
}

impl Kv for FlakyKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        match self.fail_sets_after.get() {
            Some(0) => return Err(KvError("injected set failure".to_owned())),
            Some(left) => self.fail_sets_after.set(Some(left - 1)),
            None => {}
        }
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.inner.delete(key)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.inner.get_many(keys)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.inner.delete_many(keys)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        if self.fail_swaps.get() {
            return Err(KvError("injected swap failure".to_owned()));
        }
        if let Some((other_key, other_value)) = self.write_before_swap.take() {
            self.inner.set(&other_key, &other_value)?;
        }
        self.inner.compare_and_swap(key, expected, new)
    }
}

fn author(user: &str) -> Author {
    Author {
        id: user.to_owned(),
        name: format!("Name of {user}"),
    }
}

fn upload(title: &str, file_type: &str) -> Upload {
    Upload {
        title: title.to_owned(),
        file_type: file_type.to_owned(),
        author: author("u-owner"),
        now: NOW,
    }
}

fn from_session(kind: VersionKind, ds_key: &str) -> NewVersion {
    NewVersion {
        kind,
        rotate_key: kind.rotates_key(),
        title: "report.docx".to_owned(),
        file_type: "docx".to_owned(),
        author: author("u-editor"),
        ds_key: Some(ds_key.to_owned()),
        session_base_version: Some(1),
        history: None,
        changes: None,
        now: NOW + 60,
    }
}

/// Returns `len` bytes whose content depends on `seed`.
fn body_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|index| (index % 253) as u8 ^ seed).collect()
}

/// Splits `data` into 64 KiB pieces, as a network read loop would yield them.
fn pieces(data: &[u8]) -> Vec<Result<Vec<u8>, RouteError>> {
    data.chunks(64 * 1024)
        .map(|piece| Ok(piece.to_vec()))
        .collect()
}

fn store_new_document<K: Kv + ?Sized>(kv: &K, data: &[u8]) -> Document {
    let doc_id = Uuid::new_v4();
    let upload = upload("report.docx", "docx");

    store_binary(kv, doc_id, MAX_BYTES, pieces(data), |blob| {
        create_document(kv, doc_id, blob, &upload)
    })
    .unwrap()
    .document
}

fn store_new_version<K: Kv + ?Sized>(
    kv: &K,
    doc_id: Uuid,
    data: &[u8],
    new: &NewVersion,
) -> Result<Committed, RouteError> {
    store_binary(kv, doc_id, MAX_BYTES, pieces(data), |blob| {
        add_version(kv, doc_id, blob, new)
    })
}

/// Returns the chunk keys in the store, whatever blob they belong to.
fn chunk_keys_in(kv: &MemoryKv) -> Vec<String> {
    kv.keys()
        .into_iter()
        .filter(|key| key.starts_with("blob:"))
        .collect()
}

fn read_current(kv: &MemoryKv, document: &Document) -> Vec<u8> {
    let blob = &document.current().unwrap().blob;
    BlobReader::new(kv, document.id, blob)
        .flat_map(Result::unwrap)
        .collect()
}

#[test]
fn version_numbers_increase_across_kinds() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let key = document.ds_key.clone();

    store_new_version(
        &kv,
        document.id,
        b"v2",
        &from_session(VersionKind::ForceSave, &key),
    )
    .unwrap();
    store_new_version(
        &kv,
        document.id,
        b"v3",
        &from_session(VersionKind::Save, &key),
    )
    .unwrap();
    let after = store_new_version(
        &kv,
        document.id,
        b"v4",
        &from_session(VersionKind::Recovery, &key),
    )
    .unwrap()
    .document;

    let numbers: Vec<u32> = after
        .versions
        .iter()
        .map(|version| version.number)
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(after.next_version_number(), 5);
}

#[test]
fn save_becomes_current() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_new_version(
        &kv,
        document.id,
        b"saved",
        &from_session(VersionKind::Save, &document.ds_key),
    )
    .unwrap()
    .document;

    assert_eq!(after.current_version, 2);
    assert_eq!(after.size, 5);
    assert_eq!(read_current(&kv, &after), b"saved");
}

#[test]
fn recovery_copy_keeps_current_version() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_new_version(
        &kv,
        document.id,
        b"recovered",
        &from_session(VersionKind::Recovery, &document.ds_key),
    )
    .unwrap()
    .document;

    assert_eq!(after.current_version, 1);
    assert_eq!(after.sha256, document.sha256);
    assert_eq!(after.versions[1].kind, VersionKind::Recovery);
    assert_eq!(read_current(&kv, &after), b"v1");
}

#[test]
fn upload_rotates_key() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_binary(&kv, document.id, MAX_BYTES, pieces(b"v2"), |blob| {
        replace_binary(&kv, document.id, blob, &upload("budget.xlsx", "xlsx"))
    })
    .unwrap()
    .document;

    assert_ne!(after.ds_key, document.ds_key);
    assert!(is_valid_ds_key(&after.ds_key));
    assert!(
        after
            .ds_key
            .starts_with(&format!("{}-v2-", document.id.simple())),
        "{}",
        after.ds_key
    );
}

#[test]
fn upload_sets_current_file_fields() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_binary(&kv, document.id, MAX_BYTES, pieces(b"version 2"), |blob| {
        replace_binary(&kv, document.id, blob, &upload("budget.xlsx", "xlsx"))
    })
    .unwrap()
    .document;

    assert_eq!(after.title, "budget.xlsx");
    assert_eq!(after.file_type, "xlsx");
    assert_eq!(after.size, 9);
    assert_eq!(after.versions[1].kind, VersionKind::Upload);
    assert_eq!(after.versions[1].ds_key, None);
}

#[test]
fn save_rotates_key() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_new_version(
        &kv,
        document.id,
        b"v2",
        &from_session(VersionKind::Save, &document.ds_key),
    )
    .unwrap()
    .document;

    assert_ne!(after.ds_key, document.ds_key);
    assert!(is_valid_ds_key(&after.ds_key));
}

#[test]
fn forcesave_keeps_key() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_new_version(
        &kv,
        document.id,
        b"v2",
        &from_session(VersionKind::ForceSave, &document.ds_key),
    )
    .unwrap()
    .document;

    assert_eq!(after.ds_key, document.ds_key);
    assert_eq!(after.current_version, 2);
    assert!(after.recent_keys.is_empty());
}

#[test]
fn rotation_records_recent_key() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let after = store_new_version(
        &kv,
        document.id,
        b"v2",
        &from_session(VersionKind::Save, &document.ds_key),
    )
    .unwrap()
    .document;

    let recent = after
        .recent_key(&document.ds_key)
        .expect("old key is recent");
    assert_eq!(recent.retired_by_version, 2);
    assert_eq!(recent.retired_at, "2026-01-05T10:01:00Z");
    assert_eq!(
        after.versions[1].ds_key.as_deref(),
        Some(document.ds_key.as_str())
    );
}

#[test]
fn recent_keys_keep_only_latest() {
    let kv = MemoryKv::default();
    let mut document = store_new_document(&kv, b"v1");
    let mut retired = Vec::new();

    for round in 0..7u8 {
        retired.push(document.ds_key.clone());
        let new = from_session(VersionKind::Save, &document.ds_key);
        document = store_new_version(&kv, document.id, &[round], &new)
            .unwrap()
            .document;
    }

    let kept: Vec<&str> = document
        .recent_keys
        .iter()
        .map(|recent| recent.key.as_str())
        .collect();
    let expected: Vec<&str> = retired[retired.len() - RECENT_KEYS_MAX..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(kept, expected);
}

#[test]
fn repeated_save_callback_adds_nothing() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let save = from_session(VersionKind::Save, &document.ds_key);
    let first = store_new_version(&kv, document.id, b"edited", &save).unwrap();

    let repeat = store_new_version(&kv, document.id, b"edited", &save).unwrap();

    assert_eq!(repeat.outcome, Outcome::Unchanged);
    assert_eq!(repeat.document, first.document);
    assert_eq!(
        chunk_keys_in(&kv).len(),
        2,
        "chunks of the repeat must be deleted"
    );
}

#[test]
fn concurrent_repeated_save_adds_one_version() {
    let kv = FlakyKv::default();
    let document = store_new_document(&kv, b"v1");
    let metadata_key = format!("doc:{}", document.id);
    let before = kv.get(&metadata_key).unwrap().unwrap();
    let save = from_session(VersionKind::Save, &document.ds_key);
    let first = store_new_version(&kv, document.id, b"edited", &save).unwrap();
    let after_first = kv.get(&metadata_key).unwrap().unwrap();
    // Replay: the second request reads the metadata from before the first commit, and the first
    // commit lands between its read and its swap.
    kv.inner.set(&metadata_key, &before).unwrap();
    *kv.write_before_swap.borrow_mut() = Some((metadata_key, after_first));

    let second = store_new_version(&kv, document.id, b"edited", &save).unwrap();

    assert_eq!(second.outcome, Outcome::Unchanged);
    assert_eq!(second.document, first.document);
    assert_eq!(
        load_document(&kv, document.id).unwrap(),
        Some(first.document)
    );
    assert_eq!(
        chunk_keys_in(&kv.inner).len(),
        2,
        "chunks of the losing request must be deleted"
    );
}

#[test]
fn save_after_forcesave_adds_version() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    store_new_version(
        &kv,
        document.id,
        b"edited",
        &from_session(VersionKind::ForceSave, &document.ds_key),
    )
    .unwrap();

    let save = store_new_version(
        &kv,
        document.id,
        b"edited",
        &from_session(VersionKind::Save, &document.ds_key),
    )
    .unwrap();

    assert_eq!(save.outcome, Outcome::Changed);
    assert_eq!(save.document.current_version, 3);
}

#[test]
fn rotate_key_from_current_key() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let rotated = rotate_key(&kv, document.id, &document.ds_key, NOW).unwrap();

    assert_eq!(rotated.outcome, Outcome::Changed);
    assert_ne!(rotated.document.ds_key, document.ds_key);
    assert_eq!(rotated.document.current_version, 1);
    assert!(rotated.document.recent_key(&document.ds_key).is_some());
}

#[test]
fn rotate_key_from_retired_key_is_unchanged() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let rotated = rotate_key(&kv, document.id, &document.ds_key, NOW).unwrap();

    let again = rotate_key(&kv, document.id, &document.ds_key, NOW).unwrap();

    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(again.document.ds_key, rotated.document.ds_key);
}

#[test]
fn set_rights_stores_rights() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let mut rights = Rights::default();
    rights.lecture.insert("u-reader".to_owned());

    set_rights(&kv, document.id, &rights).unwrap();

    let stored = load_document(&kv, document.id).unwrap().unwrap();
    assert_eq!(stored.rights, rights);
    assert!(stored.can_read("u-reader", false));
    assert_eq!(stored.revision, 2);
}

#[test]
fn set_same_rights_is_unchanged() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");

    let committed = set_rights(&kv, document.id, &Rights::default()).unwrap();

    assert_eq!(committed.outcome, Outcome::Unchanged);
    assert_eq!(committed.document.revision, 1);
}

#[test]
fn chunk_failure_keeps_current_version() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let chunks_before = chunk_keys_in(&kv);
    let mut writer = BlobWriter::new(&kv, document.id, MAX_BYTES);
    *kv.fail_writes_after.borrow_mut() = Some(1);

    let result = writer.write(&body_bytes(CHUNK_SIZE * 3, 1));

    assert!(matches!(result, Err(StorageError::Kv(_))), "{result:?}");
    assert_eq!(
        load_document(&kv, document.id).unwrap(),
        Some(document.clone())
    );
    *kv.fail_writes_after.borrow_mut() = None;
    writer.abort().unwrap();
    assert_eq!(chunk_keys_in(&kv), chunks_before);
    assert_eq!(read_current(&kv, &document), b"v1");
}

#[test]
fn store_binary_chunk_failure_cleans_up() {
    let kv = FlakyKv::default();
    let document = store_new_document(&kv, b"v1");
    let chunks_before = chunk_keys_in(&kv.inner);
    kv.fail_sets_after.set(Some(2));
    let save = from_session(VersionKind::Save, &document.ds_key);

    let result = store_new_version(&kv, document.id, &body_bytes(CHUNK_SIZE * 4, 2), &save);

    assert!(
        matches!(result, Err(RouteError::Storage(StorageError::Kv(_)))),
        "{result:?}"
    );
    assert_eq!(load_document(&kv, document.id).unwrap(), Some(document));
    assert_eq!(chunk_keys_in(&kv.inner), chunks_before);
}

#[test]
fn store_binary_failed_swap_deletes_chunks() {
    let kv = FlakyKv::default();
    let document = store_new_document(&kv, b"v1");
    let chunks_before = chunk_keys_in(&kv.inner);
    kv.fail_swaps.set(true);
    let save = from_session(VersionKind::Save, &document.ds_key);

    let result = store_new_version(&kv, document.id, &body_bytes(CHUNK_SIZE + 9, 3), &save);

    assert!(
        matches!(result, Err(RouteError::Storage(StorageError::Kv(_)))),
        "{result:?}"
    );
    assert_eq!(load_document(&kv, document.id).unwrap(), Some(document));
    assert_eq!(chunk_keys_in(&kv.inner), chunks_before);
}

#[test]
fn store_binary_too_large_cleans_up() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let chunks_before = chunk_keys_in(&kv);
    let save = from_session(VersionKind::Save, &document.ds_key);

    let result = store_binary(
        &kv,
        document.id,
        CHUNK_SIZE as u64,
        pieces(&body_bytes(CHUNK_SIZE + 1, 4)),
        |blob| add_version(&kv, document.id, blob, &save),
    );

    assert!(
        matches!(
            result,
            Err(RouteError::Storage(StorageError::TooLarge { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(load_document(&kv, document.id).unwrap(), Some(document));
    assert_eq!(chunk_keys_in(&kv), chunks_before);
}

#[test]
fn store_binary_body_error_cleans_up() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let chunks_before = chunk_keys_in(&kv);
    let save = from_session(VersionKind::Save, &document.ds_key);
    let mut body = pieces(&body_bytes(CHUNK_SIZE * 2, 5));
    body.push(Err(RouteError::Download));

    let result = store_binary(&kv, document.id, MAX_BYTES, body, |blob| {
        add_version(&kv, document.id, blob, &save)
    });

    assert!(matches!(result, Err(RouteError::Download)), "{result:?}");
    assert_eq!(load_document(&kv, document.id).unwrap(), Some(document));
    assert_eq!(chunk_keys_in(&kv), chunks_before);
}

#[test]
fn store_binary_create_on_taken_id_deletes_chunks() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let chunks_before = chunk_keys_in(&kv);
    let second = upload("other.docx", "docx");

    let result = store_binary(&kv, document.id, MAX_BYTES, pieces(b"other"), |blob| {
        create_document(&kv, document.id, blob, &second)
    });

    assert!(
        matches!(
            result,
            Err(RouteError::Storage(StorageError::AlreadyExists))
        ),
        "{result:?}"
    );
    assert_eq!(chunk_keys_in(&kv), chunks_before);
}

#[test]
fn older_version_stays_readable() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, &body_bytes(CHUNK_SIZE + 3, 6));
    let after = store_new_version(
        &kv,
        document.id,
        b"short",
        &from_session(VersionKind::Save, &document.ds_key),
    )
    .unwrap()
    .document;

    let first = &after.version(1).unwrap().blob;
    let bytes: Vec<u8> = BlobReader::new(&kv, after.id, first)
        .flat_map(Result::unwrap)
        .collect();

    assert!(
        bytes == body_bytes(CHUNK_SIZE + 3, 6),
        "version 1 content changed"
    );
}

#[test]
fn save_under_stale_key_becomes_conflict() {
    let kv = MemoryKv::default();
    let document = store_new_document(&kv, b"v1");
    let session_key = document.ds_key.clone();
    let replaced = store_binary(&kv, document.id, MAX_BYTES, pieces(b"v2"), |blob| {
        replace_binary(&kv, document.id, blob, &upload("report.docx", "docx"))
    })
    .unwrap()
    .document;

    let after = store_binary(&kv, document.id, MAX_BYTES, pieces(b"edited"), |blob| {
        add_version(&kv, document.id, blob, &from_session(VersionKind::Save, &session_key))
    })
    .unwrap()
    .document;

    assert_eq!(after.versions.last().unwrap().kind, VersionKind::Conflict);
    assert_eq!(after.current_version, replaced.current_version, "the replacement stays current");
    assert_eq!(after.ds_key, replaced.ds_key, "the key is not rotated");
}
