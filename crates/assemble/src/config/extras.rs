//! The keys a declaration sets besides packages: `[image.accounts]`,
//! `[[image.certificates]]`, `runtime_repositories`, `runtime_keyring`,
//! `sbom`, `[[image.overlay]]`, and the reserved-name rule for
//! `environment` and `annotations`. Each checks its value with the
//! library module that will write it (`accounts`, `certs`, `runtime`,
//! `reserved`, `overlay`), so what `validate` accepts the build can write.
//!
//! Overlays are expanded here, once every image of a file is checked: an
//! image whose tags select different overlays becomes one image per
//! variant (see [`Checker::expand_overlays`]).

use std::ops::Range;

use super::{Checker, IMAGE_KEYS};
use crate::accounts::{self, Accounts, Group, Item, User};
use crate::certs::{self, CertificateEntry, EntrySource};
use crate::config::document::{Entry, Kind, Node};
use crate::model::{is_valid_image_name, resolve_path, Image, ImageOverlay, Spanned};
use crate::overlay::{self, TagSelector};
use crate::reserved::{self, NameKind};
use crate::runtime;

/// Keys of `[[image.overlay]]`.
const OVERLAY_KEYS: &[&str] = &[
    "tags",
    "packages",
    "environment",
    "annotations",
    "accounts",
    "certificates",
];

/// The wall clock, for certificate expiry (see [`certs`]).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Checker<'_> {
    /// The entries of a table value, or an error naming `key`.
    fn table<'n>(&mut self, node: &'n Node, at: &Range<usize>, key: &str) -> &'n [Entry] {
        match &node.kind {
            Kind::Table(entries) => entries,
            _ => {
                self.error(
                    node.span_or(at),
                    format!("'{key}' must be a table, found {}", node.type_name()),
                    None,
                );
                &[]
            }
        }
    }

    /// The tables of an array of tables.
    fn tables<'n>(&mut self, node: &'n Node, at: &Range<usize>, key: &str) -> Vec<&'n Node> {
        let Kind::Array(items) = &node.kind else {
            self.error(
                node.span_or(at),
                format!(
                    "'{key}' must be an array of tables, found {}",
                    node.type_name()
                ),
                Some(format!("write [[image.{key}]] tables")),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            if matches!(item.kind, Kind::Table(_)) {
                out.push(item);
            } else {
                self.error(
                    item.span_or(at),
                    format!("'{key}' entries must be tables, found {}", item.type_name()),
                    None,
                );
            }
        }
        out
    }

    /// A whole number in `0..=u32::MAX`.
    fn id(&mut self, node: &Node, at: &Range<usize>, key: &str) -> Option<u32> {
        match node.kind {
            Kind::Int(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
            _ => {
                self.error(
                    node.span_or(at),
                    format!(
                        "'{key}' must be a whole number from 0, found {}",
                        node.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    /// `[image.accounts]`: users, groups, run_as.
    pub(super) fn accounts(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        image.extras.accounts_span = node.span_or(at);
        let (accounts, spans) = self.accounts_table(node, at);
        let errors = accounts::validate(&accounts);
        self.account_errors(errors, &spans);
        image.extras.accounts = accounts;
    }

    /// Reports account errors at the span of the item they blame.
    fn account_errors(&mut self, errors: Vec<accounts::AccountError>, spans: &AccountSpans) {
        for e in errors {
            let span = match e.item {
                Item::User(i) => spans.users.get(i).cloned(),
                Item::Group(i) => spans.groups.get(i).cloned(),
                Item::RunAs => spans.run_as.clone(),
            };
            self.error(
                span.unwrap_or_else(|| spans.table.clone()),
                e.message,
                e.help,
            );
        }
    }

    fn accounts_table(&mut self, node: &Node, at: &Range<usize>) -> (Accounts, AccountSpans) {
        let mut accounts = Accounts::default();
        let mut spans = AccountSpans {
            table: node.span_or(at),
            ..AccountSpans::default()
        };
        for e in self.table(node, at, "accounts") {
            let at = e.key_span.clone().unwrap_or_else(|| spans.table.clone());
            match e.key.as_str() {
                "users" => {
                    for t in self.tables(&e.value, &at, "accounts.users") {
                        if let Some(u) = self.user(t, &at) {
                            accounts.users.push(u);
                            spans.users.push(t.span_or(&at));
                        }
                    }
                }
                "groups" => {
                    for t in self.tables(&e.value, &at, "accounts.groups") {
                        if let Some(g) = self.group(t, &at) {
                            accounts.groups.push(g);
                            spans.groups.push(t.span_or(&at));
                        }
                    }
                }
                "run_as" => {
                    // A number is accepted as a uid (apko writes `run-as: 65532`).
                    let value = match &e.value.kind {
                        Kind::Int(n) => Some(n.to_string()),
                        _ => self.string(&e.value, &at, "run_as").map(|s| s.value),
                    };
                    if let Some(v) = value {
                        accounts.run_as = Some(v);
                        spans.run_as = Some(e.value.span_or(&at));
                    }
                }
                _ => self.unknown_key(e, &["users", "groups", "run_as"], "in [image.accounts]"),
            }
        }
        (accounts, spans)
    }

    fn user(&mut self, node: &Node, at: &Range<usize>) -> Option<User> {
        let (mut name, mut uid) = (None, None);
        let mut user = User {
            username: String::new(),
            uid: 0,
            gid: None,
            home: None,
            shell: None,
        };
        let at = node.span_or(at);
        for e in node.entries().unwrap_or_default() {
            let kat = e.key_span.clone().unwrap_or_else(|| at.clone());
            match e.key.as_str() {
                "username" => name = self.string(&e.value, &kat, "username").map(|s| s.value),
                "uid" => uid = self.id(&e.value, &kat, "uid"),
                "gid" => user.gid = self.id(&e.value, &kat, "gid"),
                "home" => user.home = self.string(&e.value, &kat, "home").map(|s| s.value),
                "shell" => user.shell = self.string(&e.value, &kat, "shell").map(|s| s.value),
                _ => self.unknown_key(e, &["username", "uid", "gid", "home", "shell"], "in a user"),
            }
        }
        let missing = |c: &mut Self, key: &str| {
            c.error(
                at.clone(),
                format!("a user needs '{key}'"),
                Some("write { username = \"app\", uid = 10001 }".into()),
            )
        };
        match (name, uid) {
            (Some(n), Some(u)) => {
                user.username = n;
                user.uid = u;
                Some(user)
            }
            (n, u) => {
                if n.is_none() {
                    missing(self, "username");
                }
                if u.is_none() {
                    missing(self, "uid");
                }
                None
            }
        }
    }

    fn group(&mut self, node: &Node, at: &Range<usize>) -> Option<Group> {
        let (mut name, mut gid, mut members) = (None, None, Vec::new());
        let at = node.span_or(at);
        for e in node.entries().unwrap_or_default() {
            let kat = e.key_span.clone().unwrap_or_else(|| at.clone());
            match e.key.as_str() {
                "groupname" => name = self.string(&e.value, &kat, "groupname").map(|s| s.value),
                "gid" => gid = self.id(&e.value, &kat, "gid"),
                "members" => {
                    members = self
                        .strings(&e.value, &kat, "members", None)
                        .into_iter()
                        .map(|s| s.value)
                        .collect()
                }
                _ => self.unknown_key(e, &["groupname", "gid", "members"], "in a group"),
            }
        }
        match (name, gid) {
            (Some(groupname), Some(gid)) => Some(Group {
                groupname,
                gid,
                members,
            }),
            _ => {
                self.error(
                    at,
                    "a group needs 'groupname' and 'gid'",
                    Some("write { groupname = \"app\", gid = 10001, members = [] }".into()),
                );
                None
            }
        }
    }

    /// `[[image.certificates]]`: `{ name, content | path }`, each a CA
    /// certificate valid now.
    pub(super) fn certificates(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let now = now();
        for t in self.tables(node, at, "certificates") {
            let span = t.span_or(at);
            let (mut name, mut source) = (None, None);
            for e in t.entries().unwrap_or_default() {
                let kat = e.key_span.clone().unwrap_or_else(|| span.clone());
                match e.key.as_str() {
                    "name" => name = self.string(&e.value, &kat, "name").map(|s| s.value),
                    "content" if source.is_none() => {
                        source = self
                            .string(&e.value, &kat, "content")
                            .map(|s| EntrySource::Content(s.value))
                    }
                    "path" if source.is_none() => {
                        source = self
                            .string(&e.value, &kat, "path")
                            .map(|s| EntrySource::Path(resolve_path(self.base, &*s)))
                    }
                    "content" | "path" => self.error(
                        kat,
                        "a certificate has either 'content' or 'path', not both",
                        None,
                    ),
                    _ => self.unknown_key(e, &["name", "content", "path"], "in a certificate"),
                }
            }
            let (Some(name), Some(source)) = (name, source) else {
                self.error(
                    span,
                    "a certificate needs 'name' and 'content' (PEM) or 'path'",
                    Some("write { name = \"corp-root\", path = \"certs/corp-root.pem\" }".into()),
                );
                continue;
            };
            match certs::load(&CertificateEntry { name, source }, now) {
                Ok(c) if image.extras.certificates.iter().any(|d| d.name == c.name) => self.error(
                    span,
                    format!("certificate '{}' declared twice", c.name),
                    None,
                ),
                Ok(c) => image.extras.certificates.push(Spanned::new(c, span)),
                Err(e) => self.error(span, e.to_string(), e.help),
            }
        }
    }

    /// `runtime_repositories`: public https repositories for the image's
    /// own apk.
    pub(super) fn runtime_repositories(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        image: &mut Image,
    ) {
        for text in self.strings(node, at, "runtime_repositories", None) {
            match runtime::check_repository(&text) {
                Ok(r)
                    if image
                        .extras
                        .runtime_repositories
                        .iter()
                        .any(|x| x.url == r.url) =>
                {
                    self.error(text.span, "listed twice", None)
                }
                Ok(r) => image
                    .extras
                    .runtime_repositories
                    .push(Spanned::new(r, text.span)),
                Err(e) => {
                    self.mask_credentials(text.span.clone());
                    self.error(
                        text.span,
                        format!("runtime repository: {}", e.message),
                        e.help.map(str::to_owned),
                    )
                }
            }
        }
    }

    /// `runtime_keyring`: key files, or inline `{ name, content }`.
    pub(super) fn runtime_keyring(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Kind::Array(items) = &node.kind else {
            self.error(
                node.span_or(at),
                format!(
                    "'runtime_keyring' must be an array, found {}",
                    node.type_name()
                ),
                Some("write runtime_keyring = [\"keys/acme.rsa.pub\"]".into()),
            );
            return;
        };
        for (index, item) in items.iter().enumerate() {
            let span = item.span_or(at);
            let key = match &item.kind {
                Kind::Str(path) => runtime::load_key(index, &resolve_path(self.base, path)),
                Kind::Table(_) => {
                    let text = |k: &str| match item.get(k).map(|e| &e.value.kind) {
                        Some(Kind::Str(s)) => Some(s.clone()),
                        _ => None,
                    };
                    match (text("name"), text("content")) {
                        (Some(name), Some(content))
                            if item.entries().is_some_and(|e| e.len() == 2) =>
                        {
                            runtime::check_key(index, &name, content.as_bytes())
                        }
                        _ => {
                            self.error(
                                span,
                                "an inline runtime key is { name = \"acme.rsa.pub\", content = \"-----BEGIN PUBLIC KEY-----…\" }",
                                None,
                            );
                            continue;
                        }
                    }
                }
                _ => {
                    self.error(
                        span,
                        format!(
                            "'runtime_keyring' entries are paths or {{ name, content }} tables, found {}",
                            item.type_name()
                        ),
                        None,
                    );
                    continue;
                }
            };
            match key {
                Ok(k)
                    if image
                        .extras
                        .runtime_keyring
                        .iter()
                        .any(|x| x.name == k.name) =>
                {
                    self.error(span, format!("runtime key '{}' listed twice", k.name), None)
                }
                Ok(k) => image.extras.runtime_keyring.push(Spanned::new(k, span)),
                Err(e) => self.error(
                    span,
                    format!("runtime key '{}': {}", e.name, e.message),
                    e.help,
                ),
            }
        }
    }

    /// `sbom = ["spdx", "cyclonedx"]`.
    pub(super) fn sbom(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let formats = self.strings(
            node,
            at,
            "sbom",
            Some("remove the key for the SPDX document alone"),
        );
        let mut spdx = false;
        for f in &formats {
            match f.as_str() {
                "spdx" => spdx = true,
                "cyclonedx" => image.extras.cyclonedx = true,
                other => {
                    let help = super::suggest::key(other, &["spdx", "cyclonedx"])
                        .map_or("the formats are \"spdx\" and \"cyclonedx\"".into(), |s| {
                            format!("did you mean '{s}'?")
                        });
                    self.error(
                        f.span.clone(),
                        format!("unknown SBOM format '{other}'"),
                        Some(help),
                    )
                }
            }
        }
        if !spdx && !formats.is_empty() {
            self.error(
                node.span_or(at),
                "the SPDX document is always written",
                Some("write sbom = [\"spdx\", \"cyclonedx\"]".into()),
            );
        }
    }

    /// Environment variables and annotations in the tool's namespace are
    /// refused at their key.
    pub(super) fn reserved(&mut self, node: &Node, kind: NameKind) {
        for e in node.entries().unwrap_or_default() {
            if let Some(r) = reserved::check(
                (kind == NameKind::Environment).then_some(e.key.as_str()),
                (kind == NameKind::Annotation).then_some(e.key.as_str()),
            )
            .pop()
            {
                self.error(
                    e.key_span.clone().unwrap_or(0..0),
                    r.to_string(),
                    Some(r.help()),
                );
            }
        }
    }

    /// `[[image.overlay]]`: tags, then the keys an overlay may change,
    /// checked by the image keys' own functions.
    pub(super) fn overlays(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for t in self.tables(node, at, "overlay") {
            let span = self.header(t.span_or(at));
            let mut scratch = Image::empty(image.file.clone());
            let mut tags = Vec::new();
            for e in t.entries().unwrap_or_default() {
                let kat = e.key_span.clone().unwrap_or_else(|| span.clone());
                match e.key.as_str() {
                    "tags" => tags = self.strings(&e.value, &kat, "tags", None),
                    k if OVERLAY_KEYS.contains(&k) => {
                        let key = IMAGE_KEYS.iter().find(|x| x.name == k);
                        if let Some(key) = key {
                            (key.check)(self, &e.value, &kat, &mut scratch);
                        }
                    }
                    _ => self.unknown_key(e, OVERLAY_KEYS, "in an overlay"),
                }
            }
            if let Err(errors) = TagSelector::new(&plain(&tags)) {
                for e in errors {
                    let at = tags.get(e.index).map_or(span.clone(), |t| t.span.clone());
                    self.error(at, e.to_string(), None);
                }
            }
            image.extras.overlays.push(ImageOverlay {
                tags,
                span,
                packages: scratch.packages,
                environment: scratch.environment,
                annotations: scratch.annotations,
                accounts: scratch.extras.accounts,
                certificates: scratch.extras.certificates,
            });
        }
    }

    /// Splits every image with overlays into one image per variant (the
    /// tags selecting the same overlays): the variant holding the first
    /// declared tag keeps the image's name, the others are named
    /// `<name>.<their first tag, lowercase>`. An overlay selecting no tag
    /// is an error (a typo, most likely).
    pub(in crate::config) fn expand_overlays(&mut self, images: Vec<Image>) -> Vec<Image> {
        let mut out = Vec::new();
        for image in images {
            if image.extras.overlays.is_empty() {
                out.push(image);
                continue;
            }
            let overlays: Vec<overlay::Overlay<()>> = image
                .extras
                .overlays
                .iter()
                .filter_map(|o| {
                    let tags = TagSelector::new(&plain(&o.tags)).ok()?;
                    Some(overlay::Overlay { tags, settings: () })
                })
                .collect();
            if overlays.len() != image.extras.overlays.len() {
                continue; // errors already reported
            }
            for i in overlay::unused(&overlays, &image.tags) {
                let o = &image.extras.overlays[i];
                self.error(
                    o.span.clone(),
                    "this overlay selects none of the image's tags",
                    Some(format!("the tags are: {}", image.tags.join(", "))),
                );
            }
            for (n, variant) in overlay::variants(&image.tags, &overlays)
                .into_iter()
                .enumerate()
            {
                let mut v = image.clone();
                v.extras.overlays = Vec::new();
                v.tags = variant.tags.clone();
                if n > 0 {
                    let name = format!("{}.{}", *image.name, variant.tags[0].to_ascii_lowercase());
                    if !is_valid_image_name(&name) || self.seen.contains_key(&name) {
                        self.error(
                            image.name.span.clone(),
                            format!("the variant for tag '{}' would be named '{name}', which is taken or invalid", variant.tags[0]),
                            Some("rename the image or its tags".into()),
                        );
                        continue;
                    }
                    self.seen.insert(
                        name.clone(),
                        format!("{} (variant)", self.file.path.display()),
                    );
                    v.name = Spanned::new(name, image.name.span.clone());
                }
                for &i in &variant.overlays {
                    apply_overlay(&mut v, &image.extras.overlays[i]);
                }
                if !variant.overlays.is_empty() {
                    self.cross_checks(&v);
                }
                // Merged accounts are checked again when an overlay changed
                // them (at that overlay: the image's own were checked).
                let mut changed = variant
                    .overlays
                    .iter()
                    .rev()
                    .map(|&i| &image.extras.overlays[i]);
                if let Some(o) = changed.find(|o| !o.accounts.is_empty()) {
                    let errors = accounts::validate(&v.extras.accounts);
                    let spans = AccountSpans {
                        table: o.span.clone(),
                        ..AccountSpans::default()
                    };
                    self.account_errors(errors, &spans);
                }
                out.push(v);
            }
        }
        out
    }
}

/// Spans of the items of one `[image.accounts]`.
#[derive(Default)]
struct AccountSpans {
    table: Range<usize>,
    users: Vec<Range<usize>>,
    groups: Vec<Range<usize>>,
    run_as: Option<Range<usize>>,
}

/// `o` on top of `image`: atoms of the same package name, users, groups and
/// certificates of the same name replaced in place, others appended; maps
/// and `run_as` later-wins.
fn apply_overlay(image: &mut Image, o: &ImageOverlay) {
    overlay::merge_keyed(&mut image.packages, &o.packages, |a| a.name().to_owned());
    overlay::merge_map(&mut image.environment, &o.environment);
    overlay::merge_map(&mut image.annotations, &o.annotations);
    let a = &mut image.extras.accounts;
    overlay::merge_keyed(&mut a.users, &o.accounts.users, |u| u.username.clone());
    overlay::merge_keyed(&mut a.groups, &o.accounts.groups, |g| g.groupname.clone());
    overlay::merge_scalar(&mut a.run_as, &o.accounts.run_as);
    overlay::merge_keyed(&mut image.extras.certificates, &o.certificates, |c| {
        c.name.clone()
    });
}

fn plain(tags: &[Spanned<String>]) -> Vec<&str> {
    tags.iter().map(|t| t.value.as_str()).collect()
}

/// The extras of `image` as JSON keys of its declaration (certificates
/// and keys inline), for [`image_to_value`](super::super::image_to_value).
pub(crate) fn extras_to_value(image: &Image, out: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let x = &image.extras;
    let a = &x.accounts;
    if !a.is_empty() {
        let users: Vec<_> = a
            .users
            .iter()
            .map(|u| {
                let mut v = json!({"username": u.username, "uid": u.uid});
                for (k, val) in [("home", &u.home), ("shell", &u.shell)] {
                    if let Some(val) = val {
                        v[k] = json!(val);
                    }
                }
                if let Some(g) = u.gid {
                    v["gid"] = json!(g);
                }
                v
            })
            .collect();
        let groups: Vec<_> = a
            .groups
            .iter()
            .map(|g| json!({"groupname": g.groupname, "gid": g.gid, "members": g.members}))
            .collect();
        let mut v = json!({"users": users, "groups": groups});
        if let Some(r) = &a.run_as {
            v["run_as"] = json!(r);
        }
        out.insert("accounts".into(), v);
    }
    if !x.certificates.is_empty() {
        let certs: Vec<_> = x
            .certificates
            .iter()
            .map(|c| json!({"name": c.name, "content": c.pem}))
            .collect();
        out.insert("certificates".into(), json!(certs));
    }
    if !x.runtime_repositories.is_empty() {
        let lines: Vec<String> = x.runtime_repositories.iter().map(|r| r.line()).collect();
        out.insert("runtime_repositories".into(), json!(lines));
    }
    if !x.runtime_keyring.is_empty() {
        let keys: Vec<_> = x
            .runtime_keyring
            .iter()
            .map(|k| json!({"name": k.name, "content": k.pem}))
            .collect();
        out.insert("runtime_keyring".into(), json!(keys));
    }
    if x.cyclonedx {
        out.insert("sbom".into(), json!(["spdx", "cyclonedx"]));
    }
}

/// The extras of `image` (and a layer compression other than gzip) as one
/// line per item, for the applied state and the plan (a changed line is a
/// change of the image).
pub fn extras_summary(image: &Image) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let x = &image.extras;
    for u in &x.accounts.users {
        out.insert(
            format!("accounts.users.{}", u.username),
            format!(
                "uid {}, gid {}, home {}, shell {}",
                u.uid,
                u.primary_gid(),
                u.home_dir(),
                u.login_shell()
            ),
        );
    }
    for g in &x.accounts.groups {
        out.insert(
            format!("accounts.groups.{}", g.groupname),
            format!("gid {}, members [{}]", g.gid, g.members.join(", ")),
        );
    }
    if let Some(r) = &x.accounts.run_as {
        out.insert("accounts.run_as".into(), r.clone());
    }
    for c in &x.certificates {
        out.insert(format!("certificates.{}", c.name), certs::describe(c));
    }
    if !x.runtime_repositories.is_empty() {
        let lines: Vec<String> = x.runtime_repositories.iter().map(|r| r.line()).collect();
        out.insert("runtime_repositories".into(), lines.join(", "));
    }
    for k in &x.runtime_keyring {
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(k.pem.as_bytes()));
        out.insert(
            format!("runtime_keyring.{}", k.name),
            format!("sha256 {digest}"),
        );
    }
    if x.cyclonedx {
        out.insert("sbom".into(), "spdx, cyclonedx".into());
    }
    // Not the default: a change of it rebuilds every layer.
    if image.compression != Default::default() {
        out.insert("compression".into(), image.compression.name().into());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{image_from_value, image_to_value, parse_str};

    const TEXT: &str = r#"[image]
name = "app"
source = "scratch"
packages = ["curl", "jq"]
tags = ["latest", "3.20", "3.20-dev", "edge-dev"]
runtime_repositories = ["https://dl-cdn.alpinelinux.org/alpine/v3.20/main"]
sbom = ["spdx", "cyclonedx"]
[image.accounts]
run_as = "app"
users = [{ username = "app", uid = 10001 }]
[[image.overlay]]
tags = ["*-dev"]
packages = ["strace", "curl>=8"]
environment = { MODE = "dev" }
[[image.overlay]]
tags = ["edge-dev"]
accounts = { users = [{ username = "app", uid = 10001, shell = "/bin/ash" }] }
"#;

    #[test]
    fn overlays_split_the_image_into_variants() {
        let images = parse_str(TEXT, Path::new("assembly.toml")).unwrap();
        let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["app", "app.3.20-dev", "app.edge-dev"]);
        assert_eq!(images[0].tags, ["latest", "3.20"]);
        assert_eq!(images[1].tags, ["3.20-dev"]);
        let atoms: Vec<String> = images[1].packages.iter().map(|a| a.to_string()).collect();
        assert_eq!(atoms, ["curl>=8", "jq", "strace"]);
        assert_eq!(images[1].environment["MODE"], "dev");
        assert!(images[0].environment.is_empty());
        let shell = images[2].extras.accounts.users[0].shell.as_deref();
        assert_eq!(shell, Some("/bin/ash"));
        assert!(images
            .iter()
            .all(|i| i.extras.overlays.is_empty() && i.extras.cyclonedx));
    }

    #[test]
    fn errors_point_at_the_value() {
        let text = "[image]\nname = \"a\"\nsource = \"scratch\"\n\
                    runtime_repositories = [\"https://192.168.1.10/x\"]\n\
                    sbom = [\"cyclonedx\", \"spdxx\"]\n\
                    [image.accounts]\nusers = [{ username = \"root\", uid = 5 }, { username = \"b\" }]\nrun_as = \"nobody-here\"\n\
                    [[image.overlay]]\ntags = [\"[\"]\n";
        let errors = parse_str(text, Path::new("assembly.toml")).unwrap_err();
        let lines: Vec<String> = errors
            .errors
            .iter()
            .map(|e| format!("{}:{}: {e}", e.line, e.column))
            .collect();
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        assert!(has("4:25: runtime repository:"), "{lines:#?}");
        assert!(has("did you mean 'spdx'"), "{lines:#?}");
        assert!(has("SPDX document is always written"), "{lines:#?}");
        assert!(has("7:42: a user needs 'uid'"), "{lines:#?}");
        assert!(has("10:9: tag pattern"), "{lines:#?}");
    }

    #[test]
    fn extras_survive_the_json_form() {
        let images = parse_str(TEXT, Path::new("assembly.toml")).unwrap();
        let value = image_to_value(&images[2]);
        let back = image_from_value(&value, Path::new("/"), "request body").unwrap();
        assert_eq!(back.extras.accounts, images[2].extras.accounts);
        assert_eq!(
            back.extras.runtime_repositories[0].value,
            images[2].extras.runtime_repositories[0].value
        );
        assert!(back.extras.cyclonedx);
        let mut with_overlays = image_to_value(&images[0]);
        with_overlays["overlay"] = serde_json::json!([{"tags": ["3.20"], "packages": ["x"]}]);
        let errors = image_from_value(&with_overlays, Path::new("/"), "body").unwrap_err();
        assert!(
            errors[0].message.contains("one declaration per variant"),
            "{errors:?}"
        );
    }
}
