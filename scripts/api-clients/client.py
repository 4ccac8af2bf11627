"""Drives the HTTP API through the Python client that openapi-python-client generated, unedited,
from the served /openapi.json (scripts/api-clients.sh): create, list, patch, read the status and
delete a server, through /v1/servers and /v1/namespaces/{namespace}/servers. Any answer but the
documented one fails it.

    python client.py URL TOKEN NAMESPACE   (with the generated package `mcp_runtime_client` on
                                            the path)
"""

import sys
import time

from mcp_runtime_client import AuthenticatedClient
from mcp_runtime_client.api.default import (
    create_server,
    create_server_in_namespace,
    delete_server,
    delete_server_in_namespace,
    get_server_status,
    get_server_status_in_namespace,
    list_servers,
    list_servers_in_namespace,
    patch_server,
    patch_server_in_namespace,
)
from mcp_runtime_client.models import McpServerPatch, MCPServerStatus, Server


def expect(response, status):
    if response.status_code != status:
        raise SystemExit(f"expected {status}, got {response.status_code}: {response.content!r}")
    return response.parsed


def default_routes(client):
    """The operations of /v1/servers (the control plane's own namespace)."""
    return {
        "create": lambda body: create_server.sync_detailed(client=client, body=body),
        "list": lambda: list_servers.sync_detailed(client=client),
        "patch": lambda name, body: patch_server.sync_detailed(name, client=client, body=body),
        "status": lambda name: get_server_status.sync_detailed(name, client=client),
        "delete": lambda name: delete_server.sync_detailed(name, client=client),
    }


def namespaced_routes(client, ns):
    """The same operations under /v1/namespaces/{namespace}."""
    return {
        "create": lambda body: create_server_in_namespace.sync_detailed(ns, client=client, body=body),
        "list": lambda: list_servers_in_namespace.sync_detailed(ns, client=client),
        "patch": lambda name, body: patch_server_in_namespace.sync_detailed(
            ns, name, client=client, body=body
        ),
        "status": lambda name: get_server_status_in_namespace.sync_detailed(ns, name, client=client),
        "delete": lambda name: delete_server_in_namespace.sync_detailed(ns, name, client=client),
    }


def lifecycle(routes, name):
    created = expect(routes["create"]({"name": name, "image": "ghcr.io/acme/web:1"}), 201)
    assert isinstance(created, Server) and created.name == name, created
    listed = expect(routes["list"](), 200)
    assert name in [s.name for s in listed.items], listed
    patched = expect(routes["patch"](name, McpServerPatch.from_dict({"replicas": 2})), 200)
    assert patched.spec.additional_properties["replicas"] == 2, patched.spec
    # The controller reports a status once it has reconciled the server: wait for that state.
    deadline = time.monotonic() + 120
    while True:
        status = expect(routes["status"](name), 200)
        if isinstance(status.status, MCPServerStatus) and status.status.conditions:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: no status after 120 s: {status}")
        time.sleep(0.5)
    assert status.name == name and status.status.phase, status
    expect(routes["delete"](name), 204)
    print(f"python client: {name}: created, listed, patched, status {status.status.phase.value}, deleted")


def main():
    url, token, ns = sys.argv[1:4]
    client = AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)
    lifecycle(default_routes(client), "gen-py")
    lifecycle(namespaced_routes(client, ns), "gen-py-ns")


if __name__ == "__main__":
    main()
