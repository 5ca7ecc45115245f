//! Real registries for tests: Debian's `docker-registry` (Distribution
//! 2.8) started on a free loopback port with its storage, configuration
//! and log in a temporary directory, and killed on drop.
//!
//! Three kinds, as the registries users meet:
//!
//! * [`Registry::plain`] — plain HTTP, no authentication;
//! * [`Registry::basic_tls`] — htpasswd Basic authentication behind TLS,
//!   with a CA made for the test (trust it through [`Registry::certs_d`]);
//! * [`Registry::token`] — token authentication: the registry trusts a test
//!   signing certificate, and a small token server in the test (the realm)
//!   issues ES256 JWTs carrying the certificate in `x5c`, granting every
//!   requested action to the right user and nothing to anyone else.
//!
//! [`Registry::requests`] reads the registry's access log, so a test can
//! count what a client did; [`Registry::skopeo`] runs skopeo with the flags
//! that registry needs, as the independent client.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

use crate::require;

/// The service name the token registry expects in tokens.
pub const TOKEN_SERVICE: &str = "cargo-assemble-test-registry";
const TOKEN_ISSUER: &str = "cargo-assemble-test-issuer";

/// One request from the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// The path and query.
    pub uri: String,
    /// The status answered.
    pub status: u16,
}

/// A running `docker-registry`; killed on drop.
pub struct Registry {
    host: String,
    child: Child,
    dir: tempfile::TempDir,
    log: PathBuf,
    tls: bool,
    user: Option<(String, String)>,
    token: Option<TokenServer>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

impl Registry {
    /// A registry over plain HTTP without authentication.
    pub fn plain() -> Registry {
        Registry::start(Kind::Plain)
    }

    /// A registry behind TLS (a test CA) with htpasswd Basic auth for
    /// `user`/`password`.
    pub fn basic_tls(user: &str, password: &str) -> Registry {
        Registry::start(Kind::BasicTls(user.into(), password.into()))
    }

    /// A registry with token authentication; the token server grants
    /// `user`/`password` everything and anonymous clients nothing.
    pub fn token(user: &str, password: &str) -> Registry {
        Registry::start(Kind::Token(user.into(), password.into()))
    }

    fn start(kind: Kind) -> Registry {
        require("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("registry-")
            .tempdir()
            .expect("creating a temporary directory");
        let root = dir.path();
        let mut last = String::new();
        // A port taken between probing and binding is retried.
        for _ in 0..5 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let mut config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
                 health:\n  storagedriver:\n    enabled: false\n\
                 http:\n  addr: {host}\n  secret: cargo-assemble-test\n",
                data = root.join("data").display()
            );
            let mut tls = false;
            let mut user = None;
            let mut token = None;
            match &kind {
                Kind::Plain => {}
                Kind::BasicTls(u, p) => {
                    write_tls(root);
                    tls = true;
                    config.push_str(&format!(
                        "  tls:\n    certificate: {}\n    key: {}\n",
                        root.join("server.crt").display(),
                        root.join("server.key").display()
                    ));
                    write_htpasswd(root, u, p);
                    config.push_str(&format!(
                        "auth:\n  htpasswd:\n    realm: cargo-assemble-test\n    path: {}\n",
                        root.join("htpasswd").display()
                    ));
                    user = Some((u.clone(), p.clone()));
                }
                Kind::Token(u, p) => {
                    let server = TokenServer::start(root, u, p);
                    config.push_str(&format!(
                        "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                        server.realm,
                        root.join("token-signer.crt").display()
                    ));
                    user = Some((u.clone(), p.clone()));
                    token = Some(server);
                }
            }
            let config_path = root.join("config.yml");
            fs::write(&config_path, config).expect("writing the registry config");
            let log = root.join("registry.log");
            let out = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("creating the registry log");
            let err = out.try_clone().expect("sharing the log file");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("starting docker-registry");
            match wait_ready(&mut child, &host, &log) {
                Ok(()) => {
                    let registry = Registry {
                        host,
                        child,
                        dir,
                        log,
                        tls,
                        user,
                        token,
                    };
                    registry.write_client_files();
                    return registry;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = e;
                }
            }
        }
        panic!("docker-registry did not start: {last}");
    }

    /// Files for other clients: `certs.d/HOST:PORT/ca.crt`, `certs/ca.crt`
    /// (skopeo's `--cert-dir`) and an auth file with the test user.
    fn write_client_files(&self) {
        let root = self.dir.path();
        if self.tls {
            let ca = fs::read(root.join("ca.crt")).expect("reading the test CA");
            for dir in [root.join("certs.d").join(&self.host), root.join("certs")] {
                fs::create_dir_all(&dir).expect("creating a certificate directory");
                fs::write(dir.join("ca.crt"), &ca).expect("writing the test CA");
            }
        }
        if let Some((u, p)) = &self.user {
            let auth = STANDARD.encode(format!("{u}:{p}"));
            let doc = format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                self.host
            );
            fs::write(root.join("skopeo-auth.json"), doc).expect("writing the auth file");
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `docker://127.0.0.1:PORT/REPO` (the transport and the repository).
    pub fn reference(&self, repository: &str) -> String {
        format!("docker://{}/{repository}", self.host)
    }

    /// Whether the registry speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A `certs.d` root trusting the test CA for this registry (docker's
    /// layout: `ROOT/HOST:PORT/ca.crt`); `None` without TLS.
    pub fn certs_d(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join("certs.d"))
    }

    /// The test CA (PEM); `None` without TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join("ca.crt"))
    }

    /// How many tokens the token server issued (0 for other kinds).
    pub fn tokens_issued(&self) -> usize {
        self.token
            .as_ref()
            .map_or(0, |t| t.issued.load(Ordering::SeqCst))
    }

    /// The registry's log (access log and its own messages).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The requests of the access log so far, oldest first.
    pub fn requests(&self) -> Vec<Logged> {
        let Ok(file) = File::open(&self.log) else {
            return Vec::new();
        };
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| parse_access(&line))
            .collect()
    }

    /// Runs skopeo with `args`, adding the TLS and credential flags this
    /// registry needs for the `docker://` side(s) of the command; panics
    /// with skopeo's output when it fails.
    pub fn skopeo(&self, args: &[&str]) -> String {
        let o = self.skopeo_output(args);
        assert!(
            o.status.success(),
            "skopeo {args:?} failed: {}",
            crate::text(&o)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Copies `reference` (an image of this registry) into an OCI layout
    /// under `dir` with skopeo and unpacks it there with umoci (rootless);
    /// returns the unpacked root filesystem.
    pub fn unpack(&self, reference: &str, dir: &Path) -> PathBuf {
        require("umoci");
        let layout = dir.join("layout");
        let bundle = dir.join("bundle");
        fs::create_dir_all(dir).expect("creating the unpack directory");
        self.skopeo(&[
            "copy",
            "--quiet",
            reference,
            &format!("oci:{}:image", layout.display()),
        ]);
        let o = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:image", layout.display()))
            .arg(&bundle)
            .output()
            .expect("running umoci");
        assert!(
            o.status.success(),
            "umoci unpack failed: {}",
            crate::text(&o)
        );
        bundle.join("rootfs")
    }

    /// [`Registry::skopeo`] without the success check.
    pub fn skopeo_output(&self, args: &[&str]) -> Output {
        require("skopeo");
        let mut cmd = Command::new("skopeo");
        let (verb, rest) = args.split_first().expect("a skopeo verb");
        cmd.arg(verb);
        let prefix = format!("docker://{}/", self.host);
        let ours = |a: &str| a.starts_with(&prefix);
        let flags = |prefix: &str| {
            let mut f = Vec::new();
            if self.tls {
                f.push(format!(
                    "--{prefix}cert-dir={}",
                    self.dir.path().join("certs").display()
                ));
            } else {
                f.push(format!("--{prefix}tls-verify=false"));
            }
            if self.user.is_some() {
                f.push(format!(
                    "--{prefix}authfile={}",
                    self.dir.path().join("skopeo-auth.json").display()
                ));
            }
            f
        };
        match *verb {
            "copy" => {
                let positional: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|a| !a.starts_with('-'))
                    .collect();
                if positional.first().is_some_and(|a| ours(a)) {
                    cmd.args(flags("src-"));
                }
                if positional.get(1).is_some_and(|a| ours(a)) {
                    cmd.args(flags("dest-"));
                }
            }
            _ if rest.iter().any(|a| ours(a)) => {
                cmd.args(flags(""));
            }
            _ => {}
        }
        cmd.args(rest);
        cmd.output().expect("running skopeo")
    }
}

/// Panics when `secret` appears in one of `texts` or in any file under
/// `dirs` (which must hold at least one file, so the check checks something).
pub fn assert_secret_absent(secret: &str, texts: &[&str], dirs: &[&Path]) {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    for t in texts {
        assert!(!t.contains(secret), "the secret appears in: {t}");
    }
    let mut all = Vec::new();
    for d in dirs {
        files(d, &mut all);
    }
    assert!(!all.is_empty(), "no files under {dirs:?}");
    for f in all {
        let bytes = fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret appears in {}",
            f.display()
        );
    }
}

/// Waits until the registry accepts connections (or exits).
fn wait_ready(child: &mut Child, host: &str, log: &Path) -> Result<(), String> {
    let started = Instant::now();
    let log_text = || fs::read_to_string(log).unwrap_or_default();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}; log:\n{}", log_text()));
        }
        if TcpStream::connect(host).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "it did not listen within 20 s; log:\n{}",
        log_text()
    ))
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Kind {
    Plain,
    BasicTls(String, String),
    Token(String, String),
}

/// `127.0.0.1 - - [date] "PUT /v2/x HTTP/1.1" 201 0 "" "ua"`.
fn parse_access(line: &str) -> Option<Logged> {
    let start = line.find("] \"")? + 3;
    let rest = &line[start..];
    let end = rest.find('"')?;
    let mut request = rest[..end].split(' ');
    let method = request.next()?.to_owned();
    let uri = request.next()?.to_owned();
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(Logged {
        method,
        uri,
        status,
    })
}

/// A CA and a server certificate for `127.0.0.1`/`localhost`.
fn write_tls(root: &Path) {
    let ca_key = KeyPair::generate().expect("generating the CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "cargo-assemble test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-signing the CA");
    let key = KeyPair::generate().expect("generating the server key");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("server parameters");
    leaf.subject_alt_names.push(SanType::IpAddress(
        "127.0.0.1".parse().expect("an IP address"),
    ));
    leaf.distinguished_name
        .push(DnType::CommonName, "cargo-assemble test registry");
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("signing the server certificate");
    fs::write(root.join("ca.crt"), ca_cert.pem()).expect("writing the CA");
    fs::write(root.join("server.crt"), cert.pem()).expect("writing the certificate");
    fs::write(root.join("server.key"), key.serialize_pem()).expect("writing the key");
}

/// `htpasswd -B` (bcrypt, what Distribution accepts), password on stdin.
fn write_htpasswd(root: &Path, user: &str, password: &str) {
    require("htpasswd");
    let mut child = Command::new("htpasswd")
        .args(["-niB", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running htpasswd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("writing to htpasswd");
    let out = child.wait_with_output().expect("waiting for htpasswd");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        crate::text(&out)
    );
    fs::write(root.join("htpasswd"), out.stdout).expect("writing htpasswd");
}

/// The realm of the token registry: a loopback HTTP server issuing JWTs.
struct TokenServer {
    realm: String,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    user: String,
    password: String,
}

impl TokenServer {
    fn start(root: &Path, user: &str, password: &str) -> TokenServer {
        let key = KeyPair::generate().expect("generating the token key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "cargo-assemble test token signer");
        let cert = params.self_signed(&key).expect("self-signing");
        fs::write(root.join("token-signer.crt"), cert.pem()).expect("writing the signer");
        let rng = ring::rand::SystemRandom::new();
        let signer = Signer {
            key: ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.serialize_der(),
                &rng,
            )
            .expect("loading the token key"),
            cert_der: cert.der().to_vec(),
            user: user.to_owned(),
            password: password.to_owned(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the token server");
        listener.set_nonblocking(true).expect("non-blocking");
        let realm = format!("http://{}/token", listener.local_addr().expect("address"));
        let issued = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (i, s) = (issued.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve_token(stream, &signer, &i);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TokenServer {
            realm,
            issued,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve_token(
    mut stream: TcpStream,
    signer: &Signer,
    issued: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let request = lines.next().unwrap_or_default();
    let target = request.split(' ').nth(1).unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let authorization = lines
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "scope" => scopes.extend(percent_decode(v).split(' ').map(str::to_owned)),
            "service" => service = percent_decode(v),
            _ => {}
        }
    }
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", signer.user, signer.password))
    );
    let (status, body) = if authorization.is_empty() {
        (200, token_body(signer, "", &service, &[]))
    } else if authorization == expected {
        (200, token_body(signer, &signer.user, &service, &scopes))
    } else {
        (
            401,
            "{\"details\":\"incorrect username or password\"}".to_owned(),
        )
    };
    if status == 200 {
        issued.fetch_add(1, Ordering::SeqCst);
    }
    let reason = if status == 200 { "OK" } else { "Unauthorized" };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A token granting `scopes` (`repository:NAME:ACTIONS`) to `subject`.
fn token_body(signer: &Signer, subject: &str, service: &str, scopes: &[String]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let access: Vec<String> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<String> = actions.split(',').map(|a| format!("\"{a}\"")).collect();
            Some(format!(
                "{{\"type\":\"{kind}\",\"name\":\"{name}\",\"actions\":[{}]}}",
                actions.join(",")
            ))
        })
        .collect();
    let header = format!(
        "{{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\"{}\"]}}",
        STANDARD.encode(&signer.cert_der)
    );
    let claims = format!(
        "{{\"iss\":\"{TOKEN_ISSUER}\",\"sub\":\"{subject}\",\"aud\":\"{service}\",\"exp\":{},\"nbf\":{},\"iat\":{now},\"jti\":\"{now}-{}\",\"access\":[{}]}}",
        now + 300,
        now.saturating_sub(10),
        scopes.len(),
        access.join(",")
    );
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let rng = ring::rand::SystemRandom::new();
    let signature = signer
        .key
        .sign(&rng, signing_input.as_bytes())
        .expect("signing the token");
    let jwt = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    );
    format!("{{\"token\":\"{jwt}\",\"access_token\":\"{jwt}\",\"expires_in\":300}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines_parse() {
        let l = r#"127.0.0.1 - - [30/Nov/2026:07:59:27 +0000] "PUT /v2/alpine/manifests/3.17.10 HTTP/1.1" 201 0 "" "skopeo/1.9.3""#;
        assert_eq!(
            parse_access(l),
            Some(Logged {
                method: "PUT".into(),
                uri: "/v2/alpine/manifests/3.17.10".into(),
                status: 201
            })
        );
        assert_eq!(
            parse_access("time=\"…\" level=info msg=\"response completed\""),
            None
        );
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull+x"),
            "repository:a/b:pull x"
        );
    }
}
