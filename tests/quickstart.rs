//! The quickstart's image digest is pinned: a refactoring that changes a
//! byte of the output (layer, config, manifest, index) fails here. Change
//! the value only for a deliberate change of the output, and say why.
//!
//! The layer is compressed in independent blocks on every core (see
//! `assemble_io::gzip`), so the digest is also the same whatever the
//! number of compression threads.

use std::path::Path;
use std::process::Command;

/// Since the layer is compressed in parallel blocks (issue 16).
const DIGEST: &str = "sha256:d10e404f5aa1fcde08ec779c2d29333eb20bc263bd607636b1a6371f143bcce9";

fn build_digest(threads: &str) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env("CARGO_ASSEMBLE_THREADS", threads)
        .args(["build", "--json", "--output"])
        .arg(format!("oci:{}", out.display()))
        .output()
        .expect("run cargo-assemble");
    assert!(o.status.success(), "{}", testkit::text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    report[0]["report"]["digest"].clone()
}

#[test]
fn quickstart_digest_is_pinned_for_any_thread_count() {
    for threads in ["1", "2", "7"] {
        assert_eq!(
            build_digest(threads),
            DIGEST,
            "with {threads} compression threads"
        );
    }
}
