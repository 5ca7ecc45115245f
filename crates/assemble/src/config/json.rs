//! One image declared as a JSON (or TOML) table of the keys of `[image]`:
//! the body of the build service's `PUT /v1/repos/{name}`, checked by the
//! same key functions as assembly.toml, so the two cannot drift apart.
//!
//! The checks work on spans; here every value gets the span of its own
//! line in a synthetic text that lists the values' JSON pointers, and each
//! error is reported at the pointer of the value it blames
//! (`/packages/1`, `/annotations/a`, `/source` for a missing key).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::check::{Checker, IMAGE_KEYS};
use super::document::{Entry, Kind, Node};
use crate::model::{DeclarationFile, Image, Location};

/// One problem of a declaration table, at a JSON pointer (RFC 6901).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    /// JSON pointer of the value blamed (`""`: the whole declaration).
    pub path: String,
    /// What is wrong, and how to fix it.
    pub message: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Checks one image declaration given as a table (a JSON object, or a TOML
/// table converted with serde): the typed image, or every problem at once.
/// Relative paths are resolved against `base`; `origin` names the
/// declaration in [`Image::file`] (e.g. "request body").
pub fn image_from_value(
    value: &Value,
    base: &Path,
    origin: &str,
) -> Result<Image, Vec<ValueError>> {
    if !value.is_object() {
        return Err(vec![ValueError {
            path: String::new(),
            message: "the declaration must be an object with the keys of [image] (name, source, packages, …)".into(),
        }]);
    }
    let mut text = String::new();
    let mut pointers = Vec::new();
    let root = node(value, "", &mut text, &mut pointers);
    let file = Arc::new(DeclarationFile {
        path: origin.into(),
        text,
    });
    let mut seen = BTreeMap::new();
    let mut checker = Checker::new(file, base, &mut seen);
    let mut images = Vec::new();
    checker.images(&root, &(0..0), "image", &mut images);
    let mut images = checker.expand_overlays(images);
    if images.len() > 1 {
        let names: Vec<String> = images.iter().map(|i| i.name.value.clone()).collect();
        checker.error(
            0..0,
            format!(
                "the overlays make {} images ({}): submit one declaration per variant",
                images.len(),
                names.join(", ")
            ),
            None,
        );
    }
    let errors = checker.errors.errors;
    if errors.is_empty() {
        if let Some(image) = images.pop() {
            return Ok(image);
        }
    }
    Err(errors
        .into_iter()
        .map(|e| {
            let mut path = pointers
                .iter()
                .find(|(span, _)| *span == e.span)
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            if path.is_empty() {
                // Missing keys are reported at the table itself.
                if let Some(key) = IMAGE_KEYS
                    .iter()
                    .find(|k| e.message == format!("missing required key '{}'", k.name))
                {
                    path = format!("/{}", key.name);
                }
            }
            ValueError {
                path,
                message: e.to_string(),
            }
        })
        .collect())
}

/// The declaration of `image` as a JSON object with every local path
/// absolute (the form [`image_from_value`] reads back the same image from,
/// wherever it runs): what a client submits to the build service.
pub fn image_to_value(image: &Image) -> Value {
    let strings = |v: Vec<String>| Value::from(v);
    let mut out = serde_json::Map::new();
    out.insert("name".into(), Value::from(image.name.value.clone()));
    out.insert(
        "source".into(),
        Value::from(image.source.reference.to_string()),
    );
    if !image.packages.is_empty() {
        out.insert(
            "packages".into(),
            strings(image.packages.iter().map(|p| p.to_string()).collect()),
        );
    }
    if !image.repositories.is_empty() {
        let repos = image.repositories.iter().map(|r| match &r.location {
            Location::Local(path) => match &r.tag {
                Some(tag) => format!("@{tag} {}", path.display()),
                None => path.display().to_string(),
            },
            Location::Url(_) => r.as_written.clone(),
        });
        out.insert("repositories".into(), strings(repos.collect()));
    }
    if !image.keyring.is_empty() {
        let keys = image.keyring.iter().map(|k| k.path.display().to_string());
        out.insert("keyring".into(), strings(keys.collect()));
    }
    if !image.architectures.is_empty() {
        let archs = image.architectures.iter().map(|a| a.value.clone());
        out.insert("architectures".into(), strings(archs.collect()));
    }
    out.insert("tags".into(), strings(image.tags.clone()));
    if !image.publish.is_empty() {
        let publish = image.publish.iter().map(|p| p.value.to_string());
        out.insert("publish".into(), strings(publish.collect()));
    }
    if image.layers != 1 {
        out.insert("layers".into(), Value::from(image.layers));
    }
    if image.compression != Default::default() {
        out.insert("compression".into(), Value::from(image.compression.name()));
    }
    for (key, map) in [
        ("annotations", &image.annotations),
        ("environment", &image.environment),
    ] {
        if !map.is_empty() {
            out.insert(key.into(), serde_json::json!(map));
        }
    }
    app_to_value(image, &mut out);
    super::check::extras_to_value(image, &mut out);
    Value::Object(out)
}

/// The application keys that mean something without a crate (the build
/// service has no crate to compile): files and run settings.
fn app_to_value(image: &Image, out: &mut serde_json::Map<String, Value>) {
    use serde_json::json;
    let app = &image.app;
    if !app.files.is_empty() {
        let files: Vec<Value> = app
            .files
            .iter()
            .map(|f| {
                let mut v = json!({"src": f.src.display().to_string(), "dst": f.dst});
                if let Some(mode) = f.mode {
                    v["mode"] = json!(format!("{mode:04o}"));
                }
                v
            })
            .collect();
        out.insert("files".into(), Value::Array(files));
    }
    for (key, value) in [("entrypoint", &app.entrypoint), ("cmd", &app.cmd)] {
        if let Some(v) = value {
            out.insert(key.into(), json!(v.value));
        }
    }
    for (key, value) in [
        ("workdir", &app.workdir),
        ("user", &app.user),
        ("stop_signal", &app.stop_signal),
    ] {
        if let Some(v) = value {
            out.insert(key.into(), json!(v.value));
        }
    }
    for (key, list) in [("ports", &app.ports), ("volumes", &app.volumes)] {
        if !list.is_empty() {
            let values: Vec<&str> = list.iter().map(|v| v.as_str()).collect();
            out.insert(key.into(), json!(values));
        }
    }
}

/// The node of `value` at `pointer`, its span the pointer's line of `text`.
fn node(
    value: &Value,
    pointer: &str,
    text: &mut String,
    pointers: &mut Vec<(Range<usize>, String)>,
) -> Node {
    let span = if pointer.is_empty() {
        0..0
    } else {
        text.push('\n');
        let start = text.len();
        text.push_str(pointer);
        start..text.len()
    };
    pointers.push((span.clone(), pointer.to_owned()));
    let kind = match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        // Past i64 (a huge u64): out of every range a key accepts.
        Value::Number(n) => Kind::Int(n.as_i64().unwrap_or(i64::MAX)),
        Value::String(s) => Kind::Str(s.clone()),
        Value::Array(items) => Kind::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| node(v, &format!("{pointer}/{i}"), text, pointers))
                .collect(),
        ),
        Value::Object(map) => Kind::Table(
            map.iter()
                .map(|(k, v)| {
                    let value = node(v, &format!("{pointer}/{}", escape(k)), text, pointers);
                    Entry {
                        key: k.clone(),
                        key_span: value.span.clone(),
                        value,
                    }
                })
                .collect(),
        ),
    };
    Node {
        kind,
        span: Some(span),
    }
}

/// RFC 6901: `~` → `~0`, `/` → `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(value: Value) -> Vec<(String, String)> {
        image_from_value(&value, Path::new("/srv"), "body")
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn every_error_at_its_pointer() {
        let errors = paths(json!({
            "name": "Img",
            "packages": ["curl", 7, "bad>>"],
            "tags": "latest",
            "annotations": {"a/b": 1},
            "pakages": [],
            "architectures": ["arm64"],
        }));
        let at: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            at,
            [
                "/annotations/a~1b",
                "/architectures/0",
                "/name",
                "/packages/1",
                "/packages/2",
                "/pakages",
                "/tags",
                "/source"
            ]
        );
        assert!(
            errors[5].1.contains("did you mean 'packages'"),
            "{errors:?}"
        );
        assert!(errors[1].1.contains("aarch64"), "{errors:?}");
        assert!(errors[7].1.contains("missing required key 'source'"));
        assert_eq!(paths(json!(null))[0].0, "");
        assert!(paths(json!({"name": "a", "source": null}))[0]
            .1
            .contains("found null"));
    }

    #[test]
    fn round_trip_with_absolute_paths() {
        let image = image_from_value(
            &json!({
                "name": "app",
                "source": "oci:./base:3.12",
                "packages": ["curl>=8", "py3-x@edge"],
                "repositories": ["./repo", "@edge https://h.example/edge"],
                "keyring": ["keys/k.rsa.pub"],
                "environment": {"A": "b"},
            }),
            Path::new("/proj"),
            "body",
        )
        .unwrap();
        assert_eq!(image.source.reference.to_string(), "oci:/proj/base:3.12");
        let value = image_to_value(&image);
        assert_eq!(
            value,
            json!({
                "name": "app",
                "source": "oci:/proj/base:3.12",
                "packages": ["curl>=8", "py3-x@edge"],
                "repositories": ["/proj/repo", "@edge https://h.example/edge"],
                "keyring": ["/proj/keys/k.rsa.pub"],
                "tags": ["latest"],
                "environment": {"A": "b"},
            })
        );
        let again = image_from_value(&value, Path::new("/elsewhere"), "body").unwrap();
        assert_eq!(image_to_value(&again), value);
    }
}

#[cfg(test)]
mod app_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_settings_and_files_round_trip() {
        let value = json!({
            "name": "app",
            "source": "scratch",
            "tags": ["latest"],
            "files": [{"src": "/proj/dist/app", "dst": "/usr/bin/app", "mode": "0755"}],
            "entrypoint": ["/usr/bin/app"],
            "cmd": ["--serve"],
            "workdir": "/srv",
            "user": "65532",
            "stop_signal": "SIGINT",
            "ports": ["8080/tcp"],
            "volumes": ["/data"],
        });
        let image = image_from_value(&value, Path::new("/proj"), "body").unwrap();
        assert_eq!(image.app.files[0].mode, Some(0o755));
        assert_eq!(image_to_value(&image), value);
    }
}
