"""Run the real bitbake of a Yocto tree (tests/_yocto.py: the split
repositories from ARMVM_MIRRORS, or ARMVM_POKY_DIR) on meta-armvm, offline.

bitbake refuses root: when the tests run as root they run bitbake through
``runuser -u $ARMVM_BITBAKE_USER`` (default ``builder``).  The build
directory (conf + TMPDIR + parse cache) lives outside the repository, in
``$ARMVM_BB_DIR`` (default /tmp/armvm-oe-bitbake-<user>) so the parse cache
survives between runs."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from layerpaths import LAYER

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Bitbake:
    def __init__(self, tree):
        self.tree = tree
        self.user = None
        if os.geteuid() == 0:
            self.user = os.environ.get("ARMVM_BITBAKE_USER", "builder")
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                raise RuntimeError(
                    f"running as root and user {self.user!r} does not exist: bitbake refuses "
                    "root; create it (useradd -m builder) or set ARMVM_BITBAKE_USER") from None
        who = self.user or pwd.getpwuid(os.geteuid()).pw_name
        self.builddir = Path(os.environ.get("ARMVM_BB_DIR", f"/tmp/armvm-oe-bitbake-{who}-{tree.release}"))
        self._write_conf()

    def _write_conf(self) -> None:
        conf = self.builddir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "bblayers.conf").write_text(
            'POKY_BBLAYERS_CONF_VERSION = "2"\nBBPATH = "${TOPDIR}"\nBBFILES ?= ""\n'
            f'BBLAYERS ?= "{" ".join(map(str, self.tree.layers))} {LAYER}"\n')
        (conf / "local.conf").write_text(
            'DISTRO ?= "poky"\n'
            'MACHINE ??= "armvm-aarch64"\n'
            'BB_NO_NETWORK = "1"\n'
            'CONF_VERSION = "2"\n'
            'PACKAGE_CLASSES = "package_ipk"\n'
            'BB_NUMBER_PARSE_THREADS = "2"\n'
            'BB_NUMBER_THREADS = "2"\n'
            'BB_SERVER_TIMEOUT = "120"\n'
            'CONNECTIVITY_CHECK_URIS = ""\n'
            'SANITY_TESTED_DISTROS = ""\n'
            'BB_DISKMON_DIRS = ""\n')
        if self.user:
            shutil.chown(self.builddir, self.user)
            for p in self.builddir.rglob("*"):
                shutil.chown(p, self.user)

    def run(self, machine: str, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
        env = {
            "PATH": f"{self.tree.path}:{CLEAN_PATH}",
            "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8",
            "HOME": pwd.getpwnam(self.user).pw_dir if self.user else os.environ.get("HOME", "/tmp"),
            "BUILDDIR": str(self.builddir),
            "MACHINE": machine,
            "BB_ENV_PASSTHROUGH_ADDITIONS": "MACHINE",
        }
        cmd = ["bitbake", *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", "env", *(f"{k}={v}" for k, v in env.items()),
                   *cmd]
        return subprocess.run(cmd, cwd=self.builddir, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def getvars(self, machine: str, target: str) -> dict[str, str]:
        r = self.run(machine, "-e", target)
        if r.returncode != 0:
            raise AssertionError(f"bitbake -e {target} ({machine}) failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        out = {}
        for line in r.stdout.splitlines():
            if line and line[0].isalpha() and "=" in line and not line.startswith("export "):
                name, _, value = line.partition("=")
                if value.startswith('"') and value.endswith('"'):
                    value = value[1:-1]
                out[name] = value
            elif line.startswith("export ") and "=" in line:
                name, _, value = line[len("export "):].partition("=")
                out[name] = value.strip('"')
        return out
