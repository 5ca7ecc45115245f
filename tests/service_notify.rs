//! Build notifications end to end: a real `cargo-assemble serve` (real
//! engine, `--poll-interval 2s`) posts CloudEvents to a loopback webhook
//! receiver, signed with the server's secret; a rebuild that fails after
//! the fact (the repository now only has a version with an unsatisfiable
//! dependency) reaches the receiver as `build.failed`, retried when the
//! receiver first fails, and moves no tag.

mod common;
mod service_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use service_support::*;
use sha2::{Digest, Sha256};
use testkit::http::{Request, Response};
use testkit::repo::{Pkg, Repo};

const WAIT: Duration = Duration::from_secs(120);

/// HMAC-SHA256 (RFC 2104), written out so that the test does not trust the
/// server's own implementation.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("sha256={outer:x}")
}

/// The events received so far (every POST), with their parsed bodies.
fn events(receiver: &testkit::http::Server) -> Vec<(Request, Value)> {
    receiver
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (r, body)
        })
        .collect()
}

fn wait_event(
    receiver: &testkit::http::Server,
    server: &Server,
    kind: &str,
    count: usize,
) -> Vec<(Request, Value)> {
    let start = Instant::now();
    loop {
        let found: Vec<_> = events(receiver)
            .into_iter()
            .filter(|(_, e)| e["type"] == kind)
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {kind} event; server output:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_failed_rebuild_is_delivered_signed_and_moves_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = Repo::new(&dir.path().join("repo"), "notify");
    repo.add(Pkg::new("hello", "1.0-r0").file("usr/bin/hello", b"#!/bin/sh\n", 0o755));
    repo.write_index();
    // The receiver refuses the first POST: the server must retry.
    let posts = Arc::new(AtomicUsize::new(0));
    let seen = posts.clone();
    let receiver = testkit::http::Server::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Response::json(503, &json!({"error": "busy"}))
        } else {
            Response::json(200, &json!({}))
        }
    });
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "allow_local_paths = true\nnotify_allow_local = true\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start_real(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--poll-interval",
            "2s",
        ],
    );
    let secret = std::fs::read(data.join("webhook-secret")).unwrap();
    let mode = std::fs::metadata(data.join("webhook-secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let owner = server.owner();
    let hook = format!("{}/hooks/builds", receiver.base);
    let decl = json!({
        "source": "scratch",
        "architectures": ["x86_64"],
        "packages": ["hello"],
        "repositories": [repo.root().display().to_string()],
        "keyring": [repo.key_path()],
        "notify": [hook],
    });
    // A notify entry that is no URL is refused with the rest.
    let mut bad = decl.clone();
    bad["notify"] = json!(["not a url"]);
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&bad));
    assert_eq!(
        (status, body["errors"][0]["path"].as_str()),
        (400, Some("/notify/0")),
        "{body}"
    );

    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let first = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(first["result"], "success", "{first}");
    let good = first["digests"]["x86_64"].as_str().unwrap().to_owned();
    // Refused once (503), delivered again after the backoff.
    let ok = wait_event(&receiver, &server, "dev.cargo-assemble.build.succeeded", 2);
    assert_eq!(ok[0].0.body, ok[1].0.body, "the same event, retried");
    assert_eq!(ok[1].1["data"]["build_id"], first["id"]);

    // Upstream replaces hello with a version that cannot be installed.
    repo.remove("hello");
    repo.add(Pkg::new("hello", "1.1-r0").depend("libmissing").file(
        "usr/bin/hello",
        b"#!/bin/sh\n",
        0o755,
    ));
    repo.write_index();
    let (request, event) = wait_event(&receiver, &server, "dev.cargo-assemble.build.failed", 1)
        .pop()
        .unwrap();
    assert_eq!(
        request.header("content-type"),
        Some("application/cloudevents+json")
    );
    let signature = request.header("x-cargo-assemble-signature").unwrap();
    assert_eq!(
        signature,
        hmac_sha256(&secret, &request.body),
        "a valid HMAC"
    );
    assert_ne!(hmac_sha256(b"another key", &request.body), signature);
    assert_eq!(event["specversion"], "1.0");
    let data = &event["data"];
    assert_eq!(data["repo"], "app");
    assert_eq!(data["trigger"], "package-update");
    assert_eq!(data["result"], "failure");
    assert!(
        data["error"].as_str().unwrap().contains("libmissing"),
        "{event}"
    );
    assert!(
        data["log_tail"].as_str().unwrap().contains("build failed"),
        "{event}"
    );
    let failed_id = data["build_id"].as_str().unwrap().to_owned();
    let failed = wait_final(&owner, &failed_id, WAIT);
    assert_eq!(failed["result"], "failure");

    // No tag moved.
    let layout = server.data.join("images/default/app");
    assert_eq!(skopeo_digest(&layout, "latest"), good);
    let (_, view) = call(&owner, "GET", "/v1/repos/app", None);
    assert_eq!(view["digests"]["x86_64"], good.as_str());

    // People without webhooks: `builds list --failed`.
    let out = Command::new(BIN)
        .args([
            "builds",
            "list",
            "--failed",
            "--server",
            &server.url,
            "--token-file",
        ])
        .arg(server.data.join("owner-token"))
        .output()
        .unwrap();
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&failed_id), "{text}");
    assert!(!text.contains(first["id"].as_str().unwrap()), "{text}");
    assert!(text.contains("libmissing"), "{text}");
}
