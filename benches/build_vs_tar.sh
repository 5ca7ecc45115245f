#!/usr/bin/env bash
# Builds an image adding ~300 MB of packages (made with our own writer) and
# times it next to `tar -c | gzip -6 | sha256sum` of the same files, in the
# same run; reports the ratio and the build's peak memory.
# Usage: benches/build_vs_tar.sh [TOTAL_MB] [PACKAGES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
total_mb=${1:-300}
count=${2:-10}
cd "$root"
cargo build --release -q -p cargo-assemble
bin="$root/target/release/cargo-assemble"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1735689600

per=$(( total_mb / count ))
"$bin" keygen bench -d "$work" --bits 2048 >/dev/null
mkdir -p "$work/repo/x86_64" "$work/trees"
list=""
for i in $(seq 1 "$count"); do
  tree="$work/trees/pkg$i/usr/share/bench$i"
  mkdir -p "$tree"
  # Half incompressible, half text: roughly what real packages hold.
  head -c $(( per * 512 * 1024 )) /dev/urandom > "$tree/random.bin"
  { yes "cargo-assemble benchmark line $i" || true; } | head -c $(( per * 512 * 1024 )) > "$tree/text.txt"
  "$bin" package "$work/trees/pkg$i" --name "bench$i" --pkgver 1.0-r0 --arch x86_64 \
    --sign-key "$work/bench.rsa" -o "$work/repo/x86_64/bench$i-1.0-r0.apk" >/dev/null
  list="$list\"bench$i\", "
done
"$bin" index "$work"/repo/x86_64/*.apk -o "$work/repo/x86_64/APKINDEX.tar.gz" --sign-key "$work/bench.rsa" >/dev/null
cat > "$work/assembly.toml" <<TOML
[image]
name = "bench"
source = "scratch"
architectures = ["x86_64"]
packages = [${list%, }]
repositories = ["./repo"]
keyring = ["bench.rsa.pub"]
TOML

cd "$work"
t0=$(date +%s%N)
tar -C trees -c . | gzip -6 | sha256sum >/dev/null
t1=$(date +%s%N)
/usr/bin/time -f "%M" -o "$work/rss" "$bin" build --quiet
t2=$(date +%s%N)
yard=$(( (t1 - t0) / 1000000 ))
build=$(( (t2 - t1) / 1000000 ))
printf 'files: %s MB in %s packages\n' "$total_mb" "$count"
printf 'tar -c | gzip -6 | sha256sum: %6d ms\n' "$yard"
printf 'cargo assemble build:         %6d ms  (%.2fx)\n' "$build" "$(awk -v a="$build" -v b="$yard" 'BEGIN{print a/b}')"
printf 'build peak RSS:               %6d MB\n' "$(( $(cat "$work/rss") / 1024 ))"
