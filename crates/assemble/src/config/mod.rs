//! The image declaration users write: `assembly.toml`, or
//! `[package.metadata.image]` in any Cargo.toml of a workspace, read into
//! the [model](crate::model).
//!
//! ```toml
//! [image]                                  # or [[image]] for several
//! name = "python-custom"
//! source = "oci:./base:latest"             # oci-archive:FILE[:REF], scratch
//! packages = ["curl", "py3-requests>=2.31"]
//! repositories = ["./repo", "@acme https://apk.example.org/acme"]
//! keyring = ["keys/acme.rsa.pub"]
//! architectures = ["x86_64", "aarch64"]   # default: all of the source's
//! tags = ["latest"]                        # default ["latest"]
//! [image.annotations]                      # string → string
//! [image.environment]                      # string → string
//! ```
//!
//! Reading is split by concern: [`document`] parses TOML keeping spans,
//! [`check`] turns tables into [`Image`]s key by key ([`IMAGE_KEYS`]),
//! [`suggest`] finds "did you mean", [`errors`] renders problems;
//! [`json`] reads one image given as a JSON table (the build service).
//! Checking never stops at the first problem: every error of a file is
//! collected into [`ConfigErrors`] with its byte span, 1-based line and
//! column, so `validate` and the fancy miette report can show them all.
//! Relative paths (local repositories, keys, `oci:` layouts) are resolved
//! against the directory of the file that declares them.

mod check;
mod document;
mod errors;
mod json;
pub(crate) mod suggest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::{extras_summary, ImageKey, Shape, IMAGE_KEYS};
pub use errors::{ConfigError, ConfigErrors};
pub use json::{image_from_value, image_to_value, ValueError};

use crate::model::{absolute_dir, DeclarationFile, Image};
use check::{Checker, Seen};

/// The file name looked for by [`discover`].
pub const ASSEMBLY_FILE: &str = "assembly.toml";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    /// assembly.toml: `[image]` / `[[image]]` at the top.
    Assembly,
    /// Cargo.toml of this package: `[package.metadata.image]`, other keys
    /// ignored.
    Cargo(&'a str),
}

/// Loads the images declared in `path`: a file named `Cargo.toml` goes
/// through [`load_cargo`], anything else is read as an assembly.toml.
/// Relative paths are resolved against the file's absolute directory.
pub fn load(path: &Path) -> Result<Vec<Image>, ConfigErrors> {
    if path.file_name().is_some_and(|n| n == "Cargo.toml") {
        return load_cargo(path);
    }
    let text = read(path)?;
    let base = absolute_dir(path);
    let mut seen = BTreeMap::new();
    let (images, mut errors) = check_file(text, path, &base, Route::Assembly, &mut seen);
    if errors.is_empty() && images.is_empty() {
        errors.push(
            0..0,
            "no image declared",
            Some("add an [image] table with at least `name` and `source`".into()),
        );
    }
    finish(images, errors)
}

/// Parses assembly.toml text; `file` names it in errors and its directory
/// (as given) resolves relative paths.
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<Image>, ConfigErrors> {
    let base = file.parent().unwrap_or(Path::new("")).to_owned();
    let mut seen = BTreeMap::new();
    let (images, errors) = check_file(text.to_owned(), file, &base, Route::Assembly, &mut seen);
    finish(images, errors)
}

/// Checks the `[package.metadata.image]` of the Cargo.toml text of
/// `package` (without running cargo: `init --template rust-app`).
pub fn parse_cargo_str(text: &str, file: &Path, package: &str) -> Result<Vec<Image>, ConfigErrors> {
    let base = file.parent().unwrap_or(Path::new("")).to_owned();
    let mut seen = BTreeMap::new();
    let route = Route::Cargo(package);
    let (images, errors) = check_file(text.to_owned(), file, &base, route, &mut seen);
    finish(images, errors)
}

/// Loads the `[package.metadata.image]` declarations (table or array of
/// tables) of every package of the workspace `manifest_path` belongs to,
/// found with `cargo metadata --no-deps`. Spans point into each manifest.
pub fn load_cargo(manifest_path: &Path) -> Result<Vec<Image>, ConfigErrors> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest_path)
        .no_deps()
        .exec();
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            let text = std::fs::read_to_string(manifest_path).unwrap_or_default();
            let mut errors = ConfigErrors::new(manifest_path, text);
            errors.push(0..0, format!("`cargo metadata` failed: {e}"), None);
            return Err(errors);
        }
    };
    let mut images = Vec::new();
    let mut failed: Vec<ConfigErrors> = Vec::new();
    let mut seen = BTreeMap::new();
    for package in &metadata.packages {
        if package.metadata.get("image").is_none_or(|v| v.is_null()) {
            continue;
        }
        let manifest = package.manifest_path.as_std_path();
        let text = match read(manifest) {
            Ok(t) => t,
            Err(e) => {
                failed.push(e);
                continue;
            }
        };
        let base = absolute_dir(manifest);
        let route = Route::Cargo(&package.name);
        let (found, errors) = check_file(text, manifest, &base, route, &mut seen);
        if errors.is_empty() {
            let cargo = crate::model::CargoPackage {
                name: package.name.to_string(),
                target_dir: metadata.target_directory.clone().into_std_path_buf(),
            };
            images.extend(found.into_iter().map(|mut image| {
                image.app.package = Some(cargo.clone());
                image
            }));
        } else {
            failed.push(errors);
        }
    }
    if failed.is_empty() && images.is_empty() {
        let text = std::fs::read_to_string(manifest_path).unwrap_or_default();
        let mut errors = ConfigErrors::new(manifest_path, text);
        errors.push(
            0..0,
            "no package of this workspace declares an image",
            Some("add a [package.metadata.image] table with `name` and `source`".into()),
        );
        return Err(errors);
    }
    if failed.is_empty() {
        return Ok(images);
    }
    let mut first = failed.remove(0);
    first.others = failed;
    Err(first)
}

/// Finds the declaration in `dir`: `assembly.toml`, else a `Cargo.toml`
/// holding `[package.metadata.image]`.
pub fn discover(dir: &Path) -> Option<PathBuf> {
    let assembly = dir.join(ASSEMBLY_FILE);
    if assembly.is_file() {
        return Some(assembly);
    }
    let cargo = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo).ok()?;
    let root = document::parse(&text).ok()?;
    root.get("package")?
        .value
        .get("metadata")?
        .value
        .get("image")
        .map(|_| cargo)
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        let mut errors = ConfigErrors::new(path, String::new());
        errors.push(0..0, format!("cannot read {}: {e}", path.display()), None);
        errors
    })
}

fn finish(images: Vec<Image>, errors: ConfigErrors) -> Result<Vec<Image>, ConfigErrors> {
    if errors.is_empty() {
        Ok(images)
    } else {
        Err(errors)
    }
}

/// Checks one file's text: the images it declares, and every problem.
fn check_file(
    text: String,
    file: &Path,
    base: &Path,
    route: Route<'_>,
    seen: &mut Seen,
) -> (Vec<Image>, ConfigErrors) {
    let root = document::parse(&text);
    let file = Arc::new(DeclarationFile {
        path: file.to_owned(),
        text,
    });
    let mut c = Checker::new(file, base, seen);
    if let Route::Cargo(package) = route {
        c.package = Some(package.to_owned());
    }
    let root = match root {
        Ok(root) => root,
        Err(e) => {
            c.error(e.span, e.message, None);
            return (Vec::new(), c.errors);
        }
    };
    let mut images = Vec::new();
    match route {
        Route::Assembly => {
            for entry in root.entries().unwrap_or_default() {
                if entry.key == "image" {
                    let at = entry.key_span.clone().unwrap_or(0..0);
                    c.images(&entry.value, &at, "image", &mut images);
                } else {
                    c.unknown_key(entry, &["image"], "at the top level");
                }
            }
        }
        Route::Cargo(_) => {
            let image = root
                .get("package")
                .and_then(|p| p.value.get("metadata"))
                .and_then(|m| m.value.get("image"));
            if let Some(entry) = image {
                let at = entry.key_span.clone().unwrap_or(0..0);
                c.images(&entry.value, &at, "package.metadata.image", &mut images);
            }
        }
    }
    let images = c.expand_overlays(images);
    c.errors.sort();
    (images, c.errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Location, Spanned};
    use assemble_io::tarball::Compression;
    use miette::Diagnostic;
    use oci_image::ImageRef;

    const FULL: &str = r#"
[image]
name = "python-custom"
source = "oci:./base:3.12"
packages = ["curl", "py3-requests>=2.31"]
repositories = ["./repo", "https://apk.example.org/acme"]
keyring = ["keys/acme.rsa.pub"]
architectures = ["x86_64", "aarch64"]
tags = ["latest", "3.12"]
[image.annotations]
"org.opencontainers.image.title" = "Python, customized"
[image.environment]
PYTHONUNBUFFERED = "1"
"#;

    fn errors(text: &str) -> ConfigErrors {
        parse_str(text, Path::new("assembly.toml")).unwrap_err()
    }

    fn values<T: Clone>(list: &[Spanned<T>]) -> Vec<T> {
        list.iter().map(|s| s.value.clone()).collect()
    }

    #[test]
    fn full_example() {
        let images = parse_str(FULL, Path::new("/proj/assembly.toml")).unwrap();
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!(img.file.path, Path::new("/proj/assembly.toml"));
        assert_eq!(*img.name, "python-custom");
        assert_eq!(img.source.as_written, "oci:./base:3.12");
        assert_eq!(img.source.reference.to_string(), "oci:/proj/base:3.12");
        assert_eq!(
            img.source.reference,
            ImageRef::Layout {
                path: "/proj/base".into(),
                reference: Some("3.12".into())
            }
        );
        let atoms: Vec<String> = img.packages.iter().map(|a| a.to_string()).collect();
        assert_eq!(atoms, ["curl", "py3-requests>=2.31"]);
        assert_eq!(
            &FULL[img.packages[1].span.clone()],
            "\"py3-requests>=2.31\""
        );
        assert_eq!(&FULL[img.name.span.clone()], "\"python-custom\"");
        assert_eq!(
            img.repositories[0].location,
            Location::Local("/proj/repo".into())
        );
        assert!(img.repositories[1].is_remote());
        let written: Vec<&str> = img
            .repositories
            .iter()
            .map(|r| r.as_written.as_str())
            .collect();
        assert_eq!(written, ["./repo", "https://apk.example.org/acme"]);
        assert_eq!(
            img.keyring[0].path,
            PathBuf::from("/proj/keys/acme.rsa.pub")
        );
        assert_eq!(img.keyring[0].as_written, "keys/acme.rsa.pub");
        assert_eq!(values(&img.architectures), ["x86_64", "aarch64"]);
        assert_eq!(img.tags, ["latest", "3.12"]);
        assert_eq!(
            img.annotations["org.opencontainers.image.title"],
            "Python, customized"
        );
        assert_eq!(img.environment["PYTHONUNBUFFERED"], "1");
    }

    #[test]
    fn defaults() {
        let images = parse_str(
            "[image]\nname = \"a\"\nsource = \"scratch\"\n",
            Path::new("assembly.toml"),
        )
        .unwrap();
        let img = &images[0];
        assert_eq!(img.source.reference, ImageRef::Scratch);
        assert_eq!(img.tags, ["latest"]);
        assert!(img.architectures.is_empty());
        assert!(img.packages.is_empty() && img.repositories.is_empty());
    }

    #[test]
    fn array_of_images() {
        let text = r#"
[[image]]
name = "one"
source = "oci-archive:base.tar"
packages = ["busybox"]

[[image]]
name = "two"
source = "oci:/abs/layout"
environment = { A = "b" }
"#;
        let images = parse_str(text, Path::new("dir/assembly.toml")).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(*images[0].name, "one");
        assert_eq!(
            images[0].source.reference,
            ImageRef::Archive {
                path: "dir/base.tar".into(),
                reference: None
            }
        );
        assert_eq!(*images[1].name, "two");
        assert_eq!(images[1].source.reference.to_string(), "oci:/abs/layout");
        assert_eq!(images[1].environment["A"], "b");
    }

    #[test]
    fn registry_keys_are_checked() {
        let ok = r#"[image]
name = "a"
source = "docker://alpine:3.20"
publish = ["docker://localhost:5000/team/a", "docker://ghcr.io/acme/a"]
layers = 3
"#;
        let images = parse_str(ok, Path::new("assembly.toml")).unwrap();
        assert_eq!(
            images[0].source.reference.to_string(),
            "docker://docker.io/library/alpine:3.20"
        );
        assert_eq!(images[0].publish.len(), 2);
        assert_eq!(images[0].layers, 3);
        let bad = r#"[image]
name = "a"
source = "alpine:3.20"
publish = ["docker://h:5000/r:v1", "oci:out", "docker://h/r", "docker://h/r"]
layers = 0
"#;
        let errs = errors(bad).to_string();
        for want in [
            "invalid source 'alpine:3.20'",
            "write a registry image as \"docker://alpine:3.20\"",
            "publish destination 'docker://h:5000/r:v1' names a tag or digest",
            "invalid publish destination 'oci:out'",
            "duplicate destination 'docker://h/r'",
            "'layers' is 0, outside 1 to 32",
        ] {
            assert!(errs.contains(want), "{want} in {errs}");
        }
        let errs = errors("[image]\nname = \"a\"\nsource = \"scratch\"\nlayer = 2\n").to_string();
        assert!(errs.contains("did you mean 'layers'?"), "{errs}");
    }

    #[test]
    fn layer_compression_is_gzip_or_zstd() {
        let decl = |value: &str| {
            format!("[image]\nname = \"a\"\nsource = \"scratch\"\ncompression = {value}\n")
        };
        let image = |value: &str| {
            parse_str(&decl(value), Path::new("assembly.toml"))
                .unwrap()
                .remove(0)
        };
        assert_eq!(image("\"zstd\"").compression, Compression::Zstd);
        assert_eq!(image("\"gzip\"").compression, Compression::Gzip);
        let default = parse_str(
            "[image]\nname = \"a\"\nsource = \"scratch\"\n",
            Path::new("assembly.toml"),
        )
        .unwrap()
        .remove(0);
        assert_eq!(default.compression, Compression::Gzip);
        // Only a declared zstd is part of the state (a change shows in plan)
        // and of the JSON form, which reads back the same.
        let zstd = image("\"zstd\"");
        assert_eq!(
            extras_summary(&zstd).get("compression").map(String::as_str),
            Some("zstd")
        );
        assert!(!extras_summary(&default).contains_key("compression"));
        let again = image_from_value(&image_to_value(&zstd), Path::new("/p"), "body").unwrap();
        assert_eq!(again.compression, Compression::Zstd);
        assert!(image_to_value(&default).get("compression").is_none());
        let errs = errors(&decl("\"zstdd\"")).to_string();
        assert!(errs.contains("unknown layer compression 'zstdd'"), "{errs}");
        assert!(errs.contains("did you mean 'zstd'?"), "{errs}");
        let errs = errors(&decl("3")).to_string();
        assert!(errs.contains("'compression' must be a string"), "{errs}");
    }

    #[test]
    fn every_error_is_reported() {
        let text = r#"[[image]]
name = "demo"
source = "oci:./base"
pakages = ["curl"]
packages = "curl"

[[image]]
name = "Other"
source = "docker://alpine:3.20"
packages = ["ok", "foo==", 3]
architectures = ["x86_64", "arm64", "sparc"]
tags = ["-bad"]
annotations = { a = 1 }

[[image]]
name = "demo"
"#;
        let errs = errors(text);
        insta::assert_snapshot!(errs.to_string(), @r#"
        assembly.toml:4:1: unknown key 'pakages' in an image (did you mean 'packages'?)
        assembly.toml:5:12: 'packages' must be an array of strings, found a string (write packages = ["curl"])
        assembly.toml:8:8: invalid image name 'Other' (image names are lowercase: try 'other')
        assembly.toml:10:19: 'foo==' is not a valid dependency: an operator must be followed by a version
        assembly.toml:10:28: 'packages' entries must be strings, found an integer
        assembly.toml:11:28: unknown architecture 'arm64' (did you mean 'aarch64'?)
        assembly.toml:11:37: unknown architecture 'sparc' (known architectures: x86_64, aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64)
        assembly.toml:12:9: invalid tag '-bad' (tags are 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')
        assembly.toml:13:21: 'annotations.a' must be a string, found an integer (quote the value)
        assembly.toml:15:1: missing required key 'source' (e.g. source = "docker://cgr.dev/chainguard/wolfi-base:latest", "oci:./base:latest", "oci-archive:base.tar" or "scratch")
        assembly.toml:16:8: duplicate image name 'demo' (first declared at assembly.toml:2:8)
        "#);
        assert_eq!(errs.len(), 11);
        let first = &errs.errors[0];
        assert_eq!(&text[first.span.clone()], "pakages");
    }

    #[test]
    fn syntax_and_top_level_errors() {
        let errs = errors("[image]\nname = \"a\nsource = 1\n");
        assert_eq!(errs.errors.len(), 1);
        assert_eq!(errs.errors[0].line, 2);

        let errs = errors("imgae = 1\n[image]\nname = \"a\"\nsource = \"scratch\"\ntags = []\n");
        insta::assert_snapshot!(errs.to_string(), @r"
        assembly.toml:1:1: unknown key 'imgae' at the top level (did you mean 'image'?)
        assembly.toml:5:8: 'tags' is empty (remove the key to tag the image 'latest')
        ");

        let errs = errors("image = \"x\"\n");
        assert_eq!(
            errs.to_string(),
            "assembly.toml:1:9: 'image' must be a table ([image]) or an array of tables ([[image]]), found a string"
        );

        // Wrong element types are named as such, not as an empty list.
        let errs = errors("[image]\nname = \"a\"\nsource = \"scratch\"\ntags = [1, 2]\n");
        assert_eq!(errs.len(), 2);
        assert!(errs
            .errors
            .iter()
            .all(|e| e.message.contains("must be strings")));
    }

    #[test]
    fn diagnostic_labels_point_into_the_file() {
        let errs = errors("[image]\nname = \"a\"\nsource = \"scratch\"\npakages = []\n");
        let labels: Vec<_> = errs.labels().unwrap().collect();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].offset(), 38);
        assert_eq!(labels[0].len(), "pakages".len());
        assert!(errs.source_code().is_some());
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &errs)
            .unwrap();
        assert!(out.contains("pakages = []"), "{out}");
        assert!(out.contains("did you mean 'packages'?"), "{out}");
        assert!(out.contains("[assembly.toml:4:1]"), "{out}");
    }

    #[test]
    fn credentials_in_repository_urls_are_refused_and_never_shown() {
        let errs = errors(
            "[image]\nname = \"a\"\nsource = \"scratch\"\nrepositories = [\"https://alice:s3cret@repo.example/x\"]\n",
        );
        assert_eq!(errs.len(), 1);
        assert!(errs.errors[0]
            .help
            .as_deref()
            .unwrap()
            .contains("HTTP_AUTH"));
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &errs)
            .unwrap();
        let shown = format!("{out}{errs}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(shown.contains("repo.example"), "{shown}");
    }

    #[test]
    fn tagged_atoms_need_a_tagged_repository() {
        let text = "[image]\nname = \"a\"\nsource = \"scratch\"\npackages = [\"pkg@acme\"]\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 1);
        assert_eq!(&text[errs.errors[0].span.clone()], "\"pkg@acme\"");
        assert!(errs.errors[0].message.contains("@acme"), "{errs}");
        let ok = format!("{text}repositories = [\"@acme ./acme\"]\n");
        let img = &parse_str(&ok, Path::new("/p/assembly.toml")).unwrap()[0];
        assert_eq!(img.repositories[0].tag.as_deref(), Some("acme"));
        assert_eq!(img.packages[0].tag(), Some("acme"));
    }

    #[test]
    fn relative_paths_resolve_against_the_declaring_directory() {
        let text = r#"[image]
name = "x"
source = "oci:../layouts/base"
repositories = ["repo", "@acme ./acme-repo", "/abs/repo", "https://h/r"]
keyring = ["./keys/a.rsa.pub", "/etc/k.pub"]
"#;
        let img = &parse_str(text, Path::new("/w/proj/assembly.toml")).unwrap()[0];
        assert_eq!(img.source.reference.to_string(), "oci:/w/layouts/base");
        let locations: Vec<&Location> = img.repositories.iter().map(|r| &r.location).collect();
        assert_eq!(
            locations,
            [
                &Location::Local("/w/proj/repo".into()),
                &Location::Local("/w/proj/acme-repo".into()),
                &Location::Local("/abs/repo".into()),
                &Location::Url("https://h/r".parse().unwrap()),
            ]
        );
        assert_eq!(img.repositories[1].tag.as_deref(), Some("acme"));
        let keys: Vec<&Path> = img.keyring.iter().map(|k| k.path.as_path()).collect();
        assert_eq!(
            keys,
            [Path::new("/w/proj/keys/a.rsa.pub"), Path::new("/etc/k.pub")]
        );

        // load() resolves against the absolute directory of the file.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("assembly.toml");
        std::fs::write(&file, text).unwrap();
        let img = &load(&file).unwrap()[0];
        assert_eq!(
            img.keyring[0].path,
            crate::model::clean(&dir.path().join("keys/a.rsa.pub"))
        );
        assert_eq!(discover(dir.path()), Some(file));
    }

    #[test]
    fn cargo_workspace_route() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"other\"]\nresolver = \"2\"\n",
        );
        write(
            "app/Cargo.toml",
            r#"[package]
name = "app"
version = "0.1.0"
edition = "2021"

[package.metadata.image]
name = "app"
source = "oci:./base"
keyring = ["keys/app.rsa.pub"]
packages = ["musl"]
"#,
        );
        write("app/src/lib.rs", "");
        write(
            "other/Cargo.toml",
            "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        write("other/src/lib.rs", "");

        let root = std::fs::canonicalize(root).unwrap();
        for manifest in ["Cargo.toml", "other/Cargo.toml", "app/Cargo.toml"] {
            let images = load(&root.join(manifest)).unwrap();
            assert_eq!(images.len(), 1, "{manifest}");
            let img = &images[0];
            assert_eq!(*img.name, "app");
            assert_eq!(img.file.path, root.join("app/Cargo.toml"));
            assert_eq!(img.keyring[0].path, root.join("app/keys/app.rsa.pub"));
            assert_eq!(
                img.source.reference.to_string(),
                format!("oci:{}", root.join("app/base").display())
            );
        }
        assert_eq!(
            discover(&root.join("app")),
            Some(root.join("app/Cargo.toml"))
        );
        assert_eq!(discover(&root.join("other")), None);

        // Errors point into the member's manifest.
        write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [package.metadata.image]\nname = \"app\"\nsource = \"oci:./base\"\narchitectures = [\"amd64\"]\n",
        );
        let errs = load(&root.join("Cargo.toml")).unwrap_err();
        assert_eq!(errs.file, root.join("app/Cargo.toml"));
        assert_eq!(errs.errors.len(), 1);
        assert_eq!((errs.errors[0].line, errs.errors[0].column), (9, 18));
        assert_eq!(
            errs.errors[0].help.as_deref(),
            Some("did you mean 'x86_64'?")
        );
    }

    #[test]
    fn every_key_is_documented_once() {
        let mut names: Vec<&str> = IMAGE_KEYS.iter().map(|k| k.name).collect();
        assert!(IMAGE_KEYS.iter().all(|k| !k.doc.is_empty()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), IMAGE_KEYS.len());
    }
}
