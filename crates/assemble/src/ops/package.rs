//! `package`: a reproducible, optionally signed `.apk` from a directory
//! tree (owners root, every time the build time), made by our own writer.

use std::path::PathBuf;

use apk::checksum::Checksum;
use apk::database::scripts::ScriptKind;
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
    /// The input directory is missing or not a directory.
    #[error("the package's input directory {} {problem}", path.display())]
    #[diagnostic(help("give the directory whose contents become the package's files"))]
    Root {
        /// The directory.
        path: PathBuf,
        /// "does not exist", "is not a directory", …
        problem: String,
    },
    /// The architecture is unknown.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Arch(#[from] crate::model::UnknownArch),
    /// `--script` without `=`.
    #[error("--script takes KIND=FILE, got '{0}'")]
    ScriptSyntax(String),
    /// `--script` with a kind apk does not run.
    #[error("unknown script kind '{0}' in --script")]
    #[diagnostic(help(
        "apk runs pre-install, post-install, pre-deinstall, post-deinstall, pre-upgrade, \
         post-upgrade and trigger scripts{1}"
    ))]
    ScriptKind(String, String),
    /// The output's directory cannot be created.
    #[error("cannot create the output directory {}", path.display())]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
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
    if &*info.arch != "noarch" {
        crate::model::check_arch(&info.arch)?;
    }
    match std::fs::metadata(&options.root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(root_error(&options.root, "is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(root_error(&options.root, "does not exist".into()))
        }
        Err(e) => return Err(root_error(&options.root, format!("cannot be read: {e}"))),
    }
    let scripts = options
        .scripts
        .iter()
        .map(|s| {
            let (kind, file) = s
                .split_once('=')
                .ok_or_else(|| PackageError::ScriptSyntax(s.clone()))?;
            if ScriptKind::parse(kind).is_none() {
                let hint = ScriptKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .min_by_key(|k| strsim::osa_distance(k, kind))
                    .filter(|k| strsim::osa_distance(k, kind) <= 3)
                    .map(|k| format!("; did you mean '{k}'?"))
                    .unwrap_or_default();
                return Err(PackageError::ScriptKind(
                    assemble_io::escape::escape(kind).into_owned(),
                    hint,
                ));
            }
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
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| PackageError::OutputDir {
            path: dir.to_owned(),
            error,
        })?;
    }
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

fn root_error(path: &std::path::Path, problem: String) -> PackageError {
    PackageError::Root {
        path: path.to_owned(),
        problem,
    }
}

/// Loads the signing key at `path`, if any.
pub(crate) fn signing_key(path: Option<&std::path::Path>) -> Result<Option<SigningKey>, KeyError> {
    path.map(|p| SigningKey::load(p, None)).transpose()
}
