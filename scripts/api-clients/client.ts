// Drives the HTTP API through types that openapi-typescript generated, unedited, from the
// served /openapi.json, and openapi-fetch (scripts/api-clients.sh): create, list, patch, read
// the status and delete a server, through /v1/servers and /v1/namespaces/{namespace}/servers.
// Compiled with tsc --strict first, so a route or field the document lacks fails the build.
//
//   node client.js URL TOKEN NAMESPACE
import createClient from "openapi-fetch";
import type { paths } from "./api.js";

function arg(i: number): string {
  const value = process.argv[2 + i];
  if (!value) throw new Error("usage: node client.js URL TOKEN NAMESPACE");
  return value;
}
const [url, token, namespace] = [arg(0), arg(1), arg(2)];
const api = createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } });

function check<T>(what: string, r: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (r.response.status !== status || r.data === undefined) {
    throw new Error(`${what}: expected ${status}, got ${r.response.status}: ${JSON.stringify(r.error)}`);
  }
  return r.data;
}

async function waitForStatus(read: () => Promise<{ phase?: string; conditions: number }>): Promise<string> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = await read();
    if (s.phase && s.conditions > 0) return s.phase;
    if (Date.now() > deadline) throw new Error("no status after 120 s");
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function viaDefault(name: string): Promise<void> {
  const created = check("create", await api.POST("/v1/servers", { body: { name, image: "ghcr.io/acme/web:1" } }), 201);
  if (created.name !== name) throw new Error(`created ${created.name}`);
  const listed = check("list", await api.GET("/v1/servers"), 200);
  if (!listed.items?.some((s) => s.name === name)) throw new Error("not listed");
  const path = { name };
  const patched = check("patch", await api.PATCH("/v1/servers/{name}", { params: { path }, body: { replicas: 2 } }), 200);
  if ((patched.spec as { replicas?: number }).replicas !== 2) throw new Error("not patched");
  const phase = await waitForStatus(async () => {
    const s = check("status", await api.GET("/v1/servers/{name}/status", { params: { path } }), 200);
    return { phase: s.status?.phase, conditions: s.status?.conditions.length ?? 0 };
  });
  const deleted = await api.DELETE("/v1/servers/{name}", { params: { path } });
  if (deleted.response.status !== 204) throw new Error(`delete: ${deleted.response.status}`);
  console.log(`typescript client: ${name}: created, listed, patched, status ${phase}, deleted`);
}

async function viaNamespace(name: string): Promise<void> {
  const ns = { namespace };
  const base = "/v1/namespaces/{namespace}/servers";
  const created = check("create", await api.POST(base, { params: { path: ns }, body: { name, image: "ghcr.io/acme/web:1" } }), 201);
  if (created.name !== name) throw new Error(`created ${created.name}`);
  const listed = check("list", await api.GET(base, { params: { path: ns } }), 200);
  if (!listed.items?.some((s) => s.name === name)) throw new Error("not listed");
  const path = { namespace, name };
  const one = "/v1/namespaces/{namespace}/servers/{name}";
  const patched = check("patch", await api.PATCH(one, { params: { path }, body: { replicas: 2 } }), 200);
  if ((patched.spec as { replicas?: number }).replicas !== 2) throw new Error("not patched");
  const phase = await waitForStatus(async () => {
    const s = check("status", await api.GET("/v1/namespaces/{namespace}/servers/{name}/status", { params: { path } }), 200);
    return { phase: s.status?.phase, conditions: s.status?.conditions.length ?? 0 };
  });
  const deleted = await api.DELETE(one, { params: { path } });
  if (deleted.response.status !== 204) throw new Error(`delete: ${deleted.response.status}`);
  console.log(`typescript client: ${name}: created, listed, patched, status ${phase}, deleted`);
}

await viaDefault("gen-ts");
await viaNamespace("gen-ts-ns");
