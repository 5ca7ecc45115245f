//! HTTP plumbing shared by the routes: JSON errors, the authenticated
//! request context and size-limited JSON bodies.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use crate::api::{ErrorBody, FieldError};
use crate::auth::{self, Capability, Role};
use crate::store::{now_ms, AuditEntry, StoreError, TokenRow};

/// An error answer: a status and a JSON [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                message: Some(message.into()),
                missing_capability: None,
                errors: Vec::new(),
            },
        }
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 naming the capability.
    pub fn forbidden(cap: Capability) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token's role does not grant {cap}"),
        );
        e.body.missing_capability = Some(cap);
        e
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 400 with a plain message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// The status and the body it answers with.
    pub fn into_parts(self) -> (StatusCode, ErrorBody) {
        (self.status, self.body)
    }

    /// 400 listing every problem of a declaration.
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let n = errors.len();
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!(
                "the declaration has {n} problem{}; nothing was stored",
                if n == 1 { "" } else { "s" }
            ),
        );
        e.body.errors = errors;
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            // The details may name internals; the operator sees them in the
            // server's output through the route that failed.
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{other}"),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Turns every error answer that is not JSON (the router's own 404 and 405,
/// rejected extractors) into an [`ErrorBody`]: JSON everywhere but the
/// console's HTML pages.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    // JSON already, or one of the console's HTML error pages.
    let is_json = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = status.canonical_reason().unwrap_or("error").to_owned();
    let mut out = ApiError::new(status, code, message).into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

/// An authenticated request: who, in which organization, with which path
/// parameters. Unprefixed `/v1/…` paths address the token's organization;
/// `/v1/orgs/{org}/…` must name it, and another organization answers 404
/// exactly as one that does not exist.
pub struct Ctx {
    /// The organization addressed (always the token's).
    pub org: String,
    /// The token's name (the actor in the audit table).
    pub actor: String,
    /// The token's role.
    pub role: Role,
    params: HashMap<String, String>,
}

impl Ctx {
    /// A path parameter (`name`, `id`).
    pub fn param(&self, key: &str) -> &str {
        self.params.get(key).map_or("", String::as_str)
    }

    /// Succeeds when the role grants `cap`; otherwise 403, and a refused
    /// mutating call is audited.
    pub async fn require(
        &self,
        state: &AppState,
        cap: Capability,
        target: &str,
    ) -> Result<(), ApiError> {
        if self.role.grants(cap) {
            return Ok(());
        }
        if is_mutating(cap) {
            state
                .store
                .audit(&self.audit(cap, target, "denied"))
                .await?;
        }
        Err(ApiError::forbidden(cap))
    }

    /// An audit record of this caller doing `cap` on `target`.
    pub fn audit<'a>(
        &'a self,
        cap: Capability,
        target: &'a str,
        outcome: &'a str,
    ) -> AuditEntry<'a> {
        AuditEntry {
            org: &self.org,
            actor: &self.actor,
            action: cap.as_str(),
            target,
            outcome,
            detail: None,
        }
    }
}

fn is_mutating(cap: Capability) -> bool {
    use Capability::*;
    matches!(
        cap,
        RepoCreate | RepoUpdate | RepoDelete | BuildTrigger | TokenManage
    )
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Ctx, ApiError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("send a token as 'Authorization: Bearer TOKEN'")
            })?;
        let invalid = || ApiError::unauthorized("the token is not valid");
        let id = auth::token_id(presented).ok_or_else(invalid)?;
        let row = state.store.token(id).await?.ok_or_else(invalid)?;
        if !auth::verify(presented, &row.secret_hash) {
            return Err(invalid());
        }
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let ctx = Ctx::for_token(state, row, params)?;
        if let Some(org) = ctx.params.get("org") {
            if *org != ctx.org {
                return Err(ApiError::not_found(format!("no organization '{org}'")));
            }
        }
        Ok(ctx)
    }
}

impl Ctx {
    /// The context of a request acting as the token `row` (already proven:
    /// by its secret, or by a console session opened with it): refused when
    /// the token was revoked, has expired or its organization is gone.
    pub fn for_token(
        state: &AppState,
        row: TokenRow,
        params: HashMap<String, String>,
    ) -> Result<Ctx, ApiError> {
        if row.revoked_at.is_some() {
            return Err(ApiError::unauthorized("the token was revoked"));
        }
        if row.expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(ApiError::unauthorized("the token has expired"));
        }
        if !state.config.orgs.contains_key(&row.org) {
            return Err(ApiError::unauthorized(
                "the token's organization is no longer configured on this server",
            ));
        }
        let role = row
            .role
            .parse::<Role>()
            .map_err(|_| ApiError::unauthorized("the token is not valid"))?;
        Ok(Ctx {
            org: row.org,
            actor: row.name,
            role,
            params,
        })
    }
}

/// Reads a JSON body of at most `limit` bytes: 413 beyond it, 400 when it
/// is not JSON.
pub async fn json_body(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than this server's limit of {limit} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid(vec![FieldError::new(
            "",
            format!("the body is not valid JSON: {e}"),
        )])
    })
}

/// The query string's parameters.
pub fn query(raw: Option<String>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}
