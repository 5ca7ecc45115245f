//! Index parsing: the text parser on arbitrary text, and the archive reader
//! (gzip members, tar, signatures) on arbitrary bytes.
#![no_main]

use std::path::Path;

use apk::database::InstalledDb;
use apk::index::archive::{self, Trust};
use apk::index::text::{self, Strictness};
use apk::signature::Keyring;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(idx) = text::parse(s, "fuzz", Strictness::Lenient) {
            for r in &idx.records {
                let _ = r.info.depends().count();
            }
            let again = text::write(idx.records.iter().map(|r| &r.info));
            let _ = text::parse(&again, "fuzz", Strictness::Lenient);
        }
        if let Ok(db) = InstalledDb::parse(s, "fuzz") {
            assert_eq!(db.write(), data, "installed db must round-trip");
            for r in &db.records {
                let _ = r.dirs();
            }
        }
    }
    let _ = archive::read(data, Path::new("fuzz"), &Keyring::new(), Trust::AllowUntrusted);
});
