//! Tagged repositories (`"@acme ./repo"`) and `name@tag` atoms mean the
//! same in `build`, `resolve` and `plan`/`apply`: a tagged atom takes its
//! package from the tagged repository even when an untagged one has a
//! newer version, and an untagged atom never takes a package only a
//! tagged repository has.

use std::path::Path;
use std::process::{Command, Output};

use testkit::repo::{Pkg, Repo};
use testkit::text;

fn assemble(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("CARGO_ASSEMBLE_CACHE", dir.join(".cache"))
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

/// `main` (untagged) has pkg 3.0; `acme` has pkg 2.0 and only-acme.
fn repositories(dir: &Path) -> (Repo, Repo) {
    let mut main = Repo::new(&dir.join("main"), "main");
    main.add(Pkg::new("pkg", "3.0-r0").file("usr/share/pkg/version", b"3.0 from main\n", 0o644));
    main.write_index();
    let mut acme = Repo::new(&dir.join("acme"), "acme");
    acme.add(Pkg::new("pkg", "2.0-r0").file("usr/share/pkg/version", b"2.0 from acme\n", 0o644));
    acme.add(Pkg::new("only-acme", "1.0-r0").file("usr/share/only-acme", b"acme\n", 0o644));
    acme.write_index();
    (main, acme)
}

fn declare(dir: &Path, repositories: &str, packages: &str) {
    std::fs::write(
        dir.join("assembly.toml"),
        format!(
            "[image]\nname = \"tagged\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             repositories = [{repositories}]\npackages = [{packages}]\n\
             keyring = [\"main/main.rsa.pub\", \"acme/acme.rsa.pub\"]\n"
        ),
    )
    .unwrap();
}

fn built_packages(dir: &Path) -> Vec<String> {
    let o = assemble(dir, &["build", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["report"]["platforms"][0]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_tagged_repository_alone_builds() {
    let tmp = tempfile::tempdir().unwrap();
    repositories(tmp.path());
    declare(tmp.path(), "\"@acme ./acme\"", "\"pkg@acme\"");
    assert_eq!(built_packages(tmp.path()), ["pkg-2.0-r0"]);
    // The layer holds acme's file.
    let layout = tmp.path().join("target/assemble/tagged");
    assert!(layout.join("index.json").is_file());
}

#[test]
fn build_takes_tagged_atoms_from_the_tagged_repository() {
    let tmp = tempfile::tempdir().unwrap();
    repositories(tmp.path());
    declare(tmp.path(), "\"./main\", \"@acme ./acme\"", "\"pkg@acme\"");
    assert_eq!(built_packages(tmp.path()), ["pkg-2.0-r0"]);
    declare(tmp.path(), "\"./main\", \"@acme ./acme\"", "\"pkg\"");
    assert_eq!(built_packages(tmp.path()), ["pkg-3.0-r0"]);
    // Untagged atoms never reach into a tagged repository.
    declare(tmp.path(), "\"./main\", \"@acme ./acme\"", "\"only-acme\"");
    let o = assemble(tmp.path(), &["build"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("only-acme"), "{}", text(&o));
    // A tag no repository has is refused when the file is read.
    declare(tmp.path(), "\"./main\"", "\"pkg@nowhere\"");
    let o = assemble(tmp.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("@nowhere"), "{}", text(&o));
}

#[test]
fn resolve_takes_tagged_atoms_from_the_tagged_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let (main, acme) = repositories(tmp.path());
    let acme_arg = format!("@acme {}", acme.root().display());
    let resolve = |atom: &str| {
        let o = assemble(
            tmp.path(),
            &[
                "resolve",
                atom,
                "--arch",
                "x86_64",
                "-X",
                main.root().to_str().unwrap(),
                "-X",
                &acme_arg,
                "--keyring",
                main.key_path().to_str().unwrap(),
                "--keyring",
                acme.key_path().to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{atom}: {}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(resolve("pkg@acme"), "+ pkg 2.0-r0\n");
    assert_eq!(resolve("pkg"), "+ pkg 3.0-r0\n");
}

#[test]
fn plan_and_the_lock_take_tagged_atoms_from_the_tagged_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    repositories(dir);
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.email=t@example.org", "-c", "user.name=T"])
            .args(args)
            .output()
            .expect("git");
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
    };
    git(&["init", "-q"]);
    declare(dir, "\"./main\", \"@acme ./acme\"", "\"pkg@acme\"");
    let o = assemble(dir, &["plan"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("+ x86_64: add pkg 2.0-r0"),
        "{}",
        text(&o)
    );
    let o = assemble(dir, &["apply", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let lock = std::fs::read_to_string(dir.join("assembly.lock")).unwrap();
    assert!(
        lock.contains("version = \"2.0-r0\"") && lock.contains("repository = \"@acme ./acme\""),
        "{lock}"
    );
    // Dropping the tag: the locked 2.0 is still allowed, so nothing moves
    // until the lock is updated; then main's newer version wins.
    declare(dir, "\"./main\", \"@acme ./acme\"", "\"pkg\"");
    let o = assemble(dir, &["plan", "--update"]);
    assert!(
        text(&o).contains("upgrade pkg 2.0-r0 -> 3.0-r0"),
        "{}",
        text(&o)
    );
}
