//! A fake of the parts of GitHub the Action and `plan --github-comment`
//! talk to, on a loopback [`Server`]: the issue-comments REST API of one
//! repository (list with pagination, create, edit; token checked as GitHub
//! does) under an API prefix (`/api/v3` like GitHub Enterprise Server), and
//! static files outside it (release assets).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::http::{Request, Response, Server};

/// The login of comments created through the API (the Actions token's bot).
pub const BOT: &str = "github-actions[bot]";

/// A comment on a pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// The pull request (issue) number.
    pub issue: u64,
    /// Markdown body.
    pub body: String,
    /// Author login.
    pub login: String,
    /// Author type: `Bot` or `User`.
    pub user_type: String,
    /// `OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`, `NONE`, …
    pub association: String,
}

#[derive(Default)]
struct State {
    comments: Vec<Comment>,
    next_id: u64,
    files: BTreeMap<String, Vec<u8>>,
    read_only: bool,
    /// Statuses to answer the next API requests with, first first.
    failures: Vec<u16>,
    /// `http://127.0.0.1:PORT`, for absolute links.
    base: String,
}

/// The fake; stopped on drop.
pub struct FakeGitHub {
    server: Server,
    state: Arc<Mutex<State>>,
    /// The repository it serves, `owner/name`.
    pub repository: String,
    /// The token it accepts.
    pub token: String,
    prefix: String,
}

impl FakeGitHub {
    /// Serves `repository` (`owner/name`) accepting `token`, with the REST
    /// API under `prefix` (`""` like api.github.com, `/api/v3` like GHES).
    pub fn start(repository: &str, token: &str, prefix: &str) -> FakeGitHub {
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let (s, repo, tok, pre) = (
            state.clone(),
            repository.to_owned(),
            token.to_owned(),
            prefix.to_owned(),
        );
        let server = Server::start(move |r| handle(r, &s, &repo, &tok, &pre));
        state.lock().unwrap().base = server.base.clone();
        FakeGitHub {
            server,
            state,
            repository: repository.to_owned(),
            token: token.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// The value for `GITHUB_API_URL`.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.server.base, self.prefix)
    }

    /// The value for `GITHUB_SERVER_URL` (where release assets are served).
    pub fn server_url(&self) -> String {
        self.server.base.clone()
    }

    /// Every comment, oldest first.
    pub fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }

    /// Adds a comment as if `login` had written it; returns its id.
    pub fn add_comment(
        &self,
        issue: u64,
        body: &str,
        login: &str,
        user_type: &str,
        association: &str,
    ) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push(Comment {
            id,
            issue,
            body: body.into(),
            login: login.into(),
            user_type: user_type.into(),
            association: association.into(),
        });
        id
    }

    /// Serves `bytes` at `path` (outside the API prefix, no token needed).
    pub fn add_file(&self, path: &str, bytes: Vec<u8>) {
        self.state.lock().unwrap().files.insert(path.into(), bytes);
    }

    /// Makes writes fail with 403 like the read-only token of a pull
    /// request from a fork.
    pub fn set_read_only(&self, read_only: bool) {
        self.state.lock().unwrap().read_only = read_only;
    }

    /// Answers the next API requests with these statuses (a flaky GitHub);
    /// `0` lets a request through.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().failures = statuses.to_vec();
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}

fn comment_json(c: &Comment, base: &str) -> serde_json::Value {
    json!({
        "id": c.id,
        "body": c.body,
        "html_url": format!("{base}/pull/{}#issuecomment-{}", c.issue, c.id),
        "user": {"login": c.login, "type": c.user_type},
        "author_association": c.association,
    })
}

fn message(status: u16, text: &str) -> Response {
    Response::json(status, &json!({ "message": text }))
}

/// The `body` of a create or edit, or the refusal GitHub would answer.
fn writable_body(r: &Request, s: &State) -> Result<String, Response> {
    if s.read_only {
        return Err(message(403, "Resource not accessible by integration"));
    }
    r.json()
        .get("body")
        .and_then(|b| b.as_str())
        .map(str::to_owned)
        .ok_or_else(|| message(422, "Invalid request: body is required"))
}

fn handle(r: &Request, state: &Mutex<State>, repo: &str, token: &str, prefix: &str) -> Response {
    let mut s = state.lock().unwrap();
    let Some(api_path) = r
        .path()
        .strip_prefix(prefix)
        .filter(|p| p.starts_with("/repos/"))
    else {
        return match (r.method.as_str(), s.files.get(r.path())) {
            ("GET", Some(bytes)) => Response::bytes(200, bytes.clone()),
            _ => message(404, "Not Found"),
        };
    };
    if !s.failures.is_empty() {
        let status = s.failures.remove(0);
        if status != 0 {
            return message(status, "Server Error");
        }
    }
    let authorized = [format!("Bearer {token}"), format!("token {token}")]
        .iter()
        .any(|a| r.header("authorization") == Some(a.as_str()));
    if !authorized {
        return message(401, "Bad credentials");
    }
    if r.header("user-agent").is_none_or(str::is_empty) {
        return message(
            403,
            "Request forbidden by administrative rules: no User-Agent",
        );
    }
    let Some(rest) = api_path.strip_prefix(&format!("/repos/{repo}/issues/")) else {
        return message(404, "Not Found");
    };
    let base = format!("https://github.example/{repo}");
    let parts: Vec<&str> = rest.split('/').collect();
    match (r.method.as_str(), parts.as_slice()) {
        ("GET", [number, "comments"]) => {
            let Ok(number) = number.parse::<u64>() else {
                return message(404, "Not Found");
            };
            let per_page: usize = r
                .query("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30);
            let page: usize = r.query("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let all: Vec<&Comment> = s.comments.iter().filter(|c| c.issue == number).collect();
            let items: Vec<serde_json::Value> = all
                .iter()
                .skip(per_page * (page.max(1) - 1))
                .take(per_page)
                .map(|c| comment_json(c, &base))
                .collect();
            let mut response = Response::json(200, &serde_json::Value::Array(items));
            if page * per_page < all.len() {
                let next = format!(
                    "<{}{}?per_page={per_page}&page={}>; rel=\"next\"",
                    s.base,
                    r.path(),
                    page + 1
                );
                response = response.with_header("Link", &next);
            }
            response
        }
        ("POST", [number, "comments"]) => {
            let Ok(number) = number.parse::<u64>() else {
                return message(404, "Not Found");
            };
            let body = match writable_body(r, &s) {
                Ok(body) => body,
                Err(refused) => return refused,
            };
            s.next_id += 1;
            let c = Comment {
                id: s.next_id,
                issue: number,
                body,
                login: BOT.into(),
                user_type: "Bot".into(),
                association: "NONE".into(),
            };
            let out = comment_json(&c, &base);
            s.comments.push(c);
            Response::json(201, &out)
        }
        ("PATCH", ["comments", id]) => {
            let body = match writable_body(r, &s) {
                Ok(body) => body,
                Err(refused) => return refused,
            };
            let id: u64 = id.parse().unwrap_or(0);
            match s.comments.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = body;
                    let c = c.clone();
                    Response::json(200, &comment_json(&c, &base))
                }
                None => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}
