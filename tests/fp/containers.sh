# Container churn and an image build with podman, on private storage below the work directory: a
# busybox image imported from the local busybox-static binary (no registry), containers started
# and stopped, an image built from it. This machine kind has no systemd and no CAP_SYS_RESOURCE:
# cgroupfs, file events, runc and explicit ulimits (as crates/cli/tests/support/runtimes.rs).
mkdir -p rootfs/bin && cp "$(command -v busybox)" rootfs/bin/busybox
for a in sh echo true cat ls sleep; do ln -sf busybox "rootfs/bin/$a"; done
tar -C rootfs -cf rootfs.tar .
cat > containers.conf <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
export CONTAINERS_CONF="$PWD/containers.conf"
pm() { podman --root "$PWD/root" --runroot "$PWD/runroot" --tmpdir "$PWD/tmp" --storage-driver overlay "$@" < /dev/null; }
cleanup() {
  pm rm -a -f -t 0 > /dev/null 2>&1 || true
  pm rmi -a -f > /dev/null 2>&1 || true
  grep -o " $PWD/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2> /dev/null || true
}
trap cleanup EXIT
img=localhost/harrier-fp
pm import -q rootfs.tar "$img" > /dev/null
for i in 1 2 3; do pm run --rm "$img" /bin/sh -c "echo run $i > /dev/null"; done
cid=$(pm run -d "$img" /bin/sleep 30)
pm stop -t 1 "$cid" > /dev/null && pm rm "$cid" > /dev/null
printf 'FROM %s\nRUN echo built > /built.txt\n' "$img" > Containerfile
pm build -q -t "$img-built" . > /dev/null
pm run --rm "$img-built" /bin/cat /built.txt > /dev/null
