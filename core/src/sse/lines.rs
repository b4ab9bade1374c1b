//! Splitting text into lines the way an event stream does.

/// Splits `text` at CRLF, LF and lone CR (CRLF is one break).
///
/// Always yields at least one line: `""` gives `[""]`, `"a\n"` gives
/// `["a", ""]`. Joining the lines with LF gives `text` with every line break
/// turned into LF.
pub(super) fn split_lines(text: &str) -> SplitLines<'_> {
    SplitLines { rest: Some(text) }
}

/// The iterator returned by [`split_lines`].
pub(super) struct SplitLines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for SplitLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.find(['\r', '\n']) {
            Some(end) => {
                let after = &rest[end..];
                // CR and LF are one byte each, so these slices fall on
                // character boundaries.
                let skip = if after.starts_with("\r\n") { 2 } else { 1 };
                self.rest = Some(&after[skip..]);
                Some(&rest[..end])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn splits_at_every_kind_of_line_break() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[""]),
            ("a", &["a"]),
            ("a\n", &["a", ""]),
            ("a\r\nb", &["a", "b"]),
            ("a\rb", &["a", "b"]),
            ("a\n\rb", &["a", "", "b"]),
            ("\r\r\n", &["", "", ""]),
            ("\n\r\n\r", &["", "", "", ""]),
            ("é\r€", &["é", "€"]),
        ];
        for (text, lines) in cases {
            assert_eq!(split_lines(text).collect::<Vec<_>>(), *lines, "{text:?}");
        }
    }
}
