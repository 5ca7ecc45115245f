//! SPDX 2.3 JSON software bill of materials for a built image: one SPDX
//! package per APK package in the image (base and added), described by the
//! document. Each package's purl is the one of [`crate::purl`], the same
//! as in the CycloneDX document.
//!
//! Output is deterministic: the creation time is the build time and the
//! document namespace is derived from the image's content, so rebuilding
//! the same inputs gives the same bytes.

use serde_json::{json, Value};

use apk::package::PackageInfo;

use crate::purl::{purl, Distro};

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`1970-01-01T00:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// An SPDX identifier made of the allowed characters.
fn spdx_id(name: &str, version: &str, n: usize) -> String {
    let clean: String = format!("{name}-{version}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-Package-{clean}-{n}")
}

/// Where a package came from.
#[derive(Clone, Copy, Debug)]
pub enum Origin {
    /// Part of the source image.
    Base,
    /// Added by this build.
    Added,
}

/// Builds the SPDX document for `image` (its name), whose manifest content
/// hash `content_id` makes the namespace unique, created at `created`,
/// based on `distro`.
pub fn document(
    image: &str,
    content_id: &str,
    created: u64,
    distro: Option<&Distro>,
    packages: &[(PackageInfo<'_>, Origin)],
) -> Value {
    let mut spdx_packages = Vec::new();
    let mut relationships = Vec::new();
    for (n, (info, origin)) in packages.iter().enumerate() {
        let id = spdx_id(&info.name, &info.version, n);
        let mut p = json!({
            "name": info.name,
            "SPDXID": id,
            "versionInfo": info.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(info, distro),
            }],
            "comment": match origin {
                Origin::Base => "installed in the source image",
                Origin::Added => "added by cargo-assemble",
            },
        });
        if !info.license.is_empty() {
            p["licenseComments"] = json!(format!("APK license field: {}", info.license));
        }
        if !info.description.is_empty() {
            p["summary"] = json!(info.description);
        }
        if let Some(c) = &info.checksum {
            p["checksums"] =
                json!([{ "algorithm": "SHA1", "checksumValue": hex::encode(c.identity()) }]);
        }
        spdx_packages.push(p);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image,
        "documentNamespace": format!("https://cargo-assemble.invalid/spdx/{image}/{content_id}"),
        "creationInfo": {
            "created": rfc3339(created),
            "creators": [format!("Tool: cargo-assemble-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": spdx_packages,
        "relationships": relationships,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn names_every_package() {
        let a = PackageInfo {
            name: "musl".into(),
            version: "1.2.3-r3".into(),
            arch: "x86_64".into(),
            license: "MIT".into(),
            ..Default::default()
        };
        let doc = document("img", "abc", 0, None, &[(a, Origin::Base)]);
        assert_eq!(doc["packages"][0]["name"], "musl");
        assert_eq!(
            doc["relationships"][0]["relatedSpdxElement"],
            doc["packages"][0]["SPDXID"]
        );
    }

    #[test]
    fn purls_are_those_of_the_cyclonedx_document() {
        let gxx = PackageInfo {
            name: "g++".into(),
            version: "13.2.1_git20231014-r0".into(),
            arch: "aarch64".into(),
            ..Default::default()
        };
        let packages = [(gxx, Origin::Added)];
        let wolfi = crate::purl::distro_from_os_release("ID=wolfi\nVERSION_ID=20230201\n");
        let spdx = document("img", "abc", 0, wolfi.as_ref(), &packages);
        let purl = &spdx["packages"][0]["externalRefs"][0]["referenceLocator"];
        assert_eq!(
            purl,
            "pkg:apk/wolfi/g%2B%2B@13.2.1_git20231014-r0?arch=aarch64&distro=wolfi-20230201"
        );
        let cdx = crate::cyclonedx::document("img", "abc", 0, wolfi.as_ref(), &packages);
        assert_eq!(purl, &cdx["components"][0]["purl"]);

        // Without an os-release: the `alpine` namespace, in both.
        let spdx = document("img", "abc", 0, None, &packages);
        let cdx = crate::cyclonedx::document("img", "abc", 0, None, &packages);
        let purl = &spdx["packages"][0]["externalRefs"][0]["referenceLocator"];
        assert_eq!(
            purl,
            "pkg:apk/alpine/g%2B%2B@13.2.1_git20231014-r0?arch=aarch64"
        );
        assert_eq!(purl, &cdx["components"][0]["purl"]);
    }
}
