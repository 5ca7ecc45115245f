//! The Git-driven pipeline in real temporary git repositories: plan, apply,
//! plan again, add/remove packages, a newer version in the repository,
//! a fresh clone reading the state, `--base`, a killed apply, validate.

use std::process::Command;

mod project;
use project::{bin, git, ok, run, Project};

#[test]
fn plan_apply_cycle() {
    let p = Project::new();
    p.commit("declare");
    let (code, out) = p.plan(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("+ x86_64: add tool 1.0-r0") && out.contains("libtool"),
        "{out}"
    );
    ok(&p.dir, &["apply", "--auto-approve"]);
    assert!(p.dir.join("target/assemble/app/index.json").is_file());
    assert!(std::fs::read_to_string(p.dir.join("assembly.lock"))
        .unwrap()
        .contains("name = \"libtool\""));
    let (code, out) = p.plan(&[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "No changes. The images match the declaration.\n")
    );
    assert!(ok(&p.dir, &["apply", "--auto-approve"]).contains("No changes"));
    p.commit("applied");

    // Add a package: all three formats show it.
    p.set_packages("[\"base-files\", \"tool\", \"extra\"]");
    let (code, human) = p.plan(&["--format", "human"]);
    assert_eq!(code, 2);
    let (_, markdown) = p.plan(&["--format", "markdown"]);
    let (_, json) = p.plan(&["--format", "json"]);
    insta::assert_snapshot!("add_human", human);
    insta::assert_snapshot!("add_markdown", markdown);
    insta::assert_snapshot!("add_json", json);
    ok(&p.dir, &["apply", "--auto-approve"]);

    // Remove it again.
    p.set_packages("[\"base-files\", \"tool\"]");
    let (code, out) = p.plan(&[]);
    assert_eq!(code, 2);
    assert!(out.contains("- x86_64: remove extra 3.1-r0"), "{out}");
    ok(&p.dir, &["apply", "--auto-approve"]);
    assert_eq!(p.plan(&[]).0, 0);

    // A newer version appears: the lock keeps the old one, outdated and
    // plan --update show the upgrade.
    p.package(
        "tool",
        "1.1-r0",
        &[("usr/bin/tool", "#tool 1.1\n")],
        &["libtool"],
    );
    p.index();
    assert_eq!(p.plan(&[]).0, 0, "the lock pins tool 1.0-r0");
    let outdated = ok(&p.dir, &["outdated"]);
    assert!(
        outdated.contains("tool 1.0-r0 -> 1.1-r0 available"),
        "{outdated}"
    );
    let (code, out) = p.plan(&["--update"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("~ x86_64: upgrade tool 1.0-r0 -> 1.1-r0"),
        "{out}"
    );
    let (_, only) = p.plan(&["--update", "tool"]);
    assert!(only.contains("upgrade tool"), "{only}");
    // --locked refuses to change the lock.
    let o = run(&p.dir, &["apply", "--auto-approve", "--locked", "--update"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("assembly.lock"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn fresh_clone_reads_the_applied_state_and_base_revisions() {
    let p = Project::new();
    p.commit("declare");
    ok(&p.dir, &["apply", "--auto-approve"]);
    p.commit("lock");
    // A bare "remote" that also carries the state ref.
    let remote = p.dir.parent().unwrap().join("remote.git");
    git(
        p.dir.parent().unwrap(),
        &[
            "clone",
            "-q",
            "--bare",
            p.dir.to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    git(
        &p.dir,
        &[
            "push",
            "-q",
            remote.to_str().unwrap(),
            "refs/assembly/*:refs/assembly/*",
        ],
    );
    let clone = p.dir.parent().unwrap().join("clone");
    git(
        p.dir.parent().unwrap(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    // The documented fetch of the state.
    git(
        &clone,
        &["fetch", "-q", "origin", "refs/assembly/*:refs/assembly/*"],
    );
    // The clone has no keys' private half nor outputs; the public key and repo are committed.
    let o = run(&clone, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // --base compares with an earlier revision without checking it out.
    p.set_packages("[\"base-files\", \"tool\", \"extra\"]");
    p.commit("add extra");
    let (code, out) = p.plan(&["--base", "HEAD~1"]);
    assert_eq!(code, 2);
    assert!(out.contains("+ x86_64: add extra 3.1-r0"), "{out}");
    assert!(
        git(&p.dir, &["status", "--porcelain"]).is_empty(),
        "no checkout happened"
    );
}

#[test]
fn a_killed_apply_leaves_everything_intact() {
    let p = Project::new();
    p.commit("declare");
    ok(&p.dir, &["apply", "--auto-approve"]);
    let lock_before = std::fs::read(p.dir.join("assembly.lock")).unwrap();
    let state_before = git(&p.dir, &["rev-parse", "refs/assembly/state"]);
    let index_before = std::fs::read(p.dir.join("target/assemble/app/index.json")).unwrap();

    // A big package makes the layer write take a while; kill the apply
    // once its temporary layer file exists.
    p.add_big_package(64);
    let mut child = Command::new(bin())
        .current_dir(&p.dir)
        .args(["apply", "--auto-approve"])
        .spawn()
        .unwrap();
    let out_parent = p.dir.join("target/assemble");
    let start = std::time::Instant::now();
    let mut killed_during_write = false;
    while start.elapsed() < std::time::Duration::from_secs(120) {
        let writing = std::fs::read_dir(&out_parent)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".assemble-"))
            })
            .unwrap_or(false);
        if writing {
            child.kill().unwrap();
            killed_during_write = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.wait();
    if killed_during_write {
        assert_eq!(
            std::fs::read(p.dir.join("assembly.lock")).unwrap(),
            lock_before
        );
        assert_eq!(
            git(&p.dir, &["rev-parse", "refs/assembly/state"]),
            state_before
        );
        assert_eq!(
            std::fs::read(p.dir.join("target/assemble/app/index.json")).unwrap(),
            index_before
        );
    } else {
        eprintln!("note: the apply finished before it could be killed");
    }
    // The rerun succeeds (leftover temporary directories do not matter).
    ok(&p.dir, &["apply", "--auto-approve"]);
    assert!(std::fs::read_to_string(p.dir.join("assembly.lock"))
        .unwrap()
        .contains("name = \"big\""));
}

#[test]
fn validate_reports_every_problem() {
    let p = Project::new();
    std::fs::write(
        p.dir.join("assembly.toml"),
        "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\nrepositories = \"./repo\"\n\
         packages = [\"tool\", \"foo==\"]\nunknown = 1\nkeyring = [\"test.rsa.pub\"]\n",
    )
    .unwrap();
    let o = run(&p.dir, &["validate"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in ["assembly.toml:5:", "assembly.toml:6:", "assembly.toml:7:"] {
        assert!(err.contains(want), "{want} missing: {err}");
    }
    // A well-formed file naming a package that does not exist.
    p.set_packages("[\"tool\", \"no-such-package\"]");
    let text = std::fs::read_to_string(p.dir.join("assembly.toml"))
        .unwrap()
        .replace("repositories = \"./repo\"", "repositories = [\"./repo\"]")
        .replace("unknown = 1\n", "");
    std::fs::write(p.dir.join("assembly.toml"), text).unwrap();
    let o = run(&p.dir, &["validate"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("assembly.toml:6:") && err.contains("no-such-package"),
        "{err}"
    );
    p.set_packages("[\"tool\"]");
    assert!(ok(&p.dir, &["validate"]).contains("valid"));
    // A lock that no longer fits the declaration is named with the fix.
    ok(&p.dir, &["apply", "--auto-approve"]);
    assert!(ok(&p.dir, &["validate"]).contains("valid"));
    p.set_packages("[\"tool\", \"extra\"]");
    let o = run(&p.dir, &["validate"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("update assembly.lock"), "{err}");
}

#[test]
fn each_declaration_keeps_its_own_applied_state() {
    let p = Project::new();
    for svc in ["svc-a", "svc-b"] {
        let dir = p.dir.join(svc);
        std::fs::create_dir_all(&dir).unwrap();
        let packages = if svc == "svc-a" {
            "\"tool\""
        } else {
            "\"extra\""
        };
        std::fs::write(
            dir.join("assembly.toml"),
            format!(
                "[image]\nname = \"{svc}\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
                 packages = [{packages}]\nrepositories = [\"../repo\"]\nkeyring = [\"../test.rsa.pub\"]\n"
            ),
        )
        .unwrap();
    }
    p.commit("two services");
    ok(&p.dir, &["apply", "--auto-approve", "svc-a/assembly.toml"]);
    ok(&p.dir, &["apply", "--auto-approve", "svc-b/assembly.toml"]);
    for svc in ["svc-a", "svc-b"] {
        let o = run(&p.dir.join(svc), &["plan", "--detailed-exitcode"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{svc}: {out}");
        assert!(out.contains("No changes."), "{svc}: {out}");
    }
    // The project at the root is a third declaration with its own state.
    let (code, text) = p.plan(&[]);
    assert_eq!(code, 2, "never applied: {text}");
}

#[test]
fn locked_fails_on_any_change_and_never_writes_the_lock() {
    let p = Project::new();
    p.commit("declare");
    // No lock yet: --locked cannot keep it.
    let o = run(&p.dir, &["apply", "--auto-approve", "--locked"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not in the lock"));
    assert!(!p.dir.join("assembly.lock").exists());
    ok(&p.dir, &["apply", "--auto-approve"]);
    let lock = std::fs::read(p.dir.join("assembly.lock")).unwrap();
    // An unchanged declaration applies with --locked, lock untouched.
    ok(&p.dir, &["apply", "--auto-approve", "--locked"]);
    assert_eq!(std::fs::read(p.dir.join("assembly.lock")).unwrap(), lock);
    // A package added to the declaration: the message says which.
    p.set_packages("[\"base-files\", \"tool\", \"extra\"]");
    let o = run(&p.dir, &["apply", "--auto-approve", "--locked"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("extra 3.1-r0 would be added"), "{err}");
    assert_eq!(std::fs::read(p.dir.join("assembly.lock")).unwrap(), lock);
    let o = run(&p.dir, &["validate"]);
    assert_eq!(o.status.code(), Some(1));
    // A package removed.
    p.set_packages("[\"base-files\"]");
    let o = run(&p.dir, &["apply", "--auto-approve", "--locked"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("tool 1.0-r0 would be removed"), "{err}");
    assert_eq!(std::fs::read(p.dir.join("assembly.lock")).unwrap(), lock);
    let o = run(&p.dir, &["validate"]);
    assert_eq!(o.status.code(), Some(1));
    // An image renamed: validate names both sides.
    p.set_packages("[\"base-files\", \"tool\"]");
    let decl = std::fs::read_to_string(p.dir.join("assembly.toml")).unwrap();
    std::fs::write(
        p.dir.join("assembly.toml"),
        decl.replace("name = \"app\"", "name = \"app2\""),
    )
    .unwrap();
    let o = run(&p.dir, &["validate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("'app2' is not in assembly.lock"), "{err}");
    assert!(err.contains("'app', which is no longer declared"), "{err}");
}

#[test]
fn validate_does_not_stop_at_a_missing_source_image() {
    let p = Project::new();
    std::fs::write(p.dir.join("bad.rsa.pub"), "not a key\n").unwrap();
    std::fs::write(
        p.dir.join("assembly.toml"),
        "[image]\nname = \"app\"\nsource = \"oci:./no-such-layout\"\narchitectures = [\"x86_64\"]\n\
         packages = [\"tool\", \"no-such-package\"]\nrepositories = [\"./repo\"]\n\
         keyring = [\"test.rsa.pub\", \"bad.rsa.pub\"]\n",
    )
    .unwrap();
    let o = run(&p.dir, &["validate"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no-such-layout"), "the source: {err}");
    assert!(err.contains("unknown package 'no-such-package'"), "{err}");
    assert!(err.contains("bad.rsa.pub"), "the bad key: {err}");
    assert!(!err.contains("unknown package 'tool'"), "{err}");
}
