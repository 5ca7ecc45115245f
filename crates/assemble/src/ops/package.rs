//! `package`: a reproducible, optionally signed `.apk` from a directory
//! tree (owners root, every time the build time), made by our own writer.

use std::path::PathBuf;

use apk::checksum::Checksum;
use apk::package::read::Script;
use apk::package::{write as pkgwrite, PackageInfo};
use apk::signature::{KeyError, SigningKey};

/// Options of `package`.
#[derive(Clone, Debug, Default)]
pub struct PackageOptions {
    /// The directory whose contents become the package's files.
    pub root: PathBuf,
    /// The package's metadata (`name`, `version`, `arch`, atoms, …).
    pub info: PackageInfo<'static>,
    /// Control scripts as `KIND=FILE`.
    pub scripts: Vec<String>,
    /// The private key to sign with.
    pub sign_key: Option<PathBuf>,
    /// The build time (Unix seconds).
    pub mtime: u64,
    /// The output file (default: `NAME-VERSION.apk`).
    pub output: Option<PathBuf>,
}

/// What `package` wrote.
#[derive(Clone, Debug)]
pub struct PackageReport {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its identity.
    pub checksum: Option<Checksum>,
}

/// Why no package was written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PackageError {
    /// The metadata is not valid.
    #[error("package {package}")]
    Metadata {
        /// `name-version`.
        package: String,
        /// The first problem.
        #[source]
        problem: apk::package::FieldProblem,
    },
    /// `--script` without `=`.
    #[error("--script takes KIND=FILE, got '{0}'")]
    ScriptSyntax(String),
    /// A script file cannot be read.
    #[error("cannot read script {}", path.display())]
    Script {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The signing key cannot be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Writing failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The output.
        path: PathBuf,
        /// Why.
        #[source]
        error: apk::stream::WriteError,
    },
}

/// Makes the package.
pub fn package(options: &PackageOptions) -> Result<PackageReport, PackageError> {
    let info = &options.info;
    if let Some(problem) = info.problems().into_iter().next() {
        return Err(PackageError::Metadata {
            package: info.name_version(),
            problem,
        });
    }
    let scripts = options
        .scripts
        .iter()
        .map(|s| {
            let (kind, file) = s
                .split_once('=')
                .ok_or_else(|| PackageError::ScriptSyntax(s.clone()))?;
            let content = std::fs::read(file).map_err(|error| PackageError::Script {
                path: file.into(),
                error,
            })?;
            Ok(Script {
                kind: kind.to_owned(),
                content,
            })
        })
        .collect::<Result<Vec<_>, PackageError>>()?;
    let path = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.apk", info.name_version())));
    let key = signing_key(options.sign_key.as_deref())?;
    let meta = pkgwrite::build(
        &options.root,
        info,
        &scripts,
        key.as_ref(),
        options.mtime,
        &path,
    )
    .map_err(|error| PackageError::Write {
        path: path.clone(),
        error,
    })?;
    Ok(PackageReport {
        path,
        size: meta.size.unwrap_or(0),
        checksum: meta.checksum,
    })
}

/// Loads the signing key at `path`, if any.
pub(crate) fn signing_key(path: Option<&std::path::Path>) -> Result<Option<SigningKey>, KeyError> {
    path.map(|p| SigningKey::load(p, None)).transpose()
}
