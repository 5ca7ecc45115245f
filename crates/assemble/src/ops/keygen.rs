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
    /// The public key.
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
        0o600,
    )?;
    write_text(&public, &key.public_pem().map_err(|e| generate(&e))?, 0o644)?;
    Ok(KeygenReport { private, public })
}

fn write_text(path: &Path, text: &str, mode: u32) -> Result<(), KeygenError> {
    assemble_io::atomic::write_file::<_, std::io::Error>(path, |w| {
        use std::io::Write;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            w.get_ref()
                .set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        w.write_all(text.as_bytes())
    })
    .map_err(|error| KeygenError::Write {
        path: path.to_owned(),
        error,
    })
}
