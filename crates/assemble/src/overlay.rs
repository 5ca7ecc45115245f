//! Per-tag overlays: one declaration, different additions per output tag.
//!
//! ```toml
//! [[image.overlay]]
//! tags = ["3.17", "3.17-*"]        # exact tags and globs (`*`, `?`, `[a-z]`, `{a,b}`)
//! packages = ["py3-typer"]
//! ```
//!
//! The anchor service binds overlays to ALL tags, a VARIANT (`*-dev`) or
//! EXACT tags; here a selector is a list of exact names and globs (`*` is
//! ALL, `*-dev` a variant), and overlays apply in declaration order after
//! the image-wide settings. Merging ([`Merge`]): maps and scalars — later
//! wins; lists — merged without duplicates, where entries with the same key
//! (a package's name, a user's or group's name, a certificate's name) are
//! the same entry and the later one replaces the earlier in place.
//!
//! [`Settings`] is the mergeable part of a declaration; phase 2 maps its
//! model to it (or implements [`Merge`] with the helpers here). [`variants`]
//! groups the output tags by the overlays that apply, so plan, lock and
//! state can be kept per variant where tags differ.

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobMatcher};

use crate::accounts::{Accounts, Group, User};
use crate::certs::CertificateEntry;

/// Which output tags an overlay applies to.
#[derive(Clone, Debug)]
pub struct TagSelector {
    patterns: Vec<(String, GlobMatcher)>,
}

/// A tag pattern that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tag pattern `{pattern}`: {message}")]
pub struct PatternError {
    /// Index in `tags` (for the span).
    pub index: usize,
    /// The pattern (escaped).
    pub pattern: String,
    /// What is wrong.
    pub message: String,
}

impl TagSelector {
    /// Compiles `patterns` (at least one); every error at once.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<TagSelector, Vec<PatternError>> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        if patterns.is_empty() {
            errors.push(PatternError {
                index: 0,
                pattern: String::new(),
                message: "an overlay needs at least one tag or pattern (`*` for every tag)".into(),
            });
        }
        for (index, p) in patterns.iter().enumerate() {
            let p = p.as_ref();
            let err = |message: String| PatternError {
                index,
                pattern: assemble_io::escape::escape(p).into_owned(),
                message,
            };
            if p.is_empty() || p.len() > 256 {
                errors.push(err("must have 1 to 256 characters".into()));
                continue;
            }
            if let Some(c) = p
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "_.-*?[]!^{},".contains(*c)))
            {
                errors.push(err(format!(
                    "`{}` is neither a tag character nor glob syntax",
                    c.escape_default()
                )));
                continue;
            }
            match GlobBuilder::new(p)
                .literal_separator(false)
                .backslash_escape(false)
                .empty_alternates(false)
                .build()
            {
                Ok(glob) => out.push((p.to_owned(), glob.compile_matcher())),
                Err(e) => errors.push(err(e.kind().to_string())),
            }
        }
        if errors.is_empty() {
            Ok(TagSelector { patterns: out })
        } else {
            Err(errors)
        }
    }

    /// True when some pattern matches `tag` exactly (globs anchored).
    pub fn matches(&self, tag: &str) -> bool {
        self.patterns.iter().any(|(_, m)| m.is_match(tag))
    }

    /// The patterns as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|(p, _)| p.as_str())
    }
}

/// Settings that can be layered: `self` is updated by a later layer.
pub trait Merge {
    /// Applies `later` on top of `self`.
    fn merge(&mut self, later: &Self);
}

/// Something identified by a key inside a list.
pub trait Keyed {
    /// The identity: entries with equal keys are the same entry.
    fn key(&self) -> &str;
}

impl Keyed for User {
    fn key(&self) -> &str {
        &self.username
    }
}

impl Keyed for Group {
    fn key(&self) -> &str {
        &self.groupname
    }
}

impl Keyed for CertificateEntry {
    fn key(&self) -> &str {
        &self.name
    }
}

/// Maps: later wins per key.
pub fn merge_map<K: Ord + Clone, V: Clone>(into: &mut BTreeMap<K, V>, later: &BTreeMap<K, V>) {
    into.extend(later.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// Scalars: later wins when set.
pub fn merge_scalar<T: Clone>(into: &mut Option<T>, later: &Option<T>) {
    if later.is_some() {
        into.clone_from(later);
    }
}

/// Lists: an entry whose key is already present replaces it in place;
/// others are appended in order.
pub fn merge_keyed<T: Clone, K: PartialEq>(into: &mut Vec<T>, later: &[T], key: impl Fn(&T) -> K) {
    for item in later {
        match into.iter().position(|x| key(x) == key(item)) {
            Some(i) => into[i] = item.clone(),
            None => into.push(item.clone()),
        }
    }
}

/// The package name an atom is about (`curl>=8` → `curl`, `py3@edge` →
/// `py3`, `!foo` → `!foo`).
pub fn atom_name(atom: &str) -> &str {
    let atom = atom.trim();
    let end = atom
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '<' | '>' | '=' | '~' | '@'))
        .map_or(atom.len(), |(i, _)| i);
    &atom[..end]
}

/// The part of a declaration overlays can change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Atoms to add; one per package name.
    pub packages: Vec<String>,
    /// Config environment.
    pub environment: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Users, groups, run_as.
    pub accounts: Accounts,
    /// Extra CA certificates.
    pub certificates: Vec<CertificateEntry>,
}

impl Merge for Settings {
    fn merge(&mut self, later: &Settings) {
        merge_keyed(&mut self.packages, &later.packages, |a| {
            atom_name(a).to_owned()
        });
        merge_map(&mut self.environment, &later.environment);
        merge_map(&mut self.annotations, &later.annotations);
        merge_keyed(&mut self.accounts.users, &later.accounts.users, |u| {
            u.key().to_owned()
        });
        merge_keyed(&mut self.accounts.groups, &later.accounts.groups, |g| {
            g.key().to_owned()
        });
        merge_scalar(&mut self.accounts.run_as, &later.accounts.run_as);
        merge_keyed(&mut self.certificates, &later.certificates, |c| {
            c.key().to_owned()
        });
    }
}

/// One `[[image.overlay]]`.
#[derive(Clone, Debug)]
pub struct Overlay<S> {
    /// The tags it applies to.
    pub tags: TagSelector,
    /// What it adds or changes.
    pub settings: S,
}

/// Indices of the overlays that apply to `tag`, in order.
pub fn applying<S>(overlays: &[Overlay<S>], tag: &str) -> Vec<usize> {
    (0..overlays.len())
        .filter(|&i| overlays[i].tags.matches(tag))
        .collect()
}

/// The settings of output tag `tag`: `base`, then each overlay that
/// applies, in order.
pub fn settings_for<S: Merge + Clone>(base: &S, overlays: &[Overlay<S>], tag: &str) -> S {
    let mut s = base.clone();
    for i in applying(overlays, tag) {
        s.merge(&overlays[i].settings);
    }
    s
}

/// Output tags sharing the same overlays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The overlays applied, in order (empty: the image-wide settings).
    pub overlays: Vec<usize>,
    /// The tags, in declaration order.
    pub tags: Vec<String>,
}

/// Groups `tags` by the overlays that apply to them, in order of first
/// appearance: one build per variant.
pub fn variants<S, T: AsRef<str>>(tags: &[T], overlays: &[Overlay<S>]) -> Vec<Variant> {
    let mut out: Vec<Variant> = Vec::new();
    for tag in tags {
        let tag = tag.as_ref();
        let applied = applying(overlays, tag);
        match out.iter_mut().find(|v| v.overlays == applied) {
            Some(v) => v.tags.push(tag.to_owned()),
            None => out.push(Variant {
                overlays: applied,
                tags: vec![tag.to_owned()],
            }),
        }
    }
    out
}

/// Overlays that apply to none of `tags` (probably a typo: phase 2 reports
/// them with their span).
pub fn unused<S, T: AsRef<str>>(overlays: &[Overlay<S>], tags: &[T]) -> Vec<usize> {
    (0..overlays.len())
        .filter(|&i| !tags.iter().any(|t| overlays[i].tags.matches(t.as_ref())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::EntrySource;
    use proptest::prelude::*;

    fn sel(p: &[&str]) -> TagSelector {
        TagSelector::new(p).unwrap()
    }

    fn pkgs(p: &[&str]) -> Settings {
        Settings {
            packages: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn selectors() {
        let s = sel(&["3.17", "3.17-*"]);
        for t in ["3.17", "3.17-dev", "3.17-r1-dev"] {
            assert!(s.matches(t), "{t}");
        }
        for t in ["latest", "3.170", "3.1", "x3.17-dev", "3.17."] {
            assert!(!s.matches(t), "{t}");
        }
        assert!(sel(&["*"]).matches("anything"));
        assert!(sel(&["*-dev"]).matches("latest-dev"));
        assert!(!sel(&["*-dev"]).matches("dev"));
        assert!(sel(&["3.1[0-9]"]).matches("3.15"));
        assert!(sel(&["{latest,stable}"]).matches("stable"));
        assert!(sel(&["v?"]).matches("v1"));
        // `.` is literal, not "any character".
        assert!(!sel(&["3.17"]).matches("3x17"));
        assert_eq!(
            sel(&["a", "b*"]).patterns().collect::<Vec<_>>(),
            ["a", "b*"]
        );

        let errors = TagSelector::new(&["ok", "a/b", "[a-", "", "a b"]).unwrap_err();
        let idx: Vec<usize> = errors.iter().map(|e| e.index).collect();
        assert_eq!(idx, [1, 2, 3, 4], "{errors:?}");
        assert!(errors[0].message.contains("neither a tag character"));
        assert!(TagSelector::new::<&str>(&[]).is_err());
    }

    #[test]
    fn overlay_on_dev_tags_only() {
        let base = pkgs(&["python-3.12"]);
        let overlays = vec![Overlay {
            tags: sel(&["3.17-*"]),
            settings: pkgs(&["py3-pip"]),
        }];
        assert_eq!(
            settings_for(&base, &overlays, "3.17-dev").packages,
            ["python-3.12", "py3-pip"]
        );
        assert_eq!(settings_for(&base, &overlays, "latest"), base);
        let v = variants(&["latest", "3.17-dev", "3.17", "3.17-slim"], &overlays);
        assert_eq!(
            v,
            [
                Variant {
                    overlays: vec![],
                    tags: vec!["latest".into(), "3.17".into()]
                },
                Variant {
                    overlays: vec![0],
                    tags: vec!["3.17-dev".into(), "3.17-slim".into()]
                }
            ]
        );
        assert!(unused(&overlays, &["latest"]) == [0]);
        assert!(unused(&overlays, &["3.17-dev"]).is_empty());
    }

    #[test]
    fn merge_semantics() {
        let user = |name: &str, uid: u32| User {
            username: name.into(),
            uid,
            gid: None,
            home: None,
            shell: None,
        };
        let cert = |name: &str, c: &str| CertificateEntry {
            name: name.into(),
            source: EntrySource::Content(c.into()),
        };
        let mut base = Settings {
            packages: vec!["curl".into(), "jq".into()],
            environment: [("A".to_string(), "1".to_string()), ("B".into(), "1".into())].into(),
            annotations: [("x".to_string(), "base".to_string())].into(),
            accounts: Accounts {
                users: vec![user("app", 1000)],
                groups: vec![],
                run_as: Some("app".into()),
            },
            certificates: vec![cert("corp", "old")],
        };
        let later = Settings {
            packages: vec!["curl>=8".into(), "git".into(), "jq".into()],
            environment: [("B".to_string(), "2".to_string())].into(),
            annotations: [("y".to_string(), "dev".to_string())].into(),
            accounts: Accounts {
                users: vec![user("app", 1001), user("dev", 1002)],
                groups: vec![],
                run_as: None,
            },
            certificates: vec![cert("corp", "new"), cert("lab", "x")],
        };
        base.merge(&later);
        assert_eq!(base.packages, ["curl>=8", "jq", "git"]);
        assert_eq!(base.environment["A"], "1");
        assert_eq!(base.environment["B"], "2");
        assert_eq!(base.annotations.len(), 2);
        assert_eq!(
            base.accounts
                .users
                .iter()
                .map(|u| u.uid)
                .collect::<Vec<_>>(),
            [1001, 1002]
        );
        assert_eq!(
            base.accounts.run_as.as_deref(),
            Some("app"),
            "unset scalar keeps the earlier value"
        );
        assert_eq!(base.certificates, [cert("corp", "new"), cert("lab", "x")]);
    }

    #[test]
    fn atom_names() {
        for (atom, name) in [
            ("curl", "curl"),
            ("curl>=8.1", "curl"),
            ("curl<9", "curl"),
            ("curl=8.1-r0", "curl"),
            ("curl~8", "curl"),
            ("py3-requests@edge", "py3-requests"),
            ("so:libssl.so.3", "so:libssl.so.3"),
            ("cmd:bash", "cmd:bash"),
            ("!foo", "!foo"),
            (" jq ", "jq"),
        ] {
            assert_eq!(atom_name(atom), name, "{atom}");
        }
    }

    proptest! {
        /// Merging never duplicates a key, keeps the first appearance's
        /// position and gives the last value for each key.
        #[test]
        fn keyed_merge_orders(a in proptest::collection::vec((0u8..6, 0u8..100), 0..8),
                              b in proptest::collection::vec((0u8..6, 0u8..100), 0..8)) {
            let dedup = |v: &[(u8, u8)]| {
                let mut out: Vec<(u8, u8)> = Vec::new();
                merge_keyed(&mut out, v, |x| x.0);
                out
            };
            let (a, b) = (dedup(&a), dedup(&b));
            let mut merged = a.clone();
            merge_keyed(&mut merged, &b, |x| x.0);
            let keys: Vec<u8> = merged.iter().map(|x| x.0).collect();
            let mut expected_keys: Vec<u8> = a.iter().map(|x| x.0).collect();
            for (k, _) in &b {
                if !expected_keys.contains(k) {
                    expected_keys.push(*k);
                }
            }
            prop_assert_eq!(keys, expected_keys);
            for (k, v) in &merged {
                let last = b.iter().chain(a.iter()).find(|x| x.0 == *k).unwrap();
                let want = b.iter().find(|x| x.0 == *k).unwrap_or(last);
                prop_assert_eq!(v, &want.1);
            }
        }

        /// Applying overlays to a tag is the same as merging, in order, the
        /// settings of exactly those overlays that match it.
        #[test]
        fn settings_for_is_ordered_merge(which in proptest::collection::vec(any::<bool>(), 1..5)) {
            let overlays: Vec<Overlay<Settings>> = which
                .iter()
                .enumerate()
                .map(|(i, on)| Overlay {
                    tags: sel(&[if *on { "t*" } else { "other" }]),
                    settings: pkgs(&[&format!("p{i}"), &format!("shared={i}")]),
                })
                .collect();
            let got = settings_for(&pkgs(&["base"]), &overlays, "tag");
            let mut want = vec!["base".to_string()];
            let mut shared = None;
            for (i, on) in which.iter().enumerate() {
                if *on {
                    want.push(format!("p{i}"));
                    if shared.is_none() {
                        want.push(String::new());
                        shared = Some(want.len() - 1);
                    }
                    want[shared.unwrap()] = format!("shared={i}");
                }
            }
            prop_assert_eq!(got.packages, want);
        }
    }
}
