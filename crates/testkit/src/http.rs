//! A static file server on loopback for tests that fetch over `http://`:
//! optional Basic authentication, a request counter, stopped and joined
//! on drop. One request per connection; bounded in lifetime.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A running server.
pub struct FileServer {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const MAX_LIFETIME: Duration = Duration::from_secs(120);

impl FileServer {
    /// Serves the files under `root`; with `basic = Some((user, password))`
    /// every request must carry those credentials (else 401).
    pub fn start(root: &Path, basic: Option<(&str, &str)>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let expected = basic.map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))));
        let (h, s, root) = (hits.clone(), stop.clone(), root.to_owned());
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::SeqCst) && started.elapsed() < MAX_LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = serve(stream, &root, expected.as_deref());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FileServer {
            base,
            hits,
            stop,
            handle: Some(handle),
        }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(mut stream: TcpStream, root: &Path, expected: Option<&str>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
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
    if expected.is_some_and(|e| auth.as_deref() != Some(e)) {
        return respond(&mut stream, "401 Unauthorized", b"unauthorized");
    }
    match file(root, &target).and_then(|p| std::fs::read(p).ok()) {
        Some(body) => respond(&mut stream, "200 OK", &body),
        None => respond(&mut stream, "404 Not Found", b"not found"),
    }
}

fn file(root: &Path, target: &str) -> Option<PathBuf> {
    let rel = Path::new(target.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    let auth = if status.starts_with("401") {
        "WWW-Authenticate: Basic realm=\"test\"\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{auth}\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}
