//! Build notifications: webhooks that tell a person a build succeeded or,
//! more to the point, failed after the fact (a rebuild nobody watched).
//!
//! Each finished build is POSTed to the declaration's `notify` URLs, or
//! else to the server's default (`notify` in server.toml), as a CloudEvents
//! 1.0 event in structured mode (`Content-Type:
//! application/cloudevents+json`) of type
//! `dev.cargo-assemble.build.succeeded` or `dev.cargo-assemble.build.failed`;
//! `data` holds the organization, repo, build id and number, trigger,
//! result, error, changes, digests, where it was pushed, the worker and the
//! last lines of the log.
//!
//! The body is signed: `X-Cargo-Assemble-Signature: sha256=HEX`, the
//! HMAC-SHA256 of the exact body bytes under the server's secret (created
//! at first start in `DATA/webhook-secret`, mode 0600, 64 hex characters;
//! the key is those characters' bytes). A receiver recomputes the HMAC
//! over the raw body and compares in constant time.
//!
//! Deliveries are retried with backoff (1 s, 5 s, 30 s, 2 min, 10 min) on
//! transport errors and non-2xx answers, recorded in `notifications`, and
//! run on their own tasks: a slow or dead receiver never holds up a build.
//! Receivers must be `https://` on public addresses (checked on every
//! address the name resolves to, and the connection pinned to a checked
//! address) unless the server allows local targets
//! (`notify_allow_local = true`, for tests and single-machine use).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::queue::Events;
use crate::store::{rfc3339, BuildRow, Store};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Cargo-Assemble-Signature";

/// Waits before each retry.
const RETRIES: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// Lines of the log an event carries.
const LOG_TAIL_LINES: usize = 40;

/// Sends build events.
#[derive(Clone)]
pub struct Notifier {
    /// The database (deliveries are recorded).
    pub store: Store,
    /// The HMAC key.
    pub secret: Arc<Vec<u8>>,
    /// Receivers of builds whose declaration names none.
    pub default_urls: Vec<String>,
    /// Allow http and private/loopback receivers.
    pub allow_local: bool,
    /// Operator messages.
    pub events: Events,
}

/// The server's webhook secret in `DATA/webhook-secret`, created (0600)
/// when missing.
pub fn load_secret(data: &Path) -> std::io::Result<Vec<u8>> {
    let file = data.join("webhook-secret");
    match std::fs::read_to_string(&file) {
        Ok(text) => return Ok(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    assemble_io::atomic::write_private_file(&file, |w| {
        std::io::Write::write_all(w, secret.as_bytes())
    })?;
    Ok(secret.into_bytes())
}

/// `sha256=HEX`: the signature of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `signature` (the header's value) signs `body` under `secret`;
/// compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_mac) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(mac_bytes) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&mac_bytes).is_ok()
}

/// The `notify` URLs of a stored declaration.
pub fn declared_urls(config: &Value) -> Vec<String> {
    config
        .get("notify")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Notifier {
    /// Sends the event of the finished build `build` (with its `log`) to
    /// its receivers, in the background.
    pub fn build_finished(&self, build: BuildRow, log: &str) {
        let config: Value = serde_json::from_str(&build.config).unwrap_or(Value::Null);
        let mut urls = declared_urls(&config);
        if urls.is_empty() {
            urls = self.default_urls.clone();
        }
        if urls.is_empty() {
            return;
        }
        let body = event(&build, log);
        let kind = body["type"].as_str().unwrap_or_default().to_owned();
        let bytes = Arc::new(serde_json::to_vec(&body).unwrap_or_default());
        for url in urls {
            let (me, build, kind, bytes) =
                (self.clone(), build.clone(), kind.clone(), bytes.clone());
            tokio::spawn(async move { me.deliver(&build, &url, &kind, &bytes).await });
        }
    }

    async fn deliver(&self, build: &BuildRow, url: &str, kind: &str, body: &[u8]) {
        let shown = assemble_io::url::redact(url);
        let id = match self.store.insert_notification(build, &shown, kind).await {
            Ok(id) => id,
            Err(e) => {
                (self.events)(format!("notify {shown}: cannot record the delivery: {e}"));
                return;
            }
        };
        let signature = sign(&self.secret, body);
        let mut attempts = 0;
        let error = loop {
            attempts += 1;
            let error = match self.post(url, body, &signature).await {
                Ok(()) => {
                    let _ = self
                        .store
                        .update_notification(&id, "delivered", attempts, None)
                        .await;
                    return;
                }
                Err(e) => e,
            };
            let Some(wait) = RETRIES.get(attempts as usize - 1).filter(|_| error.retry) else {
                break error.message;
            };
            let _ = self
                .store
                .update_notification(&id, "pending", attempts, Some(&error.message))
                .await;
            tokio::time::sleep(*wait).await;
        };
        let _ = self
            .store
            .update_notification(&id, "failed", attempts, Some(&error))
            .await;
        (self.events)(format!(
            "notify {shown}: {kind} of build {} not delivered after {attempts} attempt(s): {error}",
            build.id
        ));
    }

    async fn post(&self, url: &str, body: &[u8], signature: &str) -> Result<(), Failure> {
        let target = self.target(url).await?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&target.0, target.1)
            .build()
            .map_err(|e| Failure::retry(e.to_string()))?;
        let response = client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json",
            )
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::retry(assemble_io::url::redact(&e.to_string())))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Failure::retry(format!("HTTP {}", response.status())))
        }
    }

    /// The host and a checked address to connect to: https and a public
    /// address unless local targets are allowed.
    async fn target(&self, url: &str) -> Result<(String, SocketAddr), Failure> {
        let parsed = url::Url::parse(url).map_err(|e| Failure::fatal(e.to_string()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_local => {}
            other => {
                return Err(Failure::fatal(format!(
                    "webhooks must be https:// (not {other}://)"
                )))
            }
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| Failure::fatal("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Failure::retry(format!("resolving {host}: {e}")))?
            .collect();
        if !self.allow_local {
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Failure::fatal(format!(
                    "{host} resolves to {}, a private or loopback address: webhooks go to public \
                     addresses (set notify_allow_local = true in server.toml for local receivers)",
                    bad.ip()
                )));
            }
        }
        let first = addrs
            .first()
            .copied()
            .ok_or_else(|| Failure::retry(format!("{host} has no address")))?;
        Ok((host, first))
    }
}

struct Failure {
    message: String,
    retry: bool,
}

impl Failure {
    fn retry(message: String) -> Failure {
        Failure {
            message,
            retry: true,
        }
    }
    fn fatal(message: String) -> Failure {
        Failure {
            message,
            retry: false,
        }
    }
}

/// False for every address runtime repositories may not use either
/// (loopback, private, link-local, unique-local, shared, documentation,
/// mapped and embedded forms of those, …): one set of rules for what the
/// service and the images it builds may reach.
fn is_public(ip: IpAddr) -> bool {
    assemble::runtime::ip_problem(ip).is_none()
}

fn event(build: &BuildRow, log: &str) -> Value {
    let result = build.result();
    let suffix = if result == crate::api::BuildResult::Success {
        "succeeded"
    } else {
        "failed"
    };
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    json!({
        "specversion": "1.0",
        "type": format!("dev.cargo-assemble.build.{suffix}"),
        "source": format!("/v1/orgs/{}/repos/{}", build.org, build.repo),
        "id": format!("{}.{suffix}", build.id),
        "subject": build.id,
        "time": rfc3339(build.completed_at.unwrap_or_else(crate::store::now_ms)),
        "datacontenttype": "application/json",
        "data": {
            "org": build.org,
            "repo": build.repo,
            "build_id": build.id,
            "number": build.number,
            "trigger": build.trigger_kind,
            "result": result.as_str(),
            "error": build.error,
            "changes": parse(&build.changes),
            "digests": parse(&build.digests),
            "pushed": parse(&build.pushed),
            "worker": build.worker,
            "log_tail": tail,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_body_and_key() {
        let s = sign(b"k", b"body");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert!(verify(b"k", b"body", &s));
        assert!(!verify(b"k", b"body!", &s));
        assert!(!verify(b"other", b"body", &s));
        assert!(!verify(b"k", b"body", "sha1=00"));
    }

    #[test]
    fn private_and_loopback_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
