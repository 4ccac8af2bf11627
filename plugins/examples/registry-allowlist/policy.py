"""Image registry allow-list: denies a server whose image is not from an allowed registry."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types


def _registries(settings: str) -> list[str]:
    return json.loads(settings).get("registries", [])


class Hooks(exports.Hooks):
    def validate_settings(self, settings: str) -> None:
        registries = _registries(settings)
        if not registries:
            raise Err([types.Violation(message="at least one registry is required", path="/registries")])

    def validate_config(self, ctx: types.Context) -> None:
        server = json.loads(ctx.server)
        image = server.get("image")
        if image is None:
            # Servers on the runtime's base image are the platform's own choice.
            return
        allowed = _registries(ctx.settings)
        if not any(image.startswith(r.rstrip("/") + "/") for r in allowed):
            host.log(types.Level.INFO, f"denied {ctx.server_name}: {image}")
            raise Err([types.Violation(
                message=f"image {image} is not from an allowed registry ({', '.join(allowed)})",
                path="/image",
            )])

    def mutate(self, ctx: types.Context, manifest: str) -> str:
        return manifest
