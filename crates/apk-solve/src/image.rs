//! The image policy: packages installed in the source image are fixed.
//!
//! apk would happily upgrade, replace or remove an installed package to
//! satisfy a new one. In an image build the installed packages are the
//! source image, which we never modify, so any such change is an error that
//! names the base package, what the new packages would need instead, and
//! who needs it.

use super::db::Db;
use super::report::{Block, ErrorReport, Label};
use super::{Change, ChangeKind, Solution, SolveError};

/// Fails when `solution` changes any installed package.
pub fn check(db: &Db<'_>, solution: &Solution) -> Result<(), SolveError> {
    let mut blocks = Vec::new();
    let (mut newer, mut older) = (false, false);
    for c in &solution.changes {
        let Some(old) = c.old else { continue };
        let kind = c.kind(db);
        if matches!(kind, ChangeKind::None | ChangeKind::UpdatePinning) {
            continue;
        }
        let base = db.pkg_label(old);
        let mut labels = Vec::new();
        match c.new {
            Some(new) => {
                match kind {
                    ChangeKind::Upgrade => newer = true,
                    _ => older = true,
                }
                labels.push(Label {
                    label: "needs",
                    items: vec![db.pkg_label(new)],
                });
                let requirers = requirers_of(db, solution, new, old);
                if !requirers.is_empty() {
                    labels.push(Label {
                        label: "required by",
                        items: requirers,
                    });
                }
            }
            None => labels.push(Label {
                label: "would be removed",
                items: vec!["to make room for the added packages".into()],
            }),
        }
        blocks.push(Block {
            subject: format!("{base} (in the source image)"),
            name: db.name_str(db.pkg_name(old)).to_owned(),
            labels,
        });
    }
    if blocks.is_empty() {
        return Ok(());
    }
    let mut hints = vec!["the source image's packages are never changed".to_owned()];
    if newer {
        hints.push(
            "use a newer source image that already has the versions listed under 'needs'".into(),
        );
    }
    if older {
        hints.push(
            "the repositories are older than the source image: use repositories of the image's release \
             (or pin the added packages to versions that fit the image)"
                .into(),
        );
    }
    Err(SolveError {
        report: ErrorReport { blocks, hints },
        changes: solution.changes.clone(),
    })
}

/// `pkg-ver[dep]` for every package of the solution that depends on `pkg`
/// in a way the base package `base` would not satisfy: the reasons the
/// base package would have to change.
fn requirers_of(db: &Db<'_>, solution: &Solution, pkg: usize, base: usize) -> Vec<String> {
    let mut out = Vec::new();
    for c in &solution.changes {
        let Some(n) = c.new else { continue };
        for d in db.depends(n) {
            let needs_new = super::report::analyze(db, Some(n), &d, pkg) == Some(true)
                && super::report::analyze(db, Some(n), &d, base) != Some(true);
            if needs_new {
                out.push(format!("{}[{}]", db.pkg_label(n), db.atom(&d)));
            }
        }
    }
    out
}

/// The changes that install something new (image builds add exactly these).
pub fn additions<'s>(
    db: &'s Db<'_>,
    solution: &'s Solution,
) -> impl Iterator<Item = &'s Change> + 's {
    solution
        .changes
        .iter()
        .filter(move |c| c.kind(db) == ChangeKind::Install)
}
