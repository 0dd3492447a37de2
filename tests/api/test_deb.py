"""`make deb` (scripts/make-deb): the Debian package of the binary under test
holds the binary, the systemd units of an API and a worker instance, the
environment file as a conffile, and maintainer scripts that make the `plinth`
system user and /var/lib/plinth. The package is unpacked into a fresh root
(with the host's base units beside it), where `systemd-analyze verify` checks
both units, including that ExecStart names the packaged binary.
"""

import os
import shutil
import stat
import subprocess

import pytest

import plinth

TOOLS = ("/usr/bin/dpkg-deb", "/usr/bin/systemd-analyze", "/usr/bin/objdump")


@pytest.fixture(scope="module")
def package(tmp_path_factory, engine):
    if engine != "sqlite":
        pytest.skip("the package does not depend on the engine: checked once")
    for t in TOOLS:
        if not os.access(t, os.X_OK):
            pytest.skip("%s is not installed" % t)
    out = tmp_path_factory.mktemp("deb")
    p = subprocess.run([os.path.join(plinth.ROOT, "scripts", "make-deb"),
                        os.path.dirname(plinth.binary())], capture_output=True, text=True,
                       timeout=300, env=plinth.base_env({"PLINTH_DEB_OUT": str(out)}))
    assert p.returncode == 0, p.stderr
    deb = p.stdout.strip()
    assert deb.startswith(str(out)) and deb.endswith(".deb") and os.path.exists(deb), p.stdout
    root = out / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True, timeout=60)
    return deb, root


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def test_package_contents(package):
    deb, root = package
    assert field(deb, "Package") == "plinth"
    depends = field(deb, "Depends")
    for d in ("libmicrohttpd12", "libsqlite3-0", "libpq5", "adduser"):
        assert d in depends, depends
    binary = root / "usr/bin/plinth"
    assert os.access(binary, os.X_OK)
    v = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0 and v.stdout.startswith("plinth "), v
    env = root / "etc/plinth/plinth.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True,
                             check=True, timeout=30).stdout
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(control)) as t:
        names = {n.lstrip("./") for n in t.getnames()}
        assert {"control", "conffiles", "postinst", "prerm", "postrm"} <= names, names
        conffiles = t.extractfile("./conffiles").read().decode()
        postinst = t.extractfile("./postinst").read().decode()
    assert conffiles.split() == ["/etc/plinth/plinth.env"]
    assert "adduser --system" in postinst and "/var/lib/plinth" in postinst


def test_units_verify_in_a_fresh_root(package):
    _, root = package
    units = root / "lib/systemd/system"
    for name in ("plinth.service", "plinth-worker.service"):
        text = (units / name).read_text()
        assert "User=plinth" in text and "EnvironmentFile=/etc/plinth/plinth.env" in text
    assert "ExecStart=/usr/bin/plinth serve" in (units / "plinth.service").read_text()
    assert "ExecStart=/usr/bin/plinth worker" in (units / "plinth-worker.service").read_text()
    # the base units (sysinit.target, ...) the package's units are checked against
    for entry in os.listdir("/lib/systemd/system"):
        src = os.path.join("/lib/systemd/system", entry)
        dst = units / entry
        if not dst.exists() and os.path.isfile(src) and not os.path.islink(src):
            shutil.copy(src, dst)
    p = subprocess.run(["systemd-analyze", "verify", "--root", str(root), "plinth.service",
                        "plinth-worker.service"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "plinth" not in p.stderr, p.stderr
