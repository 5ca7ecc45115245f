//! `package`, `index` and `keygen`: make signed repositories with our own
//! writer (tests, the bundled example, small in-house packages).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apk::index::archive::{self, WriteError};
use apk::package::read::{self, ReadOptions, Script, SignatureCheck, VerifyOnly};
use apk::package::{write as pkgwrite, PackageInfo};
use apk::signature::{Keyring, SigningKey};
use miette::{miette, IntoDiagnostic, Result};

/// Build time: `--mtime`, else `SOURCE_DATE_EPOCH`, else 0 (reproducible).
fn build_time(explicit: Option<u64>) -> Result<u64> {
    if let Some(t) = explicit {
        return Ok(t);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().map_err(|_| {
            miette!("SOURCE_DATE_EPOCH must be a whole number of seconds, found '{v}'")
        }),
        Err(_) => Ok(0),
    }
}

fn signing_key(path: &Option<PathBuf>) -> Result<Option<SigningKey>> {
    path.as_ref()
        .map(|p| SigningKey::load(p, None).into_diagnostic())
        .transpose()
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
        name: a.name.clone().into(),
        version: a.version.clone().into(),
        arch: a
            .arch
            .clone()
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
    if let Some(p) = info.problems().first() {
        return Err(miette!("package {}: {p}", info.name_version()));
    }
    let scripts = a
        .scripts
        .iter()
        .map(|s| {
            let (kind, file) = s
                .split_once('=')
                .ok_or_else(|| miette!("--script takes KIND=FILE, got '{s}'"))?;
            let content =
                std::fs::read(file).map_err(|e| miette!("cannot read script {file}: {e}"))?;
            Ok(Script {
                kind: kind.to_owned(),
                content,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let out = a
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.apk", info.name_version())));
    let key = signing_key(&a.sign_key)?;
    let meta = pkgwrite::build(
        &a.root,
        &info,
        &scripts,
        key.as_ref(),
        build_time(a.mtime)?,
        &out,
    )
    .map_err(|e| miette!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} ({} bytes, {})",
        out.display(),
        meta.size.unwrap_or(0),
        meta.checksum.map(|c| c.to_string()).unwrap_or_default()
    );
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
    let keyring = Keyring::new();
    let options = ReadOptions {
        keyring: &keyring,
        signature: SignatureCheck::Skip,
        expected_identity: None,
    };
    let mut infos = a
        .files
        .iter()
        .map(|f| {
            read::read_file(f, &options, &mut VerifyOnly)
                .map(|c| c.info)
                .into_diagnostic()
        })
        .collect::<Result<Vec<_>>>()?;
    infos.sort_by(|x, y| (&x.name, &x.version).cmp(&(&y.name, &y.version)));
    let key = signing_key(&a.sign_key)?;
    let mtime = build_time(a.mtime)?;
    assemble_io::atomic::write_file::<_, WriteError>(&a.output, |w| {
        archive::write(w, infos.iter(), &a.description, key.as_ref(), mtime)
    })
    .map_err(|e| miette!("cannot write {}: {e}", a.output.display()))?;
    println!("wrote {} ({} packages)", a.output.display(), infos.len());
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Key name; writes NAME.rsa (private) and NAME.rsa.pub (public).
    pub name: String,
    /// Directory to write into.
    #[arg(long, short = 'd', default_value = ".")]
    pub dir: PathBuf,
    /// Key size in bits.
    #[arg(long, default_value_t = 4096)]
    pub bits: usize,
}

fn write_text(path: &Path, text: &str, private: bool) -> Result<()> {
    let write = |w: &mut std::io::BufWriter<&mut std::fs::File>| {
        std::io::Write::write_all(w, text.as_bytes())
    };
    if private {
        assemble_io::atomic::write_private_file(path, write)
    } else {
        assemble_io::atomic::write_file(path, write)
    }
    .map_err(|e: std::io::Error| miette!("cannot write {}: {e}", path.display()))
}

pub fn keygen(a: KeygenArgs) -> Result<ExitCode> {
    let public_name = format!("{}.rsa.pub", a.name);
    let key = SigningKey::generate(&public_name, a.bits).into_diagnostic()?;
    let private = a.dir.join(format!("{}.rsa", a.name));
    write_text(&private, &key.private_pem().into_diagnostic()?, true)?;
    write_text(
        &a.dir.join(&public_name),
        &key.public_pem().into_diagnostic()?,
        false,
    )?;
    println!(
        "wrote {} and {}",
        private.display(),
        a.dir.join(&public_name).display()
    );
    Ok(ExitCode::SUCCESS)
}
