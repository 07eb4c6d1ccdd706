#!/usr/bin/env bash
# The main job on the bundled example, as CI would run it on a policy
# repository: validate, test, check formatting, deploy to the embedded
# store, then show that the store and the project agree.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
ensure_cvc5 || true   # only `diff --prove` needs it
cargo build --quiet --release
avpctl=target/release/avpctl

set -x
"$avpctl" validate policies-example --deny-warnings
"$avpctl" test policies-example --coverage
"$avpctl" fmt --check policies-example
"$avpctl" deploy policies-example --yes
"$avpctl" diff policies-example --exit-code
