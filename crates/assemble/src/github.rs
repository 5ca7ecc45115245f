//! GitHub Actions: what cargo-assemble does for a workflow run.
//!
//! - The plan as **one** pull-request comment: a hidden HTML marker in the
//!   body finds it again, so later runs edit it instead of adding another
//!   ([`upsert_comment`]). Everything comes from the variables the runner
//!   sets ([`Context::from_env`]): the event payload, the repository, the
//!   API URL (so GitHub Enterprise Server works) and the token. No token or
//!   no pull request is a [`Skip`], for a warning, not a failure.
//! - Workflow commands: `::error file=…,line=…::` annotations for
//!   declaration errors, so GitHub shows them on the diff ([`annotations`]).
//! - Step outputs in the `$GITHUB_OUTPUT` file format ([`append_outputs`]),
//!   and the `images` output of a build ([`ImageOutput`]).
//!
//! The library never prints: it returns text and outcomes for the CLI.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use apk_repo::{RetryPolicy, Secret};
use assemble_io::escape::escape;
use assemble_io::limit::Limited;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::ConfigErrors;
use crate::ops::build::BuildReport;

/// The API of github.com, when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// GitHub refuses comments longer than this (in characters).
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// Bound on one API response read into memory.
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;
/// Bound on the event payload file.
const MAX_EVENT: u64 = 32 * 1024 * 1024;
/// Comments listed per page, and pages read at most (10 000 comments).
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 100;

/// What a workflow run tells a step, read from the runner's variables.
#[derive(Debug)]
pub struct Context {
    /// `GITHUB_API_URL` without a trailing slash.
    pub api_url: String,
    /// `GITHUB_REPOSITORY`: `owner/name` (empty when unset).
    pub repository: String,
    /// `GITHUB_TOKEN`, when set and not empty.
    pub token: Option<Secret>,
    /// `GITHUB_EVENT_PATH`: the JSON payload of the event.
    pub event_path: Option<PathBuf>,
}

impl Context {
    /// From the process environment.
    pub fn from_env() -> Context {
        Context::from_lookup(|k| std::env::var(k).ok())
    }

    /// From `get(variable)`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Context {
        let non_empty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        Context {
            api_url: non_empty("GITHUB_API_URL")
                .unwrap_or_else(|| DEFAULT_API_URL.into())
                .trim_end_matches('/')
                .to_owned(),
            repository: non_empty("GITHUB_REPOSITORY").unwrap_or_default(),
            token: non_empty("GITHUB_TOKEN").map(Secret::new),
            event_path: non_empty("GITHUB_EVENT_PATH").map(PathBuf::from),
        }
    }
}

/// The pull request an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Opened from another repository (its token is read-only).
    pub from_fork: bool,
}

/// The pull request of an event payload: `pull_request` and
/// `pull_request_target` events, and comments on a pull request.
pub fn pull_request(event: &Value) -> Option<PullRequest> {
    if let Some(pr) = event.get("pull_request").filter(|v| v.is_object()) {
        let number = pr.get("number").or_else(|| event.get("number"))?.as_u64()?;
        let repo = |side: &str| pr.pointer(&format!("/{side}/repo/full_name"))?.as_str();
        // A deleted fork has no head repository: treat it as a fork.
        let from_fork = repo("head").is_none_or(|head| Some(head) != repo("base"));
        return Some(PullRequest { number, from_fork });
    }
    let issue = event.get("issue")?;
    issue.get("pull_request")?;
    Some(PullRequest {
        number: issue.get("number")?.as_u64()?,
        from_fork: false,
    })
}

/// Why no comment was written: for a warning, not a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// `GITHUB_TOKEN` is not set.
    NoToken,
    /// Not in a workflow run (`GITHUB_EVENT_PATH` unset).
    NoEvent,
    /// The event is not about a pull request.
    NoPullRequest,
    /// The token may not write (a pull request from a fork).
    ReadOnlyToken,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NoToken => "no pull-request comment: GITHUB_TOKEN is not set (pass `env: GITHUB_TOKEN: ${{ github.token }}` to the step)",
            Skip::NoEvent => "no pull-request comment: not in a GitHub Actions run (GITHUB_EVENT_PATH is not set)",
            Skip::NoPullRequest => "no pull-request comment: the event is not about a pull request",
            Skip::ReadOnlyToken => "no pull-request comment: the token is read-only, as for a pull request from a fork; the plan is in the job summary",
        })
    }
}

/// A comment written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentRef {
    /// Its id.
    pub id: u64,
    /// Where people see it.
    pub url: String,
}

/// What [`upsert_comment`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No earlier comment: a new one.
    Created(CommentRef),
    /// The earlier comment, edited.
    Updated(CommentRef),
    /// Nothing written, and why.
    Skipped(Skip),
}

/// Why talking to GitHub failed. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// A variable the operation needs is not set.
    #[error("{0} is not set")]
    MissingVar(&'static str),
    /// The event payload cannot be read.
    #[error("cannot read the event payload {}: {reason}", path.display())]
    Event {
        /// `GITHUB_EVENT_PATH`.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The API answered with an error status.
    #[error("{method} {url}: HTTP {status}: {message}{hint}")]
    Http {
        /// Request method.
        method: &'static str,
        /// Request URL.
        url: String,
        /// Status code.
        status: u16,
        /// GitHub's `message` (escaped, shortened).
        message: String,
        /// How to fix it, when known.
        hint: &'static str,
    },
    /// No usable answer (connection, timeout, not JSON, too large).
    #[error("{method} {url}: {reason}")]
    Transport {
        /// Request method.
        method: &'static str,
        /// Request URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The hidden first line of our comment for the declaration `key` (its
/// path in the repository): one comment per declaration.
pub fn marker(key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '/' => c,
            _ => '_',
        })
        .collect();
    format!("<!-- cargo-assemble plan: {key} -->")
}

/// The comment body for `markdown` under `marker`, shortened to fit
/// GitHub's limit with a note saying so.
pub fn comment_body(marker: &str, markdown: &str) -> String {
    let mut body = format!("{marker}\n{markdown}");
    if body.chars().count() > MAX_COMMENT_CHARS {
        const NOTE: &str =
            "\n\n_… shortened to fit in a comment: the whole plan is in the job summary._\n";
        let keep = MAX_COMMENT_CHARS - NOTE.chars().count() - 8;
        let cut = body.char_indices().nth(keep).map_or(body.len(), |(i, _)| i);
        body.truncate(cut);
        // Close an open code fence so the note renders as text.
        if body.matches("```").count() % 2 == 1 {
            body.push_str("\n```");
        }
        body.push_str(NOTE);
    }
    body
}

/// Markdown saying the plan failed, with the error as a code block.
pub fn failure_markdown(error: &str) -> String {
    let text: Vec<String> = error.lines().map(|l| escape(l).into_owned()).collect();
    let text = text.join("\n");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("### cargo-assemble plan\n\n**The plan failed.**\n\n{fence}text\n{text}\n{fence}\n")
}

/// Creates or edits the pull request's comment marked `marker` to hold
/// `body` (from [`comment_body`]).
///
/// Only a comment whose body starts with the marker and whose author is a
/// bot or a member of the repository counts: anyone can post the marker in
/// a comment, and we must not edit theirs.
pub fn upsert_comment(ctx: &Context, marker: &str, body: &str) -> Result<Outcome, GithubError> {
    let Some(event_path) = &ctx.event_path else {
        return Ok(Outcome::Skipped(Skip::NoEvent));
    };
    let event = read_event(event_path)?;
    let Some(pr) = pull_request(&event) else {
        return Ok(Outcome::Skipped(Skip::NoPullRequest));
    };
    let Some(token) = &ctx.token else {
        return Ok(Outcome::Skipped(Skip::NoToken));
    };
    if ctx.repository.is_empty() {
        return Err(GithubError::MissingVar("GITHUB_REPOSITORY"));
    }
    let api = Api::new(&ctx.api_url, token)?;
    let comments = format!("/repos/{}/issues/{}/comments", ctx.repository, pr.number);
    let mut existing = None;
    for page in 1..=MAX_PAGES {
        let list = api.send(
            "GET",
            &format!("{comments}?per_page={PER_PAGE}&page={page}"),
            None,
        )?;
        let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
        existing = items
            .iter()
            .find(|c| ours(c, marker))
            .and_then(|c| c["id"].as_u64());
        if existing.is_some() || items.len() < PER_PAGE {
            break;
        }
    }
    let payload = json!({ "body": body });
    let written = match existing {
        Some(id) => api.send(
            "PATCH",
            &format!("/repos/{}/issues/comments/{id}", ctx.repository),
            Some(&payload),
        ),
        None => api.send("POST", &comments, Some(&payload)),
    };
    let written = match written {
        Err(GithubError::Http { status: 403, .. }) if pr.from_fork => {
            return Ok(Outcome::Skipped(Skip::ReadOnlyToken))
        }
        other => other?,
    };
    let comment = CommentRef {
        id: written["id"].as_u64().unwrap_or_default(),
        url: written["html_url"].as_str().unwrap_or_default().to_owned(),
    };
    Ok(match existing {
        Some(_) => Outcome::Updated(comment),
        None => Outcome::Created(comment),
    })
}

fn ours(comment: &Value, marker: &str) -> bool {
    let starts = comment["body"]
        .as_str()
        .is_some_and(|b| b.trim_start().starts_with(marker));
    let trusted = comment.pointer("/user/type").and_then(Value::as_str) == Some("Bot")
        || matches!(
            comment["author_association"].as_str(),
            Some("OWNER" | "MEMBER" | "COLLABORATOR")
        );
    starts && trusted
}

fn read_event(path: &Path) -> Result<Value, GithubError> {
    let err = |reason: String| GithubError::Event {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut text = Vec::new();
    Limited::new(file, MAX_EVENT, "event payload")
        .read_to_end(&mut text)
        .map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| err(e.to_string()))
}

/// A small REST client: JSON in and out, bounded, retried when safe.
struct Api<'a> {
    client: reqwest::blocking::Client,
    base: &'a str,
    token: &'a Secret,
    retry: RetryPolicy,
}

impl<'a> Api<'a> {
    fn new(base: &'a str, token: &'a Secret) -> Result<Api<'a>, GithubError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(apk_repo::USER_AGENT)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| GithubError::Transport {
                method: "GET",
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Api {
            client,
            base,
            token,
            retry: RetryPolicy::default(),
        })
    }

    /// Sends a request; GET and PATCH (idempotent) are retried on
    /// connection errors, 429 and 5xx, POST never (it could comment twice).
    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GithubError> {
        let url = format!("{}{path}", self.base);
        let attempts = if method == "POST" {
            1
        } else {
            self.retry.attempts.max(1)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(method, &url, body) {
                Err(e) if attempt < attempts && retryable(&e) => {
                    std::thread::sleep(self.retry.delay(attempt));
                }
                other => return other,
            }
        }
    }

    fn once(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, GithubError> {
        let transport = |reason: String| GithubError::Transport {
            method,
            url: url.to_owned(),
            reason,
        };
        let m =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| transport(e.to_string()))?;
        let mut request = self
            .client
            .request(m, url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let response = request.send().map_err(|e| transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let mut text = Vec::new();
        Limited::new(response, MAX_RESPONSE, "GitHub API response")
            .read_to_end(&mut text)
            .map_err(|e| transport(e.to_string()))?;
        let value: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message: String = value["message"]
                .as_str()
                .unwrap_or("(no message)")
                .chars()
                .take(300)
                .collect();
            return Err(GithubError::Http {
                method,
                url: url.to_owned(),
                status,
                message: escape(&message).into_owned(),
                hint: match (status, method) {
                    (401, _) => " (the token was refused: check GITHUB_TOKEN)",
                    (403 | 404, "POST" | "PATCH") => {
                        " (give the job `permissions: pull-requests: write`)"
                    }
                    _ => "",
                },
            });
        }
        if value.is_null() {
            return Err(transport("the answer is not JSON".into()));
        }
        Ok(value)
    }
}

fn retryable(e: &GithubError) -> bool {
    match e {
        GithubError::Http { status, .. } => *status == 429 || *status >= 500,
        GithubError::Transport { .. } => true,
        _ => false,
    }
}

/// An error and its causes on one line (reqwest's own text is terse).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Escapes the message of a workflow command (`%`, CR, LF as the runner
/// expects; other control characters as `\u{..}`).
fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push_str(&escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// Escapes a property value of a workflow command (also `:` and `,`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error file=…,line=…::message` workflow command.
pub fn error_annotation(file: &str, line: usize, message: &str) -> String {
    format!(
        "::error file={},line={line}::{}",
        escape_property(file),
        escape_data(message)
    )
}

/// `path` as GitHub names files in annotations: relative to the workspace
/// (`GITHUB_WORKSPACE`) with `/` separators; as given when outside it.
pub fn workspace_path(path: &Path, workspace: Option<&Path>) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let relative = workspace.and_then(|w| {
        canonical(&absolute)
            .strip_prefix(canonical(w))
            .ok()
            .map(Path::to_owned)
    });
    let shown = relative.as_deref().unwrap_or(path);
    shown
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// One annotation per error of `errors` (and of the other files it holds),
/// the message being the usual `file:line:column: message (help)` line.
pub fn annotations(errors: &ConfigErrors, workspace: Option<&Path>) -> Vec<String> {
    let file = workspace_path(&errors.file, workspace);
    let mut out: Vec<String> = errors
        .errors
        .iter()
        .map(|e| {
            let message = format!("{file}:{}:{}: {e}", e.line, e.column);
            error_annotation(&file, e.line, &message)
        })
        .collect();
    for other in &errors.others {
        out.extend(annotations(other, workspace));
    }
    out
}

/// Appends `name=value` pairs to a `$GITHUB_OUTPUT` (or `$GITHUB_ENV`)
/// file, each in the multi-line form with a delimiter the value does not
/// contain.
pub fn append_outputs(path: &Path, outputs: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        let delimiter = delimiter(value);
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?
        .write_all(text.as_bytes())
}

fn delimiter(value: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(value.as_bytes());
        let d = format!("ghadelimiter_{:016x}", h.finish());
        if !value.contains(&d) {
            return d;
        }
    }
}

/// One image of the `images` output of the Action.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ImageOutput {
    /// The image name.
    pub name: String,
    /// Digest of the image index (several platforms) or the manifest.
    pub digest: String,
    /// Where it was written.
    pub output: String,
    /// Per architecture, the manifest digest.
    pub platforms: Vec<PlatformOutput>,
    /// References pushed to registries (none until publishing exists).
    pub pushed: Vec<String>,
}

/// One platform of an [`ImageOutput`].
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlatformOutput {
    /// APK architecture.
    pub arch: String,
    /// Manifest digest.
    pub digest: String,
}

impl ImageOutput {
    /// The output for image `name` built as `report` says.
    pub fn new(name: &str, report: &BuildReport) -> ImageOutput {
        ImageOutput {
            name: name.to_owned(),
            digest: report.digest.clone(),
            output: std::path::absolute(&report.output)
                .unwrap_or_else(|_| report.output.clone())
                .display()
                .to_string(),
            platforms: report
                .platforms
                .iter()
                .map(|p| PlatformOutput {
                    arch: p.arch.clone(),
                    digest: p.manifest_digest.clone(),
                })
                .collect(),
            pushed: Vec::new(),
        }
    }
}

/// The `digest` (the first image's) and `images` (JSON) outputs.
pub fn image_outputs(images: &[ImageOutput]) -> Vec<(&'static str, String)> {
    vec![
        (
            "digest",
            images.first().map(|i| i.digest.clone()).unwrap_or_default(),
        ),
        (
            "images",
            serde_json::to_string(images).unwrap_or_else(|_| "[]".into()),
        ),
    ]
}

/// The job summary of `command` (`apply`, `build`): the plan that was
/// applied, if any, and a table of the images.
pub fn summary_markdown(command: &str, plan: Option<&str>, images: &[ImageOutput]) -> String {
    let mut out = match plan {
        Some(plan) => plan.replace(
            "### cargo-assemble plan",
            &format!("### cargo-assemble {command}"),
        ),
        None => format!("### cargo-assemble {command}\n\n"),
    };
    if images.is_empty() {
        return out;
    }
    out.push_str("| image | digest | platforms | output |\n|---|---|---|---|\n");
    for i in images {
        let platforms: Vec<String> = i
            .platforms
            .iter()
            .map(|p| format!("{} `{}`", p.arch, p.digest))
            .collect();
        out.push_str(&format!(
            "| `{}` | `{}` | {} | `{}` |\n",
            i.name,
            i.digest,
            platforms.join("<br>"),
            escape(&i.output).replace('|', "\\|").replace('`', "'")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::github::{FakeGitHub, BOT};

    fn event(dir: &Path, value: Value) -> PathBuf {
        let p = dir.join("event.json");
        std::fs::write(&p, value.to_string()).unwrap();
        p
    }

    fn pr_event(number: u64, head: &str) -> Value {
        json!({
            "action": "synchronize",
            "number": number,
            "pull_request": {
                "number": number,
                "head": {"repo": {"full_name": head}},
                "base": {"repo": {"full_name": "octo/app"}},
            }
        })
    }

    fn context(gh: &FakeGitHub, event_path: &Path, token: Option<&str>) -> Context {
        let vars = [
            ("GITHUB_API_URL", gh.api_url()),
            ("GITHUB_REPOSITORY", gh.repository.clone()),
            ("GITHUB_EVENT_PATH", event_path.display().to_string()),
            ("GITHUB_TOKEN", token.unwrap_or("").to_owned()),
        ];
        Context::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn second_run_edits_the_first_comment() {
        let dir = tempfile::tempdir().unwrap();
        let gh = FakeGitHub::start("octo/app", "t0ken", "/api/v3");
        let ctx = context(
            &gh,
            &event(dir.path(), pr_event(7, "octo/app")),
            Some("t0ken"),
        );
        let m = marker("assembly.toml");
        let first = upsert_comment(&ctx, &m, &comment_body(&m, "plan one")).unwrap();
        let Outcome::Created(c1) = first else {
            panic!("{first:?}")
        };
        let second = upsert_comment(&ctx, &m, &comment_body(&m, "plan two")).unwrap();
        assert_eq!(second, Outcome::Updated(c1.clone()));
        let comments = gh.comments();
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert_eq!(comments[0].body, format!("{m}\nplan two"));
        assert!(c1.url.contains("/pull/7#issuecomment-"), "{}", c1.url);
        // Another declaration of the same repository has its own comment.
        let other = marker("images/b/assembly.toml");
        let third = upsert_comment(&ctx, &other, &comment_body(&other, "b")).unwrap();
        assert!(matches!(third, Outcome::Created(_)), "{third:?}");
        assert_eq!(gh.comments().len(), 2);
        for r in gh.requests() {
            assert!(
                r.path().starts_with("/api/v3/repos/octo/app/issues/"),
                "{}",
                r.target
            );
            assert_eq!(r.header("authorization"), Some("Bearer t0ken"));
        }
    }

    #[test]
    fn finds_the_comment_on_a_later_page_and_ignores_look_alikes() {
        let dir = tempfile::tempdir().unwrap();
        let gh = FakeGitHub::start("octo/app", "t", "");
        let m = marker("assembly.toml");
        // Someone without rights posts the marker: never edit their comment.
        let hostile = gh.add_comment(3, &format!("{m}\nfake plan"), "mallory", "User", "NONE");
        for i in 0..150 {
            gh.add_comment(3, &format!("chatter {i}"), "alice", "User", "CONTRIBUTOR");
        }
        let ours = gh.add_comment(3, &format!("{m}\nold plan"), BOT, "Bot", "NONE");
        let ctx = context(&gh, &event(dir.path(), pr_event(3, "octo/app")), Some("t"));
        let outcome = upsert_comment(&ctx, &m, &comment_body(&m, "new plan")).unwrap();
        assert!(
            matches!(&outcome, Outcome::Updated(c) if c.id == ours),
            "{outcome:?}"
        );
        let comments = gh.comments();
        let body = |id| comments.iter().find(|c| c.id == id).unwrap().body.clone();
        assert_eq!(body(hostile), format!("{m}\nfake plan"));
        assert_eq!(body(ours), format!("{m}\nnew plan"));
        assert_eq!(comments.len(), 152);
    }

    #[test]
    fn no_token_or_no_pull_request_is_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let gh = FakeGitHub::start("octo/app", "t", "");
        let m = marker("assembly.toml");
        let pr = event(dir.path(), pr_event(1, "octo/app"));
        let no_token = upsert_comment(&context(&gh, &pr, None), &m, "x").unwrap();
        assert_eq!(no_token, Outcome::Skipped(Skip::NoToken));
        let push = event(dir.path(), json!({"ref": "refs/heads/main"}));
        let no_pr = upsert_comment(&context(&gh, &push, Some("t")), &m, "x").unwrap();
        assert_eq!(no_pr, Outcome::Skipped(Skip::NoPullRequest));
        let outside = Context::from_lookup(|_| None);
        assert_eq!(
            upsert_comment(&outside, &m, "x").unwrap(),
            Outcome::Skipped(Skip::NoEvent)
        );
        assert!(gh.requests().is_empty());
    }

    #[test]
    fn fork_read_only_token_is_a_skip_but_a_bad_token_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let gh = FakeGitHub::start("octo/app", "t", "");
        gh.set_read_only(true);
        let m = marker("assembly.toml");
        let fork = event(dir.path(), pr_event(2, "someone/app"));
        let outcome = upsert_comment(&context(&gh, &fork, Some("t")), &m, "x").unwrap();
        assert_eq!(outcome, Outcome::Skipped(Skip::ReadOnlyToken));

        let same = event(dir.path(), pr_event(2, "octo/app"));
        let e = upsert_comment(&context(&gh, &same, Some("t")), &m, "x").unwrap_err();
        assert!(
            e.to_string().contains("HTTP 403") && e.to_string().contains("pull-requests: write"),
            "{e}"
        );

        let e = upsert_comment(&context(&gh, &same, Some("wrong-secret")), &m, "x").unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(
            text.contains("HTTP 401") && text.contains("Bad credentials"),
            "{text}"
        );
        assert!(!text.contains("wrong-secret"), "{text}");
    }

    #[test]
    fn reads_and_edits_are_retried_creates_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let gh = FakeGitHub::start("octo/app", "t", "");
        let ctx = context(&gh, &event(dir.path(), pr_event(4, "octo/app")), Some("t"));
        let count = |method: &str| gh.requests().iter().filter(|r| r.method == method).count();
        let m = marker("assembly.toml");
        gh.fail_next(&[502, 503]);
        let first = upsert_comment(&ctx, &m, &comment_body(&m, "x")).unwrap();
        assert!(matches!(first, Outcome::Created(_)), "{first:?}");
        assert_eq!((count("GET"), count("POST")), (3, 1));

        gh.fail_next(&[0, 502]);
        let second = upsert_comment(&ctx, &m, &comment_body(&m, "y")).unwrap();
        assert!(matches!(second, Outcome::Updated(_)), "{second:?}");
        assert_eq!(count("PATCH"), 2);

        // A create that fails may have happened: never sent twice.
        gh.fail_next(&[0, 500]);
        let e = upsert_comment(&ctx, &marker("other"), "z").unwrap_err();
        assert!(e.to_string().contains("HTTP 500"), "{e}");
        assert_eq!(count("POST"), 2);
        assert_eq!(gh.comments().len(), 1);
    }

    #[test]
    fn events_name_their_pull_request() {
        assert_eq!(
            pull_request(&pr_event(5, "octo/app")),
            Some(PullRequest {
                number: 5,
                from_fork: false
            })
        );
        assert_eq!(
            pull_request(&pr_event(5, "fork/app")),
            Some(PullRequest {
                number: 5,
                from_fork: true
            })
        );
        let comment = json!({"issue": {"number": 9, "pull_request": {"url": "…"}}});
        assert_eq!(pull_request(&comment).map(|p| p.number), Some(9));
        let issue = json!({"issue": {"number": 9}});
        assert_eq!(pull_request(&issue), None);
    }

    #[test]
    fn long_plans_are_shortened_with_a_note() {
        let m = marker("a");
        let markdown = format!("```diff\n{}```\n", "+ package 1.0\n".repeat(10_000));
        let body = comment_body(&m, &markdown);
        assert!(body.chars().count() <= MAX_COMMENT_CHARS);
        assert!(body.starts_with(&m) && body.ends_with("the whole plan is in the job summary._\n"));
        assert_eq!(body.matches("```").count() % 2, 0);
    }

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(
            error_annotation("dir,a:b/assembly.toml", 3, "100% bad\nsecond line\n::set-env name=X::y"),
            "::error file=dir%2Ca%3Ab/assembly.toml,line=3::100%25 bad%0Asecond line%0A::set-env name=X::y"
        );
        assert_eq!(
            error_annotation("a", 1, "\u{1b}[31m"),
            "::error file=a,line=1::\\u{1b}[31m"
        );
        let m = failure_markdown("bad ```` fence\n\u{1b}x");
        assert!(
            m.contains("`````text\nbad ```` fence\n\\u{1b}x\n`````"),
            "{m}"
        );
        assert_eq!(
            marker("a b/--x>.toml"),
            "<!-- cargo-assemble plan: a_b/__x_.toml -->"
        );
    }

    #[test]
    fn workspace_paths_are_relative_with_slashes() {
        let dir = tempfile::tempdir().unwrap();
        let decl = dir.path().join("images/app/assembly.toml");
        assert_eq!(
            workspace_path(&decl, Some(dir.path())),
            "images/app/assembly.toml"
        );
        assert_eq!(
            workspace_path(Path::new("x/assembly.toml"), None),
            "x/assembly.toml"
        );
    }

    #[test]
    fn outputs_use_delimiters_the_value_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out");
        append_outputs(&f, &[("changes", "true".into()), ("images", "[\n]".into())]).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("changes<<ghadelimiter_"));
        assert_eq!(lines[1], "true");
        assert_eq!(lines[2], lines[0].trim_start_matches("changes<<"));
        assert_eq!(&lines[4..6], &["[", "]"]);
    }
}
