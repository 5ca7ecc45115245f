//! The API's handlers: each checks a capability, calls the store (and the
//! engine for plans), and answers JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::http::{json_body, query, ApiError, Ctx};
use super::AppState;
use crate::api::{
    self, BuildQueued, BuildReport, BuildReportList, BuildSummary, Change, FieldError, PutResponse,
    Repo, RepoList, TokenCreated, TokenInfo, TokenList, Trigger,
};
use crate::auth::{self, Capability};
use crate::engine::{parse_declaration, Declaration, Plan};
use crate::store::{now_ms, rfc3339, BuildRow, Deleted, RepoRow, TokenRow};

type Answer = Result<Response, ApiError>;

pub(super) async fn healthz(State(s): State<AppState>) -> Answer {
    s.store.ping().await?;
    Ok(Json(api::Health {
        status: "ok".into(),
    })
    .into_response())
}

pub(super) async fn metrics(State(s): State<AppState>) -> Answer {
    let counts = s.store.state_counts().await?;
    let mut out = String::new();
    out.push_str("# HELP cargo_assemble_builds_stored Build reports in the database, by state.\n# TYPE cargo_assemble_builds_stored gauge\n");
    for state in ["queued", "running", "success", "failure"] {
        let n = counts
            .iter()
            .find(|(k, _)| k == state)
            .map_or(0, |(_, n)| *n);
        out.push_str(&format!(
            "cargo_assemble_builds_stored{{state=\"{state}\"}} {n}\n"
        ));
    }
    let queued = counts
        .iter()
        .find(|(k, _)| k == "queued")
        .map_or(0, |(_, n)| *n);
    out.push_str("# HELP cargo_assemble_queue_depth Builds waiting for a worker.\n# TYPE cargo_assemble_queue_depth gauge\n");
    out.push_str(&format!("cargo_assemble_queue_depth {queued}\n"));
    s.metrics.render(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

// ---- repos ----

pub(super) async fn list_repos(State(s): State<AppState>, ctx: Ctx) -> Answer {
    ctx.require(&s, Capability::RepoList, "").await?;
    let mut latest = s.store.latest_builds_by_repo(&ctx.org).await?;
    let repos = s
        .store
        .repos(&ctx.org)
        .await?
        .into_iter()
        .map(|row| {
            let builds = latest.remove(&row.name).unwrap_or_default();
            repo_json(row, builds)
        })
        .collect();
    Ok(Json(RepoList { repos }).into_response())
}

pub(super) async fn get_repo(State(s): State<AppState>, ctx: Ctx) -> Answer {
    ctx.require(&s, Capability::RepoGet, ctx.param("name"))
        .await?;
    let row = find_repo(&s, &ctx).await?;
    Ok(Json(repo_view(&s, row).await?).into_response())
}

async fn find_repo(s: &AppState, ctx: &Ctx) -> Result<RepoRow, ApiError> {
    let name = ctx.param("name");
    s.store
        .repo(&ctx.org, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no repo '{name}'")))
}

async fn repo_view(s: &AppState, row: RepoRow) -> Result<Repo, ApiError> {
    let builds = s.store.latest_builds(&row.org, &row.name).await?;
    Ok(repo_json(row, builds))
}

/// A repo with its newest build and its newest successful one.
fn repo_json(row: RepoRow, (latest, success): (Option<BuildRow>, Option<BuildRow>)) -> Repo {
    Repo {
        config: serde_json::from_str(&row.config).unwrap_or(Value::Null),
        latest_build: latest.map(|b| BuildSummary {
            result: b.result(),
            trigger: b.trigger(),
            created_at: rfc3339(b.created_at),
            completed_at: b.completed_at.map(rfc3339),
            id: b.id,
        }),
        digests: success.map(|b| json_field(&b.digests)).unwrap_or_default(),
        name: row.name,
    }
}

/// `PUT /v1/repos/{name}[?dry_run=true]`: check everything, then store and
/// queue, or answer 400 with every problem and store nothing. A PUT needs
/// `repo.update`; one that creates the repo needs `repo.create` too.
pub(super) async fn put_repo(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
    body: Body,
) -> Answer {
    let name = ctx.param("name").to_owned();
    let dry_run = query(q)
        .get("dry_run")
        .is_some_and(|v| v == "true" || v == "1");
    ctx.require(&s, Capability::RepoUpdate, &name).await?;
    let existing = s.store.repo(&ctx.org, &name).await?;
    if existing.is_none() {
        ctx.require(&s, Capability::RepoCreate, &name).await?;
    }
    if !api::valid_name(&name) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/name",
            format!("'{name}' is not a valid image name: lowercase letters and digits separated by single '.', '_' or '-', at most 128 characters"),
        )]));
    }
    let body = json_body(body, s.config.max_body).await?;
    let checked = check(&s, &ctx.org, &name, &body).await;
    let (declaration, plan) = match checked {
        Ok(ok) => ok,
        Err(errors) => {
            if !dry_run {
                let audit = ctx.audit(Capability::RepoUpdate, &name, "invalid");
                s.store.audit(&audit).await?;
            }
            return Err(ApiError::invalid(errors));
        }
    };
    if dry_run {
        return Ok(Json(PutResponse {
            changes: plan.changes,
            build_id: None,
            warnings: plan.warnings,
        })
        .into_response());
    }
    let cap = if existing.is_some() {
        Capability::RepoUpdate
    } else {
        Capability::RepoCreate
    };
    let build_id = s
        .store
        .save_repo(
            &ctx.org,
            &name,
            &declaration.json.to_string(),
            &ctx.audit(cap, &name, "ok"),
        )
        .await?;
    if build_id.is_some() {
        s.wake.notify_waiters();
    }
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(PutResponse {
            changes: plan.changes,
            build_id,
            warnings: plan.warnings,
        }),
    )
        .into_response())
}

/// Shape, entitlement and engine checks, every problem at once.
async fn check(
    s: &AppState,
    org: &str,
    name: &str,
    body: &Value,
) -> Result<(Declaration, Plan), Vec<FieldError>> {
    let entitlement = &s.config.orgs[org];
    let mut errors = entitlement.check_declaration(body);
    let declaration = match parse_declaration(name, body) {
        Ok(d) => d,
        Err(mut shape) => {
            shape.append(&mut errors);
            return Err(shape);
        }
    };
    let mut local = declaration.local_path_errors(s.config.allow_local_paths);
    if !local.is_empty() {
        local.append(&mut errors);
        return Err(local);
    }
    let previous = match s.store.latest_builds(org, name).await {
        Ok((_, success)) => success
            .and_then(|b| b.locked_config)
            .and_then(|c| serde_json::from_str::<Value>(&c).ok()),
        Err(e) => {
            return Err(vec![FieldError::new(
                "",
                format!("cannot read the previous build: {e}"),
            )])
        }
    };
    let engine = s.engine.clone();
    let d = declaration.clone();
    let planned = tokio::task::spawn_blocking(move || engine.check(&d, previous.as_ref()))
        .await
        .unwrap_or_else(|e| {
            Err(vec![FieldError::new(
                "",
                format!("the engine crashed: {e}"),
            )])
        });
    let plan = match planned {
        Ok(plan) => plan,
        Err(mut found) => {
            errors.append(&mut found);
            return Err(errors);
        }
    };
    // The whole closure, not only what was written, must be entitled.
    for p in &plan.packages {
        if let Some(why) = entitlement.refuses_package(&p.name, Some(&p.version)) {
            errors.push(FieldError::new("/packages", why));
        } else if !entitlement.allows_repository(&p.repository) {
            errors.push(FieldError::new(
                "/repositories",
                format!(
                    "package '{}' comes from '{}', which is not entitled to your organization",
                    p.name,
                    assemble_io::url::redact(&p.repository)
                ),
            ));
        }
    }
    errors.dedup();
    if errors.is_empty() {
        Ok((declaration, plan))
    } else {
        Err(errors)
    }
}

pub(super) async fn delete_repo(State(s): State<AppState>, ctx: Ctx) -> Answer {
    let name = ctx.param("name");
    ctx.require(&s, Capability::RepoDelete, name).await?;
    match s
        .store
        .delete_repo(
            &ctx.org,
            name,
            &ctx.audit(Capability::RepoDelete, name, "ok"),
        )
        .await?
    {
        Deleted::Yes => Ok(StatusCode::NO_CONTENT.into_response()),
        Deleted::NotFound => Err(ApiError::not_found(format!("no repo '{name}'"))),
        Deleted::Running => Err(ApiError::conflict(format!(
            "a build of '{name}' is running; delete the repo once it has finished"
        ))),
    }
}

pub(super) async fn trigger_build(State(s): State<AppState>, ctx: Ctx) -> Answer {
    let name = ctx.param("name");
    ctx.require(&s, Capability::BuildTrigger, name).await?;
    let audit = ctx.audit(Capability::BuildTrigger, name, "ok");
    let build_id = s
        .store
        .trigger_build(&ctx.org, name, Trigger::Manual, "[]", &audit)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no repo '{name}'")))?;
    s.wake.notify_waiters();
    Ok((StatusCode::ACCEPTED, Json(BuildQueued { build_id })).into_response())
}

/// `GET /v1/watch`: what the update watcher last saw of the inputs of the
/// organization's built declarations, failures and backoff included.
pub(super) async fn watch_report(State(s): State<AppState>, ctx: Ctx) -> Answer {
    ctx.require(&s, Capability::BuildReportList, "").await?;
    let targets: Vec<_> = s
        .store
        .watch_targets()
        .await?
        .into_iter()
        .filter(|t| t.org == ctx.org)
        .filter_map(|t| {
            let config: Value = serde_json::from_str(&t.config).ok()?;
            let decl = crate::engine::parse_declaration(&t.name, &config).ok()?;
            Some((decl, serde_json::from_str(t.locked.as_deref()?).ok()?))
        })
        .collect();
    let inputs = crate::watch::report(&s.store, &targets).await?;
    Ok(Json(crate::api::WatchReport {
        poll_interval: humantime::format_duration(s.poll_interval).to_string(),
        inputs,
    })
    .into_response())
}

// ---- build reports ----

pub(super) async fn list_reports(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Answer {
    ctx.require(&s, Capability::BuildReportList, "").await?;
    let q = query(q);
    let since = match q.get("since") {
        None => now_ms() - 86_400_000,
        Some(text) => parse_since(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "since={text:?}: write a duration such as 24h or 7d, or an RFC 3339 time"
            ))
        })?,
    };
    let limit = match q.get("limit") {
        None => 1000,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| ApiError::bad_request("limit must be 1..10000"))?,
    };
    let repo = q.get("repo").map(String::as_str).filter(|r| !r.is_empty());
    let rows = s.store.builds(&ctx.org, repo, since, limit).await?;
    let reports = rows.into_iter().map(|b| report(b, None)).collect();
    Ok(Json(BuildReportList { reports }).into_response())
}

/// `24h`, `7d` (that long ago) or an RFC 3339 time, as Unix milliseconds.
fn parse_since(text: &str) -> Option<i64> {
    if let Ok(d) = humantime::parse_duration(text) {
        return Some(now_ms() - d.as_millis() as i64);
    }
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

async fn find_build(s: &AppState, ctx: &Ctx) -> Result<BuildRow, ApiError> {
    let id = ctx.param("id");
    s.store
        .build(&ctx.org, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no build report '{id}'")))
}

async fn full_log(s: &AppState, id: &str) -> Result<String, ApiError> {
    Ok(s.store
        .log_after(id, -1)
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

pub(super) async fn get_report(State(s): State<AppState>, ctx: Ctx) -> Answer {
    ctx.require(&s, Capability::BuildReportGet, ctx.param("id"))
        .await?;
    let build = find_build(&s, &ctx).await?;
    let log = full_log(&s, &build.id).await?;
    Ok(Json(report(build, Some(log))).into_response())
}

/// The log as text; with `?follow=true` the answer streams until the build
/// ends (or the server shuts down).
pub(super) async fn get_log(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> Answer {
    ctx.require(&s, Capability::BuildReportGet, ctx.param("id"))
        .await?;
    let build = find_build(&s, &ctx).await?;
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !query(q)
        .get("follow")
        .is_some_and(|v| v == "true" || v == "1")
    {
        return Ok((text, full_log(&s, &build.id).await?).into_response());
    }
    struct Follow {
        s: AppState,
        org: String,
        id: String,
        after: i64,
        done: bool,
    }
    let start = Follow {
        s,
        org: ctx.org.clone(),
        id: build.id,
        after: -1,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, |mut f| async move {
        loop {
            if f.done {
                return None;
            }
            let chunks = match f.s.store.log_after(&f.id, f.after).await {
                Ok(c) => c,
                Err(e) => {
                    return Some((
                        Err(std::io::Error::other(e.to_string())),
                        Follow { done: true, ..f },
                    ))
                }
            };
            if let Some((last, _)) = chunks.last() {
                f.after = *last;
                let text: String = chunks.into_iter().map(|(_, t)| t).collect();
                return Some((Ok(text), f));
            }
            // Workers write the whole log before the final state, so an
            // empty read after the end means the log is complete.
            let ended = match f.s.store.build(&f.org, &f.id).await {
                Ok(Some(b)) => b.result().is_final(),
                _ => true,
            };
            if ended || *f.s.shutdown.borrow() {
                f.done = true;
                let rest =
                    f.s.store
                        .log_after(&f.id, f.after)
                        .await
                        .unwrap_or_default();
                let text: String = rest.into_iter().map(|(_, t)| t).collect();
                return Some((Ok(text), f));
            }
            let mut shutdown = f.s.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => {}
            }
        }
    });
    Ok((text, Body::from_stream(stream)).into_response())
}

fn json_field<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

fn report(b: BuildRow, log: Option<String>) -> BuildReport {
    BuildReport {
        result: b.result(),
        trigger: b.trigger(),
        config: serde_json::from_str(&b.config).unwrap_or(Value::Null),
        locked_config: b
            .locked_config
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        warnings: json_field(&b.warnings),
        digests: json_field::<BTreeMap<String, String>>(&b.digests),
        pushed: json_field(&b.pushed),
        changes: json_field::<Vec<Change>>(&b.changes),
        error: b.error,
        attempts: b.attempts,
        created_at: rfc3339(b.created_at),
        started_at: b.started_at.map(rfc3339),
        completed_at: b.completed_at.map(rfc3339),
        log,
        number: b.number,
        worker: b.worker,
        id: b.id,
        repo: b.repo,
    }
}

// ---- tokens ----

fn token_info(t: TokenRow) -> TokenInfo {
    TokenInfo {
        role: t.role.parse().unwrap_or(auth::Role::Viewer),
        created_at: rfc3339(t.created_at),
        expires_at: t.expires_at.map(rfc3339),
        name: t.name,
        org: t.org,
        created_by: t.created_by,
    }
}

pub(super) async fn list_tokens(State(s): State<AppState>, ctx: Ctx) -> Answer {
    ctx.require(&s, Capability::TokenManage, "").await?;
    let tokens = s
        .store
        .tokens(&ctx.org)
        .await?
        .into_iter()
        .map(token_info)
        .collect();
    Ok(Json(TokenList { tokens }).into_response())
}

pub(super) async fn create_token(State(s): State<AppState>, ctx: Ctx, body: Body) -> Answer {
    ctx.require(&s, Capability::TokenManage, "").await?;
    let body = json_body(body, s.config.max_body).await?;
    let req: api::CreateToken = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"name\", \"role\", \"expires_in\"?}}: {e}"
        ))
    })?;
    if !api::valid_name(&req.name) || req.name.len() > 64 {
        return Err(ApiError::bad_request(format!(
            "token name '{}' must be lowercase letters and digits separated by '.', '_' or '-', at most 64 characters",
            req.name
        )));
    }
    let expires_at = match &req.expires_in {
        None => None,
        Some(text) => {
            let d = humantime::parse_duration(text).map_err(|e| {
                ApiError::bad_request(format!("expires_in={text:?}: {e} (write e.g. 30d or 12h)"))
            })?;
            Some(now_ms() + d.as_millis() as i64)
        }
    };
    let made = auth::generate();
    let row = TokenRow {
        id: made.id,
        org: ctx.org.clone(),
        name: req.name.clone(),
        role: req.role.as_str().into(),
        secret_hash: made.hash,
        created_at: now_ms(),
        created_by: ctx.actor.clone(),
        expires_at,
        revoked_at: None,
    };
    let detail = format!("role {}", req.role);
    let audit = crate::store::AuditEntry {
        detail: Some(&detail),
        ..ctx.audit(Capability::TokenManage, &req.name, "ok")
    };
    s.store.insert_token(&row, Some(&audit)).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            token: made.secret,
            info: token_info(row),
        }),
    )
        .into_response())
}

pub(super) async fn revoke_token(State(s): State<AppState>, ctx: Ctx) -> Answer {
    let name = ctx.param("name");
    ctx.require(&s, Capability::TokenManage, name).await?;
    if s.store
        .revoke_token(
            &ctx.org,
            name,
            &ctx.audit(Capability::TokenManage, name, "revoked"),
        )
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no live token named '{name}'")))
    }
}
