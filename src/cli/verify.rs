//! `cargo assemble verify`: check .apk files end to end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apk::checksum::Checksum;
use apk::index::archive::Trust;
use apk::package::read::{self, ReadOptions, SignatureCheck, VerifyOnly};
use apk::signature::Keyring;
use miette::{IntoDiagnostic, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Package files to check.
    #[arg(required = true, value_name = "FILE.apk")]
    pub files: Vec<PathBuf>,
    /// Trusted public key file, or directory of *.pub keys (repeatable).
    #[arg(long, value_name = "PATH")]
    pub keyring: Vec<PathBuf>,
    /// Also check each package's identity against this index's record of the same name and version.
    #[arg(long, value_name = "APKINDEX.tar.gz")]
    pub index: Option<PathBuf>,
    /// Do not require signatures (checksums are still checked).
    #[arg(long)]
    pub allow_untrusted: bool,
}

/// `(name, version)` → identity from the index.
fn index_identities(
    path: &Path,
    keyring: &Keyring,
    trust: Trust,
) -> Result<HashMap<(String, String), Checksum>> {
    let index = apk_repo::repository::load_index(path, keyring, trust, None).into_diagnostic()?;
    let parsed = index.to_text();
    Ok(parsed
        .records
        .iter()
        .filter_map(|r| {
            Some((
                (r.info.name.to_string(), r.info.version.to_string()),
                r.info.checksum?,
            ))
        })
        .collect())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let keyring = Keyring::load(&args.keyring).into_diagnostic()?;
    let (trust, signature) = if args.allow_untrusted {
        (Trust::AllowUntrusted, SignatureCheck::Skip)
    } else {
        (Trust::Verify, SignatureCheck::Required)
    };
    let index = match &args.index {
        Some(p) => Some(index_identities(p, &keyring, trust)?),
        None => None,
    };
    let options = ReadOptions {
        keyring: &keyring,
        signature,
        expected_identity: None,
    };
    let mut failed = 0;
    for file in &args.files {
        let verdict = read::read_file(file, &options, &mut VerifyOnly)
            .map_err(|e| e.to_string())
            .and_then(|contents| {
                let nv = contents.info.name_version();
                let Some(index) = &index else { return Ok(nv) };
                let key = (contents.info.name.to_string(), contents.info.version.to_string());
                match index.get(&key) {
                    None => Err(format!("{}: {nv}: checksum: the index has no record of {nv}", file.display())),
                    Some(want) if !want.same_identity(&contents.identity) => Err(format!(
                        "{}: {nv}: checksum: the package identity is {} but the index record says {want}",
                        file.display(),
                        contents.identity
                    )),
                    Some(_) => Ok(nv),
                }
            });
        match verdict {
            Ok(nv) => println!("OK {nv}"),
            Err(why) => {
                failed += 1;
                println!("FAIL {why}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
