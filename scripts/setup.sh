#!/usr/bin/env bash
# Installs what building and running live detection needs on a fresh Debian machine, and nothing
# else (scripts/run.sh). The servers, runtimes and tools the tests use are installed by
# scripts/setup-tests.sh (scripts/test.sh), which runs this first.
# Idempotent: skips what is already there. Needs root (apt-get) for the first run.
set -euo pipefail

need=()
have() { dpkg -s "$1" >/dev/null 2>&1; }
install_needed() {
  [ ${#need[@]} -gt 0 ] || return 0
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  if [ -z "${APT_UPDATED:-}" ]; then $SUDO apt-get update -qq >/dev/null || true; APT_UPDATED=1; fi
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  need=()
}

# eBPF probe (crates/probe): clang compiles bpf/*.bpf.c, llvm provides llvm-strip, libbpf-dev the
# bpf_helpers.h/bpf_core_read.h/bpf_tracing.h headers, bpftool regenerates bpf/vmlinux.h; gcc is
# the linker rustc calls. crates/respond builds bpf/block.bpf.c (node:block_network) with the same
# clang, llvm-strip and headers.
for p in clang llvm libbpf-dev bpftool gcc; do have "$p" || need+=("$p"); done
# Container runtimes' gRPC APIs (crates/containers: containerd-client, k8s-cri) are generated from
# their published .proto files at build time by protoc.
have protobuf-compiler || need+=(protobuf-compiler)
# Kafka output (crates/sinks, rdkafka): rdkafka-sys builds librdkafka 2.12 from its bundled sources
# (Debian's librdkafka 2.0.2 is older than the crate accepts for dynamic linking) with make and
# perl, against OpenSSL (TLS, SASL SCRAM) found through pkg-config, and zlib.
# scripts/run.sh builds without Kafka (HARRIER_LEAN=1) unless HARRIER_FEATURES names it.
if [ -z "${HARRIER_LEAN:-}" ] || [[ ",${HARRIER_FEATURES:-}," == *,kafka,* ]]; then
  for p in make perl pkg-config libssl-dev zlib1g-dev; do have "$p" || need+=("$p"); done
fi
install_needed
