//! The registry client against real `docker-registry` processes (plain
//! HTTP, Basic auth behind TLS, token auth), checked with skopeo and umoci
//! as independent clients.

use std::path::Path;
use std::time::Duration;

use oci_image::registry::{Registry, RegistryError, RegistryOptions, RegistryRef};
use oci_image::{media_type, open, ImageRef, OciError, RootFs};
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
