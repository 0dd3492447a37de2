// api.js - the public API from the browser: JSON in and out, the access token
// from the session, problem+json errors as ApiError.

import { session } from "./session.js";

// A problem+json answer (or a network failure: status 0).
export class ApiError extends Error {
  constructor(status, body) {
    const p = body && typeof body === "object" ? body : {};
    super(p.detail || p.title || (status ? `The server answered ${status}.` : "The server cannot be reached."));
    this.status = status;
    this.code = p.code || (status ? "error" : "network");
    this.errors = Array.isArray(p.errors) ? p.errors : [];
    this.body = p;
  }

  // The field errors as {field: message}.
  fields() {
    const out = {};
    for (const e of this.errors) out[e.field] = e.message || e.code;
    return out;
  }
}

// Codes that mean the session is over: the app returns to sign-in.
const SESSION_OVER = new Set(["session_revoked", "invalid_token", "refresh_token_reused",
  "account_disabled"]);

function url(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(method, path, { body, query, auth = true, raw = false } = {}, retried = false) {
  const headers = { Accept: "application/json" };
  const token = auth ? await session.token() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(url(path, query), init);
  } catch {
    throw new ApiError(0, null);
  }
  if (r.ok) {
    if (raw) return r;
    if (r.status === 204 || r.status === 202 && r.headers.get("Content-Length") === "0") return null;
    const text = await r.text();
    return text ? JSON.parse(text) : null;
  }
  let problem = null;
  try { problem = await r.json(); } catch { /* not JSON */ }
  const err = new ApiError(r.status, problem);
  if (token && r.status === 401 && err.code === "token_expired" && !retried) {
    if (await session.refresh()) return send(method, path, { body, query, auth, raw }, true);
  }
  if (token && (r.status === 401 || r.status === 403) && SESSION_OVER.has(err.code)) {
    session.clear(err.code);
  }
  throw err;
}

export const api = {
  get: (path, query, opts) => send("GET", path, { ...opts, query }),
  post: (path, body = {}, opts) => send("POST", path, { ...opts, body }),
  put: (path, body = {}, opts) => send("PUT", path, { ...opts, body }),
  patch: (path, body = {}, opts) => send("PATCH", path, { ...opts, body }),
  del: (path, opts) => send("DELETE", path, opts),
  // The raw Response of a GET (downloads).
  fetch: (path, query) => send("GET", path, { query, raw: true }),

  // Every item of a list, following next_cursor, up to max items.
  // Returns {items, complete}: complete is false when more were left.
  async all(path, query = {}, max = 2000) {
    const items = [];
    let cursor = null;
    do {
      const page = await send("GET", path, { query: { ...query, limit: 200, cursor } });
      items.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor && items.length < max);
    return { items, complete: !cursor };
  },

  // Whether err says the route does not exist on this server (a capability
  // that a later version adds).
  missing(err) {
    return err instanceof ApiError && (err.status === 404 || err.status === 405) &&
      (err.body.detail === "No such resource." || err.status === 405);
  },
};

// Paths with ids and slugs escaped: p`/v1/orgs/${org}/members`.
export function p(strings, ...values) {
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}
