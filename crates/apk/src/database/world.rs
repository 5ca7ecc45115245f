//! `/etc/apk/world`: the packages the user asked for (formats.md §6.5).
//!
//! apk reads the file as whitespace-separated dependency atoms (tags such
//! as `name@edge` allowed) and writes one atom per line with a final line
//! feed.

use std::fmt::Write as _;

use crate::dependency::{Context, Dependency, InvalidDependency};
use crate::index::text::lines;

/// The world: the dependencies the installation must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct World<'a> {
    /// The atoms, in file order.
    pub deps: Vec<Dependency<'a>>,
}

/// A world file with an atom that is not a dependency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {source}")]
pub struct WorldError {
    /// The file name given to the parser.
    pub file: String,
    /// 1-based line of the atom.
    pub line: usize,
    /// The rejected atom and why.
    pub source: InvalidDependency,
}

impl<'a> World<'a> {
    /// Parses world text; atoms borrow from `text`. An empty or blank file
    /// is an empty world. `file` names the source in errors.
    pub fn parse(text: &'a str, file: &str) -> Result<World<'a>, WorldError> {
        let mut deps = Vec::new();
        for (n, line) in lines(text) {
            for atom in line.split_ascii_whitespace() {
                let dep = Dependency::parse(atom, Context::World).map_err(|source| WorldError {
                    file: file.to_owned(),
                    line: n,
                    source,
                })?;
                deps.push(dep);
            }
        }
        Ok(World { deps })
    }

    /// The file text as apk-tools writes it: one atom per line, then a line
    /// feed (so an empty world is a single `\n`).
    pub fn write(&self) -> String {
        let mut out = String::new();
        for dep in &self.deps {
            let _ = writeln!(out, "{dep}");
        }
        if out.is_empty() {
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency::Constraint;

    #[test]
    fn reads_lines_and_spaces_alike() {
        let w = World::parse(
            "alpine-baselayout\napk-tools busybox\n\tfoo@edge>=1.2\n",
            "world",
        )
        .unwrap();
        let names: Vec<&str> = w.deps.iter().map(|d| d.name).collect();
        assert_eq!(names, ["alpine-baselayout", "apk-tools", "busybox", "foo"]);
        assert_eq!(w.deps[3].tag, Some("edge"));
        assert!(matches!(w.deps[3].constraint, Constraint::Version(..)));
        assert_eq!(
            w.write(),
            "alpine-baselayout\napk-tools\nbusybox\nfoo@edge>=1.2\n"
        );
    }

    #[test]
    fn alpine_world_round_trips() {
        let text = "alpine-baselayout\nalpine-keys\napk-tools\nbusybox\nlibc-utils\n";
        assert_eq!(World::parse(text, "world").unwrap().write(), text);
        let pinned = "package-x=1.0.0-r0\npretend-baselayout=1.0.0-r0\n";
        assert_eq!(World::parse(pinned, "world").unwrap().write(), pinned);
    }

    #[test]
    fn empty_world() {
        for text in ["", "\n", "  \n\n"] {
            assert!(World::parse(text, "world").unwrap().deps.is_empty());
        }
        assert_eq!(World::default().write(), "\n");
    }

    #[test]
    fn bad_atom_names_file_line_and_atom() {
        let e = World::parse("busybox\nok bad>=!\n", "etc/apk/world").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.source.atom, "bad>=!");
        assert!(
            e.to_string()
                .starts_with("etc/apk/world:2: 'bad>=!' is not a valid dependency"),
            "{e}"
        );
    }
}
