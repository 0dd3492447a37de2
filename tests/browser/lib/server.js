// server.js - starts the real plinth binary for the browser tests, as
// tests/api/plinth.py does for the API suite: a free loopback port, a fresh
// data directory, and on PostgreSQL (PLINTH_TEST_PG_ADMIN_URL set) a fresh
// database owned by an ordinary role. stop() fails the test when the server
// did not exit 0 after SIGTERM or its log shows a sanitizer report.
"use strict";

const { spawn, spawnSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..", "..", "..");
const PSQL = "/usr/bin/psql";
const APP_ROLE = "plinth_app";
// Cheap Argon2id: these tests are not about hashing.
const FAST_ARGON2 = ["--argon2-memory", "65536", "--argon2-ops", "1"];
const UNLIMITED = {
  PLINTH_REGISTER_LIMIT: "0", PLINTH_RESET_LIMIT: "0", PLINTH_VERIFY_LIMIT: "0",
  PLINTH_INVITE_LIMIT: "0", PLINTH_INVITE_RECIPIENT_LIMIT: "0",
};
const SANITIZER = ["ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"];

function binary() {
  return path.resolve(process.env.PLINTH_BIN || path.join(ROOT, "build", "plinth"));
}

function engine() {
  return process.env.PLINTH_TEST_PG_ADMIN_URL ? "postgres" : "sqlite";
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The environment without any PLINTH_* variable, plus extra.
function baseEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PLINTH_")) env[k] = v;
  return { ...env, ...extra };
}

function psql(sql, url = process.env.PLINTH_TEST_PG_ADMIN_URL) {
  const r = spawnSync(PSQL, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
    { encoding: "utf8", env: baseEnv({ PGCONNECT_TIMEOUT: "10" }), timeout: 60000 });
  if (r.status !== 0) throw new Error(`psql failed: ${sql}\n${r.stderr}`);
  return r.stdout;
}

function dbUrl(name) {
  const u = new URL(process.env.PLINTH_TEST_PG_ADMIN_URL);
  u.username = APP_ROLE;
  u.password = "";
  u.pathname = `/${name}`;
  return u.toString();
}

class Server {
  // env: extra environment; args: extra `serve` arguments.
  // publicPath: links in emails point at url + publicPath (PLINTH_PUBLIC_URL).
  constructor({ env = {}, args = [], workers = 1, threads = 4, publicPath = null } = {}) {
    this.extraEnv = { ...env };
    this.publicPath = publicPath;
    this.args = args;
    this.workers = workers;
    this.threads = threads;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plinth-browser-"));
    this.dataDir = path.join(this.tmp, "data");
    this.logPath = path.join(this.tmp, "server.log");
    this.proc = null;
    this.pgDb = null;
    this.pgUrl = null;
  }

  // Storage options and environment every command of this server shares.
  storage() {
    // the tests register and invite from 127.0.0.1 far more often than a
    // person would: no hourly per-address limits unless a test sets them
    const env = { ...UNLIMITED, ...this.extraEnv };
    if (this.pgUrl) env.PLINTH_DATABASE_URL = this.pgUrl;
    return { args: ["--data", this.dataDir, ...FAST_ARGON2], env };
  }

  async start() {
    this.port = this.port || await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    if (this.publicPath !== null) this.extraEnv.PLINTH_PUBLIC_URL = this.url + this.publicPath;
    if (engine() === "postgres" && !this.pgDb) {
      this.pgDb = `plinth_b_${crypto.randomBytes(8).toString("hex")}`;
      psql(`DO $$ BEGIN CREATE ROLE ${APP_ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
      psql(`CREATE DATABASE "${this.pgDb}" OWNER ${APP_ROLE}`);
      this.pgUrl = dbUrl(this.pgDb);
    }
    const { args, env } = this.storage();
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(binary(), ["serve", "--http", `127.0.0.1:${this.port}`, ...args,
      "--threads", String(this.threads), "--workers", String(this.workers), ...this.args],
    { env: baseEnv(env), stdio: ["ignore", log, log], cwd: this.tmp });
    fs.closeSync(log);
    this.exit = new Promise((resolve) => this.proc.on("exit", (code, sig) => resolve(sig ? `signal ${sig}` : code)));
    const deadline = Date.now() + 10000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`plinth exited during start:\n${this.logTail()}`);
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.ok) return this;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error(`plinth did not answer /healthz:\n${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // Stops the server and removes its files; throws on a bad exit or a
  // sanitizer report.
  async stop() {
    const problems = [];
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 10000);
      const code = await this.exit;
      clearTimeout(t);
      if (code !== 0) problems.push(`plinth exit status after SIGTERM: ${code}`);
    }
    const text = this.log();
    const marker = SANITIZER.find((m) => text.includes(m));
    if (marker) problems.push(`sanitizer report (${marker})`);
    if (problems.length && process.env.PLINTH_TEST_KEEP_LOGS) {
      fs.mkdirSync(process.env.PLINTH_TEST_KEEP_LOGS, { recursive: true });
      fs.copyFileSync(this.logPath, path.join(process.env.PLINTH_TEST_KEEP_LOGS, `browser-${this.port}-${Date.now()}.log`));
    }
    if (this.pgDb) psql(`DROP DATABASE IF EXISTS "${this.pgDb}" WITH (FORCE)`);
    fs.rmSync(this.tmp, { recursive: true, force: true });
    if (problems.length) throw new Error(`${problems.join("\n")}\n${text.split("\n").slice(-60).join("\n")}`);
  }

  log() {
    try { return fs.readFileSync(this.logPath, "utf8"); } catch { return ""; }
  }

  logTail(n = 60) {
    return this.log().split("\n").slice(-n).join("\n");
  }

  // Runs `plinth ARGS` with this server's storage; returns {status, stdout, stderr}.
  cli(cmd, { input = "" } = {}) {
    const { args, env } = this.storage();
    const r = spawnSync(binary(), [...cmd, ...args], { input, encoding: "utf8", env: baseEnv(env), timeout: 60000 });
    if (r.status !== 0) throw new Error(`plinth ${cmd.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r;
  }

  // The API with JSON in and out: returns {status, body}.
  async api(method, p, { body, token } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(this.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: r.status, body: json, headers: r.headers };
  }

  // Runs SQL against the database (on PostgreSQL with app.org_id set to
  // org, so row-level security lets it reach that org's rows).
  sql(statement, org = null) {
    if (this.pgUrl) {
      const set = org ? `SELECT set_config('app.org_id', '${org}', true); ` : "";
      return psql(`BEGIN; ${set}${statement}; COMMIT;`, this.pgUrl);
    }
    const py = "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); "
      + "r=c.execute(sys.argv[2]).fetchall(); c.commit(); print('\\n'.join('|'.join(map(str,x)) for x in r))";
    const r = spawnSync("/usr/bin/python3", ["-c", py, path.join(this.dataDir, "plinth.db"), statement], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`sqlite failed: ${statement}\n${r.stderr}`);
    return r.stdout;
  }
}

module.exports = { Server, engine, binary, freePort, ROOT, FAST_ARGON2 };
