//! `cargo assemble login HOST -u USER --password-stdin` and `logout HOST`:
//! check registry credentials and store them as `docker login` does (in
//! docker's `config.json`, or the credential helper it names), so docker,
//! podman, skopeo and we all use the same ones. The logic lives in
//! `oci_image::registry`; this module parses and renders.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use miette::{miette, IntoDiagnostic, Result};
use oci_image::registry::{Registry, RegistryOptions, Secret};

/// Longest password or token read from standard input.
const MAX_PASSWORD: u64 = 64 << 10;

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT] (docker.io for Docker Hub).
    #[arg(value_name = "HOST")]
    pub server: String,
    /// User name.
    #[arg(short = 'u', long)]
    pub username: String,
    /// Read the password or token from standard input (never from the command line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Also allow plain HTTP to this registry (loopback registries always may).
    #[arg(long, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT] (docker.io for Docker Hub).
    #[arg(value_name = "HOST")]
    pub server: String,
}

pub fn login(args: LoginArgs) -> Result<ExitCode> {
    let stdin = std::io::stdin();
    if !args.password_stdin || stdin.is_terminal() {
        return Err(miette!(
            "pipe the password to `--password-stdin`, e.g. `echo \"$TOKEN\" | cargo assemble login {} -u {} --password-stdin`; it is never taken from the command line",
            assemble_io::escape::escape(&args.server),
            assemble_io::escape::escape(&args.username)
        ));
    }
    let mut raw = Vec::new();
    stdin
        .lock()
        .take(MAX_PASSWORD + 1)
        .read_to_end(&mut raw)
        .into_diagnostic()?;
    if raw.len() as u64 > MAX_PASSWORD {
        return Err(miette!(
            "the password on standard input is longer than 64 KiB"
        ));
    }
    let text = String::from_utf8(raw).map_err(|_| miette!("the password is not UTF-8"))?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(miette!("no password on standard input"));
    }
    let mut options = RegistryOptions::from_env();
    options.insecure.extend(args.insecure_registry);
    let registry = Registry::new(options).into_diagnostic()?;
    let stored = registry
        .login(&args.server, &args.username, Secret::new(password))
        .into_diagnostic()?;
    println!(
        "Login succeeded: credentials for {} stored in {stored}",
        assemble_io::escape::escape(&args.server)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode> {
    let registry = Registry::new(RegistryOptions::from_env()).into_diagnostic()?;
    let server = assemble_io::escape::escape(&args.server);
    match registry.logout(&args.server).into_diagnostic()? {
        Some(stored) => println!("Removed the credentials for {server} from {stored}"),
        None => println!("Not logged in to {server}"),
    }
    Ok(ExitCode::SUCCESS)
}
