#!/usr/bin/env bash
# ghcr.io credentials from the workflow's token when publishing, for the run
# step only (REGISTRY_AUTH_FILE, the containers auth.json format: it is read
# before docker's config.json). Nothing is written when docker/login-action
# (or a docker config) already has ghcr.io, or REGISTRY_AUTH_FILE is set.
# The derived secret (base64 of user:token) is masked before anything else.
set -euo pipefail

if [ -z "${REGISTRY_TOKEN:-}" ]; then
  echo "no github-token: not adding ghcr.io credentials"
  exit 0
fi
auth=$(printf '%s:%s' "${REGISTRY_USER:-x-access-token}" "$REGISTRY_TOKEN" | base64 | tr -d '\n')
echo "::add-mask::$auth"

config="${DOCKER_CONFIG:-$HOME/.docker}/config.json"
if [ -f "$config" ] && grep -q '"ghcr.io"' "$config"; then
  echo "ghcr.io credentials are in $config (docker/login-action): using them"
  exit 0
fi
if [ -n "${REGISTRY_AUTH_FILE:-}" ]; then
  echo "REGISTRY_AUTH_FILE is set ($REGISTRY_AUTH_FILE): using it"
  exit 0
fi
dir="${RUNNER_TEMP:-/tmp}/cargo-assemble-auth"
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
printf '{"auths":{"ghcr.io":{"auth":"%s"}}}\n' "$auth" > "$dir/auth.json"
echo "auth-file=$dir/auth.json" >> "$GITHUB_OUTPUT"
echo "ghcr.io credentials from github-token for ${REGISTRY_USER:-x-access-token}"
