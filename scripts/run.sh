#!/usr/bin/env bash
# Harrier's main job on a fresh machine: set up, build, and run live detection with the default
# rules (alerts on stdout). Extra arguments go to `harrier run` (e.g. -o json_output=true).
set -euo pipefail
cd "$(dirname "$0")/.."
HARRIER_LEAN=1 scripts/setup.sh
# A lean build (live detection and the stdout/file/syslog/program and HTTP-based outputs: webhook,
# chat, log stores, falcosidekick forwarding; not Kafka, NATS, Redis, SMTP, MQTT, the AWS outputs,
# the Kubernetes actionners, the alert store and its UI — those are refused at start with the
# feature to enable) in the `quick` profile (release without LTO and debug info).
# HARRIER_FEATURES adds some back, e.g. HARRIER_FEATURES=kafka,nats scripts/run.sh.
cargo build --profile quick -p harrier --no-default-features ${HARRIER_FEATURES:+--features "$HARRIER_FEATURES"}
exec target/quick/harrier run "$@"
