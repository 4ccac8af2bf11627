// Default and maximum resources: fills in missing requests/limits from settings and denies a
// server whose limits exceed the organisation's maximum.
const UNITS = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

function quantity(q) {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  if (!m || !(m[2] in UNITS)) throw [{ message: `unsupported quantity ${q}` }];
  return parseFloat(m[1]) * UNITS[m[2]];
}

function validateSettings(text) {
  const s = JSON.parse(text);
  for (const [k, v] of Object.entries(s.max || {})) quantity(v);
  for (const kind of ["requests", "limits"]) for (const v of Object.values((s.defaults || {})[kind] || {})) quantity(v);
}

function validateConfig(ctx) {}

function mutate(ctx, manifest) {
  const s = JSON.parse(ctx.settings);
  const d = JSON.parse(manifest);
  const violations = [];
  d.spec.template.spec.containers.forEach((c, i) => {
    c.resources = c.resources || {};
    for (const kind of ["requests", "limits"]) {
      const defaults = (s.defaults || {})[kind] || {};
      for (const [res, v] of Object.entries(defaults)) {
        c.resources[kind] = c.resources[kind] || {};
        if (!(res in c.resources[kind])) c.resources[kind][res] = v;
      }
    }
    for (const [res, max] of Object.entries(s.max || {})) {
      const limit = (c.resources.limits || {})[res];
      if (limit !== undefined && quantity(limit) > quantity(max)) {
        violations.push({ message: `${c.name}: ${res} limit ${limit} exceeds the maximum ${max}`, path: `/spec/template/spec/containers/${i}/resources/limits/${res}` });
      }
    }
  });
  if (violations.length) throw violations;
  return JSON.stringify(d);
}

export const hooks = { validateSettings, validateConfig, mutate };
