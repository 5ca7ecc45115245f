//! Rendering for GitHub Actions: the plan's pull-request comment, error
//! annotations and step outputs (the logic is `assemble::github`).

use std::path::{Path, PathBuf};

use assemble::build::BuildReport;
use assemble::config::ConfigErrors;
use assemble::github::{self, Context, ImageOutput, Outcome};
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

/// The plain-text report of `error` for a comment (no colours, no hook).
pub fn plain(error: &miette::Report) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(usize::MAX);
    if handler.render_report(&mut out, error.as_ref()).is_err() {
        out = format!("{error}");
    }
    out
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

/// The workflow template (`templates/github/assemble.yml`).
const WORKFLOW: &str = include_str!("../../templates/github/assemble.yml");

impl Ci {
    /// Where the workflow for a declaration in `dir` goes and its text:
    /// GitHub reads workflows only at the root of the repository, so at the
    /// root of the git work tree holding `dir` (else in `dir`), naming
    /// `dir` relative to it. Refuses to replace a file unless `force`.
    pub fn workflow(self, dir: &Path, force: bool) -> Result<(PathBuf, String)> {
        let dir = dir
            .canonicalize()
            .map_err(|e| miette!("cannot read {}: {e}", dir.display()))?;
        let root = dir
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&dir);
        let relative = github::workspace_path(&dir, Some(root));
        let relative = if relative.is_empty() {
            ".".into()
        } else {
            relative
        };
        // A YAML single-quoted scalar holds any path.
        let value = format!("'{}'", relative.replace('\'', "''"));
        let text = WORKFLOW.replace(
            "\n  ASSEMBLY_PATH: .\n",
            &format!("\n  ASSEMBLY_PATH: {value}\n"),
        );
        let path = root.join(".github/workflows/assemble.yml");
        if path.exists() && !force {
            return Err(miette!(
                help = "pass --force to replace it",
                "{} already exists; not overwriting it",
                path.display()
            ));
        }
        std::fs::create_dir_all(path.parent().unwrap_or(root))
            .map_err(|e| miette!("cannot create {}: {e}", path.display()))?;
        Ok((path, text))
    }
}
