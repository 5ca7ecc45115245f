//! `plan --server` and `apply --server`: a project's images against a build
//! service instead of the local state.
//!
//! Each image is sent as its declaration with every local path absolute
//! ([`assemble::config::image_to_value`]). The plan is the server's dry run:
//! the declaration resolved against the repo's last successful build, in
//! the same change objects as a local plan, so it renders the same way.
//! Applying stores each declaration (the server queues a build when it
//! changed; an unchanged one whose plan still differs, e.g. after a failed
//! build, is rebuilt on request), then [`wait`] follows a build to its end
//! and [`record_lock`] writes its `locked_config` into `assembly.lock`.

use std::io::Write;

use assemble::config;
use assemble::lock::{self, LockError};
use assemble::ops::Project;
use assemble::plan::{self as diff, ImagePlan, Plan};
use assemble::state::ImageState;

use crate::api::{BuildReport, BuildResult, Change};
use crate::client::{Client, ClientError};

/// Why a remote plan or apply failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server refused a call or could not be reached.
    #[error("image '{image}': {error}")]
    Server {
        /// The image being sent.
        image: String,
        /// What the server said.
        #[source]
        error: ClientError,
    },
    /// A change object the client does not know (a newer server).
    #[error("image '{image}': the server sent a change this client does not know: {change}")]
    UnknownChange {
        /// The image.
        image: String,
        /// The change as JSON.
        change: String,
    },
    /// A successful build without a readable `locked_config`.
    #[error("build {build}: its locked_config is missing or unreadable")]
    LockedConfig {
        /// Build id.
        build: String,
    },
    /// `assembly.lock` cannot be read or written.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// The plan of every image of `project` on the server: dry runs, nothing
/// stored.
pub fn plan(client: &Client, project: &Project) -> Result<Plan, RemoteError> {
    let mut images = Vec::new();
    let mut never_applied = true;
    for image in &project.images {
        let name = image.name.value.clone();
        let answer = client
            .put_repo(&name, &config::image_to_value(image), true)
            .map_err(|error| RemoteError::Server {
                image: name.clone(),
                error,
            })?;
        let changes = answer
            .changes
            .iter()
            .map(|c| to_plan_change(&name, c))
            .collect::<Result<Vec<_>, _>>()?;
        never_applied &= changes.first() == Some(&diff::Change::CreateImage);
        if !changes.is_empty() {
            images.push(ImagePlan { name, changes });
        }
    }
    Ok(Plan {
        format_version: 1,
        never_applied,
        images,
    })
}

fn to_plan_change(image: &str, change: &Change) -> Result<diff::Change, RemoteError> {
    let json = serde_json::to_value(change).unwrap_or_default();
    serde_json::from_value(json.clone()).map_err(|_| RemoteError::UnknownChange {
        image: image.to_owned(),
        change: json.to_string(),
    })
}

/// A build the server runs for an image of the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The image (repo) name.
    pub image: String,
    /// The build applying it.
    pub build_id: String,
}

/// Stores the declaration of each image of `plan` (those with changes) on
/// the server and returns the builds that apply them.
pub fn submit(
    client: &Client,
    project: &Project,
    plan: &Plan,
) -> Result<Vec<Submitted>, RemoteError> {
    let mut builds = Vec::new();
    for image in &project.images {
        let name = image.name.value.clone();
        if !plan.images.iter().any(|i| i.name == name) {
            continue;
        }
        let server = |error| RemoteError::Server {
            image: name.clone(),
            error,
        };
        let answer = client
            .put_repo(&name, &config::image_to_value(image), false)
            .map_err(server)?;
        // The stored declaration was already this one (its last build
        // failed, or a package moved on): rebuild it.
        let build_id = match answer.build_id {
            Some(id) => id,
            None => client.trigger_build(&name).map_err(server)?.build_id,
        };
        builds.push(Submitted {
            image: name,
            build_id,
        });
    }
    Ok(builds)
}

/// Follows the log of `build` to `log` until the build ends, and returns
/// its final report.
pub fn wait(
    client: &Client,
    build: &Submitted,
    log: &mut dyn Write,
) -> Result<BuildReport, RemoteError> {
    let server = |error| RemoteError::Server {
        image: build.image.clone(),
        error,
    };
    client
        .build_log(&build.build_id, true, log)
        .map_err(server)?;
    // The followed log ends with the build; a dropped stream ends early.
    loop {
        let report = client.build_report(&build.build_id).map_err(server)?;
        if report.result.is_final() {
            return Ok(report);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Records the versions and digests of a successful `report` in the
/// project's `assembly.lock`.
pub fn record_lock(project: &Project, report: &BuildReport) -> Result<(), RemoteError> {
    let missing = || RemoteError::LockedConfig {
        build: report.id.clone(),
    };
    if report.result != BuildResult::Success {
        return Err(missing());
    }
    let state: ImageState = report
        .locked_config
        .clone()
        .and_then(|c| serde_json::from_value(c).ok())
        .ok_or_else(missing)?;
    let mut lock = lock::read(&project.declaration)?;
    for platform in state.platforms {
        lock.set_platform(&report.repo, platform);
    }
    lock.version = 1;
    lock::write(&project.declaration, &lock)?;
    Ok(())
}
