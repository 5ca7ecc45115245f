//! The server's configuration (`serve --config server.toml`): organizations
//! and what each is entitled to, plus the queue's limits.
//!
//! ```toml
//! default_org = "acme"          # used by /v1/… without /orgs/{org} for tokenless lookups
//! build_timeout = "1h"
//! retention = "30d"              # build reports kept this long (the latest success always)
//! allow_local_paths = false      # accept local paths in declarations (or serve --allow-local-paths)
//! notify = ["https://hooks.example.org/builds"]   # webhooks of declarations without `notify`
//! notify_allow_local = false     # allow http:// and private/loopback webhooks (tests)
//!
//! [orgs.acme]
//! repositories = ["https://packages.example.org/acme", "/srv/apk/acme"]   # or ["*"]
//! packages = ["py3-*", "curl"]   # optional name globs; absent: any package of those repositories
//! unsupported = ["python-3.8", "openssl<3"]   # end-of-life names or versions (apk atoms)
//! ```
//!
//! Without a file the server has one organization, `default`, entitled to
//! everything: the single-user embedded setup.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use apk::dependency::{Constraint, Context, Dependency};
use serde::Deserialize;

use crate::api::FieldError;

/// Parses `serve --poll-interval` such as `5m`, `30s`, or `0` (the update
/// watcher off).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e} (write e.g. 5m, 30s, or 0 to turn the watcher off)"))
}

/// The organization of a server without a configuration file.
pub const DEFAULT_ORG: &str = "default";

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// The parsed `server.toml`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Organizations by name.
    pub orgs: BTreeMap<String, Org>,
    /// The organization whose owner token is written to `DATA/owner-token`.
    pub default_org: String,
    /// A build running longer fails (default 1 h).
    pub build_timeout: Duration,
    /// Finished build reports older than this are deleted, except each
    /// repo's latest success (default 30 days).
    pub retention: Duration,
    /// How long a worker's claim on a build lasts without renewal (default 30 s).
    pub lease: Duration,
    /// How long a graceful shutdown waits for running builds before
    /// handing them back to the queue (default 60 s).
    pub shutdown_grace: Duration,
    /// Largest accepted request body in bytes (default 1 MiB).
    pub max_body: usize,
    /// Accept declarations naming local paths (source layouts, local
    /// repositories, keys): single-machine use and tests
    /// (`serve --allow-local-paths`).
    pub allow_local_paths: bool,
    /// Webhooks told about every build whose declaration names none
    /// (`notify = ["https://…"]`).
    pub notify: Vec<String>,
    /// Allow webhooks on http:// and on private or loopback addresses
    /// (`notify_allow_local = true`): for tests and single-machine use.
    pub notify_allow_local: bool,
}

/// What one organization may use.
#[derive(Clone, Debug, Default)]
pub struct Org {
    /// Entitled repositories (`*` = any).
    pub repositories: Vec<String>,
    /// Package-name globs; `None` = any name.
    pub packages: Option<Vec<String>>,
    /// Unsupported (end-of-life) packages: a name, or an atom with a
    /// version constraint.
    pub unsupported: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_org: Option<String>,
    build_timeout: Option<String>,
    retention: Option<String>,
    lease: Option<String>,
    shutdown_grace: Option<String>,
    max_body: Option<usize>,
    #[serde(default)]
    allow_local_paths: bool,
    #[serde(default)]
    notify: Vec<String>,
    #[serde(default)]
    notify_allow_local: bool,
    #[serde(default)]
    orgs: BTreeMap<String, RawOrg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    #[serde(default)]
    repositories: Vec<String>,
    packages: Option<Vec<String>>,
    #[serde(default)]
    unsupported: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let everything = Org {
            repositories: vec!["*".into()],
            packages: None,
            unsupported: Vec::new(),
        };
        ServerConfig {
            orgs: BTreeMap::from([(DEFAULT_ORG.to_owned(), everything)]),
            default_org: DEFAULT_ORG.to_owned(),
            build_timeout: Duration::from_secs(3600),
            retention: Duration::from_secs(30 * 86400),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(60),
            max_body: 1 << 20,
            allow_local_paths: false,
            notify: Vec::new(),
            notify_allow_local: false,
        }
    }
}

impl ServerConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        ServerConfig::parse(&text).map_err(|message| ConfigError {
            file: path.display().to_string(),
            message,
        })
    }

    /// Parses the text of a `server.toml`.
    pub fn parse(text: &str) -> Result<ServerConfig, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut config = ServerConfig::default();
        let duration = |key: &str, v: &Option<String>, into: &mut Duration| -> Result<(), String> {
            if let Some(v) = v {
                *into = humantime::parse_duration(v).map_err(|e| {
                    format!("{key} = {v:?}: {e} (write e.g. \"90s\", \"1h\", \"30d\")")
                })?;
            }
            Ok(())
        };
        duration(
            "build_timeout",
            &raw.build_timeout,
            &mut config.build_timeout,
        )?;
        duration("retention", &raw.retention, &mut config.retention)?;
        duration("lease", &raw.lease, &mut config.lease)?;
        duration(
            "shutdown_grace",
            &raw.shutdown_grace,
            &mut config.shutdown_grace,
        )?;
        if config.lease < Duration::from_secs(1) {
            return Err("lease must be at least 1s".into());
        }
        if let Some(b) = raw.max_body {
            config.max_body = b;
        }
        config.allow_local_paths = raw.allow_local_paths;
        config.notify = raw.notify;
        config.notify_allow_local = raw.notify_allow_local;
        if !raw.orgs.is_empty() {
            config.orgs.clear();
            for (name, org) in raw.orgs {
                if !crate::api::valid_name(&name) {
                    return Err(format!(
                        "organization name '{name}' must be lowercase letters, digits and . _ -"
                    ));
                }
                for atom in &org.unsupported {
                    Dependency::parse(atom, Context::World)
                        .map_err(|e| format!("orgs.{name}.unsupported: {e}"))?;
                }
                let org = Org {
                    repositories: org.repositories,
                    packages: org.packages,
                    unsupported: org.unsupported,
                };
                config.orgs.insert(name, org);
            }
            config.default_org = match raw.default_org {
                Some(d) => d,
                None => config.orgs.keys().next().cloned().unwrap_or_default(),
            };
        } else if let Some(d) = raw.default_org {
            let org = config.orgs.remove(DEFAULT_ORG).unwrap_or_default();
            config.orgs.insert(d.clone(), org);
            config.default_org = d;
        }
        if !config.orgs.contains_key(&config.default_org) {
            return Err(format!(
                "default_org = {:?} is not one of [orgs.*]",
                config.default_org
            ));
        }
        Ok(config)
    }
}

impl Org {
    /// True when the organization may use the repository written as `repo`
    /// (an `@tag ` prefix is ignored; a trailing `/` does not matter).
    pub fn allows_repository(&self, repo: &str) -> bool {
        let repo = normalize_repo(repo);
        self.repositories
            .iter()
            .any(|r| r == "*" || normalize_repo(r) == repo)
    }

    /// Why the organization may not add package `name` (at `version`,
    /// when known), or `None` when it may.
    pub fn refuses_package(&self, name: &str, version: Option<&str>) -> Option<String> {
        if let Some(globs) = &self.packages {
            if !globs.iter().any(|g| glob_match(g, name)) {
                return Some(format!(
                    "package '{name}' is not in your organization's entitlement: \
                     you can only add packages your organization has access to"
                ));
            }
        }
        for atom in &self.unsupported {
            let Ok(dep) = Dependency::parse(atom, Context::World) else {
                continue;
            };
            if dep.name != name {
                continue;
            }
            let hit = match (dep.constraint, version) {
                (Constraint::Any, _) => true,
                (_, Some(v)) => dep.version_matches(v, None),
                // A versioned rule with no version yet: the resolved check decides.
                (_, None) => false,
            };
            if hit {
                let what = version.map_or(name.to_owned(), |v| format!("{name}-{v}"));
                return Some(format!(
                    "package '{what}' is unsupported (end of life, matches '{atom}'): choose a supported version or package"
                ));
            }
        }
        None
    }

    /// The entitlement errors of a declaration's own `repositories` and
    /// `packages` (what can be judged before resolution).
    pub fn check_declaration(&self, decl: &serde_json::Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let strings = |key: &str| {
            decl.get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, v)| Some((i, v.as_str()?)))
        };
        for (i, repo) in strings("repositories") {
            if !self.allows_repository(repo) {
                errors.push(FieldError::new(
                    format!("/repositories/{i}"),
                    format!(
                        "repository '{}' is not entitled to your organization: \
                         you can only add packages your organization has access to",
                        assemble_io::url::redact(repo)
                    ),
                ));
            }
        }
        for (i, atom) in strings("packages") {
            let Ok(dep) = Dependency::parse(atom, Context::World) else {
                continue;
            };
            if let Some(why) = self.refuses_package(dep.name, None) {
                errors.push(FieldError::new(format!("/packages/{i}"), why));
            }
        }
        errors
    }
}

fn normalize_repo(repo: &str) -> &str {
    let repo = match repo.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or(rest, |(_, r)| r.trim_start()),
        None => repo,
    };
    repo.trim_end_matches('/')
}

/// Shell-style glob on names: `*` any run, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("py3-*", "py3-requests"));
        assert!(glob_match("*", ""));
        assert!(glob_match("c?rl", "curl"));
        assert!(!glob_match("py3-*", "python3"));
        assert!(glob_match("*-doc", "musl-doc"));
        assert!(!glob_match("a*b", "abc"));
    }

    #[test]
    fn entitlement_and_unsupported() {
        let config = ServerConfig::parse(
            r#"
            [orgs.acme]
            repositories = ["https://apk.example.org/acme/"]
            packages = ["py3-*", "curl", "openssl"]
            unsupported = ["py3-old", "openssl<3"]
            [orgs.other]
            repositories = ["*"]
            "#,
        )
        .unwrap();
        assert_eq!(config.default_org, "acme");
        let acme = &config.orgs["acme"];
        assert!(acme.allows_repository("@edge https://apk.example.org/acme"));
        assert!(!acme.allows_repository("https://apk.example.org/other"));
        assert!(acme
            .refuses_package("busybox", None)
            .unwrap()
            .contains("entitlement"));
        assert!(acme
            .refuses_package("py3-old", None)
            .unwrap()
            .contains("unsupported"));
        assert!(acme.refuses_package("openssl", None).is_none());
        assert!(acme.refuses_package("openssl", Some("1.1.1w-r0")).is_some());
        assert!(acme.refuses_package("openssl", Some("3.1.4-r0")).is_none());
        let errors = acme.check_declaration(&serde_json::json!({
            "packages": ["curl", "busybox>=1"],
            "repositories": ["https://apk.example.org/acme", "https://u:pw@evil.example/x"],
        }));
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/repositories/1", "/packages/1"]);
        assert!(!errors[0].message.contains("pw"), "{}", errors[0].message);
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(ServerConfig::parse("bogus = 1").is_err());
        assert!(ServerConfig::parse("build_timeout = \"soon\"").is_err());
        assert!(ServerConfig::parse("[orgs.Bad]").is_err());
        assert!(ServerConfig::parse("default_org = \"x\"\n[orgs.y]").is_err());
        let c = ServerConfig::parse("default_org = \"solo\"\nbuild_timeout = \"5s\"").unwrap();
        assert_eq!(c.default_org, "solo");
        assert_eq!(c.build_timeout, Duration::from_secs(5));
        assert_eq!(c.orgs["solo"].repositories, ["*"]);
    }
}
