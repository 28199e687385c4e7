//! Document metadata: the current version, the version list, rights and document keys.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StorageError;
use super::blob::BlobRef;
use super::key::is_valid_ds_key;

/// Number of retired document keys a document remembers, so that a callback repeated after its
/// key was rotated can still be recognised.
pub const RECENT_KEYS_MAX: usize = 5;

/// Origin of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// A binary put through the document API.
    Upload,
    /// A committed save from the Document Server (callback status 2).
    Save,
    /// A forcesave during an editing session (callback status 6).
    ForceSave,
    /// A copy the Document Server sent after a failed save (callback status 3).
    Recovery,
    /// Edits that could not become current because the document changed during the session.
    Conflict,
}

impl VersionKind {
    /// Returns whether a version of this kind becomes the current version. Recovery and conflict
    /// copies are kept in the version list but never replace the current binary.
    pub fn becomes_current(self) -> bool {
        matches!(self, Self::Upload | Self::Save | Self::ForceSave)
    }

    /// Returns whether the protocol rotates the document key when a version of this kind is
    /// committed: after an upload and after a committed save, never after a forcesave, so that an
    /// editing session keeps its key.
    pub fn rotates_key(self) -> bool {
        matches!(self, Self::Upload | Self::Save)
    }
}

/// The users a document is shared with, by user id. The field names are Efalia's API words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    /// Users who may read the document.
    pub lecture: BTreeSet<String>,
    /// Users who may read and write the document.
    pub ecriture: BTreeSet<String>,
}

/// The author of a change: a user id and the display name at the time of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// User id (`sub` of the user token).
    pub id: String,
    /// Display name (`name` of the user token).
    pub name: String,
}

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Version number, starting at 1 and increasing by 1 for every version of any kind.
    pub number: u32,
    /// Size of the binary in bytes.
    pub size: u64,
    /// SHA-256 of the binary, lowercase hex.
    pub sha256: String,
    /// Lowercase file extension, such as `docx`.
    pub file_type: String,
    /// File name.
    pub title: String,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// User id of the author.
    pub author: String,
    /// Display name of the author.
    pub author_name: String,
    /// Origin of the version.
    pub kind: VersionKind,
    /// Chunks of the binary.
    pub blob: BlobRef,
    /// Document key of the editing session that produced the version; `None` for uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_key: Option<String>,
    /// Version the editing session started from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_base_version: Option<u32>,
    /// The Document Server's `history` object of the save, for its version-history view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<serde_json::Value>,
    /// Chunks of the Document Server's changes archive (`changesurl`) of the save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<BlobRef>,
}

/// A document key that is no longer current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentKey {
    /// The retired key.
    pub key: String,
    /// Current version number right after the key was retired.
    pub retired_by_version: u32,
    /// Retirement time, RFC 3339 UTC.
    pub retired_at: String,
}

/// Metadata of a document, stored as JSON under `doc:{id}`.
///
/// `title`, `file_type`, `size` and `sha256` repeat the fields of the current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Document id.
    pub id: Uuid,
    /// File name of the current version.
    pub title: String,
    /// Lowercase file extension of the current version.
    pub file_type: String,
    /// Size of the current binary in bytes.
    pub size: u64,
    /// SHA-256 of the current binary, lowercase hex.
    pub sha256: String,
    /// Number of the current version.
    pub current_version: u32,
    /// Document key the Document Server opens the current version under.
    pub ds_key: String,
    /// User id of the owner, who uploaded the first version.
    pub owner: String,
    /// Users the document is shared with.
    pub rights: Rights,
    /// Every version, oldest first.
    // NOTE: versions and their chunks are never pruned. Each version adds roughly 0.5 KB of JSON
    // (an estimate), so thousands of versions approach the value limits of hosted stores.
    pub versions: Vec<Version>,
    /// The last [`RECENT_KEYS_MAX`] retired document keys, oldest first.
    #[serde(default)]
    pub recent_keys: Vec<RecentKey>,
    /// Count of metadata writes, 1 after creation.
    pub revision: u64,
}

impl Document {
    /// Returns whether the user may read the document: administrators, the owner and the users
    /// in `lecture` or `ecriture`.
    pub fn can_read(&self, user_id: &str, is_admin: bool) -> bool {
        self.can_write(user_id, is_admin) || self.rights.lecture.contains(user_id)
    }

    /// Returns whether the user may write the document: administrators, the owner and the users
    /// in `ecriture`.
    pub fn can_write(&self, user_id: &str, is_admin: bool) -> bool {
        self.can_manage(user_id, is_admin) || self.rights.ecriture.contains(user_id)
    }

    /// Returns whether the user may change the rights: administrators and the owner.
    pub fn can_manage(&self, user_id: &str, is_admin: bool) -> bool {
        is_admin || self.owner == user_id
    }

    /// Returns version `number`.
    pub fn version(&self, number: u32) -> Option<&Version> {
        self.versions
            .iter()
            .find(|version| version.number == number)
    }

    /// Returns the current version; `None` only in metadata that failed [`Document::validate`].
    pub fn current(&self) -> Option<&Version> {
        self.version(self.current_version)
    }

    /// Returns the number the next version gets.
    pub fn next_version_number(&self) -> u32 {
        self.versions.last().map_or(1, |version| version.number + 1)
    }

    /// Returns the retired key `key`, if it is among the recent keys.
    pub fn recent_key(&self, key: &str) -> Option<&RecentKey> {
        self.recent_keys.iter().find(|recent| recent.key == key)
    }

    /// Returns whether a version stores its binary in blob `blob_id`.
    pub fn references_blob(&self, blob_id: Uuid) -> bool {
        self.versions.iter().any(|version| {
            version.blob.id == blob_id || version.changes.as_ref().is_some_and(|changes| changes.id == blob_id)
        })
    }

    /// Replaces the document key with `new_key` and remembers the old one, keeping the last
    /// [`RECENT_KEYS_MAX`] retired keys.
    pub(super) fn retire_key(&mut self, new_key: String, now: &str) {
        let old_key = std::mem::replace(&mut self.ds_key, new_key);

        self.recent_keys.push(RecentKey {
            key: old_key,
            retired_by_version: self.current_version,
            retired_at: now.to_owned(),
        });
        let excess = self.recent_keys.len().saturating_sub(RECENT_KEYS_MAX);
        self.recent_keys.drain(..excess);
    }

    /// Checks the invariants every stored document keeps: the id matches the id it was loaded
    /// for, the key is valid, version numbers increase and the current version exists and has
    /// the fields repeated at the top level.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] naming the first broken invariant.
    pub fn validate(&self, expected_id: Uuid) -> Result<(), StorageError> {
        let corrupt = |problem: &str| {
            Err(StorageError::Corrupt(format!(
                "metadata of document {expected_id}: {problem}"
            )))
        };

        if self.id != expected_id {
            return corrupt(&format!("stored id is {}", self.id));
        }
        if !is_valid_ds_key(&self.ds_key) {
            return corrupt("document key is invalid");
        }
        if self
            .versions
            .windows(2)
            .any(|pair| pair[0].number >= pair[1].number)
        {
            return corrupt("version numbers do not increase");
        }
        let Some(current) = self.current() else {
            return corrupt(&format!(
                "current version {} is missing",
                self.current_version
            ));
        };
        if !current.kind.becomes_current() {
            return corrupt(&format!(
                "current version {} is a {:?} copy",
                current.number, current.kind
            ));
        }
        if current.size != self.size || current.sha256 != self.sha256 {
            return corrupt("size or SHA-256 differs from the current version");
        }
        Ok(())
    }

    /// Makes `version` current: copies its file fields to the top level and sets the number.
    pub(super) fn make_current(&mut self, version: &Version) {
        self.title.clone_from(&version.title);
        self.file_type.clone_from(&version.file_type);
        self.size = version.size;
        self.sha256.clone_from(&version.sha256);
        self.current_version = version.number;
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Builds a valid one-version document owned by `owner`, without touching a store.
    pub(crate) fn sample_document(owner: &str) -> Document {
        let id = Uuid::new_v4();
        let blob = BlobRef {
            id: Uuid::new_v4(),
            size: 3,
            sha256: "ab".repeat(32),
            chunk_count: 1,
        };
        let version = Version {
            number: 1,
            size: 3,
            sha256: "ab".repeat(32),
            file_type: "docx".to_owned(),
            title: "report.docx".to_owned(),
            created_at: "2026-01-05T10:00:00Z".to_owned(),
            author: owner.to_owned(),
            author_name: "Owner".to_owned(),
            kind: VersionKind::Upload,
            blob,
            ds_key: None,
            session_base_version: None,
            history: None,
            changes: None,
        };
        Document {
            id,
            title: version.title.clone(),
            file_type: version.file_type.clone(),
            size: 3,
            sha256: version.sha256.clone(),
            current_version: 1,
            ds_key: super::super::new_ds_key(id, 1),
            owner: owner.to_owned(),
            rights: Rights::default(),
            versions: vec![version],
            recent_keys: Vec::new(),
            revision: 1,
        }
    }

    fn shared_document() -> Document {
        let mut document = sample_document("u-owner");
        document.rights.lecture.insert("u-reader".to_owned());
        document.rights.ecriture.insert("u-writer".to_owned());
        document
    }

    #[test]
    fn owner_may_read_write_and_manage() {
        let document = shared_document();

        assert!(document.can_read("u-owner", false));
        assert!(document.can_write("u-owner", false));
        assert!(document.can_manage("u-owner", false));
    }

    #[test]
    fn reader_may_only_read() {
        let document = shared_document();

        assert!(document.can_read("u-reader", false));
        assert!(!document.can_write("u-reader", false));
        assert!(!document.can_manage("u-reader", false));
    }

    #[test]
    fn writer_may_read_and_write_not_manage() {
        let document = shared_document();

        assert!(document.can_read("u-writer", false));
        assert!(document.can_write("u-writer", false));
        assert!(!document.can_manage("u-writer", false));
    }

    #[test]
    fn stranger_has_no_right() {
        let document = shared_document();

        assert!(!document.can_read("u-stranger", false));
        assert!(!document.can_write("u-stranger", false));
        assert!(!document.can_manage("u-stranger", false));
    }

    #[test]
    fn admin_has_every_right() {
        let document = shared_document();

        assert!(document.can_read("u-stranger", true));
        assert!(document.can_write("u-stranger", true));
        assert!(document.can_manage("u-stranger", true));
    }

    #[test]
    fn rights_use_api_field_names() {
        let json = serde_json::to_value(&shared_document().rights).unwrap();

        assert_eq!(json["lecture"], serde_json::json!(["u-reader"]));
        assert_eq!(json["ecriture"], serde_json::json!(["u-writer"]));
    }

    #[test]
    fn retire_key_keeps_last_five() {
        let mut document = sample_document("u-owner");
        let first_key = document.ds_key.clone();

        for number in 2..=7 {
            document.current_version = number;
            document.retire_key(format!("key-{number}"), "2026-01-05T10:00:00Z");
        }

        let kept: Vec<&str> = document
            .recent_keys
            .iter()
            .map(|recent| recent.key.as_str())
            .collect();
        assert_eq!(kept, ["key-2", "key-3", "key-4", "key-5", "key-6"]);
        assert_eq!(document.ds_key, "key-7");
        assert!(document.recent_key(&first_key).is_none());
        assert_eq!(
            document
                .recent_key("key-6")
                .map(|recent| recent.retired_by_version),
            Some(7)
        );
    }

    #[test]
    fn validate_accepts_sample() {
        let document = sample_document("u-owner");

        assert!(document.validate(document.id).is_ok());
    }

    #[test]
    fn validate_rejects_other_id() {
        let document = sample_document("u-owner");

        assert!(matches!(
            document.validate(Uuid::new_v4()),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn validate_rejects_missing_current_version() {
        let mut document = sample_document("u-owner");
        document.current_version = 9;

        assert!(matches!(
            document.validate(document.id),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn validate_rejects_invalid_key() {
        let mut document = sample_document("u-owner");
        document.ds_key = "no spaces allowed".to_owned();

        assert!(matches!(
            document.validate(document.id),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn kind_rules_for_current_and_key() {
        assert!(VersionKind::Upload.rotates_key());
        assert!(VersionKind::Save.rotates_key());
        assert!(!VersionKind::ForceSave.rotates_key());
        assert!(!VersionKind::Recovery.rotates_key());
        assert!(!VersionKind::Conflict.rotates_key());
        assert!(VersionKind::ForceSave.becomes_current());
        assert!(!VersionKind::Recovery.becomes_current());
        assert!(!VersionKind::Conflict.becomes_current());
    }
}
