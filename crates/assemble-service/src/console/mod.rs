//! The web console under `/console`: server-rendered pages over the API.
//!
//! People who review or approve images do not run a CLI, so the service
//! serves its own pages. They are built on the API, not beside it: every
//! read and every action calls the API's own handler functions with a
//! [`Ctx`] made from the signed-in token, so capability checks, validation,
//! audit records and errors are the API's, and a viewer's forged POST is
//! refused exactly as a viewer's `PUT /v1/repos/…` is.
//!
//! Pages are [maud] templates: HTML checked and escaped at compile time in
//! ordinary Rust (no template files to keep in step, no runtime parser),
//! which is also why they render in microseconds. The only scripts are a
//! vendored htmx (partial updates: search-as-you-type, the plan preview,
//! following a running build) and `console.js` (keyboard navigation of the
//! package picker, copy buttons, local times); both are served from the
//! binary, so the console works offline and under a strict CSP.
//!
//! Sign-in: a token is exchanged for a session. The cookie holds 256 random
//! bits; the database keeps only their SHA-256 and the token's id, so the
//! session acts as that token (revoking or expiring it ends the session).
//! The cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` behind TLS;
//! every form carries a CSRF token derived from the session secret.

mod chart;
mod views;

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::http::{query, ApiError, Ctx};
use super::routes;
use super::AppState;
use crate::api::{
    self, BuildReport, BuildReportList, ErrorBody, PutResponse, Repo, RepoList, TokenCreated,
    TokenList,
};
use crate::auth::{self, Capability, Role};
use crate::engine::{parse_declaration, PackageHit, SearchScope};
use crate::store::{now_ms, TokenRow};

const COOKIE: &str = "assemble_session";
const LOGIN_COOKIE: &str = "assemble_login";
/// How long a sign-in lasts (the token's own expiry ends it sooner).
const SESSION_MS: i64 = 12 * 3600 * 1000;

/// The console's routes, under `/console`.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { redirect("/console/") }))
        .route("/console", get(|| async { redirect("/console/") }))
        .route("/console/", get(overview).post(create_repo))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/static/{file}", get(asset))
        .route("/console/search", get(search))
        .route("/console/repos/{name}", get(repo_page).post(save_repo))
        .route("/console/repos/{name}/preview", post(preview))
        .route("/console/repos/{name}/rebuild", post(rebuild))
        .route("/console/builds", get(builds_page))
        .route("/console/builds/{id}", get(build_page))
        .route("/console/builds/{id}/live", get(build_live))
        .route("/console/tokens", get(tokens_page).post(create_token))
        .route("/console/tokens/{name}/revoke", post(revoke_token))
        .layer(axum::middleware::from_fn(security_headers))
}

/// Strict headers on every console answer: only our own scripts and
/// styles, no framing, no sniffing, no referrers leaving the site.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/console/")),
        )],
    )
        .into_response()
}

fn html(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Secure` when the request came over TLS (the server behind a TLS proxy
/// that says so); a plain-HTTP loopback console would otherwise lose its
/// cookie.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let tls = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of hex digits")
}

/// The signed-in user: the token the session acts as and the session's
/// CSRF token.
pub(super) struct Session {
    token: TokenRow,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    secret_hash: String,
}

impl Session {
    /// The API context of this user, with the path parameters of `params`.
    fn ctx(&self, s: &AppState, params: &[(&str, &str)]) -> Result<Ctx, ApiError> {
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Ctx::for_token(s, self.token.clone(), params)
    }

    /// Calls the API handler `handler` as this user (path parameters
    /// `params`) and reads its JSON answer.
    async fn api<T, F, Fut>(
        &self,
        s: &AppState,
        params: &[(&str, &str)],
        handler: F,
    ) -> Result<T, Failure>
    where
        T: DeserializeOwned,
        F: FnOnce(Ctx) -> Fut,
        Fut: std::future::Future<Output = Result<Response, ApiError>>,
    {
        let ctx = self.ctx(s, params).map_err(failure)?;
        answer(handler(ctx).await).await
    }

    /// The token's role (the controls a page shows).
    pub fn role(&self) -> Role {
        self.token.role.parse().unwrap_or(Role::Viewer)
    }

    /// True when the role grants `cap`.
    pub fn can(&self, cap: Capability) -> bool {
        self.role().grants(cap)
    }

    /// The organization.
    pub fn org(&self) -> &str {
        &self.token.org
    }

    /// The token's name.
    pub fn actor(&self) -> &str {
        &self.token.name
    }

    /// Refuses a POST whose CSRF token (form field `csrf` or header
    /// `X-CSRF-Token`) is not this session's.
    fn check_csrf(&self, headers: &HeaderMap, form: &Form) -> Result<(), Refused> {
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| form.get("csrf"));
        match sent {
            Some(t) if same(t, &self.csrf) => Ok(()),
            _ => Err(Box::new(views::error_page(
                Some(self),
                StatusCode::FORBIDDEN,
                "This form was not sent by this console (the CSRF token is missing or stale). \
                 Reload the page and try again.",
            ))),
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Session, Response> {
        let to_login = || {
            let next = parts.uri.path();
            if parts.method == axum::http::Method::GET {
                redirect(&format!(
                    "/console/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                ))
            } else {
                views::error_page(
                    None,
                    StatusCode::UNAUTHORIZED,
                    "You are not signed in (or your session ended). Sign in again.",
                )
            }
        };
        let Some(secret) = cookie(&parts.headers, COOKIE) else {
            return Err(to_login());
        };
        let secret_hash = sha256_hex(secret);
        let internal = |e: crate::store::StoreError| {
            views::error_page(None, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        };
        let Some(token_id) = s
            .store
            .session_token(&secret_hash)
            .await
            .map_err(internal)?
        else {
            return Err(to_login());
        };
        let Some(token) = s.store.token(&token_id).await.map_err(internal)? else {
            return Err(to_login());
        };
        let session = Session {
            csrf: sha256_hex(&format!("csrf\0{secret}")),
            token,
            secret_hash,
        };
        // A revoked or expired token ends the session.
        session.ctx(s, &[]).map_err(|_| to_login())?;
        Ok(session)
    }
}

/// A refused request's answer (boxed: a `Response` is large).
type Refused = Box<Response>;

/// A submitted `application/x-www-form-urlencoded` body.
#[derive(Default)]
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    async fn read(body: Body, limit: usize) -> Result<Form, Refused> {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            Box::new(views::error_page(
                None,
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than this server accepts.",
            ))
        })?;
        Ok(Form(
            url::form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A POSTed form of a signed-in user whose CSRF token checked out: the
/// only way the console's handlers receive a form.
pub(super) struct Posted {
    session: Session,
    form: Form,
}

impl axum::extract::FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Posted, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, s).await?;
        let form = Form::read(body, s.config.max_body).await.map_err(|e| *e)?;
        session.check_csrf(&parts.headers, &form).map_err(|e| *e)?;
        Ok(Posted { session, form })
    }
}

/// An API answer that was not a success: its status and error body.
pub(super) struct Failure {
    status: StatusCode,
    body: ErrorBody,
}

/// The JSON of an API handler's answer.
async fn answer<T: DeserializeOwned>(a: Result<Response, ApiError>) -> Result<T, Failure> {
    let res = a.unwrap_or_else(IntoResponse::into_response);
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let broken = |e: serde_json::Error| Failure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: ErrorBody {
            error: "internal".into(),
            message: Some(format!("unreadable API answer: {e}")),
            missing_capability: None,
            errors: Vec::new(),
        },
    };
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(broken)
    } else {
        Err(Failure {
            status,
            body: serde_json::from_slice(&bytes).map_err(broken)?,
        })
    }
}

impl Failure {
    fn page(&self, session: &Session) -> Response {
        let mut text = self.body.message.clone().unwrap_or_default();
        if let Some(cap) = self.body.missing_capability {
            text = format!(
                "Your role ({}) does not allow this: it needs the capability {cap}.",
                session.role()
            );
        }
        views::error_page(Some(session), self.status, &text)
    }
}

// ---- sign-in ----

async fn login_page(headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let next = query(q).remove("next").unwrap_or_default();
    login_form(&headers, &next, None, StatusCode::OK)
}

fn login_form(
    headers: &HeaderMap,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    // Sign-in has no session yet: a login CSRF token in a cookie of its
    // own, echoed by the form (a cross-site page can set neither).
    let csrf = random_hex();
    let mut res = html(status, views::login(&csrf, next, error));
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, LOGIN_COOKIE, &csrf, 3600),
    );
    res
}

async fn login(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let form = match Form::read(body, 16 << 10).await {
        Ok(f) => f,
        Err(e) => return *e,
    };
    let next = form
        .get("next")
        .filter(|n| n.starts_with("/console/") && !n.starts_with("//"))
        .unwrap_or("/console/")
        .to_owned();
    let expected = cookie(&headers, LOGIN_COOKIE);
    if !matches!((expected, form.get("csrf")), (Some(a), Some(b)) if same(a, b)) {
        return views::error_page(
            None,
            StatusCode::FORBIDDEN,
            "The sign-in form was not sent by this console (CSRF check). Reload it and try again.",
        );
    }
    let presented = form.get("token").unwrap_or_default().trim();
    let refused = |why: &str| login_form(&headers, &next, Some(why), StatusCode::UNAUTHORIZED);
    let Some(id) = auth::token_id(presented) else {
        return refused("That is not a token: tokens look like cas_… (see DATA/owner-token).");
    };
    let row = match s.store.token(id).await {
        Ok(Some(row)) if auth::verify(presented, &row.secret_hash) => row,
        Ok(_) => return refused("This token is not valid."),
        Err(e) => {
            return views::error_page(None, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    };
    if let Err(e) = Ctx::for_token(&s, row.clone(), HashMap::new()) {
        let why = failure(e).body.message.unwrap_or_default();
        return refused(&why);
    }
    let secret = random_hex();
    let expires = match row.expires_at {
        Some(t) => t.min(now_ms() + SESSION_MS),
        None => now_ms() + SESSION_MS,
    };
    if let Err(e) = s
        .store
        .insert_session(&sha256_hex(&secret), &row.id, expires)
        .await
    {
        return views::error_page(None, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let mut res = redirect(&next);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, COOKIE, &secret, (expires - now_ms()) / 1000),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, "", 0),
    );
    res
}

async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    Posted { session, .. }: Posted,
) -> Response {
    let _ = s.store.delete_session(&session.secret_hash).await;
    let mut res = redirect("/console/login");
    res.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&headers, COOKIE, "", 0));
    res
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match file.as_str() {
        "htmx.min.js" => (include_str!("assets/htmx.min.js"), "text/javascript"),
        "console.js" => (include_str!("assets/console.js"), "text/javascript"),
        "console.css" => (include_str!("assets/console.css"), "text/css"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
            (header::CACHE_CONTROL, "public, max-age=3600".into()),
        ],
        body,
    )
        .into_response()
}

// ---- pages ----

async fn overview(State(s): State<AppState>, session: Session) -> Response {
    let started = std::time::Instant::now();
    let list: RepoList = match session
        .api(&s, &[], |ctx| routes::list_repos(State(s.clone()), ctx))
        .await
    {
        Ok(l) => l,
        Err(f) => return f.page(&session),
    };
    let mut res = html(
        StatusCode::OK,
        views::overview(&session, &list.repos, &NewRepo::default()),
    );
    server_timing(&mut res, started);
    res
}

/// The values and problems of the "new image" form.
#[derive(Default)]
pub(super) struct NewRepo {
    name: String,
    source: String,
    repositories: String,
    keyring: String,
    errors: Vec<api::FieldError>,
}

async fn create_repo(State(s): State<AppState>, Posted { session, form }: Posted) -> Response {
    let lines = |key: &str| -> Vec<Value> {
        form.get(key)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Value::String(l.to_owned()))
            .collect()
    };
    let new = NewRepo {
        name: form.get("name").unwrap_or_default().trim().to_owned(),
        source: form.get("source").unwrap_or_default().trim().to_owned(),
        repositories: form.get("repositories").unwrap_or_default().to_owned(),
        keyring: form.get("keyring").unwrap_or_default().to_owned(),
        errors: Vec::new(),
    };
    let mut decl = Map::new();
    decl.insert("source".into(), Value::String(new.source.clone()));
    for key in ["repositories", "keyring"] {
        let values = lines(key);
        if !values.is_empty() {
            decl.insert(key.into(), Value::Array(values));
        }
    }
    match put(&s, &session, &new.name.clone(), Value::Object(decl), false).await {
        Ok(done) => redirect(&after_save(&new.name, &done)),
        Err(f) if f.status == StatusCode::BAD_REQUEST => {
            let list: RepoList = match session
                .api(&s, &[], |ctx| routes::list_repos(State(s.clone()), ctx))
                .await
            {
                Ok(l) => l,
                Err(f) => return f.page(&session),
            };
            let errors = field_errors(&f);
            html(
                StatusCode::BAD_REQUEST,
                views::overview(&session, &list.repos, &NewRepo { errors, ..new }),
            )
        }
        Err(f) => f.page(&session),
    }
}

/// Every problem of a refused declaration (a plain 400 as one problem).
fn field_errors(f: &Failure) -> Vec<api::FieldError> {
    if f.body.errors.is_empty() {
        vec![api::FieldError::new(
            "",
            f.body.message.clone().unwrap_or_default(),
        )]
    } else {
        f.body.errors.clone()
    }
}

fn after_save(name: &str, done: &PutResponse) -> String {
    match &done.build_id {
        Some(id) => format!("/console/builds/{id}"),
        None => format!("/console/repos/{name}"),
    }
}

/// `PUT /v1/repos/{name}[?dry_run=true]` through the API's handler.
async fn put(
    s: &AppState,
    session: &Session,
    name: &str,
    declaration: Value,
    dry_run: bool,
) -> Result<PutResponse, Failure> {
    let q = dry_run.then(|| "dry_run=true".to_owned());
    let body = Body::from(declaration.to_string());
    session
        .api(s, &[("name", name)], |ctx| {
            routes::put_repo(State(s.clone()), ctx, RawQuery(q), body)
        })
        .await
}

/// What the repo page shows: the repo, its recent builds, the last
/// successful report.
pub(super) struct RepoView {
    repo: Repo,
    builds: Vec<BuildReport>,
    last_success: Option<BuildReport>,
    host: String,
}

async fn load_repo(
    s: &AppState,
    session: &Session,
    name: &str,
    host: String,
) -> Result<RepoView, Failure> {
    let repo: Repo = session
        .api(s, &[("name", name)], |ctx| {
            routes::get_repo(State(s.clone()), ctx)
        })
        .await?;
    let q = format!(
        "repo={}&since=3650d&limit=60",
        url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
    );
    let list: BuildReportList = session
        .api(s, &[], |ctx| {
            routes::list_reports(State(s.clone()), ctx, RawQuery(Some(q)))
        })
        .await?;
    let last_success = list
        .reports
        .iter()
        .find(|b| b.result == api::BuildResult::Success)
        .cloned();
    Ok(RepoView {
        repo,
        builds: list.reports,
        last_success,
        host,
    })
}

/// An API error as a [`Failure`].
fn failure(e: ApiError) -> Failure {
    let (status, body) = e.into_parts();
    Failure { status, body }
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost")
        .to_owned()
}

fn server_timing(res: &mut Response, started: std::time::Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={ms:.2}")) {
        res.headers_mut().insert("server-timing", v);
    }
}

async fn repo_page(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let started = std::time::Instant::now();
    match load_repo(&s, &session, &name, host(&headers)).await {
        Ok(view) => {
            let mut res = html(
                StatusCode::OK,
                views::repo(&session, &view, &Edit::default()),
            );
            server_timing(&mut res, started);
            res
        }
        Err(f) => f.page(&session),
    }
}

/// The edit form as submitted, and what the API said about it.
#[derive(Default)]
pub(super) struct Edit {
    source: Option<String>,
    packages: Option<Vec<String>>,
    errors: Vec<api::FieldError>,
}

/// The stored declaration with the form's source and packages.
fn edited(stored: &Value, form: &Form) -> (Value, Edit) {
    let mut decl = stored.as_object().cloned().unwrap_or_default();
    let source = form.get("source").unwrap_or_default().trim().to_owned();
    let packages: Vec<String> = form
        .all("package")
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    decl.insert("source".into(), Value::String(source.clone()));
    decl.insert(
        "packages".into(),
        Value::Array(packages.iter().cloned().map(Value::String).collect()),
    );
    (
        Value::Object(decl),
        Edit {
            source: Some(source),
            packages: Some(packages),
            errors: Vec::new(),
        },
    )
}

async fn save_repo(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Posted { session, form }: Posted,
) -> Response {
    let view = match load_repo(&s, &session, &name, host(&headers)).await {
        Ok(v) => v,
        Err(f) => return f.page(&session),
    };
    let (decl, edit) = edited(&view.repo.config, &form);
    match put(&s, &session, &name, decl, false).await {
        Ok(done) => redirect(&after_save(&name, &done)),
        Err(f) if f.status == StatusCode::BAD_REQUEST => {
            let edit = Edit {
                errors: field_errors(&f),
                ..edit
            };
            html(StatusCode::BAD_REQUEST, views::repo(&session, &view, &edit))
        }
        Err(f) => f.page(&session),
    }
}

async fn preview(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Posted { session, form }: Posted,
) -> Response {
    let stored = match session
        .api::<Repo, _, _>(&s, &[("name", &name)], |ctx| {
            routes::get_repo(State(s.clone()), ctx)
        })
        .await
    {
        Ok(r) => r.config,
        Err(f) => return f.page(&session),
    };
    let (decl, _) = edited(&stored, &form);
    let sizes = match parse_declaration(&name, &decl) {
        Ok(d) => installed_sizes(&s, &session, Some(&d), "").await,
        Err(_) => BTreeMap::new(),
    };
    match put(&s, &session, &name, decl, true).await {
        Ok(plan) => html(StatusCode::OK, views::plan(&plan, &sizes)),
        Err(f) if f.status == StatusCode::BAD_REQUEST => {
            html(StatusCode::OK, views::plan_errors(&field_errors(&f)))
        }
        Err(f) => f.page(&session),
    }
}

/// Installed sizes by package name, from the search scope.
async fn installed_sizes(
    s: &AppState,
    session: &Session,
    extra: Option<&crate::engine::Declaration>,
    query: &str,
) -> BTreeMap<String, u64> {
    search_hits(s, session, extra, query)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|h| Some((h.name, h.installed_size?)))
        .collect()
}

/// The organization's entitled repositories and keys, as its repos'
/// declarations (and `extra`, the one being edited) name them.
async fn scope(
    s: &AppState,
    session: &Session,
    extra: Option<&crate::engine::Declaration>,
) -> Result<SearchScope, String> {
    let org = session.org();
    let entitlement = &s.config.orgs[org];
    let rows = s.store.repos(org).await.map_err(|e| e.to_string())?;
    let mut scope = SearchScope {
        arch: "x86_64".into(),
        ..SearchScope::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    let parsed = rows.iter().filter_map(|row| {
        let json: Value = serde_json::from_str(&row.config).ok()?;
        parse_declaration(&row.name, &json).ok()
    });
    let decls: Vec<_> = extra.cloned().into_iter().chain(parsed).collect();
    for d in &decls {
        if d.local_path_errors(s.config.allow_local_paths)
            .iter()
            .any(|e| e.path.starts_with("/repositories") || e.path.starts_with("/keyring"))
        {
            continue;
        }
        for r in &d.image.repositories {
            let r = &r.value;
            if entitlement.allows_repository(&r.as_written) && seen.insert(r.as_written.clone()) {
                scope.repositories.push(r.clone());
            }
        }
        for k in &d.image.keyring {
            if !scope.keyring.contains(&k.value.path) {
                scope.keyring.push(k.value.path.clone());
            }
        }
    }
    if let Some(arch) = extra.and_then(|d| d.image.architectures.first()) {
        scope.arch = arch.value.clone();
    }
    Ok(scope)
}

async fn search_hits(
    s: &AppState,
    session: &Session,
    extra: Option<&crate::engine::Declaration>,
    query: &str,
) -> Result<Vec<PackageHit>, String> {
    let scope = scope(s, session, extra).await?;
    let engine = s.engine.clone();
    let q = query.to_owned();
    let mut hits = tokio::task::spawn_blocking(move || engine.search(&scope, &q))
        .await
        .map_err(|e| format!("the search crashed: {e}"))??;
    let entitlement = &s.config.orgs[session.org()];
    hits.retain(|h| entitlement.refuses_package(&h.name, None).is_none());
    Ok(hits)
}

async fn search(State(s): State<AppState>, session: Session, RawQuery(q): RawQuery) -> Response {
    let q = query(q);
    let text = q.get("q").map(|t| t.trim()).unwrap_or_default().to_owned();
    if text.is_empty() {
        return html(
            StatusCode::OK,
            views::search_results(&text, &Ok(Vec::new())),
        );
    }
    let repo = q.get("repo").cloned().unwrap_or_default();
    let decl = match s.store.repo(session.org(), &repo).await {
        Ok(Some(row)) => serde_json::from_str::<Value>(&row.config)
            .ok()
            .and_then(|json| parse_declaration(&repo, &json).ok()),
        _ => None,
    };
    let mut hits = search_hits(&s, &session, decl.as_ref(), &text).await;
    if let Ok(h) = &mut hits {
        // Exact and prefix matches first, then by name.
        h.sort_by_key(|p| (p.name != text, !p.name.starts_with(&text), p.name.clone()));
        h.truncate(30);
    }
    html(StatusCode::OK, views::search_results(&text, &hits))
}

async fn rebuild(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    let queued = session
        .api::<api::BuildQueued, _, _>(&s, &[("name", &name)], |ctx| {
            routes::trigger_build(State(s.clone()), ctx)
        })
        .await;
    match queued {
        Ok(q) => redirect(&format!("/console/builds/{}", q.build_id)),
        Err(f) => f.page(&session),
    }
}

/// The build history's filters.
#[derive(Default)]
pub(super) struct Filters {
    repo: String,
    result: String,
    since: String,
}

async fn builds_page(
    State(s): State<AppState>,
    session: Session,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(q);
    let filters = Filters {
        repo: q.get("repo").cloned().unwrap_or_default(),
        result: q.get("result").cloned().unwrap_or_default(),
        since: q
            .get("since")
            .cloned()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "7d".into()),
    };
    let api_q = {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("since", &filters.since);
        q.append_pair("limit", "500");
        if !filters.repo.is_empty() {
            q.append_pair("repo", &filters.repo);
        }
        q.finish()
    };
    let list: Result<BuildReportList, Failure> = session
        .api(&s, &[], |ctx| {
            routes::list_reports(State(s.clone()), ctx, RawQuery(Some(api_q)))
        })
        .await;
    match list {
        Ok(mut list) => {
            if let Some(r) = api::BuildResult::parse(&filters.result) {
                list.reports.retain(|b| b.result == r);
            }
            html(
                StatusCode::OK,
                views::builds(&session, &list.reports, &filters, None),
            )
        }
        Err(f) if f.status == StatusCode::BAD_REQUEST => html(
            StatusCode::BAD_REQUEST,
            views::builds(&session, &[], &filters, f.body.message.as_deref()),
        ),
        Err(f) => f.page(&session),
    }
}

async fn get_build(s: &AppState, session: &Session, id: &str) -> Result<BuildReport, Failure> {
    session
        .api(s, &[("id", id)], |ctx| {
            routes::get_report(State(s.clone()), ctx)
        })
        .await
}

async fn build_page(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match get_build(&s, &session, &id).await {
        Ok(b) => html(StatusCode::OK, views::build(&session, &b, &host(&headers))),
        Err(f) => f.page(&session),
    }
}

/// The part of the build page that follows a running build: polled by
/// htmx every second until the build is final.
async fn build_live(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match get_build(&s, &session, &id).await {
        Ok(b) => html(StatusCode::OK, views::build_live(&b, &host(&headers))),
        Err(f) => f.page(&session),
    }
}

async fn tokens_page(State(s): State<AppState>, session: Session) -> Response {
    tokens_answer(&s, &session, None, None).await
}

async fn tokens_answer(
    s: &AppState,
    session: &Session,
    created: Option<&TokenCreated>,
    error: Option<&str>,
) -> Response {
    let list =
        session.api::<TokenList, _, _>(s, &[], |ctx| routes::list_tokens(State(s.clone()), ctx));
    match list.await {
        Ok(list) => html(
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            views::tokens(session, &list.tokens, created, error),
        ),
        Err(f) => f.page(session),
    }
}

async fn create_token(State(s): State<AppState>, Posted { session, form }: Posted) -> Response {
    let mut req = Map::new();
    req.insert(
        "name".into(),
        form.get("name").unwrap_or_default().trim().into(),
    );
    req.insert("role".into(), form.get("role").unwrap_or_default().into());
    if let Some(e) = form
        .get("expires_in")
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        req.insert("expires_in".into(), e.into());
    }
    let body = Body::from(Value::Object(req).to_string());
    let made = session.api::<TokenCreated, _, _>(&s, &[], |ctx| {
        routes::create_token(State(s.clone()), ctx, body)
    });
    match made.await {
        Ok(created) => tokens_answer(&s, &session, Some(&created), None).await,
        Err(f) if f.status == StatusCode::BAD_REQUEST || f.status == StatusCode::CONFLICT => {
            let why = f.body.message.clone().unwrap_or_default();
            tokens_answer(&s, &session, None, Some(&why)).await
        }
        Err(f) => f.page(&session),
    }
}

async fn revoke_token(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Posted { session, .. }: Posted,
) -> Response {
    let ctx = match session.ctx(&s, &[("name", &name)]) {
        Ok(c) => c,
        Err(e) => return failure(e).page(&session),
    };
    let res = routes::revoke_token(State(s.clone()), ctx)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if res.status().is_success() {
        redirect("/console/tokens")
    } else {
        match answer::<Value>(Ok(res)).await {
            Err(f) => f.page(&session),
            Ok(_) => redirect("/console/tokens"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let mut headers = HeaderMap::new();
        let plain = set_cookie(&headers, COOKIE, "ab", 60);
        assert_eq!(
            plain,
            "assemble_session=ab; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let tls = set_cookie(&headers, COOKIE, "ab", 60);
        assert!(tls.to_str().unwrap().ends_with("; Secure"), "{tls:?}");
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; assemble_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "assemble"), None);
    }

    #[test]
    fn pull_commands_name_the_pushed_registry_or_this_host() {
        let d = "sha256:abc";
        assert_eq!(
            views::pull_command("h:7878", "app", &[], d),
            "docker pull h:7878/app@sha256:abc"
        );
        let pushed = ["registry.example:5000/team/app:latest".to_owned()];
        assert_eq!(
            views::pull_command("h", "app", &pushed, d),
            "docker pull registry.example:5000/team/app@sha256:abc"
        );
        let by_digest = ["r.example/app@sha256:old".to_owned()];
        assert_eq!(
            views::pull_command("h", "app", &by_digest, d),
            "docker pull r.example/app@sha256:abc"
        );
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(views::bytes(512), "512 B");
        assert_eq!(views::bytes(1536), "1.5 KiB");
        assert_eq!(views::bytes(3 << 30), "3.0 GiB");
    }
}
