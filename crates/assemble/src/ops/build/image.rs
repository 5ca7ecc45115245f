//! The JSON documents of an output image: config, manifest, image index
//! and the SBOM artifact, derived from the source image's documents.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// OCI media types we write: oci-image's one table, under the short names
/// this module uses.
pub mod media {
    pub use oci_image::media_type::{
        EMPTY, OCI_CONFIG as CONFIG, OCI_INDEX as INDEX, OCI_LAYER_GZIP as LAYER_GZIP,
        OCI_LAYER_ZSTD as LAYER_ZSTD, OCI_MANIFEST as MANIFEST, SPDX,
    };
}

/// APK architecture → OCI `(architecture, variant)`.
pub fn oci_platform(apk_arch: &str) -> (&str, Option<&str>) {
    match apk_arch {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "armv7" => ("arm", Some("v7")),
        "armhf" => ("arm", Some("v6")),
        "x86" => ("386", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

/// OCI `(architecture, variant)` → APK architecture.
pub fn apk_arch(architecture: &str, variant: Option<&str>) -> Option<&'static str> {
    Some(match (architecture, variant) {
        ("amd64", _) => "x86_64",
        ("arm64", _) => "aarch64",
        ("arm", Some("v6")) => "armhf",
        ("arm", _) => "armv7",
        ("386", _) => "x86",
        ("ppc64le", _) => "ppc64le",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        ("loong64", _) => "loongarch64",
        _ => return None,
    })
}

/// What the build adds to the source config.
pub struct ConfigChange<'a> {
    /// Per new layer, bottom first: its diff_id and the `created_by` of
    /// its history entry.
    pub layers: Vec<(String, String)>,
    /// RFC 3339 creation time.
    pub created: &'a str,
    /// Environment variables to set (replacing same-named ones).
    pub environment: &'a BTreeMap<String, String>,
    /// Labels to set.
    pub labels: &'a BTreeMap<String, String>,
    /// The config's `User` (`uid:gid` from `accounts.run_as`), when set.
    pub user: Option<&'a str>,
}

/// The output config: the source config (or a fresh one for `scratch`)
/// with the new layer, history entry, environment and labels.
pub fn config(source: Option<&Value>, apk_arch_name: &str, change: &ConfigChange<'_>) -> Value {
    let mut cfg = match source {
        Some(v) => v.clone(),
        None => {
            let (arch, variant) = oci_platform(apk_arch_name);
            let mut c = json!({
                "architecture": arch,
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            });
            if let Some(v) = variant {
                c["variant"] = json!(v);
            }
            c
        }
    };
    let obj = ensure_object(&mut cfg);
    obj.insert("created".into(), json!(change.created));
    let rootfs = ensure_object(
        obj.entry("rootfs")
            .or_insert_with(|| json!({"type": "layers"})),
    );
    let diff_ids = rootfs.entry("diff_ids").or_insert_with(|| json!([]));
    if let Some(list) = diff_ids.as_array_mut() {
        list.extend(change.layers.iter().map(|(d, _)| json!(d)));
    }
    let history = obj.entry("history").or_insert_with(|| json!([]));
    if let Some(list) = history.as_array_mut() {
        for (_, by) in &change.layers {
            list.push(
                json!({"created": change.created, "created_by": by, "comment": "cargo-assemble"}),
            );
        }
    }
    let config = ensure_object(obj.entry("config").or_insert_with(|| json!({})));
    if !change.environment.is_empty() {
        let env = config.entry("Env").or_insert_with(|| json!([]));
        if !env.is_array() {
            *env = json!([]);
        }
        if let Some(list) = env.as_array_mut() {
            for (k, v) in change.environment {
                list.retain(|e| {
                    e.as_str().and_then(|s| s.split_once('=')).map(|(n, _)| n) != Some(k.as_str())
                });
                list.push(json!(format!("{k}={v}")));
            }
        }
    }
    if let Some(user) = change.user {
        config.insert("User".into(), json!(user));
    }
    if !change.labels.is_empty() {
        let labels = ensure_object(config.entry("Labels").or_insert_with(|| json!({})));
        for (k, v) in change.labels {
            labels.insert(k.clone(), json!(v));
        }
    }
    cfg
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// A descriptor as JSON.
pub fn descriptor(media_type: &str, digest: &impl std::fmt::Display, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
}

/// The image manifest: source layers unchanged, then the new one.
pub fn manifest(
    config: Value,
    layers: Vec<Value>,
    annotations: &BTreeMap<String, String>,
) -> Value {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": config,
        "layers": layers,
    });
    if !annotations.is_empty() {
        m["annotations"] = json!(annotations);
    }
    m
}

/// The SBOM artifact manifest, referring to the image manifest.
pub fn sbom_manifest(sbom: Value, subject: Value) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": sbom["mediaType"].clone(),
        "config": {"mediaType": media::EMPTY, "digest": EMPTY_DIGEST, "size": 2, "data": "e30="},
        "layers": [sbom],
        "subject": subject,
    })
}

/// sha256 of `{}`, the empty config.
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// An image index of per-platform manifests.
pub fn index(manifests: Vec<Value>, annotations: &BTreeMap<String, String>) -> Value {
    let mut i = json!({"schemaVersion": 2, "mediaType": media::INDEX, "manifests": manifests});
    if !annotations.is_empty() {
        i["annotations"] = json!(annotations);
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn empty_digest_is_that_of_braces() {
        assert_eq!(
            EMPTY_DIGEST,
            format!("sha256:{}", hex::encode(Sha256::digest(b"{}")))
        );
    }

    #[test]
    fn config_keeps_the_source_and_appends() {
        let src = json!({"architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin", "A=1"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "history": [{"created_by": "umoci repack"}]});
        let env = BTreeMap::from([("A".to_owned(), "2".to_owned())]);
        let labels = BTreeMap::from([("org.example".to_owned(), "x".to_owned())]);
        let c = config(
            Some(&src),
            "x86_64",
            &ConfigChange {
                layers: vec![("sha256:bb".into(), "apk add x".into())],
                created: "1970-01-01T00:00:00Z",
                environment: &env,
                labels: &labels,
                user: Some("10001:10001"),
            },
        );
        assert_eq!(c["config"]["User"], "10001:10001");
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:aa", "sha256:bb"]));
        assert_eq!(c["config"]["Env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(c["config"]["Cmd"], json!(["/bin/sh"]));
        assert_eq!(c["config"]["Labels"]["org.example"], "x");
        assert_eq!(c["history"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn arch_mapping_round_trips() {
        for &a in crate::model::ARCHITECTURES {
            let (o, v) = oci_platform(a);
            assert_eq!(apk_arch(o, v), Some(a));
        }
    }
}
