//! `init --template rust-app`: a `[package.metadata.image]` table added to
//! an existing crate's Cargo.toml. The file is edited with `toml_edit`, so
//! its comments, order and layout stay as they were; `--set` values go into
//! the new table, and the result is checked like any declaration.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use super::{InitError, InitOptions, InitReport};
use crate::model;

/// The template's name.
pub const NAME: &str = "rust-app";

/// What is appended: a table naming a base any static Rust binary runs on.
const TABLE: &str = "
[package.metadata.image]
# `cargo assemble build` compiles this crate's binaries for the source
# image and adds them at /usr/bin/<name> (the image is named after the
# package; see README \"Rust application images\" for every key).
source = \"docker://cgr.dev/chainguard/static:latest\"
";

/// Adds the table to `<dir>/Cargo.toml`.
pub(super) fn init(options: &InitOptions) -> Result<InitReport, InitError> {
    let dir = options.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let file = dir.join("Cargo.toml");
    let old = std::fs::read_to_string(&file).map_err(|error| InitError::Write {
        path: file.clone(),
        error,
    })?;
    let mut doc: DocumentMut = old.parse().map_err(|e: toml_edit::TomlError| {
        not_a_crate(&file, format!("it is not valid TOML: {}", e.message()))
    })?;
    let Some(package) = doc.get("package").and_then(Item::as_table_like) else {
        return Err(not_a_crate(&file, "it has no [package] table".into()));
    };
    let package_name = package
        .get("name")
        .and_then(Item::as_str)
        .unwrap_or_default()
        .to_owned();
    let declared = package
        .get("metadata")
        .and_then(Item::as_table_like)
        .and_then(|m| m.get("image"))
        .is_some();
    if declared && !options.force {
        return Err(InitError::Exists(file));
    }
    // Forced over an existing [package.metadata.image]: the new table takes
    // its place and the comments before it; else it goes at the end.
    let old_table = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("image"))
        .and_then(Item::as_table)
        .cloned();
    let text = match (declared, old_table) {
        (true, Some(old)) => {
            let fresh: DocumentMut = TABLE.parse().expect("the table parses");
            let mut table = fresh["package"]["metadata"]["image"]
                .as_table()
                .cloned()
                .expect("the table is a table");
            if let Some(prefix) = old.decor().prefix() {
                table.decor_mut().set_prefix(prefix.clone());
            }
            if let Some(at) = old.position() {
                table.set_position(at);
            }
            doc["package"]["metadata"]["image"] = Item::Table(table);
            doc.to_string()
        }
        (declared, _) => {
            if declared {
                if let Some(m) = doc["package"]["metadata"].as_table_like_mut() {
                    m.remove("image");
                }
            }
            let mut text = doc.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(TABLE);
            text
        }
    };
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        not_a_crate(
            &file,
            format!("[package.metadata.image] cannot be added: {}", e.message()),
        )
    })?;
    let name = match &options.name {
        Some(n) if model::is_valid_image_name(n) => Some(n.clone()),
        Some(n) => return Err(InitError::InvalidName(n.clone())),
        None => None,
    };
    super::apply_settings(
        &mut doc["package"]["metadata"]["image"],
        name.as_deref(),
        &options.set,
    )?;
    let text = doc.to_string();
    crate::config::parse_cargo_str(&text, &file, &package_name).map_err(|errors| {
        InitError::Invalid {
            template: NAME,
            errors,
        }
    })?;
    assemble_io::atomic::write_file(&file, |f| f.write_all(text.as_bytes())).map_err(|error| {
        InitError::Write {
            path: file.clone(),
            error,
        }
    })?;
    let in_git = super::in_git(&dir);
    Ok(InitReport {
        file,
        template: NAME,
        name: name.unwrap_or_else(|| package_name.to_ascii_lowercase()),
        cd: options
            .dir
            .as_ref()
            .filter(|d| !super::is_current_dir(d))
            .cloned(),
        workflow: None,
        gitignore: None,
        in_git,
    })
}

fn not_a_crate(file: &Path, reason: String) -> InitError {
    InitError::NotACrate {
        file: file.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRATE: &str = "# my crate\n[package]\nname = \"Hello_App\"   # odd spacing kept\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n# none yet\n";

    fn options(dir: &Path, set: &[&str]) -> InitOptions {
        InitOptions {
            dir: Some(dir.to_owned()),
            template: NAME.into(),
            set: set.iter().map(|s| (*s).to_owned()).collect(),
            ..InitOptions::default()
        }
    }

    #[test]
    fn adds_the_table_keeping_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Cargo.toml");
        std::fs::write(&file, CRATE).unwrap();
        let report = super::super::init(&options(
            dir.path(),
            &["ports=8080", "source=oci:./base:latest"],
        ))
        .unwrap();
        assert_eq!(report.name, "hello_app");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with(CRATE), "{text}");
        assert!(text.contains("source = \"oci:./base:latest\""), "{text}");
        assert!(text.contains("ports = [\"8080\"]"), "{text}");
        // Once only, unless forced.
        let again = super::super::init(&options(dir.path(), &[]));
        assert!(matches!(again, Err(InitError::Exists(_))), "{again:?}");
        let mut forced = options(dir.path(), &[]);
        forced.force = true;
        super::super::init(&forced).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.matches("[package.metadata.image]").count(),
            1,
            "{text}"
        );
        assert!(text.starts_with(CRATE), "{text}");
    }

    #[test]
    fn refuses_what_is_not_a_crate_or_not_valid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Cargo.toml");
        std::fs::write(&file, "[workspace]\nmembers = []\n").unwrap();
        let e = super::super::init(&options(dir.path(), &[])).unwrap_err();
        assert!(e.to_string().contains("no [package] table"), "{e}");
        std::fs::write(&file, CRATE).unwrap();
        let e = super::super::init(&options(dir.path(), &["ports=http"])).unwrap_err();
        assert!(matches!(e, InitError::Invalid { .. }), "{e:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), CRATE);
    }
}
