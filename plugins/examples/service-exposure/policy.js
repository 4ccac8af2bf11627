// Service exposure: annotations (monitoring, load-balancer hints) and an exposure label on the
// Services of HTTP servers.
function validateSettings(text) {
  const s = JSON.parse(text);
  if (!["internal", "cluster", "public"].includes(s.exposure)) {
    throw [{ message: "exposure must be internal, cluster or public", path: "/exposure" }];
  }
}

function validateConfig(ctx) {}

function mutate(ctx, manifest) {
  const s = JSON.parse(ctx.settings);
  const svc = JSON.parse(manifest);
  svc.metadata.annotations = Object.assign({}, svc.metadata.annotations || {}, s.annotations || {});
  svc.metadata.labels = Object.assign({}, svc.metadata.labels || {}, { "acme.io/exposure": s.exposure });
  return JSON.stringify(svc);
}

export const hooks = { validateSettings, validateConfig, mutate };
