//! Extra trusted CA certificates, installed as `update-ca-certificates`
//! would (the script is never run: no install scripts run in a build).
//!
//! Each `[[image.certificates]]` entry holds exactly one PEM certificate
//! (inline `content` or a `path`), as apko and the anchor service require
//! (a bundle is split into several entries). [`check`] parses it with
//! `x509-cert` (RustCrypto: strict DER, and it shares `der`/`spki` with the
//! `rsa` crate we already build) and accepts only a CA certificate: X.509 v3
//! with basic constraints `CA:TRUE`, and `keyCertSign` when key usage is
//! present. Leaf certificates, private keys, garbage and several
//! certificates in one entry are refused. Validity is judged at the time the
//! caller gives (the wall clock at validate/build: a certificate that has
//! expired by then is refused even when `SOURCE_DATE_EPOCH` is older; one
//! expiring within 30 days, or not valid yet, gives a warning). The output
//! never depends on that time.
//!
//! [`install`] gives the files of the layer:
//! `usr/local/share/ca-certificates/<name>.crt` (the certificate re-encoded
//! as canonical PEM: 64-column base64, LF, trailing newline, any text around
//! the block dropped) and the bundle `etc/ssl/certs/ca-certificates.crt`.
//! The bundle is what Debian's `update-ca-certificates` (run with
//! `LC_ALL=C`) writes for the resulting files: the certificates listed in
//! `ca-certificates.conf` first, then every `*.crt` under
//! `/usr/local/share/ca-certificates` sorted by path, each followed by a
//! newline when it lacks one. Alpine's C version concatenates the same files
//! in directory order; with our files (always newline-terminated) and sorted
//! order the two agree wherever Alpine's order is defined. When the base's
//! bundle ends with its own local certificates, the new ones are merged
//! into that sorted tail; otherwise they are appended after the base's
//! bundle (created when the base has none). The per-certificate
//! `/etc/ssl/certs/*.pem` symlinks and `openssl rehash` links are not made:
//! programs read the bundle.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::Certificate;

use crate::sbom::rfc3339;

/// Directory of the individual certificate files.
pub const LOCAL_CERTS_DIR: &str = "usr/local/share/ca-certificates";

/// The CA bundle.
pub const BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Largest accepted entry (a CA certificate is a few KiB).
pub const MAX_CERT_BYTES: usize = 64 * 1024;

/// A certificate expiring within this many seconds gives a warning.
pub const EXPIRY_WARNING_SECS: u64 = 30 * 86_400;

/// An `[[image.certificates]]` entry as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateEntry {
    /// The file is `<name>.crt`.
    pub name: String,
    /// Where the PEM is.
    pub source: EntrySource,
}

/// Inline PEM or a file holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntrySource {
    /// `content = "-----BEGIN …"`.
    Content(String),
    /// `path = "certs/corp.pem"`, resolved against the declaring file.
    Path(std::path::PathBuf),
}

/// Reads (at most [`MAX_CERT_BYTES`] from a file) and [`check`]s `entry`.
pub fn load(entry: &CertificateEntry, now: u64) -> Result<CaCertificate, CertError> {
    match &entry.source {
        EntrySource::Content(text) => check(&entry.name, text.as_bytes(), now),
        EntrySource::Path(path) => {
            let bytes =
                crate::runtime::read_limited(path, MAX_CERT_BYTES, "certificate").map_err(|e| {
                    CertError {
                        name: escape(&entry.name),
                        message: format!(
                            "cannot read {}: {e}",
                            escape(&path.display().to_string())
                        ),
                        help: None,
                    }
                })?;
            check(&entry.name, &bytes, now)
        }
    }
}

/// A certificate entry that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("certificate `{name}`: {message}")]
pub struct CertError {
    /// The entry's `name` (escaped for a terminal).
    pub name: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// A certificate that passed [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaCertificate {
    /// The entry's name: the file is `<name>.crt`.
    pub name: String,
    /// Canonical PEM, ending with a newline.
    pub pem: String,
    /// Subject, RFC 4514 text (escaped for a terminal).
    pub subject: String,
    /// End of validity, Unix seconds.
    pub not_after: u64,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    /// Not errors, but worth showing (expiry within 30 days, not yet valid).
    pub warnings: Vec<String>,
}

/// True for a usable entry name: 1–64 of `A-Za-z0-9._-`, starting with a
/// letter or digit, not ending in `.crt` (the extension is added).
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.ends_with(".crt")
}

/// Checks the entry `name` with PEM text `content` at Unix time `now`.
pub fn check(name: &str, content: &[u8], now: u64) -> Result<CaCertificate, CertError> {
    let err = |message: String, help: Option<&str>| CertError {
        name: escape(name),
        message,
        help: help.map(str::to_owned),
    };
    if !is_valid_name(name) {
        return Err(err(
            "invalid name".into(),
            Some(
                "use 1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit, without `.crt`",
            ),
        ));
    }
    if content.len() > MAX_CERT_BYTES {
        return Err(err(
            format!(
                "{} bytes, more than the {MAX_CERT_BYTES} allowed",
                content.len()
            ),
            Some("give one PEM certificate per entry"),
        ));
    }
    let text = std::str::from_utf8(content)
        .map_err(|_| err("not PEM text (invalid UTF-8)".into(), PEM_HELP))?;
    let der = single_pem_certificate(text).map_err(|m| err(m, PEM_HELP))?;
    let cert = Certificate::from_der(&der)
        .map_err(|e| err(format!("not an X.509 certificate: {e}"), PEM_HELP))?;
    // Strict DER: what we re-encode must be what was given.
    if cert.to_der().ok().as_deref() != Some(&der[..]) {
        return Err(err("the certificate is not DER-encoded".into(), PEM_HELP));
    }
    let tbs = &cert.tbs_certificate;
    let subject = escape(&tbs.subject.to_string());
    let mut basic = None;
    let mut key_usage = None;
    for ext in tbs.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        if ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS {
            basic = Some(
                BasicConstraints::from_der(value)
                    .map_err(|e| err(format!("invalid basic constraints: {e}"), None))?,
            );
        } else if ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_KEY_USAGE {
            key_usage = Some(
                KeyUsage::from_der(value)
                    .map_err(|e| err(format!("invalid key usage: {e}"), None))?,
            );
        }
    }
    const CA_HELP: Option<&str> = Some(
        "give the certificate of the CA that signs your servers' certificates, not a server's own",
    );
    match basic {
        Some(b) if b.ca => {}
        Some(_) => {
            return Err(err(
                format!("`{subject}` is not a CA certificate (basic constraints CA:FALSE)"),
                CA_HELP,
            ))
        }
        None => {
            return Err(err(
                format!(
                    "`{subject}` has no basic constraints extension, so it is not a CA certificate"
                ),
                CA_HELP,
            ))
        }
    }
    if key_usage.is_some_and(|k| !k.key_cert_sign()) {
        return Err(err(
            format!("`{subject}` may not sign certificates (key usage lacks keyCertSign)"),
            CA_HELP,
        ));
    }
    let not_before = tbs.validity.not_before.to_unix_duration().as_secs();
    let not_after = tbs.validity.not_after.to_unix_duration().as_secs();
    if not_after < now {
        return Err(err(
            format!("`{subject}` expired on {}", rfc3339(not_after)),
            Some("ask the CA's owner for its renewed certificate"),
        ));
    }
    let mut warnings = Vec::new();
    if not_after - now < EXPIRY_WARNING_SECS {
        warnings.push(format!(
            "certificate `{}` (`{subject}`) expires on {}, in less than 30 days",
            escape(name),
            rfc3339(not_after)
        ));
    }
    if not_before > now {
        warnings.push(format!(
            "certificate `{}` (`{subject}`) is not valid before {}",
            escape(name),
            rfc3339(not_before)
        ));
    }
    Ok(CaCertificate {
        name: name.to_owned(),
        pem: encode_pem(&der),
        subject,
        not_after,
        fingerprint: hex::encode(Sha256::digest(&der)),
        warnings,
    })
}

const PEM_HELP: Option<&str> =
    Some("give one certificate as PEM: -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----");

/// The DER of the one `CERTIFICATE` block of `text` (text around it is
/// allowed and ignored, as OpenSSL does).
fn single_pem_certificate(text: &str) -> Result<Vec<u8>, String> {
    let mut blocks = pem_blocks(text)?;
    match blocks.len() {
        0 => return Err("no PEM block found".into()),
        1 => {}
        n => {
            return Err(format!(
                "{n} PEM blocks found; an entry holds exactly one certificate \
                 (split a bundle into several entries)"
            ))
        }
    }
    let (label, der) = blocks.pop().expect("one block");
    if label != "CERTIFICATE" {
        return Err(format!(
            "expected a CERTIFICATE block, found {}",
            pem_label_text(&label)
        ));
    }
    Ok(der)
}

/// What a PEM block of `label` is, for messages.
pub(crate) fn pem_label_text(label: &str) -> String {
    if label.contains("PRIVATE KEY") {
        "a private key (never put it in an image)".to_owned()
    } else {
        format!("a `{}` block", escape(label))
    }
}

/// Every PEM block of `text` as (label, decoded bytes). Lines outside
/// blocks are ignored; base64 lines of any width are accepted; a block with
/// headers (an encrypted key) or without its END line is an error.
pub(crate) fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                return Err(format!(
                    "PEM block `{}` has headers (encrypted?)",
                    escape(label)
                ));
            }
            body.push_str(l);
        }
        if !closed {
            return Err(format!("PEM block `{}` has no END line", escape(label)));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("invalid base64 in the PEM block: {e}"))?;
        blocks.push((label.to_owned(), der));
    }
    Ok(blocks)
}

/// Canonical PEM of a certificate's DER.
pub fn encode_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The trust store of the base image, as far as the bundle depends on it.
#[derive(Clone, Debug, Default)]
pub struct BaseTrust<'a> {
    /// `etc/ssl/certs/ca-certificates.crt` (its target when it is a link).
    pub bundle: Option<&'a [u8]>,
    /// Every `*.crt` regular file (links followed) under
    /// `usr/local/share/ca-certificates`, as (path relative to that
    /// directory, content).
    pub local_certs: Vec<(String, &'a [u8])>,
}

/// The layer's files for `certs`: each `<name>.crt`, then the bundle, as
/// (path without leading `/`, content). Certificates whose file the base
/// already has with the same bytes are not written again; another file of
/// that name is an error.
pub fn install(
    certs: &[CaCertificate],
    base: &BaseTrust<'_>,
) -> Result<Vec<(String, Vec<u8>)>, CertError> {
    let mut files = Vec::new();
    let mut new: Vec<(String, &[u8])> = Vec::new();
    for c in certs {
        let file = format!("{}.crt", c.name);
        match base.local_certs.iter().find(|(p, _)| *p == file) {
            Some((_, bytes)) if *bytes == c.pem.as_bytes() => continue,
            Some(_) => {
                return Err(CertError {
                    name: escape(&c.name),
                    message: format!(
                        "the base image already has /{LOCAL_CERTS_DIR}/{file} with other content"
                    ),
                    help: Some("choose another name".into()),
                })
            }
            None => {}
        }
        if new.iter().any(|(p, _)| *p == file) {
            return Err(CertError {
                name: escape(&c.name),
                message: "declared twice".into(),
                help: Some("give each certificate its own name".into()),
            });
        }
        files.push((
            format!("{LOCAL_CERTS_DIR}/{file}"),
            c.pem.clone().into_bytes(),
        ));
        new.push((file, c.pem.as_bytes()));
    }
    if new.is_empty() {
        return Ok(files);
    }
    files.push((BUNDLE.to_owned(), bundle(base, &new)));
    Ok(files)
}

/// The bundle after adding `new` local certificates (see the module docs).
fn bundle(base: &BaseTrust<'_>, new: &[(String, &[u8])]) -> Vec<u8> {
    let mut old_local: Vec<&(String, &[u8])> = base.local_certs.iter().collect();
    old_local.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let old_tail = concat(old_local.iter().map(|(_, c)| *c));
    let existing = base.bundle.unwrap_or_default();
    let (head, mut local): (&[u8], Vec<&(String, &[u8])>) =
        match existing.strip_suffix(&old_tail[..]) {
            Some(head) if !old_local.is_empty() => (head, old_local),
            _ => (existing, Vec::new()),
        };
    let mut out = head.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    local.extend(new.iter());
    local.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.extend(concat(local.iter().map(|(_, c)| *c)));
    out
}

/// Files one after the other, each newline-terminated (`sed -e '$a\'`).
fn concat<'a>(files: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        out.extend_from_slice(f);
        if !f.is_empty() && !f.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

fn escape(s: &str) -> String {
    assemble_io::escape::escape(s).into_owned()
}

/// A short description of a checked certificate, for plans and logs.
pub fn describe(c: &CaCertificate) -> String {
    format!(
        "{} ({}, until {}, sha256 {})",
        escape(&c.name),
        c.subject,
        rfc3339(c.not_after),
        &c.fingerprint[..16]
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints as Bc, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
    };
    use std::path::Path;
    use std::process::Command;

    /// 2030-01-01T00:00:00Z
    pub(crate) const NOW: u64 = 1_893_456_000;

    /// A CA valid 2020..2040, with its key.
    pub(crate) fn ca(cn: &str) -> (rcgen::Certificate, KeyPair) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(Bc::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let key = KeyPair::generate().unwrap();
        (p.self_signed(&key).unwrap(), key)
    }

    /// A server certificate for `host` signed by `issuer`.
    pub(crate) fn leaf(host: &str, issuer: &(rcgen::Certificate, KeyPair)) -> rcgen::Certificate {
        let mut p = CertificateParams::new(vec![host.to_owned()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, host);
        p.is_ca = IsCa::ExplicitNoCa;
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2039, 1, 1);
        let key = KeyPair::generate().unwrap();
        p.signed_by(&key, &issuer.0, &issuer.1).unwrap()
    }

    fn ok(name: &str, pem: &str) -> CaCertificate {
        check(name, pem.as_bytes(), NOW).unwrap()
    }

    fn fails(name: &str, pem: &[u8], now: u64) -> String {
        check(name, pem, now).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_ca_and_normalises_its_pem() {
        let (cert, _) = ca("Test Root");
        let pem = cert.pem();
        let c = ok("corp-root", &pem);
        assert_eq!(c.subject, "CN=Test Root");
        assert!(c.warnings.is_empty());
        assert_eq!(c.not_after, 2_208_988_800);
        // Text around the block and CRLF line ends are dropped.
        let messy = format!(
            "Subject: test\r\n{}\r\ntrailing words\r\n",
            pem.replace('\n', "\r\n")
        );
        let again = ok("corp-root", &messy);
        assert_eq!(again.pem, c.pem);
        assert!(c.pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(c.pem.lines().all(|l| l.len() <= 64));
        // Lines of another width decode the same.
        let b64: String = c.pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let wide = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----",
            &b64[..76],
            &b64[76..]
        );
        assert_eq!(ok("corp-root", &wide).pem, c.pem);
        assert_eq!(c.fingerprint.len(), 64);
        assert!(describe(&c).starts_with("corp-root (CN=Test Root, until 2040-01-01T00:00:00Z"));
    }

    #[test]
    fn refuses_what_is_not_one_valid_ca() {
        let root = ca("Root");
        let server = leaf("example.test", &root);
        assert!(fails("x", server.pem().as_bytes(), NOW)
            .contains("not a CA certificate (basic constraints CA:FALSE)"));
        let key = KeyPair::generate().unwrap().serialize_pem();
        assert!(fails("x", key.as_bytes(), NOW).contains("a private key"));
        let two = format!("{}{}", root.0.pem(), ca("Other").0.pem());
        assert!(fails("x", two.as_bytes(), NOW).contains("2 PEM blocks"));
        assert!(fails("x", b"hello", NOW).contains("no PEM block"));
        assert!(fails("x", b"\xff\xfe", NOW).contains("invalid UTF-8"));
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(fails("x", garbage.as_bytes(), NOW).contains("not an X.509 certificate"));
        let bad64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(fails("x", bad64.as_bytes(), NOW).contains("invalid base64"));
        let open = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(fails("x", open.as_bytes(), NOW).contains("no END line"));
        let big = vec![b'a'; MAX_CERT_BYTES + 1];
        assert!(fails("x", &big, NOW).contains("more than"));
        for bad_name in [
            "",
            "../x",
            "a/b",
            "x.crt",
            ".hidden",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(
                fails(bad_name, root.0.pem().as_bytes(), NOW).contains("invalid name"),
                "{bad_name:?}"
            );
        }

        // A CA without keyCertSign cannot sign.
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(Bc::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let c = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        assert!(fails("x", c.pem().as_bytes(), NOW).contains("keyCertSign"));
        // No basic constraints at all.
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::NoCa;
        let c = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        assert!(fails("x", c.pem().as_bytes(), NOW).contains("no basic constraints"));
    }

    #[test]
    fn loads_inline_and_from_files() {
        let pem = ca("Root").0.pem();
        let inline = CertificateEntry {
            name: "corp".into(),
            source: EntrySource::Content(pem.clone()),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corp.pem");
        std::fs::write(&path, &pem).unwrap();
        let file = CertificateEntry {
            name: "corp".into(),
            source: EntrySource::Path(path.clone()),
        };
        assert_eq!(load(&inline, NOW).unwrap(), load(&file, NOW).unwrap());
        std::fs::write(&path, vec![b'x'; MAX_CERT_BYTES + 1]).unwrap();
        assert!(load(&file, NOW)
            .unwrap_err()
            .message
            .contains("larger than the limit"));
        let missing = CertificateEntry {
            name: "corp".into(),
            source: EntrySource::Path(dir.path().join("nope.pem")),
        };
        assert!(load(&missing, NOW)
            .unwrap_err()
            .message
            .contains("cannot read"));
    }

    #[test]
    fn expiry_and_warnings() {
        let (cert, _) = ca("Root");
        let pem = cert.pem();
        let end = 2_208_988_800; // 2040-01-01
        let e = fails("r", pem.as_bytes(), end + 1);
        assert!(e.contains("expired on 2040-01-01T00:00:00Z"), "{e}");
        let soon = check("r", pem.as_bytes(), end - 10 * 86_400).unwrap();
        assert_eq!(soon.warnings.len(), 1);
        assert!(soon.warnings[0].contains("less than 30 days"));
        let early = check("r", pem.as_bytes(), 1_500_000_000).unwrap();
        assert!(
            early.warnings[0].contains("not valid before 2020-01-01"),
            "{:?}",
            early.warnings
        );
    }

    #[test]
    fn bundle_appends_sorted_new_certificates() {
        let a = ok("zeta", &ca("Z").0.pem());
        let b = ok("alpha", &ca("A").0.pem());
        let base_bundle = b"-----BEGIN CERTIFICATE-----\nBASE\n-----END CERTIFICATE-----";
        let base = BaseTrust {
            bundle: Some(base_bundle),
            local_certs: vec![],
        };
        let files = install(&[a.clone(), b.clone()], &base).unwrap();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "usr/local/share/ca-certificates/zeta.crt",
                "usr/local/share/ca-certificates/alpha.crt",
                BUNDLE
            ]
        );
        let expected = format!(
            "{}\n{}{}",
            std::str::from_utf8(base_bundle).unwrap(),
            b.pem,
            a.pem
        );
        assert_eq!(String::from_utf8(files[2].1.clone()).unwrap(), expected);

        // No base bundle: created with the new certificates only.
        let files = install(std::slice::from_ref(&a), &BaseTrust::default()).unwrap();
        assert_eq!(files[1].1, a.pem.as_bytes());

        // Same file already in the base: nothing to do; other content: error.
        let same = BaseTrust {
            bundle: None,
            local_certs: vec![("zeta.crt".into(), a.pem.as_bytes())],
        };
        assert!(install(std::slice::from_ref(&a), &same).unwrap().is_empty());
        let other = BaseTrust {
            bundle: None,
            local_certs: vec![("zeta.crt".into(), b.pem.as_bytes())],
        };
        assert!(install(std::slice::from_ref(&a), &other)
            .unwrap_err()
            .to_string()
            .contains("other content"));
        assert!(install(&[a.clone(), a], &BaseTrust::default())
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    /// Runs Debian's `update-ca-certificates` in a temporary root: `conf`
    /// certificates (listed in the conf file) and `local` ones.
    fn run_script(root: &Path, conf: &[(&str, &str)], local: &[(&str, &str)]) -> Vec<u8> {
        let script = Path::new("/usr/sbin/update-ca-certificates");
        assert!(
            script.exists(),
            "update-ca-certificates is missing: install Debian's `ca-certificates` package"
        );
        let share = root.join("share");
        let localdir = root.join("local");
        let etc = root.join("etc");
        for d in [&share, &localdir, &etc] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut listing = String::new();
        for (name, pem) in conf {
            let p = share.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, pem).unwrap();
            listing.push_str(name);
            listing.push('\n');
        }
        std::fs::write(root.join("ca-certificates.conf"), listing).unwrap();
        for (name, pem) in local {
            let p = localdir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, pem).unwrap();
        }
        let out = Command::new("sh")
            .arg(script)
            .arg("--certsconf")
            .arg(root.join("ca-certificates.conf"))
            .arg("--certsdir")
            .arg(&share)
            .arg("--localcertsdir")
            .arg(&localdir)
            .arg("--etccertsdir")
            .arg(&etc)
            .arg("--hooksdir")
            .arg(root.join("no-hooks"))
            .env("LC_ALL", "C")
            .env("TMPDIR", root)
            .output()
            .expect("run update-ca-certificates (needs sh and openssl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(etc.join("ca-certificates.crt")).unwrap()
    }

    #[test]
    fn equals_update_ca_certificates() {
        let pems: Vec<String> = ["One", "Two", "Three", "Four", "Five"]
            .iter()
            .map(|cn| ca(cn).0.pem())
            .collect();
        // A conf certificate without its final newline (the script adds one).
        let conf_one = pems[0].trim_end().to_owned();
        let conf = [
            ("mozilla/One.crt", conf_one.as_str()),
            ("Two.crt", pems[1].as_str()),
        ];
        // The base's own local certificates, one in a subdirectory.
        let base_local = [
            ("m-base.crt", pems[2].as_str()),
            ("sub/k.crt", pems[3].as_str()),
        ];

        for (new_names, with_base_local) in [
            (vec!["a-new", "z.new"], true),
            (vec!["n", "m"], true),
            (vec!["zz"], false),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let local: &[(&str, &str)] = if with_base_local { &base_local } else { &[] };
            let base_bundle = run_script(&tmp.path().join("before"), &conf, local);
            let new: Vec<CaCertificate> = new_names.iter().map(|n| ok(n, &pems[4])).collect();
            let base = BaseTrust {
                bundle: Some(&base_bundle),
                local_certs: local
                    .iter()
                    .map(|(p, c)| (p.to_string(), c.as_bytes()))
                    .collect(),
            };
            let files = install(&new, &base).unwrap();
            let ours = &files.last().unwrap().1;

            let names: Vec<String> = new.iter().map(|c| format!("{}.crt", c.name)).collect();
            let mut after: Vec<(&str, &str)> = local.to_vec();
            after.extend(
                names
                    .iter()
                    .zip(&new)
                    .map(|(n, c)| (n.as_str(), c.pem.as_str())),
            );
            let theirs = run_script(&tmp.path().join("after"), &conf, &after);
            assert_eq!(
                String::from_utf8_lossy(ours),
                String::from_utf8_lossy(&theirs),
                "new {new_names:?}"
            );
        }
    }

    #[test]
    fn openssl_reads_the_bundle_and_verifies_a_leaf() {
        let tmp = tempfile::tempdir().unwrap();
        let base_ca = ca("Base Root");
        let corp = ca("Corp Root");
        let checked = ok("corp", &corp.0.pem());
        let base_pem = base_ca.0.pem();
        let base = BaseTrust {
            bundle: Some(base_pem.as_bytes()),
            local_certs: vec![],
        };
        let files = install(&[checked], &base).unwrap();
        let bundle = tmp.path().join("bundle.crt");
        std::fs::write(&bundle, &files[1].1).unwrap();
        let openssl = |args: &[&str]| {
            Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl is missing: install Debian's `openssl` package")
        };
        for (name, issuer) in [("corp", &corp), ("base", &base_ca)] {
            let leaf_pem = tmp.path().join(format!("{name}-leaf.pem"));
            std::fs::write(&leaf_pem, leaf("svc.example.test", issuer).pem()).unwrap();
            let out = openssl(&[
                "verify",
                "-CAfile",
                bundle.to_str().unwrap(),
                leaf_pem.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stranger = tmp.path().join("stranger.pem");
        std::fs::write(&stranger, leaf("x.test", &ca("Stranger")).pem()).unwrap();
        let out = openssl(&[
            "verify",
            "-CAfile",
            bundle.to_str().unwrap(),
            stranger.to_str().unwrap(),
        ]);
        assert!(
            !out.status.success(),
            "a leaf of another CA must not verify"
        );
        // Every certificate of the bundle parses.
        let out = openssl(&["storeutl", "-noout", "-certs", bundle.to_str().unwrap()]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Total found: 2"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
