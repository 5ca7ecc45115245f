//! "Did you mean …?": the known word closest to a misspelt key or
//! architecture, plus the aliases people bring from other tools (`env`,
//! `labels`, `amd64`, `arm64`).

use crate::model::ARCHITECTURES;

/// The known key `word` most likely means.
pub(crate) fn key<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    const ALIASES: &[(&str, &str)] = &[
        ("env", "environment"),
        ("labels", "annotations"),
        ("repos", "repositories"),
        ("keys", "keyring"),
        ("arch", "architectures"),
        ("archs", "architectures"),
        ("arches", "architectures"),
        ("platforms", "architectures"),
        ("from", "source"),
        ("base", "source"),
    ];
    let lower = word.to_ascii_lowercase();
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == lower) {
        if let Some(k) = known.iter().find(|k| *k == to) {
            return Some(k);
        }
    }
    closest(&lower, known)
}

/// The APK architecture `word` (Docker's or Debian's name, or a typo)
/// most likely means.
pub(crate) fn arch(word: &str) -> Option<&'static str> {
    const ALIASES: &[(&str, &str)] = &[
        ("amd64", "x86_64"),
        ("x64", "x86_64"),
        ("arm64", "aarch64"),
        ("arm64v8", "aarch64"),
        ("i386", "x86"),
        ("i686", "x86"),
        ("386", "x86"),
        ("arm", "armhf"),
        ("armv6", "armhf"),
        ("arm/v6", "armhf"),
        ("arm/v7", "armv7"),
        ("ppc64el", "ppc64le"),
        ("riscv", "riscv64"),
        ("loong64", "loongarch64"),
    ];
    let lower = word.to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(from, _)| *from == lower)
        .map(|(_, to)| *to)
        .or_else(|| closest(&lower, ARCHITECTURES))
}

/// The candidate within a third of its length in edit distance (a swap of
/// two neighbours counting as one edit, so `imgae` is one from `image`).
fn closest<'k>(word: &str, candidates: &[&'k str]) -> Option<&'k str> {
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["name", "source", "packages", "architectures", "environment"];

    #[test]
    fn suggestions() {
        assert_eq!(key("imgae", &["image"]), Some("image"));
        assert_eq!(key("pakages", KEYS), Some("packages"));
        assert_eq!(key("env", KEYS), Some("environment"));
        assert_eq!(key("architecture", KEYS), Some("architectures"));
        assert_eq!(key("zzz", KEYS), None);
        assert_eq!(arch("x86-64"), Some("x86_64"));
        assert_eq!(arch("arm64"), Some("aarch64"));
        assert_eq!(arch("sparc"), None);
    }
}
