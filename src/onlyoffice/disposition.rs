//! The `Content-Disposition` header value of a file download, as RFC 6266 defines it, with the
//! RFC 5987 `filename*` parameter for names that are not plain ASCII.

/// Uppercase hex digits for percent-encoding.
const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Builds the value `attachment; filename="<fallback>"; filename*=UTF-8''<encoded>` for
/// `file_name`.
///
/// The quoted fallback is for clients that ignore `filename*`. It keeps printable ASCII and
/// replaces every other character, `"` and `\` with `_`, one `_` per character. The `filename*`
/// value is the UTF-8 name with every byte outside RFC 5987's `attr-char` set percent-encoded in
/// uppercase hex. The result therefore contains only printable ASCII, so no file name can end the
/// header or add another one. An empty name gives `attachment` without a file name.
pub fn content_disposition(file_name: &str) -> String {
    if file_name.is_empty() {
        return "attachment".to_owned();
    }

    format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(file_name),
        percent_encode_attr_value(file_name)
    )
}

/// Replaces each character that cannot appear as itself in a quoted string with `_`.
fn ascii_fallback(file_name: &str) -> String {
    file_name
        .chars()
        .map(|character| {
            let plain = character.is_ascii()
                && !character.is_ascii_control()
                && !matches!(character, '"' | '\\');
            if plain { character } else { '_' }
        })
        .collect()
}

/// Percent-encodes every UTF-8 byte of `value` that is not an RFC 5987 `attr-char`.
fn percent_encode_attr_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() * 3);

    for byte in value.bytes() {
        if is_attr_char(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
    }
    encoded
}

/// Returns whether `byte` is in RFC 5987's `attr-char` set: ALPHA, DIGIT and
/// `! # $ & + - . ^ _ ` | ~`.
fn is_attr_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `%XX` sequences, to check that `filename*` carries the whole name.
    fn percent_decode(encoded: &str) -> String {
        let bytes = encoded.as_bytes();
        let mut decoded = Vec::new();
        let mut index = 0;
        while index < bytes.len() {
            if bytes[index] == b'%' {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
                decoded.push(u8::from_str_radix(hex, 16).unwrap());
                index += 3;
            } else {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
        String::from_utf8(decoded).unwrap()
    }

    /// Returns the `filename*` value of a header built by [`content_disposition`].
    fn extended_value(header: &str) -> &str {
        header.split_once("filename*=UTF-8''").unwrap().1
    }

    #[test]
    fn ascii_name_kept_in_both_forms() {
        assert_eq!(
            content_disposition("rapport-2026.docx"),
            "attachment; filename=\"rapport-2026.docx\"; filename*=UTF-8''rapport-2026.docx"
        );
    }

    #[test]
    fn french_name_encoded() {
        assert_eq!(
            content_disposition("Procès-verbal été 2026.docx"),
            "attachment; filename=\"Proc_s-verbal _t_ 2026.docx\"; \
             filename*=UTF-8''Proc%C3%A8s-verbal%20%C3%A9t%C3%A9%202026.docx"
        );
    }

    #[test]
    fn quotes_and_backslash_replaced() {
        let header = content_disposition("a\"b\\c.txt");

        assert_eq!(
            header,
            "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"
        );
    }

    #[test]
    fn line_breaks_cannot_inject_header() {
        let header = content_disposition("x\r\nSet-Cookie: a=b\0.docx");

        assert!(!header.contains('\r'));
        assert!(!header.contains('\n'));
        assert!(!header.contains('\0'));
        assert!(
            header.contains("filename=\"x__Set-Cookie: a=b_.docx\""),
            "{header}"
        );
        assert!(
            header.ends_with("x%0D%0ASet-Cookie%3A%20a%3Db%00.docx"),
            "{header}"
        );
    }

    #[test]
    fn empty_name_gives_plain_attachment() {
        assert_eq!(content_disposition(""), "attachment");
    }

    #[test]
    fn attr_chars_not_encoded() {
        let name = "AZaz09!#$&+-.^_`|~";

        assert_eq!(extended_value(&content_disposition(name)), name);
    }

    #[test]
    fn other_ascii_punctuation_encoded() {
        let name = " \"%'()*,/:;<=>?@[\\]{}";
        let expected = "%20%22%25%27%28%29%2A%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%7B%7D";

        assert_eq!(extended_value(&content_disposition(name)), expected);
    }

    #[test]
    fn non_ascii_characters_become_one_underscore() {
        let header = content_disposition("日本語 😀.pdf");

        assert!(
            header.starts_with("attachment; filename=\"___ _.pdf\";"),
            "{header}"
        );
    }

    #[test]
    fn header_is_printable_ascii() {
        let names = [
            "Procès-verbal été 2026.docx",
            "tab\there.txt",
            "del\u{7f}.csv",
            "ligne\u{2028}.odt",
            "😀",
        ];

        for name in names {
            let header = content_disposition(name);
            assert!(
                header.bytes().all(|byte| (0x20..0x7f).contains(&byte)),
                "{header:?}"
            );
        }
    }

    #[test]
    fn extended_value_decodes_to_name() {
        let names = [
            "Procès-verbal été 2026.docx",
            "a\"b\\c\r\n.txt",
            "100% sûr ?.xlsx",
            "日本語 😀.pdf",
        ];

        for name in names {
            assert_eq!(
                percent_decode(extended_value(&content_disposition(name))),
                name
            );
        }
    }
}
