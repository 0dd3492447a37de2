"""An S3-compatible server for the file tests: the npm `s3rver` package behind
s3_proxy.js, which checks every request's SigV4 signature with the npm `aws4`
package and refuses mismatches (s3rver alone accepts requests a real S3
refuses). Packages pinned in tests/package.json, installed outside the tree by
scripts/test-node-deps."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

import plinth
from stripe_util import node_path

BUCKET = "plinth-files"
REGION = "eu-west-3"
KEY_ID = "AKIDPLINTHTESTS"
SECRET = "plinth/test/secret+for/the+s3/stand-in"


class S3StandIn:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="plinth-s3-")
        self.proc = None
        self.port = None
        self.expected_refusals = 0  # requests a test sent mis-signed on purpose

    def start(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "s3_proxy.js")
        self.log = open(os.path.join(self.dir, "proxy.log"), "w+")
        self.proc = subprocess.Popen(
            ["node", script, os.path.join(self.dir, "data"), BUCKET, REGION, KEY_ID, SECRET],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=dict(os.environ, NODE_PATH=node_path()))
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.log.seek(0)
            raise RuntimeError("s3_proxy.js did not start: %r\n%s" % (line, self.log.read()))
        self.port = int(line.split()[1])
        return self

    def env(self):
        return {"PLINTH_S3_ENDPOINT": "http://127.0.0.1:%d" % self.port,
                "PLINTH_S3_BUCKET": BUCKET, "PLINTH_S3_REGION": REGION,
                "PLINTH_S3_ACCESS_KEY_ID": KEY_ID, "PLINTH_S3_SECRET_ACCESS_KEY": SECRET,
                "PLINTH_ALLOW_PRIVATE_TARGETS": "1"}

    def stats(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/__stats" % self.port, timeout=10) as r:
            return json.loads(r.read())

    def exists(self, key):
        """Whether s3rver holds an object under key (its files on disk)."""
        head, tail = os.path.split(key)
        pattern = os.path.join(self.dir, "data", BUCKET, head, glob.escape(tail) + "._S3rver_object")
        return bool(glob.glob(pattern))

    def objects(self, prefix=""):
        root = os.path.join(self.dir, "data", BUCKET)
        out = []
        for dirpath, _, names in os.walk(root):
            for n in names:
                if n.endswith("._S3rver_object"):
                    key = os.path.relpath(os.path.join(dirpath, n[:-len("._S3rver_object")]), root)
                    if key.startswith(prefix):
                        out.append(key)
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
