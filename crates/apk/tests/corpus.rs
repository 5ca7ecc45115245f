//! Every index and package in the shared corpus must parse.

use std::path::{Path, PathBuf};

use apk::index::archive::{self, Trust};
use apk::index::text::{self, Strictness};
use apk::package::read::{self, ReadOptions, SignatureCheck, VerifyOnly};
use apk::signature::Keyring;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn corpus() -> PathBuf {
    testkit::corpus("")
}

#[test]
fn every_corpus_index_and_package_parses() {
    let mut all = Vec::new();
    files(&corpus().join("apk"), &mut all);
    files(&corpus().join("apk-solver"), &mut all);
    let ring = Keyring::new();
    let (mut indexes, mut packages, mut texts) = (0, 0, 0);
    for p in &all {
        let name = p.file_name().unwrap().to_string_lossy();
        if name.ends_with("APKINDEX.tar.gz") {
            let a = archive::read_file(p, &ring, Trust::AllowUntrusted)
                .unwrap_or_else(|e| panic!("{e}"));
            let parsed =
                text::parse(&a.text, &p.display().to_string(), Strictness::Lenient).unwrap();
            assert!(!parsed.records.is_empty(), "{}", p.display());
            indexes += 1;
        } else if name.ends_with(".apk") {
            let opts = ReadOptions {
                keyring: &ring,
                signature: SignatureCheck::Skip,
                expected_identity: None,
            };
            read::read_file(p, &opts, &mut VerifyOnly).unwrap_or_else(|e| panic!("{e}"));
            packages += 1;
        } else if name == "APKINDEX" || name.ends_with(".repo") || name.ends_with(".installed") {
            let t = std::fs::read_to_string(p).unwrap();
            text::parse(&t, &p.display().to_string(), Strictness::Lenient)
                .unwrap_or_else(|e| panic!("{e}"));
            texts += 1;
        }
    }
    println!("{indexes} indexes, {packages} packages, {texts} index texts");
    assert!(
        indexes >= 9 && packages >= 15 && texts >= 40,
        "{indexes} {packages} {texts}"
    );
}
