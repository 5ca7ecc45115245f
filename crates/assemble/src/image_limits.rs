//! What the image's JSON documents must respect so that every runtime and
//! registry accepts them: containers/image (skopeo, podman, CRI-O) refuses a
//! manifest or config over 4 MiB, and `execve(2)` cannot pass an environment
//! value holding a NUL byte. Annotations, labels and environment variables
//! come from the declaration, so these are checked before anything is
//! fetched or written (at `validate` and `plan` time too, which run the
//! build as a dry run), and again on the finished documents.

use std::collections::BTreeMap;

use assemble_io::escape::escape;
use assemble_io::limit::human_size;

/// Largest manifest or config document (containers/image's limit).
pub const MAX_DOCUMENT: usize = 4 << 20;

/// Checks environment variables: a name is non-empty without `=` or NUL, a
/// value has no NUL.
pub fn check_environment(env: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(format!(
                "environment variable name '{}' is invalid: names are non-empty and hold no '=' or NUL",
                escape(name)
            ));
        }
        if value.contains('\0') {
            return Err(format!(
                "environment variable {} holds a NUL byte, which no process can receive; remove it",
                escape(name)
            ));
        }
    }
    Ok(())
}

/// Checks the serialised size of a manifest or config document.
pub fn check_document(what: &str, doc: &serde_json::Value) -> Result<(), String> {
    let size = serde_json::to_vec(doc)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DOCUMENT {
        return Err(format!(
            "the image {what} would be {} ({size} bytes), over the {} that registries and runtimes accept; \
             shorten the annotations, labels or environment",
            human_size(size as u64),
            human_size(MAX_DOCUMENT as u64)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_and_document_limits() {
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        check_environment(&env("PATH", "/bin")).unwrap();
        assert!(check_environment(&env("A", "x\0y"))
            .unwrap_err()
            .contains("NUL"));
        assert!(check_environment(&env("A=B", "x")).is_err());
        assert!(check_environment(&env("", "x")).is_err());
        let small = serde_json::json!({"a": "b"});
        check_document("config", &small).unwrap();
        let big = serde_json::json!({"a": "x".repeat(MAX_DOCUMENT)});
        let e = check_document("manifest", &big).unwrap_err();
        assert!(e.contains("manifest") && e.contains("4 MiB"), "{e}");
    }
}
