//! Test support shared by every crate of the workspace.
//!
//! Tests must compile on a fresh checkout without anything outside the
//! repository, so nothing here embeds the shared corpus: [`corpus`] finds it
//! at run time and, when it is missing, fails with the path it looked for
//! and the variable that overrides it.

use std::path::{Path, PathBuf};
use std::process::Output;

pub mod bomb;
pub mod browser;
pub mod github;
pub mod http;
pub mod mirror;
pub mod postgres;
pub mod registry;
pub mod repo;

/// The variable that points the tests at the shared corpus.
pub const CORPUS_VAR: &str = "CARGO_ASSEMBLE_CORPUS";

/// The root of the workspace (the directory holding the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The shared corpus directory: `$CARGO_ASSEMBLE_CORPUS`, else
/// `../shared/corpus` next to the checkout.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(CORPUS_VAR) {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("../shared/corpus"),
    }
}

/// A path inside the shared corpus. Panics with a message naming the
/// missing path and [`CORPUS_VAR`] when it does not exist, so a test that
/// needs real upstream data says what it needs.
pub fn corpus(rel: &str) -> PathBuf {
    let path = corpus_dir().join(rel);
    if !path.exists() {
        panic!(
            "this test needs the shared corpus file {} (missing); \
             set {CORPUS_VAR} to the corpus directory (default: ../shared/corpus next to the checkout)",
            path.display()
        );
    }
    path
}

/// Copies the tree `from` to `to` (created), e.g. a corpus layout that a
/// test then changes.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Reads a corpus file as text (see [`corpus`]).
pub fn corpus_text(rel: &str) -> String {
    let p = corpus(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Reads a corpus file as bytes (see [`corpus`]).
pub fn corpus_bytes(rel: &str) -> Vec<u8> {
    let p = corpus(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Panics with a message naming `program` when it cannot be run: a test
/// that needs an installed tool fails clearly rather than passing silently.
pub fn require(program: &str) {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        // Where the Debian package is named differently from the program.
        let package = match program {
            "chromedriver" => "chromium-driver",
            "htpasswd" => "apache2-utils",
            other => other,
        };
        panic!(
            "this test needs the program `{program}`, which is not installed (on Debian: \
             apt-get install {package}; .ci/run installs it)"
        );
    }
}

/// `DIR/native/libfoo.so.1` (soname `libfoo.so.1`, one function `foo`)
/// built with `cc`, and `libfoo.so` linking to it; returns `DIR/native`.
pub fn libfoo(dir: &Path) -> PathBuf {
    require("cc");
    let native = dir.join("native");
    std::fs::create_dir_all(&native).unwrap();
    std::fs::write(native.join("foo.c"), "int foo(void) { return 42; }\n").unwrap();
    let cc = std::process::Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-Wl,-soname,libfoo.so.1",
            "-o",
            "libfoo.so.1",
            "foo.c",
        ])
        .current_dir(&native)
        .output()
        .unwrap();
    assert!(cc.status.success(), "{}", text(&cc));
    std::os::unix::fs::symlink("libfoo.so.1", native.join("libfoo.so")).unwrap();
    native
}

/// Standard output followed by standard error, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
