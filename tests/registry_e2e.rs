//! Registries in the declaration, end to end against real `docker-registry`
//! processes: a `docker://` source, `publish` under `apply`, `--output
//! docker://`, `layers = N`, `--locked` against a moved source tag, and
//! credentials — every result read back with skopeo and umoci.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use base64::Engine;
use serde_json::Value;
use testkit::registry::{Logged, Registry as Server};
use testkit::repo::{Pkg, Repo};
use testkit::{corpus, text};

mod common;
use common::copy_dir;

const PASSWORD: &str = "e2e-Declared!9pw";
const EPOCH: &str = "1700000000";

/// Runs the CLI in `dir` with a private home and cache.
fn assemble(dir: &Path, home: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"));
    cmd.current_dir(dir)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("CARGO_ASSEMBLE_CACHE", home.join("cache"))
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run cargo-assemble")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@e"])
        .args(args)
        .output()
        .expect("git");
    assert!(o.status.success(), "{}", text(&o));
}

/// A project directory (a git repository) with a signed repository.
struct Project {
    dir: PathBuf,
    home: PathBuf,
    repo: Repo,
    _tmp: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        git(&dir, &["init", "-q"]);
        std::fs::write(
            dir.join(".gitignore"),
            "target/\n.assembly-apply.lock\nrepo/\n",
        )
        .unwrap();
        let repo = Repo::new(&dir.join("repo"), "e2e");
        Project {
            dir,
            home,
            repo,
            _tmp: tmp,
        }
    }

    fn declare(&self, body: &str) {
        let text = format!(
            "[image]\nname = \"img\"\nrepositories = [\"./repo\"]\nkeyring = [\"{}\"]\n{body}",
            self.repo.key_path().display()
        );
        std::fs::write(self.dir.join("assembly.toml"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], envs: &[(&str, &Path)]) -> Output {
        assemble(&self.dir, &self.home, args, envs)
    }
}

fn inspect_digest(server: &Server, reference: &str) -> String {
    let v: Value = serde_json::from_str(&server.skopeo(&["inspect", reference])).unwrap();
    v["Digest"].as_str().unwrap().to_owned()
}

fn raw(server: &Server, reference: &str) -> Value {
    serde_json::from_str(&server.skopeo(&["inspect", "--raw", reference])).unwrap()
}

/// The corpus's two-platform layout (untagged platform manifests in
/// `index.json`, as apko writes them) as a layout with one image index
/// tagged `edge`, which skopeo can copy with `--all`.
fn two_platform_layout(dir: &Path) -> PathBuf {
    let from = corpus("apk/repo-small/base_image");
    let layout = dir.join("two-platform");
    copy_dir(&from, &layout);
    let index: Value =
        serde_json::from_slice(&std::fs::read(from.join("index.json")).unwrap()).unwrap();
    let doc = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index["manifests"],
    }))
    .unwrap();
    let digest = sha256_hex(&doc);
    std::fs::write(layout.join("blobs/sha256").join(&digest), &doc).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{digest}"),
            "size": doc.len(),
            "annotations": {"org.opencontainers.image.ref.name": "edge"},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    layout
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn uploads(requests: &[Logged]) -> Vec<Logged> {
    requests
        .iter()
        .filter(|q| q.uri.contains("/blobs/uploads"))
        .cloned()
        .collect()
}

/// Incompressible bytes, so layer sizes follow file sizes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn alpine_from_the_registry_published_by_apply_and_locked() {
    let server = Server::plain();
    let host = server.host().to_owned();
    let alpine = corpus("images/alpine-3.17.10-x86_64");
    let base = format!("docker://{host}/base/alpine:3.17");
    server.skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:alpine-3.17.10", alpine.display()),
        &base,
    ]);
    let mut p = Project::new();
    p.repo.add(
        Pkg::new("hello", "1.0-r0")
            .file("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
            .file("usr/share/hello/greeting.txt", b"hello\n", 0o644),
    );
    p.repo.write_index();
    let dest = format!("docker://{host}/team/img");
    p.declare(&format!(
        "source = \"{base}\"\npackages = [\"hello\"]\narchitectures = [\"x86_64\"]\ntags = [\"latest\", \"1.0\"]\npublish = [\"{dest}\"]\n"
    ));
    ok(p.run(&["validate"]));

    let o = ok(p.run(&["apply", "--auto-approve", "--json"]));
    let report = json(&o);
    let image = &report[0]["report"];
    let digest = image["digest"].as_str().unwrap().to_owned();
    let pushed = &image["published"][0];
    assert_eq!(pushed["destination"], dest);
    let pushed_image = &pushed["images"][0];
    assert_eq!(pushed_image["digest"], digest.as_str());
    let refs: Vec<&str> = pushed_image["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        refs.contains(&format!("{dest}:latest").as_str()),
        "{refs:?}"
    );
    assert!(refs.contains(&format!("{dest}:1.0").as_str()), "{refs:?}");
    assert_eq!(
        pushed_image["platforms"][0]["digest"],
        image["platforms"][0]["manifest_digest"]
    );

    // The registry's digest is that of the same build written to oci:.
    assert_eq!(inspect_digest(&server, &format!("{dest}:latest")), digest);
    let local = p.dir.join("target/local");
    ok(p.run(&[
        "build",
        "--quiet",
        "--output",
        &format!("oci:{}", local.display()),
    ]));
    let index: Value =
        serde_json::from_slice(&std::fs::read(local.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    // Pulled back and unpacked: the package and the source are there.
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = server.unpack(&format!("{dest}:latest"), tmp.path());
    assert!(rootfs.join("usr/bin/hello").is_file());
    assert!(rootfs.join("usr/share/hello/greeting.txt").is_file());
    assert!(rootfs.join("bin/busybox").exists());
    let installed = std::fs::read_to_string(rootfs.join("lib/apk/db/installed")).unwrap();
    assert!(installed.contains("P:hello") && installed.contains("P:musl"));

    // The lock records the source's manifest digest.
    let source_digest = inspect_digest(&server, &base);
    let lock = std::fs::read_to_string(p.dir.join("assembly.lock")).unwrap();
    assert!(lock.contains(&source_digest), "{lock}");

    // An unchanged re-push uploads no blob.
    let since = server.requests().len();
    let started = Instant::now();
    let o = ok(p.run(&["build", "--json", "--output", &dest]));
    println!(
        "re-push of an unchanged image (build + push): {:?}",
        started.elapsed()
    );
    let again = json(&o);
    assert_eq!(again[0]["report"]["digest"], digest.as_str());
    assert_eq!(again[0]["report"]["published"][0]["blobs_uploaded"], 0);
    let after = server.requests();
    assert!(
        uploads(&after[since..]).is_empty(),
        "{:?}",
        uploads(&after[since..])
    );
    ok(p.run(&["apply", "--locked", "--auto-approve"]));

    // The tag moves to another image: plan sees it, --locked refuses.
    let other = two_platform_layout(&p.home);
    server.skopeo(&[
        "copy",
        "--quiet",
        "--all",
        &format!("oci:{}:edge", other.display()),
        &base,
    ]);
    let moved = inspect_digest(&server, &base);
    assert_ne!(moved, source_digest);
    let o = ok(p.run(&["plan"]));
    let plan = text(&o);
    assert!(plan.contains("source image"), "{plan}");
    let o = ok(p.run(&["plan", "--format", "json"]));
    let json_plan = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(json_plan.contains(&source_digest), "{json_plan}");
    let o = p.run(&["apply", "--locked", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("assembly.lock records") && err.contains(&source_digest),
        "{err}"
    );
    let o = p.run(&["build", "--locked", "--output", "oci:target/locked"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // `outdated` names it too.
    let o = ok(p.run(&["outdated"]));
    assert!(text(&o).contains("source image"), "{}", text(&o));
    // The lock and the published tag are untouched.
    assert_eq!(
        std::fs::read_to_string(p.dir.join("assembly.lock")).unwrap(),
        lock
    );
    assert_eq!(inspect_digest(&server, &format!("{dest}:latest")), digest);
}

#[test]
fn a_two_architecture_source_gives_a_two_architecture_index() {
    let server = Server::plain();
    let host = server.host().to_owned();
    let small = corpus("apk/repo-small");
    let base = format!("docker://{host}/small/base:edge");
    let p = Project::new();
    let layout = two_platform_layout(&p.home);
    server.skopeo(&[
        "copy",
        "--quiet",
        "--all",
        &format!("oci:{}:edge", layout.display()),
        &base,
    ]);
    std::fs::write(
        p.dir.join("assembly.toml"),
        format!(
            "[image]\nname = \"img\"\nsource = \"{base}\"\npackages = [\"replayout\"]\nrepositories = [\"{}\"]\nkeyring = [\"{}\"]\n",
            small.join("packages").display(),
            small.join("melange.rsa.pub").display()
        ),
    )
    .unwrap();
    let dest = format!("docker://{host}/small/out");
    let o = ok(p.run(&["build", "--json", "--output", &dest]));
    let report = &json(&o)[0]["report"];
    assert_eq!(report["platforms"].as_array().unwrap().len(), 2);
    let index = raw(&server, &format!("{dest}:latest"));
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    let built: Vec<&str> = report["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["manifest_digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed, built);
    assert_eq!(
        inspect_digest(&server, &format!("{dest}:latest")),
        report["digest"].as_str().unwrap()
    );
    // Both SBOMs are referrers (tag schema on Distribution 2.8).
    assert_eq!(
        report["published"][0]["referrers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn after_one_upgrade_only_its_layer_is_pushed_again() {
    let server = Server::plain();
    let dest = server.reference("layered/img");
    let mut p = Project::new();
    p.repo.add(Pkg::new("big", "1-r0").origin("big").file(
        "usr/share/big/data",
        &noise(1, 400_000),
        0o644,
    ));
    p.repo.add(Pkg::new("mid", "1-r0").origin("mid").file(
        "usr/share/mid/data",
        &noise(2, 250_000),
        0o644,
    ));
    p.repo.add(Pkg::new("mid-doc", "1-r0").origin("mid").file(
        "usr/share/doc/mid/README",
        &noise(3, 5_000),
        0o644,
    ));
    p.repo
        .add(Pkg::new("tiny", "1-r0").file("usr/share/tiny/data", b"tiny\n", 0o644));
    p.repo.write_index();
    p.declare(&format!(
        "source = \"oci:{}:alpine-3.17.10\"\npackages = [\"big\", \"mid\", \"mid-doc\", \"tiny\"]\nlayers = 3\n",
        corpus("images/alpine-3.17.10-x86_64").display()
    ));
    let o = ok(p.run(&["build", "--json", "--output", &dest]));
    let first = json(&o);
    let manifest = raw(&server, &format!("{dest}:latest"));
    let layers = manifest["layers"].as_array().unwrap();
    // One source layer, big, mid + mid-doc, then tiny with the database.
    assert_eq!(layers.len(), 1 + 3, "{manifest}");
    let before: Vec<String> = layers
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();

    // mid is upgraded.
    p.repo.add(Pkg::new("mid", "2-r0").origin("mid").file(
        "usr/share/mid/data",
        &noise(4, 250_000),
        0o644,
    ));
    p.repo.write_index();
    let since = server.requests().len();
    let o = ok(p.run(&["build", "--json", "--output", &dest]));
    let second = json(&o);
    assert_ne!(first[0]["report"]["digest"], second[0]["report"]["digest"]);
    let manifest = raw(&server, &format!("{dest}:latest"));
    let layers = manifest["layers"].as_array().unwrap();
    let changed: Vec<&Value> = layers
        .iter()
        .filter(|l| !before.contains(&l["digest"].as_str().unwrap().to_owned()))
        .collect();
    // The mid layer and the database layer changed; the big one did not.
    assert_eq!(changed.len(), 2, "{manifest}");
    assert_eq!(
        layers[1]["digest"],
        before[1].as_str(),
        "the big layer is the same"
    );
    let size = |v: &Value| v["size"].as_u64().unwrap();
    let mid_layer = changed.iter().map(|l| size(l)).max().unwrap();
    let documents =
        size(&manifest["config"]) + serde_json::to_vec(&manifest).unwrap().len() as u64 + 4096; // the SBOM artifact manifest and the referrers index
    let pushed = &second[0]["report"]["published"][0];
    let uploaded = pushed["bytes_uploaded"].as_u64().unwrap();
    println!("after one upgrade: uploaded {uploaded} bytes; the package's layer is {mid_layer}");
    assert!(
        uploaded as f64 <= 1.2 * (mid_layer + documents) as f64,
        "uploaded {uploaded}, layer {mid_layer}, documents {documents}"
    );
    // Counted by the registry too: the two layers, the config, the SBOM.
    let puts = uploads(&server.requests()[since..])
        .into_iter()
        .filter(|q| q.method == "PUT")
        .count();
    assert!(puts <= 4, "{puts} blob uploads");
}

/// A push to `server` without credentials fails naming it; with a docker
/// config.json it succeeds; the password is written nowhere.
fn credentials_round_trip(server: &Server) {
    let p = Project::new();
    let qs = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for entry in std::fs::read_dir(&qs).unwrap() {
        let entry = entry.unwrap();
        let to = p.dir.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
    let host = server.host().to_owned();
    let docker = p.home.join("docker");
    let certs = server.certs_d().unwrap_or_else(|| p.home.join("no-certs"));
    let envs = [
        ("DOCKER_CONFIG", docker.as_path()),
        ("CARGO_ASSEMBLE_CERTS_D", certs.as_path()),
    ];
    let dest = server.reference("secure/qs");
    let mut outputs = Vec::new();

    let o = p.run_with(&["build", "--output", &dest], &envs);
    outputs.push(text(&o));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains(&host) && err.contains("unauthorized"), "{err}");

    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    std::fs::write(
        docker.join("config.json"),
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}"),
    )
    .unwrap();
    let o = ok(p.run_with(&["build", "--json", "--output", &dest], &envs));
    outputs.push(text(&o));
    let digest = json(&o)[0]["report"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(inspect_digest(server, &format!("{dest}:latest")), digest);
    std::fs::remove_file(docker.join("config.json")).unwrap();

    // The same through `login`.
    let mut login = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"));
    login
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .args(["login", &host, "-u", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    let o = ok(child.wait_with_output().unwrap());
    outputs.push(text(&o));
    let o = ok(p.run_with(&["build", "--output", &dest], &envs));
    outputs.push(text(&o));

    let texts: Vec<&str> = outputs.iter().map(String::as_str).collect();
    testkit::registry::assert_secret_absent(PASSWORD, &texts, &[&p.dir, &p.home]);
}

#[test]
fn basic_auth_behind_tls_from_config_json_and_login() {
    credentials_round_trip(&Server::basic_tls("alice", PASSWORD));
}

#[test]
fn token_auth_from_config_json_and_login() {
    let server = Server::token("alice", PASSWORD);
    credentials_round_trip(&server);
    assert!(server.tokens_issued() > 0);
}
