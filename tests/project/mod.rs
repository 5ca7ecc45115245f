//! A project in a real temporary git repository, shared by the pipeline
//! and crash tests: a signed local repository of small packages made by
//! our own writer, and an assembly.toml building on scratch.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_cargo-assemble")
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .output()
        .expect("run cargo-assemble")
}

pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.email=test@example.org",
            "-c",
            "user.name=Test",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A project: a git repository with a signed local repository of small
/// packages and an assembly.toml building on scratch.
pub struct Project {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        std::fs::create_dir_all(dir.join("repo/x86_64")).unwrap();
        git(&dir, &["init", "-q"]);
        ok(
            &dir,
            &[
                "keygen",
                "test",
                "-d",
                dir.to_str().unwrap(),
                "--bits",
                "2048",
            ],
        );
        let p = Project { _tmp: tmp, dir };
        p.package("base-files", "1.0-r0", &[("etc/base", "base\n")], &[]);
        p.package(
            "tool",
            "1.0-r0",
            &[("usr/bin/tool", "#tool 1\n")],
            &["libtool"],
        );
        p.package("libtool", "1.0-r0", &[("usr/lib/libtool", "lib\n")], &[]);
        p.package("extra", "3.1-r0", &[("usr/share/extra", "extra\n")], &[]);
        p.index();
        std::fs::write(
            p.dir.join("assembly.toml"),
            "[image]\nname = \"app\"\nsource = \"scratch\"\narchitectures = [\"x86_64\"]\n\
             packages = [\"base-files\", \"tool\"]\nrepositories = [\"./repo\"]\nkeyring = [\"test.rsa.pub\"]\n",
        )
        .unwrap();
        std::fs::write(
            p.dir.join(".gitignore"),
            "target/\n.assembly-apply.lock\ntest.rsa\n",
        )
        .unwrap();
        p
    }

    pub fn package(&self, name: &str, version: &str, files: &[(&str, &str)], depends: &[&str]) {
        let root = self.dir.join("src").join(format!("{name}-{version}"));
        for (path, content) in files {
            let f = root.join(path);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, content).unwrap();
        }
        let out = self.dir.join(format!("repo/x86_64/{name}-{version}.apk"));
        let mut args = vec![
            "package".to_owned(),
            root.to_string_lossy().into_owned(),
            "--name".into(),
            name.into(),
            "--pkgver".into(),
            version.into(),
            "--arch".into(),
            "x86_64".into(),
            "--sign-key".into(),
            "test.rsa".into(),
            "-o".into(),
            out.to_string_lossy().into_owned(),
        ];
        for d in depends {
            args.extend(["--depend".into(), d.to_string()]);
        }
        ok(
            &self.dir,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    pub fn index(&self) {
        let repo = self.dir.join("repo/x86_64");
        let mut args = vec!["index".to_owned()];
        for e in std::fs::read_dir(&repo).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "apk") {
                args.push(p.to_string_lossy().into_owned());
            }
        }
        args.extend([
            "-o".into(),
            repo.join("APKINDEX.tar.gz").to_string_lossy().into_owned(),
        ]);
        args.extend(["--sign-key".into(), "test.rsa".into()]);
        ok(
            &self.dir,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    /// Adds a package `big` of `mib` MiB of incompressible data to the
    /// repository and to the declaration (so that writing its layer takes a
    /// while).
    pub fn add_big_package(&self, mib: usize) {
        let big = self.dir.join("src/big-1.0-r0/usr/share/big");
        std::fs::create_dir_all(&big).unwrap();
        let mut data = vec![0u8; mib << 20];
        let mut x: u32 = 1;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = (x >> 24) as u8;
        }
        std::fs::write(big.join("blob"), &data).unwrap();
        drop(data);
        self.package("big", "1.0-r0", &[], &[]);
        self.index();
        self.set_packages("[\"base-files\", \"tool\", \"big\"]");
    }

    pub fn set_packages(&self, list: &str) {
        let p = self.dir.join("assembly.toml");
        let t = std::fs::read_to_string(&p).unwrap();
        let start = t.find("packages = ").unwrap();
        let end = start + t[start..].find('\n').unwrap();
        std::fs::write(&p, format!("{}packages = {list}{}", &t[..start], &t[end..])).unwrap();
    }

    pub fn plan(&self, args: &[&str]) -> (i32, String) {
        let mut a = vec!["plan", "--detailed-exitcode"];
        a.extend(args);
        let o = run(&self.dir, &a);
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    pub fn commit(&self, message: &str) {
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "-m", message]);
    }
}
