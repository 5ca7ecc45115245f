//! A blocking HTTP(S) client for repositories: rustls, timeouts, retries
//! with exponential backoff, Basic auth per host, bodies streamed to files.
//!
//! Connection failures, timeouts, bodies cut short and `5xx` answers are
//! retried; any other status (`4xx`) fails at once. Every download is
//! bounded twice: in size (a body longer than its limit is cut off and
//! refused) and in time (one deadline for the whole transfer, retries
//! included, so a server that drips a byte every few seconds cannot hold a
//! build). Errors name the URL with any userinfo removed, never quote a
//! credential, and escape what the server or the network stack said.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::auth::Credentials;
use assemble_io::escape::escape;
use assemble_io::limit::human_size;
use assemble_io::url::{error_chain, strip_credentials};

/// User agent sent with every request.
pub const USER_AGENT: &str = concat!("cargo-assemble/", env!("CARGO_PKG_VERSION"));

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub initial_delay: Duration,
    /// Upper bound on a single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waiting 200 ms, 400 ms, 800 ms in between.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Client configuration.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Limit on waiting for the response head and on each body read.
    pub read_timeout: Duration,
    /// Deadline of one whole download, all attempts included
    /// (`CARGO_ASSEMBLE_HTTP_TIMEOUT`).
    pub timeout: Duration,
    /// Basic-auth credentials by host.
    pub credentials: Credentials,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            timeout: assemble_io::bounds::HTTP_TIMEOUT.duration(),
            credentials: Credentials::none(),
        }
    }
}

/// The most bytes a download may have, and what to tell the user when a
/// body is longer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimit {
    /// The limit in bytes.
    pub bytes: u64,
    /// Why this is the limit, or how to change it (ends the message).
    pub why: &'static str,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not a valid http(s) URL.
    #[error("invalid URL '{url}': {message}")]
    InvalidUrl {
        /// The URL (redacted).
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The server answered with a non-success status.
    #[error("{url}: server answered HTTP {status}{}; {hint}", if *attempts > 1 { format!(" (after {attempts} attempts)") } else { String::new() })]
    Status {
        /// The URL (redacted).
        url: String,
        /// The status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// What to do about it.
        hint: &'static str,
    },
    /// Connection, TLS, timeout or transfer failure.
    #[error("{url}: {message} (after {attempts} attempt{}); check the network and the repository URL, or use --offline with a filled cache", if *attempts == 1 { "" } else { "s" })]
    Network {
        /// The URL (redacted).
        url: String,
        /// The cause, without the URL.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The body is larger than allowed.
    #[error("{url}: the response is larger than the limit of {}; {}", human_size(*limit), why)]
    TooLarge {
        /// The URL (redacted).
        url: String,
        /// The limit.
        limit: u64,
        /// Why this is the limit (or how to change it).
        why: &'static str,
    },
    /// The transfer did not finish before its deadline.
    #[error("{url}: the download did not finish within {} s; the server is too slow or stalled (raise CARGO_ASSEMBLE_HTTP_TIMEOUT to wait longer)", seconds)]
    Timeout {
        /// The URL (redacted).
        url: String,
        /// The deadline in seconds.
        seconds: u64,
    },
    /// Writing the downloaded body failed.
    #[error("{url}: cannot write the download: {error}")]
    Write {
        /// The URL (redacted).
        url: String,
        /// Cause.
        error: io::Error,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl HttpError {
    /// The HTTP status, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A blocking client; cheap to share between threads by reference.
#[derive(Debug)]
pub struct HttpClient {
    config: HttpConfig,
    client: reqwest::blocking::Client,
    /// Client without proxies, used for loopback hosts.
    direct: OnceLock<Result<reqwest::blocking::Client, String>>,
}

/// One attempt's outcome when it should not simply succeed.
enum AttemptError {
    Retry(String),
    RetryStatus(u16),
    Fatal(HttpError),
}

impl HttpClient {
    /// Builds a client.
    pub fn new(config: HttpConfig) -> Result<Self, HttpError> {
        let client = Self::builder(&config)
            .build()
            .map_err(|e| HttpError::Client(error_chain(&e.without_url())))?;
        Ok(HttpClient {
            config,
            client,
            direct: OnceLock::new(),
        })
    }

    fn builder(config: &HttpConfig) -> reqwest::blocking::ClientBuilder {
        reqwest::blocking::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout.min(config.timeout))
            .timeout(config.read_timeout.min(config.timeout))
            .redirect(reqwest::redirect::Policy::limited(10))
    }

    fn client_for(&self, url: &reqwest::Url) -> Result<&reqwest::blocking::Client, HttpError> {
        let host = url.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
        if !loopback {
            return Ok(&self.client);
        }
        self.direct
            .get_or_init(|| {
                Self::builder(&self.config)
                    .no_proxy()
                    .build()
                    .map_err(|e| error_chain(&e.without_url()))
            })
            .as_ref()
            .map_err(|e| HttpError::Client(e.clone()))
    }

    /// Downloads `url` into `file` (truncated first, and again before each
    /// retry), returning the number of bytes written. A body longer than
    /// `limit` is an error, and so is a transfer still running when the
    /// deadline ([`HttpConfig::timeout`]) passes.
    pub fn download(&self, url: &str, file: &mut File, limit: SizeLimit) -> Result<u64, HttpError> {
        let shown = strip_credentials(url);
        let parsed = reqwest::Url::parse(url).map_err(|e| HttpError::InvalidUrl {
            url: escape(&shown).into_owned(),
            message: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(HttpError::InvalidUrl {
                url: escape(&shown).into_owned(),
                message: "only http:// and https:// are supported".into(),
            });
        }
        let client = self.client_for(&parsed)?;
        let deadline = Instant::now() + self.config.timeout;
        let transfer = Transfer {
            url: &parsed,
            shown: &shown,
            limit,
            deadline,
        };
        let attempts = self.config.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(client, &transfer, file);
            let retry = match outcome {
                Ok(n) => return Ok(n),
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(retry) => retry,
            };
            let delay = self.config.retry.delay(attempt);
            let out_of_time = Instant::now() + delay >= deadline;
            if attempt >= attempts || out_of_time {
                return Err(match retry {
                    _ if out_of_time && Instant::now() >= deadline => transfer.timeout(self),
                    AttemptError::RetryStatus(status) => HttpError::Status {
                        url: shown,
                        status,
                        attempts: attempt,
                        hint: "the server failed; try again later or use another mirror",
                    },
                    AttemptError::Retry(message) => HttpError::Network {
                        url: shown,
                        message: escape(&message).into_owned(),
                        attempts: attempt,
                    },
                    AttemptError::Fatal(e) => e,
                });
            }
            std::thread::sleep(delay);
        }
    }

    fn attempt(
        &self,
        client: &reqwest::blocking::Client,
        t: &Transfer<'_>,
        file: &mut File,
    ) -> Result<u64, AttemptError> {
        let write_err = |error| {
            AttemptError::Fatal(HttpError::Write {
                url: t.shown.to_owned(),
                error,
            })
        };
        file.set_len(0).map_err(write_err)?;
        file.rewind().map_err(write_err)?;

        let remaining = t
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let mut request = client
            .get(t.url.clone())
            .timeout(self.config.read_timeout.min(remaining));
        if t.url.username().is_empty() {
            if let Some(host) = t.url.host_str() {
                if let Some(c) = self.config.credentials.lookup(host, t.url.port()) {
                    request = request.basic_auth(&c.user, Some(c.password.expose()));
                }
            }
        }
        let mut response = match request.send() {
            Ok(r) => r,
            Err(e) => return Err(AttemptError::Retry(error_chain(&e.without_url()))),
        };
        let status = response.status();
        if status.is_server_error() {
            return Err(AttemptError::RetryStatus(status.as_u16()));
        }
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => "check the credentials for this host in HTTP_AUTH (basic:HOST:USER:PASSWORD) or ~/.netrc",
                404 | 410 => "check the repository URL and architecture; the index may be out of date",
                _ => "the request was rejected",
            };
            return Err(AttemptError::Fatal(HttpError::Status {
                url: t.shown.to_owned(),
                status: status.as_u16(),
                attempts: 1,
                hint,
            }));
        }
        if response
            .content_length()
            .is_some_and(|len| len > t.limit.bytes)
        {
            return Err(AttemptError::Fatal(t.too_large()));
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            if Instant::now() >= t.deadline {
                return Err(AttemptError::Fatal(t.timeout(self)));
            }
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) if Instant::now() >= t.deadline => {
                    return Err(AttemptError::Fatal(t.timeout(self)))
                }
                Err(e) => {
                    return Err(AttemptError::Retry(format!(
                        "transfer failed: {}",
                        io_chain(&e)
                    )))
                }
            };
            total += n as u64;
            if total > t.limit.bytes {
                return Err(AttemptError::Fatal(t.too_large()));
            }
            file.write_all(&buf[..n]).map_err(write_err)?;
        }
        file.flush().map_err(write_err)?;
        Ok(total)
    }
}

/// One download: what, how much, until when.
struct Transfer<'a> {
    url: &'a reqwest::Url,
    shown: &'a str,
    limit: SizeLimit,
    deadline: Instant,
}

impl Transfer<'_> {
    fn too_large(&self) -> HttpError {
        HttpError::TooLarge {
            url: self.shown.to_owned(),
            limit: self.limit.bytes,
            why: self.limit.why,
        }
    }

    fn timeout(&self, client: &HttpClient) -> HttpError {
        HttpError::Timeout {
            url: self.shown.to_owned(),
            seconds: client.config.timeout.as_secs(),
        }
    }
}

fn io_chain(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => {
            // A reqwest error inside an io::Error may carry the URL.
            if let Some(r) = inner.downcast_ref::<reqwest::Error>() {
                let mut text = if r.is_timeout() {
                    "timed out".to_owned()
                } else {
                    "connection error".to_owned()
                };
                let mut source = std::error::Error::source(r);
                while let Some(s) = source {
                    text.push_str(": ");
                    text.push_str(&s.to_string());
                    source = s.source();
                }
                text
            } else {
                error_chain(inner)
            }
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: SizeLimit = SizeLimit {
        bytes: 1 << 30,
        why: "test",
    };

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(200));
        assert_eq!(p.delay(2), Duration::from_millis(400));
        assert_eq!(p.delay(3), Duration::from_millis(800));
        assert_eq!(p.delay(60), Duration::from_secs(10));
    }

    #[test]
    fn rejects_other_schemes_and_connection_refused_is_retried() {
        let client = HttpClient::new(HttpConfig {
            retry: RetryPolicy {
                attempts: 2,
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
            },
            connect_timeout: Duration::from_secs(2),
            ..HttpConfig::default()
        })
        .unwrap();
        let mut f = tempfile::tempfile().unwrap();
        let e = client.download("ftp://u:pw@h/x", &mut f, ANY).unwrap_err();
        assert!(matches!(e, HttpError::InvalidUrl { .. }), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
        // A port nothing listens on (bound then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://user:hunter2@127.0.0.1:{port}/x");
        let e = client.download(&url, &mut f, ANY).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, HttpError::Network { attempts: 2, .. }),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains(&format!("http://127.0.0.1:{port}/x")),
            "{text}"
        );
    }
}
