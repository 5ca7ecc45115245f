//! Build workers: claim, run with a lease, record.
//!
//! Builds are rows (see [`crate::store`]); a worker claims one in a single
//! write, renews its lease while the engine runs, and records the result
//! only if it still holds the lease. A worker that dies stops renewing, the
//! lease expires and any worker — of this process after a restart, or of
//! another process sharing the database — retries the build. A build that
//! outlives the timeout is cancelled and fails with that reason. On
//! shutdown, workers stop claiming, give running builds the grace period to
//! finish, then cancel them and hand them back to the queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, watch, Notify};

use crate::api::BuildResult;
use crate::engine::{parse_declaration, BuildJob, BuildOutcome, Cancel, Engine, LogSink};
use crate::store::{BuildEnd, Claimed, Store};

/// A build whose worker was lost this many times fails instead of retrying.
pub const MAX_ATTEMPTS: i64 = 3;

/// The most log text kept per build; later lines are dropped with a note.
pub const MAX_LOG_BYTES: usize = 8 << 20;

/// Where the queue's limits come from.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// Claim duration without renewal.
    pub lease: Duration,
    /// Longest build.
    pub build_timeout: Duration,
    /// How long shutdown waits for running builds.
    pub shutdown_grace: Duration,
    /// `DATA/images`: where builds publish their OCI layouts.
    pub images_dir: std::path::PathBuf,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    succeeded: AtomicU64,
    failed: AtomicU64,
    seconds: Mutex<Histogram>,
}

/// Upper bounds (seconds) of the build duration histogram's buckets.
const BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    fn record(&self, result: BuildResult, seconds: f64) {
        match result {
            BuildResult::Success => &self.succeeded,
            _ => &self.failed,
        }
        .fetch_add(1, Ordering::Relaxed);
        let mut h = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Prometheus text for the counters of this process.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP cargo_assemble_builds_total Builds finished by this server, by result."
        );
        let _ = writeln!(out, "# TYPE cargo_assemble_builds_total counter");
        for (result, n) in [("success", &self.succeeded), ("failure", &self.failed)] {
            let _ = writeln!(
                out,
                "cargo_assemble_builds_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let h = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP cargo_assemble_build_seconds Duration of finished builds."
        );
        let _ = writeln!(out, "# TYPE cargo_assemble_build_seconds histogram");
        for (le, n) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "cargo_assemble_build_seconds_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "cargo_assemble_build_seconds_bucket{{le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "cargo_assemble_build_seconds_sum {}", h.sum);
        let _ = writeln!(out, "cargo_assemble_build_seconds_count {}", h.count);
    }
}

/// A line for the operator (the CLI prints these; the library never does).
pub type Events = Arc<dyn Fn(String) + Send + Sync>;

/// Everything a worker needs.
#[derive(Clone)]
pub struct Workers {
    /// The database.
    pub store: Store,
    /// The image engine.
    pub engine: Arc<dyn Engine>,
    /// Limits.
    pub config: QueueConfig,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Woken when a build is queued.
    pub wake: Arc<Notify>,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// This process's name in leases (`host-pid-random`).
    pub instance: String,
    /// Operator messages.
    pub events: Events,
    /// Tells the builds' webhooks.
    pub notifier: Option<crate::notify::Notifier>,
}

impl Workers {
    /// Starts `n` workers; they end after shutdown once their build is
    /// finished or handed back.
    pub fn spawn(&self, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
        (0..n)
            .map(|i| {
                let w = self.clone();
                let name = format!("{}/{i}", self.instance);
                tokio::spawn(async move { w.run(name).await })
            })
            .collect()
    }

    async fn run(self, name: String) {
        let mut shutdown = self.shutdown.clone();
        while !*shutdown.borrow() {
            match self.store.claim(&name, self.config.lease).await {
                Ok(Some(claimed)) => self.run_one(&name, claimed).await,
                Ok(None) => {
                    // Also look again now and then: leases expire without
                    // anyone being woken.
                    let tick = (self.config.lease / 2).min(Duration::from_secs(1));
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(tick) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    (self.events)(format!("worker {name}: cannot claim builds: {e}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn run_one(&self, worker: &str, claimed: Claimed) {
        let build = claimed.build;
        let id = build.id.clone();
        let start = Instant::now();
        let (mut log, writer) = match self.store.next_log_seq(&id).await {
            Ok(seq) => BuildLog::start(self.store.clone(), id.clone(), seq),
            Err(e) => {
                (self.events)(format!("build {id}: cannot read its log: {e}"));
                return;
            }
        };
        if claimed.retried {
            log.line(&format!(
                "--- attempt {}: the previous worker stopped renewing its lease; retrying ---",
                build.attempts
            ));
        }
        (self.events)(format!(
            "build {id} of {}/{} started (attempt {})",
            build.org, build.repo, build.attempts
        ));
        let outcome = if build.attempts > MAX_ATTEMPTS {
            Outcome::Failed(format!(
                "the build's worker was lost {} times (server killed or stuck); giving up",
                build.attempts - 1
            ))
        } else {
            self.execute(worker, &build, log.clone()).await
        };
        match &outcome {
            Outcome::Built(_) => log.line("build succeeded"),
            Outcome::Failed(reason) => log.line(&format!("build failed: {reason}")),
            Outcome::LostLease => {
                log.line("--- this worker lost its lease; another worker continues the build ---")
            }
            Outcome::HandedBack => {
                log.line("--- server shutting down: build handed back to the queue ---")
            }
        }
        drop(log);
        let _ = writer.await;
        let end = match outcome {
            Outcome::Built(o) => end(BuildResult::Success, Some(o), None),
            Outcome::Failed(reason) => end(BuildResult::Failure, None, Some(reason)),
            Outcome::LostLease => return,
            Outcome::HandedBack => {
                if let Err(e) = self.store.hand_back(&id, worker).await {
                    (self.events)(format!("build {id}: cannot hand back: {e}"));
                }
                (self.events)(format!("build {id} handed back to the queue"));
                return;
            }
        };
        let seconds = start.elapsed().as_secs_f64();
        match self.store.finish(&id, worker, &end).await {
            Ok(true) => {
                self.metrics.record(end.result, seconds);
                (self.events)(format!(
                    "build {id} of {}/{}: {} in {seconds:.1}s",
                    build.org, build.repo, end.result
                ));
                self.notify(&build.org, &id).await;
            }
            Ok(false) => (self.events)(format!(
                "build {id}: lease lost before recording its result"
            )),
            Err(e) => (self.events)(format!("build {id}: cannot record its result: {e}")),
        }
    }

    /// Hands the finished build `id` to the notifier (which delivers in
    /// the background).
    async fn notify(&self, org: &str, id: &str) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        let (Ok(Some(row)), Ok(log)) = (
            self.store.build(org, id).await,
            self.store.log_after(id, -1).await,
        ) else {
            (self.events)(format!("build {id}: cannot read it back to notify"));
            return;
        };
        let log: String = log.into_iter().map(|(_, text)| text).collect();
        notifier.build_finished(row, &log);
    }

    async fn execute(
        &self,
        worker: &str,
        build: &crate::store::BuildRow,
        mut log: BuildLog,
    ) -> Outcome {
        let config: Value = match serde_json::from_str(&build.config) {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(format!("stored declaration is not JSON: {e}")),
        };
        let declaration = match parse_declaration(&build.repo, &config) {
            Ok(d) => d,
            Err(errors) => {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return Outcome::Failed(format!("invalid declaration: {}", all.join("; ")));
            }
        };
        let previous = match self.store.latest_builds(&build.org, &build.repo).await {
            Ok((_, success)) => success
                .and_then(|b| b.locked_config)
                .and_then(|c| serde_json::from_str(&c).ok()),
            Err(e) => return Outcome::Failed(format!("cannot read the previous build: {e}")),
        };
        let job = BuildJob {
            id: build.id.clone(),
            org: build.org.clone(),
            repo: build.repo.clone(),
            declaration,
            previous,
            trigger: build.trigger(),
            number: build.number,
            output: self.config.images_dir.join(&build.org).join(&build.repo),
        };
        let cancel = Cancel::default();
        let engine = self.engine.clone();
        let (engine_cancel, mut engine_log) = (cancel.clone(), log.clone());
        let mut task = tokio::task::spawn_blocking(move || {
            engine.build(&job, &mut engine_log, &engine_cancel)
        });
        let mut renew = tokio::time::interval(self.config.lease / 3);
        renew.tick().await;
        let timeout = tokio::time::sleep(self.config.build_timeout);
        tokio::pin!(timeout);
        let mut shutdown = self.shutdown.clone();
        let grace = self.config.shutdown_grace;
        let shutdown_deadline = async move {
            let _ = shutdown.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        tokio::pin!(shutdown_deadline);
        let stopped = loop {
            tokio::select! {
                joined = &mut task => {
                    return match joined {
                        Ok(Ok(outcome)) => Outcome::Built(outcome),
                        Ok(Err(failure)) => Outcome::Failed(failure.to_string()),
                        Err(e) => Outcome::Failed(format!("the engine crashed: {e}")),
                    };
                }
                _ = renew.tick() => match self.store.renew(&build.id, worker, self.config.lease).await {
                    Ok(true) => {}
                    Ok(false) => break Outcome::LostLease,
                    // The database is busy or away: keep building, the next
                    // tick tries again before the lease ends.
                    Err(e) => log.line(&format!("warning: cannot renew the lease: {e}")),
                },
                _ = &mut timeout => break Outcome::Failed(format!(
                    "timed out after {} (the server's build_timeout)",
                    humantime::format_duration(self.config.build_timeout)
                )),
                _ = &mut shutdown_deadline => break Outcome::HandedBack,
            }
        };
        cancel.cancel();
        // Give a cooperative engine a moment to stop before moving on.
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        stopped
    }
}

enum Outcome {
    Built(BuildOutcome),
    Failed(String),
    LostLease,
    HandedBack,
}

fn end(result: BuildResult, built: Option<BuildOutcome>, error: Option<String>) -> BuildEnd {
    let built = built.unwrap_or_default();
    BuildEnd {
        result,
        locked_config: (result == BuildResult::Success).then(|| built.locked_config.to_string()),
        warnings: to_json(&built.warnings),
        digests: to_json(&built.digests),
        pushed: to_json(&built.pushed),
        changes: to_json(&built.changes),
        error,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// A build's log on its way to the database: lines are batched by a writer
/// task (every 200 ms or 64 KiB) so a chatty build costs few transactions.
#[derive(Clone)]
struct BuildLog {
    tx: mpsc::UnboundedSender<String>,
    bytes: Arc<AtomicU64>,
}

impl BuildLog {
    fn start(store: Store, id: String, mut seq: i64) -> (BuildLog, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let writer = tokio::spawn(async move {
            let mut buf = String::new();
            let mut open = true;
            while open {
                let deadline = tokio::time::sleep(Duration::from_millis(200));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        line = rx.recv() => match line {
                            Some(l) => {
                                buf.push_str(&l);
                                buf.push('\n');
                                if buf.len() >= 64 << 10 { break; }
                            }
                            None => { open = false; break; }
                        },
                        _ = &mut deadline => break,
                    }
                }
                if !buf.is_empty() {
                    // A failed write loses this chunk of the log, not the build.
                    if store.append_log(&id, seq, &buf).await.is_ok() {
                        seq += 1;
                    }
                    buf.clear();
                }
            }
        });
        (
            BuildLog {
                tx,
                bytes: Arc::default(),
            },
            writer,
        )
    }
}

impl LogSink for BuildLog {
    fn line(&mut self, line: &str) {
        let before = self
            .bytes
            .fetch_add(line.len() as u64 + 1, Ordering::Relaxed) as usize;
        if before + line.len() < MAX_LOG_BYTES {
            let _ = self.tx.send(line.to_owned());
        } else if before < MAX_LOG_BYTES {
            let _ = self
                .tx
                .send(format!("[log truncated at {} MiB]", MAX_LOG_BYTES >> 20));
            self.bytes.store(MAX_LOG_BYTES as u64, Ordering::Relaxed);
        }
    }
}
