//! The registry client against real `docker-registry` processes (plain
//! HTTP, Basic auth behind TLS, token auth), checked with skopeo and umoci
//! as independent clients.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_image::registry::{
    AuthConfig, PushEvent, PushOptions, Registry, RegistryError, RegistryOptions, RegistryRef,
    Secret,
};
use oci_image::{
    media_type, open, Descriptor, Digest, ImageRef, LayoutWriter, OciError, RootFs,
    REF_NAME_ANNOTATION,
};
use serde_json::{json, Value};
use testkit::registry::Registry as Server;

const ALPINE: &str = "images/alpine-3.17.10-x86_64";

fn options(cache: &Path) -> RegistryOptions {
    RegistryOptions {
        cache_dir: Some(cache.to_owned()),
        certs_d: Vec::new(),
        attempts: 2,
        retry_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(120),
        ..RegistryOptions::default()
    }
}

fn client(cache: &Path) -> Registry {
    Registry::new(options(cache)).unwrap()
}

fn r(text: &str) -> RegistryRef {
    RegistryRef::parse(text).unwrap()
}

/// The corpus Alpine layout, copied into `server` as `alpine:3.17.10` by skopeo.
fn seed_alpine(server: &Server) -> String {
    let layout = testkit::corpus(ALPINE);
    let dest = format!("{}:3.17.10", server.reference("alpine"));
    server.skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:alpine-3.17.10", layout.display()),
        &dest,
    ]);
    dest
}

#[test]
fn pulls_alpine_by_tag_and_digest_like_the_layout() {
    let server = Server::plain();
    let tagged = seed_alpine(&server);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let reg = client(&cache);
    let layout = open(&ImageRef::Layout {
        path: testkit::corpus(ALPINE),
        reference: None,
    })
    .unwrap();
    let want = &layout.images()[0];

    // HEAD gives the digest cheaply.
    let resolved = reg.resolve(&r(&tagged)).unwrap();
    assert_eq!(resolved.digest, want.manifest.digest);
    assert_eq!(resolved.media_type, media_type::OCI_MANIFEST);

    let before = server.requests().len();
    let by_tag = reg.open(&r(&tagged)).unwrap();
    let img = &by_tag.images()[0];
    assert_eq!(img.platform, want.platform);
    assert_eq!(img.manifest.digest, want.manifest.digest);
    assert_eq!(img.config, want.config);
    assert_eq!(img.layers, want.layers);
    assert_eq!(img.diff_ids, want.diff_ids);
    assert_eq!(img.config_json, want.config_json);
    assert_eq!(by_tag.base_digest(), Some(want.manifest.digest.clone()));
    assert_eq!(by_tag.location(), tagged);
    // Manifest and config only: no layer is fetched until read.
    let blob_gets: Vec<_> = server.requests()[before..]
        .iter()
        .filter(|q| q.method == "GET" && q.uri.contains("/blobs/"))
        .map(|q| q.uri.clone())
        .collect();
    assert_eq!(blob_gets.len(), 1, "{blob_gets:?}");
    assert!(blob_gets[0].ends_with(&want.config.digest.to_string()));

    // Layers stream into the cache, verified, and read like the layout.
    by_tag.prefetch(&[img]).unwrap();
    let layer = &img.layers[0];
    let cached = cache.join("oci/blobs/sha256").join(layer.digest.hex());
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(
            testkit::corpus(ALPINE)
                .join("blobs/sha256")
                .join(layer.digest.hex())
        )
        .unwrap()
    );
    let (_, captured) = RootFs::scan(&by_tag, img, &|p: &str| p == "lib/apk/db/installed").unwrap();
    let (_, from_layout) =
        RootFs::scan(&layout, want, &|p: &str| p == "lib/apk/db/installed").unwrap();
    assert_eq!(captured, from_layout);

    // By digest: the same image; a second client reuses the cache and,
    // the manifest being pinned and cached, asks the registry nothing.
    let pinned = r(&format!(
        "{}@{}",
        server.reference("alpine"),
        want.manifest.digest
    ));
    let by_digest = reg.open(&pinned).unwrap();
    assert_eq!(by_digest.images()[0].layers, want.layers);
    let before = server.requests().len();
    let again = client(&cache).open(&pinned).unwrap();
    RootFs::scan(&again, &again.images()[0], &|_: &str| false).unwrap();
    assert_eq!(
        server.requests().len(),
        before,
        "{:?}",
        &server.requests()[before..]
    );

    // A wrong digest or tag is a clear error.
    let e = reg
        .open(&r(&format!("{}:nope", server.reference("alpine"))))
        .unwrap_err();
    assert!(
        matches!(&e, OciError::Registry(b) if matches!(**b, RegistryError::NotFound { .. })),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("alpine:nope") && text.contains("404"),
        "{text}"
    );
    assert!(text.contains("repository or tag unknown"), "{text}");
    let e = reg
        .open(&r(&format!("{}:1", server.reference("absent/repo"))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent/repo") && e.contains("404"), "{e}");
}

fn no_progress(_: PushEvent<'_>) {}

/// A gzip tar layer holding `path` with `content`: (blob, diff_id).
fn layer(path: &str, content: &[u8]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, content).unwrap();
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), Digest::of(&raw))
}

fn tag(mut d: Descriptor, t: &str) -> Descriptor {
    d.annotations.insert(REF_NAME_ANNOTATION.into(), t.into());
    d
}

/// What our build writes: `source`'s platform images each with one more
/// layer (`etc/assembled` = `marker`), an index when there are several,
/// tagged `latest` and `1.0`, and an SPDX artifact per platform manifest
/// whose `subject` is that manifest (listed untagged in `index.json`).
/// Returns the digest the tags point to.
fn build_layout(source: &Path, reference: Option<&str>, marker: &str, out: &Path) -> Digest {
    let src = open(&ImageRef::Layout {
        path: source.to_owned(),
        reference: reference.map(Into::into),
    })
    .unwrap();
    let mut w = LayoutWriter::create(out).unwrap();
    let (blob, diff_id) = layer("etc/assembled", marker.as_bytes());
    let new_layer = w.add_blob_bytes(media_type::OCI_LAYER_GZIP, &blob).unwrap();
    let empty = w.add_blob_bytes(media_type::EMPTY, b"{}").unwrap();
    let mut manifests = Vec::new();
    let mut artifacts = Vec::new();
    for img in src.images() {
        let mut layers: Vec<Descriptor> = img
            .layers
            .iter()
            .map(|l| w.copy_blob(&src, l).unwrap())
            .collect();
        layers.push(new_layer.clone());
        let mut config = img.config_json.clone();
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .unwrap()
            .push(json!(diff_id.to_string()));
        let config = w.add_json(media_type::OCI_CONFIG, &config).unwrap();
        let manifest = json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
            "config": config, "layers": layers});
        let mut m = w.add_json(media_type::OCI_MANIFEST, &manifest).unwrap();
        let sbom = w
            .add_blob_bytes(
                media_type::SPDX,
                format!("{{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"{marker}\"}}").as_bytes(),
            )
            .unwrap();
        let artifact = json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
            "artifactType": media_type::SPDX, "config": empty, "layers": [sbom], "subject": m,
            "annotations": {"org.opencontainers.image.title": "sbom"}});
        let mut a = w.add_json(media_type::OCI_MANIFEST, &artifact).unwrap();
        a.artifact_type = Some(media_type::SPDX.into());
        artifacts.push(a);
        m.platform = Some(img.platform.clone());
        manifests.push(m);
    }
    let top = if manifests.len() == 1 {
        let mut m = manifests.remove(0);
        m.platform = None;
        m
    } else {
        let index =
            json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": manifests});
        w.add_json(media_type::OCI_INDEX, &index).unwrap()
    };
    let digest = top.digest.clone();
    let mut entries = vec![tag(top.clone(), "latest"), tag(top, "1.0")];
    entries.extend(artifacts);
    w.finish(&entries).unwrap();
    digest
}

fn blob_writes(server: &Server, since: usize) -> Vec<String> {
    server.requests()[since..]
        .iter()
        .filter(|q| q.uri.contains("/blobs/uploads") && q.method != "GET")
        .map(|q| format!("{} {}", q.method, q.uri))
        .collect()
}

#[test]
fn pushes_our_layouts_with_mounts_referrers_and_cheap_repushes() {
    let server = Server::plain();
    seed_alpine(&server);
    let tmp = tempfile::tempdir().unwrap();
    let reg = client(&tmp.path().join("cache"));

    // Single platform, on Alpine, pushed next to it: Alpine's layer is mounted.
    let single = tmp.path().join("single");
    let digest = build_layout(&testkit::corpus(ALPINE), None, "single", &single);
    let dest = r(&server.reference("team/app"));
    let options = PushOptions {
        mount_from: vec![r(&format!("{}:3.17.10", server.reference("alpine")))],
    };
    let report = reg
        .push_layout(&single, &dest, &options, &no_progress)
        .unwrap();
    assert_eq!(report.images.len(), 1);
    let image = &report.images[0];
    assert_eq!(image.digest, digest);
    assert_eq!(image.platforms.len(), 1);
    assert_eq!(image.platforms[0].digest, digest);
    assert_eq!(
        image.platforms[0].platform.as_ref().unwrap().architecture,
        "amd64"
    );
    assert_eq!(
        image.references,
        [
            format!("{}:1.0", dest),
            format!("{}:latest", dest),
            format!("{}@{digest}", dest)
        ]
    );
    assert_eq!(report.blobs_mounted, 1, "{report:?}");
    // New layer, config, empty config, SBOM.
    assert_eq!(report.blobs_uploaded, 4, "{report:?}");
    assert!(server.log_text().contains("mount="));

    // skopeo sees our digest and exact bytes; umoci unpacks our file.
    let latest = format!("{dest}:latest");
    let v: Value = serde_json::from_str(&server.skopeo(&["inspect", &latest])).unwrap();
    assert_eq!(v["Digest"], digest.to_string());
    let raw = server.skopeo(&["inspect", "--raw", &latest]);
    assert_eq!(Digest::of(raw.as_bytes()), digest);
    assert_eq!(
        raw.as_bytes(),
        std::fs::read(single.join("blobs/sha256").join(digest.hex())).unwrap()
    );
    let rootfs = server.unpack(&latest, &tmp.path().join("unpacked"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/assembled")).unwrap(),
        "single"
    );
    assert!(rootfs.join("lib/apk/db/installed").is_file());

    // The SBOM is a referrer: Distribution 2.8 has no referrers API, so
    // the referrers tag lists it.
    assert_eq!(report.referrers.len(), 1);
    let referrer = &report.referrers[0];
    assert_eq!(referrer.subject, digest);
    let fallback = format!("sha256-{}", digest.hex());
    assert_eq!(referrer.fallback_tag.as_deref(), Some(fallback.as_str()));
    let idx: Value =
        serde_json::from_str(&server.skopeo(&["inspect", "--raw", &format!("{dest}:{fallback}")]))
            .unwrap();
    assert_eq!(idx["manifests"][0]["digest"], referrer.digest.to_string());
    assert_eq!(idx["manifests"][0]["artifactType"], media_type::SPDX);
    assert_eq!(
        idx["manifests"][0]["annotations"]["org.opencontainers.image.title"],
        "sbom"
    );

    // Pulled back by our client: the same image.
    let pulled = reg.open(&r(&latest)).unwrap();
    assert_eq!(pulled.base_digest(), Some(digest.clone()));

    // Re-pushing the unchanged image uploads nothing.
    let since = server.requests().len();
    let started = Instant::now();
    let again = reg
        .push_layout(&single, &dest, &options, &no_progress)
        .unwrap();
    let took = started.elapsed();
    println!(
        "re-push of an unchanged image: {took:?}, {} requests",
        server.requests().len() - since
    );
    assert_eq!(again.blobs_uploaded + again.blobs_mounted, 0, "{again:?}");
    assert_eq!(again.manifests_put, 0, "{again:?}");
    assert_eq!(blob_writes(&server, since), Vec::<String>::new());
    assert!(server.requests()[since..]
        .iter()
        .all(|q| q.method == "HEAD" || q.method == "GET"));

    // Two platforms give a two-platform index, each manifest with its SBOM.
    let multi = tmp.path().join("multi");
    let digest = build_layout(
        &testkit::corpus("apk/repo-small/top_image"),
        None,
        "multi",
        &multi,
    );
    let dest = r(&server.reference("team/multi"));
    let report = reg
        .push_layout(&multi, &dest, &PushOptions::default(), &no_progress)
        .unwrap();
    let image = &report.images[0];
    assert_eq!(image.digest, digest);
    assert_eq!(image.media_type, media_type::OCI_INDEX);
    let archs: Vec<&str> = image
        .platforms
        .iter()
        .map(|p| p.platform.as_ref().unwrap().architecture.as_str())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let raw: Value =
        serde_json::from_str(&server.skopeo(&["inspect", "--raw", &format!("{dest}:1.0")]))
            .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let arm: Value = serde_json::from_str(&server.skopeo(&[
        "inspect",
        "--override-arch",
        "arm64",
        &format!("{dest}:latest"),
    ]))
    .unwrap();
    assert_eq!(arm["Architecture"], "arm64");
    // skopeo reports the digest of what the tag names: our index.
    assert_eq!(arm["Digest"], digest.to_string());
    assert_eq!(report.referrers.len(), 2);
    for (p, referrer) in image.platforms.iter().zip(&report.referrers) {
        assert_eq!(referrer.subject, p.digest);
    }

    // Pushing to a tag picks the layout's one image.
    let report = reg
        .push_layout(
            &single,
            &r(&format!("{}:v9", server.reference("team/app"))),
            &options,
            &no_progress,
        )
        .unwrap();
    assert_eq!(
        report.images[0].references[0],
        format!("{}:v9", server.reference("team/app"))
    );
    assert_eq!(report.blobs_uploaded, 0);
}

#[test]
fn corrupt_layouts_and_refused_destinations_fail_clearly() {
    let server = Server::plain();
    let tmp = tempfile::tempdir().unwrap();
    let reg = client(&tmp.path().join("cache"));
    let layout = tmp.path().join("l");
    let digest = build_layout(&testkit::corpus(ALPINE), None, "x", &layout);
    let dest = r(&server.reference("c/app"));

    let e = reg
        .push_layout(
            &layout,
            &dest.with_digest(digest.clone()),
            &PushOptions::default(),
            &no_progress,
        )
        .unwrap_err();
    assert!(e.to_string().contains("takes no digest"), "{e}");

    // A flipped byte in the new layer: the upload stops with the digest
    // mismatch, no tag is written.
    let src = open(&ImageRef::Layout {
        path: layout.clone(),
        reference: Some("latest".into()),
    })
    .unwrap();
    let new_layer = src.images()[0].layers.last().unwrap().clone();
    let path = layout.join("blobs/sha256").join(new_layer.digest.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = reg
        .push_layout(&layout, &dest, &PushOptions::default(), &no_progress)
        .unwrap_err();
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains(&new_layer.digest.to_string()), "{e}");
    assert!(server
        .requests()
        .iter()
        .all(|q| !(q.method == "PUT" && q.uri.contains("/manifests/"))));
    let o = server.skopeo_output(&["inspect", &format!("{dest}:latest")]);
    assert!(!o.status.success());
}

/// Options for a TLS registry trusting its test CA through `certs.d`.
fn tls_options(server: &Server, cache: &Path, auth: AuthConfig) -> RegistryOptions {
    RegistryOptions {
        certs_d: vec![server.certs_d().unwrap()],
        auth,
        ..options(cache)
    }
}

fn auth_file(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine;
    let p = dir.join("docker/config.json");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(&p, json!({"auths": {host: {"auth": auth}}}).to_string()).unwrap();
    p
}

/// The same checks for both authenticated registries.
fn authenticated_round_trip(
    server: &Server,
    options_for: &dyn Fn(&Path, AuthConfig) -> RegistryOptions,
) {
    const PASSWORD: &str = "pw-Zq8#unique-secret";
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let digest = build_layout(&testkit::corpus(ALPINE), None, "auth", &layout);
    let dest = r(&server.reference("secure/app"));
    let cache = tmp.path().join("cache");
    let mut messages = Vec::new();

    // No credentials: unauthorized, naming the registry and where we looked.
    let none = Registry::new(options_for(
        &cache,
        AuthConfig::docker_only(tmp.path().join("none.json")),
    ))
    .unwrap();
    let e = none
        .push_layout(&layout, &dest, &PushOptions::default(), &no_progress)
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(server.host()) && text.contains("unauthorized"),
        "{text}"
    );
    assert!(text.contains("no credentials"), "{text}");
    messages.push(text);
    let e = none
        .open(&r(&format!("{dest}:latest")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unauthorized"), "{e}");
    messages.push(e);

    // Credentials from a docker config.json.
    let config = auth_file(tmp.path(), server.host(), "alice", PASSWORD);
    let reg = Registry::new(options_for(&cache, AuthConfig::docker_only(&config))).unwrap();
    let report = reg
        .push_layout(&layout, &dest, &PushOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(report.images[0].digest, digest);
    messages.push(format!("{report:?}"));
    let v: Value =
        serde_json::from_str(&server.skopeo(&["inspect", &format!("{dest}:latest")])).unwrap();
    assert_eq!(v["Digest"], digest.to_string());
    let pulled = reg.open(&r(&format!("{dest}:1.0"))).unwrap();
    RootFs::scan(&pulled, &pulled.images()[0], &|_: &str| false).unwrap();
    messages.push(format!("{pulled:?} {reg:?}"));

    // A wrong password: unauthorized, naming the file it came from.
    let wrong = auth_file(&tmp.path().join("w"), server.host(), "alice", "wrong");
    let bad = Registry::new(options_for(&cache, AuthConfig::docker_only(&wrong))).unwrap();
    let e = bad
        .resolve(&r(&format!("{dest}:latest")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unauthorized") && e.contains(&wrong.display().to_string()),
        "{e}"
    );
    messages.push(e);

    // login checks and stores; logout removes; then the stored credentials work.
    let login_config = tmp.path().join("login/config.json");
    let fresh = Registry::new(options_for(&cache, AuthConfig::docker_only(&login_config))).unwrap();
    let e = fresh
        .login(server.host(), "alice", Secret::new("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unauthorized") && e.contains(server.host()),
        "{e}"
    );
    assert!(!login_config.exists());
    messages.push(e);
    let stored = fresh
        .login(server.host(), "alice", Secret::new(PASSWORD))
        .unwrap();
    messages.push(stored.to_string());
    let after_login =
        Registry::new(options_for(&cache, AuthConfig::docker_only(&login_config))).unwrap();
    assert_eq!(
        after_login
            .resolve(&r(&format!("{dest}:latest")))
            .unwrap()
            .digest,
        digest
    );
    assert!(fresh.logout(server.host()).unwrap().is_some());
    let logged_out =
        Registry::new(options_for(&cache, AuthConfig::docker_only(&login_config))).unwrap();
    let e = logged_out
        .resolve(&r(&format!("{dest}:latest")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unauthorized"), "{e}");
    messages.push(e);

    let texts: Vec<&str> = messages.iter().map(String::as_str).collect();
    // The config files hold base64, as docker writes them; the cache and
    // the layout hold nothing of it.
    testkit::registry::assert_secret_absent(
        PASSWORD,
        &texts,
        &[&cache, &layout, login_config.parent().unwrap()],
    );
}

#[test]
fn basic_auth_behind_tls() {
    let server = Server::basic_tls("alice", "pw-Zq8#unique-secret");
    authenticated_round_trip(&server, &|cache, auth| tls_options(&server, cache, auth));

    // The CA can come from SSL_CERT_FILE's place instead of certs.d; with
    // neither, the TLS error says how to trust it.
    let tmp = tempfile::tempdir().unwrap();
    let via_bundle = Registry::new(RegistryOptions {
        ca_files: vec![server.ca_file().unwrap()],
        ..options(&tmp.path().join("c"))
    })
    .unwrap();
    let e = via_bundle
        .resolve(&r(&format!("{}:x", server.reference("a"))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unauthorized"), "{e}");
    let untrusted = client(&tmp.path().join("c"));
    let e = untrusted
        .resolve(&r(&format!("{}:x", server.reference("a"))))
        .unwrap_err()
        .to_string();
    assert!(e.contains("certificate") && e.contains("ca.crt"), "{e}");
}

#[test]
fn token_auth() {
    let server = Server::token("alice", "pw-Zq8#unique-secret");
    authenticated_round_trip(&server, &|cache, auth| RegistryOptions {
        auth,
        ..options(cache)
    });
    assert!(server.tokens_issued() > 0);
}
