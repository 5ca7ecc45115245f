//! End to end with real registries: images written by `cargo assemble
//! build` pushed to a `docker-registry` and read back by skopeo and umoci
//! (same digests as the local layout), and `login`/`logout` against Basic
//! auth behind TLS and token auth.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oci_image::registry::{
    AuthConfig, PushEvent, PushOptions, PushReport, Registry, RegistryOptions, RegistryRef,
};
use oci_image::Digest;
use serde_json::Value;
use testkit::registry::Registry as Server;
use testkit::{corpus, text};

const PASSWORD: &str = "e2e-Pw!7unique";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// Runs the CLI in `dir` with a private home, `envs` set and `stdin` piped.
fn assemble(
    dir: &Path,
    home: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"));
    cmd.current_dir(dir)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run cargo-assemble");
    let input = stdin.unwrap_or("").to_owned();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Builds `project`'s assembly into `out` (an OCI layout); returns the
/// digest its tags point to.
fn build(project: &Path, home: &Path, out: &Path) -> Digest {
    let o = assemble(
        project,
        home,
        &[
            "build",
            "--quiet",
            "--output",
            &format!("oci:{}", out.display()),
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    Digest::parse(index["manifests"][0]["digest"].as_str().unwrap()).unwrap()
}

fn client(cache: &Path, auth: AuthConfig, certs_d: Option<PathBuf>) -> Registry {
    Registry::new(RegistryOptions {
        cache_dir: Some(cache.to_owned()),
        certs_d: certs_d.into_iter().collect(),
        auth,
        attempts: 2,
        retry_delay: Duration::from_millis(10),
        ..RegistryOptions::default()
    })
    .unwrap()
}

fn push(reg: &Registry, layout: &Path, dest: &str) -> PushReport {
    let dest = RegistryRef::parse(dest).unwrap();
    reg.push_layout(layout, &dest, &PushOptions::default(), &|_: PushEvent<
        '_,
    >| {})
        .unwrap()
}

fn inspect(server: &Server, reference: &str, raw: bool) -> Value {
    let mut args = vec!["inspect"];
    if raw {
        args.push("--raw");
    }
    args.push(reference);
    serde_json::from_str(&server.skopeo(&args)).unwrap()
}

#[test]
fn quickstart_pushed_reads_back_with_the_same_digests() {
    let server = Server::plain();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("qs");
    let digest = build(&example(), tmp.path(), &layout);
    let reg = client(&tmp.path().join("cache"), AuthConfig::default(), None);
    let dest = server.reference("quickstart");
    let report = push(&reg, &layout, &dest);
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].digest, digest);

    for tag in ["latest", "1.0"] {
        let v = inspect(&server, &format!("{dest}:{tag}"), false);
        assert_eq!(v["Digest"], digest.to_string(), "{tag}");
    }
    // The exact bytes of the layout's manifest.
    let raw = server.skopeo(&["inspect", "--raw", &format!("{dest}:latest")]);
    assert_eq!(
        raw.as_bytes(),
        std::fs::read(layout.join("blobs/sha256").join(digest.hex())).unwrap()
    );

    // Copied back and unpacked by other tools: the packages' files are there.
    let rootfs = server.unpack(&format!("{dest}:latest"), &tmp.path().join("unpacked"));
    assert!(rootfs.join("usr/bin/hello-static").is_file());
    assert!(rootfs.join("usr/share/hello/greeting.txt").is_file());
    let installed = std::fs::read_to_string(rootfs.join("lib/apk/db/installed")).unwrap();
    assert!(installed.contains("P:hello-static"), "{installed}");

    // The SBOM is reachable as a referrer of the manifest (tag schema on
    // Distribution 2.8, which has no referrers API).
    let referrers = inspect(&server, &format!("{dest}:sha256-{}", digest.hex()), true);
    let entry = &referrers["manifests"][0];
    assert_eq!(entry["artifactType"], "application/spdx+json");
    let artifact = inspect(
        &server,
        &format!("{dest}@{}", entry["digest"].as_str().unwrap()),
        true,
    );
    assert_eq!(artifact["subject"]["digest"], digest.to_string());
    assert_eq!(artifact["layers"][0]["mediaType"], "application/spdx+json");

    // An unchanged re-push uploads no blob.
    let since = server.requests().len();
    let started = Instant::now();
    let again = push(&reg, &layout, &dest);
    println!(
        "re-push of the unchanged quickstart: {:?}",
        started.elapsed()
    );
    assert_eq!(again.blobs_uploaded, 0);
    let uploads: Vec<_> = server.requests()[since..]
        .iter()
        .filter(|q| q.uri.contains("/blobs/uploads"))
        .cloned()
        .collect();
    assert!(uploads.is_empty(), "{uploads:?}");
}

#[test]
fn two_architecture_build_pushes_a_two_architecture_index() {
    let server = Server::plain();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("assembly.toml"),
        format!(
            "[image]\nname = \"img\"\nsource = \"oci:{}\"\npackages = [\"replayout\"]\nrepositories = [\"{}\"]\nkeyring = [\"{}\"]\n",
            corpus("apk/repo-small/base_image").display(),
            corpus("apk/repo-small/packages").display(),
            corpus("apk/repo-small/melange.rsa.pub").display()
        ),
    )
    .unwrap();
    let layout = tmp.path().join("img");
    let digest = build(&project, tmp.path(), &layout);
    let reg = client(&tmp.path().join("cache"), AuthConfig::default(), None);
    let dest = server.reference("team/img");
    let report = push(&reg, &layout, &dest);
    let image = &report.images[0];
    assert_eq!(image.digest, digest);
    assert_eq!(image.platforms.len(), 2);
    let index = inspect(&server, &format!("{dest}:latest"), true);
    let listed: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_owned(),
                m["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pushed: Vec<(String, String)> = image
        .platforms
        .iter()
        .map(|p| {
            (
                p.platform.as_ref().unwrap().architecture.clone(),
                p.digest.to_string(),
            )
        })
        .collect();
    assert_eq!(listed, pushed);
    assert_eq!(report.referrers.len(), 2);
}

/// `login`, a push with the stored credentials, `logout`, against `server`.
fn login_round_trip(server: &Server) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let docker = tmp.path().join("docker");
    let certs = server
        .certs_d()
        .unwrap_or_else(|| tmp.path().join("no-certs"));
    let envs = [
        ("DOCKER_CONFIG", docker.as_path()),
        ("CARGO_ASSEMBLE_CERTS_D", certs.as_path()),
    ];
    let host = server.host();
    let mut outputs = Vec::new();
    let run = |args: &[&str], stdin: Option<&str>, outputs: &mut Vec<String>| {
        let o = assemble(tmp.path(), &home, args, &envs, stdin);
        outputs.push(text(&o));
        o
    };

    // Wrong password: exit 1 naming the registry and "unauthorized"; nothing stored.
    let o = run(
        &["login", host, "-u", "alice", "--password-stdin"],
        Some("wrong\n"),
        &mut outputs,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains(host) && err.contains("unauthorized"), "{err}");
    assert!(!docker.join("config.json").exists());
    // The password is never an argument.
    let o = run(&["login", host, "-u", "alice"], None, &mut outputs);
    assert!(!o.status.success());
    assert!(text(&o).contains("--password-stdin"), "{}", text(&o));

    let o = run(
        &["login", host, "-u", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
        &mut outputs,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Login succeeded"),
        "{}",
        text(&o)
    );
    let config = docker.join("config.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(doc["auths"][host]["auth"].is_string(), "{doc}");

    // The stored credentials push a build.
    let layout = tmp.path().join("qs");
    let digest = build(&example(), &home, &layout);
    let reg = client(
        &tmp.path().join("cache"),
        AuthConfig::docker_only(&config),
        server.certs_d(),
    );
    let dest = server.reference("secure/quickstart");
    let report = push(&reg, &layout, &dest);
    assert_eq!(report.images[0].digest, digest);
    assert_eq!(
        inspect(server, &format!("{dest}:latest"), false)["Digest"],
        digest.to_string()
    );
    outputs.push(format!("{report:?}"));

    let o = run(&["logout", host], None, &mut outputs);
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(doc["auths"].get(host).is_none(), "{doc}");
    let o = run(&["logout", host], None, &mut outputs);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Not logged in"),
        "{}",
        text(&o)
    );

    // The password appears in no output and no file we wrote.
    let texts: Vec<&str> = outputs.iter().map(String::as_str).collect();
    testkit::registry::assert_secret_absent(PASSWORD, &texts, &[tmp.path()]);
}

#[test]
fn login_and_logout_with_basic_auth_behind_tls() {
    login_round_trip(&Server::basic_tls("alice", PASSWORD));
}

#[test]
fn login_and_logout_with_token_auth() {
    let server = Server::token("alice", PASSWORD);
    login_round_trip(&server);
    assert!(server.tokens_issued() > 0);
}
