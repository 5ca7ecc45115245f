//! `index`: a signed `APKINDEX.tar.gz` from `.apk` files.

use std::path::PathBuf;

use apk::index::archive::{self, WriteError};
use apk::package::read::{self, PackageError, ReadOptions, SignatureCheck, VerifyOnly};
use apk::signature::{KeyError, Keyring};

use super::package::signing_key;

/// Options of `index`.
#[derive(Clone, Debug, Default)]
pub struct IndexOptions {
    /// The packages to index.
    pub files: Vec<PathBuf>,
    /// The index to write.
    pub output: PathBuf,
    /// The private key to sign with.
    pub sign_key: Option<PathBuf>,
    /// The text of the `DESCRIPTION` entry.
    pub description: String,
    /// The entry time (Unix seconds).
    pub mtime: u64,
}

/// What `index` wrote.
#[derive(Clone, Debug)]
pub struct IndexReport {
    /// The index file.
    pub path: PathBuf,
    /// How many packages it lists.
    pub packages: usize,
}

/// Why no index was written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum IndexError {
    /// A package cannot be read.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The signing key cannot be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Writing failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The index file.
        path: PathBuf,
        /// Why.
        #[source]
        error: WriteError,
    },
}

/// Makes the index, sorted by name and version.
pub fn index(options: &IndexOptions) -> Result<IndexReport, IndexError> {
    let keyring = Keyring::new();
    let read_options = ReadOptions {
        keyring: &keyring,
        signature: SignatureCheck::Skip,
        expected_identity: None,
    };
    let mut infos = options
        .files
        .iter()
        .map(|f| read::read_file(f, &read_options, &mut VerifyOnly).map(|c| c.info))
        .collect::<Result<Vec<_>, _>>()?;
    infos.sort_by(|x, y| (&x.name, &x.version).cmp(&(&y.name, &y.version)));
    let key = signing_key(options.sign_key.as_deref())?;
    assemble_io::atomic::write_file::<_, WriteError>(&options.output, |w| {
        archive::write(
            w,
            infos.iter(),
            &options.description,
            key.as_ref(),
            options.mtime,
        )
    })
    .map_err(|error| IndexError::Write {
        path: options.output.clone(),
        error,
    })?;
    Ok(IndexReport {
        path: options.output.clone(),
        packages: infos.len(),
    })
}
