//! Plans: what applying the declaration would change, compared with the
//! last applied state (or the declaration and lock at another revision),
//! like `terraform plan`. Rendered for people, for PR comments (markdown)
//! and for scripts (JSON with a stable shape).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::lock::LockedPlatform;
use crate::state::ImageState;

/// One change to one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The image is new (never applied).
    CreateImage,
    /// The image left the declaration.
    DeleteImage,
    /// A package is added.
    AddPackage {
        /// Architecture.
        arch: String,
        /// Name.
        name: String,
        /// Version.
        version: String,
    },
    /// A package is removed (one added earlier).
    RemovePackage {
        /// Architecture.
        arch: String,
        /// Name.
        name: String,
        /// Version.
        version: String,
    },
    /// A package changes version.
    Upgrade {
        /// Architecture.
        arch: String,
        /// Name.
        name: String,
        /// Old version.
        from: String,
        /// New version.
        to: String,
    },
    /// A package goes to an older version.
    Downgrade {
        /// Architecture.
        arch: String,
        /// Name.
        name: String,
        /// Old version.
        from: String,
        /// New version.
        to: String,
    },
    /// The source image changed (digest).
    Source {
        /// Architecture.
        arch: String,
        /// Old digest.
        from: String,
        /// New digest.
        to: String,
    },
    /// An architecture is added.
    AddArchitecture {
        /// Architecture.
        arch: String,
    },
    /// An architecture is dropped.
    RemoveArchitecture {
        /// Architecture.
        arch: String,
    },
    /// A setting (tags, annotation, environment variable, account,
    /// certificate, runtime repository or key, SBOM format) changed.
    Setting {
        /// `tags`, `annotations.KEY`, `environment.KEY`, `source`,
        /// `accounts.users.NAME`, `certificates.NAME`, ….
        key: String,
        /// Old value (absent: new).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// New value (absent: removed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
}

/// The plan of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePlan {
    /// Image name.
    pub name: String,
    /// Its changes, in a stable order.
    pub changes: Vec<Change>,
}

/// A whole plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Shape version of this JSON.
    pub format_version: u32,
    /// Whether there was no applied state to compare with.
    pub never_applied: bool,
    /// Images with changes (images without changes are left out).
    pub images: Vec<ImagePlan>,
}

impl Plan {
    /// True when applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

fn settings(old: &ImageState, new: &ImageState, out: &mut Vec<Change>) {
    let mut setting = |key: String, from: Option<&String>, to: Option<&String>| {
        if from != to {
            out.push(Change::Setting {
                key,
                from: from.cloned(),
                to: to.cloned(),
            });
        }
    };
    setting("source".into(), Some(&old.source), Some(&new.source));
    let (ot, nt) = (old.tags.join(", "), new.tags.join(", "));
    setting("tags".into(), Some(&ot), Some(&nt));
    for (prefix, a, b) in [
        ("annotations", &old.annotations, &new.annotations),
        ("environment", &old.environment, &new.environment),
    ] {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            setting(format!("{prefix}.{k}"), a.get(k), b.get(k));
        }
    }
    let (a, b) = (&old.extras, &new.extras);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        setting(k.clone(), a.get(k), b.get(k));
    }
}

fn platform_changes(arch: &str, old: &LockedPlatform, new: &LockedPlatform, out: &mut Vec<Change>) {
    if old.source_digest != new.source_digest {
        out.push(Change::Source {
            arch: arch.to_owned(),
            from: old.source_digest.clone(),
            to: new.source_digest.clone(),
        });
    }
    let o: BTreeMap<&str, &str> = old
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    let n: BTreeMap<&str, &str> = new
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    let names: std::collections::BTreeSet<&str> = o.keys().chain(n.keys()).copied().collect();
    for name in names {
        let (a, arch, name) = ((o.get(name), n.get(name)), arch.to_owned(), name.to_owned());
        match a {
            (None, Some(v)) => out.push(Change::AddPackage {
                arch,
                name,
                version: v.to_string(),
            }),
            (Some(v), None) => out.push(Change::RemovePackage {
                arch,
                name,
                version: v.to_string(),
            }),
            (Some(f), Some(t)) if f != t => {
                let (from, to) = (f.to_string(), t.to_string());
                if apk::version::compare(t, f) == std::cmp::Ordering::Less {
                    out.push(Change::Downgrade {
                        arch,
                        name,
                        from,
                        to,
                    });
                } else {
                    out.push(Change::Upgrade {
                        arch,
                        name,
                        from,
                        to,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Compares the desired images with the applied ones (`None`: never applied).
pub fn diff(applied: Option<&[ImageState]>, desired: &[ImageState]) -> Plan {
    let mut images = Vec::new();
    let old = applied.unwrap_or(&[]);
    for new in desired {
        let mut changes = Vec::new();
        match old.iter().find(|o| o.name == new.name) {
            None => {
                changes.push(Change::CreateImage);
                for p in &new.platforms {
                    let empty = LockedPlatform {
                        source_digest: p.source_digest.clone(),
                        ..Default::default()
                    };
                    platform_changes(&p.arch, &empty, p, &mut changes);
                }
            }
            Some(o) => {
                settings(o, new, &mut changes);
                for p in &new.platforms {
                    match o.platforms.iter().find(|x| x.arch == p.arch) {
                        Some(op) => platform_changes(&p.arch, op, p, &mut changes),
                        None => {
                            changes.push(Change::AddArchitecture {
                                arch: p.arch.clone(),
                            });
                            platform_changes(
                                &p.arch,
                                &LockedPlatform {
                                    source_digest: p.source_digest.clone(),
                                    ..Default::default()
                                },
                                p,
                                &mut changes,
                            );
                        }
                    }
                }
                for op in &o.platforms {
                    if !new.platforms.iter().any(|p| p.arch == op.arch) {
                        changes.push(Change::RemoveArchitecture {
                            arch: op.arch.clone(),
                        });
                    }
                }
            }
        }
        if !changes.is_empty() {
            images.push(ImagePlan {
                name: new.name.clone(),
                changes,
            });
        }
    }
    for o in old {
        if !desired.iter().any(|n| n.name == o.name) {
            images.push(ImagePlan {
                name: o.name.clone(),
                changes: vec![Change::DeleteImage],
            });
        }
    }
    Plan {
        format_version: 1,
        never_applied: applied.is_none(),
        images,
    }
}

fn short(digest: &str) -> &str {
    let d = digest.trim_start_matches("sha256:");
    &d[..d.len().min(12)]
}

/// One line describing a change (shared by the text renderers).
fn describe(c: &Change) -> (char, String) {
    match c {
        Change::CreateImage => ('+', "image will be created".into()),
        Change::DeleteImage => (
            '-',
            "image is no longer declared (its output is left in place)".into(),
        ),
        Change::AddPackage {
            arch,
            name,
            version,
        } => ('+', format!("{arch}: add {name} {version}")),
        Change::RemovePackage {
            arch,
            name,
            version,
        } => ('-', format!("{arch}: remove {name} {version}")),
        Change::Upgrade {
            arch,
            name,
            from,
            to,
        } => ('~', format!("{arch}: upgrade {name} {from} -> {to}")),
        Change::Downgrade {
            arch,
            name,
            from,
            to,
        } => ('~', format!("{arch}: downgrade {name} {from} -> {to}")),
        Change::Source { arch, from, to } => (
            '~',
            format!("{arch}: source image {} -> {}", short(from), short(to)),
        ),
        Change::AddArchitecture { arch } => ('+', format!("architecture {arch}")),
        Change::RemoveArchitecture { arch } => ('-', format!("architecture {arch}")),
        Change::Setting { key, from, to } => match (from, to) {
            (None, Some(t)) => ('+', format!("{key} = {t:?}")),
            (Some(f), None) => ('-', format!("{key} (was {f:?})")),
            (Some(f), Some(t)) => ('~', format!("{key}: {f:?} -> {t:?}")),
            (None, None) => ('~', key.clone()),
        },
    }
}

/// Human text.
pub fn render_human(plan: &Plan) -> String {
    if plan.is_empty() {
        return "No changes. The images match the declaration.\n".into();
    }
    let mut out = String::new();
    if plan.never_applied {
        out.push_str("Nothing was applied yet: everything is new.\n");
    }
    for image in &plan.images {
        let _ = writeln!(out, "image \"{}\":", image.name);
        for c in &image.changes {
            let (sign, text) = describe(c);
            let _ = writeln!(out, "  {sign} {text}");
        }
    }
    let n: usize = plan.images.iter().map(|i| i.changes.len()).sum();
    let _ = writeln!(
        out,
        "Plan: {} in {}.",
        count(n, "change"),
        count(plan.images.len(), "image")
    );
    out
}

/// `1 package`, `2 packages`: a count with its noun in the right number
/// (the nouns we count all take a plain `s`).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Markdown for a pull-request comment.
pub fn render_markdown(plan: &Plan) -> String {
    if plan.is_empty() {
        return "### cargo-assemble plan\n\nNo changes.\n".into();
    }
    let mut out = String::from("### cargo-assemble plan\n\n");
    if plan.never_applied {
        out.push_str("_Nothing was applied yet: everything is new._\n\n");
    }
    for image in &plan.images {
        let _ = writeln!(out, "#### `{}`\n\n```diff", image.name);
        for c in &image.changes {
            let (sign, text) = describe(c);
            let sign = if sign == '~' { '!' } else { sign };
            let _ = writeln!(out, "{sign} {text}");
        }
        out.push_str("```\n\n");
    }
    out
}

/// JSON with the stable shape documented in the README.
pub fn render_json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockedPackage;

    fn pkg(name: &str, version: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            checksum: String::new(),
            repository: String::new(),
        }
    }

    fn image(packages: Vec<LockedPackage>) -> ImageState {
        ImageState {
            name: "img".into(),
            source: "oci:base".into(),
            tags: vec!["latest".into()],
            platforms: vec![LockedPlatform {
                arch: "x86_64".into(),
                source_digest: "sha256:aaaa".into(),
                image_digest: None,
                packages,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn no_changes() {
        let a = image(vec![pkg("curl", "8.0")]);
        let plan = diff(Some(std::slice::from_ref(&a)), std::slice::from_ref(&a));
        assert!(plan.is_empty());
        assert_eq!(
            render_human(&plan),
            "No changes. The images match the declaration.\n"
        );
    }

    #[test]
    fn every_kind_renders() {
        let old = image(vec![
            pkg("curl", "8.0"),
            pkg("gone", "1"),
            pkg("zlib", "1.3"),
        ]);
        let mut new = image(vec![
            pkg("curl", "8.1"),
            pkg("new", "2"),
            pkg("zlib", "1.2"),
        ]);
        new.tags.push("1.0".into());
        new.environment.insert("A".into(), "1".into());
        new.platforms[0].source_digest = "sha256:bbbb".into();
        let plan = diff(Some(&[old]), &[new]);
        insta::assert_snapshot!(render_human(&plan));
        insta::assert_snapshot!(render_markdown(&plan));
        insta::assert_snapshot!(render_json(&plan));
    }
}
