//! The quickstart's image digest is pinned: a refactoring that changes a
//! byte of the output (layer, config, manifest, index) fails here. Change
//! the value only for a deliberate change of the output, and say why.
//!
//! Layers are compressed on every core (see `assemble_io::gzip`): the
//! digest is the same whatever the number of compression threads. The
//! quickstart's layer is under the size where blocks start, so its bytes
//! are those of the single-stream encoder, as before parallel compression.

use std::path::Path;
use std::process::Command;

/// The same since the first release (issue 16 kept it).
const DIGEST: &str = "sha256:a45c02879ae0969dceaa0eca48d00e7edaeda5ede97d4e574eccc08476545ef1";

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
