//! `init` and `templates`: starter declarations. The templates live in
//! `templates/NAME/` at the repository root and are embedded, so an
//! installed binary has them. `--set KEY=VALUE` edits the template's
//! `[image]` table with `toml_edit`, keeping its comments and layout; the
//! keys and their shapes come from [`IMAGE_KEYS`].

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Value};

use crate::config::{self, ConfigErrors, Shape, ASSEMBLY_FILE, IMAGE_KEYS};
use crate::model;

/// An embedded starter declaration.
#[derive(Debug)]
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
            description: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../templates/",
                $name,
                "/description"
            )),
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../templates/",
                $name,
                "/assembly.toml"
            )),
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

/// The CI systems `init` writes a workflow for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ci {
    /// GitHub Actions: `.github/workflows/assemble.yml` at the root of the
    /// git work tree (plan comments on pull requests, apply on merge,
    /// daily updates).
    Github,
}

/// The GitHub workflow template.
const GITHUB_WORKFLOW: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../templates/github/assemble.yml"
));

/// Options of `init`.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// Directory to write assembly.toml into (created if missing); `None`:
    /// the current directory.
    pub dir: Option<PathBuf>,
    /// The template's name.
    pub template: String,
    /// The image name (default: the directory's name, made valid).
    pub name: Option<String>,
    /// Replace an existing assembly.toml.
    pub force: bool,
    /// `KEY=VALUE` settings of the `[image]` table, in order.
    pub set: Vec<String>,
    /// Also write a CI workflow.
    pub ci: Option<Ci>,
}

/// What `init` wrote.
#[derive(Debug)]
pub struct InitReport {
    /// The file written.
    pub file: PathBuf,
    /// The template used.
    pub template: &'static str,
    /// The image name.
    pub name: String,
    /// The directory to `cd` into first, when not the current one.
    pub cd: Option<PathBuf>,
    /// The CI workflow written, if asked for.
    pub workflow: Option<PathBuf>,
    /// The `.gitignore` written or extended (outputs and the apply lock),
    /// `None` when it listed them already.
    pub gitignore: Option<PathBuf>,
    /// Whether the directory is inside a git work tree (`plan` and `apply`
    /// keep their state in git).
    pub in_git: bool,
}

/// What a project's `.gitignore` must list: build outputs, the apply lock
/// and leftovers of an interrupted atomic write.
const GITIGNORE: &[&str] = &["/target/", "/.assembly-apply.lock", "/.tmp-*"];

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    /// No such template.
    #[error("no template named '{name}'; available: {}", available.join(", "))]
    UnknownTemplate {
        /// The name given.
        name: String,
        /// The templates.
        available: Vec<&'static str>,
    },
    /// `--name` is not a valid image name.
    #[error("'{0}' is not a valid image name (lowercase letters, digits, '.', '_', '-'; starting with a letter or digit)")]
    InvalidName(String),
    /// `--set` without `=`.
    #[error("--set {0}: expected KEY=VALUE")]
    SetSyntax(String),
    /// `--set` of a key that cannot be set.
    #[error("--set {set}: '{key}' cannot be set; settable keys: {}", settable.join(", "))]
    NotSettable {
        /// The argument.
        set: String,
        /// The key.
        key: String,
        /// The keys `--set` accepts.
        settable: Vec<&'static str>,
    },
    /// Several `--set` of an array key, one of them a whole array.
    #[error("--set {0}=…: an array replaces the whole value; give it once")]
    ArrayTwice(String),
    /// The result is not a valid declaration.
    #[error("the template '{template}' with your --set values is not a valid declaration")]
    Invalid {
        /// The template.
        template: &'static str,
        /// Its errors.
        #[source]
        #[diagnostic_source]
        errors: ConfigErrors,
    },
    /// The file exists and `force` is off.
    #[error("{} already exists; not overwriting it", .0.display())]
    #[diagnostic(help("pass --force to replace it"))]
    Exists(PathBuf),
    /// Writing failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
}

/// Writes a starter assembly.toml.
pub fn init(options: &InitOptions) -> Result<InitReport, InitError> {
    let template = TEMPLATES
        .iter()
        .find(|t| t.name == options.template)
        .ok_or_else(|| InitError::UnknownTemplate {
            name: options.template.clone(),
            available: TEMPLATES.iter().map(|t| t.name).collect(),
        })?;
    let dir = options.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let file = dir.join(ASSEMBLY_FILE);
    let mut doc: DocumentMut = template.text.parse().expect("templates are valid TOML");
    let name = match &options.name {
        Some(n) if model::is_valid_image_name(n) => n.clone(),
        Some(n) => return Err(InitError::InvalidName(n.clone())),
        None => default_name(&dir)
            .or_else(|| doc["image"]["name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "my-image".into()),
    };

    // The settings, `name` first; repeating an array key adds elements.
    let mut sets: Vec<(&'static str, Vec<String>)> = vec![("name", vec![name.clone()])];
    for s in &options.set {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| InitError::SetSyntax(s.clone()))?;
        let key = settable(key.trim()).ok_or_else(|| InitError::NotSettable {
            set: s.clone(),
            key: key.trim().to_owned(),
            settable: IMAGE_KEYS
                .iter()
                .filter(|k| k.shape != Shape::Table)
                .map(|k| k.name)
                .collect(),
        })?;
        match sets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) if key != "name" => values.push(value.to_owned()),
            Some((_, values)) => *values = vec![value.to_owned()],
            None => sets.push((key, vec![value.to_owned()])),
        }
    }
    for (key, values) in &sets {
        let array = IMAGE_KEYS
            .iter()
            .any(|k| k.name == *key && k.shape == Shape::Strings);
        doc["image"][*key] = Item::Value(toml_value(key, array, values)?);
    }
    let text = doc.to_string();

    // The result must be a valid declaration (relative paths resolve
    // against the file, as `load` does; nothing is read from them).
    config::parse_str(&text, &file).map_err(|errors| InitError::Invalid {
        template: template.name,
        errors,
    })?;
    std::fs::create_dir_all(&dir).map_err(|error| InitError::Write {
        path: dir.clone(),
        error,
    })?;
    let workflow = match options.ci {
        Some(Ci::Github) => Some(github_workflow(&dir, options.force)?),
        None => None,
    };
    write_new(&file, &text, options.force)?;
    if let Some((path, text)) = &workflow {
        write_new(path, text, options.force)?;
    }
    let gitignore = gitignore(&dir)?;
    let in_git = dir
        .canonicalize()
        .map(|d| d.ancestors().any(|a| a.join(".git").exists()))
        .unwrap_or(false);
    Ok(InitReport {
        gitignore,
        in_git,
        file,
        template: template.name,
        name,
        cd: options.dir.as_ref().filter(|d| !is_current_dir(d)).cloned(),
        workflow: workflow.map(|(path, _)| path),
    })
}

/// Where the GitHub workflow for a declaration in `dir` goes and its text:
/// GitHub reads workflows only at the root of the repository, so at the
/// root of the git work tree holding `dir` (else in `dir`), naming `dir`
/// relative to it. Refuses to replace a file unless `force`.
fn github_workflow(dir: &Path, force: bool) -> Result<(PathBuf, String), InitError> {
    let dir = dir.canonicalize().map_err(|error| InitError::Write {
        path: dir.to_owned(),
        error,
    })?;
    let root = dir
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(&dir);
    let relative = crate::github::workspace_path(&dir, Some(root));
    let relative = if relative.is_empty() {
        ".".into()
    } else {
        relative
    };
    // A YAML single-quoted scalar holds any path.
    let value = format!("'{}'", relative.replace('\'', "''"));
    let text = GITHUB_WORKFLOW.replace(
        "\n  ASSEMBLY_PATH: .\n",
        &format!("\n  ASSEMBLY_PATH: {value}\n"),
    );
    let path = root.join(".github/workflows/assemble.yml");
    if path.exists() && !force {
        return Err(InitError::Exists(path));
    }
    let parent = path.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(|error| InitError::Write {
        path: parent.to_owned(),
        error,
    })?;
    Ok((path, text))
}

/// The key named `key` when `--set` may change it.
fn settable(key: &str) -> Option<&'static str> {
    IMAGE_KEYS
        .iter()
        .find(|k| k.name == key && k.shape != Shape::Table)
        .map(|k| k.name)
}

/// The value of `--set key=values`: each value is a TOML value or else a
/// plain string; a string given to an array key becomes one element.
fn toml_value(key: &str, array: bool, values: &[String]) -> Result<Value, InitError> {
    let literal = |v: &str| v.parse::<Value>().ok();
    let plain = |v: &str| Value::from(v);
    if let [v] = values {
        return Ok(match literal(v) {
            Some(parsed) if !array || parsed.is_array() => parsed,
            Some(Value::String(s)) => Value::Array(Array::from_iter([s.into_value()])),
            _ if array => Value::Array(Array::from_iter([plain(v)])),
            _ => plain(v),
        });
    }
    let items = values
        .iter()
        .map(|v| match literal(v) {
            Some(Value::String(s)) => Ok(Value::from(s.into_value())),
            Some(Value::Array(_)) => Err(InitError::ArrayTwice(key.to_owned())),
            _ => Ok(plain(v)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(Array::from_iter(items)))
}

fn write_new(file: &Path, text: &str, force: bool) -> Result<(), InitError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let err = |error| InitError::Write {
        path: file.to_owned(),
        error,
    };
    let mut f = match options.open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(InitError::Exists(file.to_owned()))
        }
        Err(e) => return Err(err(e)),
    };
    f.write_all(text.as_bytes()).map_err(err)
}

/// Adds the lines of [`GITIGNORE`] that `dir/.gitignore` lacks (creating
/// it if needed); `None` when nothing was missing.
fn gitignore(dir: &Path) -> Result<Option<PathBuf>, InitError> {
    let path = dir.join(".gitignore");
    let err = |error| InitError::Write {
        path: path.clone(),
        error,
    };
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(err(e)),
    };
    let listed: Vec<&str> = old.lines().map(str::trim).collect();
    let missing: Vec<&str> = GITIGNORE
        .iter()
        .copied()
        .filter(|l| !listed.contains(l) && !listed.contains(&l.trim_start_matches('/')))
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut text = old.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# cargo-assemble: build outputs, the apply lock, interrupted writes\n");
    for line in missing {
        text.push_str(line);
        text.push('\n');
    }
    assemble_io::atomic::write_file(&path, |f| f.write_all(text.as_bytes())).map_err(err)?;
    Ok(Some(path))
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
    model::is_valid_image_name(name).then(|| name.to_owned())
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
            let array = IMAGE_KEYS
                .iter()
                .any(|key| key.name == k && key.shape == Shape::Strings);
            let values: Vec<String> = vs.iter().map(|s| s.to_string()).collect();
            toml_value(k, array, &values)
                .unwrap()
                .to_string()
                .trim()
                .to_owned()
        };
        assert_eq!(v("source", &["scratch"]), "\"scratch\"");
        assert_eq!(v("source", &["oci:/a b:latest"]), "\"oci:/a b:latest\"");
        assert_eq!(v("repositories", &["/r"]), "[\"/r\"]");
        assert_eq!(v("repositories", &["/r", "\"/s\""]), "[\"/r\", \"/s\"]");
        assert_eq!(v("tags", &["[\"a\", 'b']"]), "[\"a\", 'b']");
        assert_eq!(v("packages", &["\"curl\""]), "[\"curl\"]");
        assert!(toml_value("tags", true, &["[\"a\"]".into(), "b".into()]).is_err());
    }

    #[test]
    fn set_replaces_or_adds_keeping_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let report = init(&InitOptions {
            dir: Some(dir.path().join("x")),
            template: "static".into(),
            name: Some("b".into()),
            set: vec!["tags=x".into(), "architectures=aarch64".into()],
            ..Default::default()
        })
        .unwrap();
        let text = std::fs::read_to_string(&report.file).unwrap();
        assert!(text.starts_with("# A static binary"), "{text}");
        assert!(text.contains("name = \"b\"\n"), "{text}");
        assert!(text.contains("tags = [\"x\"]\n"), "{text}");
        assert!(text.contains("architectures = [\"aarch64\"]\n"), "{text}");
        assert!(text.contains("[image.annotations]"), "{text}");
        let e = init(&InitOptions {
            dir: Some(dir.path().join("x")),
            template: "static".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, InitError::Exists(_)), "{e}");
        assert!(matches!(
            init(&InitOptions {
                template: "static".into(),
                set: vec!["annotations=x".into()],
                ..Default::default()
            }),
            Err(InitError::NotSettable { .. })
        ));
    }
}
