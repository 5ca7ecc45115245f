//! `cargo assemble build`: assembly.toml → OCI image, locally.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assemble::build::{self, BuildOptions, BuildSpec, Event, Output};
use assemble::config::{self, ImageSpec};
use miette::{miette, IntoDiagnostic, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Build only this image of the file.
    #[arg(long)]
    pub image: Option<String>,
    /// oci:DIR or oci-archive:FILE (default: oci:target/assemble/<name>).
    #[arg(long, short)]
    pub output: Option<String>,
    /// Use only cached packages and indexes.
    #[arg(long)]
    pub offline: bool,
    /// Print a JSON report per image on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// In GitHub Actions: append the `digest` and `images` outputs to $GITHUB_OUTPUT
    /// and a summary to $GITHUB_STEP_SUMMARY.
    #[arg(long)]
    pub github_output: bool,
}

/// The declaration file to use.
pub fn declaration(path: Option<&Path>) -> Result<PathBuf> {
    match path {
        Some(p) => Ok(p.to_owned()),
        None => {
            let cwd = std::env::current_dir().into_diagnostic()?;
            config::discover(&cwd).ok_or_else(|| {
                miette!("no assembly.toml here (nor a Cargo.toml with [package.metadata.image]); run `cargo assemble init`")
            })
        }
    }
}

/// Loads the images of a declaration file, rendering every problem.
pub fn load(path: &Path) -> Result<Vec<ImageSpec>> {
    config::load(path).map_err(miette::Report::new)
}

pub fn spec(image: &ImageSpec) -> BuildSpec {
    BuildSpec {
        name: image.name.clone(),
        source: image.source_resolved.clone(),
        source_name: image.source.clone(),
        packages: image.packages.clone(),
        repositories: image.repositories.clone(),
        repository_names: image.repositories_written.clone(),
        keyring: image.keyring.clone(),
        architectures: image.architectures.clone().unwrap_or_default(),
        tags: image.tags.clone(),
        annotations: image.annotations.clone(),
        environment: image.environment.clone(),
    }
}

pub fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| {
            miette!("SOURCE_DATE_EPOCH must be a whole number of seconds, found '{v}'")
        }),
        Err(_) => Ok(None),
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let path = declaration(args.path.as_deref())?;
    let mut images = load(&path)?;
    if let Some(name) = &args.image {
        images.retain(|i| &i.name == name);
        if images.is_empty() {
            return Err(miette!("{}: no image named '{name}'", path.display()));
        }
    }
    if args.output.is_some() && images.len() > 1 {
        return Err(miette!("--output names one image; pick it with --image"));
    }
    let options = BuildOptions {
        offline: args.offline,
        source_date_epoch: source_date_epoch()?,
        cache_dir: None,
        ..Default::default()
    };
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let spinner = tty.then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let mut reports = Vec::new();
    for image in &images {
        let output = match &args.output {
            Some(o) => Output::parse(o).map_err(|e| miette!("{e}"))?,
            None => Output::Layout(PathBuf::from("target/assemble").join(&image.name)),
        };
        let progress = |e: Event<'_>| {
            let line = match e {
                Event::Step(arch, step) => format!("{}: {arch}: {step}", image.name),
                Event::Fetched(done, total) => {
                    format!("{}: fetched {done}/{total} packages", image.name)
                }
            };
            match &spinner {
                Some(s) => s.set_message(line),
                None if !args.quiet && !args.json => eprintln!("{line}"),
                None => {}
            }
        };
        let report = build::build(&spec(image), &output, &options, &progress)
            .map_err(|e| miette!("{}: {e}", image.name))?;
        if !args.quiet {
            for w in &report.warnings {
                if let Some(s) = &spinner {
                    s.suspend(|| eprintln!("warning: {w}"));
                } else {
                    eprintln!("warning: {w}");
                }
            }
        }
        if !args.quiet && !args.json {
            let line = format!(
                "built {} → {} ({})",
                image.name,
                report.output.display(),
                report
                    .platforms
                    .iter()
                    .map(|p| format!(
                        "{}: {} packages added, layer {} bytes",
                        p.arch,
                        p.added.len(),
                        p.layer_size
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            match &spinner {
                Some(s) => s.suspend(|| println!("{line}")),
                None => println!("{line}"),
            }
        }
        reports.push((image.name.clone(), report));
    }
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    if args.json {
        let out: Vec<serde_json::Value> = reports
            .iter()
            .map(|(name, r)| serde_json::json!({"image": name, "report": r}))
            .collect();
        let stdout = std::io::stdout();
        let mut w = stdout.lock();
        serde_json::to_writer_pretty(&mut w, &out).into_diagnostic()?;
        writeln!(w).into_diagnostic()?;
    }
    if args.github_output {
        super::github::write_build_outputs(&reports)?;
    }
    Ok(ExitCode::SUCCESS)
}
