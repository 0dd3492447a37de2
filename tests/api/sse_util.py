"""sse_util.py - a small server-sent events client for the realtime tests.

    s = Stream(srv, "/v1/orgs/%s/events/stream" % org, token=t)
    msg = s.next(timeout=5)            # {"id", "event", "data" (parsed JSON), "raw"}
    s.wait_closed(timeout=5)           # the server ended the stream
    s.close()

It speaks HTTP/1.1 over a plain socket (chunked transfer coding, as plinth
sends streams) and parses messages per the HTML standard on a reader thread,
so a test waits on conditions with deadlines instead of blocking reads.
Comments (": ping") are counted in `comments`.
"""

import json
import queue
import socket
import threading
import time
import urllib.parse


class StreamError(Exception):
    pass


class Stream:
    def __init__(self, srv, path, token=None, params=None, headers=None, timeout=10.0):
        self.srv = srv
        self.messages = queue.Queue()
        self.comments = 0
        self.closed = threading.Event()
        self.status = None
        self.headers = {}
        self.body = b""           # the body of a non-200 answer
        if params:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        h = {"Host": "127.0.0.1:%d" % srv.port, "Accept": "text/event-stream",
             "User-Agent": "sse-test"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = "GET %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in h.items()))
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
        self.sock.sendall(req.encode())
        self._buf = b""
        self._read_head(timeout)
        if self.status == 200:
            self.sock.settimeout(None)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        else:
            self._read_error_body()
            self.sock.close()
            self.closed.set()

    # -- HTTP --

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self._buf += data

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._buf:
            if time.monotonic() > deadline:
                raise StreamError("no response head within %.1f s" % timeout)
            try:
                self._recv()
            except EOFError:
                raise StreamError("connection closed before the response head: %r" % self._buf)
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _read_error_body(self):
        n = int(self.headers.get("content-length", "0"))
        while len(self._buf) < n:
            try:
                self._recv()
            except (EOFError, OSError):
                break
        self.body = self._buf[:n]

    def json(self):
        return json.loads(self.body)

    def _chunks(self):
        """Yields the decoded body bytes as they arrive; returns at the end."""
        chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        while True:
            if not chunked:
                if self._buf:
                    out, self._buf = self._buf, b""
                    yield out
                self._recv()
                continue
            while b"\r\n" not in self._buf:
                self._recv()
            size_line, rest = self._buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            self._buf = rest
            if size == 0:
                return
            while len(self._buf) < size + 2:
                self._recv()
            yield self._buf[:size]
            self._buf = self._buf[size + 2:]

    # -- SSE --

    def _run(self):
        text = ""
        msg = {"id": None, "event": None, "data": []}
        try:
            for chunk in self._chunks():
                text += chunk.decode("utf-8")
                while "\n" in text:
                    line, text = text.split("\n", 1)
                    if line == "":
                        if msg["data"]:
                            raw = "\n".join(msg["data"])
                            try:
                                data = json.loads(raw)
                            except ValueError:
                                data = raw
                            self.messages.put({"id": msg["id"], "event": msg["event"] or "message",
                                               "data": data, "raw": raw})
                        msg = {"id": msg["id"], "event": None, "data": []}
                        continue
                    if line.startswith(":"):
                        self.comments += 1
                        continue
                    field, _, value = line.partition(":")
                    if value.startswith(" "):
                        value = value[1:]
                    if field == "data":
                        msg["data"].append(value)
                    elif field == "event":
                        msg["event"] = value
                    elif field == "id":
                        msg["id"] = value
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.closed.set()

    def next(self, timeout=5.0):
        """The next message; StreamError when none comes within timeout."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise StreamError("no message within %.1f s" % timeout) from None

    def wait_for(self, pred, timeout=10.0):
        """Skips messages until pred(msg); returns it and the skipped ones."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if pred(m):
                return m, skipped
            skipped.append(m)

    def drain(self, wait=0.5):
        """Every message that arrives within wait seconds of quiet."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=wait))
            except queue.Empty:
                return out

    def wait_closed(self, timeout=5.0):
        """True when the server ended the stream within timeout."""
        return self.closed.wait(timeout)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.closed.wait(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
