#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need
# (once per machine), then runs formatting checks and every test.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh validate   # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_rust_components
ensure_fakecloud
ensure_cvc5

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo test"
cargo test --locked "$@"
