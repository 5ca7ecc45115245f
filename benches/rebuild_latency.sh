#!/usr/bin/env bash
# Rebuild latency as a measured figure (issue 12): a real `cargo assemble
# serve --poll-interval N` builds an image from a local signed repository;
# then a package of its closure gets a new version (re-signed index) and we
# time until GET /v1/repos/app names a new digest. Printed next to its bar:
# poll interval + build time (the first build's, measured in the same run)
# + 5 s.
# Usage: benches/rebuild_latency.sh [POLL_INTERVAL_SECONDS] [RUNS]
# (CARGO_ASSEMBLE_BIN=path uses that binary instead of building --release.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
poll=${1:-5}
runs=${2:-3}
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 1; }
done
cd "$root"
if [ -n "${CARGO_ASSEMBLE_BIN:-}" ]; then
  bin=$CARGO_ASSEMBLE_BIN
else
  cargo build --release -q -p cargo-assemble
  bin="$root/target/release/cargo-assemble"
fi
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$root/benches/bench-packages.sh"
bench_packages "$bin" "$work" 2 4

"$bin" serve --listen 127.0.0.1:0 --data "$work/data" --allow-local-paths \
  --poll-interval "${poll}s" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do
  url=$(sed -n 's/^listening on //p' "$work/serve.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 1; }
token=$(cat "$work/data/owner-token")
api() { curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
now() { date +%s.%N; }

decl=$(jq -n --arg repo "$work/repo" --arg key "$work/bench.rsa.pub" \
  '{source: "scratch", architectures: ["x86_64"], packages: ["bench1"], repositories: [$repo], keyring: [$key]}')
build=$(api -X PUT "$url/v1/repos/app" -d "$decl" | jq -r .build_id)
t0=$(now)
until [ "$(api "$url/v1/buildreports/$build" | jq -r .result)" = success ]; do sleep 0.1; done
build_time=$(echo "$(now) - $t0" | bc)
digest=$(api "$url/v1/repos/app" | jq -r '.digests.x86_64')

for run in $(seq 1 "$runs"); do
  # A new release of bench1, indexed and signed again.
  "$bin" package "$work/trees/pkg1" --name bench1 --pkgver "1.0-r$run" --arch x86_64 \
    --sign-key "$work/bench.rsa" -o "$work/repo/x86_64/bench1-1.0-r$run.apk" >/dev/null
  t0=$(now)
  "$bin" index "$work"/repo/x86_64/*.apk -o "$work/repo/x86_64/APKINDEX.tar.gz" \
    --sign-key "$work/bench.rsa" >/dev/null
  while :; do
    new=$(api "$url/v1/repos/app" | jq -r '.digests.x86_64')
    [ "$new" != "$digest" ] && break
    sleep 0.1
  done
  latency=$(echo "$(now) - $t0" | bc)
  digest=$new
  bar=$(echo "$poll + $build_time + 5" | bc)
  verdict=$(echo "$latency <= $bar" | bc)
  printf 'run %d: new digest published %.2f s after the change (bar: poll %d s + build %.2f s + 5 s = %.2f s) %s\n' \
    "$run" "$latency" "$poll" "$build_time" "$bar" "$([ "$verdict" = 1 ] && echo ok || echo OVER)"
done
