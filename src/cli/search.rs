//! `cargo assemble search`: list repository packages.

use std::io::Write;
use std::process::ExitCode;

use assemble::ops::search::{self, SearchOptions};
use miette::{IntoDiagnostic, Result};

use super::render::{write_escaped, Terminal};
use super::repo_args::RepoArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only names matching this: a glob with *, ? or […], or else a substring.
    pub pattern: Option<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Print a JSON array instead of lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let options = SearchOptions {
        repositories: args.repo.to_ops()?,
        pattern: args.pattern,
    };
    let report = search::search(&options, &Terminal::new(false, false))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report.packages).into_diagnostic()?;
        writeln!(out).into_diagnostic()?;
    } else {
        for p in &report.packages {
            let line = format!("{} {} - {}", p.name, p.version, p.description);
            write_escaped(&mut out, &line).into_diagnostic()?;
        }
    }
    out.flush().into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}
