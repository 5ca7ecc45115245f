//! apk's installed state: `lib/apk/db/installed`, `scripts.tar`,
//! `triggers` and `/etc/apk/world`.
//!
//! Assembling an image means either starting from a base image that already
//! has an apk database or creating one, and in both cases the result must be
//! a database that `apk` inside the image (and tools that scan images) read
//! as if apk itself had written it. This module reads those files and writes
//! them back.
//!
//! Reading then writing a file gives back its exact bytes: records keep their
//! lines in order (including apko's quirks such as `i:[]` or `M:` after a bare
//! `F:`), `scripts.tar` keeps each entry's raw header blocks and the trailing
//! end-of-archive bytes, and the triggers file keeps its lines. New content
//! (a package being installed) is appended in the order and spelling
//! apk-tools uses, so an unchanged base layer stays byte-identical and only
//! the additions differ.

pub mod installed;
pub mod scripts;
pub mod triggers;
pub mod world;

pub use installed::{
    Acl, DirEntry, FileEntry, InstalledDb, InstalledError, InstalledErrorKind, InstalledRecord,
    RecordLine,
};
pub use scripts::{ScriptEntry, ScriptKind, ScriptName, ScriptsError, ScriptsTar};
pub use triggers::{TriggerEntry, Triggers, TriggersError};
pub use world::{World, WorldError};
