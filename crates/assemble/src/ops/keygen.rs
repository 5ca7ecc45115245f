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
    /// Key size in bits.
    pub bits: usize,
}

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
pub fn keygen(options: &KeygenOptions) -> Result<KeygenReport, KeygenError> {
    let public_name = format!("{}.rsa.pub", options.name);
    let generate = |e: &dyn std::fmt::Display| KeygenError::Generate(e.to_string());
    let key = SigningKey::generate(&public_name, options.bits).map_err(|e| generate(&e))?;
    let private = options.dir.join(format!("{}.rsa", options.name));
    let public = options.dir.join(&public_name);
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
