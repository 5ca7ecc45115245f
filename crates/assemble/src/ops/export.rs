//! `export --format overlay-yaml`: one declared image as a Custom Assembly
//! overlay, so a team can hand its configuration to the anchor service.
//! What an overlay cannot say (the base, build repositories, architectures…)
//! is listed, never silently dropped.

use std::path::{Path, PathBuf};

use super::{Project, ProjectError};
use crate::certs::{CertificateEntry, EntrySource};
use crate::import::{chainguard, KeyEntry, Neutral, Unexpressed};
use crate::model::Image;

/// The formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// A Custom Assembly overlay YAML.
    OverlayYaml,
}

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// The image (required when several are declared).
    pub image: Option<String>,
    /// The format.
    pub format: ExportFormat,
}

/// The exported text and what it leaves out.
#[derive(Debug)]
pub struct ExportReport {
    /// The image exported.
    pub image: String,
    /// The YAML.
    pub text: String,
    /// Fields of the declaration the format cannot express.
    pub unexpressed: Vec<Unexpressed>,
}

/// Why `export` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportOpError {
    /// The declaration cannot be loaded, or has no such image.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Project(#[from] ProjectError),
    /// Several images and no `--image`.
    #[error("{} declares several images: {}", declaration.display(), names.join(", "))]
    #[diagnostic(help("choose one with --image NAME"))]
    WhichImage {
        /// The declaration.
        declaration: PathBuf,
        /// Their names.
        names: Vec<String>,
    },
    /// The overlay cannot be written.
    #[error("{0}")]
    Export(String),
}

/// The declaration's image as a neutral declaration (keys inline).
pub fn neutral(image: &Image) -> Neutral {
    let x = &image.extras;
    Neutral {
        source: Some(image.source.as_written.clone()),
        packages: image.packages.iter().map(|a| a.to_string()).collect(),
        repositories: image
            .repositories
            .iter()
            .map(|r| r.as_written.clone())
            .collect(),
        keyring: image.keyring.iter().map(|k| k.as_written.clone()).collect(),
        runtime_repositories: x.runtime_repositories.iter().map(|r| r.line()).collect(),
        runtime_keyring: x
            .runtime_keyring
            .iter()
            .map(|k| KeyEntry::Inline {
                name: k.name.clone(),
                content: k.pem.clone(),
            })
            .collect(),
        architectures: image
            .architectures
            .iter()
            .map(|a| a.value.clone())
            .collect(),
        environment: image.environment.clone(),
        annotations: image.annotations.clone(),
        accounts: x.accounts.clone(),
        certificates: x
            .certificates
            .iter()
            .map(|c| CertificateEntry {
                name: c.name.clone(),
                source: EntrySource::Content(c.pem.clone()),
            })
            .collect(),
        ..Neutral::default()
    }
}

/// How the declaration shapes the layers, which an overlay cannot say:
/// the service that applies it writes the image's layers itself.
fn layout_settings(image: &Image) -> Vec<Unexpressed> {
    let set = [
        ("layers", image.layers != 1),
        ("compression", image.compression != Default::default()),
    ];
    set.into_iter()
        .filter(|(_, declared)| *declared)
        .map(|(path, _)| Unexpressed {
            path: path.to_owned(),
            reason: "the anchor service writes the image's layers itself".to_owned(),
        })
        .collect()
}

/// Exports one image of the declaration.
pub fn export(options: &ExportOptions) -> Result<ExportReport, ExportOpError> {
    let mut project = Project::load(options.path.as_deref().map(Path::new))?;
    if let Some(name) = &options.image {
        project.select(name)?;
    }
    if project.images.len() > 1 {
        return Err(ExportOpError::WhichImage {
            declaration: project.declaration,
            names: project
                .images
                .iter()
                .map(|i| i.name.value.clone())
                .collect(),
        });
    }
    let image = &project.images[0];
    let ExportFormat::OverlayYaml = options.format;
    let (text, mut unexpressed) =
        chainguard::export(&neutral(image)).map_err(|e| ExportOpError::Export(e.0))?;
    unexpressed.extend(layout_settings(image));
    Ok(ExportReport {
        image: image.name.value.clone(),
        text,
        unexpressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_settings_are_listed_as_left_out() {
        let image = |extra: &str| {
            let text = format!("[image]\nname = \"a\"\nsource = \"scratch\"\n{extra}");
            crate::config::parse_str(&text, Path::new("assembly.toml"))
                .unwrap()
                .remove(0)
        };
        assert!(layout_settings(&image("")).is_empty());
        let left: Vec<String> = layout_settings(&image("layers = 3\ncompression = \"zstd\"\n"))
            .iter()
            .map(|u| u.path.clone())
            .collect();
        assert_eq!(left, ["layers", "compression"]);
    }
}
