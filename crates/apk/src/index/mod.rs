//! APKINDEX: the text records and the signed `APKINDEX.tar.gz` around them.

pub mod archive;
pub mod cache;
mod filling;
pub mod parsed;
pub mod text;

pub use archive::{IndexArchive, IndexArchiveError, Trust};
pub use cache::{Checked, IndexLoader, OpenedIndex, Recalled};
pub use parsed::ParsedIndex;
pub use text::{IndexRecord, IndexText, IndexTextError, IndexWarning, Strictness, Validation};
