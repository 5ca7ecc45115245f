//! The WebDriver client against a real headless Chromium: a page served on
//! loopback is typed into, clicked, read, and photographed.

use std::time::Duration;

use testkit::browser::{keys, Browser};
use testkit::http::{Response, Server};

const PAGE: &str = r#"<!doctype html><title>smoke</title>
<label for=q>Query</label><input id=q>
<button id=go type=button>Go</button><p id=out></p>
<script>
document.getElementById('go').onclick = () => {
  document.getElementById('out').textContent = 'got ' + document.getElementById('q').value;
};
document.getElementById('q').onkeydown = e => { if (e.key === 'Enter') document.getElementById('out').textContent = 'enter'; };
</script>"#;

#[test]
fn drives_a_real_chromium() {
    let server = Server::start(|_| {
        Response::bytes(200, PAGE.as_bytes().to_vec())
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_header("Set-Cookie", "s=1; Path=/; HttpOnly; SameSite=Strict")
    });
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-smoke");
    let browser = Browser::start(&shots);
    browser.goto(&format!("{}/page", server.base));
    assert_eq!(browser.title(), "smoke");
    let q = browser.find("#q");
    q.send_keys("replayout");
    browser.find("#go").click();
    assert_eq!(browser.find("#out").text(), "got replayout");
    q.send_keys(keys::ENTER);
    browser.wait_until("the Enter key", Duration::from_secs(5), |b| {
        b.find("#out").text() == "enter"
    });
    assert_eq!(q.prop("value"), "replayout");
    assert!(browser.try_find("#missing").is_none());
    let cookie = browser
        .cookies()
        .into_iter()
        .find(|c| c.name == "s")
        .unwrap();
    assert!(
        cookie.http_only && cookie.same_site == "Strict",
        "{cookie:?}"
    );
    let png = std::fs::read(browser.screenshot("page")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}
