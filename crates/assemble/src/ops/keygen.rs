//! `keygen`: an RSA key pair for signing packages and indexes, named the
//! way apk names keys (`NAME.rsa`, `NAME.rsa.pub`).

use std::path::{Path, PathBuf};

use apk::signature::SigningKey;

/// Options of `keygen`.
#[derive(Clone, Debug)]
pub struct KeygenOptions {
    /// The key name.
    pub name: String,
    /// The directory to write into.
    pub dir: PathBuf,
    /// Key size in bits (at least [`MIN_BITS`]).
    pub bits: usize,
    /// Replace existing key files of that name.
    pub force: bool,
}

/// The smallest RSA key `keygen` makes: shorter keys are breakable and
/// refused by current tooling.
pub const MIN_BITS: usize = 2048;

/// What `keygen` wrote.
#[derive(Clone, Debug)]
pub struct KeygenReport {
    /// The private key (mode 0600).
    pub private: PathBuf,
    /// The public key (mode 0666 less the umask).
    pub public: PathBuf,
}

/// Why no key was written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KeygenError {
    /// The key size is too small.
    #[error("{bits}-bit RSA keys are too weak")]
    #[diagnostic(help("use --bits {MIN_BITS} or more (the default is 4096)"))]
    TooSmall {
        /// The size asked for.
        bits: usize,
    },
    /// A key file of that name exists already.
    #[error("{} already exists", path.display())]
    #[diagnostic(help(
        "choose another name, or pass --force to replace it (anything signed with the old key \
         will no longer verify against the new public key)"
    ))]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The output directory cannot be created.
    #[error("cannot create the directory {}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Generating or encoding the key failed.
    #[error("cannot generate the key: {0}")]
    Generate(String),
    /// Writing failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
}

/// Generates and writes the key pair.
/// Refuses keys under [`MIN_BITS`] and, without `force`, existing key
/// files (checked before the slow generation); creates a missing output
/// directory.
pub fn keygen(options: &KeygenOptions) -> Result<KeygenReport, KeygenError> {
    if options.bits < MIN_BITS {
        return Err(KeygenError::TooSmall { bits: options.bits });
    }
    let public_name = format!("{}.rsa.pub", options.name);
    let private = options.dir.join(format!("{}.rsa", options.name));
    let public = options.dir.join(&public_name);
    if !options.force {
        if let Some(path) = [&private, &public]
            .into_iter()
            .find(|p| p.symlink_metadata().is_ok())
        {
            return Err(KeygenError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(&options.dir).map_err(|error| KeygenError::Dir {
        path: options.dir.clone(),
        error,
    })?;
    let generate = |e: &dyn std::fmt::Display| KeygenError::Generate(e.to_string());
    let key = SigningKey::generate(&public_name, options.bits).map_err(|e| generate(&e))?;
    write_text(
        &private,
        &key.private_pem().map_err(|e| generate(&e))?,
        true,
    )?;
    write_text(&public, &key.public_pem().map_err(|e| generate(&e))?, false)?;
    Ok(KeygenReport { private, public })
}

fn write_text(path: &Path, text: &str, private: bool) -> Result<(), KeygenError> {
    let write = |w: &mut std::io::BufWriter<&mut std::fs::File>| {
        std::io::Write::write_all(w, text.as_bytes())
    };
    if private {
        assemble_io::atomic::write_private_file(path, write)
    } else {
        assemble_io::atomic::write_file(path, write)
    }
    .map_err(|error: std::io::Error| KeygenError::Write {
        path: path.to_owned(),
        error,
    })
}
