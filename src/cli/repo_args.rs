//! Arguments shared by verbs that read repositories.

use std::path::PathBuf;

use apk::index::text::IndexText;
use apk::index::Trust;
use apk::signature::Keyring;
use apk_repo::repository::{self, LoadedIndex, Repository};
use miette::{IntoDiagnostic, Result};

/// Where packages come from and who is trusted.
#[derive(clap::Args, Debug)]
pub struct RepoArgs {
    /// Repository: a directory holding ARCH/APKINDEX.tar.gz or APKINDEX.tar.gz, an index file, or a file:// URL.
    #[arg(
        long = "repository",
        short = 'X',
        value_name = "PATH_OR_URL",
        required = true
    )]
    pub repositories: Vec<String>,
    /// Trusted public key file, or directory of *.pub keys (repeatable).
    #[arg(long, value_name = "PATH")]
    pub keyring: Vec<PathBuf>,
    /// Architecture whose index to read (default: this machine's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Accept unsigned indexes and signatures by unknown keys.
    #[arg(long)]
    pub allow_untrusted: bool,
}

impl RepoArgs {
    pub fn arch(&self) -> &str {
        self.arch.as_deref().unwrap_or(repository::host_arch())
    }

    pub fn trust(&self) -> Trust {
        if self.allow_untrusted {
            Trust::AllowUntrusted
        } else {
            Trust::Verify
        }
    }

    pub fn keyring(&self) -> Result<Keyring> {
        Keyring::load(&self.keyring).into_diagnostic()
    }

    /// Loads every repository's index, verified.
    pub fn load(&self) -> Result<Vec<LoadedIndex>> {
        let keyring = self.keyring()?;
        self.repositories
            .iter()
            .map(|r| {
                let repo = Repository::parse(r).into_diagnostic()?;
                repo.load_index(self.arch(), &keyring, self.trust())
                    .into_diagnostic()
            })
            .collect()
    }
}

/// Parses a loaded index leniently and prints its warnings to stderr.
pub fn parse_with_warnings(index: &LoadedIndex) -> Result<IndexText<'_>> {
    let name = format!("{}:APKINDEX", index.path.display());
    if index.index.lossy() {
        eprintln!("warning: {name}: text is not valid UTF-8; invalid bytes were replaced");
    }
    let parsed = index.index.to_text();
    for w in &parsed.warnings {
        let pkg = w
            .package
            .as_deref()
            .map(|p| format!(" {p}:"))
            .unwrap_or_default();
        eprintln!("warning: {name}:{}:{pkg} {}", w.line, w.message);
    }
    Ok(parsed)
}
