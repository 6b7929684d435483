#!/usr/bin/env bash
# Harrier's main job on a fresh machine: set up, build, and run live detection with the default
# rules (alerts on stdout). Extra arguments go to `harrier run` (e.g. -o json_output=true).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p harrier
exec target/release/harrier run "$@"
