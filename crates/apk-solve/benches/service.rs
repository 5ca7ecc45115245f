//! Service scale: when an index changes, a build service re-resolves every
//! declaration that uses it. This loads the Alpine v3.17 aarch64 index
//! (parsed from the compressed file, no cache), builds the universe once
//! over a base image (the packages `alpine-base` pulls in, installed), and
//! solves 1000 different declarations of 1 to 30 packages each, drawn
//! deterministically from the index, with the image policy, on every core.
//! It prints the time of each step and the total.
//!
//! `cargo bench -p apk-solve --bench service [-- DECLARATIONS]`

use std::time::Instant;

use apk::dependency::{Constraint, Dependency};
use apk::index::{IndexLoader, Trust};
use apk::package::PackageInfo;
use apk::signature::Keyring;
use apk_solve::resolve::{Index, Inputs, Installed};
use apk_solve::{self as solve, resolve, universe, Policy, Request, ResolveRequest, DEFAULT_TAG};

/// xorshift64*: the same declarations on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn any(name: &str) -> Dependency<'_> {
    Dependency {
        name,
        tag: None,
        conflict: false,
        constraint: Constraint::Any,
    }
}

fn main() {
    let declarations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let arches = ["aarch64", "noarch"];
    let keys = Keyring::load(&[testkit::corpus("apk/keys/alpine")]).expect("keys");
    let path = testkit::corpus("apk/alpine-v3.17-main-aarch64/APKINDEX.tar.gz");

    let t0 = Instant::now();
    let index = IndexLoader::new(None)
        .load(&path, &keys, Trust::Verify)
        .expect("index");
    let t_load = t0.elapsed();

    let indexes = [Index::parsed("main", &index)];
    let only_index = Inputs {
        arches: &arches,
        indexes: &indexes,
        ..Default::default()
    };
    // The base image: what `alpine-base` installs.
    let base: Vec<PackageInfo<'static>> = {
        let mut db = universe(&only_index).expect("universe");
        let request = ResolveRequest {
            world: vec![any("alpine-base")],
            ..Default::default()
        };
        let resolution = resolve(&mut db, &request).expect("alpine-base resolves");
        resolution
            .solution
            .changes
            .iter()
            .filter_map(|c| c.new)
            .map(|p| db.info(p).into_owned().into_owned())
            .collect()
    };

    // Candidate names: installable packages of the index.
    let names: Vec<String> = {
        let db = universe(&only_index).expect("universe");
        (0..db.package_count())
            .filter(|&p| db.package(p).installable)
            .map(|p| db.name_str(db.package(p).name).to_owned())
            .collect()
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let worlds: Vec<Vec<&str>> = (0..declarations)
        .map(|_| {
            let n = 1 + rng.below(30);
            (0..n)
                .map(|_| names[rng.below(names.len())].as_str())
                .collect()
        })
        .collect();

    // One universe shared by every thread: requests go to the solver
    // directly (`resolve` takes the universe mutably to intern names).
    let t1 = Instant::now();
    let installed: Vec<Installed<'_>> = base
        .iter()
        .map(|info| Installed { info, tag: None })
        .collect();
    let mut db = universe(&Inputs {
        installed: &installed,
        ..only_index
    })
    .expect("universe");
    let base_atoms: Vec<Dependency<'_>> = base.iter().map(|i| any(&i.name)).collect();
    let requests: Vec<Request<'_>> = worlds
        .iter()
        .map(|w| {
            let mut atoms = base_atoms.clone();
            for name in w {
                atoms.retain(|a| a.name != *name);
                atoms.push(any(name));
            }
            Request {
                world: atoms
                    .into_iter()
                    .map(|a| (db.world_dep(a), DEFAULT_TAG))
                    .collect(),
                policy: Policy::Image,
                ..Default::default()
            }
        })
        .collect();
    let t_universe = t1.elapsed();

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t2 = Instant::now();
    let db = &db;
    let solved: usize = std::thread::scope(|s| {
        let chunk = requests.len().div_ceil(threads);
        let handles: Vec<_> = requests
            .chunks(chunk.max(1))
            .map(|part| {
                s.spawn(move || part.iter().filter(|r| solve::solve(db, r).is_ok()).count())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("solver thread"))
            .sum()
    });
    let t_solve = t2.elapsed();

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let total = t_load + t_universe + t_solve;
    println!(
        "service: {declarations} declarations of 1-30 packages over a base of {} packages, {threads} threads",
        base.len()
    );
    println!("  load + parse index (no cache): {:9.1} ms", ms(t_load));
    println!("  build universe + requests:     {:9.1} ms", ms(t_universe));
    println!(
        "  solve all:                     {:9.1} ms ({:.2} ms each; {solved} solvable, {} refused)",
        ms(t_solve),
        ms(t_solve) / declarations as f64,
        declarations - solved
    );
    println!("service total ms: {:.1}", ms(total));
}
