//! `cargo assemble serve`: start-up (data directory, database, first owner
//! tokens), the router, workers, and graceful shutdown.

// The web console lives beside the API it is built on; it calls the API's
// handlers (private to this module) directly.
#[path = "../console/mod.rs"]
mod console;
mod http;
mod routes;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Notify};

use crate::auth::{self, Role};
use crate::engine::Engine;
use crate::orgs::ServerConfig;
use crate::queue::{Events, Metrics, QueueConfig, Workers};
use crate::store::{now_ms, Store, StoreError, TokenRow};

/// How to run the server.
pub struct ServeOptions {
    /// Address to listen on (`127.0.0.1:7878`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Data directory: database, owner tokens, published images.
    pub data_dir: PathBuf,
    /// Database URL; default `sqlite://DATA/assemble.db`.
    pub database: Option<String>,
    /// Number of build workers.
    pub workers: usize,
    /// Organizations and limits.
    pub config: ServerConfig,
    /// The image engine.
    pub engine: Arc<dyn Engine>,
    /// Operator messages.
    pub events: Events,
    /// How often the update watcher checks repositories and source images
    /// (zero: never).
    pub poll_interval: Duration,
}

/// What the caller may tell the operator once the server listens.
#[derive(Debug)]
pub struct Started {
    /// The bound address.
    pub addr: SocketAddr,
    /// Owner tokens made at this start: organization and the file holding it.
    pub owner_tokens: Vec<(String, PathBuf)>,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another server uses the data directory.
    #[error("another `cargo assemble serve` is using {0} (it holds serve.lock); stop it or choose another --data")]
    Locked(PathBuf),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// The platform's data directory for the service (`~/.local/share/cargo-assemble` on Linux).
pub fn default_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("cargo-assemble"))
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    config: Arc<ServerConfig>,
    engine: Arc<dyn Engine>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    poll_interval: Duration,
}

/// Runs the server until SIGINT or SIGTERM, then shuts down gracefully:
/// no new requests or claims, running builds get `shutdown_grace` to finish
/// and are handed back to the queue after that. Blocks; owns its runtime.
pub fn serve(opts: ServeOptions, on_started: impl FnOnce(&Started)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    runtime.block_on(run(opts, on_started, shutdown_signal()))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// [`serve`] inside a runtime, stopping when `stop` completes.
pub async fn run(
    opts: ServeOptions,
    on_started: impl FnOnce(&Started),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let data = &opts.data_dir;
    if !data.exists() {
        // Ours alone: it holds the owner token and every organization's data.
        std::fs::create_dir_all(data).map_err(io(format!("creating {}", data.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))
                .map_err(io(format!("restricting {}", data.display())))?;
        }
    }
    std::fs::create_dir_all(data.join("images"))
        .map_err(io(format!("creating {}", data.display())))?;
    // One server per data directory: the lock goes with the process, even on kill -9.
    let lock_path = data.join("serve.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(io(format!("opening {}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        return Err(ServeError::Locked(data.clone()));
    }
    let url = opts
        .database
        .clone()
        .unwrap_or_else(|| Store::sqlite_url(&data.join("assemble.db")));
    let store = Store::open(&url).await?;
    let owner_tokens = first_owner_tokens(&store, &opts.config, data).await?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(io(format!("listening on {}", opts.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the bound address"))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState {
        store: store.clone(),
        config: Arc::new(opts.config.clone()),
        engine: opts.engine.clone(),
        metrics: Arc::default(),
        wake: Arc::new(Notify::new()),
        shutdown: shutdown_rx.clone(),
        poll_interval: opts.poll_interval,
    };
    let workers = Workers {
        store: store.clone(),
        engine: opts.engine.clone(),
        config: QueueConfig {
            lease: opts.config.lease,
            build_timeout: opts.config.build_timeout,
            shutdown_grace: opts.config.shutdown_grace,
            images_dir: data.join("images"),
        },
        metrics: state.metrics.clone(),
        wake: state.wake.clone(),
        shutdown: shutdown_rx.clone(),
        instance: instance_name(),
        events: opts.events.clone(),
        notifier: Some(crate::notify::Notifier {
            store: store.clone(),
            secret: Arc::new(
                crate::notify::load_secret(data)
                    .map_err(io(format!("reading {}/webhook-secret", data.display())))?,
            ),
            default_urls: opts.config.notify.clone(),
            allow_local: opts.config.notify_allow_local,
            events: opts.events.clone(),
        }),
    };
    let handles = workers.spawn(opts.workers.max(1));
    let pruner = tokio::spawn(prune_forever(
        store.clone(),
        opts.config.retention,
        shutdown_rx.clone(),
        opts.events.clone(),
    ));

    let watcher = (!opts.poll_interval.is_zero()).then(|| {
        let watcher = crate::watch::Watcher {
            store: store.clone(),
            engine: opts.engine.clone(),
            interval: opts.poll_interval,
            wake: state.wake.clone(),
            events: opts.events.clone(),
            fetch: assemble::ops::FetchSettings {
                offline: false,
                cache_dir: Some(data.join("cache")),
            },
            credentials: apk_repo::auth::Credentials::from_env().unwrap_or_else(|e| {
                (opts.events)(format!(
                    "watch: repository credentials not read ({e}); private repositories are checked without"
                ));
                apk_repo::auth::Credentials::none()
            }),
        };
        let leader = store.clone();
        tokio::spawn(watcher.run(shutdown_rx.clone(), move || {
            let leader = leader.clone();
            async move { leader.lead_watcher().await }
        }))
    });

    on_started(&Started { addr, owner_tokens });
    let trigger = async move {
        stop.await;
        let _ = shutdown_tx.send(true);
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(trigger)
        .await
        .map_err(io("serving"))?;
    (opts.events)("shutting down: waiting for running builds".into());
    for h in handles {
        let _ = h.await;
    }
    let _ = pruner.await;
    if let Some(w) = watcher {
        let _ = w.await;
    }
    store.close().await;
    drop(lock);
    Ok(())
}

/// The API routes under `/v1` and `/v1/orgs/{org}`, `/healthz`, `/metrics`,
/// and the web console under `/console`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/repos", get(routes::list_repos))
        .route(
            "/repos/{name}",
            get(routes::get_repo)
                .put(routes::put_repo)
                .delete(routes::delete_repo),
        )
        .route("/repos/{name}/builds", post(routes::trigger_build))
        .route("/watch", get(routes::watch_report))
        .route("/buildreports", get(routes::list_reports))
        .route("/buildreports/{id}", get(routes::get_report))
        .route("/buildreports/{id}/log", get(routes::get_log))
        .route(
            "/tokens",
            get(routes::list_tokens).post(routes::create_token),
        )
        .route(
            "/tokens/{name}",
            axum::routing::delete(routes::revoke_token),
        );
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .nest("/v1/orgs/{org}", api.clone())
        .nest("/v1", api)
        .merge(console::router())
        .layer(axum::middleware::from_fn(http::json_errors))
        .with_state(state)
}

/// Makes an owner token for every configured organization that has never
/// had one, writing it to `DATA/owner-token` (the default organization) or
/// `DATA/owner-token-ORG` with mode 0600; only its hash is stored.
async fn first_owner_tokens(
    store: &Store,
    config: &ServerConfig,
    data: &Path,
) -> Result<Vec<(String, PathBuf)>, ServeError> {
    let mut made = Vec::new();
    for org in config.orgs.keys() {
        store.ensure_org(org).await?;
        if store.org_has_tokens(org).await? {
            continue;
        }
        let token = auth::generate();
        let file = if *org == config.default_org {
            data.join("owner-token")
        } else {
            data.join(format!("owner-token-{org}"))
        };
        // The file first (mode 0600 from its first byte): a token stored
        // but never written would be lost.
        assemble_io::atomic::write_private_file(&file, |w| writeln!(w, "{}", token.secret))
            .map_err(io(format!("writing {}", file.display())))?;
        let row = TokenRow {
            id: token.id,
            org: org.clone(),
            name: "owner".into(),
            role: Role::Owner.as_str().into(),
            secret_hash: token.hash,
            created_at: now_ms(),
            created_by: "server".into(),
            expires_at: None,
            revoked_at: None,
        };
        store.insert_token(&row, None).await?;
        made.push((org.clone(), file));
    }
    Ok(made)
}

async fn prune_forever(
    store: Store,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
    events: Events,
) {
    loop {
        match store.prune(now_ms() - retention.as_millis() as i64).await {
            Ok(0) => {}
            Ok(n) => events(format!(
                "retention: deleted {n} build report(s) older than {}",
                humantime::format_duration(retention)
            )),
            Err(e) => events(format!("retention: {e}")),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// `HOST-PID-RANDOM`: names this process in leases (and, with several
/// servers on one database, in build reports).
fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}
