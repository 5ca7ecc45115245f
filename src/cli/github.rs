//! Rendering for GitHub Actions: the plan's pull-request comment, error
//! annotations and step outputs (the logic is `assemble::github`).

use std::path::{Path, PathBuf};

use assemble::config::ConfigErrors;
use assemble::github::{self, Context, ImageOutput, Outcome};
use assemble::ops::build::BuildReport;
use assemble::plan::Plan;
use miette::{miette, Result};

/// True inside a GitHub Actions step.
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

fn workspace() -> Option<PathBuf> {
    std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from)
}

/// A warning on stderr; an annotation too inside Actions.
fn warn(text: &str) {
    if in_actions() {
        eprintln!("::warning::{text}");
    } else {
        eprintln!("warning: {text}");
    }
}

/// Writes `markdown` as the pull request's plan comment for `decl`.
/// Reasons not to comment (no token, no pull request, a fork's read-only
/// token) are warnings; a failing API call is an error.
pub fn comment(decl: &Path, markdown: &str) -> Result<()> {
    let ws = workspace();
    let marker = github::marker(&github::workspace_path(decl, ws.as_deref()));
    let body = github::comment_body(&marker, markdown);
    match github::upsert_comment(&Context::from_env(), &marker, &body) {
        Ok(Outcome::Created(c)) => eprintln!("commented on the pull request: {}", c.url),
        Ok(Outcome::Updated(c)) => eprintln!("updated the pull request's comment: {}", c.url),
        Ok(Outcome::Skipped(why)) => warn(&why.to_string()),
        Err(e) => return Err(miette!("cannot write the pull request's comment: {e}")),
    }
    Ok(())
}

/// Prints an `::error file=…,line=…::` line per error.
pub fn annotate(errors: &ConfigErrors) {
    for line in github::annotations(errors, workspace().as_deref()) {
        println!("{line}");
    }
}

/// Appends outputs to the step's `$GITHUB_OUTPUT` file.
fn write_outputs(outputs: &[(&str, String)]) -> Result<()> {
    let path = std::env::var_os("GITHUB_OUTPUT")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            miette!("--github-output: GITHUB_OUTPUT is not set (not in a GitHub Actions step)")
        })?;
    github::append_outputs(Path::new(&path), outputs)
        .map_err(|e| miette!("cannot write {}: {e}", Path::new(&path).display()))
}

/// Appends `text` to the job summary when `$GITHUB_STEP_SUMMARY` is set.
fn append_summary(text: &str) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| miette!("cannot write {}: {e}", Path::new(&path).display()))
}

/// `plan --github-output`: `changes`, and the Markdown plan as the summary.
pub fn write_plan_outputs(plan: &Plan) -> Result<()> {
    write_outputs(&[("changes", (!plan.is_empty()).to_string())])?;
    append_summary(&assemble::plan::render_markdown(plan))
}

/// `apply --github-output`: `changes`, `digest`, `images`, and the summary
/// (the plan applied and the images built).
pub fn write_apply_outputs(plan: &Plan, built: &[(String, BuildReport)]) -> Result<()> {
    let markdown = assemble::plan::render_markdown(plan);
    let changes = ("changes", (!plan.is_empty()).to_string());
    write_image_outputs("apply", Some(&markdown), built, changes)
}

/// `build --github-output`: `digest`, `images` and the summary.
pub fn write_build_outputs(built: &[(String, BuildReport)]) -> Result<()> {
    write_image_outputs("build", None, built, ("changes", "true".into()))
}

fn write_image_outputs(
    command: &str,
    plan: Option<&str>,
    built: &[(String, BuildReport)],
    changes: (&str, String),
) -> Result<()> {
    let images: Vec<ImageOutput> = built
        .iter()
        .map(|(name, report)| ImageOutput::new(name, report))
        .collect();
    let mut outputs = vec![changes];
    outputs.extend(github::image_outputs(&images));
    write_outputs(&outputs)?;
    append_summary(&github::summary_markdown(command, plan, &images))
}

/// The CI systems `init --ci` writes a workflow for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    /// GitHub Actions: .github/workflows/assemble.yml.
    Github,
}

impl Ci {
    /// The library's name for it.
    pub fn into_ops(self) -> assemble::ops::init::Ci {
        match self {
            Ci::Github => assemble::ops::init::Ci::Github,
        }
    }
}
