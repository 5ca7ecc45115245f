//! A project: the declaration file an operation works on (given, or found
//! in the current directory) and the images it declares.

use std::path::{Path, PathBuf};

use crate::config::{self, ConfigErrors};
use crate::model::Image;

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

impl Project {
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
        config::discover(&dir).ok_or(ProjectError::NotFound { dir })
    }

    /// Finds and loads the declaration.
    pub fn load(path: Option<&Path>) -> Result<Project, ProjectError> {
        let declaration = Project::find(path)?;
        let images = config::load(&declaration)?;
        Ok(Project {
            declaration,
            images,
        })
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
