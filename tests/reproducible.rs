//! The quickstart image's digest is pinned: it is the same on every run,
//! on every machine and whatever the number of compression threads (the
//! layer is compressed in independent blocks, see `assemble_io::gzip`).
//! When a deliberate change alters the layer bytes, update the value and
//! say why in the commit.

use std::path::Path;
use std::process::Command;

mod common;
use common::text;

/// `sha256:` of the quickstart image manifest (since the layer is
/// compressed in parallel blocks).
const QUICKSTART_DIGEST: &str =
    "sha256:d10e404f5aa1fcde08ec779c2d29333eb20bc263bd607636b1a6371f143bcce9";

fn build_digest(threads: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("quickstart");
    let cp = Command::new("cp")
        .arg("-r")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"))
        .arg(&project)
        .status()
        .unwrap();
    assert!(cp.success());
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(&project)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("CARGO_ASSEMBLE_THREADS", threads)
        .args(["build", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["report"]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn quickstart_digest_is_pinned_for_any_thread_count() {
    for threads in ["1", "2", "7"] {
        assert_eq!(
            build_digest(threads),
            QUICKSTART_DIGEST,
            "with {threads} compression threads"
        );
    }
}
