//! Hostile input, end to end through the binary: packages crafted to write
//! through symbolic links, to turn directories into links or files, to
//! exceed what a runtime accepts; servers that send HTML, never stop, drip
//! or get killed mid-transfer; credentials written in URLs. Every case must
//! end in a clear error or a correct image — nothing written outside the
//! output, earlier outputs intact, no credential anywhere.
//!
//! Packages are made here and signed by test keys (`testkit::repo`); the
//! base images are built by cargo-assemble itself from scratch; umoci
//! unpacks the results the way a runtime would.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use apk::signature::SigningKey;
use testkit::mirror::{Behaviour, Mirror};
use testkit::repo::{Pkg, Repo};

mod common;
use common::{git, text, umoci_unpack};

/// One signing key for every repository of this file (key generation is
/// the slow part of making a repository).
fn key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate("hostile-test.rsa.pub", 2048).unwrap())
        .clone()
}

/// Runs the binary in `dir` with a private cache and no credentials from
/// the environment.
fn assemble_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("HTTP_AUTH")
        .env("HOME", dir)
        .env("NETRC", dir.join("no-netrc"))
        .env("CARGO_ASSEMBLE_CACHE", dir.join("cache"))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

fn assemble(dir: &Path, args: &[&str]) -> Output {
    assemble_env(dir, args, &[])
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = assemble(dir, args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    text(&o)
}

/// Every file under `dir` with its bytes (symlinks not followed).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            } else {
                out.insert(p.clone(), Vec::new());
            }
        }
    }
    out
}

/// A raw data-tar entry of a hostile package (any name length, any id).
enum E<'a> {
    Dir(&'a str),
    File(&'a str),
    Link(&'a str, &'a str),
    Owned(&'a str, u64),
}

fn data_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(testkit::repo::MTIME);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o644);
        h.set_size(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, p, &b""[..]).unwrap();
            }
            E::File(p) | E::Owned(p, _) => {
                if let E::Owned(_, id) = e {
                    h.set_uid(*id);
                }
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(5);
                b.append_data(&mut h, p, &b"data\n"[..]).unwrap();
            }
            E::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A project directory with a signed repository `repo/` (x86_64).
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: Repo,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        let repo = Repo::with_key(&dir.join("repo"), key());
        Project {
            _tmp: tmp,
            dir,
            repo,
        }
    }

    /// Adds a hostile package made of raw entries (and rewrites the index).
    fn raw(&mut self, name: &str, entries: &[E]) {
        self.repo
            .add_data_tar(Pkg::new(name, "1-r0"), &data_tar(entries));
        self.repo.write_index();
    }

    fn add(&mut self, pkg: Pkg) {
        self.repo.add(pkg);
        self.repo.write_index();
    }

    /// Writes `FILE.toml` declaring image `name` on `source` with
    /// `packages` from `repo/`, plus `extra` TOML lines.
    fn declare(&self, file: &str, name: &str, source: &str, packages: &[&str], extra: &str) {
        let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
        let text = format!(
            "[image]\nname = \"{name}\"\nsource = \"{source}\"\narchitectures = [\"x86_64\"]\n\
             packages = [{}]\nrepositories = [\"./repo\"]\nkeyring = [\"repo/{}\"]\n{extra}",
            list.join(", "),
            key().name
        );
        std::fs::write(self.dir.join(file), text).unwrap();
    }

    /// Builds `FILE.toml` into `oci:out/NAME`.
    fn build(&self, file: &str, name: &str) -> Output {
        let out = format!("oci:out/{name}");
        assemble(&self.dir, &["build", file, "-o", &out])
    }

    /// A usr-merged base image at `out/base` (tag `latest`), made by
    /// cargo-assemble from scratch: `bin -> usr/bin`, `lib -> usr/lib`,
    /// Alpine's `var/run -> /run`, `etc/ssl1.1 -> ssl`, files owned by the
    /// package `baselayout`, plus `extra` files (path, content).
    fn base(&mut self, extra: &[(&str, &[u8])]) -> String {
        let mut pkg = Pkg::new("baselayout", "1-r0")
            .dir("usr/bin", 0o755)
            .dir("usr/lib", 0o755)
            .dir("var", 0o755)
            .dir("run", 0o755)
            .dir("etc/ssl", 0o755)
            .symlink("bin", "usr/bin")
            .symlink("lib", "usr/lib")
            .symlink("var/run", "/run")
            .symlink("etc/ssl1.1", "ssl")
            .file("usr/bin/busybox", b"#!/bin/true\n", 0o755)
            .file("run/owned", b"base\n", 0o644)
            .file("etc/ssl/cert.pem", b"cert\n", 0o644);
        for (path, content) in extra {
            pkg = pkg.file(path, content, 0o644);
        }
        self.add(pkg);
        self.declare("base.toml", "base", "scratch", &["baselayout"], "");
        let o = self.build("base.toml", "base");
        assert!(o.status.success(), "base image: {}", text(&o));
        "oci:out/base:latest".to_owned()
    }
}

/// The entries of the last layer (ours) of `layout`'s only image.
fn last_layer(layout: &Path) -> BTreeMap<String, tar::EntryType> {
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = json(layout.join("index.json"));
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m.get("artifactType").is_none())
        .unwrap();
    let manifest = json(blob(manifest["digest"].as_str().unwrap()));
    let layer = manifest["layers"].as_array().unwrap().last().unwrap();
    let f = std::fs::File::open(blob(layer["digest"].as_str().unwrap())).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            (p, e.header().entry_type())
        })
        .collect()
}

#[test]
fn packages_are_placed_through_the_base_symlinks() {
    let mut p = Project::new();
    let source = p.base(&[]);
    p.raw(
        "plugin",
        &[
            E::Dir("lib/"),
            E::File("lib/plugin.so"),
            E::Dir("bin/"),
            E::File("bin/tool"),
            E::Dir("var/run/"),
            E::Dir("var/run/app/"),
            E::File("var/run/app/pid"),
        ],
    );
    p.declare("assembly.toml", "img", &source, &["plugin"], "");
    let o = p.build("assembly.toml", "img");
    assert!(o.status.success(), "{}", text(&o));
    let layer = last_layer(&p.dir.join("out/img"));
    for want in [
        "usr/lib/plugin.so",
        "usr/bin/tool",
        "run/app",
        "run/app/pid",
    ] {
        assert!(layer.contains_key(want), "{want} missing: {layer:?}");
    }
    for path in layer.keys() {
        for link in ["lib", "bin", "var/run"] {
            assert!(
                path != link && !path.starts_with(&format!("{link}/")),
                "{path} replaces or goes through the base's link {link}"
            );
        }
    }
    let rootfs = umoci_unpack(&p.dir.join("out/img"), &p.dir.join("bundle"));
    for link in ["lib", "bin", "var/run"] {
        let m = std::fs::symlink_metadata(rootfs.join(link)).unwrap();
        assert!(m.file_type().is_symlink(), "{link} is no longer a symlink");
    }
    for file in [
        "usr/lib/plugin.so",
        "usr/bin/tool",
        "usr/bin/busybox",
        "run/app/pid",
    ] {
        assert!(rootfs.join(file).is_file(), "{file} missing after unpack");
    }
}

#[test]
fn one_file_reached_two_ways_is_one_path() {
    let mut p = Project::new();
    let source = p.base(&[]);
    p.raw("respell", &[E::File("var/run/owned")]);
    p.raw("cert-via-link", &[E::File("etc/ssl1.1/cert.pem")]);
    p.raw("writer-a", &[E::File("var/run/shared")]);
    p.raw("writer-b", &[E::File("run/shared")]);
    p.add(Pkg::new("fine", "1-r0").file("usr/share/fine", b"ok\n", 0o644));
    p.declare("assembly.toml", "img", &source, &["fine"], "");
    assert!(p.build("assembly.toml", "img").status.success());
    let before = snapshot(&p.dir.join("out"));
    for (packages, path, owner) in [
        (vec!["respell"], "var/run/owned", "baselayout-1-r0"),
        (
            vec!["cert-via-link"],
            "etc/ssl1.1/cert.pem",
            "baselayout-1-r0",
        ),
        (vec!["writer-a", "writer-b"], "run/shared", "writer-a-1-r0"),
    ] {
        p.declare("assembly.toml", "img", &source, &packages, "");
        let o = p.build("assembly.toml", "img");
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{packages:?}: {out}");
        assert!(
            out.contains("file conflicts") && out.contains(path) && out.contains(owner),
            "{packages:?}: {out}"
        );
        assert_eq!(snapshot(&p.dir.join("out")), before, "{packages:?}");
    }
}

#[test]
fn kind_changes_and_entry_order_tricks_are_refused() {
    let mut p = Project::new();
    let source = p.base(&[]);
    let cases: Vec<(&str, Vec<E>, &str)> = vec![
        (
            "late-link",
            vec![E::Dir("x/"), E::File("x/f"), E::Link("x", "/etc")],
            "`x`: a symbolic link cannot replace the directory",
        ),
        (
            "late-up",
            vec![E::Dir("y/"), E::File("y/f"), E::Link("y", "..")],
            "`y`: a symbolic link cannot replace the directory",
        ),
        (
            "etc-to-tmp",
            vec![E::Link("etc", "/tmp")],
            "`etc`: a symbolic link cannot replace the directory",
        ),
        (
            "file-over-dir",
            vec![E::File("usr/bin")],
            "`usr/bin`: a file cannot replace the directory",
        ),
        (
            "dir-over-file",
            vec![E::Dir("usr/bin/busybox/")],
            "`usr/bin/busybox`: a directory cannot replace the file",
        ),
        (
            "lib-to-file",
            vec![E::File("lib")],
            "`lib`: a file cannot replace the symbolic link",
        ),
    ];
    p.add(Pkg::new("dir-owner", "1-r0").dir("opt/data", 0o755));
    p.raw("file-over-pkg-dir", &[E::File("opt/data")]);
    for (name, entries, _) in &cases {
        p.raw(name, entries);
    }
    p.declare("assembly.toml", "img", &source, &["dir-owner"], "");
    assert!(p.build("assembly.toml", "img").status.success());
    let before = snapshot(&p.dir.join("out"));
    let mut all: Vec<(Vec<&str>, String)> = cases
        .iter()
        .map(|(name, _, why)| (vec![*name], format!("{name}-1-r0: {why}")))
        .collect();
    all.push((
        vec!["dir-owner", "file-over-pkg-dir"],
        "file-over-pkg-dir-1-r0: `opt/data`: a file cannot replace the directory".into(),
    ));
    for (packages, why) in all {
        p.declare("assembly.toml", "img", &source, &packages, "");
        let o = p.build("assembly.toml", "img");
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{packages:?}: {out}");
        assert!(out.contains(&why), "{packages:?}: wanted '{why}' in: {out}");
        assert_eq!(snapshot(&p.dir.join("out")), before, "{packages:?}");
        let strays: Vec<_> = std::fs::read_dir(p.dir.join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(strays.is_empty(), "{packages:?}: left behind {strays:?}");
    }
}

#[test]
fn links_of_a_package_cannot_lead_outside_the_image() {
    let mut p = Project::new();
    let source = p.base(&[]);
    p.raw(
        "escaper",
        &[
            E::Link("escape", "/"),
            E::File("escape/etc/evil"),
            E::Dir("opt/"),
            E::Link("opt/up", "../../../../.."),
            E::File("opt/up/top"),
        ],
    );
    p.declare("assembly.toml", "img", &source, &["escaper"], "");
    let o = p.build("assembly.toml", "img");
    assert!(o.status.success(), "{}", text(&o));
    let layer = last_layer(&p.dir.join("out/img"));
    assert!(
        layer.contains_key("etc/evil") && layer.contains_key("top"),
        "{layer:?}"
    );
    assert_eq!(layer["escape"], tar::EntryType::Symlink);
    let bundle = p.dir.join("bundle");
    let rootfs = umoci_unpack(&p.dir.join("out/img"), &bundle);
    assert!(rootfs.join("etc/evil").is_file() && rootfs.join("top").is_file());
    // Nothing landed outside the bundle.
    let outside: Vec<_> = std::fs::read_dir(p.dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(outside, ["project"], "{outside:?}");
    assert!(!Path::new("/top").exists());
}

#[test]
fn limits_a_runtime_refuses_are_errors_before_anything_is_written() {
    let mut p = Project::new();
    let long = format!("opt/{}", "n".repeat(256));
    p.raw("long-name", &[E::File(&long)]);
    p.raw("big-uid", &[E::Owned("opt/f", 1 << 32)]);
    p.raw("whiteout", &[E::File("etc/.wh.passwd")]);
    p.add(Pkg::new("fine", "1-r0").file("usr/share/fine", b"ok\n", 0o644));
    p.declare("assembly.toml", "img", "scratch", &["fine"], "");
    assert!(p.build("assembly.toml", "img").status.success());
    let before = snapshot(&p.dir.join("out"));
    let huge = "x".repeat(5 << 20);
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (vec!["long-name"], String::new(), "256 bytes"),
        (vec!["big-uid"], String::new(), "uid 4294967296"),
        (vec!["whiteout"], String::new(), "whiteouts"),
        (
            vec!["fine"],
            "[image.environment]\nBAD = \"a\\u0000b\"\n".into(),
            "NUL",
        ),
        (
            vec!["fine"],
            format!("[image.annotations]\n\"org.example.big\" = \"{huge}\"\n"),
            "4 MiB",
        ),
    ];
    for (packages, extra, why) in cases {
        p.declare("assembly.toml", "img", "scratch", &packages, &extra);
        let o = p.build("assembly.toml", "img");
        let out = text(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{packages:?}: {}",
            &out[..out.len().min(2000)]
        );
        assert!(
            out.contains(why),
            "{packages:?}: wanted '{why}': {}",
            &out[..out.len().min(2000)]
        );
        assert_eq!(snapshot(&p.dir.join("out")), before, "{packages:?}");
    }
}

/// Everything under `dir` that contains `needle` (bytes), git objects
/// excluded (they are compressed; the state is checked through git).
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == ".git"))
        .filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn credentials_in_urls_never_leak() {
    let secret = "hunter2-secret";
    // A private repository behind Basic auth.
    let private = tempfile::tempdir().unwrap();
    let mut repo = Repo::with_key(&private.path().join("private"), key());
    repo.add(Pkg::new("secret-tool", "1-r0").file("usr/bin/secret-tool", b"#!/bin/true\n", 0o755));
    repo.write_index();
    let server = Mirror::start(
        private.path(),
        Behaviour::BasicAuth("reader".into(), secret.into()),
    );
    let with_creds = server
        .base
        .replace("http://", &format!("http://reader:{secret}@"));
    // A base image whose own etc/apk/repositories carries the credentials
    // (the way into a build that assembly.toml refuses).
    let mut p = Project::new();
    git(&p.dir, &["init", "-q"]);
    let repos = format!("{with_creds}/private\n");
    let pem = key().public_pem().unwrap();
    let key_file = format!("etc/apk/keys/{}", key().name);
    let source = p.base(&[
        ("etc/apk/repositories", repos.as_bytes()),
        (&key_file, pem.as_bytes()),
    ]);
    p.declare("assembly.toml", "img", &source, &["secret-tool"], "");
    std::fs::write(p.dir.join(".gitignore"), "out/\ncache/\ntarget/\n").unwrap();
    git(&p.dir, &["add", "."]);
    git(&p.dir, &["commit", "-qm", "init"]);
    let mut outputs = vec![ok(&p.dir, &["build", "-o", "oci:out/img"])];
    outputs.push(ok(&p.dir, &["plan"]));
    outputs.push(ok(&p.dir, &["apply", "--auto-approve"]));
    outputs.push(ok(&p.dir, &["plan"]));
    // Wrong credentials: the build fails, and says so without them.
    let wrong = repos.replace(secret, "wrong-secret");
    let mut q = Project::new();
    let src = q.base(&[
        ("etc/apk/repositories", wrong.as_bytes()),
        (&key_file, pem.as_bytes()),
    ]);
    q.declare("assembly.toml", "img", &src, &["secret-tool"], "");
    let o = q.build("assembly.toml", "img");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    outputs.push(text(&o));
    // The repository given on the command line.
    for verb in ["search", "resolve"] {
        let mut args = vec![verb];
        if verb == "resolve" {
            args.push("secret-tool");
        }
        let url = format!("{with_creds}/private");
        args.extend(["--repository", &url, "--arch", "x86_64"]);
        outputs.push(text(&assemble(&p.dir, &args)));
    }
    for out in &outputs {
        assert!(
            !out.contains(secret) && !out.contains("wrong-secret"),
            "{out}"
        );
    }
    assert!(outputs[0].contains("built img"), "{}", outputs[0]);
    assert!(
        outputs
            .iter()
            .any(|o| o.contains(&format!("{}/private", server.base))),
        "the failures name the repository: {outputs:?}"
    );
    // Files: image, SBOM, lock, cache, everything but the base layer blob
    // (the source image's own bytes, copied unchanged).
    let img = p.dir.join("out/img");
    let rootfs = umoci_unpack(&img, &p.dir.join("bundle"));
    let repositories = std::fs::read_to_string(rootfs.join("etc/apk/repositories")).unwrap();
    assert_eq!(repositories, format!("{}/private\n", server.base));
    assert!(rootfs.join("usr/bin/secret-tool").is_file());
    std::fs::remove_dir_all(p.dir.join("bundle")).unwrap();
    let base_blobs: Vec<PathBuf> = std::fs::read_dir(p.dir.join("out/base/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into())
        .collect();
    let leaks: Vec<PathBuf> = files_containing(&p.dir, secret)
        .into_iter()
        .filter(|f| !f.starts_with(p.dir.join("out/base")) && !f.starts_with(p.dir.join("repo")))
        .filter(|f| !base_blobs.iter().any(|b| f.ends_with(b)))
        .collect();
    assert!(leaks.is_empty(), "the secret is in {leaks:?}");
    // Our layer, decompressed.
    let mut layer_text = Vec::new();
    for (path, _) in last_layer(&img) {
        layer_text.extend(path.into_bytes());
    }
    let layers = std::fs::read_dir(img.join("blobs/sha256")).unwrap();
    for l in layers {
        let l = l.unwrap().path();
        if base_blobs.iter().any(|b| l.ends_with(b)) {
            continue;
        }
        let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(&l).unwrap());
        let mut plain = Vec::new();
        if gz.read_to_end(&mut plain).is_ok() {
            assert!(
                !plain.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is in our blob {}",
                l.display()
            );
        }
    }
    // The applied state in git.
    let state = git(&p.dir, &["show", "refs/assembly/state:state.json"]);
    assert!(!state.contains(secret), "{state}");
    let lock = std::fs::read_to_string(p.dir.join("assembly.lock")).unwrap();
    assert!(
        lock.contains("secret-tool") && !lock.contains(secret),
        "{lock}"
    );
}

/// A project whose repository is served over HTTP by `server`.
fn http_project(server: &Mirror) -> Project {
    let p = Project::new();
    let text = format!(
        "[image]\nname = \"img\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
         packages = [\"web-pkg\"]\nrepositories = [\"{}/repo\"]\nkeyring = [\"repo/{}\"]\n",
        server.base,
        key().name
    );
    std::fs::write(p.dir.join("assembly.toml"), text).unwrap();
    p
}

/// A served repository: `ROOT/repo/x86_64/…` with one package.
fn served_repo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = Repo::with_key(&tmp.path().join("repo"), key());
    let big: Vec<u8> = (0..400_000u32).flat_map(|i| i.to_le_bytes()).collect();
    repo.add(Pkg::new("web-pkg", "1-r0").file("usr/share/web", &big, 0o644));
    repo.write_index();
    let root = tmp.path().to_owned();
    (tmp, root)
}

/// Cache entries (not temporary files) under `cache/`.
fn cache_entries(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(&dir.join("cache"))
        .into_iter()
        .filter(|(p, _)| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect()
}

#[test]
fn hostile_servers_never_poison_the_cache_or_hold_the_build() {
    let (_repo, root) = served_repo();
    let server = Mirror::start(&root, Behaviour::Files);
    let p = http_project(&server);
    let o = assemble(&p.dir, &["build", "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let good = cache_entries(&p.dir);
    // The index, its parsed form (parsed-indexes/) and the package.
    assert_eq!(good.len(), 3, "{:?}", good.keys());
    let out_before = snapshot(&p.dir.join("target"));
    let index_url = format!("{}/repo/x86_64/APKINDEX.tar.gz", server.base);
    let cache_dir = p.dir.join("cache").display().to_string();

    // A captive portal's HTML, an endless body, a drip.
    type Case<'a> = (Behaviour, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (Behaviour::Html, vec![], "not a gzip stream"),
        (
            Behaviour::Endless,
            vec![("CARGO_ASSEMBLE_MAX_INDEX_SIZE", "2M")],
            "larger than the limit of 2 MiB",
        ),
        (
            Behaviour::Drip(Duration::from_secs(2)),
            vec![("CARGO_ASSEMBLE_HTTP_TIMEOUT", "5")],
            "did not finish within 5 s",
        ),
    ];
    for (behaviour, env, why) in cases {
        server.set(&root, behaviour.clone());
        let started = Instant::now();
        let o = assemble_env(&p.dir, &["build", "-q"], &env);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{behaviour:?}: {out}");
        assert!(
            out.contains(why) && out.contains(&index_url),
            "{behaviour:?}: {out}"
        );
        assert!(
            !out.contains(&cache_dir),
            "{behaviour:?} names the cache: {out}"
        );
        assert!(
            !out.contains('\x1b'),
            "{behaviour:?}: unescaped server text: {out}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{behaviour:?}"
        );
        assert_eq!(
            cache_entries(&p.dir),
            good,
            "{behaviour:?} changed the cache"
        );
        assert_eq!(snapshot(&p.dir.join("target")), out_before, "{behaviour:?}");
    }
    // The good cache still serves an offline build.
    let o = assemble(&p.dir, &["build", "-q", "--offline"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_build_killed_mid_download_leaves_a_usable_cache() {
    let (_repo, root) = served_repo();
    let server = Mirror::start(
        &root,
        Behaviour::Only(
            ".apk".into(),
            Box::new(Behaviour::Drip(Duration::from_millis(50))),
        ),
    );
    let p = http_project(&server);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(&p.dir)
        .env("CARGO_ASSEMBLE_CACHE", p.dir.join("cache"))
        .env("HOME", &p.dir)
        .args(["build", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !server.requests().iter().any(|r| r.contains(".apk")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no package request"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // kill -9 (std's kill sends SIGKILL): no destructor runs.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let packages: Vec<_> = cache_entries(&p.dir)
        .into_keys()
        .filter(|k| k.extension().is_some_and(|e| e == "apk"))
        .collect();
    assert!(
        packages.is_empty(),
        "a partial package entered the cache: {packages:?}"
    );
    assert!(!p.dir.join("target/assemble/img").exists());
    server.set(&root, Behaviour::Files);
    let o = assemble(&p.dir, &["build", "-q"]);
    assert!(o.status.success(), "{}", text(&o));
}
