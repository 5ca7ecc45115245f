//! APKINDEX: the text records and the signed `APKINDEX.tar.gz` around them.

pub mod text;

pub use text::{IndexRecord, IndexText, IndexTextError, IndexWarning, Strictness};
