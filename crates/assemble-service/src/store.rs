//! Database access: every query the service runs lives here.
//!
//! We use sqlx's `Any` driver: one code path for SQLite (the embedded
//! default, `DATA/assemble.db`) and PostgreSQL (`--database postgres://…`,
//! several servers sharing one database).
//! sqlx is async (it shares the server's tokio runtime instead of parking
//! threads on a blocking driver), embeds the versioned migrations of
//! `migrations/` in the binary, and speaks both databases with the same
//! `$1` placeholders. The SQL is portable (see the migration's header);
//! where the databases must differ — the queue claim, which on PostgreSQL
//! gains `FOR UPDATE SKIP LOCKED` — the query is chosen per [`Backend`].
//!
//! Every multi-statement write starts with a write, so SQLite takes its
//! write lock up front (waiting on `busy_timeout`) instead of failing to
//! upgrade a read snapshot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, FromRow, Row};

use crate::api::{BuildResult, Trigger};

mod rebuild;
pub use rebuild::{NotificationRow, WatchInput, WatchTarget};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a query.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A URL this version cannot use.
    #[error("{0}")]
    Unsupported(String),
    /// A unique name is taken.
    #[error("{0} already exists")]
    Conflict(String),
}

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL, for several servers sharing one database.
    Postgres,
}

/// The service's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// PostgreSQL: the dedicated connection holding the watcher's advisory
    /// lock while this process leads.
    leader: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>,
}

/// The advisory lock key of the update watcher's leader (PostgreSQL).
const WATCHER_LOCK: i64 = 0x6361_7267_6f77_6174; // "cargowat"

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ms` as an RFC 3339 UTC timestamp.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A token row.
#[derive(Clone, Debug, FromRow)]
pub struct TokenRow {
    /// Public id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// Name.
    pub name: String,
    /// Role name.
    pub role: String,
    /// Hex SHA-256 of the token.
    pub secret_hash: String,
    /// Creation time.
    pub created_at: i64,
    /// Name of the creating token (`server` for first owner tokens).
    pub created_by: String,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// A repo row.
#[derive(Clone, Debug, FromRow)]
pub struct RepoRow {
    /// Organization.
    pub org: String,
    /// Name.
    pub name: String,
    /// JSON declaration.
    pub config: String,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A build row.
#[derive(Clone, Debug, FromRow)]
pub struct BuildRow {
    /// Id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// Repo.
    pub repo: String,
    /// Trigger name.
    pub trigger_kind: String,
    /// Result name.
    pub state: String,
    /// JSON declaration built.
    pub config: String,
    /// JSON locked config.
    pub locked_config: Option<String>,
    /// JSON array of strings.
    pub warnings: String,
    /// JSON object arch → digest.
    pub digests: String,
    /// JSON array of strings.
    pub pushed: String,
    /// JSON array of changes.
    pub changes: String,
    /// Failure reason.
    pub error: Option<String>,
    /// Starts so far.
    pub attempts: i64,
    /// Worker holding or last holding the lease.
    pub worker: Option<String>,
    /// Lease end.
    pub lease_expires_at: Option<i64>,
    /// Queued at.
    pub created_at: i64,
    /// Last attempt started at.
    pub started_at: Option<i64>,
    /// Ended at.
    pub completed_at: Option<i64>,
    /// The repo's build number (`build-<number>` tags a successful build).
    pub number: Option<i64>,
}

impl BuildRow {
    /// The typed state.
    pub fn result(&self) -> BuildResult {
        BuildResult::parse(&self.state).unwrap_or(BuildResult::Failure)
    }

    /// The typed trigger.
    pub fn trigger(&self) -> Trigger {
        Trigger::parse(&self.trigger_kind).unwrap_or(Trigger::Manual)
    }
}

/// One audit record.
#[derive(Clone, Debug)]
pub struct AuditEntry<'a> {
    /// Organization.
    pub org: &'a str,
    /// Token name.
    pub actor: &'a str,
    /// Capability used (`repo.update`, …).
    pub action: &'a str,
    /// What it was applied to (a repo, a token name, a build id).
    pub target: &'a str,
    /// `ok`, `denied`, `invalid`, `conflict`, `not_found`.
    pub outcome: &'a str,
    /// Extra facts (a build id queued, a role given).
    pub detail: Option<&'a str>,
}

/// A build a worker now holds.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The row as claimed.
    pub build: BuildRow,
    /// True when a previous holder's lease expired (a retry).
    pub retried: bool,
}

/// What [`Store::delete_repo`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Gone, with its queued builds.
    Yes,
    /// No such repo.
    NotFound,
    /// A build of it is running.
    Running,
}

const BUILD_COLUMNS: &str = "id, org, repo, trigger_kind, state, config, locked_config, warnings, \
    digests, pushed, changes, error, attempts, worker, lease_expires_at, created_at, started_at, completed_at, number";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Opens (creating when needed) the database at `url` and migrates it.
    /// `sqlite://PATH` is the embedded database.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Unsupported(format!(
                "unsupported database URL '{}': write sqlite://PATH or postgres://USER@HOST/DB",
                assemble_io::url::redact(url)
            )));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer; a killed process
                        // loses no committed transaction and never corrupts.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 15000").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            backend,
            url: url.to_owned(),
            leader: Default::default(),
        })
    }

    /// The URL of the SQLite database file `path`, created when missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when this process is the one to run the update watcher: always
    /// on SQLite (one server per database file); on PostgreSQL the process
    /// holding `pg_try_advisory_lock` on a dedicated connection. The lock
    /// goes with the connection, so when the leader dies (even kill -9) the
    /// database drops it and the next server to ask takes over.
    pub async fn lead_watcher(&self) -> bool {
        if self.backend == Backend::Sqlite {
            return true;
        }
        use sqlx::Connection;
        let mut held = self.leader.lock().await;
        if let Some(conn) = held.as_mut() {
            if conn.ping().await.is_ok() {
                return true;
            }
            *held = None;
        }
        let Ok(mut conn) = sqlx::AnyConnection::connect(&self.url).await else {
            return false;
        };
        let won: Result<bool, _> = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(WATCHER_LOCK)
            .fetch_one(&mut conn)
            .await;
        if matches!(won, Ok(true)) {
            *held = Some(conn);
            true
        } else {
            false
        }
    }

    /// Closes every connection (after a graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Succeeds when the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check`: `ok` when the file is sound.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let row = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<String, _>(0)?)
    }

    // ---- organizations and tokens ----

    /// Records `org`; true when it was new.
    pub async fn ensure_org(&self, org: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO orgs (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(org)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// True when `org` has ever had a token.
    pub async fn org_has_tokens(&self, org: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE org = $1")
            .bind(org)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Stores a token; [`StoreError::Conflict`] when the name is taken.
    pub async fn insert_token(
        &self,
        t: &TokenRow,
        audit: Option<&AuditEntry<'_>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tokens (id, org, name, role, secret_hash, created_at, created_by, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        )
        .bind(&t.id)
        .bind(&t.org)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.secret_hash)
        .bind(t.created_at)
        .bind(&t.created_by)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("a token named '{}'", t.name)));
            }
            r => r?,
        };
        match audit {
            Some(a) => commit_audited(tx, a).await?,
            None => tx.commit().await?,
        }
        Ok(())
    }

    /// The token with public id `id`.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The live tokens of `org`, by name.
    pub async fn tokens(&self, org: &str) -> Result<Vec<TokenRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM tokens WHERE org = $1 AND revoked_at IS NULL ORDER BY name",
        )
        .bind(org)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes the live token `name` of `org`; false when there is none.
    pub async fn revoke_token(
        &self,
        org: &str,
        name: &str,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE org = $2 AND name = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(org)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        commit_audited(tx, audit).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a mutating call on its own.
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
        insert_audit(&self.pool, entry).await
    }

    /// The audit records of `org`, oldest first.
    pub async fn audit_log(
        &self,
        org: &str,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT actor, action, target, outcome FROM audit WHERE org = $1 ORDER BY at, id",
        )
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    // ---- repos ----

    /// One repo.
    pub async fn repo(&self, org: &str, name: &str) -> Result<Option<RepoRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM repos WHERE org = $1 AND name = $2")
                .bind(org)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The repos of `org`, by name.
    pub async fn repos(&self, org: &str) -> Result<Vec<RepoRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM repos WHERE org = $1 ORDER BY name")
                .bind(org)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Stores `config` as the repo's declaration and queues a `config`
    /// build, in one transaction with the audit record. Returns the build
    /// id, or `None` when the stored declaration already was `config`.
    pub async fn save_repo(
        &self,
        org: &str,
        name: &str,
        config: &str,
        audit: &AuditEntry<'_>,
    ) -> Result<Option<String>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "INSERT INTO repos (org, name, config, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (org, name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at \
             WHERE repos.config <> excluded.config",
        )
        .bind(org)
        .bind(name)
        .bind(config)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let build = if changed {
            Some(enqueue(&mut tx, org, name, Trigger::Config, config, "[]").await?)
        } else {
            None
        };
        let detail = build.as_ref().map(|b| format!("build {b}"));
        commit_audited(
            tx,
            &AuditEntry {
                detail: detail.as_deref(),
                ..audit.clone()
            },
        )
        .await?;
        Ok(build)
    }

    /// Queues a build of the repo's stored declaration (coalescing into a
    /// queued one) with what made it (`changes`: a JSON array, `[]` for a
    /// manual build); `None` when the repo does not exist.
    pub async fn trigger_build(
        &self,
        org: &str,
        name: &str,
        trigger: Trigger,
        changes: &str,
        audit: &AuditEntry<'_>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A write first: take SQLite's write lock before reading.
        sqlx::query("UPDATE repos SET updated_at = updated_at WHERE org = $1 AND name = $2")
            .bind(org)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let config: Option<String> =
            sqlx::query_scalar("SELECT config FROM repos WHERE org = $1 AND name = $2")
                .bind(org)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(config) = config else {
            return Ok(None);
        };
        let id = enqueue(&mut tx, org, name, trigger, &config, changes).await?;
        let detail = format!("build {id}");
        commit_audited(
            tx,
            &AuditEntry {
                detail: Some(&detail),
                ..audit.clone()
            },
        )
        .await?;
        Ok(Some(id))
    }

    /// Deletes a repo and its queued builds, unless a build is running.
    pub async fn delete_repo(
        &self,
        org: &str,
        name: &str,
        audit: &AuditEntry<'_>,
    ) -> Result<Deleted, StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query(
            "DELETE FROM repos WHERE org = $1 AND name = $2 AND NOT EXISTS \
             (SELECT 1 FROM builds WHERE org = $1 AND repo = $2 AND state = 'running')",
        )
        .bind(org)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let outcome = if gone {
            sqlx::query(
                "DELETE FROM build_logs WHERE build_id IN \
                 (SELECT id FROM builds WHERE org = $1 AND repo = $2 AND state = 'queued')",
            )
            .bind(org)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM builds WHERE org = $1 AND repo = $2 AND state = 'queued'")
                .bind(org)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            Deleted::Yes
        } else {
            let exists: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM repos WHERE org = $1 AND name = $2")
                    .bind(org)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
            if exists > 0 {
                Deleted::Running
            } else {
                Deleted::NotFound
            }
        };
        let outcome_name = match outcome {
            Deleted::Yes => "ok",
            Deleted::NotFound => "not_found",
            Deleted::Running => "conflict",
        };
        commit_audited(
            tx,
            &AuditEntry {
                outcome: outcome_name,
                ..audit.clone()
            },
        )
        .await?;
        Ok(outcome)
    }

    // ---- builds: the queue ----

    /// Takes the oldest claimable build for `worker` until `now + lease`: a
    /// queued build of a repo with nothing running, or a running build
    /// whose lease expired (its worker died). One statement, so the claim
    /// is atomic; PostgreSQL adds `FOR UPDATE SKIP LOCKED` to the inner
    /// select so concurrent claimers skip each other's rows.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Claimed>, StoreError> {
        let now = now_ms();
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE builds SET state = 'running', worker = $1, lease_expires_at = $2, started_at = $3, \
                 attempts = attempts + 1 \
             WHERE id = (SELECT b.id FROM builds b \
                 WHERE (b.state = 'queued' AND NOT EXISTS (SELECT 1 FROM builds r \
                         WHERE r.org = b.org AND r.repo = b.repo AND r.state = 'running')) \
                    OR (b.state = 'running' AND b.lease_expires_at < $3) \
                 ORDER BY b.created_at LIMIT 1{lock}) \
             RETURNING {BUILD_COLUMNS}"
        );
        let lease_until = now + lease.as_millis() as i64;
        loop {
            let claimed: Result<Option<BuildRow>, _> = sqlx::query_as(&sql)
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(&self.pool)
                .await;
            return match claimed {
                Ok(Some(build)) => Ok(Some(Claimed {
                    retried: build.attempts > 1,
                    build,
                })),
                Ok(None) => Ok(None),
                // Two claimers raced for two builds of one repo: the index
                // kept the invariant; look again.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }

    /// Extends `worker`'s lease on build `id`; false when it lost the lease.
    pub async fn renew(&self, id: &str, worker: &str, lease: Duration) -> Result<bool, StoreError> {
        let until = now_ms() + lease.as_millis() as i64;
        let done = sqlx::query("UPDATE builds SET lease_expires_at = $1 WHERE id = $2 AND worker = $3 AND state = 'running'")
            .bind(until)
            .bind(id)
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records the end of build `id` if `worker` still holds it.
    pub async fn finish(&self, id: &str, worker: &str, end: &BuildEnd) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE builds SET state = $1, locked_config = $2, warnings = $3, digests = $4, pushed = $5, \
                 changes = $6, error = $7, completed_at = $8, lease_expires_at = NULL \
             WHERE id = $9 AND worker = $10 AND state = 'running'",
        )
        .bind(end.result.as_str())
        .bind(&end.locked_config)
        .bind(&end.warnings)
        .bind(&end.digests)
        .bind(&end.pushed)
        .bind(&end.changes)
        .bind(&end.error)
        .bind(now_ms())
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives build `id` back to the queue (graceful shutdown): queued again
    /// when no newer build of the repo is queued, else left running with an
    /// expired lease so that the next claim retries it first. The attempt
    /// is not counted.
    pub async fn hand_back(&self, id: &str, worker: &str) -> Result<(), StoreError> {
        let requeued = sqlx::query(
            "UPDATE builds SET state = 'queued', worker = NULL, lease_expires_at = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND worker = $2 AND state = 'running' AND NOT EXISTS \
             (SELECT 1 FROM builds q WHERE q.org = builds.org AND q.repo = builds.repo AND q.state = 'queued')",
        )
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        if requeued.rows_affected() == 0 {
            sqlx::query(
                "UPDATE builds SET lease_expires_at = 0, attempts = attempts - 1 \
                 WHERE id = $1 AND worker = $2 AND state = 'running'",
            )
            .bind(id)
            .bind(worker)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Appends chunk `seq` to build `id`'s log.
    pub async fn append_log(&self, id: &str, seq: i64, text: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO build_logs (build_id, seq, text) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(seq)
            .bind(text)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The next free chunk number of build `id`'s log.
    pub async fn next_log_seq(&self, id: &str) -> Result<i64, StoreError> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM build_logs WHERE build_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(max.map_or(0, |m| m + 1))
    }

    /// Log chunks of build `id` after chunk `after` (-1: all), in order.
    pub async fn log_after(&self, id: &str, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, text FROM build_logs WHERE build_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Build `id` of `org`.
    pub async fn build(&self, org: &str, id: &str) -> Result<Option<BuildRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE org = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Builds of `org` (of `repo` when given) queued since `since`, newest first.
    pub async fn builds(
        &self,
        org: &str,
        repo: Option<&str>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<BuildRow>, StoreError> {
        let q = format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE org = $1 AND created_at >= $2 AND ($3 = '' OR repo = $3) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        Ok(sqlx::query_as(&q)
            .bind(org)
            .bind(since)
            .bind(repo.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The newest build of a repo, and its newest successful one.
    pub async fn latest_builds(
        &self,
        org: &str,
        repo: &str,
    ) -> Result<(Option<BuildRow>, Option<BuildRow>), StoreError> {
        let q = |extra: &str| {
            format!(
                "SELECT {BUILD_COLUMNS} FROM builds WHERE org = $1 AND repo = $2 {extra} \
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            )
        };
        let latest = sqlx::query_as(&q(""))
            .bind(org)
            .bind(repo)
            .fetch_optional(&self.pool)
            .await?;
        let success = sqlx::query_as(&q("AND state = 'success'"))
            .bind(org)
            .bind(repo)
            .fetch_optional(&self.pool)
            .await?;
        Ok((latest, success))
    }

    /// Number of builds per state, for `/metrics`.
    pub async fn state_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM builds GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r: &AnyRow| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Deletes finished builds (and logs) completed before `before`, except
    /// each repo's latest success. Returns how many builds went.
    pub async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let doomed = "SELECT b.id FROM builds b WHERE b.completed_at < $1 AND b.state IN ('success', 'failure') \
            AND NOT (b.state = 'success' AND b.completed_at = (SELECT MAX(s.completed_at) FROM builds s \
                WHERE s.org = b.org AND s.repo = b.repo AND s.state = 'success'))";
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "DELETE FROM build_logs WHERE build_id IN ({doomed})"
        ))
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(&format!("DELETE FROM builds WHERE id IN ({doomed})"))
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}

/// The end of a build, as stored (JSON columns already serialized).
#[derive(Clone, Debug)]
pub struct BuildEnd {
    /// `Success` or `Failure`.
    pub result: BuildResult,
    /// JSON locked config.
    pub locked_config: Option<String>,
    /// JSON array.
    pub warnings: String,
    /// JSON object.
    pub digests: String,
    /// JSON array.
    pub pushed: String,
    /// JSON array.
    pub changes: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// Queues a build of `repo`, or folds it into the repo's queued build (which
/// then builds `config`, the newest declaration). Returns the build's id.
///
/// Called after the transaction's first write, so it holds the write lock
/// (SQLite) or the repo's row lock (PostgreSQL): a build's `created_at` is
/// later than every earlier build of the repo, in commit order, even when
/// the transaction waited for the lock or the clock stepped back.
async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &str,
    repo: &str,
    trigger: Trigger,
    config: &str,
    changes: &str,
) -> Result<String, StoreError> {
    let folded: Option<String> = sqlx::query_scalar(
        "UPDATE builds SET config = $1, trigger_kind = $2, changes = $3 \
         WHERE org = $4 AND repo = $5 AND state = 'queued' RETURNING id",
    )
    .bind(config)
    .bind(trigger.as_str())
    .bind(changes)
    .bind(org)
    .bind(repo)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = folded {
        return Ok(id);
    }
    let number: i64 = sqlx::query_scalar(
        "UPDATE repos SET builds_made = builds_made + 1 WHERE org = $1 AND name = $2 RETURNING builds_made",
    )
    .bind(org)
    .bind(repo)
    .fetch_one(&mut **tx)
    .await?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO builds (id, org, repo, trigger_kind, state, config, warnings, digests, pushed, changes, \
             attempts, created_at, number) \
         VALUES ($1, $2, $3, $4, 'queued', $5, '[]', '{}', '[]', $7, 0, \
             (SELECT CASE WHEN MAX(created_at) >= $6 THEN MAX(created_at) + 1 ELSE $6 END \
              FROM builds WHERE org = $2 AND repo = $3), $8)",
    )
    .bind(&id)
    .bind(org)
    .bind(repo)
    .bind(trigger.as_str())
    .bind(config)
    .bind(now_ms())
    .bind(changes)
    .bind(number)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Records `entry` in `tx` and commits: a mutating call and its audit
/// record land together or not at all.
async fn commit_audited(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    entry: &AuditEntry<'_>,
) -> Result<(), StoreError> {
    insert_audit(&mut *tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_audit<'e, E: Executor<'e, Database = sqlx::Any>>(
    executor: E,
    a: &AuditEntry<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit (id, at, org, actor, action, target, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(now_ms())
    .bind(a.org)
    .bind(a.actor)
    .bind(a.action)
    .bind(a.target)
    .bind(a.outcome)
    .bind(a.detail)
    .execute(executor)
    .await?;
    Ok(())
}

// ---- console sessions (the web console, issue 17) ----

impl Store {
    /// Stores a console session: the SHA-256 of its cookie and the token it
    /// acts as. Expired sessions are swept at the same time.
    pub async fn insert_session(
        &self,
        secret_hash: &str,
        token_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (secret_hash, token_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(secret_hash)
        .bind(token_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The token id of the live session whose cookie hashes to `secret_hash`.
    pub async fn session_token(&self, secret_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT token_id FROM console_sessions WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// [`Store::latest_builds`] of every repo of `org` in two queries (the
    /// repo list of the API and the console's overview), by repo name;
    /// the rows carry only their summary (no declaration, lock, warnings or
    /// changes).
    pub async fn latest_builds_by_repo(
        &self,
        org: &str,
    ) -> Result<std::collections::HashMap<String, (Option<BuildRow>, Option<BuildRow>)>, StoreError>
    {
        let q = |extra: &str| {
            format!(
                // Only the columns a repo summary shows: the others are
                // large (declarations, locks) and would be decoded for nothing.
                "SELECT id, org, repo, trigger_kind, state, '' AS config, NULL AS locked_config, \
                 '[]' AS warnings, digests, '[]' AS pushed, '[]' AS changes, error, attempts, worker, \
                 lease_expires_at, created_at, started_at, completed_at, number FROM (SELECT *, ROW_NUMBER() OVER \
                 (PARTITION BY repo ORDER BY created_at DESC, id DESC) AS newest \
                 FROM builds WHERE org = $1 {extra}) b WHERE newest = 1"
            )
        };
        let mut out: std::collections::HashMap<String, (Option<BuildRow>, Option<BuildRow>)> =
            std::collections::HashMap::new();
        let latest: Vec<BuildRow> = sqlx::query_as(&q(""))
            .bind(org)
            .fetch_all(&self.pool)
            .await?;
        for b in latest {
            let repo = b.repo.clone();
            out.entry(repo).or_default().0 = Some(b);
        }
        let success: Vec<BuildRow> = sqlx::query_as(&q("AND state = 'success'"))
            .bind(org)
            .fetch_all(&self.pool)
            .await?;
        for b in success {
            let repo = b.repo.clone();
            out.entry(repo).or_default().1 = Some(b);
        }
        Ok(out)
    }

    /// Ends a session (sign-out).
    pub async fn delete_session(&self, secret_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&Store::sqlite_url(&dir.path().join("t.db")))
            .await
            .unwrap();
        s.ensure_org("o").await.unwrap();
        (dir, s)
    }

    fn ended(result: BuildResult) -> BuildEnd {
        BuildEnd {
            result,
            locked_config: None,
            warnings: "[]".into(),
            digests: "{}".into(),
            pushed: "[]".into(),
            changes: "[]".into(),
            error: None,
        }
    }

    /// Saves `config` as repo `o/repo`; the id of the build it queued.
    async fn saved(s: &Store, repo: &str, config: &str) -> String {
        s.save_repo("o", repo, config, &audit())
            .await
            .unwrap()
            .unwrap()
    }

    /// The build `worker` claims, with a 30 s lease.
    async fn claimed(s: &Store, worker: &str) -> Claimed {
        s.claim(worker, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap()
    }

    fn audit() -> AuditEntry<'static> {
        AuditEntry {
            org: "o",
            actor: "t",
            action: "repo.update",
            target: "r",
            outcome: "ok",
            detail: None,
        }
    }

    #[tokio::test]
    async fn queued_builds_of_a_repo_coalesce_and_one_runs_at_a_time() {
        let (_d, s) = store().await;
        let b1 = saved(&s, "r", "{\"v\":1}").await;
        // Same declaration: nothing to build.
        assert_eq!(
            s.save_repo("o", "r", "{\"v\":1}", &audit()).await.unwrap(),
            None
        );
        let c1 = claimed(&s, "w1").await;
        assert_eq!(c1.build.id, b1);
        let b2 = saved(&s, "r", "{\"v\":2}").await;
        let b3 = saved(&s, "r", "{\"v\":3}").await;
        assert_eq!(b2, b3, "a newer build folds into the queued one");
        assert!(
            s.claim("w2", Duration::from_secs(30))
                .await
                .unwrap()
                .is_none(),
            "r is running"
        );
        assert!(s
            .finish(&b1, "w1", &ended(BuildResult::Success))
            .await
            .unwrap());
        let c2 = claimed(&s, "w2").await;
        assert_eq!(
            (c2.build.id.as_str(), c2.build.config.as_str()),
            (b2.as_str(), "{\"v\":3}")
        );
    }

    #[tokio::test]
    async fn an_expired_lease_is_retried_and_the_old_worker_cannot_finish() {
        let (_d, s) = store().await;
        let b = saved(&s, "r", "{}").await;
        let first = s
            .claim("dead", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        assert!(!first.retried);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let again = claimed(&s, "alive").await;
        assert_eq!(again.build.id, b);
        assert!(again.retried);
        assert_eq!(again.build.attempts, 2);
        assert!(!s.renew(&b, "dead", Duration::from_secs(30)).await.unwrap());
        assert!(s.renew(&b, "alive", Duration::from_secs(30)).await.unwrap());
    }

    #[tokio::test]
    async fn builds_are_numbered_per_repo_and_a_coalesced_one_keeps_its_number() {
        let (_d, s) = store().await;
        let b1 = saved(&s, "r", "{\"v\":1}").await;
        claimed(&s, "w").await;
        let b2 = saved(&s, "r", "{\"v\":2}").await;
        let again = s
            .trigger_build(
                "o",
                "r",
                Trigger::PackageUpdate,
                "[{\"kind\":\"upgrade\"}]",
                &audit(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, b2, "coalesced");
        let other = saved(&s, "q", "{}").await;
        let number = |id: String| {
            let s = s.clone();
            async move { s.build("o", &id).await.unwrap().unwrap() }
        };
        assert_eq!(number(b1).await.number, Some(1));
        let queued = number(b2).await;
        assert_eq!(queued.number, Some(2));
        assert_eq!(queued.trigger(), Trigger::PackageUpdate);
        assert_eq!(queued.changes, "[{\"kind\":\"upgrade\"}]");
        assert_eq!(number(other).await.number, Some(1));
    }

    #[tokio::test]
    async fn hand_back_requeues_without_counting_an_attempt() {
        let (_d, s) = store().await;
        let b = saved(&s, "r", "{}").await;
        claimed(&s, "w").await;
        s.hand_back(&b, "w").await.unwrap();
        let row = s.build("o", &b).await.unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.attempts), ("queued", 0));
        assert_eq!(s.integrity_check().await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn retention_keeps_each_repo_s_latest_success() {
        let (_d, s) = store().await;
        let mut ids = Vec::new();
        for (i, result) in [
            BuildResult::Success,
            BuildResult::Success,
            BuildResult::Failure,
        ]
        .into_iter()
        .enumerate()
        {
            let id = saved(&s, "r", &format!("{{\"v\":{i}}}")).await;
            claimed(&s, "w").await;
            s.append_log(&id, 0, "line\n").await.unwrap();
            assert!(s.finish(&id, "w", &ended(result)).await.unwrap());
            ids.push(id);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(s.prune(now_ms() + 1).await.unwrap(), 2);
        let left: Vec<_> = s
            .builds("o", None, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(left, [ids[1].clone()]);
        assert!(s.log_after(&ids[0], -1).await.unwrap().is_empty());
        assert_eq!(s.log_after(&ids[1], -1).await.unwrap().len(), 1);
    }
}
