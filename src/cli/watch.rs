//! `cargo assemble watch`: re-run `validate` then `plan` whenever the
//! declaration, the `Cargo.toml` or the `assembly.lock` next to it changes.
//! The verbs run as child processes of this same executable, so watch does
//! not depend on their code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::Duration;

use assemble::lock::LOCK_FILE;
use assemble::ops::Project;
use miette::{miette, IntoDiagnostic, Result};
use notify::{RecursiveMode, Watcher};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Quiet period after a change before a round runs (bursts of changes make one round).
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub interval_ms: u64,
    /// Run one round and exit with the plan's exit code.
    #[arg(long)]
    pub once: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let path = Project::find(args.path.as_deref())?;
    if !path.is_file() {
        return Err(miette!("{}: no such file", path.display()));
    }
    let exe = std::env::current_exe()
        .into_diagnostic()
        .map_err(|e| e.wrap_err("cannot find this executable to run validate and plan"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut watched: Vec<PathBuf> = vec![path.clone()];
    for name in ["Cargo.toml", LOCK_FILE] {
        let p = dir.join(name);
        if !watched.iter().any(|w| w.file_name() == p.file_name()) {
            watched.push(p);
        }
    }
    let tty = std::io::stdout().is_terminal();
    let mut round = Round {
        exe,
        path,
        tty,
        number: 0,
    };

    if args.once {
        return Ok(round.run("start"));
    }

    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |e| {
        let _ = tx.send(e);
    })
    .into_diagnostic()
    .map_err(|e| e.wrap_err("cannot start a file watcher"))?;
    // Watch the directory, not the files: editors replace files by
    // renaming, and the lock file may not exist yet.
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .into_diagnostic()
        .map_err(|e| e.wrap_err(format!("cannot watch {}", dir.display())))?;

    let names: Vec<_> = watched
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect();
    let relevant = |event: &notify::Result<notify::Event>| match event {
        Ok(e) => e
            .paths
            .iter()
            .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n))),
        Err(_) => true,
    };
    let debounce = Duration::from_millis(args.interval_ms);

    let mut seen = contents(&watched);
    round.run("start");
    footer(&watched);
    loop {
        // Wait for a change to one of our files…
        loop {
            let event = rx.recv().map_err(|_| miette!("the file watcher stopped"))?;
            if let Err(e) = &event {
                eprintln!("warning: file watcher: {e}");
            }
            if relevant(&event) {
                break;
            }
        }
        // …then until the burst is over.
        loop {
            match rx.recv_timeout(debounce) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(miette!("the file watcher stopped"))
                }
            }
        }
        // Events also come for reads, metadata and rewrites of the same
        // bytes (or from the verbs themselves): run only on a real change.
        let now = contents(&watched);
        let changed: Vec<String> = watched
            .iter()
            .zip(seen.iter().zip(now.iter()))
            .filter(|(_, (a, b))| a != b)
            .map(|(p, _)| p.display().to_string())
            .collect();
        if changed.is_empty() {
            continue;
        }
        seen = now;
        round.run(&format!("changed: {}", changed.join(", ")));
        footer(&watched);
    }
}

/// Each watched file's bytes (`None` when missing).
fn contents(files: &[PathBuf]) -> Vec<Option<Vec<u8>>> {
    files.iter().map(|p| std::fs::read(p).ok()).collect()
}

fn footer(watched: &[PathBuf]) {
    let list: Vec<String> = watched.iter().map(|p| p.display().to_string()).collect();
    println!("\nwatching {} (Ctrl-C to stop)", list.join(", "));
    let _ = std::io::stdout().flush();
}

struct Round {
    exe: PathBuf,
    path: PathBuf,
    tty: bool,
    number: u64,
}

impl Round {
    /// Clears the screen (or prints a separator), runs validate then plan;
    /// returns plan's exit code.
    fn run(&mut self, why: &str) -> ExitCode {
        self.number += 1;
        if self.tty {
            print!("\x1b[2J\x1b[H");
        } else if self.number > 1 {
            println!("{}", "─".repeat(72));
        }
        println!(
            "cargo assemble watch: round {} ({why}) — {}",
            self.number,
            self.path.display()
        );
        let validate = self.verb("validate", &self.path);
        let plan = self.verb("plan", &self.path);
        println!(
            "\nvalidate: {}, plan: {}",
            describe(validate),
            describe(plan)
        );
        let _ = std::io::stdout().flush();
        match plan {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        }
    }

    /// Runs `cargo assemble VERB PATH`; its exit code (`None` when it could
    /// not run or was killed by a signal).
    fn verb(&self, verb: &str, path: &Path) -> Option<i32> {
        println!("\n$ cargo assemble {verb} {}", path.display());
        let _ = std::io::stdout().flush();
        match Command::new(&self.exe).arg(verb).arg(path).status() {
            Ok(status) => status.code(),
            Err(e) => {
                eprintln!("error: cannot run {}: {e}", self.exe.display());
                None
            }
        }
    }
}

fn describe(code: Option<i32>) -> String {
    match code {
        Some(0) => "ok".into(),
        Some(c) => format!("exit {c}"),
        None => "did not run to completion".into(),
    }
}
