//! Load on a real `cargo assemble serve` (loopback only, bounded): 50
//! clients × 20 requests, mixed GET / PUT / dry-run PUT over 10 repos, with
//! the fake engine so that the figure is the service's own cost (HTTP,
//! auth, SQLite, queue). Fails on any 5xx or a lost or duplicated build
//! (the checks of `tests/service_queue.rs`), then prints latency
//! percentiles. Run with `cargo bench --bench service_load`.

#[path = "../tests/service_support/mod.rs"]
mod service_support;

use std::time::{Duration, Instant};

use service_support::{load, Server};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    // `cargo bench` passes --bench; a filter that is not ours means "not me".
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && !"service_load".contains(a.as_str()))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--workers", "2"]);
    let (clients, requests) = (50, 20);
    let start = Instant::now();
    let (mut gets, mut puts) = load(&server, clients, requests);
    let wall = start.elapsed();
    gets.sort();
    puts.sort();
    println!("service load: {clients} clients x {requests} requests in {:.2}s (builds drained, checks passed: no 5xx, no lost or duplicated build)", wall.as_secs_f64());
    for (what, v) in [("GET", &gets), ("PUT", &puts)] {
        println!(
            "  {what:<3} n={:<4} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            v.len(),
            percentile(v, 0.50).as_secs_f64() * 1e3,
            percentile(v, 0.90).as_secs_f64() * 1e3,
            percentile(v, 0.99).as_secs_f64() * 1e3,
            v.last().unwrap().as_secs_f64() * 1e3,
        );
    }
}
