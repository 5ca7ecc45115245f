//! Runs apk-tools' version test vectors through our version module.
//!
//! Reads the file named by `$APK_VERSION_DATA` (default:
//! `../shared/corpus/apk-versions.data` from the workspace root). Line forms:
//!
//! * `A op B` — `op` is one of `<  >  =  ~  <~  >~  <=  >=`; `A !op B` negates it.
//! * `V` — `V` must be a valid version; `!V` — `V` must be invalid.
//! * Blank lines and text after `#` are ignored.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::process::ExitCode;

use apk::version::{self, Op};

fn data_path() -> PathBuf {
    match std::env::var_os("APK_VERSION_DATA") {
        Some(p) => PathBuf::from(p),
        None => testkit::corpus("apk-versions.data"),
    }
}

/// Checks one line; `Ok(None)` for a blank or comment line.
fn check(line: &str) -> Result<Option<()>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(None),
        [v] => {
            let (want_valid, v) = match v.strip_prefix('!') {
                Some(rest) => (false, rest),
                None => (true, *v),
            };
            if version::is_valid(v) == want_valid {
                Ok(Some(()))
            } else {
                Err(format!(
                    "'{v}' should be {}",
                    if want_valid { "valid" } else { "invalid" }
                ))
            }
        }
        [a, op, b] => {
            let (negate, op_text) = match op.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *op),
            };
            let op = Op::parse(op_text).ok_or_else(|| format!("unknown operator '{op_text}'"))?;
            let holds = op.matches(a, b);
            if holds != negate {
                Ok(Some(()))
            } else {
                let got = match version::compare(a, b) {
                    Ordering::Less => "<",
                    Ordering::Equal => "=",
                    Ordering::Greater => ">",
                };
                Err(format!("compare gives '{a} {got} {b}'"))
            }
        }
        _ => Err("expected 'A op B', 'V' or '!V'".to_owned()),
    }
}

fn main() -> ExitCode {
    let path = data_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e} (set APK_VERSION_DATA)", path.display());
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for (n, line) in text.lines().enumerate() {
        match check(line) {
            Ok(None) => {}
            Ok(Some(())) => passed += 1,
            Err(why) => {
                failed += 1;
                println!("FAIL {}:{}: {}: {why}", path.display(), n + 1, line.trim());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
