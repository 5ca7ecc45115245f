//! The HTTP API's request and response bodies, shared by the server and the
//! client so that the two cannot drift apart. Times are RFC 3339 UTC strings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Capability, Role};

/// What made a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The declaration was created or changed.
    Config,
    /// Someone asked for a rebuild (`POST …/builds`).
    Manual,
    /// A package in the closure has a new version.
    PackageUpdate,
    /// The source image has a new digest.
    SourceUpdate,
}

/// Where a build is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildResult {
    /// Waiting for a worker.
    Queued,
    /// A worker holds its lease.
    Running,
    /// Built and published.
    Success,
    /// Failed; `error` says why.
    Failure,
}

impl BuildResult {
    /// True once the build will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, BuildResult::Success | BuildResult::Failure)
    }
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The wire (and database) name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            /// Parses a wire (or database) name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Self::$variant),)* _ => None }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(Trigger {
    Config => "config",
    Manual => "manual",
    PackageUpdate => "package-update",
    SourceUpdate => "source-update",
});
wire_names!(BuildResult {
    Queued => "queued",
    Running => "running",
    Success => "success",
    Failure => "failure",
});

/// One change of a plan: the objects of `plan --format json`'s `changes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `create_image`, `add_package`, `remove_package`, `upgrade`,
    /// `downgrade`, `source`, `add_architecture`, `remove_architecture`,
    /// `setting`, …
    pub kind: String,
    /// The architecture the change is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Package name (package changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Package version (add/remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Old value (upgrade, downgrade, source, setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// New value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Setting key (`tags`, `annotations.KEY`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The last build of a repo, as shown with the repo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSummary {
    /// Build report id.
    pub id: String,
    /// Where it is.
    pub result: BuildResult,
    /// What made it.
    pub trigger: Trigger,
    /// When it was queued.
    pub created_at: String,
    /// When it ended.
    pub completed_at: Option<String>,
}

/// `GET /v1/repos/{name}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repo {
    /// The repo (image) name.
    pub name: String,
    /// The stored declaration (the keys of `[image]`).
    pub config: Value,
    /// The newest build, whatever its result.
    pub latest_build: Option<BuildSummary>,
    /// Manifest digests of the last successful build, by architecture.
    pub digests: BTreeMap<String, String>,
}

/// `GET /v1/repos`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepoList {
    /// The organization's repos, by name.
    pub repos: Vec<Repo>,
}

/// `PUT /v1/repos/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    /// What a build of this declaration changes, compared with the last
    /// successful build.
    pub changes: Vec<Change>,
    /// The build that will apply it; `null` for a dry run or when the
    /// declaration is the stored one. A build already queued for the repo
    /// absorbs the change (coalescing), so its id is returned.
    pub build_id: Option<String>,
    /// Non-fatal findings of the check.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `POST /v1/repos/{name}/builds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildQueued {
    /// The queued build (an already queued one when coalesced).
    pub build_id: String,
}

/// `GET /v1/buildreports/{id}` (and the items of the list, without `log`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Build id.
    pub id: String,
    /// The repo built.
    pub repo: String,
    /// What made the build.
    pub trigger: Trigger,
    /// Where it is.
    pub result: BuildResult,
    /// The declaration built.
    pub config: Value,
    /// The declaration with every version and digest pinned (the lock).
    pub locked_config: Option<Value>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// Manifest digests by architecture.
    pub digests: BTreeMap<String, String>,
    /// Where the image was published.
    pub pushed: Vec<String>,
    /// What changed since the previous successful build.
    pub changes: Vec<Change>,
    /// Why it failed.
    pub error: Option<String>,
    /// How many times a worker started it (more than 1 after a lost lease).
    pub attempts: i64,
    /// When it was queued.
    pub created_at: String,
    /// When its last attempt started.
    pub started_at: Option<String>,
    /// When it ended.
    pub completed_at: Option<String>,
    /// The build log (only in the single report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The repo's build number; a successful build is also tagged
    /// `build-<number>`, a tag no later build moves.
    #[serde(default)]
    pub number: Option<i64>,
    /// The server instance (`host-pid-random/worker`) that ran it last.
    #[serde(default)]
    pub worker: Option<String>,
}

/// `GET /v1/buildreports`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildReportList {
    /// Newest first.
    pub reports: Vec<BuildReport>,
}

/// `POST /v1/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateToken {
    /// Unique among the organization's live tokens.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Lifetime such as `30d` or `12h`; never expires when absent.
    #[serde(default)]
    pub expires_in: Option<String>,
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The organization it is bound to.
    pub org: String,
    /// When it was made.
    pub created_at: String,
    /// The token that made it (`server` for the first owner token).
    pub created_by: String,
    /// When it stops working.
    pub expires_at: Option<String>,
}

/// `POST /v1/tokens` response: the secret appears here only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The token to send as `Authorization: Bearer …`.
    pub token: String,
    /// What was stored.
    pub info: TokenInfo,
}

/// `GET /v1/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    /// Live (not revoked) tokens, by name.
    pub tokens: Vec<TokenInfo>,
}

/// One problem in a submitted declaration; `path` is a JSON pointer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON pointer into the declaration, e.g. `/packages/1`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every error response: `error` is a stable code (`unauthorized`,
/// `forbidden`, `not_found`, `conflict`, `invalid`, `payload_too_large`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: String,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The capability the token lacks (`forbidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_capability: Option<Capability>,
    /// Every problem of a refused declaration (`invalid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(c) = self.missing_capability {
            write!(f, " (missing capability {c})")?;
        }
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// One input the update watcher checks, in `GET /v1/watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedInput {
    /// `index ARCH REPOSITORY` or `source REFERENCE`.
    pub input: String,
    /// Its content digest when last read.
    pub fingerprint: Option<String>,
    /// Failed checks in a row (0: fine); a failing input is checked again
    /// with exponential backoff, the others are not held up.
    pub failures: i64,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// When it was last checked.
    pub checked_at: String,
    /// Not checked again before.
    pub next_check_at: String,
}

/// `GET /v1/watch`: the inputs of the organization's built declarations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchReport {
    /// Time between checks (`0s`: the watcher is off).
    pub poll_interval: String,
    /// By name.
    pub inputs: Vec<WatchedInput>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// True for a valid repo (image) or organization name: lowercase
/// letters and digits, separated by single `.`, `_` or `-`, at most 128
/// characters (the OCI distribution spec's path component).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
        && !b
            .windows(2)
            .any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        for ok in ["a", "python-custom", "py3.12_x", "0abc"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a..b", "a/b", "a b", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
