//! The build service with the real engine, end to end: a real `cargo-assemble
//! serve` on loopback builds from signed repositories made by testkit
//! (local directories, or served over HTTP by testkit's mirror), publishes
//! OCI layouts that skopeo reads, and `apply`/`plan --server` drive it from
//! a git checkout.

mod common;
mod service_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use service_support::*;
use testkit::mirror::{Behaviour, Mirror};
use testkit::repo::{Pkg, Repo};

const WAIT: Duration = Duration::from_secs(120);

/// A signed repository with `hello` (needing `libhello`), `libhello`,
/// `other` and `tool` (needing `zlib`), `zlib`.
fn repository(root: &Path) -> Repo {
    let mut repo = Repo::new(root, "service");
    repo.add(Pkg::new("hello", "1.0-r0").depend("libhello").file(
        "usr/bin/hello",
        b"#!/bin/sh\necho hello\n",
        0o755,
    ));
    repo.add(Pkg::new("libhello", "2.1-r0").file("usr/lib/libhello.so.2", b"\x7fELF", 0o755));
    repo.add(Pkg::new("other", "1.0-r0").file("usr/share/other", b"o\n", 0o644));
    repo.add(
        Pkg::new("tool", "1.0-r0")
            .depend("zlib")
            .file("usr/bin/tool", b"#!/bin/sh\n", 0o755),
    );
    repo.add(Pkg::new("zlib", "1.3-r0").file("usr/lib/libz.so.1", b"\x7fELF", 0o755));
    repo.write_index();
    repo
}

/// An image declaration on scratch taking `packages` from `repo` at
/// `location` (its directory or a URL).
fn declaration_of(repo: &Repo, location: &str, packages: &[&str]) -> Value {
    json!({
        "source": "scratch",
        "architectures": ["x86_64"],
        "packages": packages,
        "repositories": [location],
        "keyring": [repo.key_path()],
    })
}

fn skopeo_inspect(layout: &Path) -> Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", layout.display()))
        .output()
        .unwrap_or_else(|e| panic!("skopeo is needed by this test (apt-get install skopeo): {e}"));
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        common::text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

fn errors_at(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn capabilities_dry_run_build_publish_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let location = repo.root().display().to_string();
    let data = dir.path().join("data");
    let server = Server::start_real(&data, &["--allow-local-paths"]);
    let owner = server.owner();
    let editor = server.client(&make_token(&owner, "ed", "editor"));
    let viewer = server.client(&make_token(&owner, "vi", "viewer"));
    let decl = declaration_of(&repo, &location, &["hello"]);

    let (status, body) = call(&viewer, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["missing_capability"], "repo.update", "{body}");

    // A dry run resolves for real: the closure, nothing stored or queued.
    let (status, body) = call(&editor, "PUT", "/v1/repos/app?dry_run=true", Some(&decl));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["build_id"], Value::Null);
    let changes = body["changes"].as_array().unwrap();
    assert_eq!(changes[0]["kind"], "create_image", "{body}");
    for (name, version) in [("hello", "1.0-r0"), ("libhello", "2.1-r0")] {
        assert!(
            changes.iter().any(|c| c["kind"] == "add_package"
                && c["name"] == name
                && c["version"] == version),
            "{name}: {body}"
        );
    }
    assert_eq!(call(&editor, "GET", "/v1/repos/app", None).0, 404);
    let (_, reports) = call(&editor, "GET", "/v1/buildreports", None);
    assert_eq!(reports["reports"], json!([]));

    // The build: digests, a log, the lock, a layout skopeo reads.
    let (status, body) = call(&editor, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let id = body["build_id"].as_str().unwrap().to_owned();
    let report = wait_final(&editor, &id, WAIT);
    assert_eq!(report["result"], "success", "{report}");
    let digest = report["digests"]["x86_64"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{report}");
    let log = report["log"].as_str().unwrap();
    assert!(log.contains("x86_64: resolving"), "{log}");
    assert!(
        log.contains(&format!(
            "published oci:{}",
            data.join("images/default/app").display()
        )),
        "{log}"
    );
    // The lock's shape: one `package` list per platform.
    let packages = &report["locked_config"]["platforms"][0]["package"];
    let names: Vec<_> = packages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "libhello"], "{report}");
    let layout = data.join("images/default/app");
    let manifest = skopeo_inspect(&layout);
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        1,
        "{manifest}"
    );
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", layout.display()))
        .output()
        .unwrap();
    assert_eq!(
        sha256(&raw.stdout),
        digest,
        "the report names the published manifest"
    );
    let (_, repo_view) = call(&viewer, "GET", "/v1/repos/app", None);
    assert_eq!(repo_view["digests"]["x86_64"], digest.as_str());
    // Unchanged: the dry run says so.
    let (_, again) = call(&editor, "PUT", "/v1/repos/app?dry_run=true", Some(&decl));
    assert_eq!(again["changes"], json!([]), "{again}");

    // Invalid: every error at once, nothing stored.
    let bad = json!({
        "source": "scratch",
        "packages": ["hello", 7, "bad>>"],
        "tags": "latest",
        "keyring": [repo.key_path()],
        "repositories": ["relative/repo"],
    });
    let (status, body) = call(&editor, "PUT", "/v1/repos/app", Some(&bad));
    assert_eq!(status, 400, "{body}");
    let paths: Vec<String> = errors_at(&body).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["/packages/1", "/packages/2", "/tags"], "{body}");
    // Resolution errors too, at the atom to blame.
    let missing = declaration_of(&repo, &location, &["hello", "nosuch"]);
    let (status, body) = call(&editor, "PUT", "/v1/repos/app", Some(&missing));
    assert_eq!(status, 400, "{body}");
    let errors = errors_at(&body);
    assert_eq!(errors[0].0, "/packages/1", "{body}");
    assert!(errors[0].1.contains("nosuch"), "{body}");
    let relative = declaration_of(&repo, "relative/repo", &["hello"]);
    let (status, body) = call(&editor, "PUT", "/v1/repos/app", Some(&relative));
    assert_eq!(status, 400, "{body}");
    assert_eq!(errors_at(&body)[0].0, "/repositories/0", "{body}");
    let (_, stored) = call(&editor, "GET", "/v1/repos/app", None);
    assert_eq!(stored["config"]["packages"], json!(["hello"]));
    let (_, reports) = call(&editor, "GET", "/v1/buildreports", None);
    assert_eq!(reports["reports"].as_array().unwrap().len(), 1);
    drop(server);

    // Without --allow-local-paths: local paths are refused, clearly.
    let server = Server::start_real(&dir.path().join("data2"), &[]);
    let (status, body) = call(&server.owner(), "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 400, "{body}");
    let errors = errors_at(&body);
    let at: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(at, ["/repositories/0", "/keyring/0"], "{body}");
    assert!(errors[0].1.contains("--allow-local-paths"), "{body}");
}

#[test]
fn organizations_and_entitlements_against_the_real_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let location = repo.root().display().to_string();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "allow_local_paths = true\n[orgs.acme]\nrepositories = [{location:?}]\n\
             packages = [\"hello\", \"libhello\", \"tool\"]\n[orgs.beta]\nrepositories = [\"*\"]\n"
        ),
    )
    .unwrap();
    let server = Server::start_real(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let acme = server.owner();
    let beta = server.client(&server.token("owner-token-beta"));

    let (status, body) = call(
        &acme,
        "PUT",
        "/v1/repos/app",
        Some(&declaration_of(&repo, &location, &["hello"])),
    );
    assert_eq!(status, 201, "{body}");
    let report = wait_final(&acme, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(report["result"], "success", "{report}");
    assert!(dir.path().join("data/images/acme/app/index.json").is_file());
    assert_eq!(call(&beta, "GET", "/v1/repos/app", None).0, 404);
    assert_eq!(
        call(
            &beta,
            "GET",
            &format!("/v1/buildreports/{}", report["id"].as_str().unwrap()),
            None
        )
        .0,
        404
    );

    // Declared outside the entitlement, and pulled in by the resolution.
    for (packages, blamed) in [
        (&["hello", "other"][..], "'other'"),
        (&["tool"][..], "'zlib'"),
    ] {
        let (status, body) = call(
            &acme,
            "PUT",
            "/v1/repos/app",
            Some(&declaration_of(&repo, &location, packages)),
        );
        assert_eq!(status, 400, "{body}");
        assert!(
            errors_at(&body)
                .iter()
                .any(|(_, m)| m.contains(blamed) && m.contains("entitlement")),
            "{blamed}: {body}"
        );
    }
    let (_, stored) = call(&acme, "GET", "/v1/repos/app", None);
    assert_eq!(stored["config"]["packages"], json!(["hello"]));
}

fn assemble(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("CARGO_ASSEMBLE_SERVER")
        .env_remove("CARGO_ASSEMBLE_TOKEN")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn apply_and_plan_with_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let mut repo = repository(&project.join("repo"));
    let toml = |packages: &str| {
        format!(
            "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             packages = [{packages}]\nrepositories = [\"./repo\"]\nkeyring = [\"repo/service.rsa.pub\"]\n"
        )
    };
    std::fs::write(project.join("assembly.toml"), toml("\"hello\"")).unwrap();
    common::git(&project, &["init", "-q"]);
    let server = Server::start_real(&dir.path().join("data"), &["--allow-local-paths"]);
    let token_file: PathBuf = dir.path().join("data/owner-token");
    let remote = [
        "--server",
        &server.url,
        "--token-file",
        token_file.to_str().unwrap(),
    ];

    let out = assemble(
        &project,
        &[&["plan", "--detailed-exitcode"][..], &remote].concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("hello"),
        "{}",
        common::text(&out)
    );

    let out = assemble(
        &project,
        &[&["apply", "--auto-approve", "--wait"][..], &remote].concat(),
        &[],
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let said = common::text(&out);
    assert!(
        said.contains("x86_64: resolving"),
        "the log is followed: {said}"
    );
    let lock = std::fs::read_to_string(project.join("assembly.lock")).unwrap();
    assert!(
        lock.contains("libhello") && lock.contains("2.1-r0"),
        "{lock}"
    );

    // The environment names the server and the token just as well.
    let token = server.token("owner-token");
    let env = [
        ("CARGO_ASSEMBLE_SERVER", server.url.as_str()),
        ("CARGO_ASSEMBLE_TOKEN", token.as_str()),
    ];
    let out = assemble(&project, &["plan", "--detailed-exitcode"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));
    let out = assemble(&project, &["plan", "--format", "json"], &env);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["images"], json!([]), "{plan}");

    // A new package version on the repository: the pinned build stays;
    // a changed declaration plans and applies.
    repo.add(Pkg::new("other", "1.1-r0"));
    repo.write_index();
    std::fs::write(project.join("assembly.toml"), toml("\"hello\", \"other\"")).unwrap();
    let out = assemble(
        &project,
        &["plan", "--format", "json", "--detailed-exitcode"],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["images"][0]["changes"],
        json!([{"kind": "add_package", "arch": "x86_64", "name": "other", "version": "1.1-r0"}]),
        "{plan}"
    );
    let out = assemble(&project, &["apply", "--auto-approve", "--wait"], &env);
    assert!(out.status.success(), "{}", common::text(&out));
    let out = assemble(&project, &["plan", "--detailed-exitcode"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));

    // A refused declaration: exit 1 with the server's reasons.
    std::fs::write(project.join("assembly.toml"), toml("\"nosuch\"")).unwrap();
    let out = assemble(&project, &["apply", "--auto-approve", "--wait"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("/packages/0"),
        "{}",
        common::text(&out)
    );
}

#[test]
fn a_real_build_interrupted_by_kill_9_is_retried_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    // Packages trickle in, so that the build is still fetching when killed.
    let mirror = Mirror::start(
        repo.root(),
        Behaviour::Only(
            ".apk".into(),
            Box::new(Behaviour::Drip(Duration::from_millis(3))),
        ),
    );
    let data = dir.path().join("data");
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "lease = \"2s\"\nallow_local_paths = true\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut server = Server::start_real(&data, &args);
    let owner = server.owner();
    let decl = declaration_of(&repo, &mirror.base, &["hello"]);
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let id = body["build_id"].as_str().unwrap().to_owned();
    wait_result(&owner, &id, &["running"], WAIT);
    let start = std::time::Instant::now();
    while !mirror.requests().iter().any(|r| r.ends_with(".apk")) {
        assert!(
            start.elapsed() < WAIT,
            "no package was fetched: {:?}",
            mirror.requests()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9();
    assert_eq!(integrity_check(&data), "ok");
    assert!(
        !data.join("images/default/app").exists(),
        "nothing published by the killed build"
    );

    mirror.set(repo.root(), Behaviour::Files);
    let server = Server::start_real(&data, &args);
    let owner = server.owner();
    let report = wait_final(&owner, &id, WAIT);
    assert_eq!(report["result"], "success", "{report}");
    assert_eq!(report["attempts"], 2, "{report}");
    assert!(data.join("images/default/app/index.json").is_file());
    skopeo_inspect(&data.join("images/default/app"));
    drop(server);
    assert_eq!(integrity_check(&data), "ok");
}
