//! `import`: an apko configuration or a Custom Assembly overlay YAML →
//! the equivalent `assembly.toml` ([`crate::import`] reads and renders),
//! with every field it cannot express listed in the report and in a
//! comment at the top of the file.

use std::path::{Path, PathBuf};

use crate::import::{self, Format, ImportError, Imported, RenderOptions, Unexpressed};

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The YAML file.
    pub file: PathBuf,
    /// Where the TOML goes (`None`: only in the report, for stdout). An
    /// existing file is not replaced.
    pub output: Option<PathBuf>,
    /// The image name (default: from the file name).
    pub name: Option<String>,
    /// The base image (required for an overlay without one).
    pub source: Option<String>,
    /// The format (default: guessed from the fields).
    pub format: Option<Format>,
}

/// What `import` did.
#[derive(Debug)]
pub struct ImportReport {
    /// The format read.
    pub format: Format,
    /// The `assembly.toml` text.
    pub toml: String,
    /// The file written, if any.
    pub written: Option<PathBuf>,
    /// Every field left out, in file order.
    pub unexpressed: Vec<Unexpressed>,
}

/// Why `import` failed; nothing was written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImportOpError {
    /// The YAML file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        error: std::io::Error,
    },
    /// The YAML cannot be imported.
    #[error("{}: {error}", path.display())]
    Import {
        /// The file.
        path: PathBuf,
        /// Cause.
        error: ImportError,
    },
    /// The output exists.
    #[error("{} exists", path.display())]
    #[diagnostic(help("remove it or choose another -o"))]
    Exists {
        /// The output.
        path: PathBuf,
    },
    /// The output cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The output.
        path: PathBuf,
        /// Cause.
        #[source]
        error: std::io::Error,
    },
}

/// Keys the renderer may write that the declaration does not know (yet):
/// they are reported as left out instead of written.
fn unknown_to_the_declaration(imported: &mut Imported) {
    let known = |k: &str| crate::config::IMAGE_KEYS.iter().any(|x| x.name == k);
    let n = &mut imported.neutral;
    let mut drop = |key: &str, set: bool| {
        if set && !known(key) {
            imported.unexpressed.push(Unexpressed {
                path: key.to_owned(),
                reason: format!("assembly.toml has no `{key}` key in this version"),
            });
        }
    };
    drop("entrypoint", n.entrypoint.is_some());
    drop("cmd", n.cmd.is_some());
    drop("workdir", n.workdir.is_some());
    if !known("entrypoint") {
        n.entrypoint = None;
    }
    if !known("cmd") {
        n.cmd = None;
    }
    if !known("workdir") {
        n.workdir = None;
    }
}

/// The image name for `file`: its name up to the first `.`, lowercased,
/// other characters replaced by `-`.
fn default_name(file: &Path) -> String {
    let stem = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(['-', '_']).to_owned();
    if name.is_empty() {
        "image".into()
    } else {
        name
    }
}

/// Imports `options.file`.
pub fn import(options: &ImportOptions) -> Result<ImportReport, ImportOpError> {
    let path = options.file.clone();
    let bytes = crate::runtime::read_limited(&path, import::MAX_YAML_BYTES, "YAML file").map_err(
        |error| ImportOpError::Read {
            path: path.clone(),
            error,
        },
    )?;
    let text = String::from_utf8_lossy(&bytes);
    let import_err = |error| ImportOpError::Import {
        path: path.clone(),
        error,
    };
    let mut imported = import::read(&text, options.format).map_err(import_err)?;
    unknown_to_the_declaration(&mut imported);
    let name = options.name.clone().unwrap_or_else(|| default_name(&path));
    let from = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let toml = import::render_toml(
        &imported,
        &RenderOptions {
            name: &name,
            source: options.source.as_deref(),
            from: &from,
        },
    )
    .map_err(import_err)?;
    if let Some(out) = &options.output {
        if out.exists() {
            return Err(ImportOpError::Exists { path: out.clone() });
        }
        assemble_io::atomic::write_file::<_, std::io::Error>(out, |f| {
            std::io::Write::write_all(f, toml.as_bytes())
        })
        .map_err(|error| ImportOpError::Write {
            path: out.clone(),
            error,
        })?;
    }
    Ok(ImportReport {
        format: imported.format,
        toml,
        written: options.output.clone(),
        unexpressed: imported.unexpressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(default_name(Path::new("x/billing.apko.yaml")), "billing");
        assert_eq!(default_name(Path::new("Team API.yaml")), "team-api");
        assert_eq!(default_name(Path::new(".yaml")), "image");
    }
}
