// webhook_receiver.js - a webhook receiver for the API tests that checks every
// delivery with the npm `standardwebhooks` package (an independent
// implementation of Standard Webhooks), not with plinth's own code.
//
//   NODE_PATH=$(scripts/test-node-deps) node tests/api/webhook_receiver.js
//
// Prints {"port": N} on its first stdout line, then serves on 127.0.0.1:N:
//   POST /hooks/<name>              a delivery: verified against each secret
//                                   configured for <name>, recorded, answered
//                                   with the next scripted status (default 200)
//   POST /_control/config           {"name", "secrets": [...], "script": [500, 500],
//                                    "status": 200, "delay_ms": 0, "body_bytes": 0}
//   GET  /_control/received?name=   the deliveries recorded for <name>, in order
//   POST /_control/reset            forgets every configuration and delivery
// A recorded delivery: {"id", "timestamp", "signature", "content_type", "body",
// "verified": [true|false per secret], "answered", "at"}.
"use strict";

const http = require("http");
const { Webhook } = require("standardwebhooks");

const configs = new Map(); // name -> config
const received = new Map(); // name -> [delivery]

function config(name) {
  if (!configs.has(name)) configs.set(name, { secrets: [], script: [], status: 200, delay_ms: 0, body_bytes: 0 });
  return configs.get(name);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function verify(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch (e) {
    return false;
  }
}

function json(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  try {
    if (url.pathname.startsWith("/hooks/") && req.method === "POST") {
      const name = decodeURIComponent(url.pathname.slice("/hooks/".length));
      const body = await readBody(req);
      const c = config(name);
      const answered = c.script.length ? c.script.shift() : c.status;
      const d = {
        id: req.headers["webhook-id"] || null,
        timestamp: req.headers["webhook-timestamp"] || null,
        signature: req.headers["webhook-signature"] || null,
        content_type: req.headers["content-type"] || null,
        body,
        verified: c.secrets.map((s) => verify(s, body, req.headers)),
        answered,
        at: Date.now(),
      };
      if (!received.has(name)) received.set(name, []);
      received.get(name).push(d);
      const reply = () => {
        const payload = c.body_bytes ? "x".repeat(c.body_bytes) : "ok";
        res.writeHead(answered, { "Content-Type": "text/plain", "Content-Length": payload.length });
        res.end(payload);
      };
      if (c.delay_ms) setTimeout(reply, c.delay_ms);
      else reply();
      return;
    }
    if (url.pathname === "/_control/config" && req.method === "POST") {
      const c = JSON.parse(await readBody(req));
      const cur = config(c.name);
      for (const k of ["secrets", "script", "status", "delay_ms", "body_bytes"])
        if (k in c) cur[k] = k === "script" || k === "secrets" ? [...c[k]] : c[k];
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === "/_control/received" && req.method === "GET") {
      json(res, 200, received.get(url.searchParams.get("name")) || []);
      return;
    }
    if (url.pathname === "/_control/reset" && req.method === "POST") {
      configs.clear();
      received.clear();
      res.writeHead(204);
      res.end();
      return;
    }
    json(res, 404, { error: "not found" });
  } catch (e) {
    json(res, 500, { error: String(e && e.stack || e) });
  }
});

server.keepAliveTimeout = 1000;
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
