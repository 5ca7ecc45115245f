//! What a first-time user hits: each mistake gets an error that names the
//! real problem and the fix, and the small conveniences (`keygen` that
//! keeps existing keys, `init` in a fresh directory, `outdated
//! --exit-code`, counts in the right number).

use std::path::Path;
use std::process::{Command, Output};

mod project;
use project::{git, ok, Project};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

/// Both streams, for messages.
fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs and expects failure (exit 1) with every one of `wanted` in the
/// output and none of `unwanted`.
fn fails(dir: &Path, args: &[&str], wanted: &[&str], unwanted: &[&str]) -> String {
    let o = run(dir, args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?} should fail: {t}");
    for w in wanted {
        assert!(t.contains(w), "{args:?}: '{w}' missing from: {t}");
    }
    for u in unwanted {
        assert!(!t.contains(u), "{args:?}: '{u}' should not be in: {t}");
    }
    t
}

#[test]
fn keygen_keeps_existing_keys_and_refuses_weak_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    fails(
        t,
        &["keygen", "k", "--bits", "1024"],
        &["1024-bit", "2048"],
        &[],
    );
    assert!(!t.join("k.rsa").exists());
    // A missing output directory is created.
    ok(t, &["keygen", "k", "-d", "keys/new", "--bits", "2048"]);
    let private = std::fs::read(t.join("keys/new/k.rsa")).unwrap();
    fails(
        t,
        &["keygen", "k", "-d", "keys/new", "--bits", "2048"],
        &["k.rsa already exists", "--force"],
        &[],
    );
    assert_eq!(std::fs::read(t.join("keys/new/k.rsa")).unwrap(), private);
    // Only the public half left: still refused (it would no longer match).
    std::fs::remove_file(t.join("keys/new/k.rsa")).unwrap();
    fails(
        t,
        &["keygen", "k", "-d", "keys/new", "--bits", "2048"],
        &["k.rsa.pub already exists"],
        &[],
    );
    ok(
        t,
        &["keygen", "k", "-d", "keys/new", "--bits", "2048", "--force"],
    );
    assert_ne!(std::fs::read(t.join("keys/new/k.rsa")).unwrap(), private);
}

#[test]
fn package_names_the_real_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    ok(t, &["keygen", "k", "--bits", "2048"]);
    let base = ["--name", "p", "--pkgver", "1.0-r0", "--arch", "x86_64"];
    fn package<'a>(extra: &[&'a str], base: [&'a str; 6]) -> Vec<&'a str> {
        let mut a = vec!["package"];
        a.extend(extra);
        a.extend(base);
        a
    }
    // The input directory, not the output, is what is missing.
    fails(
        t,
        &package(&["no-such-dir", "-o", "p.apk"], base),
        &["no-such-dir", "does not exist"],
        &["p.apk"],
    );
    std::fs::create_dir_all(t.join("root/etc")).unwrap();
    std::fs::write(t.join("root/etc/p"), "p\n").unwrap();
    std::fs::write(t.join("post.sh"), "#!/bin/sh\n").unwrap();
    fails(
        t,
        &package(&["root", "--script", "post-instal=post.sh"], base),
        &[
            "unknown script kind 'post-instal'",
            "did you mean 'post-install'",
        ],
        &[],
    );
    let mut bad_arch = package(&["root"], base);
    let at = bad_arch.iter().position(|a| *a == "x86_64").unwrap();
    bad_arch[at] = "amd64";
    fails(
        t,
        &bad_arch,
        &["unknown architecture 'amd64'", "x86_64"],
        &[],
    );
    // A missing output directory is created.
    ok(
        t,
        &package(
            &[
                "root",
                "--script",
                "post-install=post.sh",
                "-o",
                "out/new/p.apk",
            ],
            base,
        ),
    );
    assert!(t.join("out/new/p.apk").is_file());
    fails(
        t,
        &["search", "-X", "out/new", "--arch", "amd64"],
        &["--arch", "unknown architecture 'amd64'"],
        &[],
    );
}

#[test]
fn declaration_mistakes_are_named() {
    let p = Project::new();
    // A path that does not exist: the error names it.
    fails(
        &p.dir,
        &["build", "/nonexistent/assembly.toml"],
        &["/nonexistent/assembly.toml", "No such file"],
        &[],
    );
    // tags that are not strings.
    let decl = std::fs::read_to_string(p.dir.join("assembly.toml")).unwrap();
    std::fs::write(
        p.dir.join("assembly.toml"),
        format!("{decl}tags = [1, 2]\n"),
    )
    .unwrap();
    fails(
        &p.dir,
        &["validate"],
        &["'tags' entries must be strings"],
        &["'tags' is empty"],
    );
    // A keyring entry that is a directory of keys works as --keyring's does.
    std::fs::create_dir_all(p.dir.join("keys")).unwrap();
    std::fs::copy(p.dir.join("test.rsa.pub"), p.dir.join("keys/test.rsa.pub")).unwrap();
    std::fs::write(
        p.dir.join("assembly.toml"),
        decl.replace("keyring = [\"test.rsa.pub\"]", "keyring = [\"keys\"]"),
    )
    .unwrap();
    ok(&p.dir, &["build"]);
    // A repository signed by a key the declaration does not trust: the fix
    // names `keyring` in assembly.toml, not a flag build does not have.
    std::fs::write(
        p.dir.join("assembly.toml"),
        decl.replace("keyring = [\"test.rsa.pub\"]", "keyring = []"),
    )
    .unwrap();
    fails(&p.dir, &["build"], &["keyring = [...]"], &["--keyring"]);
    // search has the flag, and its message says so.
    fails(
        &p.dir,
        &["search", "-X", "repo", "--arch", "x86_64"],
        &["--keyring"],
        &[],
    );
    std::fs::write(p.dir.join("assembly.toml"), &decl).unwrap();
    // --update of a package no image has.
    ok(&p.dir, &["build"]);
    fails(
        &p.dir,
        &["plan", "--update", "nosuchpkg"],
        &["nosuchpkg", "base-files"],
        &[],
    );
}

#[test]
fn counts_warnings_outdated_and_init() {
    let p = Project::new();
    p.set_packages("[\"base-files\"]");
    let out = ok(&p.dir, &["build"]);
    assert!(out.contains("1 package added"), "{out}");
    // outdated --exit-code: 0 when current, 1 when something is newer.
    p.commit("declare");
    ok(&p.dir, &["apply", "--auto-approve"]);
    let o = run(&p.dir, &["outdated", "--exit-code"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    p.package("base-files", "2.0-r0", &[("etc/base", "base 2\n")], &[]);
    p.index();
    let o = run(&p.dir, &["outdated", "--exit-code"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("base-files"), "{}", text(&o));
    let o = run(&p.dir, &["outdated"]);
    assert_eq!(o.status.code(), Some(0), "without --exit-code");

    // init outside git: says to run `git init`, writes a .gitignore.
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(tmp.path(), &["init", "app"]);
    assert!(out.contains("git init"), "{out}");
    let ignore = std::fs::read_to_string(tmp.path().join("app/.gitignore")).unwrap();
    for line in ["/target/", "/.assembly-apply.lock"] {
        assert!(ignore.lines().any(|l| l == line), "{ignore}");
    }
    // Inside git: no `git init` step, and an existing .gitignore is kept.
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join(".gitignore"), "/node_modules/\n/target/\n").unwrap();
    let out = ok(&repo, &["init"]);
    assert!(!out.contains("git init"), "{out}");
    let ignore = std::fs::read_to_string(repo.join(".gitignore")).unwrap();
    assert!(ignore.starts_with("/node_modules/\n/target/\n"), "{ignore}");
    assert_eq!(ignore.matches("/target/").count(), 1, "{ignore}");
    assert!(ignore.contains("/.assembly-apply.lock"), "{ignore}");
}

#[test]
fn unreachable_source_repositories_are_one_line_warnings_even_on_failure() {
    let p = Project::new();
    // A base image built from an http repository that is gone afterwards:
    // its etc/apk/repositories lists it, unreachable for later builds.
    let root = p.dir.join("repo");
    let server = testkit::http::Server::start(move |r| {
        match std::fs::read(root.join(r.path().trim_start_matches('/'))) {
            Ok(body) => testkit::http::Response::bytes(200, body),
            Err(_) => testkit::http::Response::bytes(404, Vec::new()),
        }
    });
    let url = server.base.clone();
    // Build repositories stay out of the image (and runtime ones must be
    // public): a package of the base lists the repository instead.
    let line = format!("{url}/\n");
    p.package(
        "repos-file",
        "1.0-r0",
        &[("etc/apk/repositories", &line)],
        &[],
    );
    p.index();
    std::fs::write(
        p.dir.join("base.toml"),
        format!(
            "[image]\nname = \"base\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             packages = [\"base-files\", \"repos-file\"]\nrepositories = [\"{url}/\"]\nkeyring = [\"test.rsa.pub\"]\n"
        ),
    )
    .unwrap();
    ok(&p.dir, &["build", "base.toml", "-o", "oci:base"]);
    drop(server);
    let decl = "[image]\nname = \"app\"\nsource = \"oci:base:latest\"\n\
                packages = [\"tool\"]\nrepositories = [\"./repo\"]\nkeyring = [\"test.rsa.pub\"]\n";
    std::fs::write(p.dir.join("assembly.toml"), decl).unwrap();
    let o = run(&p.dir, &["build"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains(&url), "{err}");
    // Every line of the output is a warning or a step, none a continuation.
    assert!(
        !err.lines()
            .any(|l| l.starts_with(' ') || l.starts_with('\t')),
        "{err}"
    );
    // A failing build still shows it.
    std::fs::write(
        p.dir.join("assembly.toml"),
        decl.replace("\"tool\"", "\"tool\", \"nosuch\""),
    )
    .unwrap();
    let o = run(&p.dir, &["build"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("warning:") && err.contains(&url), "{err}");
}
