//! The streaming package reader on arbitrary bytes.
#![no_main]

use std::path::Path;

use apk::package::read::{self, ReadOptions, SignatureCheck, VerifyOnly};
use apk::signature::Keyring;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::new();
    let opts = ReadOptions {
        keyring: &ring,
        signature: SignatureCheck::Skip,
        expected_identity: None,
    };
    let _ = read::read(data, Path::new("fuzz"), &opts, &mut VerifyOnly);
});
