//! Suggestions added to resolution errors, beyond apk's facts: a missing
//! package that exists for another architecture of the same repository.

use apk_repo::repository::Repository;
use apk_solve::ErrorReport;

use super::repo_args::RepoArgs;

/// Hints for the `(no such package)` blocks of `report`. Only runs on
/// failure, so it may read more indexes.
pub fn missing_name_hints(args: &RepoArgs, report: &ErrorReport) -> Vec<String> {
    let missing: Vec<&str> = report
        .blocks
        .iter()
        .filter(|b| b.subject.ends_with("(no such package)"))
        .map(|b| b.name.as_str())
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let Ok(keyring) = args.keyring() else {
        return Vec::new();
    };
    let mut hints = Vec::new();
    for repo in args
        .repositories
        .iter()
        .filter_map(|r| Repository::parse(r).ok())
    {
        let Ok(dirs) = std::fs::read_dir(&repo.path) else {
            continue;
        };
        for dir in dirs.flatten() {
            let arch = dir.file_name().to_string_lossy().into_owned();
            if arch == args.arch() || !dir.path().join("APKINDEX.tar.gz").is_file() {
                continue;
            }
            let Ok(loaded) = repo.load_index(&arch, &keyring, args.trust()) else {
                continue;
            };
            let parsed = loaded.index.to_text();
            for name in &missing {
                if parsed.records.iter().any(|r| r.info.name == *name) {
                    hints.push(format!(
                        "'{name}' exists for {arch} in {} but not for {}; check --arch (or the image's architectures)",
                        repo.name,
                        args.arch()
                    ));
                }
            }
        }
    }
    for name in &missing {
        hints.push(format!(
            "'{name}' is in none of the configured repositories; check the name (`cargo assemble search {name}`) \
             or add the repository that has it"
        ));
    }
    hints
}
