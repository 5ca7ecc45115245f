//! Crash consistency: an apply killed (SIGKILL, nothing cleaned up) at
//! every step of replacing an existing output, its lock and its state.
//! After each kill the output directory is a whole image, old or new, and
//! the SBOM beside it is that image's; the next run removes the leftovers,
//! succeeds, and `git status` shows nothing. Also a real `kill -9` from
//! outside while the layout is being written, and a git ref lock left
//! behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

mod project;
use project::{bin, git, ok, Project};

/// The output is a complete layout: `index.json` parses and every blob it
/// names is there with its digest; the SBOM path beside it resolves to a
/// blob of that same layout. Returns the index text.
fn assert_whole(out: &Path) -> String {
    let index = std::fs::read_to_string(out.join("index.json"))
        .unwrap_or_else(|e| panic!("{}/index.json: {e}", out.display()));
    let v: serde_json::Value = serde_json::from_str(&index).unwrap();
    for m in v["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap();
        let blob = std::fs::read(out.join("blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"));
        assert_eq!(format!("{:x}", Sha256::digest(&blob)), hex);
    }
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let sbom = out.with_file_name(format!("{name}.spdx.json"));
    let bytes = std::fs::read(&sbom).unwrap_or_else(|e| panic!("{}: {e}", sbom.display()));
    let hex = format!("{:x}", Sha256::digest(&bytes));
    assert!(
        out.join("blobs/sha256").join(&hex).is_file(),
        "the SBOM beside the image is not the image's own"
    );
    index
}

/// No leftovers of interrupted runs, and nothing `git status` shows.
fn assert_clean(p: &Project) {
    for dir in [p.dir.clone(), p.dir.join("target/assemble")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !(name.starts_with(".assemble-")
                    || name.starts_with(".tmp-")
                    || name.starts_with(".app.tmp-")
                    || name.starts_with(".app.old-")),
                "leftover {} in {}",
                name,
                dir.display()
            );
        }
    }
    let status = git(&p.dir, &["status", "--porcelain"]);
    let unexpected: Vec<&str> = status
        .lines()
        .filter(|l| !l.ends_with("assembly.lock") && !l.ends_with("assembly.toml"))
        .filter(|l| !l.contains(" repo/") && !l.contains(" src/"))
        .collect();
    assert!(unexpected.is_empty(), "git status shows {unexpected:?}");
}

/// A project applied once, then declared with one more package.
fn applied_then_changed() -> (Project, String) {
    let p = Project::new();
    p.commit("declare");
    ok(&p.dir, &["apply", "--auto-approve"]);
    let first = assert_whole(&p.dir.join("target/assemble/app"));
    p.set_packages("[\"base-files\", \"tool\", \"extra\"]");
    (p, first)
}

#[test]
fn a_kill_at_every_step_leaves_a_whole_image_and_the_next_run_cleans_up() {
    for point in [
        "layout-written",
        "before-swap",
        "after-swap",
        "before-lock",
        "lock-half-written",
        "before-state",
    ] {
        let (p, first) = applied_then_changed();
        let lock_before = std::fs::read(p.dir.join("assembly.lock")).unwrap();
        let state_before = git(&p.dir, &["rev-parse", "refs/assembly/state"]);
        let o = Command::new(bin())
            .current_dir(&p.dir)
            .env(assemble_io::CRASH_AT, point)
            .args(["apply", "--auto-approve"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point}: the apply was not killed");
        let out = p.dir.join("target/assemble/app");
        let now = assert_whole(&out);
        let swapped = now != first;
        assert_eq!(
            swapped,
            !matches!(point, "layout-written" | "before-swap"),
            "{point}: old image expected before the swap, new after"
        );
        // Lock and state are each old or new, never half written.
        let lock = std::fs::read(p.dir.join("assembly.lock")).unwrap();
        let lock_new = lock != lock_before;
        assert_eq!(lock_new, point == "before-state", "{point}: lock");
        assert!(
            String::from_utf8(lock).unwrap().starts_with("# "),
            "{point}"
        );
        assert_eq!(
            git(&p.dir, &["rev-parse", "refs/assembly/state"]),
            state_before,
            "{point}: the state moved"
        );
        // The rerun removes what the kill left and finishes the job.
        ok(&p.dir, &["apply", "--auto-approve"]);
        let (code, text) = p.plan(&[]);
        assert_eq!(code, 0, "{point}: {text}");
        let done = assert_whole(&out);
        assert_ne!(done, first, "{point}");
        assert_clean(&p);
    }
}

#[test]
fn a_kill_from_outside_while_writing_keeps_the_old_image() {
    let (p, first) = applied_then_changed();
    // A big package so that the layer write takes a while.
    p.add_big_package(32);
    let out_parent = p.dir.join("target/assemble");
    let mut child = Command::new(bin())
        .current_dir(&p.dir)
        .args(["apply", "--auto-approve"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(120) {
        let writing = std::fs::read_dir(&out_parent)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".app.tmp-"))
            })
            .unwrap_or(false);
        if writing {
            child.kill().unwrap();
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    let now = assert_whole(&out_parent.join("app"));
    if killed {
        assert_eq!(now, first, "killed while writing: the old image stays");
    } else {
        eprintln!("note: the apply finished before it could be killed");
    }
    ok(&p.dir, &["apply", "--auto-approve"]);
    assert_whole(&out_parent.join("app"));
    assert_clean(&p);
}

#[test]
fn a_stale_git_ref_lock_does_not_block_apply() {
    let (p, _) = applied_then_changed();
    // What a kill during `git update-ref` leaves.
    let lock = p.dir.join(".git/refs/assembly/state.lock");
    std::fs::write(&lock, "").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(30))
        .unwrap();
    let o = Command::new(bin())
        .current_dir(&p.dir)
        .args(["apply", "--auto-approve"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("state.lock") && err.contains("interrupted apply"),
        "the removal is reported: {err}"
    );
    assert!(!lock.exists());
    assert_eq!(p.plan(&[]).0, 0);
}

/// The archive at `file` is a complete image (every blob `index.json`
/// names is in it with its digest) and the SBOM beside it is one of its
/// blobs. Returns the index text.
fn assert_whole_archive(file: &Path) -> String {
    let mut index = None;
    let mut blobs = std::collections::BTreeSet::new();
    let f = std::fs::File::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    for entry in tar::Archive::new(f).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path == "index.json" {
            index = Some(String::from_utf8(bytes).unwrap());
        } else if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(format!("{:x}", Sha256::digest(&bytes)), hex, "{path}");
            blobs.insert(hex.to_owned());
        }
    }
    let index = index.expect("index.json in the archive");
    let v: serde_json::Value = serde_json::from_str(&index).unwrap();
    for m in v["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap();
        assert!(
            blobs.contains(digest.strip_prefix("sha256:").unwrap()),
            "{digest}"
        );
    }
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let sbom = std::fs::read(file.with_file_name(format!("{name}.spdx.json"))).unwrap();
    assert!(
        blobs.contains(&format!("{:x}", Sha256::digest(&sbom))),
        "the SBOM beside the archive is not the archive's own"
    );
    index
}

#[test]
fn an_archive_and_its_sbom_are_replaced_as_one_unit() {
    for point in ["archive-generation-written", "archive-switched"] {
        let p = Project::new();
        let build = ["build", "-o", "oci-archive:target/out.tar", "-q"];
        ok(&p.dir, &build);
        let out = p.dir.join("target/out.tar");
        let first = assert_whole_archive(&out);
        p.set_packages("[\"base-files\", \"tool\", \"extra\"]");
        let o = Command::new(bin())
            .current_dir(&p.dir)
            .env(assemble_io::CRASH_AT, point)
            .args(build)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point}: the build was not killed");
        let now = assert_whole_archive(&out);
        assert_eq!(now != first, point == "archive-switched", "{point}");
        ok(&p.dir, &build);
        let done = assert_whole_archive(&out);
        assert_ne!(done, first, "{point}");
        // One generation is left, the current one; no temporaries.
        let store: Vec<String> = std::fs::read_dir(p.dir.join("target/.out.tar.d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(store.len(), 2, "{point}: {store:?}");
        assert!(store.contains(&"current".to_owned()), "{store:?}");
    }
}
