//! The last applied state, kept in git so any clone can read it.
//!
//! `apply` records what it built (per image: the declaration's tags,
//! annotations, environment and architectures; per architecture: the
//! source digest, the added packages and the output digest) as
//! `state.json` in a commit on the ref `refs/assembly/state`; each apply
//! adds a commit on top of the previous one, so the history of applies is
//! kept too. The ref travels with ordinary git: CI fetches it with
//! `git fetch origin 'refs/assembly/*:refs/assembly/*'`, and `apply` pushes
//! nothing by itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lock::LockedPlatform;

/// The ref holding the applied state.
pub const STATE_REF: &str = "refs/assembly/state";

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

/// The applied state of a repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedState {
    /// Format version (1).
    pub version: u32,
    /// When (Unix seconds).
    pub applied_at: u64,
    /// Images.
    pub images: Vec<ImageState>,
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

fn git_err(path: &Path) -> impl Fn(git2::Error) -> StateError + '_ {
    move |e| StateError::Git {
        path: path.to_owned(),
        message: e.message().to_owned(),
    }
}

/// The git repository containing `dir`.
pub(crate) fn repository(dir: &Path) -> Result<git2::Repository, StateError> {
    git2::Repository::discover(dir).map_err(|e| StateError::Git {
        path: dir.to_owned(),
        message: format!(
            "{} (plan and apply keep their state in git: run them inside a git repository)",
            e.message()
        ),
    })
}

/// Reads the last applied state; `None` when nothing was ever applied.
pub fn read(dir: &Path) -> Result<Option<AppliedState>, StateError> {
    let repo = repository(dir)?;
    let Ok(reference) = repo.find_reference(STATE_REF) else {
        return Ok(None);
    };
    let commit = reference.peel_to_commit().map_err(git_err(dir))?;
    let tree = commit.tree().map_err(git_err(dir))?;
    let entry = tree
        .get_name("state.json")
        .ok_or_else(|| StateError::Format("the commit has no state.json".into()))?;
    let blob = repo.find_blob(entry.id()).map_err(git_err(dir))?;
    let state: AppliedState =
        serde_json::from_slice(blob.content()).map_err(|e| StateError::Format(e.to_string()))?;
    Ok(Some(state))
}

/// Records `state` as a new commit on [`STATE_REF`].
pub fn write(dir: &Path, state: &AppliedState, message: &str) -> Result<git2::Oid, StateError> {
    let repo = repository(dir)?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| StateError::Format(e.to_string()))?;
    let blob = repo.blob(&json).map_err(git_err(dir))?;
    let mut builder = repo.treebuilder(None).map_err(git_err(dir))?;
    builder
        .insert("state.json", blob, 0o100644)
        .map_err(git_err(dir))?;
    let tree_id = builder.write().map_err(git_err(dir))?;
    let tree = repo.find_tree(tree_id).map_err(git_err(dir))?;
    let sig = repo
        .signature()
        .or_else(|_| git2::Signature::now("cargo-assemble", "cargo-assemble@localhost"))
        .map_err(git_err(dir))?;
    let parent = repo
        .find_reference(STATE_REF)
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit = repo
        .commit(None, &sig, &sig, message, &tree, &parents)
        .map_err(git_err(dir))?;
    repo.reference(STATE_REF, commit, true, message)
        .map_err(git_err(dir))?;
    Ok(commit)
}

/// The text of `path` (relative to the repository's work tree) at `rev`,
/// read from git objects without a checkout; `None` when absent there.
pub fn file_at(dir: &Path, rev: &str, path: &Path) -> Result<Option<String>, StateError> {
    let repo = repository(dir)?;
    let object = repo.revparse_single(rev).map_err(git_err(dir))?;
    let tree = object.peel_to_tree().map_err(git_err(dir))?;
    let workdir = repo.workdir().ok_or_else(|| StateError::Git {
        path: dir.to_owned(),
        message: "the repository has no work tree".into(),
    })?;
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let workdir = std::fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_owned());
    let relative = absolute.strip_prefix(&workdir).unwrap_or(path);
    let Ok(entry) = tree.get_path(relative) else {
        return Ok(None);
    };
    let blob = repo.find_blob(entry.id()).map_err(git_err(dir))?;
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_a_ref() {
        let tmp = tempfile::tempdir().unwrap();
        git2::Repository::init(tmp.path()).unwrap();
        assert_eq!(read(tmp.path()).unwrap(), None);
        let state = AppliedState {
            version: 1,
            applied_at: 5,
            images: vec![ImageState {
                name: "img".into(),
                ..Default::default()
            }],
        };
        write(tmp.path(), &state, "apply 1").unwrap();
        assert_eq!(read(tmp.path()).unwrap(), Some(state.clone()));
        let mut second = state.clone();
        second.applied_at = 6;
        write(tmp.path(), &second, "apply 2").unwrap();
        let repo = repository(tmp.path()).unwrap();
        let head = repo
            .find_reference(STATE_REF)
            .unwrap()
            .peel_to_commit()
            .unwrap();
        assert_eq!(head.parent_count(), 1, "applies form a history");
        assert_eq!(read(tmp.path()).unwrap(), Some(second));
    }
}
