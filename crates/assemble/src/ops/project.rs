//! A project: the declaration file an operation works on (given, or found
//! in the current directory) and the images it declares.
//!
//! A Cargo project is found the way cargo finds one: the nearest
//! `Cargo.toml` at or above the current directory (or `--manifest-path`);
//! its images are those of the current package, of the packages named with
//! `-p`, or — from the workspace root — of every member declaring one. The
//! lock and the applied state of a workspace live at its root.

use std::path::{Path, PathBuf};

use crate::config::{self, ConfigErrors};
use crate::model::Image;
use crate::rust::project::{self as cargo_project, Selection, Workspace};

pub use crate::lock::Update;

/// A loaded declaration.
#[derive(Clone, Debug)]
pub struct Project {
    /// The declaration file (assembly.toml or a Cargo.toml); the lock and
    /// the apply lock live next to it.
    pub declaration: PathBuf,
    /// Its images.
    pub images: Vec<Image>,
}

/// The declaration cannot be found or used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProjectError {
    /// Nothing declares an image here.
    #[error("no assembly.toml in {} (nor a Cargo.toml with [package.metadata.image])", dir.display())]
    #[diagnostic(help("run `cargo assemble init` to write one, or give the declaration's path"))]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
    },
    /// The declaration given does not exist.
    #[error("{}: {error}", path.display())]
    #[diagnostic(help("give the path of an assembly.toml (or a Cargo.toml with [package.metadata.image]), or a directory holding one"))]
    Missing {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be read.
        error: std::io::Error,
    },
    /// The current directory is unknown.
    #[error("cannot read the current directory")]
    CurrentDir(#[source] std::io::Error),
    /// The declaration has errors.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigErrors),
    /// The cargo workspace or the packages asked for cannot be used.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cargo(#[from] cargo_project::ProjectError),
    /// `-p` without a Cargo project.
    #[error("-p selects packages of a cargo workspace, but the declaration is {}", file.display())]
    #[diagnostic(help("drop -p, or pass --manifest-path to a Cargo.toml"))]
    NotCargo {
        /// The declaration.
        file: PathBuf,
    },
    /// `--image NAME` names no declared image.
    #[error("{}: no image named '{name}' (declared: {})", file.display(), declared.join(", "))]
    NoSuchImage {
        /// The declaration.
        file: PathBuf,
        /// The name asked for.
        name: String,
        /// The names declared.
        declared: Vec<String>,
    },
}

/// Which packages of a cargo workspace (`-p`, `--manifest-path`).
#[derive(Clone, Debug, Default)]
pub struct CargoSelection {
    /// `--manifest-path`: the Cargo.toml to start from.
    pub manifest_path: Option<PathBuf>,
    /// `-p NAME`…: these packages' images.
    pub packages: Vec<String>,
}

fn is_cargo_manifest(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "Cargo.toml")
}

impl Project {
    /// The declaration file, with `--manifest-path` and, when nothing is
    /// found in the current directory, the nearest Cargo.toml above it.
    pub fn find_with(path: Option<&Path>, cargo: &CargoSelection) -> Result<PathBuf, ProjectError> {
        if let Some(m) = &cargo.manifest_path {
            return Project::find(Some(m));
        }
        Project::find(path)
    }

    /// The file the lock and state of `declaration` belong to: a Cargo
    /// manifest's workspace root manifest, else `declaration` itself.
    pub fn declaration_of(declaration: &Path) -> Result<PathBuf, ProjectError> {
        if !is_cargo_manifest(declaration) {
            return Ok(declaration.to_owned());
        }
        let ws = Workspace::load(declaration)?;
        Ok(ws.root.join("Cargo.toml"))
    }

    /// Finds and loads the declaration, keeping the images of the cargo
    /// packages `cargo` selects.
    pub fn load_selected(
        path: Option<&Path>,
        cargo: &CargoSelection,
    ) -> Result<Project, ProjectError> {
        let found = Project::find_with(path, cargo)?;
        if !is_cargo_manifest(&found) {
            if !cargo.packages.is_empty() {
                return Err(ProjectError::NotCargo { file: found });
            }
            let images = config::load(&found)?;
            return Ok(Project {
                declaration: found,
                images,
            });
        }
        let ws = Workspace::load(&found)?;
        let selection = match cargo.packages.as_slice() {
            [] => Selection::Default,
            names => Selection::Packages(names.to_vec()),
        };
        let names: Vec<String> = ws
            .select(&selection)?
            .into_iter()
            .map(|p| p.name.clone())
            .collect();
        let mut images = config::load(&found)?;
        images.retain(|i| {
            i.app
                .package
                .as_ref()
                .is_some_and(|p| names.contains(&p.name))
        });
        Ok(Project {
            declaration: ws.root.join("Cargo.toml"),
            images,
        })
    }

    /// The declaration `path`, or the one [`config::discover`] finds in
    /// the current directory.
    pub fn find(path: Option<&Path>) -> Result<PathBuf, ProjectError> {
        if let Some(p) = path {
            return match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => {
                    config::discover(p).ok_or_else(|| ProjectError::NotFound { dir: p.to_owned() })
                }
                Ok(_) => Ok(p.to_owned()),
                Err(error) => Err(ProjectError::Missing {
                    path: p.to_owned(),
                    error,
                }),
            };
        }
        let dir = std::env::current_dir().map_err(ProjectError::CurrentDir)?;
        if let Some(found) = config::discover(&dir) {
            return Ok(found);
        }
        // Like cargo: the nearest Cargo.toml above.
        cargo_project::find_manifest(&dir).map_err(|_| ProjectError::NotFound { dir })
    }

    /// Finds and loads the declaration (for a Cargo project: the images
    /// of the current package, or of every member from the root).
    pub fn load(path: Option<&Path>) -> Result<Project, ProjectError> {
        Project::load_selected(path, &CargoSelection::default())
    }

    /// Keeps only the image named `name`.
    pub fn select(&mut self, name: &str) -> Result<(), ProjectError> {
        let declared: Vec<String> = self.images.iter().map(|i| i.name.value.clone()).collect();
        self.images.retain(|i| *i.name == name);
        if self.images.is_empty() {
            return Err(ProjectError::NoSuchImage {
                file: self.declaration.clone(),
                name: name.to_owned(),
                declared,
            });
        }
        Ok(())
    }

    /// The names of its images.
    pub fn names(&self) -> Vec<&str> {
        self.images.iter().map(|i| i.name.as_str()).collect()
    }

    /// The directory of the declaration.
    pub fn dir(&self) -> &Path {
        match self.declaration.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }
}
