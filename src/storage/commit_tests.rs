use std::cell::Cell;

use super::*;
use crate::kv::MemoryKv;
use crate::storage::{Author, VersionKind, is_valid_ds_key};

const NOW: u64 = 1_767_607_200;

fn upload_by(user: &str) -> Upload {
    Upload {
        title: "report.docx".to_owned(),
        file_type: "docx".to_owned(),
        author: Author {
            id: user.to_owned(),
            name: format!("Name of {user}"),
        },
        now: NOW,
    }
}

/// Returns a reference to an empty blob; these tests never read chunks.
fn empty_blob() -> BlobRef {
    BlobRef {
        id: Uuid::new_v4(),
        size: 0,
        sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned(),
        chunk_count: 0,
    }
}

fn create_sample(kv: &MemoryKv) -> Document {
    create_document(kv, Uuid::new_v4(), empty_blob(), &upload_by("u-owner"))
        .unwrap()
        .document
}

fn stored_bytes(kv: &MemoryKv, id: Uuid) -> Vec<u8> {
    kv.get(&metadata_key(id)).unwrap().unwrap()
}

#[test]
fn created_document_loads_back() {
    let kv = MemoryKv::default();
    let created = create_sample(&kv);

    let loaded = load_document(&kv, created.id).unwrap();

    assert_eq!(loaded, Some(created));
}

#[test]
fn created_document_has_first_upload_version() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);

    assert_eq!(document.current_version, 1);
    assert_eq!(document.versions.len(), 1);
    assert_eq!(document.versions[0].kind, VersionKind::Upload);
    assert_eq!(document.versions[0].created_at, "2026-01-05T10:00:00Z");
    assert_eq!(document.owner, "u-owner");
    assert_eq!(document.title, "report.docx");
    assert_eq!(document.file_type, "docx");
    assert_eq!(document.revision, 1);
    assert!(document.recent_keys.is_empty());
}

#[test]
fn created_document_key_names_document_and_version() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);

    assert!(is_valid_ds_key(&document.ds_key), "{}", document.ds_key);
    assert!(
        document
            .ds_key
            .starts_with(&format!("{}-v1-", document.id.simple())),
        "{}",
        document.ds_key
    );
}

#[test]
fn create_with_taken_id_is_already_exists() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let before = stored_bytes(&kv, document.id);

    let result = create_document(&kv, document.id, empty_blob(), &upload_by("u-other"));

    assert!(
        matches!(result, Err(StorageError::AlreadyExists)),
        "{result:?}"
    );
    assert_eq!(stored_bytes(&kv, document.id), before);
}

#[test]
fn load_of_absent_document_is_none() {
    let kv = MemoryKv::default();

    assert_eq!(load_document(&kv, Uuid::new_v4()).unwrap(), None);
}

#[test]
fn invalid_metadata_json_is_corrupt() {
    let kv = MemoryKv::default();
    let id = Uuid::new_v4();
    kv.set(&metadata_key(id), b"{\"id\": truncated").unwrap();

    let result = load_document(&kv, id);

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn metadata_of_wrong_shape_is_corrupt() {
    let kv = MemoryKv::default();
    let id = Uuid::new_v4();
    kv.set(&metadata_key(id), b"[1, 2, 3]").unwrap();

    let result = load_document(&kv, id);

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn metadata_stored_under_other_id_is_corrupt() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let other_id = Uuid::new_v4();
    kv.set(&metadata_key(other_id), &stored_bytes(&kv, document.id))
        .unwrap();

    let result = load_document(&kv, other_id);

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn commit_on_invalid_metadata_is_corrupt() {
    let kv = MemoryKv::default();
    let id = Uuid::new_v4();
    kv.set(&metadata_key(id), b"not json").unwrap();

    let result = commit_version(&kv, id, |_| Ok(Outcome::Changed));

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn commit_on_absent_document_is_not_found() {
    let kv = MemoryKv::default();

    let result = commit_version(&kv, Uuid::new_v4(), |_| Ok(Outcome::Changed));

    assert!(matches!(result, Err(StorageError::NotFound)), "{result:?}");
}

#[test]
fn commit_increments_revision() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);

    let committed = commit_version(&kv, document.id, |draft| {
        draft.title = "renamed.docx".to_owned();
        draft.versions[0].title = "renamed.docx".to_owned();
        Ok(Outcome::Changed)
    })
    .unwrap();

    assert_eq!(committed.document.revision, 2);
    assert_eq!(
        load_document(&kv, document.id).unwrap(),
        Some(committed.document)
    );
}

#[test]
fn unchanged_commit_writes_nothing() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let before = stored_bytes(&kv, document.id);

    let committed = commit_version(&kv, document.id, |draft| {
        draft.title = "discarded.docx".to_owned();
        Ok(Outcome::Unchanged)
    })
    .unwrap();

    assert_eq!(committed.outcome, Outcome::Unchanged);
    assert_eq!(committed.document, document);
    assert_eq!(stored_bytes(&kv, document.id), before);
}

#[test]
fn update_error_is_returned_and_nothing_written() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let before = stored_bytes(&kv, document.id);

    let result = commit_version(&kv, document.id, |draft| {
        draft.owner = "u-other".to_owned();
        Err(StorageError::NotFound)
    });

    assert!(matches!(result, Err(StorageError::NotFound)), "{result:?}");
    assert_eq!(stored_bytes(&kv, document.id), before);
}

#[test]
fn update_breaking_invariant_is_corrupt_and_not_written() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let before = stored_bytes(&kv, document.id);

    let result = commit_version(&kv, document.id, |draft| {
        draft.current_version = 42;
        Ok(Outcome::Changed)
    });

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
    assert_eq!(stored_bytes(&kv, document.id), before);
}

#[test]
fn lost_race_is_retried_and_both_updates_apply() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let calls = Cell::new(0);

    let committed = commit_version(&kv, document.id, |draft| {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            // Another writer shares the document with u-reader between our read and our swap.
            let mut other = load_document(&kv, draft.id).unwrap().unwrap();
            other.rights.lecture.insert("u-reader".to_owned());
            other.revision += 1;
            kv.set(
                &metadata_key(draft.id),
                &serde_json::to_vec(&other).unwrap(),
            )
            .unwrap();
        }
        draft.rights.ecriture.insert("u-writer".to_owned());
        Ok(Outcome::Changed)
    })
    .unwrap();

    let stored = load_document(&kv, document.id).unwrap().unwrap();
    assert_eq!(calls.get(), 2);
    assert!(stored.rights.lecture.contains("u-reader"));
    assert!(stored.rights.ecriture.contains("u-writer"));
    assert_eq!(stored.revision, 3);
    assert_eq!(stored, committed.document);
}

#[test]
fn race_lost_on_every_attempt_is_conflict() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let calls = Cell::new(0);

    let result = commit_version(&kv, document.id, |draft| {
        calls.set(calls.get() + 1);
        let mut other = load_document(&kv, draft.id).unwrap().unwrap();
        other.revision += 1;
        kv.set(
            &metadata_key(draft.id),
            &serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        Ok(Outcome::Changed)
    });

    assert!(matches!(result, Err(StorageError::Conflict)), "{result:?}");
    assert_eq!(calls.get(), COMMIT_ATTEMPTS);
}

#[test]
fn failed_swap_is_kv_error_and_keeps_metadata() {
    let kv = MemoryKv::default();
    let document = create_sample(&kv);
    let before = stored_bytes(&kv, document.id);
    *kv.fail_writes_after.borrow_mut() = Some(0);

    let result = commit_version(&kv, document.id, |_| Ok(Outcome::Changed));

    assert!(matches!(result, Err(StorageError::Kv(_))), "{result:?}");
    assert_eq!(stored_bytes(&kv, document.id), before);
}
