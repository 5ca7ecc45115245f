//! Version validation and comparison, and dependency atoms.
#![no_main]

use std::cmp::Ordering;

use apk::dependency::{Context, Dependency};
use apk::version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (a, b) = s.split_at(s.char_indices().nth(s.chars().count() / 2).map_or(s.len(), |(i, _)| i));
    let ab = version::compare(a, b);
    assert_eq!(ab, version::compare(b, a).reverse(), "antisymmetry: {a:?} {b:?}");
    assert_eq!(version::compare(a, a), Ordering::Equal);
    let _ = version::compare_fuzzy(a, b);
    let _ = version::is_valid(a);
    for ctx in [Context::World, Context::Metadata] {
        if let Ok(d) = Dependency::parse(s, ctx) {
            // What we print must parse back to the same atom.
            let shown = d.to_string();
            let again = Dependency::parse(&shown, ctx).expect("printed atom parses");
            assert_eq!(again.to_string(), shown);
        }
    }
});
