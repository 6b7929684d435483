#!/usr/bin/env bash
# Installs the system packages Harrier's build and tests need on a fresh Debian machine.
# Idempotent: skips what is already there. Needs root (apt-get) for the first run.
set -euo pipefail

need=()
have() { dpkg -s "$1" >/dev/null 2>&1; }
# sysdig 0.29: the peer that tests compare capture filtering against, and that reads Harrier's captures.
for p in sysdig; do have "$p" || need+=("$p"); done
# eBPF probe (crates/probe): clang compiles bpf/*.bpf.c, llvm provides llvm-strip, libbpf-dev the
# bpf_helpers.h/bpf_core_read.h/bpf_tracing.h headers, bpftool regenerates bpf/vmlinux.h.
for p in clang llvm libbpf-dev bpftool; do have "$p" || need+=("$p"); done
# Alert sinks (crates/sinks tests start these real servers themselves): NATS with JetStream, Redis,
# rsyslog (UDP/TCP/unix socket), an SMTP sink (aiosmtpd), Prometheus (optional scrape), kcat and
# librdkafka-dev (the Kafka mock broker is compiled from shared/tools/kafka-mockbroker.c by the tests).
for p in nats-server redis-server rsyslog python3-aiosmtpd prometheus kcat librdkafka-dev gcc; do
  have "$p" || need+=("$p")
done
# Container runtimes for the container/Kubernetes metadata tests (crates/cli/tests/containers*.rs and
# generate_containers.rs start containerd, and podman's API service, themselves on private state dirs):
# containerd + ctr, runc, podman (+ conmon; crun is its default runtime, the tests use runc), crun,
# busybox-static (the offline image's rootfs), tmux (TTY exec into a container).
for p in containerd runc podman conmon crun busybox-static tmux; do have "$p" || need+=("$p"); done
# Web UI browser tests (crates/ui/tests/browser.rs drive headless Chromium over WebDriver).
for p in chromium chromium-driver; do have "$p" || need+=("$p"); done

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >/dev/null || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The S3 sink's tests (crates/sinks/src/s3) run a real moto S3 server and read objects back with
# boto3: PyPI moto[server] + boto3 in a venv of Debian's python (HARRIER_VENV, default /opt/harrier-venv).
VENV=${HARRIER_VENV:-/opt/harrier-venv}
if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c 'import boto3, moto' 2>/dev/null; then
  if ! have python3-venv; then
    echo "setup: installing python3-venv" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  echo "setup: installing moto[server] and boto3 into $VENV" >&2
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]' boto3 >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 1; }
