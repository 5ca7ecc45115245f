//! The `cargo-assemble` command. Works as a cargo subcommand
//! (`cargo assemble <verb>`, which runs `cargo-assemble assemble <verb>`)
//! and directly (`cargo-assemble <verb>`).
//!
//! This file only parses arguments and hands off to `cli`, which renders
//! library results and errors for people and scripts.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `cargo assemble x` invokes us as `cargo-assemble assemble x`.
    if args.get(1).is_some_and(|a| a == "assemble") {
        args.remove(1);
    }
    cli::run(args)
}
