//! The quickstart's image digest is pinned: a refactoring that changes a
//! byte of the output (layer, config, manifest, index) fails here. Change
//! the value only for a deliberate change of the output, and say why.

use std::path::Path;
use std::process::Command;

const DIGEST: &str = "sha256:a45c02879ae0969dceaa0eca48d00e7edaeda5ede97d4e574eccc08476545ef1";

#[test]
fn quickstart_digest_is_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let o = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart"))
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["build", "--json", "--output"])
        .arg(format!("oci:{}", out.display()))
        .output()
        .expect("run cargo-assemble");
    assert!(o.status.success(), "{}", testkit::text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report[0]["report"]["digest"], DIGEST, "{report}");
}
