//! Pushing a finished OCI layout (what [`crate::LayoutWriter`] writes) to a
//! registry so that it holds the same bytes and digests as the layout.
//!
//! Order, so that a tag never points at something incomplete:
//!
//! 1. blobs, several at a time, largest first: skipped when the registry
//!    has them (`HEAD`), mounted from the source image's repository when it
//!    is on the same registry (a `202` answer to the mount is an upload
//!    session we use), else streamed from the layout in one `PUT` after a
//!    `POST` — verified against their digest as they are read, never held
//!    in memory;
//! 2. manifests by digest (platform manifests before their index), as the
//!    exact bytes of the layout;
//! 3. referrers: an artifact with a `subject` (the SBOM), pushed after its
//!    subject, is found through the OCI 1.1 referrers API when the registry
//!    has one, else we maintain the referrers tag (`sha256-<subject hex>`,
//!    an image index of referrers);
//! 4. tags last, each only when it does not already point at our digest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::pull::{parallel, reachable, MANIFEST_ACCEPT, MAX_MANIFEST};
use super::transport::{read_small, Call, Deadline, Host, Payload, Scope};
use super::{Registry, RegistryError, RegistryRef};
use crate::layout::{kind_of, open_unselected, Kind};
use crate::{media_type, Descriptor, Digest, ImageRef, OciError, Platform, Source};

/// How to push.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Repositories the image's blobs may be mounted from (the source
    /// image's); only those on the destination registry are used.
    pub mount_from: Vec<RegistryRef>,
}

/// What happened to one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobOutcome {
    /// The registry had it.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// Progress of a push, for a renderer.
#[derive(Clone, Copy, Debug)]
pub enum PushEvent<'a> {
    /// A blob is done.
    Blob {
        /// Its digest.
        digest: &'a Digest,
        /// Its size.
        size: u64,
        /// What happened.
        outcome: BlobOutcome,
    },
    /// A manifest was stored under `reference` (a tag or digest).
    Manifest {
        /// `docker://HOST/REPO:TAG` or `…@sha256:…`.
        reference: &'a str,
    },
}

/// One platform of a pushed image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushedPlatform {
    /// The platform (from the index entry, else the config).
    pub platform: Option<Platform>,
    /// The manifest's digest.
    pub digest: Digest,
}

/// One tagged image of the layout, as pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushedImage {
    /// What the tags point to: the index digest (several platforms) or the
    /// manifest digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Per platform, the manifest digest.
    pub platforms: Vec<PushedPlatform>,
    /// Every reference now naming it: `docker://HOST/REPO:TAG` per tag,
    /// then `docker://HOST/REPO@DIGEST`.
    pub references: Vec<String>,
}

/// An artifact (the SBOM) attached to a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushedReferrer {
    /// The manifest it refers to.
    pub subject: Digest,
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// The referrers tag we maintained (`sha256-…`), or `None` when the
    /// registry's referrers API lists it.
    pub fallback_tag: Option<String>,
}

/// The outcome of a push.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// The tagged images.
    pub images: Vec<PushedImage>,
    /// Artifacts pushed as referrers.
    pub referrers: Vec<PushedReferrer>,
    /// Blobs the registry already had.
    pub blobs_present: usize,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Bytes of the uploaded blobs.
    pub bytes_uploaded: u64,
    /// Manifests stored (`PUT`), tags included.
    pub manifests_put: usize,
}

/// A manifest of the layout with its bytes.
struct Doc {
    desc: Descriptor,
    bytes: Vec<u8>,
    json: Value,
}

/// A read failure of the layout's blob behind an upload stream.
type Slot = Arc<Mutex<Option<OciError>>>;

/// The layout's blob as an upload body: records a read failure in the
/// slot, and reads past the last byte so that the blob's digest is
/// checked before the body ends (an HTTP client stops reading at
/// `Content-Length`).
struct Watched {
    inner: crate::BlobReader,
    remaining: u64,
    slot: Slot,
}

impl Watched {
    fn read_checked(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.remaining = self.remaining.saturating_sub(n as u64);
        if self.remaining == 0 && n > 0 {
            // End of stream: the reader verifies digest and size here
            // (and fails itself on a byte too many).
            if self.inner.read(&mut [0u8; 1])? != 0 {
                return Err(io::Error::other("the blob is longer than its descriptor"));
            }
        }
        Ok(n)
    }
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_checked(buf).map_err(|e| {
            let message = e.to_string();
            let error = self.inner.wrap(e);
            self.slot
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(error);
            io::Error::other(message)
        })
    }
}

/// The push of one layout: destination, session, counters.
struct Push<'a> {
    registry: &'a Registry,
    source: &'a Source,
    dest: &'a RegistryRef,
    host: Arc<Host>,
    scope: Scope,
    mount_from: Option<String>,
    dl: Deadline,
    progress: &'a (dyn Fn(PushEvent<'_>) + Sync),
    report: Mutex<PushReport>,
}

impl Registry {
    /// Pushes the OCI layout at `layout` to `dest` (`docker://HOST/REPO`):
    /// every tagged image under its tags, everything else by digest; with a
    /// tag in `dest`, the layout's one tagged image under that tag instead.
    pub fn push_layout(
        &self,
        layout: &Path,
        dest: &RegistryRef,
        options: &PushOptions,
        progress: &(dyn Fn(PushEvent<'_>) + Sync),
    ) -> Result<PushReport, OciError> {
        let source = open_unselected(&ImageRef::Layout {
            path: layout.to_owned(),
            reference: None,
        })?;
        let entries = source.selected().to_vec();
        self.push(&source, &entries, dest, options, progress)
    }

    /// Pushes `entries` of `source` (descriptors as in `index.json`, tags
    /// in their `ref.name` annotation) to `dest`; see
    /// [`Registry::push_layout`].
    pub fn push(
        &self,
        source: &Source,
        entries: &[Descriptor],
        dest: &RegistryRef,
        options: &PushOptions,
        progress: &(dyn Fn(PushEvent<'_>) + Sync),
    ) -> Result<PushReport, OciError> {
        let target = dest.to_string();
        if dest.digest().is_some() {
            return Err(RegistryError::Protocol {
                target,
                reason: "a push destination takes no digest (the digest is the content's)".into(),
            }
            .into());
        }
        // Tag → image entry.
        let mut tagged: BTreeMap<String, Descriptor> = BTreeMap::new();
        let mut untagged: Vec<Descriptor> = Vec::new();
        for e in entries {
            match e.ref_name() {
                Some(t) => {
                    tagged.insert(t.to_owned(), e.clone());
                }
                None => untagged.push(e.clone()),
            }
        }
        if let Some(tag) = dest.tag() {
            let distinct: BTreeSet<&Digest> = tagged.values().map(|d| &d.digest).collect();
            let one = match (distinct.len(), tagged.values().next(), untagged.first()) {
                (1, Some(d), _) => d.clone(),
                (0, None, Some(d)) if untagged.len() == 1 => d.clone(),
                _ => {
                    return Err(RegistryError::Protocol {
                        target,
                        reason: format!(
                            "{} holds {} differently tagged images; push it to a destination without a tag to push each under its own",
                            source.location(),
                            distinct.len()
                        ),
                    }
                    .into())
                }
            };
            untagged.retain(|d| d.digest != one.digest);
            tagged = BTreeMap::from([(tag.to_owned(), one)]);
        }

        // Everything reachable, read and verified once.
        let mut all = Vec::new();
        let mut seen = BTreeSet::new();
        for e in tagged.values().chain(&untagged) {
            let mut plain = e.clone();
            plain.annotations.clear();
            reachable(source, &plain, &mut all, &mut seen, 0)?;
        }
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut docs: Vec<Doc> = Vec::new();
        for d in all {
            if kind_of(&d.media_type) == Kind::Other {
                blobs.push(d);
                continue;
            }
            if d.size > MAX_MANIFEST {
                return Err(OciError::TooLarge {
                    digest: d.digest.to_string(),
                    what: "manifest to push",
                    size: d.size,
                    limit: MAX_MANIFEST,
                });
            }
            let bytes = source.read_blob(&d)?;
            let json: Value = serde_json::from_slice(&bytes).map_err(|e| OciError::Json {
                what: format!("manifest {}", d.digest),
                location: source.location().to_owned(),
                reason: e.to_string(),
            })?;
            docs.push(Doc {
                desc: d,
                bytes,
                json,
            });
        }
        // Children before parents.
        docs.reverse();
        blobs.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.digest.cmp(&b.digest)));

        let dl = self.deadline();
        let host = self.inner.transport.host(dest.registry(), &dl)?;
        let mounts: Vec<String> = options
            .mount_from
            .iter()
            .filter(|m| m.registry() == dest.registry() && m.repository() != dest.repository())
            .map(|m| m.repository().to_owned())
            .collect();
        let push = Push {
            registry: self,
            source,
            dest,
            scope: Scope::push(dest.repository(), &mounts),
            host,
            mount_from: mounts.first().cloned(),
            dl,
            progress,
            report: Mutex::new(PushReport::default()),
        };

        parallel(&blobs, self.inner.options.jobs, |b| push.blob(b))?;

        // Every manifest by digest, children first (a tag moves only at the
        // end; a referrer's subject exists before it); then the artifacts
        // (with a `subject`) in the layout's order.
        let find = |digest: &Digest| docs.iter().find(|d| &d.desc.digest == digest);
        let artifacts: Vec<&Doc> = untagged
            .iter()
            .filter_map(|e| find(&e.digest))
            .filter(|d| d.json.get("subject").is_some())
            .collect();
        for doc in &docs {
            let artifact = artifacts.iter().any(|a| a.desc.digest == doc.desc.digest);
            if !artifact {
                push.ensure_manifest(doc)?;
            }
        }
        let mut referrers_api: Option<bool> = None;
        for doc in artifacts {
            push.ensure_manifest(doc)?;
            let subject = doc.json.get("subject").cloned().unwrap_or_default();
            let subject: Descriptor =
                serde_json::from_value(subject).map_err(|e| OciError::Json {
                    what: format!("the subject of manifest {}", doc.desc.digest),
                    location: source.location().to_owned(),
                    reason: e.to_string(),
                })?;
            let api = match referrers_api {
                Some(a) => a,
                None => *referrers_api.insert(push.has_referrers_api(&subject.digest)?),
            };
            let fallback_tag = if api {
                None
            } else {
                Some(push.add_to_referrers_tag(&subject.digest, doc)?)
            };
            push.report().referrers.push(PushedReferrer {
                subject: subject.digest,
                digest: doc.desc.digest.clone(),
                artifact_type: artifact_type(doc),
                fallback_tag,
            });
        }

        // Tags last.
        let mut by_digest: BTreeMap<&Digest, Vec<&str>> = BTreeMap::new();
        for (tag, d) in &tagged {
            by_digest.entry(&d.digest).or_default().push(tag);
        }
        for (digest, tags) in by_digest {
            let doc = find(digest).ok_or_else(|| OciError::BlobMissing {
                digest: digest.to_string(),
                location: source.location().to_owned(),
            })?;
            let mut references = Vec::new();
            for tag in tags {
                push.tag(doc, tag)?;
                references.push(dest.with_tag(tag).to_string());
            }
            references.push(
                dest.repository_ref()
                    .with_digest(digest.clone())
                    .to_string(),
            );
            let image = PushedImage {
                digest: digest.clone(),
                media_type: doc.desc.media_type.clone(),
                platforms: push.platforms(doc)?,
                references,
            };
            push.report().images.push(image);
        }
        Ok(push.report.into_inner().unwrap_or_else(|p| p.into_inner()))
    }
}

fn artifact_type(doc: &Doc) -> Option<String> {
    doc.json
        .get("artifactType")
        .or_else(|| doc.json.get("config").and_then(|c| c.get("mediaType")))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Push<'_> {
    fn report(&self) -> std::sync::MutexGuard<'_, PushReport> {
        self.report.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, call: &Call<'_>) -> Result<reqwest::blocking::Response, RegistryError> {
        self.registry
            .inner
            .transport
            .send(&self.host, &self.scope, call, &self.dl)
    }

    fn expect(
        &self,
        call: &Call<'_>,
        response: reqwest::blocking::Response,
        ok: &[u16],
        what: &str,
    ) -> Result<reqwest::blocking::Response, RegistryError> {
        self.registry
            .inner
            .transport
            .expect(&self.host, &self.scope, call, response, ok, what)
    }

    fn call<'c>(&self, method: Method, suffix: &str, target: &'c str, action: &'c str) -> Call<'c> {
        Call {
            method,
            url: self.host.url(self.dest.repository(), suffix),
            accept: None,
            content_type: None,
            payload: Payload::Empty,
            target,
            action,
            transfer: false,
        }
    }

    /// Makes sure the registry has blob `d`.
    fn blob(&self, d: &Descriptor) -> Result<(), OciError> {
        let target = self.dest.repository_ref().to_string();
        let head = self.call(
            Method::HEAD,
            &format!("blobs/{}", d.digest),
            &target,
            "checking for a blob",
        );
        let response = self.send(&head)?;
        let outcome = match response.status().as_u16() {
            200 => BlobOutcome::Present,
            404 => self.upload(d, &target)?,
            _ => {
                return Err(self
                    .registry
                    .inner
                    .transport
                    .failure(&self.host, &self.scope, &head, response, "blob")?
                    .into())
            }
        };
        {
            let mut r = self.report();
            match outcome {
                BlobOutcome::Present => r.blobs_present += 1,
                BlobOutcome::Mounted => r.blobs_mounted += 1,
                BlobOutcome::Uploaded => {
                    r.blobs_uploaded += 1;
                    r.bytes_uploaded += d.size;
                }
            }
        }
        (self.progress)(PushEvent::Blob {
            digest: &d.digest,
            size: d.size,
            outcome,
        });
        Ok(())
    }

    /// Mounts or uploads `d`, retrying the whole upload when a transfer
    /// fails.
    fn upload(&self, d: &Descriptor, target: &str) -> Result<BlobOutcome, OciError> {
        let attempts = self.registry.inner.options.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot: Slot = Arc::new(Mutex::new(None));
            match self.upload_once(d, target, &slot) {
                Ok(o) => return Ok(o),
                Err(e) => {
                    if let Some(local) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        return Err(local);
                    }
                    let transient = matches!(e, RegistryError::Network { .. })
                        || matches!(e, RegistryError::Status { status, .. } if status >= 500);
                    if !transient || attempt >= attempts || self.dl.remaining(target).is_err() {
                        return Err(e.into());
                    }
                }
            }
        }
    }

    fn upload_once(
        &self,
        d: &Descriptor,
        target: &str,
        slot: &Slot,
    ) -> Result<BlobOutcome, RegistryError> {
        let mut session = None;
        if let Some(from) = &self.mount_from {
            let mut call = self.call(Method::POST, "blobs/uploads/", target, "mounting a blob");
            call.url
                .query_pairs_mut()
                .append_pair("mount", &d.digest.to_string())
                .append_pair("from", from);
            match self.send(&call) {
                Ok(r) if r.status().as_u16() == 201 => return Ok(BlobOutcome::Mounted),
                Ok(r) if r.status().as_u16() == 202 => session = location(&r),
                // Refused (no access to `from`, unknown blob): upload instead.
                Ok(_) | Err(RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let session = match session {
            Some(s) => s,
            None => {
                let call = self.call(Method::POST, "blobs/uploads/", target, "starting an upload");
                let r = self.send(&call)?;
                let r = self.expect(&call, r, &[202], "repository")?;
                location(&r).ok_or_else(|| RegistryError::Protocol {
                    target: target.to_owned(),
                    reason: "the registry started an upload without a Location header".into(),
                })?
            }
        };
        let mut url = self
            .host
            .resolve(&session)
            .ok_or_else(|| RegistryError::Protocol {
                target: target.to_owned(),
                reason: "the upload Location is not a URL".into(),
            })?;
        url.query_pairs_mut()
            .append_pair("digest", &d.digest.to_string());
        let open = || -> Result<(Box<dyn Read + Send>, u64), RegistryError> {
            let reader = self.source.open_descriptor(d).map_err(|e| {
                let message = e.to_string();
                slot.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                RegistryError::Protocol {
                    target: target.to_owned(),
                    reason: message,
                }
            })?;
            let watched = Watched {
                inner: reader,
                remaining: d.size,
                slot: slot.clone(),
            };
            Ok((Box::new(watched), d.size))
        };
        let call = Call {
            method: Method::PUT,
            url,
            accept: None,
            content_type: Some("application/octet-stream"),
            payload: Payload::Stream(&open),
            target,
            action: "uploading a blob",
            transfer: true,
        };
        let r = self.send(&call)?;
        self.expect(&call, r, &[201, 204], "upload session")?;
        Ok(BlobOutcome::Uploaded)
    }

    /// `PUT`s `doc` under `reference` and checks the digest the registry
    /// stored it under.
    fn put_manifest(
        &self,
        doc: &Doc,
        reference: &str,
    ) -> Result<reqwest::blocking::Response, RegistryError> {
        let shown = if reference.starts_with("sha256:") {
            self.dest
                .repository_ref()
                .with_digest(doc.desc.digest.clone())
                .to_string()
        } else {
            self.dest.with_tag(reference).to_string()
        };
        let mut call = self.call(
            Method::PUT,
            &format!("manifests/{reference}"),
            &shown,
            "storing the manifest",
        );
        call.content_type = Some(&doc.desc.media_type);
        call.payload = Payload::Bytes(&doc.bytes);
        let r = self.send(&call)?;
        let r = self.expect(&call, r, &[200, 201, 202, 204], "repository")?;
        let stored = r
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v.trim()).ok());
        if stored.as_ref().is_some_and(|s| s != &doc.desc.digest) {
            return Err(RegistryError::Protocol {
                target: shown,
                reason: format!(
                    "the registry stored the manifest as {} instead of {}",
                    stored.map(|s| s.to_string()).unwrap_or_default(),
                    doc.desc.digest
                ),
            });
        }
        self.report().manifests_put += 1;
        (self.progress)(PushEvent::Manifest { reference: &shown });
        Ok(r)
    }

    /// The digest `reference` (a tag or digest) points to, if it exists.
    fn current(&self, reference: &str, target: &str) -> Result<Option<Digest>, RegistryError> {
        let mut call = self.call(
            Method::HEAD,
            &format!("manifests/{reference}"),
            target,
            "checking a manifest",
        );
        call.accept = Some(MANIFEST_ACCEPT);
        let r = self.send(&call)?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        let r = self.expect(&call, r, &[200], "manifest")?;
        Ok(r.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v.trim()).ok()))
    }

    fn ensure_manifest(&self, doc: &Doc) -> Result<(), RegistryError> {
        let reference = doc.desc.digest.to_string();
        let target = self
            .dest
            .repository_ref()
            .with_digest(doc.desc.digest.clone())
            .to_string();
        if self.current(&reference, &target)?.is_none() {
            self.put_manifest(doc, &reference)?;
        }
        Ok(())
    }

    fn tag(&self, doc: &Doc, tag: &str) -> Result<(), RegistryError> {
        let target = self.dest.with_tag(tag).to_string();
        if self.current(tag, &target)?.as_ref() != Some(&doc.desc.digest) {
            self.put_manifest(doc, tag)?;
        }
        Ok(())
    }

    /// Whether `GET /v2/REPO/referrers/DIGEST` answers (OCI 1.1).
    fn has_referrers_api(&self, subject: &Digest) -> Result<bool, RegistryError> {
        let target = self.dest.repository_ref().to_string();
        let mut call = self.call(
            Method::GET,
            &format!("referrers/{subject}"),
            &target,
            "asking for referrers",
        );
        call.accept = Some(media_type::OCI_INDEX);
        let r = self.send(&call)?;
        let is_index = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(media_type::OCI_INDEX));
        Ok(r.status().as_u16() == 200 && is_index)
    }

    /// Adds `doc` to the referrers tag of `subject`; returns the tag.
    fn add_to_referrers_tag(&self, subject: &Digest, doc: &Doc) -> Result<String, OciError> {
        let tag = format!("sha256-{}", subject.hex());
        let target = self.dest.with_tag(&tag).to_string();
        let mut call = self.call(
            Method::GET,
            &format!("manifests/{tag}"),
            &target,
            "reading the referrers tag",
        );
        call.accept = Some(media_type::OCI_INDEX);
        let r = self.send(&call)?;
        let mut manifests: Vec<Value> = if r.status().as_u16() == 404 {
            Vec::new()
        } else {
            let r = self.expect(&call, r, &[200], "referrers tag")?;
            let bytes = read_small(r, MAX_MANIFEST, "the referrers index").map_err(|e| {
                RegistryError::Protocol {
                    target: target.clone(),
                    reason: format!("reading the referrers index: {e}"),
                }
            })?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match v.get("manifests").and_then(Value::as_array) {
                Some(list) => list.clone(),
                None => {
                    return Err(RegistryError::Protocol {
                        target,
                        reason: "the referrers tag does not name an image index; remove it or let another tool maintain it".into(),
                    }
                    .into())
                }
            }
        };
        let ours = doc.desc.digest.to_string();
        if manifests
            .iter()
            .any(|m| m.get("digest").and_then(Value::as_str) == Some(ours.as_str()))
        {
            return Ok(tag);
        }
        let mut entry = json!({
            "mediaType": doc.desc.media_type,
            "digest": ours,
            "size": doc.desc.size,
        });
        if let Some(t) = artifact_type(doc) {
            entry["artifactType"] = json!(t);
        }
        if let Some(a) = doc.json.get("annotations").filter(|a| a.is_object()) {
            entry["annotations"] = a.clone();
        }
        manifests.push(entry);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).unwrap_or_default();
        let index_doc = Doc {
            desc: Descriptor::new(
                media_type::OCI_INDEX,
                Digest::of(&bytes),
                bytes.len() as u64,
            ),
            bytes,
            json: index,
        };
        self.put_manifest(&index_doc, &tag)?;
        Ok(tag)
    }

    /// The platforms of a pushed image.
    fn platforms(&self, doc: &Doc) -> Result<Vec<PushedPlatform>, OciError> {
        if kind_of(&doc.desc.media_type) == Kind::Index {
            let list: Vec<Descriptor> = doc
                .json
                .get("manifests")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| OciError::Json {
                    what: format!("index {}", doc.desc.digest),
                    location: self.source.location().to_owned(),
                    reason: e.to_string(),
                })?
                .unwrap_or_default();
            return Ok(list
                .into_iter()
                .filter(|d| kind_of(&d.media_type) == Kind::Manifest)
                .map(|d| PushedPlatform {
                    platform: d.platform,
                    digest: d.digest,
                })
                .collect());
        }
        let platform = doc
            .json
            .get("config")
            .and_then(|c| serde_json::from_value::<Descriptor>(c.clone()).ok())
            .and_then(|c| self.source.read_blob(&c).ok())
            .and_then(|bytes| serde_json::from_slice::<Platform>(&bytes).ok());
        Ok(vec![PushedPlatform {
            platform,
            digest: doc.desc.digest.clone(),
        }])
    }
}

fn location(r: &reqwest::blocking::Response) -> Option<String> {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
