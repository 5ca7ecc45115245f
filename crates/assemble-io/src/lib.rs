//! Files and streams we can trust, shared by every crate of the workspace:
//! atomic file replacement with normal modes ([`atomic`]), hashing writers
//! ([`hash`]), gzip on every core with reproducible bytes ([`gzip`]),
//! deterministic tar headers ([`tarball`]), size limits
//! ([`limit`]) and the user-adjustable bounds on downloads and inflation
//! ([`bounds`]), terminal-safe text ([`escape`]), URLs and secrets that
//! never show credentials ([`url`], [`secret`]), helper threads that start
//! on another CPU at once ([`thread`]), fresh memory made present cheaply
//! and buffers in huge pages ([`pages`]).
//!
//! This crate sits at the bottom of the workspace: it knows nothing of APK
//! or OCI, only of bytes, paths and the ways writing them can go wrong.
#![deny(missing_docs)]

pub mod atomic;
pub mod bounds;
pub mod direct;
pub mod escape;
pub mod gzip;
pub mod hash;
pub mod limit;
pub mod pages;
pub mod secret;
pub mod tarball;
pub mod thread;
pub mod url;

/// The environment variable that names a crash point (tests only).
pub const CRASH_AT: &str = "CARGO_ASSEMBLE_CRASH_AT";

/// A named point between two steps of a multi-step write. When the
/// environment variable [`CRASH_AT`] names this point, the process sends
/// itself `SIGKILL` right here: no destructor runs, nothing is cleaned up,
/// exactly as under `kill -9`. The crash tests use it to check that every output stays
/// whole at every point; unset (always, outside those tests) it costs one
/// environment lookup.
pub fn crash_point(name: &str) {
    if std::env::var_os(CRASH_AT).is_some_and(|v| v == name) {
        // SAFETY: kill(2) on our own pid has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}
