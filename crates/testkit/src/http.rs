//! A small HTTP/1.1 server on a loopback port, for tests of downloads: it
//! serves a directory and can misbehave the ways a hostile or broken server
//! does (error statuses, HTML instead of the file, bodies that never end,
//! one byte every few seconds, wrong credentials). Each connection gets its
//! own thread; everything stops when the [`Server`] is dropped.
//!
//! ```no_run
//! # use testkit::http::{Behaviour, Server};
//! let server = Server::start(std::path::Path::new("repo"), Behaviour::Files);
//! let url = format!("{}/x86_64/APKINDEX.tar.gz", server.base);
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server answers every request.
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
    /// `200 OK`, then the requested file one byte per `interval`.
    Drip(Duration),
    /// `302 Found` to the same path under another base URL.
    Redirect(String),
    /// Serve files, except paths ending with the given suffix, which get
    /// the given behaviour.
    Only(String, Box<Behaviour>),
}

/// A running server; stopped and joined on drop.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// Upper bound on a server's life, so a forgotten one cannot hang a test run.
const MAX_LIFETIME: Duration = Duration::from_secs(600);

impl Server {
    /// Starts serving `root` on an ephemeral loopback port.
    pub fn start(root: &Path, behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            serving: Mutex::new((root.to_owned(), behaviour)),
            hits: hits.clone(),
            requests: requests.clone(),
            stop: stop.clone(),
        });
        let server_side = shared.clone();
        let handle = std::thread::spawn(move || {
            let shared = server_side;
            let started = Instant::now();
            let mut workers = Vec::new();
            while !shared.stop.load(Ordering::SeqCst) && started.elapsed() < MAX_LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let s = shared.clone();
                        workers.push(std::thread::spawn(move || {
                            let _ = s.serve(stream);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            shared.stop.store(true, Ordering::SeqCst);
            for w in workers {
                let _ = w.join();
            }
        });
        Server {
            base,
            shared,
            hits,
            requests,
            stop,
            handle: Some(handle),
        }
    }

    /// From now on, serves `root` behaving as `behaviour` (same address:
    /// a mirror that changed).
    pub fn set(&self, root: &Path, behaviour: Behaviour) {
        *self.shared.serving.lock().unwrap() = (root.to_owned(), behaviour);
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The request lines received so far (`GET /path HTTP/1.1`), with the
    /// `Authorization` header's presence noted (` [auth]`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Shared {
    serving: Mutex<(PathBuf, Behaviour)>,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn serve(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf)?;
            if n == 0 || head.len() > 16 * 1024 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let target = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let auth = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.trim().to_owned());
        let n = self.hits.fetch_add(1, Ordering::SeqCst);
        let note = if auth.is_some() { " [auth]" } else { "" };
        self.requests
            .lock()
            .unwrap()
            .push(format!("{request_line}{note}"));
        let (root, behaviour) = self.serving.lock().unwrap().clone();
        self.answer(&mut stream, &root, &behaviour, &target, auth.as_deref(), n)
    }

    fn answer(
        &self,
        stream: &mut TcpStream,
        root: &Path,
        behaviour: &Behaviour,
        target: &str,
        auth: Option<&str>,
        n: usize,
    ) -> std::io::Result<()> {
        let file = || resolve(root, target).and_then(|p| std::fs::read(p).ok());
        let serve_file = |stream: &mut TcpStream| match file() {
            Some(b) => respond(stream, 200, &b),
            None => respond(stream, 404, b"not found"),
        };
        match behaviour {
            Behaviour::Files => serve_file(stream),
            Behaviour::FailFirst(k, status) if n < *k => respond(stream, *status, b"no"),
            Behaviour::FailFirst(..) => serve_file(stream),
            Behaviour::Always(status) => respond(stream, *status, b"no"),
            Behaviour::BasicAuth(user, password) => {
                let expected = format!("Basic {}", base64(&format!("{user}:{password}")));
                if auth == Some(expected.as_str()) {
                    serve_file(stream)
                } else {
                    respond(stream, 401, b"who are you?")
                }
            }
            Behaviour::Html => respond(
                stream,
                200,
                b"<!DOCTYPE html><html><body>\x1b[31mPlease log in to the Wi-Fi</body></html>",
            ),
            Behaviour::Endless => {
                write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
                let zeros = [0u8; 64 * 1024];
                while !self.stop.load(Ordering::SeqCst) {
                    stream.write_all(&zeros)?;
                }
                Ok(())
            }
            Behaviour::Drip(interval) => {
                let body = file().unwrap_or_else(|| vec![0u8; 1 << 20]);
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )?;
                for b in body {
                    stream.write_all(&[b])?;
                    stream.flush()?;
                    let until = Instant::now() + *interval;
                    while Instant::now() < until {
                        if self.stop.load(Ordering::SeqCst) {
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Ok(())
            }
            Behaviour::Redirect(to) => {
                write!(
                    stream,
                    "HTTP/1.1 302 Found\r\nLocation: {to}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                stream.flush()
            }
            Behaviour::Only(suffix, inner) => {
                if target.ends_with(suffix.as_str()) {
                    self.answer(stream, root, inner, target, auth, n)
                } else {
                    serve_file(stream)
                }
            }
        }
    }
}

fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split('?').next().unwrap_or_default();
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let extra = if status == 401 {
        "WWW-Authenticate: Basic realm=\"test\"\r\n"
    } else {
        ""
    };
    let kind = if body.starts_with(b"<!DOCTYPE") {
        "Content-Type: text/html\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}{kind}\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

/// Standard base64 with padding (enough for a Basic credential).
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_credentials() {
        assert_eq!(base64("alice:pa:ss w0rd"), "YWxpY2U6cGE6c3MgdzByZA==");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(base64("abc"), "YWJj");
    }
}
