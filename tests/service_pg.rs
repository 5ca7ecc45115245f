//! Scale-out on PostgreSQL: real `cargo-assemble serve` processes (fake
//! engine) sharing one real PostgreSQL (testkit's launcher: Debian's
//! `initdb` + `pg_ctl` in a temp directory). Every build runs exactly once
//! and both servers work; a server killed with -9 mid-build has its build
//! finished by another after the lease expires; the update watcher's
//! leadership (an advisory lock) moves to a surviving server.

mod service_support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use service_support::*;
use testkit::postgres::Postgres;

const WAIT: Duration = Duration::from_secs(120);

fn start(data: &Path, pg: &Postgres, config: &Path) -> Server {
    Server::start(
        data,
        &[
            "--database",
            &pg.url,
            "--config",
            config.to_str().unwrap(),
            "--poll-interval",
            "1s",
            "--workers",
            "2",
        ],
    )
}

/// True when `worker` (`host-PID-random/N`) belongs to `server`.
fn ran_on(worker: &str, server: &Server) -> bool {
    worker.contains(&format!("-{}-", server.pid()))
}

fn leads(server: &Server) -> bool {
    server
        .output()
        .matches("watch: this server now watches")
        .count()
        > 0
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_servers_share_one_postgres() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "lease = \"2s\"\n").unwrap();
    let a = start(&dir.path().join("a"), &pg, &config);
    let b = start(&dir.path().join("b"), &pg, &config);
    // One database: the first server made the owner token, the second
    // accepts it.
    let token = a.token("owner-token");
    assert!(!b.data.join("owner-token").exists());
    let (ca, cb) = (a.client(&token), b.client(&token));

    // 40 builds queued through both servers.
    let ids: Vec<String> = (0..40)
        .map(|i| {
            let c = if i % 2 == 0 { &ca } else { &cb };
            let decl = declaration(&["curl"], json!({"fake.sleep": "200ms"}));
            let (status, body) = call(c, "PUT", &format!("/v1/repos/r{i}"), Some(&decl));
            assert_eq!(status, 201, "{body}");
            body["build_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut on_a = 0;
    let mut on_b = 0;
    for id in &ids {
        let report = wait_final(&ca, id, WAIT);
        assert_eq!(report["result"], "success", "{report}");
        assert_eq!(report["attempts"], 1, "{report}");
        let log = report["log"].as_str().unwrap();
        assert_eq!(log.matches("fake engine: building").count(), 1, "{log}");
        let worker = report["worker"].as_str().unwrap();
        match (ran_on(worker, &a), ran_on(worker, &b)) {
            (true, false) => on_a += 1,
            (false, true) => on_b += 1,
            _ => panic!("worker {worker} is neither server"),
        }
    }
    let (_, all) = call(&cb, "GET", "/v1/buildreports?limit=1000", None);
    assert_eq!(
        all["reports"].as_array().unwrap().len(),
        40,
        "each built exactly once"
    );
    assert_eq!(on_a + on_b, 40);
    assert!(
        on_a > 0 && on_b > 0,
        "both servers worked: {on_a} on a, {on_b} on b"
    );

    // One watcher leader among the two.
    wait_until("a watcher leader", Duration::from_secs(10), || {
        leads(&a) || leads(&b)
    });
    assert!(!(leads(&a) && leads(&b)), "one leader at a time");

    // kill -9 the server running a slow build: the other finishes it once
    // the lease has expired.
    let slow = declaration(&["curl"], json!({"fake.sleep": "6s"}));
    let (status, body) = call(&ca, "PUT", "/v1/repos/slow", Some(&slow));
    assert_eq!(status, 201, "{body}");
    let id = body["build_id"].as_str().unwrap().to_owned();
    let running = wait_result(&ca, &id, &["running"], WAIT);
    let first_worker = running["worker"].as_str().unwrap().to_owned();
    let (mut dead, mut alive, alive_client) = if ran_on(&first_worker, &a) {
        (a, b, cb)
    } else {
        (b, a, ca)
    };
    dead.kill9();
    let report = wait_final(&alive_client, &id, WAIT);
    assert_eq!(report["result"], "success", "{report}");
    assert_eq!(report["attempts"], 2, "{report}");
    assert!(
        ran_on(report["worker"].as_str().unwrap(), &alive),
        "{report}"
    );
    assert!(
        report["log"].as_str().unwrap().contains("retrying"),
        "{report}"
    );

    // The survivor leads the watcher (it did, or took over); a newcomer
    // waits, and takes over when the leader dies.
    wait_until("the survivor leads", Duration::from_secs(15), || {
        leads(&alive)
    });
    let c = start(&dir.path().join("c"), &pg, &config);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!leads(&c), "{}", c.output());
    alive.kill9();
    wait_until("the newcomer takes over", Duration::from_secs(15), || {
        leads(&c)
    });
    drop(dead);
}
