//! ONLYOFFICE protocol values: file types, download headers and the editor configuration.
//!
//! Pure logic without I/O. Document keys are generated and validated by [`crate::storage`], so
//! this module takes a key as a `&str`.

pub mod callback;
mod content;
mod disposition;
mod editor_config;
mod error;
mod formats;
mod reference;

pub use content::ContentCheck;
pub use disposition::content_disposition;
pub use editor_config::{
    EditorConfigInput, EditorMode, MAX_TITLE_CHARS, PERMISSION_NAMES, build_editor_config,
    decide_mode,
};
pub use error::OnlyOfficeError;
pub use formats::{DocumentType, FILE_TYPES, FileType, matches_content};
pub use reference::find_document_reference;
