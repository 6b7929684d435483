#!/usr/bin/env bash
# Installs everything the tests use (scripts/test.sh): what scripts/setup.sh installs for building
# and live detection, plus the real servers, container runtimes and tools the tests start.
# Idempotent: skips what is already there. Needs root (apt-get) for the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

need=()
have() { dpkg -s "$1" >/dev/null 2>&1; }
install_needed() {
  [ ${#need[@]} -gt 0 ] || return 0
  echo "setup-tests: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >/dev/null || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  need=()
}

# --- Tests only (scripts/test.sh) ---
# sysdig 0.29: the peer that tests compare capture filtering against, and that reads Harrier's captures.
for p in sysdig; do have "$p" || need+=("$p"); done
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
# crates/cli/tests/respond_containers.rs uses the same containerd + runc + busybox (kill, pause, network cut).
for p in containerd runc podman conmon crun busybox-static tmux; do have "$p" || need+=("$p"); done
# Session audit (crates/session/tests/tmux.rs, crates/cli/tests/session_cli.rs): real shells on tmux ptys:
# bash, dash, busybox ash (busybox-static above), zsh.
for p in zsh tmux dash bash; do have "$p" || need+=("$p"); done
# The sudo password test (tmux.rs sudo_password_never_recorded): sudo, with a throwaway user and a
# sudoers drop-in the test creates and removes itself (nothing is configured here).
have sudo || need+=(sudo)
# Deployment tests (crates/cli/tests/deploy_*.rs, doctor.rs): systemd-analyze verifies the unit file,
# setpriv/capsh run doctor as another uid / with capabilities dropped, python3 packs the OCI image.
for p in systemd util-linux libcap2-bin python3; do have "$p" || need+=("$p"); done
# The false-positive corpus (tests/fp/*.sh, crates/cli/tests/false_positives.rs): the ordinary
# workloads it runs (Java, Node/npm come with this machine kind; Debian's would replace them).
for p in vim logrotate nginx-light make git curl python3-venv; do
  have "$p" || need+=("$p")
done
# The alert store's PostgreSQL backend (crates/store/tests/behaviour.rs, crates/ui/tests, the store
# benchmark): the tests run initdb + pg_ctl themselves on a private data dir and a Unix socket
# (as the 'postgres' user when run as root); Debian keeps the binaries in /usr/lib/postgresql/N/bin.
for p in postgresql; do have "$p" || need+=("$p"); done
# Web UI browser tests (crates/ui/tests/browser.rs drive headless Chromium over WebDriver).
for p in chromium chromium-driver; do have "$p" || need+=("$p"); done

# Alert sinks added for issue 13: the real Prometheus Alertmanager (crates/sinks/src/alertmanager tests
# start it on a free port with a private storage dir) and mosquitto (crates/sinks/src/mqtt tests).
for p in prometheus-alertmanager mosquitto; do have "$p" || need+=("$p"); done

install_needed

# The AWS sinks' tests (crates/sinks/src/aws: S3, SQS, SNS, CloudWatch Logs) run a real moto server and read back with
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

# The Kubernetes manifest test (crates/cli/tests/deploy_manifests.rs) validates against the
# Kubernetes OpenAPI schemas that PyPI's kubernetes-validate ships (offline).
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  echo "setup: installing kubernetes-validate into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check kubernetes-validate >/dev/null
fi

# The Helm chart test (deploy_manifests.rs) installs the chart with real Helm: PyPI's helm-sdkpy
# ships Helm as a Go shared library (no helm binary is packaged here). Its metadata asks for
# Python 3.12; the bindings run on Debian 12's 3.11 (cffi only), hence --ignore-requires-python.
if ! "$VENV/bin/python" -c 'import helm_sdkpy' 2>/dev/null; then
  echo "setup: installing helm-sdkpy (Helm as a library) into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check --ignore-requires-python 'helm-sdkpy==0.1.32' >/dev/null
fi

# The cloud storage outputs' tests (crates/sinks/src/cloud/tests.rs) run real emulators: Azurite
# (Microsoft's Azure Storage emulator, npm `azurite`, into HARRIER_NODE_PREFIX, default
# /opt/harrier-node; it checks Shared Key signatures) and gcp-storage-emulator (PyPI, the GCS JSON
# API) in the venv above.
NODE_PREFIX=${HARRIER_NODE_PREFIX:-/opt/harrier-node}
if [ ! -x "$NODE_PREFIX/bin/azurite-blob" ]; then
  command -v npm >/dev/null || { need+=(npm); install_needed; }
  echo "setup: installing azurite into $NODE_PREFIX" >&2
  npm install -g --silent --no-fund --no-audit --prefix "$NODE_PREFIX" azurite@3.37.0 >/dev/null 2>&1
fi
if [ ! -x "$VENV/bin/gcp-storage-emulator" ]; then
  echo "setup: installing gcp-storage-emulator into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check gcp-storage-emulator >/dev/null
fi
