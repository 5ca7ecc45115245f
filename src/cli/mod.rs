//! Command-line interface: argument definitions and dispatch. Each verb
//! lives in its own module: it parses its arguments into the options of
//! one `assemble::ops` operation, calls it and renders the report; errors
//! come back as `miette` reports, which [`render::error`] shows.

mod build;
mod builds;
mod cargo_args;
mod export;
mod github;
mod import;
mod init;
mod login;
mod pipeline;
mod render;
mod repo_args;
mod resolve;
mod search;
mod serve;
mod token;
mod verify;
mod watch;
mod write;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build customized container images from APK packages, declaratively.
#[derive(Parser, Debug)]
#[command(name = "cargo-assemble", bin_name = "cargo assemble", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the images of an assembly.toml into OCI images, locally (no daemon).
    Build(build::Args),
    /// Show what apply would change, compared with the last applied state.
    Plan(pipeline::PlanArgs),
    /// Build and record: write the images, assembly.lock and the applied state.
    Apply(pipeline::ApplyArgs),
    /// Check the declaration: schema, atoms, packages, resolution, lock (for pre-commit).
    Validate(pipeline::ValidateArgs),
    /// Locked versions and source images that have newer versions.
    Outdated(pipeline::OutdatedArgs),
    /// List the packages of APK repositories (after verifying their indexes).
    Search(search::Args),
    /// Resolve packages to add on top of an installed base (the image policy).
    Resolve(resolve::Args),
    /// Verify .apk files: signature, index checksum, datahash, per-file checksums.
    Verify(verify::Args),
    /// Make a signed .apk from a directory tree.
    Package(Box<write::PackageArgs>),
    /// Make a signed APKINDEX.tar.gz from .apk files.
    Index(write::IndexArgs),
    /// Generate an RSA key pair for signing packages and indexes.
    Keygen(write::KeygenArgs),
    /// Write a starter assembly.toml from a template.
    Init(init::Args),
    /// Write the assembly.toml of an apko configuration or a Custom Assembly overlay (YAML).
    Import(import::Args),
    /// Write a declared image in another format (a Custom Assembly overlay YAML).
    Export(export::Args),
    /// List the templates of `init`.
    Templates(init::TemplatesArgs),
    /// Re-run validate and plan whenever the declaration or its lock changes.
    Watch(watch::Args),
    /// Check registry credentials and store them as `docker login` does.
    Login(login::LoginArgs),
    /// Remove the stored credentials of a registry.
    Logout(login::LogoutArgs),
    /// Run the build service: API, build queue, build reports.
    Serve(serve::Args),
    /// Manage the build service's tokens.
    #[command(subcommand)]
    Token(token::Command),
    /// List build reports of the build service, read their logs.
    #[command(subcommand)]
    Builds(builds::Command),
}

/// Parses `args`: see [`parse_one_verb`], then the whole command line.
fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    match parse_one_verb(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    }
}

/// Builds a verb's arguments onto a command.
type Augment = fn(clap::Command) -> clap::Command;

/// The verbs whose arguments are one `clap::Args` type.
const VERBS: &[(&str, Augment)] = {
    use clap::Args as _;
    &[
        ("build", build::Args::augment_args),
        ("plan", pipeline::PlanArgs::augment_args),
        ("apply", pipeline::ApplyArgs::augment_args),
        ("validate", pipeline::ValidateArgs::augment_args),
        ("outdated", pipeline::OutdatedArgs::augment_args),
        ("search", search::Args::augment_args),
        ("resolve", resolve::Args::augment_args),
        ("verify", verify::Args::augment_args),
        ("package", write::PackageArgs::augment_args),
        ("index", write::IndexArgs::augment_args),
        ("keygen", write::KeygenArgs::augment_args),
        ("init", init::Args::augment_args),
        ("import", import::Args::augment_args),
        ("export", export::Args::augment_args),
        ("templates", init::TemplatesArgs::augment_args),
        ("watch", watch::Args::augment_args),
        ("login", login::LoginArgs::augment_args),
        ("logout", login::LogoutArgs::augment_args),
        ("serve", serve::Args::augment_args),
    ]
};

/// The arguments of `verb` (one of [`VERBS`]), built alone.
fn verb_command(verb: &str) -> Option<clap::Command> {
    let &(name, augment) = VERBS.iter().find(|(name, _)| *name == verb)?;
    Some(augment(clap::Command::new(name)))
}

/// A command line naming one verb, parsed with only that verb's
/// arguments built: building all of them costs about 0.25 ms, which every
/// run pays (a quarter of a warm `validate` before it reads anything).
/// `None` — and the whole parser, with clap's own help and errors — for
/// anything else: no verb or another word, help asked for, a parse error.
fn parse_one_verb(args: &[OsString]) -> Option<Cli> {
    use clap::FromArgMatches;
    let verb = args.get(1)?.to_str()?;
    if args[2..]
        .iter()
        .any(|a| a == "-h" || a == "--help" || a == "help")
    {
        return None;
    }
    let cmd = clap::Command::new("cargo-assemble").subcommand(verb_command(verb)?);
    let matches = cmd.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

/// Parses `args` and runs the verb.
pub fn run(args: Vec<OsString>) -> ExitCode {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Build(a) => build::run(a),
        Command::Plan(a) => pipeline::plan(a),
        Command::Apply(a) => pipeline::apply(a),
        Command::Validate(a) => pipeline::validate(a),
        Command::Outdated(a) => pipeline::outdated(a),
        Command::Search(a) => search::run(a),
        Command::Resolve(a) => resolve::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Package(a) => write::package(*a),
        Command::Index(a) => write::index(a),
        Command::Keygen(a) => write::keygen(a),
        Command::Init(a) => init::run(a),
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
        Command::Templates(a) => init::templates(a),
        Command::Watch(a) => watch::run(a),
        Command::Login(a) => login::login(a),
        Command::Logout(a) => login::logout(a),
        Command::Serve(a) => serve::run(a),
        Command::Token(c) => token::run(c),
        Command::Builds(c) => builds::run(c),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            render::error(&report);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// What parsing depends on in an argument.
    fn shape(a: &clap::Arg) -> String {
        format!(
            "{} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?}",
            a.get_id(),
            a.get_long(),
            a.get_short(),
            a.is_required_set(),
            a.get_default_values(),
            a.get_num_args(),
            a.get_action(),
            a.get_value_delimiter(),
            a.is_positional(),
        )
    }

    #[test]
    fn every_verb_built_alone_has_the_arguments_of_the_whole_parser() {
        let mut full = Cli::command();
        full.build();
        for sub in full.get_subcommands() {
            let name = sub.get_name();
            let Some(alone) = verb_command(name) else {
                assert!(
                    sub.has_subcommands(),
                    "{name}: add it to VERBS (or it is parsed the slow way)"
                );
                continue;
            };
            let mut alone = clap::Command::new("cargo-assemble").subcommand(alone);
            alone.build();
            let alone = alone.find_subcommand(name).unwrap();
            let args = |c: &clap::Command| c.get_arguments().map(shape).collect::<Vec<_>>();
            assert_eq!(args(alone), args(sub), "{name}");
        }
    }

    #[test]
    fn one_verb_parses_as_the_whole_parser_and_leaves_the_rest_to_it() {
        let line = |s: &str| s.split_whitespace().map(OsString::from).collect::<Vec<_>>();
        for ok in [
            "cargo-assemble resolve busybox curl --repository ./r --keyring k --arch aarch64 --json",
            "cargo-assemble validate",
            "cargo-assemble plan --format json --detailed-exitcode",
            "cargo-assemble build --quiet",
            "cargo-assemble search --repository ./r",
        ] {
            let fast = parse_one_verb(&line(ok)).expect(ok);
            let full = Cli::try_parse_from(line(ok)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{ok}");
        }
        for slow in [
            "cargo-assemble",
            "cargo-assemble --version",
            "cargo-assemble resolve --help",
            "cargo-assemble validate -h",
            "cargo-assemble token list",
            "cargo-assemble resolve",
            "cargo-assemble resolve x --no-such-flag",
            "cargo-assemble resolv x",
        ] {
            assert!(parse_one_verb(&line(slow)).is_none(), "{slow}");
        }
    }
}
