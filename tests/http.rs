//! `search` and `resolve` read `http(s)://` repositories through the same
//! fetcher and cache as `build`, with credentials from `HTTP_AUTH` — and
//! never show them.

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use testkit::http::{Response, Server};
use testkit::repo::{Pkg, Repo};
use testkit::text;

const PASSWORD: &str = "s3cret-Pa55";

fn assemble(home: &Path, http_auth: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"));
    cmd.current_dir(home)
        .env("HOME", home)
        .env("CARGO_ASSEMBLE_CACHE", home.join("cache"))
        .env_remove("NETRC")
        .env_remove("HTTP_AUTH")
        .args(args);
    if let Some(auth) = http_auth {
        cmd.env("HTTP_AUTH", auth);
    }
    cmd.output().expect("run cargo-assemble")
}

/// Serves the files under `root` to requests with these Basic credentials.
fn file_server(root: &Path, user: &str, password: &str) -> Server {
    let root = root.to_owned();
    let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    Server::start(move |request| {
        if request.header("authorization") != Some(expected.as_str()) {
            return Response::bytes(401, b"unauthorized".to_vec())
                .with_header("WWW-Authenticate", "Basic realm=\"test\"");
        }
        let rel = request.path().trim_start_matches('/');
        let plain = !rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
        match plain.then(|| std::fs::read(root.join(rel)).ok()).flatten() {
            Some(body) => Response::bytes(200, body),
            None => Response::bytes(404, b"not found".to_vec()),
        }
    })
}

#[test]
fn search_and_resolve_over_http_with_http_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = Repo::new(&tmp.path().join("served"), "web");
    repo.add(Pkg::new("libweb", "1.0-r0").file("usr/lib/libweb", b"lib\n", 0o644));
    repo.add(Pkg::new("webtool", "2.1-r0").depend("libweb").file(
        "usr/bin/webtool",
        b"#!/bin/sh\n",
        0o755,
    ));
    repo.write_index();
    let server = file_server(repo.root(), "alice", PASSWORD);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key = repo.key_path();
    let auth = format!("basic:127.0.0.1:alice:{PASSWORD}");
    let common = |verb: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = verb.iter().map(|s| s.to_string()).collect();
        args.extend([
            "-X".into(),
            server.base.clone(),
            "--keyring".into(),
            key.display().to_string(),
            "--arch".into(),
            "x86_64".into(),
        ]);
        args
    };
    let run = |verb: &[&str], auth: Option<&str>| {
        let args = common(verb);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assemble(&home, auth, &args)
    };

    let o = run(&["search", "web"], Some(&auth));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "libweb 1.0-r0 - libweb for tests\nwebtool 2.1-r0 - webtool for tests\n"
    );

    let o = run(&["resolve", "webtool"], Some(&auth));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "+ libweb 1.0-r0\n+ webtool 2.1-r0\n"
    );
    let served = server.requests().len();
    assert!(served > 0);

    // Offline, the verified copy in the cache is used.
    let offline = run(&["resolve", "webtool", "--offline"], None);
    assert!(offline.status.success(), "{}", text(&offline));
    assert_eq!(
        server.requests().len(),
        served,
        "offline went to the network"
    );

    // Without credentials the server refuses, and the error says so.
    let o = run(&["search"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("401"), "{}", text(&o));

    // The password appears in no output and no file we wrote.
    for out in [&o, &offline] {
        assert!(!text(out).contains(PASSWORD));
    }
    let mut stack = vec![home.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !bytes
                        .windows(PASSWORD.len())
                        .any(|w| w == PASSWORD.as_bytes()),
                    "{} holds the password",
                    p.display()
                );
            }
        }
    }
}
