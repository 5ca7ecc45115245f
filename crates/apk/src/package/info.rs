//! Package metadata: one type for an index record, an installed-database
//! record and a `.PKGINFO` file.
//!
//! Text fields are `Cow<str>` so that a record parsed from a large index
//! borrows from the index text (no allocation per field), while metadata read
//! from `.PKGINFO` (where repeated `depend =` lines are joined) owns its text.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::checksum::Checksum;
use crate::dependency::{self, Context, Dependency, InvalidDependency, Provide};
use crate::version;

/// Metadata of one package. Field letters are those of APKINDEX records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageInfo<'a> {
    /// `P:` / `pkgname`.
    pub name: Cow<'a, str>,
    /// `V:` / `pkgver`.
    pub version: Cow<'a, str>,
    /// `A:` / `arch`; empty means "any architecture".
    pub arch: Cow<'a, str>,
    /// `S:`: size of the `.apk` file in bytes.
    pub size: Option<u64>,
    /// `I:` / `size`: installed size in bytes.
    pub installed_size: Option<u64>,
    /// `T:` / `pkgdesc`.
    pub description: Cow<'a, str>,
    /// `U:` / `url`.
    pub url: Cow<'a, str>,
    /// `L:` / `license`.
    pub license: Cow<'a, str>,
    /// `o:` / `origin`.
    pub origin: Cow<'a, str>,
    /// `m:` / `maintainer`.
    pub maintainer: Cow<'a, str>,
    /// `t:` / `builddate`, Unix seconds.
    pub build_time: Option<u64>,
    /// `c:` / `commit`.
    pub commit: Cow<'a, str>,
    /// `k:` / `provider_priority`.
    pub provider_priority: Option<u64>,
    /// `D:` / `depend`: space-separated atoms.
    pub depends: Cow<'a, str>,
    /// `p:` / `provides`: space-separated `name[=version]`.
    pub provides: Cow<'a, str>,
    /// `i:` / `install_if`: space-separated atoms.
    pub install_if: Cow<'a, str>,
    /// `r:` / `replaces`: space-separated atoms.
    pub replaces: Cow<'a, str>,
    /// `q:` / `replaces_priority`.
    pub replaces_priority: Option<u64>,
    /// `C:`: the package identity (SHA-1 of the control member).
    pub checksum: Option<Checksum>,
    /// `.PKGINFO` `datahash`: SHA-256 of the data member.
    pub datahash: Option<[u8; 32]>,
    /// `.PKGINFO` `triggers`: space-separated directory globs.
    pub triggers: Cow<'a, str>,
}

/// A field whose value is malformed. The package stays listed but cannot
/// be installed, as in apk-tools.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {message}")]
pub struct FieldProblem {
    /// The index letter of the field (`V`, `D`, `p`, …).
    pub field: char,
    /// What is wrong.
    pub message: String,
}

impl<'a> PackageInfo<'a> {
    /// `name-version`, as apk prints packages.
    pub fn name_version(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// The dependencies in `D:`.
    pub fn depends(&self) -> impl Iterator<Item = Result<Dependency<'_>, InvalidDependency>> {
        dependency::parse_list(&self.depends, Context::Metadata)
    }

    /// The entries of `p:`.
    pub fn provides(&self) -> impl Iterator<Item = Result<Provide<'_>, InvalidDependency>> {
        dependency::parse_provides(&self.provides)
    }

    /// The atoms of `i:`.
    pub fn install_if(&self) -> impl Iterator<Item = Result<Dependency<'_>, InvalidDependency>> {
        dependency::parse_list(&self.install_if, Context::Metadata)
    }

    /// The atoms of `r:`.
    pub fn replaces(&self) -> impl Iterator<Item = Result<Dependency<'_>, InvalidDependency>> {
        dependency::parse_list(&self.replaces, Context::Metadata)
    }

    /// Checks every field a resolver relies on and lists what is malformed:
    /// name, version, and each atom of `D:`, `p:`, `i:`, `r:`.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if !dependency::is_valid_package_name(&self.name) {
            out.push(FieldProblem {
                field: 'P',
                message: format!("'{}' is not a valid package name", self.name),
            });
        }
        if let Err(e) = version::Version::parse(&self.version) {
            out.push(FieldProblem {
                field: 'V',
                message: e.to_string(),
            });
        }
        let mut check = |field: char, errs: &mut dyn Iterator<Item = InvalidDependency>| {
            for e in errs {
                out.push(FieldProblem {
                    field,
                    message: e.to_string(),
                });
            }
        };
        check('D', &mut self.depends().filter_map(Result::err));
        check('p', &mut self.provides().filter_map(Result::err));
        check('i', &mut self.install_if().filter_map(Result::err));
        check('r', &mut self.replaces().filter_map(Result::err));
        out
    }

    /// Copies every borrowed field so the value outlives its source text.
    pub fn into_owned(self) -> PackageInfo<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        PackageInfo {
            name: own(self.name),
            version: own(self.version),
            arch: own(self.arch),
            size: self.size,
            installed_size: self.installed_size,
            description: own(self.description),
            url: own(self.url),
            license: own(self.license),
            origin: own(self.origin),
            maintainer: own(self.maintainer),
            build_time: self.build_time,
            commit: own(self.commit),
            provider_priority: self.provider_priority,
            depends: own(self.depends),
            provides: own(self.provides),
            install_if: own(self.install_if),
            replaces: own(self.replaces),
            replaces_priority: self.replaces_priority,
            checksum: self.checksum,
            datahash: self.datahash,
            triggers: own(self.triggers),
        }
    }

    /// Writes the index fields in the order apk-tools writes them
    /// (`C P V A S I T U L o m t c k D p i`), without the blank line that
    /// ends a record. Empty optional fields are left out; `T U L` are
    /// always written.
    pub fn write_index_fields(&self, out: &mut String) {
        let mut line = |letter: char, value: &str| {
            let _ = writeln!(out, "{letter}:{value}");
        };
        if let Some(c) = &self.checksum {
            line('C', &c.to_string());
        }
        line('P', &self.name);
        line('V', &self.version);
        if !self.arch.is_empty() {
            line('A', &self.arch);
        }
        if let Some(s) = self.size {
            line('S', &s.to_string());
        }
        if let Some(s) = self.installed_size {
            line('I', &s.to_string());
        }
        line('T', &self.description);
        line('U', &self.url);
        line('L', &self.license);
        for (letter, value) in [('o', &self.origin), ('m', &self.maintainer)] {
            if !value.is_empty() {
                line(letter, value);
            }
        }
        if let Some(t) = self.build_time.filter(|&t| t != 0) {
            line('t', &t.to_string());
        }
        if !self.commit.is_empty() {
            line('c', &self.commit);
        }
        if let Some(k) = self.provider_priority.filter(|&k| k != 0) {
            line('k', &k.to_string());
        }
        for (letter, value) in [
            ('D', &self.depends),
            ('p', &self.provides),
            ('i', &self.install_if),
        ] {
            if !value.trim().is_empty() {
                line(letter, value);
            }
        }
    }
}

/// Joins a repeatable `.PKGINFO` value onto a space-separated list.
fn append_list(list: &mut Cow<'_, str>, value: &str) {
    let value = value.trim();
    if value.is_empty() {
        return;
    }
    let s = list.to_mut();
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(value);
}

/// A `.PKGINFO` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkgInfoError {
    /// A numeric key holds something else.
    #[error(".PKGINFO line {line}: '{key}' must be a whole number, found '{value}'")]
    Number {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
        /// Its value.
        value: String,
    },
    /// `datahash` is not 64 hex characters.
    #[error(".PKGINFO line {line}: datahash must be 64 hex characters (SHA-256), found '{value}'")]
    DataHash {
        /// 1-based line number.
        line: usize,
        /// Its value.
        value: String,
    },
    /// A required key is absent.
    #[error(".PKGINFO has no '{0}' line")]
    Missing(&'static str),
}

/// Parses `.PKGINFO` text (`key = value` lines; `#` comments; repeated
/// `depend`/`provides`/`replaces` lines add items).
pub fn parse_pkginfo(text: &str) -> Result<PackageInfo<'static>, PkgInfoError> {
    let mut info = PackageInfo::default();
    for (n, raw) in text.lines().enumerate() {
        if raw.starts_with('#') {
            continue;
        }
        let Some((key, value)) = raw.split_once(" = ") else {
            continue;
        };
        let number = |value: &str| -> Result<u64, PkgInfoError> {
            value.trim().parse().map_err(|_| PkgInfoError::Number {
                line: n + 1,
                key: key.to_owned(),
                value: value.to_owned(),
            })
        };
        let set = |field: &mut Cow<'static, str>| *field = Cow::Owned(value.to_owned());
        match key {
            "pkgname" => set(&mut info.name),
            "pkgver" => set(&mut info.version),
            "pkgdesc" => set(&mut info.description),
            "url" => set(&mut info.url),
            "arch" => set(&mut info.arch),
            "origin" => set(&mut info.origin),
            "commit" => set(&mut info.commit),
            "maintainer" => set(&mut info.maintainer),
            "license" => set(&mut info.license),
            "install_if" => set(&mut info.install_if),
            "triggers" => set(&mut info.triggers),
            "builddate" => info.build_time = Some(number(value)?),
            "size" => info.installed_size = Some(number(value)?),
            "provider_priority" => info.provider_priority = Some(number(value)?),
            "replaces_priority" => info.replaces_priority = Some(number(value)?),
            "depend" => append_list(&mut info.depends, value),
            "provides" => append_list(&mut info.provides, value),
            "replaces" => append_list(&mut info.replaces, value),
            "datahash" => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(value.trim(), &mut hash).map_err(|_| {
                    PkgInfoError::DataHash {
                        line: n + 1,
                        value: value.to_owned(),
                    }
                })?;
                info.datahash = Some(hash);
            }
            _ => {}
        }
    }
    if info.name.is_empty() {
        return Err(PkgInfoError::Missing("pkgname"));
    }
    if info.version.is_empty() {
        return Err(PkgInfoError::Missing("pkgver"));
    }
    Ok(info)
}

/// Writes `.PKGINFO` text for `info` (what our package writer puts in the
/// control member). One `depend`/`provides`/`replaces` line per item.
pub fn write_pkginfo(info: &PackageInfo<'_>) -> String {
    let mut out = String::from("# Generated by cargo-assemble\n");
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(out, "{k} = {v}");
    };
    kv("pkgname", &info.name);
    kv("pkgver", &info.version);
    kv("pkgdesc", &info.description);
    kv("url", &info.url);
    if let Some(t) = info.build_time {
        kv("builddate", &t.to_string());
    }
    if let Some(s) = info.installed_size {
        kv("size", &s.to_string());
    }
    for (k, v) in [
        ("arch", &info.arch),
        ("origin", &info.origin),
        ("commit", &info.commit),
        ("maintainer", &info.maintainer),
        ("license", &info.license),
    ] {
        if !v.is_empty() {
            kv(k, v);
        }
    }
    if let Some(k) = info.provider_priority {
        kv("provider_priority", &k.to_string());
    }
    if let Some(q) = info.replaces_priority {
        kv("replaces_priority", &q.to_string());
    }
    for (k, list) in [
        ("depend", &info.depends),
        ("provides", &info.provides),
        ("replaces", &info.replaces),
    ] {
        for item in list.split_ascii_whitespace() {
            kv(k, item);
        }
    }
    for (k, v) in [
        ("install_if", &info.install_if),
        ("triggers", &info.triggers),
    ] {
        if !v.trim().is_empty() {
            kv(k, v);
        }
    }
    if let Some(h) = &info.datahash {
        kv("datahash", &hex::encode(h));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASELAYOUT: &str = "# Generated by abuild 3.9.0-r0\n\
pkgname = alpine-baselayout\npkgver = 3.2.0-r23\npkgdesc = Alpine base dir structure and init scripts\n\
url = https://git.alpinelinux.org/cgit/aports/tree/main/alpine-baselayout\nbuilddate = 1662926906\n\
packager = Buildozer <alpine-devel@lists.alpinelinux.org>\nsize = 339968\narch = aarch64\n\
origin = alpine-baselayout\ncommit = 348653a9ba0701e8e968b3344e72313a9ef334e4\n\
maintainer = Natanael Copa <ncopa@alpinelinux.org>\nlicense = GPL-2.0-only\n\
depend = alpine-baselayout-data=3.2.0-r23\ndepend = /bin/sh\n# automatically detected:\n\
provides = cmd:mkmntdirs=3.2.0-r23\ndepend = so:libc.musl-aarch64.so.1\n\
datahash = 1a3a8e47d2287da6d505d973412cee1ad64bcc17bc5995069e4e932055ecb0c4\n";

    #[test]
    fn pkginfo_maps_to_index_fields() {
        let info = parse_pkginfo(BASELAYOUT).unwrap();
        assert_eq!(
            info.depends,
            "alpine-baselayout-data=3.2.0-r23 /bin/sh so:libc.musl-aarch64.so.1"
        );
        assert_eq!(info.installed_size, Some(339968));
        assert_eq!(info.provides, "cmd:mkmntdirs=3.2.0-r23");
        assert!(info.problems().is_empty());
        let again = parse_pkginfo(&write_pkginfo(&info)).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn several_replaces_lines_are_kept() {
        let info =
            parse_pkginfo("pkgname = r\npkgver = 1\nreplaces = foo\nreplaces = bar\nurl = \n")
                .unwrap();
        assert_eq!(info.replaces, "foo bar");
        assert_eq!(info.url, "");
    }

    #[test]
    fn bad_pkginfo_is_a_typed_error() {
        assert_eq!(
            parse_pkginfo("pkgver = 1\n").unwrap_err(),
            PkgInfoError::Missing("pkgname")
        );
        let e = parse_pkginfo("pkgname = a\npkgver = 1\nsize = big\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn problems_name_the_field() {
        let info = PackageInfo {
            name: "opensmtpd-pam".into(),
            version: "6.8.0p2-r4".into(),
            depends: "opensmtpd=6.8.0p2-r4 so:libc.musl-x86_64.so.1".into(),
            ..Default::default()
        };
        let fields: Vec<char> = info.problems().iter().map(|p| p.field).collect();
        assert_eq!(fields, ['V', 'D']);
    }
}
