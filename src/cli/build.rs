//! `cargo assemble build`: assembly.toml → OCI images, locally.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use assemble::ops::build::{self, BuildOptions, ImageError, Output};
use assemble::ops::{self, FetchSettings, Project};
use assemble::plan::count;
use miette::{IntoDiagnostic, Result};

use super::render::Terminal;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Build only this image of the file.
    #[arg(long)]
    pub image: Option<String>,
    /// oci:DIR, oci-archive:FILE or docker://HOST[:PORT]/REPO (pushed under every tag)
    /// (default: oci:target/assemble/<name>).
    #[arg(long, short)]
    pub output: Option<String>,
    /// Build exactly what assembly.lock records (package versions and source digests);
    /// fail if anything would differ.
    #[arg(long)]
    pub locked: bool,
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

pub fn run(args: Args) -> Result<ExitCode> {
    let mut project = Project::load(args.path.as_deref())?;
    if let Some(name) = &args.image {
        project.select(name)?;
    }
    if args.output.is_some() && project.images.len() > 1 {
        miette::bail!("--output names one image; pick it with --image");
    }
    let output = args.output.as_deref().map(Output::parse).transpose()?;
    let source_date_epoch = ops::source_date_epoch()?;
    let lock = match args.locked {
        true => Some(assemble::lock::read(&project.declaration).into_diagnostic()?),
        false => None,
    };
    let terminal = Terminal::new(!args.json, args.quiet);
    let mut reports = Vec::new();
    for image in &project.images {
        let options = BuildOptions {
            output: output.clone().unwrap_or_else(|| Output::default_for(image)),
            fetch: FetchSettings {
                offline: args.offline,
                cache_dir: None,
            },
            source_date_epoch,
            pins: lock
                .as_ref()
                .map(|l| l.locked_pins(&image.name, &assemble::ops::Update::Keep))
                .unwrap_or_default(),
            ..BuildOptions::new(image)
        };
        let report =
            build::build(image, &options, &terminal).map_err(|e| ImageError::new(image, e))?;
        if !args.quiet && !args.json {
            let platforms: Vec<String> = report
                .platforms
                .iter()
                .map(|p| {
                    format!(
                        "{}: {} added, layer {}",
                        p.arch,
                        count(p.added.len(), "package"),
                        count(p.layer_size as usize, "byte")
                    )
                })
                .collect();
            terminal.out(&format!(
                "built {} → {} ({})",
                image.name,
                report.output.display(),
                platforms.join("; ")
            ));
            for p in &report.published {
                for i in &p.report.images {
                    terminal.out(&format!("pushed {}", i.references.join(" ")));
                }
            }
        }
        reports.push((image.name.value.clone(), report));
    }
    drop(terminal);
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
