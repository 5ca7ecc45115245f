//! The console's pages as maud templates. Everything untrusted (names,
//! declarations, logs, error messages) goes through maud's escaping; no
//! page uses inline scripts or styles (the CSP forbids them).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use super::{chart, html as respond, Filters, NewRepo, RepoView, Session};
use crate::api::{
    BuildReport, BuildResult, Change, FieldError, PutResponse, Repo, TokenCreated, TokenInfo,
};
use crate::auth::{Capability, Role};
use crate::engine::PackageHit;

fn layout(session: Option<&Session>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowScriptTags":false}"#;
                title { (title) " — cargo-assemble" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/htmx.min.js" defer {}
                script src="/console/static/console.js" defer {}
            }
            body hx-headers=[session.map(|s| format!(r#"{{"X-CSRF-Token": "{}"}}"#, s.csrf))] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/" { "cargo-assemble" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            a href="/console/" { "Images" }
                            a href="/console/builds" { "Builds" }
                            @if s.can(Capability::TokenManage) {
                                a href="/console/tokens" { "Tokens" }
                            }
                        }
                        div.who {
                            span { (s.org()) " · " (s.actor()) " " span.role { "(" (s.role()) ")" } }
                            form method="post" action="/console/logout" {
                                (csrf(s))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A whole error page with `status`.
pub(super) fn error_page(session: Option<&Session>, status: StatusCode, text: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let page = layout(
        session,
        title,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p.error role="alert" { (text) }
            p {
                @if session.is_some() { a href="/console/" { "Back to the images" } }
                @else { a href="/console/login" { "Sign in" } }
            }
        },
    );
    respond(status, page)
}

pub(super) fn login(csrf: &str, next: &str, error: Option<&str>) -> Markup {
    layout(
        None,
        "Sign in",
        html! {
            section.narrow {
                h1 { "Sign in" }
                p { "Paste an API token. The server wrote the first owner token to "
                    code { "DATA/owner-token" } "; owners make more on the Tokens page or with "
                    code { "cargo assemble token create" } "." }
                form method="post" action="/console/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Token" }
                    input #token type="password" name="token" required autocomplete="off"
                        autofocus aria-describedby=[error.map(|_| "token-error")]
                        aria-invalid=[error.map(|_| "true")];
                    @if let Some(e) = error {
                        p #token-error .field-error role="alert" { (e) }
                    }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub(super) fn time(iso: &str) -> Markup {
    html! { time datetime=(iso) { (iso) } }
}

fn age(iso: &str) -> Markup {
    html! { time datetime=(iso) data-age { (iso) } }
}

pub(super) fn result_badge(r: BuildResult) -> Markup {
    let (icon, class) = match r {
        BuildResult::Queued => ("◷", "queued"),
        BuildResult::Running => ("↻", "running"),
        BuildResult::Success => ("✓", "success"),
        BuildResult::Failure => ("✗", "failure"),
    };
    html! { span class={"badge " (class)} data-result=(r.as_str()) { span aria-hidden="true" { (icon) } " " (r.as_str()) } }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn source_of(config: &Value) -> &str {
    config.get("source").and_then(Value::as_str).unwrap_or("")
}

pub(super) fn overview(s: &Session, repos: &[Repo], new: &NewRepo) -> Markup {
    layout(
        Some(s),
        "Images",
        html! {
            h1 { "Images of " (s.org()) }
            @if repos.is_empty() {
                p.empty { "No images yet. "
                    @if s.can(Capability::RepoCreate) { "Create the first one below, or with "
                        code { "cargo assemble apply --server" } " from a checkout." }
                    @else { "An editor or owner of " (s.org()) " creates them." }
                }
            } @else {
                div.table-wrap {
                    table #repos {
                        caption.visually-hidden { "Images, their source and last build" }
                        thead { tr {
                            th scope="col" { "Image" }
                            th scope="col" { "Source" }
                            th scope="col" { "Last build" }
                            th scope="col" { "Latest digest" }
                        } }
                        tbody {
                            @for r in repos {
                                tr data-repo=(r.name) {
                                    th scope="row" { a href={"/console/repos/" (r.name)} { (r.name) } }
                                    td { code { (source_of(&r.config)) } }
                                    td {
                                        @if let Some(b) = &r.latest_build {
                                            (result_badge(b.result)) " "
                                            (age(b.completed_at.as_deref().unwrap_or(&b.created_at)))
                                            @if b.result == BuildResult::Queued { " " span.flag { "rebuild queued" } }
                                            @if b.result == BuildResult::Failure { " " span.flag.failing { "failing" } }
                                        } @else { span.muted { "never built" } }
                                    }
                                    td {
                                        @for (arch, d) in &r.digests {
                                            code title=(d) { (arch) " " (short(d)) } " "
                                        }
                                        @if r.digests.is_empty() { span.muted { "none yet" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if s.can(Capability::RepoCreate) {
                section.card {
                    h2 #new-image { "New image" }
                    (field_list(&new.errors, &["/name", "/source", "/repositories", "/keyring"]))
                    form method="post" action="/console/" {
                        (csrf(s))
                        (text_field("name", "Name", &new.name, &new.errors, "/name", "lowercase letters, digits and . _ -"))
                        (text_field("source", "Source image", &new.source, &new.errors, "/source", "e.g. cgr.dev/chainguard/wolfi-base:latest, or scratch"))
                        (area_field("repositories", "Repositories (one per line)", &new.repositories, &new.errors, "/repositories"))
                        (area_field("keyring", "Keys (one per line)", &new.keyring, &new.errors, "/keyring"))
                        button.primary type="submit" { "Create and build" }
                    }
                }
            }
        },
    )
}

fn errors_at<'a>(errors: &'a [FieldError], prefix: &str) -> Vec<&'a FieldError> {
    errors
        .iter()
        .filter(|e| e.path == prefix || e.path.starts_with(&format!("{prefix}/")))
        .collect()
}

/// The problems not shown next to one of `fields`.
fn field_list(errors: &[FieldError], fields: &[&str]) -> Markup {
    let rest: Vec<_> = errors
        .iter()
        .filter(|e| {
            !fields
                .iter()
                .any(|f| e.path == *f || e.path.starts_with(&format!("{f}/")))
        })
        .collect();
    html! {
        @if !errors.is_empty() {
            div.errors role="alert" {
                p { strong { "Nothing was saved: " (errors.len()) " problem" @if errors.len() != 1 { "s" } "." } }
                @if !rest.is_empty() {
                    ul { @for e in rest { li { @if !e.path.is_empty() { code { (e.path) } ": " } (e.message) } } }
                }
            }
        }
    }
}

fn inline_errors(id: &str, errors: &[&FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div id={(id) "-error"} .field-error {
                @for e in errors { p { (e.message) } }
            }
        }
    }
}

fn text_field(
    name: &str,
    label: &str,
    value: &str,
    errors: &[FieldError],
    at: &str,
    hint: &str,
) -> Markup {
    let mine = errors_at(errors, at);
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) name=(name) type="text" value=(value) aria-invalid=[(!mine.is_empty()).then_some("true")]
                aria-describedby={(name) "-hint" @if !mine.is_empty() { " " (name) "-error" }};
            small id={(name) "-hint"} { (hint) }
            (inline_errors(name, &mine))
        }
    }
}

fn area_field(name: &str, label: &str, value: &str, errors: &[FieldError], at: &str) -> Markup {
    let mine = errors_at(errors, at);
    html! {
        div.field {
            label for=(name) { (label) }
            textarea id=(name) name=(name) rows="2" aria-invalid=[(!mine.is_empty()).then_some("true")]
                aria-describedby=[(!mine.is_empty()).then(|| format!("{name}-error"))] { (value) }
            (inline_errors(name, &mine))
        }
    }
}

/// Locked versions by package name, per architecture, from a report's lock.
fn locked_versions(report: Option<&BuildReport>) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let platforms = report
        .and_then(|r| r.locked_config.as_ref())
        .and_then(|l| l.get("platforms"))
        .and_then(Value::as_array);
    for p in platforms.into_iter().flatten() {
        let arch = p["arch"].as_str().unwrap_or_default();
        for k in p["package"].as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (k["name"].as_str(), k["version"].as_str()) {
                out.entry(n.to_owned())
                    .or_default()
                    .push((arch.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

/// `docker pull HOST/REPO@DIGEST`: the registry the build pushed to when it
/// pushed, else this server's host.
pub(super) fn pull_command(host: &str, repo: &str, pushed: &[String], digest: &str) -> String {
    let target = pushed
        .first()
        .map(|r| {
            let r = r.split('@').next().unwrap_or(r);
            // Drop a tag (a ':' after the last '/').
            match (r.rfind(':'), r.rfind('/')) {
                (Some(c), Some(s)) if c > s => r[..c].to_owned(),
                (Some(_), None) => r.split(':').next().unwrap_or(r).to_owned(),
                _ => r.to_owned(),
            }
        })
        .unwrap_or_else(|| format!("{host}/{repo}"));
    format!("docker pull {target}@{digest}")
}

fn copyable(id: &str, text: &str) -> Markup {
    html! {
        div.copy {
            code id=(id) .pull { (text) }
            button type="button" data-copy=(id) aria-label={"Copy: " (text)} { "Copy" }
        }
    }
}

fn digests(
    host: &str,
    repo: &str,
    pushed: &[String],
    digests: &BTreeMap<String, String>,
) -> Markup {
    html! {
        @if digests.is_empty() { p.empty { "No image yet: the digests appear after the first successful build." } }
        @else {
            ul.digests {
                @for (arch, d) in digests {
                    li data-arch=(arch) {
                        span.arch { (arch) } " " code.digest { (d) }
                        (copyable(&format!("pull-{arch}"), &pull_command(host, repo, pushed, d)))
                    }
                }
            }
        }
    }
}

/// Any JSON value, structured: objects as definition lists, arrays as lists.
fn json_value(v: &Value) -> Markup {
    html! {
        @match v {
            Value::Null => span.muted { "(none)" },
            Value::Object(m) if m.is_empty() => span.muted { "(none)" },
            Value::Object(m) => dl.kv { @for (k, v) in m { dt { (k) } dd { (json_value(v)) } } },
            Value::Array(a) if a.is_empty() => span.muted { "(none)" },
            Value::Array(a) => ul.plain { @for v in a { li { (json_value(v)) } } },
            Value::String(s) => code { (s) },
            other => code { (other.to_string()) },
        }
    }
}

/// Keys shown in their own rows before the rest.
const SHOWN: [&str; 3] = ["name", "source", "packages"];
/// Keys always listed, "(none)" when absent.
const DETAILS: [&str; 9] = [
    "annotations",
    "environment",
    "accounts",
    "certificates",
    "tags",
    "architectures",
    "repositories",
    "keyring",
    "publish",
];

fn declaration(view: &RepoView) -> Markup {
    let config = &view.repo.config;
    let locked = locked_versions(view.last_success.as_ref());
    let packages: Vec<&str> = config
        .get("packages")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let declared: Vec<&str> = packages
        .iter()
        .map(|a| a.split(['<', '>', '=', '~', '@']).next().unwrap_or(a))
        .collect();
    html! {
        section.card #declaration {
            h2 { "Declaration" }
            dl.kv {
                dt { "Source" } dd { code { (source_of(config)) } }
                dt { "Packages" }
                dd {
                    @if locked.is_empty() && packages.is_empty() { span.muted { "(none)" } }
                    @else {
                        table.packages {
                            thead { tr { th scope="col" { "Package" } th scope="col" { "Locked version" } th scope="col" { "Why" } } }
                            tbody {
                                @for atom in &packages {
                                    @let name = atom.split(['<', '>', '=', '~', '@']).next().unwrap_or(atom);
                                    tr { td { code { (atom) } } td { (versions(locked.get(name))) } td { "declared" } }
                                }
                                @for (name, v) in &locked {
                                    @if !declared.contains(&name.as_str()) {
                                        tr.dependency { td { code { (name) } } td { (versions(Some(v))) } td { "dependency" } }
                                    }
                                }
                            }
                        }
                    }
                }
                @for key in DETAILS {
                    dt { (label(key)) }
                    dd { (json_value(config.get(key).unwrap_or(&Value::Null))) }
                }
                @if let Some(m) = config.as_object() {
                    @for (k, v) in m {
                        @if !SHOWN.contains(&k.as_str()) && !DETAILS.contains(&k.as_str()) {
                            dt { (k) } dd { (json_value(v)) }
                        }
                    }
                }
            }
        }
    }
}

fn label(key: &str) -> String {
    let mut c = key.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn versions(v: Option<&Vec<(String, String)>>) -> Markup {
    html! {
        @match v {
            None => span.muted { "not built yet" },
            Some(v) => {
                @for (i, (arch, version)) in v.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (version) } @if v.len() > 1 { " (" (arch) ")" }
                }
            }
        }
    }
}

pub(super) fn repo(s: &Session, view: &RepoView, edit: &super::Edit) -> Markup {
    let r = &view.repo;
    let name = &r.name;
    let pushed = view
        .last_success
        .as_ref()
        .map(|b| b.pushed.clone())
        .unwrap_or_default();
    let editable = s.can(Capability::RepoUpdate);
    html! {
        (layout(Some(s), name, html! {
            h1 { "Image " code { (name) } }
            p.status {
                @if let Some(b) = &r.latest_build {
                    "Last build: " (result_badge(b.result)) " " (age(b.completed_at.as_deref().unwrap_or(&b.created_at)))
                    " · " a href={"/console/builds/" (b.id)} { "report and log" }
                } @else { "Never built." }
                " · " a href={"/console/builds?repo=" (name)} { "build history" }
            }
            @if s.can(Capability::BuildTrigger) {
                form.inline method="post" action={"/console/repos/" (name) "/rebuild"} {
                    (csrf(s))
                    button #rebuild type="submit" { "Rebuild now" }
                }
            }
            section.card #digests {
                h2 { "Tags and digests" }
                p { "Tags: " @for t in tags(&r.config) { code.tag { (t) } " " } }
                (digests(&view.host, name, &pushed, &r.digests))
            }
            (declaration(view))
            @if editable { (edit_form(s, view, edit)) }
            section.card #charts {
                h2 { "History" }
                (chart::durations(&view.builds))
                (chart::sizes(&view.builds))
            }
        }))
    }
}

fn tags(config: &Value) -> Vec<String> {
    match config.get("tags").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        None => vec!["latest".into()],
    }
}

fn edit_form(s: &Session, view: &RepoView, edit: &super::Edit) -> Markup {
    let name = &view.repo.name;
    let config = &view.repo.config;
    let source = edit
        .source
        .clone()
        .unwrap_or_else(|| source_of(config).to_owned());
    let packages: Vec<String> = edit.packages.clone().unwrap_or_else(|| {
        config
            .get("packages")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    });
    let errors = &edit.errors;
    html! {
        section.card #edit {
            h2 { "Change" }
            (field_list(errors, &["/source", "/packages"]))
            form #edit-form method="post" action={"/console/repos/" (name)} {
                (csrf(s))
                (text_field("source", "Source image", &source, errors, "/source", "the image the packages are added to"))
                fieldset {
                    legend { "Packages to add" }
                    ul #packages .plain aria-live="polite" {
                        @for (i, p) in packages.iter().enumerate() {
                            @let mine = errors_at(errors, &format!("/packages/{i}"));
                            li data-package=(p) {
                                input type="hidden" name="package" value=(p);
                                code { (p) } " "
                                button.link.remove type="button" aria-label={"Remove " (p)} { "Remove" }
                                (inline_errors(&format!("package-{i}"), &mine))
                            }
                        }
                    }
                    @let general = errors.iter().filter(|e| e.path == "/packages").collect::<Vec<_>>();
                    (inline_errors("packages", &general))
                    @if packages.is_empty() { p.empty #no-packages { "No packages added yet: search below." } }
                    div.picker {
                        label for="package-search" { "Search the organization's packages" }
                        input #package-search type="search" name="q" autocomplete="off"
                            role="combobox" aria-autocomplete="list" aria-expanded="false"
                            aria-controls="package-results" aria-describedby="package-search-hint"
                            hx-get={"/console/search?repo=" (name)} hx-trigger="input changed delay:200ms, search"
                            hx-target="#package-results" hx-sync="this:replace" hx-include="this";
                        small #package-search-hint { "Type a name; ↑ ↓ choose, Enter adds." }
                        div #package-results role="listbox" aria-label="Matching packages" {}
                    }
                }
                div.actions {
                    button #preview type="button" hx-post={"/console/repos/" (name) "/preview"}
                        hx-include="#edit-form" hx-target="#plan" { "Preview the plan" }
                    button #save .primary type="submit" { "Save and build" }
                }
                div #plan aria-live="polite" {}
            }
        }
    }
}

pub(super) fn search_results(text: &str, hits: &Result<Vec<PackageHit>, String>) -> Markup {
    html! {
        @match hits {
            Err(e) => p.error role="alert" { "Search failed: " (e) },
            Ok(h) if h.is_empty() && !text.is_empty() => p.empty #no-results { "No package matches “" (text) "”." },
            Ok(h) => {
                ul.results {
                    @for (i, p) in h.iter().enumerate() {
                        li #{"option-" (i)} role="option" tabindex="-1" aria-selected="false"
                            data-name=(p.name) data-version=(p.version) {
                            strong { (p.name) } " " code { (p.version) }
                            span.desc { (p.description) }
                            span.size { (p.installed_size.map(bytes).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

/// Bytes for people (binary units).
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn signed_bytes(n: i64) -> String {
    let sign = if n < 0 { "−" } else { "+" };
    format!("{sign}{}", bytes(n.unsigned_abs()))
}

fn change_text(c: &Change) -> Markup {
    let n = c.name.as_deref().unwrap_or_default();
    html! {
        @match c.kind.as_str() {
            "add_package" => { span.kind { "+ added" } " " code { (n) } " " (c.version.as_deref().unwrap_or_default()) },
            "remove_package" => { span.kind { "− removed" } " " code { (n) } " " (c.version.as_deref().unwrap_or_default()) },
            "upgrade" | "downgrade" => { span.kind { (if c.kind == "upgrade" { "↑ upgraded" } else { "↓ downgraded" }) } " " code { (n) } " "
                (c.from.as_deref().unwrap_or_default()) " → " (c.to.as_deref().unwrap_or_default()) },
            "create_image" => { span.kind { "★ new image" } " " code { (n) } },
            other => { span.kind { (other.replace('_', " ")) } " "
                @if let Some(k) = &c.key { code { (k) } " " }
                (c.from.as_deref().unwrap_or_default()) @if c.from.is_some() { " → " } (c.to.as_deref().unwrap_or_default()) },
        }
        @if let Some(a) = &c.arch { " " span.arch { "(" (a) ")" } }
    }
}

pub(super) fn plan(plan: &PutResponse, sizes: &BTreeMap<String, u64>) -> Markup {
    let mut delta: i64 = 0;
    let mut unknown = 0;
    for c in &plan.changes {
        let sign = match c.kind.as_str() {
            "add_package" => 1,
            "remove_package" => -1,
            _ => continue,
        };
        match c.name.as_deref().and_then(|n| sizes.get(n)) {
            Some(sz) => delta += sign * *sz as i64,
            None => unknown += 1,
        }
    }
    html! {
        section.plan #plan-result {
            h3 { "Plan" }
            @if plan.changes.is_empty() { p.empty { "No changes: the image would be built as it is." } }
            @else {
                ul.changes {
                    @for c in &plan.changes {
                        li data-kind=(c.kind) data-name=[c.name.as_deref()] { (change_text(c)) }
                    }
                }
                p.size { "Installed size change: " strong { (signed_bytes(delta)) }
                    @if unknown > 0 { " (" (unknown) " package" @if unknown != 1 { "s" } " of unknown size)" } }
            }
            @for w in &plan.warnings { p.warning { "Warning: " (w) } }
            p.muted { "Nothing is saved until you press “Save and build”." }
        }
    }
}

pub(super) fn plan_errors(errors: &[FieldError]) -> Markup {
    html! {
        section.plan #plan-result {
            h3 { "Plan" }
            div.errors role="alert" {
                p { strong { "This declaration cannot be built: " (errors.len()) " problem" @if errors.len() != 1 { "s" } "." } }
                ul { @for e in errors { li data-path=(e.path) { @if !e.path.is_empty() { code { (e.path) } ": " } (e.message) } } }
            }
        }
    }
}

pub(super) fn builds(
    s: &Session,
    reports: &[BuildReport],
    f: &Filters,
    error: Option<&str>,
) -> Markup {
    layout(
        Some(s),
        "Builds",
        html! {
            h1 { "Builds" }
            form.filters method="get" action="/console/builds" {
                div.field { label for="f-repo" { "Image" } input #f-repo type="text" name="repo" value=(f.repo); }
                div.field { label for="f-result" { "Result" }
                    select #f-result name="result" {
                        option value="" selected[f.result.is_empty()] { "any" }
                        @for r in ["queued", "running", "success", "failure"] {
                            option value=(r) selected[f.result == r] { (r) }
                        }
                    }
                }
                div.field { label for="f-since" { "Since" }
                    input #f-since type="text" name="since" value=(f.since) aria-describedby="f-since-hint";
                    small #f-since-hint { "24h, 7d, or a date" }
                    @if let Some(e) = error { p.field-error role="alert" { (e) } }
                }
                button type="submit" { "Filter" }
            }
            @if reports.is_empty() { p.empty { "No builds match these filters." } }
            @else {
                div.table-wrap {
                    table #builds {
                        thead { tr { th scope="col" { "Build" } th scope="col" { "Image" } th scope="col" { "Result" }
                            th scope="col" { "Trigger" } th scope="col" { "Queued" } th scope="col" { "Took" } } }
                        tbody {
                            @for b in reports {
                                tr {
                                    td { a href={"/console/builds/" (b.id)} { code { (short(&b.id)) } } }
                                    td { a href={"/console/repos/" (b.repo)} { (b.repo) } }
                                    td { (result_badge(b.result)) }
                                    td { (b.trigger) }
                                    td { (time(&b.created_at)) }
                                    td { (chart::took(b).map(|d| format!("{d:.1} s")).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub(super) fn build(s: &Session, b: &BuildReport, host: &str) -> Markup {
    layout(
        Some(s),
        &format!("Build of {}", b.repo),
        html! {
            h1 { "Build of " a href={"/console/repos/" (b.repo)} { (b.repo) } }
            p.muted { "Build " code { (b.id) } " · " (b.trigger) " · queued " (time(&b.created_at)) }
            (build_live(b, host))
            @if !b.changes.is_empty() {
                section.card { h2 { "Changes" } ul.changes { @for c in &b.changes { li { (change_text(c)) } } } }
            }
        },
    )
}

/// Status, digests and log; while the build is not final it asks htmx to
/// fetch itself again in a second.
pub(super) fn build_live(b: &BuildReport, host: &str) -> Markup {
    let live = !b.result.is_final();
    html! {
        div #live data-result=(b.result.as_str())
            hx-get=[live.then(|| format!("/console/builds/{}/live", b.id))]
            hx-trigger=[live.then_some("every 1s")] hx-swap=[live.then_some("outerHTML")] {
            p #build-status aria-live="polite" { "Status: " (result_badge(b.result))
                @if let Some(t) = &b.completed_at { " " (time(t)) } }
            @if let Some(e) = &b.error { p.error #build-error role="alert" { (e) } }
            @if b.result == BuildResult::Success {
                section.card #build-digests { h2 { "Image" } (digests(host, &b.repo, &b.pushed, &b.digests)) }
            }
            section.card {
                h2 #log-title { "Log" @if live { " (following)" } }
                pre #log tabindex="0" aria-labelledby="log-title" { (b.log.as_deref().unwrap_or_default()) }
            }
        }
    }
}

pub(super) fn tokens(
    s: &Session,
    tokens: &[TokenInfo],
    created: Option<&TokenCreated>,
    error: Option<&str>,
) -> Markup {
    layout(
        Some(s),
        "Tokens",
        html! {
            h1 { "Tokens of " (s.org()) }
            @if let Some(c) = created {
                div.notice role="status" {
                    p { "Token " code { (c.info.name) } " (" (c.info.role) ") was made. Copy it now: it is never shown again." }
                    (copyable("new-token", &c.token))
                }
            }
            div.table-wrap {
                table #tokens {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Made" }
                        th scope="col" { "By" } th scope="col" { "Expires" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for t in tokens {
                            tr {
                                th scope="row" { (t.name) } td { (t.role) } td { (time(&t.created_at)) } td { (t.created_by) }
                                td { @if let Some(e) = &t.expires_at { (time(e)) } @else { "never" } }
                                td { form.inline method="post" action={"/console/tokens/" (t.name) "/revoke"} {
                                    (csrf(s)) button.danger type="submit" aria-label={"Revoke " (t.name)} { "Revoke" } } }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "New token" }
                form method="post" action="/console/tokens" {
                    (csrf(s))
                    div.field { label for="t-name" { "Name" } input #t-name type="text" name="name" required; }
                    div.field { label for="t-role" { "Role" }
                        select #t-role name="role" { @for r in Role::ALL { option value=(r) selected[r == Role::Viewer] { (r) } } } }
                    div.field { label for="t-exp" { "Expires in" } input #t-exp type="text" name="expires_in" placeholder="30d" aria-describedby="t-exp-hint";
                        small #t-exp-hint { "e.g. 30d or 12h; empty: never" } }
                    @if let Some(e) = error { p.field-error role="alert" { (e) } }
                    button.primary type="submit" { "Make token" }
                }
            }
        },
    )
}
