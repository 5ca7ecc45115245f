//! The application keys of an image (issue 13): what goes into the
//! application layer (`binaries`, `install_dir`, `target`, `files`) and
//! how the image runs (`entrypoint`, `cmd`, `workdir`, `user`, `ports`,
//! `stop_signal`, `volumes`). Kept apart from the package keys: each key is
//! one function here and one entry in the application block of
//! [`IMAGE_KEYS`](super::IMAGE_KEYS).

use std::ops::Range;

use super::Checker;
use crate::config::document::{Kind, Node};
use crate::config::suggest;
use crate::model::{resolve_path, AppFile, Image, Spanned};

/// Signal names a runtime accepts as `StopSignal` (without `SIG`).
const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// A clean absolute image path: `/`, no `.`/`..`/empty components, no NUL.
pub(crate) fn is_clean_absolute(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains('\0')
        && path[1..]
            .trim_end_matches('/')
            .split('/')
            .all(|c| !matches!(c, "." | ".."))
        && !path.contains("//")
}

impl Checker<'_> {
    /// Under `[package.metadata.image]` the image is named after the
    /// package unless `name` says otherwise.
    pub(super) fn default_name(&mut self, header: &Range<usize>, image: &mut Image) {
        let Some(package) = self.package.clone() else {
            return;
        };
        let node = Node {
            kind: Kind::Str(package.to_ascii_lowercase()),
            span: None,
        };
        self.name(&node, header, image);
    }

    /// Checks between the application keys.
    pub(super) fn app_cross_checks(&mut self, image: &Image) {
        if let (Some(user), Some(_)) = (&image.app.user, &image.extras.accounts.run_as) {
            self.error(
                user.span.clone(),
                "both 'user' and 'accounts.run_as' set the config's User",
                Some("keep one of them".into()),
            );
        }
        if self.package.is_none() {
            if let Some(dir) = &image.app.install_dir {
                self.error(
                    dir.span.clone(),
                    "'install_dir' places the crate's binaries: it is only for [package.metadata.image] in a Cargo.toml",
                    Some("give each file its full path in `files` instead".into()),
                );
            }
        }
    }

    pub(super) fn binaries(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        if self.package.is_none() {
            self.error(
                at.clone(),
                "'binaries' is only for [package.metadata.image] in a Cargo.toml",
                Some(
                    "for prebuilt programs use files = [{ src = \"…\", dst = \"/usr/bin/…\" }]"
                        .into(),
                ),
            );
            return;
        }
        let mut out: Vec<Spanned<String>> = Vec::new();
        for name in self.strings(node, at, "binaries", None) {
            if name.is_empty() || name.contains(['/', '\0']) {
                self.error(
                    name.span.clone(),
                    format!("invalid binary name '{}'", *name),
                    None,
                );
            } else if out.iter().any(|n| **n == *name) {
                self.error(
                    name.span.clone(),
                    format!("duplicate binary '{}'", *name),
                    None,
                );
            } else {
                out.push(name);
            }
        }
        image.app.binaries = Some(out);
    }

    /// A string that must be a clean absolute path.
    pub(super) fn absolute_path(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        key: &str,
    ) -> Option<Spanned<String>> {
        let path = self.string(node, at, key)?;
        if !is_clean_absolute(&path) {
            self.error(
                path.span.clone(),
                format!(
                    "'{key}' must be an absolute path without '.' or '..', found '{}'",
                    *path
                ),
                Some(format!("e.g. {key} = \"/usr/bin\"")),
            );
            return None;
        }
        let trimmed = match path.trim_end_matches('/') {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        Some(Spanned::new(trimmed, path.span))
    }

    pub(super) fn rust_target(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Some(target) = self.string(node, at, "target") else {
            return;
        };
        if self.package.is_none() {
            self.error(
                target.span,
                "'target' is only for [package.metadata.image] in a Cargo.toml (it picks the Rust target of the crate's binaries)",
                None,
            );
            return;
        }
        let parts = target.split('-').count();
        let valid = (3..=4).contains(&parts)
            && target
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid || !target.contains("linux") {
            self.error(
                target.span.clone(),
                format!("'{}' is not a Linux Rust target triple", *target),
                Some("e.g. target = \"x86_64-unknown-linux-musl\"".into()),
            );
            return;
        }
        image.app.target = Some(target);
    }

    pub(super) fn files(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Kind::Array(items) = &node.kind else {
            self.error(
                node.span_or(at),
                format!(
                    "'files' must be an array of tables, found {}",
                    node.type_name()
                ),
                Some("write files = [{ src = \"dist/app\", dst = \"/usr/bin/app\" }]".into()),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let span = item.span_or(at);
            let Some(entries) = item.entries() else {
                self.error(
                    span,
                    format!("'files' entries must be tables, found {}", item.type_name()),
                    Some("write { src = \"dist/app\", dst = \"/usr/bin/app\" }".into()),
                );
                continue;
            };
            let (mut src, mut dst, mut mode, mut ok) = (None, None, None, true);
            for e in entries {
                let kspan = e.key_span.clone().unwrap_or_else(|| span.clone());
                let key = format!("files[{i}].{}", e.key);
                match e.key.as_str() {
                    "src" => match self.string(&e.value, &kspan, &key) {
                        Some(s) if !s.trim().is_empty() => src = Some(s),
                        Some(s) => {
                            self.error(s.span, format!("'{key}' is empty"), None);
                            ok = false;
                        }
                        None => ok = false,
                    },
                    "dst" => match self.string(&e.value, &kspan, &key) {
                        Some(d) if is_clean_absolute(&d) && *d != "/" => dst = Some(d.value),
                        Some(d) => {
                            self.error(
                                d.span.clone(),
                                format!("'{key}' must be an absolute path in the image without '.' or '..', found '{}'", *d),
                                Some("e.g. dst = \"/usr/bin/app\" (ending in '/': into that directory)".into()),
                            );
                            ok = false;
                        }
                        None => ok = false,
                    },
                    "mode" => match self.string(&e.value, &kspan, &key) {
                        Some(m) => match crate::rust::layer::parse_mode(&m) {
                            Ok(m) => mode = Some(m),
                            Err(message) => {
                                self.error(m.span, message, Some("write mode = \"0755\"".into()));
                                ok = false;
                            }
                        },
                        None => ok = false,
                    },
                    _ => {
                        self.unknown_key(e, &["src", "dst", "mode"], "in a 'files' entry");
                        ok = false;
                    }
                }
            }
            for (name, missing) in [("src", src.is_none()), ("dst", dst.is_none())] {
                if missing && !entries.iter().any(|e| e.key == name) {
                    self.error(
                        span.clone(),
                        format!("missing '{name}' in files[{i}]"),
                        None,
                    );
                    ok = false;
                }
            }
            if let (true, Some(src), Some(dst)) = (ok, src, dst) {
                let file = AppFile {
                    src: resolve_path(self.base, &*src),
                    dst,
                    mode,
                };
                image.app.files.push(Spanned::new(file, span));
            }
        }
    }

    /// `entrypoint` / `cmd`: an array of strings (exec form).
    pub(super) fn command(
        &mut self,
        node: &Node,
        at: &Range<usize>,
        key: &str,
    ) -> Option<Spanned<Vec<String>>> {
        if let Kind::Str(s) = &node.kind {
            let words: Vec<String> = s.split_whitespace().map(|w| format!("{w:?}")).collect();
            self.error(
                node.span_or(at),
                format!("'{key}' must be an array of strings (exec form), found a string"),
                Some(format!("write {key} = [{}]", words.join(", "))),
            );
            return None;
        }
        let before = self.errors.len();
        let words = self.strings(node, at, key, None);
        (self.errors.len() == before).then(|| {
            Spanned::new(
                words.into_iter().map(|w| w.value).collect(),
                node.span_or(at),
            )
        })
    }

    pub(super) fn run_user(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Some(user) = self.string(node, at, "user") else {
            return;
        };
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 32
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                && !p.starts_with('-')
        };
        let valid = match user.split_once(':') {
            Some((u, g)) => valid_part(u) && valid_part(g),
            None => valid_part(&user),
        };
        if !valid {
            self.error(
                user.span.clone(),
                format!("invalid user '{}'", *user),
                Some("write a user name from the image's /etc/passwd, or uid[:gid] such as \"65532:65532\"".into()),
            );
            return;
        }
        image.app.user = Some(user);
    }

    pub(super) fn ports(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for port in self.strings(node, at, "ports", None) {
            let (number, proto) = port.split_once('/').unwrap_or((&port, "tcp"));
            let ok_number = number.parse::<u16>().is_ok_and(|n| n > 0) && !number.starts_with('0');
            let proto = proto.to_ascii_lowercase();
            if !ok_number || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                self.error(
                    port.span.clone(),
                    format!("invalid port '{}'", *port),
                    Some("write PORT or PORT/PROTO with a port from 1 to 65535 and tcp, udp or sctp, e.g. \"8080/tcp\"".into()),
                );
                continue;
            }
            let normal = format!("{number}/{proto}");
            if image.app.ports.iter().any(|p| **p == normal) {
                self.error(
                    port.span.clone(),
                    format!("duplicate port '{normal}'"),
                    None,
                );
                continue;
            }
            image.app.ports.push(Spanned::new(normal, port.span));
        }
    }

    pub(super) fn stop_signal(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        let Some(signal) = self.string(node, at, "stop_signal") else {
            return;
        };
        let upper = signal.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        let known = SIGNALS.contains(&name)
            || name.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n))
            || name
                .strip_prefix("RTMIN+")
                .or_else(|| name.strip_prefix("RTMAX-"))
                .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| n <= 30));
        if !known {
            let names: Vec<String> = SIGNALS
                .iter()
                .map(|s| format!("sig{s}").to_ascii_lowercase())
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let help = suggest::key(&upper, &refs)
                .map(|s| format!("did you mean '{}'?", s.to_ascii_uppercase()))
                .unwrap_or_else(|| "e.g. stop_signal = \"SIGTERM\" or a signal number".into());
            self.error(
                signal.span.clone(),
                format!("unknown signal '{}'", *signal),
                Some(help),
            );
            return;
        }
        image.app.stop_signal = Some(signal);
    }

    pub(super) fn volumes(&mut self, node: &Node, at: &Range<usize>, image: &mut Image) {
        for volume in self.strings(node, at, "volumes", None) {
            if !is_clean_absolute(&volume) || *volume == "/" {
                self.error(
                    volume.span.clone(),
                    format!("volume '{}' is not an absolute path below /", *volume),
                    Some("e.g. volumes = [\"/var/lib/app\"]".into()),
                );
            } else if image.app.volumes.iter().any(|v| **v == *volume) {
                self.error(
                    volume.span.clone(),
                    format!("duplicate volume '{}'", *volume),
                    None,
                );
            } else {
                image.app.volumes.push(volume);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_cargo_str, parse_str};
    use std::path::{Path, PathBuf};

    #[test]
    fn application_keys_are_read_and_normalised() {
        let text = r#"[package]
name = "My_Server"

[package.metadata.image]
source = "scratch"
binaries = ["server"]
install_dir = "/opt/app/bin/"
files = [{ src = "dist/static", dst = "/srv/www" }, { src = "conf.toml", dst = "/etc/app/", mode = "0640" }]
entrypoint = ["/opt/app/bin/server", "--serve"]
cmd = []
workdir = "/srv"
user = "65532:65532"
ports = ["8080", "53/UDP"]
stop_signal = "SIGINT"
volumes = ["/data"]
"#;
        let images = parse_cargo_str(text, Path::new("/p/Cargo.toml"), "My_Server").unwrap();
        let img = &images[0];
        assert_eq!(*img.name, "my_server");
        let app = &img.app;
        assert_eq!(app.install_dir(), "/opt/app/bin");
        assert_eq!(app.binaries.as_ref().unwrap()[0].value, "server");
        assert_eq!(app.files[0].src, PathBuf::from("/p/dist/static"));
        assert_eq!(app.files[1].dst, "/etc/app/");
        assert_eq!(app.files[1].mode, Some(0o640));
        assert_eq!(app.entrypoint.as_ref().unwrap().value[1], "--serve");
        assert!(app.cmd.as_ref().unwrap().is_empty());
        let ports: Vec<&str> = app.ports.iter().map(|p| p.as_str()).collect();
        assert_eq!(ports, ["8080/tcp", "53/udp"]);
        assert_eq!(app.user.as_deref().map(String::as_str), Some("65532:65532"));
    }

    #[test]
    fn bad_values_point_at_themselves() {
        let text = "[image]\nname = \"x\"\nsource = \"scratch\"\nfiles = [{ src = \"a\", dst = \"rel\", mod = \"1\" }, \"b\"]\nvolumes = [\"/\", \"/v\", \"/v\"]\nuser = \"a b\"\ntarget = \"x86_64-unknown-linux-musl\"\n";
        let errs = parse_str(text, Path::new("assembly.toml")).unwrap_err();
        let shown = errs.to_string();
        for want in [
            "'files[0].dst' must be an absolute path",
            "unknown key 'mod' in a 'files' entry (did you mean 'mode'?)",
            "'files' entries must be tables, found a string",
            "volume '/' is not an absolute path below /",
            "duplicate volume '/v'",
            "invalid user 'a b'",
            "'target' is only for [package.metadata.image]",
        ] {
            assert!(shown.contains(want), "{want} in {shown}");
        }
        let dst = errs
            .errors
            .iter()
            .find(|e| e.message.contains("files[0].dst"))
            .unwrap();
        assert_eq!(&text[dst.span.clone()], "\"rel\"");
    }
}
