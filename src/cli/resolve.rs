//! `cargo assemble resolve`: what adding packages to an image would install.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use apk::dependency::Atom;
use assemble::ops::resolve::{self, Action, ResolveOpError, ResolveOptions};
use miette::{Context, IntoDiagnostic, Result};

use super::render::{self, write_escaped, Terminal};
use super::repo_args::RepoArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Packages to add (dependency atoms: name, name@tag, name>=1.2, so:libz.so.1, …).
    #[arg(required = true, value_name = "PKG")]
    pub packages: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The source image's installed database (lib/apk/db/installed); empty when omitted.
    #[arg(long, value_name = "PATH")]
    pub installed: Option<PathBuf>,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let atoms = args
        .packages
        .iter()
        .map(|p| {
            Atom::parse(p)
                .into_diagnostic()
                .wrap_err("packages are written name(@tag)([<>~=]version)")
        })
        .collect::<Result<_>>()?;
    let options = ResolveOptions {
        atoms,
        repositories: args.repo.to_ops()?,
        installed: args.installed,
    };
    let report = match resolve::resolve(&options, &Terminal::new(false, false)) {
        Ok(r) => r,
        Err(ResolveOpError::Unsatisfiable(explanation)) => {
            render::eprint(&explanation.render(usize::MAX));
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).into_diagnostic()?;
        writeln!(out).into_diagnostic()?;
    } else {
        for c in &report.changes {
            let sign = match c.action {
                Action::Install => "+",
                Action::Remove => "-",
                _ => "~",
            };
            write_escaped(&mut out, &format!("{sign} {} {}", c.name, c.version))
                .into_diagnostic()?;
        }
    }
    out.flush().into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}
