"""The test-only npm packages (tests/package.json, installed by
scripts/test-node-deps outside the tree) install and load on this machine's Node.js,
so a broken pin fails here rather than in the test that first needs it."""

import json
import os
import subprocess

import plinth

SCRIPT = os.path.join(plinth.ROOT, "scripts", "test-node-deps")
PACKAGE_JSON = os.path.join(plinth.ROOT, "tests", "package.json")

# Loads every package with require() (import() for ES-module-only packages, which
# NODE_PATH does not serve: they are imported by absolute path), checks that each
# exports something and that the installed version is the pinned one.
LOADER = r"""
const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");
const root = process.env.NODE_PATH;
const pins = JSON.parse(process.argv[1]);
(async () => {
  const out = {};
  for (const [name, want] of Object.entries(pins)) {
    const dir = path.join(root, name);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    let mod, how = "require";
    try {
      mod = require(name);
    } catch (e) {
      if (e.code !== "ERR_REQUIRE_ESM") throw e;
      how = "import";
      mod = await import(pathToFileURL(path.join(dir, meta.main || "index.js")).href);
    }
    const keys = Object.keys(mod || {}).length + (typeof mod === "function" ? 1 : 0);
    out[name] = { version: meta.version, want, how, keys };
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
"""


def test_pinned_packages_load():
    with open(PACKAGE_JSON, encoding="utf-8") as f:
        pins = json.load(f)["dependencies"]
    for name, version in pins.items():
        assert version[:1].isdigit(), "%s is not pinned to an exact version: %s" % (name, version)

    p = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, "scripts/test-node-deps failed:\n%s" % p.stderr[-4000:]
    node_path = p.stdout.strip()
    assert os.path.isdir(node_path), node_path
    assert not os.path.abspath(node_path).startswith(plinth.ROOT + os.sep), (
        "test packages must live outside the tree: %s" % node_path)

    env = dict(os.environ, NODE_PATH=node_path)
    r = subprocess.run(["node", "-e", LOADER, json.dumps(pins)], capture_output=True,
                       text=True, timeout=120, env=env, cwd=os.path.dirname(node_path))
    assert r.returncode == 0, "loading the test packages failed:\n%s" % r.stderr[-4000:]
    loaded = json.loads(r.stdout)
    assert set(loaded) == set(pins)
    for name, info in loaded.items():
        assert info["version"] == info["want"], (name, info)
        assert info["keys"] > 0, "%s exports nothing: %r" % (name, info)
