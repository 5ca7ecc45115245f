//! The Git-driven verbs: `plan`, `apply`, `outdated`, `validate`.
//!
//! All of them start from the same place: the declaration resolved with
//! the lock's pins (a dry-run build: nothing fetched or written). `plan`
//! compares that with the last applied state kept in git (or with the
//! declaration and lock at `--base REV`); `apply` builds, then records the
//! lock and the state; `validate` reports every problem with file:line:col.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assemble::build::{self, BuildOptions, BuildReport, Output};
use assemble::config::{self, ImageSpec};
use assemble::lock::{self, Lock};
use assemble::plan::{self, Plan};
use assemble::state::{self, AppliedState, ImageState, PlatformState};
use miette::{miette, IntoDiagnostic, Result};

use super::build::{declaration, load, source_date_epoch, spec};
use super::github;

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

/// The lock's pins per architecture for `image`, minus `--update` ones.
fn pins(
    lock: &Lock,
    image: &str,
    update: Option<&Vec<String>>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if update.is_some_and(|u| u.is_empty()) {
        return out;
    }
    if let Some(img) = lock.images.iter().find(|i| i.name == image) {
        for p in &img.platforms {
            let map: BTreeMap<String, String> = p
                .packages
                .iter()
                .filter(|k| !update.is_some_and(|u| u.contains(&k.name)))
                .map(|k| (k.name.clone(), k.version.clone()))
                .collect();
            out.insert(p.arch.clone(), map);
        }
    }
    out
}

/// Resolves `image` without writing anything.
fn dry_run(
    image: &ImageSpec,
    lock: &Lock,
    resolution: &Resolution,
    locked: bool,
) -> Result<BuildReport, build::BuildError> {
    let options = BuildOptions {
        offline: resolution.offline,
        pins: pins(lock, &image.name, resolution.update.as_ref()),
        locked,
        dry_run: true,
        ..Default::default()
    };
    build::build(&spec(image), &default_output(image), &options, &|_| {})
}

fn default_output(image: &ImageSpec) -> Output {
    Output::Layout(PathBuf::from("target/assemble").join(&image.name))
}

/// The declared parts of `image` with the given per-architecture facts.
fn declared_state(image: &ImageSpec, platforms: Vec<PlatformState>) -> ImageState {
    ImageState {
        name: image.name.clone(),
        source: image.source.clone(),
        tags: image.tags.clone(),
        annotations: image.annotations.clone(),
        environment: image.environment.clone(),
        platforms,
    }
}

/// The state an image will have once applied.
fn image_state(image: &ImageSpec, report: &BuildReport) -> ImageState {
    let platforms = report
        .platforms
        .iter()
        .map(|p| PlatformState {
            arch: p.arch.clone(),
            source_digest: p.source_digest.clone(),
            image_digest: (!p.manifest_digest.is_empty()).then(|| p.manifest_digest.clone()),
            packages: p.packages.clone(),
        })
        .collect();
    declared_state(image, platforms)
}

/// The desired state of every image of the declaration.
fn desired(images: &[ImageSpec], lock: &Lock, resolution: &Resolution) -> Result<Vec<ImageState>> {
    images
        .iter()
        .map(|i| {
            let report =
                dry_run(i, lock, resolution, false).map_err(|e| miette!("{}: {e}", i.name))?;
            Ok(image_state(i, &report))
        })
        .collect()
}

/// The images as declared and locked at `rev` (read from git objects).
fn state_at(decl: &Path, rev: &str) -> Result<Vec<ImageState>> {
    let dir = decl.parent().unwrap_or(Path::new("."));
    let text = state::file_at(dir, rev, decl)
        .map_err(|e| miette!("{e}"))?
        .ok_or_else(|| miette!("{} does not exist at {rev}", decl.display()))?;
    let images =
        config::parse_str(&text, decl).map_err(|e| miette!("{} at {rev}: {e}", decl.display()))?;
    let lock_text = state::file_at(dir, rev, &lock::lock_path(decl)).map_err(|e| miette!("{e}"))?;
    let lock = match lock_text {
        Some(t) => {
            Lock::parse(&t, &lock::lock_path(decl)).map_err(|e| miette!("{e} (at {rev})"))?
        }
        None => Lock::default(),
    };
    Ok(images
        .iter()
        .map(|i| {
            let platforms = lock
                .images
                .iter()
                .find(|l| l.name == i.name)
                .map(|l| {
                    l.platforms
                        .iter()
                        .cloned()
                        .map(PlatformState::from)
                        .collect()
                })
                .unwrap_or_default();
            declared_state(i, platforms)
        })
        .collect())
}

fn compute_plan(
    decl: &Path,
    images: &[ImageSpec],
    base: Option<&str>,
    resolution: &Resolution,
) -> Result<Plan> {
    let lock = lock::read(decl).map_err(|e| miette!("{e}"))?;
    let want = desired(images, &lock, resolution)?;
    let dir = decl.parent().unwrap_or(Path::new("."));
    let old = match base {
        Some(rev) => Some(state_at(decl, rev)?),
        None => state::read(dir)
            .map_err(|e| miette!("{e}"))?
            .map(|s| s.images),
    };
    // Compare what matters for the image, not output digests.
    let strip = |v: Vec<ImageState>| -> Vec<ImageState> {
        v.into_iter()
            .map(|mut i| {
                for p in &mut i.platforms {
                    p.image_digest = None;
                    for k in &mut p.packages {
                        k.checksum.clear();
                        k.repository.clear();
                    }
                }
                i
            })
            .collect()
    };
    Ok(plan::diff(old.map(strip).as_deref(), &strip(want)))
}

pub fn plan(args: PlanArgs) -> Result<ExitCode> {
    let decl = declaration(args.path.as_deref())?;
    let plan = load(&decl)
        .and_then(|images| compute_plan(&decl, &images, args.base.as_deref(), &args.resolution));
    if args.github_comment {
        let markdown = match &plan {
            Ok(plan) => plan::render_markdown(plan),
            Err(e) => assemble::github::failure_markdown(&github::plain(e)),
        };
        github::comment(&decl, &markdown)?;
    }
    let plan = plan?;
    let text = match args.format {
        Format::Human => plan::render_human(&plan),
        Format::Json => plan::render_json(&plan),
        Format::Markdown => plan::render_markdown(&plan),
    };
    print!("{text}");
    if args.github_output {
        github::write_plan_outputs(&plan)?;
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Serialises applies of one project through a lock file next to the
/// declaration: a second apply waits for the first.
fn apply_lock(decl: &Path) -> Result<std::fs::File> {
    let path = decl
        .parent()
        .unwrap_or(Path::new("."))
        .join(".assembly-apply.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| miette!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another apply in this project to finish ({})",
                path.display()
            );
            file.lock()
                .map_err(|e| miette!("cannot lock {}: {e}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(miette!("cannot lock {}: {e}", path.display()))
        }
    }
    Ok(file)
}

pub fn apply(args: ApplyArgs) -> Result<ExitCode> {
    let decl = declaration(args.path.as_deref())?;
    let _guard = apply_lock(&decl)?;
    let images = load(&decl)?;
    let plan = compute_plan(&decl, &images, None, &args.resolution)?;
    if plan.is_empty() {
        println!("No changes. Nothing to apply.");
        if args.github_output {
            github::write_apply_outputs(&plan, &[])?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", plan::render_human(&plan));
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(miette!(
                "not on a terminal: pass --auto-approve to apply without confirmation"
            ));
        }
        print!("Apply these changes? [y/N] ");
        std::io::stdout().flush().into_diagnostic()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).into_diagnostic()?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Apply cancelled.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let mut lock = lock::read(&decl).map_err(|e| miette!("{e}"))?;
    let mut state = AppliedState {
        version: 1,
        applied_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        images: Vec::new(),
    };
    let mut built = Vec::new();
    for image in &images {
        let options = BuildOptions {
            offline: args.resolution.offline,
            source_date_epoch: source_date_epoch()?,
            pins: pins(&lock, &image.name, args.resolution.update.as_ref()),
            locked: args.locked,
            ..Default::default()
        };
        let output = default_output(image);
        let report = build::build(&spec(image), &output, &options, &|_| {})
            .map_err(|e| miette!("{}: {e}", image.name))?;
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        let applied = image_state(image, &report);
        for p in &applied.platforms {
            lock.set_platform(&image.name, p.clone().into());
        }
        println!("built {} → {}", image.name, report.output.display());
        state.images.push(applied);
        built.push((image.name.clone(), report));
    }
    let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
    lock.retain_images(&names);
    lock.version = 1;
    lock::write(&decl, &lock).map_err(|e| miette!("{e}"))?;
    let dir = decl.parent().unwrap_or(Path::new("."));
    let message = format!("cargo-assemble apply: {}", names.join(", "));
    state::write(dir, &state, &message).map_err(|e| miette!("{e}"))?;
    println!(
        "Applied. The state is recorded in {} (push it with `git push origin 'refs/assembly/*'`).",
        state::STATE_REF
    );
    if args.github_output {
        github::write_apply_outputs(&plan, &built)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn outdated(args: OutdatedArgs) -> Result<ExitCode> {
    let decl = declaration(args.path.as_deref())?;
    let images = load(&decl)?;
    let lock = lock::read(&decl).map_err(|e| miette!("{e}"))?;
    let fresh = Resolution {
        update: Some(Vec::new()),
        offline: args.offline,
    };
    let mut any = false;
    for image in &images {
        let newest =
            dry_run(image, &lock, &fresh, false).map_err(|e| miette!("{}: {e}", image.name))?;
        for p in &newest.platforms {
            let locked = lock.platform(&image.name, &p.arch);
            let pins = locked.map(lock::pins).unwrap_or_default();
            for k in &p.packages {
                match pins.get(k.name.as_str()) {
                    Some(v) if *v != k.version => {
                        any = true;
                        println!(
                            "{} {}: {} {} -> {} available",
                            image.name, p.arch, k.name, v, k.version
                        );
                    }
                    _ => {}
                }
            }
            if let Some(l) = locked {
                if l.source_digest != p.source_digest {
                    any = true;
                    println!(
                        "{} {}: source image {} -> {} ({})",
                        image.name, p.arch, l.source_digest, p.source_digest, image.source
                    );
                }
            }
        }
    }
    if !any {
        println!("Everything is up to date.");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let decl = declaration(args.path.as_deref())?;
    let annotate = match args.format {
        Some(f) => f == ValidateFormat::Github,
        None => github::in_actions(),
    };
    let report = |errors: &config::ConfigErrors| {
        eprintln!("{errors}");
        if annotate {
            github::annotate(errors);
        }
        ExitCode::FAILURE
    };
    let images = match config::load(&decl) {
        Ok(i) => i,
        Err(errors) => return Ok(report(&errors)),
    };
    let text = std::fs::read_to_string(&decl).unwrap_or_default();
    let mut errors = config::ConfigErrors::new(&decl, text);
    let lock = lock::read(&decl).map_err(|e| miette!("{e}"))?;
    let resolution = Resolution {
        update: None,
        offline: args.offline,
    };
    for image in &images {
        // The usual case, a valid declaration, costs one resolution; only a
        // failure is resolved again without the lock to tell a stale lock
        // from a declaration that cannot resolve at all.
        let has_lock = lock.images.iter().any(|l| l.name == image.name);
        let Err(first) = dry_run(image, &lock, &resolution, has_lock) else {
            continue;
        };
        let e = match has_lock.then(|| dry_run(image, &lock, &resolution, false)) {
            Some(Ok(_)) => {
                errors.push(
                    image.name_span.clone(),
                    format!("image '{}': {first}", image.name),
                    Some("run `cargo assemble apply` (or build) to update assembly.lock".into()),
                );
                continue;
            }
            Some(Err(e)) => e,
            None => first,
        };
        let message = e.to_string();
        // Point at the package the explanation names, else at the image.
        let span = image
            .packages
            .iter()
            .zip(&image.package_spans)
            .find(|(p, _)| {
                let name = p.split(['<', '>', '=', '~', '@']).next().unwrap_or(p);
                message.contains(&format!("  {name} (")) || message.contains(&format!("  {name}-"))
            })
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| image.name_span.clone());
        errors.push(span, format!("image '{}': {message}", image.name), None);
    }
    if errors.is_empty() {
        println!("{}: valid", decl.display());
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(report(&errors))
    }
}
