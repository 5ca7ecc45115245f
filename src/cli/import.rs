//! `cargo assemble import`: an apko or overlay YAML → assembly.toml.

use std::path::PathBuf;
use std::process::ExitCode;

use assemble::import::Format;
use assemble::ops::import::{self, ImportOptions};
use miette::Result;

use super::render;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The apko configuration or Custom Assembly overlay (YAML).
    pub file: PathBuf,
    /// Write assembly.toml here (default: print it).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The image name (default: the file's name up to the first dot).
    #[arg(long)]
    pub name: Option<String>,
    /// The base image (an overlay names none): docker://…, oci:DIR[:REF], oci-archive:FILE or scratch.
    #[arg(long)]
    pub source: Option<String>,
    /// The format (default: guessed from the fields).
    #[arg(long, value_enum)]
    pub format: Option<YamlFormat>,
}

/// The YAML formats `import` reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum YamlFormat {
    /// An apko image configuration.
    Apko,
    /// A Custom Assembly overlay.
    Overlay,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let options = ImportOptions {
        file: args.file,
        output: args.output,
        name: args.name,
        source: args.source,
        format: args.format.map(|f| match f {
            YamlFormat::Apko => Format::Apko,
            YamlFormat::Overlay => Format::Overlay,
        }),
    };
    let report = import::import(&options)?;
    match &report.written {
        Some(path) => render::eprint(&format!(
            "wrote {} from the {}",
            path.display(),
            report.format
        )),
        None => render::print(report.toml.trim_end()),
    }
    render::eprint(&super::export::left_out(&report.unexpressed));
    Ok(ExitCode::SUCCESS)
}
