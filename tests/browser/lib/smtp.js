// smtp.js - an SMTP sink on loopback: accepts every message plinth sends
// (plain SMTP, as libcurl speaks it) and keeps it for the test to read.
"use strict";

const net = require("node:net");

// A received message: envelope, headers and the decoded text/plain part.
class Message {
  constructor(from, to, raw) {
    this.from = from;
    this.to = to;
    this.raw = raw;
    this.text = textPart(raw);
    const m = /^Subject: (.*)$/im.exec(raw);
    this.subject = m ? m[1] : "";
  }

  // The first link in the text part that contains path.
  link(path) {
    const re = new RegExp(`https?://[^\\s]*${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\?token=[A-Za-z0-9_\\-%.~]+`);
    const m = re.exec(this.text);
    if (!m) throw new Error(`no ${path} link in:\n${this.text}`);
    return m[0];
  }
}

// The text/plain part of a MIME message (base64 or 7bit).
function textPart(raw) {
  const parts = raw.split(/\r?\n--[^\r\n]+\r?\n/);
  for (const p of parts) {
    const sep = p.search(/\r?\n\r?\n/);
    if (sep < 0) continue;
    const head = p.slice(0, sep);
    if (!/Content-Type:\s*text\/plain/i.test(head)) continue;
    const body = p.slice(sep).trim();
    if (/Content-Transfer-Encoding:\s*base64/i.test(head)) return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    return body;
  }
  return raw;
}

class SmtpSink {
  constructor() {
    this.messages = [];
    this.waiters = [];
  }

  start() {
    return new Promise((resolve) => {
      this.server = net.createServer((sock) => this.#session(sock));
      this.server.listen(0, "127.0.0.1", () => {
        this.port = this.server.address().port;
        this.url = `smtp://127.0.0.1:${this.port}`;
        resolve(this);
      });
    });
  }

  stop() {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  #session(sock) {
    let buf = "";
    let data = null;
    let from = "";
    let to = [];
    sock.setEncoding("latin1");
    const say = (line) => sock.write(`${line}\r\n`);
    say("220 sink ESMTP");
    sock.on("data", (chunk) => {
      buf += chunk;
      for (;;) {
        if (data !== null) {
          const end = buf.indexOf("\r\n.\r\n");
          const first = data === "" && buf.startsWith(".\r\n") ? 0 : -1;
          if (end < 0 && first < 0) return;
          const cut = first === 0 ? 0 : end + 2;
          data += buf.slice(0, cut);
          buf = buf.slice(cut + 3);
          const raw = Buffer.from(data.replace(/^\.\./gm, "."), "latin1").toString("utf8");
          this.#add(new Message(from, to, raw));
          data = null;
          from = "";
          to = [];
          say("250 accepted");
          continue;
        }
        const nl = buf.indexOf("\r\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") say("250 sink");
        else if (verb === "MAIL") { from = (/<([^>]*)>/.exec(line) || [])[1] || ""; say("250 ok"); }
        else if (verb === "RCPT") { to.push(((/<([^>]*)>/.exec(line) || [])[1] || "").toLowerCase()); say("250 ok"); }
        else if (verb === "DATA") { data = ""; say("354 go on"); }
        else if (verb === "QUIT") { say("221 bye"); sock.end(); return; }
        else if (verb === "RSET" || verb === "NOOP") say("250 ok");
        else say("502 not implemented");
      }
    });
    sock.on("error", () => {});
  }

  #add(m) {
    this.messages.push(m);
    for (const w of this.waiters.splice(0)) w();
  }

  // The first message to rcpt whose text contains `contains`, waiting up to
  // timeout ms.
  async waitFor(rcpt, { contains = "", timeout = 15000 } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const m = this.messages.find((x) => x.to.includes(rcpt.toLowerCase()) && x.text.includes(contains));
      if (m) return m;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message to ${rcpt} containing ${contains}; have ${this.messages.map((x) => `${x.to}: ${x.subject}`).join(", ")}`);
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, Math.min(left, 200));
      });
    }
  }
}

module.exports = { SmtpSink };
