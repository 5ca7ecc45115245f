#!/usr/bin/env bash
# Decides how the action gets cargo-assemble. Outputs:
#   skip=true     a cargo-assemble of the wanted version is on PATH: use it;
#   version       the wanted version (the input, else the action's own);
#   source        "checkout" (build the action's own sources) or "registry"
#                 (another version: a release asset or crates.io);
#   root, key     where install.sh installs it, and the actions/cache key
#                 (the lock file and the sources, per OS and architecture).
set -euo pipefail

repo_root=$(cd "$GITHUB_ACTION_PATH/.." && pwd)
own=$(sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' "$repo_root/Cargo.toml" | head -n 1)
if [ -z "$own" ]; then
  echo "::error::cannot read the version of cargo-assemble from $repo_root/Cargo.toml"
  exit 1
fi
want=${WANT_VERSION:-$own}
want=${want#v}

have=""
if command -v cargo-assemble >/dev/null 2>&1; then
  have=$(cargo-assemble --version 2>/dev/null | awk '{ print $NF }') || have=""
fi
if [ "$have" = "$want" ]; then
  echo "cargo-assemble $have is on PATH ($(command -v cargo-assemble)): not installing"
  echo "skip=true" >> "$GITHUB_OUTPUT"
  exit 0
fi
if [ -n "$have" ]; then
  echo "cargo-assemble $have is on PATH, $want is wanted: installing $want"
fi

if [ "$want" = "$own" ]; then
  source=checkout
  # The binary depends on the lock file and the sources.
  hash=$(cd "$repo_root" &&
    find Cargo.toml Cargo.lock src crates templates -type f -print0 2>/dev/null |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c 1-20)
else
  source=registry
  hash=release
fi
os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
key="cargo-assemble-$want-$os-$arch-$hash"
root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/cargo-assemble/$want-$hash"
{
  echo "skip=false"
  echo "version=$want"
  echo "source=$source"
  echo "root=$root"
  echo "key=$key"
} >> "$GITHUB_OUTPUT"
