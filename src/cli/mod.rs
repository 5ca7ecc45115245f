//! Command-line interface: argument definitions and dispatch. Each verb
//! lives in its own module: it parses its arguments into the options of
//! one `assemble::ops` operation, calls it and renders the report; errors
//! come back as `miette` reports, which [`render::error`] shows.

mod build;
mod builds;
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

/// Parses `args` and runs the verb.
pub fn run(args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
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
