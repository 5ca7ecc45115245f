//! `cargo assemble serve`, and how the client commands find a server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use assemble_service::client::Client;
use miette::{miette, IntoDiagnostic, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Data directory: assemble.db, owner-token, images/. Default: the platform data dir.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Database URL (default sqlite://DATA/assemble.db).
    #[arg(long)]
    pub database: Option<String>,
    /// Build workers in this process.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Organizations, entitlements and limits (server.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Accept declarations naming local paths (source layouts, local repositories, keys):
    /// for single-machine use and tests. Without it they are refused (the server cannot
    /// see the submitter's files).
    #[arg(long)]
    pub allow_local_paths: bool,
    /// How often to check every repository and source image the declarations use, and
    /// rebuild the images whose packages or source changed (`0` turns the watcher off).
    #[arg(long, default_value = "5m", value_parser = assemble_service::orgs::parse_interval)]
    pub poll_interval: std::time::Duration,
    /// Test hook: `fake` builds nothing and takes its behaviour from annotations.
    #[arg(long, hide = true)]
    pub engine: Option<String>,
}

/// Without the `serve` feature the command exists (so `--help` and scripts see the same CLI)
/// but says how to get a binary that has it.
#[cfg(not(feature = "serve"))]
pub fn run(_: Args) -> Result<ExitCode> {
    Err(miette!(
        help = "install with the default features: `cargo install --path .` \
                (or `cargo build --features serve`)",
        "this cargo-assemble was built without the `serve` feature"
    ))
}

#[cfg(feature = "serve")]
pub fn run(a: Args) -> Result<ExitCode> {
    use assemble_service::engine::{AssembleEngine, Engine, FakeEngine};
    use assemble_service::orgs::ServerConfig;
    use assemble_service::server::{self, ServeOptions};

    let mut config = match &a.config {
        Some(path) => ServerConfig::load(path).into_diagnostic()?,
        None => ServerConfig::default(),
    };
    config.allow_local_paths |= a.allow_local_paths;
    let data_dir = match a.data {
        Some(d) => d,
        None => server::default_data_dir()
            .ok_or_else(|| miette!("no platform data directory; pass --data DIR"))?,
    };
    let engine: std::sync::Arc<dyn Engine> = match a.engine.as_deref() {
        None => std::sync::Arc::new(AssembleEngine::new(data_dir.join("cache"))),
        Some("fake") => std::sync::Arc::new(FakeEngine),
        Some(other) => return Err(miette!("unknown engine '{other}'")),
    };
    let opts = ServeOptions {
        listen: a.listen,
        data_dir,
        database: a.database,
        workers: a.workers,
        config,
        engine,
        events: std::sync::Arc::new(|line| eprintln!("{line}")),
        poll_interval: a.poll_interval,
    };
    server::serve(opts, |started| {
        for (org, file) in &started.owner_tokens {
            println!(
                "owner token of organization '{org}' written to {}",
                file.display()
            );
        }
        println!("listening on http://{}", started.addr);
    })
    .into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}

/// Where the server is and which token to send.
#[derive(clap::Args, Debug)]
pub struct Remote {
    /// Server URL [env: CARGO_ASSEMBLE_SERVER; default http://127.0.0.1:7878].
    #[arg(long)]
    pub server: Option<String>,
    /// File holding the token [default: the token in CARGO_ASSEMBLE_TOKEN].
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Address /v1/orgs/ORG/… (default: the token's organization).
    #[arg(long)]
    pub org: Option<String>,
}

impl Remote {
    /// True when a server is named (`--server` or CARGO_ASSEMBLE_SERVER): `plan` and
    /// `apply` then work against it instead of the local state.
    pub fn requested(&self) -> bool {
        self.server.is_some() || std::env::var_os("CARGO_ASSEMBLE_SERVER").is_some()
    }

    pub fn client(&self) -> Result<Client> {
        let server = self
            .server
            .clone()
            .or_else(|| std::env::var("CARGO_ASSEMBLE_SERVER").ok())
            .unwrap_or_else(|| "http://127.0.0.1:7878".into());
        let token = match &self.token_file {
            Some(f) => std::fs::read_to_string(f)
                .map_err(|e| miette!("reading the token file {}: {e}", f.display()))?
                .trim()
                .to_owned(),
            None => std::env::var("CARGO_ASSEMBLE_TOKEN").map_err(|_| {
                miette!(
                    "no token: pass --token-file FILE or set CARGO_ASSEMBLE_TOKEN \
                     (the server wrote its first owner token to DATA/owner-token)"
                )
            })?,
        };
        Ok(Client::new(&server, Some(token))
            .into_diagnostic()?
            .with_org(self.org.clone()))
    }
}
