// totp.js - RFC 6238 codes (SHA-1, 6 digits, 30 s), computed by the test as
// an authenticator app would from the base32 secret.
"use strict";

const crypto = require("node:crypto");

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, "").toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function code(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac("sha1", base32(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, "0");
}

// Codes of strictly increasing time steps: plinth accepts each code once and
// allows one step either side, so a test that needs several codes takes the
// next unused step (waiting when all three are spent).
class Totp {
  constructor(secret) {
    this.secret = secret;
    this.last = -10;
  }

  async next() {
    for (;;) {
      const now = Math.floor(Date.now() / 30000);
      for (const step of [now - 1, now, now + 1]) {
        if (step > this.last) {
          this.last = step;
          return code(this.secret, step);
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

module.exports = { Totp, code };
