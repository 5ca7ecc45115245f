//! The last applied state, kept in git so any clone can read it.
//!
//! `apply` records what it built (per image: the declaration's tags,
//! annotations, environment and architectures; per architecture: the
//! source digest, the added packages and the output digest) in
//! `state.json` in a commit on the ref `refs/assembly/state`; each apply
//! adds a commit on top of the previous one, so the history of applies is
//! kept too. The ref travels with ordinary git: CI fetches it with
//! `git fetch origin 'refs/assembly/*:refs/assembly/*'`, and `apply` pushes
//! nothing by itself.
//!
//! One repository often holds several declarations (`svc-a/assembly.toml`,
//! `svc-b/assembly.toml`): the state is kept **per declaration file**,
//! keyed by its path relative to the work tree, and an apply replaces only
//! its own entry. The first format (version 1: one state for the whole
//! repository) is still read: its images count as applied for a
//! declaration that has no entry of its own and declares them, until that
//! declaration is applied again.
//!
//! Git is driven through the `git` program and a handful of plumbing
//! commands (`rev-parse`, `cat-file`, `hash-object`, `mktree`,
//! `commit-tree`, `update-ref`). Recording is serialised by a lock file of
//! our own in the git directory; while it is held, a git ref lock
//! (`refs/assembly/state.lock`) that stays is the leftover of a killed
//! apply and is removed (and reported) rather than blocking every later
//! apply.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::lock::LockedPlatform;

/// The ref holding the applied state.
pub const STATE_REF: &str = "refs/assembly/state";

/// The file in the state commit.
const STATE_FILE: &str = "state.json";

/// How long a git ref lock may stay before it counts as a leftover: git
/// itself holds one only for the moment of an update.
const STALE_REF_LOCK: Duration = Duration::from_secs(2);

/// What one image looked like when applied (or, for a plan, should look).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageState {
    /// Image name.
    pub name: String,
    /// Source as declared.
    pub source: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Environment.
    pub environment: BTreeMap<String, String>,
    /// Accounts, certificates, runtime repositories and keys, SBOM
    /// formats, one line each (`accounts.users.app` → `uid 10001 …`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extras: BTreeMap<String, String>,
    /// Per architecture.
    pub platforms: Vec<LockedPlatform>,
}

impl ImageState {
    /// The added packages' versions, per architecture (pins for the next
    /// resolution).
    pub fn versions(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.platforms
            .iter()
            .map(|p| {
                let packages = p.packages.iter();
                let versions = packages.map(|k| (k.name.clone(), k.version.clone()));
                (p.arch.clone(), versions.collect())
            })
            .collect()
    }
}

/// The applied state of one declaration file (in format version 1, of the
/// whole repository).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedState {
    /// Format version of this entry (1).
    pub version: u32,
    /// When (Unix seconds).
    pub applied_at: u64,
    /// Images.
    pub images: Vec<ImageState>,
}

/// `state.json`, format version 2.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    /// 2.
    version: u32,
    /// Per declaration file, by its path relative to the work tree.
    declarations: BTreeMap<String, AppliedState>,
    /// The repository-wide state of format version 1, less the images a
    /// declaration has since been applied with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    legacy: Option<AppliedState>,
}

impl Stored {
    fn parse(bytes: &[u8]) -> Result<Stored, StateError> {
        let format = |e: serde_json::Error| StateError::Format(e.to_string());
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(format)?;
        if value.get("declarations").is_some() {
            return serde_json::from_value(value).map_err(format);
        }
        let legacy: AppliedState = serde_json::from_value(value).map_err(format)?;
        Ok(Stored {
            version: 2,
            declarations: BTreeMap::new(),
            legacy: Some(legacy),
        })
    }

    /// The state of `key`, or else the legacy images it declares.
    fn get(&self, key: &str, names: &[&str]) -> Option<AppliedState> {
        if let Some(s) = self.declarations.get(key) {
            return Some(s.clone());
        }
        let legacy = self.legacy.as_ref()?;
        let images: Vec<ImageState> = legacy
            .images
            .iter()
            .filter(|i| names.contains(&i.name.as_str()))
            .cloned()
            .collect();
        (!images.is_empty()).then(|| AppliedState {
            images,
            ..legacy.clone()
        })
    }

    /// Records `state` for `key`; its images leave the legacy state.
    fn set(&mut self, key: String, state: AppliedState) {
        if let Some(legacy) = &mut self.legacy {
            legacy
                .images
                .retain(|i| !state.images.iter().any(|s| s.name == i.name));
            if legacy.images.is_empty() {
                self.legacy = None;
            }
        }
        self.version = 2;
        self.declarations.insert(key, state);
    }
}

/// The state cannot be read or recorded.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not in a git repository, or git failed.
    #[error("{}: {message}", path.display())]
    Git {
        /// Where we looked.
        path: PathBuf,
        /// What git said.
        message: String,
    },
    /// The recorded state is not readable.
    #[error("{STATE_REF}: {0}")]
    Format(String),
}

/// What recording the state did besides the commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The new state commit.
    pub commit: String,
    /// A git ref lock left by an interrupted apply that was removed.
    pub removed_stale_lock: Option<PathBuf>,
}

/// The git work tree holding a directory, driven through `git`.
struct Git {
    /// The directory commands run in.
    dir: PathBuf,
}

impl Git {
    /// The repository containing `dir`.
    fn discover(dir: &Path) -> Result<Git, StateError> {
        let git = Git {
            dir: if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_owned()
            },
        };
        git.run(&["rev-parse", "--show-toplevel"], None)
            .map_err(|e| StateError::Git {
                path: dir.to_owned(),
                message: format!(
                    "{} (plan and apply keep their state in git: run them inside a git \
                     repository, or `git init` one)",
                    match e {
                        StateError::Git { message, .. } => message,
                        other => other.to_string(),
                    }
                ),
            })?;
        Ok(git)
    }

    fn command(&self) -> Command {
        let mut c = Command::new("git");
        c.arg("-C").arg(&self.dir);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn error(&self, message: impl Into<String>) -> StateError {
        StateError::Git {
            path: self.dir.clone(),
            message: message.into(),
        }
    }

    /// Runs git; its standard output on success, its message otherwise.
    fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<String, StateError> {
        self.run_with(self.command(), args, input)?
            .ok_or_else(|| self.error(format!("git {} failed", args.join(" "))))
    }

    /// Like [`Git::run`], but `None` when git exits with status 1 and says
    /// nothing (a `--verify -q` or `-e` that found nothing).
    fn run_with(
        &self,
        mut command: Command,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Option<String>, StateError> {
        command.args(args);
        if input.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|e| {
            self.error(format!(
                "cannot run git ({e}); plan and apply need the git program"
            ))
        })?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(bytes)
                .map_err(|e| self.error(format!("writing to git {}: {e}", args[0])))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| self.error(format!("git {}: {e}", args[0])))?;
        if out.status.success() {
            return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if out.status.code() == Some(1) && said.is_empty() {
            return Ok(None);
        }
        Err(self.error(if said.is_empty() {
            format!("git {} failed ({})", args.join(" "), out.status)
        } else {
            said
        }))
    }

    /// The commit a ref points at, if any.
    fn commit_of(&self, reference: &str) -> Result<Option<String>, StateError> {
        let spec = format!("{reference}^{{commit}}");
        Ok(self
            .run_with(
                self.command(),
                &["rev-parse", "--verify", "-q", &spec],
                None,
            )?
            .map(|s| s.trim().to_owned()))
    }

    /// The work tree's root.
    fn toplevel(&self) -> Result<PathBuf, StateError> {
        Ok(PathBuf::from(
            self.run(&["rev-parse", "--show-toplevel"], None)?.trim(),
        ))
    }

    /// The directory holding refs (shared by all worktrees).
    fn common_dir(&self) -> Result<PathBuf, StateError> {
        let dir = PathBuf::from(self.run(&["rev-parse", "--git-common-dir"], None)?.trim());
        Ok(if dir.is_absolute() {
            dir
        } else {
            self.dir.join(dir)
        })
    }

    /// `path` relative to the work tree, `/`-separated.
    fn relative(&self, path: &Path) -> Result<String, StateError> {
        let top = self.toplevel()?;
        let top = std::fs::canonicalize(&top).unwrap_or(top);
        // The file itself may be gone from the work tree (`plan --base`
        // of a deleted lock): its directory still places it.
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| {
            let dir =
                std::fs::canonicalize(parent(path)).unwrap_or_else(|_| parent(path).to_owned());
            dir.join(path.file_name().unwrap_or_default())
        });
        let relative = absolute.strip_prefix(&top).map_err(|_| {
            self.error(format!(
                "{} is outside the git work tree {}",
                path.display(),
                top.display()
            ))
        })?;
        Ok(relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"))
    }

    /// The stored document at [`STATE_REF`], with its commit.
    fn stored(&self) -> Result<Option<(String, Stored)>, StateError> {
        let Some(commit) = self.commit_of(STATE_REF)? else {
            return Ok(None);
        };
        let spec = format!("{commit}:{STATE_FILE}");
        let json = self
            .run_with(self.command(), &["cat-file", "blob", &spec], None)
            .map_err(|_| StateError::Format(format!("the commit has no {STATE_FILE}")))?
            .ok_or_else(|| StateError::Format(format!("the commit has no {STATE_FILE}")))?;
        Ok(Some((commit, Stored::parse(json.as_bytes())?)))
    }
}

/// The key of a declaration file in the stored state.
fn declaration_key(git: &Git, declaration: &Path) -> Result<String, StateError> {
    git.relative(declaration)
}

/// Reads the state last applied from `declaration` (whose images are
/// `names`); `None` when it was never applied.
pub fn read(declaration: &Path, names: &[&str]) -> Result<Option<AppliedState>, StateError> {
    let git = Git::discover(parent(declaration))?;
    let Some((_, stored)) = git.stored()? else {
        return Ok(None);
    };
    Ok(stored.get(&declaration_key(&git, declaration)?, names))
}

/// Records `state` as the state of `declaration` in a new commit on
/// [`STATE_REF`], keeping the other declarations' states.
pub fn write(
    declaration: &Path,
    state: &AppliedState,
    message: &str,
) -> Result<Recorded, StateError> {
    let git = Git::discover(parent(declaration))?;
    let key = declaration_key(&git, declaration)?;
    let common = git.common_dir()?;
    let _guard = lock_state(&git, &common)?;
    let removed_stale_lock = clear_stale_ref_lock(&git, &common)?;

    let previous = git.stored()?;
    let (parent_commit, mut stored) = match previous {
        Some((c, s)) => (Some(c), s),
        None => (None, Stored::default()),
    };
    stored.set(key, state.clone());
    let json = serde_json::to_vec_pretty(&stored).map_err(|e| StateError::Format(e.to_string()))?;
    let blob = git.run(&["hash-object", "-w", "--stdin"], Some(&json))?;
    let entry = format!("100644 blob {}\t{STATE_FILE}\n", blob.trim());
    let tree = git.run(&["mktree"], Some(entry.as_bytes()))?;
    let mut args = vec!["commit-tree", tree.trim(), "-m", message];
    if let Some(p) = &parent_commit {
        args.extend(["-p", p.as_str()]);
    }
    let mut command = git.command();
    if !has_identity(&git)? {
        for (k, v) in [
            ("GIT_AUTHOR_NAME", "cargo-assemble"),
            ("GIT_AUTHOR_EMAIL", "cargo-assemble@localhost"),
            ("GIT_COMMITTER_NAME", "cargo-assemble"),
            ("GIT_COMMITTER_EMAIL", "cargo-assemble@localhost"),
        ] {
            command.env(k, v);
        }
    }
    let commit = git
        .run_with(command, &args, None)?
        .ok_or_else(|| git.error("git commit-tree failed"))?;
    let commit = commit.trim().to_owned();
    // Compare-and-swap: the ref must still be where we read it.
    let zero = "0".repeat(40);
    let old = parent_commit.as_deref().unwrap_or(&zero);
    git.run(
        &["update-ref", "-m", message, STATE_REF, &commit, old],
        None,
    )?;
    Ok(Recorded {
        commit,
        removed_stale_lock,
    })
}

/// Whether git has a committer identity configured (else commits get ours).
fn has_identity(git: &Git) -> Result<bool, StateError> {
    if std::env::var_os("GIT_COMMITTER_EMAIL").is_some() || std::env::var_os("EMAIL").is_some() {
        return Ok(true);
    }
    Ok(git
        .run_with(git.command(), &["config", "user.email"], None)?
        .is_some_and(|s| !s.trim().is_empty()))
}

/// Our own lock on recording the state of this repository (a file in the
/// git directory, locked with `flock`, released when dropped or when the
/// process dies).
fn lock_state(git: &Git, common: &Path) -> Result<std::fs::File, StateError> {
    let path = common.join("assembly-state.lock");
    let err = |e: std::io::Error| git.error(format!("cannot lock {}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(err)?;
    file.lock().map_err(err)?;
    Ok(file)
}

/// With our lock held no apply is updating the ref, so a git ref lock that
/// stays longer than git ever holds one was left by a killed apply: it is
/// removed. Returns its path when it was.
fn clear_stale_ref_lock(git: &Git, common: &Path) -> Result<Option<PathBuf>, StateError> {
    let lock = common.join(format!("{STATE_REF}.lock"));
    let started = SystemTime::now();
    loop {
        let Ok(meta) = std::fs::symlink_metadata(&lock) else {
            return Ok(None);
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        let waited = started.elapsed().unwrap_or_default();
        if age >= STALE_REF_LOCK || waited >= STALE_REF_LOCK {
            std::fs::remove_file(&lock).map_err(|e| {
                git.error(format!(
                    "{} is a git ref lock left by an interrupted apply, and it cannot be \
                     removed: {e}",
                    lock.display()
                ))
            })?;
            return Ok(Some(lock));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The text of `path` at `rev`, read from git objects without a checkout;
/// `None` when absent there.
pub fn file_at(rev: &str, path: &Path) -> Result<Option<String>, StateError> {
    let git = Git::discover(parent(path))?;
    let spec = format!("{rev}^{{tree}}");
    if git
        .run_with(git.command(), &["rev-parse", "--verify", "-q", &spec], None)?
        .is_none()
    {
        return Err(git.error(format!("unknown revision '{rev}'")));
    }
    let object = format!("{rev}:{}", git.relative(path)?);
    if git
        .run_with(git.command(), &["cat-file", "-e", &object], None)
        .ok()
        .flatten()
        .is_none()
    {
        return Ok(None);
    }
    git.run(&["cat-file", "blob", &object], None).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let o = Command::new("git")
            .current_dir(dir)
            .args(["-c", "init.defaultBranch=main"])
            .args(args)
            .output()
            .expect("the tests of the state need the git program");
        assert!(o.status.success(), "git {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn state(at: u64, names: &[&str]) -> AppliedState {
        AppliedState {
            version: 1,
            applied_at: at,
            images: names
                .iter()
                .map(|n| ImageState {
                    name: (*n).into(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn state_round_trips_through_a_ref() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        let decl = tmp.path().join("assembly.toml");
        assert_eq!(read(&decl, &["img"]).unwrap(), None);
        let first = state(5, &["img"]);
        write(&decl, &first, "apply 1").unwrap();
        assert_eq!(read(&decl, &["img"]).unwrap(), Some(first));
        let second = state(6, &["img"]);
        write(&decl, &second, "apply 2").unwrap();
        let parents = git(tmp.path(), &["rev-list", "--count", STATE_REF]);
        assert_eq!(parents.trim(), "2", "applies form a history");
        assert_eq!(read(&decl, &["img"]).unwrap(), Some(second));
    }

    #[test]
    fn each_declaration_keeps_its_own_state() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        let a = tmp.path().join("svc-a/assembly.toml");
        let b = tmp.path().join("svc-b/assembly.toml");
        std::fs::create_dir_all(a.parent().unwrap()).unwrap();
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        write(&a, &state(1, &["app"]), "a").unwrap();
        write(&b, &state(2, &["app"]), "b").unwrap();
        assert_eq!(read(&a, &["app"]).unwrap(), Some(state(1, &["app"])));
        assert_eq!(read(&b, &["app"]).unwrap(), Some(state(2, &["app"])));
    }

    #[test]
    fn the_first_format_is_read_and_migrated() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        // A version-1 state made the way the first releases made it.
        let old = serde_json::to_vec_pretty(&state(3, &["a", "b"])).unwrap();
        std::fs::write(tmp.path().join("s.json"), &old).unwrap();
        let blob = git(tmp.path(), &["hash-object", "-w", "s.json"]);
        let tree = {
            let mut c = Command::new("git")
                .current_dir(tmp.path())
                .arg("mktree")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let line = format!("100644 blob {}\tstate.json\n", blob.trim());
            c.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
            String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
        };
        let commit = git(
            tmp.path(),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit-tree",
                tree.trim(),
                "-m",
                "v1",
            ],
        );
        git(tmp.path(), &["update-ref", STATE_REF, commit.trim()]);

        let a = tmp.path().join("a/assembly.toml");
        let b = tmp.path().join("b/assembly.toml");
        std::fs::create_dir_all(a.parent().unwrap()).unwrap();
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        assert_eq!(read(&a, &["a"]).unwrap().unwrap().images[0].name, "a");
        assert_eq!(read(&a, &["zzz"]).unwrap(), None);
        // Applying `a` moves its image out of the old state; `b` keeps its own.
        write(&a, &state(4, &["a"]), "a").unwrap();
        assert_eq!(read(&a, &["a"]).unwrap(), Some(state(4, &["a"])));
        let b_state = read(&b, &["b"]).unwrap().unwrap();
        assert_eq!(b_state.applied_at, 3);
        assert_eq!(b_state.images.len(), 1);
    }

    #[test]
    fn a_stale_ref_lock_is_removed_and_reported() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        let decl = tmp.path().join("assembly.toml");
        write(&decl, &state(1, &["x"]), "1").unwrap();
        // What a kill -9 during `git update-ref` leaves behind.
        let lock = tmp.path().join(".git/refs/assembly/state.lock");
        std::fs::write(&lock, "").unwrap();
        let old = std::fs::File::options().write(true).open(&lock).unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        let recorded = write(&decl, &state(2, &["x"]), "2").unwrap();
        assert_eq!(recorded.removed_stale_lock.as_deref(), Some(lock.as_path()));
        assert!(!lock.exists());
        assert_eq!(read(&decl, &["x"]).unwrap(), Some(state(2, &["x"])));
    }

    #[test]
    fn outside_git_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let e = read(&tmp.path().join("assembly.toml"), &[]).unwrap_err();
        assert!(e.to_string().contains("git init"), "{e}");
    }
}
