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
use assemble_service::api::BuildResult;
use assemble_service::remote;
use miette::{IntoDiagnostic, Result};

use super::builds::EscapedLines;
use super::github;
use super::render::{self, Terminal};
use super::serve::Remote;

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
    /// Plan against a build service (--server URL or CARGO_ASSEMBLE_SERVER): its stored
    /// declarations and last successful builds.
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Fail if assembly.lock would change (for CI): the same package versions, the same
    /// source digests.
    #[arg(long)]
    pub locked: bool,
    /// Print a JSON report per image on stdout (the plan goes to stderr): digests per
    /// platform and every pushed reference.
    #[arg(long)]
    pub json: bool,
    /// In GitHub Actions: append the `changes`, `digest` and `images` outputs to
    /// $GITHUB_OUTPUT and a summary to $GITHUB_STEP_SUMMARY.
    #[arg(long)]
    pub github_output: bool,
    #[command(flatten)]
    pub resolution: Resolution,
    /// Submit to a build service (--server URL or CARGO_ASSEMBLE_SERVER) instead of
    /// building locally.
    #[command(flatten)]
    pub remote: Remote,
    /// With a server: follow each build's log until it ends; exit 1 if one fails.
    #[arg(long)]
    pub wait: bool,
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
    let remote = args.remote.requested();
    if remote {
        local_only(&[
            ("--base", args.base.is_some()),
            ("--update", args.resolution.update.is_some()),
            ("--offline", args.resolution.offline),
        ])?;
    }
    let options = PlanOptions {
        base: args.base,
        update: Update::from_args(args.resolution.update.clone()),
        fetch: args.resolution.fetch(),
    };
    let planned = Project::load(Some(&declaration))
        .map_err(miette::Report::new)
        .and_then(|project| {
            if remote {
                let client = args.remote.client()?;
                remote::plan(&client, &project).into_diagnostic()
            } else {
                plan::plan(&project, &options, &Terminal::new(false, false))
                    .map(|r| r.plan)
                    .map_err(miette::Report::new)
            }
        });
    if args.github_comment {
        let markdown = match &planned {
            Ok(plan) => render_plan::render_markdown(plan),
            Err(e) => assemble::github::failure_markdown(&render::plain(e)),
        };
        github::comment(&declaration, &markdown)?;
    }
    let plan = &planned?;
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

/// Refuses the options that only mean something locally.
fn local_only(flags: &[(&str, bool)]) -> Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => miette::bail!(
            "{flag} works on the local state; it cannot be combined with a server \
             (--server or CARGO_ASSEMBLE_SERVER)"
        ),
        None => Ok(()),
    }
}

pub fn apply(args: ApplyArgs) -> Result<ExitCode> {
    let project = Project::load(args.path.as_deref())?;
    if args.remote.requested() {
        return apply_remote(&args, &project);
    }
    if args.wait {
        miette::bail!("--wait follows a build service's builds: pass --server URL too");
    }
    let terminal = Terminal::new(false, args.json);
    let options = ApplyOptions {
        locked: args.locked,
        update: Update::from_args(args.resolution.update.clone()),
        fetch: args.resolution.fetch(),
        source_date_epoch: ops::source_date_epoch()?,
    };
    let pending = apply::prepare(&project, options, &terminal)?;
    let say = |text: &str| match args.json {
        true => render::eprint(text),
        false => render::print(text),
    };
    if pending.plan().is_empty() {
        say("No changes. Nothing to apply.");
        if args.json {
            println!("[]");
        }
        if args.github_output {
            github::write_apply_outputs(pending.plan(), &[])?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    say(&render_plan::render_human(pending.plan()));
    if !args.auto_approve && !confirm()? {
        say("Apply cancelled.");
        return Ok(ExitCode::FAILURE);
    }
    let plan = pending.plan().clone();
    let report = pending.apply(&terminal)?;
    say(&format!(
        "Applied. The state is recorded in {} (push it with `git push origin 'refs/assembly/*'`).",
        report.state_ref
    ));
    if args.json {
        let out: Vec<serde_json::Value> = report
            .images
            .iter()
            .map(|(name, r)| serde_json::json!({"image": name, "report": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out).into_diagnostic()?);
    }
    if args.github_output {
        github::write_apply_outputs(&plan, &report.images)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `apply --server`: submit each changed image, optionally wait for the
/// builds and record their locked versions in assembly.lock.
fn apply_remote(args: &ApplyArgs, project: &Project) -> Result<ExitCode> {
    local_only(&[
        ("--locked", args.locked),
        ("--update", args.resolution.update.is_some()),
        ("--offline", args.resolution.offline),
        ("--github-output", args.github_output),
    ])?;
    let client = args.remote.client()?;
    let plan = remote::plan(&client, project).into_diagnostic()?;
    if plan.is_empty() {
        render::print("No changes. Nothing to apply.");
        return Ok(ExitCode::SUCCESS);
    }
    render::print(&render_plan::render_human(&plan));
    if !args.auto_approve && !confirm()? {
        render::print("Apply cancelled.");
        return Ok(ExitCode::FAILURE);
    }
    let builds = remote::submit(&client, project, &plan).into_diagnostic()?;
    for b in &builds {
        render::print(&format!("{}: build {} queued", b.image, b.build_id));
    }
    if !args.wait {
        render::print("Follow a build with `cargo assemble builds logs ID --follow`.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for b in &builds {
        let mut log = EscapedLines::new(std::io::stderr().lock());
        let report = remote::wait(&client, b, &mut log).into_diagnostic()?;
        log.finish().into_diagnostic()?;
        if report.result == BuildResult::Success {
            remote::record_lock(project, &report).into_diagnostic()?;
            let digests: Vec<String> = report
                .digests
                .iter()
                .map(|(arch, digest)| format!("{arch} {digest}"))
                .collect();
            render::print(&format!("{}: built ({})", b.image, digests.join(", ")));
        } else {
            failed = true;
            let error = report.error.as_deref().unwrap_or("no reason given");
            render::eprint(&format!(
                "{}: build {} failed: {error}",
                b.image, b.build_id
            ));
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    render::print("Applied on the server; assembly.lock records the built versions.");
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
