//! `cargo assemble search`: list repository packages.

use std::io::Write;
use std::process::ExitCode;

use apk::index::IndexRecord;
use miette::{IntoDiagnostic, Result};
use serde::Serialize;

use super::repo_args::{parse_with_warnings, RepoArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only names matching this: a glob with * and ?, or else a substring.
    pub pattern: Option<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Print a JSON array instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct JsonPackage<'a> {
    name: &'a str,
    version: &'a str,
    arch: &'a str,
    description: &'a str,
    license: &'a str,
    origin: &'a str,
    depends: Vec<&'a str>,
    provides: Vec<&'a str>,
    size: Option<u64>,
    installed_size: Option<u64>,
    checksum: Option<String>,
}

impl<'a> JsonPackage<'a> {
    fn new(r: &'a IndexRecord<'a>) -> Self {
        let i = &r.info;
        JsonPackage {
            name: &i.name,
            version: &i.version,
            arch: &i.arch,
            description: &i.description,
            license: &i.license,
            origin: &i.origin,
            depends: i.depends.split_ascii_whitespace().collect(),
            provides: i.provides.split_ascii_whitespace().collect(),
            size: i.size,
            installed_size: i.installed_size,
            checksum: i.checksum.map(|c| c.to_string()),
        }
    }
}

/// Glob match with `*` and `?` over bytes.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn matches(pattern: Option<&str>, name: &str) -> bool {
    match pattern {
        None => true,
        Some(p) if p.contains(['*', '?']) => glob(p.as_bytes(), name.as_bytes()),
        Some(p) => name.contains(p),
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let indexes = args.repo.load()?;
    let parsed: Vec<_> = indexes
        .iter()
        .map(parse_with_warnings)
        .collect::<Result<_>>()?;
    let records = parsed
        .iter()
        .flat_map(|p| &p.records)
        .filter(|r| matches(args.pattern.as_deref(), &r.info.name));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        let list: Vec<JsonPackage> = records.map(JsonPackage::new).collect();
        serde_json::to_writer_pretty(&mut out, &list).into_diagnostic()?;
        writeln!(out).into_diagnostic()?;
    } else {
        for r in records {
            writeln!(
                out,
                "{} {} - {}",
                r.info.name, r.info.version, r.info.description
            )
            .into_diagnostic()?;
        }
    }
    out.flush().into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches(Some("py3-*"), "py3-pip"));
        assert!(!matches(Some("py3-*"), "python3"));
        assert!(matches(Some("busy"), "busybox"));
        assert!(matches(Some("b?sybox"), "busybox"));
        assert!(matches(None, "x"));
    }
}
