//! The crate to put in an image, found the way cargo finds it: the nearest
//! `Cargo.toml` at or above the starting directory, then its workspace
//! (`cargo metadata --no-deps`, which knows the workspace rules, members,
//! exclusions and the target directory).
//!
//! Which members to build: `-p NAME` names them; otherwise the package of
//! the manifest found when it declares an image, or every member declaring
//! one when the manifest is the workspace root.

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, TargetKind};

/// A cargo workspace.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The directory of the workspace's root manifest.
    pub root: PathBuf,
    /// The target directory (`target/` unless configured otherwise).
    pub target_dir: PathBuf,
    /// The manifest the search started from (the nearest one).
    pub manifest: PathBuf,
    /// The workspace members, in cargo's order.
    pub members: Vec<Package>,
}

/// A member of a workspace.
#[derive(Clone, Debug)]
pub struct Package {
    /// cargo's package id (matches build messages and the resolve graph).
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The `license` expression, as written.
    pub license: Option<String>,
    /// Its `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Names of its binary targets (`[[bin]]`, `src/main.rs`,
    /// `src/bin/*`), sorted.
    pub bins: Vec<String>,
    /// `[package.metadata.image]` (a table, or an array of tables), if any.
    pub image: Option<serde_json::Value>,
}

/// Which members to build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    /// The package of the manifest found (when it declares an image), or
    /// every member declaring one when that manifest is the workspace's
    /// root.
    #[default]
    Default,
    /// These packages (`-p NAME`).
    Packages(Vec<String>),
    /// Every member declaring an image.
    All,
}

/// Why the project cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProjectError {
    /// No manifest at or above the starting directory.
    #[error("could not find `Cargo.toml` in `{}` or any parent directory", .start.display())]
    #[diagnostic(help("run in a cargo project, or pass --manifest-path"))]
    NoManifest {
        /// Where the search started.
        start: PathBuf,
    },
    /// `cargo metadata` failed.
    #[error("`cargo metadata` failed for {}: {message}", .manifest.display())]
    Metadata {
        /// The manifest.
        manifest: PathBuf,
        /// cargo's message.
        message: String,
    },
    /// `-p` named a package that is not a member.
    #[error("package `{name}` is not a member of the workspace")]
    #[diagnostic(help("the members are: {members}"))]
    UnknownPackage {
        /// The name given.
        name: String,
        /// The members, comma-separated.
        members: String,
    },
    /// A selected package declares no image.
    #[error("package `{package}` has no [package.metadata.image]")]
    #[diagnostic(help(
        "add one to {} (`cargo assemble init --template rust-app`), or select another package with -p",
        .manifest.display()
    ))]
    NoImage {
        /// The package.
        package: String,
        /// Its manifest.
        manifest: PathBuf,
    },
    /// No member declares an image.
    #[error("no member of the workspace at {} has a [package.metadata.image]", .root.display())]
    #[diagnostic(help("add one to the Cargo.toml of the package to put in an image"))]
    NoImages {
        /// The workspace root.
        root: PathBuf,
    },
    /// The package has no binary.
    #[error("package `{package}` has no binary target")]
    #[diagnostic(help(
        "add src/main.rs or a [[bin]] target, or add prebuilt files with `files = [...]`"
    ))]
    NoBinaries {
        /// The package.
        package: String,
    },
    /// A binary named in `binaries` does not exist.
    #[error("package `{package}` has no binary named `{name}`")]
    #[diagnostic(help("its binaries: {available}"))]
    UnknownBinary {
        /// The package.
        package: String,
        /// The name given.
        name: String,
        /// Its binaries, comma-separated.
        available: String,
    },
}

/// The manifest cargo would use from `start`: `start` itself when it is a
/// file, else the nearest `Cargo.toml` in it or a parent directory.
pub fn find_manifest(start: &Path) -> Result<PathBuf, ProjectError> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
    if start.is_file() {
        return Ok(start);
    }
    start
        .ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|m| m.is_file())
        .ok_or(ProjectError::NoManifest { start })
}

/// `cargo metadata` for `manifest`, run in its directory so that the
/// project's `.cargo/config.toml` applies as it does for `cargo build`.
pub(crate) fn metadata_command(manifest: &Path) -> MetadataCommand {
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(manifest);
    if let Some(dir) = manifest.parent() {
        cmd.current_dir(dir);
    }
    cmd
}

/// Runs `cmd` for `manifest`, naming the manifest when it fails.
pub(crate) fn run_metadata(
    cmd: &MetadataCommand,
    manifest: &Path,
) -> Result<Metadata, ProjectError> {
    cmd.exec().map_err(|e| ProjectError::Metadata {
        manifest: manifest.to_owned(),
        message: match e {
            cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().to_owned(),
            other => other.to_string(),
        },
    })
}

impl Workspace {
    /// The workspace of the nearest manifest at or above `start` (a
    /// directory or a manifest path).
    pub fn load(start: &Path) -> Result<Workspace, ProjectError> {
        let manifest = find_manifest(start)?;
        let mut cmd = metadata_command(&manifest);
        cmd.no_deps();
        let metadata = run_metadata(&cmd, &manifest)?;
        let members = metadata
            .workspace_packages()
            .into_iter()
            .map(|p| {
                let mut bins: Vec<String> = p
                    .targets
                    .iter()
                    .filter(|t| t.kind.contains(&TargetKind::Bin))
                    .map(|t| t.name.clone())
                    .collect();
                bins.sort();
                Package {
                    id: p.id.repr.clone(),
                    name: p.name.to_string(),
                    version: p.version.to_string(),
                    license: p.license.clone(),
                    manifest_path: p.manifest_path.clone().into_std_path_buf(),
                    bins,
                    image: p.metadata.get("image").filter(|v| !v.is_null()).cloned(),
                }
            })
            .collect();
        Ok(Workspace {
            root: metadata.workspace_root.into_std_path_buf(),
            target_dir: metadata.target_directory.into_std_path_buf(),
            manifest,
            members,
        })
    }

    /// The members to build.
    pub fn select(&self, selection: &Selection) -> Result<Vec<&Package>, ProjectError> {
        let declared = |p: &&Package| p.image.is_some();
        let all = || -> Result<Vec<&Package>, ProjectError> {
            let found: Vec<&Package> = self.members.iter().filter(declared).collect();
            if found.is_empty() {
                return Err(ProjectError::NoImages {
                    root: self.root.clone(),
                });
            }
            Ok(found)
        };
        match selection {
            Selection::All => all(),
            Selection::Packages(names) => names
                .iter()
                .map(|name| {
                    let p = self.member(name)?;
                    if p.image.is_none() {
                        return Err(no_image(p));
                    }
                    Ok(p)
                })
                .collect(),
            Selection::Default => {
                let current = self
                    .members
                    .iter()
                    .find(|p| same_file(&p.manifest_path, &self.manifest));
                if let Some(p) = current.filter(declared) {
                    return Ok(vec![p]);
                }
                let at_root = same_file(&self.manifest, &self.root.join("Cargo.toml"));
                match current {
                    Some(p) if !at_root || !self.members.iter().any(|m| declared(&m)) => {
                        Err(no_image(p))
                    }
                    _ => all(),
                }
            }
        }
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Result<&Package, ProjectError> {
        self.members
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ProjectError::UnknownPackage {
                name: name.to_owned(),
                members: self
                    .members
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Where the image `name` is written: `<target dir>/assemble/<name>`,
    /// wherever the command runs.
    pub fn output_dir(&self, name: &str) -> PathBuf {
        self.target_dir.join("assemble").join(name)
    }

    /// The workspace's `Cargo.lock`.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("Cargo.lock")
    }
}

impl Package {
    /// The binaries to build: `wanted` (each must exist), or every binary
    /// when `wanted` is empty.
    pub fn binaries(&self, wanted: &[String]) -> Result<Vec<String>, ProjectError> {
        if self.bins.is_empty() {
            return Err(ProjectError::NoBinaries {
                package: self.name.clone(),
            });
        }
        if wanted.is_empty() {
            return Ok(self.bins.clone());
        }
        wanted
            .iter()
            .map(|w| {
                if self.bins.contains(w) {
                    Ok(w.clone())
                } else {
                    Err(ProjectError::UnknownBinary {
                        package: self.name.clone(),
                        name: w.clone(),
                        available: self.bins.join(", "),
                    })
                }
            })
            .collect()
    }
}

fn no_image(p: &Package) -> ProjectError {
    ProjectError::NoImage {
        package: p.name.clone(),
        manifest: p.manifest_path.clone(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rust::fixture::write;

    const IMAGE: &str = "\n[package.metadata.image]\nsource = \"scratch\"\n";

    /// A virtual workspace: `app` (image; bins `app`, `app-tool`), `svc`
    /// (image) and `lib` (no image, no binary); plus `lone`, a package
    /// outside it.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                (
                    "ws/Cargo.toml",
                    "[workspace]\nresolver = \"2\"\nmembers = [\"app\", \"svc\", \"lib\"]\n",
                ),
                (
                    "ws/app/Cargo.toml",
                    &format!(
                        "[package]\nname = \"app\"\nversion = \"1.2.3\"\nedition = \"2021\"\nlicense = \"MIT\"\n{IMAGE}"
                    ),
                ),
                ("ws/app/src/main.rs", "fn main() {}\n"),
                ("ws/app/src/bin/app-tool.rs", "fn main() {}\n"),
                (
                    "ws/svc/Cargo.toml",
                    &format!("[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{IMAGE}"),
                ),
                ("ws/svc/src/main.rs", "fn main() {}\n"),
                (
                    "ws/lib/Cargo.toml",
                    "[package]\nname = \"lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                ("ws/lib/src/lib.rs", ""),
                (
                    "lone/Cargo.toml",
                    "[package]\nname = \"lone\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                ("lone/src/main.rs", "fn main() {}\n"),
            ],
        );
        dir
    }

    fn names(packages: &[&Package]) -> Vec<String> {
        packages.iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn from_a_member_directory_the_member_is_built() {
        let dir = workspace();
        let ws = Workspace::load(&dir.path().join("ws/app/src")).unwrap();
        assert_eq!(ws.manifest, dir.path().join("ws/app/Cargo.toml"));
        assert!(same_file(&ws.root, &dir.path().join("ws")));
        assert!(same_file(
            &ws.output_dir("img"),
            &dir.path().join("ws/target/assemble/img")
        ));
        let app = ws.member("app").unwrap();
        assert_eq!(
            (
                app.version.as_str(),
                app.license.as_deref(),
                app.bins.clone()
            ),
            (
                "1.2.3",
                Some("MIT"),
                vec!["app".to_owned(), "app-tool".to_owned()]
            )
        );
        assert_eq!(app.image.as_ref().unwrap()["source"], "scratch");
        assert_eq!(names(&ws.select(&Selection::Default).unwrap()), ["app"]);
        assert_eq!(app.binaries(&[]).unwrap(), ["app", "app-tool"]);
        assert_eq!(app.binaries(&["app-tool".into()]).unwrap(), ["app-tool"]);
        let err = app.binaries(&["nope".into()]).unwrap_err();
        assert!(
            matches!(&err, ProjectError::UnknownBinary { available, .. } if available == "app, app-tool"),
            "{err}"
        );
    }

    #[test]
    fn from_the_root_every_declaring_member_or_the_named_ones() {
        let dir = workspace();
        let ws = Workspace::load(&dir.path().join("ws")).unwrap();
        assert_eq!(
            names(&ws.select(&Selection::Default).unwrap()),
            ["app", "svc"]
        );
        assert_eq!(names(&ws.select(&Selection::All).unwrap()), ["app", "svc"]);
        let svc = Selection::Packages(vec!["svc".into()]);
        assert_eq!(names(&ws.select(&svc).unwrap()), ["svc"]);
        let err = ws
            .select(&Selection::Packages(vec!["nope".into()]))
            .unwrap_err();
        assert!(
            matches!(&err, ProjectError::UnknownPackage { members, .. } if members == "app, svc, lib"),
            "{err}"
        );
        let err = ws
            .select(&Selection::Packages(vec!["lib".into()]))
            .unwrap_err();
        assert!(matches!(err, ProjectError::NoImage { .. }), "{err}");
        let lib = ws.member("lib").unwrap();
        assert!(matches!(
            lib.binaries(&[]),
            Err(ProjectError::NoBinaries { .. })
        ));
    }

    #[test]
    fn a_package_without_a_declaration_says_how_to_add_one() {
        let dir = workspace();
        let ws = Workspace::load(&dir.path().join("lone/Cargo.toml")).unwrap();
        let err = ws.select(&Selection::Default).unwrap_err();
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("init --template rust-app"), "{help}");
        let err = ws.select(&Selection::All).unwrap_err();
        assert!(matches!(err, ProjectError::NoImages { .. }), "{err}");
    }

    #[test]
    fn outside_any_project_the_search_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        if dir
            .path()
            .ancestors()
            .any(|d| d.join("Cargo.toml").is_file())
        {
            return; // the temporary directory lies inside a cargo project
        }
        let err = Workspace::load(dir.path()).unwrap_err();
        assert!(matches!(err, ProjectError::NoManifest { .. }), "{err}");
        let dir = workspace();
        write(dir.path(), &[("broken/Cargo.toml", "[package]\nname = \n")]);
        let err = Workspace::load(&dir.path().join("broken")).unwrap_err();
        assert!(
            matches!(&err, ProjectError::Metadata { message, .. } if message.contains("Cargo.toml")),
            "{err}"
        );
    }
}
