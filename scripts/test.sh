#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test of the workspace.
# Reference data is read from ../shared/reference (relative to the repository root); tests that
# need it fail, not skip, when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-tests.sh
if [ ! -d ../shared/reference ]; then
  echo "test: ../shared/reference is missing: conformance tests will fail" >&2
fi
# No incremental cache: a one-off build gains nothing from it and it costs gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
# The lean build of scripts/run.sh (no default features): what it leaves out is refused clearly.
cargo test -p harrier-sinks -p harrier-respond -p harrier-store --no-default-features --lib --test lean -- \
  left_out
cargo test -p harrier --no-default-features --bin harrier -- left_out
# harrier-doctor alone gets harrier-sinks without kafka/aws/cloud/nats/redis/smtp/mqtt: doctor
# reports those sinks: entry types as left out of the build.
cargo test -p harrier-doctor --lib -- left_out
