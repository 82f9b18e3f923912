"""Export-area fixtures: the shared fixture images, one export per (arch,
format) per session, the CLI, and a private libvirt session daemon."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.testing.fixtures import build_image

FORMATS = ("qcow2", "vmdk", "ova", "vhd", "vhdx", "raw", "raw.xz")
SUFFIX = {"qcow2": ".qcow2", "vmdk": ".vmdk", "ova": ".ova", "vhd": ".vhd", "vhdx": ".vhdx",
          "raw": ".raw", "raw.xz": ".raw.xz"}


def cli(*args, cwd=None, env=None, timeout=900):
    e = dict(os.environ, NO_COLOR="1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "armvm_oe", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=e, timeout=timeout)


@pytest.fixture(scope="session")
def image():
    """image(arch) -> the cached read-only compliant fixture image."""
    return lambda arch="aarch64", variant="compliant": build_image(arch, variant)


@pytest.fixture(scope="session")
def export_dir():
    """World-readable (the libvirt test's daemon runs as another user)."""
    d = Path(tempfile.mkdtemp(prefix="armvm-export-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def exported(image, export_dir):
    """exported(arch, fmt) -> (path, --json result): each export made once."""
    done: dict = {}

    def _get(arch: str, fmt: str, *extra: str):
        key = (arch, fmt, extra)
        if key not in done:
            tag = "".join("-" + x.lstrip("-") for x in extra)
            out = export_dir / f"{arch}{tag}{SUFFIX[fmt]}"
            p = cli("export", image(arch), "--to", fmt, "-o", out, "--json", *extra)
            assert p.returncode == 0, p.stderr
            done[key] = (out, json.loads(p.stdout))
        return done[key]

    return _get


@pytest.fixture(scope="session")
def libvirt_session(tmp_path_factory):
    """A private libvirt session daemon (qemu:///session) for this test run.

    As root it runs as 'nobody': root's libvirtd is the system daemon with
    machine-wide state; an unprivileged session daemon keeps everything
    (domains, NVRAM copies, logs) under its own temporary HOME. Yields
    virsh(*args, **kw) -> CompletedProcess and the argv prefix for pexpect."""
    exe = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
    if not os.path.exists(exe) or not shutil.which("virsh"):
        need_fixture("libvirtd/virsh not installed (apt-get install libvirt-daemon "
                    "libvirt-daemon-driver-qemu libvirt-clients)")
    root = Path(tempfile.mkdtemp(prefix="armvm-libvirt-"))
    root.chmod(0o755)
    home, run = root / "home", root / "run"
    home.mkdir()
    run.mkdir(mode=0o700)
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(run), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LANG": "C.UTF-8"}
    as_user = {}
    prefix = []
    if os.geteuid() == 0:
        for p in (home, run):
            os.chown(p, 65534, 65534)
        as_user = {"user": 65534, "group": 65534, "extra_groups": []}
        prefix = ["runuser", "-u", "nobody", "--"]
    log = open(root / "libvirtd.log", "w")
    daemon = subprocess.Popen([exe, "--timeout", "1800"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, **as_user)
    sock = run / "libvirt" / "libvirt-sock"
    envargs = ["env"] + [f"{k}={v}" for k, v in env.items()]
    base = prefix + envargs + ["virsh", "-c", "qemu:///session"]

    def virsh(*args, timeout=120):
        return subprocess.run(base + list(map(str, args)), capture_output=True, text=True,
                              timeout=timeout)

    try:
        for _ in range(600):            # first start probes every QEMU binary: slow
            if sock.exists() and virsh("list", "--all").returncode == 0:
                break
            if daemon.poll() is not None:
                pytest.fail("libvirtd exited at start: "
                            + (root / "libvirtd.log").read_text()[-2000:])
            time.sleep(0.2)
        else:
            pytest.fail("the session libvirtd did not come up: "
                        + (root / "libvirtd.log").read_text()[-2000:])
        yield {"virsh": virsh, "argv": base, "root": root}
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
