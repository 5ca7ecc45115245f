//! CycloneDX 1.6 JSON software bill of materials, with the same packages as
//! the SPDX document of [`crate::sbom`] (same input).
//!
//! Each APK package is a `library` component with its purl (from
//! [`crate::purl`], the same as in the SPDX document), its APK checksum as
//! hash, its license (an SPDX expression when the APK field is one, else a
//! named license), and the dependency graph: each `depends` atom is
//! resolved to the listed package that is or provides it (conflicts `!x`
//! are not dependencies).
//!
//! Output is deterministic: the serial number is a UUID derived (RFC 9562
//! version 8) from the image name and its content id, the timestamp is the
//! build time.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use apk::checksum::Checksum;
use apk::package::PackageInfo;

use crate::purl::{purl, Distro};
use crate::sbom::{rfc3339, Origin};

/// True when `text` parses as an SPDX license expression (identifiers,
/// `LicenseRef-…`, `+`, `AND`/`OR`/`WITH`, parentheses). Identifiers are
/// not checked against the SPDX list.
pub fn is_spdx_expression(text: &str) -> bool {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    parse_or(&tokens, &mut pos) && pos == tokens.len()
}

fn is_id(t: &str) -> bool {
    !matches!(t, "AND" | "OR" | "WITH" | "(" | ")")
        && !t.is_empty()
        && t.trim_end_matches('+')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn parse_or(t: &[&str], pos: &mut usize) -> bool {
    if !parse_term(t, pos) {
        return false;
    }
    while matches!(t.get(*pos), Some(&"AND") | Some(&"OR")) {
        *pos += 1;
        if !parse_term(t, pos) {
            return false;
        }
    }
    true
}

fn parse_term(t: &[&str], pos: &mut usize) -> bool {
    match t.get(*pos) {
        Some(&"(") => {
            *pos += 1;
            if !parse_or(t, pos) || t.get(*pos) != Some(&")") {
                return false;
            }
            *pos += 1;
            true
        }
        Some(id) if is_id(id) => {
            *pos += 1;
            if t.get(*pos) == Some(&"WITH") {
                *pos += 1;
                let ok = t.get(*pos).is_some_and(|e| is_id(e));
                *pos += 1;
                return ok;
            }
            true
        }
        _ => false,
    }
}

/// A deterministic RFC 9562 version 8 UUID from `seed`.
fn uuid_v8(seed: &[u8]) -> String {
    let mut b: [u8; 16] = Sha256::digest(seed)[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Builds the CycloneDX document for `image` (its name), whose manifest
/// content hash `content_id` seeds the serial number, created at
/// `created`, based on `distro`.
pub fn document(
    image: &str,
    content_id: &str,
    created: u64,
    distro: Option<&Distro>,
    packages: &[(PackageInfo<'_>, Origin)],
) -> Value {
    // bom-refs: unique even if a hostile database repeats a name.
    let mut seen = BTreeSet::new();
    let refs: Vec<String> = packages
        .iter()
        .enumerate()
        .map(|(n, (info, _))| {
            let r = format!("apk:{}@{}", info.name, info.version);
            if seen.insert(r.clone()) {
                r
            } else {
                format!("{r}#{n}")
            }
        })
        .collect();

    // Who provides what: the package itself, then its provides.
    let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (info, _)) in packages.iter().enumerate() {
        providers.entry(&info.name).or_default().push(i);
    }
    for (i, (info, _)) in packages.iter().enumerate() {
        for p in info.provides().flatten() {
            providers.entry(p.name).or_default().push(i);
        }
    }

    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    for (n, (info, origin)) in packages.iter().enumerate() {
        let mut c = json!({
            "type": "library",
            "bom-ref": refs[n],
            "name": info.name,
            "version": info.version,
            "purl": purl(info, distro),
        });
        if !info.description.is_empty() {
            c["description"] = json!(info.description);
        }
        let license = info.license.trim();
        if !license.is_empty() {
            c["licenses"] = if is_spdx_expression(license) {
                json!([{ "expression": license }])
            } else {
                json!([{ "license": { "name": license } }])
            };
        }
        if let Some(sum) = &info.checksum {
            let alg = match sum {
                Checksum::Sha1(_) => "SHA-1",
                Checksum::Sha256(_) => "SHA-256",
            };
            c["hashes"] = json!([{ "alg": alg, "content": hex::encode(sum.as_bytes()) }]);
        }
        if url::Url::parse(&info.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            c["externalReferences"] = json!([{ "type": "website", "url": info.url }]);
        }
        let mut properties = vec![json!({
            "name": "cargo-assemble:origin",
            "value": match origin {
                Origin::Base => "base",
                Origin::Added => "added",
            },
        })];
        for (name, value) in [
            ("apk:origin", &info.origin),
            ("apk:maintainer", &info.maintainer),
            ("apk:commit", &info.commit),
        ] {
            if !value.is_empty() {
                properties.push(json!({ "name": name, "value": value }));
            }
        }
        c["properties"] = json!(properties);
        components.push(c);

        let mut depends_on = BTreeSet::new();
        for dep in info.depends().flatten() {
            if dep.conflict {
                continue;
            }
            let candidates = providers
                .get(dep.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            // The package of that name first, else the highest priority.
            let chosen = candidates
                .iter()
                .find(|&&i| packages[i].0.name == dep.name)
                .or_else(|| {
                    candidates
                        .iter()
                        .max_by_key(|&&i| (packages[i].0.provider_priority, std::cmp::Reverse(i)))
                });
            if let Some(&i) = chosen.filter(|&&i| i != n) {
                depends_on.insert(refs[i].clone());
            }
        }
        dependencies.push(json!({ "ref": refs[n], "dependsOn": depends_on }));
    }

    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_v8(format!("cargo-assemble\0{image}\0{content_id}").as_bytes())),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(created),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "cargo-assemble",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": image,
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purl::distro_from_os_release;
    use apk::database::installed::InstalledDb;
    use std::process::Command;

    fn pkg(name: &str, depends: &str, provides: &str) -> PackageInfo<'static> {
        PackageInfo {
            name: name.to_owned().into(),
            version: "1.0-r0".into(),
            arch: "x86_64".into(),
            depends: depends.to_owned().into(),
            provides: provides.to_owned().into(),
            ..Default::default()
        }
    }

    /// Validates `doc` with cyclonedx-python-lib's strict JSON validator.
    fn validate(doc: &Value) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bom.json");
        std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        let script = "import sys\n\
            from cyclonedx.validation.json import JsonStrictValidator\n\
            from cyclonedx.schema import SchemaVersion\n\
            e = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
            print(e if e else 'valid')\n\
            sys.exit(1 if e else 0)\n";
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&file)
            .output()
            .expect("python3 is missing: install it with cyclonedx-python-lib (pip install cyclonedx-python-lib)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("ModuleNotFoundError"),
            "cyclonedx-python-lib is missing (pip install cyclonedx-python-lib): {text}"
        );
        assert!(out.status.success(), "CycloneDX validation failed: {text}");
    }

    #[test]
    fn real_installed_database_validates_and_matches_spdx() {
        let text = testkit::corpus_text("apk/installed-db/root-usr-lib/installed");
        let db = InstalledDb::parse(&text, "installed").unwrap();
        let mut packages: Vec<(PackageInfo<'_>, Origin)> = db
            .records
            .iter()
            .map(|r| (r.info(), Origin::Base))
            .collect();
        assert!(packages.len() > 5);
        packages.last_mut().unwrap().1 = Origin::Added;
        let distro = distro_from_os_release("NAME=\"Wolfi\"\nID=wolfi\nVERSION_ID=20230201\n");
        let doc = document(
            "img",
            "sha256:abc",
            1_700_000_000,
            distro.as_ref(),
            &packages,
        );
        validate(&doc);

        let spdx = crate::sbom::document(
            "img",
            "sha256:abc",
            1_700_000_000,
            distro.as_ref(),
            &packages,
        );
        let names = |v: &Value, key: &str, version: &str| -> BTreeSet<(String, String)> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p[version].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        assert_eq!(
            names(&doc, "components", "version"),
            names(&spdx, "packages", "versionInfo")
        );
        assert_eq!(doc["components"].as_array().unwrap().len(), packages.len());
        // Both documents name every package by the same purl.
        let spdx_purls: Vec<&Value> = spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["externalRefs"][0]["referenceLocator"])
            .collect();
        let cdx_purls: Vec<&Value> = doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["purl"])
            .collect();
        assert_eq!(spdx_purls, cdx_purls);

        // Every dependency edge points at a listed component, and real
        // packages depend on something (so:/cmd: provides resolved).
        let refs: BTreeSet<&str> = doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        let mut edges = 0;
        for d in doc["dependencies"].as_array().unwrap() {
            for r in d["dependsOn"].as_array().unwrap() {
                assert!(refs.contains(r.as_str().unwrap()));
                edges += 1;
            }
        }
        assert!(edges > 0);
        assert!(doc["components"][0]["purl"]
            .as_str()
            .unwrap()
            .starts_with("pkg:apk/wolfi/"));
        assert!(doc["components"][0]["purl"]
            .as_str()
            .unwrap()
            .ends_with("&distro=wolfi-20230201"));

        // Deterministic; the serial number follows the content.
        let again = document(
            "img",
            "sha256:abc",
            1_700_000_000,
            distro.as_ref(),
            &packages,
        );
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        let other = document(
            "img",
            "sha256:def",
            1_700_000_000,
            distro.as_ref(),
            &packages,
        );
        assert_ne!(doc["serialNumber"], other["serialNumber"]);
        assert_eq!(doc["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn dependency_graph_and_fields() {
        let mut musl = pkg("musl", "", "so:libc.musl-x86_64.so.1=1");
        musl.license = "MIT".into();
        musl.checksum = Some(Checksum::Sha1([7; 20]));
        musl.url = "https://musl.libc.org/".into();
        let mut busybox = pkg(
            "busybox",
            "so:libc.musl-x86_64.so.1 !busybox-extras",
            "/bin/sh cmd:sh",
        );
        busybox.license = "GPL-2.0-only".into();
        busybox.url = "not a url".into();
        let mut app = pkg("app", "/bin/sh musl>=1 missing-thing", "");
        app.license = "MIT BSD".into();
        let packages = vec![
            (musl, Origin::Base),
            (busybox, Origin::Base),
            (app, Origin::Added),
        ];
        let doc = document("img", "c", 0, None, &packages);
        validate(&doc);
        let deps = &doc["dependencies"];
        assert_eq!(deps[0]["dependsOn"], json!([]));
        assert_eq!(deps[1]["dependsOn"], json!(["apk:musl@1.0-r0"]));
        assert_eq!(
            deps[2]["dependsOn"],
            json!(["apk:busybox@1.0-r0", "apk:musl@1.0-r0"])
        );
        let c = &doc["components"];
        assert_eq!(c[0]["purl"], "pkg:apk/alpine/musl@1.0-r0?arch=x86_64");
        assert_eq!(c[0]["licenses"], json!([{ "expression": "MIT" }]));
        assert_eq!(
            c[2]["licenses"],
            json!([{ "license": { "name": "MIT BSD" } }])
        );
        assert_eq!(c[0]["hashes"][0]["alg"], "SHA-1");
        assert_eq!(
            c[0]["externalReferences"][0]["url"],
            "https://musl.libc.org/"
        );
        assert!(c[1].get("externalReferences").is_none());
        assert_eq!(c[2]["properties"][0]["value"], "added");
    }

    #[test]
    fn license_expressions_and_serial_numbers() {
        for ok in [
            "MIT",
            "GPL-2.0-or-later",
            "MIT AND (BSD-2-Clause OR Apache-2.0)",
            "GPL-2.0+ WITH Classpath-exception-2.0",
            "LicenseRef-x",
        ] {
            assert!(is_spdx_expression(ok), "{ok}");
        }
        for bad in [
            "",
            "MIT BSD",
            "MIT AND",
            "(MIT",
            "AND MIT",
            "MIT)",
            "GPL WITH",
            "custom:foo bar",
        ] {
            assert!(!is_spdx_expression(bad), "{bad}");
        }
        let u = uuid_v8(b"x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "8");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
