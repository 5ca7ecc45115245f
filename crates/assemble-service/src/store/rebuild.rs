//! The rebuild side of the database: what the update watcher needs (every
//! declaration with its last lock, and what it last saw of each input) and
//! the webhook deliveries.

use sqlx::FromRow;

use super::{new_id, now_ms, Store, StoreError};
use crate::store::BuildRow;

/// A declaration as the watcher sees it.
#[derive(Clone, Debug, FromRow)]
pub struct WatchTarget {
    /// Organization.
    pub org: String,
    /// Repo.
    pub name: String,
    /// JSON declaration.
    pub config: String,
    /// The last successful build's locked config (`None`: never built).
    pub locked: Option<String>,
    /// Number of queued or running builds of the repo.
    pub busy: i64,
}

/// What the watcher last saw of one input.
#[derive(Clone, Debug, Default, FromRow)]
pub struct WatchInput {
    /// `index ARCH REPOSITORY` or `source REFERENCE`.
    pub input: String,
    /// Content fingerprint (a digest) when last read.
    pub fingerprint: Option<String>,
    /// HTTP `ETag` of the last download.
    pub etag: Option<String>,
    /// HTTP `Last-Modified` of the last download.
    pub last_modified: Option<String>,
    /// Failed checks in a row.
    pub failures: i64,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// When it was last checked.
    pub checked_at: i64,
    /// Not checked again before this time (backoff).
    pub next_check_at: i64,
}

/// One webhook delivery, as recorded.
#[derive(Clone, Debug, FromRow)]
pub struct NotificationRow {
    /// Id (the CloudEvent's `id`).
    pub id: String,
    /// The build it is about.
    pub build_id: String,
    /// Organization.
    pub org: String,
    /// Receiver.
    pub url: String,
    /// CloudEvent `type`.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// POSTs so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Delivered or given up.
    pub completed_at: Option<i64>,
}

impl Store {
    /// Every declaration of every organization with its last lock.
    pub async fn watch_targets(&self) -> Result<Vec<WatchTarget>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.org, r.name, r.config, \
                 (SELECT b.locked_config FROM builds b WHERE b.org = r.org AND b.repo = r.name \
                     AND b.state = 'success' ORDER BY b.created_at DESC, b.id DESC LIMIT 1) AS locked, \
                 (SELECT COUNT(*) FROM builds q WHERE q.org = r.org AND q.repo = r.name \
                     AND q.state IN ('queued', 'running')) AS busy \
             FROM repos r ORDER BY r.org, r.name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// What the watcher last saw of every input, by name.
    pub async fn watch_inputs(&self) -> Result<Vec<WatchInput>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM watch_inputs ORDER BY input")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records a check of `w.input` (insert or replace).
    pub async fn save_watch_input(&self, w: &WatchInput) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO watch_inputs (input, fingerprint, etag, last_modified, failures, last_error, \
                 checked_at, next_check_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (input) DO UPDATE SET fingerprint = excluded.fingerprint, etag = excluded.etag, \
                 last_modified = excluded.last_modified, failures = excluded.failures, \
                 last_error = excluded.last_error, checked_at = excluded.checked_at, \
                 next_check_at = excluded.next_check_at",
        )
        .bind(&w.input)
        .bind(&w.fingerprint)
        .bind(&w.etag)
        .bind(&w.last_modified)
        .bind(w.failures)
        .bind(&w.last_error)
        .bind(w.checked_at)
        .bind(w.next_check_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a delivery about to be attempted; returns its id.
    pub async fn insert_notification(
        &self,
        build: &BuildRow,
        url: &str,
        event_type: &str,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO notifications (id, build_id, org, url, event_type, state, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6)",
        )
        .bind(&id)
        .bind(&build.id)
        .bind(&build.org)
        .bind(url)
        .bind(event_type)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Records an attempt of delivery `id`: `state` is `pending` (will be
    /// retried), `delivered` or `failed` (given up).
    pub async fn update_notification(
        &self,
        id: &str,
        state: &str,
        attempts: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = (state != "pending").then(now_ms);
        sqlx::query(
            "UPDATE notifications SET state = $1, attempts = $2, last_error = $3, completed_at = $4 WHERE id = $5",
        )
        .bind(state)
        .bind(attempts)
        .bind(error)
        .bind(done)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The deliveries about build `id`.
    pub async fn notifications(&self, build_id: &str) -> Result<Vec<NotificationRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM notifications WHERE build_id = $1 ORDER BY created_at, url",
        )
        .bind(build_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
