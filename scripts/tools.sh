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

# fakecloud: the AVP-compatible emulator the AVP tests run against, as a
# separate process. A debug build is enough (its speed does not matter here)
# and takes ~10 minutes on two cores instead of ~45 for a release build.
FAKECLOUD_VERSION=0.51.0
ensure_fakecloud() {
  local root="$AVPCTL_TOOLS/fakecloud-$FAKECLOUD_VERSION"
  if [ ! -x "$root/bin/fakecloud" ]; then
    echo "== installing fakecloud $FAKECLOUD_VERSION into $root (once per machine)"
    cargo install fakecloud --version "$FAKECLOUD_VERSION" --locked --debug --quiet --root "$root"
  fi
  export AVPCTL_FAKECLOUD="$root/bin/fakecloud"
  export AVPCTL_REQUIRE_FAKECLOUD=1
}

# cvc5: the SMT solver behind `avpctl diff --prove` (cedar-policy-symcc runs
# the executable). Debian's package (1.0.3) installs in seconds.
ensure_cvc5() {
  if command -v cvc5 >/dev/null 2>&1 || [ -n "${CVC5:-}" ]; then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: cvc5 is not installed and there is no apt-get here; install cvc5 for \`diff --prove\`" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  echo "== installing cvc5 (apt-get)"
  if ! $sudo apt-get install -y -qq cvc5 >/dev/null 2>&1; then
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq cvc5 >/dev/null
  fi
}
