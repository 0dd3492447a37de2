// An S3-compatible server for the file tests: the npm `s3rver` package on a
// loopback port, behind this proxy, which checks every request's SigV4
// signature with the npm `aws4` package (an independent implementation) and
// its payload hash against the body, and refuses (403
// SignatureDoesNotMatch) what does not match: s3rver alone accepts requests
// a real S3 refuses. GET /__stats answers {"verified": n, "refused": n,
// "problems": [...]}.
//
// usage: node s3_proxy.js DIRECTORY BUCKET REGION ACCESS_KEY_ID SECRET
// prints "listening PORT" once ready.
"use strict";
const http = require("http");
const crypto = require("crypto");
const aws4 = require("aws4");
const S3rver = require("s3rver");

const [dir, bucket, region, keyId, secret] = process.argv.slice(2);
const stats = { verified: 0, refused: 0, problems: [] };

function verify(req, body) {
  const auth = req.headers.authorization || "";
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return "malformed Authorization: " + auth;
  if (m[1] !== keyId) return "unknown access key";
  if (m[3] !== region) return "wrong region " + m[3];
  const signed = m[4].split(";");
  for (const h of ["host", "x-amz-date", "x-amz-content-sha256"])
    if (!signed.includes(h)) return "unsigned " + h;
  const headers = {};
  for (const h of signed) {
    if (req.headers[h] === undefined) return "signed header missing: " + h;
    headers[h] = req.headers[h];
  }
  const date = req.headers["x-amz-date"];
  if (!/^\d{8}T\d{6}Z$/.test(date) || date.slice(0, 8) !== m[2]) return "bad x-amz-date";
  const iso = date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z");
  if (Math.abs(Date.parse(iso) - Date.now()) > 15 * 60 * 1000) return "x-amz-date too far";
  const payload = req.headers["x-amz-content-sha256"];
  if (payload !== "UNSIGNED-PAYLOAD" &&
      payload !== crypto.createHash("sha256").update(body).digest("hex"))
    return "x-amz-content-sha256 is not the body's";
  const signer = new aws4.RequestSigner(
    { service: "s3", region, method: req.method, host: req.headers.host, path: req.url, headers,
      doNotModifyHeaders: true },
    { accessKeyId: keyId, secretAccessKey: secret });
  signer.datetime = date; // the request's, not the time it arrived
  const want = signer.sign();
  if (want.headers.Authorization !== auth)
    return "signature mismatch for " + req.method + " " + req.url +
           ": want " + want.headers.Authorization + ", got " + auth;
  return null;
}

async function main() {
  const s3 = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir,
                          allowMismatchedSignatures: true, vhostBuckets: false,
                          configureBuckets: [{ name: bucket }] });
  const { port: s3port } = await s3.run();
  const server = http.createServer((req, res) => {
    if (req.url === "/__stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(stats));
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const problem = verify(req, body);
      if (problem) {
        stats.refused++;
        if (stats.problems.length < 20) stats.problems.push(problem);
        res.writeHead(403, { "content-type": "application/xml" });
        res.end("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch" +
                "</Code><Message>refused by the test proxy</Message></Error>");
        return;
      }
      stats.verified++;
      // s3rver checks signatures against its own account: re-sign for it
      const headers = { ...req.headers };
      delete headers.authorization;
      const fwd = aws4.sign({ service: "s3", region, method: req.method,
                              host: "127.0.0.1:" + s3port, path: req.url,
                              headers: { "x-amz-content-sha256": headers["x-amz-content-sha256"] },
                              doNotModifyHeaders: false },
                            { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
      Object.assign(headers, fwd.headers);
      headers.host = "127.0.0.1:" + s3port;
      headers["content-length"] = String(body.length);
      delete headers["transfer-encoding"];
      delete headers.expect;
      const up = http.request({ host: "127.0.0.1", port: s3port, method: req.method,
                                path: req.url, headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
      up.end(body);
    });
  });
  server.listen(0, "127.0.0.1", () => {
    console.log("listening " + server.address().port);
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
