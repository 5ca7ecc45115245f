//! Package URLs of APK packages, shared by both SBOM writers
//! ([`crate::sbom`] for SPDX, [`crate::cyclonedx`] for CycloneDX) so the
//! two documents of one image name every package the same way:
//! `pkg:apk/<distro>/<name>@<version>?arch=<arch>&distro=<id>-<version_id>`.
//!
//! The namespace is the base image's os-release `ID` (`alpine` when the
//! base has none), as syft and Trivy name Wolfi or Chainguard packages;
//! every component is percent-encoded (`g++` is `g%2B%2B`).

use apk::package::PackageInfo;

/// The distribution of the base image, from its `etc/os-release`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Distro {
    /// `ID` (`alpine`, `wolfi`, `chainguard`), lowercase.
    pub id: String,
    /// `VERSION_ID`, if given.
    pub version_id: Option<String>,
}

/// Reads `ID` and `VERSION_ID` of an os-release file (shell-style
/// `KEY=value`, optionally quoted); `None` without an `ID`.
pub fn distro_from_os_release(text: &str) -> Option<Distro> {
    let mut id = None;
    let mut version_id = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        match key.trim() {
            "ID" if !value.is_empty() => id = Some(value.to_ascii_lowercase()),
            "VERSION_ID" if !value.is_empty() => version_id = Some(value.to_owned()),
            _ => {}
        }
    }
    Some(Distro {
        id: id?,
        version_id,
    })
}

/// Percent-encodes everything but `A-Za-z0-9.-_~` (purl components).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The purl of `info` in `distro` (`alpine` when unknown).
pub fn purl(info: &PackageInfo<'_>, distro: Option<&Distro>) -> String {
    let namespace = distro.map_or("alpine", |d| d.id.as_str());
    let mut out = format!(
        "pkg:apk/{}/{}@{}",
        encode(namespace),
        encode(&info.name),
        encode(&info.version)
    );
    // Qualifiers sorted by key, as the purl spec wants.
    let mut qualifiers = Vec::new();
    if !info.arch.is_empty() {
        qualifiers.push(format!("arch={}", encode(&info.arch)));
    }
    if let Some(d) = distro {
        let value = match &d.version_id {
            Some(v) => format!("{}-{v}", d.id),
            None => d.id.clone(),
        };
        qualifiers.push(format!("distro={}", encode(&value)));
    }
    if !qualifiers.is_empty() {
        out.push('?');
        out.push_str(&qualifiers.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_with_and_without_distro() {
        let mut p = PackageInfo {
            name: "g++".into(),
            version: "13.2.1_git2023+x-r0".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        assert_eq!(
            purl(&p, None),
            "pkg:apk/alpine/g%2B%2B@13.2.1_git2023%2Bx-r0?arch=x86_64"
        );
        let wolfi = Distro {
            id: "wolfi".into(),
            version_id: Some("20230201".into()),
        };
        assert_eq!(
            purl(&p, Some(&wolfi)),
            "pkg:apk/wolfi/g%2B%2B@13.2.1_git2023%2Bx-r0?arch=x86_64&distro=wolfi-20230201"
        );
        p.arch = "".into();
        assert_eq!(
            purl(&p, None),
            "pkg:apk/alpine/g%2B%2B@13.2.1_git2023%2Bx-r0"
        );
    }

    #[test]
    fn os_release() {
        let d =
            distro_from_os_release("# c\nNAME='Alpine Linux'\nID=\"alpine\"\nVERSION_ID=3.17.10\n")
                .unwrap();
        assert_eq!(
            d,
            Distro {
                id: "alpine".into(),
                version_id: Some("3.17.10".into())
            }
        );
        assert_eq!(distro_from_os_release("NAME=x\n"), None);
    }
}
