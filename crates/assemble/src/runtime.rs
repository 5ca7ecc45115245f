//! What the image's own `apk` uses later: `runtime_repositories` written to
//! `etc/apk/repositories` and `runtime_keyring` keys written to
//! `etc/apk/keys`, distinct from the repositories and keys of the build.
//!
//! Build-time repositories stay out of the image unless they are also
//! listed as runtime ones: a build may use a local directory, a mirror
//! behind a VPN or a URL with a token, none of which belongs in an image
//! that is pushed and pulled elsewhere.
//!
//! A runtime repository is checked as the anchor service checks it, and as
//! an attacker would probe it: `https` only; no user name or password; no
//! query or fragment; a host that is neither a bare name, nor `localhost`,
//! nor in a private suffix (`.local`, `.internal`, `.localhost`,
//! `.localdomain`, `.lan`, `.home.arpa`, `.intranet`, `.corp`, `.private`,
//! trailing dot or not), nor an IP address that is not globally routable
//! (loopback, RFC 1918, link-local, CGNAT, `0.0.0.0`, multicast,
//! documentation and reserved ranges; IPv6 loopback, unique local
//! `fc00::/7`, link-local, site-local, and IPv4 addresses hidden in IPv6:
//! mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64, 6to4). The URL is
//! judged after WHATWG normalisation (decimal, hex and octal IPv4 spellings,
//! IDNA, `\` as `/`) and written to the image in that normalised form, so
//! the image's `apk` reads exactly what was checked. Whether a public name
//! resolves to a private address is the runtime's business: we do no DNS.
//!
//! A runtime key is one PEM RSA public key (SPKI or PKCS#1) of at least
//! 2048 bits, at most 512 KiB of text, written as SPKI PEM (what apk
//! reads) under a plain file name.

use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPublicKey;
use url::{Host, Url};

use assemble_io::limit::Limited;
use assemble_io::url::redact;

use crate::certs::{pem_blocks, pem_label_text};

/// Largest runtime key accepted.
pub const MAX_KEY_BYTES: usize = 512 * 1024;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_KEY_BITS: usize = 2048;

/// `etc/apk/repositories`.
pub const REPOSITORIES_FILE: &str = "etc/apk/repositories";

/// `etc/apk/keys`.
pub const KEYS_DIR: &str = "etc/apk/keys";

/// Host suffixes that never name a public server.
const PRIVATE_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "localdomain",
    "lan",
    "home.arpa",
    "intranet",
    "corp",
    "private",
];

/// A checked runtime repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeRepository {
    /// `@tag` prefix, if any.
    pub tag: Option<String>,
    /// The normalised URL (no credentials, by construction).
    pub url: Url,
}

impl RuntimeRepository {
    /// The line for `etc/apk/repositories`.
    pub fn line(&self) -> String {
        match &self.tag {
            Some(tag) => format!("@{tag} {}", self.url),
            None => self.url.to_string(),
        }
    }
}

/// A runtime repository that is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("runtime repository `{shown}`: {message}")]
pub struct RepositoryError {
    /// Index in `runtime_repositories` (for the span).
    pub index: usize,
    /// The entry as written, credentials redacted and escaped.
    pub shown: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// Checks every entry of `runtime_repositories`; all errors at once.
pub fn check_repositories<S: AsRef<str>>(
    entries: &[S],
) -> Result<Vec<RuntimeRepository>, Vec<RepositoryError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (index, text) in entries.iter().enumerate() {
        let text = text.as_ref();
        match check_repository(text) {
            Ok(r) if ok.contains(&r) => errors.push(RepositoryError {
                index,
                shown: shown(text),
                message: "listed twice".into(),
                help: None,
            }),
            Ok(r) => ok.push(r),
            Err(Refused { message, help }) => errors.push(RepositoryError {
                index,
                shown: shown(text),
                message,
                help: help.map(str::to_owned),
            }),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

fn shown(text: &str) -> String {
    assemble_io::escape::escape(&redact(text)).into_owned()
}

/// Why one runtime repository is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<&'static str>,
}

fn refused(message: impl Into<String>, help: Option<&'static str>) -> Refused {
    Refused {
        message: message.into(),
        help,
    }
}

/// Checks one `[@tag ]https://…` entry.
pub fn check_repository(text: &str) -> Result<RuntimeRepository, Refused> {
    let (tag, location) = match text.strip_prefix('@') {
        Some(rest) => match rest.split_once(' ') {
            Some((tag, loc))
                if !tag.is_empty()
                    && tag
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) =>
            {
                (Some(tag.to_owned()), loc.trim_start_matches(' '))
            }
            _ => return Err(refused(
                "invalid `@tag` prefix",
                Some("write `@tag https://host/path` with a tag of letters, digits, `.`, `_`, `-`"),
            )),
        },
        None => (None, text),
    };
    if location.is_empty()
        || location
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(refused(
            "spaces, control characters or backslashes in the URL",
            Some("write one plain https URL"),
        ));
    }
    let url = Url::parse(location).map_err(|e| {
        refused(
            format!("not a URL: {e}"),
            Some("write an absolute URL such as https://packages.example.com/alpine/v3.20/main"),
        )
    })?;
    if url.scheme() != "https" {
        return Err(refused(
            format!("scheme `{}` is not allowed", url.scheme()),
            Some("runtime repositories must use https"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            "credentials in the URL would be stored in the image",
            Some("remove the user name and password; give the image's users their own credentials at run time"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refused(
            "query or fragment in the URL",
            Some("apk appends the architecture and index name to the path; drop `?…` and `#…`"),
        ));
    }
    let host = url.host().ok_or(refused("no host", None))?;
    if let Some(problem) = host_problem(&host) {
        return Err(refused(
            problem,
            Some("runtime repositories must be reachable on the public internet by a public name"),
        ));
    }
    Ok(RuntimeRepository { tag, url })
}

/// Why `host` is not a public server, if it is not.
pub fn host_problem(host: &Host<&str>) -> Option<String> {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d.is_empty() || !d.contains('.') {
                return Some(format!("`{d}` is a bare host name, not a public domain"));
            }
            PRIVATE_SUFFIXES
                .iter()
                .find(|s| d == **s || d.ends_with(&format!(".{s}")))
                .map(|s| format!("`{d}` is in the non-public `.{s}` domain"))
        }
        Host::Ipv4(ip) => ipv4_problem(*ip).map(|why| format!("{ip} is {why}")),
        Host::Ipv6(ip) => ipv6_problem(*ip).map(|why| format!("[{ip}] is {why}")),
    }
}

/// Why `ip` is not a public address, if it is not: the address rules of
/// [`host_problem`], for callers that resolved a name themselves (the
/// service's webhooks check every address a name resolves to).
pub fn ip_problem(ip: std::net::IpAddr) -> Option<&'static str> {
    match ip {
        std::net::IpAddr::V4(v4) => ipv4_problem(v4),
        std::net::IpAddr::V6(v6) => ipv6_problem(v6),
    }
}

fn in_net4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn ipv4_problem(ip: Ipv4Addr) -> Option<&'static str> {
    const NETS: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([10, 0, 0, 0], 8, "a private address (RFC 1918)"),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([172, 16, 0, 0], 12, "a private address (RFC 1918)"),
        ([192, 0, 0, 0], 24, "an IETF protocol address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([192, 88, 99, 0], 24, "a 6to4 relay address"),
        ([192, 168, 0, 0], 16, "a private address (RFC 1918)"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved or broadcast address"),
    ];
    NETS.iter()
        .find(|(net, bits, _)| in_net4(ip, *net, *bits))
        .map(|(_, _, why)| *why)
}

fn ipv6_problem(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: usize| {
        Ipv4Addr::new(
            (s[hi] >> 8) as u8,
            s[hi] as u8,
            (s[hi + 1] >> 8) as u8,
            s[hi + 1] as u8,
        )
    };
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return Some(ipv4_problem(embedded(6)).unwrap_or("an IPv4-mapped address"));
    }
    if s[..6] == [0; 6] {
        return Some("an IPv4-compatible address (deprecated)");
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return ipv4_problem(embedded(6));
    }
    if s[0] == 0x2002 {
        return ipv4_problem(embedded(1)).or(Some("a 6to4 address"));
    }
    // (first segment & mask == value, why)
    const NETS: &[(u16, u16, &str)] = &[
        (0xfc00, 0xfe00, "a unique local address (RFC 4193)"),
        (0xfe80, 0xffc0, "a link-local address"),
        (0xfec0, 0xffc0, "a site-local address"),
        (0xff00, 0xff00, "a multicast address"),
    ];
    if let Some((_, _, why)) = NETS.iter().find(|(v, m, _)| s[0] & m == *v) {
        return Some(why);
    }
    match (s[0], s[1]) {
        (0x2001, 0x0db8) => Some("a documentation address"),
        (0x2001, 0x0000) => Some("a Teredo address"),
        (0x2001, 0x0002) if s[2] == 0 => Some("a benchmarking address"),
        (0x2001, x) if (0x0010..=0x002f).contains(&x) => Some("an ORCHID address"),
        (0x0064, 0xff9b) if s[2] == 1 => Some("a local-use NAT64 address"),
        (0x0100, 0) if s[2] == 0 && s[3] == 0 => Some("a discard-only address"),
        _ => None,
    }
}

/// A checked runtime key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeKey {
    /// File name under `etc/apk/keys` (what the repository's signatures name).
    pub name: String,
    /// SPKI PEM, LF line ends.
    pub pem: String,
    /// Modulus size.
    pub bits: usize,
}

/// A runtime key that is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("runtime key `{name}`: {message}")]
pub struct KeyError {
    /// Index in `runtime_keyring` (for the span).
    pub index: usize,
    /// The key's name (escaped).
    pub name: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// A plain key file name: 1–255 of `A-Za-z0-9._@+-`, starting with a letter
/// or digit (Alpine's `alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub`).
pub fn is_valid_key_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-'))
}

/// Checks the key `name` with PEM text `content`; `index` is its place in
/// `runtime_keyring`.
pub fn check_key(index: usize, name: &str, content: &[u8]) -> Result<RuntimeKey, KeyError> {
    let err = |message: String, help: Option<&str>| KeyError {
        index,
        name: assemble_io::escape::escape(name).into_owned(),
        message,
        help: help.map(str::to_owned),
    };
    const PEM_HELP: Option<&str> =
        Some("give the repository's RSA public key: -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----");
    if !is_valid_key_name(name) {
        return Err(err(
            "invalid key file name".into(),
            Some(
                "use the name the repository's signatures carry, e.g. `packager-6165ee59.rsa.pub`",
            ),
        ));
    }
    if content.len() > MAX_KEY_BYTES {
        return Err(err(
            format!(
                "{} bytes, more than the {} KiB allowed",
                content.len(),
                MAX_KEY_BYTES / 1024
            ),
            PEM_HELP,
        ));
    }
    let text = std::str::from_utf8(content).map_err(|_| err("not PEM text".into(), PEM_HELP))?;
    let mut blocks = pem_blocks(text).map_err(|m| err(m, PEM_HELP))?;
    if blocks.len() != 1 {
        return Err(err(
            format!(
                "{} PEM blocks found; an entry holds exactly one key",
                blocks.len()
            ),
            PEM_HELP,
        ));
    }
    let (label, der) = blocks.pop().expect("one block");
    let key = match label.as_str() {
        "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der),
        "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&der).map_err(Into::into),
        _ => {
            return Err(err(
                format!("expected a public key, found {}", pem_label_text(&label)),
                PEM_HELP,
            ))
        }
    }
    .map_err(|e| err(format!("not an RSA public key: {e}"), PEM_HELP))?;
    let bits = key.n().bits();
    if bits < MIN_KEY_BITS {
        return Err(err(
            format!("a {bits}-bit RSA key is too weak (at least {MIN_KEY_BITS} bits)"),
            None,
        ));
    }
    let pem = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| err(format!("cannot encode the key: {e}"), None))?;
    Ok(RuntimeKey {
        name: name.to_owned(),
        pem,
        bits,
    })
}

/// Reads at most `limit` bytes of `path` (an error past that, never a
/// silent truncation): for `path` entries of keys and certificates.
pub fn read_limited(path: &Path, limit: usize, what: &'static str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Limited::new(std::fs::File::open(path)?, limit as u64, what).read_to_end(&mut out)?;
    Ok(out)
}

/// Loads a `runtime_keyring` path entry: the file name is the key's name.
pub fn load_key(index: usize, path: &Path) -> Result<RuntimeKey, KeyError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = read_limited(path, MAX_KEY_BYTES, "runtime key").map_err(|e| KeyError {
        index,
        name: assemble_io::escape::escape(&name).into_owned(),
        message: format!("cannot read {}: {e}", path.display()),
        help: None,
    })?;
    check_key(index, &name, &bytes)
}

/// The base image's apk configuration, plus keys the build installs
/// anyway (the build `keyring`), so that a runtime key cannot replace them.
#[derive(Clone, Debug, Default)]
pub struct BaseApk<'a> {
    /// `etc/apk/repositories`, if any.
    pub repositories: Option<&'a [u8]>,
    /// Files of `etc/apk/keys`, (name, content).
    pub keys: Vec<(String, &'a [u8])>,
}

/// The layer's files: `etc/apk/repositories` (the base's lines kept, the
/// runtime repositories it lacks appended) and one file per key the base
/// does not already have byte for byte. A key whose name the base uses
/// for other bytes, or a name given twice, is an error.
pub fn files(
    repositories: &[RuntimeRepository],
    keys: &[RuntimeKey],
    base: &BaseApk<'_>,
) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
    let mut out = Vec::new();
    let existing = base.repositories.unwrap_or_default();
    let present: Vec<&str> = std::str::from_utf8(existing)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .collect();
    let mut added = Vec::new();
    for r in repositories {
        let line = r.line();
        if !present.contains(&line.as_str()) && !added.contains(&line) {
            added.push(line);
        }
    }
    if !added.is_empty() {
        let mut text = existing.to_vec();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        for l in added {
            text.extend_from_slice(l.as_bytes());
            text.push(b'\n');
        }
        out.push((REPOSITORIES_FILE.to_owned(), text));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (index, k) in keys.iter().enumerate() {
        let err = |message: String| {
            KeyError {
            index,
            name: assemble_io::escape::escape(&k.name).into_owned(),
            message,
            help: Some("runtime keys are only ever added: choose the name the repository signs with, unused in the image".into()),
        }
        };
        if seen.contains(&k.name.as_str()) {
            return Err(err("listed twice".into()));
        }
        seen.push(&k.name);
        match base.keys.iter().find(|(n, _)| *n == k.name) {
            Some((_, bytes)) if *bytes == k.pem.as_bytes() => {}
            Some(_) => {
                return Err(err(format!(
                    "/{KEYS_DIR}/{} exists with another key",
                    k.name
                )))
            }
            None => out.push((format!("{KEYS_DIR}/{}", k.name), k.pem.clone().into_bytes())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPublicKey as _;

    fn refusal(text: &str) -> String {
        match check_repository(text) {
            Ok(r) => panic!("{text} accepted as {}", r.url),
            Err(e) => e.message,
        }
    }

    #[test]
    fn accepts_public_https_repositories() {
        for (text, line) in [
            (
                "https://dl-cdn.alpinelinux.org/alpine/v3.20/main",
                "https://dl-cdn.alpinelinux.org/alpine/v3.20/main",
            ),
            (
                "https://packages.wolfi.dev/os",
                "https://packages.wolfi.dev/os",
            ),
            (
                "https://Repo.Example.COM:8443/x/",
                "https://repo.example.com:8443/x/",
            ),
            (
                "@edge https://apk.example.org/edge",
                "@edge https://apk.example.org/edge",
            ),
            (
                "https://93.184.215.14/alpine",
                "https://93.184.215.14/alpine",
            ),
            ("https://[2606:4700::1111]/a", "https://[2606:4700::1111]/a"),
            (
                "https://bücher.example/a",
                "https://xn--bcher-kva.example/a",
            ),
        ] {
            let r = check_repository(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(r.line(), line);
        }
    }

    #[test]
    fn refuses_what_an_attacker_would_try() {
        let cases = [
            ("http://127.0.0.1/x", "scheme `http`"),
            ("http://dl-cdn.alpinelinux.org/alpine", "scheme `http`"),
            ("ftp://example.com/x", "scheme `ftp`"),
            ("file:///srv/repo", "scheme `file`"),
            ("./repo", "not a URL"),
            ("https://user:secret@example.com/x", "credentials"),
            ("https://token@example.com/x", "credentials"),
            ("https://example.com/x?token=1", "query"),
            ("https://example.com/x#main", "fragment"),
            ("https://10.0.0.1/x", "private address"),
            ("https://172.31.255.255/x", "private address"),
            ("https://192.168.1.1/x", "private address"),
            ("https://127.0.0.1/x", "loopback"),
            ("https://127.1/x", "loopback"),
            ("https://2130706433/x", "loopback"),
            ("https://0x7f000001/x", "loopback"),
            ("https://0177.0.0.1/x", "loopback"),
            ("https://0.0.0.0/x", "unspecified"),
            ("https://0/x", "unspecified"),
            ("https://169.254.169.254/latest", "link-local"),
            ("https://100.64.0.1/x", "carrier-grade"),
            ("https://224.0.0.1/x", "multicast"),
            ("https://255.255.255.255/x", "broadcast"),
            ("https://[::1]/x", "loopback"),
            ("https://[::]/x", "unspecified"),
            ("https://[fd00::1]/x", "unique local"),
            ("https://[fc12:3456::1]/x", "unique local"),
            ("https://[fe80::1]/x", "link-local"),
            ("https://[::ffff:127.0.0.1]/x", "loopback"),
            ("https://[::ffff:10.0.0.1]/x", "private"),
            ("https://[::ffff:7f00:1]/x", "loopback"),
            ("https://[::127.0.0.1]/x", "IPv4-compatible"),
            ("https://[64:ff9b::10.0.0.1]/x", "private"),
            ("https://[2002:c0a8:0101::1]/x", "private"),
            ("https://[2001:db8::1]/x", "documentation"),
            ("https://[ff02::1]/x", "multicast"),
            ("https://localhost/x", "bare host name"),
            ("https://localhost./x", "bare host name"),
            ("https://repo/x", "bare host name"),
            ("https://repo.local/x", "`.local`"),
            ("https://REPO.LOCAL./x", "`.local`"),
            ("https://repo.internal/x", "`.internal`"),
            ("https://a.b.localhost/x", "`.localhost`"),
            ("https://nas.home.arpa/x", "`.home.arpa`"),
            ("https://repo.ｌｏｃａｌ/x", "`.local`"),
            ("https://example.com\\@127.0.0.1/x", "backslash"),
            ("https://exa mple.com/x", "spaces"),
            ("https://example.com/x\n", "control"),
            ("@ https://example.com/x", "`@tag`"),
            ("@a/b https://example.com/x", "`@tag`"),
            ("", "spaces"),
        ];
        for (text, needle) in cases {
            let m = refusal(text);
            assert!(m.contains(needle), "{text:?}: {m}");
        }
    }

    #[test]
    fn errors_carry_index_and_hide_credentials() {
        let errors = check_repositories(&[
            "https://ok.example.com/a",
            "https://user:hunter2@10.0.0.1/x",
            "https://ok.example.com/a",
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].index, 1);
        assert!(!errors[0].to_string().contains("hunter2"), "{}", errors[0]);
        assert!(errors[0].to_string().contains("credentials"));
        assert_eq!(errors[1].index, 2);
        assert!(errors[1].message.contains("twice"));
        assert_eq!(
            check_repositories(&["https://a.example.com/x"])
                .unwrap()
                .len(),
            1
        );
    }

    fn rsa_key(bits: usize) -> rsa::RsaPrivateKey {
        use rand::SeedableRng as _;
        let mut rng = rand::rngs::StdRng::seed_from_u64(bits as u64);
        rsa::RsaPrivateKey::new(&mut rng, bits).unwrap()
    }

    #[test]
    fn keys() {
        let key = rsa_key(2048);
        let public = key.to_public_key();
        let spki = public.to_public_key_pem(LineEnding::LF).unwrap();
        let pkcs1 = public.to_pkcs1_pem(LineEnding::CRLF).unwrap();
        let a = check_key(0, "acme-5f1e.rsa.pub", spki.as_bytes()).unwrap();
        assert_eq!(a.bits, 2048);
        assert_eq!(a.pem, spki);
        // PKCS#1 is rewritten as SPKI, the form apk reads.
        assert_eq!(check_key(0, "k", pkcs1.as_bytes()).unwrap().pem, spki);
        // apk's own parser reads what we write.
        assert!(apk::signature::parse_public_key(&a.pem).is_some());

        let e = |name: &str, content: &[u8]| check_key(3, name, content).unwrap_err();
        assert!(e("../x", spki.as_bytes())
            .message
            .contains("invalid key file name"));
        assert!(e("a/b", spki.as_bytes())
            .message
            .contains("invalid key file name"));
        assert!(e(".pub", spki.as_bytes())
            .message
            .contains("invalid key file name"));
        assert!(e("k", b"junk").message.contains("0 PEM blocks"));
        let two = format!("{spki}{spki}");
        assert!(e("k", two.as_bytes()).message.contains("2 PEM blocks"));
        use rsa::pkcs8::EncodePrivateKey as _;
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(e("k", private.as_bytes()).message.contains("private key"));
        let err = e(
            "k",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        );
        assert!(err.message.contains("not an RSA public key"), "{err}");
        assert_eq!(err.index, 3);
        let weak = rsa_key(1024)
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(e("k", weak.as_bytes()).message.contains("too weak"));
        let big = vec![b'a'; MAX_KEY_BYTES + 1];
        assert!(e("k", &big).message.contains("512 KiB"));

        // From a file: the name is the file name; size bounded while reading.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file-key.rsa.pub");
        std::fs::write(&path, &spki).unwrap();
        assert_eq!(load_key(0, &path).unwrap().name, "file-key.rsa.pub");
        std::fs::write(&path, &big).unwrap();
        assert!(load_key(0, &path)
            .unwrap_err()
            .message
            .contains("larger than the limit"));
        assert!(load_key(0, &dir.path().join("missing.pub"))
            .unwrap_err()
            .message
            .contains("cannot read"));
    }

    #[test]
    fn files_merge_with_the_base() {
        let spki = rsa_key(2048)
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let key = check_key(0, "acme.rsa.pub", spki.as_bytes()).unwrap();
        let repos = check_repositories(&[
            "https://dl-cdn.alpinelinux.org/alpine/v3.20/main",
            "https://apk.example.com/acme",
        ])
        .unwrap();
        let base = BaseApk {
            repositories: Some(b"https://dl-cdn.alpinelinux.org/alpine/v3.20/main"),
            keys: vec![("alpine.rsa.pub".into(), b"other")],
        };
        let out = files(&repos, std::slice::from_ref(&key), &base).unwrap();
        assert_eq!(out[0].0, "etc/apk/repositories");
        assert_eq!(
            String::from_utf8(out[0].1.clone()).unwrap(),
            "https://dl-cdn.alpinelinux.org/alpine/v3.20/main\nhttps://apk.example.com/acme\n"
        );
        assert_eq!(
            out[1],
            (
                "etc/apk/keys/acme.rsa.pub".into(),
                spki.clone().into_bytes()
            )
        );

        // Nothing new: nothing written.
        let same = BaseApk {
            repositories: Some(
                b"https://dl-cdn.alpinelinux.org/alpine/v3.20/main\nhttps://apk.example.com/acme\n",
            ),
            keys: vec![("acme.rsa.pub".into(), spki.as_bytes())],
        };
        assert!(files(&repos, std::slice::from_ref(&key), &same)
            .unwrap()
            .is_empty());
        // No base file: created.
        let out = files(&repos[1..], &[], &BaseApk::default()).unwrap();
        assert_eq!(out[0].1, b"https://apk.example.com/acme\n");

        let clash = BaseApk {
            repositories: None,
            keys: vec![("acme.rsa.pub".into(), b"another key")],
        };
        let e = files(&[], std::slice::from_ref(&key), &clash).unwrap_err();
        assert!(e.message.contains("exists with another key"), "{e}");
        let e = files(&[], &[key.clone(), key], &BaseApk::default()).unwrap_err();
        assert_eq!(e.index, 1);
    }
}
