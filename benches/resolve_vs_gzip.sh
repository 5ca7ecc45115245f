#!/usr/bin/env bash
# Times `cargo assemble resolve` (whole process, release build) next to
# `gzip -dc` of the same index, in the same run, and prints medians.
# Usage: benches/resolve_vs_gzip.sh [RUNS]   (default 31)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus="$root/../shared/corpus/apk"
repo="$corpus/alpine-v3.17-main-aarch64"
index="$repo/APKINDEX.tar.gz"
runs=${1:-31}
cd "$root"
cargo build --release -q -p cargo-assemble
bin="$root/target/release/cargo-assemble"

# Median wall time in milliseconds of running "$@" $runs times.
median_ms() {
  local times=()
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

resolve() {
  "$bin" resolve "$@" --repository "$repo" --keyring "$corpus/keys/alpine" --arch aarch64
}

gz=$(median_ms gzip -dc "$index")
printf '%-34s %9s %9s\n' "world" "median ms" "x gzip"
printf '%-34s %9s %9s\n' "gzip -dc APKINDEX.tar.gz" "$gz" "1.00"
while IFS='|' read -r label world; do
  # shellcheck disable=SC2086
  t=$(median_ms resolve $world)
  printf '%-34s %9s %9s\n' "$label" "$t" "$(awk -v a="$t" -v b="$gz" 'BEGIN{printf "%.2f", a/b}')"
done <<LIST
busybox|busybox
python3|python3
build-base git openssh curl|build-base git openssh curl
nodejs postgresql15 redis nginx|nodejs postgresql15 redis nginx
200 packages|$(tr '\n' ' ' < "$root/benches/worlds/alpine-v3.17-aarch64-200.txt")
LIST
