//! `cargo assemble builds list|logs|get`: the server's build reports.

use std::io::Write;
use std::process::ExitCode;

use assemble_io::escape::escape;
use assemble_service::api::BuildReport;
use miette::{IntoDiagnostic, Result};

use super::serve::Remote;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Build reports, newest first.
    List {
        /// Only this repo's.
        #[arg(long)]
        repo: Option<String>,
        /// How far back: a duration (24h, 7d) or an RFC 3339 time.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Only failed builds, with why (for people without webhooks).
        #[arg(long)]
        failed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// A build's log; --follow streams it until the build ends.
    Logs {
        /// Build id.
        id: String,
        /// Keep printing until the build ends.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// One build report.
    Get {
        /// Build id.
        id: String,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::List {
            repo,
            since,
            failed,
            json,
            remote,
        } => {
            let mut list = remote
                .client()?
                .build_reports(repo.as_deref(), Some(&since))
                .into_diagnostic()?;
            if failed {
                list.reports
                    .retain(|r| r.result == assemble_service::api::BuildResult::Failure);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&list).into_diagnostic()?);
            } else if list.reports.is_empty() {
                eprintln!("no builds since {since}");
            } else {
                println!(
                    "{:<36} {:<24} {:<14} {:<8} CREATED",
                    "ID", "REPO", "TRIGGER", "RESULT"
                );
                for r in &list.reports {
                    println!(
                        "{:<36} {:<24} {:<14} {:<8} {}",
                        escape(&r.id),
                        escape(&r.repo),
                        r.trigger,
                        r.result,
                        r.created_at
                    );
                    if let (true, Some(error)) = (failed, &r.error) {
                        println!("    {}", escape(error));
                    }
                }
            }
        }
        Command::Logs { id, follow, remote } => {
            let stdout = std::io::stdout();
            let mut out = EscapedLines::new(stdout.lock());
            remote
                .client()?
                .build_log(&id, follow, &mut out)
                .into_diagnostic()?;
            out.finish().into_diagnostic()?;
            if follow {
                // The log ends with the result; say it in the exit code too.
                let report = remote.client()?.build_report(&id).into_diagnostic()?;
                if report.result == assemble_service::api::BuildResult::Failure {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Get { id, json, remote } => {
            let report = remote.client()?.build_report(&id).into_diagnostic()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).into_diagnostic()?
                );
            } else {
                print_report(&report);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &BuildReport) {
    println!("build    {}", escape(&r.id));
    println!("repo     {}", escape(&r.repo));
    println!("trigger  {}", r.trigger);
    println!("result   {}", r.result);
    println!("created  {}", r.created_at);
    if let Some(t) = &r.started_at {
        println!("started  {t}");
    }
    if let Some(t) = &r.completed_at {
        println!("ended    {t}");
    }
    if let Some(e) = &r.error {
        println!("error    {}", escape(e));
    }
    for (arch, digest) in &r.digests {
        println!("digest   {} {}", escape(arch), escape(digest));
    }
    for w in &r.warnings {
        println!("warning  {}", escape(w));
    }
}

/// Writes server text line by line with control characters escaped, so a
/// log cannot drive the terminal; lines may arrive split across chunks.
pub(super) struct EscapedLines<W: Write> {
    out: W,
    pending: Vec<u8>,
}

impl<W: Write> EscapedLines<W> {
    pub(super) fn new(out: W) -> Self {
        EscapedLines {
            out,
            pending: Vec::new(),
        }
    }

    pub(super) fn finish(mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            writeln!(self.out, "{}", escape(&line))?;
        }
        self.out.flush()
    }
}

impl<W: Write> Write for EscapedLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..i]);
            writeln!(self.out, "{}", escape(&text))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
