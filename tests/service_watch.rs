//! The update watcher end to end: a real `cargo-assemble serve
//! --poll-interval 2s` with the real engine rebuilds an image when a
//! package of its closure gets a new version in a local signed repository
//! (made by testkit), or when its source image (a layout) moves; an
//! unrelated package changes nothing. Tags move with each successful build
//! and every earlier build stays pullable under its build tag.

mod service_support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use service_support::*;
use testkit::mirror::{Behaviour, Mirror};
use testkit::repo::{Pkg, Repo};

const WAIT: Duration = Duration::from_secs(120);

fn repository(root: &Path) -> Repo {
    let mut repo = Repo::new(root, "watch");
    repo.add(Pkg::new("hello", "1.0-r0").depend("libhello").file(
        "usr/bin/hello",
        b"#!/bin/sh\necho hello\n",
        0o755,
    ));
    repo.add(Pkg::new("libhello", "2.1-r0").file("usr/lib/libhello.so.2", b"\x7fELF", 0o755));
    repo.add(Pkg::new("other", "1.0-r0").file("usr/share/other", b"o\n", 0o644));
    repo.write_index();
    repo
}

/// Publishes hello 1.1-r0 (same dependencies) in `repo`.
fn release_hello_1_1(repo: &mut Repo) {
    repo.add(Pkg::new("hello", "1.1-r0").depend("libhello").file(
        "usr/bin/hello",
        b"#!/bin/sh\necho hello again\n",
        0o755,
    ));
    repo.write_index();
}

fn declaration_of(repo: &Repo, source: &str, packages: &[&str]) -> Value {
    json!({
        "source": source,
        "architectures": ["x86_64"],
        "packages": packages,
        "repositories": [repo.root().display().to_string()],
        "keyring": [repo.key_path()],
    })
}

fn reports(c: &Client, repo: &str) -> Vec<Value> {
    let (status, body) = call(c, "GET", &format!("/v1/buildreports?repo={repo}"), None);
    assert_eq!(status, 200, "{body}");
    body["reports"].as_array().unwrap().clone()
}

/// The package-update build of `repo`, within 30 s, which succeeded.
fn successful_package_update(server: &Server, c: &Client, repo: &str) -> Value {
    let report = wait_for_trigger(server, c, repo, "package-update", Duration::from_secs(30));
    assert_eq!(report["result"], "success", "{report}");
    report
}

/// Waits until `repo` has a build with trigger `trigger`; returns its
/// final report.
fn wait_for_trigger(
    server: &Server,
    c: &Client,
    repo: &str,
    trigger: &str,
    limit: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        if let Some(b) = reports(c, repo).iter().find(|b| b["trigger"] == trigger) {
            return wait_final(c, b["id"].as_str().unwrap(), WAIT);
        }
        assert!(
            start.elapsed() < limit,
            "no {trigger} build of {repo} within {limit:?}; server output:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The watcher's fingerprint of the input named `prefix…`.
fn fingerprint(c: &Client, prefix: &str) -> Option<String> {
    let (status, body) = call(c, "GET", "/v1/watch", None);
    assert_eq!(status, 200, "{body}");
    body["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["input"].as_str().unwrap().starts_with(prefix))
        .and_then(|i| i["fingerprint"].as_str().map(str::to_owned))
}

/// Waits until the watcher has read a new fingerprint of `prefix…` (a
/// first one when `before` is `None`).
fn wait_fingerprint_change(server: &Server, c: &Client, prefix: &str, before: &Option<String>) {
    let start = Instant::now();
    while fingerprint(c, prefix) == *before {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the watcher never re-read {prefix}; server output:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_new_package_version_rebuilds_and_moves_the_tags() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = repository(&dir.path().join("repo"));
    let data = dir.path().join("data");
    let server = Server::start_real(&data, &["--allow-local-paths", "--poll-interval", "2s"]);
    let owner = server.owner();
    let (status, body) = call(
        &owner,
        "PUT",
        "/v1/repos/app",
        Some(&declaration_of(&repo, "scratch", &["hello"])),
    );
    assert_eq!(status, 201, "{body}");
    let first = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(first["result"], "success", "{first}");
    assert_eq!(first["number"], 1, "{first}");
    let old = first["digests"]["x86_64"].as_str().unwrap().to_owned();
    let layout = data.join("images/default/app");
    assert_eq!(skopeo_digest(&layout, "latest"), old);
    assert_eq!(skopeo_digest(&layout, "build-1"), old);

    // Wait for the watcher to know the index, then change a package the
    // image does not use: the watcher sees a new index, and builds nothing.
    let index = format!("index x86_64 {}", repo.root().display());
    wait_fingerprint_change(&server, &owner, &index, &None);
    let before = fingerprint(&owner, &index);
    repo.add(Pkg::new("other", "1.1-r0").file("usr/share/other", b"o2\n", 0o644));
    repo.write_index();
    wait_fingerprint_change(&server, &owner, &index, &before);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(reports(&owner, "app").len(), 1, "{}", server.output());

    // A new version of a package in the closure: a package-update build
    // within 30 s, naming the change; `latest` moves, build-1 stays.
    release_hello_1_1(&mut repo);
    let report = successful_package_update(&server, &owner, "app");
    assert_eq!(report["number"], 2, "{report}");
    let changes = report["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["kind"] == "upgrade"
            && c["name"] == "hello"
            && c["from"] == "1.0-r0"
            && c["to"] == "1.1-r0"),
        "{report}"
    );
    assert!(
        changes.iter().all(|c| c["name"] == "hello"),
        "only hello changed: {report}"
    );
    let log = report["log"].as_str().unwrap();
    assert!(log.contains("hello 1.0-r0 → 1.1-r0"), "{log}");
    let new = report["digests"]["x86_64"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(skopeo_digest(&layout, "latest"), new, "latest moved");
    assert_eq!(skopeo_digest(&layout, "build-2"), new);
    assert_eq!(
        skopeo_digest(&layout, "build-1"),
        old,
        "the old digest stays pullable"
    );
    let (_, view) = call(&owner, "GET", "/v1/repos/app", None);
    assert_eq!(view["digests"]["x86_64"], new.as_str());
    // Nothing more to do: no further build.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(reports(&owner, "app").len(), 2, "{}", server.output());

    // A forced build still works, and resolves afresh too.
    let (status, body) = call(&owner, "POST", "/v1/repos/app/builds", None);
    assert_eq!(status, 202, "{body}");
    let forced = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(
        (forced["result"].as_str(), forced["trigger"].as_str()),
        (Some("success"), Some("manual"))
    );
}

#[test]
fn a_moved_source_image_rebuilds_with_source_update() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    let data = dir.path().join("data");
    let server = Server::start_real(&data, &["--allow-local-paths", "--poll-interval", "2s"]);
    let owner = server.owner();
    // `base` is built by the service itself; `app` uses its layout as source.
    let base = declaration_of(&repo, "scratch", &["other"]);
    let (status, body) = call(&owner, "PUT", "/v1/repos/base", Some(&base));
    assert_eq!(status, 201, "{body}");
    let b = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(b["result"], "success", "{b}");
    let source = format!("oci:{}:latest", data.join("images/default/base").display());
    let (status, body) = call(
        &owner,
        "PUT",
        "/v1/repos/app",
        Some(&declaration_of(&repo, &source, &["hello"])),
    );
    assert_eq!(status, 201, "{body}");
    let first = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(first["result"], "success", "{first}");
    let source_before = b["digests"]["x86_64"].as_str().unwrap().to_owned();

    // The source moves: base gets a new annotation (a config build).
    let mut changed = base.clone();
    changed["annotations"] = json!({"org.example.rev": "2"});
    let (status, body) = call(&owner, "PUT", "/v1/repos/base", Some(&changed));
    assert_eq!(status, 200, "{body}");
    let b2 = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(b2["result"], "success", "{b2}");
    let source_after = b2["digests"]["x86_64"].as_str().unwrap().to_owned();
    assert_ne!(source_before, source_after);

    let report = wait_for_trigger(
        &server,
        &owner,
        "app",
        "source-update",
        Duration::from_secs(30),
    );
    assert_eq!(report["result"], "success", "{report}");
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "source"
                && c["from"] == source_before.as_str()
                && c["to"] == source_after.as_str()),
        "{report}"
    );
    let log = report["log"].as_str().unwrap();
    assert!(
        log.contains(&format!("source {source_before} → {source_after}")),
        "{log}"
    );
    assert_ne!(report["digests"]["x86_64"], first["digests"]["x86_64"]);
    // base's own build did not make base rebuild itself.
    assert!(reports(&owner, "base")
        .iter()
        .all(|r| r["trigger"] == "config"));
}

#[test]
fn a_poll_interval_of_zero_turns_the_watcher_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--poll-interval", "0"]);
    let (status, body) = call(&server.owner(), "GET", "/v1/watch", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["poll_interval"], "0s", "{body}");
}

#[test]
fn a_failing_repository_backs_off_and_does_not_hold_up_the_others() {
    use testkit::mirror::{Behaviour, Mirror};
    let dir = tempfile::tempdir().unwrap();
    let mut local = repository(&dir.path().join("local"));
    let remote = repository(&dir.path().join("remote"));
    let mirror = Mirror::start(remote.root(), Behaviour::Files);
    let data = dir.path().join("data");
    let server = Server::start_real(&data, &["--allow-local-paths", "--poll-interval", "1s"]);
    let owner = server.owner();
    let mut over_http = declaration_of(&remote, "scratch", &["other"]);
    over_http["repositories"] = json!([mirror.base]);
    for (name, decl) in [
        ("far", over_http),
        ("near", declaration_of(&local, "scratch", &["hello"])),
    ] {
        let (status, body) = call(&owner, "PUT", &format!("/v1/repos/{name}"), Some(&decl));
        assert_eq!(status, 201, "{body}");
        let report = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
        assert_eq!(report["result"], "success", "{report}");
    }
    let input = |c: &Client| -> Value {
        let (_, body) = call(c, "GET", "/v1/watch", None);
        body["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["input"].as_str().unwrap().contains(&mirror.base))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let start = Instant::now();
    while input(&owner)["fingerprint"].is_null() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The mirror breaks: the watcher reports it and waits longer and longer.
    mirror.set(remote.root(), Behaviour::Always(503));
    let start = Instant::now();
    let failing = loop {
        let i = input(&owner);
        if i["failures"].as_i64().unwrap_or(0) >= 2 {
            break i;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{i}\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        failing["last_error"].as_str().unwrap().contains("503"),
        "{failing}"
    );
    assert_ne!(failing["next_check_at"], failing["checked_at"], "{failing}");
    assert!(
        server.output().contains("failed 2 time(s) in a row"),
        "{}",
        server.output()
    );

    // Meanwhile the local repository's update goes through.
    release_hello_1_1(&mut local);
    successful_package_update(&server, &owner, "near");
    assert!(reports(&owner, "far")
        .iter()
        .all(|r| r["trigger"] == "config"));
}

#[test]
fn a_private_repository_is_watched_with_the_servers_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = repository(&dir.path().join("repo"));
    let mirror = Mirror::start(
        repo.root(),
        Behaviour::BasicAuth("watcher".into(), "s3cret".into()),
    );
    let data = dir.path().join("data");
    let server = Server::start_real_env(
        &data,
        &["--allow-local-paths", "--poll-interval", "2s"],
        &[("HTTP_AUTH", "basic:127.0.0.1:watcher:s3cret")],
    );
    let owner = server.owner();
    let mut decl = declaration_of(&repo, "scratch", &["hello"]);
    decl["repositories"] = json!([mirror.base]);
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let first = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(first["result"], "success", "{first}");

    // The watcher reads the index with the credentials builds use...
    let index = format!("index x86_64 {}", mirror.base);
    wait_fingerprint_change(&server, &owner, &index, &None);
    // ...so a new version there is a package-update build.
    release_hello_1_1(&mut repo);
    successful_package_update(&server, &owner, "app");
    let index_requests: Vec<String> = mirror
        .requests()
        .into_iter()
        .filter(|r| r.contains("APKINDEX"))
        .collect();
    assert!(index_requests.len() >= 3, "{index_requests:?}");
    assert!(
        index_requests
            .iter()
            .all(|r| r == "GET /x86_64/APKINDEX.tar.gz [auth]"),
        "the file builds read, with credentials: {index_requests:?}"
    );
    assert!(
        !server.output().contains("s3cret"),
        "the password is never printed"
    );
}
