//! A small HTTP/1.1 server for tests that need a fake web service: loopback
//! only, one request per connection (each on its own thread), requests
//! recorded, bounded in request size, request count and lifetime. What it
//! answers is a closure's choice — including misbehaving: a body sent one
//! byte at a time or one that never ends ([`Pace`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A request as received.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What to answer.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How the body is sent.
    pub pace: Pace,
}

/// How a response body is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// All at once, with its length (the default).
    #[default]
    AtOnce,
    /// With its length, one byte per interval: a stalling server.
    Drip(Duration),
    /// Without a length, the body and then zeros until the client or the
    /// server stops: a body that never ends.
    Endless,
}

impl Response {
    /// A JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap(),
            pace: Pace::AtOnce,
        }
    }

    /// Raw bytes.
    pub fn bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
            pace: Pace::AtOnce,
        }
    }

    /// Sends the body at `pace`.
    pub fn paced(mut self, pace: Pace) -> Response {
        self.pace = pace;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A running server; stopped and joined on drop.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const MAX_REQUESTS: usize = 2000;
const MAX_LIFETIME: Duration = Duration::from_secs(600);
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

impl Server {
    /// Starts answering with `handler` on an ephemeral loopback port.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let handler: Arc<Handler> = Arc::new(handler);
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut connections = Vec::new();
            while !s.load(Ordering::SeqCst)
                && started.elapsed() < MAX_LIFETIME
                && connections.len() < MAX_REQUESTS
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (h, l, s) = (handler.clone(), l.clone(), s.clone());
                        connections.push(std::thread::spawn(move || {
                            let _ = serve(stream, &*h, &l, &s);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            s.store(true, Ordering::SeqCst);
            for c in connections {
                let _ = c.join();
            }
        });
        Server {
            base,
            log,
            stop,
            handle: Some(handle),
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
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
    handler: &Handler,
    log: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 || data.len() > MAX_HEAD {
            return Ok(());
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("/").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return respond(
            &mut stream,
            &Response::bytes(413, b"too large".to_vec()),
            stop,
        );
    }
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    let request = Request {
        method,
        target,
        headers,
        body,
    };
    let response = handler(&request);
    log.lock().unwrap().push(request);
    respond(&mut stream, &response, stop)
}

fn respond(stream: &mut TcpStream, r: &Response, stop: &AtomicBool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Status\r\nConnection: close\r\n", r.status);
    if r.pace != Pace::Endless {
        head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    match r.pace {
        Pace::AtOnce => stream.write_all(&r.body)?,
        Pace::Drip(interval) => {
            for b in &r.body {
                stream.write_all(std::slice::from_ref(b))?;
                stream.flush()?;
                let until = Instant::now() + interval;
                while Instant::now() < until {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    let left = until.saturating_duration_since(Instant::now());
                    std::thread::sleep(left.min(Duration::from_millis(20)));
                }
            }
        }
        Pace::Endless => {
            stream.write_all(&r.body)?;
            let zeros = [0u8; 64 * 1024];
            while !stop.load(Ordering::SeqCst) {
                stream.write_all(&zeros)?;
            }
        }
    }
    stream.flush()
}
