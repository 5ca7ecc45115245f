//! The build queue of a real server process: coalescing, one running build
//! per repo, lease expiry after kill -9, timeouts, graceful shutdown, and a
//! bounded load of concurrent clients.

mod service_support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use service_support::*;

const WAIT: Duration = Duration::from_secs(60);

/// A data directory and a `server.toml`, to start (and restart) a server with.
struct Setup {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    config: String,
}

impl Setup {
    fn new(settings: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, settings).unwrap();
        Setup {
            data: dir.path().join("data"),
            config: path.display().to_string(),
            _dir: dir,
        }
    }

    fn start(&self) -> Server {
        Server::start(&self.data, &["--config", &self.config])
    }
}

/// Queues a build of `app` that takes `sleep` and waits until it runs.
fn running_build(owner: &Client, sleep: &str) -> String {
    let id = put(
        owner,
        "app",
        &declaration(&["curl"], json!({ "fake.sleep": sleep })),
    );
    wait_result(owner, &id, &["running"], WAIT);
    id
}

fn put(c: &Client, repo: &str, decl: &Value) -> String {
    let (status, body) = call(c, "PUT", &format!("/v1/repos/{repo}"), Some(decl));
    assert!(status == 200 || status == 201, "{status} {body}");
    body["build_id"].as_str().unwrap().to_owned()
}

fn millis(report: &Value, key: &str) -> u128 {
    let t = humantime::parse_rfc3339(report[key].as_str().unwrap()).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn newer_builds_coalesce_and_a_repo_never_runs_two_builds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--workers", "4"]);
    let owner = server.owner();
    let slow = |n: u32| declaration(&["curl"], json!({"fake.sleep": "3s", "n": n.to_string()}));
    let first = put(&owner, "a", &slow(1));
    wait_result(&owner, &first, &["running"], WAIT);
    // While `a` runs: three more requests fold into one queued build.
    let second = put(&owner, "a", &slow(2));
    assert_eq!(put(&owner, "a", &slow(3)), second);
    let (status, body) = call(&owner, "POST", "/v1/repos/a/builds", None);
    assert_eq!(
        (status, body["build_id"].as_str()),
        (202, Some(second.as_str()))
    );
    // Another repo is not held up by `a`.
    let other = put(&owner, "b", &declaration(&["curl"], json!({})));
    let b = wait_final(&owner, &other, WAIT);
    let (_, queued) = call(&owner, "GET", &format!("/v1/buildreports/{second}"), None);
    assert_eq!(
        queued["result"], "queued",
        "b finished while a's second build waited"
    );
    assert_eq!(b["result"], "success");

    let one = wait_final(&owner, &first, WAIT);
    let two = wait_final(&owner, &second, WAIT);
    assert_eq!(
        (one["result"].as_str(), two["result"].as_str()),
        (Some("success"), Some("success"))
    );
    assert!(
        millis(&two, "started_at") >= millis(&one, "completed_at"),
        "{one}\n{two}"
    );
    assert_eq!(
        two["config"]["annotations"]["n"], "3",
        "the coalesced build builds the newest declaration"
    );
    assert_eq!(two["trigger"], "manual");
    let (_, list) = call(&owner, "GET", "/v1/buildreports?repo=a", None);
    assert_eq!(list["reports"].as_array().unwrap().len(), 2);
}

#[test]
fn a_killed_server_s_build_is_retried_after_its_lease_expires() {
    let setup = Setup::new("lease = \"2s\"\n");
    let mut server = setup.start();
    let id = running_build(&server.owner(), "3s");
    std::thread::sleep(Duration::from_millis(700));
    server.kill9();
    assert_eq!(integrity_check(&setup.data), "ok");

    let restarted = Instant::now();
    let server = setup.start();
    let owner = server.owner();
    let report = wait_final(&owner, &id, WAIT);
    assert_eq!(report["result"], "success", "{report}");
    assert_eq!(report["attempts"], 2);
    let log = report["log"].as_str().unwrap();
    assert!(
        log.contains("--- attempt 2: the previous worker stopped renewing its lease"),
        "{log}"
    );
    assert_eq!(log.matches("fake engine: building app").count(), 2, "{log}");
    // Retried only once the lease (2 s) had run out, not at once.
    assert!(
        restarted.elapsed() >= Duration::from_secs(3),
        "{:?}",
        restarted.elapsed()
    );
    drop(server);
    assert_eq!(integrity_check(&setup.data), "ok");
}

#[test]
fn graceful_shutdown_lets_a_running_build_finish() {
    let setup = Setup::new("");
    let mut server = setup.start();
    let id = running_build(&server.owner(), "1500ms");
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", server.output());
    drop(server);
    let server = setup.start();
    let (_, report) = call(
        &server.owner(),
        "GET",
        &format!("/v1/buildreports/{id}"),
        None,
    );
    assert_eq!(
        (report["result"].as_str(), report["attempts"].as_i64()),
        (Some("success"), Some(1)),
        "{report}"
    );
    assert_eq!(integrity_check(&setup.data), "ok");
}

#[test]
fn graceful_shutdown_hands_back_a_build_that_outlives_the_grace_period() {
    let setup = Setup::new("shutdown_grace = \"500ms\"\n");
    let mut server = setup.start();
    let id = running_build(&server.owner(), "6s");
    let started = Instant::now();
    assert!(server.terminate(Duration::from_secs(30)).success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not wait for the whole build"
    );
    drop(server);

    let server = setup.start();
    let owner = server.owner();
    let report = wait_final(&owner, &id, WAIT);
    assert_eq!(report["result"], "success", "{report}");
    assert_eq!(report["attempts"], 1, "a hand-back is not a failed attempt");
    assert!(report["log"]
        .as_str()
        .unwrap()
        .contains("handed back to the queue"));
}

#[test]
fn a_build_past_the_timeout_fails_with_the_reason() {
    let setup = Setup::new("build_timeout = \"1s\"\n");
    let server = setup.start();
    let owner = server.owner();
    let id = running_build(&owner, "20s");
    let report = wait_final(&owner, &id, WAIT);
    assert_eq!(report["result"], "failure");
    assert_eq!(
        report["error"],
        "timed out after 1s (the server's build_timeout)"
    );
    assert!(report["log"]
        .as_str()
        .unwrap()
        .contains("build failed: timed out"));
    // The repo is free again: the next build runs.
    let next = put(&owner, "app", &declaration(&["curl"], json!({})));
    assert_eq!(wait_final(&owner, &next, WAIT)["result"], "success");
}

#[test]
fn fifty_clients_lose_and_duplicate_no_build() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--workers", "4"]);
    let (gets, puts) = load(&server, 50, 20);
    assert_eq!((gets.len(), puts.len()), (500, 500));
    assert_eq!(integrity_check(dir.path()), "ok");
}
