//! APK version strings: validation, ordering and constraint matching.
//!
//! apk-tools compares versions token by token instead of parsing them into a
//! struct, and so do we: a version is kept as the string it was written as and
//! tokenized on the fly when compared. That keeps index loading free of
//! allocations and makes the ordering exactly the one apk-tools 3 defines,
//! including how it treats invalid tails (an invalid tail sorts below the end
//! of a string, so comparing never fails).
//!
//! Grammar (a version is valid iff the tokenizer reaches the end without an
//! invalid token):
//!
//! ```text
//! number ( "." number )* [ letter ] ( "_" suffix [ number ] )* [ "~" hex ] [ "-r" number ]
//! ```

use std::cmp::Ordering;
use std::fmt;

/// A version string that passed validation.
///
/// Comparison follows apk-tools 3; see [`compare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version<'a>(&'a str);

/// Why a version string is not a valid APK version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version '{version}': {reason}")]
pub struct InvalidVersion {
    /// The rejected text.
    pub version: String,
    /// What is wrong with it, for humans.
    pub reason: &'static str,
}

impl<'a> Version<'a> {
    /// Validates `s` as an APK version.
    pub fn parse(s: &'a str) -> Result<Self, InvalidVersion> {
        match validate(s) {
            Ok(()) => Ok(Version(s)),
            Err(reason) => Err(InvalidVersion {
                version: s.to_owned(),
                reason,
            }),
        }
    }

    /// The version as written.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Display for Version<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.0, other.0)
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Token kinds in the order apk-tools ranks them. The rank matters: at the
/// first structural difference between two versions, the side whose token
/// has the *higher* rank is the older one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    FirstNumber,
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    Hash,
    Revision,
    End,
    Invalid,
}

/// Suffixes from oldest to newest; the first four are pre-releases and sort
/// below a version without suffix.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
const PRE_RELEASE_SUFFIXES: usize = 4;

fn suffix_rank(word: &[u8]) -> Option<usize> {
    SUFFIXES.iter().position(|s| s.as_bytes() == word)
}

struct Tokenizer<'a> {
    s: &'a [u8],
    pos: usize,
    /// Kind of the previous token; `None` before the first one.
    prev: Option<Kind>,
}

impl<'a> Tokenizer<'a> {
    fn new(s: &'a str) -> Self {
        Tokenizer {
            s: s.as_bytes(),
            pos: 0,
            prev: None,
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.s.len() && pred(self.s[self.pos]) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// Returns the next token. After `End` or `Invalid` it keeps returning
    /// the same kind.
    fn next(&mut self) -> (Kind, &'a [u8]) {
        let token = self.read();
        self.prev = Some(token.0);
        token
    }

    fn read(&mut self) -> (Kind, &'a [u8]) {
        let prev = match self.prev {
            None => {
                let digits = self.take_while(|b| b.is_ascii_digit());
                return if digits.is_empty() {
                    (Kind::Invalid, &[])
                } else {
                    (Kind::FirstNumber, digits)
                };
            }
            Some(done @ (Kind::End | Kind::Invalid)) => return (done, &[]),
            Some(prev) => prev,
        };
        let Some(&b) = self.s.get(self.pos) else {
            return (Kind::End, &[]);
        };
        match b {
            b'a'..=b'z' if prev <= Kind::Number => {
                self.pos += 1;
                (Kind::Letter, &self.s[self.pos - 1..self.pos])
            }
            b'.' if prev <= Kind::Number => {
                self.pos += 1;
                let digits = self.take_while(|b| b.is_ascii_digit());
                if digits.is_empty() {
                    (Kind::Invalid, &[])
                } else {
                    (Kind::Number, digits)
                }
            }
            b'0'..=b'9' if prev == Kind::Suffix => {
                (Kind::SuffixNumber, self.take_while(|b| b.is_ascii_digit()))
            }
            b'_' if prev <= Kind::SuffixNumber => {
                self.pos += 1;
                let word = self.take_while(|b| b.is_ascii_lowercase());
                if suffix_rank(word).is_some() {
                    (Kind::Suffix, word)
                } else {
                    (Kind::Invalid, &[])
                }
            }
            b'~' if prev < Kind::Hash => {
                self.pos += 1;
                let hex = self.take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if hex.is_empty() {
                    (Kind::Invalid, &[])
                } else {
                    (Kind::Hash, hex)
                }
            }
            b'-' if prev < Kind::Revision && self.s.get(self.pos + 1) == Some(&b'r') => {
                self.pos += 2;
                let digits = self.take_while(|b| b.is_ascii_digit());
                if digits.is_empty() {
                    (Kind::Invalid, &[])
                } else {
                    (Kind::Revision, digits)
                }
            }
            _ => (Kind::Invalid, &[]),
        }
    }
}

fn validate(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty version");
    }
    let mut t = Tokenizer::new(s);
    loop {
        match t.next().0 {
            Kind::End => return Ok(()),
            Kind::Invalid => {
                return Err(if t.pos == 0 {
                    "a version must start with a digit"
                } else {
                    "expected number(.number)*[letter](_suffix[number])*[~hash][-rN]; \
                     suffixes are alpha beta pre rc cvs svn git hg p"
                })
            }
            _ => {}
        }
    }
}

/// Returns true when `s` is a valid APK version.
pub fn is_valid(s: &str) -> bool {
    validate(s).is_ok()
}

/// Compares two digit runs as unsigned integers of any length.
fn cmp_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |d: &[u8]| -> usize { d.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn is_pre_release(word: &[u8]) -> bool {
    suffix_rank(word).is_some_and(|r| r < PRE_RELEASE_SUFFIXES)
}

/// Compares two version strings the way apk-tools 3 does. Invalid versions
/// are compared too: their invalid tail sorts below everything.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_inner(a, b, false)
}

/// Fuzzy comparison: like [`compare`], but `a` is equal to `b` when `b` is a
/// token prefix of `a` (`1.2.7` fuzzily equals `1.2`).
pub fn compare_fuzzy(a: &str, b: &str) -> Ordering {
    compare_inner(a, b, true)
}

fn compare_inner(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let (mut ta, mut tb) = (Tokenizer::new(a), Tokenizer::new(b));
    let (mut ka, mut va) = ta.next();
    let (mut kb, mut vb) = tb.next();
    while ka == kb && ka < Kind::End {
        let ord = match ka {
            Kind::FirstNumber | Kind::SuffixNumber | Kind::Revision => cmp_numeric(va, vb),
            Kind::Number => {
                if va.first() == Some(&b'0') || vb.first() == Some(&b'0') {
                    // A leading zero makes the component a decimal fraction:
                    // compare as strings ("01" < "1", "0" < "001").
                    va.cmp(vb)
                } else {
                    cmp_numeric(va, vb)
                }
            }
            Kind::Suffix => suffix_rank(va).cmp(&suffix_rank(vb)),
            Kind::Letter | Kind::Hash => va.cmp(vb),
            Kind::End | Kind::Invalid => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
        (ka, va) = ta.next();
        (kb, vb) = tb.next();
    }
    if ka == kb || (fuzzy && kb == Kind::End) {
        Ordering::Equal
    } else if ka == Kind::Suffix && is_pre_release(va) {
        Ordering::Less
    } else if kb == Kind::Suffix && is_pre_release(vb) {
        Ordering::Greater
    } else if ka > kb {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// A set of comparison results, as written with the operators `< > = ~`.
///
/// `~` means "fuzzy equal" (token prefix) and always includes `=`. The
/// combination `><` (less *and* greater) is apk's checksum match, used for
/// `name><Q1…` dependencies on one exact package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Op(u8);

impl Op {
    /// Matches versions older than the operand.
    pub const LESS: Op = Op(1);
    /// Matches equal versions.
    pub const EQUAL: Op = Op(2);
    /// Matches newer versions.
    pub const GREATER: Op = Op(4);
    /// Prefix match; always combined with `EQUAL`.
    pub const FUZZY: Op = Op(8);
    /// `><`: the operand is a package checksum, not a version.
    pub const CHECKSUM: Op = Op(1 | 4);

    /// Parses a run of `< > = ~`. Returns `None` for an empty or foreign string.
    pub fn parse(s: &str) -> Option<Op> {
        if s.is_empty() {
            return None;
        }
        let mut bits = 0u8;
        for b in s.bytes() {
            bits |= match b {
                b'<' => Op::LESS.0,
                b'>' => Op::GREATER.0,
                b'=' => Op::EQUAL.0,
                b'~' => Op::FUZZY.0 | Op::EQUAL.0,
                _ => return None,
            };
        }
        Some(Op(bits))
    }

    /// The operator as one byte (for compact encodings); see
    /// [`Op::from_bits`].
    #[inline]
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The operator [`Op::bits`] returned, or `None` for a byte no
    /// operator string produces.
    #[inline]
    pub fn from_bits(bits: u8) -> Option<Op> {
        let valid =
            bits != 0 && bits & !0x0f == 0 && (bits & Op::FUZZY.0 == 0 || bits & Op::EQUAL.0 != 0);
        valid.then_some(Op(bits))
    }

    /// True when every bit of `other` is set in `self`.
    pub fn contains(self, other: Op) -> bool {
        self.0 & other.0 == other.0
    }

    /// True for the checksum form `><`.
    pub fn is_checksum(self) -> bool {
        self.0 & (Op::LESS.0 | Op::GREATER.0) == Op::CHECKSUM.0
    }

    /// True when `version` satisfies `self operand`.
    pub fn matches(self, version: &str, operand: &str) -> bool {
        let ord = if self.contains(Op::FUZZY) {
            compare_fuzzy(version, operand)
        } else {
            compare(version, operand)
        };
        let bit = match ord {
            Ordering::Less => Op::LESS,
            Ordering::Equal => Op::EQUAL,
            Ordering::Greater => Op::GREATER,
        };
        self.contains(bit)
    }
}

impl fmt::Display for Op {
    /// Writes the canonical spelling apk-tools prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.0 {
            1 => "<",
            2 => "=",
            3 => "<=",
            4 => ">",
            6 => ">=",
            5 => "><",
            10 => "~",
            11 => "<~",
            14 => ">~",
            _ => {
                for (bit, c) in [(1, '<'), (4, '>'), (2, '='), (8, '~')] {
                    if self.0 & bit != 0 && !(bit == 2 && self.0 & 8 != 0) {
                        write!(f, "{c}")?;
                    }
                }
                return Ok(());
            }
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Ordering::*;

    #[test]
    fn worked_examples_from_the_reference() {
        let cases = [
            ("1.0_alpha", "1.0", Less),
            ("1.0_p1", "1.0", Greater),
            ("1.0a", "1.0.1", Less),
            ("1.0-r1", "1.0.1", Less),
            ("1.0_p1", "1.0-r1", Greater),
            ("1.0", "1.0-r0", Less),
            ("2.10", "2.2", Greater),
            ("1.01", "1.1", Less),
            ("8.2.0", "8.2.001", Less),
            ("01", "1", Equal),
            ("1.0~1234-r1", "1.0~2345-r0", Less),
            ("0.1.0_alpha_pre2", "0.1.0_alpha", Less),
            ("1.2_git20240101", "1.2_p1", Less),
            ("1.0bc", "1.0b", Less),
            ("5.3.0_", "5.3.0", Less),
            (
                "99999999999999999999999",
                "99999999999999999999998",
                Greater,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn validity() {
        for v in [
            "1.2",
            "0.1_pre2",
            "0.1_pre2~1234abcd",
            "0.1_p1_pre2",
            "1.0-r0",
            "2.3.0b-r1",
        ] {
            assert!(is_valid(v), "{v} should be valid");
        }
        for v in [
            "",
            "0.1bc",
            "0.1a1",
            "0.1a.1",
            "0.1_pre2~",
            "0.1_pre2~1234xbcd",
            "0.1_foobar",
            "0.1-pre1.1",
            "0.1-r",
            "0.1-r2_pre1",
            "0.1-r2-r3",
            "0.1-r2.1",
            ".1",
            "a",
            "_pre1",
            "-r1",
            "0.1_",
            "0.1__alpha",
            "0.1_1_alpha",
            "6.8.0p2-r4",
            "v2.4",
        ] {
            assert!(!is_valid(v), "{v} should be invalid");
        }
        let err = Version::parse("5.3.0_").unwrap_err();
        assert!(err.to_string().contains("5.3.0_"));
    }

    #[test]
    fn operators() {
        let op = |s| Op::parse(s).unwrap();
        assert!(op("~").matches("1.2.7", "1.2"));
        assert!(op("~").matches("1.2_pre1", "1.2"));
        assert!(!op("~").matches("1.20", "1.2"));
        assert!(!op("~").matches("1.3", "1.2"));
        assert!(op(">=").matches("1.2", "1.2"));
        assert!(op("=>").matches("1.3", "1.2"));
        assert!(!op("=").matches("1.2-r0", "1.2"));
        assert!(op("<~").matches("3.5", "3.6"));
        assert!(op("><").is_checksum());
        assert_eq!(op("=>").to_string(), ">=");
        assert_eq!(op("~").to_string(), "~");
        assert_eq!(Op::parse(""), None);
        assert_eq!(Op::parse("=!"), None);
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(0u32..30, 1..4),
            prop::option::of("[a-c]"),
            prop::collection::vec((0usize..9, prop::option::of(0u32..5)), 0..3),
            prop::option::of("[0-9a-f]{1,3}"),
            prop::option::of(0u32..4),
            any::<bool>(),
        )
            .prop_map(|(nums, letter, suffixes, hash, rev, zero)| {
                let mut s = String::new();
                for (i, n) in nums.iter().enumerate() {
                    if i > 0 {
                        s.push('.');
                        if zero && i == 1 {
                            s.push('0');
                        }
                    }
                    s.push_str(&n.to_string());
                }
                if let Some(l) = letter {
                    s.push_str(&l);
                }
                for (rank, n) in suffixes {
                    s.push('_');
                    s.push_str(SUFFIXES[rank]);
                    if let Some(n) = n {
                        s.push_str(&n.to_string());
                    }
                }
                if let Some(h) = hash {
                    s.push('~');
                    s.push_str(&h);
                }
                if let Some(r) = rev {
                    s.push_str(&format!("-r{r}"));
                }
                s
            })
    }

    proptest! {
        #[test]
        fn generated_versions_are_valid(a in version_strategy()) {
            prop_assert!(is_valid(&a), "{}", a);
        }

        #[test]
        fn comparison_is_antisymmetric(a in version_strategy(), b in version_strategy()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }

        #[test]
        fn equality_is_consistent(a in version_strategy(), b in version_strategy()) {
            prop_assert_eq!(compare(&a, &a), Equal);
            if compare(&a, &b) == Equal {
                // Equal versions are interchangeable against any third one.
                prop_assert_eq!(compare(&a, "1.5"), compare(&b, "1.5"));
            }
        }

        #[test]
        fn comparison_is_transitive(
            a in version_strategy(), b in version_strategy(), c in version_strategy()
        ) {
            let mut v = [a, b, c];
            v.sort_by(|x, y| compare(x, y));
            prop_assert_ne!(compare(&v[0], &v[1]), Greater);
            prop_assert_ne!(compare(&v[1], &v[2]), Greater);
            prop_assert_ne!(compare(&v[0], &v[2]), Greater);
        }

        #[test]
        fn arbitrary_strings_never_panic(a in "\\PC{0,12}", b in "[0-9a-z._~-]{0,12}") {
            let _ = compare(&a, &b);
            let _ = compare_fuzzy(&a, &b);
            let _ = is_valid(&a);
        }
    }
}
