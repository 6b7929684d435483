#!/usr/bin/env python3
"""Pack a root file system directory into an OCI image-layout archive (one layer), offline.

usage: oci.py ROOTFS_DIR OUT.tar REFERENCE CONFIG.json

CONFIG.json holds the image's runtime config (Entrypoint, Cmd, Env, Labels…). The layer is a
reproducible tar (sorted names, mtime 0, uid/gid 0) so the same input gives the same digest.
`ctr image import OUT.tar`, `podman load -i OUT.tar` and `skopeo copy oci-archive:OUT.tar …` read it.
"""
import gzip, hashlib, io, json, os, sys, tarfile

def layer_tar(root):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in [None] + sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
                full = dirpath if name is None else os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                if rel == ".":
                    continue
                ti = t.gettarinfo(full, arcname=rel)
                ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
                if ti.isfile():
                    with open(full, "rb") as f:
                        t.addfile(ti, f)
                else:
                    t.addfile(ti)
    return buf.getvalue()

def main():
    root, out, ref, cfg_path = sys.argv[1:5]
    runtime = json.load(open(cfg_path))
    layer = layer_tar(root)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    gz = gzip.compress(layer, mtime=0)
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()
    config = json.dumps({
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux", "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "created": "1970-01-01T00:00:00Z",
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(gz), "size": len(gz)}],
    }, sort_keys=True).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref},
    }]}, sort_keys=True).encode()
    with tarfile.open(out, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for b in (gz, config, manifest):
            add("blobs/sha256/" + sha(b).split(":")[1], b)
    print(out, sha(manifest))

main()
