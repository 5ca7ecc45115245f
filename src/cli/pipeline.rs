//! The Git-driven verbs: `plan`, `apply`, `validate`, `outdated`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use assemble::ops::apply::{self, ApplyOptions};
use assemble::ops::outdated::{self, Outdated, OutdatedOptions};
use assemble::ops::plan::{self, PlanOptions};
use assemble::ops::validate::{self, ValidateOptions};
use assemble::ops::{self, FetchSettings, Project, Update};
use assemble::plan as render_plan;
use miette::{IntoDiagnostic, Result};

use super::github;
use super::render::{self, Terminal};

/// Output format of `plan`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// For people.
    #[default]
    Human,
    /// Stable JSON (see README).
    Json,
    /// For pull-request comments.
    Markdown,
}

/// Options shared by the verbs that resolve.
#[derive(clap::Args, Debug, Default)]
pub struct Resolution {
    /// Ignore the lock for all packages, or only for the named ones.
    #[arg(long, num_args = 0.., value_name = "PKG")]
    pub update: Option<Vec<String>>,
    /// Use only cached packages and indexes.
    #[arg(long)]
    pub offline: bool,
}

impl Resolution {
    fn fetch(&self) -> FetchSettings {
        fetch(self.offline)
    }
}

fn fetch(offline: bool) -> FetchSettings {
    FetchSettings {
        offline,
        cache_dir: None,
    }
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Compare with the declaration and lock at this git revision instead of the applied state.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Exit 0 when nothing changes, 2 when something does, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// In GitHub Actions: also write the plan (or its failure) as the pull request's
    /// comment, edited on later runs (GITHUB_TOKEN, GITHUB_EVENT_PATH, GITHUB_REPOSITORY,
    /// GITHUB_API_URL).
    #[arg(long)]
    pub github_comment: bool,
    /// In GitHub Actions: append the `changes` output (`true`/`false`) to $GITHUB_OUTPUT
    /// and the Markdown plan to $GITHUB_STEP_SUMMARY.
    #[arg(long)]
    pub github_output: bool,
    #[command(flatten)]
    pub resolution: Resolution,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Fail if assembly.lock would change (for CI).
    #[arg(long)]
    pub locked: bool,
    /// In GitHub Actions: append the `changes`, `digest` and `images` outputs to
    /// $GITHUB_OUTPUT and a summary to $GITHUB_STEP_SUMMARY.
    #[arg(long)]
    pub github_output: bool,
    #[command(flatten)]
    pub resolution: Resolution,
}

#[derive(clap::Args, Debug)]
pub struct OutdatedArgs {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Use only cached packages and indexes.
    #[arg(long)]
    pub offline: bool,
    /// Exit with status 1 when something is outdated (for CI), like `git diff --exit-code`.
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Use only cached indexes.
    #[arg(long)]
    pub offline: bool,
    /// `github` adds an `::error file=…,line=…::` annotation per problem on stdout
    /// (default: `github` when GITHUB_ACTIONS=true, else `human`).
    #[arg(long, value_enum)]
    pub format: Option<ValidateFormat>,
}

/// Output format of `validate`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidateFormat {
    /// Errors on stderr.
    Human,
    /// Errors on stderr and GitHub Actions annotations on stdout.
    Github,
}

pub fn plan(args: PlanArgs) -> Result<ExitCode> {
    let declaration = Project::find(args.path.as_deref())?;
    let options = PlanOptions {
        base: args.base,
        update: Update::from_args(args.resolution.update.clone()),
        fetch: args.resolution.fetch(),
    };
    let report = Project::load(Some(&declaration))
        .map_err(miette::Report::new)
        .and_then(|project| {
            plan::plan(&project, &options, &Terminal::new(false, false))
                .map_err(miette::Report::new)
        });
    if args.github_comment {
        let markdown = match &report {
            Ok(r) => render_plan::render_markdown(&r.plan),
            Err(e) => assemble::github::failure_markdown(&render::plain(e)),
        };
        github::comment(&declaration, &markdown)?;
    }
    let report = report?;
    let plan = &report.plan;
    match args.format {
        // JSON escapes control characters itself.
        Format::Json => print!("{}", render_plan::render_json(plan)),
        Format::Human => render::print(&render_plan::render_human(plan)),
        Format::Markdown => render::print(&render_plan::render_markdown(plan)),
    }
    if args.github_output {
        github::write_plan_outputs(plan)?;
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn apply(args: ApplyArgs) -> Result<ExitCode> {
    let project = Project::load(args.path.as_deref())?;
    let terminal = Terminal::new(false, false);
    let options = ApplyOptions {
        locked: args.locked,
        update: Update::from_args(args.resolution.update.clone()),
        fetch: args.resolution.fetch(),
        source_date_epoch: ops::source_date_epoch()?,
    };
    let pending = apply::prepare(&project, options, &terminal)?;
    if pending.plan().is_empty() {
        render::print("No changes. Nothing to apply.");
        if args.github_output {
            github::write_apply_outputs(pending.plan(), &[])?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    render::print(&render_plan::render_human(pending.plan()));
    if !args.auto_approve && !confirm()? {
        render::print("Apply cancelled.");
        return Ok(ExitCode::FAILURE);
    }
    let plan = pending.plan().clone();
    let report = pending.apply(&terminal)?;
    render::print(&format!(
        "Applied. The state is recorded in {} (push it with `git push origin 'refs/assembly/*'`).",
        report.state_ref
    ));
    if args.github_output {
        github::write_apply_outputs(&plan, &report.images)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses elsewhere.
fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        miette::bail!("not on a terminal: pass --auto-approve to apply without confirmation");
    }
    print!("Apply these changes? [y/N] ");
    std::io::stdout().flush().into_diagnostic()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).into_diagnostic()?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn outdated(args: OutdatedArgs) -> Result<ExitCode> {
    let project = Project::load(args.path.as_deref())?;
    let options = OutdatedOptions {
        fetch: fetch(args.offline),
    };
    let report = outdated::outdated(&project, &options, &Terminal::new(false, false))?;
    for item in &report.items {
        let line = match item {
            Outdated::Package {
                image,
                arch,
                name,
                locked,
                available,
            } => format!("{image} {arch}: {name} {locked} -> {available} available"),
            Outdated::Source {
                image,
                arch,
                locked,
                current,
                source,
            } => format!("{image} {arch}: source image {locked} -> {current} ({source})"),
        };
        render::print(&line);
    }
    if report.items.is_empty() {
        render::print("Everything is up to date.");
    }
    Ok(if args.exit_code && !report.items.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let path = Project::find(args.path.as_deref())?;
    let options = ValidateOptions {
        fetch: fetch(args.offline),
    };
    let report = validate::validate(&path, &options, &Terminal::new(false, false))?;
    if report.is_valid() {
        render::print(&format!("{}: valid", report.declaration.display()));
        return Ok(ExitCode::SUCCESS);
    }
    render::eprint(&report.errors.to_string());
    let annotate = match args.format {
        Some(f) => f == ValidateFormat::Github,
        None => github::in_actions(),
    };
    if annotate {
        github::annotate(&report.errors);
    }
    Ok(ExitCode::FAILURE)
}
