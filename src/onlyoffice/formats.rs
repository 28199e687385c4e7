//! The file types the connector accepts: their ONLYOFFICE editor, MIME type, edit mode and the
//! signature their content starts with.
//!
//! Editing follows the classes of ONLYOFFICE's own format list (repository
//! ONLYOFFICE/document-formats): the formats it edits natively (OOXML, including templates and
//! macro-enabled variants) and those it edits "with possible loss of information" (ODF, RTF, TXT,
//! CSV) open in edit mode. Legacy binary formats (`doc`, `xls`, `ppt`) open in view mode, because
//! the Document Server saves them back as OOXML and the document would change format on save.
//! PDF opens in view mode as well. Recent Document Server versions can edit PDF and fill PDF
//! forms, but the connector cannot tell which version it talks to, and a DMS user expects a PDF
//! to be read, not rewritten.

use super::OnlyOfficeError;
use Container::{Ole2, Rtf, Text, Zip};
use DocumentType::{Cell, Slide, Word};

/// Start of a ZIP local file header, the first bytes of every OOXML and ODF file.
const ZIP_LOCAL_FILE_HEADER: &[u8] = b"PK\x03\x04";
/// Start of a ZIP end-of-central-directory record: an empty archive when it comes first.
const ZIP_EMPTY_ARCHIVE: &[u8] = b"PK\x05\x06";
/// Start of a spanned ZIP archive, which no office suite writes.
const ZIP_SPANNED_ARCHIVE: &[u8] = b"PK\x07\x08";
/// Signature of an OLE2 compound file, the container of `doc`, `xls` and `ppt`.
const OLE2_SIGNATURE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
/// Header that starts a PDF file.
const PDF_HEADER: &[u8] = b"%PDF-";
/// Control word that starts an RTF file.
const RTF_HEADER: &[u8] = b"{\\rtf";

/// Editor the Document Server opens for a file, as the `documentType` configuration field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    /// Text documents.
    Word,
    /// Spreadsheets.
    Cell,
    /// Presentations.
    Slide,
    /// PDF files.
    Pdf,
}

impl DocumentType {
    /// Returns the value of the `documentType` configuration field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Word => "word",
            Self::Cell => "cell",
            Self::Slide => "slide",
            Self::Pdf => "pdf",
        }
    }
}

/// Container format, which decides the signature checked by [`FileType::matches_content`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Zip,
    Ole2,
    Pdf,
    Rtf,
    Text,
}

/// One accepted file type. The values come from [`FILE_TYPES`] through
/// [`FileType::from_extension`] or [`FileType::from_file_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    extension: &'static str,
    document_type: DocumentType,
    mime_type: &'static str,
    editable: bool,
    container: Container,
}

/// Builds a table entry. Only the table below uses it.
const fn entry(
    extension: &'static str,
    document_type: DocumentType,
    mime_type: &'static str,
    editable: bool,
    container: Container,
) -> FileType {
    FileType {
        extension,
        document_type,
        mime_type,
        editable,
        container,
    }
}

/// Every accepted file type, by lowercase extension.
#[rustfmt::skip]
pub const FILE_TYPES: &[FileType] = &[
    // Text documents.
    entry("docx", Word, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", true, Zip),
    entry("docm", Word, "application/vnd.ms-word.document.macroEnabled.12", true, Zip),
    entry("dotx", Word, "application/vnd.openxmlformats-officedocument.wordprocessingml.template", true, Zip),
    entry("dotm", Word, "application/vnd.ms-word.template.macroEnabled.12", true, Zip),
    entry("doc", Word, "application/msword", false, Ole2),
    entry("odt", Word, "application/vnd.oasis.opendocument.text", true, Zip),
    entry("ott", Word, "application/vnd.oasis.opendocument.text-template", true, Zip),
    entry("rtf", Word, "application/rtf", true, Rtf),
    entry("txt", Word, "text/plain", true, Text),
    // Spreadsheets.
    entry("xlsx", Cell, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", true, Zip),
    entry("xlsm", Cell, "application/vnd.ms-excel.sheet.macroEnabled.12", true, Zip),
    entry("xltx", Cell, "application/vnd.openxmlformats-officedocument.spreadsheetml.template", true, Zip),
    entry("xltm", Cell, "application/vnd.ms-excel.template.macroEnabled.12", true, Zip),
    entry("xls", Cell, "application/vnd.ms-excel", false, Ole2),
    entry("ods", Cell, "application/vnd.oasis.opendocument.spreadsheet", true, Zip),
    entry("ots", Cell, "application/vnd.oasis.opendocument.spreadsheet-template", true, Zip),
    entry("csv", Cell, "text/csv", true, Text),
    // Presentations.
    entry("pptx", Slide, "application/vnd.openxmlformats-officedocument.presentationml.presentation", true, Zip),
    entry("pptm", Slide, "application/vnd.ms-powerpoint.presentation.macroEnabled.12", true, Zip),
    entry("potx", Slide, "application/vnd.openxmlformats-officedocument.presentationml.template", true, Zip),
    entry("potm", Slide, "application/vnd.ms-powerpoint.template.macroEnabled.12", true, Zip),
    entry("ppsx", Slide, "application/vnd.openxmlformats-officedocument.presentationml.slideshow", true, Zip),
    entry("ppsm", Slide, "application/vnd.ms-powerpoint.slideshow.macroEnabled.12", true, Zip),
    entry("ppt", Slide, "application/vnd.ms-powerpoint", false, Ole2),
    entry("odp", Slide, "application/vnd.oasis.opendocument.presentation", true, Zip),
    entry("otp", Slide, "application/vnd.oasis.opendocument.presentation-template", true, Zip),
    // PDF.
    entry("pdf", DocumentType::Pdf, "application/pdf", false, Container::Pdf),
];

/// Maximum length of the extension kept in [`OnlyOfficeError::UnsupportedFileType`], so that a
/// hostile name cannot fill the log.
const MAX_REPORTED_EXTENSION_CHARS: usize = 16;

impl FileType {
    /// Looks up the entry of `extension`, compared without regard to ASCII case.
    ///
    /// # Errors
    ///
    /// [`OnlyOfficeError::UnsupportedFileType`] when no entry has this extension.
    pub fn from_extension(extension: &str) -> Result<Self, OnlyOfficeError> {
        FILE_TYPES
            .iter()
            .find(|file_type| file_type.extension.eq_ignore_ascii_case(extension))
            .copied()
            .ok_or_else(|| OnlyOfficeError::UnsupportedFileType {
                extension: extension
                    .to_ascii_lowercase()
                    .chars()
                    .take(MAX_REPORTED_EXTENSION_CHARS)
                    .collect(),
            })
    }

    /// Looks up the entry for the extension of `file_name`: the text after its last dot,
    /// compared without regard to ASCII case. A leading dot counts, so `.docx` is a docx file.
    ///
    /// # Errors
    ///
    /// [`OnlyOfficeError::MissingExtension`] when the name has no dot or ends with one, and
    /// [`OnlyOfficeError::UnsupportedFileType`] when the extension is not in [`FILE_TYPES`].
    pub fn from_file_name(file_name: &str) -> Result<Self, OnlyOfficeError> {
        match file_name.rsplit_once('.') {
            Some((_, extension)) if !extension.is_empty() => Self::from_extension(extension),
            _ => Err(OnlyOfficeError::MissingExtension),
        }
    }

    /// Returns the lowercase extension, which is also the `document.fileType` value.
    pub fn extension(&self) -> &'static str {
        self.extension
    }

    /// Returns the editor that opens this file type.
    pub fn document_type(&self) -> DocumentType {
        self.document_type
    }

    /// Returns the MIME type for `Content-Type` headers.
    pub fn mime_type(&self) -> &'static str {
        self.mime_type
    }

    /// Returns whether files of this type may open in edit mode. The module documentation gives
    /// the rule.
    pub fn is_editable(&self) -> bool {
        self.editable
    }

    /// Checks whether `first_bytes`, the start of a file, carries this type's signature.
    ///
    /// OOXML and ODF files must start with a ZIP local file header (`PK\x03\x04`), so an empty
    /// archive (`PK\x05\x06`) fails. Legacy `doc`, `xls` and `ppt` must start with the OLE2
    /// signature, PDF with `%PDF-` and RTF with `{\rtf`. Plain text has no signature, so `txt`
    /// and `csv` accept any content, the empty file included, unless it starts with a ZIP, OLE2
    /// or PDF signature: such a file is a binary document under a wrong name.
    //
    // NOTE: only the container family is checked, so an xlsx named `.docx` passes; telling them
    // apart needs a look at the archive's entries.
    pub fn matches_content(&self, first_bytes: &[u8]) -> bool {
        match self.container {
            Container::Zip => first_bytes.starts_with(ZIP_LOCAL_FILE_HEADER),
            Container::Ole2 => first_bytes.starts_with(OLE2_SIGNATURE),
            Container::Pdf => first_bytes.starts_with(PDF_HEADER),
            Container::Rtf => first_bytes.starts_with(RTF_HEADER),
            Container::Text => !starts_with_binary_signature(first_bytes),
        }
    }
}

impl FileType {
    /// Checks whether `last_bytes`, the end of a whole file (at least [`TRAILER_WINDOW`] bytes
    /// of it, or all of a shorter file), end as this format must: a ZIP end-of-central-directory
    /// record for OOXML and ODF, `%%EOF` near the end for PDF, a closing brace for RTF. This
    /// catches files cut short that still start right. OLE2 and text have no required ending.
    pub fn matches_trailer(&self, last_bytes: &[u8]) -> bool {
        match self.container {
            Container::Zip => contains(last_bytes, ZIP_END_OF_CENTRAL_DIRECTORY),
            Container::Pdf => contains(&last_bytes[last_bytes.len().saturating_sub(PDF_EOF_WINDOW)..], b"%%EOF"),
            Container::Rtf => last_bytes.iter().rev().find(|b| !b.is_ascii_whitespace() && **b != 0) == Some(&b'}'),
            Container::Ole2 | Container::Text => true,
        }
    }
}

/// Bytes at the end of a file that [`FileType::matches_trailer`] needs: a ZIP end-of-central-
/// directory record (22 bytes) followed by at most a 65 535-byte comment.
pub const TRAILER_WINDOW: usize = 22 + 65_535;

/// Signature of a ZIP end-of-central-directory record.
const ZIP_END_OF_CENTRAL_DIRECTORY: &[u8] = b"PK\x05\x06";

/// Bytes from the end of a PDF file within which `%%EOF` must appear; writers may add a little
/// padding after it.
const PDF_EOF_WINDOW: usize = 1024;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Checks whether `first_bytes` carry the signature of the entry for `extension`. An unknown
/// extension never matches.
pub fn matches_content(extension: &str, first_bytes: &[u8]) -> bool {
    FileType::from_extension(extension)
        .is_ok_and(|file_type| file_type.matches_content(first_bytes))
}

/// Returns whether `bytes` start like a ZIP archive, an OLE2 compound file or a PDF file.
fn starts_with_binary_signature(bytes: &[u8]) -> bool {
    [
        ZIP_LOCAL_FILE_HEADER,
        ZIP_EMPTY_ARCHIVE,
        ZIP_SPANNED_ARCHIVE,
        OLE2_SIGNATURE,
        PDF_HEADER,
    ]
    .iter()
    .any(|signature| bytes.starts_with(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED_EXTENSIONS: [&str; 22] = [
        "docx", "docm", "dotx", "doc", "odt", "ott", "rtf", "txt", "xlsx", "xlsm", "xltx", "xls",
        "ods", "ots", "csv", "pptx", "pptm", "potx", "ppt", "odp", "otp", "pdf",
    ];

    fn file_type(extension: &str) -> FileType {
        FileType::from_extension(extension).unwrap()
    }

    #[test]
    fn table_has_required_extensions() {
        for extension in REQUIRED_EXTENSIONS {
            assert!(FileType::from_extension(extension).is_ok(), "{extension}");
        }
    }

    #[test]
    fn table_extensions_are_unique_lowercase() {
        for (index, entry) in FILE_TYPES.iter().enumerate() {
            assert_eq!(entry.extension, entry.extension.to_ascii_lowercase());
            let later = &FILE_TYPES[index + 1..];
            assert!(
                later.iter().all(|other| other.extension != entry.extension),
                "{}",
                entry.extension
            );
        }
    }

    #[test]
    fn document_types_by_extension() {
        let expected = [
            ("docx", "word"),
            ("odt", "word"),
            ("rtf", "word"),
            ("txt", "word"),
            ("xlsx", "cell"),
            ("xls", "cell"),
            ("csv", "cell"),
            ("pptx", "slide"),
            ("otp", "slide"),
            ("pdf", "pdf"),
        ];

        for (extension, document_type) in expected {
            assert_eq!(
                file_type(extension).document_type().as_str(),
                document_type,
                "{extension}"
            );
        }
    }

    #[test]
    fn mime_types_by_extension() {
        let expected = [
            (
                "docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            ("docm", "application/vnd.ms-word.document.macroEnabled.12"),
            ("doc", "application/msword"),
            ("odt", "application/vnd.oasis.opendocument.text"),
            ("ott", "application/vnd.oasis.opendocument.text-template"),
            ("rtf", "application/rtf"),
            ("txt", "text/plain"),
            (
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                "xltx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
            ),
            ("xls", "application/vnd.ms-excel"),
            ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
            ("csv", "text/csv"),
            (
                "pptx",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ),
            (
                "potx",
                "application/vnd.openxmlformats-officedocument.presentationml.template",
            ),
            ("ppt", "application/vnd.ms-powerpoint"),
            ("odp", "application/vnd.oasis.opendocument.presentation"),
            ("pdf", "application/pdf"),
        ];

        for (extension, mime_type) in expected {
            assert_eq!(file_type(extension).mime_type(), mime_type, "{extension}");
        }
    }

    #[test]
    fn editable_formats() {
        for extension in [
            "docx", "docm", "dotx", "odt", "ott", "rtf", "txt", "xlsx", "ods", "csv", "pptx", "odp",
        ] {
            assert!(file_type(extension).is_editable(), "{extension}");
        }
        for extension in ["doc", "xls", "ppt", "pdf"] {
            assert!(!file_type(extension).is_editable(), "{extension}");
        }
    }

    #[test]
    fn from_file_name_takes_last_extension() {
        assert_eq!(
            FileType::from_file_name("rapport.v2.docx")
                .unwrap()
                .extension(),
            "docx"
        );
        assert_eq!(
            FileType::from_file_name("Procès-verbal été 2026.ODT")
                .unwrap()
                .extension(),
            "odt"
        );
        assert_eq!(
            FileType::from_file_name("budget.XlSx").unwrap().extension(),
            "xlsx"
        );
        assert_eq!(
            FileType::from_file_name(".docx").unwrap().extension(),
            "docx"
        );
    }

    #[test]
    fn from_file_name_without_extension() {
        for name in ["", "README", "rapport.", "."] {
            assert_eq!(
                FileType::from_file_name(name),
                Err(OnlyOfficeError::MissingExtension),
                "{name:?}"
            );
        }
    }

    #[test]
    fn from_file_name_unsupported_extension() {
        let error = FileType::from_file_name("archive.docx.EXE").unwrap_err();

        assert_eq!(
            error,
            OnlyOfficeError::UnsupportedFileType {
                extension: "exe".to_owned()
            }
        );
    }

    #[test]
    fn unsupported_extension_cut_in_error() {
        let name = format!("a.{}", "x".repeat(1000));
        let Err(OnlyOfficeError::UnsupportedFileType { extension }) =
            FileType::from_file_name(&name)
        else {
            panic!("expected an unsupported file type");
        };

        assert_eq!(extension.len(), MAX_REPORTED_EXTENSION_CHARS);
    }

    #[test]
    fn zip_formats_need_local_file_header() {
        for extension in ["docx", "xlsm", "pptx", "odt", "ods", "otp"] {
            assert!(
                matches_content(extension, b"PK\x03\x04\x14\x00\x06\x00"),
                "{extension}"
            );
            assert!(
                !matches_content(extension, b"PK\x05\x06\x00\x00\x00\x00"),
                "{extension} empty zip"
            );
            assert!(!matches_content(extension, b"PK"), "{extension} truncated");
            assert!(!matches_content(extension, b"%PDF-1.7"), "{extension} pdf");
            assert!(
                !matches_content(extension, OLE2_SIGNATURE),
                "{extension} ole2"
            );
        }
    }

    #[test]
    fn legacy_formats_need_ole2_signature() {
        for extension in ["doc", "xls", "ppt"] {
            assert!(matches_content(extension, OLE2_SIGNATURE), "{extension}");
            assert!(
                !matches_content(extension, &OLE2_SIGNATURE[..7]),
                "{extension} truncated"
            );
            assert!(
                !matches_content(extension, b"PK\x03\x04"),
                "{extension} zip"
            );
        }
    }

    #[test]
    fn pdf_and_rtf_need_header() {
        assert!(matches_content("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3"));
        assert!(!matches_content("pdf", b"%PDF"));
        assert!(!matches_content("pdf", b"<html>"));
        assert!(matches_content("rtf", b"{\\rtf1\\ansi"));
        assert!(!matches_content("rtf", b"{\\rt"));
        assert!(!matches_content("rtf", b"PK\x03\x04"));
    }

    #[test]
    fn text_formats_reject_binary_signatures() {
        for extension in ["txt", "csv"] {
            assert!(matches_content(extension, b""), "{extension} empty");
            assert!(
                matches_content(extension, "nom;prénom\n".as_bytes()),
                "{extension}"
            );
            assert!(
                matches_content(extension, b"\xef\xbb\xbfa,b\r\n"),
                "{extension} bom"
            );
            assert!(
                matches_content(extension, b"PK is fine as text"),
                "{extension}"
            );
            assert!(
                !matches_content(extension, b"PK\x03\x04"),
                "{extension} zip"
            );
            assert!(
                !matches_content(extension, b"PK\x05\x06"),
                "{extension} empty zip"
            );
            assert!(
                !matches_content(extension, OLE2_SIGNATURE),
                "{extension} ole2"
            );
            assert!(!matches_content(extension, b"%PDF-1.4"), "{extension} pdf");
        }
    }

    #[test]
    fn unknown_extension_never_matches() {
        assert!(!matches_content("exe", b"MZ"));
        assert!(!matches_content("", b""));
    }
}
