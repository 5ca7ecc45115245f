//! Resolution on the real Alpine v3.17 aarch64 index: building the package
//! universe from parsed records, and solving worlds of 1 to 200 packages.

use std::path::PathBuf;

use apk::dependency::{Context, Dependency};
use apk::index::archive::{self, Trust};
use apk::index::text::{self, Strictness, Validation};
use apk::index::IndexLoader;
use apk::signature::Keyring;
use apk_solve::resolve::{Index, Inputs};
use apk_solve::{self as solve, universe, Request, DEFAULT_TAG};
use criterion::{criterion_group, criterion_main, Criterion};

fn corpus(p: &str) -> PathBuf {
    testkit::corpus(p)
}

fn bench(c: &mut Criterion) {
    let keys = Keyring::load(&[corpus("apk/keys/alpine")]).expect("keys");
    let a = archive::read_file(
        &corpus("apk/alpine-v3.17-main-aarch64/APKINDEX.tar.gz"),
        &keys,
        Trust::Verify,
    )
    .expect("index");
    let idx = text::parse_with(
        &a.text,
        "APKINDEX",
        Strictness::Lenient,
        Validation::Deferred,
    )
    .expect("parse");
    let indexes = [Index::new("alpine", &idx.records)];
    let build = || universe_of(&indexes);
    c.bench_function("db/alpine-v3.17-aarch64", |b| {
        b.iter(|| build().package_count())
    });

    let list = std::fs::read_to_string(
        testkit::workspace_root().join("benches/worlds/alpine-v3.17-aarch64-200.txt"),
    )
    .expect("world list");
    let worlds: Vec<(&str, Vec<&str>)> = vec![
        ("busybox", vec!["busybox"]),
        (
            "build-base git openssh curl",
            vec!["build-base", "git", "openssh", "curl"],
        ),
        ("200 packages", list.split_whitespace().collect()),
    ];
    // The universe `resolve` solves over: read in place from the parsed
    // index (what a cache entry maps), not rebuilt from records.
    let parsed = IndexLoader::new(None)
        .load(
            &corpus("apk/alpine-v3.17-main-aarch64/APKINDEX.tar.gz"),
            &keys,
            Trust::Verify,
        )
        .expect("parsed index");
    let in_place = [Index::parsed("alpine", &parsed)];
    let build_in_place = || universe_of(&in_place);
    for (label, names) in worlds {
        for (store, mut db) in [("", build()), ("in place/", build_in_place())] {
            let mut request = Request::default();
            for n in &names {
                let atom = Dependency::parse(n, Context::World).expect("atom");
                request.world.push((db.world_dep(atom), DEFAULT_TAG));
            }
            c.bench_function(&format!("solve/{store}{label}"), |b| {
                b.iter(|| solve::solve(&db, &request).expect("solvable").changes.len())
            });
        }
    }
}

/// The aarch64 universe of `indexes`.
fn universe_of<'a>(indexes: &[Index<'a, '_>]) -> apk_solve::Db<'a> {
    universe(&Inputs {
        arches: &["aarch64", "noarch"],
        indexes,
        ..Default::default()
    })
    .expect("universe")
}

criterion_group!(benches, bench);
criterion_main!(benches);
