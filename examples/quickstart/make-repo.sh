#!/bin/sh
# Regenerates the quickstart repository under repo/ with cargo-assemble's own
# package and index writer, signed by a fresh key whose public half is kept in
# keys/. The private key is thrown away: the repository is an example only.
# Output is reproducible apart from the signatures (SOURCE_DATE_EPOCH fixed).
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
rm -rf "$here/repo" "$here/keys"
mkdir -p "$here/keys"
cp "$tmp/quickstart.rsa.pub" "$here/keys/"
for arch in x86_64 aarch64; do
  out="$here/repo/$arch"
  mkdir -p "$out"
  "$bin" package "$here/src/hello-greeting" --name hello-greeting --pkgver 1.0.0-r0 --arch "$arch" \
    --description "Prints a greeting" --license MIT --origin hello-greeting \
    --depend /bin/sh --depend acme-motd \
    --sign-key "$tmp/quickstart.rsa" -o "$out/hello-greeting-1.0.0-r0.apk" >/dev/null
  "$bin" package "$here/src/acme-motd" --name acme-motd --pkgver 2.1-r3 --arch "$arch" \
    --description "Message of the day for ACME images" --license MIT --origin acme-motd \
    --sign-key "$tmp/quickstart.rsa" -o "$out/acme-motd-2.1-r3.apk" >/dev/null
  "$bin" package "$here/src/acme-ca-cert" --name acme-ca-cert --pkgver 2024.1-r0 --arch "$arch" \
    --description "ACME internal root certificate" --license MIT --origin acme-ca-cert \
    --provide ca-certificates-acme --sign-key "$tmp/quickstart.rsa" \
    -o "$out/acme-ca-cert-2024.1-r0.apk" >/dev/null
  "$bin" index "$out"/*.apk -o "$out/APKINDEX.tar.gz" --description "cargo-assemble quickstart" \
    --sign-key "$tmp/quickstart.rsa" >/dev/null
done
echo "wrote $here/repo (key: $here/keys/quickstart.rsa.pub)"
