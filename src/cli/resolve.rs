//! `cargo assemble resolve`: what adding packages to an image would install.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use apk::database::InstalledDb;
use apk::dependency::{Context, Dependency};
use apk::index::text::{self, Strictness, Validation};
use apk_solve::resolve::{Index, Inputs, Installed};
use apk_solve::{resolve, universe, ChangeKind, Policy, ResolveError, ResolveRequest};
use miette::{miette, IntoDiagnostic, Result};
use serde::Serialize;

use super::repo_args::RepoArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Packages to add (dependency atoms: name, name>=1.2, so:libz.so.1, …).
    #[arg(required = true, value_name = "PKG")]
    pub packages: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The source image's installed database (lib/apk/db/installed); empty when omitted.
    #[arg(long, value_name = "PATH")]
    pub installed: Option<PathBuf>,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    action: &'static str,
    name: &'a str,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_version: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    changes: Vec<JsonChange<'a>>,
}

fn action(kind: ChangeKind) -> Option<&'static str> {
    Some(match kind {
        ChangeKind::Install => "install",
        ChangeKind::Upgrade => "upgrade",
        ChangeKind::Downgrade => "downgrade",
        ChangeKind::Purge => "remove",
        ChangeKind::Replace | ChangeKind::Reinstall | ChangeKind::UpdatePinning => "replace",
        ChangeKind::None => return None,
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let atoms: Vec<Dependency<'_>> = args
        .packages
        .iter()
        .map(|p| {
            Dependency::parse(p, Context::World)
                .map_err(|e| miette!("{e}; the form is name(@tag)([<>~=]version)"))
        })
        .collect::<Result<_>>()?;
    let indexes = args.repo.load()?;
    let names: Vec<String> = indexes
        .iter()
        .map(|i| format!("{}:APKINDEX", i.path.display()))
        .collect();
    let parsed: Vec<_> = indexes
        .iter()
        .zip(&names)
        .map(|(i, n)| {
            text::parse_with(
                &i.archive.text,
                n,
                Strictness::Lenient,
                Validation::Deferred,
            )
            .into_diagnostic()
        })
        .collect::<Result<_>>()?;
    let installed_text = match &args.installed {
        Some(p) => Some(std::fs::read(p).map_err(|e| miette!("cannot read {}: {e}", p.display()))?),
        None => None,
    };
    let installed = match (&installed_text, &args.installed) {
        (Some(bytes), Some(path)) => {
            InstalledDb::from_bytes(bytes, &path.display().to_string()).into_diagnostic()?
        }
        _ => InstalledDb::new(),
    };
    let installed_infos: Vec<_> = installed.records.iter().map(|r| r.info()).collect();

    let arch = args.repo.arch().to_owned();
    let labels: Vec<String> = indexes
        .iter()
        .map(|i| i.path.display().to_string())
        .collect();
    let repos: Vec<Index<'_, '_>> = parsed
        .iter()
        .zip(&labels)
        .map(|(idx, label)| Index::new(label, &idx.records))
        .collect();
    let base: Vec<Installed<'_>> = installed_infos
        .iter()
        .map(|info| Installed { info, tag: None })
        .collect();
    let mut db = universe(&Inputs {
        arches: &[arch.as_str(), "noarch"],
        indexes: &repos,
        installed: &base,
        ..Default::default()
    })
    .into_diagnostic()?;
    let broken = db
        .packages
        .iter()
        .filter(|p| p.installed.is_none() && !p.uninstallable.is_empty())
        .count();
    if broken > 0 {
        eprintln!(
            "warning: the indexes contain {broken} packages which are not installable here (malformed or for \
             another architecture; see `cargo assemble search`)"
        );
    }

    // The base stays (the image policy); the requested atoms are the world.
    let request = ResolveRequest {
        world: atoms,
        policy: Policy::Image,
        ..Default::default()
    };
    let solution = match resolve(&mut db, &request) {
        Ok(r) => r.solution,
        Err(ResolveError::MissingTags { atoms }) => {
            return Err(miette!("no repository has the tag of {}", atoms.join(", ")))
        }
        Err(e) => {
            let mut report = e.report().cloned().unwrap_or_default();
            report
                .hints
                .extend(super::hints::missing_name_hints(&args.repo, &report));
            eprint!("{}", report.render(usize::MAX));
            return Ok(ExitCode::FAILURE);
        }
    };

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let changes: Vec<JsonChange<'_>> = solution
        .changes
        .iter()
        .filter_map(|c| {
            let action = action(c.kind(&db))?;
            let shown = &db.packages[c.new.or(c.old)?];
            Some(JsonChange {
                action,
                name: db.name_str(shown.name),
                version: shown.version,
                old_version: match (c.old, c.new) {
                    (Some(o), Some(_)) => Some(db.packages[o].version),
                    _ => None,
                },
            })
        })
        .collect();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &JsonOutput { changes }).into_diagnostic()?;
        writeln!(out).into_diagnostic()?;
    } else {
        for c in &changes {
            let sign = match c.action {
                "install" => "+",
                "remove" => "-",
                _ => "~",
            };
            writeln!(out, "{sign} {} {}", c.name, c.version).into_diagnostic()?;
        }
    }
    out.flush().into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}
