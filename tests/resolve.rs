//! `cargo assemble resolve` on the real Alpine indexes, with and without an
//! installed base (the Alpine 3.16.9 minirootfs database).

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{assemble, base_316, corpus};

fn resolve(index: &str, arch: &str, installed: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"));
    cmd.arg("resolve").args(args);
    cmd.arg("--repository").arg(corpus(index));
    cmd.arg("--keyring").arg(corpus("apk/keys/alpine"));
    cmd.args(["--arch", arch]);
    if let Some(db) = installed {
        cmd.arg("--installed").arg(db);
    }
    cmd.output().expect("run cargo-assemble")
}

fn added(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            l.strip_prefix("+ ")
                .unwrap_or_else(|| panic!("not an install: {l}"))
                .to_owned()
        })
        .collect()
}

/// The error block, without the warning line about broken index records.
fn error_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.starts_with("warning:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

const V317: &str = "apk/alpine-v3.17-main-aarch64";
const V316: &str = "apk/alpine-v3.16-main-x86_64";

#[test]
fn worlds_on_the_alpine_317_index() {
    let o = resolve(V317, "aarch64", None, &["busybox"]);
    assert!(o.status.success(), "{}", error_text(&o));
    assert_eq!(added(&o), ["musl 1.2.3-r5", "busybox 1.35.0-r29"]);

    let o = resolve(V317, "aarch64", None, &["python3"]);
    let names: Vec<String> = added(&o)
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(names.last().map(String::as_str), Some("python3"));
    for dep in [
        "musl",
        "libffi",
        "libssl3",
        "sqlite-libs",
        "xz-libs",
        "zlib",
        "readline",
    ] {
        assert!(
            names.iter().any(|n| n == dep),
            "{dep} missing from {names:?}"
        );
    }

    let o = resolve(
        V317,
        "aarch64",
        None,
        &["build-base", "git", "openssh", "curl"],
    );
    let names = added(&o);
    for want in ["gcc", "musl-dev", "make", "git", "openssh", "curl"] {
        assert!(
            names.iter().any(|n| n.starts_with(&format!("{want} "))),
            "{want} missing"
        );
    }
    // Dependencies come before what needs them.
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| x.starts_with(&format!("{n} ")))
            .unwrap()
    };
    assert!(pos("musl") < pos("gcc") && pos("libcurl") < pos("curl"));

    let world = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/worlds/alpine-v3.17-aarch64-200.txt"),
    )
    .unwrap();
    let atoms: Vec<&str> = world.split_whitespace().collect();
    let o = resolve(V317, "aarch64", None, &atoms);
    assert!(o.status.success(), "{}", error_text(&o));
    assert!(added(&o).len() > 200);
}

#[test]
fn json_lists_actions() {
    let o = resolve(V317, "aarch64", None, &["busybox", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn additions_on_the_316_image_keep_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_316(dir.path());
    let o = resolve(
        V316,
        "x86_64",
        Some(&db),
        &["git", "openssh", "curl", "--json"],
    );
    assert!(o.status.success(), "{}", error_text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["action"] == "install"), "{v}");
    let names: Vec<&str> = changes
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for base in [
        "musl",
        "busybox",
        "zlib",
        "libcrypto1.1",
        "ca-certificates-bundle",
    ] {
        assert!(!names.contains(&base), "base package {base} touched");
    }
    for want in ["git", "openssh", "curl", "libcurl", "openssh-server"] {
        assert!(names.contains(&want), "{want} missing");
    }
}

#[test]
fn build_base_over_the_316_image_needs_an_older_musl() {
    // The v3.16 index predates the 3.16.9 image: musl-dev pins
    // musl=1.2.3-r2 while the image has 1.2.3-r3. apk would downgrade musl;
    // an image build must not, and says why.
    let dir = tempfile::tempdir().unwrap();
    let db = base_316(dir.path());
    let o = resolve(
        V316,
        "x86_64",
        Some(&db),
        &["build-base", "git", "openssh", "curl"],
    );
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(error_text(&o));
}

#[test]
fn unknown_package_is_named() {
    let o = resolve(V317, "aarch64", None, &["python3", "py3-pip"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!(error_text(&o));
}

#[test]
fn base_package_constraint_names_the_requirer() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_316(dir.path());
    let o = resolve(V316, "x86_64", Some(&db), &["busybox<1.35"]);
    assert_eq!(o.status.code(), Some(1));
    let text = error_text(&o);
    assert!(
        text.contains("busybox-1.35.0-r17") && text.contains("alpine-baselayout"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn wrong_arch_gets_a_hint() {
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .args([
            "resolve",
            "custom-ca-certs-1",
            "--arch",
            "riscv64",
            "--repository",
        ])
        .arg(corpus("apk/repo-small/packages"))
        .arg("--keyring")
        .arg(corpus("apk/repo-small/melange.rsa.pub"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no index found"), "{err}");

    // Same repository, an arch whose index lacks the package: simulate with
    // the quickstart repository, which has only quickstart packages.
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .args([
            "resolve",
            "hello-greeting",
            "nonexistent-pkg",
            "--arch",
            "x86_64",
            "--repository",
        ])
        .arg(ex.join("repo"))
        .arg("--keyring")
        .arg(ex.join("keys"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nonexistent-pkg (no such package)") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn a_repository_error_has_a_help_line_only_with_a_fix() {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let repo = ex.join("repo").display().to_string();
    let run = |arch: &str, keyring: &Path| {
        let keyring = keyring.display().to_string();
        let o = assemble(
            &ex,
            &[
                "resolve",
                "hello-greeting",
                "--arch",
                arch,
                "--repository",
                &repo,
                "--keyring",
                &keyring,
            ],
        );
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // No index for the architecture: nothing to suggest.
    let err = run("riscv64", &ex.join("keys"));
    assert!(err.contains("no index found"), "{err}");
    assert!(!err.contains("help:"), "{err}");
    // Signed by a key the keyring lacks: the fix.
    let tmp = tempfile::tempdir().unwrap();
    let o = assemble(
        tmp.path(),
        &["keygen", "other", "--bits", "2048", "--dir", "."],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = run("x86_64", &tmp.path().join("other.rsa.pub"));
    assert!(err.contains("not in the keyring"), "{err}");
    assert!(
        err.contains("help: add the signer's public key with --keyring"),
        "{err}"
    );
}

/// A warm `resolve` starts from the parsed index it recalls by the index
/// file's identity while another thread verifies the file: whatever
/// happened to the file or the cache since, the answer is the file's own,
/// and a file that no longer verifies is refused.
#[test]
fn a_recalled_index_counts_only_once_its_file_verified() {
    use apk::signature::SigningKey;
    use testkit::repo::{Pkg, Repo};

    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate("trusted.rsa.pub", 2048).unwrap();
    let repo_with = |dir: &str, key: SigningKey, version: &str| {
        let mut repo = Repo::with_key(&tmp.path().join(dir), key);
        repo.add(Pkg::new("app", version).arch("x86_64").depend("lib"));
        repo.add(Pkg::new("lib", "1-r0").arch("x86_64"));
        repo.write_index();
        repo
    };
    let repo = repo_with("repo", key.clone(), "1.0-r0");
    let index = repo.root().join("x86_64/APKINDEX.tar.gz");
    let cache = tmp.path().join("cache");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
            .args(["resolve", "app", "--arch", "x86_64", "--repository"])
            .arg(repo.root())
            .arg("--keyring")
            .arg(repo.key_path())
            .env("CARGO_ASSEMBLE_CACHE", &cache)
            .output()
            .expect("run cargo-assemble")
    };
    let hints = || {
        std::fs::read_dir(cache.join("parsed-indexes"))
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.path().extension().is_some_and(|x| x == "hint")
            })
            .count()
    };
    let expect = |o: Output, listed: &[&str]| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(added(&o), listed);
    };
    expect(run(), &["lib 1-r0", "app 1.0-r0"]);
    assert_eq!(hints(), 1, "the verified index's hint");
    // Recalled: the same answer.
    expect(run(), &["lib 1-r0", "app 1.0-r0"]);
    expect(run(), &["lib 1-r0", "app 1.0-r0"]);

    // The file rewritten in place (same inode, maybe the same size and
    // times) with another version: that version.
    let newer = repo_with("newer", key.clone(), "2.0-r0");
    let replace = |from: &Repo| {
        let bytes = std::fs::read(from.root().join("x86_64/APKINDEX.tar.gz")).unwrap();
        std::fs::write(&index, bytes).unwrap();
    };
    replace(&newer);
    expect(run(), &["lib 1-r0", "app 2.0-r0"]);
    expect(run(), &["lib 1-r0", "app 2.0-r0"]);

    // Damaged cache entries are never the answer.
    for entry in std::fs::read_dir(cache.join("parsed-indexes")).unwrap() {
        let path = entry.unwrap().path();
        let entry = format!("v{}", apk::index::parsed::FORMAT_VERSION);
        if path.extension().is_some_and(|x| *x == *entry) {
            let mut bytes = std::fs::read(&path).unwrap();
            let n = bytes.len();
            bytes[n - 40] ^= 0x55;
            std::fs::write(&path, bytes).unwrap();
        }
    }
    expect(run(), &["lib 1-r0", "app 2.0-r0"]);

    // Signed by a key the keyring does not have, in place: refused.
    let stranger = SigningKey::generate("stranger.rsa.pub", 2048).unwrap();
    replace(&repo_with("stranger", stranger, "2.0-r0"));
    let o = run();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--keyring"), "{e}");
    assert!(o.stdout.is_empty(), "nothing listed: {:?}", o.stdout);
}
