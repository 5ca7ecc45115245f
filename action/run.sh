#!/usr/bin/env bash
# Runs the action's command with cargo-assemble from PATH: validation errors
# as annotations on the diff, the plan in the job summary (and as the pull
# request's comment), the step outputs; exits with the tool's exit code.
set -euo pipefail

if [ -n "${SERVICE_TOKEN:-}" ]; then
  echo "::add-mask::$SERVICE_TOKEN"
fi
out="${RUNNER_TEMP:-/tmp}/cargo-assemble"
mkdir -p "$out"

# Extra arguments: whitespace-separated words, never evaluated by the shell.
read -r -d '' -a extra <<< "${ARGS:-}" || true

# Run where the declaration is, as a user would: outputs go to its
# target/assemble, the applied state is its repository's.
decl=${DECLARATION:-.}
target=()
if [ -d "$decl" ]; then
  cd "$decl"
elif [ -f "$decl" ]; then
  cd "$(dirname "$decl")"
  target=("$(basename "$decl")")
else
  echo "::error::the path input '$decl' is neither a file nor a directory (relative to $PWD)"
  exit 1
fi

# Options of later versions: refuse clearly rather than ignore them.
needs() {
  if ! cargo-assemble "$COMMAND" --help 2>/dev/null | grep -q -e "$1"; then
    echo "::error::the $2 input needs a cargo-assemble with $3; $(cargo-assemble --version) has none"
    exit 1
  fi
}
case "$COMMAND" in
  validate | plan | apply | build) ;;
  *)
    echo "::error::unknown command '$COMMAND': expected validate, plan, apply or build"
    exit 1
    ;;
esac
if [ -n "${SERVER:-}" ]; then
  needs --server server "the build service (--server)"
  export CARGO_ASSEMBLE_SERVER="$SERVER"
  if [ -n "${SERVICE_TOKEN:-}" ]; then
    export CARGO_ASSEMBLE_TOKEN="$SERVICE_TOKEN"
  fi
fi
publish=()
if [ "${PUBLISH:-false}" = true ]; then
  needs --publish publish "registry publishing (--publish)"
  publish=(--publish)
fi
if [ -n "${AUTH_FILE:-}" ]; then
  export REGISTRY_AUTH_FILE="$AUTH_FILE"
fi

# The applied state lives in git (refs/assembly/state): a fresh clone has
# not fetched it.
with_state=false
if [ "${STATE:-true}" = true ] && git remote get-url origin >/dev/null 2>&1; then
  with_state=true
fi
if [ "$with_state" = true ] && { [ "$COMMAND" = plan ] || [ "$COMMAND" = apply ]; }; then
  git fetch --quiet --no-tags origin '+refs/assembly/*:refs/assembly/*' ||
    echo "::warning::cannot fetch refs/assembly/* from origin: comparing with the state this clone has"
fi

# After a failure: annotations for whatever validation finds.
annotate() {
  cargo-assemble validate "${target[@]}" --format github 2>/dev/null | grep '^::' || true
}

case "$COMMAND" in
  validate)
    cargo-assemble validate "${target[@]}" --format github "${extra[@]}"
    ;;
  plan)
    comment=${COMMENT:-auto}
    if [ "$comment" = auto ]; then
      case "${EVENT_NAME:-}" in
        pull_request | pull_request_target) comment=true ;;
        *) comment=false ;;
      esac
    fi
    flags=(--format markdown --github-output)
    if [ "$comment" = true ]; then
      flags+=(--github-comment)
    fi
    plan_file="$out/plan.md"
    cargo-assemble plan "${target[@]}" "${flags[@]}" "${extra[@]}" > "$plan_file" ||
      { status=$?; annotate; exit "$status"; }
    cat "$plan_file"
    echo "plan-file=$plan_file" >> "$GITHUB_OUTPUT"
    ;;
  apply)
    if [ -n "${SERVER:-}" ]; then
      # The service builds and keeps the state: follow the builds, fail with them.
      cargo-assemble apply "${target[@]}" --auto-approve --wait "${extra[@]}" ||
        { status=$?; annotate; exit "$status"; }
      exit 0
    fi
    cargo-assemble apply "${target[@]}" --auto-approve --github-output "${publish[@]}" "${extra[@]}" ||
      { status=$?; annotate; exit "$status"; }
    if [ "$with_state" = true ]; then
      git push --quiet origin 'refs/assembly/*:refs/assembly/*'
    fi
    ;;
  build)
    cargo-assemble build "${target[@]}" --github-output "${publish[@]}" "${extra[@]}" ||
      { status=$?; annotate; exit "$status"; }
    ;;
esac
