//! The update watcher's re-resolution at scale: 1000 declarations over one
//! signed repository (300 packages, made by testkit's writer), then one
//! index change (new releases of 30 packages, which some of them use), then
//! every declaration re-resolved afresh against it with
//! `Engine::updates`, as the watcher does after a change. Prints the
//! figures; asserts nothing about time (issue 12's bar: < 5 s on 2 cores).
//!
//! `cargo bench -p assemble-service --bench reresolve`

use std::time::Instant;

use assemble_service::engine::{parse_declaration, AssembleEngine, Engine};
use serde_json::{json, Value};
use testkit::repo::{Pkg, Repo};

const DECLARATIONS: usize = 1000;
const PACKAGES: usize = 300;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = Repo::new(&dir.path().join("repo"), "bench");
    for i in 0..PACKAGES {
        let mut p =
            Pkg::new(&format!("p{i}"), "1.0-r0").file(&format!("usr/share/p{i}"), b"x", 0o644);
        if i % 3 != 0 {
            p = p.depend(&format!("p{}", i - i % 3));
        }
        repo.add(p);
    }
    repo.write_index();
    let engine = AssembleEngine::new(dir.path().join("cache"));
    let decls: Vec<_> = (0..DECLARATIONS)
        .map(|d| {
            let packages: Vec<String> = (0..3)
                .map(|k| format!("p{}", (d * 7 + k * 31) % PACKAGES))
                .collect();
            let body = json!({
                "source": "scratch",
                "architectures": ["x86_64"],
                "packages": packages,
                "repositories": [repo.root().display().to_string()],
                "keyring": [repo.key_path()],
            });
            parse_declaration(&format!("img{d}"), &body).unwrap()
        })
        .collect();
    // The locks as the first builds would have recorded them.
    let start = Instant::now();
    let fetch = assemble::ops::FetchSettings {
        offline: false,
        cache_dir: Some(dir.path().join("cache")),
    };
    let locks: Vec<Value> = decls
        .iter()
        .map(|d| {
            let report =
                assemble::ops::plan::plan_image(&d.image, None, &fetch, &assemble::ops::Silent)
                    .unwrap();
            serde_json::to_value(&report.state).unwrap()
        })
        .collect();
    let first = start.elapsed();
    // One index change: 30 base packages (p0, p3, … p87) get a new release.
    for i in (0..90).step_by(3) {
        repo.add(Pkg::new(&format!("p{i}"), "1.0-r1").file(
            &format!("usr/share/p{i}"),
            b"y",
            0o644,
        ));
    }
    repo.write_index();
    let start = Instant::now();
    let items: Vec<_> = decls.into_iter().zip(locks).collect();
    let found = engine.updates_all(&items);
    let again = start.elapsed();
    let rebuild = found
        .iter()
        .filter(|f| !f.as_ref().unwrap().is_empty())
        .count();
    println!(
        "{DECLARATIONS} declarations over one index of {PACKAGES} packages: first resolution {:.2} s; \
         after the index change, re-resolved in {:.2} s ({:.2} ms each), {rebuild} would rebuild",
        first.as_secs_f64(),
        again.as_secs_f64(),
        again.as_secs_f64() * 1000.0 / DECLARATIONS as f64
    );
}
