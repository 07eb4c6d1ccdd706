#!/usr/bin/env bash
# The main job on the bundled example: what CI runs on a policy repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release
avpctl=target/release/avpctl

set -x
"$avpctl" validate policies-example
