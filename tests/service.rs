//! The build service over HTTP: tokens and capabilities, organizations and
//! entitlements, validation, and the client commands. Each test starts a
//! real `cargo-assemble serve` (fake engine) on loopback.

mod service_support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use service_support::*;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn roles_capabilities_and_token_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let out = server.output();
    assert!(
        out.contains(&format!(
            "written to {}",
            dir.path().join("owner-token").display()
        )),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("owner-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let owner = server.owner();
    let editor = server.client(&make_token(&owner, "ed", "editor"));
    let viewer = server.client(&make_token(&owner, "vi", "viewer"));
    let decl = declaration(&["curl"], json!({}));

    // No token, a wrong token: 401.
    let (status, body) = call(&server.anonymous(), "GET", "/v1/repos", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let forged = format!("cas_{}_{}", "0".repeat(12), "1".repeat(64));
    assert_eq!(
        call(&server.client(&forged), "GET", "/v1/repos", None).0,
        401
    );

    // A viewer may not PUT: 403 naming repo.update, and nothing is stored.
    let (status, body) = call(&viewer, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        json!({"error": "forbidden", "message": body["message"], "missing_capability": "repo.update"})
    );
    assert_eq!(call(&viewer, "GET", "/v1/repos/app", None).0, 404);

    // An editor's dry run answers the plan and queues nothing.
    let (status, body) = call(&editor, "PUT", "/v1/repos/app?dry_run=true", Some(&decl));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["build_id"], json!(null));
    assert!(
        body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "add_package" && c["name"] == "curl"),
        "{body}"
    );
    assert_eq!(call(&editor, "GET", "/v1/repos/app", None).0, 404);
    assert_eq!(
        call(&editor, "GET", "/v1/buildreports", None).1["reports"],
        json!([])
    );

    // The real PUT creates the repo and queues a build that succeeds.
    let (status, body) = call(&editor, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let id = body["build_id"].as_str().unwrap().to_owned();
    let report = wait_final(&viewer, &id, WAIT);
    assert_eq!(report["result"], "success", "{report}");
    assert_eq!(report["trigger"], "config");
    assert!(report["digests"]["x86_64"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(
        report["log"]
            .as_str()
            .unwrap()
            .contains("fake engine: done"),
        "{report}"
    );
    let (_, repo) = call(&viewer, "GET", "/v1/repos/app", None);
    assert_eq!(repo["latest_build"]["id"], json!(id));
    assert_eq!(repo["digests"], report["digests"]);
    assert_eq!(repo["config"]["packages"], json!(["curl"]));

    // Editors trigger builds but neither delete repos nor manage tokens.
    assert_eq!(call(&editor, "POST", "/v1/repos/app/builds", None).0, 202);
    let (status, body) = call(&editor, "DELETE", "/v1/repos/app", None);
    assert_eq!(
        (status, body["missing_capability"].as_str()),
        (403, Some("repo.delete"))
    );
    let (status, body) = call(&editor, "GET", "/v1/tokens", None);
    assert_eq!(
        (status, body["missing_capability"].as_str()),
        (403, Some("token.manage"))
    );
    let (status, body) = call(&viewer, "POST", "/v1/repos/app/builds", None);
    assert_eq!(
        (status, body["missing_capability"].as_str()),
        (403, Some("build.trigger"))
    );

    // Token names are unique; listing never shows secrets; revocation and expiry bite.
    let (status, _) = call(
        &owner,
        "POST",
        "/v1/tokens",
        Some(&json!({"name": "ed", "role": "viewer"})),
    );
    assert_eq!(status, 409);
    let (_, list) = call(&owner, "GET", "/v1/tokens", None);
    let names: Vec<_> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ed", "owner", "vi"]);
    assert!(!list.to_string().contains("cas_"));
    assert_eq!(call(&owner, "DELETE", "/v1/tokens/vi", None).0, 204);
    assert_eq!(call(&viewer, "GET", "/v1/repos", None).0, 401);
    let (status, body) = call(
        &owner,
        "POST",
        "/v1/tokens",
        Some(&json!({"name": "brief", "role": "viewer", "expires_in": "2s"})),
    );
    assert_eq!(status, 201, "{body}");
    let brief = server.client(body["token"].as_str().unwrap());
    assert_eq!(call(&brief, "GET", "/v1/repos", None).0, 200);
    std::thread::sleep(Duration::from_millis(2200));
    let (status, body) = call(&brief, "GET", "/v1/repos", None);
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("expired"));

    // The owner deletes.
    wait_idle(&owner);
    assert_eq!(call(&owner, "DELETE", "/v1/repos/app", None).0, 204);
    assert_eq!(call(&owner, "GET", "/v1/repos/app", None).0, 404);

    // Every mutating call is audited, refusals included.
    let audit = audit_log(dir.path(), "default");
    let has = |actor: &str, action: &str, outcome: &str| {
        audit
            .iter()
            .any(|(a, c, _, o)| a == actor && c == action && o == outcome)
    };
    assert!(has("vi", "repo.update", "denied"), "{audit:?}");
    assert!(has("ed", "repo.create", "ok"), "{audit:?}");
    assert!(has("ed", "build.trigger", "ok"), "{audit:?}");
    assert!(has("ed", "repo.delete", "denied"), "{audit:?}");
    assert!(has("owner", "token.manage", "revoked"), "{audit:?}");
    assert!(has("owner", "repo.delete", "ok"), "{audit:?}");
}

/// Waits until no build of the organization is queued or running.
fn wait_idle(c: &Client) {
    let start = std::time::Instant::now();
    loop {
        let (_, list) = call(c, "GET", "/v1/buildreports", None);
        if list["reports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "success" || r["result"] == "failure")
        {
            return;
        }
        assert!(start.elapsed() < WAIT, "builds still pending: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_invalid_declaration_gets_every_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--config", &write_config(dir.path(), "max_body = 4096\n")],
    );
    let owner = server.owner();
    let good = declaration(&["curl"], json!({}));
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&good));
    assert_eq!(status, 201, "{body}");
    wait_final(&owner, body["build_id"].as_str().unwrap(), WAIT);

    let bad = json!({
        "source": "scratch",
        "packages": ["curl", 7, "zlib>>", "missing-thing"],
        "tags": "latest",
        "enviroment": {},
    });
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&bad));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid");
    let paths: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/enviroment", "/packages/1", "/packages/2", "/tags"],
        "{body}"
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean 'environment'"));
    // Shape fine, but a package does not resolve: the engine's error, same format.
    let (status, body) = call(
        &owner,
        "PUT",
        "/v1/repos/app",
        Some(&declaration(&["curl", "missing-thing"], json!({}))),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"],
        json!([{"path": "/packages/1", "message": "package 'missing-thing' not found in any repository"}])
    );

    // Nothing stored, nothing queued.
    let (_, repo) = call(&owner, "GET", "/v1/repos/app", None);
    assert_eq!(repo["config"]["packages"], json!(["curl"]));
    assert_eq!(
        call(&owner, "GET", "/v1/buildreports?repo=app", None).1["reports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Names, sizes, bodies and routes answer JSON errors.
    let (status, body) = call(&owner, "PUT", "/v1/repos/Bad..Name", Some(&good));
    assert_eq!(
        (status, body["errors"][0]["path"].as_str()),
        (400, Some("/name")),
        "{body}"
    );
    let huge = declaration(&["curl"], json!({"x": "y".repeat(8192)}));
    let (status, body) = call(&owner, "PUT", "/v1/repos/app", Some(&huge));
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    let (status, body) = call(
        &owner,
        "PUT",
        "/v1/repos/app",
        Some(&json!("not an object")),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
    let (status, body) = call(&owner, "GET", "/v1/nothing", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = call(&owner, "GET", "/v1/buildreports/nope", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = call(&owner, "PATCH", "/v1/repos/app", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    let (status, body) = call(&owner, "GET", "/v1/buildreports?since=yesterdayish", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );

    // Health and metrics need no token.
    let (status, body) = call(&server.anonymous(), "GET", "/healthz", None);
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, metrics) = call(&server.anonymous(), "GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("cargo_assemble_builds_total{result=\"success\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cargo_assemble_queue_depth 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cargo_assemble_build_seconds_count 1"),
        "{metrics}"
    );
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("server.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn organizations_see_nothing_of_each_other_and_stay_within_their_entitlement() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"
        default_org = "acme"
        [orgs.acme]
        repositories = ["https://apk.acme.example/main"]
        packages = ["py3-*", "curl"]
        unsupported = ["py3-legacy"]
        [orgs.beta]
        repositories = ["*"]
        "#,
    );
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--config", &config]);
    let acme = server.owner();
    let beta = server.client(&server.token("owner-token-beta"));
    let repos = json!(["https://apk.acme.example/main/"]);
    let decl =
        json!({"source": "scratch", "packages": ["curl", "py3-requests"], "repositories": repos});
    let (status, body) = call(&acme, "PUT", "/v1/repos/app", Some(&decl));
    assert_eq!(status, 201, "{body}");
    let id = body["build_id"].as_str().unwrap().to_owned();
    wait_final(&acme, &id, WAIT);

    // Same routes with and without the organization prefix.
    assert_eq!(call(&acme, "GET", "/v1/orgs/acme/repos/app", None).0, 200);
    assert_eq!(
        call(&acme, "GET", "/v1/orgs/acme/buildreports", None).1["reports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The other organization: 404, never 403, whatever the path.
    for path in [
        "/v1/repos/app",
        "/v1/orgs/acme/repos/app",
        "/v1/orgs/acme/repos",
        &format!("/v1/buildreports/{id}"),
        &format!("/v1/buildreports/{id}/log"),
    ] {
        let (status, body) = call(&beta, "GET", path, None);
        assert_eq!(status, 404, "{path}: {body}");
    }
    assert_eq!(
        call(&beta, "PUT", "/v1/orgs/acme/repos/app", Some(&decl)).0,
        404
    );
    assert_eq!(call(&beta, "DELETE", "/v1/repos/app", None).0, 404);
    assert_eq!(call(&beta, "GET", "/v1/repos", None).1["repos"], json!([]));
    assert_eq!(
        call(&beta, "GET", "/v1/buildreports", None).1["reports"],
        json!([])
    );
    // Beta may have its own repo of the same name.
    assert_eq!(
        call(
            &beta,
            "PUT",
            "/v1/repos/app",
            Some(&declaration(&["busybox"], json!({})))
        )
        .0,
        201
    );

    // Outside acme's entitlement: 400 naming the package or repository.
    let outside = json!({
        "source": "scratch",
        "packages": ["curl", "busybox", "py3-legacy"],
        "repositories": ["https://apk.acme.example/main", "https://mirror.example/other"],
    });
    let (status, body) = call(&acme, "PUT", "/v1/repos/app", Some(&outside));
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let find = |path: &str| {
        errors
            .iter()
            .find(|e| e["path"] == path)
            .map(|e| e["message"].as_str().unwrap().to_owned())
    };
    assert!(
        find("/packages/1")
            .unwrap()
            .contains("'busybox' is not in your organization's entitlement"),
        "{body}"
    );
    assert!(
        find("/packages/2")
            .unwrap()
            .contains("'py3-legacy' is unsupported"),
        "{body}"
    );
    assert!(
        find("/repositories/1")
            .unwrap()
            .contains("https://mirror.example/other"),
        "{body}"
    );
    assert_eq!(
        call(&acme, "GET", "/v1/repos/app", None).1["config"]["packages"],
        json!(["curl", "py3-requests"])
    );
}

fn cli(server: &Server, token_file: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--token-file")
        .arg(token_file)
        .env("CARGO_ASSEMBLE_SERVER", &server.url)
        .env_remove("CARGO_ASSEMBLE_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn token_and_builds_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let owner_file = server.data.join("owner-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&server.data)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "a data directory the server creates is private"
        );
    }

    let out = cli(
        &server,
        &owner_file,
        &[
            "token",
            "create",
            "--role",
            "editor",
            "--name",
            "ci",
            "--expires",
            "30d",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(
        token.starts_with("cas_") && token.trim().len() == 81 && token.lines().count() == 1,
        "{token:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("editor token 'ci'") && stderr.contains("expires"),
        "{stderr}"
    );
    let ci_file = dir.path().join("ci-token");
    std::fs::write(&ci_file, &token).unwrap();

    let list = cli(&server, &owner_file, &["token", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("ci ") && text.contains("editor") && !text.contains("cas_"),
        "{text}"
    );

    // The editor token lacks token.manage: a clear error, exit 1.
    let denied = cli(&server, &ci_file, &["token", "list"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("token.manage"));

    let client = server.client(token.trim());
    let (_, body) = call(
        &client,
        "PUT",
        "/v1/repos/slow",
        Some(&declaration(&["curl"], json!({"fake.sleep": "1500ms"}))),
    );
    let id = body["build_id"].as_str().unwrap().to_owned();

    // Following the log streams until the build ends.
    let logs = cli(&server, &ci_file, &["builds", "logs", &id, "--follow"]);
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(
        text.contains("fake engine: building slow") && text.contains("build succeeded"),
        "{text}"
    );

    let get = cli(&server, &ci_file, &["builds", "get", &id, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(
        (report["id"].as_str(), report["result"].as_str()),
        (Some(id.as_str()), Some("success"))
    );

    let list = cli(
        &server,
        &ci_file,
        &["builds", "list", "--repo", "slow", "--json"],
    );
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["reports"][0]["id"], json!(id));
    let human = cli(&server, &ci_file, &["builds", "list", "--since", "1h"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains(&id) && text.contains("success"), "{text}");

    // A failing build: `builds logs --follow` exits 1.
    let (_, body) = call(
        &client,
        "PUT",
        "/v1/repos/bad",
        Some(&declaration(&[], json!({"fake.fail": "step exploded"}))),
    );
    let failing = body["build_id"].as_str().unwrap().to_owned();
    let logs = cli(&server, &ci_file, &["builds", "logs", &failing, "--follow"]);
    assert_eq!(logs.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&logs.stdout).contains("build failed: fake: step exploded"));

    let revoke = cli(&server, &owner_file, &["token", "revoke", "ci"]);
    assert!(revoke.status.success());
    let after = cli(&server, &ci_file, &["builds", "list"]);
    assert_eq!(after.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&after.stderr);
    assert!(
        stderr.contains("revoked") && !stderr.contains(token.trim()),
        "{stderr}"
    );
}
