//! Index loading and parsing on the real Alpine indexes.
//!
//! `load` = read the file, inflate both members, verify the RSA signature,
//! parse every record (what `search` and `resolve` pay per repository);
//! `parse` = the text parser alone on the already-inflated APKINDEX;
//! `build` = the parsed index the cache stores, from that text (two halves
//! on two threads when there are two cores).

use std::path::PathBuf;

use apk::index::archive::{self, Trust};
use apk::index::parsed::ParsedIndex;
use apk::index::text::{self, Strictness};
use apk::signature::Keyring;
use criterion::{criterion_group, criterion_main, Criterion};

fn corpus(p: &str) -> PathBuf {
    testkit::corpus(p)
}

fn bench(c: &mut Criterion) {
    let keys = Keyring::load(&[corpus("apk/keys/alpine")]).expect("alpine keys");
    for name in ["alpine-v3.16-main-x86_64", "alpine-v3.17-main-aarch64"] {
        let path = corpus(&format!("apk/{name}/APKINDEX.tar.gz"));
        c.bench_function(&format!("load/{name}"), |b| {
            b.iter(|| {
                let a = archive::read_file(&path, &keys, Trust::Verify).expect("index");
                let parsed = text::parse(&a.text, "APKINDEX", Strictness::Lenient).expect("parse");
                parsed.records.len()
            })
        });
        let a = archive::read_file(&path, &keys, Trust::Verify).expect("index");
        // What the cache stores: records, names and the resolver's tables.
        c.bench_function(&format!("build/{name}"), |b| {
            b.iter(|| {
                ParsedIndex::build(&a.text, &a.description, a.lossy, "APKINDEX", [0; 32])
                    .expect("build")
                    .to_bytes()
                    .len()
            })
        });
        c.bench_function(&format!("parse/{name}"), |b| {
            b.iter(|| {
                text::parse(&a.text, "APKINDEX", Strictness::Lenient)
                    .expect("parse")
                    .records
                    .len()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
