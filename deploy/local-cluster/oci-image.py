#!/usr/bin/env python3
"""Packs a root file system folder into a one-layer OCI image archive (an OCI image layout in a
tar), which `ctr images import` takes: no registry and no container engine needed. The archive
is reproducible: entries sorted, owned by root, mtime 0, so the same folder gives the same
digest.

    oci-image.py --name localhost/mcp-everything:2026.8.31 --rootfs DIR -o out.tar \\
        --entrypoint '["/usr/bin/node", "/app/index.js"]' --user 65532 --env PATH=/usr/bin
"""
import argparse
import hashlib
import io
import json
import os
import tarfile


def layer(rootfs):
    """The folder as an uncompressed tar layer (bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                paths.append(os.path.join(dirpath, name))
        for path in sorted(paths):
            info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def blob(tar, data):
    """Adds `data` as a blob; its descriptor digest and size."""
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}", len(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--rootfs", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--entrypoint", default="[]")
    p.add_argument("--cmd", default="[]")
    p.add_argument("--user", default="")
    p.add_argument("--workdir", default="/")
    p.add_argument("--env", action="append", default=[])
    a = p.parse_args()

    diff = layer(a.rootfs)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": json.loads(a.entrypoint) or None,
            "Cmd": json.loads(a.cmd) or None,
            "Env": a.env,
            "User": a.user,
            "WorkingDir": a.workdir,
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(diff).hexdigest()]},
    }
    tmp = a.output + ".tmp"
    with tarfile.open(tmp, mode="w") as tar:
        layer_digest, layer_size = blob(tar, diff)
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest, config_size = blob(tar, config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer_size}],
        }
        manifest_digest, manifest_size = blob(tar, json.dumps(manifest, sort_keys=True).encode())
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest_size,
                "annotations": {"io.containerd.image.name": a.name,
                                "org.opencontainers.image.ref.name": a.name.rsplit(":", 1)[-1]},
            }],
        }
        for name, data in [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                           ("index.json", json.dumps(index, sort_keys=True).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, a.output)
    print(f"{a.name}: {manifest_digest} ({layer_size // 1024} KiB)")


if __name__ == "__main__":
    main()
