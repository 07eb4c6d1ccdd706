#!/usr/bin/env bash
# Installs the tools the test suite needs, each only when missing. Sourced by
# scripts/test.sh; safe to run again. Tools live outside the work tree in
# $AVPCTL_TOOLS (default ~/.cache/avpctl-tools), so a fresh clone on the same
# machine reuses them.

AVPCTL_TOOLS="${AVPCTL_TOOLS:-$HOME/.cache/avpctl-tools}"
export AVPCTL_TOOLS

ensure_rust_components() {
  local missing=()
  command -v rustfmt >/dev/null 2>&1 || missing+=(rustfmt)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== rustup component add ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}
