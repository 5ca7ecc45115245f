//! Runs apk-tools' solver test suite through our resolver (apk policy).
//!
//! Reads every `*.test` in `$APK_SOLVER_CORPUS` (default
//! `../shared/corpus/apk-solver`), builds the repositories, installed
//! database and world it describes, applies the `@ARGS` command the way
//! `apk` would, and compares our output with `@EXPECT`: the change lines and
//! summary exactly; for an `ERROR: unable to select packages` expectation,
//! that solving fails and our report names the same packages. `fix` and
//! self-upgrade cases are skipped. Set `APK_SOLVER_ONLY=name` to run one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apk::database::InstalledDb;
use apk::dependency::{Constraint, Context, Dependency};
use apk::index::text::{self, IndexText, Strictness};
use apk::index::ParsedIndex;
use apk::package::PackageInfo;
use apk::version::Op;
use apk_solve::resolve::{Index, Inputs, Installed, Records, Resolution};
use apk_solve::{
    flags, resolve, universe, ChangeKind, Db, NameId, ResolveError, ResolveRequest, Solution,
    DEFAULT_TAG,
};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("APK_SOLVER_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => testkit::corpus("apk-solver"),
    }
}

/// A `.test` file.
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
            Some("@REPO") => match words.collect::<Vec<_>>().as_slice() {
                [tag, file] if tag.starts_with('@') => case
                    .repos
                    .push((Some(tag[1..].to_owned()), file.to_string())),
                [file] => case.repos.push((None, file.to_string())),
                _ => return Err(format!("bad @REPO line: {line}")),
            },
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

/// The parsed `apk` command line.
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
    skip: Option<&'static str>,
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
            "--self-upgrade-only" | "--preupgrade-only" => c.skip = Some("self-upgrade"),
            "--preupgrade-depends" => {
                it.next();
                c.skip = Some("self-upgrade");
            }
            a if a.starts_with("--root-tmpfs") || a == "--simulate" => {}
            "add" | "del" | "upgrade" | "fix" if c.applet.is_empty() => c.applet = a.to_owned(),
            other => c.args.push(other.to_owned()),
        }
    }
    if c.applet == "fix" {
        c.skip = Some("fix");
    }
    c
}

/// apk's human sizes: divide by 1024 while ≥ 10000; B and KiB as integers.
fn humanize(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut s, mut v, mut i) = (bytes as f64, bytes, 0);
    while s >= 10000.0 && i < units.len() - 1 {
        s /= 1024.0;
        v /= 1024;
        i += 1;
    }
    if i < 2 {
        format!("{v} {}", units[i])
    } else {
        format!("{s:.1} {}", units[i])
    }
}

/// apk's wrapped list: items after `indent` spaces, wrapped at 50 columns.
fn indented_list(head: &str, items: &[String]) -> String {
    let indent = if head.is_empty() { 2 } else { head.len() + 1 };
    let mut out = head.to_owned();
    let mut x = head.len();
    for item in items {
        if x < indent {
            out.push_str(&" ".repeat(indent - x));
            out.push_str(item);
            x = indent + item.len();
        } else if x + item.len() + 1 >= 50 {
            out.push_str(&format!("\n{:indent$}{item}", ""));
            x = indent + item.len();
        } else {
            out.push_str(&format!(" {item}"));
            x += item.len() + 1;
        }
    }
    if x > 0 {
        out.push('\n');
    }
    out
}

fn atom_name(atom: &str) -> &str {
    atom.trim_start_matches('!')
        .split(['<', '>', '=', '~', '@'])
        .next()
        .unwrap_or("")
}

/// Adds or replaces the world entry of the atom's name.
fn set_world(world: &mut Vec<String>, atom: &str) {
    let name = atom_name(atom).to_owned();
    world.retain(|a| atom_name(a) != name);
    world.push(atom.to_owned());
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
    if let Some(why) = cmd.skip {
        return Outcome::Skip(why.to_owned());
    }
    // Every case runs twice: repositories added from parsed records, and
    // from parsed indexes (the cached form); both must give apk's answer.
    let (out, subjects) = match execute(dir, &case, &cmd, false) {
        Ok(r) => r,
        Err(e) => return Outcome::Fail(e),
    };
    match execute(dir, &case, &cmd, true) {
        Ok(r) if r == (out.clone(), subjects.clone()) => {}
        Ok((other, _)) => {
            return Outcome::Fail(format!(
                "\n--- from records\n{out}--- from parsed indexes\n{other}"
            ))
        }
        Err(e) => return Outcome::Fail(format!("from parsed indexes: {e}")),
    }
    if out == case.expect {
        return Outcome::Pass;
    }
    if case.expect.contains("ERROR: unable to select packages") {
        let want: BTreeSet<String> = case
            .expect
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':').to_owned())
            .collect();
        if subjects.as_ref() == Some(&want) {
            return Outcome::Pass;
        }
    }
    Outcome::Fail(format!("\n--- expected\n{}--- got\n{}", case.expect, out))
}

/// Parsed inputs of a case; the solver's universe borrows from them.
struct CaseFiles {
    repos: Vec<(Option<String>, String, String)>,
    cache: Vec<(String, String)>,
    installed: InstalledDb,
}

fn load_inputs(dir: &Path, case: &Case) -> Result<CaseFiles, String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{f}: {e}"));
    let installed = match &case.installed {
        Some(f) => InstalledDb::parse(&read(f)?, f).map_err(|e| e.to_string())?,
        None => InstalledDb::new(),
    };
    Ok(CaseFiles {
        repos: case
            .repos
            .iter()
            .map(|(t, f)| Ok((t.clone(), f.clone(), read(f)?)))
            .collect::<Result<_, String>>()?,
        cache: case
            .cache
            .iter()
            .map(|f| Ok((f.clone(), read(f)?)))
            .collect::<Result<_, String>>()?,
        installed,
    })
}

/// Runs the case; returns its output and, when solving failed, the block
/// subjects of the error report.
fn execute(
    dir: &Path,
    case: &Case,
    cmd: &Command,
    via_index: bool,
) -> Result<(String, Option<BTreeSet<String>>), String> {
    let inputs = load_inputs(dir, case)?;
    let build =
        |t: &str, f: &str| ParsedIndex::build(t, "", false, f, [0; 32]).map_err(|e| e.to_string());
    let repo_tables: Vec<ParsedIndex> = inputs
        .repos
        .iter()
        .map(|(_, f, t)| build(t, f))
        .collect::<Result<_, _>>()?;
    let cache_tables: Vec<ParsedIndex> = inputs
        .cache
        .iter()
        .map(|(f, t)| build(t, f))
        .collect::<Result<_, _>>()?;
    fn parse<'t>(t: &'t str, f: &str) -> Result<IndexText<'t>, String> {
        text::parse(t, f, Strictness::Lenient).map_err(|e| e.to_string())
    }
    let repo_indexes: Vec<_> = inputs
        .repos
        .iter()
        .map(|(_, f, t)| parse(t, f))
        .collect::<Result<_, _>>()?;
    let cache_indexes: Vec<_> = inputs
        .cache
        .iter()
        .map(|(f, t)| parse(t, f))
        .collect::<Result<_, _>>()?;
    let installed: Vec<(PackageInfo<'_>, Option<String>)> = inputs
        .installed
        .records
        .iter()
        .map(|r| {
            (
                r.info(),
                r.lines()
                    .iter()
                    .find(|l| l.letter == b's')
                    .map(|l| l.value.clone()),
            )
        })
        .collect();

    let mut out = String::new();
    // apk numbers tags as it meets them: world, installed database, repositories.
    let mut tags: Vec<&str> = Vec::new();
    for w in &case.world {
        if let Some((_, tag)) = w.split_once('@') {
            tags.push(tag.split(['<', '>', '=', '~']).next().unwrap_or(""));
        }
    }
    tags.extend(installed.iter().filter_map(|(_, t)| t.as_deref()));
    // The same universe from text records or from parsed indexes.
    fn source<'a>(via_index: bool, text: &'a IndexText<'a>, table: &'a ParsedIndex) -> Records<'a> {
        if via_index {
            Records::Parsed(table)
        } else {
            Records::Text(&text.records)
        }
    }
    let mut indexes: Vec<Index<'_, '_>> = inputs
        .repos
        .iter()
        .enumerate()
        .map(|(i, (tag, file, _))| Index {
            available: !cmd.no_network,
            records: source(via_index, &repo_indexes[i], &repo_tables[i]),
            ..Index::new(file, &[]).tagged(tag.as_deref())
        })
        .collect();
    indexes.extend(inputs.cache.iter().enumerate().map(|(i, (file, _))| Index {
        cache: true,
        records: source(via_index, &cache_indexes[i], &cache_tables[i]),
        ..Index::new(file, &[])
    }));
    let base: Vec<Installed<'_>> = installed
        .iter()
        .map(|(info, tag)| Installed {
            info,
            tag: tag.as_deref(),
        })
        .collect();

    // `add -t NAME=VERSION deps…`: a package made up for this transaction.
    let mut virtual_info = None;
    let mut virtual_atom = None;
    if let Some(spec) = &cmd.virtual_pkg {
        let bad = || Ok((format!("ERROR: {spec}: bad package specifier\n"), None));
        let Ok(dep) = Dependency::parse(spec, Context::World) else {
            return bad();
        };
        let version = match dep.constraint {
            Constraint::Version(op, v) if op == Op::EQUAL => v,
            Constraint::Any => "0",
            _ => return bad(),
        };
        if dep.conflict {
            return bad();
        }
        let mut deps: Vec<&str> = Vec::new();
        for a in &cmd.args {
            if Dependency::parse(a, Context::Metadata).is_err() {
                return Ok((
                    format!("ERROR: '{a}' is not a valid package dependency, format is name([<>~=]version)\n"),
                    None,
                ));
            }
            deps.retain(|d| atom_name(d) != atom_name(a));
            deps.push(a);
        }
        if deps.is_empty() {
            out.push_str("WARNING: creating empty virtual package\n");
        }
        virtual_info = Some(PackageInfo {
            name: dep.name.into(),
            version: version.into(),
            arch: "noarch".into(),
            depends: deps.join(" ").into(),
            installed_size: Some(0),
            ..Default::default()
        });
        virtual_atom = Some(format!("{}={version}", dep.name));
    }
    let virtuals: Vec<&PackageInfo<'_>> = virtual_info.iter().collect();
    let mut db = universe(&Inputs {
        arches: &["x86_64"],
        tags: &tags,
        indexes: &indexes,
        installed: &base,
        virtuals: &virtuals,
    })
    .map_err(|e| e.to_string())?;

    if repo_indexes
        .iter()
        .chain(&cache_indexes)
        .flat_map(|i| &i.records)
        .any(|r| !r.problems.is_empty())
    {
        out.push_str("WARNING: The indexes contain broken packages which are not installable.\n");
    }

    let mut world: Vec<String> = Vec::new();
    for w in &case.world {
        set_world(&mut world, w);
    }
    let mut req = ResolveRequest {
        force_broken_world: cmd.force_broken_world,
        ..Default::default()
    };
    let mut removed_names = Vec::new();
    match cmd.applet.as_str() {
        "add" => {
            let added: Vec<String> = match &virtual_atom {
                Some(v) => vec![v.clone()],
                None => cmd.args.clone(),
            };
            for a in &added {
                if Dependency::parse(a, Context::World).is_err() {
                    return Ok((
                        format!("ERROR: '{a}' is not a valid world dependency, format is name(@tag)([<>~=]version)\n"),
                        None,
                    ));
                }
                set_world(&mut world, a);
                let f = (if cmd.latest { flags::LATEST } else { 0 })
                    | (if cmd.upgrade { flags::UPGRADE } else { 0 });
                if let Some(name) = db.lookup(atom_name(a)) {
                    req.name_flags.push((name, f, f));
                }
            }
        }
        "del" => {
            for a in &cmd.args {
                let in_world = world.iter().any(|w| atom_name(w) == a.as_str());
                let known = db.lookup(a);
                if known.is_none() && !in_world {
                    return Ok((format!("ERROR: No such package: {a}\n"), None));
                }
                world.retain(|w| atom_name(w) != a.as_str());
                if let Some(n) = known {
                    if db.installed.iter().any(|&p| db.package(p).name == n) {
                        req.name_flags.push((n, flags::REMOVE, 0));
                    }
                    removed_names.push(n);
                }
            }
        }
        "upgrade" => {
            req.flags = flags::UPGRADE
                | if cmd.available { flags::AVAILABLE } else { 0 }
                | if cmd.latest { flags::LATEST } else { 0 };
            for a in &cmd.args {
                let Some(n) = db.lookup(a) else {
                    return Ok((format!("ERROR: Package '{a}' not found\n"), None));
                };
                if cmd.ignore.is_empty() {
                    req.name_flags.push((n, flags::UPGRADE, 0));
                }
            }
            if !cmd.args.is_empty() && cmd.ignore.is_empty() {
                req.flags &= !flags::UPGRADE;
            }
            for a in &cmd.ignore {
                if let Some(n) = db.lookup(a) {
                    req.name_flags.push((n, flags::INSTALLED, 0));
                }
            }
            if cmd.prune {
                // Keep only world entries something available still provides.
                let available: u64 = (0..db.repos.len())
                    .filter(|&i| db.repos[i].available)
                    .fold(0, |m, i| m | 1 << i);
                world.retain(|w| {
                    db.lookup(atom_name(w)).is_some_and(|n| {
                        db.providers(n)
                            .any(|p| db.package(p.pkg).repos & available != 0)
                    })
                });
            }
        }
        other => return Err(format!("unsupported applet '{other}'")),
    }

    req.world = world
        .iter()
        .map(|w| Dependency::parse(w, Context::World).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    match resolve(&mut db, &req) {
        Err(ResolveError::MissingTags { atoms }) => {
            for m in &atoms {
                out.push_str(&format!(
                    "WARNING: The repository tag for world dependency '{m}' does not exist\n"
                ));
            }
            out.push_str("ERROR: Not committing changes due to missing repository tags.\n");
            Ok((out, None))
        }
        Err(e) => {
            let report = e.report().cloned().unwrap_or_default();
            out.push_str(&report.render(50));
            Ok((
                out,
                Some(report.blocks.iter().map(|b| b.subject.clone()).collect()),
            ))
        }
        Ok(Resolution { solution, .. }) => {
            if cmd.applet == "upgrade" && cmd.verbose {
                out.push_str(&no_longer_available(&db, &solution));
            }
            if cmd.applet == "del" {
                out.push_str(&not_removed(&db, &solution, &removed_names, &world));
            }
            out.push_str(&progress(&db, &solution));
            out.push_str(&summary(&db, &solution, cmd.verbose));
            Ok((out, None))
        }
    }
}

/// `(i/n) Verb name@tag (version)` lines.
fn progress(db: &Db<'_>, solution: &Solution) -> String {
    let effective: Vec<_> = solution.effective(db).collect();
    let n = effective.len();
    let width = n.to_string().len();
    let mut out = String::new();
    for (i, c) in effective.iter().enumerate() {
        let kind = c.kind(db);
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
        let Some(shown) = c.new.or(c.old) else {
            continue;
        };
        let pkg = db.package(shown);
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
                format!("{} -> {}", db.package(o).version, db.package(nw).version)
            }
            _ => pkg.version.to_owned(),
        };
        out.push_str(&format!(
            "({:>width$}/{n}) {verb} {label} ({version})\n",
            i + 1
        ));
    }
    out
}

/// Packages installed after the transaction.
fn installed_after(db: &Db<'_>, solution: &Solution) -> Vec<usize> {
    let mut installed = db.installed.clone();
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
    installed
}

fn summary(db: &Db<'_>, solution: &Solution, verbose: bool) -> String {
    let installed = installed_after(db, solution);
    let size: u64 = installed
        .iter()
        .map(|&p| db.package(p).installed_size.unwrap_or(0))
        .sum();
    if verbose {
        format!(
            "OK: {} packages, 0 dirs, 0 files, {}\n",
            installed.len(),
            humanize(size)
        )
    } else {
        format!("OK: {} in {} packages\n", humanize(size), installed.len())
    }
}

/// `upgrade -v`: packages whose name no repository provides any more.
fn no_longer_available(db: &Db<'_>, solution: &Solution) -> String {
    let mut gone: Vec<&str> = solution
        .changes
        .iter()
        .filter_map(|c| c.new)
        .map(|p| db.package(p).name)
        .filter(|&n| db.providers(n).all(|p| db.package(p.pkg).repos == 0))
        .map(|n| db.name_str(n))
        .collect();
    gone.sort_by_key(|n| (n.to_ascii_lowercase(), n.to_string()));
    gone.dedup();
    if gone.is_empty() {
        return String::new();
    }
    let items: Vec<String> = gone.iter().map(|s| s.to_string()).collect();
    format!(
        "NOTE: Consider running apk upgrade with --prune and/or --available.\n\
         The following packages are no longer available from a repository:\n{}",
        indented_list("", &items)
    )
}

/// `del`: names that stay installed because something in the world still
/// needs them.
fn not_removed(db: &Db<'_>, solution: &Solution, removed: &[NameId], world: &[String]) -> String {
    let selected: Vec<usize> = solution.changes.iter().filter_map(|c| c.new).collect();
    let world_names: Vec<&str> = world
        .iter()
        .filter(|w| !w.starts_with('!'))
        .map(|w| atom_name(w))
        .collect();
    let mut out = String::new();
    let mut names = removed.to_vec();
    names.sort_by_key(|&n| db.name_str(n).to_ascii_lowercase());
    for n in names {
        let mut items = Vec::new();
        for p in db.providers(n) {
            if !selected.contains(&p.pkg) {
                continue;
            }
            let pkg = db.package(p.pkg);
            if world_names.contains(&db.name_str(pkg.name)) {
                items.push(db.name_str(pkg.name).to_owned());
            }
            for (pn, _) in db.provides(p.pkg) {
                if world_names.contains(&db.name_str(pn)) {
                    items.push(db.name_str(pn).to_owned());
                }
            }
        }
        if items.is_empty() {
            continue;
        }
        if out.is_empty() {
            out.push_str("World updated, but the following packages are not removed due to:\n");
        }
        out.push_str(&indented_list(&format!("  {}:", db.name_str(n)), &items));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
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
