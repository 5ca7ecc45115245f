//! Test inputs made on the spot: image filesystems, and cargo projects
//! written into temporary directories (never committed).

use std::path::Path;

/// Writes each `(relative path, content)` under `root`, creating parents.
pub(crate) fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
}

/// An image filesystem from `(path, link target)` pairs: a regular file
/// when the target is empty, else a symbolic link.
pub(crate) fn rootfs(entries: &[(&str, &str)]) -> oci_image::rootfs::RootFs {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, link) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        if link.is_empty() {
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, path, &[][..]).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut h, path, link).unwrap();
        }
    }
    let bytes = tar.into_inner().unwrap();
    let mut fs = oci_image::rootfs::RootFs::new();
    fs.apply_layer(0, &bytes[..], "test", &|_| false, &mut Default::default())
        .unwrap();
    fs
}

/// A crate in a vendored registry (see [`vendor`]).
pub(crate) struct Vendored<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub license: &'a str,
    /// Extra manifest text (`[dependencies]`, `[lib]`…).
    pub manifest: &'a str,
    pub lib: &'a str,
}

/// Vendors `crates` under `root/vendor` as a directory source that
/// replaces crates.io (`root/.cargo/config.toml`): dependencies written
/// as `name = "version"` resolve offline, and Cargo.lock records them as
/// crates.io crates with checksums, as for real downloads.
pub(crate) fn vendor(root: &Path, crates: &[Vendored<'_>]) {
    write(
        root,
        &[(
            ".cargo/config.toml",
            "[source.crates-io]\nreplace-with = \"vendored\"\n\n[source.vendored]\ndirectory = \"vendor\"\n",
        )],
    );
    for c in crates {
        let dir = format!("vendor/{}", c.name);
        let checksum = vendored_checksum(c.name, c.version);
        write(
            root,
            &[
                (
                    &format!("{dir}/Cargo.toml"),
                    &format!(
                        "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\nlicense = \"{}\"\n{}\n",
                        c.name, c.version, c.license, c.manifest
                    ),
                ),
                (&format!("{dir}/src/lib.rs"), c.lib),
                (
                    &format!("{dir}/.cargo-checksum.json"),
                    &format!("{{\"files\":{{}},\"package\":\"{checksum}\"}}"),
                ),
            ],
        );
    }
}

/// The SHA-256 [`vendor`] records for a crate.
pub(crate) fn vendored_checksum(name: &str, version: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("{name}-{version}")))
}
