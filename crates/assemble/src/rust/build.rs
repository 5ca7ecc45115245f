//! Building the binaries: `cargo build --release --locked --target T -p P
//! --bin B…`, with cargo's output passed on line by line and the produced
//! executables taken from cargo's own artifact messages
//! (`--message-format=json-render-diagnostics`), never guessed from paths.
//!
//! Flags we add for every crate of the target (build scripts and proc
//! macros, built for the host, are left alone):
//! - the linkage's (`-C target-feature=+crt-static` for static binaries);
//! - `--remap-path-prefix` for the workspace (`/build`), cargo's home
//!   (`/cargo`) and an outside target directory (`/target`), so that the
//!   binary does not depend on where the project or the registry cache
//!   lives.
//!
//! They go through `--config target."T".rustflags=[…]`, which cargo merges
//! with the project's own `target.T.rustflags`; when `RUSTFLAGS` or
//! `CARGO_ENCODED_RUSTFLAGS` is set (it overrides every configuration
//! file), ours are appended to it instead. Symbols are left to the release
//! profile (cargo strips debug information by default; `strip = true` in
//! `[profile.release]` strips everything). Build scripts get
//! `SOURCE_DATE_EPOCH` when it is set. cargo runs in the workspace root,
//! so the project's `.cargo/config.toml` applies wherever the command is
//! started.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

use cargo_metadata::{Message, TargetKind};

use super::project::{Package, Workspace};
use super::target::TargetChoice;

/// Longest output line passed on; longer lines are cut.
pub const MAX_LINE: usize = 64 << 10;
/// Lines of cargo's output kept for the error when the build fails.
pub const TAIL_LINES: usize = 20;

/// Cargo features to build with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// `--features`.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all: bool,
    /// `--no-default-features`.
    pub no_default: bool,
}

impl Features {
    /// The command-line arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if !self.features.is_empty() {
            args.push("--features".to_owned());
            args.push(self.features.join(","));
        }
        if self.all {
            args.push("--all-features".to_owned());
        }
        if self.no_default {
            args.push("--no-default-features".to_owned());
        }
        args
    }
}

/// One build: a package's binaries for one target.
#[derive(Clone, Copy, Debug)]
pub struct BuildRequest<'a> {
    /// The workspace.
    pub workspace: &'a Workspace,
    /// The package.
    pub package: &'a Package,
    /// Its binaries to build (see [`Package::binaries`]).
    pub bins: &'a [String],
    /// The target and linkage.
    pub target: &'a TargetChoice,
    /// Features.
    pub features: &'a Features,
    /// `--offline`.
    pub offline: bool,
    /// `SOURCE_DATE_EPOCH` for build scripts.
    pub source_date_epoch: Option<u64>,
}

/// A built executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The binary's name.
    pub name: String,
    /// Where cargo wrote it.
    pub path: PathBuf,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// The requested binaries, in request order.
    pub binaries: Vec<Built>,
    /// True when `Cargo.lock` did not exist and was generated first.
    pub generated_lock: bool,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// cargo could not be started.
    #[error("cannot run cargo: {0}")]
    Spawn(#[source] std::io::Error),
    /// `Cargo.lock` is missing and could not be generated.
    #[error("{} is missing and `cargo generate-lockfile` failed:\n{message}", .lock.display())]
    #[diagnostic(help("run `cargo generate-lockfile` in the workspace and commit Cargo.lock"))]
    LockFile {
        /// The lock file.
        lock: PathBuf,
        /// cargo's message.
        message: String,
    },
    /// cargo failed.
    #[error("`cargo build` of {package} for {target} failed ({status}):\n{tail}")]
    Failed {
        /// The package.
        package: String,
        /// The target.
        target: String,
        /// cargo's exit status.
        status: ExitStatus,
        /// The last lines of its output.
        tail: String,
    },
    /// cargo succeeded without reporting a requested binary.
    #[error("cargo reported no executable for the binary `{bin}` of {package}")]
    MissingArtifact {
        /// The package.
        package: String,
        /// The binary.
        bin: String,
    },
}

/// The `cargo build` command for `req` (without the lock file check).
pub fn command(req: &BuildRequest<'_>) -> Command {
    let mut cmd = super::cargo();
    cmd.current_dir(&req.workspace.root)
        .arg("build")
        .args(["--release", "--locked", "--color=never"])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&req.package.manifest_path)
        .args(["--target", &req.target.target])
        .arg("-p")
        .arg(format!("{}@{}", req.package.name, req.package.version));
    for b in req.bins {
        cmd.args(["--bin", b]);
    }
    cmd.args(req.features.args());
    if req.offline {
        cmd.arg("--offline");
    }
    let mut flags = req.target.rustflags();
    flags.extend(remap_flags(req.workspace, &cargo_home()));
    let user = (
        std::env::var_os("CARGO_ENCODED_RUSTFLAGS"),
        std::env::var_os("RUSTFLAGS"),
    );
    match encoded_rustflags(user.0, user.1, &flags) {
        Some(encoded) => {
            cmd.env("CARGO_ENCODED_RUSTFLAGS", encoded)
                .env_remove("RUSTFLAGS");
        }
        None => {
            cmd.arg("--config")
                .arg(rustflags_config(&req.target.target, &flags));
        }
    }
    if let Some(t) = req.source_date_epoch {
        cmd.env("SOURCE_DATE_EPOCH", t.to_string());
    }
    cmd
}

/// Builds `req`, passing each line cargo prints (its progress and the
/// compiler's rendered messages) to `on_line`.
pub fn build(
    req: &BuildRequest<'_>,
    on_line: &mut dyn FnMut(&str),
) -> Result<BuildOutput, BuildError> {
    let lock = req.workspace.lock_file();
    let generated_lock = !lock.exists();
    if generated_lock {
        generate_lock(req, &lock)?;
        on_line(&format!(
            "Cargo.lock was missing: generated {} (commit it to pin the image's dependencies)",
            lock.display()
        ));
    }
    let mut child = command(req)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BuildError::Spawn)?;
    let (tx, rx) = mpsc::channel::<Event>();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_tx = tx.clone();
    let readers = [
        std::thread::spawn(move || read_lines(stdout, &out_tx, true)),
        std::thread::spawn(move || read_lines(stderr, &tx, false)),
    ];
    let mut artifacts: Vec<Built> = Vec::new();
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    for event in rx {
        match event {
            Event::Line(line) => {
                on_line(&line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            Event::Message(message) => {
                if let Message::CompilerArtifact(a) = *message {
                    let ours = a.package_id.repr == req.package.id
                        && a.target.kind.contains(&TargetKind::Bin);
                    if let (true, Some(exe)) = (ours, a.executable) {
                        artifacts.push(Built {
                            name: a.target.name,
                            path: exe.into_std_path_buf(),
                        });
                    }
                }
            }
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().map_err(BuildError::Spawn)?;
    if !status.success() {
        return Err(BuildError::Failed {
            package: req.package.name.clone(),
            target: req.target.target.clone(),
            status,
            tail: Vec::from(tail).join("\n"),
        });
    }
    let binaries = req
        .bins
        .iter()
        .map(|bin| {
            artifacts
                .iter()
                .rev()
                .find(|a| &a.name == bin)
                .cloned()
                .ok_or_else(|| BuildError::MissingArtifact {
                    package: req.package.name.clone(),
                    bin: bin.clone(),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(BuildOutput {
        binaries,
        generated_lock,
    })
}

/// What the output readers send.
enum Event {
    /// A line to pass on.
    Line(String),
    /// A JSON message of cargo's.
    Message(Box<Message>),
}

/// Sends each line of `from` (cut to [`MAX_LINE`]); on stdout, JSON
/// messages are parsed and other lines passed on.
fn read_lines(from: impl Read, tx: &mpsc::Sender<Event>, json: bool) {
    let mut reader = BufReader::new(from);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') && buf.len() == MAX_LINE {
            // Drop the rest of an overlong line.
            if reader.skip_until(b'\n').is_err() {
                return;
            }
        }
        let parsed = if json && buf.first() == Some(&b'{') {
            serde_json::from_slice::<Message>(&buf).ok()
        } else {
            None
        };
        let event = match parsed {
            Some(m) => Event::Message(Box::new(m)),
            None => Event::Line(String::from_utf8_lossy(&buf).trim_end().to_owned()),
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Runs `cargo generate-lockfile` (as `cargo build` would have written one).
fn generate_lock(req: &BuildRequest<'_>, lock: &Path) -> Result<(), BuildError> {
    let mut cmd = super::cargo();
    cmd.current_dir(&req.workspace.root)
        .args(["generate-lockfile", "--color=never", "--manifest-path"])
        .arg(&req.package.manifest_path)
        .stdin(Stdio::null());
    if req.offline {
        cmd.arg("--offline");
    }
    let out = cmd.output().map_err(BuildError::Spawn)?;
    if out.status.success() && lock.exists() {
        return Ok(());
    }
    Err(BuildError::LockFile {
        lock: lock.to_owned(),
        message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> PathBuf {
    match std::env::var_os("CARGO_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
    }
}

/// `--remap-path-prefix` flags, most specific last (rustc applies the last
/// matching one).
fn remap_flags(ws: &Workspace, cargo_home: &Path) -> Vec<String> {
    let mut maps: Vec<(PathBuf, &str)> = vec![
        (ws.root.clone(), "/build"),
        (cargo_home.to_owned(), "/cargo"),
    ];
    if !ws.target_dir.starts_with(&ws.root) {
        maps.push((ws.target_dir.clone(), "/target"));
    }
    maps.retain(|(from, _)| from.is_absolute());
    maps.sort_by_key(|(from, _)| from.as_os_str().len());
    maps.iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect()
}

/// `target."T".rustflags=[…]` for `--config`, in TOML syntax.
fn rustflags_config(target: &str, flags: &[String]) -> String {
    let key = toml::Value::String(target.to_owned());
    let value = toml::Value::Array(flags.iter().cloned().map(toml::Value::String).collect());
    format!("target.{key}.rustflags={value}")
}

/// The `CARGO_ENCODED_RUSTFLAGS` to set when the user's environment sets
/// flags (which would override our `--config`): theirs, then ours.
fn encoded_rustflags(
    encoded: Option<OsString>,
    plain: Option<OsString>,
    ours: &[String],
) -> Option<String> {
    let theirs: Vec<String> = match (encoded, plain) {
        (Some(e), _) => e
            .to_string_lossy()
            .split('\x1f')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
        (None, Some(p)) => p
            .to_string_lossy()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        (None, None) => return None,
    };
    Some(
        theirs
            .iter()
            .chain(ours)
            .cloned()
            .collect::<Vec<_>>()
            .join("\x1f"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rust::elf;
    use crate::rust::fixture::{vendor, write, Vendored};
    use crate::rust::project::Workspace;
    use crate::rust::target::{Arch, InstalledTargets, Linkage, Reason, TargetChoice};

    fn host_gnu(linkage: Linkage) -> TargetChoice {
        let installed = InstalledTargets::detect(Path::new(".")).unwrap();
        let arch = Arch::from_apk(std::env::consts::ARCH).unwrap();
        let target = arch.gnu_target();
        assert!(
            installed.contains(&target),
            "this test needs the {target} target"
        );
        TargetChoice {
            arch: arch.apk.to_owned(),
            target,
            linkage,
            reason: Reason::Declared,
        }
    }

    fn hello(dir: &Path, main: &str) {
        write(
            dir,
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                     [[bin]]\nname = \"hello\"\npath = \"src/main.rs\"\n\n\
                     [[bin]]\nname = \"other\"\npath = \"src/other.rs\"\n",
                ),
                ("src/main.rs", main),
                ("src/other.rs", "fn main() {}\n"),
            ],
        );
    }

    fn run(
        ws: &Workspace,
        bins: &[String],
        target: &TargetChoice,
    ) -> (Result<BuildOutput, BuildError>, Vec<String>) {
        let mut lines = Vec::new();
        let req = BuildRequest {
            workspace: ws,
            package: &ws.members[0],
            bins,
            target,
            features: &Features::default(),
            offline: true,
            source_date_epoch: Some(1_700_000_000),
        };
        let out = build(&req, &mut |l| lines.push(l.to_owned()));
        (out, lines)
    }

    #[test]
    fn a_static_glibc_build_runs_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        hello(dir.path(), "fn main() { println!(\"Hello, world!\"); }\n");
        let ws = Workspace::load(dir.path()).unwrap();
        let target = host_gnu(Linkage::Static);
        let (out, lines) = run(&ws, &["hello".into()], &target);
        let out = out.unwrap();
        assert!(out.generated_lock && dir.path().join("Cargo.lock").is_file());
        assert!(lines[0].starts_with("Cargo.lock was missing"), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("Compiling hello")),
            "{lines:?}"
        );
        assert_eq!(out.binaries.len(), 1);
        let exe = &out.binaries[0];
        assert_eq!(exe.name, "hello");
        assert!(exe
            .path
            .starts_with(ws.target_dir.join(&target.target).join("release")));
        let needs = elf::read(&exe.path).unwrap();
        assert!(needs.is_static(), "{needs:?}");
        let arch = Arch::from_apk(&target.arch).unwrap();
        elf::check("bin/hello", &needs, arch, Linkage::Static).unwrap();
        // With no loader and no libraries, it runs with an empty environment.
        let ran = Command::new(&exe.path).env_clear().output().unwrap();
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "Hello, world!\n");
        // Only the requested binary was built.
        assert!(!exe.path.with_file_name("other").exists());
    }

    #[test]
    fn a_dynamic_build_needs_the_loader_and_libc() {
        let dir = tempfile::tempdir().unwrap();
        hello(dir.path(), "fn main() {}\n");
        let ws = Workspace::load(dir.path()).unwrap();
        let target = host_gnu(Linkage::Dynamic);
        let bins = ws.members[0].binaries(&[]).unwrap();
        let (out, _) = run(&ws, &bins, &target);
        let out = out.unwrap();
        let names: Vec<&str> = out.binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["hello", "other"]);
        let needs = elf::read(&out.binaries[0].path).unwrap();
        let arch = Arch::from_apk(&target.arch).unwrap();
        assert_eq!(
            needs.interpreter.as_deref(),
            Some(format!("/{}", arch.glibc_loader).as_str())
        );
        assert!(needs.needed.iter().any(|n| n == "libc.so.6"), "{needs:?}");
        let err = elf::check("bin/hello", &needs, arch, Linkage::Static).unwrap_err();
        assert!(matches!(err, elf::ElfError::NotStatic { .. }), "{err}");
    }

    #[test]
    fn a_compile_error_is_reported_with_cargos_words() {
        let dir = tempfile::tempdir().unwrap();
        hello(dir.path(), "fn main() { let x: u8 = \"no\"; }\n");
        let ws = Workspace::load(dir.path()).unwrap();
        let (out, lines) = run(&ws, &["hello".into()], &host_gnu(Linkage::Static));
        let err = out.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`cargo build` of hello"), "{text}");
        assert!(text.contains("mismatched types"), "{text}");
        assert!(lines.iter().any(|l| l.contains("src/main.rs")), "{lines:?}");
    }

    #[test]
    fn flags_merge_with_the_users() {
        let ours = ["-C".to_owned(), "target-feature=+crt-static".to_owned()];
        assert_eq!(encoded_rustflags(None, None, &ours), None);
        assert_eq!(
            encoded_rustflags(None, Some("-C  opt-level=2 ".into()), &ours).unwrap(),
            "-C\x1fopt-level=2\x1f-C\x1ftarget-feature=+crt-static"
        );
        assert_eq!(
            encoded_rustflags(Some("--cfg\x1fa b".into()), Some("ignored".into()), &ours).unwrap(),
            "--cfg\x1fa b\x1f-C\x1ftarget-feature=+crt-static"
        );
        assert_eq!(
            rustflags_config(
                "x86_64-unknown-linux-gnu",
                &["--remap-path-prefix=/a b=/build".into()]
            ),
            "target.\"x86_64-unknown-linux-gnu\".rustflags=[\"--remap-path-prefix=/a b=/build\"]"
        );
        let ws = Workspace {
            root: "/src/proj".into(),
            target_dir: "/var/tmp/t".into(),
            manifest: "/src/proj/Cargo.toml".into(),
            members: Vec::new(),
        };
        assert_eq!(
            remap_flags(&ws, Path::new("/src/proj/.cargo-home")),
            [
                "--remap-path-prefix=/src/proj=/build",
                "--remap-path-prefix=/var/tmp/t=/target",
                "--remap-path-prefix=/src/proj/.cargo-home=/cargo",
            ]
        );
    }

    #[test]
    fn the_command_names_package_target_and_binaries() {
        let ws = Workspace {
            root: "/src/proj".into(),
            target_dir: "/src/proj/target".into(),
            manifest: "/src/proj/Cargo.toml".into(),
            members: Vec::new(),
        };
        let package = Package {
            id: "path+file:///src/proj/app#1.0.0".into(),
            name: "app".into(),
            version: "1.0.0".into(),
            license: None,
            manifest_path: "/src/proj/app/Cargo.toml".into(),
            bins: vec!["a".into(), "b".into()],
            image: None,
        };
        let target = TargetChoice {
            arch: "aarch64".into(),
            target: "aarch64-unknown-linux-musl".into(),
            linkage: Linkage::Static,
            reason: Reason::Declared,
        };
        let features = Features {
            features: vec!["tls".into(), "json".into()],
            all: false,
            no_default: true,
        };
        let bins = ["a".to_owned(), "b".to_owned()];
        let cmd = command(&BuildRequest {
            workspace: &ws,
            package: &package,
            bins: &bins,
            target: &target,
            features: &features,
            offline: false,
            source_date_epoch: Some(5),
        });
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = args.join(" ");
        for want in [
            "build --release --locked",
            "--manifest-path /src/proj/app/Cargo.toml --target aarch64-unknown-linux-musl -p app@1.0.0 --bin a --bin b",
            "--features tls,json --no-default-features",
        ] {
            assert!(line.contains(want), "{want} in {line}");
        }
        assert_eq!(cmd.get_current_dir(), Some(Path::new("/src/proj")));
        assert!(cmd
            .get_envs()
            .any(|(k, v)| k == "SOURCE_DATE_EPOCH" && v == Some("5".as_ref())));
        let user_flags = ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if !user_flags {
            let config = args.iter().position(|a| a == "--config").unwrap();
            let value = &args[config + 1];
            assert!(
                value.starts_with("target.\"aarch64-unknown-linux-musl\".rustflags=[\"-C\", \"target-feature=+crt-static\", ")
                    && value.contains("\"--remap-path-prefix=/src/proj=/build\""),
                "{value}"
            );
        }
    }

    #[test]
    fn builds_do_not_depend_on_where_the_project_lives() {
        let build_at =
            |dir: &Path| {
                vendor(
                    dir,
                    &[Vendored {
                        name: "where",
                        version: "1.0.0",
                        license: "MIT",
                        manifest: "",
                        lib: "pub fn file() -> &'static str { file!() }\n",
                    }],
                );
                write(
                dir,
                &[
                    (
                        "Cargo.toml",
                        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                         [dependencies]\nwhere = \"1\"\n",
                    ),
                    ("src/main.rs", "fn main() { println!(\"{}\", r#where::file()); }\n"),
                ],
            );
                let ws = Workspace::load(dir).unwrap();
                let (out, _) = run(&ws, &["app".into()], &host_gnu(Linkage::Static));
                std::fs::read(&out.unwrap().binaries[0].path).unwrap()
            };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = build_at(a.path());
        let second = build_at(&b.path().join("elsewhere"));
        assert!(first == second, "the binaries differ");
        let text = String::from_utf8_lossy(&first);
        assert!(
            !text.contains(&*a.path().to_string_lossy()),
            "the project path is in the binary"
        );
        let exe = a.path().join("app.bin");
        std::fs::write(&exe, &first).unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let ran = Command::new(&exe).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout),
            "/build/vendor/where/src/lib.rs\n"
        );
    }

    #[test]
    fn a_linked_shared_library_becomes_a_requirement() {
        let dir = tempfile::tempdir().unwrap();
        let native = testkit::libfoo(dir.path());
        write(
            &dir.path().join("app"),
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                (
                    "build.rs",
                    &format!(
                        "fn main() {{ println!(\"cargo:rustc-link-search=native={}\"); }}\n",
                        native.display()
                    ),
                ),
                (
                    "src/main.rs",
                    "#[link(name = \"foo\")]\nextern \"C\" { fn foo() -> i32; }\n\
                     fn main() { println!(\"{}\", unsafe { foo() }); }\n",
                ),
            ],
        );
        let ws = Workspace::load(&dir.path().join("app")).unwrap();
        let target = host_gnu(Linkage::Dynamic);
        let (out, _) = run(&ws, &["app".into()], &target);
        let exe = &out.unwrap().binaries[0].path;
        let ran = Command::new(exe)
            .env("LD_LIBRARY_PATH", &native)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "42\n");

        let needs = elf::read(exe).unwrap();
        assert!(needs.needed.iter().any(|n| n == "libfoo.so.1"), "{needs:?}");
        // A glibc base with the loader and every other library the binary needs.
        let arch = Arch::from_apk(&target.arch).unwrap();
        let mut files = vec![(arch.glibc_loader.to_owned(), String::new())];
        for lib in needs.needed.iter().filter(|n| *n != "libfoo.so.1") {
            files.push((format!("lib/{}/{lib}", arch.multiarch), String::new()));
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let fs = crate::rust::fixture::rootfs(&files);
        let bins = [elf::Binary {
            label: "bin/app".into(),
            path: "usr/bin/app".into(),
            needs,
        }];
        let without = crate::rust::Base {
            files: &fs,
            packages: &[],
            scratch: false,
        };
        let reqs = elf::requirements(arch, &bins, &without).unwrap();
        let lines: Vec<String> = reqs.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["so:libfoo.so.1 ← bin/app"]);
        let provider = [apk::package::PackageInfo {
            name: "libfoo".into(),
            provides: "so:libfoo.so.1=1.0".into(),
            ..Default::default()
        }];
        let with = crate::rust::Base {
            packages: &provider,
            ..without
        };
        assert!(elf::requirements(arch, &bins, &with).unwrap().is_empty());
    }
}
