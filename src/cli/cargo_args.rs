//! `-p NAME` and `--manifest-path`, as cargo spells them, for the verbs
//! that work on a project's images.

use std::path::PathBuf;

use assemble::ops::project::CargoSelection;

/// Which packages of a cargo workspace.
#[derive(clap::Args, Debug, Default)]
pub struct CargoArgs {
    /// Only the images of this package of the cargo workspace (repeatable; default: the
    /// current package, or every member with [package.metadata.image] from the root).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// The Cargo.toml to start from (default: the nearest one at or above the current
    /// directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

impl CargoArgs {
    /// The selection for `assemble::ops::Project`.
    pub fn selection(&self) -> CargoSelection {
        CargoSelection {
            manifest_path: self.manifest_path.clone(),
            packages: self.packages.clone(),
        }
    }
}
