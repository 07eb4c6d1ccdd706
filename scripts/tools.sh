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
    if ! cargo install fakecloud --version "$FAKECLOUD_VERSION" --locked --debug --quiet --root "$root"; then
      echo "error: fakecloud $FAKECLOUD_VERSION could not be installed; the AVP tests need it" >&2
      return 1
    fi
  fi
  if [ ! -x "$root/bin/fakecloud" ]; then
    echo "error: $root/bin/fakecloud is missing after its installation" >&2
    return 1
  fi
  # The AVP tests (tests/it/avp.rs) start it from here.
  export AVPCTL_FAKECLOUD="$root/bin/fakecloud"
}

# cvc5: the SMT solver behind `avpctl diff --prove` (cedar-policy-symcc runs
# the executable: $CVC5, else `cvc5` on PATH). Debian's package (1.0.3)
# installs in seconds. Returns 1, saying why, when it is not there and cannot
# be installed; callers that need it fail on that (scripts/test.sh does).
cvc5_runs() {
  "${CVC5:-cvc5}" --version >/dev/null 2>&1
}

ensure_cvc5() {
  if cvc5_runs; then
    return 0
  fi
  if [ -n "${CVC5:-}" ]; then
    echo "error: CVC5=$CVC5 does not run (\`$CVC5 --version\` fails); point it at a cvc5 executable or unset it" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: cvc5 is not installed and there is no apt-get here: install cvc5 (https://github.com/cvc5/cvc5/releases) and put it on PATH, or set CVC5=/path/to/cvc5" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "error: cvc5 is not installed, and installing it with apt-get needs root or sudo" >&2
      return 1
    fi
    sudo="sudo"
  fi
  echo "== installing cvc5 (apt-get)"
  if ! $sudo apt-get install -y -qq cvc5 >/dev/null 2>&1; then
    $sudo apt-get update -qq >/dev/null || true
    if ! $sudo apt-get install -y -qq cvc5 >/dev/null; then
      echo "error: apt-get could not install cvc5" >&2
      return 1
    fi
  fi
  if ! cvc5_runs; then
    echo "error: cvc5 was installed but \`cvc5 --version\` does not run" >&2
    return 1
  fi
}
