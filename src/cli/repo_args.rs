//! Arguments shared by the verbs that read repositories.

use std::path::{Path, PathBuf};

use apk::index::Trust;
use assemble::model::Repository;
use assemble::ops::{FetchSettings, RepositoryArgs};
use miette::Result;

/// Where packages come from and who is trusted.
#[derive(clap::Args, Debug)]
pub struct RepoArgs {
    /// Repository: a directory holding ARCH/APKINDEX.tar.gz or APKINDEX.tar.gz, an index file, a file:// or http(s):// URL; "@tag URL" for a tagged one.
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
    /// Use only cached indexes of remote repositories.
    #[arg(long)]
    pub offline: bool,
}

impl RepoArgs {
    /// The typed arguments of the operations.
    pub fn to_ops(&self) -> Result<RepositoryArgs> {
        let repositories = self
            .repositories
            .iter()
            .map(|r| {
                Repository::parse(r, Path::new(""))
                    .map_err(|e| miette::Report::new(e).wrap_err("--repository"))
            })
            .collect::<Result<_>>()?;
        if let Some(arch) = &self.arch {
            assemble::model::check_arch(arch)
                .map_err(|e| miette::Report::new(e).wrap_err("--arch"))?;
        }
        Ok(RepositoryArgs {
            repositories,
            keyring: self.keyring.clone(),
            arch: self
                .arch
                .clone()
                .unwrap_or_else(|| apk_repo::repository::host_arch().to_owned()),
            trust: if self.allow_untrusted {
                Trust::AllowUntrusted
            } else {
                Trust::Verify
            },
            fetch: FetchSettings {
                offline: self.offline,
                cache_dir: None,
            },
        })
    }
}
