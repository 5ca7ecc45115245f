//! Problems found in declaration files, with spans: rendered as
//! `file:line:column: message (help)` lines, or by miette with the source
//! text under each label.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};

/// One problem found in a declaration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Byte range in the file (may be empty, e.g. for a missing key).
    pub span: Range<usize>,
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column (in characters) of `span.start`.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Every error found in one declaration file (plus, for a workspace, the
/// errors of the other manifests in `others`).
///
/// `Display` gives one `file:line:column: message (help)` line per error;
/// as a [`Diagnostic`] it labels each error's span in the source text.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// The file the errors are in, as given.
    pub file: PathBuf,
    /// Its text (empty when it could not be read; secrets masked).
    pub source_text: String,
    /// The errors, in the order they appear in the file.
    pub errors: Vec<ConfigError>,
    /// Errors in further files (other workspace members).
    pub others: Vec<ConfigErrors>,
}

impl ConfigErrors {
    /// An empty error list for `file` holding `source_text`; use
    /// [`push`](Self::push) to add errors, e.g. to point at an
    /// [`Image`](crate::model::Image)'s spans after a failed solve.
    pub fn new(file: &Path, source_text: String) -> Self {
        ConfigErrors {
            file: file.to_owned(),
            source_text,
            errors: Vec::new(),
            others: Vec::new(),
        }
    }

    /// Adds an error at byte range `span`, computing its line and column.
    pub fn push(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let (line, column) = line_column(&self.source_text, span.start);
        self.errors.push(ConfigError {
            span,
            line,
            column,
            message: message.into(),
            help,
        });
    }

    /// Replaces the characters of `range` in the source text by `*`
    /// (credentials must not reach the snippet shown under an error).
    pub(crate) fn mask(&mut self, range: Range<usize>) {
        let Some(slice) = self.source_text.get(range.clone()) else {
            return;
        };
        let stars = "*".repeat(slice.len());
        self.source_text.replace_range(range, &stars);
    }

    /// True when neither this file nor `others` holds an error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.others.iter().all(ConfigErrors::is_empty)
    }

    /// Total number of errors, `others` included.
    pub fn len(&self) -> usize {
        self.errors.len() + self.others.iter().map(ConfigErrors::len).sum::<usize>()
    }

    /// Sorts the errors by position.
    pub(crate) fn sort(&mut self) {
        self.errors.sort_by_key(|e| (e.span.start, e.span.end));
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.errors {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{}:{}:{}: {e}", self.file.display(), e.line, e.column)?;
        }
        for other in &self.others {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{other}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The source text, named after the file (what `miette::NamedSource` does,
/// without a second copy of the text).
impl SourceCode for ConfigErrors {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self
            .source_text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.file.display().to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

impl Diagnostic for ConfigErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("assemble::config"))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.errors.iter().map(|e| {
            LabeledSpan::new_with_span(Some(e.message.clone()), e.span.clone())
        })))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let helps: Vec<String> = self
            .errors
            .iter()
            .filter_map(|e| e.help.as_ref().map(|h| (e, h)))
            .map(|(e, h)| {
                if self.errors.len() == 1 {
                    h.clone()
                } else {
                    format!("{}:{}: {h}", e.line, e.column)
                }
            })
            .collect();
        if helps.is_empty() {
            None
        } else {
            Some(Box::new(helps.join("\n")))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.others.is_empty() {
            None
        } else {
            Some(Box::new(self.others.iter().map(|o| o as &dyn Diagnostic)))
        }
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_columns_count_characters() {
        assert_eq!(line_column("ab\nçd", 5), (2, 2));
        assert_eq!(line_column("", 0), (1, 1));
    }

    #[test]
    fn masking_keeps_offsets() {
        let mut e = ConfigErrors::new(Path::new("a"), "x = \"https://u:p@h\"".into());
        e.mask(13..16);
        assert_eq!(e.source_text, "x = \"https://***@h\"");
    }
}
