#!/usr/bin/env bash
# The test suite: unit, scenario, provider (real servers on loopback) and end-to-end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
