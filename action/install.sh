#!/usr/bin/env bash
# Installs cargo-assemble $VERSION into $ROOT/bin (unless the cache restored
# it) and puts it on PATH for the next steps:
#  1. a checksummed release asset, for a release of the action (ACTION_REF
#     v$VERSION) or another version asked for: the archive's SHA-256 must be
#     the one in the release's SHA256SUMS (a mismatch fails; no asset, no
#     SHA256SUMS or no curl falls back to building);
#  2. else cargo: the action's own checkout (--path) or crates.io (--version).
set -euo pipefail

bin="$ROOT/bin/cargo-assemble"
version_of() { "$1" --version 2>/dev/null | awk '{ print $NF }'; }

from_release() {
  local tag="v$VERSION" server="${GITHUB_SERVER_URL:-https://github.com}"
  if [ -z "${ACTION_REPOSITORY:-}" ] || ! command -v curl >/dev/null 2>&1; then
    return 1
  fi
  if [ "$SOURCE" = checkout ] && [ "${ACTION_REF:-}" != "$tag" ]; then
    return 1
  fi
  local target
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) target=x86_64-unknown-linux-musl ;;
    Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
    Darwin-x86_64) target=x86_64-apple-darwin ;;
    Darwin-arm64) target=aarch64-apple-darwin ;;
    *) return 1 ;;
  esac
  local asset="cargo-assemble-$VERSION-$target.tar.gz"
  local base="$server/$ACTION_REPOSITORY/releases/download/$tag"
  local tmp
  tmp=$(mktemp -d "${RUNNER_TEMP:-/tmp}/cargo-assemble-release.XXXXXX")
  local get=(curl -fsSL --retry 3 --connect-timeout 10 --max-time 300)
  if ! "${get[@]}" -o "$tmp/SHA256SUMS" "$base/SHA256SUMS" ||
    ! "${get[@]}" -o "$tmp/$asset" "$base/$asset"; then
    echo "no release asset $asset for $tag: building instead"
    rm -rf "$tmp"
    return 1
  fi
  local expected actual
  expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS" | head -n 1)
  actual=$(sha256sum "$tmp/$asset" | awk '{ print $1 }')
  if [ -z "$expected" ]; then
    echo "SHA256SUMS of $tag does not list $asset: building instead"
    rm -rf "$tmp"
    return 1
  fi
  if [ "$expected" != "$actual" ]; then
    echo "::error::checksum mismatch for $base/$asset: SHA256SUMS says $expected, the download is $actual"
    rm -rf "$tmp"
    exit 1
  fi
  mkdir -p "$ROOT/bin"
  tar -xzf "$tmp/$asset" -C "$ROOT/bin" cargo-assemble
  rm -rf "$tmp"
  echo "installed cargo-assemble $VERSION from the release asset $asset (sha256 $actual)"
}

from_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "::error::cargo-assemble $VERSION is not installed and cargo is missing to build it: add a Rust toolchain step (e.g. dtolnay/rust-toolchain) before this action"
    exit 1
  fi
  # The action plans, applies and submits; it never runs `serve`, so it skips the service's
  # dependencies (SQLite, axum), which are about a third of a cold build.
  if [ "$SOURCE" = checkout ]; then
    cargo install --locked --no-default-features --root "$ROOT" --path "$GITHUB_ACTION_PATH/.."
  else
    cargo install --locked --no-default-features --root "$ROOT" cargo-assemble --version "=$VERSION"
  fi
}

if [ -x "$bin" ] && [ "$(version_of "$bin")" = "$VERSION" ]; then
  echo "cargo-assemble $VERSION restored from the cache"
else
  from_release || from_cargo
fi
got=$(version_of "$bin" || true)
if [ "$got" != "$VERSION" ]; then
  echo "::error::installed $bin reports version '$got', expected $VERSION"
  exit 1
fi
echo "$ROOT/bin" >> "$GITHUB_PATH"
