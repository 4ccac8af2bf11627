"""Hardening: read-only root filesystem and no privilege escalation for every container, with an
emptyDir at /tmp so servers that write temporary files keep working."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types


class Hooks(exports.Hooks):
    def validate_settings(self, settings: str) -> None:
        s = json.loads(settings)
        size = s.get("tmpSizeLimit", "64Mi")
        if not isinstance(size, str) or not size:
            raise Err([types.Violation(message="tmpSizeLimit must be a quantity", path="/tmpSizeLimit")])

    def validate_config(self, ctx: types.Context) -> None:
        return None

    def mutate(self, ctx: types.Context, manifest: str) -> str:
        s = json.loads(ctx.settings)
        d = json.loads(manifest)
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            sc = c.setdefault("securityContext", {})
            sc["readOnlyRootFilesystem"] = True
            sc["allowPrivilegeEscalation"] = False
            mounts = c.setdefault("volumeMounts", [])
            if not any(m.get("mountPath") == "/tmp" for m in mounts):
                mounts.append({"name": "tmp", "mountPath": "/tmp"})
        volumes = pod.setdefault("volumes", [])
        if not any(v.get("name") == "tmp" for v in volumes):
            volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": s.get("tmpSizeLimit", "64Mi")}})
        return json.dumps(d)
