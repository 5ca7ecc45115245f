//! Credentials for HTTP repositories: apk's `HTTP_AUTH` variable and
//! `~/.netrc`.
//!
//! `HTTP_AUTH` holds one or more comma-separated entries of the form
//! `basic:HOST:USER:PASSWORD` (the password may itself contain `:`; `HOST`
//! may be `*` for any host). `~/.netrc` (or the file named by `NETRC`) holds
//! `machine HOST login USER password PASSWORD` entries and an optional
//! `default` entry. `HTTP_AUTH` wins over `.netrc`; a `machine` entry wins
//! over `default`.
//!
//! Secrets are wrapped in [`Secret`] (assemble-io's), whose `Debug` and
//! `Display` print `****`, and no error here quotes the text it failed to
//! parse.

use std::path::{Path, PathBuf};

pub use assemble_io::secret::Secret;

/// Where a credential came from (for messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The `HTTP_AUTH` variable (or text in its format).
    HttpAuth,
    /// A `machine` entry of a netrc file.
    Netrc,
    /// The `default` entry of a netrc file.
    NetrcDefault,
}

/// HTTP Basic credentials for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// Host name the credential is for (`*` in `HTTP_AUTH`, or empty for a
    /// netrc `default` entry, matches any host).
    pub host: String,
    /// User name.
    pub user: String,
    /// Password.
    pub password: Secret,
    /// Where it came from.
    pub source: Source,
}

impl Credential {
    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        if self.source == Source::NetrcDefault || self.host == "*" {
            return true;
        }
        if self.host.eq_ignore_ascii_case(host) {
            return true;
        }
        // `HOST:PORT` entries match only that port.
        match (port, self.host.rsplit_once(':')) {
            (Some(p), Some((h, ps))) => h.eq_ignore_ascii_case(host) && ps == p.to_string(),
            _ => false,
        }
    }
}

/// Credentials found in the configuration, looked up per host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    entries: Vec<Credential>,
}

/// Why credentials could not be read. Never includes the offending text.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An `HTTP_AUTH` entry is malformed.
    #[error("HTTP_AUTH entry {entry}: {problem}; expected basic:HOST:USER:PASSWORD, several separated by commas")]
    HttpAuth {
        /// 1-based entry number.
        entry: usize,
        /// What is wrong (never the entry's text).
        problem: &'static str,
    },
    /// The netrc file could not be read.
    #[error("cannot read netrc file {}: {error}; fix its permissions or point NETRC elsewhere", path.display())]
    NetrcIo {
        /// The file.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
}

impl Credentials {
    /// No credentials.
    pub fn none() -> Self {
        Credentials::default()
    }

    /// Parses text in `HTTP_AUTH` form: `basic:HOST:USER:PASSWORD[,…]`.
    pub fn from_http_auth(text: &str) -> Result<Self, AuthError> {
        let mut entries = Vec::new();
        for (i, item) in text.split(',').enumerate() {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let err = |problem| AuthError::HttpAuth {
                entry: i + 1,
                problem,
            };
            let mut parts = item.splitn(4, ':');
            let scheme = parts.next().unwrap_or_default();
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(err("only the 'basic' scheme is supported"));
            }
            let (Some(host), Some(user), Some(password)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(err("it has fewer than four ':'-separated fields"));
            };
            if host.is_empty() {
                return Err(err("the host is empty"));
            }
            entries.push(Credential {
                host: host.to_owned(),
                user: user.to_owned(),
                password: Secret::new(password),
                source: Source::HttpAuth,
            });
        }
        Ok(Credentials { entries })
    }

    /// Parses netrc text. Unknown tokens and `macdef` bodies are skipped.
    pub fn from_netrc(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut current: Option<Credential> = None;
        let flush = |current: &mut Option<Credential>, entries: &mut Vec<Credential>| {
            if let Some(c) = current.take() {
                if !c.user.is_empty() || !c.password.expose().is_empty() {
                    entries.push(c);
                }
            }
        };
        // Tokenise line-wise so `macdef` bodies (up to a blank line) can be
        // skipped and `#` comments dropped.
        let mut lines = text.lines();
        let mut pending: Vec<String> = Vec::new();
        loop {
            if pending.is_empty() {
                let Some(line) = lines.next() else { break };
                let line = line.split_once('#').map_or(line, |(a, _)| a);
                pending = line.split_whitespace().rev().map(str::to_owned).collect();
                continue;
            }
            let token = pending.pop().unwrap_or_default();
            let mut value = |pending: &mut Vec<String>| -> Option<String> {
                if let Some(v) = pending.pop() {
                    return Some(v);
                }
                for line in lines.by_ref() {
                    let mut words: Vec<String> =
                        line.split_whitespace().rev().map(str::to_owned).collect();
                    if let Some(v) = words.pop() {
                        *pending = words;
                        return Some(v);
                    }
                }
                None
            };
            match token.as_str() {
                "machine" => {
                    flush(&mut current, &mut entries);
                    let host = value(&mut pending).unwrap_or_default();
                    current = Some(Credential {
                        host,
                        user: String::new(),
                        password: Secret::new(""),
                        source: Source::Netrc,
                    });
                }
                "default" => {
                    flush(&mut current, &mut entries);
                    current = Some(Credential {
                        host: String::new(),
                        user: String::new(),
                        password: Secret::new(""),
                        source: Source::NetrcDefault,
                    });
                }
                "login" => {
                    let v = value(&mut pending).unwrap_or_default();
                    if let Some(c) = current.as_mut() {
                        c.user = v;
                    }
                }
                "password" => {
                    let v = value(&mut pending).unwrap_or_default();
                    if let Some(c) = current.as_mut() {
                        c.password = Secret::new(v);
                    }
                }
                "account" => {
                    value(&mut pending);
                }
                "macdef" => {
                    flush(&mut current, &mut entries);
                    pending.clear();
                    for line in lines.by_ref() {
                        if line.trim().is_empty() {
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        flush(&mut current, &mut entries);
        Credentials { entries }
    }

    /// Reads a netrc file; a missing file means no credentials.
    pub fn from_netrc_file(path: &Path) -> Result<Self, AuthError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Credentials::from_netrc(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::none()),
            Err(error) => Err(AuthError::NetrcIo {
                path: path.to_owned(),
                error,
            }),
        }
    }

    /// Combines `HTTP_AUTH`-form text and a netrc file (either optional);
    /// `HTTP_AUTH` entries take precedence.
    pub fn load(http_auth: Option<&str>, netrc: Option<&Path>) -> Result<Self, AuthError> {
        let mut creds = match http_auth {
            Some(text) => Credentials::from_http_auth(text)?,
            None => Credentials::none(),
        };
        if let Some(path) = netrc {
            creds.extend(Credentials::from_netrc_file(path)?);
        }
        Ok(creds)
    }

    /// Reads `HTTP_AUTH` and the netrc file (`NETRC`, else `~/.netrc`) from
    /// the environment.
    pub fn from_env() -> Result<Self, AuthError> {
        let http_auth = std::env::var("HTTP_AUTH").ok();
        let netrc = std::env::var_os("NETRC")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".netrc")));
        Credentials::load(http_auth.as_deref(), netrc.as_deref())
    }

    /// Appends `other`'s entries after these (lower precedence).
    pub fn extend(&mut self, other: Credentials) {
        self.entries.extend(other.entries);
    }

    /// Adds one entry with the lowest precedence so far.
    pub fn push(&mut self, credential: Credential) {
        self.entries.push(credential);
    }

    /// The credential for `host` (and optional explicit `port`): the first
    /// matching `HTTP_AUTH` or netrc `machine` entry, else a netrc `default`.
    pub fn lookup(&self, host: &str, port: Option<u16>) -> Option<&Credential> {
        let specific = self
            .entries
            .iter()
            .filter(|c| c.source != Source::NetrcDefault)
            .find(|c| c.matches(host, port));
        specific.or_else(|| {
            self.entries
                .iter()
                .find(|c| c.source == Source::NetrcDefault)
        })
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials::from_http_auth("basic:example.org:alice:s3cr:et").unwrap();
        let cred = c.lookup("example.org", None).unwrap();
        assert_eq!(cred.user, "alice");
        assert_eq!(cred.password.expose(), "s3cr:et");
        for text in [
            format!("{c:?}"),
            format!("{cred:?}"),
            format!("{}", cred.password),
        ] {
            assert!(!text.contains("s3cr"), "{text}");
        }
    }

    #[test]
    fn http_auth_entries() {
        let c = Credentials::from_http_auth(
            "basic:a.example:u1:p1, basic:b.example:8443:u2:p:2,basic:*:any:pw",
        )
        .unwrap();
        assert_eq!(c.lookup("a.example", None).unwrap().user, "u1");
        assert_eq!(c.lookup("A.EXAMPLE", Some(80)).unwrap().user, "u1");
        // "b.example:8443" parsed as host "b.example", user "8443"
        // (HOST never contains ':' in the 4-field form).
        assert_eq!(c.lookup("b.example", None).unwrap().user, "8443");
        assert_eq!(c.lookup("other", None).unwrap().user, "any");
        let e = Credentials::from_http_auth("basic:h:u:p,digest:h:u:topsecret").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("entry 2"), "{text}");
        assert!(!text.contains("topsecret"), "{text}");
        let e = Credentials::from_http_auth("basic:h:topsecret").unwrap_err();
        assert!(!e.to_string().contains("topsecret"));
        assert!(Credentials::from_http_auth("").unwrap().is_empty());
    }

    #[test]
    fn netrc_entries() {
        let c = Credentials::from_netrc(
            "# comment\nmachine a.example login u1 password p1\n\
             macdef init\nmachine evil login x password y\n\n\
             machine b.example\n  login u2\n  password p2 account acct\n\
             default login anon password guest\n",
        );
        assert_eq!(c.lookup("a.example", None).unwrap().user, "u1");
        let b = c.lookup("b.example", None).unwrap();
        assert_eq!((b.user.as_str(), b.password.expose()), ("u2", "p2"));
        assert!(c.lookup("evil", None).unwrap().source == Source::NetrcDefault);
        assert_eq!(c.lookup("zzz", None).unwrap().user, "anon");
        assert!(Credentials::from_netrc("machine x")
            .lookup("y", None)
            .is_none());
    }

    #[test]
    fn http_auth_wins_over_netrc() {
        let dir = tempfile::tempdir().unwrap();
        let netrc = dir.path().join("netrc");
        std::fs::write(
            &netrc,
            "machine h login n password np\ndefault login d password dp",
        )
        .unwrap();
        let c = Credentials::load(Some("basic:h:e:ep"), Some(&netrc)).unwrap();
        assert_eq!(c.lookup("h", None).unwrap().user, "e");
        assert_eq!(c.lookup("other", None).unwrap().user, "d");
        let c = Credentials::load(None, Some(&dir.path().join("missing"))).unwrap();
        assert!(c.is_empty());
    }
}
