//! Showing what the library reports: progress on stderr (a spinner on a
//! terminal), warnings, errors with their causes and the solver's
//! explanation. Every line that may hold untrusted text (package names,
//! index fields, paths inside packages, server messages) goes through
//! [`assemble_io::escape`] first, so a hostile index cannot drive the
//! terminal.

use std::io::{IsTerminal, Write};

use assemble::ops::{Event, Progress};
use assemble_io::escape::escape;

/// Writes `text` line by line, each line escaped.
pub fn write_escaped(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "{}", escape(line))?;
    }
    Ok(())
}

/// Prints `text` on stdout, escaped.
pub fn print(text: &str) {
    let stdout = std::io::stdout();
    let _ = write_escaped(&mut stdout.lock(), text);
}

/// Prints `text` on stderr, escaped.
pub fn eprint(text: &str) {
    let stderr = std::io::stderr();
    let _ = write_escaped(&mut stderr.lock(), text);
}

/// Prints an error on stderr, escaped line by line (see [`plain`]).
pub fn error(report: &miette::Report) {
    eprint(&plain(report));
}

/// An error as plain text: miette's report without colours (the text is
/// escaped where it is shown), causes that only repeat their parent left
/// out, then the solver's explanation when resolving failed.
pub fn plain(report: &miette::Report) -> String {
    let mut text = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(usize::MAX);
    if handler.render_report(&mut text, report.as_ref()).is_err() {
        text = format!("{report}");
    }
    let mut text = without_repeated_causes(&text);
    for cause in report.chain() {
        if let Some(explanation) = cause
            .downcast_ref::<apk_solve::ResolveError>()
            .and_then(apk_solve::ResolveError::report)
        {
            text.push_str(&explanation.render(usize::MAX));
        }
    }
    text
}

/// Drops the cause lines (`├─▶ x`, `╰─▶ x`) that only repeat what the line
/// above already says (some errors quote their cause in their message).
fn without_repeated_causes(text: &str) -> String {
    const MID: &str = "├─▶ ";
    const LAST: &str = "╰─▶ ";
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let cause = line
            .find(MID)
            .map(|i| (i, MID))
            .or_else(|| line.find(LAST).map(|i| (i, LAST)));
        if let (Some((at, arrow)), Some(previous)) = (cause, lines.last_mut()) {
            let said = &line[at + arrow.len()..];
            if !said.is_empty() && previous.contains(said) {
                if arrow == LAST {
                    *previous = previous.replacen(MID, LAST, 1);
                }
                continue;
            }
        }
        lines.push(line.to_owned());
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Progress on the terminal: steps on a spinner (or as lines when stderr
/// is not a terminal), warnings and notices as lines.
pub struct Terminal {
    spinner: Option<indicatif::ProgressBar>,
    /// Show steps.
    steps: bool,
    /// Show warnings.
    warnings: bool,
}

impl Terminal {
    /// `steps`: show build phases; `quiet`: nothing but errors.
    pub fn new(steps: bool, quiet: bool) -> Terminal {
        let spinner = (steps && !quiet && std::io::stderr().is_terminal()).then(|| {
            let s = indicatif::ProgressBar::new_spinner();
            s.enable_steady_tick(std::time::Duration::from_millis(120));
            s
        });
        Terminal {
            spinner,
            steps: steps && !quiet,
            warnings: !quiet,
        }
    }

    /// A line on stderr, above the spinner.
    fn line(&self, text: &str) {
        match &self.spinner {
            Some(s) => s.suspend(|| eprint(text)),
            None => eprint(text),
        }
    }

    /// A line on stdout, above the spinner.
    pub fn out(&self, text: &str) {
        match &self.spinner {
            Some(s) => s.suspend(|| print(text)),
            None => print(text),
        }
    }

    fn step(&self, text: String) {
        if !self.steps {
            return;
        }
        match &self.spinner {
            Some(s) => s.set_message(escape(&text).into_owned()),
            None => eprint(&text),
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }
}

impl Progress for Terminal {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Step { image, arch, step } => self.step(format!("{image}: {arch}: {step}")),
            Event::Fetched {
                image, done, total, ..
            } => self.step(format!(
                "{image}: fetched {done}/{}",
                assemble::plan::count(total, "package")
            )),
            Event::Warning(w) if self.warnings => self.line(&format!("warning: {w}")),
            Event::Built { image, output } if self.warnings => {
                self.out(&format!("built {image} → {output}"))
            }
            Event::Publishing { destination } => self.step(format!("pushing to {destination}")),
            Event::WaitingForApplyLock { path } => self.line(&format!(
                "waiting for another apply in this project to finish ({})",
                path.display()
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_causes_are_dropped() {
        let text = "  × repository r\n  ├─▶ cannot download x: refused\n  ╰─▶ x: refused\n";
        assert_eq!(
            without_repeated_causes(text),
            "  × repository r\n  ╰─▶ cannot download x: refused\n"
        );
        let kept = "  × a\n  ├─▶ b\n  ╰─▶ c\n";
        assert_eq!(without_repeated_causes(kept), kept);
    }
}
