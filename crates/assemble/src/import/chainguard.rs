//! Custom Assembly overlay YAML (what `chainctl images repos build apply`
//! and `chainctl images overlays create -f` take): read into a [`Neutral`]
//! declaration, and [`export`]ed from one.
//!
//! An overlay customizes an image the anchor service already builds, so it
//! has no source, repositories or architectures: those come from the image
//! it is attached to. It says `contents.packages`,
//! `contents.runtime_repositories`, `contents.runtime_keyring`,
//! `environment`, `annotations`, `accounts` and `certificates.additional`.

use std::path::Path;

use serde_norway::{Mapping, Value};

use super::{KeyEntry, Neutral, Reader, Unexpressed};
use crate::certs::EntrySource;

/// Reads an overlay.
pub(crate) fn read(top: &Mapping, r: &mut Reader) -> Neutral {
    let mut n = Neutral::default();
    let top = Value::Mapping(top.clone());
    for (key, v) in r.entries(&top, "") {
        match key.as_str() {
            "contents" => {
                for (k, val) in r.entries(v, "contents") {
                    let p = format!("contents.{k}");
                    match k.as_str() {
                        "packages" => n.packages = r.string_list(val, &p),
                        "runtime_repositories" => n.runtime_repositories = r.string_list(val, &p),
                        "runtime_keyring" => n.runtime_keyring = r.runtime_keyring(val, &p),
                        _ => r.left_out(p, "not part of a Custom Assembly overlay"),
                    }
                }
            }
            "environment" => n.environment = r.string_map(v, "environment"),
            "annotations" => n.annotations = r.string_map(v, "annotations"),
            "accounts" => n.accounts = r.accounts(v, "accounts"),
            "certificates" => n.certificates = r.certificates(v, "certificates"),
            _ => r.left_out(key, "not part of a Custom Assembly overlay"),
        }
    }
    n
}

/// An overlay that cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);

/// The overlay YAML of a declaration, and what it leaves out (an overlay
/// cannot choose its base, build repositories, architectures or command).
/// Certificates and keys given by path are read (bounded) and inlined.
pub fn export(n: &Neutral) -> Result<(String, Vec<Unexpressed>), ExportError> {
    let mut left_out = Vec::new();
    let mut note = |path: &str, reason: &str, set: bool| {
        if set {
            left_out.push(Unexpressed {
                path: path.to_owned(),
                reason: reason.to_owned(),
            });
        }
    };
    note(
        "source",
        "an overlay is attached to an image repository (`chainctl images overlays attach`)",
        n.source.is_some(),
    );
    let build_only = "the anchor builds from your organization's entitled repositories";
    note("repositories", build_only, !n.repositories.is_empty());
    note("keyring", build_only, !n.keyring.is_empty());
    note(
        "architectures",
        "the anchor builds every architecture of the image",
        !n.architectures.is_empty(),
    );
    let command = "an overlay does not change the image's command";
    note("entrypoint", command, n.entrypoint.is_some());
    note("cmd", command, n.cmd.is_some());
    note("workdir", command, n.workdir.is_some());

    let mut top = Mapping::new();
    let mut contents = Mapping::new();
    if !n.packages.is_empty() {
        contents.insert("packages".into(), strings(&n.packages));
    }
    if !n.runtime_repositories.is_empty() {
        contents.insert(
            "runtime_repositories".into(),
            strings(&n.runtime_repositories),
        );
    }
    if !n.runtime_keyring.is_empty() {
        let mut keys = Vec::new();
        for k in &n.runtime_keyring {
            let (name, content) = match k {
                KeyEntry::Inline { name, content } => (name.clone(), content.clone()),
                KeyEntry::Path(p) => {
                    let path = Path::new(p);
                    let name = path
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (
                        name,
                        read_text(path, crate::runtime::MAX_KEY_BYTES, "runtime key")?,
                    )
                }
            };
            keys.push(name_content(name, content));
        }
        contents.insert("runtime_keyring".into(), Value::Sequence(keys));
    }
    if !contents.is_empty() {
        top.insert("contents".into(), Value::Mapping(contents));
    }
    for (key, map) in [
        ("environment", &n.environment),
        ("annotations", &n.annotations),
    ] {
        if !map.is_empty() {
            let m: Mapping = map
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
                .collect();
            top.insert(key.into(), Value::Mapping(m));
        }
    }
    let a = &n.accounts;
    if !a.is_empty() {
        let mut accounts = Mapping::new();
        if !a.groups.is_empty() {
            let groups = a
                .groups
                .iter()
                .map(|g| {
                    let mut m = Mapping::new();
                    m.insert("groupname".into(), g.groupname.as_str().into());
                    m.insert("gid".into(), g.gid.into());
                    m.insert("members".into(), strings(&g.members));
                    Value::Mapping(m)
                })
                .collect();
            accounts.insert("groups".into(), Value::Sequence(groups));
        }
        if !a.users.is_empty() {
            let users = a
                .users
                .iter()
                .map(|u| {
                    let mut m = Mapping::new();
                    m.insert("username".into(), u.username.as_str().into());
                    m.insert("uid".into(), u.uid.into());
                    if let Some(g) = u.gid {
                        m.insert("gid".into(), g.into());
                    }
                    if let Some(h) = &u.home {
                        m.insert("homedir".into(), h.as_str().into());
                    }
                    if let Some(s) = &u.shell {
                        m.insert("shell".into(), s.as_str().into());
                    }
                    Value::Mapping(m)
                })
                .collect();
            accounts.insert("users".into(), Value::Sequence(users));
        }
        if let Some(r) = &a.run_as {
            accounts.insert("run-as".into(), r.as_str().into());
        }
        top.insert("accounts".into(), Value::Mapping(accounts));
    }
    if !n.certificates.is_empty() {
        let mut additional = Vec::new();
        for c in &n.certificates {
            let content = match &c.source {
                EntrySource::Content(t) => t.clone(),
                EntrySource::Path(p) => read_text(p, crate::certs::MAX_CERT_BYTES, "certificate")?,
            };
            additional.push(name_content(c.name.clone(), content));
        }
        let mut certs = Mapping::new();
        certs.insert("additional".into(), Value::Sequence(additional));
        top.insert("certificates".into(), Value::Mapping(certs));
    }
    let yaml = if top.is_empty() {
        "{}\n".to_owned()
    } else {
        serde_norway::to_string(&Value::Mapping(top)).map_err(|e| ExportError(e.to_string()))?
    };
    Ok((yaml, left_out))
}

fn strings(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|s| Value::from(s.as_str())).collect())
}

fn name_content(name: String, content: String) -> Value {
    let mut m = Mapping::new();
    m.insert("name".into(), name.into());
    m.insert("content".into(), content.into());
    Value::Mapping(m)
}

fn read_text(path: &Path, limit: usize, what: &'static str) -> Result<String, ExportError> {
    let bytes = crate::runtime::read_limited(path, limit, what)
        .map_err(|e| ExportError(format!("cannot read {}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|_| ExportError(format!("{} is not text", path.display())))
}
