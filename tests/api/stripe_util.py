"""stripe_util.py - what the billing tests need of Stripe, which these machines
cannot reach:

StripeStandIn   a small HTTP server on loopback standing in for Stripe's API, with
                only the endpoints plinth calls: POST /v1/checkout/sessions,
                POST /v1/billing_portal/sessions, GET /v1/subscriptions/{id} and
                GET /v1/subscriptions?customer=...  It checks the secret key,
                decodes the form bodies and keeps every request it saw.
sign_events     Stripe-Signature headers made by the npm `stripe` package's
                webhooks.generateTestHeaderString (an independent implementation,
                pinned in tests/package.json; NODE_PATH from scripts/test-node-deps).
event           a Stripe event object (id, type, created, data.object).
"""

import http.server
import json
import os
import subprocess
import threading
import time
import urllib.parse
import uuid

import plinth

API_KEY = "sk_test_" + "standin" * 4
WEBHOOK_SECRET = "whsec_" + "c3RhbmRpbi1zZWNyZXQtZm9yLXRlc3Rz"

_node_path = None


def node_path():
    global _node_path
    if _node_path is None:
        p = subprocess.run([os.path.join(plinth.ROOT, "scripts", "test-node-deps")],
                           capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, "scripts/test-node-deps failed:\n%s" % p.stderr[-4000:]
        _node_path = p.stdout.strip()
    return _node_path


SIGNER = r"""
const stripe = require("stripe")("sk_test_unused");
const jobs = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(jobs.map((j) => stripe.webhooks.generateTestHeaderString(
  { payload: j.payload, secret: j.secret, timestamp: j.timestamp }))));
"""


def sign_events(jobs):
    """jobs: [(payload str, secret, unix timestamp)] -> [Stripe-Signature header]."""
    data = json.dumps([{"payload": p, "secret": s, "timestamp": int(t)} for p, s, t in jobs])
    r = subprocess.run(["node", "-e", SIGNER], input=data, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, NODE_PATH=node_path()))
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout)


def sign(payload, secret=WEBHOOK_SECRET, timestamp=None):
    return sign_events([(payload, secret, time.time() if timestamp is None else timestamp)])[0]


def event(type_, obj, created=None, id_=None):
    """A Stripe event as the webhook endpoint receives it, serialized."""
    return json.dumps({
        "id": id_ or "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time() if created is None else created),
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
    })


def subscription(sub_id, customer, price, status="active", period_end=None, org_id=None,
                 cancel_at_period_end=False, created=None, new_shape=False):
    """A subscription object. new_shape: current_period_end on the items (API
    versions from 2025-03-31) instead of the subscription."""
    end = int(period_end or time.time() + 30 * 86400)
    item = {"id": "si_" + uuid.uuid4().hex[:14], "object": "subscription_item",
            "price": {"id": price, "object": "price"}, "quantity": 1}
    s = {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
         "cancel_at_period_end": cancel_at_period_end,
         "created": int(created or time.time()),
         "items": {"object": "list", "data": [item]},
         "metadata": {"org_id": org_id} if org_id else {}}
    if new_shape:
        item["current_period_end"] = end
    else:
        s["current_period_end"] = end
    return s


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, message):
        self._answer(status, {"error": {"type": "invalid_request_error", "message": message}})

    def _handle(self, method):
        st = self.server.standin
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        with st.lock:
            st.requests.append({"method": method, "path": url.path, "query": query,
                                "form": form, "headers": dict(self.headers)})
        if self.headers.get("Authorization") != "Bearer " + API_KEY:
            return self._error(401, "Invalid API Key provided.")
        if method == "POST" and self.headers.get("Content-Type") != \
                "application/x-www-form-urlencoded":
            return self._error(400, "form bodies only")
        if method == "POST" and url.path == "/v1/checkout/sessions":
            sid = "cs_test_" + uuid.uuid4().hex[:20]
            return self._answer(200, {"id": sid, "object": "checkout.session",
                                      "url": "https://checkout.stripe.test/c/pay/" + sid,
                                      "client_reference_id": form.get("client_reference_id"),
                                      "mode": form.get("mode")})
        if method == "POST" and url.path == "/v1/billing_portal/sessions":
            if not form.get("customer", "").startswith("cus_"):
                return self._error(400, "No such customer")
            sid = "bps_" + uuid.uuid4().hex[:20]
            return self._answer(200, {"id": sid, "object": "billing_portal.session",
                                      "customer": form["customer"],
                                      "return_url": form.get("return_url"),
                                      "url": "https://billing.stripe.test/p/session/" + sid})
        if method == "GET" and url.path.startswith("/v1/subscriptions/"):
            sub = st.subscriptions.get(url.path.rsplit("/", 1)[1])
            if not sub:
                return self._error(404, "No such subscription")
            return self._answer(200, sub)
        if method == "GET" and url.path == "/v1/subscriptions":
            subs = [s for s in st.subscriptions.values()
                    if s["customer"] == query.get("customer")]
            if query.get("status", "active") != "all":
                subs = [s for s in subs if s["status"] == query.get("status", "active")]
            subs.sort(key=lambda s: -s["created"])
            return self._answer(200, {"object": "list", "url": "/v1/subscriptions",
                                      "has_more": False, "data": subs})
        return self._error(404, "Unrecognized request URL (%s: %s)" % (method, url.path))

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


class StripeStandIn:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.subscriptions = {}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.standin = self
        self.port = self.httpd.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def put_subscription(self, sub):
        with self.lock:
            self.subscriptions[sub["id"]] = sub

    def seen(self, method, path):
        with self.lock:
            return [r for r in self.requests if r["method"] == method and r["path"] == path]


def stripe_env(standin, extra=None):
    env = {"PLINTH_STRIPE_API_KEY": API_KEY, "PLINTH_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "PLINTH_STRIPE_API_BASE": standin.base, "PLINTH_BILLING_SYNC_INTERVAL": "1h"}
    env.update(extra or {})
    return env
