//! The files a declaration generates besides packages, per architecture:
//! accounts merged into the base's `/etc/passwd`, `/etc/group`,
//! `/etc/shadow` (and home directories), CA certificates and the bundle,
//! the image's own `etc/apk/repositories` lines and keys. Computed while
//! planning (so `plan` and `validate` find clashes with the base), written
//! into the new layer by the layer writer, which judges them against the
//! union filesystem like every other entry: each replaces the file at its
//! path; the base's packages are not changed.

use std::collections::BTreeMap;

use oci_image::rootfs::RootFs;

use super::BuildError;
use crate::accounts::{self, BaseAccounts};
use crate::certs::{self, BaseTrust};
use crate::layer::{GeneratedDir, GeneratedFile};
use crate::model::Image;
use crate::runtime::{self, BaseApk};

/// What one architecture's layer gets from the declaration.
#[derive(Clone, Debug, Default)]
pub(super) struct Generated {
    /// Files, in a fixed order.
    pub files: Vec<GeneratedFile>,
    /// Home directories.
    pub dirs: Vec<GeneratedDir>,
    /// The config's `User` (`uid:gid`), from `run_as`.
    pub user: Option<String>,
    /// The base's os-release (the purl namespace of both SBOMs).
    pub os_release: Option<Vec<u8>>,
    /// Warnings of the accounts merge.
    pub warnings: Vec<String>,
}

const ACCOUNT_FILES: [&str; 4] = ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"];
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// Paths of the source whose content the build reads for the extras.
pub(super) fn captured(path: &str) -> bool {
    ACCOUNT_FILES.contains(&path)
        || OS_RELEASE.contains(&path)
        || path == certs::BUNDLE
        || path
            .strip_prefix(certs::LOCAL_CERTS_DIR)
            .is_some_and(|rest| rest.starts_with('/') && rest.ends_with(".crt"))
}

/// The extras of `image` on the base `fs` (captured file contents in
/// `files`).
pub(super) fn generate(
    image: &Image,
    arch: &str,
    fs: &RootFs,
    files: &BTreeMap<String, Vec<u8>>,
    build_keys: &[(String, Vec<u8>)],
) -> Result<Generated, BuildError> {
    let err = |message: String, help: Option<String>| BuildError::Extras {
        arch: arch.to_owned(),
        message,
        help,
    };
    // Content of a base file, its links followed.
    let content = |p: &str| -> Option<&[u8]> {
        let real = fs.resolve(p)?;
        files.get(&real).map(Vec::as_slice)
    };
    // The base's mode for a file replaced, else `default`.
    let mode = |p: &str, default: u32| {
        fs.resolve(p)
            .and_then(|r| fs.get(&r).map(|n| n.mode))
            .unwrap_or(default)
    };
    let mut out = Generated {
        os_release: OS_RELEASE
            .iter()
            .find_map(|p| content(p))
            .map(<[u8]>::to_vec),
        ..Generated::default()
    };
    let extras = &image.extras;

    if !extras.accounts.is_empty() {
        let base = BaseAccounts {
            passwd: content("etc/passwd"),
            group: content("etc/group"),
            shadow: content("etc/shadow"),
            gshadow: content("etc/gshadow"),
        };
        let made = accounts::apply(&extras.accounts, &base, fs).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            err(lines.join("\n"), errors.iter().find_map(|e| e.help.clone()))
        })?;
        for (path, bytes) in made.files {
            let default = if path.ends_with("shadow") {
                0o640
            } else {
                0o644
            };
            out.files.push(GeneratedFile {
                mode: mode(&path, default),
                path,
                content: bytes,
            });
        }
        out.dirs = made
            .homes
            .into_iter()
            .map(|h| GeneratedDir {
                path: h.path,
                uid: h.uid.into(),
                gid: h.gid.into(),
                mode: h.mode,
            })
            .collect();
        out.user = made.config_user;
        out.warnings = made.warnings;
    }

    if !extras.certificates.is_empty() {
        let prefix = format!("{}/", certs::LOCAL_CERTS_DIR);
        let base = BaseTrust {
            bundle: content(certs::BUNDLE),
            local_certs: files
                .iter()
                .filter_map(|(p, c)| Some((p.strip_prefix(&prefix)?.to_owned(), c.as_slice())))
                .collect(),
        };
        let list: Vec<certs::CaCertificate> = extras
            .certificates
            .iter()
            .map(|c| c.value.clone())
            .collect();
        for (path, bytes) in certs::install(&list, &base).map_err(|e| err(e.to_string(), e.help))? {
            out.files.push(GeneratedFile {
                path,
                content: bytes,
                mode: 0o644,
            });
        }
    }

    if !extras.runtime_keyring.is_empty() {
        let base = BaseApk {
            repositories: None,
            keys: files
                .iter()
                .filter_map(|(p, c)| {
                    Some((p.strip_prefix("etc/apk/keys/")?.to_owned(), c.as_slice()))
                })
                .chain(build_keys.iter().map(|(n, c)| (n.clone(), c.as_slice())))
                .collect(),
        };
        let keys: Vec<runtime::RuntimeKey> = extras
            .runtime_keyring
            .iter()
            .map(|k| k.value.clone())
            .collect();
        let made = runtime::files(&[], &keys, &base).map_err(|e| err(e.to_string(), e.help))?;
        for (path, bytes) in made {
            out.files.push(GeneratedFile {
                path,
                content: bytes,
                mode: 0o644,
            });
        }
    }
    Ok(out)
}

/// The lines the image's `etc/apk/repositories` gets besides the base's:
/// the runtime repositories only (build repositories stay out).
pub(super) fn repository_lines(image: &Image) -> Vec<String> {
    image
        .extras
        .runtime_repositories
        .iter()
        .map(|r| r.line())
        .collect()
}

/// Warnings the declaration's extras give before anything is built: the
/// certificates' (expiring soon, not valid yet).
pub(super) fn declared_warnings(image: &Image) -> Vec<String> {
    image
        .extras
        .certificates
        .iter()
        .flat_map(|c| {
            c.warnings
                .iter()
                .map(move |w| format!("certificate `{}`: {w}", c.name))
        })
        .collect()
}
