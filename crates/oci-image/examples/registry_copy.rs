//! Copies an image between an OCI layout and a registry with the library's
//! registry client, configured from the environment like the CLI:
//!
//! ```text
//! registry_copy oci:DIR            docker://HOST[:PORT]/REPO[:TAG]   # push every tag (or one)
//! registry_copy docker://HOST/REPO[:TAG|@DIGEST] oci:DIR            # pull into a layout
//! registry_copy docker://HOST/REPO[:TAG]                            # print what the tag points to
//! ```
//!
//! It prints the push report as JSON. Used by the registry benchmark and
//! handy for poking at a registry.

use std::process::ExitCode;
use std::time::Instant;

use oci_image::registry::{PushOptions, Registry};
use oci_image::ImageRef;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::from_env()?;
    let started = Instant::now();
    match args {
        [from] => {
            let ImageRef::Registry(r) = ImageRef::parse(from)? else {
                return Err("expected a docker:// reference".into());
            };
            let resolved = registry.resolve(&r)?;
            println!(
                "{} {} {}",
                resolved.digest, resolved.media_type, resolved.size
            );
        }
        [from, to] => match (ImageRef::parse(from)?, ImageRef::parse(to)?) {
            (
                ImageRef::Layout {
                    path,
                    reference: None,
                },
                ImageRef::Registry(dest),
            ) => {
                let report =
                    registry.push_layout(&path, &dest, &PushOptions::default(), &|_| {})?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            (ImageRef::Registry(r), ImageRef::Layout { path, .. }) => {
                let top = registry.pull_to_layout(&r, &path)?;
                println!("{}", top.digest);
            }
            _ => return Err("copy oci:DIR to docker://… or docker://… to oci:DIR".into()),
        },
        _ => return Err("usage: registry_copy FROM [TO]".into()),
    }
    eprintln!("took {:?}", started.elapsed());
    Ok(())
}
