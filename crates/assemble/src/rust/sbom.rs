//! The crate in the image's SBOM: the application package and the crates
//! compiled into its binaries, so scanners see the Rust dependencies too
//! (what cargo-auditable records in the binary, recorded here at build
//! time).
//!
//! Which crates: the resolve graph of `cargo metadata --filter-platform T
//! --locked` with the build's features, walked from the package over
//! normal dependencies only. Dev-dependencies are never built into a
//! binary; build-dependencies and proc-macro crates run on the build
//! machine and leave no code in it, so neither they nor what only they
//! pull in are listed; `--filter-platform` drops dependencies of other
//! platforms (`[target.'cfg(windows)'.dependencies]`).
//!
//! Checksums come from `Cargo.lock` (the `.crate` file's SHA-256, registry
//! crates only), licenses from each crate's manifest. The data is a
//! neutral list of [`Component`]s any SBOM format can render; [`spdx()`]
//! renders SPDX 2.3 packages and relationships to add to the image's
//! document ([`crate::sbom::document`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use cargo_metadata::{DependencyKind, Metadata, TargetKind};
use serde_json::{json, Value};

use super::build::Features;
use super::project::{self, Package, ProjectError, Workspace};

/// The source id cargo gives crates.io (in lock files and metadata).
pub const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// What a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// The crate whose binaries are in the image.
    Application,
    /// A crate compiled into them.
    Library,
}

/// A crate, as SBOM formats describe packages.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Component {
    /// cargo's package id: unique within the SBOM (a CycloneDX `bom-ref`).
    pub key: String,
    /// Application or library.
    pub kind: ComponentKind,
    /// Crate name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `pkg:cargo/NAME@VERSION` (a `vcs_url` qualifier for git sources,
    /// `repository_url` for other registries).
    pub purl: String,
    /// The `license` field as written.
    pub license: Option<String>,
    /// `license` as a valid SPDX expression with known identifiers, when it
    /// is one (`MIT/Apache-2.0` becomes `MIT OR Apache-2.0`).
    pub license_expression: Option<String>,
    /// SHA-256 of the `.crate` file, from `Cargo.lock`.
    pub sha256: Option<String>,
    /// cargo's source (`registry+…`, `git+…`); `None` for local paths.
    pub source: Option<String>,
    /// The crate's description.
    pub description: Option<String>,
    /// Where the crate can be downloaded, when known (crates.io, git).
    pub download: Option<String>,
    /// Keys of the components it depends on (in the binary), sorted.
    pub depends_on: Vec<String>,
}

/// The application and its dependency crates.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CrateSbom {
    /// The package.
    pub application: Component,
    /// The crates in its binaries, sorted by name and version.
    pub dependencies: Vec<Component>,
}

/// Why the crate's SBOM data could not be collected.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SbomError {
    /// `cargo metadata` failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Metadata(#[from] ProjectError),
    /// `Cargo.lock` could not be read.
    #[error("reading {}: {message}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The package is not in cargo's resolve graph.
    #[error("package `{0}` is missing from cargo's dependency graph")]
    NotResolved(String),
}

/// Collects the SBOM data of `package` as built for `target` with
/// `features`.
pub fn collect(
    ws: &Workspace,
    package: &Package,
    target: &str,
    features: &Features,
    offline: bool,
) -> Result<CrateSbom, SbomError> {
    let mut cmd = project::metadata_command(&package.manifest_path);
    let mut options = features.args();
    options.extend([
        "--filter-platform".to_owned(),
        target.to_owned(),
        "--locked".to_owned(),
    ]);
    if offline {
        options.push("--offline".to_owned());
    }
    cmd.other_options(options);
    let metadata = project::run_metadata(&cmd, &package.manifest_path)?;
    let lock_path = ws.lock_file();
    let lock = std::fs::read_to_string(&lock_path).map_err(|e| SbomError::Lock {
        path: lock_path.clone(),
        message: e.to_string(),
    })?;
    let checksums = lock_checksums(&lock).map_err(|message| SbomError::Lock {
        path: lock_path,
        message,
    })?;
    from_metadata(&metadata, &checksums, &package.id)
}

/// `(name, version, source)` of a locked registry crate → its checksum.
pub type Checksums = HashMap<(String, String, String), String>;

/// The checksums of `Cargo.lock` (format 1's `[metadata]` table and the
/// `checksum` fields of later formats).
pub fn lock_checksums(text: &str) -> Result<Checksums, String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Locked>,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    }
    #[derive(serde::Deserialize)]
    struct Locked {
        name: String,
        version: String,
        source: Option<String>,
        checksum: Option<String>,
    }
    let lock: Lock = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    let mut out = HashMap::new();
    for p in lock.package {
        if let (Some(source), Some(sum)) = (p.source, p.checksum) {
            out.insert((p.name, p.version, source), sum);
        }
    }
    // Format 1: "checksum NAME VERSION (SOURCE)" = "HEX".
    for (key, sum) in lock.metadata {
        let Some(rest) = key.strip_prefix("checksum ") else {
            continue;
        };
        let mut parts = rest.splitn(3, ' ');
        if let (Some(name), Some(version), Some(source)) =
            (parts.next(), parts.next(), parts.next())
        {
            let source = source.trim_start_matches('(').trim_end_matches(')');
            if sum != "<none>" {
                out.insert(
                    (name.to_owned(), version.to_owned(), source.to_owned()),
                    sum,
                );
            }
        }
    }
    Ok(out)
}

/// The SBOM data of the package `root` (a package id) in `metadata`.
pub fn from_metadata(
    metadata: &Metadata,
    checksums: &Checksums,
    root: &str,
) -> Result<CrateSbom, SbomError> {
    let resolve = metadata
        .resolve
        .as_ref()
        .ok_or_else(|| SbomError::NotResolved(root.to_owned()))?;
    let packages: HashMap<&str, &cargo_metadata::Package> = metadata
        .packages
        .iter()
        .map(|p| (p.id.repr.as_str(), p))
        .collect();
    let nodes: HashMap<&str, &cargo_metadata::Node> = resolve
        .nodes
        .iter()
        .map(|n| (n.id.repr.as_str(), n))
        .collect();
    let runs_at_build_time = |id: &str| {
        packages.get(id).is_some_and(|p| {
            p.targets
                .iter()
                .any(|t| t.kind.contains(&TargetKind::ProcMacro))
        })
    };
    // Walk normal edges from the root.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if edges.contains_key(id) {
            continue;
        }
        let node = nodes
            .get(id)
            .ok_or_else(|| SbomError::NotResolved(id.to_owned()))?;
        let deps: BTreeSet<&str> = node
            .deps
            .iter()
            .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal))
            .map(|d| d.pkg.repr.as_str())
            .filter(|d| !runs_at_build_time(d))
            .collect();
        todo.extend(deps.iter().copied());
        edges.insert(id, deps);
    }
    let component = |id: &str, kind| -> Result<Component, SbomError> {
        let p = packages
            .get(id)
            .ok_or_else(|| SbomError::NotResolved(id.to_owned()))?;
        let name = p.name.to_string();
        let version = p.version.to_string();
        let source = p.source.as_ref().map(|s| s.repr.clone());
        let sha256 = source
            .as_ref()
            .and_then(|s| checksums.get(&(name.clone(), version.clone(), s.clone())))
            .cloned();
        Ok(Component {
            key: id.to_owned(),
            kind,
            purl: purl(&name, &version, source.as_deref()),
            download: download(&name, &version, source.as_deref()),
            license_expression: p.license.as_deref().and_then(spdx_expression),
            license: p.license.clone(),
            description: p.description.clone(),
            sha256,
            source,
            depends_on: edges
                .get(id)
                .map(|d| d.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
            name,
            version,
        })
    };
    let application = component(root, ComponentKind::Application)?;
    let mut dependencies = edges
        .keys()
        .filter(|id| **id != root)
        .map(|id| component(id, ComponentKind::Library))
        .collect::<Result<Vec<_>, _>>()?;
    dependencies.sort_by(|a, b| (&a.name, &a.version, &a.key).cmp(&(&b.name, &b.version, &b.key)));
    Ok(CrateSbom {
        application,
        dependencies,
    })
}

/// `pkg:cargo/NAME@VERSION`, with the source for crates not from
/// crates.io.
pub fn purl(name: &str, version: &str, source: Option<&str>) -> String {
    let mut purl = format!("pkg:cargo/{}@{}", encode(name), encode(version));
    match source {
        Some(s) if s.starts_with("git+") => {
            // git+URL?query#REV → vcs_url=git+URL@REV
            let (url, rev) = s.split_once('#').unwrap_or((s, ""));
            let url = url.split('?').next().unwrap_or(url);
            let vcs = if rev.is_empty() {
                url.to_owned()
            } else {
                format!("{url}@{rev}")
            };
            purl.push_str(&format!("?vcs_url={}", encode(&vcs)));
        }
        Some(s) if s != CRATES_IO => {
            let index = s.split_once('+').map_or(s, |(_, url)| url);
            purl.push_str(&format!("?repository_url={}", encode(index)));
        }
        _ => {}
    }
    purl
}

/// Percent-encodes everything but unreserved characters, `:` and `/`.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn download(name: &str, version: &str, source: Option<&str>) -> Option<String> {
    match source? {
        CRATES_IO => Some(format!(
            "https://crates.io/api/v1/crates/{name}/{version}/download"
        )),
        s if s.starts_with("git+") => {
            let (url, rev) = s.split_once('#')?;
            let url = url.split('?').next()?;
            Some(format!("{url}@{rev}"))
        }
        _ => None,
    }
}

/// `license` as a valid SPDX expression of listed identifiers (cargo's
/// older `A/B` form read as `A OR B`), or `None` (unknown identifiers,
/// `LicenseRef-`s the document does not define, unparsable text).
pub fn spdx_expression(license: &str) -> Option<String> {
    let canonical = match spdx::Expression::canonicalize(license) {
        Ok(Some(c)) => c,
        Ok(None) => license.to_owned(),
        Err(_) => return None,
    };
    let expr = spdx::Expression::parse(&canonical).ok()?;
    let listed = expr.requirements().all(|r| {
        matches!(r.req.license, spdx::LicenseItem::Spdx { .. })
            && r.req
                .addition
                .as_ref()
                .is_none_or(|a| matches!(a, spdx::AdditionItem::Spdx(_)))
    });
    listed.then_some(canonical)
}

/// SPDX 2.3 packages and relationships for a [`CrateSbom`].
#[derive(Clone, Debug)]
pub struct SpdxPart {
    /// The application's SPDX id (the document `DESCRIBES` it).
    pub root: String,
    /// Package objects to append to the document's `packages`.
    pub packages: Vec<Value>,
    /// Relationships to append: `DESCRIBES` the application, then
    /// `DEPENDS_ON` along the dependency graph.
    pub relationships: Vec<Value>,
}

/// Renders `sbom` as SPDX 2.3 packages (ids `SPDXRef-Crate-…`, unique in a
/// document of [`crate::sbom::document`]).
pub fn spdx(sbom: &CrateSbom) -> SpdxPart {
    let all: Vec<&Component> = std::iter::once(&sbom.application)
        .chain(&sbom.dependencies)
        .collect();
    let ids: HashMap<&str, String> = all
        .iter()
        .enumerate()
        .map(|(n, c)| (c.key.as_str(), spdx_id(&c.name, &c.version, n)))
        .collect();
    let packages = all
        .iter()
        .map(|c| {
            let mut p = json!({
                "name": c.name,
                "SPDXID": ids[c.key.as_str()],
                "versionInfo": c.version,
                "downloadLocation": c.download.as_deref().unwrap_or("NOASSERTION"),
                "filesAnalyzed": false,
                "primaryPackagePurpose": match c.kind {
                    ComponentKind::Application => "APPLICATION",
                    ComponentKind::Library => "LIBRARY",
                },
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": c.license_expression.as_deref().unwrap_or("NOASSERTION"),
                "copyrightText": "NOASSERTION",
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": c.purl,
                }],
            });
            if let (Some(license), None) = (&c.license, &c.license_expression) {
                p["licenseComments"] = json!(format!("Cargo.toml license: {license}"));
            }
            if let Some(d) = &c.description {
                p["summary"] = json!(d);
            }
            if let Some(sum) = &c.sha256 {
                p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sum }]);
            }
            p
        })
        .collect();
    let root = ids[sbom.application.key.as_str()].clone();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root,
    })];
    for c in &all {
        for d in &c.depends_on {
            relationships.push(json!({
                "spdxElementId": ids[c.key.as_str()],
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": ids[d.as_str()],
            }));
        }
    }
    SpdxPart {
        root,
        packages,
        relationships,
    }
}

fn spdx_id(name: &str, version: &str, n: usize) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let clean = format!("{name}-{version}").replace(|c| !allowed(c), "-");
    format!("SPDXRef-Crate-{clean}-{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_become_valid_expressions_or_nothing() {
        for (given, want) in [
            ("MIT", Some("MIT")),
            ("MIT OR Apache-2.0", Some("MIT OR Apache-2.0")),
            ("MIT/Apache-2.0", Some("MIT OR Apache-2.0")),
            (
                "Apache-2.0 WITH LLVM-exception",
                Some("Apache-2.0 WITH LLVM-exception"),
            ),
            (
                "(MIT OR Apache-2.0) AND Unicode-3.0",
                Some("(MIT OR Apache-2.0) AND Unicode-3.0"),
            ),
            ("Foo-1.0", None),
            ("LicenseRef-Proprietary", None),
            ("MIT AND", None),
        ] {
            assert_eq!(spdx_expression(given).as_deref(), want, "{given}");
        }
    }

    #[test]
    fn purls_name_the_source_when_not_crates_io() {
        assert_eq!(
            purl("serde", "1.0.0", Some(CRATES_IO)),
            "pkg:cargo/serde@1.0.0"
        );
        assert_eq!(
            purl("app", "1.0.0+build.5", None),
            "pkg:cargo/app@1.0.0%2Bbuild.5"
        );
        assert_eq!(
            purl(
                "x",
                "0.1.0",
                Some("git+https://github.com/o/x?branch=main#abc123")
            ),
            "pkg:cargo/x@0.1.0?vcs_url=git%2Bhttps://github.com/o/x%40abc123"
        );
        assert_eq!(
            purl("y", "2.0.0", Some("sparse+https://registry.example/index/")),
            "pkg:cargo/y@2.0.0?repository_url=https://registry.example/index/"
        );
        assert_eq!(
            download("serde", "1.0.0", Some(CRATES_IO)).unwrap(),
            "https://crates.io/api/v1/crates/serde/1.0.0/download"
        );
    }

    #[test]
    fn checksums_from_every_lock_format() {
        let v3 = format!(
            "version = 3\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"{CRATES_IO}\"\n\
             checksum = \"aa\"\n\n[[package]]\nname = \"local\"\nversion = \"0.1.0\"\n"
        );
        let sums = lock_checksums(&v3).unwrap();
        assert_eq!(sums.len(), 1);
        assert_eq!(sums[&("a".into(), "1.0.0".into(), CRATES_IO.into())], "aa");
        let v1 = format!(
            "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"{CRATES_IO}\"\n\n\
             [metadata]\n\"checksum a 1.0.0 ({CRATES_IO})\" = \"bb\"\n"
        );
        let sums = lock_checksums(&v1).unwrap();
        assert_eq!(sums[&("a".into(), "1.0.0".into(), CRATES_IO.into())], "bb");
        assert!(lock_checksums("[[package]]\nname = 1\n").is_err());
    }

    use crate::rust::fixture::{vendor, vendored_checksum, write, Vendored};
    use std::path::Path;

    /// `app` (MIT/Apache-2.0) depends on `dep1` (which depends on `leaf`),
    /// a proc macro `pm` (with its own dependency), a build dependency, a
    /// dev dependency, a Windows-only dependency and an optional one behind
    /// the `extra` feature.
    fn project(dir: &Path) -> (Workspace, Package) {
        fn lib(
            name: &'static str,
            version: &'static str,
            license: &'static str,
            manifest: &'static str,
        ) -> Vendored<'static> {
            Vendored {
                name,
                version,
                license,
                manifest,
                lib: "",
            }
        }
        let crates = [
            lib("dep1", "1.2.3", "MIT", "[dependencies]\nleaf = \"0.3\"\n"),
            lib("leaf", "0.3.1", "Foo-1.0", ""),
            lib(
                "pm",
                "0.1.0",
                "MIT",
                "[lib]\nproc-macro = true\n[dependencies]\npmdep = \"1\"\n",
            ),
            lib("pmdep", "1.0.0", "MIT", ""),
            lib("bdep", "0.1.0", "MIT", ""),
            lib("ddep", "0.1.0", "MIT", ""),
            lib("windep", "0.1.0", "MIT", ""),
            lib("opt", "2.0.0", "Apache-2.0", ""),
        ];
        vendor(dir, &crates);
        write(
            dir,
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.4.0\"\nedition = \"2021\"\n\
                     license = \"MIT/Apache-2.0\"\ndescription = \"The app\"\n\n\
                     [features]\nextra = [\"dep:opt\"]\n\n\
                     [dependencies]\ndep1 = \"1\"\npm = \"0.1\"\nopt = { version = \"2\", optional = true }\n\n\
                     [build-dependencies]\nbdep = \"0.1\"\n\n[dev-dependencies]\nddep = \"0.1\"\n\n\
                     [target.'cfg(windows)'.dependencies]\nwindep = \"0.1\"\n",
                ),
                ("src/main.rs", "fn main() {}\n"),
                ("build.rs", "fn main() {}\n"),
            ],
        );
        let out = crate::rust::cargo()
            .args(["generate-lockfile", "--offline"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ws = Workspace::load(dir).unwrap();
        let app = ws.members[0].clone();
        (ws, app)
    }

    const TARGET: &str = "x86_64-unknown-linux-gnu";

    fn names(sbom: &CrateSbom) -> Vec<String> {
        sbom.dependencies
            .iter()
            .map(|c| format!("{}@{}", c.name, c.version))
            .collect()
    }

    #[test]
    fn only_the_crates_in_the_binary_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, app) = project(dir.path());
        let sbom = collect(&ws, &app, TARGET, &Features::default(), true).unwrap();
        assert_eq!(names(&sbom), ["dep1@1.2.3", "leaf@0.3.1"]);
        let a = &sbom.application;
        assert_eq!(
            (
                a.kind,
                a.purl.as_str(),
                a.license_expression.as_deref(),
                a.sha256.as_deref()
            ),
            (
                ComponentKind::Application,
                "pkg:cargo/app@0.4.0",
                Some("MIT OR Apache-2.0"),
                None
            )
        );
        assert_eq!(a.description.as_deref(), Some("The app"));
        assert_eq!(a.depends_on, [sbom.dependencies[0].key.clone()]);
        let dep1 = &sbom.dependencies[0];
        assert_eq!(dep1.purl, "pkg:cargo/dep1@1.2.3");
        assert_eq!(
            dep1.sha256.as_deref(),
            Some(vendored_checksum("dep1", "1.2.3").as_str())
        );
        assert_eq!(dep1.source.as_deref(), Some(CRATES_IO));
        assert_eq!(dep1.depends_on, [sbom.dependencies[1].key.clone()]);
        let leaf = &sbom.dependencies[1];
        assert_eq!(
            (leaf.license.as_deref(), leaf.license_expression.as_deref()),
            (Some("Foo-1.0"), None)
        );

        let extra = Features {
            features: vec!["extra".into()],
            ..Features::default()
        };
        let sbom = collect(&ws, &app, TARGET, &extra, true).unwrap();
        assert_eq!(names(&sbom), ["dep1@1.2.3", "leaf@0.3.1", "opt@2.0.0"]);
        let sbom = collect(
            &ws,
            &app,
            "x86_64-pc-windows-msvc",
            &Features::default(),
            true,
        )
        .unwrap();
        assert_eq!(names(&sbom), ["dep1@1.2.3", "leaf@0.3.1", "windep@0.1.0"]);
    }

    #[test]
    fn the_spdx_packages_fit_the_image_document() {
        testkit::require("pyspdxtools");
        let dir = tempfile::tempdir().unwrap();
        let (ws, app) = project(dir.path());
        let sbom = collect(&ws, &app, TARGET, &Features::default(), true).unwrap();
        let part = spdx(&sbom);
        let base = apk::package::PackageInfo {
            name: "musl".into(),
            version: "1.2.3-r5".into(),
            arch: "x86_64".into(),
            ..Default::default()
        };
        let mut doc =
            crate::sbom::document("app", "abc", 0, None, &[(base, crate::sbom::Origin::Base)]);
        doc["packages"]
            .as_array_mut()
            .unwrap()
            .extend(part.packages.clone());
        doc["relationships"]
            .as_array_mut()
            .unwrap()
            .extend(part.relationships.clone());
        let file = dir.path().join("app.spdx.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let out = std::process::Command::new("pyspdxtools")
            .arg("-i")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "pyspdxtools: {}",
            testkit::text(&out)
        );
        let app_pkg = &part.packages[0];
        assert_eq!(app_pkg["SPDXID"], part.root.as_str());
        assert_eq!(app_pkg["primaryPackagePurpose"], "APPLICATION");
        assert_eq!(app_pkg["licenseDeclared"], "MIT OR Apache-2.0");
        let leaf = part.packages.iter().find(|p| p["name"] == "leaf").unwrap();
        assert_eq!(leaf["licenseDeclared"], "NOASSERTION");
        assert_eq!(leaf["licenseComments"], "Cargo.toml license: Foo-1.0");
        assert_eq!(
            leaf["checksums"][0]["checksumValue"],
            vendored_checksum("leaf", "0.3.1")
        );
        let depends: Vec<(String, String)> = part
            .relationships
            .iter()
            .filter(|r| r["relationshipType"] == "DEPENDS_ON")
            .map(|r| {
                (
                    r["spdxElementId"].as_str().unwrap().to_owned(),
                    r["relatedSpdxElement"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            depends,
            [
                (
                    "SPDXRef-Crate-app-0.4.0-0".to_owned(),
                    "SPDXRef-Crate-dep1-1.2.3-1".to_owned()
                ),
                (
                    "SPDXRef-Crate-dep1-1.2.3-1".to_owned(),
                    "SPDXRef-Crate-leaf-0.3.1-2".to_owned()
                ),
            ]
        );
    }
}
