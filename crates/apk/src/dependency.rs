//! Dependency atoms: `name`, `!name`, `name>=1.2`, `name@tag`, `so:libz.so.1`, …
//!
//! The same syntax appears in `D:` (depends), `i:` (install_if), `r:`
//! (replaces), the world file and on the command line; `p:` (provides) uses
//! the `name[=version]` subset. Parsing borrows from the input, so reading a
//! whole index allocates nothing per atom.

use std::fmt;

use crate::checksum::Checksum;
use crate::version::{self, Op};

/// Where an atom was written; tags are only allowed in the world and on
/// the command line, never inside package metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// `D:`, `i:`, `r:` of a package or index record.
    Metadata,
    /// `/etc/apk/world`, a command line, an assembly.toml package list.
    World,
}

/// A parsed dependency atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dependency<'a> {
    /// Package or provided name (`musl`, `so:libc.musl-x86_64.so.1`, `/bin/sh`).
    pub name: &'a str,
    /// Repository tag from `name@tag`.
    pub tag: Option<&'a str>,
    /// `!name`: satisfied when no matching provider is installed.
    pub conflict: bool,
    /// Version requirement.
    pub constraint: Constraint<'a>,
}

/// The version part of a dependency atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Constraint<'a> {
    /// No version given.
    Any,
    /// `op version`, e.g. `>=1.2`; the version has been validated.
    Version(Op, &'a str),
    /// `><Q1…`: exactly the package with this identity.
    Checksum(Checksum),
}

/// Why a dependency atom could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{atom}' is not a valid dependency: {reason}")]
pub struct InvalidDependency {
    /// The rejected atom.
    pub atom: String,
    /// What is wrong, with the expected form.
    pub reason: String,
}

/// True for bytes allowed in package and provided names. Package names use
/// `[A-Za-z0-9._+-]`; provided names (`so:`, `cmd:`, `pc:`, `/bin/sh`) may
/// also hold `: / , [ ]`.
const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b'_' | b'+' | b'-' | b':' | b'/' | b',' | b'[' | b']'
        )
}

/// Checks a package name (`P:`, `pkgname`): `[A-Za-z0-9][A-Za-z0-9._+-]*`,
/// or a virtual package name made by `apk add -t`, which starts with `.`.
pub fn is_valid_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphanumeric() || (b[0] == b'.' && b.len() > 1))
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'))
}

/// True for the bytes of a version operator (`<`, `>`, `=`, `~`, and
/// their combinations).
const fn is_op_byte(b: u8) -> bool {
    matches!(b, b'<' | b'>' | b'=' | b'~')
}

/// What a byte of an atom before its version can be.
#[derive(Clone, Copy)]
enum ByteClass {
    Name,
    Op,
    At,
    Other,
}

/// [`ByteClass`] by byte: one load per byte of every atom parsed.
const ATOM_BYTES: [ByteClass; 256] = {
    let mut table = [ByteClass::Other; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = match c {
            _ if is_op_byte(c) => ByteClass::Op,
            b'@' => ByteClass::At,
            _ if is_name_byte(c) => ByteClass::Name,
            _ => ByteClass::Other,
        };
        b += 1;
    }
    table
};

impl<'a> Dependency<'a> {
    /// Parses one atom written in `context`.
    pub fn parse(atom: &'a str, context: Context) -> Result<Self, InvalidDependency> {
        let err = |reason: &str| InvalidDependency {
            atom: atom.to_owned(),
            reason: reason.to_owned(),
        };
        let (conflict, rest) = match atom.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, atom),
        };
        // One byte scan for the name, the tag and where the operator
        // starts: this runs for every atom of every index record.
        let bytes = rest.as_bytes();
        let (mut end, mut at) = (0, None);
        let (mut name_ok, mut tag_ok) = (true, true);
        while let Some(&b) = bytes.get(end) {
            match ATOM_BYTES[usize::from(b)] {
                ByteClass::Name => {}
                ByteClass::Op => break,
                ByteClass::At if at.is_none() => at = Some(end),
                _ if at.is_none() => name_ok = false,
                _ => tag_ok = false,
            }
            end += 1;
        }
        let op_and_version = &rest[end..];
        let (name, tag) = match at {
            Some(at) => (&rest[..at], Some(&rest[at + 1..end])),
            None => (&rest[..end], None),
        };
        if name.is_empty() {
            return Err(err(
                "the name is empty; expected [!]name[@tag][<>=~version]",
            ));
        }
        if !name_ok {
            return Err(err(
                "the name may only hold letters, digits and . _ + - : / , [ ]",
            ));
        }
        if let Some(tag) = tag {
            if context == Context::Metadata {
                return Err(err(
                    "repository tags (@tag) are only allowed in the world, not in package metadata",
                ));
            }
            if tag.is_empty() || !tag_ok {
                return Err(err("the tag after '@' is empty or has invalid characters"));
            }
        }
        let constraint = if op_and_version.is_empty() {
            Constraint::Any
        } else {
            let split = op_and_version
                .bytes()
                .position(|b| !is_op_byte(b))
                .unwrap_or(op_and_version.len());
            let (op_text, ver) = op_and_version.split_at(split);
            let op = Op::parse(op_text).ok_or_else(|| err("unknown operator"))?;
            if ver.is_empty() {
                return Err(err("an operator must be followed by a version"));
            }
            if op.is_checksum() {
                let sum = Checksum::parse(ver).map_err(|e| err(&e.to_string()))?;
                Constraint::Checksum(sum)
            } else {
                version::Version::parse(ver).map_err(|e| err(&e.to_string()))?;
                Constraint::Version(op, ver)
            }
        };
        Ok(Dependency {
            name,
            tag,
            conflict,
            constraint,
        })
    }

    /// True when a package called `name` at `version` (with identity
    /// `checksum`) satisfies the version part, ignoring `conflict`.
    pub fn version_matches(&self, version: &str, checksum: Option<&Checksum>) -> bool {
        match &self.constraint {
            Constraint::Any => true,
            Constraint::Version(op, want) => op.matches(version, want),
            Constraint::Checksum(want) => checksum.is_some_and(|c| c.same_identity(want)),
        }
    }
}

impl fmt::Display for Dependency<'_> {
    /// `[!]name[@tag][op version]`, as apk prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(self.name)?;
        if let Some(tag) = self.tag {
            write!(f, "@{tag}")?;
        }
        match &self.constraint {
            Constraint::Any => Ok(()),
            Constraint::Version(op, v) => write!(f, "{op}{v}"),
            Constraint::Checksum(c) => write!(f, "><{c}"),
        }
    }
}

/// An owned, validated world atom (`name@tag>=1.2`), as a declaration or a
/// command line holds it: parsed once, then lent out as a [`Dependency`]
/// borrowing from it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Atom {
    text: Box<str>,
    name: (usize, usize),
    tag: Option<(usize, usize)>,
    conflict: bool,
    constraint: AtomConstraint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AtomConstraint {
    Any,
    Version(Op, (usize, usize)),
    Checksum(Checksum),
}

impl Atom {
    /// Parses a world atom (see [`Dependency::parse`] with [`Context::World`]).
    pub fn parse(text: &str) -> Result<Atom, InvalidDependency> {
        let dep = Dependency::parse(text, Context::World)?;
        // Every borrowed part of `dep` is a slice of `text`: keep offsets.
        let at = |part: &str| {
            let start = part.as_ptr() as usize - text.as_ptr() as usize;
            (start, start + part.len())
        };
        Ok(Atom {
            name: at(dep.name),
            tag: dep.tag.map(at),
            conflict: dep.conflict,
            constraint: match dep.constraint {
                Constraint::Any => AtomConstraint::Any,
                Constraint::Version(op, v) => AtomConstraint::Version(op, at(v)),
                Constraint::Checksum(c) => AtomConstraint::Checksum(c),
            },
            text: text.into(),
        })
    }

    /// The atom as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The package or provided name.
    pub fn name(&self) -> &str {
        &self.text[self.name.0..self.name.1]
    }

    /// The repository tag of `name@tag`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.map(|(a, b)| &self.text[a..b])
    }

    /// The parsed atom, borrowing from `self`.
    pub fn dependency(&self) -> Dependency<'_> {
        Dependency {
            name: self.name(),
            tag: self.tag(),
            conflict: self.conflict,
            constraint: match self.constraint {
                AtomConstraint::Any => Constraint::Any,
                AtomConstraint::Version(op, (a, b)) => Constraint::Version(op, &self.text[a..b]),
                AtomConstraint::Checksum(c) => Constraint::Checksum(c),
            },
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Atom {
    type Err = InvalidDependency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Atom::parse(s)
    }
}

/// Iterates the space-separated atoms of a `D:`/`i:`/`r:` list.
pub fn parse_list(
    list: &str,
    context: Context,
) -> impl Iterator<Item = Result<Dependency<'_>, InvalidDependency>> {
    list.split_ascii_whitespace()
        .map(move |atom| Dependency::parse(atom, context))
}

/// An entry of `p:` (provides): `name` (virtual) or `name=version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Provide<'a> {
    /// Provided name.
    pub name: &'a str,
    /// Version for a versioned provide; `None` makes the name virtual.
    pub version: Option<&'a str>,
}

impl<'a> Provide<'a> {
    /// Parses `name` or `name=version`.
    pub fn parse(atom: &'a str) -> Result<Self, InvalidDependency> {
        let dep = Dependency::parse(atom, Context::Metadata)?;
        let version = match dep.constraint {
            Constraint::Any => None,
            Constraint::Version(op, v) if op == Op::EQUAL && !dep.conflict => Some(v),
            _ => {
                return Err(InvalidDependency {
                    atom: atom.to_owned(),
                    reason: "a provide is 'name' or 'name=version'".to_owned(),
                })
            }
        };
        Ok(Provide {
            name: dep.name,
            version,
        })
    }
}

impl fmt::Display for Provide<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}={v}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Iterates the space-separated entries of a `p:` list.
pub fn parse_provides(list: &str) -> impl Iterator<Item = Result<Provide<'_>, InvalidDependency>> {
    list.split_ascii_whitespace().map(Provide::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_has_the_class_the_rules_give_it() {
        for b in 0..=255u8 {
            let class = ATOM_BYTES[usize::from(b)];
            let expected = match b {
                b'<' | b'>' | b'=' | b'~' => "op",
                b'@' => "at",
                _ if is_name_byte(b) => "name",
                _ => "other",
            };
            let got = match class {
                ByteClass::Name => "name",
                ByteClass::Op => "op",
                ByteClass::At => "at",
                ByteClass::Other => "other",
            };
            assert_eq!(got, expected, "byte {b:#04x}");
        }
        // A name byte never ends the name; the first '@' starts the tag,
        // a second one makes it invalid.
        assert_eq!(
            Dependency::parse("a@b", Context::World).unwrap().tag,
            Some("b")
        );
        assert!(Dependency::parse("a@b@c", Context::World).is_err());
        assert!(Dependency::parse("a\u{e9}>1", Context::World).is_err());
    }

    fn world(s: &str) -> Dependency<'_> {
        Dependency::parse(s, Context::World).unwrap()
    }

    #[test]
    fn parses_every_form() {
        let d = world("busybox");
        assert_eq!(
            (d.name, d.tag, d.conflict, d.constraint),
            ("busybox", None, false, Constraint::Any)
        );
        let d = world("!b>1");
        assert!(d.conflict);
        assert_eq!(d.constraint, Constraint::Version(Op::GREATER, "1"));
        let d = world("a@testing>=3");
        assert_eq!((d.name, d.tag), ("a", Some("testing")));
        assert_eq!(d.to_string(), "a@testing>=3");
        assert_eq!(
            world("so:libc.musl-x86_64.so.1").name,
            "so:libc.musl-x86_64.so.1"
        );
        assert_eq!(world("/bin/sh").name, "/bin/sh");
        assert_eq!(
            world("py3-requests=>2.31").to_string(),
            "py3-requests>=2.31"
        );
        assert_eq!(
            world("a~2.2").constraint,
            Constraint::Version(Op::parse("~").unwrap(), "2.2")
        );
        let d = world("foo><Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=");
        assert!(matches!(d.constraint, Constraint::Checksum(_)));
        assert_eq!(d.to_string(), "foo><Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=");
    }

    #[test]
    fn owned_atoms_lend_the_same_dependency() {
        for text in [
            "busybox",
            "!b>1",
            "a@testing>=3",
            "foo><Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=",
        ] {
            let atom = Atom::parse(text).unwrap();
            assert_eq!(atom.dependency(), world(text));
            assert_eq!(atom.to_string(), text);
        }
        let a: Atom = "pkg@acme".parse().unwrap();
        assert_eq!((a.name(), a.tag()), ("pkg", Some("acme")));
        assert!(Atom::parse("foo==").is_err());
    }

    #[test]
    fn rejects_bad_atoms() {
        for bad in [
            "",
            "!",
            "foo=",
            "foo=invalid",
            "foo>=1.0bc",
            "=1",
            "@tag",
            "foo@",
            "fo o",
            "foo=<>",
        ] {
            assert!(Dependency::parse(bad, Context::World).is_err(), "{bad:?}");
        }
        let e = Dependency::parse("invalid-dependency@tag", Context::Metadata).unwrap_err();
        assert!(e.to_string().contains("tags"), "{e}");
    }

    #[test]
    fn provides() {
        let p: Vec<_> = parse_provides("cmd:busybox=1.35.0-r17 /bin/sh")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(p[0].version, Some("1.35.0-r17"));
        assert_eq!(p[1].version, None);
        assert!(Provide::parse("pc:jemalloc=5.3.0_").is_err());
        assert!(Provide::parse("pc:librtmp=v2.4").is_err());
        assert!(Provide::parse("foo>1").is_err());
    }

    #[test]
    fn matching() {
        assert!(world("a>=1.2").version_matches("1.3", None));
        assert!(!world("a<1.2").version_matches("1.3", None));
        assert!(world("a").version_matches("0", None));
    }
}
