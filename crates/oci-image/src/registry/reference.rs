//! `docker://` references: which registry, repository, tag and digest a
//! user means, normalised the way docker does it so that the same text
//! names the same image for us, docker, podman and skopeo.
//!
//! * `docker://alpine:3.20` → registry `docker.io`, repository
//!   `library/alpine`, tag `3.20` (a first component without `.` or `:` and
//!   other than `localhost` is a Docker Hub namespace, and official images
//!   live under `library/`);
//! * `docker://127.0.0.1:5000/team/app@sha256:…` → that registry, by digest;
//! * no tag and no digest means `latest`; a tag *and* a digest pulls by the
//!   digest (the tag is kept for messages).
//!
//! Docker Hub is named `docker.io` in references and credentials, but its
//! API lives at `registry-1.docker.io` ([`RegistryRef::api_host`]).

use std::fmt;

use crate::{Digest, OciError};

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The transport prefix (skopeo's name for registries).
pub const TRANSPORT: &str = "docker://";

const MAX_NAME: usize = 255;
const MAX_TAG: usize = 128;

/// An image in a registry.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistryRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl RegistryRef {
    /// Parses `docker://[HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST]`.
    pub fn parse(text: &str) -> Result<RegistryRef, OciError> {
        let err = |reason: &str| OciError::Reference {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = text
            .strip_prefix(TRANSPORT)
            .ok_or_else(|| err("a registry reference starts with docker://"))?;
        let (name_tag, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d).map_err(|e| err(&e.to_string()))?)),
            None => (rest, None),
        };
        let (name, tag) = match name_tag.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (name_tag, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(err)?;
        }
        let (registry, path) = split_registry(name);
        check_registry(registry).map_err(err)?;
        if path.is_empty() {
            return Err(err("the repository name is empty"));
        }
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
            r => r,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        check_repository(&repository).map_err(err)?;
        if registry.len() + 1 + repository.len() > MAX_NAME {
            return Err(err("the name is longer than 255 characters"));
        }
        Ok(RegistryRef {
            registry: registry.to_owned(),
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry as named in references and credentials:
    /// `HOST[:PORT]`, `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) the registry API is served on.
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// The repository (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest as written, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What `/v2/<repo>/manifests/<reference>` gets: the digest when
    /// given, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> RegistryRef {
        RegistryRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository and tag, pinned to `digest`.
    pub fn with_digest(&self, digest: Digest) -> RegistryRef {
        RegistryRef {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository without tag or digest.
    pub fn repository_ref(&self) -> RegistryRef {
        RegistryRef {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// Whether the registry runs on this machine (`localhost`, `127.*`,
    /// `::1`): plain HTTP is allowed there.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.registry)
    }
}

/// The API host for a registry name (`docker.io` → `registry-1.docker.io`).
pub(crate) fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

/// A registry name as users write it for `login`/`logout` and in
/// credential files: `HOST[:PORT]`, with a scheme or path dropped and
/// Docker Hub's aliases mapped to `docker.io`.
pub(crate) fn normalize_registry(text: &str) -> Result<String, OciError> {
    let host = text
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or_default();
    check_registry(host).map_err(|reason| OciError::Reference {
        text: text.to_owned(),
        reason: reason.to_owned(),
    })?;
    Ok(match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        h => h.to_owned(),
    })
}

/// Whether `HOST[:PORT]` names this machine.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = host_part(registry);
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// `HOST` of `HOST[:PORT]` (brackets kept for IPv6).
fn host_part(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_once(']').map_or(registry, |(h, _)| h);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Splits `NAME` into registry and repository path as docker does.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.starts_with('[')
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn check_registry(registry: &str) -> Result<(), &'static str> {
    if registry.is_empty() {
        return Err("the registry host is empty");
    }
    let (host, port) = if registry.starts_with('[') {
        let (h, p) = registry.split_once(']').ok_or("unclosed `[` in the host")?;
        (h.trim_start_matches('['), p.strip_prefix(':'))
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !host_ok {
        return Err("the registry host has characters other than letters, digits, `.` and `-`");
    }
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return Err("the registry port is not a number from 0 to 65535");
        }
    }
    Ok(())
}

fn check_repository(repository: &str) -> Result<(), &'static str> {
    if repository.is_empty() {
        return Err("the repository name is empty");
    }
    for component in repository.split('/') {
        if !valid_component(component) {
            return Err("repository path components are lowercase letters and digits, separated by `.`, `_`, `__` or dashes");
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    if b.is_empty() || b.len() > MAX_TAG {
        return Err("a tag has 1 to 128 characters");
    }
    if !word(b[0]) || !b.iter().all(|&x| word(x) || x == b'.' || x == b'-') {
        return Err("a tag is letters, digits, `_`, `.` and `-`, not starting with `.` or `-`");
    }
    Ok(())
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TRANSPORT}{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for RegistryRef {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegistryRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:07b5a67da37624954ee5f14d83b111a797c6deacbc470c2adf56fbafb75b60a9";

    fn p(text: &str) -> RegistryRef {
        RegistryRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn short_names_expand_as_docker_does() {
        let r = p("docker://alpine:3.20");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.repository(), "library/alpine");
        assert_eq!(r.tag(), Some("3.20"));
        assert_eq!(r.to_string(), "docker://docker.io/library/alpine:3.20");
        assert_eq!(p("docker://alpine").manifest_reference(), "latest");
        assert_eq!(p("docker://team/app").repository(), "team/app");
        assert_eq!(
            p("docker://index.docker.io/alpine").to_string(),
            "docker://docker.io/library/alpine"
        );
        assert_eq!(
            p("docker://cgr.dev/chainguard/static:latest").registry(),
            "cgr.dev"
        );
        let local = p("docker://localhost/x");
        assert_eq!(local.registry(), "localhost");
        assert!(local.is_loopback());
    }

    #[test]
    fn ports_digests_and_tags() {
        let r = p(&format!("docker://127.0.0.1:5000/a/b-c/d__e:v1.0@{D}"));
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b-c/d__e");
        assert_eq!(r.tag(), Some("v1.0"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.manifest_reference(), D);
        assert!(r.is_loopback());
        assert_eq!(
            r.to_string(),
            format!("docker://127.0.0.1:5000/a/b-c/d__e:v1.0@{D}")
        );
        let r = p(&format!("docker://[::1]:5000/x@{D}"));
        assert_eq!(r.registry(), "[::1]:5000");
        assert!(r.is_loopback());
        assert!(!p("docker://ghcr.io/o/r").is_loopback());
        assert_eq!(r.with_tag("t").to_string(), "docker://[::1]:5000/x:t");
    }

    #[test]
    fn malformed_references_are_refused_with_the_reason() {
        for (text, why) in [
            ("alpine", "starts with docker://"),
            ("docker://", "repository name is empty"),
            ("docker://Alpine", "lowercase"),
            ("docker://alpine:", "1 to 128"),
            ("docker://alpine:-x", "not starting"),
            ("docker://alpine@sha256:abc", "64"),
            ("docker://alpine@md5:abc", "only sha256"),
            ("docker://h:99999/x", "port"),
            ("docker://a..b/c/", "lowercase"),
            ("docker://x_/y", "lowercase"),
        ] {
            let e = RegistryRef::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains(&format!("`{text}`")), "{text}: {e}");
        }
        assert!(RegistryRef::parse(&format!("docker://h/{}", "a".repeat(260))).is_err());
    }

    #[test]
    fn registries_normalise_for_credentials() {
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/").unwrap(),
            "docker.io"
        );
        assert_eq!(
            normalize_registry("localhost:5000").unwrap(),
            "localhost:5000"
        );
        assert_eq!(
            normalize_registry("http://h.example/x").unwrap(),
            "h.example"
        );
        assert!(normalize_registry("bad host").is_err());
    }
}
