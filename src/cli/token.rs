//! `cargo assemble token create|list|revoke`: the server's tokens.

use std::process::ExitCode;

use assemble_io::escape::escape;
use assemble_service::api::CreateToken;
use assemble_service::auth::Role;
use miette::{IntoDiagnostic, Result};

use super::serve::Remote;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a token; it is printed once, on stdout.
    Create {
        /// viewer, editor or owner.
        #[arg(long)]
        role: Role,
        /// A name unique among the organization's live tokens.
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. 30d or 12h (default: no expiry).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the organization's live tokens (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Create {
            role,
            name,
            expires,
            remote,
        } => {
            let created = remote
                .client()?
                .create_token(&CreateToken {
                    name,
                    role,
                    expires_in: expires,
                })
                .into_diagnostic()?;
            eprintln!(
                "created {} token '{}' of organization '{}'{}; it is shown only now:",
                created.info.role,
                escape(&created.info.name),
                escape(&created.info.org),
                created
                    .info
                    .expires_at
                    .map(|e| format!(", expires {e}"))
                    .unwrap_or_default()
            );
            println!("{}", escape(&created.token));
        }
        Command::List { json, remote } => {
            let list = remote.client()?.tokens().into_diagnostic()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).into_diagnostic()?);
            } else {
                println!(
                    "{:<24} {:<7} {:<25} {:<25} CREATED BY",
                    "NAME", "ROLE", "CREATED", "EXPIRES"
                );
                for t in list.tokens {
                    println!(
                        "{:<24} {:<7} {:<25} {:<25} {}",
                        escape(&t.name),
                        t.role,
                        t.created_at,
                        t.expires_at.as_deref().unwrap_or("never"),
                        escape(&t.created_by)
                    );
                }
            }
        }
        Command::Revoke { name, remote } => {
            remote.client()?.revoke_token(&name).into_diagnostic()?;
            eprintln!("revoked token '{}'", escape(&name));
        }
    }
    Ok(ExitCode::SUCCESS)
}
