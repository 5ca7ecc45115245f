//! A real headless browser for end-to-end tests: Debian's `chromedriver`
//! started on a free loopback port, driving `/usr/bin/chromium` with a fresh
//! profile, through a small W3C WebDriver client of our own.
//!
//! Why our own client: the tests need a dozen commands (navigate, find,
//! click, type, read text and attributes, run a script, cookies,
//! screenshots), which are one JSON request each. `fantoccini` and
//! `thirtyfour` bring an async stack and the `webdriver` crate (with ICU
//! segmentation, `time`, `cookie`, …) to compile; this module needs only
//! the blocking `reqwest` and `serde_json` the workspace already builds.
//!
//! Everything is killed on drop: the WebDriver session (which closes
//! Chromium), then `chromedriver`. Screenshots go to a directory the test
//! chooses (under `target/`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The browser binary Debian's `chromium` package installs.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The W3C key under which an element reference travels.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Special keys for [`Element::send_keys`] (WebDriver's code points).
pub mod keys {
    /// Enter.
    pub const ENTER: &str = "\u{E007}";
    /// Tab.
    pub const TAB: &str = "\u{E004}";
    /// Escape.
    pub const ESCAPE: &str = "\u{E00C}";
    /// Arrow down.
    pub const DOWN: &str = "\u{E015}";
    /// Arrow up.
    pub const UP: &str = "\u{E013}";
}

/// A cookie as the browser holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Path.
    pub path: String,
    /// Not readable from scripts.
    pub http_only: bool,
    /// Sent over TLS only.
    pub secure: bool,
    /// `Strict`, `Lax` or `None`.
    pub same_site: String,
}

/// A WebDriver command that failed.
#[derive(Debug)]
pub struct WebDriverError {
    /// The W3C error code (`no such element`, …) or a transport failure.
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// Headless Chromium under `chromedriver`; both stopped on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
    log: PathBuf,
    screenshots: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium (1280×900) with a fresh
    /// profile; screenshots are written to `screenshots`. Panics naming the
    /// program when `chromedriver` or `chromium` is missing.
    pub fn start(screenshots: &Path) -> Browser {
        if !Path::new(CHROMIUM).exists() {
            panic!(
                "this test needs {CHROMIUM}, which is not installed \
                 (on Debian: apt-get install chromium chromium-driver; .ci/run installs them)"
            );
        }
        crate::require("chromedriver");
        std::fs::create_dir_all(screenshots)
            .unwrap_or_else(|e| panic!("creating {}: {e}", screenshots.display()));
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let log = profile.path().join("chromedriver.log");
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(90))
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http,
            log,
            screenshots: screenshots.to_owned(),
            _profile: profile,
        };
        browser.wait_ready();
        let user_data = browser._profile.path().join("chromium");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", user_data.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let session = browser
            .raw("POST", "/session", Some(caps))
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start chromium: {e}{}",
                    browser.driver_log()
                )
            });
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {session}"))
            .to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(v) = self.raw("GET", "/status", None) {
                if v["ready"].as_bool() == Some(true) {
                    return;
                }
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited ({status}){}", self.driver_log());
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!(
                    "chromedriver did not become ready in 30 s{}",
                    self.driver_log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn driver_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("\nchromedriver log (last lines):\n{}", tail.join("\n"))
    }

    /// One WebDriver command relative to the session (or the driver before
    /// the session exists); returns the answer's `value`.
    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let transport = |e: reqwest::Error| WebDriverError {
            error: "transport".into(),
            message: e.to_string(),
        };
        let res = req.send().map_err(transport)?;
        let ok = res.status().is_success();
        let v: Value = res.json().map_err(transport)?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// Like `raw`, panicking with the page's address on failure.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, path, body).unwrap_or_else(|e| {
            let url = self.raw("GET", "/url", None).unwrap_or_default();
            panic!("WebDriver {method} {path} failed on {url}: {e}")
        })
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current address.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's title.
    pub fn title(&self) -> String {
        self.cmd("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Resizes the window (CSS pixels).
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The first element matching the CSS selector `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let body = json!({"using": "css selector", "value": css});
        match self.raw("POST", "/element", Some(body)) {
            Ok(v) => Some(self.element(&v)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("finding {css:?}: {e}"),
        }
    }

    /// The first element matching `css`; panics when there is none.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches {css:?} on {}", self.url()))
    }

    /// Every element matching `css`.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let body = json!({"using": "css selector", "value": css});
        let v = self.cmd("POST", "/elements", Some(body));
        v.as_array()
            .map(|a| a.iter().map(|e| self.element(e)).collect())
            .unwrap_or_default()
    }

    /// Waits (at most `limit`) for an element matching `css`.
    pub fn wait_for(&self, css: &str, limit: Duration) -> Element<'_> {
        self.wait_until(&format!("an element matching {css:?}"), limit, |b| {
            b.try_find(css).is_some()
        });
        self.find(css)
    }

    /// Waits (at most `limit`) until `done` holds, polling every 100 ms;
    /// panics naming `what`, with a screenshot, when it does not.
    pub fn wait_until(&self, what: &str, limit: Duration, mut done: impl FnMut(&Browser) -> bool) {
        let start = Instant::now();
        while !done(self) {
            if start.elapsed() > limit {
                let shot = self.screenshot("timeout");
                panic!(
                    "waited {limit:?} for {what} on {} (screenshot {})",
                    self.url(),
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the first element matching `css`, read in one script
    /// (so a part of the page that replaces itself, such as a followed log,
    /// cannot go stale between finding and reading); `None` when nothing
    /// matches.
    pub fn text_of(&self, css: &str) -> Option<String> {
        let v = self.execute(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            vec![json!(css)],
        );
        v.as_str().map(str::to_owned)
    }

    /// The element that has the focus.
    pub fn active(&self) -> Element<'_> {
        let v = self.cmd("GET", "/element/active", None);
        self.element(&v)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns
    /// its result.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs an asynchronous `script`: it calls `arguments[arguments.length - 1]`
    /// with its result.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// The cookies the page's address can see, with their flags.
    pub fn cookies(&self) -> Vec<Cookie> {
        let v = self.cmd("GET", "/cookie", None);
        v.as_array()
            .into_iter()
            .flatten()
            .map(|c| Cookie {
                name: c["name"].as_str().unwrap_or_default().to_owned(),
                value: c["value"].as_str().unwrap_or_default().to_owned(),
                path: c["path"].as_str().unwrap_or_default().to_owned(),
                http_only: c["httpOnly"].as_bool().unwrap_or(false),
                secure: c["secure"].as_bool().unwrap_or(false),
                same_site: c["sameSite"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Forgets every cookie (signs out of everything).
    pub fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", None);
    }

    /// Writes a PNG of the viewport to `SCREENSHOTS/name.png` and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.cmd("GET", "/screenshot", None);
        self.save_png(name, &v)
    }

    /// Writes a PNG of the whole page (not only the viewport) by resizing the
    /// window to the document's height first, then restoring it.
    pub fn screenshot_page(&self, name: &str) -> PathBuf {
        let size = self.execute(
            "return [window.outerWidth, window.outerHeight, \
             window.outerHeight - window.innerHeight, document.documentElement.scrollHeight];",
            vec![],
        );
        let n = |i: usize| size[i].as_u64().unwrap_or(900) as u32;
        let (w, h, chrome, page) = (n(0), n(1), n(2), n(3));
        self.resize(w, (page + chrome).clamp(h, 8000));
        let path = self.screenshot(name);
        self.resize(w, h);
        path
    }

    fn save_png(&self, name: &str, v: &Value) -> PathBuf {
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    fn element(&self, v: &Value) -> Element<'_> {
        Element {
            browser: self,
            id: v[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("not an element reference: {v}"))
                .to_owned(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; then the driver goes.
        if self.base.contains("/session/") {
            let _ = self
                .http
                .delete(&self.base)
                .timeout(Duration::from_secs(10))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An element of the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl<'b> Element<'b> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    /// Clicks it (scrolling it into view).
    pub fn click(&self) {
        self.browser
            .cmd("POST", &self.path("/click"), Some(json!({})));
    }

    /// Types `text` into it (see [`keys`] for special keys).
    pub fn send_keys(&self, text: &str) {
        self.browser
            .cmd("POST", &self.path("/value"), Some(json!({ "text": text })));
    }

    /// Empties an input or textarea.
    pub fn clear(&self) {
        self.browser
            .cmd("POST", &self.path("/clear"), Some(json!({})));
    }

    /// Its rendered text.
    pub fn text(&self) -> String {
        self.browser
            .cmd("GET", &self.path("/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An HTML attribute.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.browser
            .cmd("GET", &self.path(&format!("/attribute/{name}")), None)
            .as_str()
            .map(str::to_owned)
    }

    /// A DOM property (`value`, `checked`, …).
    pub fn prop(&self, name: &str) -> Value {
        self.browser
            .cmd("GET", &self.path(&format!("/property/{name}")), None)
    }

    /// The first descendant matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'b>> {
        let body = json!({"using": "css selector", "value": css});
        match self.browser.raw("POST", &self.path("/element"), Some(body)) {
            Ok(v) => Some(self.browser.element(&v)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("finding {css:?}: {e}"),
        }
    }

    /// The first descendant matching `css`; panics when there is none.
    pub fn find(&self, css: &str) -> Element<'b> {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no descendant matches {css:?}"))
    }

    /// True when it is the same element as `other`.
    pub fn is(&self, other: &Element<'_>) -> bool {
        self.id == other.id
    }
}
