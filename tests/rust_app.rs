//! Rust application images (issue 13), end to end: `cargo new` crates
//! with a `[package.metadata.image]` on the real Alpine 3.17.10 image,
//! built by the CLI, unpacked by umoci and run in a chroot; workspaces
//! with `-p` and every member; a binary linking a C library whose `so:`
//! provider comes from a signed repository made here; the SPDX document
//! checked by pyspdxtools.
//!
//! The crates' release builds are kept small (`opt-level = 0`, many
//! codegen units, no dependencies from a registry: everything offline).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{corpus, text};
use serde_json::Value;
use testkit::repo::{Pkg, Repo};

/// The profile every generated workspace uses: quick to compile.
const PROFILE: &str = "\n[profile.release]\nopt-level = 0\ncodegen-units = 16\n";

fn alpine() -> String {
    format!(
        "oci:{}:alpine-3.17.10",
        corpus("images/alpine-3.17.10-x86_64").display()
    )
}

fn assemble(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `cargo new NAME` in `dir` (no VCS, offline), with `extra` appended to
/// its Cargo.toml.
fn cargo_new(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let o = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args(["new", "--quiet", "--vcs", "none", "--offline", name])
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo new: {}", text(&o));
    let project = dir.join(name);
    let manifest = project.join("Cargo.toml");
    let mut toml = std::fs::read_to_string(&manifest).unwrap();
    toml.push_str(extra);
    std::fs::write(&manifest, toml).unwrap();
    project
}

fn require_root() {
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    assert!(
        root,
        "these tests run the image's binary in a chroot: they need root"
    );
}

/// The JSON of a blob of `layout`.
fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.trim_start_matches("sha256:");
    serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The config of the single-platform image tagged `latest` in `layout`.
fn image_config(layout: &Path) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "latest")
        .expect("a manifest tagged latest");
    let manifest = blob(layout, manifest["digest"].as_str().unwrap());
    blob(layout, manifest["config"]["digest"].as_str().unwrap())
}

/// `umoci unpack` of `layout:latest`, then `chroot rootfs program`.
fn run_in_image(layout: &Path, work: &Path, program: &str) -> Output {
    testkit::require("umoci");
    require_root();
    let bundle = work.join(format!(
        "bundle-{}",
        layout.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&bundle);
    let u = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(u.status.success(), "umoci: {}", text(&u));
    Command::new("chroot")
        .arg(bundle.join("rootfs"))
        .arg(program)
        .output()
        .unwrap()
}

fn digest_of(o: &Output) -> String {
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", text(o));
    });
    report[0]["report"]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn cargo_new_hello_becomes_an_image_that_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = format!(
        "license = \"MIT\"\n\n[package.metadata.image]\nsource = \"{}\"\n{PROFILE}",
        alpine()
    );
    // `license` belongs to [package]: put it right after the header.
    let project = cargo_new(tmp.path(), "hello", "");
    let manifest = project.join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap().replacen(
        "[package]\n",
        "[package]\nlicense = \"MIT\"\n",
        1,
    );
    std::fs::write(
        &manifest,
        format!("{toml}{}", meta.replacen("license = \"MIT\"\n", "", 1)),
    )
    .unwrap();

    // validate checks without compiling.
    let o = assemble(&project, &["validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !project.join("target").exists(),
        "validate compiled the crate"
    );

    // From a subdirectory: the manifest is found upward, the output goes
    // under the workspace's target directory.
    let o = assemble(&project.join("src"), &["build", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let first = digest_of(&o);
    let layout = project.join("target/assemble/hello");
    assert!(layout.join("index.json").is_file(), "{}", text(&o));
    assert!(!project.join("src/target").exists());

    let config = image_config(&layout);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/hello"]),
        "{config}"
    );
    assert!(config["config"].get("Cmd").is_none(), "{config}");
    let history = config["history"].as_array().unwrap();
    assert_eq!(
        history.last().unwrap()["created_by"],
        "cargo-assemble: add /usr/bin/hello"
    );

    let ran = run_in_image(&layout, tmp.path(), "/usr/bin/hello");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "Hello, world!\n",
        "{}",
        text(&ran)
    );

    // The SBOM lists the crate with its purl and license, and validates.
    let sbom_path = project.join("target/assemble/hello.spdx.json");
    let sbom: Value = serde_json::from_slice(&std::fs::read(&sbom_path).unwrap()).unwrap();
    let hello = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hello")
        .unwrap_or_else(|| panic!("no hello package in {sbom}"));
    let refs = hello["externalRefs"].to_string();
    assert!(refs.contains("pkg:cargo/hello@0.1.0"), "{hello}");
    assert_eq!(hello["licenseDeclared"], "MIT", "{hello}");
    spdx_validate(&sbom_path);

    // Building again gives the same image.
    let o = assemble(&project, &["build", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(digest_of(&o), first);
}

fn spdx_validate(path: &Path) {
    testkit::require("pyspdxtools");
    let v = Command::new("pyspdxtools")
        .arg("-i")
        .arg(path)
        .output()
        .unwrap();
    assert!(v.status.success(), "pyspdxtools: {}", text(&v));
}

/// A workspace with members `a` (depending on the library member `util`)
/// and `b`, each declaring an image.
fn workspace(dir: &Path) -> PathBuf {
    let root = dir.join("ws");
    write(
        &root.join("Cargo.toml"),
        &format!("[workspace]\nmembers = [\"a\", \"b\", \"util\"]\nresolver = \"2\"\n{PROFILE}"),
    );
    let image = format!("\n[package.metadata.image]\nsource = \"{}\"\n", alpine());
    for name in ["a", "b"] {
        let deps = if name == "a" {
            "[dependencies]\nutil = { path = \"../util\" }\n"
        } else {
            ""
        };
        write(
            &root.join(name).join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n{deps}{image}"
            ),
        );
        let body = if name == "a" {
            "fn main() { println!(\"a says {}\", util::word()); }\n"
        } else {
            "fn main() { println!(\"b\"); }\n"
        };
        write(&root.join(name).join("src/main.rs"), body);
    }
    write(
        &root.join("util/Cargo.toml"),
        "[package]\nname = \"util\"\nversion = \"0.2.0\"\nedition = \"2021\"\nlicense = \"Apache-2.0\"\n",
    );
    write(
        &root.join("util/src/lib.rs"),
        "pub fn word() -> &'static str { \"hi\" }\n",
    );
    root
}

#[test]
fn a_workspace_builds_one_member_with_p_or_every_member() {
    let tmp = tempfile::tempdir().unwrap();
    let root = workspace(tmp.path());
    let out = root.join("target/assemble");

    let o = assemble(&root, &["build", "-p", "a"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("a/index.json").is_file());
    assert!(!out.join("b").exists(), "-p a built b too");
    let ran = run_in_image(&out.join("a"), tmp.path(), "/usr/bin/a");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "a says hi\n",
        "{}",
        text(&ran)
    );

    // The crate a depends on is in a's SBOM.
    let sbom: Value =
        serde_json::from_slice(&std::fs::read(out.join("a.spdx.json")).unwrap()).unwrap();
    let text_sbom = sbom.to_string();
    assert!(text_sbom.contains("pkg:cargo/a@0.1.0"), "{text_sbom}");
    assert!(text_sbom.contains("pkg:cargo/util@0.2.0"), "{text_sbom}");
    spdx_validate(&out.join("a.spdx.json"));

    // --manifest-path from anywhere; every member from the root.
    std::fs::remove_dir_all(&out).unwrap();
    let manifest = root.join("Cargo.toml");
    let o = assemble(
        tmp.path(),
        &["build", "--manifest-path", manifest.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("a/index.json").is_file() && out.join("b/index.json").is_file());
    let ran = run_in_image(&out.join("b"), tmp.path(), "/usr/bin/b");
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "b\n");

    // An unknown package names the members.
    let o = assemble(&root, &["build", "-p", "c"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("package `c` is not a member"),
        "{}",
        text(&o)
    );
}

/// The host's glibc as a package (loader, libc, libgcc_s, libm), so that a
/// glibc base image can be assembled from scratch.
fn glibc_package() -> Pkg {
    let mut pkg = Pkg::new("glibc", "2.36-r0").arch("x86_64");
    for (path, host) in [
        ("lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"),
        (
            "lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ),
        (
            "lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
        ),
        (
            "lib/x86_64-linux-gnu/libm.so.6",
            "/lib/x86_64-linux-gnu/libm.so.6",
        ),
    ] {
        let bytes = std::fs::read(host).unwrap_or_else(|e| panic!("this test needs {host}: {e}"));
        pkg = pkg.file(path, &bytes, 0o755);
    }
    pkg.provide("so:libc.so.6=6")
}

#[test]
fn a_needed_shared_library_brings_its_provider_or_fails_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let native = testkit::libfoo(tmp.path());

    // A signed repository: glibc, and libfoo providing so:libfoo.so.1.
    let mut repo = Repo::new(&tmp.path().join("repo"), "test.rsa");
    repo.add(glibc_package());
    let lib = std::fs::read(native.join("libfoo.so.1")).unwrap();
    repo.add(
        Pkg::new("libfoo", "1.0-r0")
            .arch("x86_64")
            .file("usr/lib/libfoo.so.1", &lib, 0o755)
            .provide("so:libfoo.so.1=1"),
    );
    repo.write_index();

    // The glibc base image, assembled first.
    let base_dir = tmp.path().join("base");
    write(
        &base_dir.join("assembly.toml"),
        &format!(
            "[image]\nname = \"glibc-base\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             packages = [\"glibc\"]\nrepositories = [\"{}\"]\nkeyring = [\"{}\"]\n",
            repo.root().display(),
            repo.key_path().display()
        ),
    );
    let o = assemble(&base_dir, &["build", "--output", "oci:glibc-base"]);
    assert!(o.status.success(), "{}", text(&o));

    // The application links libfoo.
    let app = tmp.path().join("app");
    let declaration = |repos: &str| {
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [package.metadata.image]\nsource = \"oci:{}:latest\"\nrepositories = [{repos}]\n\
             keyring = [\"{}\"]\n{PROFILE}",
            base_dir.join("glibc-base").display(),
            repo.key_path().display()
        )
    };
    write(
        &app.join("Cargo.toml"),
        &declaration(&format!("\"{}\"", repo.root().display())),
    );
    write(
        &app.join("build.rs"),
        &format!(
            "fn main() {{ println!(\"cargo:rustc-link-search=native={}\"); }}\n",
            native.display()
        ),
    );
    write(
        &app.join("src/main.rs"),
        "#[link(name = \"foo\")]\nextern \"C\" { fn foo() -> i32; }\n\
         fn main() { println!(\"{}\", unsafe { foo() }); }\n",
    );

    // The plan (state in git) compiles, says why libfoo comes in and
    // adds it.
    common::git(&app, &["init", "-q"]);
    let o = assemble(&app, &["plan"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("so:libfoo.so.1 ← bin/app"), "{out}");
    assert!(
        out.contains("dynamically linked (the base is glibc-based)"),
        "{out}"
    );
    assert!(out.contains("libfoo"), "{out}");

    let o = assemble(&app, &["build", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let platform = &report[0]["report"]["platforms"][0];
    assert_eq!(
        platform["added"],
        serde_json::json!(["libfoo-1.0-r0"]),
        "{report}"
    );
    assert_eq!(
        platform["application"]["requirements"],
        serde_json::json!(["so:libfoo.so.1 ← bin/app"])
    );
    let layout = app.join("target/assemble/app");
    let ran = run_in_image(&layout, tmp.path(), "/usr/bin/app");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "42\n",
        "{}",
        text(&ran)
    );

    // Without a repository providing it: a clear error, nothing written.
    std::fs::remove_dir_all(app.join("target/assemble")).unwrap();
    write(&app.join("Cargo.toml"), &declaration(""));
    let o = assemble(&app, &["build"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("so:libfoo.so.1 ← bin/app is not in the base image"),
        "{out}"
    );
    assert!(!app.join("target/assemble/app").exists());
    assert!(!app.join("target/assemble/app.spdx.json").exists());
}

#[test]
fn application_keys_are_checked_with_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let project = cargo_new(
        tmp.path(),
        "svc",
        &format!(
            "\n[package.metadata.image]\nsource = \"{}\"\nentrypoint = \"/usr/bin/svc --serve\"\n\
             ports = [\"8080\", \"70000/tcp\"]\nstop_signal = \"SIGTRM\"\nworkdir = \"srv\"\n\
             volumes = [\"/data\"]\nbinaries = [\"svc\"]\nuser = \"nobody\"\nwokdir = \"/x\"\n",
            alpine()
        ),
    );
    let o = assemble(&project, &["validate"]);
    assert!(!o.status.success());
    let out = text(&o);
    for want in [
        "'entrypoint' must be an array of strings (exec form)",
        "write entrypoint = [\"/usr/bin/svc\", \"--serve\"]",
        "invalid port '70000/tcp'",
        "unknown signal 'SIGTRM'",
        "did you mean 'SIGTERM'?",
        "'workdir' must be an absolute path",
        "unknown key 'wokdir'",
        "did you mean 'workdir'?",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    // In an assembly.toml, `binaries` has no crate to build.
    write(
        &tmp.path().join("plain/assembly.toml"),
        "[image]\nname = \"x\"\nsource = \"scratch\"\nbinaries = [\"x\"]\n",
    );
    let o = assemble(&tmp.path().join("plain"), &["validate"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("'binaries' is only for [package.metadata.image]"),
        "{}",
        text(&o)
    );
}
