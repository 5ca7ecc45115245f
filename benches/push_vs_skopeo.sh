#!/usr/bin/env bash
# Pushes a ~300 MB image (6 layers made by `cargo assemble build`, `layers = 6`)
# from an OCI layout to a loopback `docker-registry` with our client, next to
# `skopeo copy oci:… docker://…` of the same layout, in the same run, each into
# a fresh repository; then an unchanged re-push of each. Reports the ratio.
# Usage: benches/push_vs_skopeo.sh [TOTAL_MB] [RUNS]
# With PUSH_TIMES=FILE, each run's two push times (ms, ours then skopeo's)
# are also appended to FILE, one run per line (benches/compare.sh uses it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
total_mb=${1:-300}
runs=${2:-3}
for tool in docker-registry skopeo; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 1; }
done
cd "$root"
cargo build --release -q -p cargo-assemble
cargo build --release -q -p oci-image --example registry_copy
bin="$root/target/release/cargo-assemble"
copy="$root/target/release/examples/registry_copy"
work=$(mktemp -d)
registry_pid=
trap '[ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1735689600 CARGO_ASSEMBLE_CACHE="$work/cache"

# The image: six packages of half random, half text data, one layer each.
count=6
. "$root/benches/bench-packages.sh"
bench_packages "$bin" "$work" "$count" "$total_mb"
cat > "$work/assembly.toml" <<TOML
[image]
name = "bench"
source = "scratch"
architectures = ["x86_64"]
packages = [$bench_list]
repositories = ["./repo"]
keyring = ["bench.rsa.pub"]
layers = $count
TOML
(cd "$work" && "$bin" build --quiet --output "oci:$work/layout")
echo "image: $(du -sm "$work/layout" | cut -f1) MB in $work/layout"

# A fresh loopback registry per run: nothing already there for either tool
# (skopeo's blob-info cache would otherwise mount blobs pushed by an earlier
# run from another repository).
start_registry() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  rm -rf "$work/registry"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
    sleep 0.1
  done
  host="127.0.0.1:$port"
}

ms() { echo $(( ($2 - $1) / 1000000 )); }
for run in $(seq 1 "$runs"); do
  start_registry
  t0=$(date +%s%N)
  "$copy" "oci:$work/layout" "docker://$host/ours$run" >/dev/null
  t1=$(date +%s%N)
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$host/skopeo$run:latest"
  t2=$(date +%s%N)
  "$copy" "oci:$work/layout" "docker://$host/ours$run" >/dev/null
  t3=$(date +%s%N)
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:latest" "docker://$host/skopeo$run:latest"
  t4=$(date +%s%N)
  ours=$(ms "$t0" "$t1"); theirs=$(ms "$t1" "$t2")
  [[ -n ${PUSH_TIMES:-} ]] && echo "$ours $theirs" >> "$PUSH_TIMES"
  printf 'run %d: push %6d ms, skopeo copy %6d ms (%.2fx); unchanged re-push %5d ms, skopeo %5d ms\n' \
    "$run" "$ours" "$theirs" "$(awk -v a="$ours" -v b="$theirs" 'BEGIN{print a/b}')" \
    "$(ms "$t2" "$t3")" "$(ms "$t3" "$t4")"
done
