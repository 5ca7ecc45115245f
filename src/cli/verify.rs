//! `cargo assemble verify`: check .apk files end to end.

use std::path::PathBuf;
use std::process::ExitCode;

use assemble::ops::verify::{self, Verdict, VerifyOptions};
use assemble::ops::{trust_help_text, KeySource};
use miette::Result;

use super::render;

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

pub fn run(args: Args) -> Result<ExitCode> {
    let report = verify::verify(&VerifyOptions {
        files: args.files,
        keyring: args.keyring,
        index: args.index,
        allow_untrusted: args.allow_untrusted,
    })?;
    for (_, verdict) in &report.verdicts {
        match verdict {
            Verdict::Ok(package) => render::print(&format!("OK {package}")),
            Verdict::Failed(why) => {
                let fix = trust_help_text(&why.to_string(), KeySource::CommandLine)
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                render::print(&format!("FAIL {why}{fix}"))
            }
        }
    }
    Ok(if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
