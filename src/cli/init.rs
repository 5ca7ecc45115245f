//! `cargo assemble init` and `cargo assemble templates`: starter
//! assembly.toml files from the templates embedded in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use assemble::config::ASSEMBLY_FILE;
use assemble::ops::init::{self, InitOptions, TEMPLATES};
use miette::{IntoDiagnostic, Result};

use super::render;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write assembly.toml into (created if missing; default: the current directory).
    pub dir: Option<PathBuf>,
    /// The template to start from (see `cargo assemble templates`).
    #[arg(long, short, default_value = "static")]
    pub template: String,
    /// The image name (default: the directory's name, made a valid image name).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an existing assembly.toml.
    #[arg(long)]
    pub force: bool,
    /// Set a key of the [image] table: KEY=VALUE, VALUE a TOML value or a plain string;
    /// a plain string given to an array key (packages, repositories, keyring, architectures,
    /// tags) becomes one element, and repeating --set for that key adds elements.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Also write a CI workflow: `github` writes .github/workflows/assemble.yml at the root
    /// of the git work tree (plan comments on pull requests, apply on merge, daily updates).
    #[arg(long, value_enum, value_name = "CI")]
    pub ci: Option<super::github::Ci>,
}

#[derive(clap::Args, Debug)]
pub struct TemplatesArgs {}

/// `cargo assemble templates`: one line per template.
pub fn templates(_args: TemplatesArgs) -> Result<ExitCode> {
    let width = TEMPLATES.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for t in TEMPLATES {
        let default = if t.name == TEMPLATES[0].name {
            " (default)"
        } else {
            ""
        };
        writeln!(out, "{:width$}  {}{default}", t.name, t.description.trim()).into_diagnostic()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo assemble init`.
pub fn run(args: Args) -> Result<ExitCode> {
    let report = init::init(&InitOptions {
        dir: args.dir,
        template: args.template,
        name: args.name,
        force: args.force,
        set: args.set,
        ci: args.ci.map(super::github::Ci::into_ops),
    })?;
    let mut text = String::new();
    if let Some(gitignore) = &report.gitignore {
        text.push_str(&format!("wrote {}\n", gitignore.display()));
    }
    if let Some(workflow) = &report.workflow {
        text.push_str(&format!("wrote {}\n", workflow.display()));
    }
    text.push_str(&format!(
        "wrote {} (template '{}', image '{}')\n\nNext steps:\n",
        report.file.display(),
        report.template,
        report.name
    ));
    let mut step = 1;
    if let Some(dir) = &report.cd {
        text.push_str(&format!("  {step}. cd {}\n", dir.display()));
        step += 1;
    }
    if !report.in_git {
        text.push_str(&format!(
            "  {step}. git init                 # plan and apply keep their state in git\n"
        ));
        step += 1;
    }
    text.push_str(&format!(
        "  {step}. edit {ASSEMBLY_FILE}: replace the placeholders (see its comments)\n"
    ));
    text.push_str(&format!(
        "  {}. cargo assemble plan      # check it and see what would be built\n",
        step + 1
    ));
    text.push_str(&format!(
        "  {}. cargo assemble apply     # build the image(s)\n",
        step + 2
    ));
    render::print(&text);
    Ok(ExitCode::SUCCESS)
}
