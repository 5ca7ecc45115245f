//! Parsing the image references users write for a base image or an output:
//! `oci:PATH[:REF]` (a layout directory), `oci-archive:FILE[:REF]` (a tar of
//! a layout), `docker://HOST[:PORT]/REPO[:TAG][@DIGEST]` (a registry, see
//! [`RegistryRef`]) and `scratch` (no base image). These spellings follow
//! skopeo's transports so the same text works with both tools.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::OciError;
use crate::registry::RegistryRef;

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:PATH[:REF]` — an OCI layout directory.
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// The tag (`org.opencontainers.image.ref.name`), if given.
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]` — a tar file holding an OCI layout.
    Archive {
        /// The tar file.
        path: PathBuf,
        /// The tag, if given.
        reference: Option<String>,
    },
    /// `docker://…` — an image in a registry.
    Registry(RegistryRef),
    /// `scratch` — no base image.
    Scratch,
}

impl ImageRef {
    /// Parses a reference. `REF` is split off at the last `:` only when
    /// the text after it contains no `/` (so `oci:./a:b/c` is a path).
    pub fn parse(text: &str) -> Result<ImageRef, OciError> {
        let err = |reason: &str| OciError::Reference {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text == "scratch" {
            return Ok(ImageRef::Scratch);
        }
        if text.starts_with(crate::registry::reference::TRANSPORT) {
            return RegistryRef::parse(text).map(ImageRef::Registry);
        }
        let (archive, rest) = if let Some(rest) = text.strip_prefix("oci-archive:") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("oci:") {
            (false, rest)
        } else {
            return Err(err("unknown transport"));
        };
        let (path, reference) = match rest.rsplit_once(':') {
            Some((path, r)) if !r.contains('/') => (path, Some(r)),
            _ => (rest, None),
        };
        if path.is_empty() {
            return Err(err("the path is empty"));
        }
        if let Some(r) = reference {
            if r.is_empty() {
                return Err(err("the reference after the last ':' is empty"));
            }
            if r.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(err(
                    "the reference contains whitespace or control characters",
                ));
            }
        }
        let path = PathBuf::from(path);
        let reference = reference.map(str::to_owned);
        Ok(if archive {
            ImageRef::Archive { path, reference }
        } else {
            ImageRef::Layout { path, reference }
        })
    }

    /// The tag, if any.
    pub fn reference(&self) -> Option<&str> {
        match self {
            ImageRef::Layout { reference, .. } | ImageRef::Archive { reference, .. } => {
                reference.as_deref()
            }
            ImageRef::Registry(r) => r.tag(),
            ImageRef::Scratch => None,
        }
    }

    /// The registry reference, for `docker://`.
    pub fn registry(&self) -> Option<&RegistryRef> {
        match self {
            ImageRef::Registry(r) => Some(r),
            _ => None,
        }
    }

    /// Whether this is `scratch`.
    pub fn is_scratch(&self) -> bool {
        matches!(self, ImageRef::Scratch)
    }
}

impl FromStr for ImageRef {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (transport, path, reference) = match self {
            ImageRef::Scratch => return f.write_str("scratch"),
            ImageRef::Registry(r) => return fmt::Display::fmt(r, f),
            ImageRef::Layout { path, reference } => ("oci", path, reference),
            ImageRef::Archive { path, reference } => ("oci-archive", path, reference),
        };
        write!(f, "{transport}:{}", path.display())?;
        if let Some(r) = reference {
            write!(f, ":{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(p: &str, r: Option<&str>) -> ImageRef {
        ImageRef::Layout {
            path: p.into(),
            reference: r.map(Into::into),
        }
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(ImageRef::parse("scratch").unwrap(), ImageRef::Scratch);
        assert_eq!(ImageRef::parse("oci:dir").unwrap(), layout("dir", None));
        assert_eq!(
            ImageRef::parse("oci:dir:tag").unwrap(),
            layout("dir", Some("tag"))
        );
        assert_eq!(
            ImageRef::parse("oci:/a/b:c:1.0").unwrap(),
            layout("/a/b:c", Some("1.0"))
        );
        assert_eq!(
            ImageRef::parse("oci:./x:y/z").unwrap(),
            layout("./x:y/z", None)
        );
        assert_eq!(
            ImageRef::parse("oci-archive:img.tar:latest").unwrap(),
            ImageRef::Archive {
                path: "img.tar".into(),
                reference: Some("latest".into())
            }
        );
        let r = ImageRef::parse("docker://alpine:3.20").unwrap();
        assert_eq!(r.reference(), Some("3.20"));
        assert_eq!(r.registry().unwrap().repository(), "library/alpine");
        for t in [
            "oci:dir:tag",
            "oci-archive:f.tar",
            "scratch",
            "docker://ghcr.io/o/r:1",
        ] {
            assert_eq!(ImageRef::parse(t).unwrap().to_string(), t);
        }
    }

    #[test]
    fn errors_name_text_and_forms() {
        for bad in ["docker://Alpine", "oci:", "oci::tag", "oci:dir:", "alpine"] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains("oci:PATH[:REF]"), "{e}");
            assert!(
                e.contains("docker://HOST[:PORT]/REPO[:TAG][@DIGEST]"),
                "{e}"
            );
        }
    }
}
