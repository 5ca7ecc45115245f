#!/bin/sh
# Regenerates the quickstart: the signed repository under repo/ (made with
# cargo-assemble's own package and index writer, signed by a fresh key whose
# public half is kept in keys/; the private key is thrown away) and the base
# image under base/ (built by cargo-assemble from scratch).
# Output is reproducible apart from the signatures (SOURCE_DATE_EPOCH fixed).
# Needs gcc with static glibc (Debian: libc6-dev) for the static binary.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build -q -p cargo-assemble
bin="$root/target/debug/cargo-assemble"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SOURCE_DATE_EPOCH=1735689600
"$bin" keygen quickstart -d "$tmp" --bits 2048 >/dev/null
rm -rf "$here/repo" "$here/keys" "$here/base"
mkdir -p "$here/keys"
cp "$tmp/quickstart.rsa.pub" "$here/keys/"

# Trees that git cannot hold (empty directories, the compiled binary).
cp -r "$here/src/acme-baselayout" "$tmp/acme-baselayout"
mkdir -p "$tmp/acme-baselayout/tmp" "$tmp/acme-baselayout/usr/bin" "$tmp/acme-baselayout/root"
chmod 1777 "$tmp/acme-baselayout/tmp"
mkdir -p "$tmp/hello-static/usr/bin"
gcc -static -Os -s -o "$tmp/hello-static/usr/bin/hello-static" "$here/src/hello-static.c"

arch=x86_64
out="$here/repo/$arch"
mkdir -p "$out"
pkg() {
  name=$1 ver=$2 dir=$3; shift 3
  "$bin" package "$dir" --name "$name" --pkgver "$ver" --arch "$arch" --license MIT --origin "$name" \
    --sign-key "$tmp/quickstart.rsa" -o "$out/$name-$ver.apk" "$@" >/dev/null
}
pkg acme-baselayout 1.0-r0 "$tmp/acme-baselayout" --description "ACME base layout"
pkg hello-greeting-data 1.0.0-r0 "$here/src/hello-greeting-data" --description "The greeting hello-static prints"
pkg hello-static 1.0.0-r0 "$tmp/hello-static" --description "A static binary that prints a greeting" \
  --depend hello-greeting-data --provide cmd:hello-static=1.0.0-r0
pkg acme-motd 2.1-r3 "$here/src/acme-motd" --description "Message of the day for ACME images"
pkg acme-ca-cert 2024.1-r0 "$here/src/acme-ca-cert" --description "ACME internal root certificate" \
  --provide ca-certificates-acme
"$bin" index "$out"/*.apk -o "$out/APKINDEX.tar.gz" --description "cargo-assemble quickstart" \
  --sign-key "$tmp/quickstart.rsa" >/dev/null

# The base image the quickstart builds on.
"$bin" build "$here/base.toml" --output "oci:$here/base" --quiet
echo "wrote $here/repo, $here/base (key: $here/keys/quickstart.rsa.pub)"
