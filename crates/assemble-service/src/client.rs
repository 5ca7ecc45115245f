//! The blocking client the CLI uses to talk to a server.
//!
//! The server URL and the token come from the caller (the CLI reads
//! `--server`/`CARGO_ASSEMBLE_SERVER` and `--token-file`/`CARGO_ASSEMBLE_TOKEN`).
//! Errors carry the server's [`ErrorBody`], so "forbidden: missing
//! repo.update" reaches the user as the server said it; the token never
//! appears in any message.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{
    BuildQueued, BuildReport, BuildReportList, CreateToken, ErrorBody, PutResponse, Repo, RepoList,
    TokenCreated, TokenList,
};

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the answer not read.
    #[error("cannot reach {server}: {message}")]
    Transport {
        /// The server URL (credentials redacted).
        server: String,
        /// What failed.
        message: String,
    },
    /// The server answered with an error.
    #[error("the server answered {status}: {body}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's explanation.
        body: ErrorBody,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// A connection to one server with one token.
#[derive(Clone, Debug)]
pub struct Client {
    http: Http,
    base: String,
    token: Option<String>,
    org: Option<String>,
}

impl Client {
    /// A client of the server at `server` (`http://127.0.0.1:7878`), sending
    /// `token` when given.
    pub fn new(server: &str, token: Option<String>) -> Result<Client, ClientError> {
        let http = Http::builder()
            .connect_timeout(Duration::from_secs(10))
            // Long enough for a followed log; every other call is quick.
            .timeout(None)
            .build()
            .map_err(|e| ClientError::Transport {
                server: server.into(),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: server.trim_end_matches('/').to_owned(),
            token,
            org: None,
        })
    }

    /// Addresses `/v1/orgs/{org}/…` instead of the token's organization.
    pub fn with_org(mut self, org: Option<String>) -> Client {
        self.org = org;
        self
    }

    fn url(&self, path: &str) -> String {
        match (&self.org, path.strip_prefix("/v1/")) {
            (Some(org), Some(rest)) => format!("{}/v1/orgs/{org}/{rest}", self.base),
            _ => format!("{}{path}", self.base),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn send(&self, r: RequestBuilder) -> Result<Response, ClientError> {
        let res = r.send().map_err(|e| ClientError::Transport {
            server: assemble_io::url::redact(&self.base),
            message: e.without_url().to_string(),
        })?;
        let status = res.status().as_u16();
        if status < 400 {
            return Ok(res);
        }
        let text = res.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| ErrorBody {
            error: "http_error".into(),
            message: Some(text.chars().take(500).collect()),
            missing_capability: None,
            errors: Vec::new(),
        });
        Err(ClientError::Api { status, body })
    }

    fn json<T: DeserializeOwned>(res: Response) -> Result<T, ClientError> {
        res.json()
            .map_err(|e| ClientError::Protocol(e.without_url().to_string()))
    }

    /// Any call: the status and the JSON answer (`null` when empty), errors
    /// included. For tests and scripts that inspect raw answers.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(b);
        }
        let res = r.send().map_err(|e| ClientError::Transport {
            server: assemble_io::url::redact(&self.base),
            message: e.without_url().to_string(),
        })?;
        let status = res.status().as_u16();
        let text = res
            .text()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// `GET /v1/repos`.
    pub fn repos(&self) -> Result<RepoList, ClientError> {
        Self::json(self.send(self.request(Method::GET, "/v1/repos"))?)
    }

    /// `GET /v1/repos/{name}`.
    pub fn repo(&self, name: &str) -> Result<Repo, ClientError> {
        Self::json(self.send(self.request(Method::GET, &format!("/v1/repos/{name}")))?)
    }

    /// `PUT /v1/repos/{name}` (`dry_run`: the plan only).
    pub fn put_repo(
        &self,
        name: &str,
        declaration: &Value,
        dry_run: bool,
    ) -> Result<PutResponse, ClientError> {
        let q = if dry_run { "?dry_run=true" } else { "" };
        Self::json(
            self.send(
                self.request(Method::PUT, &format!("/v1/repos/{name}{q}"))
                    .json(declaration),
            )?,
        )
    }

    /// `DELETE /v1/repos/{name}`.
    pub fn delete_repo(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &format!("/v1/repos/{name}")))?;
        Ok(())
    }

    /// `POST /v1/repos/{name}/builds`.
    pub fn trigger_build(&self, name: &str) -> Result<BuildQueued, ClientError> {
        Self::json(self.send(self.request(Method::POST, &format!("/v1/repos/{name}/builds")))?)
    }

    /// `GET /v1/buildreports?repo=&since=`.
    pub fn build_reports(
        &self,
        repo: Option<&str>,
        since: Option<&str>,
    ) -> Result<BuildReportList, ClientError> {
        let mut query = Vec::new();
        if let Some(r) = repo {
            query.push(("repo", r));
        }
        if let Some(s) = since {
            query.push(("since", s));
        }
        Self::json(self.send(self.request(Method::GET, "/v1/buildreports").query(&query))?)
    }

    /// `GET /v1/buildreports/{id}`.
    pub fn build_report(&self, id: &str) -> Result<BuildReport, ClientError> {
        Self::json(self.send(self.request(Method::GET, &format!("/v1/buildreports/{id}")))?)
    }

    /// `GET /v1/buildreports/{id}/log[?follow=true]`, copied to `out` as it
    /// arrives.
    pub fn build_log(
        &self,
        id: &str,
        follow: bool,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ClientError> {
        let q = if follow { "?follow=true" } else { "" };
        let mut res =
            self.send(self.request(Method::GET, &format!("/v1/buildreports/{id}/log{q}")))?;
        let mut buf = [0u8; 8192];
        loop {
            let n = res
                .read(&mut buf)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])
                .and_then(|_| out.flush())
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
        }
    }

    /// `POST /v1/tokens`.
    pub fn create_token(&self, req: &CreateToken) -> Result<TokenCreated, ClientError> {
        Self::json(self.send(self.request(Method::POST, "/v1/tokens").json(req))?)
    }

    /// `GET /v1/tokens`.
    pub fn tokens(&self) -> Result<TokenList, ClientError> {
        Self::json(self.send(self.request(Method::GET, "/v1/tokens"))?)
    }

    /// `DELETE /v1/tokens/{name}`.
    pub fn revoke_token(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &format!("/v1/tokens/{name}")))?;
        Ok(())
    }
}
