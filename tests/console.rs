//! The web console in a real browser: Debian's headless Chromium, driven
//! through chromedriver by `testkit::browser`, against a real
//! `cargo-assemble serve` on loopback with the real engine, adding packages
//! of a signed repository that testkit makes and serves over HTTP to the
//! bundled quick-start base layout. Screenshots of every page go to
//! `target/console-screenshots/`.

mod service_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::blocking::Client as Http;
use reqwest::redirect::Policy;
use serde_json::json;
use service_support::*;
use testkit::browser::{keys, Browser};
use testkit::mirror::{Behaviour, Mirror};
use testkit::repo::{Pkg, Repo};

const WAIT: Duration = Duration::from_secs(120);

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

/// A signed repository with `hello` and `replayout` (which needs
/// `libreplay`); `replayout`'s package file is large enough that, served
/// one byte per 2 ms, its build runs for a few seconds.
fn repository(root: &Path) -> Repo {
    let mut repo = Repo::new(root, "console");
    repo.add(Pkg::new("hello", "1.0-r0").file("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755));
    // Incompressible content, so the .apk stays large.
    let mut noise = Vec::with_capacity(1500);
    let mut x: u32 = 2_463_534_242;
    for _ in 0..1500 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x as u8);
    }
    repo.add(Pkg::new("replayout", "1.0-r0").depend("libreplay").file(
        "usr/bin/replayout",
        &noise,
        0o755,
    ));
    repo.add(Pkg::new("libreplay", "0.3-r1").file("usr/lib/libreplay.so.0", b"\x7fELF", 0o755));
    repo.write_index();
    repo
}

/// Signs in through the form as a plain HTTP client: returns the session
/// cookie and the `Set-Cookie` header that carried it.
fn http_sign_in(base: &str, token: &str) -> (String, String) {
    let http = Http::builder().redirect(Policy::none()).build().unwrap();
    let page = http.get(format!("{base}/console/login")).send().unwrap();
    let login_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("assemble_login="))
        .expect("the login form sets its CSRF cookie");
    let csrf = login_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("assemble_login=")
        .to_owned();
    let res = http
        .post(format!("{base}/console/login"))
        .header("cookie", format!("assemble_login={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}&next=%2Fconsole%2F"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303, "sign-in answers a redirect");
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("assemble_session="))
        .expect("a session cookie");
    let value = set.split(';').next().unwrap().to_owned();
    (value, set)
}

/// `fetch` from the page (same origin, with its cookies): the status of a
/// form POST to `path` with `body`.
fn page_post(b: &Browser, path: &str, body: &str) -> u64 {
    let v = b.execute_async(
        "const done = arguments[arguments.length - 1];
         fetch(arguments[0], {method: 'POST', redirect: 'manual', credentials: 'same-origin',
             headers: {'content-type': 'application/x-www-form-urlencoded'}, body: arguments[1]})
           .then(r => done(r.type === 'opaqueredirect' ? 303 : r.status), e => done(String(e)));",
        vec![json!(path), json!(body)],
    );
    v.as_u64()
        .unwrap_or_else(|| panic!("POST {path} from the page failed: {v}"))
}

fn page_csrf(b: &Browser) -> String {
    b.find("input[name=csrf]")
        .prop("value")
        .as_str()
        .unwrap()
        .to_owned()
}

fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/console/"));
    b.wait_for("#token", WAIT);
    assert!(b.url().contains("/console/login"), "{}", b.url());
    b.find("#token").send_keys(token);
    b.find("#token").send_keys(keys::ENTER);
    b.wait_for("#main h1", WAIT);
}

#[test]
fn edit_preview_save_build_as_editor_then_read_only_as_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(&dir.path().join("repo"));
    // `replayout`'s package file drips (the index and the rest are served at once).
    let mirror = Mirror::start(
        repo.root(),
        Behaviour::Only(
            "replayout-1.0-r0.apk".into(),
            Box::new(Behaviour::Drip(Duration::from_millis(2))),
        ),
    );
    let data = dir.path().join("data");
    let server = Server::start_real(&data, &["--allow-local-paths"]);
    let owner = server.owner();
    let editor_token = make_token(&owner, "ed", "editor");
    let viewer_token = make_token(&owner, "vi", "viewer");
    // The repository's small bundled base image (examples/quickstart/base).
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/base");
    let source = format!("oci:{}:latest", base.display());
    let decl = json!({
        "source": source,
        "architectures": ["x86_64"],
        "packages": ["hello"],
        "repositories": [mirror.base.clone()],
        "keyring": [repo.key_path()],
        "annotations": {"org.opencontainers.image.title": "app"},
        "environment": {"LANG": "C.UTF-8"},
    });
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let first = wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);
    assert_eq!(first["result"], "success", "{first}");

    // The cookie's flags, as the server sends them.
    let (_, set_cookie) = http_sign_in(&server.url, &editor_token);
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");

    let shots = screenshots();
    let b = Browser::start(&shots);
    let base = &server.url;

    // Sign-in page, then in as the editor.
    b.goto(&format!("{base}/console/"));
    b.wait_for("#token", WAIT);
    b.screenshot("01-sign-in");
    b.find("#token").send_keys("cas_000000000000_nonsense");
    b.find("#token").send_keys(keys::ENTER);
    b.wait_for("#token-error", WAIT);
    b.find("#token").send_keys(&editor_token);
    b.find("#token").send_keys(keys::ENTER);
    b.wait_for("#repos", WAIT);
    let session = b
        .cookies()
        .into_iter()
        .find(|c| c.name == "assemble_session")
        .expect("a session cookie");
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site, "Strict", "{session:?}");

    // Overview → the repo.
    let row = b.find("#repos tr[data-repo=app]").text();
    assert!(row.contains(&source) && row.contains("success"), "{row}");
    b.screenshot("02-overview");
    b.find("a[href='/console/repos/app']").click();
    b.wait_for("#declaration", WAIT);
    let declaration = b.find("#declaration").text();
    for shown in [
        "hello",
        "1.0-r0",
        "LANG",
        "C.UTF-8",
        "org.opencontainers.image.title",
    ] {
        assert!(declaration.contains(shown), "{shown}: {declaration}");
    }
    let old_digest = first["digests"]["x86_64"].as_str().unwrap().to_owned();
    assert!(b.find("#digests").text().contains(&old_digest));
    b.screenshot_page("03-repo");

    // Search, choose with the keyboard, add.
    let search = b.find("#package-search");
    search.click();
    search.send_keys("replay");
    b.wait_for("#package-results [data-name=replayout]", WAIT);
    let hit = b.find("#package-results [data-name=replayout]").text();
    assert!(hit.contains("1.0-r0"), "{hit}");
    assert_eq!(
        b.find("#package-search").attr("aria-expanded").as_deref(),
        Some("true")
    );
    b.execute(
        "document.getElementById('package-results').scrollIntoView({block: 'center'});",
        vec![],
    );
    b.screenshot("04-search");
    b.find("#package-search").send_keys(keys::DOWN);
    b.find("#package-search").send_keys(keys::ENTER);
    b.wait_for("#packages input[name=package][value=replayout]", WAIT);
    assert!(
        b.active().is(&b.find("#package-search")),
        "focus returns to the search"
    );

    // The plan preview lists it (and its dependency), nothing saved yet.
    b.find("#preview").click();
    b.wait_for(
        "#plan-result li[data-kind=add_package][data-name=replayout]",
        WAIT,
    );
    let plan = b.find("#plan-result").text();
    assert!(plan.contains("libreplay"), "{plan}");
    assert!(plan.contains("Installed size change"), "{plan}");
    b.screenshot_page("05-preview");
    let (_, stored) = call(&owner, "GET", "/v1/repos/app", None);
    assert_eq!(stored["config"]["packages"], json!(["hello"]));

    // Save: the build page follows it from running to success.
    b.find("#save").click();
    b.wait_for("#live", WAIT);
    assert!(b.url().contains("/console/builds/"), "{}", b.url());
    b.wait_until("the build to show as running", WAIT, |b| {
        b.try_find("#live[data-result=running]").is_some()
    });
    assert!(
        b.text_of("#log-title")
            .unwrap_or_default()
            .contains("following"),
        "the log follows a running build"
    );
    // Lines arrive while it runs (replayout's package is still dripping in).
    b.wait_until("log lines of the running build", WAIT, |b| {
        b.text_of("#log")
            .is_some_and(|t| t.contains("building default/app"))
    });
    assert!(
        b.try_find("#live[data-result=running]").is_some(),
        "the log was followed before the build ended"
    );
    b.screenshot("06-build-running");
    b.wait_until("the build to succeed", WAIT, |b| {
        b.try_find("#live[data-result=success]").is_some()
    });
    let log = b.text_of("#log").unwrap_or_default();
    assert!(log.contains("published oci:"), "{log}");
    assert!(log.contains("x86_64: resolving"), "{log}");
    let (_, repo_now) = call(&owner, "GET", "/v1/repos/app", None);
    let digest = repo_now["digests"]["x86_64"].as_str().unwrap().to_owned();
    assert_ne!(digest, old_digest);
    let pull = b.text_of("#build-digests code.pull").unwrap_or_default();
    assert!(pull.starts_with("docker pull "), "{pull}");
    assert!(
        pull.ends_with(&format!("/app@{digest}")),
        "{pull} vs {digest}"
    );
    b.screenshot_page("07-build-done");

    // The repo page shows the new digest, its pull command and the charts.
    b.goto(&format!("{base}/console/repos/app"));
    b.wait_for("#digests", WAIT);
    assert!(b.find("#digests").text().contains(&digest));
    assert!(b
        .find("#digests code.pull")
        .text()
        .contains(&format!("@{digest}")));
    assert!(b.find("#declaration").text().contains("libreplay"));
    assert_eq!(b.find_all("#chart-durations rect.bar").len(), 2);
    assert_eq!(b.find_all("#chart-sizes circle.point").len(), 2);
    b.screenshot_page("08-repo-after");
    b.resize(390, 844);
    b.screenshot("09-repo-phone");
    b.resize(1280, 900);

    // History with a filter; tokens are for owners only.
    b.goto(&format!("{base}/console/builds?repo=app&result=success"));
    b.wait_for("#builds", WAIT);
    assert_eq!(b.find_all("#builds tbody tr").len(), 2);
    b.screenshot("10-builds");
    assert!(b.try_find("nav a[href='/console/tokens']").is_none());

    // CSRF: a POST without the token is refused; with it, it goes through.
    assert_eq!(page_post(&b, "/console/repos/app/rebuild", ""), 403);
    let csrf = page_csrf(&b);
    assert_eq!(
        page_post(&b, "/console/repos/app/rebuild", &format!("csrf={csrf}")),
        303
    );

    // Sign out; in as a viewer: everything visible, nothing editable.
    b.find("form[action='/console/logout'] button").click();
    b.wait_for("#token", WAIT);
    b.find("#token").send_keys(&viewer_token);
    b.find("#token").send_keys(keys::ENTER);
    b.wait_for("#repos", WAIT);
    assert!(b.try_find("#new-image").is_none());
    b.goto(&format!("{base}/console/repos/app"));
    b.wait_for("#declaration", WAIT);
    for control in ["#edit", "#package-search", "#save", "#rebuild", "#preview"] {
        assert!(b.try_find(control).is_none(), "a viewer sees {control}");
    }
    assert!(b.find("#digests").text().contains(&digest));
    b.screenshot_page("11-repo-viewer");
    // …and the server refuses a forged edit or rebuild anyway.
    let csrf = page_csrf(&b);
    assert_eq!(
        page_post(
            &b,
            "/console/repos/app",
            &format!("csrf={csrf}&source=scratch&package=curl")
        ),
        403
    );
    assert_eq!(
        page_post(&b, "/console/repos/app/rebuild", &format!("csrf={csrf}")),
        403
    );
    let (_, stored) = call(&owner, "GET", "/v1/repos/app", None);
    assert_eq!(stored["config"]["packages"], json!(["hello", "replayout"]));
    let denied = audit_log(&data, "default")
        .into_iter()
        .filter(|(actor, _, _, outcome)| actor == "vi" && outcome == "denied")
        .count();
    assert_eq!(denied, 2, "both refusals are audited like the API's");

    // The owner manages tokens.
    b.find("form[action='/console/logout'] button").click();
    sign_in(&b, base, &server.token("owner-token"));
    b.goto(&format!("{base}/console/tokens"));
    b.wait_for("#tokens", WAIT);
    b.find("#t-name").send_keys("ci");
    b.find("#t-name").send_keys(keys::ENTER);
    b.wait_for("#new-token", WAIT);
    assert!(b.find("#new-token").text().starts_with("cas_"));
    b.screenshot("12-tokens");
}

/// A declaration with problems shows each one next to its field.
#[test]
fn validation_errors_are_shown_next_to_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let owner = server.owner();
    let (status, body) = call(
        &owner,
        "PUT",
        "/v1/repos/app",
        Some(&declaration(&["curl"], json!({}))),
    );
    assert_eq!(status, 201, "{body}");
    let b = Browser::start(&screenshots());
    sign_in(&b, &server.url, &server.token("owner-token"));
    b.goto(&format!("{}/console/repos/app", server.url));
    b.wait_for("#edit-form", WAIT);
    b.find("#source").clear();
    b.find("#source").send_keys("not a reference!");
    // An atom that does not parse, beside a bad source: both are reported.
    b.execute(
        "const li = document.createElement('li');
         const input = document.createElement('input');
         input.type = 'hidden';
         input.name = 'package';
         input.value = 'bad atom>>';
         li.appendChild(input);
         document.getElementById('packages').appendChild(li);",
        vec![],
    );
    b.find("#save").click();
    b.wait_for(".errors", WAIT);
    assert_eq!(
        b.find("#source").attr("aria-invalid").as_deref(),
        Some("true")
    );
    assert!(!b.find("#source-error").text().is_empty());
    let package_error = b.find("#package-1-error").text();
    assert!(package_error.contains("bad atom"), "{package_error}");
    b.screenshot_page("13-validation-errors");
    let (_, stored) = call(&owner, "GET", "/v1/repos/app", None);
    assert_eq!(stored["config"]["source"], "scratch", "nothing was stored");
}

/// Server-side render time of the overview and a repo page with 500 repos
/// (the `Server-Timing` header the console sets); printed, not asserted.
#[test]
fn pages_with_500_repos_print_their_server_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--workers", "4"]);
    let owner = server.owner();
    let start = Instant::now();
    for i in 0..500 {
        let (status, body) = call(
            &owner,
            "PUT",
            &format!("/v1/repos/img-{i:03}"),
            Some(&declaration(&["curl", "jq"], json!({"n": i.to_string()}))),
        );
        assert_eq!(status, 201, "{body}");
    }
    println!("created 500 repos in {:?}", start.elapsed());
    // Timed once the queue is idle: the pages' own cost, not the workers'.
    let idle = Instant::now();
    loop {
        let (_, list) = call(&owner, "GET", "/v1/buildreports?limit=10000", None);
        let reports = list["reports"].as_array().unwrap();
        if reports.len() == 500 && reports.iter().all(|r| r["result"] == "success") {
            break;
        }
        assert!(idle.elapsed() < WAIT, "the 500 builds did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (cookie, _) = http_sign_in(&server.url, &server.token("owner-token"));
    let http = Http::builder().redirect(Policy::none()).build().unwrap();
    let time = |path: &str| -> Vec<f64> {
        (0..10)
            .map(|_| {
                let res = http
                    .get(format!("{}{path}", server.url))
                    .header("cookie", &cookie)
                    .send()
                    .unwrap();
                assert_eq!(res.status(), 200, "{path}");
                let timing = res.headers()["server-timing"].to_str().unwrap().to_owned();
                let body = res.text().unwrap();
                assert!(body.contains("img-499"), "{path} lists the repos");
                timing
                    .rsplit("dur=")
                    .next()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
            })
            .collect()
    };
    for path in ["/console/", "/console/repos/img-499"] {
        let mut ms = time(path);
        ms.sort_by(f64::total_cmp);
        println!(
            "{path} with 500 repos: server time median {:.1} ms, max {:.1} ms (10 requests)",
            ms[5], ms[9]
        );
    }
}
