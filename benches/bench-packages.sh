# Sourced by the benchmark scripts: a signed repository of synthetic
# packages made with our own writer.
#
# bench_packages BIN DIR COUNT TOTAL_MB
#   writes DIR/bench.rsa{,.pub}, DIR/trees/pkgN (the files), DIR/repo/x86_64
#   (COUNT packages of TOTAL_MB/COUNT MB each, half random, half text — roughly
#   what real packages hold — and a signed APKINDEX), and sets `bench_list` to
#   the TOML list items `"bench1", "bench2", …`.
bench_packages() {
  local bin=$1 dir=$2 count=$3 total_mb=$4
  local per=$(( total_mb / count )) i tree
  mkdir -p "$dir/repo/x86_64" "$dir/trees"
  "$bin" keygen bench -d "$dir" --bits 2048 >/dev/null
  bench_list=""
  for i in $(seq 1 "$count"); do
    tree="$dir/trees/pkg$i/usr/share/bench$i"
    mkdir -p "$tree"
    head -c $(( per * 512 * 1024 )) /dev/urandom > "$tree/random.bin"
    { yes "cargo-assemble benchmark line $i" || true; } | head -c $(( per * 512 * 1024 )) > "$tree/text.txt"
    "$bin" package "$dir/trees/pkg$i" --name "bench$i" --pkgver 1.0-r0 --arch x86_64 \
      --sign-key "$dir/bench.rsa" -o "$dir/repo/x86_64/bench$i-1.0-r0.apk" >/dev/null
    bench_list="$bench_list\"bench$i\", "
  done
  bench_list=${bench_list%, }
  "$bin" index "$dir"/repo/x86_64/*.apk -o "$dir/repo/x86_64/APKINDEX.tar.gz" \
    --sign-key "$dir/bench.rsa" >/dev/null
}
