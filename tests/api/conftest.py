"""Fixtures for the black-box API suite: real plinth processes on loopback.

server       module scope: one default server per test module
make_server  function scope factory: make_server(args=[...], env={...}, ...)
engine       "sqlite" or "postgres" (PLINTH_TEST_PG_ADMIN_URL set)

At teardown a server is stopped with SIGTERM and the test fails if its log shows
an AddressSanitizer / UBSan / LeakSanitizer report or if it did not exit 0.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plinth  # noqa: E402


def _close(servers):
    problems = []
    for s in servers:
        problems += s.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    b = plinth.binary()
    if not os.access(b, os.X_OK):
        pytest.exit("plinth binary not found: %s (build it or set PLINTH_BIN)" % b, returncode=3)


@pytest.fixture(scope="session")
def engine():
    return plinth.engine()


@pytest.fixture(scope="module")
def server():
    s = plinth.Server(start=False)
    try:
        s.start()
        yield s
    finally:
        _close([s])


@pytest.fixture
def make_server():
    servers = []

    def make(*a, **kw):
        # Register before starting so a failed start still gets cleaned up.
        kw_start = kw.pop("start", True)
        s = plinth.Server(*a, start=False, **kw)
        servers.append(s)
        if kw_start:
            s.start()
        return s

    yield make
    _close(servers)


@pytest.fixture(scope="module")
def make_module_server():
    """Like make_server, but the servers live for the whole module."""
    servers = []

    def make(*a, **kw):
        kw_start = kw.pop("start", True)
        s = plinth.Server(*a, start=False, **kw)
        servers.append(s)
        if kw_start:
            s.start()
        return s

    yield make
    _close(servers)
