use super::*;
use crate::kv::MemoryKv;

const MIB: usize = 1024 * 1024;

/// Returns `len` bytes that differ from chunk to chunk, so a swapped chunk changes the hash.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|index| (index % 251) as u8 ^ (index / CHUNK_SIZE) as u8)
        .collect()
}

/// Writes `data` in pieces of `piece` bytes and returns the finished reference.
fn write_in_pieces(kv: &MemoryKv, doc_id: Uuid, data: &[u8], piece: usize) -> BlobRef {
    let mut writer = BlobWriter::new(kv, doc_id, u64::MAX);
    for part in data.chunks(piece) {
        writer.write(part).unwrap();
    }
    writer.finish().unwrap()
}

fn read_all(kv: &MemoryKv, doc_id: Uuid, blob: &BlobRef) -> Result<Vec<u8>, StorageError> {
    let mut data = Vec::new();
    for chunk in BlobReader::new(kv, doc_id, blob) {
        data.extend_from_slice(&chunk?);
    }
    Ok(data)
}

/// Writes `len` bytes, reads them back and checks size, chunk count, hash and content.
fn assert_round_trip(len: usize, expected_chunks: u32) {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let data = pattern(len);

    let blob = write_in_pieces(&kv, doc_id, &data, 64 * 1024 + 7);

    assert_eq!(blob.size, len as u64);
    assert_eq!(blob.chunk_count, expected_chunks);
    assert_eq!(blob.sha256, to_hex(&Hash::hash(&data)));
    assert_eq!(kv.keys().len(), expected_chunks as usize);
    assert!(
        read_all(&kv, doc_id, &blob).unwrap() == data,
        "content differs after round trip"
    );
}

#[test]
fn round_trip_empty() {
    assert_round_trip(0, 0);
}

#[test]
fn round_trip_exactly_one_chunk() {
    assert_round_trip(CHUNK_SIZE, 1);
}

#[test]
fn round_trip_one_chunk_plus_one_byte() {
    assert_round_trip(CHUNK_SIZE + 1, 2);
}

#[test]
fn round_trip_three_mebibytes() {
    assert_round_trip(3 * MIB, 12);
}

#[test]
fn empty_blob_hash_is_sha256_of_nothing() {
    let kv = MemoryKv::default();
    let blob = BlobWriter::new(&kv, Uuid::new_v4(), 0).finish().unwrap();

    assert_eq!(
        blob.sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn one_large_write_spans_chunks() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let data = pattern(CHUNK_SIZE * 2 + 10);

    let blob = write_in_pieces(&kv, doc_id, &data, data.len());

    assert_eq!(blob.chunk_count, 3);
    assert!(
        read_all(&kv, doc_id, &blob).unwrap() == data,
        "content differs after round trip"
    );
}

#[test]
fn chunk_keys_have_documented_shape() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();

    let blob = write_in_pieces(&kv, doc_id, &pattern(CHUNK_SIZE + 1), CHUNK_SIZE);

    assert_eq!(
        kv.keys(),
        [
            format!("blob:{doc_id}:{}:000000", blob.id),
            format!("blob:{doc_id}:{}:000001", blob.id)
        ]
    );
}

#[test]
fn chunks_stored_are_full_size_except_last() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();

    let blob = write_in_pieces(&kv, doc_id, &pattern(CHUNK_SIZE * 2 + 5), 1000);

    assert_eq!(
        kv.get(&chunk_key(doc_id, blob.id, 0))
            .unwrap()
            .unwrap()
            .len(),
        CHUNK_SIZE
    );
    assert_eq!(
        kv.get(&chunk_key(doc_id, blob.id, 1))
            .unwrap()
            .unwrap()
            .len(),
        CHUNK_SIZE
    );
    assert_eq!(
        kv.get(&chunk_key(doc_id, blob.id, 2))
            .unwrap()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn each_writer_uses_fresh_blob_id() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();

    let first = BlobWriter::new(&kv, doc_id, 10);
    let second = BlobWriter::new(&kv, doc_id, 10);

    assert_ne!(first.blob_id(), second.blob_id());
}

#[test]
fn exactly_max_bytes_accepted() {
    let kv = MemoryKv::default();
    let mut writer = BlobWriter::new(&kv, Uuid::new_v4(), 1000);

    writer.write(&pattern(600)).unwrap();
    writer.write(&pattern(400)).unwrap();

    assert_eq!(writer.finish().unwrap().size, 1000);
}

#[test]
fn one_byte_over_max_is_too_large() {
    let kv = MemoryKv::default();
    let mut writer = BlobWriter::new(&kv, Uuid::new_v4(), 1000);
    writer.write(&pattern(600)).unwrap();

    let result = writer.write(&pattern(401));

    assert!(
        matches!(result, Err(StorageError::TooLarge { max: 1000 })),
        "{result:?}"
    );
}

#[test]
fn too_large_then_abort_leaves_no_chunk() {
    let kv = MemoryKv::default();
    let max = (CHUNK_SIZE * 2) as u64;
    let mut writer = BlobWriter::new(&kv, Uuid::new_v4(), max);
    writer.write(&pattern(CHUNK_SIZE * 2)).unwrap();

    assert!(matches!(
        writer.write(&[0]),
        Err(StorageError::TooLarge { .. })
    ));
    assert_eq!(kv.keys().len(), 2);
    writer.abort().unwrap();
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());
}

#[test]
fn write_after_failure_is_rejected() {
    let kv = MemoryKv::default();
    let mut writer = BlobWriter::new(&kv, Uuid::new_v4(), 10);
    let _ = writer.write(&pattern(11));

    assert!(matches!(writer.write(&[0]), Err(StorageError::Corrupt(_))));
}

#[test]
fn failed_chunk_write_then_abort_leaves_no_chunk() {
    let kv = MemoryKv::default();
    let mut writer = BlobWriter::new(&kv, Uuid::new_v4(), u64::MAX);
    *kv.fail_writes_after.borrow_mut() = Some(2);

    let result = writer.write(&pattern(CHUNK_SIZE * 4));

    assert!(matches!(result, Err(StorageError::Kv(_))), "{result:?}");
    assert_eq!(kv.keys().len(), 2);
    *kv.fail_writes_after.borrow_mut() = None;
    writer.abort().unwrap();
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());
}

#[test]
fn failed_last_chunk_makes_finish_delete_chunks() {
    let kv = MemoryKv::default();
    let mut writer = BlobWriter::new(&kv, Uuid::new_v4(), u64::MAX);
    writer.write(&pattern(CHUNK_SIZE + 1)).unwrap();
    *kv.fail_writes_after.borrow_mut() = Some(0);

    let result = writer.finish();

    assert!(matches!(result, Err(StorageError::Kv(_))), "{result:?}");
    // The injected failure also rejects the clean-up delete, so the first chunk stays.
    assert_eq!(kv.keys().len(), 1);
}

#[test]
fn missing_chunk_is_corrupt() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let blob = write_in_pieces(&kv, doc_id, &pattern(CHUNK_SIZE + 1), CHUNK_SIZE);
    kv.delete(&chunk_key(doc_id, blob.id, 1)).unwrap();

    let result = read_all(&kv, doc_id, &blob);

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn truncated_chunk_is_corrupt() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let blob = write_in_pieces(&kv, doc_id, &pattern(100), 100);
    kv.set(&chunk_key(doc_id, blob.id, 0), &pattern(99))
        .unwrap();

    let result = read_chunk(&kv, doc_id, &blob, 0);

    assert!(
        matches!(result, Err(StorageError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn reader_returns_stored_bytes_without_rehashing() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let blob = write_in_pieces(&kv, doc_id, &pattern(100), 100);
    kv.set(&chunk_key(doc_id, blob.id, 0), &[7; 100]).unwrap();

    let result = read_all(&kv, doc_id, &blob);

    assert_eq!(result.unwrap(), vec![7; 100]);
}

#[test]
fn reader_stops_after_error() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let blob = write_in_pieces(&kv, doc_id, &pattern(CHUNK_SIZE * 3), CHUNK_SIZE);
    kv.delete(&chunk_key(doc_id, blob.id, 0)).unwrap();
    let mut reader = BlobReader::new(&kv, doc_id, &blob);

    assert!(matches!(reader.next(), Some(Err(StorageError::Corrupt(_)))));
    assert!(reader.next().is_none());
}

#[test]
fn chunk_index_past_end_is_not_found() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let blob = write_in_pieces(&kv, doc_id, &pattern(10), 10);

    assert!(matches!(
        read_chunk(&kv, doc_id, &blob, 1),
        Err(StorageError::NotFound)
    ));
}

#[test]
fn inconsistent_chunk_count_is_corrupt() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let mut blob = write_in_pieces(&kv, doc_id, &pattern(10), 10);
    blob.chunk_count = 2;

    assert!(matches!(
        read_chunk(&kv, doc_id, &blob, 0),
        Err(StorageError::Corrupt(_))
    ));
}

#[test]
fn delete_blob_removes_every_chunk() {
    let kv = MemoryKv::default();
    let doc_id = Uuid::new_v4();
    let blob = write_in_pieces(&kv, doc_id, &pattern(CHUNK_SIZE * 2 + 1), CHUNK_SIZE);

    delete_blob(&kv, doc_id, &blob).unwrap();

    assert!(kv.keys().is_empty(), "{:?}", kv.keys());
}
