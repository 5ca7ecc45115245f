//! A package mirror for download tests, on the [`http`](crate::http)
//! server: it serves a directory (a repository made with
//! [`repo`](crate::repo)) and can misbehave the ways a hostile or broken
//! mirror does — error statuses, HTML instead of the file, bodies that never
//! end, one byte every few seconds, a redirect elsewhere, credentials
//! required. What it does can change while it runs ([`Mirror::set`]), at
//! the same address.
//!
//! ```no_run
//! # use testkit::mirror::{Behaviour, Mirror};
//! let mirror = Mirror::start(std::path::Path::new("repo"), Behaviour::Files);
//! let url = format!("{}/x86_64/APKINDEX.tar.gz", mirror.base);
//! ```

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::http::{Pace, Request, Response, Server};

/// How the mirror answers every request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Serve files under the root (404 for anything else).
    Files,
    /// Answer the first `n` requests with `status`, then serve files.
    FailFirst(usize, u16),
    /// Always answer with `status`.
    Always(u16),
    /// Serve files only to `Authorization: Basic base64(user:password)`;
    /// 401 otherwise.
    BasicAuth(String, String),
    /// `200 OK` with an HTML page (a captive portal, a misconfigured
    /// mirror), whatever was asked.
    Html,
    /// `200 OK` and a body of zeros that never ends (no length).
    Endless,
    /// `200 OK`, then the requested file one byte per interval.
    Drip(Duration),
    /// `302 Found` to the same path under another base URL.
    Redirect(String),
    /// Serve files, except paths ending with the given suffix, which get
    /// the given behaviour.
    Only(String, Box<Behaviour>),
}

/// A running mirror; stopped on drop.
pub struct Mirror {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    server: Server,
    serving: Arc<Mutex<(PathBuf, Behaviour)>>,
}

impl Mirror {
    /// Starts serving `root` on an ephemeral loopback port.
    pub fn start(root: &Path, behaviour: Behaviour) -> Mirror {
        let serving = Arc::new(Mutex::new((root.to_owned(), behaviour)));
        let hits = AtomicUsize::new(0);
        let state = serving.clone();
        let server = Server::start(move |r| {
            let n = hits.fetch_add(1, Ordering::SeqCst);
            let (root, behaviour) = state.lock().unwrap().clone();
            answer(&root, &behaviour, r, n)
        });
        Mirror {
            base: server.base.clone(),
            server,
            serving,
        }
    }

    /// From now on, serves `root` behaving as `behaviour`.
    pub fn set(&self, root: &Path, behaviour: Behaviour) {
        *self.serving.lock().unwrap() = (root.to_owned(), behaviour);
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.server.requests().len()
    }

    /// The requests so far as `GET /path`, with ` [auth]` appended when an
    /// `Authorization` header came along.
    pub fn requests(&self) -> Vec<String> {
        self.server
            .requests()
            .iter()
            .map(|r| {
                let auth = if r.header("authorization").is_some() {
                    " [auth]"
                } else {
                    ""
                };
                format!("{} {}{auth}", r.method, r.target)
            })
            .collect()
    }
}

fn answer(root: &Path, behaviour: &Behaviour, r: &Request, n: usize) -> Response {
    let file = || resolve(root, r.path()).and_then(|p| std::fs::read(p).ok());
    let serve_file = || match file() {
        Some(b) => Response::bytes(200, b),
        None => Response::bytes(404, b"not found".to_vec()),
    };
    match behaviour {
        Behaviour::Files => serve_file(),
        Behaviour::FailFirst(k, status) if n < *k => Response::bytes(*status, b"no".to_vec()),
        Behaviour::FailFirst(..) => serve_file(),
        Behaviour::Always(status) => Response::bytes(*status, b"no".to_vec()),
        Behaviour::BasicAuth(user, password) => {
            let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            if r.header("authorization") == Some(expected.as_str()) {
                serve_file()
            } else {
                Response::bytes(401, b"who are you?".to_vec())
                    .with_header("WWW-Authenticate", "Basic realm=\"test\"")
            }
        }
        Behaviour::Html => Response::bytes(
            200,
            b"<!DOCTYPE html><html><body>\x1b[31mPlease log in to the Wi-Fi</body></html>".to_vec(),
        )
        .with_header("Content-Type", "text/html"),
        Behaviour::Endless => Response::bytes(200, Vec::new()).paced(Pace::Endless),
        Behaviour::Drip(interval) => {
            let body = file().unwrap_or_else(|| vec![0u8; 1 << 20]);
            Response::bytes(200, body).paced(Pace::Drip(*interval))
        }
        Behaviour::Redirect(to) => {
            Response::bytes(302, Vec::new()).with_header("Location", &format!("{to}{}", r.target))
        }
        Behaviour::Only(suffix, inner) => {
            if r.path().ends_with(suffix.as_str()) {
                answer(root, inner, r, n)
            } else {
                serve_file()
            }
        }
    }
}

fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}
