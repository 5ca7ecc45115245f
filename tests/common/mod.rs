//! Helpers shared by the end-to-end tests: where the shared corpus lives,
//! how to read a finished process, and the Alpine 3.16.9 base database.
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(unused_imports)]
pub use testkit::copy_dir;
pub use testkit::corpus;
#[allow(unused_imports)]
pub use testkit::text;

/// Runs `cargo-assemble ARGS` in `dir`, without `SOURCE_DATE_EPOCH`.
pub fn assemble(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

/// Extracts `lib/apk/db/installed` of the Alpine 3.16.9 minirootfs into
/// `dir` and returns its path.
pub fn base_316(dir: &Path) -> PathBuf {
    let f = std::fs::File::open(corpus("rootfs/alpine-minirootfs-3.16.9-x86_64.tar.gz")).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("lib/apk/db/installed") {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            let out = dir.join("installed");
            std::fs::write(&out, buf).unwrap();
            return out;
        }
    }
    panic!("no installed database in the minirootfs");
}

/// Runs git in `dir` with a test identity and `main` as the first branch
/// and returns its standard output; panics with git's output when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.email=t@example.org", "-c", "user.name=T"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .expect("git is needed by this test");
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Unpacks `layout:latest` with umoci (as a runtime would; `--rootless`
/// when not root) into `dest` and returns the root filesystem.
pub fn umoci_unpack(layout: &Path, dest: &Path) -> PathBuf {
    testkit::require("umoci");
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    let root = Command::new("id").arg("-u").output().unwrap().stdout;
    if !root.starts_with(b"0\n") {
        cmd.arg("--rootless");
    }
    let o = cmd
        .arg("--image")
        .arg(format!("{}:latest", layout.display()))
        .arg(dest)
        .output()
        .unwrap();
    assert!(o.status.success(), "umoci: {}", text(&o));
    dest.join("rootfs")
}
