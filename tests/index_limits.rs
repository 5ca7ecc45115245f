//! An index is verified before it is inflated, and bounded after: a 2 GiB
//! decompression bomb in `APKINDEX.tar.gz` costs the process constant
//! memory whether it is unsigned, signed by an unknown key, or genuinely
//! signed by a trusted key. Memory is the child's peak RSS as the kernel
//! reports it to `wait4`; nothing here measures time.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use apk::signature::SigningKey;

/// Far below the 2 GiB the bombs inflate to, far above what reading a
/// small index needs.
const MAX_RSS_KIB: i64 = 64 * 1024;
const BOMB: u64 = 2 << 30;

struct Run {
    code: i32,
    stderr: String,
    max_rss_kib: i64,
}

/// Runs the CLI and reaps it with `wait4` to read its own peak RSS (other
/// tests' children do not count).
#[allow(clippy::zombie_processes)] // reaped by wait4, not Child::wait
fn run_measured(cmd: &mut Command) -> Run {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the cargo-assemble binary runs");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut status = 0;
    // SAFETY: plain FFI call on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "killed by a signal: {status:#x}");
    Run {
        code: libc::WEXITSTATUS(status),
        stderr,
        max_rss_kib: usage.ru_maxrss,
    }
}

/// Writes `index` as the x86_64 index of a repository under `dir`, with a
/// trusted key `trusted.rsa.pub`, and runs `search` on it.
fn search(dir: &Path, index: &[u8], trusted: &SigningKey, env: &[(&str, &str)]) -> Run {
    std::fs::create_dir_all(dir.join("x86_64")).unwrap();
    std::fs::write(dir.join("x86_64/APKINDEX.tar.gz"), index).unwrap();
    let key = dir.join("trusted.rsa.pub");
    std::fs::write(&key, trusted.public_pem().unwrap()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"));
    cmd.args(["search", "--arch", "x86_64", "--repository"])
        .arg(dir)
        .arg("--keyring")
        .arg(&key)
        .envs(env.iter().copied());
    run_measured(&mut cmd)
}

fn assert_refused(run: &Run, wanted: &str) {
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(wanted), "{}", run.stderr);
    assert!(
        run.max_rss_kib < MAX_RSS_KIB,
        "peak RSS {} KiB while refusing: {}",
        run.max_rss_kib,
        run.stderr
    );
}

#[test]
fn bombs_are_refused_in_constant_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let trusted = SigningKey::generate("trusted.rsa.pub", 2048).unwrap();
    let stranger = SigningKey::generate("stranger.rsa.pub", 2048).unwrap();
    let apkindex = [("APKINDEX", BOMB)];

    let unsigned = testkit::bomb::index(&apkindex, None);
    assert!(
        unsigned.len() < 4 << 20,
        "the bomb is {} bytes",
        unsigned.len()
    );
    let run = search(&tmp.path().join("unsigned"), &unsigned, &trusted, &[]);
    assert_refused(&run, "not signed");

    let foreign = testkit::bomb::index(&apkindex, Some(&stranger));
    let run = search(&tmp.path().join("foreign"), &foreign, &trusted, &[]);
    assert_refused(&run, "'stranger.rsa.pub' which is not in the keyring");

    // Genuinely signed by a trusted key: the entry claims 2 GiB, over the
    // default 256 MiB bound, and is refused before anything is reserved.
    let signed = testkit::bomb::index(&apkindex, Some(&trusted));
    let run = search(&tmp.path().join("signed"), &signed, &trusted, &[]);
    assert_refused(&run, "larger than the limit of 256 MiB");

    // Signed, small entries adding up to 2 GiB: the inflated stream is cut
    // at the configured bound, and what is skipped is never kept.
    let padded = testkit::bomb::index(&[("PAD", BOMB), ("APKINDEX", 1 << 20)], Some(&trusted));
    let env = [("CARGO_ASSEMBLE_MAX_INDEX_SIZE", "32M")];
    let run = search(&tmp.path().join("padded"), &padded, &trusted, &env);
    assert_refused(
        &run,
        "the inflated index is larger than the limit of 32 MiB",
    );
    assert!(
        run.stderr.contains("CARGO_ASSEMBLE_MAX_INDEX_SIZE"),
        "{}",
        run.stderr
    );
}
