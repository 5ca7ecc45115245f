//! The Git-driven pipeline in real temporary git repositories: plan, apply,
//! plan again, add/remove packages, a newer version in the repository,
//! a fresh clone reading the state, `--base`, a killed apply, validate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cargo-assemble")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.email=test@example.org",
            "-c",
            "user.name=Test",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A project: a git repository with a signed local repository of small
/// packages and an assembly.toml building on scratch.
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        std::fs::create_dir_all(dir.join("repo/x86_64")).unwrap();
        git(&dir, &["init", "-q"]);
        ok(
            &dir,
            &[
                "keygen",
                "test",
                "-d",
                dir.to_str().unwrap(),
                "--bits",
                "2048",
            ],
        );
        let p = Project { _tmp: tmp, dir };
        p.package("base-files", "1.0-r0", &[("etc/base", "base\n")], &[]);
        p.package(
            "tool",
            "1.0-r0",
            &[("usr/bin/tool", "#tool 1\n")],
            &["libtool"],
        );
        p.package("libtool", "1.0-r0", &[("usr/lib/libtool", "lib\n")], &[]);
        p.package("extra", "3.1-r0", &[("usr/share/extra", "extra\n")], &[]);
        p.index();
        std::fs::write(
            p.dir.join("assembly.toml"),
            "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             packages = [\"base-files\", \"tool\"]\nrepositories = [\"./repo\"]\nkeyring = [\"test.rsa.pub\"]\n",
        )
        .unwrap();
        std::fs::write(
            p.dir.join(".gitignore"),
            "target/\n.assembly-apply.lock\ntest.rsa\n",
        )
        .unwrap();
        p
    }

    fn package(&self, name: &str, version: &str, files: &[(&str, &str)], depends: &[&str]) {
        let root = self.dir.join("src").join(format!("{name}-{version}"));
        for (path, content) in files {
            let f = root.join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, content).unwrap();
        }
        let out = self.dir.join(format!("repo/x86_64/{name}-{version}.apk"));
        let mut args = vec![
            "package".to_owned(),
            root.to_string_lossy().into_owned(),
            "--name".into(),
            name.into(),
            "--pkgver".into(),
            version.into(),
            "--arch".into(),
            "x86_64".into(),
            "--sign-key".into(),
            "test.rsa".into(),
            "-o".into(),
            out.to_string_lossy().into_owned(),
        ];
        for d in depends {
            args.extend(["--depend".into(), d.to_string()]);
        }
        ok(
            &self.dir,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    fn index(&self) {
        let repo = self.dir.join("repo/x86_64");
        let mut args = vec!["index".to_owned()];
        for e in std::fs::read_dir(&repo).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "apk") {
                args.push(p.to_string_lossy().into_owned());
            }
        }
        args.extend([
            "-o".into(),
            repo.join("APKINDEX.tar.gz").to_string_lossy().into_owned(),
        ]);
        args.extend(["--sign-key".into(), "test.rsa".into()]);
        ok(
            &self.dir,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    fn set_packages(&self, list: &str) {
        let p = self.dir.join("assembly.toml");
        let t = std::fs::read_to_string(&p).unwrap();
        let start = t.find("packages = ").unwrap();
        let end = start + t[start..].find('\n').unwrap();
        std::fs::write(&p, format!("{}packages = {list}{}", &t[..start], &t[end..])).unwrap();
    }

    fn plan(&self, args: &[&str]) -> (i32, String) {
        let mut a = vec!["plan", "--detailed-exitcode"];
        a.extend(args);
        let o = run(&self.dir, &a);
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    fn commit(&self, message: &str) {
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "-m", message]);
    }
}

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
    let big = p.dir.join("src/big-1.0-r0/usr/share/big");
    std::fs::create_dir_all(&big).unwrap();
    let mut data = vec![0u8; 64 << 20];
    let mut x: u32 = 1;
    for b in data.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 24) as u8;
    }
    std::fs::write(big.join("blob"), &data).unwrap();
    drop(data);
    p.package("big", "1.0-r0", &[], &[]);
    p.index();
    p.set_packages("[\"base-files\", \"tool\", \"big\"]");
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
