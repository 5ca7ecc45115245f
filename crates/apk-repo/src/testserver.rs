//! A tiny HTTP/1.1 server for tests: loopback only, one request per
//! connection, bounded in requests and lifetime.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// How the server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Serve files under the root.
    Files,
    /// Answer the first `n` requests with `status`, then serve files.
    FailFirst(usize, u16),
    /// Always answer with `status`.
    Always(u16),
    /// Serve files only with `Authorization: Basic base64(user:password)`.
    BasicAuth(String, String),
}

/// A running server; stopped and joined on drop.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const MAX_REQUESTS: usize = 200;
const MAX_LIFETIME: Duration = Duration::from_secs(60);

impl Server {
    /// Starts serving `root` on an ephemeral loopback port.
    pub fn start(root: &Path, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s, root) = (hits.clone(), stop.clone(), root.to_owned());
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::SeqCst)
                && started.elapsed() < MAX_LIFETIME
                && h.load(Ordering::SeqCst) < MAX_REQUESTS
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve(stream, &root, &mode, &h);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server {
            base,
            hits,
            stop,
            handle: Some(handle),
        }
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
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

fn serve(
    mut stream: TcpStream,
    root: &Path,
    mode: &Mode,
    hits: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
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
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let auth = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_owned());
    let n = hits.fetch_add(1, Ordering::SeqCst);

    let status = match mode {
        Mode::Files => None,
        Mode::FailFirst(k, status) => (n < *k).then_some(*status),
        Mode::Always(status) => Some(*status),
        Mode::BasicAuth(user, password) => {
            let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            (auth.as_deref() != Some(expected.as_str())).then_some(401)
        }
    };
    let body = match status {
        Some(s) => return respond(&mut stream, s, b"no"),
        None => resolve(root, &target).and_then(|p| std::fs::read(p).ok()),
    };
    match body {
        Some(b) => respond(&mut stream, 200, &b),
        None => respond(&mut stream, 404, b"not found"),
    }
}

fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let rel = Path::new(target.trim_start_matches('/'));
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
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}
