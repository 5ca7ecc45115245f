//! apko image configurations (`*.apko.yaml`) read into a [`Neutral`]
//! declaration.
//!
//! apko builds from nothing, so the source is `scratch` (or the
//! `contents.baseimage.image` layout). Its `contents.repositories` serve the
//! build and are also written into the image; here they become
//! `repositories`, and those that pass the runtime checks (public https)
//! also `runtime_repositories`, so the image lists the same ones; others
//! (local directories, plain http) stay build-only and are reported.
//! `entrypoint.command` and `cmd` are split into words as a shell would.

use serde_norway::{Mapping, Value};

use super::{shell_split, Neutral, Reader};

/// APK architecture names for apko's (OCI or APK style) names; `all` is
/// every one apko knows.
fn apk_arch(name: &str) -> Option<Vec<&'static str>> {
    Some(vec![match name {
        "x86_64" | "amd64" => "x86_64",
        "aarch64" | "arm64" => "aarch64",
        "armv7" | "arm/v7" => "armv7",
        "armhf" | "arm/v6" => "armhf",
        "x86" | "386" => "x86",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" | "loong64" => "loongarch64",
        "all" => {
            return Some(vec![
                "x86",
                "x86_64",
                "aarch64",
                "armhf",
                "armv7",
                "loongarch64",
                "ppc64le",
                "riscv64",
                "s390x",
            ])
        }
        _ => return None,
    }])
}

/// Reads an apko configuration.
pub(crate) fn read(top: &Mapping, r: &mut Reader) -> Neutral {
    let mut n = Neutral {
        source: Some("scratch".into()),
        ..Neutral::default()
    };
    let top = Value::Mapping(top.clone());
    for (key, v) in r.entries(&top, "") {
        match key.as_str() {
            "contents" => contents(v, r, &mut n),
            "entrypoint" => entrypoint(v, r, &mut n),
            "cmd" => {
                if let Some(cmd) = r.scalar(v, "cmd") {
                    n.cmd = words(&cmd, "cmd", r);
                }
            }
            "work-dir" => n.workdir = r.scalar(v, "work-dir").filter(|w| !w.is_empty()),
            "accounts" => n.accounts = r.accounts(v, "accounts"),
            "environment" => n.environment = r.string_map(v, "environment"),
            "annotations" => n.annotations = r.string_map(v, "annotations"),
            "certificates" => n.certificates = r.certificates(v, "certificates"),
            "archs" => {
                for (i, a) in r.string_list(v, "archs").into_iter().enumerate() {
                    match apk_arch(&a) {
                        Some(list) => {
                            for arch in list {
                                if !n.architectures.iter().any(|x| x == arch) {
                                    n.architectures.push(arch.to_owned());
                                }
                            }
                        }
                        None => r.left_out(
                            format!("archs[{i}]"),
                            format!("`{a}` is not an architecture cargo-assemble builds (`host` is not supported: name it)"),
                        ),
                    }
                }
            }
            "stop-signal" => {
                r.left_out(key, "the config's stop signal is not set by cargo-assemble")
            }
            "paths" => r.left_out(
                key,
                "path mutations are not supported: ship files and permissions in a package",
            ),
            "vcs-url" => r.left_out(
                key,
                "set the `org.opencontainers.image.source` annotation instead",
            ),
            "include" => r.left_out(
                key,
                "includes are not followed: import the included file and merge it by hand",
            ),
            "volumes" => r.left_out(key, "config volumes are not set by cargo-assemble"),
            "layering" => r.left_out(
                key,
                "cargo-assemble adds exactly one layer to the source image",
            ),
            _ => r.left_out(key, "unknown apko field"),
        }
    }
    n
}

fn words(text: &str, path: &str, r: &mut Reader) -> Option<Vec<String>> {
    match shell_split(text) {
        Ok(w) if w.is_empty() => None,
        Ok(w) => Some(w),
        Err(e) => {
            r.left_out(path, format!("cannot split into words: {e}"));
            None
        }
    }
}

fn entrypoint(v: &Value, r: &mut Reader, n: &mut Neutral) {
    for (key, val) in r.entries(v, "entrypoint") {
        let p = format!("entrypoint.{key}");
        match key.as_str() {
            "command" => {
                if let Some(c) = r.scalar(val, &p) {
                    n.entrypoint = words(&c, &p, r);
                }
            }
            "type" => r.left_out(
                p,
                "service bundles (an init with supervised services) are not built",
            ),
            "services" => r.left_out(
                p,
                "service bundles (an init with supervised services) are not built",
            ),
            "shell-fragment" => r.left_out(
                p,
                "write the shell command as `entrypoint` (e.g. [\"/bin/sh\", \"-c\", \"…\"])",
            ),
            _ => r.left_out(p, "unknown entrypoint field"),
        }
    }
}

fn contents(v: &Value, r: &mut Reader, n: &mut Neutral) {
    for (key, val) in r.entries(v, "contents") {
        let p = format!("contents.{key}");
        match key.as_str() {
            "packages" => n.packages = r.string_list(val, &p),
            "repositories" => {
                for (i, repo) in r.string_list(val, &p).into_iter().enumerate() {
                    match crate::runtime::check_repository(&repo) {
                        Ok(_) => n.runtime_repositories.push(repo.clone()),
                        Err(why) => r.left_out(
                            format!("{p}[{i}]"),
                            format!("used for the build only, not written into the image's etc/apk/repositories ({why})"),
                        ),
                    }
                    n.repositories.push(repo);
                }
            }
            "build_repositories" => n.repositories.extend(r.string_list(val, &p)),
            "runtime_repositories" => n.runtime_repositories.extend(r.string_list(val, &p)),
            "keyring" => {
                for (i, key) in r.string_list(val, &p).into_iter().enumerate() {
                    if key.starts_with("https://") || key.starts_with("http://") {
                        r.left_out(
                            format!("{p}[{i}]"),
                            format!("keys are not downloaded: save {key} next to assembly.toml and list the file"),
                        );
                    } else {
                        n.keyring.push(key);
                    }
                }
            }
            "runtime_keyring" => n.runtime_keyring = r.runtime_keyring(val, &p),
            "baseimage" => {
                for (k, bv) in r.entries(val, &p) {
                    let bp = format!("{p}.{k}");
                    match k.as_str() {
                        "image" => {
                            if let Some(image) = r.scalar(bv, &bp) {
                                n.source = Some(format!("oci:{image}"));
                            }
                        }
                        "apkindex" => r.left_out(
                            bp,
                            "not needed: the base image's installed database is read",
                        ),
                        _ => r.left_out(bp, "unknown baseimage field"),
                    }
                }
            }
            _ => r.left_out(p, "unknown contents field"),
        }
    }
}
