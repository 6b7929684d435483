#!/usr/bin/env bash
# Harrier's main job on a fresh machine: set up, build, and run live detection with the default
# rules (alerts on stdout). Extra arguments go to `harrier run` (e.g. -o json_output=true).
set -euo pipefail
cd "$(dirname "$0")/.."
HARRIER_LEAN=1 scripts/setup.sh
# A lean build (live detection and every output but Kafka, the AWS outputs, the Kubernetes
# actionners and the PostgreSQL store — those are refused at start with the feature to enable).
# HARRIER_FEATURES adds some back, e.g. HARRIER_FEATURES=kafka,aws scripts/run.sh.
cargo build --release -p harrier --no-default-features ${HARRIER_FEATURES:+--features "$HARRIER_FEATURES"}
exec target/release/harrier run "$@"
