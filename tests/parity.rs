//! Issue 14 end to end: accounts, certificates, runtime repositories,
//! reserved names, per-tag overlays, apko/overlay import, CycloneDX.
//! Real tools read the output: umoci unpacks it, the image's own busybox
//! runs `id` in a chroot, `openssl verify` checks a leaf against the
//! image's bundle, cyclonedx-python-lib validates the CycloneDX document.
//! A missing tool fails the test with its name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::repo::{Pkg, Repo};

mod common;
use common::{assemble, corpus, text};

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("run a tool");
    assert!(o.status.success(), "{cmd:?}: {}", text(&o));
    o
}

/// The Alpine 3.17.10 layout of the corpus as a `source`.
fn alpine() -> String {
    format!(
        "oci:{}:alpine-3.17.10",
        corpus("images/alpine-3.17.10-x86_64").display()
    )
}

/// A signed repository at `dir/repo` with `hello` and `extra`.
fn repo(dir: &Path) -> Repo {
    let mut repo = Repo::new(&dir.join("repo"), "test");
    repo.add(Pkg::new("hello", "1.0-r0").file("usr/bin/hello", b"#!/bin/sh\necho hi\n", 0o755));
    repo.add(Pkg::new("extra", "2.0-r0").file("usr/share/extra/README", b"extra\n", 0o644));
    repo.write_index();
    repo
}

/// Writes `dir/assembly.toml`: image `app` on Alpine adding `hello` from
/// `repo`, then `rest`.
fn declare(dir: &Path, repo: &Repo, rest: &str) {
    let text = format!(
        "[image]\nname = \"app\"\nsource = \"{}\"\npackages = [\"hello\"]\n\
         repositories = [\"./repo\"]\nkeyring = [\"{}\"]\n{rest}",
        alpine(),
        repo.key_path().display()
    );
    std::fs::write(dir.join("assembly.toml"), text).unwrap();
}

/// A test CA and a leaf it signed, made with openssl in `dir`: (CA PEM,
/// leaf path).
fn test_ca(dir: &Path) -> (String, PathBuf) {
    testkit::require("openssl");
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.pem");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=Parity Test Root CA",
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    let leaf_key = dir.join("leaf.key");
    let csr = dir.join("leaf.csr");
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=service.internal.example"])
        .arg("-keyout")
        .arg(&leaf_key)
        .arg("-out")
        .arg(&csr));
    let leaf = dir.join("leaf.pem");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "365"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-CAcreateserial")
        .arg("-out")
        .arg(&leaf));
    (std::fs::read_to_string(&ca).unwrap(), leaf)
}

/// Unpacks `layout:tag` with umoci into `dir/NAME` and returns its rootfs.
fn unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    testkit::require("umoci");
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !is_root() {
        cmd.arg("--rootless");
    }
    run(cmd
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle));
    bundle.join("rootfs")
}

/// The file of the source image at `path`, as umoci unpacks it.
fn base_file(dir: &Path, path: &str) -> String {
    let rootfs = dir.join("base-rootfs");
    if !rootfs.exists() {
        let layout = corpus("images/alpine-3.17.10-x86_64");
        unpack(&layout, "alpine-3.17.10", &dir.join("base-bundle"));
        std::fs::rename(dir.join("base-bundle/rootfs"), &rootfs).unwrap();
    }
    std::fs::read_to_string(rootfs.join(path)).unwrap()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

fn config_of(layout: &Path, tag: &str) -> serde_json::Value {
    let img = oci_image::layout::open(&oci_image::ImageRef::Layout {
        path: layout.to_owned(),
        reference: Some(tag.to_owned()),
    })
    .unwrap();
    img.images()[0].config_json.clone()
}

#[test]
fn accounts_certificates_and_cyclonedx() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = repo(dir);
    let (ca, leaf) = test_ca(dir);
    declare(
        dir,
        &repo,
        &format!(
            r#"sbom = ["spdx", "cyclonedx"]

[image.accounts]
run_as = "appuser"
users = [
  {{ username = "appuser", uid = 10001, gid = 10100 }},
  {{ username = "worker", uid = 10002, gid = 10100, home = "/srv/worker", shell = "/sbin/nologin" }},
]
groups = [{{ groupname = "app", gid = 10100, members = ["appuser", "worker"] }}]

[[image.certificates]]
name = "parity-test-ca"
content = """
{ca}"""
"#
        ),
    );
    let o = assemble(dir, &["build"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.join("target/assemble/app");

    // Config: User is run_as as a uid (the runtime takes the group from
    // /etc/passwd).
    let config = config_of(&out, "latest");
    assert_eq!(config["config"]["User"], "10001");

    let rootfs = unpack(&out, "latest", &dir.join("bundle"));
    for (file, added) in [
        (
            "etc/passwd",
            vec![
                "appuser:x:10001:10100::/home/appuser:/bin/sh",
                "worker:x:10002:10100::/srv/worker:/sbin/nologin",
            ],
        ),
        ("etc/group", vec!["app:x:10100:appuser,worker"]),
    ] {
        let base = base_file(dir, file);
        let now = std::fs::read_to_string(rootfs.join(file)).unwrap();
        assert!(
            now.starts_with(&base),
            "{file} keeps the base's lines:\n{now}"
        );
        let new: Vec<&str> = now[base.len()..].lines().collect();
        assert_eq!(new, added, "{file}");
    }
    // Alpine has /etc/shadow: the new users are locked there.
    let shadow = std::fs::read_to_string(rootfs.join("etc/shadow")).unwrap();
    assert!(shadow.starts_with(&base_file(dir, "etc/shadow")));
    assert!(
        shadow.contains("\nappuser:!:") && shadow.contains("\nworker:!:"),
        "{shadow}"
    );
    // Home directories, owned by their user.
    use std::os::unix::fs::MetadataExt as _;
    let home = std::fs::metadata(rootfs.join("home/appuser")).unwrap();
    assert!(home.is_dir());
    // A rootless unpack maps every owner to the caller.
    if is_root() {
        assert_eq!((home.uid(), home.gid()), (10001, 10100));
    }
    assert!(std::fs::metadata(rootfs.join("srv/worker"))
        .unwrap()
        .is_dir());

    // busybox's own `id` reads the image's files.
    if is_root() {
        let id = run(Command::new("chroot")
            .arg(&rootfs)
            .args(["/bin/busybox", "id", "appuser"]));
        let id = String::from_utf8_lossy(&id.stdout);
        assert!(
            id.contains("uid=10001(appuser)") && id.contains("gid=10100(app)"),
            "{id}"
        );
    } else {
        panic!("`chroot … id appuser` needs root");
    }

    // The bundle: the base's certificates, then ours; a leaf verifies.
    let bundle = rootfs.join("etc/ssl/certs/ca-certificates.crt");
    let base_bundle = base_file(dir, "etc/ssl/certs/ca-certificates.crt");
    let now = std::fs::read_to_string(&bundle).unwrap();
    assert!(
        now.starts_with(&base_bundle),
        "the base's certificates stay"
    );
    assert!(base_bundle.matches("BEGIN CERTIFICATE").count() > 100);
    assert_eq!(
        now.matches("BEGIN CERTIFICATE").count(),
        base_bundle.matches("BEGIN CERTIFICATE").count() + 1
    );
    assert!(rootfs
        .join("usr/local/share/ca-certificates/parity-test-ca.crt")
        .is_file());
    run(Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&bundle)
        .arg(&leaf));

    // CycloneDX: valid 1.6, the same packages as the SPDX document.
    let spdx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("target/assemble/app.spdx.json")).unwrap())
            .unwrap();
    let cdx_path = dir.join("target/assemble/app.cdx.json");
    let cdx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cdx_path).unwrap()).unwrap();
    assert_eq!(cdx["specVersion"], "1.6");
    let mut spdx_names: Vec<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            Some(format!(
                "{}@{}",
                p["name"].as_str()?,
                p["versionInfo"].as_str()?
            ))
        })
        .collect();
    let mut cdx_names: Vec<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            Some(format!(
                "{}@{}",
                c["name"].as_str()?,
                c["version"].as_str()?
            ))
        })
        .collect();
    spdx_names.sort();
    cdx_names.sort();
    assert!(cdx_names.contains(&"hello@1.0-r0".to_owned()));
    assert!(cdx_names.contains(&"busybox@1.35.0-r31".to_owned()) || cdx_names.len() > 10);
    assert_eq!(spdx_names, cdx_names);
    testkit::require("python3");
    let validate = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys\n\
             from cyclonedx.validation.json import JsonStrictValidator\n\
             from cyclonedx.schema import SchemaVersion\n\
             err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
             sys.exit(str(err) if err else 0)\n",
        )
        .arg(&cdx_path)
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "cyclonedx-python-lib (pip install cyclonedx-python-lib[json-validation]): {}",
        text(&validate)
    );
    // Attached: a referrer of the manifest with the CycloneDX type.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let types: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["artifactType"].as_str())
        .collect();
    assert_eq!(
        types,
        ["application/spdx+json", "application/vnd.cyclonedx+json"]
    );
}

#[test]
fn runtime_repositories_and_reserved_names_are_validation_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("assembly.toml"),
        r#"[image]
name = "bad"
source = "scratch"
architectures = ["x86_64"]
runtime_repositories = [
  "http://127.0.0.1/x",
  "https://10.0.0.1/x",
  "https://repo.local/x",
  "https://dl-cdn.alpinelinux.org/alpine/v3.17/main",
]
[image.environment]
CARGO_ASSEMBLE_X = "1"
[image.annotations]
"dev.cargo-assemble.digest" = "x"
"#,
    )
    .unwrap();
    let o = assemble(dir, &["validate", "--offline"]);
    assert!(!o.status.success());
    let out = text(&o);
    for (line, column, needle) in [
        (6, 3, "runtime repository: scheme `http` is not allowed"),
        (7, 3, "runtime repository:"),
        (8, 3, "runtime repository:"),
        (12, 1, "CARGO_ASSEMBLE_X"),
        (14, 1, "dev.cargo-assemble.digest"),
    ] {
        let at = format!("assembly.toml:{line}:{column}: ");
        let found = out.lines().any(|l| l.contains(&at) && l.contains(needle));
        assert!(found, "expected `{at}… {needle}` in:\n{out}");
    }
    assert!(out.contains("private"), "{out}");
    assert!(out.contains(".local"), "{out}");
    assert!(
        !out.contains("assembly.toml:9:"),
        "the public repository is fine:\n{out}"
    );
}

#[test]
fn an_overlay_applies_to_the_tags_it_selects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = repo(dir);
    declare(
        dir,
        &repo,
        r#"tags = ["latest", "3.17-dev"]

[[image.overlay]]
tags = ["3.17-*"]
packages = ["extra"]
environment = { MODE = "dev" }
"#,
    );
    common::git(dir, &["init", "-q"]);
    let o = assemble(dir, &["apply", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let names = |layout: &Path, tag: &str| -> Vec<String> {
        let img = oci_image::layout::open(&oci_image::ImageRef::Layout {
            path: layout.to_owned(),
            reference: Some(tag.to_owned()),
        })
        .unwrap();
        let (fs, files) = oci_image::rootfs::RootFs::scan(&img, &img.images()[0], &|p| {
            p.ends_with("apk/db/installed")
        })
        .unwrap();
        let db = apk::database::InstalledDb::from_bytes(
            &files[&fs.resolve("lib/apk/db/installed").unwrap()],
            "installed",
        )
        .unwrap();
        db.records
            .iter()
            .map(|r| r.info().name.to_string())
            .collect()
    };
    let latest = names(&dir.join("target/assemble/app"), "latest");
    let dev = names(&dir.join("target/assemble/app.3.17-dev"), "3.17-dev");
    assert!(latest.contains(&"hello".into()) && !latest.contains(&"extra".into()));
    assert!(dev.contains(&"hello".into()) && dev.contains(&"extra".into()));
    let dev_config = config_of(&dir.join("target/assemble/app.3.17-dev"), "3.17-dev");
    assert!(dev_config["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&"MODE=dev".into()));
    // The lock has one entry per variant; the latest one has no `extra`.
    let lock = std::fs::read_to_string(dir.join("assembly.lock")).unwrap();
    assert!(lock.contains("app.3.17-dev"), "{lock}");
    // A second plan has nothing to do for either variant; an account added
    // to the overlay is a change of that variant only.
    let o = assemble(dir, &["plan"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("image \""), "{}", text(&o));
    let declared = std::fs::read_to_string(dir.join("assembly.toml")).unwrap();
    std::fs::write(
        dir.join("assembly.toml"),
        declared.replace(
            "environment = { MODE = \"dev\" }",
            "environment = { MODE = \"dev\" }\naccounts = { users = [{ username = \"dev\", uid = 4000 }] }",
        ),
    )
    .unwrap();
    let o = assemble(dir, &["plan"]);
    let plan = text(&o);
    assert!(
        plan.contains("image \"app.3.17-dev\"") && !plan.contains("image \"app\""),
        "{plan}"
    );
    assert!(plan.contains("accounts.users.dev"), "{plan}");
    // An overlay that selects no tag is a validation error at its header.
    let text_now = std::fs::read_to_string(dir.join("assembly.toml")).unwrap();
    std::fs::write(
        dir.join("assembly.toml"),
        text_now.replace("[\"3.17-*\"]", "[\"3.18-*\"]"),
    )
    .unwrap();
    let o = assemble(dir, &["validate", "--offline"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("assembly.toml:9:1: this overlay selects none of the image's tags"),
        "{}",
        text(&o)
    );
}

/// The digest `build` reports for the image of `dir`.
fn built_digest(dir: &Path) -> String {
    let o = assemble(dir, &["build", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("build --json: {e}: {}", text(&o));
    });
    report[0]["report"]["digest"].as_str().unwrap().to_owned()
}

const APKO: &str = r#"# The billing service image, built by apko in CI until now.
contents:
  repositories:
    - ./repo
  keyring:
    - ./repo/test.rsa.pub
  packages:
    - hello
  runtime_repositories:
    - https://dl-cdn.alpinelinux.org/alpine/v3.17/main
accounts:
  groups:
    - groupname: billing
      gid: 10500
  users:
    - username: billing
      uid: 10500
      gid: 10500
  run-as: billing
environment:
  BILLING_MODE: production
annotations:
  org.opencontainers.image.vendor: Example Billing
archs:
  - amd64
paths:
  - path: /var/lib/billing
    type: directory
    uid: 10500
    gid: 10500
    permissions: 0o750
"#;

const OVERLAY: &str = r#"# Custom Assembly overlay for the base image.
contents:
  packages:
    - hello
    - extra
  runtime_repositories:
    - https://dl-cdn.alpinelinux.org/alpine/v3.17/community
environment:
  TEAM: payments
annotations:
  com.example.team: payments
accounts:
  users:
    - username: pay
      uid: 2000
  run-as: pay
"#;

#[test]
fn import_builds_the_same_image_as_the_hand_written_declaration() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = repo(dir);
    let key = repo.key_path();
    let repo_dir = dir.join("repo");

    // apko: from scratch.
    let apko = dir.join("apko");
    std::fs::create_dir(&apko).unwrap();
    std::fs::write(apko.join("billing.apko.yaml"), APKO).unwrap();
    std::os::unix::fs::symlink(&repo_dir, apko.join("repo")).unwrap();
    let o = assemble(
        &apko,
        &["import", "billing.apko.yaml", "-o", "assembly.toml"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report = text(&o);
    assert!(
        report.contains("paths"),
        "the unexpressed `paths` is listed: {report}"
    );
    let imported = built_digest(&apko);

    let hand = dir.join("hand-apko");
    std::fs::create_dir(&hand).unwrap();
    std::os::unix::fs::symlink(&repo_dir, hand.join("repo")).unwrap();
    std::fs::write(
        hand.join("assembly.toml"),
        r#"[image]
name = "billing"
source = "scratch"
packages = ["hello"]
repositories = ["./repo"]
keyring = ["./repo/test.rsa.pub"]
architectures = ["x86_64"]
runtime_repositories = ["https://dl-cdn.alpinelinux.org/alpine/v3.17/main"]

[image.environment]
BILLING_MODE = "production"

[image.annotations]
"org.opencontainers.image.vendor" = "Example Billing"

[image.accounts]
run_as = "billing"
users = [{ username = "billing", uid = 10500, gid = 10500 }]
groups = [{ groupname = "billing", gid = 10500, members = [] }]
"#,
    )
    .unwrap();
    assert_eq!(imported, built_digest(&hand), "apko import");

    // Overlay: on the Alpine image.
    let ov = dir.join("overlay");
    std::fs::create_dir(&ov).unwrap();
    std::fs::write(ov.join("payments.yaml"), OVERLAY).unwrap();
    let o = assemble(
        &ov,
        &[
            "import",
            "payments.yaml",
            "--source",
            &alpine(),
            "-o",
            "assembly.toml",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // An overlay has no build repositories: the test adds its own.
    let mut toml = std::fs::read_to_string(ov.join("assembly.toml")).unwrap();
    toml = toml.replacen(
        "\npackages",
        &format!(
            "\nrepositories = [\"{}\"]\nkeyring = [\"{}\"]\npackages",
            repo_dir.display(),
            key.display()
        ),
        1,
    );
    std::fs::write(ov.join("assembly.toml"), &toml).unwrap();
    let imported = built_digest(&ov);
    let hand = dir.join("hand-overlay");
    std::fs::create_dir(&hand).unwrap();
    std::fs::write(
        hand.join("assembly.toml"),
        format!(
            r#"[image]
name = "payments"
source = "{source}"
repositories = ["{repo}"]
keyring = ["{key}"]
packages = ["hello", "extra"]
runtime_repositories = ["https://dl-cdn.alpinelinux.org/alpine/v3.17/community"]
environment = {{ TEAM = "payments" }}
annotations = {{ "com.example.team" = "payments" }}
accounts = {{ run_as = "pay", users = [{{ username = "pay", uid = 2000 }}] }}
"#,
            source = alpine(),
            repo = repo_dir.display(),
            key = key.display(),
        ),
    )
    .unwrap();
    assert_eq!(imported, built_digest(&hand), "overlay import:\n{toml}");

    // And back: export gives an overlay with the same additions.
    let o = assemble(&hand, &["export", "--format", "overlay-yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    let yaml = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "- hello",
        "- extra",
        "TEAM: payments",
        "username: pay",
        "run-as: pay",
    ] {
        assert!(yaml.contains(needle), "{needle} in\n{yaml}");
    }
    assert!(
        text(&o).contains("source"),
        "the source is listed as left out"
    );
}

#[test]
fn clashes_with_the_base_are_found_before_building() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = repo(dir);
    declare(
        dir,
        &repo,
        "[image.accounts]\nusers = [{ username = \"app\", uid = 0 }]\n",
    );
    let o = assemble(dir, &["validate", "--offline"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("app") && out.contains("root"),
        "names both sides:\n{out}"
    );
    assert!(!dir.join("target/assemble/app").exists());
}
