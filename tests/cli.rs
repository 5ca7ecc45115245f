//! End-to-end tests of the `cargo-assemble` binary on the real corpus.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::corpus;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn search_lists_every_record_of_the_verified_index() {
    let repo = corpus("apk/alpine-v3.17-main-aarch64");
    let keys = corpus("apk/keys/alpine");
    let o = run(&["search", "--repository", s(&repo), "--keyring", s(&keys)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 5004);
    assert!(stdout(&o)
        .lines()
        .any(|l| l.starts_with("busybox 1.35.0-r29 - ")));

    // Invoked the way cargo does, with JSON output.
    let o = run(&[
        "assemble",
        "search",
        "busybox",
        "-X",
        s(&repo),
        "--keyring",
        s(&keys),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let busybox = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "busybox")
        .unwrap();
    assert_eq!(busybox["arch"], "aarch64");
    assert!(busybox["checksum"].as_str().unwrap().starts_with("Q1"));
    assert!(busybox["depends"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == "so:libc.musl-aarch64.so.1"));
}

#[test]
fn search_with_the_wrong_key_names_the_key_it_wanted() {
    let repo = corpus("apk/alpine-v3.17-main-aarch64");
    let o = run(&[
        "search",
        "-X",
        s(&repo),
        "--keyring",
        s(&corpus("apk/repo-small/melange.rsa.pub")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o).replace('\n', " ");
    assert!(
        err.contains("alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"),
        "{err}"
    );
}

#[test]
fn search_of_a_multi_arch_repository_by_arch() {
    let repo = corpus("apk/repo-small/packages");
    let key = corpus("apk/repo-small/melange.rsa.pub");
    let o = run(&[
        "search",
        "custom",
        "-X",
        s(&repo),
        "--keyring",
        s(&key),
        "--arch",
        "aarch64",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["custom-ca-certs-1", "custom-ca-certs-2"]);
    assert!(v.as_array().unwrap().iter().all(|p| p["arch"] == "aarch64"));
}

#[test]
fn verify_passes_real_packages() {
    let o = run(&[
        "verify",
        s(&corpus(
            "apk/packages/alpine-baselayout-3.2.0-r23.aarch64.apk",
        )),
        "--keyring",
        s(&corpus("apk/keys/alpine")),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "OK alpine-baselayout-3.2.0-r23\n");

    let dir = corpus("apk/repo-small/packages/x86_64");
    let mut args = vec!["verify".to_owned()];
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "apk") {
            args.push(p.to_string_lossy().into_owned());
        }
    }
    args.extend([
        "--keyring".into(),
        s(&corpus("apk/repo-small/melange.rsa.pub")).into(),
    ]);
    args.extend(["--index".into(), s(&dir.join("APKINDEX.tar.gz")).into()]);
    let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).lines().filter(|l| l.starts_with("OK ")).count(),
        4
    );
}

/// Returns the `(start, end)` byte ranges of the gzip members of a file.
fn members(bytes: &[u8]) -> Vec<(usize, usize)> {
    use apk::stream::{drain, member, Tap};
    let mut tap = Tap::new(bytes);
    let mut out = Vec::new();
    while !tap.at_eof().unwrap() {
        let start = tap.offset() as usize;
        drain(member(&mut tap)).unwrap();
        out.push((start, tap.offset() as usize));
    }
    out
}

#[test]
fn verify_names_the_failing_check() {
    let tmp = tempfile::tempdir().unwrap();
    let good = corpus("apk/repo-small/packages/x86_64/replayout-1.0.0-r0.apk");
    let bytes = std::fs::read(&good).unwrap();
    let m = members(&bytes);
    assert_eq!(m.len(), 3);
    let mut cases = Vec::new();
    for (name, (start, end)) in ["flip-signature", "flip-control", "flip-data"]
        .iter()
        .zip(&m)
    {
        let mut b = bytes.clone();
        b[(start + end) / 2] ^= 0x01;
        cases.push((name.to_string(), b));
    }
    cases.push(("truncated".into(), bytes[..bytes.len() - 37].to_vec()));
    let mut paths = Vec::new();
    for (name, b) in &cases {
        let p = tmp.path().join(format!("{name}.apk"));
        std::fs::write(&p, b).unwrap();
        paths.push(p);
    }
    let key = corpus("apk/repo-small/melange.rsa.pub");
    let mut report = String::new();
    for p in &paths {
        let o = run(&["verify", s(p), "--keyring", s(&key)]);
        assert_eq!(o.status.code(), Some(1), "{}", s(p));
        report.push_str(&stdout(&o).replace(s(tmp.path()), "TMP"));
    }
    // Unknown key.
    let o = run(&[
        "verify",
        s(&corpus("apk/wolfi/hello-2.12-r0.apk")),
        "--keyring",
        s(&key),
    ]);
    assert_eq!(o.status.code(), Some(1));
    report.push_str(&stdout(&o).replace(s(&corpus("")), "CORPUS/"));
    // Same name and version, different package: the aarch64 build against the x86_64 index.
    let o = run(&[
        "verify",
        s(&corpus(
            "apk/repo-small/packages/aarch64/replayout-1.0.0-r0.apk",
        )),
        "--keyring",
        s(&key),
        "--index",
        s(&corpus("apk/repo-small/packages/x86_64/APKINDEX.tar.gz")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    report.push_str(&stdout(&o).replace(s(&corpus("")), "CORPUS/"));
    insta::assert_snapshot!(report);
}

#[test]
fn verify_without_a_signature_needs_allow_untrusted() {
    let p = corpus("apk/misc/hello-0.1.0-r0.apk");
    let o = run(&["verify", s(&p)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("not signed"), "{}", stdout(&o));
    let o = run(&["verify", s(&p), "--allow-untrusted"]);
    assert!(o.status.success());
}

#[test]
fn writer_round_trip_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let o = run(&["keygen", "test", "-d", s(t), "--bits", "2048"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let root = t.join("root/usr/share/hello");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("greeting"), "hello\n").unwrap();
    let repo = t.join("repo/x86_64");
    std::fs::create_dir_all(&repo).unwrap();
    let apk = repo.join("hello-1.0-r0.apk");
    let root = t.join("root");
    let package = |extra: &[&str]| {
        let mut args = vec![
            "package",
            s(&root),
            "--name",
            "hello",
            "--pkgver",
            "1.0-r0",
            "--arch",
            "x86_64",
            "--description",
            "says hello",
            "--depend",
            "busybox",
            "--mtime",
            "1700000000",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let key = t.join("test.rsa");
    let o = package(&["--sign-key", s(&key), "-o", s(&apk)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let index = repo.join("APKINDEX.tar.gz");
    let o = run(&[
        "index",
        s(&apk),
        "-o",
        s(&index),
        "--sign-key",
        s(&t.join("test.rsa")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pubkey = t.join("test.rsa.pub");
    let o = run(&[
        "verify",
        s(&apk),
        "--keyring",
        s(&pubkey),
        "--index",
        s(&index),
    ]);
    assert_eq!(stdout(&o), "OK hello-1.0-r0\n", "{}", stderr(&o));
    let o = run(&[
        "search",
        "-X",
        s(&t.join("repo")),
        "--keyring",
        s(&pubkey),
        "--arch",
        "x86_64",
    ]);
    assert_eq!(stdout(&o), "hello 1.0-r0 - says hello\n", "{}", stderr(&o));

    // Same inputs give the same bytes.
    let again = t.join("again.apk");
    let o = package(&["-o", s(&again)]);
    assert!(o.status.success());
    let a = std::fs::read(&apk).unwrap();
    let b = std::fs::read(&again).unwrap();
    let (sig_end, _) = (members(&a)[0].1, ());
    assert_eq!(
        &a[sig_end..],
        &b[..],
        "unsigned copy equals the signed one minus its signature"
    );
}

#[test]
fn bad_arguments_exit_2_and_errors_exit_1() {
    assert_eq!(run(&["search"]).status.code(), Some(2));
    let o = run(&["search", "-X", "/nonexistent/repo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/repo"), "{}", stderr(&o));
}

#[test]
fn the_bundled_quickstart_repository_verifies() {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for arch in ["x86_64"] {
        let o = run(&[
            "search",
            "-X",
            s(&ex.join("repo")),
            "--keyring",
            s(&ex.join("keys")),
            "--arch",
            arch,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).lines().count(), 5);
        let dir = ex.join("repo").join(arch);
        let mut args = vec!["verify".to_owned()];
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "apk") {
                args.push(p.to_string_lossy().into_owned());
            }
        }
        args.extend([
            "--keyring".into(),
            s(&ex.join("keys")).into(),
            "--index".into(),
            s(&dir.join("APKINDEX.tar.gz")).into(),
        ]);
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
}
