//! Runs apk-tools' solver test suite through our resolver (apk policy).
//!
//! Reads every `*.test` in `$APK_SOLVER_CORPUS` (default
//! `../shared/corpus/apk-solver`), builds the repositories, installed
//! database and world it describes, applies the `@ARGS` command the way
//! `apk` would, and compares our output with `@EXPECT`: the change lines and
//! summary exactly; for an `ERROR:` expectation, that solving fails and our
//! report names the same packages. `fix` and self-upgrade cases are skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cargo_assemble::database::InstalledDb;
use cargo_assemble::dependency::{Constraint, Context, Dependency};
use cargo_assemble::index::text::{self, Strictness};
use cargo_assemble::package::PackageInfo;
use cargo_assemble::solve::db::Uninstallable;
use cargo_assemble::solve::{self, flags, ChangeKind, Db, Request, DEFAULT_TAG};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("APK_SOLVER_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/apk-solver"),
    }
}

#[derive(Default, Debug)]
struct Case {
    args: Vec<String>,
    repos: Vec<(Option<String>, String)>,
    installed: Option<String>,
    world: Vec<String>,
    cache: Vec<String>,
    expect: String,
}

fn parse_case(text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("@ARGS") => case.args.extend(words.map(str::to_owned)),
            Some("@REPO") => {
                let a: Vec<&str> = words.collect();
                match a.as_slice() {
                    [tag, file] if tag.starts_with('@') => case
                        .repos
                        .push((Some(tag[1..].to_owned()), file.to_string())),
                    [file] => case.repos.push((None, file.to_string())),
                    _ => return Err(format!("bad @REPO line: {line}")),
                }
            }
            Some("@INSTALLED") => case.installed = words.next().map(str::to_owned),
            Some("@WORLD") => case.world.extend(words.map(str::to_owned)),
            Some("@CACHE") => case.cache.extend(words.map(str::to_owned)),
            Some("@EXPECT") => {
                case.expect = lines.by_ref().map(|l| format!("{l}\n")).collect();
                break;
            }
            Some(w) if w.starts_with('@') => return Err(format!("unknown directive {w}")),
            _ => {}
        }
    }
    Ok(case)
}

/// The parsed command line.
#[derive(Default, Debug)]
struct Command {
    applet: String,
    args: Vec<String>,
    no_network: bool,
    force_broken_world: bool,
    verbose: bool,
    latest: bool,
    upgrade: bool,
    available: bool,
    prune: bool,
    virtual_pkg: Option<String>,
    ignore: Vec<String>,
    skip: Option<String>,
}

fn parse_command(args: &[String]) -> Command {
    let mut c = Command::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-network" => c.no_network = true,
            "--force-broken-world" => c.force_broken_world = true,
            "-v" | "--verbose" => c.verbose = true,
            "-l" | "--latest" => c.latest = true,
            "-u" | "--upgrade" => c.upgrade = true,
            "-a" | "--available" => c.available = true,
            "--prune" => c.prune = true,
            "-t" | "--virtual" => c.virtual_pkg = it.next().cloned(),
            "--ignore" => c.ignore.extend(it.next().cloned()),
            "--self-upgrade-only" | "--preupgrade-only" | "--preupgrade-depends" => {
                c.skip = Some("self-upgrade".into());
                if a == "--preupgrade-depends" {
                    it.next();
                }
            }
            a if a.starts_with("--root-tmpfs") || a == "--simulate" => {}
            "add" | "del" | "upgrade" | "fix" if c.applet.is_empty() => c.applet = a.to_owned(),
            other => c.args.push(other.to_owned()),
        }
    }
    if c.applet == "fix" {
        c.skip = Some("fix".into());
    }
    c
}

fn humanize(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 10000.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i < 2 {
        format!("{} {}", v as u64, units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn run_case(dir: &Path, name: &str) -> Outcome {
    let text = match std::fs::read_to_string(dir.join(format!("{name}.test"))) {
        Ok(t) => t,
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    let case = match parse_case(&text) {
        Ok(c) => c,
        Err(e) => return Outcome::Fail(e),
    };
    let cmd = parse_command(&case.args);
    if let Some(why) = &cmd.skip {
        return Outcome::Skip(why.clone());
    }
    match render(dir, &case, &cmd) {
        Err(e) => Outcome::Fail(e),
        Ok((out, failed_names)) => {
            if out == case.expect {
                return Outcome::Pass;
            }
            if case.expect.starts_with("ERROR: unable to select packages")
                || case.expect.contains("\nERROR: unable to select packages")
            {
                let want: BTreeSet<String> = case
                    .expect
                    .lines()
                    .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
                    .map(|l| l.trim().trim_end_matches(':').to_owned())
                    .collect();
                if let Some(got) = failed_names {
                    if want == got {
                        return Outcome::Pass;
                    }
                }
            }
            Outcome::Fail(format!("\n--- expected\n{}--- got\n{}", case.expect, out))
        }
    }
}

/// Runs the case and returns its output, plus the block subjects when
/// solving failed.
fn render(
    dir: &Path,
    case: &Case,
    cmd: &Command,
) -> Result<(String, Option<BTreeSet<String>>), String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{f}: {e}"));
    let repo_texts: Vec<String> = case
        .repos
        .iter()
        .map(|(_, f)| read(f))
        .collect::<Result<_, _>>()?;
    let cache_texts: Vec<String> = case
        .cache
        .iter()
        .map(|f| read(f))
        .collect::<Result<_, _>>()?;
    let installed_text = case.installed.as_deref().map(read).transpose()?;

    let repo_indexes: Vec<_> = repo_texts
        .iter()
        .zip(&case.repos)
        .map(|(t, (_, f))| text::parse(t, f, Strictness::Lenient).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let cache_indexes: Vec<_> = cache_texts
        .iter()
        .zip(&case.cache)
        .map(|(t, f)| text::parse(t, f, Strictness::Lenient).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let installed_db = match &installed_text {
        Some(t) => InstalledDb::parse(t, "installed").map_err(|e| e.to_string())?,
        None => InstalledDb::new(),
    };
    let installed_infos: Vec<(PackageInfo<'_>, Option<String>)> = installed_db
        .records
        .iter()
        .map(|r| {
            let tag = r
                .lines()
                .iter()
                .find(|l| l.letter == b's')
                .map(|l| l.value.clone());
            (r.info(), tag)
        })
        .collect();

    let mut out = String::new();
    let mut db = Db::new(&["x86_64"]);
    for (idx, (tag, file)) in repo_indexes.iter().zip(&case.repos) {
        db.add_repository(
            file,
            tag.as_deref(),
            !cmd.no_network,
            false,
            idx.records.iter().map(|r| &r.info),
        )
        .map_err(|e| e.to_string())?;
    }
    for (idx, file) in cache_indexes.iter().zip(&case.cache) {
        db.add_repository(file, None, true, true, idx.records.iter().map(|r| &r.info))
            .map_err(|e| e.to_string())?;
    }
    for (info, tag) in &installed_infos {
        db.add_installed(info, tag.as_deref());
    }

    // The virtual package of `add -t NAME=VERSION deps…`.
    let virtual_info;
    let mut virtual_world = None;
    if let Some(spec) = &cmd.virtual_pkg {
        let (name, version) = spec.split_once('=').unwrap_or((spec.as_str(), "0"));
        if !cargo_assemble::version::is_valid(version) || name.is_empty() {
            return Ok((format!("ERROR: {spec}: bad package specifier\n"), None));
        }
        if cmd.args.is_empty() {
            out.push_str("WARNING: creating empty virtual package\n");
        }
        virtual_info = PackageInfo {
            name: name.into(),
            version: version.into(),
            depends: cmd.args.join(" ").into(),
            installed_size: Some(0),
            ..Default::default()
        };
        db.add_virtual(&virtual_info);
        virtual_world = Some(name.to_owned());
    }
    db.finish();

    let broken_indexes = repo_indexes
        .iter()
        .chain(&cache_indexes)
        .flat_map(|i| &i.records)
        .any(|r| !r.problems.is_empty());
    if broken_indexes {
        out.push_str("WARNING: The indexes contain broken packages which are not installable.\n");
    }

    // World: the installed world, then the command's changes.
    let mut world: Vec<(String, Option<String>)> = Vec::new();
    let set_world = |world: &mut Vec<(String, Option<String>)>, atom: &str| {
        let name = atom
            .trim_start_matches('!')
            .split(['<', '>', '=', '~', '@'])
            .next()
            .unwrap_or("")
            .to_owned();
        world.retain(|(a, _)| {
            a.trim_start_matches('!')
                .split(['<', '>', '=', '~', '@'])
                .next()
                .unwrap_or("")
                != name
        });
        world.push((atom.to_owned(), None));
    };
    for w in &case.world {
        set_world(&mut world, w);
    }
    let mut req = Request::default();
    match cmd.applet.as_str() {
        "add" => {
            if let Some(v) = &virtual_world {
                set_world(&mut world, v);
            } else {
                for a in &cmd.args {
                    if Dependency::parse(a, Context::World).is_err() {
                        return Ok((
                            format!("ERROR: '{a}' is not a valid world dependency, format is name(@tag)([<>~=]version)\n"),
                            None,
                        ));
                    }
                    set_world(&mut world, a);
                }
            }
        }
        "del" => {
            for a in &cmd.args {
                world.retain(|(w, _)| {
                    w.trim_start_matches('!')
                        .split(['<', '>', '=', '~', '@'])
                        .next()
                        != Some(a.as_str())
                });
                if let Some(n) = db.lookup(a) {
                    req.name_flags.push((n, flags::REMOVE, 0));
                }
            }
        }
        "upgrade" => {
            if cmd.args.is_empty() {
                req.flags |= flags::UPGRADE;
            }
            if cmd.prune {
                // Installed packages no repository has any more leave the world.
                for &p in &db.installed {
                    let pkg = &db.packages[p];
                    if pkg.repos == 0 && !pkg.virtual_package {
                        let name = db.name_str(pkg.name);
                        world.retain(|(w, _)| {
                            w.trim_start_matches('!')
                                .split(['<', '>', '=', '~', '@'])
                                .next()
                                != Some(name)
                        });
                    }
                }
            } else if !cmd.available && cmd.verbose {
                let mut gone: Vec<&str> = db
                    .installed
                    .iter()
                    .filter(|&&p| db.packages[p].repos == 0 && !db.packages[p].virtual_package)
                    .map(|&p| db.name_str(db.packages[p].name))
                    .collect();
                gone.sort();
                if !gone.is_empty() {
                    out.push_str(
                        "NOTE: Consider running apk upgrade with --prune and/or --available.\n",
                    );
                    out.push_str(
                        "The following packages are no longer available from a repository:\n",
                    );
                    out.push_str(&format!("  {}\n", gone.join(" ")));
                }
            }
        }
        _ => return Err(format!("unsupported applet '{}'", cmd.applet)),
    }
    if cmd.latest {
        req.flags |= flags::LATEST;
    }
    if cmd.available {
        req.flags |= flags::AVAILABLE;
    }
    req.force_broken_world = cmd.force_broken_world;
    let world_atoms: Vec<Dependency<'_>> = world
        .iter()
        .map(|(w, _)| Dependency::parse(w, Context::World).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    for atom in &world_atoms {
        let tag = match atom.tag {
            Some(t) => db.find_tag(t).unwrap_or(DEFAULT_TAG),
            None => DEFAULT_TAG,
        };
        let dep = db.world_dep(*atom);
        req.world.push((dep, tag));
    }
    if cmd.applet == "upgrade" && !cmd.args.is_empty() {
        for a in &cmd.args {
            if let Some(n) = db.lookup(a) {
                req.name_flags.push((n, flags::UPGRADE, 0));
            }
        }
    }
    if cmd.applet == "add" && cmd.upgrade {
        req.flags |= flags::UPGRADE;
    }
    let _ = Constraint::Any;
    let _ = Uninstallable::Arch(String::new());

    match solve::solve(&db, &req) {
        Err(e) => {
            out.push_str(&e.report.render(50));
            let names = e.report.blocks.iter().map(|b| b.subject.clone()).collect();
            Ok((out, Some(names)))
        }
        Ok(solution) => {
            let effective: Vec<_> = solution.effective(&db).collect();
            let n = effective.len();
            let width = n.to_string().len();
            for (i, c) in effective.iter().enumerate() {
                let kind = c.kind(&db);
                let verb = match kind {
                    ChangeKind::Install => "Installing",
                    ChangeKind::Purge => "Purging",
                    ChangeKind::Upgrade => "Upgrading",
                    ChangeKind::Downgrade => "Downgrading",
                    ChangeKind::Replace => "Replacing",
                    ChangeKind::Reinstall => "Reinstalling",
                    ChangeKind::UpdatePinning => "Updating pinning",
                    ChangeKind::None => continue,
                };
                let shown = c.new.or(c.old).unwrap_or(0);
                let pkg = &db.packages[shown];
                let mut label = db.name_str(pkg.name).to_owned();
                if c.new.is_some() && c.new_tag != DEFAULT_TAG {
                    label = format!("{label}@{}", db.tags[c.new_tag].name);
                }
                let version = match (c.old, c.new, kind) {
                    (
                        Some(o),
                        Some(nw),
                        ChangeKind::Upgrade | ChangeKind::Downgrade | ChangeKind::Replace,
                    ) => {
                        format!("{} -> {}", db.packages[o].version, db.packages[nw].version)
                    }
                    _ => pkg.version.to_owned(),
                };
                out.push_str(&format!(
                    "({:>width$}/{n}) {verb} {label} ({version})\n",
                    i + 1
                ));
            }
            // State after the transaction.
            let mut installed: Vec<usize> = db.installed.clone();
            for c in &solution.changes {
                if let Some(o) = c.old {
                    installed.retain(|&p| p != o);
                }
                if let Some(nw) = c.new {
                    if !installed.contains(&nw) {
                        installed.push(nw);
                    }
                }
            }
            let size: u64 = installed
                .iter()
                .map(|&p| db.packages[p].info.installed_size.unwrap_or(0))
                .sum();
            if cmd.verbose {
                out.push_str(&format!(
                    "OK: {} packages, 0 dirs, 0 files, {}\n",
                    installed.len(),
                    humanize(size)
                ));
            } else {
                out.push_str(&format!(
                    "OK: {} in {} packages\n",
                    humanize(size),
                    installed.len()
                ));
            }
            Ok((out, None))
        }
    }
}

fn main() -> ExitCode {
    let dir = corpus_dir();
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".test"))
                    .map(str::to_owned)
            })
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e} (set APK_SOLVER_CORPUS)", dir.display());
            return ExitCode::FAILURE;
        }
    };
    names.sort();
    if let Ok(only) = std::env::var("APK_SOLVER_ONLY") {
        names.retain(|n| *n == only);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for name in &names {
        match run_case(&dir, name) {
            Outcome::Pass => {
                passed += 1;
                println!("PASS {name}");
            }
            Outcome::Fail(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
            Outcome::Skip(why) => {
                skipped += 1;
                println!("SKIP {name}: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
