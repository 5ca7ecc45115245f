//! `cargo assemble export`: a declared image in another format.

use std::path::PathBuf;
use std::process::ExitCode;

use assemble::import::Unexpressed;
use assemble::ops::export::{self, ExportFormat, ExportOptions};
use miette::Result;

use super::render;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// assembly.toml or Cargo.toml (default: found in the current directory).
    pub path: Option<PathBuf>,
    /// The format to write.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The image (required when several are declared).
    #[arg(long)]
    pub image: Option<String>,
}

/// The formats `export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A Custom Assembly overlay YAML.
    OverlayYaml,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let options = ExportOptions {
        path: args.path,
        image: args.image,
        format: match args.format {
            Format::OverlayYaml => ExportFormat::OverlayYaml,
        },
    };
    let report = export::export(&options)?;
    render::print(report.text.trim_end());
    render::eprint(&left_out(&report.unexpressed));
    Ok(ExitCode::SUCCESS)
}

/// The "left out" summary of an import or export.
pub fn left_out(fields: &[Unexpressed]) -> String {
    if fields.is_empty() {
        return "every field was expressed".into();
    }
    let mut text = format!("{} field(s) left out:", fields.len());
    for f in fields {
        text.push_str(&format!("\n  {f}"));
    }
    text
}
