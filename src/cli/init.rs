//! `cargo assemble init` and `cargo assemble templates`: starter
//! assembly.toml files. The templates live in `templates/NAME/` at the
//! repository root and are embedded here, so an installed binary has them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assemble::config::{self, ASSEMBLY_FILE};
use miette::{miette, IntoDiagnostic, Result};

/// An embedded starter declaration.
pub struct Template {
    /// The name given to `--template`.
    pub name: &'static str,
    /// One line for `cargo assemble templates`.
    pub description: &'static str,
    /// The assembly.toml text.
    pub text: &'static str,
}

macro_rules! template {
    ($name:literal) => {
        Template {
            name: $name,
            description: include_str!(concat!("../../templates/", $name, "/description")),
            text: include_str!(concat!("../../templates/", $name, "/assembly.toml")),
        }
    };
}

/// Every template, the default (`static`) first.
pub const TEMPLATES: &[Template] = &[
    template!("static"),
    template!("alpine-base"),
    template!("python"),
    template!("node"),
];

/// Keys of the `[image]` table that `--set` may change.
const SETTABLE: &[&str] = &[
    "name",
    "source",
    "packages",
    "repositories",
    "keyring",
    "architectures",
    "tags",
];

/// Keys whose value is an array of strings.
const ARRAY_KEYS: &[&str] = &[
    "packages",
    "repositories",
    "keyring",
    "architectures",
    "tags",
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write assembly.toml into (created if missing; default: the current directory).
    pub dir: Option<PathBuf>,
    /// The template to start from (see `cargo assemble templates`).
    #[arg(long, short, default_value = "static")]
    pub template: String,
    /// The image name (default: the directory's name, made a valid image name).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an existing assembly.toml.
    #[arg(long)]
    pub force: bool,
    /// Set a key of the [image] table: KEY=VALUE, VALUE a TOML value or a plain string;
    /// a plain string given to an array key (packages, repositories, keyring, architectures,
    /// tags) becomes one element, and repeating --set for that key adds elements.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Also write a CI workflow: `github` writes .github/workflows/assemble.yml at the root
    /// of the git work tree (plan comments on pull requests, apply on merge, daily updates).
    #[arg(long, value_enum, value_name = "CI")]
    pub ci: Option<super::github::Ci>,
}

#[derive(clap::Args, Debug)]
pub struct TemplatesArgs {}

/// `cargo assemble templates`: one line per template.
pub fn templates(_args: TemplatesArgs) -> Result<ExitCode> {
    let width = TEMPLATES.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for t in TEMPLATES {
        let default = if t.name == TEMPLATES[0].name {
            " (default)"
        } else {
            ""
        };
        writeln!(out, "{:width$}  {}{default}", t.name, t.description.trim()).into_diagnostic()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo assemble init`.
pub fn run(args: Args) -> Result<ExitCode> {
    let template = TEMPLATES
        .iter()
        .find(|t| t.name == args.template)
        .ok_or_else(|| {
            miette!(
                "no template named '{}'; available: {}",
                args.template,
                TEMPLATES
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let file = dir.join(ASSEMBLY_FILE);

    let name = match &args.name {
        Some(n) if config::is_valid_image_name(n) => n.clone(),
        Some(n) => {
            return Err(miette!(
                "'{n}' is not a valid image name (lowercase letters, digits, '.', '_', '-'; starting with a letter or digit)"
            ))
        }
        None => default_name(&dir).unwrap_or_else(|| template_name(template.text)),
    };

    // Collect the overrides, `name` first.
    let mut sets: Vec<(String, Vec<String>)> = vec![("name".into(), vec![name.clone()])];
    for s in &args.set {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| miette!("--set {s}: expected KEY=VALUE"))?;
        let key = key.trim();
        if !SETTABLE.contains(&key) {
            return Err(miette!(
                "--set {s}: '{key}' cannot be set; settable keys: {}",
                SETTABLE.join(", ")
            ));
        }
        match sets.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) if key != "name" => values.push(value.to_owned()),
            Some((_, values)) => *values = vec![value.to_owned()],
            None => sets.push((key.to_owned(), vec![value.to_owned()])),
        }
    }

    let mut text = template.text.to_owned();
    for (key, values) in &sets {
        let value = toml_value(key, values)?;
        text = set_key(&text, key, &value);
        check_set(&text, key, &value)?;
    }

    // The result must be a valid declaration (relative paths resolve
    // against the file, as `load` does; nothing is read from them).
    if let Err(errors) = config::parse_str(&text, &file) {
        return Err(miette::Report::new(errors).wrap_err(format!(
            "the template '{}' with your --set values is not a valid declaration",
            template.name
        )));
    }

    std::fs::create_dir_all(&dir)
        .into_diagnostic()
        .map_err(|e| e.wrap_err(format!("cannot create {}", dir.display())))?;
    let workflow = args
        .ci
        .map(|ci| ci.workflow(&dir, args.force))
        .transpose()?;
    write_file(&file, &text, args.force)?;
    if let Some((path, text)) = workflow {
        write_file(&path, &text, args.force)?;
        println!("wrote {}", path.display());
    }

    let shown = file.display();
    println!(
        "wrote {shown} (template '{}', image '{name}')",
        template.name
    );
    println!();
    println!("Next steps:");
    let mut step = 1;
    if args.dir.is_some() && !is_current_dir(&dir) {
        println!("  {step}. cd {}", dir.display());
        step += 1;
    }
    println!("  {step}. edit {ASSEMBLY_FILE}: replace the placeholders (see its comments)");
    println!(
        "  {}. cargo assemble plan      # check it and see what would be built",
        step + 1
    );
    println!(
        "  {}. cargo assemble apply     # build the image(s)",
        step + 2
    );
    Ok(ExitCode::SUCCESS)
}

fn write_file(file: &Path, text: &str, force: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = match options.open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(miette!(
                help = "pass --force to replace it",
                "{} already exists; not overwriting it",
                file.display()
            ))
        }
        Err(e) => return Err(miette!("cannot write {}: {e}", file.display())),
    };
    f.write_all(text.as_bytes())
        .map_err(|e| miette!("cannot write {}: {e}", file.display()))
}

fn is_current_dir(dir: &Path) -> bool {
    match (dir.canonicalize(), std::env::current_dir()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The directory's name made a valid image name, if anything is left.
fn default_name(dir: &Path) -> Option<String> {
    let abs = std::path::absolute(dir).ok()?;
    let abs = abs.canonicalize().unwrap_or(abs);
    let base = abs.file_name()?.to_string_lossy().to_lowercase();
    let mapped: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect();
    let name = mapped.trim_start_matches(['.', '_', '-']);
    config::is_valid_image_name(name).then(|| name.to_owned())
}

/// The `name` of a template's `[image]`.
fn template_name(text: &str) -> String {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("image")?.get("name")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "my-image".into())
}

/// The TOML text of `--set key=values`.
fn toml_value(key: &str, values: &[String]) -> Result<String> {
    let literal = |v: &str| -> Option<toml::Value> {
        toml::from_str::<toml::Table>(&format!("v = {v}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    let is_array = ARRAY_KEYS.contains(&key);
    if values.len() == 1 {
        let v = &values[0];
        if let Some(parsed) = literal(v) {
            if !is_array || parsed.is_array() {
                return Ok(inline(&parsed));
            }
            if let toml::Value::String(s) = parsed {
                return Ok(inline(&toml::Value::Array(vec![toml::Value::String(s)])));
            }
        }
        let s = toml::Value::String(v.clone());
        return Ok(if is_array {
            inline(&toml::Value::Array(vec![s]))
        } else {
            inline(&s)
        });
    }
    // Several values for an array key: each one element (a TOML string
    // literal or plain text).
    let items = values
        .iter()
        .map(|v| match literal(v) {
            Some(toml::Value::String(s)) => Ok(toml::Value::String(s)),
            Some(toml::Value::Array(_)) => Err(miette!(
                "--set {key}=…: an array replaces the whole value; give it once"
            )),
            _ => Ok(toml::Value::String(v.clone())),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(inline(&toml::Value::Array(items)))
}

/// A value as one line of TOML.
fn inline(value: &toml::Value) -> String {
    match value {
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Sets `key = value` in the `[image]` table of `text`: the line holding
/// the key is replaced (templates keep each value on one line), or a new
/// line is added after the table's last key.
fn set_key(text: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let new_line = format!("{key} = {value}");
    let mut in_image = false;
    let mut last_key_line = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if in_image {
                break;
            }
            in_image = trimmed.trim_end() == "[image]";
            continue;
        }
        if !in_image || trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        last_key_line = Some(i);
        let line_key = trimmed.split('=').next().unwrap_or("").trim();
        if line_key == key {
            lines[i] = new_line;
            return join(lines);
        }
    }
    match last_key_line {
        Some(i) => lines.insert(i + 1, new_line),
        None => {
            lines.push("[image]".into());
            lines.push(new_line);
        }
    }
    join(lines)
}

fn join(lines: Vec<String>) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Guards `set_key`: the key now parses to the value asked for.
fn check_set(text: &str, key: &str, value: &str) -> Result<()> {
    let want: toml::Table = toml::from_str(&format!("v = {value}")).into_diagnostic()?;
    let got: toml::Table = toml::from_str(text)
        .map_err(|e| miette!("setting {key} made the template invalid TOML: {e}"))?;
    if got.get("image").and_then(|i| i.get(key)) != want.get("v") {
        return Err(miette!(
            "could not set {key} in the template (is it on one line?)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid() {
        for t in TEMPLATES {
            let images = config::parse_str(t.text, Path::new("assembly.toml"))
                .unwrap_or_else(|e| panic!("template {}: {e:?}", t.name));
            assert_eq!(images.len(), 1, "{}", t.name);
            assert!(!t.description.trim().is_empty());
            assert_eq!(t.description.trim().lines().count(), 1, "{}", t.name);
        }
    }

    #[test]
    fn values() {
        let v = |k: &str, vs: &[&str]| {
            toml_value(k, &vs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        assert_eq!(v("source", &["scratch"]), "\"scratch\"");
        assert_eq!(v("source", &["oci:/a b:latest"]), "\"oci:/a b:latest\"");
        assert_eq!(v("repositories", &["/r"]), "[\"/r\"]");
        assert_eq!(v("repositories", &["/r", "\"/s\""]), "[\"/r\", \"/s\"]");
        assert_eq!(v("tags", &["[\"a\", 'b']"]), "[\"a\", \"b\"]");
        assert_eq!(v("packages", &["\"curl\""]), "[\"curl\"]");
    }

    #[test]
    fn set_replaces_or_adds() {
        let text = "# x = 1\n[image]\nname = \"a\"\nsource = \"scratch\"\n\n[image.environment]\nname = \"keep\"\n";
        let t = set_key(text, "name", "\"b\"");
        assert!(t.contains("name = \"b\"\nsource") && t.contains("name = \"keep\""));
        let t = set_key(text, "tags", "[\"x\"]");
        assert!(t.contains("source = \"scratch\"\ntags = [\"x\"]\n"), "{t}");
        check_set(&t, "tags", "[\"x\"]").unwrap();
    }
}
