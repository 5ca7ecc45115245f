//! A real `cargo-assemble serve` process for the service tests: started on
//! a free loopback port with a temp data directory, with the fake engine
//! (tests of the service itself) or the real one, killed on drop.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use assemble_service::client::Client;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_cargo-assemble");

pub struct Server {
    child: Child,
    pub url: String,
    pub data: PathBuf,
    pub output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts a server on `data` with the fake engine and `extra` arguments.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::launch(data, &[&["--engine", "fake"], extra].concat(), &[])
    }

    /// Starts a server on `data` with the real engine and `extra` arguments.
    pub fn start_real(data: &Path, extra: &[&str]) -> Server {
        Server::launch(data, extra, &[])
    }

    /// Like [`Server::start_real`], with `env` added to the environment.
    pub fn start_real_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(data, extra, env)
    }

    fn launch(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cargo-assemble serve");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let (Some(tx), Some(url)) = (&tx, line.strip_prefix("listening on ")) {
                        let _ = tx.send(url.to_owned());
                    }
                    output.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not start; its output:\n{}",
                    output.lock().unwrap()
                );
            }
        };
        Server {
            child,
            url,
            data: data.to_owned(),
            output,
        }
    }

    pub fn token(&self, file: &str) -> String {
        std::fs::read_to_string(self.data.join(file))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// A client with the default organization's owner token.
    pub fn owner(&self) -> Client {
        self.client(&self.token("owner-token"))
    }

    pub fn client(&self, token: &str) -> Client {
        Client::new(&self.url, Some(token.to_owned())).unwrap()
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, None).unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits (at most `limit`) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "the server did not stop within {limit:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `path` and returns status and JSON, panicking on transport errors.
pub fn call(c: &Client, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    c.raw(method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Creates a token of `role` with the owner client and returns its secret.
pub fn make_token(owner: &Client, name: &str, role: &str) -> String {
    let (status, body) = call(
        owner,
        "POST",
        "/v1/tokens",
        Some(&serde_json::json!({"name": name, "role": role})),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Polls build `id` until it reaches a final result (at most `limit`).
pub fn wait_final(c: &Client, id: &str, limit: Duration) -> Value {
    wait_result(c, id, &["success", "failure"], limit)
}

/// Polls build `id` until its result is one of `results`.
pub fn wait_result(c: &Client, id: &str, results: &[&str], limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (status, report) = call(c, "GET", &format!("/v1/buildreports/{id}"), None);
        assert_eq!(status, 200, "{report}");
        if results.contains(&report["result"].as_str().unwrap_or("")) {
            return report;
        }
        assert!(
            start.elapsed() < limit,
            "build {id} still {} after {limit:?}",
            report["result"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A declaration for the fake engine.
pub fn declaration(packages: &[&str], annotations: Value) -> Value {
    serde_json::json!({"source": "scratch", "packages": packages, "annotations": annotations})
}

/// Runs `PRAGMA integrity_check` on the server's database (the server may
/// be stopped or running: WAL lets a reader in).
pub fn integrity_check(data: &Path) -> String {
    let url = assemble_service::store::Store::sqlite_url(&data.join("assemble.db"));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = assemble_service::store::Store::open(&url).await.unwrap();
        let r = store.integrity_check().await.unwrap();
        store.close().await;
        r
    })
}

/// The audit records of `org`: (actor, action, target, outcome).
pub fn audit_log(data: &Path, org: &str) -> Vec<(String, String, String, String)> {
    let url = assemble_service::store::Store::sqlite_url(&data.join("assemble.db"));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = assemble_service::store::Store::open(&url).await.unwrap();
        let r = store.audit_log(org).await.unwrap();
        store.close().await;
        r
    })
}

/// 50 clients × 20 requests (GET, PUT, dry-run PUT) against 10 repos.
/// Checks: no 5xx, every build id answered exists and succeeds exactly once,
/// no build nobody asked for, each repo's last build built its stored
/// declaration. Returns the GET and the PUT latencies.
pub fn load(server: &Server, clients: usize, requests: usize) -> (Vec<Duration>, Vec<Duration>) {
    let token = server.token("owner-token");
    let repos = 10;
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let client = server.client(&token);
                s.spawn(move || {
                    let mut gets = Vec::new();
                    let mut puts = Vec::new();
                    let mut builds = Vec::new();
                    for i in 0..requests {
                        let repo = format!("load-{}", (c + i) % repos);
                        let decl = declaration(&["curl"], json!({"writer": format!("{c}-{i}")}));
                        let (method, path, body) = match i % 4 {
                            0 => ("PUT", format!("/v1/repos/{repo}"), Some(&decl)),
                            1 => ("PUT", format!("/v1/repos/{repo}?dry_run=true"), Some(&decl)),
                            2 => ("GET", format!("/v1/repos/{repo}"), None),
                            _ => ("GET", format!("/v1/buildreports?repo={repo}"), None),
                        };
                        let start = Instant::now();
                        let (status, answer) = call(&client, method, &path, body);
                        let took = start.elapsed();
                        assert!(status < 500, "{method} {path}: {status} {answer}");
                        match (method, i % 4) {
                            ("GET", 2) => {
                                assert!(status == 200 || status == 404, "{status} {answer}")
                            }
                            ("GET", _) => assert_eq!(status, 200, "{answer}"),
                            _ => assert!(status == 200 || status == 201, "{status} {answer}"),
                        }
                        if method == "GET" {
                            gets.push(took);
                        } else {
                            puts.push(took);
                            if let Some(id) = answer["build_id"].as_str() {
                                builds.push(id.to_owned());
                            }
                        }
                    }
                    (gets, puts, builds)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let owner = server.owner();
    let (mut gets, mut puts, mut answered) = (Vec::new(), Vec::new(), BTreeSet::new());
    for (g, p, b) in results {
        gets.extend(g);
        puts.extend(p);
        answered.extend(b);
    }
    for id in &answered {
        let report = wait_final(&owner, id, Duration::from_secs(120));
        assert_eq!(report["result"], "success", "{report}");
        assert_eq!(report["attempts"], 1, "{report}");
    }
    let (_, list) = call(&owner, "GET", "/v1/buildreports?limit=10000", None);
    let reports = list["reports"].as_array().unwrap();
    let ids: BTreeSet<_> = reports
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids, answered,
        "every build is one somebody was answered, and each exists once"
    );
    assert_eq!(ids.len(), reports.len());
    let mut newest: BTreeMap<&str, &Value> = BTreeMap::new();
    for r in reports.iter().rev() {
        newest.insert(r["repo"].as_str().unwrap(), r);
    }
    for (repo, report) in newest {
        let (_, stored) = call(&owner, "GET", &format!("/v1/repos/{repo}"), None);
        assert_eq!(
            report["config"], stored["config"],
            "{repo}: the last build built the stored declaration"
        );
    }
    (gets, puts)
}

/// The manifest digest skopeo reads for `oci:LAYOUT:TAG` (SHA-256 of the
/// raw manifest): what a puller of that tag gets.
pub fn skopeo_digest(layout: &Path, tag: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .output()
        .unwrap_or_else(|e| panic!("skopeo is needed by this test (apt-get install skopeo): {e}"));
    assert!(
        out.status.success(),
        "skopeo inspect {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(&out.stdout))
}
