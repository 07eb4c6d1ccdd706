#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need
# (once per machine), then runs formatting checks and every test, including
# the ones `cargo test` alone ignores because they need fakecloud or cvc5.
# It fails when a tool cannot be installed: a test that needs a tool fails
# without it, it never passes.
#
#   ./scripts/test.sh                      # everything
#   ./scripts/test.sh --test it prove::    # extra arguments go to `cargo test`
#   ./scripts/test.sh validate -- --nocapture
#
# The opt-in test against a real AVP store (tests/it/avp_real.rs) is never run
# here; see docs/avp.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_rust_components
# Explicit, not left to `set -e`: without either tool part of the suite
# cannot run, and CI must fail rather than report it as passed.
ensure_fakecloud || { echo "error: the AVP tests need fakecloud (see above)" >&2; exit 1; }
ensure_cvc5 || { echo "error: the proof tests need cvc5 (see above)" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --all -- --check

# Arguments before `--` are cargo's, after it the test binaries'.
cargo_args=()
test_args=()
seen_separator=0
for arg in "$@"; do
  if [ "$seen_separator" -eq 0 ] && [ "$arg" = "--" ]; then
    seen_separator=1
  elif [ "$seen_separator" -eq 0 ]; then
    cargo_args+=("$arg")
  else
    test_args+=("$arg")
  fi
done

# One pass over every test binary: the ordinary tests and the ignored ones
# (fakecloud, cvc5) together, so nothing is built or run twice. The real-AVP
# test is skipped by name (`real_avp…`), and its variable is unset so that
# a CI secret can never point this run at a real store.
echo "== cargo test (including the tests that need fakecloud and cvc5)"
env -u AVPCTL_REAL_AVP_STORE \
  cargo test --locked ${cargo_args[@]+"${cargo_args[@]}"} -- \
  --include-ignored --skip real_avp ${test_args[@]+"${test_args[@]}"}
