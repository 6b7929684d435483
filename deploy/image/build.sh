#!/usr/bin/env bash
# Build Harrier's OCI image offline from a built binary (no registry, no Dockerfile, no daemon).
#
#   deploy/image/build.sh [--binary PATH] [--tag REF] [--out FILE]
#
# Defaults: --binary target/release/harrier (build it first: cargo build --release -p harrier),
# --tag harrier:<version>, --out target/harrier-image.tar. The result is an OCI image-layout
# archive: `ctr -n k8s.io image import FILE`, `podman load -i FILE`, or
# `skopeo copy oci-archive:FILE docker://registry/harrier:TAG` to push it.
#
# The image holds the binary, the shared libraries it links (from this machine, found with ldd),
# Harrier's default rules in /etc/harrier/rules.d and a default /etc/harrier/harrier.yaml.
# Entrypoint: harrier; default command: run -c /etc/harrier/harrier.yaml.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=target/release/harrier
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag="harrier:${version}"
out=target/harrier-image.tar
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "build.sh: $binary not found (cargo build --release -p harrier)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{usr/bin,etc/harrier/rules.d,tmp,proc,sys,dev,host,var/lib/harrier}
chmod 1777 "$root/tmp"
install -m 0755 "$binary" "$root/usr/bin/harrier"
# The shared libraries the binary links, and the dynamic loader, at the same paths.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Debian's merged /usr: /lib64 holds the loader path the binary names.
if [ ! -e "$root/lib64" ] && [ -d "$root/usr/lib64" ]; then ln -s usr/lib64 "$root/lib64"; fi
cp rules/*.yaml "$root/etc/harrier/rules.d/"
cp deploy/image/harrier.yaml "$root/etc/harrier/harrier.yaml"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

cat > "$work/config.json" <<JSON
{
  "Entrypoint": ["/usr/bin/harrier"],
  "Cmd": ["run", "-c", "/etc/harrier/harrier.yaml"],
  "Env": ["PATH=/usr/bin:/bin", "HARRIER_RULES_DIR=/etc/harrier/rules.d"],
  "WorkingDir": "/",
  "ExposedPorts": {"8765/tcp": {}},
  "Labels": {
    "org.opencontainers.image.title": "harrier",
    "org.opencontainers.image.version": "${version}",
    "org.opencontainers.image.description": "Harrier runtime security agent (Falco-compatible)"
  }
}
JSON
mkdir -p "$(dirname "$out")"
python3 deploy/image/oci.py "$root" "$out" "$tag" "$work/config.json"
