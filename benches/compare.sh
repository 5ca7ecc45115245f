#!/usr/bin/env bash
# Every whole-process comparison of issue 16 in one run: each command next
# to a yardstick measured in the same run, the two interleaved run by run
# so that both see the same machine load. Prints medians and ratios.
#
#   resolve of a 200-package world (Alpine v3.17 aarch64 main, 5004
#     packages) vs `gzip -dc` of its index: cold (empty cache: the index is
#     verified, inflated, parsed and the cache written) and warm (cache
#     present: verified, then mapped)
#   validate of a declaration over that index, warm
#   build adding ~300 MB of packages (half random, half text) vs
#     `tar -c | gzip -6 | sha256sum` of the same files, and its peak RSS
#   the same build with `compression = "zstd"` vs `tar -c | zstd -3 -T0 |
#     sha256sum` (when the zstd tool is there), its size and peak RSS
#   push of a ~300 MB, 6-layer image from an OCI layout to a loopback
#     `docker-registry` vs `skopeo copy` of the same layout, a fresh
#     registry per run (benches/push_vs_skopeo.sh; needs docker-registry
#     and skopeo, else the row says so)
#   1000 declarations re-resolved after an index change (the apk-solve
#     `service` bench: load, universe once, 1000 solves on every core)
#
# Usage: benches/compare.sh [RUNS]      RUNS >= 11 (default 11)
# Environment: BUILD_MB (default 300), SKIP_BUILD=1 to leave out the build
# comparison, SKIP_PUSH=1 to leave out the push comparison, NO_BUILD=1 to
# time the release binary already there,
# CARGO_ASSEMBLE_CORPUS (default ../shared/corpus).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-11}
if (( runs < 11 )); then
  echo "RUNS must be at least 11" >&2
  exit 2
fi
corpus=${CARGO_ASSEMBLE_CORPUS:-$root/../shared/corpus}
repo="$corpus/apk/alpine-v3.17-main-aarch64"
index="$repo/APKINDEX.tar.gz"
keys="$corpus/apk/keys/alpine"
for p in "$index" "$keys"; do
  [[ -e $p ]] || { echo "missing $p (set CARGO_ASSEMBLE_CORPUS)" >&2; exit 2; }
done
export CARGO_ASSEMBLE_CORPUS=$corpus

cd "$root"
echo "building (release)…" >&2
[[ -n ${NO_BUILD:-} ]] || cargo build --release -q -p cargo-assemble
cargo bench -q -p apk-solve --bench service --no-run 2>/dev/null
bin="$root/target/release/cargo-assemble"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# Milliseconds (3 decimals) that running "$@" takes; output discarded.
time_ms() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  local t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}

median() {
  sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# --- resolve and validate ---------------------------------------------------
world=$(tr '\n' ' ' < benches/worlds/alpine-v3.17-aarch64-200.txt)
resolve() {
  # shellcheck disable=SC2086
  CARGO_ASSEMBLE_CACHE=$1 "$bin" resolve $world --repository "$repo" \
    --keyring "$keys" --arch aarch64
}
mkdir -p "$work/val"
cp "$keys/alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub" "$work/val/"
cat > "$work/val/assembly.toml" <<TOML
[image]
name = "bench"
source = "scratch"
architectures = ["aarch64"]
packages = ["busybox", "python3", "curl", "git", "openssh"]
repositories = ["$repo"]
keyring = ["alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"]
TOML
validate() {
  (cd "$work/val" && CARGO_ASSEMBLE_CACHE="$work/warm" "$bin" validate)
}
resolve "$work/warm" >/dev/null 2>&1   # prime the warm cache
validate >/dev/null 2>&1 || { echo "validate failed:" >&2; validate >&2; exit 1; }

echo "resolve / validate: $runs runs…" >&2
for _ in $(seq "$runs"); do
  time_ms gzip -dc "$index" >> "$work/gzip"
  rm -rf "$work/cold"
  time_ms resolve "$work/cold" >> "$work/cold.ms"
  time_ms resolve "$work/warm" >> "$work/warm.ms"
  time_ms validate >> "$work/validate.ms"
done
gz=$(median "$work/gzip")
cold=$(median "$work/cold.ms")
warm=$(median "$work/warm.ms")
val=$(median "$work/validate.ms")

# --- build --------------------------------------------------------------------
if [[ ${SKIP_BUILD:-} != 1 ]]; then
  total_mb=${BUILD_MB:-300}
  echo "build: making ${total_mb} MB of packages…" >&2
  b="$work/build"
  export SOURCE_DATE_EPOCH=1735689600
  . "$root/benches/bench-packages.sh"
  bench_packages "$bin" "$b" 10 "$total_mb"
  cat > "$b/assembly.toml" <<TOML
[image]
name = "bench"
source = "scratch"
architectures = ["x86_64"]
packages = [$bench_list]
repositories = ["./repo"]
keyring = ["bench.rsa.pub"]
TOML
  # The same image with zstd layers, next to `tar | zstd -3 -T0`.
  sed 's/^name = "bench"$/name = "bench-zstd"\ncompression = "zstd"/' "$b/assembly.toml" > "$b/zstd.toml"
  yardstick() { tar -C "$b/trees" -c . | gzip -6 | sha256sum; }
  zyardstick() { tar -C "$b/trees" -c . | zstd -q -3 -T0 | sha256sum; }
  build() { (cd "$b" && CARGO_ASSEMBLE_CACHE="$work/buildcache" "$bin" build --quiet); }
  zbuild() { (cd "$b" && CARGO_ASSEMBLE_CACHE="$work/buildcache" "$bin" build --quiet zstd.toml); }
  build >/dev/null 2>&1 || { echo "build failed:" >&2; build >&2; exit 1; }
  zbuild >/dev/null 2>&1 || { echo "zstd build failed:" >&2; zbuild >&2; exit 1; }
  have_zstd=0
  command -v zstd >/dev/null && have_zstd=1
  rss_kib=0
  zrss_kib=0
  have_time=0
  [[ -x /usr/bin/time ]] && have_time=1
  echo "build: $runs runs…" >&2
  for _ in $(seq "$runs"); do
    time_ms yardstick >> "$work/tar.ms"
    time_ms build >> "$work/build.ms"
    (( have_zstd )) && time_ms zyardstick >> "$work/ztar.ms"
    time_ms zbuild >> "$work/zbuild.ms"
  done
  if (( have_time )); then
    (cd "$b" && CARGO_ASSEMBLE_CACHE="$work/buildcache" /usr/bin/time -f %M -o "$work/rss" "$bin" build --quiet)
    rss_kib=$(cat "$work/rss")
    (cd "$b" && CARGO_ASSEMBLE_CACHE="$work/buildcache" /usr/bin/time -f %M -o "$work/zrss" "$bin" build --quiet zstd.toml)
    zrss_kib=$(cat "$work/zrss")
  fi
  tarz=$(median "$work/tar.ms")
  buildt=$(median "$work/build.ms")
  zbuildt=$(median "$work/zbuild.ms")
  zsize=$(du -sk "$b/target/assemble/bench-zstd/blobs" | cut -f1)
  gsize=$(du -sk "$b/target/assemble/bench/blobs" | cut -f1)
  (( have_zstd )) && ztarz=$(median "$work/ztar.ms")
fi

# --- push ---------------------------------------------------------------------------
push_note=
if [[ ${SKIP_PUSH:-} == 1 ]]; then
  push_note=skipped
elif ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
  push_note="skipped: needs docker-registry and skopeo"
else
  echo "push: $runs runs…" >&2
  PUSH_TIMES="$work/push.times" benches/push_vs_skopeo.sh "${BUILD_MB:-300}" "$runs" >&2
  cut -d' ' -f1 "$work/push.times" > "$work/push.ours"
  cut -d' ' -f2 "$work/push.times" > "$work/push.skopeo"
  push_ours=$(median "$work/push.ours")
  push_skopeo=$(median "$work/push.skopeo")
fi

# --- 1000 declarations ----------------------------------------------------------
echo "service: $runs runs…" >&2
for _ in $(seq "$runs"); do
  cargo bench -q -p apk-solve --bench service -- 1000 2>/dev/null |
    awk '/service total ms:/ { print $4 }' >> "$work/service.ms"
done
service=$(median "$work/service.ms")
service_threads=$(cargo bench -q -p apk-solve --bench service -- 1000 2>/dev/null | awk -F', ' 'NR == 1 { print $NF }')

# --- table -------------------------------------------------------------------------
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "holds" : "misses" }'; }
# A ratio's verdict from the medians themselves, not from the ratio as printed
# (1.504 shows as 1.50 but misses 1.5).
ratio_verdict() { awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN { print (a / b <= g) ? "holds" : "misses" }'; }
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "machine: ${cpu:-unknown CPU}, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
echo "load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians of $runs runs, whole processes, wall time"
echo
printf '%-46s %11s %11s %7s  %-9s %s\n' "measurement" "ours ms" "yardstick" "ratio" "goal" ""
row() { printf '%-46s %11s %11s %7s  %-9s %s\n' "$@"; }
row "gzip -dc APKINDEX.tar.gz (yardstick)" "-" "$gz" "1.00" "" ""
r=$(ratio "$cold" "$gz"); row "resolve 200 packages, cold (empty cache)" "$cold" "$gz" "${r}x" "<= 1.5x" "$(ratio_verdict "$cold" "$gz" 1.5)"
r=$(ratio "$warm" "$gz"); row "resolve 200 packages, warm (cached)" "$warm" "$gz" "${r}x" "<= 0.5x" "$(ratio_verdict "$warm" "$gz" 0.5)"
row "validate over that index, warm" "$val" "-" "-" "< 30 ms" "$(verdict "$val" 29.999)"
if [[ ${SKIP_BUILD:-} != 1 ]]; then
  r=$(ratio "$buildt" "$tarz")
  row "build ${total_mb} MB vs tar|gzip -6|sha256sum" "$buildt" "$tarz" "${r}x" "<= 0.6x" "$(ratio_verdict "$buildt" "$tarz" 0.6)"
  if (( have_time )); then
    mb=$(( rss_kib / 1024 ))
    row "build peak RSS (MB)" "$mb" "-" "-" "< 100 MB" "$(verdict "$mb" 99.999)"
  fi
  if (( have_zstd )); then
    r=$(ratio "$zbuildt" "$ztarz")
    row "build, compression = zstd, vs tar|zstd -3 -T0" "$zbuildt" "$ztarz" "${r}x" "" "(image $(( zsize / 1024 )) MB, gzip $(( gsize / 1024 )) MB)"
  else
    row "build, compression = zstd" "$zbuildt" "-" "-" "" "(no zstd tool for a yardstick)"
  fi
  if (( have_time )); then
    row "build peak RSS, zstd (MB)" "$(( zrss_kib / 1024 ))" "-" "-" "< 100 MB" "$(verdict "$(( zrss_kib / 1024 ))" 99.999)"
  fi
fi
if [[ -z $push_note ]]; then
  r=$(ratio "$push_ours" "$push_skopeo")
  row "push ${BUILD_MB:-300} MB image vs skopeo copy" "$push_ours" "$push_skopeo" "${r}x" "" ""
else
  row "push vs skopeo copy" "-" "-" "-" "" "$push_note"
fi
row "1000 declarations after an index change" "$service" "-" "-" "< 5000 ms" "$(verdict "$service" 4999.999) ($service_threads)"
