//! The pre-commit hook as a new user meets it: the real `pre-commit`
//! installs it from this repository (`language: rust` builds cargo-assemble
//! with `cargo install --path .`) on a PATH without cargo-assemble, then
//! `pre-commit try-repo <this repository> cargo-assemble-validate --files
//! assembly.toml` passes on a valid declaration and fails with the
//! validation message on an invalid one.
//!
//! The build is bounded: the hook's cargo gets a persistent target
//! directory under `target/` (only the workspace's own crates are rebuilt
//! after the first run) and cheap release settings. Run with `--nocapture`
//! to see how long installing takes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use testkit::repo::{Pkg, Repo};

mod common;
use common::git;

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// `pre-commit try-repo` of this repository in `project`, with a PATH of
/// only the tools a user has (no cargo-assemble).
fn try_repo(project: &Path, tools: &Path) -> Output {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("precommit-hook");
    let mut command = Command::new("pre-commit");
    command
        .current_dir(project)
        .args([
            "try-repo",
            env!("CARGO_MANIFEST_DIR"),
            "cargo-assemble-validate",
        ])
        .args(["--files", "assembly.toml"])
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
        .env("LANG", "C.UTF-8")
        .env("PRE_COMMIT_HOME", project.join(".pre-commit-home"))
        .env("CARGO_TARGET_DIR", target)
        // A hook build, not a release: quick to compile, fast enough to run.
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env("CARGO_PROFILE_RELEASE_LTO", "false");
    for keep in [
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "SCCACHE_DIR",
        "TMPDIR",
    ] {
        if let Some(v) = std::env::var_os(keep) {
            command.env(keep, v);
        }
    }
    command.output().expect("run pre-commit")
}

#[test]
fn the_hook_installs_itself_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    // The tools of a machine with only a Rust toolchain (and git, pre-commit).
    let tools = tmp.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    for (program, how) in [
        ("pre-commit", "pip install pre-commit"),
        ("cargo", "a Rust toolchain"),
        ("rustc", "a Rust toolchain"),
    ] {
        let found = which(program).unwrap_or_else(|| {
            panic!("this test needs `{program}` on PATH ({how}; .ci/run installs it)")
        });
        std::os::unix::fs::symlink(found, tools.join(program)).unwrap();
    }
    let probe = Command::new("sh")
        .args(["-c", "command -v cargo-assemble"])
        .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
        .output()
        .unwrap();
    assert!(
        !probe.status.success(),
        "cargo-assemble must not be on the hook's PATH"
    );

    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    git(&project, &["init", "-q"]);
    let mut repo = Repo::new(&project.join("repo"), "test");
    repo.add(Pkg::new("hello", "1.0-r0").file("usr/bin/hello", b"hello\n", 0o755));
    repo.write_index();
    let valid = "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
                 packages = [\"hello\"]\nrepositories = [\"./repo\"]\nkeyring = [\"repo/test.rsa.pub\"]\n";
    std::fs::write(project.join("assembly.toml"), valid).unwrap();
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-qm", "declaration"]);

    let started = Instant::now();
    let o = try_repo(&project, &tools);
    let first = started.elapsed();
    let text = testkit::text(&o);
    assert!(o.status.success(), "valid declaration:\n{text}");
    assert!(
        text.contains("cargo assemble validate") && text.contains("Passed"),
        "{text}"
    );

    // Line 5 misspells a key; `hello` is fine.
    std::fs::write(
        project.join("assembly.toml"),
        valid.replace("packages =", "pakages ="),
    )
    .unwrap();
    let started = Instant::now();
    let o = try_repo(&project, &tools);
    let second = started.elapsed();
    let text = testkit::text(&o);
    assert!(!o.status.success(), "invalid declaration:\n{text}");
    assert!(text.contains("Failed"), "{text}");
    assert!(
        text.contains(
            "assembly.toml:5:1: unknown key 'pakages' in an image (did you mean 'packages'?)"
        ),
        "{text}"
    );
    eprintln!(
        "pre-commit try-repo (hook installed each time): first run {:.1} s, second {:.1} s",
        first.as_secs_f64(),
        second.as_secs_f64()
    );
}
