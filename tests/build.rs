//! End-to-end image builds: the quickstart, the real Alpine image plus
//! repo-small packages, the two-architecture apko image, SBOM validation,
//! reproducibility, and failures that must leave earlier output untouched.
//! Real tools read our output: skopeo, umoci, chroot + the image's own
//! busybox and apk-tools, pyspdxtools (each check is skipped with a note
//! when the tool is missing or we are not root).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use oci_image::layout;
use oci_image::rootfs::RootFs;
use oci_image::ImageRef;

mod common;
use common::{assemble, copy_dir, corpus, text, umoci_unpack};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The installed packages (names) of each platform of a built layout.
fn installed_names(layout_dir: &Path, tag: &str) -> Vec<(String, Vec<String>)> {
    let source = layout::open(&ImageRef::Layout {
        path: layout_dir.to_owned(),
        reference: Some(tag.to_owned()),
    })
    .unwrap();
    source
        .images()
        .iter()
        .map(|img| {
            let (fs, files) =
                RootFs::scan(&source, img, &|p| p.ends_with("apk/db/installed")).unwrap();
            let path = fs.resolve("lib/apk/db/installed").unwrap();
            let db = apk::database::InstalledDb::from_bytes(&files[&path], "installed").unwrap();
            let names = db
                .records
                .iter()
                .map(|r| r.info().name.to_string())
                .collect();
            (img.platform.architecture.clone(), names)
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn repo_small_assembly(dir: &Path, source: &str, packages: &[&str]) {
    let list: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
    write(
        &dir.join("assembly.toml"),
        &format!(
            "[image]\nname = \"img\"\nsource = \"{source}\"\npackages = [{}]\nrepositories = [\"{}\"]\nkeyring = [\"{}\"]\n",
            list.join(", "),
            corpus("apk/repo-small/packages").display(),
            corpus("apk/repo-small/melange.rsa.pub").display()
        ),
    );
}

/// Runs the quick start's `hello-static` inside `rootfs`.
fn assert_hello_runs(rootfs: &Path) {
    let run = Command::new("chroot")
        .arg(rootfs)
        .arg("/usr/bin/hello-static")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "Hello from a package built by cargo-assemble!\n"
    );
}

#[test]
fn quickstart_builds_and_its_binary_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let o = assemble(
        &example(),
        &[
            "build",
            "--output",
            &format!("oci:{}", out.display()),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let added = &report[0]["report"]["platforms"][0]["added"];
    assert_eq!(added.as_array().unwrap().len(), 4, "{report}");
    if have("umoci") && is_root() {
        assert_hello_runs(&umoci_unpack(&out, &tmp.path().join("bundle")));
    } else {
        eprintln!("note: umoci missing or not root; skipped running the binary");
    }
}

/// The blob `digest` (`sha256:…`) of the layout `dir`.
fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap()
}

/// The JSON document whose descriptor in `dir`'s index.json `pick` selects.
fn indexed_json(dir: &Path, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| pick(m))
        .unwrap();
    serde_json::from_slice(&blob(dir, desc["digest"].as_str().unwrap())).unwrap()
}

/// The manifest of the image tagged `tag` in the layout `dir`.
fn manifest(dir: &Path, tag: &str) -> serde_json::Value {
    indexed_json(dir, |m| {
        m["annotations"]["org.opencontainers.image.ref.name"] == tag
    })
}

/// The quickstart declaring `compression = "zstd"`, built on 1 and on 4
/// threads (the same bytes), read back by our reader, by skopeo (which
/// recompresses it for umoci, whose 0.4 releases read no zstd, and the
/// binary then runs), and used as the source of another build.
#[test]
fn zstd_layers_are_reproducible_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("qs");
    copy_dir(&example(), &project);
    let decl = project.join("assembly.toml");
    let text_before = std::fs::read_to_string(&decl).unwrap();
    let tags = "tags = [\"latest\", \"1.0\"]\n";
    assert!(text_before.contains(tags));
    write(
        &decl,
        &text_before.replace(tags, &format!("{tags}compression = \"zstd\"\n")),
    );
    let build = |threads: &str, out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_cargo-assemble"))
            .current_dir(&project)
            .env_remove("SOURCE_DATE_EPOCH")
            .env("CARGO_ASSEMBLE_THREADS", threads)
            .args(["build", "--output", &format!("oci:{}", out.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    let (one, four) = (tmp.path().join("one"), tmp.path().join("four"));
    build("1", &one);
    build("4", &four);
    assert_eq!(
        std::fs::read(one.join("index.json")).unwrap(),
        std::fs::read(four.join("index.json")).unwrap(),
        "1 and 4 compression threads give the same image"
    );

    // The base's layers stay as they were; the new one is zstd.
    let base = manifest(&example().join("base"), "latest");
    let built = manifest(&one, "latest");
    let layers = built["layers"].as_array().unwrap();
    let base_layers = base["layers"].as_array().unwrap();
    assert_eq!(&layers[..base_layers.len()], &base_layers[..]);
    let new = &layers[base_layers.len()];
    assert_eq!(
        new["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let digest = new["digest"].as_str().unwrap();
    assert!(
        blob(&one, digest).starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        "a zstd frame"
    );
    let names = &installed_names(&one, "latest")[0].1;
    for p in ["hello-static", "acme-motd", "acme-ca-cert"] {
        assert!(names.iter().any(|n| n == p), "{p} in {names:?}");
    }

    // Declared back to the default, the new layer is gzip again.
    write(&decl, &text_before);
    let gz = tmp.path().join("gz");
    build("1", &gz);
    let gz_layers = manifest(&gz, "latest")["layers"].clone();
    assert_eq!(
        gz_layers[base_layers.len()]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    // Another build on top of the zstd image reads its layers (each one's
    // diff_id checked) and copies them as they are.
    let second = tmp.path().join("second");
    write(
        &second.join("assembly.toml"),
        &format!(
            "[image]\nname = \"second\"\nsource = \"oci:{}:latest\"\npackages = [\"hello-greeting-data\"]\nrepositories = [\"{}\"]\nkeyring = [\"{}\"]\n",
            one.display(),
            project.join("repo").display(),
            project.join("keys/quickstart.rsa.pub").display()
        ),
    );
    let o = assemble(&second, &["build"]);
    assert!(o.status.success(), "{}", text(&o));
    let on_top = manifest(&second.join("target/assemble/second"), "latest");
    assert_eq!(
        &on_top["layers"].as_array().unwrap()[..layers.len()],
        &layers[..]
    );

    if !have("skopeo") {
        eprintln!("note: skopeo missing; skipped reading the zstd image with it");
        return;
    }
    let copied = tmp.path().join("copied");
    let s = Command::new("skopeo")
        .args(["copy", "--dest-compress-format", "gzip"])
        .arg(format!("oci:{}:latest", one.display()))
        .arg(format!("oci:{}:latest", copied.display()))
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", text(&s));
    if !(have("umoci") && is_root()) {
        eprintln!("note: umoci missing or not root; skipped running the binary");
        return;
    }
    assert_hello_runs(&umoci_unpack(&copied, &tmp.path().join("bundle")));
}

#[test]
fn alpine_image_plus_repo_small() {
    let tmp = tempfile::tempdir().unwrap();
    let source = format!(
        "oci:{}:alpine-3.16.9",
        corpus("images/alpine-3.16.9-x86_64").display()
    );
    repo_small_assembly(tmp.path(), &source, &["custom-ca-certs-1", "replayout"]);
    let o = assemble(tmp.path(), &["build"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("etc/os-release"),
        "warns about the unowned base file: {}",
        text(&o)
    );
    let out = tmp.path().join("target/assemble/img");
    let names = installed_names(&out, "latest");
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].1.len(), 17, "{:?}", names[0].1);
    assert_eq!(
        &names[0].1[14..],
        ["custom-ca-certs-1", "pretend-baselayout", "replayout"]
    );

    if have("skopeo") {
        let s = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:latest", out.display()))
            .output()
            .unwrap();
        assert!(s.status.success(), "{}", text(&s));
    }
    if !(have("umoci") && is_root()) {
        eprintln!("note: umoci missing or not root; skipped unpack checks");
        return;
    }
    let rootfs = umoci_unpack(&out, &tmp.path().join("bundle"));
    assert!(std::fs::read_to_string(rootfs.join("etc/os-release"))
        .unwrap()
        .contains("ID=replaces"));
    let cat = Command::new("chroot")
        .arg(&rootfs)
        .args([
            "/bin/busybox",
            "cat",
            "/usr/local/share/ca-certificates/cert-a.crt",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cat.stdout).contains("BEGIN CERTIFICATE"),
        "{}",
        text(&cat)
    );
    let info = Command::new("chroot")
        .arg(&rootfs)
        .args([
            "/sbin/apk",
            "info",
            "-e",
            "custom-ca-certs-1",
            "replayout",
            "pretend-baselayout",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&info.stdout).lines().count(),
        3,
        "{}",
        text(&info)
    );
    let audit = Command::new("chroot")
        .arg(&rootfs)
        .args(["/sbin/apk", "audit"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&audit.stdout);
    for added in [
        "usr/local/share/ca-certificates",
        "etc/os-release",
        "var/lib/db/sbom",
    ] {
        assert!(
            !report.contains(added),
            "apk audit reports {added}: {report}"
        );
    }
}

#[test]
fn two_architecture_base_keeps_every_base_package() {
    let tmp = tempfile::tempdir().unwrap();
    let source = format!("oci:{}", corpus("apk/repo-small/base_image").display());
    repo_small_assembly(tmp.path(), &source, &["replayout"]);
    let o = assemble(tmp.path(), &["build"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = tmp.path().join("target/assemble/img");
    let built = installed_names(&out, "latest");
    assert_eq!(built.len(), 2);
    for (arch, names) in built {
        for want in ["pretend-baselayout", "package-x", "package-y", "replayout"] {
            assert!(
                names.iter().any(|n| n == want),
                "{arch}: {want} missing from {names:?}"
            );
        }
    }
}

#[test]
fn sbom_validates_and_names_every_package() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let o = assemble(
        &example(),
        &[
            "build",
            "--output",
            &format!("oci:{}", out.display()),
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let sbom_path = tmp.path().join("qs.spdx.json");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sbom_path).unwrap()).unwrap();
    let names: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for want in [
        "acme-baselayout",
        "hello-static",
        "hello-greeting-data",
        "acme-motd",
        "acme-ca-cert",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // The same document is attached in the layout as an artifact of the image.
    let manifest = indexed_json(&out, |m| m["artifactType"] == "application/spdx+json");
    assert!(manifest["subject"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    if have("pyspdxtools") {
        let v = Command::new("pyspdxtools")
            .arg("-i")
            .arg(&sbom_path)
            .output()
            .unwrap();
        assert!(v.status.success() && v.stdout.is_empty(), "{}", text(&v));
    } else {
        eprintln!("note: pyspdxtools missing; skipped SPDX validation");
    }
}

#[test]
fn builds_are_reproducible_across_directories_and_time() {
    let digests: Vec<String> = (0..2)
        .map(|i| {
            let tmp = tempfile::tempdir().unwrap();
            let copy = tmp.path().join(format!("project-{i}"));
            let cp = Command::new("cp")
                .arg("-r")
                .arg(example())
                .arg(&copy)
                .status()
                .unwrap();
            assert!(cp.success());
            if i == 1 {
                std::thread::sleep(std::time::Duration::from_millis(1100));
            }
            let o = assemble(&copy, &["build", "--json"]);
            assert!(o.status.success(), "{}", text(&o));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            v[0]["report"]["digest"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

/// A project whose build fails: `prepare` breaks a good project in `dir`.
fn failing_build_keeps_earlier_output(prepare: impl FnOnce(&Path), culprit: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    let cp = Command::new("cp")
        .arg("-r")
        .arg(example())
        .arg(&project)
        .status()
        .unwrap();
    assert!(cp.success());
    let o = assemble(&project, &["build"]);
    assert!(o.status.success(), "{}", text(&o));
    let out_parent = project.join("target/assemble");
    let before = snapshot(&out_parent);
    prepare(&project);
    let o = assemble(&project, &["build"]);
    assert_ne!(o.status.code(), Some(0), "the broken build succeeded");
    let err = text(&o);
    assert!(
        err.contains(culprit),
        "error does not name '{culprit}': {err}"
    );
    assert_eq!(
        snapshot(&out_parent),
        before,
        "earlier output changed or temporary files left behind"
    );
}

/// Rewrites the quickstart's assembly.toml.
fn edit_assembly(project: &Path, from: &str, to: &str) {
    let p = project.join("assembly.toml");
    let t = std::fs::read_to_string(&p).unwrap();
    assert!(t.contains(from));
    std::fs::write(&p, t.replace(from, to)).unwrap();
}

#[test]
fn corrupted_package_fails_cleanly() {
    failing_build_keeps_earlier_output(
        |p| {
            let apk = p.join("repo/x86_64/acme-motd-2.1-r3.apk");
            let mut b = std::fs::read(&apk).unwrap();
            let n = b.len() - 40;
            b[n] ^= 0x55;
            std::fs::write(&apk, b).unwrap();
        },
        "acme-motd",
    );
}

#[test]
fn unknown_key_fails_cleanly() {
    // The repository's index is re-signed by a key nobody trusts.
    failing_build_keeps_earlier_output(
        |p| {
            let o = assemble(
                p,
                &[
                    "keygen",
                    "stranger",
                    "-d",
                    p.to_str().unwrap(),
                    "--bits",
                    "2048",
                ],
            );
            assert!(o.status.success(), "{}", text(&o));
            let repo = p.join("repo/x86_64");
            let apks: Vec<String> = std::fs::read_dir(&repo)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|f| f.extension().is_some_and(|x| x == "apk"))
                .map(|f| f.to_string_lossy().into_owned())
                .collect();
            let mut args = vec!["index".to_owned()];
            args.extend(apks);
            args.extend([
                "-o".into(),
                repo.join("APKINDEX.tar.gz").to_string_lossy().into_owned(),
            ]);
            args.extend([
                "--sign-key".into(),
                p.join("stranger.rsa").to_string_lossy().into_owned(),
            ]);
            let o = assemble(p, &args.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(o.status.success(), "{}", text(&o));
        },
        "stranger.rsa.pub",
    );
}

#[test]
fn unknown_package_fails_cleanly() {
    failing_build_keeps_earlier_output(
        |p| edit_assembly(p, "\"acme-motd\"", "\"acme-motd\", \"no-such-pkg\""),
        "no-such-pkg",
    );
}

#[test]
fn bad_assembly_fails_cleanly() {
    failing_build_keeps_earlier_output(
        |p| edit_assembly(p, "packages = [", "pakages = ["),
        "pakages",
    );
}

#[test]
fn file_conflict_fails_cleanly() {
    // A package that writes etc/os-release, which acme-baselayout owns.
    failing_build_keeps_earlier_output(
        |p| {
            let root = p.join("conflict-root/etc");
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(root.join("os-release"), "ID=other\n").unwrap();
            let key_dir = p.join("newkey");
            std::fs::create_dir_all(&key_dir).unwrap();
            let run = |args: &[&str]| {
                let o = assemble(p, args);
                assert!(o.status.success(), "{}", text(&o));
            };
            run(&[
                "keygen",
                "conflict",
                "-d",
                key_dir.to_str().unwrap(),
                "--bits",
                "2048",
            ]);
            let repo = p.join("repo2/x86_64");
            std::fs::create_dir_all(&repo).unwrap();
            let apk = repo.join("other-release-1-r0.apk");
            let key = key_dir.join("conflict.rsa");
            run(&[
                "package",
                "conflict-root",
                "--name",
                "other-release",
                "--pkgver",
                "1-r0",
                "--arch",
                "x86_64",
                "--sign-key",
                key.to_str().unwrap(),
                "-o",
                apk.to_str().unwrap(),
            ]);
            run(&[
                "index",
                apk.to_str().unwrap(),
                "-o",
                repo.join("APKINDEX.tar.gz").to_str().unwrap(),
                "--sign-key",
                key.to_str().unwrap(),
            ]);
            edit_assembly(
                p,
                "repositories = [\"./repo\"]",
                "repositories = [\"./repo\", \"./repo2\"]",
            );
            edit_assembly(
                p,
                "keyring = [\"keys/quickstart.rsa.pub\"]",
                "keyring = [\"keys/quickstart.rsa.pub\", \"newkey/conflict.rsa.pub\"]",
            );
            edit_assembly(p, "\"acme-motd\"", "\"acme-motd\", \"other-release\"");
        },
        "etc/os-release",
    );
}

#[test]
fn hostile_tar_entries_are_refused() {
    use testkit::repo::{Pkg, RawEntry, Repo};
    // Each case: raw entries and what the refusal must say.
    let cases: Vec<(&str, Vec<RawEntry<'_>>, &str)> = vec![
        (
            "dotdot",
            vec![("../evil", tar::EntryType::Regular, b"x", "")],
            "refusing entry '../evil'",
        ),
        (
            "absolute",
            vec![("/etc/evil", tar::EntryType::Regular, b"x", "")],
            "absolute paths are not allowed",
        ),
        (
            "device",
            vec![("dev/null2", tar::EntryType::Char, b"", "")],
            "device nodes",
        ),
        (
            "late-link",
            vec![
                ("x/", tar::EntryType::Directory, b"", ""),
                ("x/f", tar::EntryType::Regular, b"x", ""),
                ("x", tar::EntryType::Symlink, b"", "/etc"),
            ],
            "`x`: a symbolic link cannot replace the directory",
        ),
        (
            "whiteout",
            vec![("etc/.wh.passwd", tar::EntryType::Regular, b"", "")],
            "whiteouts",
        ),
    ];
    for (label, entries, why) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let mut repo = Repo::new(&tmp.path().join("hrepo"), "hostile");
        repo.add_raw(Pkg::new("hostile", "1-r0"), &entries);
        repo.write_index();
        write(
            &tmp.path().join("assembly.toml"),
            &format!(
                "[image]\nname = \"h\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\npackages = [\"hostile\"]\n\
                 repositories = [\"{}\"]\nkeyring = [\"{}\"]\n",
                repo.root().display(),
                repo.key_path().display()
            ),
        );
        let o = assemble(tmp.path(), &["build"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{label}: {out}");
        assert!(
            out.contains("hostile-1-r0") && out.contains(why),
            "{label}: wanted '{why}': {out}"
        );
        let target = tmp.path().join("target");
        assert!(
            !target.exists() || snapshot(&target).is_empty(),
            "{label}: something was written: {:?}",
            snapshot(&target).keys()
        );
    }
}

/// Every file and directory under `dir` with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                // The SBOM beside a layout links into it: judged there.
                continue;
            }
            out.push((p.clone(), m.permissions().mode() & 0o7777));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// Runs cargo-assemble under `umask`.
fn assemble_with_umask(dir: &Path, umask: &str, args: &[&str]) -> Output {
    Command::new("sh")
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_cargo-assemble"))
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

#[test]
fn outputs_get_normal_modes_and_private_keys_stay_private() {
    for (umask, file, dir) in [("022", 0o644, 0o755), ("027", 0o640, 0o750)] {
        let tmp = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let o = assemble_with_umask(tmp.path(), umask, args);
            assert!(o.status.success(), "{args:?}: {}", text(&o));
        };
        let layout = tmp.path().join("out/layout");
        let archive = tmp.path().join("out/image.tar");
        let quickstart = example().join("assembly.toml");
        let q = quickstart.to_str().unwrap();
        run(&["build", q, "-o", &format!("oci:{}", layout.display()), "-q"]);
        run(&[
            "build",
            q,
            "-o",
            &format!("oci-archive:{}", archive.display()),
            "-q",
        ]);
        run(&["keygen", "k", "-d", "out", "--bits", "2048"]);
        std::fs::create_dir_all(tmp.path().join("tree/etc")).unwrap();
        std::fs::write(tmp.path().join("tree/etc/x"), "x").unwrap();
        run(&[
            "package",
            "tree",
            "--name",
            "x",
            "--pkgver",
            "1-r0",
            "--sign-key",
            "out/k.rsa",
            "-o",
            "out/x-1-r0.apk",
        ]);
        run(&[
            "index",
            "out/x-1-r0.apk",
            "--sign-key",
            "out/k.rsa",
            "-o",
            "out/APKINDEX.tar.gz",
        ]);
        let all = modes(&tmp.path().join("out"));
        assert!(all.len() > 10, "{all:?}");
        for (path, mode) in all {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let want = if name == "k.rsa" {
                0o600 & file
            } else if path.is_dir() {
                dir
            } else {
                file
            };
            assert_eq!(mode, want, "umask {umask}: {} is {mode:o}", path.display());
        }
    }
}
