//! `verify`: check `.apk` files end to end — signature over the control
//! stream, identity against an index record, `datahash`, every file's
//! checksum and path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use apk::checksum::Checksum;
use apk::index::archive::{IndexArchiveError, Trust};
use apk::package::read::{self, PackageError, ReadOptions, SignatureCheck, VerifyOnly};
use apk::signature::{KeyError, Keyring};

/// Options of `verify`.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The packages to check.
    pub files: Vec<PathBuf>,
    /// Trusted key files or directories.
    pub keyring: Vec<PathBuf>,
    /// An index whose record of the same name and version each package
    /// must match.
    pub index: Option<PathBuf>,
    /// Do not require signatures (checksums are still checked).
    pub allow_untrusted: bool,
}

/// The verdict on one file.
#[derive(Debug)]
pub enum Verdict {
    /// Every check passed: `name-version`.
    Ok(String),
    /// A check failed.
    Failed(Failure),
}

/// The check a file failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Reading or verifying the package itself.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The index has no record of the package.
    #[error("{}: {package}: checksum: the index has no record of {package}", file.display())]
    NotInIndex {
        /// The file.
        file: PathBuf,
        /// `name-version`.
        package: String,
    },
    /// The index record names another package.
    #[error("{}: {package}: checksum: the package identity is {actual} but the index record says {expected}", file.display())]
    Identity {
        /// The file.
        file: PathBuf,
        /// `name-version`.
        package: String,
        /// The package's identity.
        actual: Checksum,
        /// The record's.
        expected: Checksum,
    },
}

/// The verdicts, in argument order.
#[derive(Debug)]
pub struct VerifyReport {
    /// Per file.
    pub verdicts: Vec<(PathBuf, Verdict)>,
}

impl VerifyReport {
    /// True when every file passed.
    pub fn all_ok(&self) -> bool {
        self.verdicts
            .iter()
            .all(|(_, v)| matches!(v, Verdict::Ok(_)))
    }
}

/// Why verification could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VerifyError {
    /// The keyring cannot be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The index is unusable (unreadable, untrusted or malformed).
    #[error(transparent)]
    Index(#[from] IndexArchiveError),
}

/// Checks every file.
pub fn verify(options: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let keyring = Keyring::load(&options.keyring)?;
    let (trust, signature) = if options.allow_untrusted {
        (Trust::AllowUntrusted, SignatureCheck::Skip)
    } else {
        (Trust::Verify, SignatureCheck::Required)
    };
    let index = match &options.index {
        Some(p) => Some(index_identities(p, &keyring, trust)?),
        None => None,
    };
    let read_options = ReadOptions {
        keyring: &keyring,
        signature,
        expected_identity: None,
    };
    let verdicts = options
        .files
        .iter()
        .map(|file| {
            let verdict = match read::read_file(file, &read_options, &mut VerifyOnly) {
                Err(e) => Verdict::Failed(e.into()),
                Ok(contents) => against_index(index.as_ref(), file, &contents),
            };
            (file.clone(), verdict)
        })
        .collect();
    Ok(VerifyReport { verdicts })
}

/// The verdict on a package that verified by itself: its identity must be
/// the index record's, when there is an index.
fn against_index(
    index: Option<&HashMap<(String, String), Checksum>>,
    file: &Path,
    contents: &read::PackageContents,
) -> Verdict {
    let package = contents.info.name_version();
    let Some(index) = index else {
        return Verdict::Ok(package);
    };
    let key = (
        contents.info.name.to_string(),
        contents.info.version.to_string(),
    );
    match index.get(&key) {
        None => Verdict::Failed(Failure::NotInIndex {
            file: file.to_owned(),
            package,
        }),
        Some(want) if !want.same_identity(&contents.identity) => {
            Verdict::Failed(Failure::Identity {
                file: file.to_owned(),
                package,
                actual: contents.identity,
                expected: *want,
            })
        }
        Some(_) => Verdict::Ok(package),
    }
}

/// `(name, version)` → identity from the index.
fn index_identities(
    path: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<HashMap<(String, String), Checksum>, VerifyError> {
    let index = apk_repo::repository::load_index(path, keyring, trust, None)?;
    Ok((0..index.len())
        .filter_map(|i| {
            let name = index.name(index.record_name(i));
            let key = (name.to_owned(), index.record_version(i).to_owned());
            Some((key, index.record_checksum(i)?))
        })
        .collect())
}
