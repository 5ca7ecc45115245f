//! Helpers shared by the unit tests.

use std::path::{Path, PathBuf};

/// A path in the shared corpus (`../shared/corpus` next to the checkout).
pub fn corpus(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(p)
}
