//! Names the tool keeps for itself: environment variables `CARGO_ASSEMBLE_*`
//! and annotations (also config labels) `dev.cargo-assemble.*`.
//!
//! The build sets them (the declaration's digest, for example) so that an
//! image says how it was made; a declaration setting them could forge that
//! story, so validation refuses them, as the anchor service reserves
//! `CHAINGUARD_*` and `dev.chainguard.*`. The check ignores ASCII case:
//! `Cargo_Assemble_X` is as misleading as the real thing.

/// Prefix of the reserved environment variables.
pub const ENV_PREFIX: &str = "CARGO_ASSEMBLE_";

/// Prefix of the reserved annotation and label keys.
pub const ANNOTATION_PREFIX: &str = "dev.cargo-assemble.";

/// Environment variable the build sets to the declaration's digest.
pub const DECLARATION_DIGEST_ENV: &str = "CARGO_ASSEMBLE_DECLARATION_DIGEST";

/// Annotation the build sets to the declaration's digest.
pub const DECLARATION_DIGEST_ANNOTATION: &str = "dev.cargo-assemble.declaration.digest";

/// Which kind of name a [`ReservedName`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A key of `environment`.
    Environment,
    /// A key of `annotations`.
    Annotation,
}

/// A user-set name in the tool's namespace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} `{name}` is reserved: names starting with `{}` are set by cargo-assemble", kind_text(*kind), prefix(*kind))]
pub struct ReservedName {
    /// Environment variable or annotation.
    pub kind: NameKind,
    /// The name as written (the caller finds its span by it).
    pub name: String,
}

impl ReservedName {
    /// How to fix it.
    pub fn help(&self) -> String {
        format!(
            "choose another name; `{}` is kept for what the tool records about the build",
            prefix(self.kind)
        )
    }
}

fn kind_text(kind: NameKind) -> &'static str {
    match kind {
        NameKind::Environment => "environment variable",
        NameKind::Annotation => "annotation",
    }
}

fn prefix(kind: NameKind) -> &'static str {
    match kind {
        NameKind::Environment => ENV_PREFIX,
        NameKind::Annotation => ANNOTATION_PREFIX,
    }
}

/// True when `name` is in the tool's namespace for `kind`.
pub fn is_reserved(kind: NameKind, name: &str) -> bool {
    let p = prefix(kind);
    let starts = name.len() >= p.len()
        && name.is_char_boundary(p.len())
        && name[..p.len()].eq_ignore_ascii_case(p);
    // The bare namespace (`CARGO_ASSEMBLE`, `dev.cargo-assemble`) too.
    starts || name.eq_ignore_ascii_case(&p[..p.len() - 1])
}

/// Every reserved name among `environment` and `annotations` keys, in the
/// order given (environment first).
pub fn check<'a>(
    environment: impl IntoIterator<Item = &'a str>,
    annotations: impl IntoIterator<Item = &'a str>,
) -> Vec<ReservedName> {
    let env = environment.into_iter().map(|n| (NameKind::Environment, n));
    let ann = annotations.into_iter().map(|n| (NameKind::Annotation, n));
    env.chain(ann)
        .filter(|(kind, name)| is_reserved(*kind, name))
        .map(|(kind, name)| ReservedName {
            kind,
            name: name.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_environment() {
        for name in [
            "CARGO_ASSEMBLE_X",
            "CARGO_ASSEMBLE_",
            "CARGO_ASSEMBLE",
            "cargo_assemble_digest",
            DECLARATION_DIGEST_ENV,
        ] {
            assert!(is_reserved(NameKind::Environment, name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "ASSEMBLE_X",
            "X_CARGO_ASSEMBLE_Y",
            "CARGO_ASSEMBLED",
            "",
            "é",
        ] {
            assert!(!is_reserved(NameKind::Environment, name), "{name}");
        }
    }

    #[test]
    fn reserved_annotations() {
        for name in [
            "dev.cargo-assemble.declaration.digest",
            "dev.cargo-assemble.x",
            "DEV.Cargo-Assemble.x",
            "dev.cargo-assemble",
        ] {
            assert!(is_reserved(NameKind::Annotation, name), "{name}");
        }
        for name in [
            "org.opencontainers.image.title",
            "dev.cargo-assembler.x",
            "dev.chainguard.x",
            "x.dev.cargo-assemble.y",
        ] {
            assert!(!is_reserved(NameKind::Annotation, name), "{name}");
        }
    }

    #[test]
    fn check_reports_every_reserved_name_in_order() {
        let errors = check(
            ["PATH", "CARGO_ASSEMBLE_X", "CARGO_ASSEMBLE_Y"],
            ["org.opencontainers.image.title", "dev.cargo-assemble.z"],
        );
        let names: Vec<_> = errors.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "CARGO_ASSEMBLE_X",
                "CARGO_ASSEMBLE_Y",
                "dev.cargo-assemble.z"
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "environment variable `CARGO_ASSEMBLE_X` is reserved: names starting with \
             `CARGO_ASSEMBLE_` are set by cargo-assemble"
        );
        assert_eq!(errors[2].kind, NameKind::Annotation);
        assert!(errors[2].help().contains("dev.cargo-assemble."));
        assert!(check(["HOME"], ["a.b"]).is_empty());
    }
}
