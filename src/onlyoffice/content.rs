//! Content check of a file received in pieces: its first bytes and its ending must be those of
//! the announced format, so a file of another type or one cut short is never stored.

use super::formats::{FileType, TRAILER_WINDOW};

/// Bytes of the start of a file needed to check its signature.
const HEAD_BYTES: usize = 8;

/// Streaming check of a file's signature and ending, in bounded memory.
#[derive(Debug, Clone)]
pub struct ContentCheck {
    file_type: FileType,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl ContentCheck {
    /// Starts a check for a file of `file_type`.
    pub fn new(file_type: FileType) -> Self {
        Self { file_type, head: Vec::with_capacity(HEAD_BYTES), tail: Vec::new() }
    }

    /// Takes the next piece of the file; returns `false` as soon as its start is known to be
    /// wrong.
    pub fn feed(&mut self, piece: &[u8]) -> bool {
        if self.head.len() < HEAD_BYTES {
            let missing = HEAD_BYTES - self.head.len();
            self.head.extend_from_slice(&piece[..piece.len().min(missing)]);
        }
        self.tail.extend_from_slice(piece);
        if self.tail.len() > 2 * TRAILER_WINDOW {
            let excess = self.tail.len() - TRAILER_WINDOW;
            self.tail.drain(..excess);
        }
        self.head.len() < HEAD_BYTES || self.file_type.matches_content(&self.head)
    }

    /// Returns whether the whole file, now complete, starts and ends as its format requires.
    pub fn finish(&self) -> bool {
        self.file_type.matches_content(&self.head) && self.file_type.matches_trailer(&self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docx() -> FileType {
        FileType::from_extension("docx").unwrap()
    }

    fn zip_like(length: usize) -> Vec<u8> {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.resize(length - 22, b'x');
        bytes.extend_from_slice(b"PK\x05\x06");
        bytes.resize(length, 0);
        bytes
    }

    fn check_in_pieces(file_type: FileType, bytes: &[u8], piece: usize) -> bool {
        let mut check = ContentCheck::new(file_type);
        bytes.chunks(piece).all(|chunk| check.feed(chunk)) && check.finish()
    }

    #[test]
    fn whole_zip_passes_in_any_piece_size() {
        let bytes = zip_like(300_000);
        for piece in [1, 3, 4096, 65_536, 300_000] {
            assert!(check_in_pieces(docx(), &bytes, piece), "pieces of {piece}");
        }
    }

    #[test]
    fn zip_cut_short_fails() {
        let bytes = zip_like(300_000);
        assert!(!check_in_pieces(docx(), &bytes[..150_000], 4096));
    }

    #[test]
    fn wrong_start_fails_at_once() {
        let mut check = ContentCheck::new(docx());
        assert!(!check.feed(b"%PDF-1.7 and more"));
    }

    #[test]
    fn short_first_piece_waits_for_signature() {
        let mut check = ContentCheck::new(docx());
        assert!(check.feed(b"PK"));
        assert!(check.feed(b"\x03\x04rest"));
    }

    #[test]
    fn pdf_needs_eof_marker() {
        let pdf = FileType::from_extension("pdf").unwrap();
        assert!(check_in_pieces(pdf, b"%PDF-1.7\n...\n%%EOF\n", 5));
        assert!(!check_in_pieces(pdf, b"%PDF-1.7\n... cut", 5));
    }

    #[test]
    fn empty_file_fails_for_zip_and_passes_for_text() {
        assert!(!ContentCheck::new(docx()).finish());
        assert!(ContentCheck::new(FileType::from_extension("txt").unwrap()).finish());
    }

    #[test]
    fn real_fixtures_pass() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        for name in ["rapport.docx", "rapport.odt", "rapport.pdf", "tableau.xlsx", "presentation.pptx"] {
            let bytes = std::fs::read(format!("{fixtures}{name}")).unwrap();
            let file_type = FileType::from_file_name(name).unwrap();
            assert!(check_in_pieces(file_type, &bytes, 1000), "{name}");
            assert!(!check_in_pieces(file_type, &bytes[..bytes.len() / 2], 1000), "{name} cut in half");
        }
    }
}
