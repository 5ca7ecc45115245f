//! `package`, `index` and `keygen`: make signed repositories with our own
//! writer (tests, the bundled example, small in-house packages).

use std::path::PathBuf;
use std::process::ExitCode;

use apk::package::PackageInfo;
use assemble::ops::{self, index::IndexOptions, keygen::KeygenOptions, package::PackageOptions};
use miette::Result;

use super::render;

/// Build time: `--mtime`, else `SOURCE_DATE_EPOCH`, else 0 (reproducible).
fn build_time(explicit: Option<u64>) -> Result<u64> {
    match explicit {
        Some(t) => Ok(t),
        None => Ok(ops::source_date_epoch()?.unwrap_or(0)),
    }
}

#[derive(clap::Args, Debug)]
pub struct PackageArgs {
    /// Directory whose contents become the package's files.
    pub root: PathBuf,
    /// Package name.
    #[arg(long)]
    pub name: String,
    /// Package version (e.g. 1.0.0-r0).
    #[arg(long = "pkgver", value_name = "VERSION")]
    pub version: String,
    /// Architecture (default: this machine's).
    #[arg(long)]
    pub arch: Option<String>,
    /// One-line description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// License expression.
    #[arg(long, default_value = "")]
    pub license: String,
    /// Project URL.
    #[arg(long, default_value = "")]
    pub url: String,
    /// Origin (source package) name.
    #[arg(long, default_value = "")]
    pub origin: String,
    /// Dependency atom (repeatable).
    #[arg(long = "depend")]
    pub depends: Vec<String>,
    /// Provided name[=version] (repeatable).
    #[arg(long = "provide")]
    pub provides: Vec<String>,
    /// Package whose files this one may overwrite (repeatable).
    #[arg(long = "replace")]
    pub replaces: Vec<String>,
    /// install_if atom (repeatable).
    #[arg(long = "install-if")]
    pub install_if: Vec<String>,
    /// Priority among providers of a virtual name.
    #[arg(long)]
    pub provider_priority: Option<u64>,
    /// Control script as KIND=FILE (KIND: pre-install, post-install, …, trigger).
    #[arg(long = "script", value_name = "KIND=FILE")]
    pub scripts: Vec<String>,
    /// Trigger directory glob (repeatable; needs a trigger script).
    #[arg(long = "trigger")]
    pub triggers: Vec<String>,
    /// Private key (PEM); its public half is published as <file stem>.rsa.pub.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Build time in Unix seconds (default: SOURCE_DATE_EPOCH, else 0).
    #[arg(long)]
    pub mtime: Option<u64>,
    /// Output file (default: NAME-VERSION.apk).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn package(a: PackageArgs) -> Result<ExitCode> {
    let info = PackageInfo {
        name: a.name.into(),
        version: a.version.into(),
        arch: a
            .arch
            .unwrap_or_else(|| apk_repo::repository::host_arch().to_owned())
            .into(),
        description: a.description.into(),
        license: a.license.into(),
        url: a.url.into(),
        origin: a.origin.into(),
        depends: a.depends.join(" ").into(),
        provides: a.provides.join(" ").into(),
        replaces: a.replaces.join(" ").into(),
        install_if: a.install_if.join(" ").into(),
        provider_priority: a.provider_priority,
        triggers: a.triggers.join(" ").into(),
        ..Default::default()
    };
    let report = ops::package::package(&PackageOptions {
        root: a.root,
        info,
        scripts: a.scripts,
        sign_key: a.sign_key,
        mtime: build_time(a.mtime)?,
        output: a.output,
    })?;
    render::print(&format!(
        "wrote {} ({} bytes, {})",
        report.path.display(),
        report.size,
        report.checksum.map(|c| c.to_string()).unwrap_or_default()
    ));
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct IndexArgs {
    /// Package files to index.
    #[arg(required = true, value_name = "FILE.apk")]
    pub files: Vec<PathBuf>,
    /// Output file.
    #[arg(long, short, default_value = "APKINDEX.tar.gz")]
    pub output: PathBuf,
    /// Private key to sign the index with.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Text for the DESCRIPTION entry.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Entry time in Unix seconds (default: SOURCE_DATE_EPOCH, else 0).
    #[arg(long)]
    pub mtime: Option<u64>,
}

pub fn index(a: IndexArgs) -> Result<ExitCode> {
    let report = ops::index::index(&IndexOptions {
        files: a.files,
        output: a.output,
        sign_key: a.sign_key,
        description: a.description,
        mtime: build_time(a.mtime)?,
    })?;
    render::print(&format!(
        "wrote {} ({})",
        report.path.display(),
        assemble::plan::count(report.packages, "package")
    ));
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Key name; writes NAME.rsa (private) and NAME.rsa.pub (public).
    pub name: String,
    /// Directory to write into.
    #[arg(long, short = 'd', default_value = ".")]
    pub dir: PathBuf,
    /// Key size in bits (at least 2048).
    #[arg(long, default_value_t = 4096)]
    pub bits: usize,
    /// Replace existing key files of that name.
    #[arg(long)]
    pub force: bool,
}

pub fn keygen(a: KeygenArgs) -> Result<ExitCode> {
    let report = ops::keygen::keygen(&KeygenOptions {
        name: a.name,
        dir: a.dir,
        bits: a.bits,
        force: a.force,
    })?;
    render::print(&format!(
        "wrote {} and {}",
        report.private.display(),
        report.public.display()
    ));
    Ok(ExitCode::SUCCESS)
}
