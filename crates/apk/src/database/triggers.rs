//! `lib/apk/db/triggers`: which installed packages have trigger scripts
//! and the directory globs that fire them (formats.md §6.4).
//!
//! Each line is `<identity> <glob> <glob> …`. apko writes one line per
//! glob (repeating the identity), apk-tools one line per package; both
//! read the same. Lines are kept verbatim so an unchanged file is written
//! back byte for byte.

use crate::checksum::{Checksum, InvalidChecksum};
use crate::index::text::lines;

/// The triggers of one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerEntry {
    /// The package identity (`C:` of its installed record).
    pub identity: Checksum,
    /// Absolute directory globs; a leading `+` means "only when the
    /// directory changed".
    pub globs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    raw: String,
    /// `None` for a blank line.
    entry: Option<TriggerEntry>,
}

/// The whole `triggers` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Triggers {
    lines: Vec<Line>,
    final_newline: bool,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            lines: Vec::new(),
            final_newline: true,
        }
    }
}

/// A triggers file that cannot be read, or a trigger that cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggersError {
    /// A line does not start with a package identity.
    #[error("{file}:{line}: '{text}' is not a package identity: {source}")]
    BadIdentity {
        /// The file name given to the parser.
        file: String,
        /// 1-based line.
        line: usize,
        /// The first word of the line.
        text: String,
        /// Why it is not a digest.
        source: InvalidChecksum,
    },
    /// The bytes are not UTF-8.
    #[error("{file}:{line}: the text is not valid UTF-8")]
    NotUtf8 {
        /// The file name given to the parser.
        file: String,
        /// 1-based line.
        line: usize,
    },
    /// A glob given to [`Triggers::push`] cannot be written.
    #[error("trigger glob '{0}' is empty or holds whitespace")]
    BadGlob(String),
}

impl Triggers {
    /// An empty file.
    pub fn new() -> Triggers {
        Triggers::default()
    }

    /// Parses the file's text. `file` names it in errors. Blank lines are
    /// kept and ignored.
    pub fn parse(text: &str, file: &str) -> Result<Triggers, TriggersError> {
        let mut out = Triggers {
            lines: Vec::new(),
            final_newline: text.is_empty() || text.ends_with('\n'),
        };
        for (n, raw) in lines(text) {
            let mut words = raw.split_ascii_whitespace();
            let entry = match words.next() {
                None => None,
                Some(word) => {
                    let identity =
                        Checksum::parse(word).map_err(|source| TriggersError::BadIdentity {
                            file: file.to_owned(),
                            line: n,
                            text: word.to_owned(),
                            source,
                        })?;
                    Some(TriggerEntry {
                        identity,
                        globs: words.map(str::to_owned).collect(),
                    })
                }
            };
            out.lines.push(Line {
                raw: raw.to_owned(),
                entry,
            });
        }
        Ok(out)
    }

    /// Like [`Triggers::parse`] for raw bytes.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Triggers, TriggersError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Triggers::parse(text, file),
            Err(e) => Err(TriggersError::NotUtf8 {
                file: file.to_owned(),
                line: 1 + memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count(),
            }),
        }
    }

    /// Every line's entry, in file order (blank lines skipped).
    pub fn entries(&self) -> impl Iterator<Item = &TriggerEntry> {
        self.lines.iter().filter_map(|l| l.entry.as_ref())
    }

    /// All globs of the package with `identity` (compared on the first 20
    /// bytes), over every line that names it.
    pub fn globs_for(&self, identity: &Checksum) -> Vec<&str> {
        self.entries()
            .filter(|e| e.identity.same_identity(identity))
            .flat_map(|e| e.globs.iter().map(String::as_str))
            .collect()
    }

    /// Appends one line `Q1<identity> <glob> …` as apk-tools writes it.
    /// Nothing is added when `globs` is empty.
    pub fn push<S: AsRef<str>>(
        &mut self,
        identity: &Checksum,
        globs: impl IntoIterator<Item = S>,
    ) -> Result<(), TriggersError> {
        let identity = Checksum::Sha1(identity.identity());
        let mut list = Vec::new();
        for g in globs {
            let g = g.as_ref();
            if g.is_empty() || g.contains(char::is_whitespace) {
                return Err(TriggersError::BadGlob(g.to_owned()));
            }
            list.push(g.to_owned());
        }
        if list.is_empty() {
            return Ok(());
        }
        let raw = format!("{identity} {}", list.join(" "));
        self.lines.push(Line {
            raw,
            entry: Some(TriggerEntry {
                identity,
                globs: list,
            }),
        });
        self.final_newline = true;
        Ok(())
    }

    /// The file's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(l.raw.as_bytes());
        }
        if self.final_newline && !self.lines.is_empty() {
            out.push(b'\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ALPINE: std::sync::LazyLock<&str> = std::sync::LazyLock::new(|| {
        testkit::corpus_text("apk/installed-db/root-usr-lib/triggers").leak()
    });

    #[test]
    fn corpus_round_trips_byte_for_byte() {
        let t = Triggers::parse(*ALPINE, "triggers").unwrap();
        assert_eq!(t.write(), ALPINE.as_bytes());
        let e: Vec<&TriggerEntry> = t.entries().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].identity.to_string(), "Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=");
        assert_eq!(
            e[0].globs,
            ["/bin", "/usr/bin", "/sbin", "/usr/sbin", "/lib/modules/*"]
        );
    }

    #[test]
    fn odd_layouts_round_trip() {
        for text in [
            "",
            "\n",
            "Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo= /a\n\nQ1Meo+LHGPSi3uY9gIouEVb9z8Fbo=  /b",
        ] {
            let t = Triggers::parse(text, "t").unwrap();
            assert_eq!(t.write(), text.as_bytes(), "{text:?}");
        }
    }

    #[test]
    fn apko_lines_per_glob_merge() {
        let id = Checksum::parse("Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo=").unwrap();
        let text = format!("{id} /usr/bin\n{id} +/usr/share/fonts/*\n");
        let t = Triggers::parse(&text, "t").unwrap();
        assert_eq!(t.globs_for(&id), ["/usr/bin", "+/usr/share/fonts/*"]);
        assert!(t.globs_for(&Checksum::Sha1([0; 20])).is_empty());
    }

    #[test]
    fn push_appends_a_line() {
        let mut t = Triggers::parse("Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo= /bin", "t").unwrap();
        let id = Checksum::Sha256([9; 32]);
        t.push(&id, ["/usr/share/icons/*", "/usr/lib/gdk"]).unwrap();
        t.push(&id, Vec::<String>::new()).unwrap();
        let text = String::from_utf8(t.write()).unwrap();
        let q1 = Checksum::Sha1([9; 20]);
        assert_eq!(
            text,
            format!("Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo= /bin\n{q1} /usr/share/icons/* /usr/lib/gdk\n")
        );
        let again = Triggers::parse(&text, "t").unwrap();
        assert_eq!(again.globs_for(&id), ["/usr/share/icons/*", "/usr/lib/gdk"]);
        assert_eq!(
            t.push(&id, ["a b"]).unwrap_err(),
            TriggersError::BadGlob("a b".to_owned())
        );
    }

    #[test]
    fn bad_identity_names_file_and_line() {
        let e = Triggers::parse(
            "Q1Meo+LHGPSi3uY9gIouEVb9z8Fbo= /bin\n/sbin\n",
            "db/triggers",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("db/triggers:2: '/sbin' is not a package identity"),
            "{e}"
        );
        let e = Triggers::from_bytes(b"\n\xff", "x").unwrap_err();
        assert_eq!(
            e,
            TriggersError::NotUtf8 {
                file: "x".to_owned(),
                line: 2
            }
        );
    }
}
