//! Small inline SVG charts of a repo's builds, rendered on the server: how
//! long builds took and how they ended, and how large the image is over
//! builds. No script and no chart library: a bar or a point per build, each
//! with a `<title>` (the tooltip, and what a screen reader announces) and a
//! text summary; failures differ by shape (hatched, marked ✗), not only by
//! colour.

use maud::{html, Markup};

use super::views::bytes;
use crate::api::{BuildReport, BuildResult};

const W: f64 = 600.0;
const H: f64 = 120.0;
const PAD: f64 = 24.0;

fn ms(t: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(t).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Seconds from start to end of a finished build.
pub(super) fn took(b: &BuildReport) -> Option<f64> {
    Some(ms(b.completed_at.as_deref()?)? - ms(b.started_at.as_deref()?)?).filter(|d| *d >= 0.0)
}

/// The image's size in a successful build: the sum over architectures of
/// `locked_config.image_size` (bytes of config and layers, compressed).
pub(super) fn image_size(b: &BuildReport) -> Option<u64> {
    let sizes = b.locked_config.as_ref()?.get("image_size")?.as_object()?;
    let total = sizes.values().filter_map(|v| v.as_u64()).sum();
    (!sizes.is_empty()).then_some(total)
}

/// Bars of build durations, oldest left; failures hatched and marked.
pub(super) fn durations(builds: &[BuildReport]) -> Markup {
    let done: Vec<(&BuildReport, f64)> = builds
        .iter()
        .rev()
        .filter(|b| b.result.is_final())
        .filter_map(|b| Some((b, took(b)?)))
        .collect();
    if done.is_empty() {
        return html! { figure.chart { figcaption { "Build durations: no finished build yet." } } };
    }
    let failed = done
        .iter()
        .filter(|(b, _)| b.result == BuildResult::Failure)
        .count();
    let max = done.iter().map(|(_, d)| *d).fold(0.1, f64::max);
    let step = (W - 2.0 * PAD) / done.len() as f64;
    let bar = (step * 0.7).clamp(1.0, 24.0);
    let summary = format!(
        "Build durations of the last {} finished builds: {} succeeded, {} failed; longest {:.1} s.",
        done.len(),
        done.len() - failed,
        failed,
        max
    );
    html! {
        figure.chart {
            svg #chart-durations viewBox={"0 0 " (W) " " (H + PAD)} role="img" aria-label=(summary) {
                defs {
                    pattern #hatch patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)" {
                        rect.failure-fill width="6" height="6" {}
                        line x1="0" y1="0" x2="0" y2="6" class="hatch-line" {}
                    }
                }
                line.axis x1=(PAD) y1=(H) x2=(W - PAD) y2=(H) {}
                text.label x="2" y="12" { (format!("{max:.1} s")) }
                text.label x="2" y=(H) { "0" }
                @for (i, (b, d)) in done.iter().enumerate() {
                    @let h = (d / max * (H - 16.0)).max(1.0);
                    @let x = PAD + i as f64 * step + (step - bar) / 2.0;
                    @let fail = b.result == BuildResult::Failure;
                    g {
                        title { (b.id) ": " (b.result.as_str()) ", " (format!("{d:.1} s")) ", " (b.created_at) }
                        rect class=(if fail { "bar failure" } else { "bar success" }) x=(x) y=(H - h) width=(bar) height=(h)
                            fill=[fail.then_some("url(#hatch)")] {}
                        @if fail { text.mark x=(x + bar / 2.0) y=(H - h - 2.0) text-anchor="middle" { "✗" } }
                    }
                }
            }
            figcaption { (summary) " Hatched bars marked ✗ failed." }
        }
    }
}

/// A line of the image's size over successful builds.
pub(super) fn sizes(builds: &[BuildReport]) -> Markup {
    let points: Vec<(&BuildReport, u64)> = builds
        .iter()
        .rev()
        .filter(|b| b.result == BuildResult::Success)
        .filter_map(|b| Some((b, image_size(b)?)))
        .collect();
    if points.is_empty() {
        return html! { figure.chart { figcaption { "Image size: no successful build recorded its size yet." } } };
    }
    let max = points.iter().map(|(_, s)| *s).max().unwrap_or(1).max(1) as f64;
    let step = if points.len() > 1 {
        (W - 2.0 * PAD) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, (_, s))| {
            (
                PAD + i as f64 * step,
                H - (*s as f64 / max * (H - 16.0)).max(1.0),
            )
        })
        .collect();
    let path: String = xy
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (first, last) = (points[0].1, points[points.len() - 1].1);
    let summary = format!(
        "Image size over the last {} successful builds: {} now, {} at the first of them.",
        points.len(),
        bytes(last),
        bytes(first)
    );
    html! {
        figure.chart {
            svg #chart-sizes viewBox={"0 0 " (W) " " (H + PAD)} role="img" aria-label=(summary) {
                line.axis x1=(PAD) y1=(H) x2=(W - PAD) y2=(H) {}
                text.label x="2" y="12" { (bytes(max as u64)) }
                polyline.size-line points=(path) fill="none" {}
                @for ((b, s), (x, y)) in points.iter().zip(&xy) {
                    circle.point cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" {
                        title { (b.id) ": " (bytes(*s)) ", " (b.created_at) }
                    }
                }
            }
            figcaption { (summary) }
        }
    }
}
