// Adds the organisation's labels and annotations (from settings) to every Deployment, its pod
// template and every Service.
import host from "mcp-runtime:plugin/host@0.1.0";

function parseSettings(text) {
  const s = JSON.parse(text);
  return { labels: s.labels || {}, annotations: s.annotations || {} };
}

function validateSettings(text) {
  const s = JSON.parse(text);
  const violations = [];
  for (const [k, v] of Object.entries(s.labels || {})) {
    if (typeof v !== "string" || v.length > 63) {
      violations.push({ message: `label ${k} must be a string of at most 63 characters`, path: `/labels/${k}` });
    }
  }
  if (violations.length) throw violations;
}

function validateConfig(ctx) {}

function merge(target, extra) {
  return Object.assign({}, target || {}, extra);
}

function mutate(ctx, manifest) {
  const s = parseSettings(ctx.settings);
  const obj = JSON.parse(manifest);
  obj.metadata.labels = merge(obj.metadata.labels, s.labels);
  obj.metadata.annotations = merge(obj.metadata.annotations, s.annotations);
  if (ctx.hook === "mutate-deployment") {
    const tpl = obj.spec.template;
    tpl.metadata = tpl.metadata || {};
    tpl.metadata.labels = merge(tpl.metadata.labels, s.labels);
  }
  host.log("debug", `labelled ${ctx.serverName}`);
  return JSON.stringify(obj);
}

export const hooks = { validateSettings, validateConfig, mutate };
